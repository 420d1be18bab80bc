/*
 * ingest.c - what every ingest source shares: payload format names and the
 * acceptance/rejection counters of ingest/ingest.h.
 *
 * Series in the metrics registry (labels fixed per series):
 *   neoedge_points_accepted_total{source}        points the sink stored
 *   neoedge_values_accepted_total{source}        their field values
 *   neoedge_points_rejected_total{source,reason} points refused
 *   neoedge_payloads_rejected_total{source,reason} payloads (messages,
 *       requests) with at least one point refused for that reason
 * Handles are looked up on every call (the registry returns the same
 * handle for the same series): counters move once per payload, not per
 * point, and tests may reset the registry between cases.
 */
#include "ingest/ingest.h"

#include <stdio.h>

#include "ports/metrics.h"

const char *ne_payload_name(enum ne_payload p)
{
    switch (p) {
    case NE_PAYLOAD_AUTO:
        return "auto";
    case NE_PAYLOAD_LINE:
        return "line";
    case NE_PAYLOAD_JSON:
        return "json";
    case NE_PAYLOAD_SENML_JSON:
        return "senml-json";
    case NE_PAYLOAD_SENML_CBOR:
        return "senml-cbor";
    case NE_PAYLOAD_CBOR:
        return "cbor";
    case NE_PAYLOAD_RAW:
        return "raw";
    }
    return "unknown";
}

static struct ne_metric *counter(const char *name, const char *help, const char *source,
                                 const char *reason)
{
    char labels[160];
    if (reason)
        snprintf(labels, sizeof labels, "source=\"%s\",reason=\"%s\"", source, reason);
    else
        snprintf(labels, sizeof labels, "source=\"%s\"", source);
    return ne_metric_counter(name, help, labels);
}

void ne_ingest_count_rejected(const char *source, const char *reason, uint64_t points)
{
    ne_metric_add(counter("neoedge_points_rejected_total", "Points rejected, by source and reason",
                          source, reason),
                  points);
    ne_metric_inc(counter("neoedge_payloads_rejected_total",
                          "Payloads with points rejected, by source and reason", source, reason));
}

void ne_ingest_count_accepted(const char *source, uint64_t points, uint64_t values)
{
    ne_metric_add(
        counter("neoedge_points_accepted_total", "Points accepted, by source", source, NULL),
        points);
    ne_metric_add(
        counter("neoedge_values_accepted_total", "Field values accepted, by source", source, NULL),
        values);
}

void ne_ingest_count_result(const char *source, const struct ne_write_result *res)
{
    for (int r = 0; r < NE_REJ__COUNT; r++)
        if (res->by_reason[r])
            ne_ingest_count_rejected(source, ne_reject_name((enum ne_reject)r), res->by_reason[r]);
}
