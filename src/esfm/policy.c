/* Loads the admin policy (JSON) after checking that only root can change it, and answers the
 * questions the operations ask: budgets, bitstream allow-list, flash template, PF ids. */
#include "esfm_internal.h"
#include "policy.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void esfm_policy_free(struct esfm_policy *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->npartitions; i++)
        free(p->partitions[i].name);
    free(p->partitions);
    for (size_t i = 0; i < p->nbitstreams; i++) {
        free(p->bitstreams[i].name);
        free(p->bitstreams[i].path);
        free(p->bitstreams[i].sha256);
    }
    free(p->bitstreams);
    free(p->bitstream_dir);
    for (char **a = p->flash_argv; a && *a; a++)
        free(*a);
    free(p->flash_argv);
    for (char **a = p->pf_ids; a && *a; a++)
        free(*a);
    free(p->pf_ids);
    free(p->pf_driver);
    free(p->vf_driver);
    free(p);
}

static int read_whole(int fd, char **out)
{
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    if (!buf)
        return -ENOMEM;
    for (;;) {
        if (len + 1 >= cap) {
            if (cap > (1u << 20)) {
                free(buf);
                return -EFBIG;
            }
            char *nb = realloc(buf, cap *= 2);
            if (!nb) {
                free(buf);
                return -ENOMEM;
            }
            buf = nb;
        }
        ssize_t r = read(fd, buf + len, cap - len - 1);
        if (r < 0) {
            free(buf);
            return -errno;
        }
        if (r == 0)
            break;
        len += (size_t)r;
    }
    buf[len] = '\0';
    *out = buf;
    return 0;
}

static int get_int(const cJSON *o, const char *key, int dflt, int *out, const char *path, char *err,
                   size_t errlen)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v) {
        *out = dflt;
        return 0;
    }
    if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 1e6 ||
        v->valuedouble != (double)v->valueint)
        return kf_errf(err, errlen, -EINVAL, "policy %s: \"%s\" must be a whole number >= 0", path,
                       key);
    *out = v->valueint;
    return 0;
}

static int string_list(const cJSON *a, char ***out, const char *key, const char *path, char *err,
                       size_t errlen)
{
    if (!a)
        return 0;
    if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) == 0)
        return kf_errf(err, errlen, -EINVAL,
                       "policy %s: \"%s\" must be a non-empty array of "
                       "strings",
                       path, key);
    int n = cJSON_GetArraySize(a);
    char **v = calloc((size_t)n + 1, sizeof *v);
    if (!v)
        return -ENOMEM;
    *out = v;
    int i = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, a)
    {
        if (!cJSON_IsString(e))
            return kf_errf(err, errlen, -EINVAL, "policy %s: \"%s\" must hold strings", path, key);
        if (!(v[i++] = strdup(e->valuestring)))
            return -ENOMEM;
    }
    return 0;
}

/* "bitstream_dir" and "bitstreams": every path absolute, without "." or "..", below the dir; a
 * file that exists here must also resolve (realpath) below it with root-only directories (see
 * bitstream_path.c), checked when loaded by root. A missing file is allowed here (srun's host may
 * lack it); init refuses it. */
