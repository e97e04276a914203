/* esfmd's event loop: one listening UNIX socket per domain, non-blocking connections read into
 * bounded lines with a deadline per line, and requests run in worker threads, one at a time per
 * domain (later ones queue), so that a slow, malformed or busy VM never holds up another. */
#include "esfmd.h"

#include "clock.h"
#include "errbuf.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define QUEUE_MAX 4 /* requests of one domain waiting behind the running one */

enum work_kind { WORK_REQUEST, WORK_CHECK };

struct esfmd_work {
    struct esfmd_work *next;
    struct esfmd *d;
    enum work_kind kind;
    int dom;
    unsigned long serial;
    struct esfmd_msg msg;
    char reply[ESFMD_LINE_MAX + 1];
};

static int listen_on(struct esfmd_domain *dom, char *err, size_t errlen)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(dom->path) >= sizeof sa.sun_path)
        return kf_errf(err, errlen, -ENAMETOOLONG, "socket path %s is too long", dom->path);
    memcpy(sa.sun_path, dom->path, strlen(dom->path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return kf_errf(err, errlen, -errno, "socket: %s", strerror(errno));
    unlink(dom->path); /* a stale socket of an earlier run */
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || chmod(dom->path, 0660) < 0 ||
        listen(fd, 8) < 0) {
        int e = errno;
        close(fd);
        return kf_errf(err, errlen, -e, "cannot listen on %s for domain %s: %s", dom->path,
                       dom->name, strerror(e));
    }
    dom->lfd = fd;
    return 0;
}

int esfmd_open_sockets(struct esfmd *d, char *err, size_t errlen)
{
    struct esfmd_config *c = d->cfg;
    if (mkdir(c->socket_dir, 0750) < 0 && errno != EEXIST)
        return kf_errf(err, errlen, -errno, "cannot create %s: %s", c->socket_dir,
                       strerror(errno));
    for (size_t i = 0; i < c->ndomains; i++) {
        struct esfmd_domain *dom = &c->domains[i];
        snprintf(dom->path, sizeof dom->path, "%s/%s.sock", c->socket_dir, dom->name);
        int rc = listen_on(dom, err, errlen);
        if (rc)
            return rc;
    }
    for (size_t i = 0; i < ESFMD_MAX_CONNS; i++)
        d->conns[i].fd = -1;
    if (pipe2(d->wake, O_CLOEXEC | O_NONBLOCK) < 0)
        return kf_errf(err, errlen, -errno, "pipe: %s", strerror(errno));
    pthread_mutex_init(&d->lock, NULL);
    return 0;
}

static void conn_close(struct esfmd *d, struct esfmd_conn *c)
{
    d->cfg->domains[c->dom].check_now = true; /* QEMU closes the channel when the VM stops */
    close(c->fd);
    c->fd = -1;
}

/* Queues a reply; a reader that lets ESFMD_OUT_MAX pile up is dropped. */
static void conn_send(struct esfmd *d, struct esfmd_conn *c, const char *line)
{
    size_t n = strlen(line);
    if (c->outlen + n > sizeof c->out) {
        esfmd_logf("domain %s: channel reader does not read its replies; dropping the connection",
                   d->cfg->domains[c->dom].name);
        conn_close(d, c);
        return;
    }
    memcpy(c->out + c->outlen, line, n);
    c->outlen += n;
}

static void conn_send_err(struct esfmd *d, struct esfmd_conn *c, const char *id, int rc,
                          const char *text)
{
    char line[ESFMD_LINE_MAX + 1];
    esfmd_format_err(line, sizeof line, id, esfmd_code_name(rc), text);
    esfmd_logf("domain %s: refused request %s: %s %s", d->cfg->domains[c->dom].name, id,
               esfmd_code_name(rc), text);
    conn_send(d, c, line);
}

