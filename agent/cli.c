/*
 * cli.c - the subcommand table and its dispatcher, plus `run` and `version`.
 *
 * Dispatch: the longest table name whose words equal the leading arguments
 * is the command; the remaining arguments go to its handler with argv[0]
 * set to the command name. A bare group word ("config") lists the group's
 * commands. "--help"/"-h" anywhere among a command's arguments prints its
 * usage and exits 0 (before the handler runs, so no side effects).
 */
#include "agent/cli.h"

#include <getopt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <string.h>

#include "agent/agent.h"
#include "agent/daemon.h"

static const struct ne_cli_cmd commands[] = {
    {"run", "run the daemon in the foreground",
     "usage: neoedge run [--config FILE] [--data-dir DIR]\n"
     "\n"
     "Runs the daemon until SIGTERM or SIGINT. SIGHUP reloads the config.\n"
     "Without --config the embedded default config is used (see\n"
     "`neoedge config default`); NEOEDGE_<SECTION>_<KEY> environment\n"
     "variables override single keys.\n"
     "\n"
     "  -c, --config FILE    YAML config file\n"
     "  -d, --data-dir DIR   data directory (overrides data_dir)\n",
     agent__cmd_run},
    {"config check", "validate a config file",
     "usage: neoedge config check FILE\n"
     "\n"
     "Loads and validates FILE (with environment overrides). Prints\n"
     "\"FILE: ok\" and exits 0, or prints the first error as\n"
     "FILE:LINE:COL: KEY: MESSAGE and exits 1.\n",
     agent__cmd_config_check},
    {"config default", "print the embedded default config",
     "usage: neoedge config default\n"
     "\n"
     "Prints the embedded default config as commented YAML: a starting\n"
     "point for a config file.\n",
     agent__cmd_config_default},
    {"config explain", "print the effective config and where each value comes from",
     "usage: neoedge config explain [FILE]\n"
     "\n"
     "Prints the effective config (FILE or the embedded default, then the\n"
     "environment overrides) with the origin of every value.\n",
     agent__cmd_config_explain},
    {"flush", "seal the in-memory data into segments",
     "usage: neoedge flush [--host HOST:PORT] [--token TOKEN] [--config FILE]\n"
     "       neoedge flush --data-dir DIR [--config FILE]\n"
     "\n"
     "Asks a running daemon (POST /api/v1/flush) to seal its memtables, or,\n"
     "with --data-dir, opens that store itself (no daemon may be running on\n"
     "it) and flushes it.\n"
     "\n"
     "  -H, --host HOST:PORT  daemon address (default: http.listen of the config)\n"
     "  -t, --token TOKEN     auth token (default: http.auth_token of the config)\n"
     "  -c, --config FILE     config file for the defaults above\n"
     "  -d, --data-dir DIR    flush the store in DIR directly\n",
     agent__cmd_flush},
    {"import", "load line protocol from a file or stdin into a store",
     "usage: neoedge import [--db DB] [--precision P] [--data-dir DIR] [--config FILE] FILE|-\n"
     "\n"
     "Decodes InfluxDB line protocol from FILE (or stdin with -) and writes\n"
     "it to the store in batches of 5,000 points, printing progress on\n"
     "stderr. The store must not be in use by a running daemon.\n"
     "\n"
     "  --db DB               database (default: default_database of the config)\n"
     "  -p, --precision P     timestamp unit: ns (default), us, ms, s, m, h\n"
     "  -d, --data-dir DIR    data directory (default: data_dir of the config)\n"
     "  -c, --config FILE     config file\n",
     agent__cmd_import},
    {"query", "run an InfluxQL query",
     "usage: neoedge query [--host HOST:PORT | --data-dir DIR] [--db DB] [--format F] QUERY\n"
     "\n"
     "Runs QUERY (InfluxQL; several statements separated by ';') against a\n"
     "running daemon (GET /query), or, with --data-dir, against the store in\n"
     "DIR opened here (no daemon may be running on it).\n"
     "\n"
     "  -H, --host HOST:PORT  daemon address (default: http.listen of the config)\n"
     "  -t, --token TOKEN     auth token (default: http.auth_token of the config)\n"
     "  -d, --data-dir DIR    query the store in DIR directly\n"
     "  --db DB               database (default: default_database of the config)\n"
     "  --format F            table (default), json or csv\n"
     "  --epoch U             times as integers in unit U (ns, u, ms, s, m, h)\n"
     "  --pretty              indent JSON\n"
     "  -c, --config FILE     config file for the defaults above\n",
     agent__cmd_query},
    {"inspect wal", "print the records of a WAL file",
     "usage: neoedge inspect wal PATH\n"
     "\n"
     "Prints every record of the WAL file PATH. Exits 1 if the file has a\n"
     "torn tail or is corrupt (the report says where).\n",
     agent__cmd_inspect_wal},
    {"inspect segment", "print the layout of a segment file",
     "usage: neoedge inspect segment PATH\n"
     "\n"
     "Prints the header, columns and blocks of the segment file PATH.\n"
     "Exits 1 if it does not verify.\n",
     agent__cmd_inspect_segment},
    {"verify", "check a data dir offline",
     "usage: neoedge verify [--config FILE] [DATA_DIR]\n"
     "\n"
     "Checks the series log, every WAL file and every segment of the store\n"
     "in DATA_DIR (default: data_dir of the config) and prints a report.\n"
     "Exits 0 if healthy, 1 otherwise. No daemon may be running on it.\n",
     agent__cmd_verify},
    {"status", "show the health of a running daemon",
     "usage: neoedge status [--host HOST:PORT] [--config FILE]\n"
     "\n"
     "Prints GET /health of a running daemon. Exits 0 when it is ok or\n"
     "degraded, 1 when it is failing or unreachable.\n"
     "\n"
     "  -H, --host HOST:PORT  daemon address (default: http.listen of the config)\n"
     "  -c, --config FILE     config file for the default address\n",
     agent__cmd_status},
    {"version", "print the version",
     "usage: neoedge version\n"
     "\n"
     "Prints the neoedge version (and the git revision it was built from).\n",
     agent__cmd_version},
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static const char *const help_usage = "usage: neoedge help [COMMAND...]\n"
                                      "\n"
                                      "Prints the help of COMMAND, or the list of commands.\n";

void ne_cli_print_usage(const struct ne_cli_cmd *cmd, FILE *f)
{
    fputs(cmd->usage, f);
}

static void print_overview(FILE *f, const char *group)
{
    fprintf(f, "neoedge %s - IoT edge ingest daemon\n\n", ne_agent_version());
    fprintf(f, "usage: neoedge COMMAND [ARGS...]\n\ncommands:\n");
    size_t gl = group ? strlen(group) : 0;
    for (size_t i = 0; i < NCOMMANDS; i++) {
        if (group && (strncmp(commands[i].name, group, gl) != 0 || commands[i].name[gl] != ' '))
            continue;
        fprintf(f, "  %-16s %s\n", commands[i].name, commands[i].summary);
    }
    if (!group) fprintf(f, "  %-16s %s\n", "help", "show the help of a command");
    fprintf(f, "\nRun `neoedge COMMAND --help` for the options of a command.\n");
}

/* How many leading words of argv match name ("config check" vs argv). 0 if
 * the name does not match entirely. */
static int match_words(const char *name, int argc, char **argv)
{
    int words = 0;
    const char *p = name;
    while (*p) {
        const char *sp = strchr(p, ' ');
        size_t n = sp ? (size_t)(sp - p) : strlen(p);
        if (words >= argc || strlen(argv[words]) != n || strncmp(argv[words], p, n) != 0) return 0;
        words++;
        p += n;
        while (*p == ' ')
            p++;
    }
    return words;
}

static const struct ne_cli_cmd *find_command(int argc, char **argv, int *nwords)
{
    const struct ne_cli_cmd *best = NULL;
    int best_words = 0;
    for (size_t i = 0; i < NCOMMANDS; i++) {
        int w = match_words(commands[i].name, argc, argv);
        if (w > best_words) {
            best = &commands[i];
            best_words = w;
        }
    }
    *nwords = best_words;
    return best;
}

/* True when word is the first word of a multi-word command ("config"). */
static bool is_group(const char *word)
{
    size_t n = strlen(word);
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (strncmp(commands[i].name, word, n) == 0 && commands[i].name[n] == ' ') return true;
    return false;
}

static bool wants_help(int argc, char **argv)
{
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0) return false;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) return true;
    }
    return false;
}

