/* Per-VF records in <state-dir>/vfs.json (owning jobs, domain, alias, paused method) guarded
 * by an flock, replaced atomically (kf_atomic_write), and the per-PF locks. */
#include "esfm_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

static int lock_file(const char *path, char *err, size_t errlen)
{
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return kf_errf(err, errlen, -ENOLCK, "cannot open lock %s: %s", path, strerror(errno));
    while (flock(fd, LOCK_EX) < 0) {
        if (errno != EINTR) {
            int e = errno;
            close(fd);
            return kf_errf(err, errlen, -ENOLCK, "cannot lock %s: %s", path, strerror(e));
        }
    }
    return fd;
}

int esfm_read_json(const char *path, cJSON **out)
{
    *out = NULL;
    FILE *f = fopen(path, "re");
    if (!f)
        return -errno;
    char *buf = NULL;
    size_t cap = 0;
    ssize_t len = getdelim(&buf, &cap, '\0', f);
    int rc = ferror(f) ? -EIO : 0;
    fclose(f);
    if (!rc)
        *out = len > 0 ? cJSON_Parse(buf) : NULL;
    free(buf);
    return rc ? rc : (*out ? 0 : -EINVAL);
}

int esfm_state_lock(struct esfm_ctx *ctx, char *err, size_t errlen)
{
    char p[512];
    snprintf(p, sizeof p, "%s/state.lock", ctx->state_dir);
    return lock_file(p, err, errlen);
}

void esfm_state_unlock(int fd)
{
    if (fd >= 0)
        close(fd); /* closing drops the flock */
}

int esfm_pf_lock(struct esfm_ctx *ctx, const char *pf, char *err, size_t errlen)
{
    char p[512];
    snprintf(p, sizeof p, "%s/locks/%s.lock", ctx->state_dir, pf);
    return lock_file(p, err, errlen);
}

cJSON *esfm_state_read(struct esfm_ctx *ctx, char *err, size_t errlen)
{
    char p[512];
    snprintf(p, sizeof p, "%s/vfs.json", ctx->state_dir);
    cJSON *st = NULL;
    int rc = esfm_read_json(p, &st);
    if (rc == -ENOENT) {
        st = cJSON_CreateObject();
        if (st)
            cJSON_AddObjectToObject(st, "vfs");
        return st;
    }
    if (rc && rc != -EINVAL) {
        kf_errf(err, errlen, -ENOLCK, "cannot read %s: %s", p, strerror(-rc));
        return NULL;
    }
    if (!st || !cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(st, "vfs"))) {
        cJSON_Delete(st);
        kf_errf(err, errlen, -ENOLCK,
                "state file %s is corrupt; move it away and run "
                "esfm list-vf-vm to see what libvirt has",
                p);
        return NULL;
    }
    return st;
}

int esfm_state_write(struct esfm_ctx *ctx, cJSON *st, char *err, size_t errlen)
{
    char p[512];
    snprintf(p, sizeof p, "%s/vfs.json", ctx->state_dir);
    char *text = cJSON_Print(st);
    if (!text)
        return kf_errf(err, errlen, -ENOMEM, "out of memory");
    /* The state is written whole or not at all (a crash or a full disk leaves the old file). */
    int rc = kf_atomic_write_text(p, text, 0600, err, errlen);
    free(text);
    return rc ? -ENOLCK : 0;
}

cJSON *esfm_state_vf(cJSON *st, const char *bdf)
{
    return cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(st, "vfs"), bdf);
}

cJSON *esfm_state_vf_add(cJSON *st, const char *bdf)
{
    cJSON *vfs = cJSON_GetObjectItemCaseSensitive(st, "vfs");
    cJSON_DeleteItemFromObjectCaseSensitive(vfs, bdf);
    cJSON *r = cJSON_AddObjectToObject(vfs, bdf);
    if (r)
        cJSON_AddArrayToObject(r, "jobs");
    return r;
}

void esfm_state_vf_del(cJSON *st, const char *bdf)
{
    cJSON_DeleteItemFromObjectCaseSensitive(cJSON_GetObjectItemCaseSensitive(st, "vfs"), bdf);
}
