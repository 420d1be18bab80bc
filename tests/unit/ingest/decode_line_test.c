/*
 * decode_line_test.c - line protocol: every value type, escapes, precisions,
 * comments, CRLF, the exact error messages, partial writes and the reuse
 * of a repeated series' tags, within a payload and across payloads.
 */
#include <float.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "decode_util.h"
#include "ingest/decode/decode_internal.h"
#include "t.h"

static struct ne_batch B;
static struct ne_decode_report R;

static int lp(const char *text)
{
    ne_batch_reset(&B);
    return dec_text(NE_PAYLOAD_LINE, text, &B, &R);
}

static int lp_prec(const char *text, int64_t prec)
{
    struct ne_decode_opts o;
    memset(&o, 0, sizeof o);
    o.precision_ns = prec;
    ne_batch_reset(&B);
    return ne_decode(&o, text, strlen(text), &B, &R);
}

static void test_every_type(void)
{
    const char *in = "cpu,region=west,host=a f=1.5,i=-3i,u=7u,b=true,s=\"x y\" 1700000000000000001";
    T_OK(lp(in));
    T_EQ_INT(B.npts, 1);
    T_EQ_INT(R.points, 1);
    T_EQ_INT(R.values, 5);
    T_EQ_INT(R.bad, 0);
    T_CHECK(sv_is(B.pts[0].meas, "cpu"));
    T_EQ_INT(B.pts[0].ntags, 2);
    /* sorted by key */
    T_EQ_STR(sv_str(ne_point_tags(&B, &B.pts[0])[0].key), "host");
    T_EQ_STR(find_tag(&B, 0, "region"), "west");
    T_EQ_INT(B.pts[0].ts, 1700000000000000001LL);
    const struct ne_field *f = find_field(&B, 0, "f");
    T_CHECK(f && f->type == NE_V_FLOAT && f->v.f == 1.5);
    f = find_field(&B, 0, "i");
    T_CHECK(f && f->type == NE_V_INT && f->v.i == -3);
    f = find_field(&B, 0, "u");
    T_CHECK(f && f->type == NE_V_UINT && f->v.u == 7);
    f = find_field(&B, 0, "b");
    T_CHECK(f && f->type == NE_V_BOOL && f->v.b);
    f = find_field(&B, 0, "s");
    T_CHECK(f && f->type == NE_V_STRING);
    T_EQ_STR(sv_str(f->v.s), "x y");
    /* zero-copy: plain names and strings point into the input */
    T_CHECK(B.pts[0].meas.p == in);
    T_CHECK(f->v.s.p > in && f->v.s.p < in + strlen(in));
}

static void test_integer_limits(void)
{
    T_OK(lp("m a=9223372036854775807i,b=-9223372036854775808i,c=18446744073709551615u"));
    T_EQ_INT(find_field(&B, 0, "a")->v.i, INT64_MAX);
    T_EQ_INT(find_field(&B, 0, "b")->v.i, INT64_MIN);
    T_EQ_U64(find_field(&B, 0, "c")->v.u, UINT64_MAX);
}

/* Digit runs of every length, read a word at a time or byte by byte
 * near the end of the body, give the integer, float and timestamp
 * strtoll and strtod give. */
static void test_digit_runs(void)
{
    uint64_t x = 0x9E3779B97F4A7C15ULL;
    for (int n = 1; n <= 18; n++) {
        for (int round = 0; round < 50; round++) {
            char d[20], line[128];
            for (int i = 0; i < n; i++) {
                x ^= x << 13, x ^= x >> 7, x ^= x << 17;
                d[i] = (char)('0' + (i == 0 && n > 1 ? 1 + x % 9 : x % 10));
            }
            d[n] = '\0';
            const char *tails[] = {"", "\n", " ", "\r\n"};
            snprintf(line, sizeof line, "m a=%si,b=%s,c=-%s.%s %s%s", d, d, d, d, d,
                     tails[round % 4]);
            T_OK(lp(line));
            long long want = strtoll(d, NULL, 10);
            char f[48];
            snprintf(f, sizeof f, "-%s.%s", d, d);
            double wantf = strtod(f, NULL), gotf = find_field(&B, 0, "c")->v.f;
            T_EQ_INT(find_field(&B, 0, "a")->v.i, want);
            T_EQ_DBL(find_field(&B, 0, "b")->v.f, (double)want, 0);
            T_CHECK(memcmp(&gotf, &wantf, sizeof gotf) == 0);
            T_EQ_INT(B.pts[0].ts, want);
        }
    }
}

/* decode__digits against a byte by byte loop: runs of 0 to 20 digits
 * after a value already read, each followed by every byte that is not a
 * digit (those from 0xFA up carry out of their lane in the eight-digit
 * test) or by the end of the buffer, with 0 to 9 bytes readable after the
 * run. */
