/* libvirtd-probe URI DOMAIN SYSFS STATE: checks ESFM's libvirt backend against a real libvirtd
 * running a q35 TCG VM: domain lookup, the hostdev attach error and its rollback (nothing
 * recorded, journal clean), and that QMP CommandNotFound for device_pause picks the detach
 * fallback. Run by libvirtd_real.sh; sysfs is the FAKE kernel's tree (no VFs exist here). */
#include "fake_kernel.h"
#include "hv.h"
#include "esfm_internal.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures;
#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (cond) {                                                                                \
            printf("ok: ");                                                                        \
        } else {                                                                                   \
            printf("FAIL: ");                                                                      \
            failures++;                                                                            \
        }                                                                                          \
        printf(__VA_ARGS__);                                                                       \
        printf("\n");                                                                              \
    } while (0)

static char logbuf[8192];
static void log_line(void *arg, const char *line)
{
    (void)arg;
    size_t l = strlen(logbuf);
    snprintf(logbuf + l, sizeof logbuf - l, "%s\n", line);
}

static int journal_entries(const char *state)
{
    char p[600];
    snprintf(p, sizeof p, "%s/journal", state);
    DIR *d = opendir(p);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        n += e->d_name[0] != '.';
    if (d)
        closedir(d);
    return n;
}

static bool has_records(const char *state)
{
    char p[600];
    snprintf(p, sizeof p, "%s/vfs.json", state);
    FILE *f = fopen(p, "r");
    if (!f)
        return false;
    char buf[4096] = "";
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    cJSON *j = cJSON_Parse(buf);
    bool r = cJSON_GetArraySize(cJSON_GetObjectItem(j, "vfs")) > 0;
    cJSON_Delete(j);
    return r;
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: libvirtd-probe URI DOMAIN SYSFS STATE\n");
        return 2;
    }
    const char *uri = argv[1], *dom = argv[2], *state = argv[4];
    struct fake_kernel k;
    fake_kernel_init(&k, argv[3]);
    struct esfm_options o = {.sysfs_root = argv[3],
                             .connect_uri = uri,
                             .state_dir = state,
                             .sysfs_ops = &k.ops,
                             .log = log_line};
    struct esfm_ctx *c;
    char err[ESFM_ERR_LEN] = "";
    int rc = esfm_ctx_new(&o, &c, err, sizeof err);
    if (rc) {
        printf("FAIL: open %s: %s\n", uri, err);
        return 1;
    }
    struct esfm_hv *hv = c->hv;
    rc = hv->ops->domain_lookup(hv, dom, err, sizeof err);
    CHECK(rc == 0, "lookup of running VM %s (%d %s)", dom, rc, rc ? err : "");
    rc = hv->ops->domain_lookup(hv, "esfm-no-such-vm", err, sizeof err);
    CHECK(rc == -ENOENT, "lookup of a missing VM is -ENOENT: %s", err);

    const char *vf = "0000:01:00.1";
    char alias[ESFM_ALIAS_LEN];
    esfm_alias_for(vf, alias);
    rc = esfm_attach(c, vf, dom, NULL, err, sizeof err);
    CHECK(rc == -EREMOTEIO && strstr(err, "host doesn't support passthrough of host PCI devices"),
          "attach reports libvirt's error: %s", err);
    CHECK(journal_entries(state) == 0 && !has_records(state),
          "failed attach rolled back: journal clean, nothing recorded");
    struct esfm_grant g[2];
    rc = esfm_job_attach(c, &(struct esfm_job){"4711", 1000, "fpga"}, dom, 2, g, err, sizeof err);
    CHECK(rc == -EREMOTEIO, "job attach of 2 VFs fails as a whole: %s", err);
    CHECK(journal_entries(state) == 0 && !has_records(state),
          "failed job attach rolled back: journal clean, nothing recorded");
    struct esfm_hostdev *h;
    size_t n;
    rc = esfm_list_vf_vm(c, &h, &n, err, sizeof err);
    size_t ours = 0;
    for (size_t i = 0; rc == 0 && i < n; i++)
        ours += strcmp(h[i].domain, dom) == 0;
    CHECK(rc == 0 && ours == 0, "the VM holds no hostdev afterwards (%zu)", ours);
    if (rc == 0)
        free(h);

    rc = hv->ops->pause(hv, dom, alias, true, err, sizeof err);
    CHECK(rc == -EOPNOTSUPP && strstr(err, "CommandNotFound"),
          "QMP device_pause answers CommandNotFound: %s", err);
    const char *method = NULL;
    logbuf[0] = 0;
    rc = esfm_vf_pause(c, vf, dom, alias, &method, err, sizeof err);
    CHECK(strstr(logbuf, "falling back to detach") != NULL,
          "pause decided on the detach fallback: %s", logbuf);
    CHECK(rc != 0, "the fallback detach of a device the VM lacks fails (%d): %s", rc, err);
    esfm_ctx_free(c);
    fake_kernel_fini(&k);
    printf("%s\n", failures ? "FAILED" : "PASS");
    return failures ? 1 : 0;
}
