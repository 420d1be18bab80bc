/*
 * cmd_status.c - `neoedge status`: a summary of a running daemon, what the
 * web console shows, read from its admin HTTP API:
 *   GET /health          health and the reason of every check
 *   GET /api/v1/status   node, version, uptime, store figures (needs the
 *                        token when the node has one)
 *   GET /metrics         ingest per source, rejected points, sinks; read
 *                        twice --interval apart for the rates
 *   GET /api/v1/cluster  members (when the status says clustering is on)
 *
 * --json prints one object:
 *   {"health":{...as /health},"status":{...as /api/v1/status} or null,
 *    "ingest":{"interval_seconds":1,
 *              "sources":{"http":{"points":N,"values":N,"points_per_second":X}},
 *              "rejected":[{"where":"http","reason":"parse","points":N}]},
 *    "sinks":{"s3":{"type":"s3","backlog_bytes":N,...,
 *                   "errors_total":{"network":N,...}}},
 *    "cluster":{...as /api/v1/cluster} or null}
 * points_per_second is null with --interval 0. Sink figures are the
 * neoedge_sink_* series of /metrics without their prefix; a label other
 * than sink and type makes a nested object keyed by its value.
 *
 * Exit status: 0 when the daemon is ok or degraded, 1 when it is failing,
 * unreachable, or refuses the token.
 */
#include <getopt.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/cli.h"
#include "agent/daemon.h"
#include "agent/httpc.h"
#include "agent/jsonr.h"
#include "agent/sbuf.h"
#include "config/config.h"
#include "ports/err.h"
#include "ports/platform.h"

#define TIMEOUT_S 30

/* ---- /metrics samples ------------------------------------------------------ */

struct sample {
    char name[128];
    char labels[384]; /* as written between the braces, "" for none */
    double v;
};

struct samples {
    struct sample *s;
    size_t n, cap;
};

/* Parses one exposition line "name{labels} value"; false for comments and
 * lines that are not samples. */
static bool parse_sample(const char *line, size_t len, struct sample *out)
{
    if (len == 0 || line[0] == '#') return false;
    size_t i = 0;
    while (i < len && line[i] != '{' && line[i] != ' ')
        i++;
    if (i == 0 || i >= sizeof out->name) return false;
    memcpy(out->name, line, i);
    out->name[i] = '\0';
    out->labels[0] = '\0';
    if (i < len && line[i] == '{') {
        size_t start = ++i;
        bool quoted = false;
        for (; i < len && (quoted || line[i] != '}'); i++) {
            if (line[i] == '\\' && quoted)
                i++;
            else if (line[i] == '"')
                quoted = !quoted;
        }
        if (i >= len || i - start >= sizeof out->labels) return false;
        memcpy(out->labels, line + start, i - start);
        out->labels[i - start] = '\0';
        i++;
    }
    char num[64];
    size_t nl = len - i < sizeof num - 1 ? len - i : sizeof num - 1;
    memcpy(num, line + i, nl);
    num[nl] = '\0';
    char *end = NULL;
    out->v = strtod(num, &end);
    return end != num;
}

static int parse_samples(const char *text, struct samples *out)
{
    const char *p = text;
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        if (out->n == out->cap) {
            size_t cap = out->cap ? out->cap * 2 : 128;
            struct sample *s = ne_realloc(out->s, cap * sizeof *s);
            if (!s) return NE_ENOMEM;
            out->s = s;
            out->cap = cap;
        }
        if (parse_sample(p, len, &out->s[out->n])) out->n++;
        p += len + (nl ? 1 : 0);
    }
    return 0;
}

static void samples_free(struct samples *s)
{
    ne_free(s->s);
    memset(s, 0, sizeof *s);
}

/* The value of label key in labels (`k="v",...`), unescaped into buf;
 * false when absent. */
