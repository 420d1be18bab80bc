/*
 * ingest.h - what every ingest source shares: the payload formats, the
 * decoder entry point and the sink that decoded batches are written to.
 *
 * Sources (ingest/mqtt, ingest/coap, ingest/http) never call the store
 * directly: agent/ hands each one a struct ne_ingest_sink (today the local
 * store; with sharding, the forwarding layer), so one source works the same
 * on every node role.
 */
#ifndef NE_INGEST_INGEST_H
#define NE_INGEST_INGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/point.h"
#include "store/store.h"

enum ne_payload {
    NE_PAYLOAD_AUTO = 0, /* CoAP: by Content-Format; otherwise line protocol */
    NE_PAYLOAD_LINE,
    NE_PAYLOAD_JSON,
    NE_PAYLOAD_SENML_JSON,
    NE_PAYLOAD_SENML_CBOR,
    NE_PAYLOAD_CBOR,
    NE_PAYLOAD_RAW,
};

/* "line", "json", "senml-json", "senml-cbor", "cbor", "raw", "auto". */
const char *ne_payload_name(enum ne_payload p);

/* Where decoded batches go. write has the contract of ne_store_write
 * (returns after durability; NE_EBUSY/NE_ENOSPC/NE_EFAILED = not stored). */
struct ne_ingest_sink {
    int (*write)(void *ctx, const char *db, const struct ne_batch *b,
                 struct ne_write_result *res);
    void *ctx;
};

/* Sources: "mqtt", "coap", "http". Reasons: "parse", "too_large", "future",
 * "too_old", "type", "cardinality", "invalid", "backpressure", "auth",
 * "disk_full", "unavailable". Counts in neoedge_points_rejected_total{source,reason}
 * and neoedge_payloads_rejected_total{source,reason}. */
void ne_ingest_count_rejected(const char *source, const char *reason, uint64_t points);
void ne_ingest_count_accepted(const char *source, uint64_t points, uint64_t values);
/* Adds the store's per-reason rejections of one write to the counters. */
void ne_ingest_count_result(const char *source, const struct ne_write_result *res);

#endif