static void *work_main(void *arg)
{
    struct esfmd_work *w = arg;
    struct esfmd *d = w->d;
    const struct esfmd_domain *dom = &d->cfg->domains[w->dom];
    if (w->kind == WORK_REQUEST)
        esfmd_handle(d, dom, &w->msg, w->reply, sizeof w->reply);
    else
        esfmd_release_domain(d, dom);
    pthread_mutex_lock(&d->lock);
    w->next = d->done;
    d->done = w;
    pthread_mutex_unlock(&d->lock);
    char b = 1;
    if (write(d->wake[1], &b, 1) < 0) {
        /* the pipe is full: the loop is awake anyway */
    }
    return NULL;
}

static void start_work(struct esfmd *d, struct esfmd_work *w)
{
    pthread_t t;
    pthread_attr_t a;
    pthread_attr_init(&a);
    pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
    d->cfg->domains[w->dom].in_flight = true;
    if (pthread_create(&t, &a, work_main, w) != 0) {
        /* Answered at once, so that the guest is not left waiting. */
        if (w->kind == WORK_REQUEST)
            esfmd_format_err(w->reply, sizeof w->reply, w->msg.id, "EAGAIN",
                             "esfmd cannot start a worker thread now; retry");
        pthread_mutex_lock(&d->lock);
        w->next = d->done;
        d->done = w;
        pthread_mutex_unlock(&d->lock);
        char b = 1;
        if (write(d->wake[1], &b, 1) < 0) {
        }
    }
    pthread_attr_destroy(&a);
}

/* Runs w now or after the domain's running work; false when the queue is full. */
static bool submit(struct esfmd *d, struct esfmd_work *w)
{
    struct esfmd_domain *dom = &d->cfg->domains[w->dom];
    if (!dom->in_flight) {
        start_work(d, w);
        return true;
    }
    if (d->cfg->domains[w->dom].queued >= QUEUE_MAX)
        return false;
    struct esfmd_work **p = &d->cfg->domains[w->dom].queue;
    while (*p)
        p = &(*p)->next;
    w->next = NULL;
    *p = w;
    d->cfg->domains[w->dom].queued++;
    return true;
}

static bool known_verb(const char *v)
{
    static const char *const verbs[] = {"hello", "job-attach", "job-detach", "status",
                                        "pause-state"};
    for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++)
        if (strcmp(v, verbs[i]) == 0)
            return true;
    return false;
}

static void dispatch_line(struct esfmd *d, struct esfmd_conn *c, const char *line)
{
    struct esfmd_work *w = calloc(1, sizeof *w);
    if (!w) {
        conn_send_err(d, c, "-", -ENOMEM, "esfmd is out of memory");
        return;
    }
    char err[ESFMD_LINE_MAX];
    int rc = esfmd_parse_line(line, strlen(line), &w->msg, err, sizeof err);
    if (!rc && !known_verb(w->msg.verb))
        rc = kf_errf(err, sizeof err, -EINVAL,
                     "unknown verb '%s' (hello, job-attach, job-detach, status, pause-state)",
                     w->msg.verb);
    if (rc) {
        conn_send_err(d, c, w->msg.id, rc, err);
        free(w);
        return;
    }
    w->d = d;
    w->kind = WORK_REQUEST;
    w->dom = c->dom;
    w->serial = c->serial;
    if (!submit(d, w)) {
        conn_send_err(d, c, w->msg.id, -EBUSY,
                      "this VM already has the most requests esfmd queues; retry later");
        free(w);
    }
}

static void conn_read(struct esfmd *d, struct esfmd_conn *c, uint64_t now)
{
    char buf[ESFMD_LINE_MAX];
    ssize_t n = read(c->fd, buf, sizeof buf);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        conn_close(d, c);
        return;
    }
    size_t off = 0;
    while (off < (size_t)n && c->fd >= 0) {
        char line[ESFMD_LINE_MAX];
        size_t used;
        int rc = esfmd_linebuf_take(&c->lb, buf + off, (size_t)n - off, &used, line);
        off += used;
        if (rc == 1)
            dispatch_line(d, c, line);
        else if (rc == -E2BIG)
            conn_send_err(d, c, "-", -E2BIG, "request line longer than 512 bytes; dropped");
        if (rc)
            c->line_start_ns = 0; /* the deadline runs from a line's first byte to its LF */
    }
    if (c->fd >= 0 && c->lb.len > 0)
        c->line_start_ns = c->line_start_ns ? c->line_start_ns : now;
}

