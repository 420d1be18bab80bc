/*
 * parse_test.c - the scalar grammars of config/: durations, sizes, formats,
 * ${VAR} expansion and the edit distance behind "did you mean".
 */
#include "config/config.h"
#include "config/internal.h"
#include "t.h"

static int64_t dur(const char *s)
{
    int64_t v = -1;
    return ne_config_parse_duration(s, &v) == 0 ? v : -1;
}

static void test_duration_units(void)
{
    T_EQ_INT(dur("0"), 0);
    T_EQ_INT(dur("10ns"), 10);
    T_EQ_INT(dur("250us"), 250000);
    T_EQ_INT(dur("250\xc2\xb5s"), 250000);
    T_EQ_INT(dur("100ms"), 100000000);
    T_EQ_INT(dur("10s"), 10000000000LL);
    T_EQ_INT(dur("5m"), 300000000000LL);
    T_EQ_INT(dur("3h"), 3LL * 3600 * 1000000000LL);
    T_EQ_INT(dur("30d"), 30LL * 86400 * 1000000000LL);
    T_EQ_INT(dur("2w"), 14LL * 86400 * 1000000000LL);
    T_EQ_INT(dur("0s"), 0);
    T_EQ_INT(dur("0ms"), 0);
}

static void test_duration_compound_and_fraction(void)
{
    T_EQ_INT(dur("1h30m"), 90LL * 60 * 1000000000LL);
    T_EQ_INT(dur("1m30s500ms"), 90500000000LL);
    T_EQ_INT(dur("1.5s"), 1500000000LL);
    T_EQ_INT(dur("0.25h"), 900LL * 1000000000LL);
    T_EQ_INT(dur(".5s"), 500000000LL);
    T_EQ_INT(dur("1.000000001s"), 1000000001LL);
    /* digits past nanosecond precision of the unit are dropped, not rounded up */
    T_EQ_INT(dur("1.0000000019s"), 1000000001LL);
}

static void test_duration_rejects(void)
{
    const char *bad[] = {"",   "5",    "100", "ms",    "-1s", "1.5", "1x",    "1 s", " 1s",  "1s ",
                         "1S", "1sec", "1m-", "1..5s", "s1",  "1hh", "0x10s", "+1s", "1e3s", NULL};
    for (int i = 0; bad[i]; i++) {
        int64_t v = 42;
        int rc = ne_config_parse_duration(bad[i], &v);
        if (rc != NE_EINVAL) T_FAIL_("'%s' gave %d", bad[i], rc);
        T_EQ_INT(v, 42); /* untouched on failure */
    }
    T_EQ_INT(ne_config_parse_duration(NULL, &(int64_t){0}), NE_EINVAL);
}

static void test_duration_overflow(void)
{
    int64_t v;
    /* INT64_MAX ns is a little over 106751 days */
    T_OK(ne_config_parse_duration("106751d", &v));
    T_EQ_INT(v, 106751LL * 86400 * 1000000000LL);
    T_EQ_INT(ne_config_parse_duration("106752d", &v), NE_ERANGE);
    T_EQ_INT(ne_config_parse_duration("99999999999999999999s", &v), NE_ERANGE);
    T_EQ_INT(ne_config_parse_duration("106751d106751d", &v), NE_ERANGE);
    T_OK(ne_config_parse_duration("9223372036854775807ns", &v));
    T_EQ_INT(v, INT64_MAX);
    T_EQ_INT(ne_config_parse_duration("9223372036854775808ns", &v), NE_ERANGE);
}

static uint64_t size(const char *s)
{
    uint64_t v = UINT64_MAX;
    return ne_config_parse_size(s, &v) == 0 ? v : UINT64_MAX;
}

