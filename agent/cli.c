/*
 * cli.c - the subcommand table and its dispatcher, plus `run` and `version`.
 *
 * Dispatch: the longest table name whose words equal the leading arguments
 * is the command; the remaining arguments go to its handler with argv[0]
 * set to the command name. A bare group word ("config") lists the group's
 * commands. "--help"/"-h" anywhere among a command's arguments prints its
 * usage and exits 0 (before the handler runs, so no side effects).
 *
 * The same table generates the shell completion (`neoedge completion bash`)
 * and the man page (`neoedge man`): command words come from the names, the
 * options (and whether they take a FILE/DIR argument) from the usage text's
 * option lines, which must read "  -s, --long ARG   description".
 */
#include "agent/cli.h"

#include <getopt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <string.h>

#include "agent/agent.h"
#include "agent/cmd_decrypt.h"
#include "agent/daemon.h"
#include "agent/mod_cluster.h"

static int cmd_completion(int argc, char **argv);
static int cmd_man(int argc, char **argv);

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
     "usage: neoedge config check [--explain] FILE\n"
     "\n"
     "Loads and validates FILE (with environment overrides). Prints\n"
     "\"FILE: ok\" and exits 0, or prints the first error as\n"
     "FILE:LINE:COL: KEY: MESSAGE and exits 1.\n"
     "\n"
     "  -e, --explain        then print the effective config, each value with\n"
     "                       where it came from (default, file, env, derived)\n",
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
     "in DATA_DIR (default: data_dir of the config), and in a cluster the\n"
     "hint queues and the tombstones of deletions, and prints a report.\n"
     "Exits 0 if healthy, 1 otherwise. No daemon may be running on it.\n",
     agent__cmd_verify},
    {"status", "summarise a running daemon: health, ingest, store, sinks, cluster",
     "usage: neoedge status [--host HOST:PORT] [--token TOKEN] [--config FILE] [--json]\n"
     "                      [--interval SECONDS]\n"
     "\n"
     "Prints what the web console shows of a running daemon: node, version,\n"
     "uptime, health and the reason of every check, points taken per source\n"
     "and their rate over --interval, rejected points, store figures, sink\n"
     "backlogs and cluster members. Exits 0 when it is ok or degraded, 1 when\n"
     "it is failing, unreachable or refuses the token.\n"
     "\n"
     "  -H, --host HOST:PORT  daemon address (default: http.listen of the config)\n"
     "  -t, --token TOKEN     auth token (default: http.auth_token of the config)\n"
     "  -c, --config FILE     config file for the defaults above\n"
     "  -j, --json            one JSON object instead of text\n"
     "  -i, --interval SECONDS  rate window, 0 to 60 (default 1; 0: no rates)\n",
     agent__cmd_status},
    {"cluster status", "show the members of the cluster a running daemon sees",
     "usage: neoedge cluster status [--host HOST:PORT] [--config FILE] [--json]\n"
     "\n"
     "Prints one line per cluster member as a running daemon sees it\n"
     "(GET /api/v1/cluster): id, address, state (alive, suspect, dead,\n"
     "stopped: down after a graceful stop, keeping its shards; left: left\n"
     "or removed, off the ring), incarnation, and the shards it is primary\n"
     "for and owns; under the table, anti-entropy and shard moves, and the\n"
     "members off the placement ring.\n"
     "Exits 1 when the daemon is unreachable or clustering is off.\n"
     "\n"
     "  -H, --host HOST:PORT  daemon address (default: http.listen of the config)\n"
     "  -c, --config FILE     config file for the default address\n"
     "  -j, --json            print the daemon's JSON answer as is\n",
     agent__cmd_cluster_status},
    {"cluster decommission", "hand a node's shards to the others before it is removed",
     "usage: neoedge cluster decommission [--host HOST:PORT] [--token TOKEN] [--config FILE] NODE\n"
     "\n"
     "Asks the daemon at HOST (any member) to decommission NODE: NODE leaves\n"
     "the placement ring (for good: only a node started again on an empty\n"
     "data directory joins again), keeps serving reads and forwarding writes,\n"
     "and the nodes that now own its shards pull them. `neoedge cluster status`\n"
     "on NODE shows \"decommission: done\" once every shard it held has its\n"
     "full count of copies elsewhere; then it may be stopped.\n"
     "Exits 1 when the daemon is unreachable, refuses the token, or NODE is\n"
     "unknown or not running.\n"
     "\n"
     "  -H, --host HOST:PORT  daemon address (default: http.listen of the config)\n"
     "  -t, --token TOKEN     auth token (default: http.auth_token of the config)\n"
     "  -c, --config FILE     config file for the defaults above\n",
     agent__cmd_cluster_decommission},
    {"cluster remove", "take a member that is down off the placement ring",
     "usage: neoedge cluster remove [--host HOST:PORT] [--token TOKEN] [--config FILE] NODE\n"
     "\n"
     "Asks the daemon at HOST (any member) to remove NODE, a member that is\n"
     "down (dead or stopped) and will not come back soon: every member\n"
     "places shards without it from now on, and the shards it held are\n"
     "copied to their new owners from the live replicas. This is what\n"
     "replication.dead_member_timeout does by itself. If NODE comes back\n"
     "later it rejoins like a restarted node. A running member is refused:\n"
     "decommission it instead.\n"
     "Exits 1 when the daemon is unreachable, refuses the token, or NODE is\n"
     "unknown or running.\n"
     "\n"
     "  -H, --host HOST:PORT  daemon address (default: http.listen of the config)\n"
     "  -t, --token TOKEN     auth token (default: http.auth_token of the config)\n"
     "  -c, --config FILE     config file for the defaults above\n",
     agent__cmd_cluster_remove},
    {"decrypt", "decrypt an object uploaded with encryption at rest",
     "usage: neoedge decrypt [--key-file FILE | --key HEX] [--out PATH] [--force] INPUT\n"
     "\n"
     "Decrypts INPUT, an object sealed by cloud sync's encryption at rest\n"
     "(chunked AES-256-GCM), into PATH (default: INPUT without its \".enc\").\n"
     "Every chunk is authenticated before PATH appears: a wrong key or a\n"
     "truncated or tampered object is reported, exit 1, and nothing is\n"
     "written. The key is 64 hex digits (32 bytes); without --key-file or\n"
     "--key it is read from NEOEDGE_DECRYPT_KEY.\n"
     "\n"
     "  -k, --key-file FILE  file holding the key (whitespace around it ignored)\n"
     "  --key HEX            the key itself (other users may see it in ps)\n"
     "  -o, --out PATH       output file (default: INPUT without \".enc\")\n"
     "  -f, --force          replace PATH if it exists\n",
     agent__cmd_decrypt},
    {"version", "print the version",
     "usage: neoedge version\n"
     "\n"
     "Prints the neoedge version (and the git revision it was built from).\n",
     agent__cmd_version},
    {"completion", "print a shell completion script",
     "usage: neoedge completion bash\n"
     "\n"
     "Prints a bash completion script for neoedge on stdout. Install it as\n"
     "/usr/share/bash-completion/completions/neoedge, or load it now with\n"
     "`source <(neoedge completion bash)`.\n",
     cmd_completion},
    {"man", "print the manual page (roff)",
     "usage: neoedge man\n"
     "\n"
     "Prints the neoedge(1) manual page in roff on stdout, built from this\n"
     "help text. Read it with `neoedge man | man -l -`.\n",
     cmd_man},
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