static void test_digits_every_stop(void)
{
    char buf[48];
    uint64_t x = 0x2545F4914F6CDD1DULL;
    for (int n = 0; n <= 20; n++) {
        for (int stop = 0; stop <= 256; stop++) { /* 256: the buffer ends */
            if (stop >= '0' && stop <= '9') continue;
            for (int after = 0; after <= 9; after++) {
                if (stop == 256 && after) break;
                for (int i = 0; i < n; i++) {
                    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
                    buf[i] = (char)('0' + x % 10);
                }
                size_t len = (size_t)n;
                if (stop < 256) {
                    buf[len++] = (char)stop;
                    for (int j = 1; j < after; j++)
                        buf[len++] = (char)('0' + j); /* digits past the stop do not count */
                }
                uint64_t want = 7, got = 7;
                size_t wn = 0;
                while (wn < len && buf[wn] >= '0' && buf[wn] <= '9')
                    want = want * 10 + (uint64_t)(buf[wn++] - '0');
                const char *end = decode__digits(buf, buf + len, &got);
                if (end != buf + wn || got != want)
                    T_FAIL_("%d digits, then byte %d and %d more: read %d digits, %llu; want %zu, %llu",
                            n, stop, after, (int)(end - buf), (unsigned long long)got, wn,
                            (unsigned long long)want);
            }
        }
    }
}

static void test_float_forms(void)
{
    static const char *forms[] = {"1",
                                  "-1.5",
                                  ".5",
                                  "-.5",
                                  "1e3",
                                  "1.5E+10",
                                  "1e-3",
                                  "1.",
                                  "0.1",
                                  "1013.25",
                                  "21.37",
                                  "123456789.123",
                                  "1e308",
                                  "4.9e-324",
                                  "0.000001",
                                  "-0",
                                  "123456789012345678901234.5",
                                  "0.12345678901234567890123",
                                  "9007199254740993",
                                  "18014398509481985.5",
                                  "1.7976931348623157e308",
                                  "2.2250738585072011e-308",
                                  "00000000000000000000001.5"};
    for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
        char line[64];
        snprintf(line, sizeof line, "m v=%s", forms[i]);
        T_OK(lp(line));
        double want = strtod(forms[i], NULL);
        const struct ne_field *f = find_field(&B, 0, "v");
        T_CHECK(f && f->type == NE_V_FLOAT);
        T_CHECK(memcmp(&f->v.f, &want, sizeof want) == 0);
    }
}

/* The fast float path must give strtod's exact bits on random decimals. */
static void test_float_matches_strtod(void)
{
    uint64_t x = 0x9E3779B97F4A7C15ULL;
    char num[64], line[80];
    for (int i = 0; i < 200000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        unsigned digits = 1 + (unsigned)(x % 19);
        unsigned frac = (unsigned)((x >> 8) % (digits + 1));
        int len = 0;
        if ((x >> 20) & 1) num[len++] = '-';
        uint64_t y = x;
        for (unsigned d = 0; d < digits; d++) {
            if (d == digits - frac) num[len++] = '.';
            num[len++] = (char)('0' + y % 10);
            y = y / 10 ^ (y << 7);
        }
        if ((x >> 30) % 4 == 0)
            len += snprintf(num + len, sizeof num - (size_t)len, "e%d", (int)((x >> 40) % 60) - 30);
        num[len] = '\0';
        snprintf(line, sizeof line, "m v=%s", num);
        double want = strtod(num, NULL);
        if (lp(line) != 0) T_FAIL_("rejected %s", num);
        double got = find_field(&B, 0, "v")->v.f;
        if (memcmp(&got, &want, sizeof got) != 0)
            T_FAIL_("%s: got %.17g want %.17g", num, got, want);
    }
}

static uint64_t xs(uint64_t *x)
{
    *x ^= *x << 13, *x ^= *x >> 7, *x ^= *x << 17;
    return *x;
}

/* Decodes num as a field value and compares the bits with strtod's
 * (naming the first ten that differ). */
static void float_as_strtod(const char *num)
{
    static int failures;
    char line[128];
    snprintf(line, sizeof line, "m v=%s", num);
    double want = strtod(num, NULL);
    int rc = lp(line);
    double got = rc == 0 ? find_field(&B, 0, "v")->v.f : 0;
    if ((rc != 0 || memcmp(&got, &want, sizeof got) != 0) && failures++ < 10)
        T_FAIL_("%s: rc %d, got %.17g want %.17g", num, rc, got, want);
}

/* The long mantissas the Eisel-Lemire path takes (16 to 19 digits, as
 * %.17g prints doubles, and past 19), with the point anywhere and
 * exponents inside and outside its table, give strtod's bits; so do
 * numbers exactly halfway between two doubles (ties to even) and their
 * neighbours. */