static void test_size_units(void)
{
    T_EQ_U64(size("0"), 0);
    T_EQ_U64(size("1024"), 1024);
    T_EQ_U64(size("10B"), 10);
    T_EQ_U64(size("512KiB"), 512 * 1024);
    T_EQ_U64(size("64MiB"), 64ULL << 20);
    T_EQ_U64(size("2GiB"), 2ULL << 30);
    T_EQ_U64(size("1TiB"), 1ULL << 40);
    T_EQ_U64(size("1KB"), 1000);
    T_EQ_U64(size("1MB"), 1000000);
    T_EQ_U64(size("1GB"), 1000000000ULL);
    T_EQ_U64(size("3TB"), 3000000000000ULL);
    T_EQ_U64(size("16mib"), 16ULL << 20);
    T_EQ_U64(size("1.5KiB"), 1536);
    T_EQ_U64(size("0.5GiB"), 512ULL << 20);
}

static void test_size_rejects(void)
{
    const char *bad[] = {"",   "16M", "1.5",  "-1", "KiB",  "1 KiB", "1KiBs",
                         "1k", "1e3", "0x10", " 1", "1PiB", NULL};
    for (int i = 0; bad[i]; i++) {
        uint64_t v = 42;
        int rc = ne_config_parse_size(bad[i], &v);
        if (rc != NE_EINVAL) T_FAIL_("'%s' gave %d", bad[i], rc);
        T_EQ_U64(v, 42);
    }
    uint64_t v;
    T_EQ_INT(ne_config_parse_size("99999999999TiB", &v), NE_ERANGE);
    T_EQ_INT(ne_config_parse_size("99999999999999999999", &v), NE_ERANGE);
}

/* Formatting picks the largest exact unit and parses back to the value. */
static void test_format_roundtrip(void)
{
    const int64_t durs[] = {0,
                            1,
                            999,
                            1000,
                            1500000,
                            100000000,
                            1000000000LL,
                            90000000000LL,
                            3600000000000LL,
                            86400000000000LL,
                            1234567891011LL,
                            INT64_MAX};
    char buf[64];
    for (size_t i = 0; i < sizeof durs / sizeof durs[0]; i++) {
        int64_t back = -1;
        config__fmt_duration(durs[i], buf, sizeof buf);
        T_OK(ne_config_parse_duration(buf, &back));
        T_EQ_INT(back, durs[i]);
    }
    config__fmt_duration(100000000, buf, sizeof buf);
    T_EQ_STR(buf, "100ms");
    config__fmt_duration(90LL * 60 * 1000000000LL, buf, sizeof buf);
    T_EQ_STR(buf, "90m");
    const uint64_t sizes[] = {0,           1,          1000,       1024,     1536,
                              16ULL << 20, 5ULL << 30, 1ULL << 40, 123456789};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        uint64_t back = 1;
        config__fmt_size(sizes[i], buf, sizeof buf);
        T_OK(ne_config_parse_size(buf, &back));
        T_EQ_U64(back, sizes[i]);
    }
    config__fmt_size(16ULL << 20, buf, sizeof buf);
    T_EQ_STR(buf, "16MiB");
    config__fmt_size(1536, buf, sizeof buf);
    T_EQ_STR(buf, "1536");
}

static void test_formats(void)
{
    const char *names[] = {"auto", "line", "json", "senml-json", "senml-cbor", "cbor", "raw"};
    for (int i = 0; i < 7; i++) {
        enum ne_format f;
        T_OK(ne_format_parse(names[i], &f));
        T_EQ_STR(ne_format_name(f), names[i]);
    }
    enum ne_format f = NE_FMT_RAW;
    T_OK(ne_format_parse("SenML-JSON", &f));
    T_EQ_INT(f, NE_FMT_SENML_JSON);
    T_EQ_INT(ne_format_parse("xml", &f), NE_EINVAL);
    T_EQ_INT(ne_format_parse(NULL, &f), NE_EINVAL);
    T_EQ_INT(f, NE_FMT_SENML_JSON);
}

