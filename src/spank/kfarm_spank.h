/* Internal interfaces of spank_kfarm.so: the user's request (--fpga-* options), the plugstack
 * configuration, the per-job record in state_dir, the context handlers, and the Slurm wrapper. */
#ifndef KFARM_SPANK_H
#define KFARM_SPANK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <slurm/spank.h>

#include <kfarm/mqtt_security.h>

#define KS_ERR_LEN  512
#define KS_MAX_VFS  256 /* the most VFs ESFM attaches for one job (its MAX_JOB_VFS) */
#define KS_LIST_LEN (KS_MAX_VFS * 13 + 1) /* "0000:00:00.0," each */

enum ks_fallback { KS_FALLBACK_CPU, KS_FALLBACK_FAIL };

/* What the user asked with --fpga-vfs, --fpga-bitstream, --fpga-fallback. */
struct ks_request {
    unsigned nvfs;      /* 0: no VFs asked */
    char bitstream[64]; /* "": none */
    enum ks_fallback fallback;
};

/* plugstack.conf arguments (config.c). */
struct ks_config {
    char policy[256];         /* "" = no policy */
    char hypervisor[512];     /* libvirt URI or fake:///path */
    char domain[128];         /* VM name pattern, %n = node name */
    char state_dir[256];      /* the plugin's per-job records */
    char esfm_state_dir[256]; /* ESFM's ownership records and journal */
    char mqtt[256];           /* "" = no MQTT; tcp:// or ssl:// (TLS) */
    char mqtt_username[128];  /* "" = anonymous */
    char mqtt_password_file[256]; /* owner-only (root) file, first line the password */
    char mqtt_cafile[256];    /* CA of the broker's certificate; "" = system trust store */
    char mqtt_cert[256];      /* client certificate, if the broker requires one */
    char mqtt_key[256];
    char sysfs_root[256];     /* "" = /sys */
    char squeue[256];         /* asked whether a recorded job still runs */
    char scontrol[256];       /* asked which GRES a job has here; drains a node ESFM disagrees with */
    char gres[64];            /* "" = VFs are not a Slurm GRES (count from --fpga-vfs) */
    char reflash[8];          /* "allow": the prolog may re-flash an idle PF; default "never" */
    /* mode=vm (docs/deploy.md): this node is a VM; VFs come from esfmd on the host over the
     * channel, and sysfs_root is the guest's. mode=host (default): libesfm here. */
    char mode[8];
    char channel[256];       /* the esfmd port: a character device or a UNIX socket (tests) */
    char guest_driver[64];   /* driver the VFs are bound to in the guest; "" = leave as is */
    char guest_wait_ms[12];  /* bound on a VF's appearance in the guest (default 10000) */
    char channel_timeout_ms[12]; /* bound on esfmd's reply (default 60000) */
};

/* What Slurm allocated of the GRES cfg->gres to a job on one node (gres_alloc.c). */
struct ks_gres_alloc {
    bool on_node;  /* the job has this node */
    unsigned count;
    char type[64]; /* typed GRES (the bitstream), "" untyped */
};

static inline bool ks_config_vm(const struct ks_config *cfg)
{
    return cfg->mode[0] == 'v';
}

/* What the job prolog did for a job on this node; state_dir/<jobid> (record.c). */
struct ks_record {
    uint32_t job_id;
    uid_t uid;
    unsigned nvfs;
    bool accel;
    enum ks_fallback fallback;
    char domain[128];
    char host_bdfs[KS_LIST_LEN];  /* comma-separated host VF addresses */
    char guest_bdfs[KS_LIST_LEN]; /* comma-separated addresses inside the VM */
    char bitstream[64];
    char reason[KS_ERR_LEN]; /* why accel is 0 */
};

enum ks_context { KS_CTX_OTHER, KS_CTX_LOCAL, KS_CTX_ALLOCATOR, KS_CTX_REMOTE, KS_CTX_JOB_SCRIPT };

/* Every call into Slurm goes through this table, so that the context handlers run under cmocka
 * with a fake one (tests/spank). slurm_api.c fills it with the real spank_* calls. */
struct ks_slurm {
    void *sp; /* the spank_t handle of the current callback */
    enum ks_context (*context)(void);
    int (*job_id)(void *sp, uint32_t *id); /* 0 or -1 */
    int (*job_uid)(void *sp, uid_t *uid);
    /* Value of option `which` (args.c's table) as the job asked it: 1 found (*arg set, may be
     * NULL), 0 not given, -1 error. Only in the prolog/epilog (job script) context. */
    int (*getopt)(void *sp, int which, const char **arg);
    int (*setenv)(void *sp, const char *name, const char *value);
    const char *(*node_name)(void); /* this node's Slurm name */
    const char *(*partition)(void); /* the job's partition in the prolog, or NULL */
    /* 1: the job still runs (or may: unknown), 0: Slurm says it ended or does not know it. */
    int (*job_alive)(const struct ks_config *cfg, uint32_t job_id);
    /* cfg->gres set: what Slurm allocated to the job on this node; 0 or <0 with err. */
    int (*gres_alloc)(const struct ks_config *cfg, uint32_t job_id, const char *node,
                      struct ks_gres_alloc *a, char *err, size_t errlen);
    /* Takes this node out of scheduling with a reason an admin sees in scontrol show node. */
    int (*drain_node)(const struct ks_config *cfg, const char *node, const char *reason,
                      char *err, size_t errlen);
    void (*error)(const char *msg);
    void (*info)(const char *msg);
};

