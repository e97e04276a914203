/* Node-local wake-ups over abstract UNIX datagram sockets. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "errbuf.h"
#include "doorbell.h"

int kf_doorbell_open(struct kf_doorbell *d, char *err, size_t errlen)
{
    unsigned char rnd[12];
    if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
        return kf_errf(err, errlen, -errno, "doorbell: getrandom: %s", strerror(errno));
    }
    int n = snprintf(d->name, sizeof(d->name), "kfarm-%ld-", (long)getpid());
    for (size_t i = 0; i < sizeof(rnd); i++)
        n += snprintf(d->name + n, sizeof(d->name) - (size_t)n, "%02x", rnd[i]);
    d->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (d->fd < 0) {
        return kf_errf(err, errlen, -errno, "doorbell: socket: %s", strerror(errno));
    }
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    size_t len = strlen(d->name);
    memcpy(a.sun_path + 1, d->name, len);
    if (bind(d->fd, (struct sockaddr *)&a, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + len))) {
        int rc = kf_errf(err, errlen, -errno, "doorbell: bind @%s: %s", d->name, strerror(errno));
        close(d->fd);
        d->fd = -1;
        return rc;
    }
    return 0;
}

void kf_doorbell_close(struct kf_doorbell *d)
{
    if (d->fd >= 0)
        close(d->fd);
    d->fd = -1;
}

void kf_doorbell_drain(const struct kf_doorbell *d)
{
    char buf[64];
    while (d->fd >= 0 && recv(d->fd, buf, sizeof(buf), MSG_DONTWAIT) >= 0)
        ;
}

void kf_doorbell_peer_open(struct kf_doorbell_peer *p, const char *name, size_t len)
{
    memset(p, 0, sizeof(*p));
    p->fd = -1;
    if (len == 0 || len >= sizeof(p->addr.sun_path) - 1)
        return;
    p->addr.sun_family = AF_UNIX;
    memcpy(p->addr.sun_path + 1, name, len);
    p->addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + len);
    p->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
}

void kf_doorbell_peer_close(struct kf_doorbell_peer *p)
{
    if (p->fd >= 0)
        close(p->fd);
    p->fd = -1;
}

void kf_doorbell_ring(struct kf_doorbell_peer *p)
{
    if (p->fd < 0)
        return;
    if (sendto(p->fd, "", 1, MSG_DONTWAIT, (struct sockaddr *)&p->addr, p->addr_len) < 0 &&
        (errno == ECONNREFUSED || errno == ENOENT)) {
        /* No such doorbell on this node: the peer runs elsewhere and relies on its timeout. */
        kf_doorbell_peer_close(p);
    }
    /* EAGAIN: the peer's queue is full of rings already; it is awake or about to be. */
}