static void test_float_long_mantissas(void)
{
    uint64_t x = 0x2545F4914F6CDD1DULL;
    char num[96];
    for (int i = 0; i < 300000; i++) {
        unsigned digits = 16 + (unsigned)(xs(&x) % 8); /* 16..23 */
        unsigned point = (unsigned)(xs(&x) % (digits + 1));
        int len = 0;
        if (x & 1) num[len++] = '-';
        for (unsigned d = 0; d < digits; d++) {
            if (d == point && d) num[len++] = '.';
            num[len++] = (char)('0' + (d == 0 ? 1 + xs(&x) % 9 : xs(&x) % 10));
        }
        if (xs(&x) % 3 == 0)
            len += snprintf(num + len, sizeof num - (size_t)len, "e%d", (int)(xs(&x) % 181) - 90);
        num[len] = '\0';
        float_as_strtod(num);
    }
    /* %.17g of random doubles: what a round trip through text gives */
    for (int i = 0; i < 100000; i++) {
        uint64_t bits = xs(&x) & ~(0x7FFULL << 52);
        bits |= (uint64_t)(1023 - 200 + xs(&x) % 400) << 52; /* about 1e-60 to 1e60 */
        double d;
        memcpy(&d, &bits, sizeof d);
        snprintf(num, sizeof num, "%.17g", d);
        float_as_strtod(num);
    }
    /* halfway between two doubles above 2^53 (integers), and next to it */
    for (int i = 0; i < 20000; i++) {
        int e = 53 + (int)(xs(&x) % 10);
        uint64_t a = (1ULL << e) + (xs(&x) & ((1ULL << e) - 1)), step = 1ULL << (e - 52);
        a &= ~(step - 1); /* a double */
        uint64_t mid = a + step / 2;
        for (int k = -1; k <= 1; k++) {
            snprintf(num, sizeof num, "%llu", (unsigned long long)(mid + (uint64_t)k));
            float_as_strtod(num);
            snprintf(num, sizeof num, "%llu.000", (unsigned long long)(mid + (uint64_t)k));
            float_as_strtod(num);
        }
    }
    static const char *const edges[] = {
        "9007199254740993",
        "9007199254740995",
        "18446744073709551615",
        "18446744073709551616",
        "9999999999999999999",
        "99999999999999999999",
        "0.1000000000000000055511151231257827",
        "1.7976931348623157e308",
        "4.9406564584124654e-324",
        "2.2250738585072014e-308",
        "1e-64",
        "1e64",
        "1e-65",
        "1e65",
        "123456789012345678e-64",
        "123456789012345678e46",
        "0.30000000000000004",
        "5e-324",
    };
    for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++)
        float_as_strtod(edges[i]);
}

static void test_booleans(void)
{
    static const char *t[] = {"t", "T", "true", "True", "TRUE"};
    static const char *f[] = {"f", "F", "false", "False", "FALSE"};
    char line[32];
    for (int i = 0; i < 5; i++) {
        snprintf(line, sizeof line, "m v=%s", t[i]);
        T_OK(lp(line));
        T_CHECK(find_field(&B, 0, "v")->type == NE_V_BOOL && find_field(&B, 0, "v")->v.b);
        snprintf(line, sizeof line, "m v=%s", f[i]);
        T_OK(lp(line));
        T_CHECK(find_field(&B, 0, "v")->type == NE_V_BOOL && !find_field(&B, 0, "v")->v.b);
    }
}

static void test_escapes(void)
{
    const char *in = "c\\,p\\ u,k\\=1=v\\,a\\ l\\=,plain=a\\b f\\ 1=1,"
                     "s=\"he said \\\"hi\\\" \\\\ back \\n\" 5";
    T_OK(lp(in));
    T_EQ_STR(sv_str(B.pts[0].meas), "c,p u");
    T_EQ_STR(find_tag(&B, 0, "k=1"), "v,a l=");
    T_EQ_STR(find_tag(&B, 0, "plain"), "a\\b"); /* a lone backslash is literal */
    T_CHECK(find_field(&B, 0, "f 1") != NULL);
    T_EQ_STR(sv_str(find_field(&B, 0, "s")->v.s), "he said \"hi\" \\ back \\n");
    /* escaped text is copied out of the input */
    T_CHECK(B.pts[0].meas.p < in || B.pts[0].meas.p > in + strlen(in));
    T_EQ_INT(B.pts[0].ts, 5);
}

static void test_string_with_newline(void)
{
    T_EQ_INT(lp("m s=\"a\nb\" 1\nm v=2\nm v=\n"), NE_EPARSE);
    T_EQ_INT(R.points, 2);
    T_EQ_STR(sv_str(find_field(&B, 0, "s")->v.s), "a\nb");
    T_EQ_INT(R.first_record, 4); /* lines are counted inside strings too */
}