static void test_bool_and_ints(void)
{
    bool b = false;
    T_OK(config__parse_bool("YES", &b));
    T_CHECK(b);
    T_OK(config__parse_bool("off", &b));
    T_CHECK(!b);
    T_EQ_INT(config__parse_bool("1", &b), NE_EINVAL);
    int64_t i;
    T_OK(config__parse_int("-12", &i));
    T_EQ_INT(i, -12);
    T_EQ_INT(config__parse_int("12a", &i), NE_EINVAL);
    T_EQ_INT(config__parse_int("", &i), NE_EINVAL);
    T_EQ_INT(config__parse_int("99999999999999999999", &i), NE_ERANGE);
    uint64_t u;
    T_EQ_INT(config__parse_u64("-1", &u), NE_ERANGE);
    T_EQ_INT(config__parse_u64("x", &u), NE_EINVAL);
    T_OK(config__parse_u64("1000000", &u));
    T_EQ_U64(u, 1000000);
}

static void test_expand(void)
{
    char *const env[] = {"HOST=gw1", "EMPTY=", "A_B9=x", NULL};
    char *out = NULL, msg[256];
    T_OK(config__expand("${HOST}:8086", env, &out, msg, sizeof msg));
    T_EQ_STR(out, "gw1:8086");
    ne_free(out);
    T_OK(config__expand("a${EMPTY}b${A_B9}c", env, &out, msg, sizeof msg));
    T_EQ_STR(out, "abxc");
    ne_free(out);
    T_OK(config__expand("$$HOST $${HOST} $share/g/t $", env, &out, msg, sizeof msg));
    T_EQ_STR(out, "$HOST ${HOST} $share/g/t $");
    ne_free(out);
    T_OK(config__expand("${NOPE:-fallback}/${HOST:-x}", env, &out, msg, sizeof msg));
    T_EQ_STR(out, "fallback/gw1");
    ne_free(out);
    T_EQ_INT(config__expand("x${NOPE}y", env, &out, msg, sizeof msg), NE_EINVAL);
    T_CHECK(strstr(msg, "NOPE") && strstr(msg, "not set"));
    T_EQ_INT(config__expand("${HOST", env, &out, msg, sizeof msg), NE_EINVAL);
    T_CHECK(strstr(msg, "unterminated"));
    T_EQ_INT(config__expand("${}", env, &out, msg, sizeof msg), NE_EINVAL);
    T_EQ_INT(config__expand("${1X}", env, &out, msg, sizeof msg), NE_EINVAL);
    T_EQ_INT(config__expand("${A:-never", env, &out, msg, sizeof msg), NE_EINVAL);
}

static void test_distance(void)
{
    T_EQ_INT(config__distance("durability", "durability"), 0);
    T_EQ_INT(config__distance("durabilty", "durability"), 1);
    T_EQ_INT(config__distance("listne", "listen"), 1); /* transposition */
    T_EQ_INT(config__distance("tsl", "tls"), 1);
    T_EQ_INT(config__distance("", "abc"), 3);
    T_EQ_INT(config__distance("kitten", "sitting"), 3);
    T_EQ_INT(config__distance("LISTEN", "listen"), 0);
}

static void test_env_name(void)
{
    char buf[128];
    config__env_name("storage.retention.max_age", buf, sizeof buf);
    T_EQ_STR(buf, "NEOEDGE_STORAGE_RETENTION_MAX_AGE");
    config__env_name("node_id", buf, sizeof buf);
    T_EQ_STR(buf, "NEOEDGE_NODE_ID");
}

int main(void)
{
    T_RUN(test_duration_units);
    T_RUN(test_duration_compound_and_fraction);
    T_RUN(test_duration_rejects);
    T_RUN(test_duration_overflow);
    T_RUN(test_size_units);
    T_RUN(test_size_rejects);
    T_RUN(test_format_roundtrip);
    T_RUN(test_formats);
    T_RUN(test_bool_and_ints);
    T_RUN(test_expand);
    T_RUN(test_distance);
    T_RUN(test_env_name);
    return t_done();
}
