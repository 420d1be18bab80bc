/*
 * cmd_query.c - `neoedge query`: InfluxQL against a running daemon
 * (GET /query) or, with --data-dir, against a store opened here.
 *
 * Output formats: table (aligned text, the default), json (InfluxDB's
 * /query document), csv (InfluxDB's CSV). Remotely the format is chosen with
 * the Accept header the daemon's /query understands.
 */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "agent/agent.h"
#include "agent/cli.h"
#include "agent/daemon.h"
#include "agent/httpc.h"
#include "config/config.h"
#include "ports/platform.h"
#include "store/query/query.h"
#include "store/store.h"

struct query_args {
    const char *host, *token, *cfg_path, *dir, *db, *epoch, *text;
    enum ne_qfmt format;
    bool pretty;
};

static int parse_format(const char *s, enum ne_qfmt *out)
{
    if (strcmp(s, "table") == 0)
        *out = NE_QFMT_TABLE;
    else if (strcmp(s, "json") == 0)
        *out = NE_QFMT_JSON;
    else if (strcmp(s, "csv") == 0)
        *out = NE_QFMT_CSV;
    else
        return NE_EINVAL;
    return 0;
}

static int query_parse_args(int argc, char **argv, struct query_args *a)
{
    static const struct option opts[] = {
        {"host", required_argument, NULL, 'H'},
        {"token", required_argument, NULL, 't'},
        {"config", required_argument, NULL, 'c'},
        {"data-dir", required_argument, NULL, 'd'},
        {"db", required_argument, NULL, 'b'},
        {"format", required_argument, NULL, 'f'},
        {"epoch", required_argument, NULL, 'e'},
        {"pretty", no_argument, NULL, 'P'},
        {NULL, 0, NULL, 0},
    };
    a->format = NE_QFMT_TABLE;
    int ch;
    while ((ch = getopt_long(argc, argv, "H:t:c:d:b:f:e:", opts, NULL)) != -1) {
        switch (ch) {
        case 'H':
            a->host = optarg;
            break;
        case 't':
            a->token = optarg;
            break;
        case 'c':
            a->cfg_path = optarg;
            break;
        case 'd':
            a->dir = optarg;
            break;
        case 'b':
            a->db = optarg;
            break;
        case 'f':
            if (parse_format(optarg, &a->format) != 0)
                return agent__usage_error("query", "unknown format '%s' (table, json, csv)",
                                          optarg);
            break;
        case 'e':
            a->epoch = optarg;
            break;
        case 'P':
            a->pretty = true;
            break;
        default:
            return agent__usage_error("query", "invalid option");
        }
    }
    if (optind + 1 != argc)
        return agent__usage_error("query", optind == argc ? "missing QUERY"
                                                          : "too many arguments "
                                                            "(quote the query)");
    if (a->host && a->dir)
        return agent__usage_error("query", "--host and --data-dir exclude each other");
    a->text = argv[optind];
    return 0;
}

static int emit_stdout(void *ctx, const char *p, size_t n)
{
    return fwrite(p, 1, n, stdout) == n ? 0 : NE_EIO;
}

static int query_local(const struct ne_config *cfg, const struct query_args *a)
{
    int lock_fd = -1;
    struct ne_store *s = NULL;
    if (agent__open_store_locked(cfg, a->dir, &lock_fd, &s) != 0) return NE_EXIT_FAIL;
    struct ne_qwriter_opts wo = {
        .format = a->format,
        .epoch = a->epoch,
        .pretty = a->pretty,
        .emit = emit_stdout,
    };
    struct ne_qwriter *w = NULL;
    int rc = ne_qwriter_new(&wo, &w);
    if (rc == 0) {
        struct ne_qsrc src;
        ne_store_qsrc(s, &src);
        struct ne_query_opts qo = {.db = a->db ? a->db : cfg->default_database,
                                   .now_ns = ne_time_wall_ns()};
        rc = ne_query_text(&src, &qo, a->text, strlen(a->text), ne_qwriter_out(w));
        if (rc == 0) rc = ne_qwriter_finish(w);
        ne_qwriter_free(&w);
    }
    ne_store_close(&s);
    ne_fs_unlock_dir(lock_fd);
    if (rc != 0) {
        fprintf(stderr, "query: %s\n", ne_strerror(rc));
        return NE_EXIT_FAIL;
    }
    return NE_EXIT_OK;
}

static const char *accept_of(enum ne_qfmt f)
{
    return f == NE_QFMT_CSV     ? "application/csv"
           : f == NE_QFMT_TABLE ? "text/plain"
                                : "application/json";
}

static int query_remote(const struct ne_config *cfg, const struct query_args *a)
{
    const char *db = a->db ? a->db : cfg->default_database;
    char *q = agent__http_urlencode(a->text);
    char *d = agent__http_urlencode(db ? db : "");
    char *e = agent__http_urlencode(a->epoch ? a->epoch : "");
    int code = NE_EXIT_FAIL;
    char *path = NULL;
    if (!q || !d || !e) goto out;
    size_t n = strlen(q) + strlen(d) + strlen(e) + 64;
    path = ne_malloc(n);
    if (!path) goto out;
    snprintf(path, n, "/query?db=%s&q=%s%s%s%s", d, q, a->epoch ? "&epoch=" : "", e,
             a->pretty ? "&pretty=true" : "");
    struct agent__http_resp r = {0};
    char err[512] = "";
    const char *host = a->host ? a->host : cfg->http.listen;
    if (!host || !*host) {
        fprintf(stderr, "query: no daemon address: give --host or set http.listen\n");
        goto out;
    }
    int rc = agent__http_request("GET", host, path, a->token ? a->token : cfg->http.auth_token,
                                 accept_of(a->format), NULL, 0, 300, &r, err, sizeof(err));
    if (rc != 0) {
        fprintf(stderr, "query: %s\n", err[0] ? err : ne_strerror(rc));
        goto out;
    }
    if (r.status == 200) {
        fputs(r.body ? r.body : "", stdout);
        code = NE_EXIT_OK;
    } else {
        fprintf(stderr, "query: HTTP %ld %s\n", r.status, r.body ? r.body : "");
    }
    agent__http_resp_free(&r);
out:
    ne_free(path);
    ne_free(q);
    ne_free(d);
    ne_free(e);
    return code;
}

int agent__cmd_query(int argc, char **argv)
{
    struct query_args a = {0};
    int code = query_parse_args(argc, argv, &a);
    if (code != 0) return code;
    struct ne_config *cfg = NULL;
    if (ne_daemon_load_config(a.cfg_path, &cfg) != 0) return NE_EXIT_FAIL;
    code = a.dir ? query_local(cfg, &a) : query_remote(cfg, &a);
    ne_config_free(&cfg);
    return code;
}
