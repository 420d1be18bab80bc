/*
 * decode_fuzz.h - the body shared by the decoder fuzz targets (json,
 * senml_json, senml_cbor): the first input byte picks options (time unit,
 * tag keys, a default measurement, extra tags, a time key, an error cap),
 * the rest is the payload. Checks that nothing crashes and that the report
 * agrees with the batch.
 */
#ifndef NE_TESTS_FUZZ_DECODE_FUZZ_H
#define NE_TESTS_FUZZ_DECODE_FUZZ_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ingest/decode/decode.h"

static void check(const char *target, int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "%s: %s\n", target, what);
        abort();
    }
}

/* Decodes data[1..] as format (as CBOR objects instead of JSON objects when
 * format is JSON and the first byte is odd) with options picked by data[0],
 * and checks the report against the batch. */
static int fuzz_decode_input(const char *target, enum ne_payload format, const uint8_t *data,
                             size_t size)
{
    if (size == 0) return 0;
    static const struct ne_sv tag_keys[] = {NE_SV("dev"), NE_SV("site")};
    static const struct ne_tag tags[] = {{NE_SV("gw"), NE_SV("g1")}};
    uint8_t sel = data[0];
    struct ne_decode_opts o;
    memset(&o, 0, sizeof o);
    o.format = format;
    if (format == NE_PAYLOAD_JSON && (sel & 1)) o.format = NE_PAYLOAD_CBOR;
    o.now_ns = 1767225600000000000LL;
    if (sel & 2) o.measurement = NE_SV("m");
    if (sel & 4) {
        o.tag_keys = tag_keys;
        o.ntag_keys = 2;
    }
    if (sel & 8) {
        o.tags = tags;
        o.ntags = 1;
    }
    static const int64_t units[4] = {0, 1, 1000000, 1000000000};
    o.time_unit_ns = units[(sel >> 4) & 3];
    if (sel & 64) o.time_key = NE_SV("t");
    if (sel & 128) o.max_errors = 2;
    struct ne_batch b;
    ne_batch_init(&b);
    struct ne_decode_report r;
    int rc = ne_decode(&o, (const char *)data + 1, size - 1, &b, &r);
    check(target, rc == 0 || rc == NE_EPARSE || rc == NE_ENOMEM, "unexpected return");
    check(target, r.points == b.npts && r.values == b.nfields, "report disagrees with batch");
    check(target, (rc == NE_EPARSE) == (r.bad > 0), "return code vs bad count");
    for (uint32_t i = 0; i < b.npts; i++) {
        check(target, b.pts[i].nfields > 0 && b.pts[i].meas.n > 0, "empty point");
        const struct ne_field *f = ne_point_fields(&b, &b.pts[i]);
        for (uint32_t k = 0; k < b.pts[i].nfields; k++) {
            check(target, f[k].key.n > 0, "empty field key");
            if (f[k].type == NE_V_STRING && f[k].v.s.n)
                check(target, f[k].v.s.p != NULL, "string without bytes");
        }
    }
    ne_batch_free(&b);
    return 0;
}

#endif
