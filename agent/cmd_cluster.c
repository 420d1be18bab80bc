/*
 * cmd_cluster.c - `neoedge cluster status`: what a running daemon sees of
 * its cluster, from GET /api/v1/cluster of its admin HTTP API; and
 * `neoedge cluster decommission` / `remove`, which ask a daemon to take a
 * member off the placement ring.
 *
 * Prints one line per member (id, address, state, incarnation, and the
 * shards it is primary for and owns on the ring of the live members), or
 * with --json the answer as the daemon sent it. The member and ring
 * entries are read back with the exact layout agent__cluster_json writes
 * (mod_cluster.c); node ids never hold quotes or backslashes.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "agent/cli.h"
#include "agent/daemon.h"
#include "agent/httpc.h"
#include "agent/mod_cluster.h"
#include "config/config.h"
#include "ports/err.h"
#include "ports/platform.h"

struct member_row {
    char id[64], addr[64], state[16];
    unsigned long long incarnation;
};

/* Shards node id is primary for / owns, from the "ring" object; 0 when
 * absent (a dead member owns nothing). */
static void ring_counts(const char *body, const char *id, unsigned long long *primary,
                        unsigned long long *owned)
{
    *primary = *owned = 0;
    const char *p = strstr(body, "\"ring\":{");
    p = p ? strstr(p, "\"nodes\":[") : NULL;
    char key[96];
    snprintf(key, sizeof key, "{\"id\":\"%s\",\"primary\":", id);
    p = p ? strstr(p, key) : NULL;
    if (p) (void)sscanf(p + strlen(key), "%llu,\"owned\":%llu", primary, owned);
}

/* Prints the member table; returns the number of members printed. */
static int print_members(const char *body)
{
    const char *p = strstr(body, "\"members\":[");
    if (!p) return 0;
    p += strlen("\"members\":[");
    printf("%-20s %-22s %-8s %-20s %8s %8s\n", "NODE", "ADDRESS", "STATE", "INCARNATION", "PRIMARY",
           "OWNED");
    int n = 0;
    struct member_row m;
    while (*p == '{' && sscanf(p,
                               "{\"id\":\"%63[^\"]\",\"addr\":\"%63[^\"]\",\"state\":\"%15[^\"]\","
                               "\"incarnation\":%llu}",
                               m.id, m.addr, m.state, &m.incarnation) == 4) {
        unsigned long long primary, owned;
        ring_counts(body, m.id, &primary, &owned);
        printf("%-20s %-22s %-8s %-20llu %8llu %8llu\n", m.id, m.addr, m.state, m.incarnation,
               primary, owned);
        n++;
        p = strchr(p, '}');
        if (!p) break;
        p++;
        if (*p == ',') p++;
    }
    return n;
}

/* The shard move line under the table (when the daemon reports it). */
static void print_rebalance(const char *body)
{
    const char *p = strstr(body, "\"rebalance\":{");
    unsigned long long moving, leaving, moves, bytes, points, dropped;
    char dec[16] = "";
    if (!p || sscanf(p,
                     "\"rebalance\":{\"shards_moving\":%llu,\"shards_leaving\":%llu,"
                     "\"moves_completed\":%llu,\"bytes_moved\":%llu,\"points_moved\":%llu,"
                     "\"shards_dropped\":%llu,\"decommission\":\"%15[^\"]\"",
                     &moving, &leaving, &moves, &bytes, &points, &dropped, dec) != 7)
        return;
    printf("shard moves: %llu moving here, %llu kept for new owners; %llu moves done "
           "(%llu points, %llu bytes); %llu copies dropped; decommission: %s\n",
           moving, leaving, moves, points, bytes, dropped, dec);
}

/* Prints the ids of the JSON string array that follows key in p, e.g.
 * "removed":["a","b"], as " a, b"; returns how many. */
static int print_ids(const char *p, const char *key)
{
    const char *q = strstr(p, key);
    if (!q) return 0;
    q += strlen(key);
    int n = 0;
    char id[64];
    while (*q == '"' && sscanf(q, "\"%63[^\"]\"", id) == 1) {
        printf("%s %s", n ? "," : "", id);
        n++;
        q += strlen(id) + 2;
        if (*q == ',') q++;
    }
    return n;
}

/* The members off the placement ring (when the daemon reports them):
 * decommissioned, left or removed, and refused for their node tags. */
static void print_off_ring(const char *body)
{
    static const struct {
        const char *key, *label;
    } kinds[] = {
        {"\"decommissioned\":[", "decommissioned"},
        {"\"removed\":[", "left or removed"},
        {"\"refused\":[", "refused (node tag)"},
    };
    const char *p = strstr(body, "\"rebalance\":{");
    if (!p) return;
    bool any = false;
    for (size_t k = 0; k < sizeof kinds / sizeof *kinds; k++) {
        const char *q = strstr(p, kinds[k].key);
        if (!q || q[strlen(kinds[k].key)] != '"') continue;
        printf("%s %s", any ? ";" : "off the placement ring:", kinds[k].label);
        print_ids(p, kinds[k].key);
        any = true;
    }
    if (any) printf("\n");
}

/* The anti-entropy line under the table (when the daemon reports it). */
static void print_antientropy(const char *body)
{
    const char *p = strstr(body, "\"antientropy\":{");
    unsigned long long iv, rounds, failed, compared, differing, series, points;
    if (!p || sscanf(p,
                     "\"antientropy\":{\"interval_s\":%llu,\"rounds\":%llu,\"rounds_failed\":%llu,"
                     "\"buckets_compared\":%llu,\"buckets_differing\":%llu,"
                     "\"series_differing\":%llu,\"points_repaired\":%llu",
                     &iv, &rounds, &failed, &compared, &differing, &series, &points) != 7)
        return;
    printf("\nanti-entropy: every %llus; rounds %llu (failed %llu); hour buckets compared %llu, "
           "differing %llu; series pulled %llu; points repaired %llu\n",
           iv, rounds, failed, compared, differing, series, points);
}