static void test_precisions(void)
{
    struct {
        int64_t prec;
        int64_t want;
    } cases[] = {
        {1, 1700000000},
        {1000, 1700000000000LL},
        {1000000, 1700000000000000LL},
        {1000000000, 1700000000000000000LL},
    };
    for (size_t i = 0; i < 4; i++) {
        T_OK(lp_prec("m v=1 1700000000", cases[i].prec));
        T_EQ_INT(B.pts[0].ts, cases[i].want);
    }
    T_OK(lp_prec("m v=1 2", 60LL * 1000000000));
    T_EQ_INT(B.pts[0].ts, 120LL * 1000000000);
    T_OK(lp_prec("m v=1 2", 3600LL * 1000000000));
    T_EQ_INT(B.pts[0].ts, 7200LL * 1000000000);
    T_OK(lp_prec("m v=1 -3", 1000000000));
    T_EQ_INT(B.pts[0].ts, -3000000000LL);
    T_EQ_INT(lp_prec("m v=1 9223372036854775807", 1000000000), NE_EPARSE);
    T_EQ_STR(R.first_error, "unable to parse 'm v=1 9223372036854775807': time outside range");
}

static void test_comments_blank_crlf_no_ts(void)
{
    T_OK(lp("# a comment, with = and \"\n\n   \r\ncpu v=1\r\ncpu v=2 7\r\n\n# end"));
    T_EQ_INT(R.records, 2);
    T_EQ_INT(B.npts, 2);
    T_EQ_INT(B.pts[0].ts, NE_TS_UNSET);
    T_EQ_INT(B.pts[1].ts, 7);
    T_CHECK(find_field(&B, 0, "v")->v.f == 1.0);
}

