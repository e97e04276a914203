/* kf_errf: the single formatter behind every component's error messages (see errbuf.h). */
#include "errbuf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

int kf_errf(char *err, size_t errlen, int code, const char *fmt, ...)
{
    int saved = errno;
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        /* va_start above */
        // NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized)
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    errno = saved;
    return code;
}
