/* `kfarm`: one MPI program per Slurm job. Rank 0 becomes the ZeroMQ gateway, every other rank a
 * worker. Options are parsed on every rank before MPI starts, so a bad option fails them all. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway.h"
#include "log.h"
#include "options.h"
#include "worker.h"

/* The rank the launcher gave this process before MPI_Init, or -1 when started by hand. */
static int rank_from_environment(void)
{
    const char *vars[] = {"PMIX_RANK", "OMPI_COMM_WORLD_RANK", "SLURM_PROCID", "PMI_RANK"};
    for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
        const char *v = getenv(vars[i]);
        if (v && *v)
            return atoi(v);
    }
    return -1;
}

/* Answers --help, --version and bad options with one message from one rank. Under a launcher
 * the ranks first meet in MPI_Init: srun reports a step whose tasks all exit before it finished
 * launching as a launch failure, losing their output and exit status. */
static int answer_without_serving(int argc, char **argv, const struct kf_options *opts,
                                  const char *err)
{
    int rank = rank_from_environment();
    if (rank >= 0) {
        int provided;
        MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
        MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    }
    if (rank <= 0) {
        if (err)
            fprintf(stderr, "kfarm: %s\n", err);
        else if (opts->help)
            kf_options_usage(stdout);
        else
            printf("kfarm %s\n", KFARM_VERSION);
        fflush(NULL);
    }
    if (rank >= 0)
        MPI_Finalize();
    return err ? 2 : 0;
}

int main(int argc, char **argv)
{
    struct kf_options opts;
    char err[1024];
    if (kf_options_parse(&opts, argc, argv, err, sizeof(err)) || opts.help || opts.version) {
        int failed = !opts.help && !opts.version;
        int status = answer_without_serving(argc, argv, &opts, failed ? err : NULL);
        kf_options_fini(&opts);
        return status;
    }

    int provided, rank, size;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    char role[32];
    if (rank == 0)
        snprintf(role, sizeof(role), "gateway");
    else
        snprintf(role, sizeof(role), "worker %d", rank);
    kf_log_init(opts.log_level, role);

    int status;
    struct kf_sleepflags flags;
    if (size >= 2 && kf_sleepflags_init(&flags))
        kf_warn("no MPI shared memory for sleep flags; ranks will ring each other always");
    if (size < 2) {
        kf_error("kfarm needs at least 2 ranks (a gateway and a worker); run it with srun -n N, "
                 "N >= 2");
        status = 2;
    } else if (rank == 0) {
        struct kf_gateway *g;
        if (kf_gateway_open(&g, &opts.gateway, size, &flags, err, sizeof(err))) {
            kf_error("%s", err);
            status = 2;
        } else {
            status = kf_gateway_run(g);
        }
    } else {
        status = kf_worker_run(&opts.worker, rank, &flags);
    }
    if (size >= 2)
        kf_sleepflags_fini(&flags);
    MPI_Finalize();
    kf_options_fini(&opts);
    return status;
}
