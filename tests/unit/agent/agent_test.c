/*
 * agent_test.c - unit tests of the agent's parts that run without a
 * daemon: the subcommand dispatcher's exit codes, the health document, the
 * /proc figures, and the admin HTTP server on a free loopback port (real
 * sockets, real libmicrohttpd, requests through libcurl).
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "agent/admin.h"
#include "agent/agent.h"
#include "agent/cli.h"
#include "agent/httpc.h"
#include "agent/procstats.h"
#include "ports/metrics.h"
#include "ports/platform.h"
#include "t.h"

/* Runs the CLI with stdout and stderr sent to /dev/null. */
static int cli(int argc, char **argv)
{
    fflush(stdout);
    fflush(stderr);
    int so = dup(1), se = dup(2);
    FILE *nul = fopen("/dev/null", "w");
    dup2(fileno(nul), 1);
    dup2(fileno(nul), 2);
    int rc = ne_cli_main(argc, argv);
    fflush(stdout);
    fflush(stderr);
    dup2(so, 1);
    dup2(se, 2);
    close(so);
    close(se);
    fclose(nul);
    return rc;
}

static void test_cli_exit_codes(void)
{
    char *version[] = {"neoedge", "version", NULL};
    T_EQ_INT(cli(2, version), NE_EXIT_OK);
    char *help[] = {"neoedge", "--help", NULL};
    T_EQ_INT(cli(2, help), NE_EXIT_OK);
    char *cmd_help[] = {"neoedge", "config", "check", "--help", NULL};
    T_EQ_INT(cli(4, cmd_help), NE_EXIT_OK);
    char *group[] = {"neoedge", "config", NULL};
    T_EQ_INT(cli(2, group), NE_EXIT_USAGE);
    char *unknown[] = {"neoedge", "nosuch", NULL};
    T_EQ_INT(cli(2, unknown), NE_EXIT_USAGE);
    char *extra[] = {"neoedge", "version", "extra", NULL};
    T_EQ_INT(cli(3, extra), NE_EXIT_USAGE);
    char *missing[] = {"neoedge", "config", "check", "/nonexistent/neoedge.yaml", NULL};
    T_EQ_INT(cli(4, missing), NE_EXIT_FAIL);
    char *none[] = {"neoedge", NULL};
    T_EQ_INT(cli(1, none), NE_EXIT_USAGE);
}

static void test_health_json_without_modules(void)
{
    struct ne_agent a;
    memset(&a, 0, sizeof(a));
    char *json = NULL;
    size_t len = 0;
    enum ne_health_status st = NE_HEALTH_FAILING;
    T_OK(ne_agent_health_json(&a, &json, &len, &st));
    T_EQ_INT(st, NE_HEALTH_OK);
    T_EQ_INT(len, strlen(json));
    T_CHECK(strncmp(json, "{\"status\":\"ok\",\"checks\":[]", 26) == 0);
    T_CHECK(strstr(json, ne_agent_version_short()) != NULL);
    ne_free(json);
}

static void test_procstats(void)
{
    T_CHECK(ne_procstats_rss_bytes() > 1024 * 1024);
    T_CHECK(ne_procstats_open_fds() >= 3);
    T_CHECK(ne_procstats_cpu_seconds() >= 0);
    /* Started in the past, and after 2020-01-01. */
    double start = ne_procstats_start_time();
    T_CHECK(start > 1577836800.0);
    T_CHECK(start <= (double)ne_time_wall_ns() / 1e9 + 1);
    T_OK(ne_procstats_register("9.9.9"));
    T_CHECK(ne_metric_find("neoedge_build_info", "version=\"9.9.9\"") != NULL);
}

/* The heap gauges follow a large block in and out (glibc's allocator;
 * AddressSanitizer brings its own, which mallinfo2 does not see). */
