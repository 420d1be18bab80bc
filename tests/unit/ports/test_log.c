/*
 * test_log.c - log lines: exact logfmt and JSON layout under an injected
 * wall clock, quoting and escaping, level filtering, long messages, and
 * whole lines from concurrent threads.
 */
#include <fcntl.h>
#include <pthread.h>
#include <unistd.h>

#include "ports/log.h"
#include "ports/platform.h"
#include "ports/ports_internal.h"
#include "t.h"

static char g_dir[256];
static char g_path[300];
static int g_fd = -1;

static int64_t fixed_clock(void *ctx)
{
    return *(int64_t *)ctx;
}

/* Starts capturing log lines into a fresh file. */
static void capture(void)
{
    if (g_fd >= 0) close(g_fd);
    g_fd = open(g_path, O_RDWR | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
    ports__log_set_fd(g_fd);
}

/* Returns what was logged since capture() (caller frees). */
static char *captured(void)
{
    char *data = NULL;
    size_t len = 0;
    if (ne_fs_read_all(g_path, &data, &len) != 0) return NULL;
    return data;
}

static void test_logfmt_line(void)
{
    capture();
    ne_log_set_json(0);
    ne_log_set_level(NE_LOG_INFO);
    ne_log(NE_LOG_INFO, "store", "segment sealed", "id", "42", NULL);
    char *got = captured();
    T_EQ_STR(got,
             "ts=2026-01-01T00:00:00.123Z level=info mod=store msg=\"segment sealed\" id=42\n");
    ne_free(got);
}

static void test_logfmt_quoting(void)
{
    capture();
    ne_log(NE_LOG_WARN, "ingest", "bad", "empty", "", "sp", "a b", "eq", "k=v", "q", "say \"hi\"",
           "nl", "line1\nline2", "bs", "C:\\x", "ctl", "\x01", "bad key", "v", "utf8",
           "caf\xc3\xa9", "null", (const char *)NULL, NULL);
    char *got = captured();
    T_EQ_STR(got, "ts=2026-01-01T00:00:00.123Z level=warn mod=ingest msg=bad empty=\"\" "
                  "sp=\"a b\" eq=\"k=v\" q=\"say \\\"hi\\\"\" nl=\"line1\\nline2\" bs=C:\\x "
                  "ctl=\"\\x01\" bad_key=v utf8=caf\xc3\xa9 null=\"\"\n");
    ne_free(got);
}

static void test_json_line(void)
{
    capture();
    ne_log_set_json(1);
    ne_log(NE_LOG_ERROR, "sync", "upload \"failed\"", "path", "a\\b", "ctl", "\t\x02", NULL);
    ne_log_set_json(0);
    char *got = captured();
    T_EQ_STR(got,
             "{\"ts\":\"2026-01-01T00:00:00.123Z\",\"level\":\"error\",\"mod\":\"sync\","
             "\"msg\":\"upload \\\"failed\\\"\",\"path\":\"a\\\\b\",\"ctl\":\"\\t\\u0002\"}\n");
    ne_free(got);
}

static void test_level_filter_and_logf(void)
{
    capture();
    ne_log_set_level(NE_LOG_WARN);
    T_EQ_INT(ne_log_get_level(), NE_LOG_WARN);
    NE_INFO("m", "hidden %d", 1);
    NE_DEBUG("m", "hidden %d", 2);
    NE_WARN("m", "shown %d of %s", 3, "x");
    ne_log_set_level(NE_LOG_OFF);
    NE_ERROR("m", "hidden too");
    ne_log_set_level(NE_LOG_INFO);
    char *got = captured();
    T_EQ_STR(got, "ts=2026-01-01T00:00:00.123Z level=warn mod=m msg=\"shown 3 of x\"\n");
    ne_free(got);

    enum ne_log_level lvl;
    T_OK(ne_log_level_parse("debug", &lvl));
    T_EQ_INT(lvl, NE_LOG_DEBUG);
    T_OK(ne_log_level_parse("off", &lvl));
    T_EQ_INT(lvl, NE_LOG_OFF);
    T_EQ_INT(ne_log_level_parse("loud", &lvl), NE_EINVAL);
}

static void test_long_message(void)
{
    capture();
    char big[5000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    NE_ERROR("m", "%s", big);
    ne_log(NE_LOG_ERROR, "m", "kv", "big", big, NULL);
    char *got = captured();
    T_CHECK(got != NULL);
    char *nl = strchr(got, '\n');
    T_CHECK(nl != NULL);
    /* "...msg=" + 4999 x + "\n" */
    T_CHECK(strstr(got, "msg=") != NULL);
    T_EQ_INT(nl - strstr(got, "msg=") - 4, 4999);
    char *second = nl + 1;
    T_CHECK(strstr(second, " big=") != NULL);
    T_EQ_INT(strchr(second, '\n') - strstr(second, " big=") - 5, 4999);
    ne_free(got);
}

#define NT    4
#define LINES 200

static void *log_loop(void *arg)
{
    char tid[8], pad[300];
    snprintf(tid, sizeof tid, "%d", (int)(intptr_t)arg);
    memset(pad, 'a' + (int)(intptr_t)arg, sizeof pad - 1);
    pad[sizeof pad - 1] = '\0';
    for (int i = 0; i < LINES; i++)
        ne_log(NE_LOG_INFO, "t", "line", "tid", tid, "pad", pad, NULL);
    return NULL;
}

static void test_concurrent_lines_stay_whole(void)
{
    capture();
    pthread_t th[NT];
    for (intptr_t i = 0; i < NT; i++)
        pthread_create(&th[i], NULL, log_loop, (void *)i);
    for (int i = 0; i < NT; i++)
        pthread_join(th[i], NULL);
    char *got = captured();
    T_CHECK(got != NULL);
    int count[NT] = {0}, lines = 0;
    for (char *line = got; *line;) {
        char *nl = strchr(line, '\n');
        T_CHECK(nl != NULL);
        *nl = '\0';
        int tid = -1;
        const char *t = strstr(line, " tid=");
        T_CHECK(t && strncmp(line, "ts=2026-01-01T00:00:00.123Z level=info", 38) == 0);
        tid = t[5] - '0';
        T_CHECK(tid >= 0 && tid < NT);
        const char *pad = strstr(line, " pad=");
        T_CHECK(pad && strlen(pad + 5) == 299);
        for (int i = 0; i < 299; i++)
            T_CHECK(pad[5 + i] == 'a' + tid);
        count[tid]++;
        lines++;
        line = nl + 1;
    }
    T_EQ_INT(lines, NT * LINES);
    for (int i = 0; i < NT; i++)
        T_EQ_INT(count[i], LINES);
    ne_free(got);
}

int main(void)
{
    if (!t_tmpdir(g_dir, sizeof g_dir)) return 1;
    snprintf(g_path, sizeof g_path, "%s/log", g_dir);
    int64_t now = 1767225600123456789; /* 2026-01-01T00:00:00.123456789Z */
    ne_time_set_wall_clock(fixed_clock, &now);
    T_RUN(test_logfmt_line);
    T_RUN(test_logfmt_quoting);
    T_RUN(test_json_line);
    T_RUN(test_level_filter_and_logf);
    T_RUN(test_long_message);
    T_RUN(test_concurrent_lines_stay_whole);
    ports__log_set_fd(-1);
    ne_time_set_wall_clock(NULL, NULL);
    close(g_fd);
    ne_fs_remove_tree(g_dir);
    return t_done();
}