static void conn_write(struct esfmd *d, struct esfmd_conn *c)
{
    ssize_t n = write(c->fd, c->out, c->outlen);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n < 0) {
        conn_close(d, c);
        return;
    }
    memmove(c->out, c->out + n, c->outlen - (size_t)n);
    c->outlen -= (size_t)n;
}

static void accept_conn(struct esfmd *d, int dom)
{
    int fd = accept4(d->cfg->domains[dom].lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0)
        return;
    for (size_t i = 0; i < ESFMD_MAX_CONNS; i++) {
        struct esfmd_conn *c = &d->conns[i];
        if (c->fd >= 0)
            continue;
        memset(c, 0, sizeof *c);
        c->fd = fd;
        c->dom = dom;
        c->serial = ++d->next_serial;
        return;
    }
    esfmd_logf("domain %s: too many channel connections (%d); refusing one",
               d->cfg->domains[dom].name, ESFMD_MAX_CONNS);
    close(fd);
}

/* Results of finished workers go to their connection (if it is still there); the domain's next
 * queued request starts. */
static void collect_done(struct esfmd *d)
{
    char b[64];
    while (read(d->wake[0], b, sizeof b) > 0)
        ;
    pthread_mutex_lock(&d->lock);
    struct esfmd_work *w = d->done;
    d->done = NULL;
    pthread_mutex_unlock(&d->lock);
    while (w) {
        struct esfmd_work *next = w->next;
        if (w->kind == WORK_REQUEST)
            for (size_t i = 0; i < ESFMD_MAX_CONNS; i++)
                if (d->conns[i].fd >= 0 && d->conns[i].serial == w->serial)
                    conn_send(d, &d->conns[i], w->reply);
        d->cfg->domains[w->dom].in_flight = false;
        struct esfmd_work *q = d->cfg->domains[w->dom].queue;
        if (q) {
            d->cfg->domains[w->dom].queue = q->next;
            d->cfg->domains[w->dom].queued--;
            start_work(d, q);
        }
        free(w);
        w = next;
    }
}

/* A line not finished in time is answered ETIMEDOUT and dropped. Bytes after that start a new
 * line: a late tail then gets an EINVAL, while the next opener of the port (whose predecessor
 * died mid-line) is not swallowed. */
static void expire_lines(struct esfmd *d, uint64_t now)
{
    uint64_t limit = (uint64_t)d->cfg->read_timeout_ms * 1000000ull;
    for (size_t i = 0; i < ESFMD_MAX_CONNS; i++) {
        struct esfmd_conn *c = &d->conns[i];
        if (c->fd < 0 || !c->line_start_ns || now - c->line_start_ns < limit)
            continue;
        c->lb.len = 0;
        c->line_start_ns = 0;
        char text[96];
        snprintf(text, sizeof text, "request line not finished within %d ms; dropped",
                 d->cfg->read_timeout_ms);
        conn_send_err(d, c, "-", -ETIMEDOUT, text);
    }
}

/* Queues a check (and release, when it stopped) of every idle domain that is due. */
static void check_domains(struct esfmd *d, bool all)
{
    for (size_t i = 0; i < d->cfg->ndomains; i++) {
        struct esfmd_domain *dom = &d->cfg->domains[i];
        if (dom->in_flight || (!all && !dom->check_now))
            continue;
        dom->check_now = false;
        struct esfmd_work *w = calloc(1, sizeof *w);
        if (!w)
            return;
        w->d = d;
        w->kind = WORK_CHECK;
        w->dom = (int)i;
        start_work(d, w);
    }
}

