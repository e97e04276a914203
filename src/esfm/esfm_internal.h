/* libesfm's internal header, shared by its files and by the tests that link esfm_internal (the
 * static library of the same objects): the context, step counting for the crash tests, and the
 * small interfaces (sysfs helpers, hypervisor, policy, journal, state, MQTT). Not installed; the
 * public API is include/kfarm/esfm.h and it is all libesfm.so exports (libesfm.map). */
#ifndef ESFM_INTERNAL_H
#define ESFM_INTERNAL_H

#include <kfarm/esfm.h>
#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdatomic.h>

#include "atomic_file.h" /* kfarm_base: kf_atomic_write_text, the one atomic file writer */
#include "errbuf.h"      /* kfarm_base: kf_errf, the one error formatter */

struct esfm_hv;
struct esfm_policy;
struct esfm_mqtt;

struct esfm_ctx {
    char *sysfs_root;
    char *state_dir;
    char *connect_uri;
    int parallel;
    bool force;
    unsigned hv_flags;
    int detach_timeout_ms;
    struct esfm_sysfs_ops sysfs;
    esfm_log_fn log;
    void *log_arg;
    struct esfm_hv *hv;
    struct esfm_policy *policy;
    struct esfm_mqtt *mqtt;
    char node[64];
    long crash_after; /* ESFM_TEST_CRASH_AFTER_STEP, 0 = never */
    long stop_after;  /* ESFM_TEST_STOP_AFTER_STEP: SIGSTOP there (fault tests), 0 = never */
    atomic_long steps;
    pthread_mutex_t log_lock;
};

