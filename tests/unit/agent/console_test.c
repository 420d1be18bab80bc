/*
 * console_test.c - the parts behind the web console and `neoedge status`:
 * the JSON reader of the CLI, the process uptime, and the admin HTTP
 * server's console routes (/, /console, /api/v1/status) on a free loopback
 * port with a real store in a temporary directory.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/admin.h"
#include "agent/agent.h"
#include "agent/console/console.h"
#include "agent/httpc.h"
#include "agent/jsonr.h"
#include "agent/procstats.h"
#include "config/config.h"
#include "ports/err.h"
#include "ports/platform.h"
#include "t.h"

static struct agent__jv *parse(const char *text)
{
    struct agent__jv *v = NULL;
    char err[128];
    return agent__json_parse(text, strlen(text), &v, err, sizeof err) == 0 ? v : NULL;
}

static void test_json_document(void)
{
    struct agent__jv *v = parse(" {\"status\":\"degraded\",\"n\":-12.5e1,\"ok\":true,\"none\":null,"
                                "\"checks\":[{\"name\":\"mqtt\",\"reason\":\"a \\\"b\\\"\\n\"},"
                                "[]],\"empty\":{}} \n");
    T_CHECK(v != NULL);
    T_EQ_INT(v->kind, AJ_OBJ);
    T_EQ_STR(agent__json_str(agent__json_get(v, "status"), NULL), "degraded");
    T_EQ_DBL(agent__json_num(agent__json_get(v, "n"), 0), -125.0, 0);
    T_CHECK(agent__json_bool(agent__json_get(v, "ok"), false));
    T_EQ_INT(agent__json_get(v, "none")->kind, AJ_NULL);
    const struct agent__jv *checks = agent__json_get(v, "checks");
    T_EQ_INT(checks->kind, AJ_ARR);
    T_EQ_U64(checks->n, 2);
    T_EQ_STR(agent__json_str(agent__json_get(&checks->items[0], "reason"), NULL), "a \"b\"\n");
    T_EQ_INT(checks->items[1].kind, AJ_ARR);
    T_EQ_U64(checks->items[1].n, 0);
    T_EQ_U64(agent__json_get(v, "empty")->n, 0);
    /* Absent keys and wrong kinds give the default. */
    T_CHECK(agent__json_get(v, "missing") == NULL);
    T_EQ_STR(agent__json_str(agent__json_get(v, "n"), "dflt"), "dflt");
    T_EQ_DBL(agent__json_num(NULL, 7), 7, 0);
    agent__json_free(&v);
    T_CHECK(v == NULL);
}

