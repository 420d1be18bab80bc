/*
 * scan.h - the remote read protocol: a node asks a peer for the column
 * chunks (or the names) of the shards it chose that peer for.
 *
 * A shard is ne_ring_series_hash(measurement, tags) % ring_shards; the
 * caller sends its ring's shard count with the shard ids, so the callee
 * answers from its own store without consulting its own ring. Replies are
 * bounded (max_reply bytes, default NE_SCAN_REPLY_DEFAULT): a scan that
 * does not fit ends its reply with a continuation token and the caller
 * asks again with it, so neither side ever builds one huge reply. The wire
 * layouts are specified in scan.c; every decoder takes untrusted bytes and
 * answers NE_ECORRUPT rather than read out of bounds.
 *
 * Frame types (frame.h): NE_FT_SCAN_REQ -> NE_FT_SCAN_REPLY,
 * NE_FT_META_REQ -> NE_FT_META_REPLY.
 */
#ifndef NE_SHARDING_SCAN_H
#define NE_SHARDING_SCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sharding/frame.h"
#include "store/point.h"
#include "store/query/query.h"

struct ne_transport;

#define NE_SCAN_WIRE_VERSION  1
#define NE_SCAN_REPLY_DEFAULT (1u << 20) /* reply budget when max_reply is 0 */
#define NE_SCAN_REPLY_MIN     1024u      /* smaller budgets are raised to this */
#define NE_SCAN_REPLY_MAX     (8u << 20) /* larger budgets are lowered to this */

/* Where a paged scan goes on: the callee's series `series` (its local id)
 * from timestamp ts, then the series after it. Opaque to the caller. */
struct ne_scan_token {
    bool set; /* false: from the start (request) / nothing more (reply) */
    uint64_t series;
    int64_t ts;
};

/* One scan: the points of one field in [t0, t1] of the series of db.meas
 * whose shard is listed (and, when nseries > 0, whose series hash is
 * listed). Strings are NUL-terminated, 0..65535 bytes; field non-empty.
 * Arrays ascending. */
struct ne_scan_req {
    const char *db, *meas, *field;
    uint8_t type; /* enum ne_vtype the caller expects for field */
    int64_t t0, t1;
    uint32_t ring_shards; /* the caller's shard count, >= 1 */
    const uint32_t *shards;
    uint32_t nshards;
    const uint64_t *series; /* series hashes; NULL with nseries 0: all */
    uint32_t nseries;
    struct ne_scan_token token;
    uint32_t max_reply; /* reply budget in bytes; 0: NE_SCAN_REPLY_DEFAULT */
    void *owned_;       /* set by ne_scan_req_decode */
};

/* Appends the encoded request to out. 0, NE_EINVAL (a string too long, no
 * field, ring_shards 0) or NE_ENOMEM. */
int ne_scan_req_encode(const struct ne_scan_req *r, struct ne_pbuf *out);

/* Decodes a request: strings point into p (borrowed), the arrays are
 * allocated (release with ne_scan_req_release, after an error too).
 * Returns 0, NE_ECORRUPT (short,
 * trailing bytes, unsorted arrays, a shard >= ring_shards, bad strings),
 * NE_EVERSION or NE_ENOMEM. */
int ne_scan_req_decode(const uint8_t *p, size_t n, struct ne_scan_req *out);
void ne_scan_req_release(struct ne_scan_req *r);

/* A column chunk as it travels: the series' identity, the field's type and
 * n points (ts ascending; vals the type's array, see store/codec/codec.h).
 * Views are borrowed for the call they are given to. */
struct ne_scan_chunk_msg {
    struct ne_sv meas;
    const struct ne_tag *tags; /* sorted by key */
    uint32_t ntags;
    uint8_t type; /* enum ne_vtype */
    size_t n;
    const int64_t *ts;
    const void *vals;
};
typedef int (*ne_scan_chunk_fn)(void *arg, const struct ne_scan_chunk_msg *c);

/* Reply building: init (out emptied), add chunks, finish with the token
 * to go on from (NULL or !set: the scan is complete). */
int ne_scan_reply_init(struct ne_pbuf *out);
int ne_scan_reply_add(struct ne_pbuf *out, const struct ne_scan_chunk_msg *c);
void ne_scan_reply_finish(struct ne_pbuf *out, const struct ne_scan_token *next);
/* Bytes a chunk of c takes in a reply (ne_scan_reply_add appends this). */
size_t ne_scan_chunk_size(const struct ne_scan_chunk_msg *c);

/* Parses a reply: calls fn for each chunk in order, then sets *next.
 * Returns 0, NE_ECORRUPT / NE_EVERSION, NE_ENOMEM, or fn's non-zero value
 * (which stops the parse). */
int ne_scan_reply_parse(const uint8_t *p, size_t n, struct ne_scan_token *next, ne_scan_chunk_fn fn,
                        void *arg);

/* ---- metadata ---------------------------------------------------------- */

