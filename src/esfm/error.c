/* Error messages, report lines, exit-code mapping and the crash-test step counter.
 * Also the small parsers for BDFs and counts that every command shares. */
#include "internal.h"

#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int esfm_fail(char *err, size_t errlen, int rc, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        /* false positive, va_start above */
        // NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized)
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return rc;
}

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

void esfm_step(struct esfm_ctx *ctx, const char *what)
{
    long n = atomic_fetch_add(&ctx->steps, 1) + 1;
    if (ctx->crash_after > 0 && n == ctx->crash_after) {
        /* The crash test: die as kill -9 would, with no cleanup, no flush, no atexit. */
        char msg[256];
        int len = snprintf(msg, sizeof msg, "esfm: test crash after step %ld (%s)\n", n, what);
        if (len > 0 && write(2, msg, (size_t)len) < 0)
            len = 0;
        kill(getpid(), SIGKILL);
        _exit(99); /* not reached */
    }
    if (ctx->stop_after > 0 && n == ctx->stop_after) {
        /* The fault tests: hold still right inside the operation (e.g. while libvirtd is
         * restarted) until the test sends SIGCONT. */
        char msg[256];
        int len = snprintf(msg, sizeof msg, "esfm: test stop after step %ld (%s)\n", n, what);
        if (len > 0 && write(2, msg, (size_t)len) < 0)
            len = 0;
        raise(SIGSTOP);
    }
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

void esfm_alias_for(const char *vf_bdf, char alias[ESFM_ALIAS_LEN])
{
    /* libvirt user aliases allow only [A-Za-z0-9_-] after "ua-". */
    size_t o = (size_t)snprintf(alias, ESFM_ALIAS_LEN, "ua-kfarm-");
    for (const char *p = vf_bdf; *p && o + 1 < ESFM_ALIAS_LEN; p++)
        alias[o++] = (*p == ':' || *p == '.') ? '-' : *p;
    alias[o] = '\0';
}

bool esfm_valid_bdf(const char *s)
{
    unsigned d, b, sl, f;
    char tail;
    if (!s || strlen(s) != 12)
        return false;
    if (sscanf(s, "%4x:%2x:%2x.%1x%c", &d, &b, &sl, &f, &tail) != 4)
        return false;
    return s[4] == ':' && s[7] == ':' && s[10] == '.' && sl < 32 && f < 8 &&
           isxdigit((unsigned char)s[0]);
}

int esfm_normalize_bdf(const char *in, char out[ESFM_BDF_LEN])
{
    if (!in)
        return -EINVAL;
    char tmp[ESFM_BDF_LEN + 8];
    if (strlen(in) == 7)
        snprintf(tmp, sizeof tmp, "0000:%s", in);
    else
        snprintf(tmp, sizeof tmp, "%s", in);
    for (char *p = tmp; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    if (!esfm_valid_bdf(tmp))
        return -EINVAL;
    memcpy(out, tmp, 13); /* valid means exactly 12 characters */
    return 0;
}

int esfm_parse_uint(const char *s, unsigned max, unsigned *out)
{
    if (!s || !*s)
        return -EINVAL;
    for (const char *p = s; *p; p++)
        if (!isdigit((unsigned char)*p))
            return -EINVAL;
    errno = 0;
    unsigned long v = strtoul(s, NULL, 10);
    if (errno || v > max)
        return -ERANGE;
    *out = (unsigned)v;
    return 0;
}

const char *esfm_json_str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
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