/* ---- completion and man page ------------------------------------------- */

/* One option parsed from a usage line "  -c, --config FILE   text". */
struct opt_info {
    char names[2][32]; /* "-c", "--config"; empty when absent */
    char arg[24];      /* "FILE", "HOST:PORT"; empty for a flag */
};

/* Copies the token at *p (up to a space, ',' or NUL) into buf; advances. */
static void take_token(const char **p, char *buf, size_t n)
{
    size_t i = 0;
    while (**p && **p != ' ' && **p != ',' && **p != '\n') {
        if (i + 1 < n) buf[i++] = **p;
        (*p)++;
    }
    buf[i] = '\0';
}

/* Parses the option line starting at line (after its two-space indent).
 * Returns false when the line is not an option line. */
static bool parse_opt_line(const char *line, struct opt_info *o)
{
    memset(o, 0, sizeof(*o));
    if (strncmp(line, "  -", 3) != 0) return false;
    const char *p = line + 2;
    int n = 0;
    while (*p == '-' && n < 2) {
        take_token(&p, o->names[n++], sizeof(o->names[0]));
        if (p[0] == ',' && p[1] == ' ') p += 2;
    }
    if (p[0] == ' ' && p[1] != ' ' && p[1] != '\n' && p[1] != '\0') {
        p++;
        take_token(&p, o->arg, sizeof(o->arg));
    }
    return n > 0;
}