static bool label(const char *labels, const char *key, char *buf, size_t n)
{
    size_t kl = strlen(key);
    const char *p = labels;
    while (*p) {
        const char *eq = strchr(p, '=');
        if (!eq || eq[1] != '"') return false;
        bool match = (size_t)(eq - p) == kl && strncmp(p, key, kl) == 0;
        size_t o = 0;
        const char *q = eq + 2;
        for (; *q && *q != '"'; q++) {
            char c = *q;
            if (c == '\\' && q[1]) c = *++q == 'n' ? '\n' : *q;
            if (match && o + 1 < n) buf[o++] = c;
        }
        if (match) {
            buf[o] = '\0';
            return true;
        }
        if (!*q) return false;
        p = q + 1;
        if (*p == ',') p++;
    }
    return false;
}

/* Sum of name over the samples whose label key equals val (key NULL: all). */
static double sum_where(const struct samples *ss, const char *name, const char *key,
                        const char *val)
{
    double t = 0;
    char buf[128];
    for (size_t i = 0; i < ss->n; i++) {
        if (strcmp(ss->s[i].name, name) != 0) continue;
        if (key && (!label(ss->s[i].labels, key, buf, sizeof buf) || strcmp(buf, val) != 0))
            continue;
        t += ss->s[i].v;
    }
    return t;
}

/* ---- name lists ------------------------------------------------------------ */

struct names {
    char (*v)[64];
    size_t n, cap;
};

static int names_add(struct names *ns, const char *s)
{
    for (size_t i = 0; i < ns->n; i++)
        if (strcmp(ns->v[i], s) == 0) return 0;
    if (ns->n == ns->cap) {
        size_t cap = ns->cap ? ns->cap * 2 : 8;
        char(*v)[64] = ne_realloc(ns->v, cap * sizeof *v);
        if (!v) return NE_ENOMEM;
        ns->v = v;
        ns->cap = cap;
    }
    snprintf(ns->v[ns->n++], sizeof ns->v[0], "%s", s);
    return 0;
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(a, b);
}

/* The distinct values of label key on the samples named name (or whose
 * name starts with name when prefix), sorted. */
static int label_values(const struct samples *ss, const char *name, bool prefix, const char *key,
                        struct names *out)
{
    char buf[64];
    size_t nl = strlen(name);
    for (size_t i = 0; i < ss->n; i++) {
        const char *sn = ss->s[i].name;
        if (prefix ? strncmp(sn, name, nl) != 0 : strcmp(sn, name) != 0) continue;
        if (!label(ss->s[i].labels, key, buf, sizeof buf)) continue;
        int rc = names_add(out, buf);
        if (rc != 0) return rc;
    }
    if (out->n) qsort(out->v, out->n, sizeof out->v[0], cmp_name);
    return 0;
}

/* ---- fetching -------------------------------------------------------------- */

struct snapshot {
    struct agent__http_resp health, status, cluster;
    struct agent__jv *jhealth, *jstatus, *jcluster;
    struct samples m0, m1; /* /metrics at the start and --interval later */
    double interval_s;     /* 0: no rates */
};

static void snapshot_free(struct snapshot *s)
{
    agent__http_resp_free(&s->health);
    agent__http_resp_free(&s->status);
    agent__http_resp_free(&s->cluster);
    agent__json_free(&s->jhealth);
    agent__json_free(&s->jstatus);
    agent__json_free(&s->jcluster);
    samples_free(&s->m0);
    samples_free(&s->m1);
}

static int get(const char *addr, const char *path, const char *token, struct agent__http_resp *r)
{
    char err[512] = "";
    int rc =
        agent__http_request("GET", addr, path, token, NULL, NULL, 0, TIMEOUT_S, r, err, sizeof err);
    if (rc != 0) fprintf(stderr, "status: %s\n", err[0] ? err : ne_strerror(rc));
    return rc;
}

