/* Command-line options of `kfarm`, parsed identically on every rank before MPI starts so that a
 * bad option fails the whole job at once with one message. */
#ifndef KF_OPTIONS_H
#define KF_OPTIONS_H

#include <stddef.h>
#include <stdio.h>

#include "log.h"

#include <kfarm/mqtt_security.h>

#define KF_MAX_ADAPTERS 8
#define KF_MAX_ADAPTER_ARGS 64

struct kf_adapter_spec {
    const char *name; /* built-in name or path to a .so */
    size_t n_args;
    const char *keys[KF_MAX_ADAPTER_ARGS];
    const char *values[KF_MAX_ADAPTER_ARGS];
};

struct kf_options {
    /* client-facing sockets: connect (EvKit topology) or bind (many clients) */
    int bind_mode;
    const char *endpoint;           /* --connect / --bind */
    const char *broadcast_endpoint; /* --broadcast-connect / --broadcast-bind */
    const char *endpoint_file;
    const char *advertise; /* address written to the endpoint file for wildcard binds */
    const char *topic;
    /* CURVE (docs/security.md): this gateway's secret key; bind mode: the client public keys to
     * admit; connect mode: the client's public key */
    const char *curve_secret_key, *curve_allowed_keys, *curve_server_key;
    double connect_timeout_s;
    double drain_timeout_s;
    size_t n_adapters;
    struct kf_adapter_spec adapters[KF_MAX_ADAPTERS];
    /* variant selection (src/mpi_worker/variant.c) */
    int variant;              /* 0 auto (tuner), KF_VARIANT_CPU or KF_VARIANT_ACCEL */
    const char *tuner_file;   /* margot.json-shaped tuner configuration */
    const char *knowledge_file;
    const char *knowledge_save; /* %r = rank, %k = kind */
    const char *mqtt;
    struct kf_mqtt_security mqtt_security; /* --mqtt-username, --mqtt-cafile, ... */
    const char *accel_bdf;
    const char *sysfs_root;
    const char *metrics_listen; /* HOST:PORT for the Prometheus endpoint */
    const char *trace_file;     /* one line per reply, for tools/kfarm-plot */
    int max_inflight;
    int max_client_inflight; /* bind mode: requests one client may have in flight */
    size_t max_message_bytes;
    size_t max_pending_bytes; /* requests (and broadcasts) the gateway holds, all clients together */
    enum kf_log_level log_level;
    int help;
    int version;
    char *owned[KF_MAX_ADAPTERS * KF_MAX_ADAPTER_ARGS]; /* strdup()ed key=value splits */
    size_t n_owned;
};

/* Parses argv into opts (defaults first). Returns 0, or -1 with a message in err. */
int kf_options_parse(struct kf_options *opts, int argc, char **argv, char *err, size_t errlen);
void kf_options_fini(struct kf_options *opts);
void kf_options_usage(FILE *out);

#endif
