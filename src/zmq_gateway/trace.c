/* Writes the request trace: a header naming the columns, then tab-separated lines
 * `time_s rank kind variant why accel service_us status`, and `accel-paused`/`accel-unpaused`
 * event lines whenever a rank's replies say its accelerator came or went. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "errbuf.h"
#include "log.h"
#include "trace.h"

#define MAX_KINDS 255 /* index 0 is "other": kinds beyond the table share it */
/* Clients choose kinds: longer ones are "other" too, so the table holds at most ~16 KiB. */
#define MAX_KIND_BYTES 64
#define FLUSH_NS  1000000000ull

struct kf_trace {
    FILE *f;
    uint64_t t0_ns;
    uint64_t last_flush;
    int n_workers;
    signed char *accel; /* per rank: -1 unknown, 0 unavailable, 1 available */
    size_t n_kinds;
    char *kinds[MAX_KINDS + 1];
    uint64_t written, max_bytes; /* the file stops growing at max_bytes (0: no cap) */
    int full;
};

static uint64_t since_start_ns(const struct kf_trace *t)
{
    return kf_now_ns() - t->t0_ns;
}

int kf_trace_open(struct kf_trace **out, const char *path, int n_workers, uint64_t max_bytes,
                  char *err, size_t errlen)
{
    int rc;
    struct kf_trace *t = calloc(1, sizeof(*t));
    if (t)
        t->accel = malloc((size_t)n_workers + 1);
    if (!t || !t->accel) {
        rc = kf_errf(err, errlen, -ENOMEM, "out of memory for the trace");
        goto fail;
    }
    memset(t->accel, -1, (size_t)n_workers + 1);
    t->n_workers = n_workers;
    t->max_bytes = max_bytes;
    t->kinds[0] = strdup("other");
    t->n_kinds = 1;
    t->f = fopen(path, "w");
    if (!t->f || !t->kinds[0]) {
        int e = t->kinds[0] ? errno : ENOMEM;
        rc =
            kf_errf(err, errlen, -e, "--trace %s: cannot create the file: %s; give a writable path",
                    path, strerror(e));
        goto fail;
    }
    t->t0_ns = kf_now_ns();
    fprintf(t->f, "# kfarm trace 1 started %lld (unix s) workers %d\n", (long long)time(NULL),
            n_workers);
    fputs("# time_s\trank\tkind\tvariant\twhy\taccel\tservice_us\tstatus\n", t->f);
    *out = t;
    return 0;
fail:
    kf_trace_close(t);
    *out = NULL;
    return rc;
}

void kf_trace_close(struct kf_trace *t)
{
    if (!t)
        return;
    if (t->f)
        fclose(t->f);
    for (size_t i = 0; i < t->n_kinds; i++)
        free(t->kinds[i]);
    free(t->accel);
    free(t);
}

uint16_t kf_trace_kind(struct kf_trace *t, const char *kind, size_t len)
{
    for (size_t i = 1; i < t->n_kinds; i++)
        if (strlen(t->kinds[i]) == len && memcmp(t->kinds[i], kind, len) == 0)
            return (uint16_t)i;
    if (t->n_kinds > MAX_KINDS || len > MAX_KIND_BYTES)
        return 0;
    /* Tabs and newlines would break the columns; kinds are short UTF-8 names in practice. */
    char *k = strndup(kind, len);
    if (!k)
        return 0;
    for (char *p = k; *p; p++)
        if (*p == '\t' || *p == '\n' || *p == '\r' || *p == ' ')
            *p = '_';
    t->kinds[t->n_kinds] = k;
    return (uint16_t)t->n_kinds++;
}

static const char *variant_name(int v)
{
    return v == KF_VARIANT_ACCEL ? "accel" : v == KF_VARIANT_CPU ? "cpu" : "none";
}

/* Counts what was written; at the cap, one last line says why the trace ends and nothing more is
 * written (a line may pass the cap by at most its own length). */
static void count_written(struct kf_trace *t, int n)
{
    if (n > 0)
        t->written += (uint64_t)n;
    if (!t->max_bytes || t->written < t->max_bytes)
        return;
    t->full = 1;
    fprintf(t->f, "# trace stopped: %llu bytes written (kfarm --trace-max-bytes)\n",
            (unsigned long long)t->written);
    fflush(t->f);
    kf_warn("--trace: the file reached %llu bytes (--trace-max-bytes); no more lines are written",
            (unsigned long long)t->written);
}

void kf_trace_reply(struct kf_trace *t, int rank, uint16_t kind, const struct kf_wire_hdr *reply)
{
    if (!t || t->full || rank < 1 || rank > t->n_workers)
        return;
    uint64_t now = since_start_ns(t);
    double ts = (double)now / 1e9;
    /* Only replies that made a variant decision say whether the accelerator was there. */
    if (reply->variant && t->accel[rank] != (signed char)reply->accel) {
        if (t->accel[rank] >= 0)
            count_written(t, fprintf(t->f, "%.6f\t%d\t%s\t-\t-\t%d\t0\t-\n", ts, rank,
                                     reply->accel ? "accel-unpaused" : "accel-paused",
                                     reply->accel));
        t->accel[rank] = (signed char)reply->accel;
    }
    if (t->full)
        return;
    count_written(t, fprintf(t->f, "%.6f\t%d\t%s\t%s\t%s\t%d\t%.3f\t%s\n", ts, rank,
                             t->kinds[kind < t->n_kinds ? kind : 0], variant_name(reply->variant),
                             kf_variant_reason_name(reply->reason), reply->accel,
                             (double)reply->service_ns / 1e3,
                             reply->status == KF_WIRE_OK ? "ok" : "error"));
    if (now - t->last_flush > FLUSH_NS) { /* so the file can be followed while the job runs */
        fflush(t->f);
        t->last_flush = now;
    }
}