void ks_errorf(const struct ks_slurm *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void ks_infof(const struct ks_slurm *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* args.c: option syntax. Each returns 0 or -EINVAL with a message saying what is allowed. */
enum { KS_OPT_VFS, KS_OPT_BITSTREAM, KS_OPT_FALLBACK, KS_OPT_COUNT };
int ks_parse_vfs(const char *s, unsigned *out, char *err, size_t errlen);
int ks_parse_bitstream(const char *s, char *out, size_t outlen, char *err, size_t errlen);
int ks_parse_fallback(const char *s, enum ks_fallback *out, char *err, size_t errlen);
int ks_parse_option(struct ks_request *req, int which, const char *arg, char *err, size_t errlen);
/* The request as parsed by the option callbacks (local, allocator and remote contexts). */
struct ks_request *ks_args_request(void);
/* The option table (args.c; slurm_api.c registers it) and where its callbacks report errors. */
extern struct spank_option ks_spank_options[];
extern void (*ks_args_report)(const char *msg);
/* The plugstack configuration the option callbacks check the policy with: they are where a
 * refusal stops srun/sbatch whether the plugin is listed optional or required. */
void ks_args_set_config(const struct ks_config *cfg);
/* Checks one parsed option against the policy (cfg->policy, when users may read it). */
int ks_check_option(const struct ks_config *cfg, const struct ks_request *req, int which,
                    char *err, size_t errlen);
/* Reads the options through s->getopt (job script context, where no callback runs). */
int ks_args_from_job(const struct ks_slurm *s, struct ks_request *req, char *err, size_t errlen);
const char *ks_fallback_name(enum ks_fallback f);

/* job_alive.c: the real job_alive, asking cfg->squeue; 1 runs or unsure, 0 ended. */
int ks_job_alive_squeue(const struct ks_config *cfg, uint32_t job_id);

/* run_cmd.c: runs argv[0] (absolute path) with stdout+stderr captured into out, at most
 * timeout_ms. 0 with *exit_status when it exited; -ETIMEDOUT (killed), or another -errno. */
int ks_run_capture(char *const argv[], char *out, size_t outlen, int timeout_ms, int *exit_status);

/* gres_alloc.c: the real gres_alloc (scontrol show job -d) and its parser. node_in says whether a
 * hostlist expression ("n[1-3]") names node. */
typedef bool (*ks_node_in_fn)(const char *list, const char *node, void *arg);
int ks_gres_parse_show_job(const char *text, const char *name, const char *node,
                           ks_node_in_fn node_in, void *arg, struct ks_gres_alloc *a);
int ks_gres_alloc_scontrol(const struct ks_config *cfg, uint32_t job_id, const char *node,
                           struct ks_gres_alloc *a, char *err, size_t errlen);
/* node_drain.c: the real drain_node (scontrol update ... state=drain reason=...). */
int ks_drain_node_scontrol(const struct ks_config *cfg, const char *node, const char *reason,
                           char *err, size_t errlen);

/* config.c: plugstack.conf arguments. */
int ks_config_parse(int argc, char **argv, struct ks_config *cfg, char *err, size_t errlen);
/* The mqtt_* arguments as libesfm's MQTT security settings (pointers into cfg; "" -> NULL). */
void ks_config_mqtt_security(const struct ks_config *cfg, struct kf_mqtt_security *sec);
/* Expands the domain pattern (%n node name, %% a percent sign). */
int ks_config_domain(const struct ks_config *cfg, const char *node, char *out, size_t outlen,
                     char *err, size_t errlen);

/* record.c: state_dir/<jobid>. */
int ks_record_write(const char *dir, const struct ks_record *r, char *err, size_t errlen);
/* 0 read, -ENOENT no record, other <0 error. */
int ks_record_read(const char *dir, uint32_t job_id, struct ks_record *r, char *err, size_t errlen);
int ks_record_remove(const char *dir, uint32_t job_id, char *err, size_t errlen);
/* Job ids with a record, malloc'd (free()). */
int ks_record_list(const char *dir, uint32_t **ids, size_t *n, char *err, size_t errlen);

/* Context handlers. Prolog and epilog always return 0: a failure there would drain the node;
 * they record and log what went wrong instead. */
int ks_local_check(const struct ks_slurm *s, const struct ks_config *cfg,
                   const struct ks_request *req);
int ks_prolog(const struct ks_slurm *s, const struct ks_config *cfg, const struct ks_request *req);
int ks_epilog(const struct ks_slurm *s, const struct ks_config *cfg, const struct ks_request *req);

/* Remote (slurmstepd) side: the record read as root at init, applied to every task. */
struct ks_remote {
    uint32_t job_id;
    bool have_record;
    struct ks_record rec;
    bool vm_node;                   /* mode=vm: export KFARM_ACCEL_NODE */
    bool refuse;                    /* fallback=fail and no accelerator: tasks must not start */
    char message[KS_ERR_LEN + 128]; /* what the tasks are told */
};
/* mode=vm (vm_prolog.c): the prolog and epilog through esfmd. */
int ks_prolog_vm(const struct ks_slurm *s, const struct ks_config *cfg,
                 const struct ks_request *req);
int ks_epilog_vm(const struct ks_slurm *s, const struct ks_config *cfg,
                 const struct ks_request *req);

int ks_remote_init(const struct ks_slurm *s, const struct ks_config *cfg, struct ks_remote *rm);
int ks_remote_user_init(const struct ks_slurm *s, const struct ks_request *req,
                        struct ks_remote *rm);
int ks_remote_task_init(const struct ks_slurm *s, const struct ks_remote *rm);

#endif
