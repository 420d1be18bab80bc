/*
 * metrics.h - the process-wide metrics registry.
 *
 * Every module registers its counters, gauges and histograms here at start
 * (names in Prometheus form, e.g. "neoedge_ingest_points_total"), keeps the
 * returned handle and updates it lock-free from any thread. agent/ renders
 * the registry as Prometheus text at GET /metrics.
 *
 * Labels are fixed at registration: each (name, label set) is one series,
 * e.g. ne_metric_counter("neoedge_points_rejected_total",
 *      "Points rejected, by source and reason", "source=\"mqtt\",reason=\"parse\"").
 * Registering the same (name, labels) twice returns the same handle.
 * Handles live until ne_metrics_reset (tests) or process exit; never free them.
 */
#ifndef NE_PORTS_METRICS_H
#define NE_PORTS_METRICS_H

#include <stddef.h>
#include <stdint.h>

struct ne_metric; /* opaque, owned by the registry */

/* labels may be NULL or "" for none; otherwise `k="v",k2="v2"` (no braces;
 * values may use the escapes \\ \" \n). Returns NULL, after logging why,
 * for an invalid name or label set, a name already registered with another
 * type, a histogram with other bounds, or on allocation failure; updates on
 * a NULL handle are ignored, so callers need not check. */
struct ne_metric *ne_metric_counter(const char *name, const char *help, const char *labels);
struct ne_metric *ne_metric_gauge(const char *name, const char *help, const char *labels);
/* bounds: nb ascending upper bounds (the +Inf bucket is implicit). */
struct ne_metric *ne_metric_histogram(const char *name, const char *help, const char *labels,
                                      const double *bounds, size_t nb);

/* Counters only go up. Calls with a NULL handle are ignored. */
void ne_metric_add(struct ne_metric *m, uint64_t n);
static inline void ne_metric_inc(struct ne_metric *m)
{
    ne_metric_add(m, 1);
}
/* Gauges. */
void ne_metric_set(struct ne_metric *m, double v);
void ne_metric_gauge_add(struct ne_metric *m, double delta);
/* Histograms. */
void ne_metric_observe(struct ne_metric *m, double v);

/* Reads a counter or gauge value (tests, /health, the console). */
double ne_metric_value(const struct ne_metric *m);

/* Looks up a registered series; NULL if absent. */
struct ne_metric *ne_metric_find(const char *name, const char *labels);

/* A gauge computed on demand when the registry is rendered (and by
 * ne_metric_value). fn runs under the registry lock: it must be quick and
 * must not call ne_metric_* registration, find or render. Registering the
 * same series again replaces fn and ctx. */
typedef double (*ne_metric_fn)(void *ctx);
struct ne_metric *ne_metric_gauge_fn(const char *name, const char *help, const char *labels,
                                     ne_metric_fn fn, void *ctx);

/* Renders every series in Prometheus text exposition format 0.0.4, grouped
 * by name with one HELP and TYPE line each. Returns a malloc'd string the
 * caller frees with ne_free, or NULL on allocation failure. */
char *ne_metrics_render(size_t *len);

/* Drops every series (tests only; invalidates all handles). */
void ne_metrics_reset(void);

#endif
