/* Whole-file text input used by configuration and knowledge; files are written with
 * kf_atomic_write_text (atomic_file.h, mode TUNER_TEXT_FILE_MODE). */
#ifndef KFARM_TUNER_TEXT_FILE_H
#define KFARM_TUNER_TEXT_FILE_H

#include <stddef.h>
#include <stdint.h>

/* NUL-terminated contents (malloc'd) or NULL with err filled ("<path>: why"). */
char *tuner_read_text(const char *path, char *err, size_t errlen);
/* Knowledge, learner state and observer hints are world-readable: other users' jobs read them. */
#define TUNER_TEXT_FILE_MODE 0644

/* FNV-1a of a NUL-terminated text: cheap identity of a knowledge message across processes. */
uint64_t tuner_text_hash(const char *text);

#endif
