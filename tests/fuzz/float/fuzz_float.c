/*
 * fuzz_float.c - the decoders' float parser against strtod.
 *
 * The input is decoded as a RAW payload: one value, a float when the whole
 * text (surrounding whitespace trimmed) is a decimal number. Whenever the
 * decoder reads a float, strtod must read the same text to its end and
 * give the same bits: the exact fast paths (Clinger, Eisel-Lemire) may
 * never round differently from the C library.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ingest/decode/decode.h"

static void check(int ok, const char *what, const char *text)
{
    if (!ok) {
        fprintf(stderr, "fuzz_float: %s: '%s'\n", what, text);
        abort();
    }
}

static int is_space(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 512) return 0;
    struct ne_decode_opts o;
    memset(&o, 0, sizeof o);
    o.format = NE_PAYLOAD_RAW;
    o.measurement = NE_SV("m");
    o.now_ns = 1;
    struct ne_batch b;
    ne_batch_init(&b);
    struct ne_decode_report r;
    int rc = ne_decode(&o, (const char *)data, size, &b, &r);
    check(rc == 0 || rc == NE_EPARSE || rc == NE_ENOMEM, "unexpected return", "");
    if (b.npts == 1 && b.fields[0].type == NE_V_FLOAT) {
        const char *p = (const char *)data;
        size_t n = size;
        while (n && is_space(p[0]))
            p++, n--;
        while (n && is_space(p[n - 1]))
            n--;
        char text[520];
        memcpy(text, p, n);
        text[n] = '\0';
        check(strlen(text) == n, "a float with a NUL inside", text);
        char *end = NULL;
        double want = strtod(text, &end);
        double got = b.fields[0].v.f;
        check(end == text + n, "strtod stops early", text);
        check(isfinite(got), "not finite", text);
        check(memcmp(&got, &want, sizeof got) == 0, "bits differ from strtod", text);
    }
    ne_batch_free(&b);
    return 0;
}
