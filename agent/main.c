/*
 * main.c - the `neoedge` executable: hands the command line to the
 * subcommand table (agent/cli.c).
 *
 * glibc gives every thread that allocates its own malloc arena; the daemon
 * runs a handful of threads (HTTP workers, WAL, flush, MQTT, CoAP) and two
 * arenas are plenty: fewer arenas keep resident memory small on gateways.
 * The allocator policy (agent/heap.h) is set before any thread starts.
 */
#include "agent/cli.h"
#include "agent/heap.h"

int main(int argc, char **argv)
{
    ne_heap_setup();
    return ne_cli_main(argc, argv);
}