/* Parses a 200 answer's JSON body; NULL (after saying why) otherwise. */
static struct agent__jv *json_of(const struct agent__http_resp *r, const char *path)
{
    if (r->status != 200 || !r->body) return NULL;
    struct agent__jv *v = NULL;
    char err[128];
    if (agent__json_parse(r->body, r->len, &v, err, sizeof err) != 0)
        fprintf(stderr, "status: %s: the daemon's answer is not JSON (%s)\n", path, err);
    return v;
}

static int get_metrics(const char *addr, struct samples *out)
{
    struct agent__http_resp r = {0};
    int rc = get(addr, "/metrics", NULL, &r);
    if (rc == 0 && r.status != 200) {
        fprintf(stderr, "status: /metrics: HTTP %ld\n", r.status);
        rc = NE_EIO;
    }
    if (rc == 0) rc = parse_samples(r.body ? r.body : "", out);
    agent__http_resp_free(&r);
    return rc;
}

static int fetch(const char *addr, const char *token, double interval_s, struct snapshot *s)
{
    int rc = get(addr, "/health", NULL, &s->health);
    if (rc != 0) return rc;
    if (!(s->jhealth = json_of(&s->health, "/health"))) {
        fprintf(stderr, "status: /health: HTTP %ld: %s", s->health.status,
                s->health.body ? s->health.body : "\n");
        return NE_EIO;
    }
    if ((rc = get(addr, "/api/v1/status", token, &s->status)) != 0) return rc;
    if (s->status.status == 401)
        fprintf(stderr,
                "status: the daemon refused the %s (HTTP 401): give --token or set "
                "http.auth_token\n",
                token && *token ? "token" : "request without a token");
    s->jstatus = json_of(&s->status, "/api/v1/status");
    if (agent__json_bool(agent__json_get(s->jstatus, "cluster"), false)) {
        if ((rc = get(addr, "/api/v1/cluster", NULL, &s->cluster)) != 0) return rc;
        s->jcluster = json_of(&s->cluster, "/api/v1/cluster");
    }
    if ((rc = get_metrics(addr, &s->m0)) != 0) return rc;
    s->interval_s = interval_s;
    if (interval_s > 0) {
        int64_t t0 = ne_time_mono_ns();
        ne_time_sleep_ns((int64_t)(interval_s * 1e9));
        if ((rc = get_metrics(addr, &s->m1)) != 0) return rc;
        s->interval_s = (double)(ne_time_mono_ns() - t0) / 1e9;
    }
    return 0;
}

/* The latest figures: the second /metrics read when there is one. */
static const struct samples *latest(const struct snapshot *s)
{
    return s->interval_s > 0 ? &s->m1 : &s->m0;
}

/* Points per second of source between the two reads; NAN without rates. */
static double source_rate(const struct snapshot *s, const char *src)
{
    if (s->interval_s <= 0) return NAN;
    double d = sum_where(&s->m1, "neoedge_points_accepted_total", "source", src) -
               sum_where(&s->m0, "neoedge_points_accepted_total", "source", src);
    return d > 0 ? d / s->interval_s : 0;
}

/* The sources with counters, and those the status says run (a source that
 * took nothing yet has no counter), sorted. */
static int ingest_sources(const struct snapshot *s, struct names *out)
{
    int rc = label_values(latest(s), "neoedge_points_accepted_total", false, "source", out);
    const struct agent__jv *on = agent__json_get(s->jstatus, "sources");
    for (size_t i = 0; rc == 0 && on && on->kind == AJ_OBJ && i < on->n; i++)
        if (agent__json_bool(&on->items[i], false)) rc = names_add(out, on->keys[i]);
    if (rc == 0 && out->n) qsort(out->v, out->n, sizeof out->v[0], cmp_name);
    return rc;
}

/* ---- human output ------------------------------------------------------------ */

