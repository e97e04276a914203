/* esfmd's request handlers: what a VM may ask (hello, job-attach, job-detach, status,
 * pause-state) for itself only. The domain comes from the socket the request arrived on; every
 * limit is the host's (policy, --max-vfs-per-vm); a guest's job id is scoped to its domain. */
#include "esfmd.h"

#include "errbuf.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_GRANTS 16 /* VFs one request may ask; a reply line holds this many guest BDFs */

int esfmd_host_job_id(const char *domain, const char *job, char *out, size_t len)
{
    if (!job || !*job || strlen(job) > 30)
        return -EINVAL;
    for (const char *p = job; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '_' && *p != '-')
            return -EINVAL;
    int n = snprintf(out, len, "%s.%s", domain, job);
    return (n < 0 || (size_t)n >= len) ? -EINVAL : 0;
}

static void reply_err(const struct esfmd_msg *m, int rc, const char *text, char *reply,
                      size_t len)
{
    esfmd_format_err(reply, len, m->id, esfmd_code_name(rc), text);
}

/* This domain's VFs with their guest address (from the hypervisor's hostdevs). */
struct dom_vf {
    struct esfm_vf_info info;
    char guest[ESFM_BDF_LEN];
};

static int list_domain_vfs(struct esfmd *d, const char *domain, struct dom_vf **out, size_t *n,
                           char *err, size_t errlen)
{
    struct esfm_vf_info *v = NULL;
    struct esfm_hostdev *h = NULL;
    size_t nv = 0, nh = 0;
    *out = NULL;
    *n = 0;
    int rc = esfm_list_vfs(d->ctx, NULL, &v, &nv, err, errlen);
    if (!rc)
        rc = esfm_list_vf_vm(d->ctx, &h, &nh, err, errlen);
    struct dom_vf *r = rc ? NULL : calloc(nv ? nv : 1, sizeof *r);
    if (!rc && !r) {
        rc = -ENOMEM; /* set here, not from kf_errf's return, so the analyser sees r != NULL below */
        kf_errf(err, errlen, rc, "out of memory");
    }
    for (size_t i = 0; !rc && i < nv; i++) {
        if (strcmp(v[i].domain, domain) != 0)
            continue;
        r[*n].info = v[i];
        snprintf(r[*n].guest, ESFM_BDF_LEN, "-");
        for (size_t k = 0; k < nh; k++)
            if (strcmp(h[k].bdf, v[i].bdf) == 0 && strcmp(h[k].domain, domain) == 0 &&
                h[k].guest_bdf[0])
                snprintf(r[*n].guest, ESFM_BDF_LEN, "%s", h[k].guest_bdf);
        (*n)++;
    }
    free(v);
    free(h);
    if (rc)
        free(r);
    else
        *out = r;
    return rc;
}

/* The guest's own job id for a host record of this domain, or NULL for another's. */
static const char *guest_job(const char *domain, const char *host_job)
{
    size_t l = strlen(domain);
    if (strncmp(host_job, domain, l) == 0 && host_job[l] == '.')
        return host_job + l + 1;
    return NULL;
}

static int check_running(struct esfmd *d, const struct esfmd_domain *dom, char *err,
                         size_t errlen)
{
    bool running = false;
    int rc = esfm_domain_running(d->ctx, dom->name, &running, err, errlen);
    if (rc && rc != -ENOENT)
        return rc;
    if (!running)
        return kf_errf(err, errlen, -ESRCH, "domain %s is not running", dom->name);
    return 0;
}

/* The VFs this domain holds for jobs other than host_job, against --max-vfs-per-vm. */
static int check_vm_cap(struct esfmd *d, const struct esfmd_domain *dom, const char *host_job,
                        unsigned nvfs, char *err, size_t errlen)
{
    if (d->cfg->max_vfs_per_vm < 0)
        return 0;
    struct dom_vf *v;
    size_t n, held = 0;
    int rc = list_domain_vfs(d, dom->name, &v, &n, err, errlen);
    if (rc)
        return rc;
    for (size_t i = 0; i < n; i++)
        held += strcmp(v[i].info.job_id, host_job) != 0;
    free(v);
    if (held + nvfs > (size_t)d->cfg->max_vfs_per_vm)
        return kf_errf(err, errlen, -EACCES,
                       "VM %s holds %zu VFs and asks %u more; esfmd allows %d per VM", dom->name,
                       held, nvfs, d->cfg->max_vfs_per_vm);
    return 0;
}

