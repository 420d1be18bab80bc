/*
 * decode_json_test.c - JSON and CBOR objects: measurement and time keys,
 * tags, flattening, strict syntax, depth limit, hand-built CBOR bytes.
 */
#include "decode_util.h"
#include "t.h"

static struct ne_batch B;
static struct ne_decode_report R;

static int js(const char *text, const char *meas)
{
    struct ne_decode_opts o;
    memset(&o, 0, sizeof o);
    o.format = NE_PAYLOAD_JSON;
    if (meas) o.measurement = ne_sv_c(meas);
    ne_batch_reset(&B);
    return ne_decode(&o, text, strlen(text), &B, &R);
}

static int cb(const unsigned char *bytes, size_t n, const char *meas)
{
    struct ne_decode_opts o;
    memset(&o, 0, sizeof o);
    o.format = NE_PAYLOAD_CBOR;
    if (meas) o.measurement = ne_sv_c(meas);
    ne_batch_reset(&B);
    return ne_decode(&o, (const char *)bytes, n, &B, &R);
}

static void test_object(void)
{
    T_OK(js("{\"measurement\":\"env\",\"tags\":{\"site\":\"s1\",\"floor\":3},"
            "\"temp\":21.5,\"count\":3,\"ok\":true,\"status\":\"fine\",\"gone\":null,"
            "\"pos\":{\"lat\":1.5,\"lon\":{\"deg\":2}},\"arr\":[10,20],"
            "\"time\":\"2026-01-01T00:00:01.5Z\"}",
            NULL));
    T_EQ_INT(B.npts, 1);
    T_CHECK(sv_is(B.pts[0].meas, "env"));
    T_EQ_STR(find_tag(&B, 0, "site"), "s1");
    T_EQ_STR(find_tag(&B, 0, "floor"), "3");
    T_EQ_INT(B.pts[0].ts, 1767225601500000000LL);
    const struct ne_field *f = find_field(&B, 0, "temp");
    T_CHECK(f && f->type == NE_V_FLOAT && f->v.f == 21.5);
    f = find_field(&B, 0, "count");
    T_CHECK(f && f->type == NE_V_FLOAT && f->v.f == 3.0);
    T_CHECK(find_field(&B, 0, "ok")->type == NE_V_BOOL);
    T_EQ_STR(sv_str(find_field(&B, 0, "status")->v.s), "fine");
    T_CHECK(find_field(&B, 0, "gone") == NULL);
    T_CHECK(find_field(&B, 0, "pos.lat")->v.f == 1.5);
    T_CHECK(find_field(&B, 0, "pos.lon.deg")->v.f == 2.0);
    T_CHECK(find_field(&B, 0, "arr.1")->v.f == 20.0);
    T_EQ_INT(R.values, 8);
}

static void test_array_partial(void)
{
    T_EQ_INT(js("[{\"v\":1,\"time\":1767225600},{\"measurement\":\"x\",\"v\":2},"
                "{\"v\":\"s\",\"timestamp\":1767225600123},5,{}]",
                "dflt"),
             NE_EPARSE);
    T_EQ_INT(R.records, 5);
    T_EQ_INT(R.points, 3);
    T_EQ_INT(R.bad, 2);
    T_EQ_INT(R.first_record, 4);
    T_EQ_STR(R.first_error, "record 4: expected an object");
    T_CHECK(sv_is(B.pts[0].meas, "dflt"));
    T_EQ_INT(B.pts[0].ts, 1767225600000000000LL); /* seconds guessed */
    T_CHECK(sv_is(B.pts[1].meas, "x"));
    T_EQ_INT(B.pts[1].ts, NE_TS_UNSET);
    T_EQ_INT(B.pts[2].ts, 1767225600123000000LL); /* milliseconds guessed */
}

static void test_missing_measurement(void)
{
    T_EQ_INT(js("{\"v\":1}", NULL), NE_EPARSE);
    T_EQ_STR(R.first_error, "record 1: missing measurement");
    T_EQ_INT(js("{\"measurement\":\"m\"}", NULL), NE_EPARSE);
    T_EQ_STR(R.first_error, "record 1: missing fields");
}

static void test_options(void)
{
    struct ne_sv tag_keys[] = {NE_SV("dev")};
    struct ne_decode_opts o;
    memset(&o, 0, sizeof o);
    o.format = NE_PAYLOAD_JSON;
    o.measurement_key = NE_SV("name");
    o.time_key = NE_SV("ts");
    o.time_unit_ns = 1000; /* microseconds */
    o.tag_keys = tag_keys;
    o.ntag_keys = 1;
    const char *in = "{\"name\":\"m\",\"dev\":\"d1\",\"ts\":5,\"time\":7,\"v\":1}";
    ne_batch_reset(&B);
    T_OK(ne_decode(&o, in, strlen(in), &B, &R));
    T_CHECK(sv_is(B.pts[0].meas, "m"));
    T_EQ_STR(find_tag(&B, 0, "dev"), "d1");
    T_EQ_INT(B.pts[0].ts, 5000);
    T_CHECK(find_field(&B, 0, "time") != NULL); /* not the time key here */
}