/* Calls fn for every option line of a usage text. */
static void each_option(const char *usage, void (*fn)(const struct opt_info *, void *), void *ctx)
{
    for (const char *line = usage; line && *line;) {
        struct opt_info o;
        if (parse_opt_line(line, &o)) fn(&o, ctx);
        line = strchr(line, '\n');
        if (line) line++;
    }
}

/* True when an option's argument names a path, so the shell completes files. */
static bool arg_is_path(const char *arg)
{
    return strncmp(arg, "FILE", 4) == 0 || strcmp(arg, "DIR") == 0 || strcmp(arg, "PATH") == 0;
}

/* Prints the distinct first words of the table (plus "help"). When group
 * is set, the second words of that group instead. */
static void print_words(FILE *f, const char *group)
{
    size_t gl = group ? strlen(group) : 0;
    const char *sep = "";
    for (size_t i = 0; i < NCOMMANDS; i++) {
        const char *name = commands[i].name;
        if (group) {
            if (strncmp(name, group, gl) != 0 || name[gl] != ' ') continue;
            fprintf(f, "%s%s", sep, name + gl + 1);
            sep = " ";
            continue;
        }
        size_t wl = strcspn(name, " ");
        bool seen = false;
        for (size_t j = 0; j < i && !seen; j++)
            seen = strncmp(commands[j].name, name, wl) == 0 &&
                   (commands[j].name[wl] == ' ' || commands[j].name[wl] == '\0');
        if (seen) continue;
        fprintf(f, "%s%.*s", sep, (int)wl, name);
        sep = " ";
    }
    if (!group) fprintf(f, "%shelp", sep);
}

struct word_list {
    FILE *f;
    bool path_args; /* which options to print: path-taking or other-arg */
    bool flags;     /* print every option name instead */
    const char *sep;
    char seen[1024]; /* " name name " already printed (deduplication) */
};

/* True when name was printed before; else remembers it. */
static bool seen_before(struct word_list *w, const char *name)
{
    char key[40];
    snprintf(key, sizeof(key), " %s ", name);
    if (strstr(w->seen, key)) return true;
    size_t used = strlen(w->seen);
    snprintf(w->seen + used, sizeof(w->seen) - used, used ? "%s " : " %s ", name);
    return false;
}

static void print_opt_names(const struct opt_info *o, void *ctx)
{
    struct word_list *w = ctx;
    if (!w->flags) {
        if (!o->arg[0] || arg_is_path(o->arg) != w->path_args) return;
    }
    for (int i = 0; i < 2; i++) {
        if (!o->names[i][0] || (w->flags && o->names[i][1] != '-')) continue;
        if (seen_before(w, o->names[i])) continue;
        fprintf(w->f, "%s%s", w->sep, o->names[i]);
        w->sep = w->flags ? " " : "|";
    }
}

/* Prints the "a|b|c" case pattern of the options (of every command) whose
 * argument is (path_args) or is not a path; "--no-such-option" if none. */
static void print_arg_options(FILE *f, bool path_args)
{
    struct word_list w = {f, path_args, false, "", ""};
    for (size_t i = 0; i < NCOMMANDS; i++)
        each_option(commands[i].usage, print_opt_names, &w);
    if (w.sep[0] == '\0') fputs("--no-such-option", f);
}

