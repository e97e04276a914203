/* The address a gateway bound to a wildcard address writes to its endpoint file: one
 * clients outside the node can reach, found from the node's interfaces rather than its hostname. */
#ifndef KF_ADVERTISE_H
#define KF_ADVERTISE_H

#include <stddef.h>

/* Resolves --advertise into an address for clients. want is:
 *   NULL          this node's routable IPv4: the hostname's address if an interface of this node
 *                 holds it, else the address of the interface with the default route, else the
 *                 first non-loopback IPv4 of an interface that is up (127.0.0.1 if none);
 *   A.B.C.D/N     this node's IPv4 inside that subnet (e.g. the cluster network);
 *   an interface  that interface's IPv4 (e.g. eth1, ib0);
 *   anything else used as given (a host name or address).
 * Returns 0, or a negative errno with a message in err: -EINVAL for a malformed subnet,
 * -EADDRNOTAVAIL when a subnet or interface has no IPv4 here. */
int kf_advertise_resolve(const char *want, char *out, size_t outlen, char *err, size_t errlen);

#endif