enum ne_meta_op {
    NE_META_DATABASES = 1,    /* names */
    NE_META_MEASUREMENTS = 2, /* names of db's measurements */
    NE_META_FIELDS = 3,       /* field keys of db.meas, with their types */
    NE_META_SERIES = 4,       /* tag sets of db.meas's series in the shards listed */
};

struct ne_meta_req {
    uint8_t op;            /* enum ne_meta_op */
    const char *db, *meas; /* "" where the op needs none */
    uint32_t ring_shards;  /* NE_META_SERIES: as in ne_scan_req */
    const uint32_t *shards;
    uint32_t nshards;
    uint32_t skip;      /* entries already received (paging) */
    uint32_t max_reply; /* 0: NE_SCAN_REPLY_DEFAULT */
    void *owned_;
};
int ne_meta_req_encode(const struct ne_meta_req *r, struct ne_pbuf *out);
/* As ne_scan_req_decode. */
int ne_meta_req_decode(const uint8_t *p, size_t n, struct ne_meta_req *out);
void ne_meta_req_release(struct ne_meta_req *r);

/* One entry of a metadata reply: name (+ type for fields), or a series'
 * tags for NE_META_SERIES. Borrowed for the call. */
struct ne_meta_entry {
    const char *name;
    uint8_t type;
    const struct ne_tag *tags;
    uint32_t ntags;
};
typedef int (*ne_meta_entry_fn)(void *arg, const struct ne_meta_entry *e);

/* Reply building for op: init, add entries, finish (more: entries remain;
 * the caller asks again with skip = what it has received). */
int ne_meta_reply_init(struct ne_pbuf *out);
int ne_meta_reply_add(struct ne_pbuf *out, uint8_t op, const struct ne_meta_entry *e);
void ne_meta_reply_finish(struct ne_pbuf *out, bool more);
/* Parses a reply of op: fn per entry, then *more. Returns 0, NE_ECORRUPT,
 * NE_EVERSION, NE_ENOMEM or fn's non-zero value. */
int ne_meta_reply_parse(const uint8_t *p, size_t n, uint8_t op, bool *more, ne_meta_entry_fn fn,
                        void *arg);

/* ---- serving and calling ----------------------------------------------- */

/* True for the request types ne_scan_serve answers. */
bool ne_scan_is_request(uint8_t type);

/* Answers one request from this node's store read through local (the
 * store source, query.h): a transport handler's body. Returns 0 with the
 * reply in reply and *reply_type set, or NE_ECORRUPT / NE_EVERSION (bad
 * request), NE_ECONFLICT (the field has another type here), NE_EINVAL
 * (not a request type), NE_ENOMEM or a store error. */
int ne_scan_serve(const struct ne_qsrc *local, uint8_t type, const uint8_t *msg, size_t n,
                  struct ne_pbuf *reply, uint8_t *reply_type);

/* Runs a scan on the peer (id, addr) page after page, calling fn for each
 * chunk. Returns 0, a transport error (transport.h), NE_ECORRUPT for a bad
 * reply, the peer's error, or fn's non-zero value. */
int ne_scan_remote(struct ne_transport *t, const char *peer_id, const char *addr,
                   const struct ne_scan_req *req, ne_scan_chunk_fn fn, void *arg);

/* Same for a metadata request (req->skip is the starting point). */
int ne_meta_remote(struct ne_transport *t, const char *peer_id, const char *addr,
                   const struct ne_meta_req *req, ne_meta_entry_fn fn, void *arg);

/* ---- the series of some shards in the local store ---------------------- */

struct ne_scan_series {
    uint64_t id;   /* local series id */
    uint64_t hash; /* ne_ring_series_hash */
    struct ne_tag *tags;
    uint32_t ntags;
};
struct ne_scan_series_set {
    struct ne_scan_series *v; /* ascending local id */
    size_t n, cap;
    struct ne_pbuf strings; /* tag bytes (offsets until the set is complete) */
};

/* Lists the series of db.meas in local whose shard (hash % ring_shards) is
 * in shards (ascending, nshards > 0) and, when nhashes > 0, whose hash is
 * in hashes (ascending). A missing database or measurement is empty.
 * Returns 0 or the source's error / NE_ENOMEM; free with
 * ne_scan_series_free either way. */
int ne_scan_series_select(const struct ne_qsrc *local, const char *db, const char *meas,
                          uint32_t ring_shards, const uint32_t *shards, uint32_t nshards,
                          const uint64_t *hashes, uint32_t nhashes, struct ne_scan_series_set *out);
void ne_scan_series_free(struct ne_scan_series_set *s);
/* The entry of local id, or NULL. */
const struct ne_scan_series *ne_scan_series_find(const struct ne_scan_series_set *s, uint64_t id);

/* The local type of field in db.meas: 0 and *type, or NE_ENOTFOUND. */
int ne_scan_field_type(const struct ne_qsrc *local, const char *db, const char *meas,
                       const char *field, enum ne_vtype *type);

/* True when x is among v[0..n), which is sorted ascending (binary search). */
bool ne_scan_has_u64(const uint64_t *v, size_t n, uint64_t x);

#endif