static void fmt_bytes(double v, char *buf, size_t n)
{
    static const char *const unit[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    while (v >= 1024 && u < 4) {
        v /= 1024;
        u++;
    }
    if (u == 0)
        snprintf(buf, n, "%.0f %s", v, unit[u]);
    else
        snprintf(buf, n, "%.1f %s", v, unit[u]);
}

static void fmt_dur(double s, char *buf, size_t n)
{
    if (s < 0 || isnan(s)) {
        snprintf(buf, n, "-");
        return;
    }
    unsigned long long t = (unsigned long long)s;
    unsigned long long d = t / 86400, h = t % 86400 / 3600, m = t % 3600 / 60, sec = t % 60;
    /* The two largest units, the second left out when 0: "3d 4h", "30d". */
    if (d)
        snprintf(buf, n, h ? "%llud %lluh" : "%llud", d, h);
    else if (h)
        snprintf(buf, n, m ? "%lluh %llum" : "%lluh", h, m);
    else if (m)
        snprintf(buf, n, sec ? "%llum %llus" : "%llum", m, sec);
    else
        snprintf(buf, n, "%llus", sec);
}

static void print_header(const struct snapshot *s)
{
    const struct agent__jv *st = s->jstatus;
    if (!st) {
        printf("neoedge %s (node details need the auth token)\n",
               agent__json_str(agent__json_get(s->jhealth, "version"), "?"));
        return;
    }
    char up[32];
    fmt_dur(agent__json_num(agent__json_get(st, "uptime_seconds"), -1), up, sizeof up);
    printf("node %s (%s), neoedge %s, up %s\n", agent__json_str(agent__json_get(st, "node"), "?"),
           agent__json_str(agent__json_get(st, "role"), "?"),
           agent__json_str(agent__json_get(st, "build"), "?"), up);
}

static void print_health(const struct snapshot *s)
{
    printf("health: %s\n", agent__json_str(agent__json_get(s->jhealth, "status"), "?"));
    const struct agent__jv *checks = agent__json_get(s->jhealth, "checks");
    for (size_t i = 0; checks && checks->kind == AJ_ARR && i < checks->n; i++) {
        const struct agent__jv *c = &checks->items[i];
        const char *reason = agent__json_str(agent__json_get(c, "reason"), NULL);
        const char *name = agent__json_str(agent__json_get(c, "name"), "?");
        const char *st = agent__json_str(agent__json_get(c, "status"), "?");
        if (reason)
            printf("  %-10s %-9s %s\n", name, st, reason);
        else
            printf("  %-10s %s\n", name, st);
    }
}

/* True when x counts rejected points (by a source, or by the store) and is
 * above zero; fills where ("http", "store", ...) and reason. */
static bool rejected_sample(const struct sample *x, char *where, size_t nw, char *reason,
                            size_t nr)
{
    bool store = strcmp(x->name, "neoedge_store_points_rejected_total") == 0;
    if (x->v <= 0 || (!store && strcmp(x->name, "neoedge_points_rejected_total") != 0))
        return false;
    if (store)
        snprintf(where, nw, "store");
    else if (!label(x->labels, "source", where, nw))
        snprintf(where, nw, "?");
    if (!label(x->labels, "reason", reason, nr)) snprintf(reason, nr, "?");
    return true;
}

static int print_ingest(const struct snapshot *s)
{
    const struct samples *m = latest(s);
    struct names src = {0};
    int rc = ingest_sources(s, &src);
    if (rc != 0) goto out;
    printf("\n%-12s%14s %14s %12s\n", "ingest", "points", "values", "points/s");
    for (size_t i = 0; i < src.n; i++) {
        double rate = source_rate(s, src.v[i]);
        char r[32];
        if (isnan(rate))
            snprintf(r, sizeof r, "-");
        else
            snprintf(r, sizeof r, "%.1f", rate);
        printf("  %-10s%14.0f %14.0f %12s\n", src.v[i],
               sum_where(m, "neoedge_points_accepted_total", "source", src.v[i]),
               sum_where(m, "neoedge_values_accepted_total", "source", src.v[i]), r);
    }
    bool any = false;
    char where[64], reason[64];
    for (size_t i = 0; i < m->n; i++) {
        const struct sample *x = &m->s[i];
        if (!rejected_sample(x, where, sizeof where, reason, sizeof reason)) continue;
        if (!any) printf("  rejected points:\n");
        any = true;
        printf("    %-10s %-14s %12.0f\n", where, reason, x->v);
    }
    if (!any) printf("  rejected points: none\n");
out:
    ne_free(src.v);
    return rc;
}

static void print_store(const struct snapshot *s)
{
    const struct agent__jv *st = agent__json_get(s->jstatus, "store");
    if (!st || st->kind != AJ_OBJ) {
        printf("\nstore: %s\n", s->jstatus ? "not open" : "needs the auth token");
        return;
    }
#define F(k) agent__json_num(agent__json_get(st, k), 0)
    char seg[32], wal[32], mem[32], budget[32], disk[96], ret[48];
    fmt_bytes(F("segment_bytes"), seg, sizeof seg);
    fmt_bytes(F("wal_bytes"), wal, sizeof wal);
    fmt_bytes(F("memtable_bytes"), mem, sizeof mem);
    fmt_bytes(F("memtable_budget_bytes"), budget, sizeof budget);
    double dbudget = F("disk_budget_bytes"), used = F("segment_bytes") + F("wal_bytes");
    if (dbudget > 0) {
        char b[32], h[32];
        fmt_bytes(dbudget, b, sizeof b);
        fmt_bytes(dbudget > used ? dbudget - used : 0, h, sizeof h);
        snprintf(disk, sizeof disk, "%s (headroom %s)", b, h);
    } else {
        snprintf(disk, sizeof disk, "none");
    }
    if (F("retention_max_age_seconds") > 0) {
        char d[32];
        fmt_dur(F("retention_max_age_seconds"), d, sizeof d);
        snprintf(ret, sizeof ret, "keep %s", d);
    } else {
        snprintf(ret, sizeof ret, "keep forever");
    }
    printf("\nstore\n");
    printf("  %-16s %.0f (%s)\n", "segments", F("segments"), seg);
    printf("  %-16s %s\n", "WAL", wal);
    printf("  %-16s %s of %s\n", "memtable", mem, budget);
    printf("  %-16s %.0f\n", "series", F("series"));
    printf("  %-16s %.0f\n", "points written", F("points_written"));
    printf("  %-16s %s\n", "disk budget", disk);
    printf("  %-16s %s\n", "retention", ret);
    if (agent__json_bool(agent__json_get(st, "disk_full"), false)) printf("  DISK FULL\n");
    if (agent__json_bool(agent__json_get(st, "failed"), false)) printf("  FAILED\n");
#undef F
}

static int print_sinks(const struct snapshot *s)
{
    const struct samples *m = latest(s);
    struct names sinks = {0};
    int rc = label_values(m, "neoedge_sink_", true, "sink", &sinks);
    if (rc != 0 || sinks.n == 0) {
        if (rc == 0) printf("\nsinks: none\n");
        ne_free(sinks.v);
        return rc;
    }
    printf("\nsinks\n  %-12s %-8s %12s %9s %10s %10s %12s %7s\n", "NAME", "TYPE", "BACKLOG",
           "SEGMENTS", "OLDEST", "DELIVERED", "RATE", "ERRORS");
    for (size_t i = 0; i < sinks.n; i++) {
        const char *n = sinks.v[i];
        char type[32] = "?", name[64], backlog[32], oldest[32], rate[40];
        for (size_t k = 0; k < m->n; k++)
            if (strncmp(m->s[k].name, "neoedge_sink_", 13) == 0 &&
                label(m->s[k].labels, "sink", name, sizeof name) && strcmp(name, n) == 0 &&
                label(m->s[k].labels, "type", type, sizeof type))
                break;
        fmt_bytes(sum_where(m, "neoedge_sink_backlog_bytes", "sink", n), backlog, sizeof backlog);
        fmt_dur(sum_where(m, "neoedge_sink_oldest_undelivered_age_seconds", "sink", n), oldest,
                sizeof oldest);
        fmt_bytes(sum_where(m, "neoedge_sink_upload_rate_bytes", "sink", n), rate, sizeof rate);
        strncat(rate, "/s", sizeof rate - strlen(rate) - 1);
        printf("  %-12s %-8s %12s %9.0f %10s %10.0f %12s %7.0f%s\n", n, type, backlog,
               sum_where(m, "neoedge_sink_backlog_segments", "sink", n), oldest,
               sum_where(m, "neoedge_sink_delivered_segments_total", "sink", n), rate,
               sum_where(m, "neoedge_sink_errors_total", "sink", n),
               sum_where(m, "neoedge_sink_failing", "sink", n) > 0 ? "  FAILING" : "");
    }
    ne_free(sinks.v);
    return 0;
}

static void print_cluster(const struct snapshot *s)
{
    const struct agent__jv *members = agent__json_get(s->jcluster, "members");
    if (!members || members->kind != AJ_ARR) {
        if (s->jstatus) printf("\ncluster: off\n");
        return;
    }
    printf("\ncluster: %zu members\n  %-20s %-22s %-8s\n", members->n, "NODE", "ADDRESS", "STATE");
    for (size_t i = 0; i < members->n; i++) {
        const struct agent__jv *mb = &members->items[i];
        printf("  %-20s %-22s %-8s\n", agent__json_str(agent__json_get(mb, "id"), "?"),
               agent__json_str(agent__json_get(mb, "addr"), "?"),
               agent__json_str(agent__json_get(mb, "state"), "?"));
    }
}

static int print_human(const struct snapshot *s)
{
    print_header(s);
    print_health(s);
    int rc = print_ingest(s);
    print_store(s);
    if (rc == 0) rc = print_sinks(s);
    print_cluster(s);
    return rc;
}

/* ---- JSON output ---------------------------------------------------------------- */

static void sb_num(struct agent__sbuf *b, double v)
{
    char num[64];
    if (isnan(v) || isinf(v))
        snprintf(num, sizeof num, "null");
    else if (v == floor(v) && fabs(v) < 1e15)
        snprintf(num, sizeof num, "%.0f", v);
    else
        snprintf(num, sizeof num, "%.6g", v);
    agent__sb_str(b, num);
}

/* A daemon answer as is (without its trailing newline), or null. */
static void sb_raw(struct agent__sbuf *b, const struct agent__http_resp *r, bool ok)
{
    if (!ok || !r->body) {
        agent__sb_str(b, "null");
        return;
    }
    size_t n = r->len;
    while (n && (r->body[n - 1] == '\n' || r->body[n - 1] == '\r'))
        n--;
    agent__sb_put(b, r->body, n);
}

static int json_ingest(struct agent__sbuf *b, const struct snapshot *s)
{
    const struct samples *m = latest(s);
    struct names src = {0};
    int rc = ingest_sources(s, &src);
    agent__sb_str(b, "\"ingest\":{\"interval_seconds\":");
    sb_num(b, s->interval_s);
    agent__sb_str(b, ",\"sources\":{");
    for (size_t i = 0; rc == 0 && i < src.n; i++) {
        agent__sb_str(b, i ? "," : "");
        agent__sb_json(b, src.v[i]);
        agent__sb_str(b, ":{\"points\":");
        sb_num(b, sum_where(m, "neoedge_points_accepted_total", "source", src.v[i]));
        agent__sb_str(b, ",\"values\":");
        sb_num(b, sum_where(m, "neoedge_values_accepted_total", "source", src.v[i]));
        agent__sb_str(b, ",\"points_per_second\":");
        sb_num(b, source_rate(s, src.v[i]));
        agent__sb_str(b, "}");
    }
    agent__sb_str(b, "},\"rejected\":[");
    bool first = true;
    char where[64], reason[64];
    for (size_t i = 0; i < m->n; i++) {
        const struct sample *x = &m->s[i];
        if (!rejected_sample(x, where, sizeof where, reason, sizeof reason)) continue;
        agent__sb_str(b, first ? "{\"where\":" : ",{\"where\":");
        first = false;
        agent__sb_json(b, where);
        agent__sb_str(b, ",\"reason\":");
        agent__sb_json(b, reason);
        agent__sb_str(b, ",\"points\":");
        sb_num(b, x->v);
        agent__sb_str(b, "}");
    }
    agent__sb_str(b, "]}");
    ne_free(src.v);
    return rc;
}

/* The first label of a sink sample other than sink and type (e.g. kind of
 * neoedge_sink_errors_total): its key and value; false when there is none. */
static bool extra_label(const char *labels, char *key, size_t kn, char *val, size_t vn)
{
    const char *p = labels;
    while (*p) {
        const char *eq = strchr(p, '=');
        if (!eq) return false;
        size_t kl = (size_t)(eq - p);
        bool skip = kl == 4 && (strncmp(p, "sink", 4) == 0 || strncmp(p, "type", 4) == 0);
        if (!skip && kl < kn) {
            memcpy(key, p, kl);
            key[kl] = '\0';
            return label(labels, key, val, vn);
        }
        const char *q = eq + 2;
        while (*q && *q != '"')
            q += *q == '\\' && q[1] ? 2 : 1;
        if (!*q) return false;
        p = q + 1;
        if (*p == ',') p++;
    }
    return false;
}

static void json_one_sink(struct agent__sbuf *b, const struct samples *m, const char *sink)
{
    char buf[64], type[32] = "";
    agent__sb_str(b, "{");
    bool first = true;
    /* Plain figures first, then one object per labelled figure (errors by kind). */
    for (int pass = 0; pass < 2; pass++) {
        struct names done = {0};
        for (size_t i = 0; i < m->n; i++) {
            const struct sample *x = &m->s[i];
            if (strncmp(x->name, "neoedge_sink_", 13) != 0 ||
                !label(x->labels, "sink", buf, sizeof buf) || strcmp(buf, sink) != 0)
                continue;
            if (!type[0]) label(x->labels, "type", type, sizeof type);
            char key[32], val[64];
            bool nested = extra_label(x->labels, key, sizeof key, val, sizeof val);
            if (nested != (pass == 1)) continue;
            if (!nested) {
                agent__sb_str(b, first ? "" : ",");
                first = false;
                agent__sb_json(b, x->name + 13);
                agent__sb_str(b, ":");
                sb_num(b, x->v);
                continue;
            }
            size_t before = done.n;
            if (names_add(&done, x->name) != 0 || done.n == before) continue; /* done already */
            agent__sb_str(b, first ? "" : ",");
            first = false;
            agent__sb_json(b, x->name + 13);
            agent__sb_str(b, ":{");
            bool f2 = true;
            for (size_t k = i; k < m->n; k++) {
                const struct sample *y = &m->s[k];
                if (strcmp(y->name, x->name) != 0 || !label(y->labels, "sink", buf, sizeof buf) ||
                    strcmp(buf, sink) != 0 || !label(y->labels, key, val, sizeof val))
                    continue;
                agent__sb_str(b, f2 ? "" : ",");
                f2 = false;
                agent__sb_json(b, val);
                agent__sb_str(b, ":");
                sb_num(b, y->v);
            }
            agent__sb_str(b, "}");
        }
        ne_free(done.v);
    }
    if (type[0]) {
        agent__sb_str(b, first ? "\"type\":" : ",\"type\":");
        agent__sb_json(b, type);
    }
    agent__sb_str(b, "}");
}

static int json_sinks(struct agent__sbuf *b, const struct snapshot *s)
{
    const struct samples *m = latest(s);
    struct names sinks = {0};
    int rc = label_values(m, "neoedge_sink_", true, "sink", &sinks);
    agent__sb_str(b, "\"sinks\":{");
    for (size_t i = 0; rc == 0 && i < sinks.n; i++) {
        agent__sb_str(b, i ? "," : "");
        agent__sb_json(b, sinks.v[i]);
        agent__sb_str(b, ":");
        json_one_sink(b, m, sinks.v[i]);
    }
    agent__sb_str(b, "}");
    ne_free(sinks.v);
    return rc;
}

static int print_json(const struct snapshot *s)
{
    struct agent__sbuf b = {0};
    agent__sb_str(&b, "{\"health\":");
    sb_raw(&b, &s->health, true);
    agent__sb_str(&b, ",\"status\":");
    sb_raw(&b, &s->status, s->jstatus != NULL);
    agent__sb_str(&b, ",");
    int rc = json_ingest(&b, s);
    agent__sb_str(&b, ",");
    if (rc == 0) rc = json_sinks(&b, s);
    agent__sb_str(&b, ",\"cluster\":");
    sb_raw(&b, &s->cluster, s->jcluster != NULL);
    agent__sb_str(&b, "}\n");
    if (rc == 0) rc = b.err;
    if (rc == 0) fputs(b.p, stdout);
    agent__sb_free(&b);
    return rc;
}

/* ---- command ------------------------------------------------------------------- */

struct status_args {
    const char *host, *token, *cfg_path;
    bool json;
    double interval_s;
};

static int parse_args(int argc, char **argv, struct status_args *a)
{
    static const struct option opts[] = {
        {"host", required_argument, NULL, 'H'},     {"token", required_argument, NULL, 't'},
        {"config", required_argument, NULL, 'c'},   {"json", no_argument, NULL, 'j'},
        {"interval", required_argument, NULL, 'i'}, {NULL, 0, NULL, 0},
    };
    a->interval_s = 1;
    int ch;
    while ((ch = getopt_long(argc, argv, "H:t:c:ji:", opts, NULL)) != -1) {
        char *end = NULL;
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
        case 'j':
            a->json = true;
            break;
        case 'i':
            a->interval_s = strtod(optarg, &end);
            if (end == optarg || *end || !(a->interval_s >= 0 && a->interval_s <= 60))
                return agent__usage_error(
                    "status", "--interval wants seconds from 0 to 60, not '%s'", optarg);
            break;
        default:
            return agent__usage_error("status", "invalid option");
        }
    }
    if (optind < argc)
        return agent__usage_error("status", "unexpected argument '%s'", argv[optind]);
    return NE_EXIT_OK;
}

