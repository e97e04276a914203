/* Fuzz target: the plugstack.conf arguments of spank_kfarm.so (config.c) and the VM name pattern
 * expanded with a node name, checked against a plain re-implementation of the expansion. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_files.h"
#include "kfarm_spank.h"

#define MAX_ARGS 16

/* The expansion spelled out: %n is the node name, %% a percent sign; -1 on any other %. */
static long expand(const char *pat, const char *node, char *out, size_t cap)
{
    size_t o = 0;
    for (const char *p = pat; *p; p++) {
        const char *add = p;
        size_t n = 1;
        if (p[0] == '%' && p[1] == 'n')
            add = node, n = strlen(node), p++;
        else if (p[0] == '%' && p[1] == '%')
            p++;
        else if (p[0] == '%')
            return -1;
        for (size_t i = 0; i < n; i++, o++)
            if (o < cap)
                out[o] = add[i];
    }
    if (o < cap)
        out[o] = '\0';
    return (long)o;
}

/* Input: [VM name buffer size][node name]\0 then the arguments, each ending with \0. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct kfz_cursor c = {data, size};
    size_t outlen = 1 + kfz_u8(&c);
    size_t nl;
    const uint8_t *np = kfz_until(&c, 0, &nl);
    char *node = kfz_strndup(np, nl);
    char *argv[MAX_ARGS];
    int argc = 0;
    while (c.left && argc < MAX_ARGS) {
        size_t len;
        const uint8_t *p = kfz_until(&c, 0, &len);
        argv[argc++] = kfz_strndup(p, len);
    }
    struct ks_config cfg;
    char err[KS_ERR_LEN] = "";
    int rc = ks_config_parse(argc, argv, &cfg, err, sizeof err);
    if (rc && (rc != -EINVAL && rc != -ENAMETOOLONG))
        abort();
    if (rc && strnlen(err, sizeof err) == 0)
        abort();
    if (rc == 0) {
        /* every field a NUL-terminated string, and what parse promises about them */
        const char *fields[] = {cfg.policy,         cfg.hypervisor, cfg.domain,     cfg.state_dir,
                                cfg.esfm_state_dir, cfg.mqtt,       cfg.sysfs_root, cfg.squeue};
        const size_t caps[] = {sizeof cfg.policy,     sizeof cfg.hypervisor,     sizeof cfg.domain,
                               sizeof cfg.state_dir,  sizeof cfg.esfm_state_dir, sizeof cfg.mqtt,
                               sizeof cfg.sysfs_root, sizeof cfg.squeue};
        for (size_t i = 0; i < sizeof caps / sizeof caps[0]; i++)
            if (strnlen(fields[i], caps[i]) == caps[i])
                abort();
        if (!cfg.hypervisor[0] || cfg.state_dir[0] != '/' || cfg.esfm_state_dir[0] != '/' ||
            !cfg.domain[0])
            abort();
        char *out = malloc(outlen), ref[4096];
        if (!out)
            abort();
        memset(out, 'X', outlen);
        rc = ks_config_domain(&cfg, node, out, outlen, err, sizeof err);
        long n = expand(cfg.domain, node, ref, sizeof ref);
        if (n < 0) /* parse accepted a pattern the expansion refuses */
            abort();
        if (rc == 0 && ((size_t)n >= outlen || n == 0 || strcmp(out, ref)))
            abort();
        if (rc == -ENAMETOOLONG && (size_t)n < outlen)
            abort();
        if (rc == -EINVAL && n != 0)
            abort();
        if (rc && rc != -ENAMETOOLONG && rc != -EINVAL)
            abort();
        free(out);
    }
    for (int i = 0; i < argc; i++)
        free(argv[i]);
    free(node);
    return 0;
}