static void test_json_unicode(void)
{
    /* é (2 bytes), € (3 bytes) and U+1F600 from a surrogate pair (4 bytes). */
    struct agent__jv *v = parse("[\"\\u00e9\\u20ac\\ud83d\\ude00\",\"caf\xc3\xa9\"]");
    T_CHECK(v != NULL);
    T_EQ_STR(v->items[0].str, "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
    T_EQ_STR(v->items[1].str, "caf\xc3\xa9");
    agent__json_free(&v);
}

static void test_json_errors(void)
{
    static const char *const bad[] = {
        "",           "{",       "{\"a\" 1}",   "[1,]", "[1 2]", "\"open",   "tru",
        "{\"a\":1}x", "\"\\x\"", "\"\\ud800\"", "-",    "{1:2}", "\"a\tb\"", "[01x]",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct agent__jv *v = NULL;
        char err[128] = "";
        int rc = agent__json_parse(bad[i], strlen(bad[i]), &v, err, sizeof err);
        if (rc != NE_EINVAL) fprintf(stderr, "  accepted: %s\n", bad[i]);
        T_EQ_INT(rc, NE_EINVAL);
        T_CHECK(v == NULL);
        T_CHECK(strncmp(err, "offset ", 7) == 0);
    }
    char err[128];
    struct agent__jv *v = NULL;
    T_EQ_INT(agent__json_parse("[1,]", 4, &v, err, sizeof err), NE_EINVAL);
    T_EQ_STR(err, "offset 3: bad number");
    /* Nesting deeper than 64 levels is refused, 64 is fine. */
    char deep[200];
    memset(deep, '[', 65);
    memset(deep + 65, ']', 65);
    T_EQ_INT(agent__json_parse(deep, 130, &v, err, sizeof err), NE_EINVAL);
    T_OK(agent__json_parse(deep + 1, 128, &v, err, sizeof err));
    agent__json_free(&v);
}

static void test_uptime(void)
{
    double a = ne_procstats_uptime_seconds();
    T_CHECK(a >= 0);
    ne_time_sleep_ns(20 * 1000000LL);
    T_CHECK(ne_procstats_uptime_seconds() >= a);
}

static long request(int port, const char *path, const char *token, struct agent__http_resp *r)
{
    char addr[64], err[256];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
    memset(r, 0, sizeof *r);
    if (agent__http_request("GET", addr, path, token, NULL, NULL, 0, 10, r, err, sizeof err) != 0)
        return -1;
    return r->status;
}

static void test_console_routes(void)
{
    char dir[] = "/tmp/neoedge-console-test-XXXXXX";
    T_CHECK(mkdtemp(dir) != NULL);
    struct ne_config *cfg = NULL;
    char *env[] = {NULL};
    T_OK(ne_config_load(NULL, env, &cfg, NULL));
    struct ne_agent a;
    memset(&a, 0, sizeof a);
    a.cfg = cfg;
    a.data_dir = dir;
    struct ne_store_opts so;
    agent__store_opts(cfg, dir, &so);
    T_OK(ne_store_open(&so, &a.store));
    struct ne_admin_opts o = {
        .listen = "127.0.0.1:0",
        .threads = 1,
        .max_body_bytes = 1 << 20,
        .auth_token = "s3cret",
        .default_database = "iot",
        .agent = &a,
    };
    struct ne_admin *ad = NULL;
    T_OK(ne_admin_start(&o, &ad));
    int port = ne_admin_port(ad);
    struct agent__http_resp r;

    /* The page itself needs no token: it holds no data. */
    T_EQ_INT(request(port, "/console", NULL, &r), 200);
    T_CHECK(agent__console_html_len > 1000);
    T_EQ_U64(r.len, agent__console_html_len);
    T_CHECK(r.body && memcmp(r.body, agent__console_html, r.len) == 0);
    T_CHECK(strstr(r.body, "<script>") && !strstr(r.body, "src=\"http"));
    agent__http_resp_free(&r);
    T_EQ_INT(request(port, "/", NULL, &r), 302);
    agent__http_resp_free(&r);

    /* The status wants the token like /query does. */
    T_EQ_INT(request(port, "/api/v1/status", NULL, &r), 401);
    agent__http_resp_free(&r);
    T_EQ_INT(request(port, "/api/v1/status", "wrong", &r), 401);
    agent__http_resp_free(&r);
    T_EQ_INT(request(port, "/api/v1/status", "s3cret", &r), 200);
    struct agent__jv *st = NULL;
    char err[128];
    T_OK(agent__json_parse(r.body, r.len, &st, err, sizeof err));
    agent__http_resp_free(&r);
    T_EQ_STR(agent__json_str(agent__json_get(st, "role"), NULL), "gateway");
    T_EQ_STR(agent__json_str(agent__json_get(st, "data_dir"), NULL), dir);
    T_CHECK(agent__json_bool(agent__json_get(st, "auth"), false));
    T_CHECK(!agent__json_bool(agent__json_get(st, "cluster"), true));
    T_CHECK(agent__json_num(agent__json_get(st, "uptime_seconds"), -1) >= 0);
    const struct agent__jv *store = agent__json_get(st, "store");
    T_EQ_DBL(agent__json_num(agent__json_get(store, "segments"), -1), 0, 0);
    T_EQ_DBL(agent__json_num(agent__json_get(store, "memtable_budget_bytes"), -1),
             (double)cfg->storage.memtable_bytes, 0);
    agent__json_free(&st);

    /* Auth turned off at reload: the status says so. */
    ne_admin_set_auth_token(ad, NULL);
    T_EQ_INT(request(port, "/api/v1/status", NULL, &r), 200);
    T_OK(agent__json_parse(r.body, r.len, &st, err, sizeof err));
    agent__http_resp_free(&r);
    T_CHECK(!agent__json_bool(agent__json_get(st, "auth"), true));
    agent__json_free(&st);

    ne_admin_stop(&ad);
    ne_store_close(&a.store);
    ne_config_free(&cfg);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    T_EQ_INT(system(cmd), 0);
}

int main(void)
{
    T_RUN(test_json_document);
    T_RUN(test_json_unicode);
    T_RUN(test_json_errors);
    T_RUN(test_uptime);
    T_RUN(test_console_routes);
    return t_done();
}
