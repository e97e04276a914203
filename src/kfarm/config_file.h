/* `kfarm --config FILE`: one option per line, spliced into the command line in its place. */
#ifndef KF_CONFIG_FILE_H
#define KF_CONFIG_FILE_H

#include <stddef.h>

/* A command line with every --config FILE replaced by the file's options; all strings owned. */
struct kf_config_args {
    int argc;
    char **argv; /* NULL-terminated */
    size_t cap;
};

/* Fills a from argv. Returns 0, or -EINVAL (unreadable file, a line that is no option, a nested
 * --config) / -ENOMEM with a message naming file and line in err. kf_config_args_fini() is due
 * either way. */
int kf_config_expand(struct kf_config_args *a, int argc, char **argv, char *err, size_t errlen);
void kf_config_args_fini(struct kf_config_args *a);

#endif