int agent__cmd_status(int argc, char **argv)
{
    struct status_args a = {0};
    int code = parse_args(argc, argv, &a);
    if (code != NE_EXIT_OK) return code;
    struct ne_config *cfg = NULL;
    if (ne_daemon_load_config(a.cfg_path, &cfg) != 0) return NE_EXIT_FAIL;
    const char *addr = a.host ? a.host : cfg->http.listen;
    const char *token = a.token ? a.token : cfg->http.auth_token;
    code = NE_EXIT_FAIL;
    if (!addr || !*addr) {
        fprintf(stderr, "status: no daemon address: give --host or set http.listen\n");
        goto out;
    }
    struct snapshot s;
    memset(&s, 0, sizeof s);
    int rc = fetch(addr, token, a.interval_s, &s);
    if (rc == 0) rc = a.json ? print_json(&s) : print_human(&s);
    if (rc != 0 && rc != NE_EIO) fprintf(stderr, "status: %s\n", ne_strerror(rc));
    const char *health = agent__json_str(agent__json_get(s.jhealth, "status"), "failing");
    if (rc == 0 && s.status.status != 401 && strcmp(health, "failing") != 0) code = NE_EXIT_OK;
    snapshot_free(&s);
out:
    ne_config_free(&cfg);
    return code;
}
