/* kf_wire_recv: matched probe then matched receive, so that a message of any size is received
 * into a buffer of exactly its size, and no other thread or probe can take it in between. */
#include <mpi.h>
#include <stdlib.h>

#include "log.h"
#include "wire.h"
#include "wire_recv.h"

void *kf_wire_recv(int source, int *from, int *len)
{
    int flag = 0;
    MPI_Message mh;
    MPI_Status st;
    /* Open MPI's improbe matches what earlier progress received, then progresses: a message
     * that just arrived is found by the second call. */
    for (int i = 0; i < 2 && !flag; i++)
        MPI_Improbe(source, KF_WIRE_TAG, MPI_COMM_WORLD, &flag, &mh, &st);
    if (!flag)
        return NULL;
    MPI_Get_count(&st, MPI_BYTE, len);
    if (from)
        *from = st.MPI_SOURCE;
    void *buf = malloc(*len > 0 ? (size_t)*len : 1);
    if (!buf) {
        kf_error("out of memory receiving a %d-byte message from rank %d; aborting the job", *len,
                 st.MPI_SOURCE);
        MPI_Abort(MPI_COMM_WORLD, 70);
    }
    MPI_Mrecv(buf, *len, MPI_BYTE, &mh, MPI_STATUS_IGNORE);
    return buf;
}
