/* Wake-ups between ranks on one node. MPI has no descriptor a rank can sleep on, so a rank that
 * sent an MPI message to a sleeping rank on its node also "rings" it: one byte on a UNIX datagram
 * socket that the sleeper waits on with ppoll. Ranks on other nodes cannot be rung (the abstract
 * socket name exists only on its node); for them the sleeper's timeout bounds the delay. */
#ifndef KF_DOORBELL_H
#define KF_DOORBELL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/un.h>

#define KF_DOORBELL_NAME_MAX 48

/* The receiving end, owned by one rank. */
struct kf_doorbell {
    int fd;
    char name[KF_DOORBELL_NAME_MAX]; /* printable; the socket's abstract address is "\0" name */
};

/* The sending end towards another rank's doorbell. */
struct kf_doorbell_peer {
    int fd; /* -1 when the peer cannot be rung (other node, or never given) */
    struct sockaddr_un addr;
    socklen_t addr_len;
};

/* Binds a new doorbell with a random name. Returns 0, or -errno with a message in err. */
int kf_doorbell_open(struct kf_doorbell *d, char *err, size_t errlen);
void kf_doorbell_close(struct kf_doorbell *d);
/* Discards pending rings. */
void kf_doorbell_drain(const struct kf_doorbell *d);

/* Prepares to ring the doorbell called name; a peer that cannot be rung is left disabled. */
void kf_doorbell_peer_open(struct kf_doorbell_peer *p, const char *name, size_t len);
void kf_doorbell_peer_close(struct kf_doorbell_peer *p);
/* Rings; never blocks. A doorbell that does not exist here (another node) disables the peer. */
void kf_doorbell_ring(struct kf_doorbell_peer *p);

#endif
