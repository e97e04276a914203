/* Replacing a file so that readers and a crash only ever see the old or the new contents: write a
 * temporary file beside it, fsync, rename over, fsync the directory. The one way kfarm does it. */
#ifndef KF_ATOMIC_FILE_H
#define KF_ATOMIC_FILE_H

#include <stddef.h>
#include <sys/types.h>

/* Writes len bytes of data to path atomically with the given mode (applied with fchmod, so the
 * umask does not widen or narrow it). Retries on EINTR and short writes. On failure the temporary
 * file is removed, path is untouched, and the message names the file, the step and errno.
 * Returns 0 or a negative errno. */
int kf_atomic_write(const char *path, const void *data, size_t len, mode_t mode, char *err,
                    size_t errlen);

/* The same for a NUL-terminated string. */
int kf_atomic_write_text(const char *path, const char *text, mode_t mode, char *err, size_t errlen);

/* fsyncs the directory that holds path (after a rename or unlink in it). Returns 0 or -errno. */
int kf_fsync_parent_dir(const char *path);

#endif
