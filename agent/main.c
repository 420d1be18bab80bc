/*
 * main.c - the `neoedge` executable: hands the command line to the
 * subcommand table (agent/cli.c).
 *
 * glibc gives every thread that allocates its own malloc arena; the daemon
 * runs a handful of threads (HTTP workers, WAL, flush, MQTT, CoAP) and two
 * arenas are plenty: fewer arenas keep resident memory small on gateways.
 */
#include <malloc.h>

#include "agent/cli.h"

int main(int argc, char **argv)
{
    mallopt(M_ARENA_MAX, 2);
    return ne_cli_main(argc, argv);
}
