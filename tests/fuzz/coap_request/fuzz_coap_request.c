/*
 * fuzz_coap_request.c - the CoAP server's request handling under libFuzzer:
 * one datagram is parsed by libcoap as a device's request and handled as
 * the server does (duplicate detection, Content-Format dispatch, the
 * decoders, the write, the reply), then sent again as a retransmission.
 *
 * Besides "no crash, no sanitizer report", checks:
 *  - every batch handed to the store is well formed (names non-empty,
 *    each point has a field);
 *  - the answer is one of the codes the server documents;
 *  - a retransmitted confirmable request is answered with the same code
 *    and is not written a second time.
 */
#include <coap3/coap.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "ingest/coap/coap_internal.h"
#include "ports/log.h"

static unsigned long g_writes;

static void check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_coap_request: %s\n", what);
        abort();
    }
}

static int count_write(void *ctx, const char *db, const struct ne_batch *b,
                       struct ne_write_result *res)
{
    (void)ctx;
    (void)db;
    check(b->npts > 0, "empty batch written");
    for (uint32_t i = 0; i < b->npts; i++) {
        check(b->pts[i].meas.n > 0, "point without a measurement");
        check(b->pts[i].nfields > 0, "point without a field");
    }
    g_writes++;
    res->accepted = b->npts;
    return 0;
}

static int known_code(uint8_t c)
{
    static const int codes[] = {204, 400, 413, 415, 500, 503};
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
        if (c == COAP_RESPONSE_CODE(codes[i])) return 1;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int quiet;
    if (!quiet) {
        ne_log_set_level(NE_LOG_OFF);
        quiet = 1;
    }
    struct ne_ingest_sink sink = {.write = count_write};
    struct ne_coap_probe p;
    unsigned long before = g_writes;
    check(ne_coap__handle_datagram(data, size, &sink, 4096, &p) == 0, "handler failed");
    if (!p.handled) return 0;
    check(known_code(p.code), "undocumented response code");
    int con = size > 0 && ((data[0] >> 4) & 3) == COAP_MESSAGE_CON;
    if (con) {
        check(p.retransmit_code == p.code, "retransmission answered differently");
        check(g_writes - before <= 1, "retransmission written twice");
    }
    return 0;
}
