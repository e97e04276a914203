/* Logging for kfarm processes: timestamped, rank-tagged lines on stderr. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static enum kf_log_level log_level = KF_LOG_INFO;
static char log_role[32] = "kfarm";

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void kf_log_init(enum kf_log_level level, const char *role)
{
    log_level = level;
    snprintf(log_role, sizeof(log_role), "%s", role);
}

int kf_log_level_parse(const char *name, enum kf_log_level *out)
{
    for (int i = 0; i <= KF_LOG_DEBUG; i++) {
        if (strcmp(name, level_names[i]) == 0) {
            *out = (enum kf_log_level)i;
            return 0;
        }
    }
    return -1;
}

int kf_log_enabled(enum kf_log_level level)
{
    return level <= log_level;
}

void kf_log(enum kf_log_level level, const char *fmt, ...)
{
    if (level > log_level)
        return;
    char line[2048];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof(line), "%02d:%02d:%02d.%03ld kfarm %s %s: ", tm.tm_hour,
                     tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000, log_role, level_names[level]);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
    va_end(ap);
    /* One write per line keeps lines whole when ranks share the job's output file. */
    fprintf(stderr, "%s\n", line);
}