static void print_bash_completion(FILE *f)
{
    fputs("# bash completion for neoedge; generated by `neoedge completion bash`.\n"
          "_neoedge() {\n"
          "    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}\n"
          "    local w1=${COMP_WORDS[1]:-} w2=${COMP_WORDS[2]:-} opts=\"\"\n"
          "    COMPREPLY=()\n"
          "    case \"$prev\" in\n    ",
          f);
    print_arg_options(f, true);
    fputs(")\n        COMPREPLY=($(compgen -f -- \"$cur\")); return 0 ;;\n    ", f);
    print_arg_options(f, false);
    fputs(")\n        return 0 ;;\n    esac\n"
          "    if [ \"$COMP_CWORD\" -eq 1 ]; then\n"
          "        COMPREPLY=($(compgen -W \"",
          f);
    print_words(f, NULL);
    fputs(" --help --version\" -- \"$cur\")); return 0\n    fi\n    case \"$w1\" in\n", f);
    for (size_t i = 0; i < NCOMMANDS; i++) {
        const char *name = commands[i].name;
        size_t wl = strcspn(name, " ");
        if (name[wl] == ' ') {
            /* A group: emitted once, at its first row. */
            bool first = true;
            for (size_t j = 0; j < i && first; j++)
                first = strncmp(commands[j].name, name, wl + 1) != 0;
            if (!first) continue;
            fprintf(f,
                    "    %.*s)\n        if [ \"$COMP_CWORD\" -eq 2 ]; then\n"
                    "            COMPREPLY=($(compgen -W \"",
                    (int)wl, name);
            char group[64];
            snprintf(group, sizeof(group), "%.*s", (int)wl, name);
            print_words(f, group);
            fputs("\" -- \"$cur\")); return 0\n        fi\n        case \"$w2\" in\n", f);
            for (size_t j = i; j < NCOMMANDS; j++) {
                if (strncmp(commands[j].name, name, wl + 1) != 0) continue;
                struct word_list w = {f, false, true, "", ""};
                fprintf(f, "        %s) opts=\"", commands[j].name + wl + 1);
                each_option(commands[j].usage, print_opt_names, &w);
                fputs("\" ;;\n", f);
            }
            fputs("        esac ;;\n", f);
            continue;
        }
        struct word_list w = {f, false, true, "", ""};
        fprintf(f, "    %s) opts=\"", name);
        each_option(commands[i].usage, print_opt_names, &w);
        fputs("\" ;;\n", f);
    }
    fputs("    help)\n        COMPREPLY=($(compgen -W \"", f);
    print_words(f, NULL);
    fputs("\" -- \"$cur\")); return 0 ;;\n"
          "    esac\n"
          "    if [[ \"$cur\" == -* ]]; then\n"
          "        COMPREPLY=($(compgen -W \"$opts --help\" -- \"$cur\"))\n"
          "    else\n"
          "        COMPREPLY=($(compgen -f -- \"$cur\"))\n"
          "    fi\n"
          "    return 0\n"
          "}\n"
          "complete -o filenames -F _neoedge neoedge\n",
          f);
}

static int cmd_completion(int argc, char **argv)
{
    if (argc != 2 || strcmp(argv[1], "bash") != 0)
        return agent__usage_error("completion", "expected the shell name: bash");
    print_bash_completion(stdout);
    return NE_EXIT_OK;
}

/* Writes text as roff: backslashes escaped, '-' as \-, and a line that
 * would start with '.' or '\'' protected by \&. Ends with a newline
 * unless inline. */
static void roff_write(FILE *f, const char *text, bool is_inline)
{
    bool bol = true;
    for (const char *p = text; *p; p++) {
        if (bol && (*p == '.' || *p == '\'')) fputs("\\&", f);
        if (*p == '\\')
            fputs("\\e", f);
        else if (*p == '-')
            fputs("\\-", f);
        else
            fputc(*p, f);
        bol = *p == '\n';
    }
    if (!bol && !is_inline) fputc('\n', f);
}

static void roff_text(FILE *f, const char *text)
{
    roff_write(f, text, false);
}