static void test_heapstats(void)
{
    /* registered by test_procstats */
    T_CHECK(ne_metric_find("neoedge_heap_in_use_bytes", NULL) != NULL);
    T_CHECK(ne_metric_find("neoedge_heap_free_bytes", NULL) != NULL);
#if !defined(__SANITIZE_ADDRESS__)
    const size_t n = 8u << 20;
    double before = ne_procstats_heap_in_use();
    T_CHECK(before > 0);
    char *p = ne_malloc(n);
    T_CHECK(p != NULL);
    memset(p, 1, n);
    double during = ne_procstats_heap_in_use();
    T_CHECK(during >= before + (double)n);
    T_CHECK(ne_procstats_heap_mmapped() >= 0);
    ne_free(p);
    T_CHECK(ne_procstats_heap_in_use() <= during - (double)n);
    T_CHECK(ne_procstats_heap_free() >= 0);
#endif
}

static void test_base_url(void)
{
    char buf[128];
    agent__http_base_url("0.0.0.0:8086", buf, sizeof(buf));
    T_EQ_STR(buf, "http://127.0.0.1:8086");
    agent__http_base_url("10.1.2.3:9000", buf, sizeof(buf));
    T_EQ_STR(buf, "http://10.1.2.3:9000");
    agent__http_base_url("[::]:8086", buf, sizeof(buf));
    T_EQ_STR(buf, "http://[::1]:8086");
}

static long get(int port, const char *method, const char *path, const char *body,
                struct agent__http_resp *r)
{
    char addr[64], err[256];
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
    memset(r, 0, sizeof(*r));
    if (agent__http_request(method, addr, path, NULL, NULL, body, body ? strlen(body) : 0, 10, r,
                            err, sizeof(err)) != 0)
        return -1;
    return r->status;
}

static void test_admin_server(void)
{
    struct ne_agent a;
    memset(&a, 0, sizeof(a));
    struct ne_admin_opts o = {
        .listen = "127.0.0.1:0",
        .threads = 2,
        .max_body_bytes = 16,
        .default_database = "iot",
        .agent = &a,
    };
    struct ne_admin *ad = NULL;
    T_OK(ne_admin_start(&o, &ad));
    int port = ne_admin_port(ad);
    T_CHECK(port > 0);
    struct agent__http_resp r;
    T_EQ_INT(get(port, "GET", "/ping", NULL, &r), 204);
    agent__http_resp_free(&r);
    T_EQ_INT(get(port, "GET", "/health", NULL, &r), 200);
    T_CHECK(r.body && strstr(r.body, "\"status\":\"ok\""));
    agent__http_resp_free(&r);
    T_EQ_INT(get(port, "GET", "/metrics", NULL, &r), 200);
    T_CHECK(r.body && strstr(r.body, "process_resident_memory_bytes "));
    T_CHECK(r.body && strstr(r.body, "neoedge_http_requests_total{path=\"/ping\"} 1"));
    agent__http_resp_free(&r);
    T_EQ_INT(get(port, "GET", "/nope", NULL, &r), 404);
    agent__http_resp_free(&r);
    T_EQ_INT(get(port, "POST", "/ping", NULL, &r), 405);
    agent__http_resp_free(&r);
    /* 17 bytes against a 16-byte limit: refused before reading. */
    T_EQ_INT(get(port, "POST", "/write?db=x", "m v=1 12345678901", &r), 413);
    agent__http_resp_free(&r);

    /* A second server on the same port is refused. */
    char listen[64];
    snprintf(listen, sizeof(listen), "127.0.0.1:%d", port);
    struct ne_admin_opts o2 = o;
    o2.listen = listen;
    struct ne_admin *ad2 = NULL;
    fflush(stderr);
    T_EQ_INT(ne_admin_start(&o2, &ad2), NE_EADDRINUSE);
    T_CHECK(ad2 == NULL);

    ne_admin_stop(&ad);
    T_CHECK(ad == NULL);
    /* Stopped: the port is free again. */
    o2.listen = listen;
    T_OK(ne_admin_start(&o2, &ad2));
    ne_admin_stop(&ad2);
}

int main(void)
{
    T_RUN(test_cli_exit_codes);
    T_RUN(test_health_json_without_modules);
    T_RUN(test_procstats);
    T_RUN(test_heapstats);
    T_RUN(test_base_url);
    T_RUN(test_admin_server);
    return t_done();
}
