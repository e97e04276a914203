/* esfm's entry point: the CLI (esfm_cli.h) on the real kernel's sysfs. */
#include "esfm_cli.h"

int main(int argc, char **argv)
{
    return esfm_cli_run(argc, argv, NULL);
}