static void test_error_messages(void)
{
    static const struct {
        const char *line, *why;
    } cases[] = {
        {"cpu", "missing fields"},
        {"cpu,host=a", "missing fields"},
        {"cpu value=1x", "invalid number"},
        {"cpu value=1.5i", "invalid number"},
        {"cpu value=-1u", "invalid number"},
        {"cpu value=NaN", "invalid number"},
        {"cpu,host= value=1", "missing tag value"},
        {"cpu,host value=1", "missing tag value"},
        {"cpu,=a value=1", "missing tag key"},
        {"cpu,a=b=c value=1", "invalid tag format"},
        {"cpu value=", "missing field value"},
        {"cpu value=,x=1", "missing field value"},
        {"cpu =1", "missing field key"},
        {"cpu value", "invalid field format"},
        {"cpu value=1,", "invalid field format"},
        {"cpu value=\"abc", "unbalanced quotes"},
        {"cpu value=\"a\"b", "invalid field format"},
        {"cpu value=tru", "invalid boolean"},
        {"cpu value=1 abc", "bad timestamp"},
        {"cpu value=1 12 x", "bad timestamp"},
        {"cpu value=1 99999999999999999999", "time outside range"},
        {",tag=a value=1", "missing measurement"},
        {"cpu value=9223372036854775808i",
         "unable to parse integer 9223372036854775808: value out of range"},
        {"cpu value=18446744073709551616u",
         "unable to parse unsigned 18446744073709551616: value out of range"},
        {"cpu value=1e999", "invalid float"},
        {"cpu time=1",
         "invalid field name: input field \"time\" on measurement \"cpu\" is invalid"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char want[256];
        snprintf(want, sizeof want, "unable to parse '%s': %s", cases[i].line, cases[i].why);
        if (lp(cases[i].line) != NE_EPARSE) T_FAIL_("accepted %s", cases[i].line);
        T_EQ_INT(R.bad, 1);
        T_EQ_INT(R.points, 0);
        T_EQ_INT(B.npts, 0);
        T_EQ_INT(R.first_record, 1);
        T_EQ_INT(R.first_code, NE_EPARSE);
        T_EQ_STR(R.first_error, want);
    }
}

static void test_partial_write(void)
{
    T_EQ_INT(lp("m v=1 1\nm v=oops 2\nm,t=x v=3 3\n\nm v=\"bad\n"), NE_EPARSE);
    T_EQ_INT(R.records, 4);
    T_EQ_INT(R.points, 2);
    T_EQ_INT(R.bad, 2);
    T_EQ_INT(R.first_record, 2);
    T_EQ_STR(R.first_error, "unable to parse 'm v=oops 2': invalid boolean");
    T_EQ_INT(B.pts[1].ts, 3);
    T_EQ_STR(find_tag(&B, 1, "t"), "x");
}

static void test_option_tags_override(void)
{
    struct ne_tag tags[] = {{NE_SV("site"), NE_SV("s1")}, {NE_SV("dev"), NE_SV("d9")}};
    struct ne_decode_opts o;
    memset(&o, 0, sizeof o);
    o.tags = tags;
    o.ntags = 2;
    const char *in = "m,dev=payload,a=1 v=1\nm v=2";
    ne_batch_reset(&B);
    T_OK(ne_decode(&o, in, strlen(in), &B, &R));
    T_EQ_INT(B.npts, 2);
    T_EQ_STR(find_tag(&B, 0, "dev"), "d9");
    T_EQ_STR(find_tag(&B, 0, "site"), "s1");
    T_EQ_STR(find_tag(&B, 0, "a"), "1");
    T_EQ_INT(B.pts[0].ntags, 3);
    T_EQ_STR(find_tag(&B, 1, "site"), "s1");
}

static void test_max_errors_stops(void)
{
    struct ne_decode_opts o;
    memset(&o, 0, sizeof o);
    o.max_errors = 2;
    const char *in = "a\nb\nc\nm v=1\n";
    ne_batch_reset(&B);
    T_EQ_INT(ne_decode(&o, in, strlen(in), &B, &R), NE_EPARSE);
    T_CHECK(R.stopped);
    T_EQ_INT(R.bad, 2);
    T_EQ_INT(B.npts, 0);
}

static void test_duplicate_fields_last_wins(void)
{
    T_OK(lp("m v=1,v=2,w=3"));
    T_EQ_INT(B.pts[0].nfields, 2);
    T_CHECK(find_field(&B, 0, "v")->v.f == 2.0);
    T_EQ_INT(R.values, 2);
}

static void test_appends_to_existing_batch(void)
{
    ne_batch_reset(&B);
    T_OK(dec_text(NE_PAYLOAD_LINE, "a v=1", &B, &R));
    T_OK(dec_text(NE_PAYLOAD_LINE, "b v=2", &B, &R));
    T_EQ_INT(B.npts, 2);
    T_CHECK(sv_is(B.pts[1].meas, "b"));
}

/* The reports of two decodes of one text agree (counts, first error). */
static void same_report(const struct ne_decode_report *a, const struct ne_decode_report *b)
{
    T_EQ_INT(a->points, b->points);
    T_EQ_INT(a->values, b->values);
    T_EQ_INT(a->bad, b->bad);
    T_EQ_INT(a->first_record, b->first_record);
    T_EQ_STR(a->first_error, b->first_error);
}

/* Every point of b and of c alike (names, tags, fields bit for bit, time). */
static void same_points(const struct ne_batch *b, const struct ne_batch *c)
{
    T_EQ_INT(b->npts, c->npts);
    for (uint32_t i = 0; i < b->npts && i < c->npts; i++) {
        const struct ne_point *p = &b->pts[i], *q = &c->pts[i];
        T_CHECK(ne_sv_eq(p->meas, q->meas));
        T_EQ_INT(p->ts, q->ts);
        T_EQ_INT(p->ntags, q->ntags);
        T_EQ_INT(p->nfields, q->nfields);
        for (uint32_t k = 0; k < p->ntags && k < q->ntags; k++) {
            T_CHECK(ne_sv_eq(ne_point_tags(b, p)[k].key, ne_point_tags(c, q)[k].key));
            T_CHECK(ne_sv_eq(ne_point_tags(b, p)[k].val, ne_point_tags(c, q)[k].val));
        }
        for (uint32_t k = 0; k < p->nfields && k < q->nfields; k++) {
            const struct ne_field *f = &ne_point_fields(b, p)[k], *g = &ne_point_fields(c, q)[k];
            T_CHECK(ne_sv_eq(f->key, g->key));
            T_EQ_INT(f->type, g->type);
            if (f->type == NE_V_STRING)
                T_CHECK(ne_sv_eq(f->v.s, g->v.s));
            else
                T_CHECK(memcmp(&f->v, &g->v, sizeof(uint64_t)) == 0);
        }
    }
}

/* Lines repeating a series reuse the tags decoded for its first line; the
 * points must be exactly those of a full parse of every line, escapes,
 * unsorted and duplicate tags, option tags and bad lines included. */
static void test_repeated_series_as_full_parse(void)
{
    static const char in[] =
        "m\\ x,b=2,a=1,a=3 v=1 1\n"
        "m\\ x,b=2,a=1,a=3 v=2,w=\"s\" 2\n"
        "m\\ x,a=3,b=2 v=3 3\n"        /* same series, other text */
        "m\\ x,b=2,a=1,a=3 v=oops 4\n" /* bad after a cached series */
        "m\\ x,b=2,a=1,a=3 time=1 5\n" /* bad field name */
        "m\\ x,b=2,a=1,a=3\n"          /* no fields */
        "m\\ x,b=2,a=1,a=3  \t v=6 6\n"
        "q,t=a\\,b\\ c\\=d v=7 7\n"
        "q,t=a\\,b\\ c\\=d v=8,u=1i 8\n"
        "q,t=a v=9 9\n"
        "q,t=a\\,b\\ c\\=d,dev=p v=10 10\n"
        "bad,t= v=1 11\n"
        "bad,t= v=1 12\n"
        "q v=13 13\n"
        "q v=14 14\n"
        "m\\ x,b=2,a=1,a=3 v\\ x=5,w=6 15\n" /* field keys unlike line 2's */
        "m\\ x,b=2,a=1,a=3 v\\ x=5,ww=6 16\n"
        "m\\ x,b=2,a=1,a=3 vw=1,v=2 17\n"
        "m\\ x,b=2,a=1,a=3 v=1,w 18\n"
        "m\\ x,b=2,a=1,a=3 v=1,v=9 19\n"; /* a duplicate key after a guessed one */
    struct ne_tag tags[] = {{NE_SV("dev"), NE_SV("opt")}};
    struct ne_decode_opts o;
    memset(&o, 0, sizeof o);
    o.tags = tags;
    o.ntags = 1;
    struct ne_batch full, cached;
    struct ne_decode_report rf, rc;
    ne_batch_init(&full);
    ne_batch_init(&cached);
    o.no_series_cache = true;
    T_EQ_INT(ne_decode(&o, in, strlen(in), &full, &rf), NE_EPARSE);
    o.no_series_cache = false;
    T_EQ_INT(ne_decode(&o, in, strlen(in), &cached, &rc), NE_EPARSE);
    T_EQ_INT(rf.points, 14);
    same_report(&rc, &rf);
    same_points(&full, &cached);
    /* the cache was used: line 7 shares the tags of line 2 */
    T_EQ_INT(cached.pts[3].tag0, cached.pts[1].tag0);
    T_CHECK(full.pts[3].tag0 != full.pts[1].tag0);
    T_CHECK(cached.ntags < full.ntags);
    T_EQ_STR(find_tag(&cached, 3, "a"), "3");
    T_EQ_STR(find_tag(&cached, 3, "dev"), "opt");
    T_EQ_STR(find_tag(&cached, 7, "dev"), "opt");
    T_EQ_INT(cached.pts[13].nfields, 1);
    T_CHECK(find_field(&cached, 13, "v")->v.f == 9.0);
    ne_batch_free(&full);
    ne_batch_free(&cached);
}

/* More series than the cache starts with: it grows, and the second round
 * of lines still shares the first round's tags. */
static void test_many_series_cache_grows(void)
{
    enum { SERIES = 1500 };
    static char in[SERIES * 2 * 64];
    size_t n = 0;
    for (int round = 0; round < 2; round++)
        for (int i = 0; i < SERIES; i++)
            n += (size_t)snprintf(in + n, sizeof in - n, "m,dev=d%d,site=s%d v=%d %d\n", i, i % 7,
                                  i, round + 1);
    struct ne_decode_opts o;
    memset(&o, 0, sizeof o);
    struct ne_batch full, cached;
    ne_batch_init(&full);
    ne_batch_init(&cached);
    struct ne_decode_report rf, rc;
    o.no_series_cache = true;
    T_OK(ne_decode(&o, in, n, &full, &rf));
    o.no_series_cache = false;
    T_OK(ne_decode(&o, in, n, &cached, &rc));
    T_EQ_INT(rc.points, 2 * SERIES);
    same_points(&full, &cached);
    /* the first line is decoded before the cache exists; a repeated field
     * key is the first one's view (the store compares keys by address) */
    for (uint32_t i = 1; i < SERIES; i++) {
        T_EQ_INT(cached.pts[SERIES + i].tag0, cached.pts[i].tag0);
        const struct ne_sv k1 = cached.fields[cached.pts[i].field0].key;
        const struct ne_sv k2 = cached.fields[cached.pts[SERIES + i].field0].key;
        T_CHECK(k1.p == k2.p && k1.n == k2.n);
    }
    T_CHECK(cached.ntags < full.ntags);
    ne_batch_free(&full);
    ne_batch_free(&cached);
}

/* True if view v lies inside buf[0..n). */
static bool sv_inside(struct ne_sv v, const char *buf, size_t n)
{
    return v.p >= buf && v.p + v.n <= buf + n;
}

/* Decodes text from a fresh heap copy with o (memo or not) into b, then
 * scribbles over the copy: a point still reading the payload shows it. */
static int dec_copy(const struct ne_decode_opts *o, const char *text, struct ne_batch *b,
                    struct ne_decode_report *r, char **copy)
{
    size_t n = strlen(text);
    *copy = malloc(n + 1);
    memcpy(*copy, text, n + 1);
    ne_batch_reset(b);
    return ne_decode(o, *copy, n, b, r);
}

/* A series memo carries decoded series from one payload to the next: the
 * second payload's points are those of a full parse, their tags come
 * from the memo (not the payload, not the batch), and other option tags
 * start it over. */
static void test_memo_across_payloads(void)
{
    static const char first[] = "m\\ x,b=2,a=1,a=3 v=1 1\n"
                                "q,t=a\\,b\\ c\\=d v=7 7\n"
                                "q v=13 13\n"
                                "bad,t= v=1 11\n";
    static const char second[] = "zz,k=v v=0 0\n"                    /* new series */
                                 "m\\ x,b=2,a=1,a=3 v=2,w=\"s\" 2\n" /* from the memo */
                                 "m\\ x,b=2,a=1,a=3 v=oops 4\n"      /* bad, memo series */
                                 "m\\ x,b=2,a=1,a=3 time=1 5\n"
                                 "q,t=a\\,b\\ c\\=d v=8,u=1i 8\n"
                                 "q,t=a\\,b\\ c\\=d v=8,v=9 9\n" /* duplicate key */
                                 "q v=14 14\n"
                                 "bad,t= v=1 12\n"
                                 "m\\ x,b=2,a=1,a=3 v=3 3\n"; /* in this payload now */
    struct ne_tag tags[] = {{NE_SV("dev"), NE_SV("opt")}};
    struct ne_tag other[] = {{NE_SV("dev"), NE_SV("other")}};
    struct ne_decode_opts o;
    memset(&o, 0, sizeof o);
    o.tags = tags;
    o.ntags = 1;
    struct ne_series_memo *memo = NULL;
    T_OK(ne_series_memo_new(0, &memo));
    struct ne_batch full, memod;
    struct ne_decode_report rf, rm;
    ne_batch_init(&full);
    ne_batch_init(&memod);
    char *c1 = NULL, *c2 = NULL, *c3 = NULL;
    o.memo = memo;
    T_EQ_INT(dec_copy(&o, first, &memod, &rm, &c1), NE_EPARSE);
    T_EQ_INT(ne_series_memo_count(memo), 3);
    memset(c1, '#', strlen(first)); /* the memo holds copies */
    /* each series text has its hint place in the memo, empty when made;
     * what a store writes there stays for the next payload */
    struct ne_series_hint *hm = memod.pts[0].hint, *hq = memod.pts[1].hint,
                          *hq2 = memod.pts[2].hint;
    T_CHECK(hm && hq && hq2 && hm != hq && hq != hq2 && hm != hq2);
    T_CHECK(hm->index == 0 && hm->series == NULL);
    hm->index = 42;
    T_EQ_INT(dec_copy(&o, second, &memod, &rm, &c2), NE_EPARSE);
    o.memo = NULL;
    T_EQ_INT(ne_decode(&o, second, strlen(second), &full, &rf), NE_EPARSE);
    T_EQ_INT(rf.points, 6);
    same_report(&rm, &rf);
    same_points(&full, &memod);
    /* point 1 (line 2) took its tags from the memo; line 9 shares them */
    const struct ne_tag *t1 = ne_point_tags(&memod, &memod.pts[1]);
    T_EQ_INT(memod.pts[1].ntags, 3); /* a=3, b=2, dev=opt */
    for (uint32_t i = 0; i < memod.pts[1].ntags; i++)
        T_CHECK(!sv_inside(t1[i].key, c2, strlen(second)) &&
                !sv_inside(t1[i].val, c2, strlen(second)));
    T_CHECK(!sv_inside(memod.pts[1].meas, c2, strlen(second)));
    T_EQ_INT(memod.pts[5].tag0, memod.pts[1].tag0);
    T_EQ_STR(find_tag(&memod, 2, "t"), "a,b c=d");
    T_EQ_INT(memod.pts[3].nfields, 1);
    T_EQ_INT(ne_series_memo_count(memo), 4); /* zz joined */
    /* the points of a series text carry its hint: from the memo, or from
     * the payload's first point of it; a full parse sets none */
    T_CHECK(memod.pts[1].hint == hm && memod.pts[5].hint == hm && hm->index == 42);
    T_CHECK(memod.pts[2].hint == hq && memod.pts[3].hint == hq && memod.pts[4].hint == hq2);
    T_CHECK(memod.pts[0].hint && memod.pts[0].hint != hm && memod.pts[0].hint != hq &&
            memod.pts[0].hint != hq2);
    for (uint32_t i = 0; i < full.npts; i++)
        T_CHECK(full.pts[i].hint == NULL);
    /* other option tags: the memo starts over, the tags are the new ones */
    o.tags = other;
    o.memo = memo;
    T_EQ_INT(dec_copy(&o, second, &memod, &rm, &c3), NE_EPARSE);
    T_EQ_STR(find_tag(&memod, 1, "dev"), "other");
    T_EQ_STR(find_tag(&memod, 2, "dev"), "other");
    T_EQ_INT(ne_series_memo_count(memo), 4);
    T_CHECK(memod.pts[1].hint && memod.pts[1].hint->index == 0); /* a new place */
    free(c1);
    free(c2);
    free(c3);
    ne_series_memo_free(memo);
    ne_batch_free(&full);
    ne_batch_free(&memod);
}

/* Lines "m,dev=<prefix><i>,site=s<i%7> v=<i> 1" for i in [from, to). */
static size_t series_lines(char *out, size_t cap, const char *prefix, int from, int to)
{
    size_t n = 0;
    for (int i = from; i < to; i++)
        n +=
            (size_t)snprintf(out + n, cap - n, "m,dev=%s%d,site=s%d v=%d 1\n", prefix, i, i % 7, i);
    return n;
}

/* Decodes text with memo; checks the points equal a full parse's and
 * sets *from_memo when the first point's tags came from the memo. */
static void memo_decode(struct ne_series_memo *memo, const char *text, size_t n, bool *from_memo)
{
    struct ne_decode_opts o;
    memset(&o, 0, sizeof o);
    struct ne_batch full, memod;
    ne_batch_init(&full);
    ne_batch_init(&memod);
    struct ne_decode_report rf, rm;
    T_OK(ne_decode(&o, text, n, &full, &rf));
    o.memo = memo;
    T_OK(ne_decode(&o, text, n, &memod, &rm));
    T_EQ_INT(rm.points, rf.points);
    same_points(&full, &memod);
    *from_memo = memod.npts && memod.pts[0].ntags &&
                 !sv_inside(ne_point_tags(&memod, &memod.pts[0])[0].val, text, n);
    ne_batch_free(&full);
    ne_batch_free(&memod);
}

/* A memo too small for the series stops taking them and still decodes
 * every line as a full parse does. Full, it is kept while it finds a fair
 * share of a payload's series, and started over after a payload of other
 * series. */
static void test_memo_full_keeps_or_starts_over(void)
{
    enum { SERIES = 1500 };
    static char in[SERIES * 2 * 64];
    struct ne_series_memo *memo = NULL;
    bool hit = true;
    T_OK(ne_series_memo_new(96 * 1024, &memo));
    size_t n = series_lines(in, sizeof in, "d", 0, SERIES);
    memo_decode(memo, in, n, &hit);
    T_CHECK(!hit);
    uint32_t held = ne_series_memo_count(memo);
    T_CHECK(held > 100 && held < SERIES - 1);
    T_CHECK(ne_series_memo_bytes(memo) <= 96 * 1024);
    /* the series it holds and three times as many new ones: kept */
    n = series_lines(in, sizeof in, "d", 0, (int)held);
    n += series_lines(in + n, sizeof in - n, "x", 0, 3 * (int)held);
    for (int round = 0; round < 3; round++) {
        memo_decode(memo, in, n, &hit);
        T_CHECK(hit);
    }
    T_EQ_INT(ne_series_memo_count(memo), held);
    /* other series only: it finds none, so the next payload starts it
     * over and fills it with its own series */
    n = series_lines(in, sizeof in, "e", 0, SERIES);
    memo_decode(memo, in, n, &hit);
    T_CHECK(!hit);
    memo_decode(memo, in, n, &hit);
    T_CHECK(!hit);
    n = series_lines(in, sizeof in, "e", 0, 1);
    memo_decode(memo, in, n, &hit);
    T_CHECK(hit);
    ne_series_memo_free(memo);
}

int main(void)
{
    ne_batch_init(&B);
    T_RUN(test_every_type);
    T_RUN(test_integer_limits);
    T_RUN(test_digit_runs);
    T_RUN(test_digits_every_stop);
    T_RUN(test_float_forms);
    T_RUN(test_float_matches_strtod);
    T_RUN(test_float_long_mantissas);
    T_RUN(test_booleans);
    T_RUN(test_escapes);
    T_RUN(test_string_with_newline);
    T_RUN(test_precisions);
    T_RUN(test_comments_blank_crlf_no_ts);
    T_RUN(test_error_messages);
    T_RUN(test_partial_write);
    T_RUN(test_option_tags_override);
    T_RUN(test_max_errors_stops);
    T_RUN(test_duplicate_fields_last_wins);
    T_RUN(test_appends_to_existing_batch);
    T_RUN(test_repeated_series_as_full_parse);
    T_RUN(test_many_series_cache_grows);
    T_RUN(test_memo_across_payloads);
    T_RUN(test_memo_full_keeps_or_starts_over);
    ne_batch_free(&B);
    return t_done();
}