static int parse_bitstreams(const char *path, const cJSON *root, struct esfm_policy *p, char *err,
                            size_t errlen)
{
    const cJSON *bd = cJSON_GetObjectItemCaseSensitive(root, "bitstream_dir");
    if (bd) {
        if (!cJSON_IsString(bd) || !esfm_bitstream_lexical_ok(bd->valuestring))
            return kf_errf(err, errlen, -EINVAL,
                           "policy %s: \"bitstream_dir\" must be an absolute directory path "
                           "without . or .. components",
                           path);
        if (!(p->bitstream_dir = strdup(bd->valuestring)))
            return -ENOMEM;
        size_t n = strlen(p->bitstream_dir);
        while (n > 1 && p->bitstream_dir[n - 1] == '/')
            p->bitstream_dir[--n] = '\0';
    }
    const cJSON *bs = cJSON_GetObjectItemCaseSensitive(root, "bitstreams");
    if (!bs)
        return 0;
    if (!cJSON_IsArray(bs))
        return kf_errf(err, errlen, -EINVAL, "policy %s: \"bitstreams\" must be an array", path);
    p->bitstreams = calloc((size_t)cJSON_GetArraySize(bs) + 1, sizeof *p->bitstreams);
    if (!p->bitstreams)
        return -ENOMEM;
    const cJSON *e;
    cJSON_ArrayForEach(e, bs)
    {
        if (!p->bitstream_dir)
            return kf_errf(err, errlen, -EINVAL,
                           "policy %s: \"bitstreams\" needs \"bitstream_dir\", the root-owned "
                           "directory every allow-listed image must lie in",
                           path);
        const char *name = esfm_json_str(e, "name"), *bp = esfm_json_str(e, "path"),
                   *sha = esfm_json_str(e, "sha256");
        if (!name || !bp || !sha || strlen(sha) != 64 || bp[0] != '/')
            return kf_errf(err, errlen, -EINVAL,
                           "policy %s: each bitstream needs \"name\", an absolute "
                           "\"path\" and a 64-hex-digit \"sha256\"",
                           path);
        size_t dl = strlen(p->bitstream_dir);
        if (!esfm_bitstream_lexical_ok(bp) ||
            (dl > 1 && (strncmp(bp, p->bitstream_dir, dl) != 0 || bp[dl] != '/')))
            return kf_errf(err, errlen, -EINVAL,
                           "policy %s: bitstream %s path %s must lie in bitstream_dir %s and "
                           "have no . or .. components",
                           path, name, bp, p->bitstream_dir);
        struct esfm_bitstream *b = &p->bitstreams[p->nbitstreams++];
        b->name = strdup(name);
        b->path = strdup(bp);
        b->sha256 = strdup(sha);
        if (!b->name || !b->path || !b->sha256)
            return -ENOMEM;
        for (char *c = b->sha256; *c; c++)
            *c = (char)(*c >= 'A' && *c <= 'F' ? *c - 'A' + 'a' : *c);
        /* srun/sbatch check requests as the user, who may not be allowed to look into
         * bitstream_dir: only root (the job prolog, esfm) resolves and checks the files. */
        if (geteuid() != 0)
            continue;
        char canon[PATH_MAX], why[ESFM_ERR_LEN];
        int rc = esfm_bitstream_canon(p, b, canon, why, sizeof why);
        if (rc && rc != -ENOENT)
            return kf_errf(err, errlen, -EACCES, "policy %s: %s", path, why);
    }
    return 0;
}

static int parse(const char *path, const cJSON *root, struct esfm_policy *p, char *err,
                 size_t errlen)
{
    int rc;
    if (!cJSON_IsObject(root))
        return kf_errf(err, errlen, -EINVAL, "policy %s: top level must be a JSON object", path);
    const cJSON *vfs = cJSON_GetObjectItemCaseSensitive(root, "vfs");
    if (vfs && !cJSON_IsObject(vfs))
        return kf_errf(err, errlen, -EINVAL, "policy %s: \"vfs\" must be an object", path);
    if ((rc = get_int(vfs, "per_job", -1, &p->per_job, path, err, errlen)) ||
        (rc = get_int(vfs, "per_user", -1, &p->per_user, path, err, errlen)))
        return rc;
    p->per_partition_default = -1;
    const cJSON *ex = cJSON_GetObjectItemCaseSensitive(vfs, "exclusive");
    if (ex && !cJSON_IsBool(ex))
        return kf_errf(err, errlen, -EINVAL, "policy %s: \"exclusive\" must be true/false", path);
    p->shared = ex && cJSON_IsFalse(ex);
    const cJSON *pp = cJSON_GetObjectItemCaseSensitive(vfs, "per_partition");
    if (pp) {
        if (!cJSON_IsObject(pp))
            return kf_errf(err, errlen, -EINVAL,
                           "policy %s: \"per_partition\" must map partition names to counts", path);
        int n = cJSON_GetArraySize(pp);
        p->partitions = calloc((size_t)n + 1, sizeof *p->partitions);
        if (!p->partitions)
            return -ENOMEM;
        const cJSON *e;
        cJSON_ArrayForEach(e, pp)
        {
            int v = -1;
            if ((rc = get_int(pp, e->string, -1, &v, path, err, errlen)))
                return rc;
            if (strcmp(e->string, "*") == 0) {
                p->per_partition_default = v;
                continue;
            }
            struct esfm_partition_cap *c = &p->partitions[p->npartitions++];
            if (!(c->name = strdup(e->string)))
                return -ENOMEM;
            c->max = v;
        }
    }
    if ((rc = parse_bitstreams(path, root, p, err, errlen)))
        return rc;
    if ((rc = string_list(cJSON_GetObjectItemCaseSensitive(root, "flash_command"), &p->flash_argv,
                          "flash_command", path, err, errlen)))
        return rc;
    if (p->flash_argv && (!p->flash_argv[0] || p->flash_argv[0][0] != '/'))
        return kf_errf(err, errlen, -EINVAL,
                       "policy %s: flash_command[0] must be an absolute path (no shell, no "
                       "PATH search)",
                       path);
    if ((rc = string_list(cJSON_GetObjectItemCaseSensitive(root, "pf_ids"), &p->pf_ids, "pf_ids",
                          path, err, errlen)))
        return rc;
    const char *s;
    if ((s = esfm_json_str(root, "pf_driver")) && !(p->pf_driver = strdup(s)))
        return -ENOMEM;
    if ((s = esfm_json_str(root, "vf_driver")) && !(p->vf_driver = strdup(s)))
        return -ENOMEM;
    return get_int(root, "qdma_qmax", -1, &p->qdma_qmax, path, err, errlen);
}

