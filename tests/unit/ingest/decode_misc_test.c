/*
 * decode_misc_test.c - RAW payloads, option checks, and the format and
 * precision helpers (CoAP Content-Format, HTTP Content-Type, precision).
 */
#include "decode_util.h"
#include "ports/platform.h"
#include "t.h"

static struct ne_batch B;
static struct ne_decode_report R;

static int raw(const char *text, const char *meas, const char *field)
{
    struct ne_decode_opts o;
    memset(&o, 0, sizeof o);
    o.format = NE_PAYLOAD_RAW;
    o.now_ns = 1;
    if (meas) o.measurement = ne_sv_c(meas);
    if (field) o.field = ne_sv_c(field);
    ne_batch_reset(&B);
    return ne_decode(&o, text, strlen(text), &B, &R);
}

static void test_raw_values(void)
{
    T_OK(raw(" 21.5\n", "env", NULL));
    const struct ne_field *f = find_field(&B, 0, "value");
    T_CHECK(f && f->type == NE_V_FLOAT && f->v.f == 21.5);
    T_EQ_INT(B.pts[0].ts, NE_TS_UNSET);
    T_OK(raw("-3", "env", "temp"));
    T_CHECK(find_field(&B, 0, "temp")->v.f == -3.0);
    T_OK(raw("TRUE", "env", NULL));
    T_CHECK(find_field(&B, 0, "value")->type == NE_V_BOOL);
    T_OK(raw("\"hello world\"", "env", NULL));
    T_EQ_STR(sv_str(find_field(&B, 0, "value")->v.s), "hello world");
    T_OK(raw("open", "env", NULL));
    T_EQ_STR(sv_str(find_field(&B, 0, "value")->v.s), "open");
    T_CHECK(find_field(&B, 0, "value")->type == NE_V_STRING);
}

static void test_raw_errors(void)
{
    T_EQ_INT(raw("  \r\n", "env", NULL), NE_EPARSE);
    T_EQ_STR(R.first_error, "empty payload");
    T_EQ_INT(raw("1", NULL, NULL), NE_EPARSE);
    T_EQ_STR(R.first_error, "missing measurement");
    T_EQ_INT(B.npts, 0);
}

static void test_option_checks(void)
{
    struct ne_decode_opts o;
    memset(&o, 0, sizeof o);
    o.format = (enum ne_payload)99;
    T_EQ_INT(ne_decode(&o, "m v=1", 5, &B, &R), NE_EINVAL);
    o.format = NE_PAYLOAD_LINE;
    o.precision_ns = -1;
    T_EQ_INT(ne_decode(&o, "m v=1", 5, &B, &R), NE_EINVAL);
    o.precision_ns = 0;
    T_EQ_INT(ne_decode(&o, NULL, 5, &B, &R), NE_EINVAL);
    T_OK(ne_decode(&o, NULL, 0, &B, NULL));
}

static void test_content_format(void)
{
    enum ne_payload p = NE_PAYLOAD_AUTO;
    T_OK(ne_decode_content_format(0, &p));
    T_EQ_INT(p, NE_PAYLOAD_LINE);
    T_OK(ne_decode_content_format(50, &p));
    T_EQ_INT(p, NE_PAYLOAD_JSON);
    T_OK(ne_decode_content_format(60, &p));
    T_EQ_INT(p, NE_PAYLOAD_CBOR);
    T_OK(ne_decode_content_format(110, &p));
    T_EQ_INT(p, NE_PAYLOAD_SENML_JSON);
    T_OK(ne_decode_content_format(112, &p));
    T_EQ_INT(p, NE_PAYLOAD_SENML_CBOR);
    T_EQ_INT(ne_decode_content_format(42, &p), NE_EUNSUPPORTED);
    T_EQ_INT(p, NE_PAYLOAD_SENML_CBOR);
}

static void test_content_type(void)
{
    enum ne_payload p;
    T_OK(ne_decode_content_type("application/senml+json; charset=utf-8", &p));
    T_EQ_INT(p, NE_PAYLOAD_SENML_JSON);
    T_OK(ne_decode_content_type("Text/Plain", &p));
    T_EQ_INT(p, NE_PAYLOAD_LINE);
    T_OK(ne_decode_content_type(NULL, &p));
    T_EQ_INT(p, NE_PAYLOAD_LINE);
    T_EQ_INT(ne_decode_content_type("application/xml", &p), NE_EUNSUPPORTED);
    T_EQ_INT(ne_decode_content_type("application/jsonx", &p), NE_EUNSUPPORTED);
}