static void test_fields_object_and_escapes(void)
{
    T_OK(js("{\"fields\":{\"a\\u00e9\":1,\"b\":{\"c\":2}},\"s\":\"q\\\"\\n\\ud83d\\ude00\"}", "m"));
    T_CHECK(find_field(&B, 0, "a\xc3\xa9") != NULL);
    T_CHECK(find_field(&B, 0, "b.c") != NULL);
    T_EQ_STR(sv_str(find_field(&B, 0, "s")->v.s), "q\"\n\xf0\x9f\x98\x80");
}

static void test_fractional_numeric_time(void)
{
    /* decimal text is converted exactly, not through a double */
    T_OK(js("{\"v\":1,\"time\":1767225600.123456789}", "m"));
    T_EQ_INT(B.pts[0].ts, 1767225600123456789LL);
    T_OK(js("{\"v\":1,\"time\":1767225600123.5}", "m"));
    T_EQ_INT(B.pts[0].ts, 1767225600123500000LL);
}

static void test_rfc3339_offsets(void)
{
    T_OK(js("{\"v\":1,\"time\":\"2026-01-01T02:00:00+02:00\"}", "m"));
    T_EQ_INT(B.pts[0].ts, 1767225600000000000LL);
    T_EQ_INT(js("{\"v\":1,\"time\":\"2026-02-30T00:00:00Z\"}", "m"), NE_EPARSE);
    T_EQ_INT(R.bad, 1);
}

static void test_syntax_errors_reject_whole(void)
{
    static const char *bad[] = {
        "[{\"v\":1},{\"v\":2},]",
        "{\"v\":1",
        "{\"v\":01}",
        "{\"v\":1.}",
        "{\"v\":tru}",
        "{v:1}",
        "[{\"v\":1}] x",
        "{\"v\":\"a\x01\"}",
        "{\"v\":\"\\x\"}",
        "{\"v\":\"\\ud800\"}",
        "",
        "   ",
        "{\"v\":1e999}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (js(bad[i], "m") != NE_EPARSE) T_FAIL_("accepted %s", bad[i]);
        T_EQ_INT(B.npts, 0);
        T_EQ_INT(R.bad, 1);
        T_CHECK(strncmp(R.first_error, "invalid JSON at byte ", 21) == 0);
    }
    T_EQ_INT(js("{\"a\":1,}", "m"), NE_EPARSE);
    T_EQ_STR(R.first_error, "invalid JSON at byte 7: expected a string key");
}

/* Past the inline buffers: many records, many fields and tags per record,
 * long escaped strings. */
static void test_large_document(void)
{
    static char doc[262144];
    size_t n = 0;
    n += (size_t)snprintf(doc + n, sizeof doc - n, "[");
    for (int r = 0; r < 200; r++) {
        n += (size_t)snprintf(doc + n, sizeof doc - n, "%s{\"tags\":{", r ? "," : "");
        for (int t = 0; t < 20; t++)
            n += (size_t)snprintf(doc + n, sizeof doc - n, "%s\"t%d\":\"v%d\"", t ? "," : "", t, r);
        n += (size_t)snprintf(doc + n, sizeof doc - n, "}");
        for (int f = 0; f < 30; f++)
            n += (size_t)snprintf(doc + n, sizeof doc - n, ",\"f%d\":%d.5", f, f + r);
        n += (size_t)snprintf(doc + n, sizeof doc - n, ",\"s\":\"");
        for (int k = 0; k < 100; k++)
            n += (size_t)snprintf(doc + n, sizeof doc - n, "\\n");
        n += (size_t)snprintf(doc + n, sizeof doc - n, "\"}");
    }
    n += (size_t)snprintf(doc + n, sizeof doc - n, "]");
    T_CHECK(n < sizeof doc - 1);
    T_OK(js(doc, "m"));
    T_EQ_INT(B.npts, 200);
    T_EQ_INT(B.pts[199].ntags, 20);
    T_EQ_INT(B.pts[199].nfields, 31);
    T_EQ_STR(find_tag(&B, 199, "t19"), "v199");
    T_CHECK(find_field(&B, 199, "f29")->v.f == 228.5);
    T_EQ_INT(find_field(&B, 199, "s")->v.s.n, 100);
}

static void test_depth_limit(void)
{
    char deep[256];
    size_t n = 0;
    deep[n++] = '{';
    for (int i = 0; i < 40; i++) {
        memcpy(deep + n, "\"a\":{", 5);
        n += 5;
    }
    deep[n] = '\0';
    T_EQ_INT(js(deep, "m"), NE_EPARSE);
    T_CHECK(strstr(R.first_error, "nesting too deep") != NULL);
    /* within the limit: fine */
    T_OK(js("{\"a\":{\"b\":{\"c\":{\"d\":1}}}}", "m"));
    T_CHECK(find_field(&B, 0, "a.b.c.d") != NULL);
}