int esfm_policy_load(const char *path, struct esfm_policy **out, char *err, size_t errlen)
{
    struct esfm_policy *p = calloc(1, sizeof *p);
    if (!p)
        return kf_errf(err, errlen, -ENOMEM, "out of memory");
    p->per_job = p->per_user = p->per_partition_default = p->qdma_qmax = -1;
    if (!path) {
        *out = p;
        return 0;
    }
    int rc = 0;
    char *text = NULL;
    cJSON *root = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        rc = kf_errf(err, errlen, errno == ENOENT ? -ENOENT : -EACCES, "cannot open policy %s: %s",
                     path, strerror(errno));
        goto fail;
    }
    struct stat st;
    if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
        rc = kf_errf(err, errlen, -EACCES, "policy %s is not a regular file", path);
        goto fail;
    }
    /* Anyone who can write the policy can flash the FPGA and run flash_command as root. */
    if (st.st_uid != 0 || (st.st_mode & (S_IWGRP | S_IWOTH))) {
        rc = kf_errf(err, errlen, -EACCES,
                     "policy %s must be owned by root and not group/world-writable (owner "
                     "uid %u, mode %03o); fix with: chown root %s; chmod go-w %s",
                     path, (unsigned)st.st_uid, (unsigned)(st.st_mode & 0777), path, path);
        goto fail;
    }
    if ((rc = read_whole(fd, &text))) {
        rc = kf_errf(err, errlen, -EACCES, "cannot read policy %s: %s", path, strerror(-rc));
        goto fail;
    }
    root = cJSON_Parse(text);
    if (!root) {
        rc = kf_errf(err, errlen, -EINVAL, "policy %s is not valid JSON (near '%.20s')", path,
                     cJSON_GetErrorPtr() ? cJSON_GetErrorPtr() : "?");
        goto fail;
    }
    rc = parse(path, root, p, err, errlen);
    if (rc == -ENOMEM)
        kf_errf(err, errlen, rc, "out of memory reading policy %s", path);
    if (rc)
        goto fail;
    cJSON_Delete(root);
    free(text);
    close(fd);
    *out = p;
    return 0;
fail:
    cJSON_Delete(root);
    free(text);
    if (fd >= 0)
        close(fd);
    esfm_policy_free(p);
    return rc;
}

int esfm_policy_partition_cap(const struct esfm_policy *p, const char *partition)
{
    for (size_t i = 0; partition && i < p->npartitions; i++)
        if (strcmp(p->partitions[i].name, partition) == 0)
            return p->partitions[i].max;
    return p->per_partition_default;
}

const struct esfm_bitstream *esfm_policy_bitstream(const struct esfm_policy *p, const char *name)
{
    for (size_t i = 0; i < p->nbitstreams; i++)
        if (strcmp(p->bitstreams[i].name, name) == 0)
            return &p->bitstreams[i];
    return NULL;
}

int esfm_policy_check_request(const char *policy_path, unsigned nvfs, const char *bitstream,
                              char *err, size_t errlen)
{
    struct esfm_policy *p = NULL;
    int rc = esfm_policy_load(policy_path, &p, err, errlen);
    if (rc || !p)
        return rc ? rc : -ENOMEM;
    if (p->per_job >= 0 && nvfs > (unsigned)p->per_job) {
        rc = kf_errf(err, errlen, -EACCES, "%u VFs asked; the policy allows 1 to %d per job", nvfs,
                     p->per_job);
        goto out;
    }
    if (bitstream && !esfm_policy_bitstream(p, bitstream)) {
        /* The message lists the names a user may ask for, which is what they need to fix it. */
        size_t off = 0;
        char names[256] = "";
        for (size_t i = 0; i < p->nbitstreams && off < sizeof names; i++)
            off += (size_t)snprintf(names + off, sizeof names - off, "%s%s", i ? ", " : "",
                                    p->bitstreams[i].name);
        rc = kf_errf(err, errlen, -EACCES, "bitstream '%s' is not allowed; allowed: %s", bitstream,
                     p->nbitstreams ? names : "none (the policy lists no bitstreams)");
    }
out:
    esfm_policy_free(p);
    return rc;
}
