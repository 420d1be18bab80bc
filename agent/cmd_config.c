/*
 * cmd_config.c - `neoedge config check|default|explain`.
 *
 * check: loads FILE exactly as the daemon would (environment overrides
 * included) and prints "FILE: ok" or the one-line diagnostic
 * "FILE:LINE:COL: KEY: MESSAGE" from config/; with --explain, a valid
 * file's effective config follows, each value with where it came from.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "agent/cli.h"
#include "agent/daemon.h"
#include "config/config.h"
#include "ports/platform.h"

/* Prints cfg as `config explain` does. Returns the exit code. */
static int print_explained(const struct ne_config *cfg, const char *cmd)
{
    char *text = ne_config_explain(cfg);
    if (!text) {
        fprintf(stderr, "neoedge %s: %s\n", cmd, ne_strerror(NE_ENOMEM));
        return NE_EXIT_FAIL;
    }
    fputs(text, stdout);
    ne_free(text);
    return NE_EXIT_OK;
}

int agent__cmd_config_check(int argc, char **argv)
{
    bool explain = false;
    const char *file = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--explain") == 0 || strcmp(argv[i], "-e") == 0)
            explain = true;
        else if (argv[i][0] == '-' && argv[i][1])
            return agent__usage_error("config check", "unknown option '%s'", argv[i]);
        else if (file)
            return agent__usage_error("config check", "too many arguments");
        else
            file = argv[i];
    }
    if (!file) return agent__usage_error("config check", "missing FILE");
    struct ne_config *cfg = NULL;
    if (ne_daemon_load_config(file, &cfg) != 0) return NE_EXIT_FAIL;
    printf("%s: ok\n", file);
    int rc = explain ? print_explained(cfg, "config check") : NE_EXIT_OK;
    ne_config_free(&cfg);
    return rc;
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
    int rc = print_explained(cfg, "config explain");
    ne_config_free(&cfg);
    return rc;
}