static void test_precision(void)
{
    int64_t ns = 0;
    T_OK(ne_decode_precision(NULL, &ns));
    T_EQ_INT(ns, 1);
    T_OK(ne_decode_precision("u", &ns));
    T_EQ_INT(ns, 1000);
    T_OK(ne_decode_precision("ms", &ns));
    T_EQ_INT(ns, 1000000);
    T_OK(ne_decode_precision("s", &ns));
    T_EQ_INT(ns, 1000000000);
    T_OK(ne_decode_precision("m", &ns));
    T_EQ_INT(ns, 60000000000LL);
    T_OK(ne_decode_precision("h", &ns));
    T_EQ_INT(ns, 3600000000000LL);
    T_EQ_INT(ne_decode_precision("d", &ns), NE_EINVAL);
    T_EQ_INT(ns, 3600000000000LL);
}

/* Every allocation of a decode fails in turn: the result is either a clean
 * NE_ENOMEM with only complete points in the batch, or the full result
 * (also when the allocation that failed was the line decoder's optional
 * series cache: it then decodes every line in full); ASan's leak check
 * covers the cleanup. */
static void test_allocation_failures(void)
{
    static const struct {
        enum ne_payload fmt;
        const char *text;
    } cases[] = {
        {NE_PAYLOAD_LINE, "a\\,b,t\\ x=1 f=1,s=\"q\\\"\" 1\nm v=2\nbad\n"},
        {NE_PAYLOAD_JSON, "[{\"a\":{\"b\":1},\"s\":\"x\\n\",\"tags\":{\"t\":2}},{\"v\":3}]"},
        {NE_PAYLOAD_SENML_JSON,
         "[{\"bn\":\"d:\",\"n\":\"x:y\",\"v\":1,\"s\":2},{\"n\":\"z\",\"vb\":true}]"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        struct ne_decode_opts o;
        memset(&o, 0, sizeof o);
        o.format = cases[k].fmt;
        o.measurement = NE_SV("m");
        o.now_ns = 1;
        int full = -1;
        struct ne_batch whole;
        ne_batch_init(&whole);
        T_CHECK(ne_decode(&o, cases[k].text, strlen(cases[k].text), &whole, &R) != NE_ENOMEM);
        uint32_t want = whole.npts;
        ne_batch_free(&whole);
        for (uint64_t nth = 1; nth < 200 && full < 0; nth++) {
            struct ne_batch b;
            ne_batch_init(&b);
            ne_fault_reset();
            ne_fault_arm(NE_FAULT_ALLOC, nth, NE_FAULT_NULL, false);
            int rc = ne_decode(&o, cases[k].text, strlen(cases[k].text), &b, &R);
            uint64_t fired = ne_fault_fired(NE_FAULT_ALLOC);
            ne_fault_reset();
            if (fired && rc != NE_ENOMEM) {
                T_EQ_INT(cases[k].fmt, NE_PAYLOAD_LINE);
                T_EQ_INT(b.npts, want);
            } else if (fired) {
                T_CHECK(!b.open);
                for (uint32_t i = 0; i < b.npts; i++)
                    T_CHECK(b.pts[i].nfields > 0);
            } else {
                full = (int)nth;
                T_CHECK(rc == 0 || rc == NE_EPARSE);
                T_CHECK(b.npts >= 2);
            }
            ne_batch_free(&b);
        }
        T_CHECK(full > 1); /* at least one allocation was made and failed */
    }
}

static void test_payload_names(void)
{
    T_EQ_STR(ne_payload_name(NE_PAYLOAD_SENML_CBOR), "senml-cbor");
    T_EQ_STR(ne_payload_name(NE_PAYLOAD_LINE), "line");
    T_EQ_STR(ne_payload_name(NE_PAYLOAD_AUTO), "auto");
}

int main(void)
{
    ne_batch_init(&B);
    T_RUN(test_raw_values);
    T_RUN(test_raw_errors);
    T_RUN(test_option_checks);
    T_RUN(test_content_format);
    T_RUN(test_content_type);
    T_RUN(test_precision);
    T_RUN(test_allocation_failures);
    T_RUN(test_payload_names);
    ne_batch_free(&B);
    return t_done();
}
