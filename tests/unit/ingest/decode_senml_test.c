/*
 * decode_senml_test.c - SenML JSON and CBOR (RFC 8428): the RFC's examples,
 * base values, relative times, every value kind, must-understand labels,
 * and CBOR with integer labels built by hand.
 */
#include "decode_util.h"
#include "t.h"

#define NOW 1767225600000000000LL

static struct ne_batch B;
static struct ne_decode_report R;

static int sj(const char *text)
{
    ne_batch_reset(&B);
    return dec_text(NE_PAYLOAD_SENML_JSON, text, &B, &R);
}

/* RFC 8428 section 5.1.2: multiple data points, base name. */
static void test_rfc_multiple_datapoints(void)
{
    T_OK(sj("[{\"bn\":\"urn:dev:ow:10e2073a01080063:\",\"n\":\"voltage\",\"u\":\"V\",\"v\":120.1},"
            "{\"n\":\"current\",\"u\":\"A\",\"v\":1.2}]"));
    T_EQ_INT(B.npts, 2);
    T_CHECK(sv_is(B.pts[0].meas, "senml"));
    T_EQ_STR(find_tag(&B, 0, "device"), "urn:dev:ow:10e2073a01080063");
    T_EQ_STR(find_tag(&B, 0, "unit"), "V");
    T_CHECK(find_field(&B, 0, "voltage")->v.f == 120.1);
    T_EQ_STR(find_tag(&B, 1, "unit"), "A");
    T_CHECK(find_field(&B, 1, "current")->v.f == 1.2);
    /* no time at all: "now" */
    T_EQ_INT(B.pts[0].ts, NOW);
}

/* RFC 8428 section 5.1.3: base time, base unit, relative t. */
static void test_rfc_base_time(void)
{
    T_OK(sj("[{\"bn\":\"urn:dev:ow:10e2073a0108006:\",\"bt\":1.276020076001e+09,"
            "\"bu\":\"A\",\"bver\":5,\"n\":\"voltage\",\"u\":\"V\",\"v\":120.1},"
            "{\"n\":\"current\",\"t\":-5,\"v\":1.2},{\"n\":\"current\",\"t\":-4,\"v\":1.3}]"));
    T_EQ_INT(B.npts, 3);
    T_EQ_INT(B.pts[0].ts, 1276020076001000000LL);
    T_EQ_INT(B.pts[1].ts, 1276020071001000000LL);
    T_EQ_INT(B.pts[2].ts, 1276020072001000000LL);
    T_EQ_STR(find_tag(&B, 1, "unit"), "A"); /* bu carries over */
    T_EQ_STR(find_tag(&B, 0, "unit"), "V");
}

static void test_relative_time_and_base_value(void)
{
    T_OK(sj("[{\"bn\":\"dev1/\",\"bv\":100,\"n\":\"temp\",\"v\":1.5,\"t\":-10},"
            "{\"n\":\"temp\",\"v\":2}]"));
    T_EQ_INT(B.pts[0].ts, NOW - 10000000000LL);
    T_CHECK(find_field(&B, 0, "temp")->v.f == 101.5);
    T_CHECK(find_field(&B, 1, "temp")->v.f == 102.0);
    T_EQ_STR(find_tag(&B, 0, "device"), "dev1");
}

static void test_value_kinds(void)
{
    T_OK(sj("[{\"n\":\"d:s\",\"vs\":\"hello\"},{\"n\":\"d:b\",\"vb\":false},"
            "{\"n\":\"d:raw\",\"vd\":\"aGk\"},{\"n\":\"d:e\",\"s\":42.5},"
            "{\"n\":\"d:both\",\"v\":1,\"s\":3}]"));
    T_EQ_INT(B.npts, 5);
    T_EQ_STR(sv_str(find_field(&B, 0, "s")->v.s), "hello");
    T_CHECK(find_field(&B, 1, "b")->type == NE_V_BOOL && !find_field(&B, 1, "b")->v.b);
    T_EQ_STR(sv_str(find_field(&B, 2, "raw")->v.s), "aGk");
    T_CHECK(find_field(&B, 3, "e")->v.f == 42.5);
    T_CHECK(find_field(&B, 4, "both")->v.f == 1.0);
    T_CHECK(find_field(&B, 4, "both_sum")->v.f == 3.0);
}

