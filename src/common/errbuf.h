/* The one error convention of kfarm's user-space C: a function returns 0 or a negative errno-style
 * code and, when the caller passed a buffer, says there what failed, on which object and why. */
#ifndef KF_ERRBUF_H
#define KF_ERRBUF_H

#include <stddef.h>

/* Formats the message into err (if err and errlen are non-zero) and returns code unchanged, so a
 * failure reads `return kf_errf(err, errlen, -errno, "%s: cannot open: %s", path, strerror(errno));`.
 * errno is preserved. */
int kf_errf(char *err, size_t errlen, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
