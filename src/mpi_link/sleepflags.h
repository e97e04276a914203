/* Which ranks on this node are asleep, in MPI shared memory, so that a sender rings a doorbell
 * (doorbell.h) only when the receiver really sleeps: under load nobody sleeps and no ring costs a
 * system call. A rank on another node has no flag here and is always rung (which fails once and
 * then stops, see doorbell.c). */
#ifndef KF_SLEEPFLAGS_H
#define KF_SLEEPFLAGS_H

#include <mpi.h>
#include <stdatomic.h>

struct kf_sleepflags {
    MPI_Comm node;              /* ranks sharing this node's memory */
    MPI_Win win;
    atomic_int *mine;           /* this rank's flag */
    atomic_int **of_world_rank; /* NULL for ranks on other nodes */
    int world_size;
};

/* Collective over MPI_COMM_WORLD. Returns 0, or -EOPNOTSUPP when shared memory is not available
 * (-ENOMEM without memory); then every query answers "asleep", the behaviour without flags. */
int kf_sleepflags_init(struct kf_sleepflags *s);
/* Collective over MPI_COMM_WORLD. */
void kf_sleepflags_fini(struct kf_sleepflags *s);

/* Announces that this rank is about to sleep (1) or is awake (0). A sleeper must check for work
 * once more after announcing, then sleep: the sender checks the flag after sending. */
void kf_sleepflags_set(struct kf_sleepflags *s, int asleep);
/* 1 when world_rank may be asleep and needs a ring. */
int kf_sleepflags_asleep(const struct kf_sleepflags *s, int world_rank);

#endif
