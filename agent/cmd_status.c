/*
 * cmd_status.c - `neoedge status`: the health of a running daemon, from
 * GET /health of its admin HTTP API.
 */
#include <getopt.h>
#include <stdio.h>

#include "agent/cli.h"
#include "agent/daemon.h"
#include "agent/httpc.h"
#include "config/config.h"
#include "ports/err.h"

int agent__cmd_status(int argc, char **argv)
{
    static const struct option opts[] = {
        {"host", required_argument, NULL, 'H'},
        {"config", required_argument, NULL, 'c'},
        {NULL, 0, NULL, 0},
    };
    const char *host = NULL, *cfg_path = NULL;
    int ch;
    while ((ch = getopt_long(argc, argv, "H:c:", opts, NULL)) != -1) {
        switch (ch) {
        case 'H':
            host = optarg;
            break;
        case 'c':
            cfg_path = optarg;
            break;
        default:
            return agent__usage_error("status", "invalid option");
        }
    }
    if (optind < argc)
        return agent__usage_error("status", "unexpected argument '%s'", argv[optind]);
    struct ne_config *cfg = NULL;
    const char *addr = NULL;
    if (agent__daemon_addr("status", host, cfg_path, &cfg, &addr) != 0)
        return NE_EXIT_FAIL;
    struct agent__http_resp r = {0};
    char err[512] = "";
    int rc =
        agent__http_request("GET", addr, "/health", NULL, NULL, NULL, 0, 30, &r, err, sizeof(err));
    int code = NE_EXIT_FAIL;
    if (rc != 0) {
        fprintf(stderr, "status: %s\n", err[0] ? err : ne_strerror(rc));
    } else {
        fputs(r.body ? r.body : "", stdout);
        code = r.status == 200 ? NE_EXIT_OK : NE_EXIT_FAIL;
    }
    agent__http_resp_free(&r);
    ne_config_free(&cfg);
    return code;
}
