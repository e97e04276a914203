/* esfm-qmp-probe: ESFM's pause/unpause step (esfm_vf_pause/esfm_vf_unpause, libvirt backend)
 * against a running domain, printing which path it took ("qmp" or "detach"). Run by
 * libvirt_pause_test.py: with the patched QEMU as <emulator> the QMP path must be taken. */
#include "esfm_internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static void log_line(void *arg, const char *line)
{
    (void)arg;
    printf("esfm: %s\n", line);
}

int main(int argc, char **argv)
{
    if (argc != 7 || (strcmp(argv[4], "pause") && strcmp(argv[4], "unpause"))) {
        fprintf(stderr, "usage: esfm-qmp-probe URI DOMAIN ALIAS pause|unpause METHOD STATE_DIR\n"
                        "  METHOD: what pause returned (qmp or detach), for unpause\n");
        return 2;
    }
    const char *uri = argv[1], *dom = argv[2], *alias = argv[3], *method = argv[5];
    bool pause = strcmp(argv[4], "pause") == 0;
    /* The VF address only names the device in ESFM's messages: there is no VF here. */
    const char *vf = "0000:01:00.1";
    struct esfm_options o = {.connect_uri = uri, .state_dir = argv[6], .log = log_line};
    struct esfm_ctx *c = NULL;
    char err[ESFM_ERR_LEN] = "";
    int rc = esfm_ctx_new(&o, &c, err, sizeof err);
    if (rc) {
        printf("open %s: %s\n", uri, err);
        return 1;
    }
    if (pause) {
        const char *taken = NULL;
        rc = esfm_vf_pause(c, vf, dom, alias, &taken, err, sizeof err);
        printf("pause rc=%d method=%s%s%s\n", rc, taken ? taken : "none", rc ? " error=" : "",
               rc ? err : "");
    } else {
        rc = esfm_vf_unpause(c, vf, dom, alias, method, err, sizeof err);
        printf("unpause rc=%d%s%s\n", rc, rc ? " error=" : "", rc ? err : "");
    }
    esfm_ctx_free(c);
    return rc ? 1 : 0;
}
