/* Receiving one gateway <-> worker message (wire.h) from MPI without blocking: the one receive
 * path the gateway and the workers share. */
#ifndef KF_WIRE_RECV_H
#define KF_WIRE_RECV_H

/* Takes the next KF_WIRE_TAG message from `source` (a rank or MPI_ANY_SOURCE) if one has arrived.
 * Returns a malloc()ed buffer the caller frees, with its length in *len and its sender in
 * *from (may be NULL); or NULL when nothing is there. Out of memory aborts the job: the message
 * is matched already and cannot be left for later, and losing it would lose a request or a reply
 * that someone waits for. */
void *kf_wire_recv(int source, int *from, int *len);

#endif
