/* `kfarm-client --stats` and `--watch`: ask a gateway for `$stats` and print it as a table (or its
 * JSON, one line per refresh, for scripts), once or refreshed like top. */
#ifndef KF_STATS_VIEW_H
#define KF_STATS_VIEW_H

#include <stdio.h>

#include <kfarm/client.h>

struct kf_stats_view_opts {
    int watch;         /* 0: print once */
    double interval_s; /* between refreshes */
    long count;        /* refreshes before returning; 0: until interrupted */
    int timeout_ms;    /* per $stats request */
    int json;          /* print the gateway's $stats JSON, one line per refresh, not the table */
};

/* Returns 0, or 1 when the gateway did not answer or answered something unreadable (a message
 * saying so is on stderr). */
int kf_stats_view_run(struct kf_client *c, const struct kf_stats_view_opts *o, FILE *out);

#endif
