/* state_dir/<jobid>: what the job prolog attached (or why it could not) on this node, written
 * atomically as key=value lines and read back by slurmstepd (as root) and by the epilog. */
#include "kfarm_spank.h"

#include "atomic_file.h"
#include "errbuf.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int make_dir(const char *dir, char *err, size_t errlen)
{
    char path[256];
    snprintf(path, sizeof path, "%s", dir);
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(path, 0755) && errno != EEXIST)
            goto fail;
        *p = '/';
    }
    if (mkdir(path, 0700) && errno != EEXIST)
        goto fail;
    return 0;
fail:
    snprintf(err, errlen, "cannot create state dir %s: %s (check state_dir= in plugstack.conf)",
             path, strerror(errno));
    return -errno;
}

/* One-line values: a newline in a reason would end the line early. */
static void put(FILE *f, const char *key, const char *v)
{
    fprintf(f, "%s=", key);
    for (; *v; v++)
        fputc(*v == '\n' ? ' ' : *v, f);
    fputc('\n', f);
}

int ks_record_write(const char *dir, const struct ks_record *r, char *err, size_t errlen)
{
    char path[512];
    int rc = make_dir(dir, err, errlen);
    if (rc)
        return rc;
    snprintf(path, sizeof path, "%s/%" PRIu32, dir, r->job_id);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f) {
        rc = -errno;
        snprintf(err, errlen, "cannot write job record %s: %s", path, strerror(-rc));
        return rc;
    }
    fprintf(f, "job=%" PRIu32 "\nuid=%u\nnvfs=%u\naccel=%d\nfallback=%s\n", r->job_id,
            (unsigned)r->uid, r->nvfs, r->accel ? 1 : 0, ks_fallback_name(r->fallback));
    put(f, "domain", r->domain);
    put(f, "host_bdfs", r->host_bdfs);
    put(f, "guest_bdfs", r->guest_bdfs);
    put(f, "bitstream", r->bitstream);
    put(f, "reason", r->reason);
    if (fclose(f)) {
        rc = -ENOMEM;
        snprintf(err, errlen, "cannot write job record %s: out of memory", path);
    } else {
        char why[600];
        /* 0600: the record names the job's VFs and its domain; only root reads it */
        rc = kf_atomic_write(path, text, len, 0600, why, sizeof why);
        if (rc)
            kf_errf(err, errlen, rc, "cannot write job record: %s", why);
    }
    free(text);
    return rc;
}

static void copy(char *dst, size_t len, const char *v)
{
    snprintf(dst, len, "%s", v);
}

int ks_record_read(const char *dir, uint32_t job_id, struct ks_record *r, char *err, size_t errlen)
{
    char path[512], line[KS_LIST_LEN + 64];
    snprintf(path, sizeof path, "%s/%" PRIu32, dir, job_id);
    FILE *f = fopen(path, "re");
    if (!f) {
        int rc = -errno;
        snprintf(err, errlen, "cannot read job record %s: %s", path, strerror(errno));
        return rc;
    }
    memset(r, 0, sizeof *r);
    bool have_job = false;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        char *v = strchr(line, '=');
        if (!v)
            continue;
        *v++ = '\0';
        if (!strcmp(line, "job"))
            have_job = (uint32_t)strtoul(v, NULL, 10) == job_id;
        else if (!strcmp(line, "uid"))
            r->uid = (uid_t)strtoul(v, NULL, 10);
        else if (!strcmp(line, "nvfs"))
            r->nvfs = (unsigned)strtoul(v, NULL, 10);
        else if (!strcmp(line, "accel"))
            r->accel = strcmp(v, "1") == 0;
        else if (!strcmp(line, "fallback"))
            r->fallback = strcmp(v, "fail") == 0 ? KS_FALLBACK_FAIL : KS_FALLBACK_CPU;
        else if (!strcmp(line, "domain"))
            copy(r->domain, sizeof r->domain, v);
        else if (!strcmp(line, "host_bdfs"))
            copy(r->host_bdfs, sizeof r->host_bdfs, v);
        else if (!strcmp(line, "guest_bdfs"))
            copy(r->guest_bdfs, sizeof r->guest_bdfs, v);
        else if (!strcmp(line, "bitstream"))
            copy(r->bitstream, sizeof r->bitstream, v);
        else if (!strcmp(line, "reason"))
            copy(r->reason, sizeof r->reason, v);
    }
    fclose(f);
    if (!have_job) {
        snprintf(err, errlen, "job record %s is corrupt (no job=%" PRIu32 " line)", path, job_id);
        return -EINVAL;
    }
    r->job_id = job_id;
    return 0;
}

int ks_record_remove(const char *dir, uint32_t job_id, char *err, size_t errlen)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%" PRIu32, dir, job_id);
    if (unlink(path) && errno != ENOENT) {
        int rc = -errno;
        snprintf(err, errlen, "cannot remove job record %s: %s", path, strerror(errno));
        return rc;
    }
    return 0;
}

int ks_record_list(const char *dir, uint32_t **ids, size_t *n, char *err, size_t errlen)
{
    *ids = NULL;
    *n = 0;
    DIR *d = opendir(dir);
    if (!d) {
        if (errno == ENOENT)
            return 0;
        int rc = -errno;
        snprintf(err, errlen, "cannot list state dir %s: %s", dir, strerror(errno));
        return rc;
    }
    size_t cap = 0;
    struct dirent *e;
    int rc = 0;
    while ((e = readdir(d))) {
        char *end;
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        unsigned long v = strtoul(e->d_name, &end, 10);
        if (*end || v > UINT32_MAX)
            continue; /* not a record (e.g. a .tmp left by a crash) */
        if (*n == cap) {
            cap = cap ? cap * 2 : 8;
            uint32_t *nv = realloc(*ids, cap * sizeof **ids);
            if (!nv) {
                rc = -ENOMEM;
                snprintf(err, errlen, "out of memory listing %s", dir);
                free(*ids);
                *ids = NULL;
                *n = 0;
                break;
            }
            *ids = nv;
        }
        (*ids)[(*n)++] = (uint32_t)v;
    }
    closedir(d);
    return rc;
}