int agent__usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "neoedge %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nRun `neoedge %s --help` for usage.\n", cmd);
    return NE_EXIT_USAGE;
}

static int cmd_help(int argc, char **argv)
{
    if (argc == 0) {
        print_overview(stdout, NULL);
        return NE_EXIT_OK;
    }
    if (strcmp(argv[0], "help") == 0) {
        fputs(help_usage, stdout);
        return NE_EXIT_OK;
    }
    int words = 0;
    const struct ne_cli_cmd *c = find_command(argc, argv, &words);
    if (c && words == argc) {
        ne_cli_print_usage(c, stdout);
        return NE_EXIT_OK;
    }
    if (argc == 1 && is_group(argv[0])) {
        print_overview(stdout, argv[0]);
        return NE_EXIT_OK;
    }
    fprintf(stderr, "neoedge help: unknown command '%s'\n", argv[0]);
    return NE_EXIT_USAGE;
}

int ne_cli_main(int argc, char **argv)
{
    if (argc < 2) {
        print_overview(stderr, NULL);
        return NE_EXIT_USAGE;
    }
    char **args = argv + 1;
    int nargs = argc - 1;
    if (strcmp(args[0], "--help") == 0 || strcmp(args[0], "-h") == 0) return cmd_help(0, NULL);
    if (strcmp(args[0], "--version") == 0) return agent__cmd_version(1, args);
    if (strcmp(args[0], "help") == 0) {
        if (wants_help(nargs - 1, args + 1)) return cmd_help(1, args);
        return cmd_help(nargs - 1, args + 1);
    }
    int words = 0;
    const struct ne_cli_cmd *c = find_command(nargs, args, &words);
    if (!c) {
        if (is_group(args[0])) {
            bool help = wants_help(nargs - 1, args + 1);
            if (!help && nargs > 1)
                fprintf(stderr, "neoedge %s: unknown command '%s'\n\n", args[0], args[1]);
            print_overview(help ? stdout : stderr, args[0]);
            return help ? NE_EXIT_OK : NE_EXIT_USAGE;
        }
        fprintf(stderr, "neoedge: unknown command '%s'\nRun `neoedge --help` for the list.\n",
                args[0]);
        return NE_EXIT_USAGE;
    }
    /* The handler sees argv[0] = the command name (the last word, which
     * getopt only uses in messages) followed by its arguments. */
    char **sub = args + words - 1;
    int nsub = nargs - words + 1;
    if (wants_help(nsub - 1, sub + 1)) {
        ne_cli_print_usage(c, stdout);
        return NE_EXIT_OK;
    }
    optind = 1;
    opterr = 1;
    return c->run(nsub, sub);
}

/* ---- run / version ------------------------------------------------------- */

int agent__cmd_run(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"data-dir", required_argument, NULL, 'd'},
        {NULL, 0, NULL, 0},
    };
    struct ne_daemon_opts o = {0};
    int ch;
    while ((ch = getopt_long(argc, argv, "c:d:", opts, NULL)) != -1) {
        switch (ch) {
        case 'c':
            o.config_path = optarg;
            break;
        case 'd':
            o.data_dir = optarg;
            break;
        default:
            return agent__usage_error("run", "invalid option");
        }
    }
    if (optind < argc) return agent__usage_error("run", "unexpected argument '%s'", argv[optind]);
    return ne_daemon_run(&o);
}

int agent__cmd_version(int argc, char **argv)
{
    if (argc > 1) return agent__usage_error("version", "unexpected argument '%s'", argv[1]);
    printf("neoedge %s\n", ne_agent_version());
    return NE_EXIT_OK;
}
