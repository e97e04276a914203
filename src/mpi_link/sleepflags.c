/* Node-local sleep flags in an MPI-3 shared-memory window. The store of a flag and the send of a
 * message are each followed by a full fence, so either the sleeper's last check sees the message
 * or the sender sees the flag (Dekker). */
#include <errno.h>
#include <stdlib.h>

#include "sleepflags.h"

int kf_sleepflags_init(struct kf_sleepflags *s)
{
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    s->world_size = size;
    s->mine = NULL;
    s->win = MPI_WIN_NULL;
    s->of_world_rank = calloc((size_t)size, sizeof(*s->of_world_rank));
    MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank, MPI_INFO_NULL, &s->node);
    /* A cache line per rank: flags written by different ranks never share one. */
    void *base = NULL;
    int rc = MPI_Win_allocate_shared(64, 64, MPI_INFO_NULL, s->node, &base, &s->win);
    if (rc != MPI_SUCCESS || !s->of_world_rank)
        return !s->of_world_rank ? -ENOMEM : -EOPNOTSUPP;
    s->mine = base;
    atomic_init(s->mine, 0);
    int node_size;
    MPI_Comm_size(s->node, &node_size);
    MPI_Group world_group, node_group;
    MPI_Comm_group(MPI_COMM_WORLD, &world_group);
    MPI_Comm_group(s->node, &node_group);
    int *node_ranks = malloc((size_t)node_size * sizeof(int));
    int *world_ranks = malloc((size_t)node_size * sizeof(int));
    for (int i = 0; node_ranks && world_ranks && i < node_size; i++)
        node_ranks[i] = i;
    if (node_ranks && world_ranks) {
        MPI_Group_translate_ranks(node_group, node_size, node_ranks, world_group, world_ranks);
        for (int i = 0; i < node_size; i++) {
            MPI_Aint len;
            int disp;
            void *p;
            MPI_Win_shared_query(s->win, i, &len, &disp, &p);
            s->of_world_rank[world_ranks[i]] = p;
        }
    }
    free(node_ranks);
    free(world_ranks);
    MPI_Group_free(&world_group);
    MPI_Group_free(&node_group);
    MPI_Barrier(s->node); /* every flag is initialised before anyone reads one */
    return 0;
}

void kf_sleepflags_fini(struct kf_sleepflags *s)
{
    if (s->win != MPI_WIN_NULL)
        MPI_Win_free(&s->win);
    MPI_Comm_free(&s->node);
    free(s->of_world_rank);
    s->of_world_rank = NULL;
    s->mine = NULL;
}

void kf_sleepflags_set(struct kf_sleepflags *s, int asleep)
{
    if (s->mine)
        atomic_store(s->mine, asleep); /* seq_cst: ordered before the caller's last check */
}

int kf_sleepflags_asleep(const struct kf_sleepflags *s, int world_rank)
{
    atomic_thread_fence(memory_order_seq_cst); /* the message just sent is visible first */
    if (!s->of_world_rank || !s->of_world_rank[world_rank])
        return 1;
    return atomic_load(s->of_world_rank[world_rank]);
}
