/*
 * decode.h - payload decoders: bytes from MQTT, CoAP or HTTP -> a batch.
 *
 * One entry point, ne_decode(), turns a payload in one of the formats of
 * enum ne_payload (ingest/ingest.h) into points appended to a caller-owned
 * struct ne_batch (store/point.h). Decoding is zero-copy where it can be:
 * names and string values that need no unescaping are views into `buf`, so
 * the batch is valid only while `buf` is alive (see store/point.h). Text
 * that had to be unescaped or composed is copied into the batch's arena.
 * No allocation happens per point (the batch grows its arrays geometrically).
 *
 * Partial-write semantics (as InfluxDB's line protocol): each record (a line,
 * a JSON object, a SenML record) stands alone. A good record becomes a point,
 * a bad one is dropped and counted in the report, whose first_error names it
 * in InfluxDB's wording, e.g.
 *     unable to parse 'cpu value=12x': invalid number
 * A document that is not well-formed as a whole (JSON or CBOR syntax) is
 * rejected whole: no point of it is kept.
 *
 * Formats and their mapping to points:
 *
 * LINE (InfluxDB line protocol, the whole spec):
 *     measurement[,tag=val...] field=val[,field=val...] [timestamp]
 *   Escapes: measurement `\,` `\ `; tag keys/values and field keys `\,` `\=`
 *   `\ `; string field values `\"` `\\` (a backslash before anything else is
 *   kept). Values: floats (1, 1.5, -.5, 1e-3, 1.5E+10, inf/nan refused),
 *   integers 1i, unsigned 1u, strings "..." (may hold newlines), booleans
 *   t T true True TRUE f F false False FALSE. The timestamp is an integer in
 *   units of opts.precision_ns; absent means NE_TS_UNSET (arrival time).
 *   Lines starting with '#' and blank lines are skipped; CRLF is accepted.
 *   Integer and timestamp overflow are errors.
 *
 * JSON: one object, or an array of objects; each object is one point.
 *   - measurement: the string value of the key opts.measurement_key (default
 *     "measurement") if present, else opts.measurement; neither is an error.
 *   - time: the key opts.time_key (default: "time", else "timestamp"). A
 *     number is in units of opts.time_unit_ns (0: guessed from the magnitude:
 *     < 1e11 s, < 1e14 ms, < 1e17 us, else ns; fractions are kept); a string
 *     is RFC 3339 ("2026-01-01T00:00:00.5Z", "+02:00" offsets). Absent:
 *     NE_TS_UNSET.
 *   - tags: members of a nested object named "tags", and the top-level keys
 *     listed in opts.tag_keys; their values (strings, numbers or booleans as
 *     written) become tag values.
 *   - fields: every other member. Nested objects are flattened with '.'
 *     ({"a":{"b":1}} -> field "a.b"); array elements by index ("a.0"). A
 *     nested object named "fields" adds its members without a prefix.
 *     Numbers are floats (JSON does not tell 1 from 1.0, and a column keeps
 *     one type); booleans are booleans; strings are strings; null is skipped.
 *   Strict RFC 8259 syntax; nesting deeper than NE_DECODE_MAX_DEPTH refused.
 *
 * CBOR (RFC 8949, application/cbor): a map or an array of maps, treated
 *   exactly like JSON; integer and float values become floats, byte strings
 *   become base64url strings, integer map keys their decimal text, and tags
 *   are skipped (their content is used).
 *
 * SENML_JSON / SENML_CBOR (RFC 8428): an array of records. Base fields (bn,
 *   bt, bu, bv, bs, bver) carry over to the following records. Each record
 *   with a value is one point:
 *   - resolved name = bn + n, split at its last ':' or '/': the part before
 *     (without the separator) becomes the tag device=..., the rest is the
 *     field key ("value" if empty). Without a separator, no device tag.
 *     "urn:dev:ow:10e2073a01080063:voltage" -> device=urn:dev:ow:10e2073a01080063,
 *     field "voltage". Names must keep to RFC 8428's characters
 *     (A-Z a-z 0-9 - : . / _), else the record is bad.
 *   - measurement: opts.measurement, default "senml".
 *   - value: v (+bv) float, vs string, vb boolean, vd data (kept as its
 *     base64url text; CBOR byte strings are encoded to it). A sum s (+bs)
 *     becomes the float field "<key>_sum" (or the only field when there is
 *     no value).
 *   - unit: u (else bu) becomes the tag unit=... .
 *   - time: bt + t in seconds; a resolved time below 2^28 is relative to
 *     opts.now_ns (RFC 8428 section 4.5.3), so a record with neither is "now".
 *   - ut is ignored; an unknown key ending in '_' makes the record bad
 *     (must-understand); other unknown keys are ignored; bver > 10 is bad.
 *
 * RAW: the whole payload (surrounding whitespace trimmed) is one value of one
 *   point with opts.measurement and field opts.field (default "value"): a
 *   number is a float, true/false (any case InfluxDB accepts) a boolean, a
 *   "quoted" text a string without its quotes, anything else a string as is.
 *
 * Every point also gets the tags opts.tags (e.g. from an MQTT topic
 * template); they override payload tags of the same key.
 */
#ifndef NE_INGEST_DECODE_DECODE_H
#define NE_INGEST_DECODE_DECODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ingest/ingest.h"
#include "store/point.h"

/* Deepest JSON/CBOR nesting accepted (objects and arrays together). */
#define NE_DECODE_MAX_DEPTH 32

