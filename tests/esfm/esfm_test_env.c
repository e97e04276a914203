/* Per-test environment for ESFM's unit tests (see esfm_test_env.h). */
#include "esfm_test_env.h"

#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void put(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f)
        abort();
    fputs(text, f);
    fclose(f);
}

char *env_read_file(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    char *buf = NULL;
    size_t cap = 0;
    if (getdelim(&buf, &cap, '\0', f) < 0) {
        free(buf);
        buf = strdup("");
    }
    fclose(f);
    return buf;
}

static void log_line(void *arg, const char *line)
{
    struct env *e = arg;
    size_t l = strlen(e->log);
    snprintf(e->log + l, sizeof e->log - l, "%s\n", line);
}

struct env *env_new(bool device_pause)
{
    struct env *e = calloc(1, sizeof *e);
    snprintf(e->dir, sizeof e->dir, "/tmp/esfm-test-XXXXXX");
    if (!mkdtemp(e->dir))
        abort();
    snprintf(e->root, sizeof e->root, "%s/sys", e->dir);
    snprintf(e->state, sizeof e->state, "%s/state", e->dir);
    snprintf(e->hv, sizeof e->hv, "%s/hv.json", e->dir);
    snprintf(e->uri, sizeof e->uri, "fake://%s", e->hv);
    snprintf(e->policy, sizeof e->policy, "%s/policy.json", e->dir);
    mkdir(e->root, 0755);
    fake_kernel_init(&e->k, e->root);
    fake_kernel_add_pf(&e->k, PF, "0x1b36", "0x0010", 8, "pci-pf-stub", 0);
    fake_kernel_add_device(&e->k, "0000:00:02.0", NULL);
    char hv[256];
    snprintf(hv, sizeof hv,
             "{\"domains\":{\"vm1\":{\"device_pause\":%s},\"vm2\":{\"device_pause\":%s}}}",
             device_pause ? "true" : "false", device_pause ? "true" : "false");
    put(e->hv, hv);
    return e;
}

static void rm_rf(const char *path)
{
    struct stat st;
    if (lstat(path, &st))
        return;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        struct dirent *x;
        while (d && (x = readdir(d))) {
            if (!strcmp(x->d_name, ".") || !strcmp(x->d_name, ".."))
                continue;
            char p[1024];
            snprintf(p, sizeof p, "%s/%s", path, x->d_name);
            rm_rf(p);
        }
        if (d)
            closedir(d);
        rmdir(path);
    } else {
        unlink(path);
    }
}

void env_free(struct env *e)
{
    if (!getenv("ESFM_TEST_KEEP"))
        rm_rf(e->dir);
    fake_kernel_fini(&e->k);
    free(e);
}

void env_policy(struct env *e, const char *json)
{
    put(e->policy, json);
    chmod(e->policy, 0644);
}

int env_ctx(struct env *e, bool with_policy, bool force, struct esfm_ctx **ctx, char *err)
{
    struct esfm_options o = {
        .sysfs_root = e->root,
        .connect_uri = e->uri,
        .policy_path = with_policy ? e->policy : NULL,
        .state_dir = e->state,
        .force = force,
        .sysfs_ops = &e->k.ops,
        .log = log_line,
        .log_arg = e,
    };
    return esfm_ctx_new(&o, ctx, err, ESFM_ERR_LEN);
}

void env_set_numvfs(struct env *e, unsigned n)
{
    char p[600], v[16];
    snprintf(p, sizeof p, "%s/bus/pci/devices/%s/sriov_numvfs", e->root, PF);
    snprintf(v, sizeof v, "%u", n);
    if (e->k.ops.write_attr(e->k.ops.priv, p, "0") ||
        (n && e->k.ops.write_attr(e->k.ops.priv, p, v)))
        abort();
}

unsigned env_numvfs(struct env *e)
{
    char b[32] = "";
    fake_kernel_read(&e->k, PF, "sriov_numvfs", b, sizeof b);
    return (unsigned)atoi(b);
}

static cJSON *hv_state(struct env *e)
{
    char *t = env_read_file(e->hv);
    cJSON *j = t ? cJSON_Parse(t) : NULL;
    free(t);
    return j;
}

static void hv_save(struct env *e, cJSON *j)
{
    char *t = cJSON_Print(j);
    put(e->hv, t);
    free(t);
}

void env_hv_set(struct env *e, const char *domain, const char *key, cJSON *value)
{
    cJSON *j = hv_state(e);
    cJSON *d = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "domains"), domain);
    cJSON_DeleteItemFromObject(d, key);
    cJSON_AddItemToObject(d, key, value);
    hv_save(e, j);
    cJSON_Delete(j);
}

void env_attach(struct env *e, const char *vf, const char *domain)
{
    struct esfm_ctx *ctx;
    char err[ESFM_ERR_LEN];
    if (env_ctx(e, false, false, &ctx, err) ||
        esfm_attach(ctx, vf, domain, NULL, err, sizeof err)) {
        fprintf(stderr, "env_attach: %s\n", err);
        abort();
    }
    esfm_ctx_free(ctx);
}

int env_holders(struct env *e, const char *vf, char *domain)
{
    cJSON *j = hv_state(e), *d, *h;
    int n = 0;
    cJSON_ArrayForEach(d, cJSON_GetObjectItem(j, "domains"))
    {
        cJSON_ArrayForEach(h, cJSON_GetObjectItem(d, "hostdevs"))
        {
            if (!strcmp(cJSON_GetObjectItem(h, "bdf")->valuestring, vf)) {
                n++;
                if (domain)
                    strcpy(domain, d->string);
            }
        }
    }
    cJSON_Delete(j);
    return n;
}

bool env_hostdev_paused(struct env *e, const char *vf)
{
    cJSON *j = hv_state(e), *d, *h;
    bool p = false;
    cJSON_ArrayForEach(d, cJSON_GetObjectItem(j, "domains"))
    {
        cJSON_ArrayForEach(h, cJSON_GetObjectItem(d, "hostdevs"))
        {
            if (!strcmp(cJSON_GetObjectItem(h, "bdf")->valuestring, vf))
                p = cJSON_IsTrue(cJSON_GetObjectItem(h, "paused"));
        }
    }
    cJSON_Delete(j);
    return p;
}

int env_journal_entries(struct env *e)
{
    char p[400];
    snprintf(p, sizeof p, "%s/journal", e->state);
    DIR *d = opendir(p);
    int n = 0;
    struct dirent *x;
    while (d && (x = readdir(d)))
        n += x->d_name[0] != '.';
    if (d)
        closedir(d);
    return n;
}

cJSON *env_state(struct env *e)
{
    char p[400];
    snprintf(p, sizeof p, "%s/vfs.json", e->state);
    char *t = env_read_file(p);
    cJSON *j = t ? cJSON_Parse(t) : cJSON_Parse("{\"vfs\":{}}");
    free(t);
    return j;
}
