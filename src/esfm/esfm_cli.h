/* The esfm command as a library (esfm_cli, static): the `esfm` program is main() around it, and
 * it is the test seam: esfm-fakekernel runs the same command line on the FAKE kernel's sysfs ops,
 * and the fuzz targets reach its number parser. Not installed; not part of libesfm. */
#ifndef ESFM_CLI_H
#define ESFM_CLI_H

#include <kfarm/esfm.h>

/* Runs `esfm argv...` with sysfs writes through sysfs_ops (NULL: the real kernel). Prints the
 * report on stdout, errors on stderr; returns the exit code (esfm_exit_code()). */
int esfm_cli_run(int argc, char **argv, const struct esfm_sysfs_ops *sysfs_ops);

/* A whole decimal number <= max: 0, -EINVAL (not digits) or -ERANGE. */
int esfm_parse_uint(const char *s, unsigned max, unsigned *out);

#endif
