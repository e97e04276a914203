/* Command-line options of `kfarm`, parsed identically on every rank before MPI starts so that a
 * bad option fails the whole job at once with one message. The options fill each component's
 * own config struct; the components never see this one. */
#ifndef KF_OPTIONS_H
#define KF_OPTIONS_H

#include <stddef.h>
#include <stdio.h>

#include "gateway_config.h"
#include "log.h"
#include "worker_config.h"

struct kf_options {
    struct kf_gateway_config gateway; /* rank 0 */
    struct kf_worker_config worker;   /* ranks 1..N-1 */
    enum kf_log_level log_level;
    int help;
    int version;
    char *owned[KF_MAX_ADAPTERS * KF_MAX_ADAPTER_ARGS]; /* strdup()ed key=value splits */
    size_t n_owned;
};

/* Parses argv into opts (defaults first). Returns 0, or a negative errno (-EINVAL for a bad
 * option, -ENOMEM) with a message in err. kf_options_fini() is due either way. */
int kf_options_parse(struct kf_options *opts, int argc, char **argv, char *err, size_t errlen);
void kf_options_fini(struct kf_options *opts);
void kf_options_usage(FILE *out);

#endif