/* What to decode and how. A zero-initialised struct is valid: line protocol
 * with nanosecond timestamps, arrival time from the wall clock. All pointers
 * are borrowed for the duration of the call only, except that views of
 * opts->tags, measurement and field may be stored in the batch: keep them
 * alive as long as the batch. */
struct ne_decode_opts {
    enum ne_payload format;    /* NE_PAYLOAD_AUTO means LINE */
    int64_t now_ns;            /* arrival time (SenML relative times);
                                  0: ne_time_wall_ns() at the call */
    int64_t precision_ns;      /* LINE timestamp unit: 1 (ns, also for 0), 1000,
                                  1000000, 1e9, 60e9, 3600e9 */
    struct ne_sv measurement;  /* default measurement (JSON, CBOR, RAW, SenML) */
    struct ne_sv field;        /* RAW field key; empty: "value" */
    const struct ne_tag *tags; /* extra tags for every point */
    size_t ntags;
    struct ne_sv time_key;        /* JSON/CBOR; empty: "time", then "timestamp" */
    int64_t time_unit_ns;         /* JSON/CBOR numeric time unit; 0: guess */
    struct ne_sv measurement_key; /* JSON/CBOR; empty: "measurement" */
    const struct ne_sv *tag_keys; /* JSON/CBOR top-level keys that are tags */
    size_t ntag_keys;
    uint32_t max_errors; /* stop after this many bad records; 0: never */
    bool no_series_cache; /* LINE: parse every line's series in full instead
                             of reusing the tags of an earlier line with the
                             same series text (the result is the same) */
    struct ne_series_memo *memo; /* LINE: series of earlier payloads (see
                                    below); NULL: none. Ignored with
                                    no_series_cache. */
};

/* A memo of line-protocol series across payloads: each series text (the
 * measurement and tag section of a line, as sent) with its decoded
 * measurement and tags, so a later payload's line with the same text
 * skips parsing, sorting and copying them. For a source that decodes
 * payload after payload from the same devices into batches it writes and
 * then resets, such as an HTTP writer. The result of ne_decode is the same
 * with or without it.
 *
 * Ownership: the caller owns the memo and passes it in opts->memo to one
 * ne_decode at a time. Points decoded with it hold views into it: they
 * stay valid until the next ne_decode with the same memo (which may start
 * it over) or ne_series_memo_free. It holds at most max_bytes (0: 4 MiB);
 * once full it takes no new series, and is started over when it found
 * fewer than one in nine of the series a whole payload looked up. */
struct ne_series_memo;

/* Makes an empty memo. Returns 0 or NE_ENOMEM (*out NULL). */
int ne_series_memo_new(size_t max_bytes, struct ne_series_memo **out);
/* Frees the memo (NULL is fine). */
void ne_series_memo_free(struct ne_series_memo *m);
/* Bytes the memo holds now; series it holds now. */
size_t ne_series_memo_bytes(const struct ne_series_memo *m);
uint32_t ne_series_memo_count(const struct ne_series_memo *m);

/* What happened. Filled by ne_decode (zeroed first). */
struct ne_decode_report {
    uint32_t records;      /* records seen (blank and comment lines excluded) */
    uint32_t points;       /* points appended to the batch */
    uint64_t values;       /* field values appended */
    uint32_t bad;          /* records dropped */
    uint32_t first_record; /* 1-based line (LINE) or record index of the
                              first bad record; 0 if none */
    int first_code;        /* NE_E* of the first bad record (NE_EPARSE,
                              NE_ERANGE, NE_EINVAL); 0 if none */
    bool stopped;          /* max_errors reached: the rest was not read */
    char first_error[512]; /* message for the first bad record; "" if none */
};

/* Decodes buf[0..len) as opts->format and appends the points to out (which
 * the caller owns, initialised with ne_batch_init; existing points are
 * kept). rep may be NULL.
 * Returns 0 when every record decoded; NE_EPARSE when at least one record
 * was bad or the document is malformed (the good records are in out; see
 * rep); NE_ENOMEM on allocation failure (out keeps the points completed
 * before it); NE_EINVAL for invalid opts (unknown format, precision <= 0
 * other than 0). Never logs: the caller knows the source and logs once. */
int ne_decode(const struct ne_decode_opts *opts, const char *buf, size_t len, struct ne_batch *out,
              struct ne_decode_report *rep);

/* Maps a CoAP Content-Format number to a payload format: 0 text/plain ->
 * LINE, 50 application/json -> JSON, 60 application/cbor -> CBOR,
 * 110 application/senml+json -> SENML_JSON, 112 application/senml+cbor ->
 * SENML_CBOR. Returns 0 or NE_EUNSUPPORTED (*out untouched). */
int ne_decode_content_format(unsigned cf, enum ne_payload *out);

/* Maps an HTTP Content-Type (parameters such as "; charset=utf-8" ignored,
 * case-insensitive) the same way: text/plain -> LINE, application/json,
 * application/cbor, application/senml+json, application/senml+cbor.
 * NULL or "" -> LINE. Returns 0 or NE_EUNSUPPORTED. */
int ne_decode_content_type(const char *ct, enum ne_payload *out);

/* Parses an InfluxDB precision: "" or NULL (ns), "n"/"ns", "u"/"us"/"µ",
 * "ms", "s", "m", "h". Writes the unit in nanoseconds. 0 or NE_EINVAL. */
int ne_decode_precision(const char *s, int64_t *out_ns);

#endif
