/*
 * hlc.h - hybrid logical clock (HLC) for last-writer-wins between replicas.
 *
 * A timestamp is one uint64: the high 48 bits are wall-clock milliseconds
 * since the Unix epoch (enough until the year 10889), the low 16 bits a
 * logical counter that orders events within one millisecond. Timestamps
 * from one clock are strictly increasing, and a timestamp taken after
 * receiving a remote one is greater than it (causality), while staying
 * close to the wall clock. Plain integer comparison orders them.
 */
#ifndef NE_SHARDING_HLC_H
#define NE_SHARDING_HLC_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#define NE_HLC_LOGICAL_BITS 16
#define NE_HLC_LOGICAL_MAX  0xFFFFu

static inline uint64_t ne_hlc_pack(uint64_t ms, uint32_t logical)
{
    return (ms << NE_HLC_LOGICAL_BITS) | (logical & NE_HLC_LOGICAL_MAX);
}
static inline uint64_t ne_hlc_ms(uint64_t ts)
{
    return ts >> NE_HLC_LOGICAL_BITS;
}
static inline uint32_t ne_hlc_logical(uint64_t ts)
{
    return (uint32_t)(ts & NE_HLC_LOGICAL_MAX);
}

/* Physical clock in milliseconds since the epoch; ctx is passed back. */
typedef int64_t (*ne_hlc_clock_fn)(void *ctx);

struct ne_hlc {
    _Atomic uint64_t last; /* the latest timestamp handed out or merged */
    ne_hlc_clock_fn clock;
    void *ctx;
    uint64_t max_skew_ms; /* remote timestamps further ahead are refused; 0: no limit */
};

/* Initialises h. clock NULL uses ne_time_wall_ns()/1e6 (itself injectable).
 * max_skew_ms bounds how far ahead of our clock a remote timestamp may be. */
void ne_hlc_init(struct ne_hlc *h, ne_hlc_clock_fn clock, void *ctx, uint64_t max_skew_ms);

/* A timestamp for a local event or a message about to be sent: greater than
 * every timestamp h handed out or merged before. Thread-safe (lock-free). */
uint64_t ne_hlc_now(struct ne_hlc *h);

/* Merges a timestamp received from a peer and returns, in *out, a local
 * timestamp greater than both remote and every earlier one. Returns 0, or
 * NE_ERANGE (h unchanged, logged by the caller who knows the peer) when
 * remote is more than max_skew_ms ahead of our physical clock. */
int ne_hlc_update(struct ne_hlc *h, uint64_t remote, uint64_t *out);

/* Last-writer-wins order of two versions: by timestamp, ties broken by node
 * id (the higher id wins). Returns <0, 0 or >0 like memcmp; 0 only when
 * both timestamp and node are equal (the same write). */
static inline int ne_hlc_lww_cmp(uint64_t a_ts, uint64_t a_node, uint64_t b_ts, uint64_t b_node)
{
    if (a_ts != b_ts) return a_ts < b_ts ? -1 : 1;
    if (a_node != b_node) return a_node < b_node ? -1 : 1;
    return 0;
}

/* ---- last-writer-wins versions ---------------------------------------------
 *
 * The store orders writes to one (series, field, timestamp) by an opaque
 * uint64 version, greater wins (store.h: ne_store_write_versioned). The
 * cluster makes it from the HLC timestamp of the accepting node and that
 * node's tag, so that integer order is "HLC order, ties by node":
 *
 *   bit 63        22 21          8 7        0
 *      | ms (42 bits) | logical (14) | node tag |
 *
 * 42 bits of milliseconds last until the year 2109; a logical counter
 * beyond 16383 within one millisecond is clamped (writes are stamped once
 * per batch). The node tag is 8 bits of a hash of the node id, so every
 * node knows every member's tag from its id alone. Two nodes whose ids
 * share a tag (1 in 256 per pair) could stamp the very same version: the
 * cluster refuses the later of two live members sharing a tag
 * (ne_lww_tag_yields; its operator gives it another node_id), and as the
 * last resort the store breaks a tie of equal versions by value, the same
 * way on every replica (store/lww.h). */
#define NE_LWW_MS_MAX      ((UINT64_C(1) << 42) - 1)
#define NE_LWW_LOGICAL_MAX 0x3FFFu

static inline uint64_t ne_lww_version(uint64_t hlc_ts, uint8_t node_tag)
{
    uint64_t ms = ne_hlc_ms(hlc_ts), lg = ne_hlc_logical(hlc_ts);
    if (ms > NE_LWW_MS_MAX) ms = NE_LWW_MS_MAX;
    if (lg > NE_LWW_LOGICAL_MAX) lg = NE_LWW_LOGICAL_MAX;
    return ms << 22 | lg << 8 | node_tag;
}

/* The HLC timestamp a version was made from (to merge into a clock). */
static inline uint64_t ne_lww_version_hlc(uint64_t ver)
{
    return ne_hlc_pack(ver >> 22, (uint32_t)(ver >> 8) & NE_LWW_LOGICAL_MAX);
}

/* The node tag of id: FNV-1a folded to 8 bits. */
static inline uint8_t ne_lww_node_tag(const char *id)
{
    uint32_t h = 2166136261u;
    for (; *id; id++)
        h = (h ^ (uint8_t)*id) * 16777619u;
    return (uint8_t)(h ^ h >> 8 ^ h >> 16 ^ h >> 24);
}

/* Of two live members a and b whose ids share a node tag, whether a is the
 * one to refuse: the later to join, i.e. the greater SWIM incarnation
 * (which starts at the node's start time in ms), then the greater id.
 * Every node decides the same for the same pair. */
static inline bool ne_lww_tag_yields(const char *a, uint64_t a_incarnation, const char *b,
                                     uint64_t b_incarnation)
{
    if (a_incarnation != b_incarnation) return a_incarnation > b_incarnation;
    return strcmp(a, b) > 0;
}

#endif
