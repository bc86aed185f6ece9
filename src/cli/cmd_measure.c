#include "cli.h"

int cmd_measure(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return cli_fail(CLI_EXIT_FAILURE, "measure: not built yet");
}
