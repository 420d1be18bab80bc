/*
 * cmd_config.c - `neoedge config check|default|explain`.
 *
 * check: loads FILE exactly as the daemon would (environment overrides
 * included) and prints "FILE: ok" or the one-line diagnostic
 * "FILE:LINE:COL: KEY: MESSAGE" from config/.
 */
#include <stdio.h>
#include <string.h>

#include "agent/cli.h"
#include "agent/daemon.h"
#include "config/config.h"
#include "ports/platform.h"

int agent__cmd_config_check(int argc, char **argv)
{
    if (argc != 2)
        return agent__usage_error("config check", argc < 2 ? "missing FILE" : "too many arguments");
    struct ne_config *cfg = NULL;
    if (ne_daemon_load_config(argv[1], &cfg) != 0) return NE_EXIT_FAIL;
    ne_config_free(&cfg);
    printf("%s: ok\n", argv[1]);
    return NE_EXIT_OK;
}

int agent__cmd_config_default(int argc, char **argv)
{
    if (argc != 1) return agent__usage_error("config default", "unexpected argument '%s'", argv[1]);
    const char *y = ne_config_default_yaml();
    fputs(y, stdout);
    if (y[0] && y[strlen(y) - 1] != '\n') fputc('\n', stdout);
    return NE_EXIT_OK;
}

int agent__cmd_config_explain(int argc, char **argv)
{
    if (argc > 2) return agent__usage_error("config explain", "too many arguments");
    struct ne_config *cfg = NULL;
    if (ne_daemon_load_config(argc == 2 ? argv[1] : NULL, &cfg) != 0) return NE_EXIT_FAIL;
    char *text = ne_config_explain(cfg);
    ne_config_free(&cfg);
    if (!text) {
        fprintf(stderr, "neoedge config explain: %s\n", ne_strerror(NE_ENOMEM));
        return NE_EXIT_FAIL;
    }
    fputs(text, stdout);
    ne_free(text);
    return NE_EXIT_OK;
}
