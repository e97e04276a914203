/* Test fixtures for the ptdr tests: temp files, generated data and ABI calls (see the header). */
#include "ptdr_fixture.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char tmpdir[256];

const char *fx_tmpdir(void)
{
    if (!tmpdir[0]) {
        snprintf(tmpdir, sizeof(tmpdir), "/tmp/ptdr-test-XXXXXX");
        if (!mkdtemp(tmpdir)) {
            perror("mkdtemp");
            abort();
        }
    }
    return tmpdir;
}

void fx_cleanup(void)
{
    if (tmpdir[0]) {
        char cmd[300];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
        if (system(cmd) != 0)
            fprintf(stderr, "cannot remove %s\n", tmpdir);
        tmpdir[0] = '\0';
    }
}

int fx_teardown(void **state)
{
    (void)state;
    fx_cleanup();
    return 0;
}

static const char *path_of(const char *name)
{
    static char paths[16][512];
    static int next;
    char *p = paths[next++ % 16];
    snprintf(p, 512, "%s/%s", fx_tmpdir(), name);
    return p;
}

static void write_profile(FILE *f, const struct fx_profile *p)
{
    fputs("{\"values\":[", f);
    for (int k = 0; k < p->n; k++)
        fprintf(f, "%s%.17g", k ? "," : "", p->values[k]);
    fputs("],\"cumprobs\":[", f);
    for (int k = 0; k < p->n; k++)
        fprintf(f, "%s%.17g", k ? "," : "", p->cumprobs[k]);
    fputs("]}", f);
}

const char *fx_write_profiles(const char *name, const struct fx_segment *segs, int n, int slots)
{
    const char *path = path_of(name);
    FILE *f = fopen(path, "w");
    if (!f)
        abort();
    fputs("[", f);
    for (int i = 0; i < n; i++) {
        fprintf(f, "%s{\"id\":\"%s\",\"length\":%.17g,\"max_speed\":%.17g,\"profiles\":[",
                i ? "," : "", segs[i].id, segs[i].length, segs[i].max_speed);
        for (int t = 0; t < slots; t++) {
            if (t)
                fputc(',', f);
            write_profile(f, t == segs[i].special_slot ? &segs[i].special : &segs[i].all);
        }
        fputs("]}", f);
    }
    fputs("]", f);
    fclose(f);
    return path;
}

const char *fx_write_text(const char *name, const char *text)
{
    const char *path = path_of(name);
    FILE *f = fopen(path, "w");
    if (!f)
        abort();
    fputs(text, f);
    fclose(f);
    return path;
}

const char *fx_generate(const char *name, const char *args)
{
    const char *path = path_of(name);
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "'%s' %s -o '%s'", PTDR_GEN, args, path);
    if (system(cmd) != 0) {
        fprintf(stderr, "failed: %s\n", cmd);
        abort();
    }
    return path;
}

int fx_init(struct fx_adapter *fx, const struct kf_adapter *a, const char *const *kv, char *err,
            size_t errlen)
{
    const char *keys[16], *values[16];
    char buf[16][512];
    size_t n = 0;
    for (; kv && kv[n] && n < 16; n++) {
        snprintf(buf[n], sizeof(buf[n]), "%s", kv[n]);
        char *eq = strchr(buf[n], '=');
        *eq = '\0';
        keys[n] = buf[n];
        values[n] = eq + 1;
    }
    struct kf_args args = {n, keys, values};
    fx->a = a;
    fx->state = NULL;
    return a->init(&fx->state, &args, err, errlen);
}

void fx_fini(struct fx_adapter *fx)
{
    fx->a->fini(fx->state);
    fx->state = NULL;
}

int fx_call(struct fx_adapter *fx, const char *kind, int accel, const char *payload, char **reply)
{
    for (size_t i = 0; i < fx->a->n_kernels; i++) {
        const struct kf_kernel *k = &fx->a->kernels[i];
        if (strcmp(k->kind, kind))
            continue;
        struct kf_result out;
        memset(&out, 0, sizeof(out));
        long values[KF_MAX_KNOBS];
        struct kf_knobs knobs = kf_knobs_default(k, values);
        int rc = (accel ? k->accel : k->cpu)(fx->state, payload, strlen(payload), &knobs, &out);
        if (rc == KF_OK) {
            *reply = malloc(out.len + 1);
            memcpy(*reply, out.data ? out.data : "", out.len);
            (*reply)[out.len] = '\0';
        } else {
            free(out.data);
            out.data = NULL;
            *reply = strdup(out.error);
        }
        free(out.data);
        return rc;
    }
    *reply = strdup("no such kernel");
    return -100;
}

int fx_broadcast(struct fx_adapter *fx, const char *kind, const char *payload, char *err,
                 size_t errlen)
{
    for (size_t i = 0; i < fx->a->n_broadcasts; i++)
        if (strcmp(fx->a->broadcasts[i].kind, kind) == 0)
            return fx->a->broadcasts[i].fn(fx->state, payload, strlen(payload), err, errlen);
    snprintf(err, errlen, "no such broadcast");
    return -100;
}