static int parse_count(const char *s, unsigned *out)
{
    char *end;
    if (!s || !isdigit((unsigned char)*s))
        return -EINVAL;
    unsigned long v = strtoul(s, &end, 10);
    if (*end || v < 1 || v > MAX_GRANTS)
        return -EINVAL;
    *out = (unsigned)v;
    return 0;
}

static void job_attach(struct esfmd *d, const struct esfmd_domain *dom, const struct esfmd_msg *m,
                       char *reply, size_t len)
{
    char err[ESFM_ERR_LEN], hid[80];
    const char *job = esfmd_msg_get(m, "job"), *uid_s = esfmd_msg_get(m, "uid");
    const char *bitstream = esfmd_msg_get(m, "bitstream");
    unsigned nvfs;
    if (esfmd_host_job_id(dom->name, job, hid, sizeof hid))
        return reply_err(m, -EINVAL, "job=ID required: 1-30 of [A-Za-z0-9_-]", reply, len);
    if (parse_count(esfmd_msg_get(m, "vfs"), &nvfs))
        return reply_err(m, -EINVAL, "vfs=N required, 1 to 16", reply, len);
    char *end = NULL;
    unsigned long uid = uid_s ? strtoul(uid_s, &end, 10) : (unsigned long)-1;
    if (uid_s && (*end || !isdigit((unsigned char)*uid_s)))
        return reply_err(m, -EINVAL, "uid=U must be a number", reply, len);
    int rc = check_running(d, dom, err, sizeof err);
    if (!rc)
        rc = check_vm_cap(d, dom, hid, nvfs, err, sizeof err);
    if (!rc && bitstream)
        rc = esfm_policy_check_request(d->cfg->policy_path, nvfs, bitstream, err, sizeof err);
    struct esfm_grant g[MAX_GRANTS];
    struct esfm_job ej = {.job_id = hid, .uid = (uid_t)uid,
                          .partition = esfmd_msg_get(m, "partition")};
    if (!rc)
        rc = esfm_job_attach(d->ctx, &ej, dom->name, nvfs, g, err, sizeof err);
    for (unsigned i = 0; !rc && i < nvfs; i++)
        if (!g[i].guest_bdf[0]) {
            char e2[ESFM_ERR_LEN];
            esfm_job_detach(d->ctx, hid, e2, sizeof e2);
            rc = kf_errf(err, sizeof err, -EREMOTEIO,
                         "the hypervisor did not report VF %s's guest address; released", g[i].vf_bdf);
        }
    if (rc)
        return reply_err(m, rc, err, reply, len);
    char bdfs[MAX_GRANTS * ESFM_BDF_LEN] = "", nbuf[8];
    for (unsigned i = 0; i < nvfs; i++)
        snprintf(bdfs + strlen(bdfs), sizeof bdfs - strlen(bdfs), "%s%s", i ? "," : "",
                 g[i].guest_bdf);
    snprintf(nbuf, sizeof nbuf, "%u", nvfs);
    const char *kv[] = {"job", job, "vfs", nbuf, "node", dom->node, "bdfs", bdfs, NULL};
    if (esfmd_format(reply, len, m->id, "ok", kv) < 0)
        reply_err(m, -E2BIG, "reply does not fit a line", reply, len);
    esfmd_logf("domain %s: job %s holds %u VF(s) at guest %s", dom->name, job, nvfs, bdfs);
}

static void job_detach(struct esfmd *d, const struct esfmd_domain *dom, const struct esfmd_msg *m,
                       char *reply, size_t len)
{
    char err[ESFM_ERR_LEN], hid[80];
    const char *job = esfmd_msg_get(m, "job");
    if (esfmd_host_job_id(dom->name, job, hid, sizeof hid))
        return reply_err(m, -EINVAL, "job=ID required: 1-30 of [A-Za-z0-9_-]", reply, len);
    int rc = esfm_job_detach(d->ctx, hid, err, sizeof err);
    if (rc)
        return reply_err(m, rc, err, reply, len);
    const char *kv[] = {"job", job, NULL};
    esfmd_format(reply, len, m->id, "ok", kv);
    esfmd_logf("domain %s: job %s released its VFs", dom->name, job);
}

