/* Logging for kfarm processes: one line per event on stderr, prefixed with time, rank and level,
 * so that the interleaved output of all ranks in a Slurm job log can be read back. */
#ifndef KF_LOG_H
#define KF_LOG_H

enum kf_log_level { KF_LOG_ERROR, KF_LOG_WARN, KF_LOG_INFO, KF_LOG_DEBUG };

/* Sets the process-wide level and the role shown in every line ("gateway", "worker 3"). */
void kf_log_init(enum kf_log_level level, const char *role);
int kf_log_level_parse(const char *name, enum kf_log_level *out);
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