static void test_name_without_separator_and_measurement_opt(void)
{
    struct ne_decode_opts o;
    memset(&o, 0, sizeof o);
    o.format = NE_PAYLOAD_SENML_JSON;
    o.measurement = NE_SV("env");
    o.now_ns = NOW;
    const char *in = "[{\"n\":\"temperature\",\"v\":21},{\"v\":3}]";
    ne_batch_reset(&B);
    T_OK(ne_decode(&o, in, strlen(in), &B, &R));
    T_CHECK(sv_is(B.pts[0].meas, "env"));
    T_CHECK(find_field(&B, 0, "temperature") != NULL);
    T_CHECK(find_tag(&B, 0, "device") == NULL);
    T_CHECK(find_field(&B, 1, "value") != NULL);
}

static void test_bad_records(void)
{
    T_EQ_INT(sj("[{\"n\":\"a\",\"v\":1},{\"n\":\"b\",\"x_\":1,\"v\":2},{\"bver\":11,\"n\":\"c\","
                "\"v\":3},{\"n\":\"d\"},{\"n\":\"e\",\"v\":\"1\"},{\"n\":\"f g\",\"v\":1},"
                "{\"n\":\"h\",\"v\":1,\"vs\":\"x\"},{\"n\":\"ok\",\"v\":1,\"ut\":5,\"zz\":1}]"),
             NE_EPARSE);
    T_EQ_INT(R.points, 2);
    T_EQ_INT(R.bad, 6);
    T_EQ_INT(R.first_record, 2);
    T_EQ_STR(R.first_error, "record 2: unsupported must-understand field");
}

static void test_base_only_record(void)
{
    T_OK(sj("[{\"bn\":\"gw:\",\"bt\":1767225600},{\"n\":\"x\",\"v\":1}]"));
    T_EQ_INT(R.records, 1);
    T_EQ_INT(B.npts, 1);
    T_EQ_STR(find_tag(&B, 0, "device"), "gw");
    T_EQ_INT(B.pts[0].ts, NOW);
}

static void test_senml_cbor(void)
{
    /* [{-2: "urn:dev:x:", -3: 1767225600, 0: "temp", 1: "Cel", 2: 21.5f16? }, {0: "on", 4: true},
     *  {0: "blob", 8: h'010203'}] */
    static const unsigned char in[] = {
        0x83, 0xA5, 0x21, 0x6A, 'u',  'r',  'n',  ':',  'd',  'e',  'v',  ':',  'x', ':', /* bn */
        0x22, 0x1A, 0x69, 0x55, 0xB9, 0x00,                                               /* bt */
        0x00, 0x64, 't',  'e',  'm',  'p',                                                /* n */
        0x01, 0x63, 'C',  'e',  'l',                                                      /* u */
        0x02, 0xF9, 0x4D, 0x60,                                                 /* v 21.5 half */
        0xA2, 0x00, 0x62, 'o',  'n',  0x04, 0xF5,                               /* vb */
        0xA2, 0x00, 0x64, 'b',  'l',  'o',  'b',  0x08, 0x43, 0x01, 0x02, 0x03, /* vd */
    };
    struct ne_decode_opts o;
    memset(&o, 0, sizeof o);
    o.format = NE_PAYLOAD_SENML_CBOR;
    o.now_ns = NOW;
    ne_batch_reset(&B);
    T_OK(ne_decode(&o, (const char *)in, sizeof in, &B, &R));
    T_EQ_INT(B.npts, 3);
    T_EQ_STR(find_tag(&B, 0, "device"), "urn:dev:x");
    T_EQ_STR(find_tag(&B, 0, "unit"), "Cel");
    T_CHECK(find_field(&B, 0, "temp")->v.f == 21.5);
    T_EQ_INT(B.pts[0].ts, NOW);
    T_CHECK(find_field(&B, 1, "on")->v.b);
    T_EQ_STR(sv_str(find_field(&B, 2, "blob")->v.s), "AQID");
}

static void test_not_a_pack(void)
{
    T_EQ_INT(sj("[1,{\"n\":\"a\",\"v\":1}]"), NE_EPARSE);
    T_EQ_STR(R.first_error, "record 1: expected a record object");
    T_EQ_INT(B.npts, 1);
    T_EQ_INT(sj("[{\"n\":\"a\",\"v\":1}"), NE_EPARSE);
    T_EQ_INT(B.npts, 0);
}

int main(void)
{
    ne_batch_init(&B);
    T_RUN(test_rfc_multiple_datapoints);
    T_RUN(test_rfc_base_time);
    T_RUN(test_relative_time_and_base_value);
    T_RUN(test_value_kinds);
    T_RUN(test_name_without_separator_and_measurement_opt);
    T_RUN(test_bad_records);
    T_RUN(test_base_only_record);
    T_RUN(test_senml_cbor);
    T_RUN(test_not_a_pack);
    ne_batch_free(&B);
    return t_done();
}