/* status: this VM's VFs as guest/state/job; pause-state bdf=G: one of them. */
static void status(struct esfmd *d, const struct esfmd_domain *dom, const struct esfmd_msg *m,
                   char *reply, size_t len)
{
    char err[ESFM_ERR_LEN];
    struct dom_vf *v;
    size_t n;
    const char *want = strcmp(m->verb, "pause-state") == 0 ? esfmd_msg_get(m, "bdf") : NULL;
    if (strcmp(m->verb, "pause-state") == 0 && !want)
        return reply_err(m, -EINVAL, "pause-state needs bdf=GUEST_BDF", reply, len);
    int rc = list_domain_vfs(d, dom->name, &v, &n, err, sizeof err);
    if (rc)
        return reply_err(m, rc, err, reply, len);
    char list[ESFMD_VAL_MAX + 1] = "", cnt[24];
    size_t shown = 0;
    for (size_t i = 0; i < n; i++) {
        const char *state = esfm_vf_state_name(v[i].info.state);
        if (want && strcmp(v[i].guest, want) == 0) {
            const char *kv[] = {"bdf", want, "state", state, NULL};
            esfmd_format(reply, len, m->id, "ok", kv);
            free(v);
            return;
        }
        const char *job = guest_job(dom->name, v[i].info.job_id);
        char item[64];
        snprintf(item, sizeof item, "%s%s/%s/%s", shown ? "," : "", v[i].guest, state,
                 job ? job : "-");
        if (strlen(list) + strlen(item) < sizeof list) {
            strcat(list, item);
            shown++;
        }
    }
    free(v);
    if (want)
        return reply_err(m, -ENOENT, "no VF of this VM has that guest address", reply, len);
    snprintf(cnt, sizeof cnt, "%zu", n);
    const char *kv[] = {"domain", dom->name, "node", dom->node, "vfs", cnt, "bdfs",
                        shown ? list : NULL, NULL};
    esfmd_format(reply, len, m->id, "ok", kv);
}

void esfmd_handle(struct esfmd *d, const struct esfmd_domain *dom, const struct esfmd_msg *m,
                  char *reply, size_t len)
{
    if (strcmp(m->verb, "hello") == 0) {
        const char *kv[] = {"proto", ESFMD_PROTO, "domain", dom->name, "node", dom->node, NULL};
        esfmd_format(reply, len, m->id, "ok", kv);
    } else if (strcmp(m->verb, "job-attach") == 0) {
        job_attach(d, dom, m, reply, len);
    } else if (strcmp(m->verb, "job-detach") == 0) {
        job_detach(d, dom, m, reply, len);
    } else {
        status(d, dom, m, reply, len);
    }
}

void esfmd_release_domain(struct esfmd *d, const struct esfmd_domain *dom)
{
    char err[ESFM_ERR_LEN];
    bool running = false;
    int rc = esfm_domain_running(d->ctx, dom->name, &running, err, sizeof err);
    if ((rc && rc != -ENOENT) || running)
        return;
    struct dom_vf *v;
    size_t n;
    if (list_domain_vfs(d, dom->name, &v, &n, err, sizeof err))
        return;
    for (size_t i = 0; i < n; i++) {
        const char *hid = v[i].info.job_id;
        if (!guest_job(dom->name, hid))
            continue; /* an admin's attach, not a guest's job */
        bool seen = false;
        for (size_t k = 0; k < i; k++)
            seen |= strcmp(v[k].info.job_id, hid) == 0;
        if (seen)
            continue;
        rc = esfm_job_detach(d->ctx, hid, err, sizeof err);
        if (rc)
            esfmd_logf("domain %s stopped; releasing job %s failed: %s", dom->name, hid, err);
        else
            esfmd_logf("domain %s stopped; released the VFs of job %s", dom->name, hid);
    }
    free(v);
}