static int show(const char *addr, bool json)
{
    struct agent__http_resp r = {0};
    char err[512] = "";
    int rc = agent__http_request("GET", addr, "/api/v1/cluster", NULL, NULL, NULL, 0, 30, &r, err,
                                 sizeof err);
    int code = NE_EXIT_FAIL;
    if (rc != 0) {
        fprintf(stderr, "cluster status: %s\n", err[0] ? err : ne_strerror(rc));
    } else if (r.status != 200) {
        fprintf(stderr, "cluster status: HTTP %ld: %s", r.status, r.body ? r.body : "\n");
    } else if (json) {
        fputs(r.body ? r.body : "", stdout);
        code = NE_EXIT_OK;
    } else {
        code = print_members(r.body ? r.body : "") > 0 ? NE_EXIT_OK : NE_EXIT_FAIL;
        if (code == NE_EXIT_OK) print_antientropy(r.body);
        if (code == NE_EXIT_OK) print_rebalance(r.body);
        if (code == NE_EXIT_OK) print_off_ring(r.body);
        if (code != NE_EXIT_OK) fprintf(stderr, "cluster status: unexpected answer\n");
    }
    agent__http_resp_free(&r);
    return code;
}

int agent__cmd_cluster_status(int argc, char **argv)
{
    static const struct option opts[] = {
        {"host", required_argument, NULL, 'H'},
        {"config", required_argument, NULL, 'c'},
        {"json", no_argument, NULL, 'j'},
        {NULL, 0, NULL, 0},
    };
    struct agent__daemon_opts d = {0};
    bool json = false;
    int ch;
    while ((ch = getopt_long(argc, argv, "H:c:j", opts, NULL)) != -1) {
        if (agent__daemon_opt(ch, &d)) continue;
        switch (ch) {
        case 'j':
            json = true;
            break;
        default:
            return agent__usage_error("cluster status", "invalid option");
        }
    }
    if (optind < argc)
        return agent__usage_error("cluster status", "unexpected argument '%s'", argv[optind]);
    struct ne_config *cfg = NULL;
    const char *addr = NULL;
    if (agent__daemon_addr("cluster status", d.host, d.cfg_path, &cfg, &addr) != 0)
        return NE_EXIT_FAIL;
    int code = show(addr, json);
    ne_config_free(&cfg);
    return code;
}

/* Posts NODE to route (…?node=NODE) of the daemon named by the options
 * of `neoedge cluster <what>`; prints done(NODE) on 202, the daemon's
 * error otherwise. Returns the exit code. */
static int post_node(int argc, char **argv, const char *what, const char *route,
                     void (*done)(const char *node))
{
    static const struct option opts[] = {AGENT__DAEMON_LONGOPTS{NULL, 0, NULL, 0}};
    struct agent__daemon_opts d = {0};
    int ch;
    while ((ch = getopt_long(argc, argv, "H:t:c:", opts, NULL)) != -1)
        if (!agent__daemon_opt(ch, &d)) return agent__usage_error(what, "invalid option");
    if (optind + 1 != argc) return agent__usage_error(what, "expected one NODE id");
    const char *node = argv[optind];
    struct ne_config *cfg = NULL;
    const char *addr = NULL;
    if (agent__daemon_addr(what, d.host, d.cfg_path, &cfg, &addr) != 0) return NE_EXIT_FAIL;
    const char *token = d.token;
    if (!token && cfg) token = cfg->http.auth_token;
    char *enc = agent__http_urlencode(node);
    char path[512];
    snprintf(path, sizeof path, "%s?node=%s", route, enc ? enc : "");
    ne_free(enc);
    struct agent__http_resp r = {0};
    char err[512] = "";
    int rc = agent__http_request("POST", addr, path, token, NULL, NULL, 0, 30, &r, err, sizeof err);
    int code = NE_EXIT_FAIL;
    if (rc != 0)
        fprintf(stderr, "%s: %s\n", what, err[0] ? err : ne_strerror(rc));
    else if (r.status != 202)
        fprintf(stderr, "%s: HTTP %ld: %s", what, r.status, r.body ? r.body : "\n");
    else {
        done(node);
        code = NE_EXIT_OK;
    }
    agent__http_resp_free(&r);
    ne_config_free(&cfg);
    return code;
}

static void decommission_done(const char *node)
{
    printf("%s: decommissioning; its shards move to the other nodes. `neoedge cluster status` "
           "on %s shows \"decommission: done\" when it may be stopped.\n",
           node, node);
}

/* `neoedge cluster decommission [--host H] [--token T] NODE`: asks the
 * daemon at H to decommission NODE (POST /api/v1/cluster/decommission);
 * NODE's `cluster status` tells when it is done. */
int agent__cmd_cluster_decommission(int argc, char **argv)
{
    return post_node(argc, argv, "cluster decommission", "/api/v1/cluster/decommission",
                     decommission_done);
}

static void remove_done(const char *node)
{
    printf("%s: removed from the placement ring; its shards are copied to the other nodes from "
           "their live replicas (`neoedge cluster status` shows the moves).\n",
           node);
}

/* `neoedge cluster remove [--host H] [--token T] NODE`: asks the daemon at
 * H to remove NODE, a member that is down (POST /api/v1/cluster/remove). */
int agent__cmd_cluster_remove(int argc, char **argv)
{
    return post_node(argc, argv, "cluster remove", "/api/v1/cluster/remove", remove_done);
}
