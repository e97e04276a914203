/* Formatted messages through the Slurm wrapper (slurmd/slurmstepd log, or srun's stderr). */
#include "kfarm_spank.h"

#include <stdarg.h>
#include <stdio.h>

void ks_errorf(const struct ks_slurm *s, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    s->error(msg);
}

void ks_infof(const struct ks_slurm *s, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    s->info(msg);
}
