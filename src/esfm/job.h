/* What the job operations share (job_attach.c, job_detach.c, job_records.c): one VF of a job
 * being moved, and the job entries of the per-VF records in the state file. */
#ifndef ESFM_JOB_H
#define ESFM_JOB_H

#include "esfm_internal.h"

struct job_vf {
    char vf[ESFM_BDF_LEN], alias[ESFM_ALIAS_LEN], guest[ESFM_BDF_LEN], domain[128];
    bool fresh; /* attached now (false: a shared VF the domain already has) */
    bool skip;
    int rc;
    char err[ESFM_ERR_LEN];
};

/* The argument of the per-VF functions run by esfm_run_parallel. */
struct job_run {
    struct esfm_ctx *ctx;
    struct job_vf *v;
};

/* Detaches v[i] when it was attached for the job (fresh) and is not skipped; -ENOENT (already
 * out of the VM) counts as done. For esfm_run_parallel. */
void job_detach_one(void *arg, size_t i);

/* 1-63 characters of [A-Za-z0-9_.-]: safe in file names, MQTT topics and messages. */
bool job_id_valid(const char *s);
/* The entry of job_id in a VF record's "jobs" (NULL when absent); *idx gets its index. */
cJSON *job_entry(cJSON *rec, const char *job_id, int *idx);
/* Removes job_id from every record (or only from only_vf's); a record left without jobs is
 * deleted. */
void job_drop(cJSON *st, const char *job_id, const char *only_vf);

#endif
