/* What ESFM tells its caller besides the error message: progress lines through the caller's log
 * function, the documented exit code of each error class, and the VF state names. */
#include "esfm_internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

void esfm_logf(struct esfm_ctx *ctx, const char *fmt, ...)
{
    if (!ctx->log)
        return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    /* va_start above */
    // NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized)
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&ctx->log_lock);
    ctx->log(ctx->log_arg, line);
    pthread_mutex_unlock(&ctx->log_lock);
}

int esfm_exit_code(int rc)
{
    switch (rc) {
    case 0:
        return 0;
    case -EINVAL:
        return 2;
    case -EACCES:
    case -EPERM:
        return 3;
    case -ENOENT:
    case -ENODEV:
        return 4;
    case -EBUSY:
        return 5;
    case -EREMOTEIO:
    case -ETIMEDOUT:
    case -EOPNOTSUPP:
        return 6;
    case -EIO:
        return 7;
    case -ENOLCK:
        return 8;
    case -ENOEXEC:
        return 9;
    default:
        return 1;
    }
}

const char *esfm_vf_state_name(enum esfm_vf_state s)
{
    switch (s) {
    case ESFM_VF_ATTACHED:
        return "attached";
    case ESFM_VF_PAUSED:
        return "paused";
    default:
        return "free";
    }
}
