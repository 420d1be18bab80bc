/*
 * coap_internal.h - an entry point into the CoAP server's request handling
 * without sockets, for the fuzz target (tests/fuzz/coap_request). Not part
 * of the public API.
 */
#ifndef NE_INGEST_COAP_INTERNAL_H
#define NE_INGEST_COAP_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "ingest/ingest.h"

/* What ne_coap__handle_datagram did with one datagram. */
struct ne_coap_probe {
    int parsed;         /* 1 when libcoap accepted the bytes as a UDP CoAP message */
    int handled;        /* 1 when it reached the write handler (a POST to a path) */
    uint8_t code;            /* the response code sent, COAP_RESPONSE_CODE form */
    uint8_t retransmit_code; /* the code answered when the same datagram comes again */
};

/* Parses data as one CoAP-over-UDP datagram from a fixed peer and runs it
 * through the server's handling exactly as a request to one of paths
 * (format auto, database "fuzz") would go: duplicate detection, Content-
 * Format dispatch, decoding, the write to sink, the reply; then sends the
 * same datagram again to exercise the retransmission cache. Single-
 * threaded; keeps a private server state across calls (first call sets it
 * up; max_payload caps bodies). Returns 0, or NE_ENOMEM. */
int ne_coap__handle_datagram(const uint8_t *data, size_t len, const struct ne_ingest_sink *sink,
                             uint64_t max_payload, struct ne_coap_probe *out);

#endif