static int poll_timeout(struct esfmd *d, uint64_t now, uint64_t next_check)
{
    uint64_t wake = next_check;
    uint64_t limit = (uint64_t)d->cfg->read_timeout_ms * 1000000ull;
    for (size_t i = 0; i < ESFMD_MAX_CONNS; i++)
        if (d->conns[i].fd >= 0 && d->conns[i].line_start_ns &&
            d->conns[i].line_start_ns + limit < wake)
            wake = d->conns[i].line_start_ns + limit;
    return wake <= now ? 0 : (int)((wake - now) / 1000000ull) + 1;
}

static bool any_in_flight(struct esfmd *d)
{
    for (size_t i = 0; i < d->cfg->ndomains; i++)
        if (d->cfg->domains[i].in_flight)
            return true;
    return false;
}

int esfmd_run(struct esfmd *d, volatile sig_atomic_t *stop, char *err, size_t errlen)
{
    struct esfmd_config *cfg = d->cfg;
    struct pollfd pfd[1 + ESFMD_MAX_DOMAINS + ESFMD_MAX_CONNS];
    int slot[ESFMD_MAX_CONNS];
    uint64_t check_ns = (uint64_t)cfg->check_ms * 1000000ull;
    uint64_t next_check = kf_now_ns();
    while (!*stop || any_in_flight(d)) {
        size_t n = 0;
        pfd[n++] = (struct pollfd){.fd = d->wake[0], .events = POLLIN};
        for (size_t i = 0; i < cfg->ndomains; i++)
            pfd[n++] = (struct pollfd){.fd = *stop ? -1 : cfg->domains[i].lfd, .events = POLLIN};
        size_t nc = 0;
        for (size_t i = 0; i < ESFMD_MAX_CONNS; i++) {
            if (d->conns[i].fd < 0)
                continue;
            short ev = (short)(POLLIN | (d->conns[i].outlen ? POLLOUT : 0));
            slot[nc++] = (int)i;
            pfd[n++] = (struct pollfd){.fd = d->conns[i].fd, .events = ev};
        }
        uint64_t now = kf_now_ns();
        int r = poll(pfd, n, poll_timeout(d, now, next_check));
        if (r < 0 && errno != EINTR)
            return kf_errf(err, errlen, -errno, "poll: %s", strerror(errno));
        now = kf_now_ns();
        if (r > 0 && (pfd[0].revents & POLLIN))
            collect_done(d);
        for (size_t i = 0; r > 0 && i < cfg->ndomains; i++)
            if (pfd[1 + i].revents & POLLIN)
                accept_conn(d, (int)i);
        for (size_t k = 0; r > 0 && k < nc; k++) {
            struct esfmd_conn *c = &d->conns[slot[k]];
            short re = pfd[1 + cfg->ndomains + k].revents;
            if (c->fd >= 0 && (re & POLLOUT))
                conn_write(d, c);
            if (c->fd >= 0 && (re & (POLLIN | POLLHUP | POLLERR)))
                conn_read(d, c, now);
        }
        expire_lines(d, now);
        bool due = now >= next_check;
        if (due)
            next_check = now + check_ns;
        if (!*stop)
            check_domains(d, due);
    }
    return 0;
}

void esfmd_close(struct esfmd *d)
{
    for (size_t i = 0; i < ESFMD_MAX_CONNS; i++)
        if (d->conns[i].fd >= 0)
            close(d->conns[i].fd);
    for (size_t i = 0; i < d->cfg->ndomains; i++) {
        if (d->cfg->domains[i].lfd >= 0) {
            close(d->cfg->domains[i].lfd);
            unlink(d->cfg->domains[i].path);
        }
        for (struct esfmd_work *w = d->cfg->domains[i].queue, *nx; w; w = nx) {
            nx = w->next;
            free(w);
        }
        d->cfg->domains[i].queue = NULL;
    }
    close(d->wake[0]);
    close(d->wake[1]);
    pthread_mutex_destroy(&d->lock);
}
