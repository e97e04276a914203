/* Logging for kfarm processes: one line per event on stderr, with ISO 8601 UTC time, host, rank
 * and Slurm job id, as text or as one JSON object per line (--log-format json). */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static enum kf_log_level log_level = KF_LOG_INFO;
static enum kf_log_format log_format = KF_LOG_TEXT;
static char log_role[32] = "kfarm";
static int log_rank = -1;
static char log_host[64];
static char log_job[32];

static const char *const level_names[] = {"error", "warn", "info", "debug"};

/* Host and job are read once: gethostname per line would be a syscall per line, and neither
 * changes during a run. */
static void fill_origin(void)
{
    if (log_host[0])
        return;
    if (gethostname(log_host, sizeof(log_host) - 1) || !log_host[0])
        snprintf(log_host, sizeof(log_host), "-");
    char *dot = strchr(log_host, '.');
    if (dot && dot != log_host)
        *dot = '\0';
    const char *job = getenv("SLURM_JOB_ID");
    snprintf(log_job, sizeof(log_job), "%s", job && *job ? job : "-");
}

void kf_log_init(enum kf_log_level level, const char *role)
{
    log_level = level;
    snprintf(log_role, sizeof(log_role), "%s", role);
    log_host[0] = '\0';
    fill_origin();
}

void kf_log_set_rank(int rank)
{
    log_rank = rank;
}

void kf_log_set_format(enum kf_log_format format)
{
    log_format = format;
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

int kf_log_format_parse(const char *name, enum kf_log_format *out)
{
    if (strcmp(name, "text") == 0)
        *out = KF_LOG_TEXT;
    else if (strcmp(name, "json") == 0)
        *out = KF_LOG_JSON;
    else
        return -1;
    return 0;
}

int kf_log_enabled(enum kf_log_level level)
{
    return level <= log_level;
}

/* 2026-12-08T01:53:56.123Z: UTC, so lines of nodes in different zones sort together. */
static void format_time(char *buf, size_t len)
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    /* strftime, then the milliseconds: gcc cannot bound snprintf's %04d of a year at -O2. */
    size_t n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, len - n, ".%03dZ", (int)(ts.tv_nsec / 1000000));
}

/* Appends s as the inside of a JSON string; stops short of out's end. */
static size_t append_json_escaped(char *out, size_t cap, size_t n, const char *s)
{
    for (; *s && n + 7 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            n += (size_t)snprintf(out + n, cap - n, "\\%c", c);
        else if (c < 0x20)
            n += (size_t)snprintf(out + n, cap - n, "\\u%04x", c);
        else
            out[n++] = (char)c;
    }
    out[n] = '\0';
    return n;
}

static void write_json(enum kf_log_level level, const char *time, const char *msg)
{
    char line[4096];
    size_t n = (size_t)snprintf(line, sizeof(line), "{\"time\":\"%s\",\"host\":\"", time);
    n = append_json_escaped(line, sizeof(line), n, log_host);
    n += (size_t)snprintf(line + n, sizeof(line) - n, "\",\"role\":\"%s\",\"rank\":%d,\"job\":\"",
                          log_role, log_rank);
    n = append_json_escaped(line, sizeof(line), n, log_job);
    n += (size_t)snprintf(line + n, sizeof(line) - n, "\",\"level\":\"%s\",\"msg\":\"",
                          level_names[level]);
    n = append_json_escaped(line, sizeof(line) - 3, n, msg);
    fprintf(stderr, "%s\"}\n", line);
}

void kf_log(enum kf_log_level level, const char *fmt, ...)
{
    if (level > log_level)
        return;
    fill_origin();
    char time[40], msg[2048];
    format_time(time, sizeof(time));
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    /* One write per line keeps lines whole when ranks share the job's output file. */
    if (log_format == KF_LOG_JSON)
        write_json(level, time, msg);
    else
        fprintf(stderr, "%s %s kfarm %s rank=%d job=%s %s: %s\n", time, log_host, log_role,
                log_rank, log_job, level_names[level], msg);
}