/* report.c: a progress line to the caller's log function (serialized across threads). */
void esfm_logf(struct esfm_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* crash_hook.c: counts one externally visible step; dies by SIGKILL (or stops) when the crash
 * (or fault) test asks for it. */
void esfm_step(struct esfm_ctx *ctx, const char *what);

/* names.c */
bool esfm_valid_bdf(const char *s);
/* Accepts "03:00.1" or "0000:03:00.1"; writes the full form. */
int esfm_normalize_bdf(const char *in, char out[ESFM_BDF_LEN]);
const char *esfm_json_str(const cJSON *o, const char *key);

/* sysfs_real.c */
extern const struct esfm_sysfs_ops esfm_sysfs_real;

/* pci.c: reads of the PCI tree and one named helper per sysfs write (virpci.c style). The write
 * helpers return the raw -errno and describe path and errno in err. */
int esfm_pci_path(struct esfm_ctx *ctx, const char *bdf, const char *attr, char *buf, size_t len);
bool esfm_pci_exists(struct esfm_ctx *ctx, const char *bdf);
bool esfm_pci_is_pf(struct esfm_ctx *ctx, const char *bdf);
int esfm_pci_read_uint(struct esfm_ctx *ctx, const char *bdf, const char *attr, unsigned *v,
                       char *err, size_t errlen);
int esfm_pci_read_str(struct esfm_ctx *ctx, const char *bdf, const char *attr, char *buf,
                      size_t len);
int esfm_pci_physfn(struct esfm_ctx *ctx, const char *vf, char pf[ESFM_BDF_LEN]);
void esfm_pci_driver(struct esfm_ctx *ctx, const char *bdf, char *drv, size_t len);
/* VFs in virtfn order; *vfs is malloc'd. */
int esfm_pci_list_vfs(struct esfm_ctx *ctx, const char *pf, char (**vfs)[ESFM_BDF_LEN], size_t *n);
int esfm_pci_list_pfs(struct esfm_ctx *ctx, char (**pfs)[ESFM_BDF_LEN], size_t *n);
int esfm_pci_find_by_id(struct esfm_ctx *ctx, const char *id, char pf[ESFM_BDF_LEN]);
bool esfm_pci_driver_exists(struct esfm_ctx *ctx, const char *driver);
int esfm_pci_set_numvfs(struct esfm_ctx *ctx, const char *pf, unsigned n, char *err, size_t len);
int esfm_pci_set_autoprobe(struct esfm_ctx *ctx, const char *pf, bool on, char *err, size_t len);
int esfm_pci_set_qmax(struct esfm_ctx *ctx, const char *pf, unsigned q, char *err, size_t len);
int esfm_pci_remove(struct esfm_ctx *ctx, const char *bdf, char *err, size_t len);
int esfm_pci_rescan(struct esfm_ctx *ctx, char *err, size_t len);
int esfm_pci_unbind(struct esfm_ctx *ctx, const char *bdf, char *err, size_t len);
int esfm_pci_set_driver_override(struct esfm_ctx *ctx, const char *bdf, const char *driver,
                                 char *err, size_t len);
int esfm_pci_probe(struct esfm_ctx *ctx, const char *bdf, char *err, size_t len);
int esfm_pci_bind_with_driver_override(struct esfm_ctx *ctx, const char *bdf, const char *driver,
                                       char *err, size_t len);

/* busy.c: the kfarm busy counter (kmod): VF's kfarm/busy or PF's kfarm/vf_busy lines. */
int esfm_busy_queues(struct esfm_ctx *ctx, const char *vf, unsigned *queues, pid_t *pid);

/* digest.c */
int esfm_sha256_file(const char *path, char hex[65], char *err, size_t errlen);
/* From an open descriptor (pread from 0; path only names it in messages). */
int esfm_sha256_fd(int fd, const char *path, char hex[65], char *err, size_t errlen);

/* flash.c: path is the checked canonical path ({bitstream}); fd (>= 0) is the descriptor the
 * sha256 was taken from, inherited by the flasher as {bitstream_fd} = /proc/self/fd/N. */
int esfm_flash_run(char *const *tmpl, const char *pf, const char *name, const char *path, int fd,
                   const char *sha, char *err, size_t errlen);

/* parallel.c: runs fn(arg, i) for i < n on up to `threads` threads. */
void esfm_run_parallel(int threads, size_t n, void (*fn)(void *arg, size_t i), void *arg);

/* mqtt_publish.c */
int esfm_mqtt_new(const char *uri, const struct kf_mqtt_security *sec, const char *node,
                  struct esfm_mqtt **out, char *err, size_t errlen);
void esfm_mqtt_free(struct esfm_mqtt *m);
void esfm_publish_state(struct esfm_ctx *ctx, const char *vf, const char *state);

/* state.c: per-VF records (owner jobs, domain, alias, paused) in <state>/vfs.json. */
int esfm_state_lock(struct esfm_ctx *ctx, char *err, size_t errlen); /* returns fd */
void esfm_state_unlock(int fd);
cJSON *esfm_state_read(struct esfm_ctx *ctx, char *err, size_t errlen); /* {"vfs":{...}} */
int esfm_state_write(struct esfm_ctx *ctx, cJSON *st, char *err, size_t errlen);
cJSON *esfm_state_vf(cJSON *st, const char *bdf); /* NULL when absent */
cJSON *esfm_state_vf_add(cJSON *st, const char *bdf);
void esfm_state_vf_del(cJSON *st, const char *bdf);
int esfm_pf_lock(struct esfm_ctx *ctx, const char *pf, char *err, size_t errlen); /* fd */
/* Reads and parses a JSON file: 0, -ENOENT/-errno, or -EINVAL when it is not JSON. */
int esfm_read_json(const char *path, cJSON **out);

/* journal.c: write-ahead intents in <state>/journal/: <id>.json (replaced atomically) and
 * <id>.lock (flock'd by the living owner). */
struct esfm_journal {
    int fd;         /* of the lock file */
    char path[512]; /* the intent, <id>.json */
};
int esfm_journal_begin(struct esfm_ctx *ctx, const cJSON *intent, struct esfm_journal *j, char *err,
                       size_t errlen);
/* Replaces the intent whole; on failure the previous intent stays (-ENOLCK). */
int esfm_journal_update(struct esfm_ctx *ctx, struct esfm_journal *j, const cJSON *intent,
                        char *err, size_t errlen);
void esfm_journal_end(struct esfm_ctx *ctx, struct esfm_journal *j);
/* Leaves the entry for the next run's repair (closing it releases its lock). */
void esfm_journal_keep(struct esfm_journal *j);
/* Removes an entry (intent, then lock) whose lock the caller holds. */
void esfm_journal_remove(const char *json_path);
/* Takes the lock of the entry <id>.json without waiting: the lock's fd, -EWOULDBLOCK while its
 * owner lives, -ENOENT when another process removed it meanwhile (or, shared, it has no lock
 * file), or -errno. Exclusive creates a missing lock file. */
int esfm_journal_try_lock(const char *json_path, bool shared);
/* True when a hypervisor call just failed because the connection was lost (libvirtd restarted):
 * then whether the call took effect is unknown, and the journal entry must stay for repair. */
bool esfm_hv_lost(struct esfm_ctx *ctx);
/* Appends to err that the connection was lost and that the next esfm command repairs `op` from
 * the journal; returns rc. */
int esfm_hv_lost_note(int rc, const char *op, char *err, size_t errlen);

/* vf_move.c: hostdev lookups over the hypervisor's list. */
int esfm_hostdevs(struct esfm_ctx *ctx, struct esfm_hostdev **out, size_t *n, char *err,
                  size_t errlen);
const struct esfm_hostdev *esfm_hostdev_find(const struct esfm_hostdev *h, size_t n,
                                             const char *bdf);

/* vf_move.c: the moves of one VF shared by the operations. */
int esfm_vf_attach(struct esfm_ctx *ctx, const char *vf, const char *domain, char *guest, char *err,
                   size_t errlen);
int esfm_vf_detach(struct esfm_ctx *ctx, const char *vf, const char *domain, const char *alias,
                   char *err, size_t errlen);
/* Pauses through QMP, or detaches when QEMU lacks device_pause (*method = "qmp"/"detach"). */
int esfm_vf_pause(struct esfm_ctx *ctx, const char *vf, const char *domain, const char *alias,
                  const char **method, char *err, size_t errlen);
int esfm_vf_unpause(struct esfm_ctx *ctx, const char *vf, const char *domain, const char *alias,
                    const char *method, char *err, size_t errlen);
int esfm_check_not_busy(struct esfm_ctx *ctx, const char *vf, char *err, size_t errlen);
int esfm_need_hv(struct esfm_ctx *ctx, char *err, size_t errlen);
/* resolve.c: resolves a PF argument (BDF, vendor:device, NULL = policy pf_ids). */
int esfm_resolve_pf(struct esfm_ctx *ctx, const char *arg, char pf[ESFM_BDF_LEN], char *err,
                    size_t errlen);
int esfm_resolve_vf(struct esfm_ctx *ctx, const char *arg, char vf[ESFM_BDF_LEN],
                    char pf[ESFM_BDF_LEN], char *err, size_t errlen);

/* vf_record.c: records in the state file and journal intents. */
cJSON *esfm_intent_new(const char *op, const char *vf, const char *domain, const char *alias);
int esfm_record_vf(struct esfm_ctx *ctx, const char *vf, const char *domain, const char *alias,
                   const char *guest, const char *paused, bool pending, char *err, size_t errlen);
int esfm_forget_vf(struct esfm_ctx *ctx, const char *vf, char *err, size_t errlen);

/* job_attach.c: rolls an interrupted job-attach back (or keeps it when it had completed). */
int esfm_job_attach_repair(struct esfm_ctx *ctx, cJSON *intent, char *err, size_t errlen);
/* reconcile.c: repairs one journal intent (called with its lock held). */
int esfm_repair(struct esfm_ctx *ctx, cJSON *intent, char *err, size_t errlen);
int esfm_reconf_finish(struct esfm_ctx *ctx, cJSON *intent, char *err, size_t errlen);
int esfm_init_finish(struct esfm_ctx *ctx, cJSON *intent, char *err, size_t errlen);
#endif
