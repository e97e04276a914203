/* esfm's entry point: the CLI on the real kernel's sysfs. */
#include <kfarm/esfm.h>

int main(int argc, char **argv)
{
    return esfm_cli_main(argc, argv, NULL);
}
