/* The guest end of the esfmd channel. In a VM node it is the virtio-serial port
 * /dev/virtio-ports/org.kfarm.esfm.0 (a character device only one process may hold; a second
 * opener gets EBUSY and retries until the deadline); tests point channel= at a UNIX socket. */
#include "vm.h"

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
#include <time.h>
#include <unistd.h>

static int open_unix(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof sa.sun_path)
        return -ENAMETOOLONG;
    memcpy(sa.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    return fd;
}

/* The port is exclusive: another job's prolog may hold it for a moment. */
static int open_channel(const char *path, uint64_t deadline, char *err, size_t errlen)
{
    for (;;) {
        struct stat st;
        int fd;
        if (stat(path, &st) < 0) {
            fd = -errno;
        } else if (S_ISSOCK(st.st_mode)) {
            fd = open_unix(path);
        } else {
            fd = open(path, O_RDWR | O_NOCTTY | O_CLOEXEC);
            if (fd < 0)
                fd = -errno;
        }
        if (fd >= 0)
            return fd;
        if ((fd != -EBUSY && fd != -ECONNREFUSED && fd != -EAGAIN) || kf_now_ns() >= deadline)
            return kf_errf(err, errlen, fd,
                           "cannot open the esfmd channel %s: %s (is the VM's virtio-serial port "
                           "org.kfarm.esfm.0 defined and esfmd running on the host? see "
                           "docs/deploy.md)",
                           path, strerror(-fd));
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
    }
}

static int write_all(int fd, const char *buf, size_t n)
{
    while (n) {
        ssize_t w = write(fd, buf, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -errno;
        buf += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Reads lines until the one answering id; 0, or the error. */
static int read_reply(int fd, const char *id, uint64_t deadline, struct esfmd_msg *m, char *err,
                      size_t errlen)
{
    struct esfmd_linebuf lb = {0};
    char buf[ESFMD_LINE_MAX], line[ESFMD_LINE_MAX];
    for (;;) {
        uint64_t now = kf_now_ns();
        if (now >= deadline)
            return kf_errf(err, errlen, -ETIMEDOUT, "esfmd did not answer in time");
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int r = poll(&p, 1, (int)((deadline - now) / 1000000ull) + 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            continue;
        ssize_t n = read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return kf_errf(err, errlen, -EIO, "the esfmd channel closed before the reply");
        size_t off = 0;
        while (off < (size_t)n) {
            size_t used;
            int rc = esfmd_linebuf_take(&lb, buf + off, (size_t)n - off, &used, line);
            off += used;
            if (rc != 1 || esfmd_parse_line(line, strlen(line), m, NULL, 0) ||
                strcmp(m->id, id) != 0)
                continue; /* not ours: a stale reply or a cut line */
            if (strcmp(m->verb, "ok") == 0)
                return 0;
            int code = esfmd_code_value(m->code);
            return kf_errf(err, errlen, code ? code : -EIO, "esfmd: %s", m->text);
        }
    }
}

int ks_channel_call(const struct ks_config *cfg, const char *verb, const char *const *kv,
                    struct esfmd_msg *reply, char *err, size_t errlen)
{
    uint64_t deadline = kf_now_ns() + (uint64_t)atol(cfg->channel_timeout_ms) * 1000000ull;
    char id[ESFMD_ID_MAX + 1], line[ESFMD_LINE_MAX + 1];
    static unsigned seq;
    snprintf(id, sizeof id, "p%ux%u", (unsigned)getpid() % 1000000u, ++seq % 100000u);
    int n = esfmd_format(line, sizeof line, id, verb, kv);
    if (n < 0)
        return kf_errf(err, errlen, -EINVAL, "request %s does not fit the esfm1 protocol", verb);
    int fd = open_channel(cfg->channel, deadline, err, errlen);
    if (fd < 0)
        return fd;
    int rc = write_all(fd, line, (size_t)n);
    if (rc)
        rc = kf_errf(err, errlen, rc, "writing to the esfmd channel %s: %s", cfg->channel,
                     strerror(-rc));
    else
        rc = read_reply(fd, id, deadline, reply, err, errlen);
    close(fd);
    return rc;
}