static void test_cbor_map(void)
{
    /* {"measurement":"env","temp":21.5f32,"n":5,"neg":-3,"ok":true,
     *  "h":1.5f16,"raw":h'010203',"time":1767225600} */
    static const unsigned char in[] = {
        0xA8, 0x6B, 'm',  'e',  'a',  's',  'u',  'r',  'e',  'm',  'e',  'n',  't',  0x63,
        'e',  'n',  'v',  0x64, 't',  'e',  'm',  'p',  0xFA, 0x41, 0xAC, 0x00, 0x00, /* 21.5f */
        0x61, 'n',  0x05, 0x63, 'n',  'e',  'g',  0x22, 0x62, 'o',  'k',  0xF5, 0x61, 'h',
        0xF9, 0x3E, 0x00, /* 1.5 half */
        0x63, 'r',  'a',  'w',  0x43, 0x01, 0x02, 0x03, 0x64, 't',  'i',  'm',  'e',  0x1A,
        0x69, 0x55, 0xB9, 0x00, /* 1767225600 */
    };
    T_OK(cb(in, sizeof in, NULL));
    T_EQ_INT(B.npts, 1);
    T_CHECK(sv_is(B.pts[0].meas, "env"));
    T_CHECK(find_field(&B, 0, "temp")->v.f == 21.5);
    T_CHECK(find_field(&B, 0, "n")->v.f == 5.0);
    T_CHECK(find_field(&B, 0, "neg")->v.f == -3.0);
    T_CHECK(find_field(&B, 0, "ok")->v.b);
    T_CHECK(find_field(&B, 0, "h")->v.f == 1.5);
    T_EQ_STR(sv_str(find_field(&B, 0, "raw")->v.s), "AQID");
    T_EQ_INT(B.pts[0].ts, 1767225600000000000LL);
}

static void test_cbor_indefinite_and_tags(void)
{
    /* [_ {_ "v": 1, 1: "x", "s": (_ "ab", "cd")}, {"w": 0("2026-01-01T00:00:00Z")...} ]
     * simplified: second map has a tagged (tag 1) epoch time. */
    static const unsigned char in[] = {
        0x9F,                                                     /* array, indefinite */
        0xBF, 0x61, 'v',  0x01, 0x01, 0x61, 'x',                  /* "v":1, 1:"x" */
        0x61, 's',  0x7F, 0x62, 'a',  'b',  0x62, 'c', 'd', 0xFF, /* "s": (_ "ab","cd") */
        0xFF,                                                     /* end map */
        0xA2, 0x61, 'w',  0xF4, 0x64, 't',  'i',  'm', 'e', 0xC1,
        0x1A, 0x69, 0x55, 0xB9, 0x00, 0xFF, /* end array */
    };
    T_OK(cb(in, sizeof in, "m"));
    T_EQ_INT(B.npts, 2);
    T_EQ_STR(sv_str(find_field(&B, 0, "1")->v.s), "x");
    T_EQ_STR(sv_str(find_field(&B, 0, "s")->v.s), "abcd");
    T_CHECK(!find_field(&B, 1, "w")->v.b);
    T_EQ_INT(B.pts[1].ts, 1767225600000000000LL);
}

static void test_cbor_malformed(void)
{
    static const unsigned char trunc[] = {0xA1, 0x61, 'v', 0xFB, 0x40};
    T_EQ_INT(cb(trunc, sizeof trunc, "m"), NE_EPARSE);
    T_EQ_INT(B.npts, 0);
    T_CHECK(strncmp(R.first_error, "invalid CBOR at byte", 20) == 0);
    /* a length far beyond the input must not be trusted */
    static const unsigned char huge[] = {0x9B, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF};
    T_EQ_INT(cb(huge, sizeof huge, "m"), NE_EPARSE);
    static const unsigned char reserved[] = {0x1C};
    T_EQ_INT(cb(reserved, sizeof reserved, "m"), NE_EPARSE);
    static const unsigned char trailing[] = {0xA1, 0x61, 'v', 0x01, 0x00};
    T_EQ_INT(cb(trailing, sizeof trailing, "m"), NE_EPARSE);
    static const unsigned char badkey[] = {0xA1, 0xF5, 0x01};
    T_EQ_INT(cb(badkey, sizeof badkey, "m"), NE_EPARSE);
}

int main(void)
{
    ne_batch_init(&B);
    T_RUN(test_object);
    T_RUN(test_array_partial);
    T_RUN(test_missing_measurement);
    T_RUN(test_options);
    T_RUN(test_fields_object_and_escapes);
    T_RUN(test_fractional_numeric_time);
    T_RUN(test_rfc3339_offsets);
    T_RUN(test_syntax_errors_reject_whole);
    T_RUN(test_large_document);
    T_RUN(test_depth_limit);
    T_RUN(test_cbor_map);
    T_RUN(test_cbor_indefinite_and_tags);
    T_RUN(test_cbor_malformed);
    ne_batch_free(&B);
    return t_done();
}
