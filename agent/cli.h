/*
 * cli.h - the `neoedge` command line: a table of subcommands.
 *
 * Each subcommand is one row (name, summary, usage, handler). Names may
 * have several words ("config check", "inspect wal"): the longest name that
 * matches the leading arguments wins. `neoedge help [CMD...]`,
 * `neoedge [CMD...] --help` and `neoedge --help` print usage from the table.
 *
 * Exit codes: 0 success, 1 failure, 2 usage error.
 */
#ifndef NE_AGENT_CLI_H
#define NE_AGENT_CLI_H

#include <stdio.h>

enum { NE_EXIT_OK = 0, NE_EXIT_FAIL = 1, NE_EXIT_USAGE = 2 };

struct ne_cli_cmd {
    const char *name;    /* "run", "config check", ... */
    const char *summary; /* one line for the command list */
    const char *usage;   /* full help: usage line(s), then options */
    /* argv[0] is the command name, argv[1..argc) its arguments (getopt
     * style). Returns the exit code. */
    int (*run)(int argc, char **argv);
};

/* Runs the command line (argv as main got it). Returns the exit code. */
int ne_cli_main(int argc, char **argv);

/* Prints cmd's usage to f. */
void ne_cli_print_usage(const struct ne_cli_cmd *cmd, FILE *f);

/* Handlers, one per row of the table (agent/cmd_*.c). */
int agent__cmd_run(int argc, char **argv);
int agent__cmd_version(int argc, char **argv);
int agent__cmd_config_check(int argc, char **argv);
int agent__cmd_config_default(int argc, char **argv);
int agent__cmd_config_explain(int argc, char **argv);
int agent__cmd_flush(int argc, char **argv);
int agent__cmd_status(int argc, char **argv);
int agent__cmd_import(int argc, char **argv);
int agent__cmd_query(int argc, char **argv);
int agent__cmd_inspect_wal(int argc, char **argv);
int agent__cmd_inspect_segment(int argc, char **argv);
int agent__cmd_verify(int argc, char **argv);

/* Reports a usage error for the running command ("neoedge CMD: msg" and a
 * hint to --help) and returns NE_EXIT_USAGE. */
int agent__usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