static void print_man_commands(FILE *f)
{
    fputs(".SH COMMANDS\n", f);
    for (size_t i = 0; i < NCOMMANDS; i++) {
        fputs(".SS \"neoedge ", f);
        roff_write(f, commands[i].name, true);
        fputs("\"\n", f);
        roff_text(f, commands[i].summary);
        fputs(".PP\n.nf\n", f);
        roff_text(f, commands[i].usage);
        fputs(".fi\n", f);
    }
    fputs(".SS \"neoedge help\"\n.nf\n", f);
    roff_text(f, help_usage);
    fputs(".fi\n", f);
}

static void print_man(FILE *f)
{
    fputs(".\\\" neoedge(1); generated by `neoedge man` from the command table.\n", f);
    fprintf(f, ".TH NEOEDGE 1 \"\" \"neoedge %s\" \"User Commands\"\n", ne_agent_version());
    fputs(".SH NAME\n"
          "neoedge \\- IoT edge ingest daemon and its command line tools\n"
          ".SH SYNOPSIS\n"
          ".B neoedge\n"
          ".I COMMAND\n"
          "[\\fIARGS\\fR...]\n"
          ".br\n"
          ".B neoedge\n"
          ".I COMMAND\n"
          "\\-\\-help\n"
          ".SH DESCRIPTION\n"
          "neoedge ingests sensor data over MQTT, CoAP and the InfluxDB HTTP write API,\n"
          "keeps it in a local columnar time\\-series store, answers InfluxQL queries\n"
          "and syncs compressed segments to S3 (as Parquet) or to a central neoedge.\n"
          ".PP\n"
          ".B neoedge run\n"
          "is the daemon; the other commands inspect, query and maintain a store\n"
          "or talk to a running daemon over its admin HTTP API.\n",
          f);
    print_man_commands(f);
    fputs(".SH FILES\n"
          ".TP\n.I /etc/neoedge/neoedge.yaml\n"
          "The config file of the packaged service (see \\fBneoedge config default\\fR).\n"
          ".TP\n.I /var/lib/neoedge\n"
          "The data directory of the packaged service: WAL, segments, sync cursors.\n"
          "A LOCK file in it holds the pid of the daemon using it.\n"
          ".TP\n.I /lib/systemd/system/neoedge.service\n"
          "The systemd unit (Type=notify).\n"
          ".SH ENVIRONMENT\n"
          ".TP\n.B NEOEDGE_\\fISECTION\\fB_\\fIKEY\\fR\n"
          "Overrides one config key: nested keys joined by '_', upper\\-cased, e.g.\n"
          "NEOEDGE_STORAGE_DURABILITY=sync or NEOEDGE_HTTP_LISTEN=0.0.0.0:8086; lists\n"
          "are comma\\-separated (NEOEDGE_MQTT_BROKERS=tcp://a:1883,tcp://b:1883).\n"
          "An unknown NEOEDGE_ variable is an error.\n"
          "\\fBneoedge config explain\\fR shows where every value comes from.\n"
          ".TP\n.B NOTIFY_SOCKET\n"
          "Set by systemd: \\fBneoedge run\\fR reports READY=1, RELOADING=1 and\n"
          "STOPPING=1 to it.\n"
          ".SH SIGNALS\n"
          ".TP\n.B SIGTERM, SIGINT\n"
          "Stop gracefully: sources stop accepting, work in flight drains, the store\n"
          "is flushed and closed.\n"
          ".TP\n.B SIGHUP\n"
          "Reload the config file. Invalid files are rejected and the running config\n"
          "stays; log settings and http.auth_token apply at once, other changed keys\n"
          "are logged as needing a restart.\n"
          ".SH EXIT STATUS\n"
          ".TP\n.B 0\nSuccess (for \\fBrun\\fR: a graceful stop).\n"
          ".TP\n.B 1\nFailure: the command failed, or the daemon could not start.\n"
          ".TP\n.B 2\nUsage error.\n"
          ".SH SEE ALSO\n"
          ".BR systemctl (1),\n"
          ".BR journalctl (1)\n",
          f);
}

static int cmd_man(int argc, char **argv)
{
    if (argc > 1) return agent__usage_error("man", "unexpected argument '%s'", argv[1]);
    print_man(stdout);
    return NE_EXIT_OK;
}
