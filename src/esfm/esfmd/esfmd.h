/* esfmd, the host ESFM service: state shared by its files (server loop, request handlers,
 * domain watch). One listening UNIX socket per served domain; the socket names the domain. */
#ifndef ESFMD_H
#define ESFMD_H

#include <kfarm/esfm.h>
#include <kfarm/esfmd_proto.h>

#include <pthread.h>
#include <stdint.h>

struct esfmd_work;

#define ESFMD_NAME_MAX 32 /* domain and node names: [A-Za-z0-9_.-]{1,32} */
#define ESFMD_MAX_DOMAINS 64
#define ESFMD_MAX_CONNS 256
#define ESFMD_OUT_MAX 4096 /* replies queued for a reader that does not read: then it is dropped */

struct esfmd_domain {
    char name[ESFMD_NAME_MAX + 1]; /* libvirt domain */
    char node[ESFMD_NAME_MAX + 1]; /* Slurm node name the VM is */
    char path[256];                /* its channel socket */
    int lfd;
    bool in_flight; /* a request (or a release) of this domain is running in a worker */
    bool check_now; /* its channel hung up: look at the domain state at once */
    struct esfmd_work *queue; /* requests waiting behind the running one */
    unsigned queued;
};

struct esfmd_conn {
    int fd; /* -1: free slot */
    int dom;
    unsigned long serial; /* replies find their connection by it (the slot may be reused) */
    struct esfmd_linebuf lb;
    uint64_t line_start_ns; /* first byte of the line being read; 0 = none */
    char out[ESFMD_OUT_MAX];
    size_t outlen;
};

struct esfmd_config {
    const char *socket_dir;
    int read_timeout_ms; /* bound on one request line */
    int check_ms;        /* how often running domains are checked */
    int max_vfs_per_vm;  /* < 0: no cap beyond the policy's */
    const char *policy_path;
    size_t ndomains;
    struct esfmd_domain domains[ESFMD_MAX_DOMAINS];
};

struct esfmd {
    struct esfm_ctx *ctx;
    struct esfmd_config *cfg;
    struct esfmd_conn conns[ESFMD_MAX_CONNS];
    unsigned long next_serial;
    int wake[2]; /* workers write a byte when a result is ready */
    pthread_mutex_t lock;
    struct esfmd_work *done; /* results waiting for the loop */
};

/* server.c */
int esfmd_open_sockets(struct esfmd *d, char *err, size_t errlen);
#include <signal.h>
/* Serves until *stop is set (SIGTERM) and the running requests have finished. */
int esfmd_run(struct esfmd *d, volatile sig_atomic_t *stop, char *err, size_t errlen);
void esfmd_close(struct esfmd *d);

/* handle.c: answers one request of domain dom into reply (a full esfm1 line). Runs in a worker
 * thread, never in the loop. */
void esfmd_handle(struct esfmd *d, const struct esfmd_domain *dom, const struct esfmd_msg *m,
                  char *reply, size_t len);
/* Releases every job a domain holds (it stopped). Runs in a worker thread. */
void esfmd_release_domain(struct esfmd *d, const struct esfmd_domain *dom);
/* Host job id for a guest's job: "<domain>.<job>"; -EINVAL when the guest's id is bad. */
int esfmd_host_job_id(const char *domain, const char *job, char *out, size_t len);

/* log */
void esfmd_logf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
#endif
