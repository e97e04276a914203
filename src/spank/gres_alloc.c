/* How many VFs Slurm allocated to a job on this node: the GRES detail lines of `scontrol show job
 * -d ID` (slurmd gives a job prolog no GRES variables for a GRES other than gpu/mps/shard). */
#include "kfarm_spank.h"

#include <errbuf.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SCONTROL_TIMEOUT_MS 15000

/* One detail entry, "name[:type]:N(IDX:...)" or "name[:type](CNT:N)", counted when it is the GRES
 * `name`. The type is kept: with typed GRES it is the bitstream. */
static void count_entry(const char *e, size_t len, const char *name, struct ks_gres_alloc *a)
{
    char buf[256];
    if (len >= sizeof buf)
        return;
    memcpy(buf, e, len);
    buf[len] = '\0';
    char *paren = strchr(buf, '(');
    unsigned long n = 0;
    if (paren && strncmp(paren, "(CNT:", 5) == 0) {
        n = strtoul(paren + 5, NULL, 10);
        *paren = '\0';
    } else {
        if (paren)
            *paren = '\0';
        char *last = strrchr(buf, ':');
        if (!last)
            return;
        n = strtoul(last + 1, NULL, 10);
        *last = '\0';
    }
    char *colon = strchr(buf, ':');
    if (colon)
        *colon = '\0';
    if (strcmp(buf, name) != 0)
        return;
    a->count += (unsigned)n;
    if (colon)
        snprintf(a->type, sizeof a->type, "%s", colon + 1);
}

/* The GRES= value of a detail line: entries split at commas outside parentheses. */
static void count_gres_value(const char *v, const char *name, struct ks_gres_alloc *a)
{
    int depth = 0;
    const char *start = v;
    for (const char *p = v;; p++) {
        if (*p == '(')
            depth++;
        else if (*p == ')')
            depth--;
        if (*p == '\0' || *p == ' ' || *p == '\n' || (*p == ',' && depth == 0)) {
            if (p > start)
                count_entry(start, (size_t)(p - start), name, a);
            if (*p != ',')
                return;
            start = p + 1;
        }
    }
}

int ks_gres_parse_show_job(const char *text, const char *name, const char *node,
                           ks_node_in_fn node_in, void *arg, struct ks_gres_alloc *a)
{
    memset(a, 0, sizeof *a);
    /* Detail lines: "     Nodes=LIST CPU_IDs=... Mem=... GRES=..." (one per group of nodes). */
    for (const char *line = text; line && *line;) {
        const char *eol = strchr(line, '\n');
        size_t len = eol ? (size_t)(eol - line) : strlen(line);
        char buf[2048];
        if (len < sizeof buf) {
            memcpy(buf, line, len);
            buf[len] = '\0';
            char *nodes = strstr(buf, " Nodes=");
            char *gres = strstr(buf, " GRES=");
            if (nodes == buf + strspn(buf, " ") - 1 && gres) {
                nodes += 7;
                nodes[strcspn(nodes, " ")] = '\0';
                if (strcmp(nodes, node) == 0 || node_in(nodes, node, arg)) {
                    a->on_node = true;
                    count_gres_value(gres + 6, name, a);
                }
            }
        }
        line = eol ? eol + 1 : NULL;
    }
    return 0;
}

/* "node[1-3]" and friends: Slurm's own expansion, so that every hostlist form is understood. */
static bool node_in_hostlist(const char *list, const char *node, void *arg)
{
    const struct ks_config *cfg = arg;
    if (!strpbrk(list, "[,"))
        return false;
    char out[8192];
    char *argv[] = {(char *)cfg->scontrol, "show", "hostnames", (char *)list, NULL};
    int status;
    if (ks_run_capture(argv, out, sizeof out, SCONTROL_TIMEOUT_MS, &status) || status)
        return false;
    for (char *t = strtok(out, "\n"); t; t = strtok(NULL, "\n"))
        if (strcmp(t, node) == 0)
            return true;
    return false;
}

int ks_gres_alloc_scontrol(const struct ks_config *cfg, uint32_t job_id, const char *node,
                           struct ks_gres_alloc *a, char *err, size_t errlen)
{
    char id[16];
    snprintf(id, sizeof id, "%" PRIu32, job_id);
    char *argv[] = {(char *)cfg->scontrol, "show", "job", "-d", id, NULL};
    size_t outlen = 65536;
    char *out = malloc(outlen);
    int status = 0;
    if (!out)
        return kf_errf(err, errlen, -ENOMEM, "out of memory");
    int rc = ks_run_capture(argv, out, outlen, SCONTROL_TIMEOUT_MS, &status);
    if (rc || status) {
        out[strcspn(out, "\n")] = '\0';
        kf_errf(err, errlen, rc ? rc : -EIO,
                "cannot learn the %s GRES Slurm allocated to job %s: %s %s", cfg->gres, id,
                cfg->scontrol,
                rc == -ETIMEDOUT ? "did not answer in 15 s"
                : rc             ? strerror(-rc)
                                 : out);
        free(out);
        return rc ? rc : -EIO;
    }
    ks_gres_parse_show_job(out, cfg->gres, node, node_in_hostlist, (void *)cfg, a);
    free(out);
    return 0;
}
