/*
 * main.c - the `neoedge` executable: hands the command line to the
 * subcommand table (agent/cli.c).
 */
#include "agent/cli.h"

int main(int argc, char **argv)
{
    return ne_cli_main(argc, argv);
}
