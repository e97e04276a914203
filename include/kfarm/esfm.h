/* libesfm: the SR-IOV FPGA manager. Creates VFs on a PF through sysfs and hands them to VMs
 * through a hypervisor backend (libvirt, or the named fake), with a policy and a crash journal. */
#ifndef KFARM_ESFM_H
#define KFARM_ESFM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <kfarm/mqtt_security.h>

#ifdef __cplusplus
extern "C" {
#endif

/* libesfm is built with hidden visibility: what this header declares is its whole API (and all
 * that src/esfm/libesfm.map lets it export). */
#pragma GCC visibility push(default)

/*
 * Errors. Every function returns 0 or a negative errno-style code and writes a one-line message
 * (what failed, on which object, why, what to do) into the caller's err buffer. The code says
 * which class of failure it was; esfm_exit_code() maps it to the documented CLI exit code:
 *
 *   -EINVAL     bad input (unknown option, non-numeric N, N over total, not a PF)  exit 2
 *   -EACCES     refused by the policy (VF budget, bitstream not allowed/bad hash) exit 3
 *   -ENOENT     not found (unknown BDF, VM, job, bitstream file)                  exit 4
 *   -EBUSY      VF busy (kfarm busy counter) or already attached elsewhere        exit 5
 *   -EREMOTEIO  hypervisor (libvirt/QMP) call failed                              exit 6
 *   -EIO        a sysfs write or read failed (message has path and errno)        exit 7
 *   -ENOLCK     state dir / journal problem (permissions, corrupt file)          exit 8
 *   -ENOEXEC    flash_command failed                                              exit 9
 *   anything else                                                                 exit 1
 */
#define ESFM_ERR_LEN 512
int esfm_exit_code(int rc);

/* Name of the hypervisor alias ESFM gives a VF's hostdev: "ua-kfarm-<bdf with - for :/.>". */
#define ESFM_ALIAS_LEN 48
#define ESFM_BDF_LEN   16
void esfm_alias_for(const char *vf_bdf, char alias[ESFM_ALIAS_LEN]);

/* How sysfs attributes are written. NULL in esfm_options means the real kernel (open/write). The
 * unit tests plug a fake kernel here that reacts to writes like Linux does; reads always go to
 * the files under sysfs_root. Returns 0 or -errno. */
struct esfm_sysfs_ops {
    int (*write_attr)(void *priv, const char *path, const char *value);
    void *priv;
};

/* Progress/report lines ("detached 0000:03:00.1 from vm1", "fell back to detach: ..."). */
typedef void (*esfm_log_fn)(void *arg, const char *line);

/* Flags for the hypervisor's attach/detach; default (0) means live and persistent. */
#define ESFM_HV_LIVE   1u
#define ESFM_HV_CONFIG 2u

struct esfm_options {
    const char *sysfs_root;  /* default "/sys" */
    const char *connect_uri; /* libvirt URI, or "fake:///path/state.json[?latency=paper]";
                                NULL: operations needing a hypervisor fail with -EINVAL */
    const char *policy_path; /* NULL: no policy (no budgets, no bitstreams, exclusive VFs) */
    const char *state_dir;   /* default "/var/lib/esfm"; created 0700 */
    const char *mqtt_uri;    /* "tcp://host:port", "ssl://host:port" (TLS) or NULL (publish
                                nothing) */
    struct kf_mqtt_security mqtt_security; /* user, password file, CA, client cert (all NULL:
                                              anonymous) */
    int parallel;          /* threads for multi-VF operations; <= 0 means one per VF */
    bool force;            /* ignore the busy counter */
    unsigned hv_flags;     /* ESFM_HV_LIVE | ESFM_HV_CONFIG; 0 = both */
    int detach_timeout_ms; /* bound on the device-removed wait; 0 = 10000 */
    bool skip_reconcile;   /* true: leave crashed runs' journal entries (esfm status) */
    const struct esfm_sysfs_ops *sysfs_ops; /* NULL = real kernel */
    esfm_log_fn log;                        /* NULL = silent */
    void *log_arg;
};

struct esfm_ctx;

/* Opens a context: refuses (-EACCES) unless the real and effective uid are both 0 (only root
 * drives ESFM), checks the policy (root-owned, not group/world-writable; bitstreams under its
 * bitstream_dir), creates the state dir, connects the hypervisor (when a URI is given) and MQTT
 * (when given), then reconciles any journal entry left by a crashed run. */
int esfm_ctx_new(const struct esfm_options *opt, struct esfm_ctx **out, char *err, size_t errlen);
void esfm_ctx_free(struct esfm_ctx *ctx);

/* ---- The job API (used by the SPANK plugin) ---------------------------------------------- */

struct esfm_job {
    const char *job_id; /* Slurm job id, any string without '/' */
    uid_t uid;
    const char *partition; /* may be NULL */
};

struct esfm_grant {
    char vf_bdf[ESFM_BDF_LEN];
    char guest_bdf[ESFM_BDF_LEN]; /* "" when the hypervisor does not say */
    char alias[ESFM_ALIAS_LEN];
};

/* Attaches `nvfs` free VFs to `domain` for `job`, within the policy's budgets. VFs are
 * exclusive unless the policy says "shared". All or nothing: on error nothing stays attached or
 * recorded. Fills grants[0..nvfs-1]; the caller provides room for nvfs. */
int esfm_job_attach(struct esfm_ctx *ctx, const struct esfm_job *job, const char *domain,
                    unsigned nvfs, struct esfm_grant *grants, char *err, size_t errlen);

/* Detaches every VF recorded for job_id and forgets the job. Idempotent: an unknown job is 0. */
int esfm_job_detach(struct esfm_ctx *ctx, const char *job_id, char *err, size_t errlen);

/* Checks a job's request against the policy without touching VFs or the state dir (the SPANK
 * plugin's check in srun/sbatch, before the job is queued): nvfs within the per-job cap and, when
 * bitstream is not NULL, an allow-listed name. -EACCES with what is allowed. policy_path NULL
 * means no cap and no bitstream, and the file must pass esfm_ctx_new's ownership checks. */
int esfm_policy_check_request(const char *policy_path, unsigned nvfs, const char *bitstream,
                              char *err, size_t errlen);

/* ---- Admin operations (the esfm command) ------------------------------------------------- */

/* pf: a BDF, "vendor:device", or NULL for the policy's "pf_ids". nvfs < 0: as many VFs as now.
 * bitstream: an allow-listed name or NULL. vf_driver: bind new VFs to it, NULL = policy's. */
int esfm_init(struct esfm_ctx *ctx, const char *pf, int nvfs, const char *bitstream,
              const char *vf_driver, char *err, size_t errlen);
int esfm_reconf(struct esfm_ctx *ctx, const char *pf, int nvfs, char *err, size_t errlen);
/* vf may be NULL (first free VF); vf_out (ESFM_BDF_LEN) gets the VF used. */
int esfm_attach(struct esfm_ctx *ctx, const char *vf, const char *domain, char *vf_out, char *err,
                size_t errlen);
int esfm_detach(struct esfm_ctx *ctx, const char *vf, char *err, size_t errlen);
/* pause=true pauses, false unpauses. *fell_back (may be NULL) is set when QEMU lacked
 * device_pause and ESFM detached/attached instead. */
int esfm_pause(struct esfm_ctx *ctx, const char *vf, bool pause, bool *fell_back, char *err,
               size_t errlen);

/* ---- Listings ------------------------------------------------------------------------------ */

enum esfm_vf_state { ESFM_VF_FREE, ESFM_VF_ATTACHED, ESFM_VF_PAUSED };
const char *esfm_vf_state_name(enum esfm_vf_state s);

struct esfm_vf_info {
    char pf[ESFM_BDF_LEN];
    char bdf[ESFM_BDF_LEN];
    char driver[64]; /* "" when unbound */
    enum esfm_vf_state state;
    char domain[128];     /* "" when free */
    char job_id[64];      /* "" when not owned by a job */
    unsigned busy_queues; /* from the kfarm busy counter; 0 = idle or unknown */
    bool busy;
};

struct esfm_hostdev {
    char domain[128];
    char bdf[ESFM_BDF_LEN]; /* host address */
    char alias[64];
    char guest_bdf[ESFM_BDF_LEN]; /* "" when unknown */
    bool running;                 /* false: only the stopped VM's persistent config holds it */
};

struct esfm_pf_info {
    char bdf[ESFM_BDF_LEN];
    char driver[64];
    unsigned numvfs, totalvfs;
};

struct esfm_pending {
    char name[64];   /* journal entry file */
    char op[16];     /* init, reconf, attach, detach, job-attach, job-detach, pause, unpause */
    char object[64]; /* PF, VF or job */
    bool running;    /* its process still holds it */
};

/* Arrays are malloc'd; free them with free(). pf may be NULL for all PFs. */
int esfm_list_vfs(struct esfm_ctx *ctx, const char *pf, struct esfm_vf_info **out, size_t *n,
                  char *err, size_t errlen);
int esfm_list_vf_vm(struct esfm_ctx *ctx, struct esfm_hostdev **out, size_t *n, char *err,
                    size_t errlen);
int esfm_list_pfs(struct esfm_ctx *ctx, struct esfm_pf_info **out, size_t *n, char *err,
                  size_t errlen);
int esfm_list_pending(struct esfm_ctx *ctx, struct esfm_pending **out, size_t *n, char *err,
                      size_t errlen);

/* Repairs what crashed runs left (esfm_ctx_new already does it). *repaired gets the count. */
int esfm_reconcile(struct esfm_ctx *ctx, int *repaired, char *err, size_t errlen);

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif
#endif
