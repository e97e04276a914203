/* Logging for kfarm processes: one line per event on stderr, prefixed with ISO 8601 time, host,
 * role, rank, Slurm job id and level (or one JSON object per line), so that the interleaved
 * output of all ranks in a Slurm job log can be read back and shipped. */
#ifndef KF_LOG_H
#define KF_LOG_H

enum kf_log_level { KF_LOG_ERROR, KF_LOG_WARN, KF_LOG_INFO, KF_LOG_DEBUG };
enum kf_log_format { KF_LOG_TEXT, KF_LOG_JSON };

/* Sets the process-wide level and the role shown in every line ("gateway", "worker"); reads the
 * host name and SLURM_JOB_ID ("-" outside a job). */
void kf_log_init(enum kf_log_level level, const char *role);
/* The MPI rank shown in every line (-1, the default, outside an MPI job). */
void kf_log_set_rank(int rank);
/* Text (default): `2026-12-08T01:53:56.123Z node1 kfarm worker rank=3 job=42 warn: message`.
 * JSON: {"time","host","role","rank","job","level","msg"} on one line. */
void kf_log_set_format(enum kf_log_format format);
int kf_log_level_parse(const char *name, enum kf_log_level *out);
int kf_log_format_parse(const char *name, enum kf_log_format *out);
int kf_log_enabled(enum kf_log_level level);
void kf_log(enum kf_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define kf_error(...) kf_log(KF_LOG_ERROR, __VA_ARGS__)
#define kf_warn(...)  kf_log(KF_LOG_WARN, __VA_ARGS__)
#define kf_info(...)  kf_log(KF_LOG_INFO, __VA_ARGS__)
#define kf_debug(...)                                                                              \
    do {                                                                                           \
        if (kf_log_enabled(KF_LOG_DEBUG))                                                          \
            kf_log(KF_LOG_DEBUG, __VA_ARGS__);                                                     \
    } while (0)

#endif
