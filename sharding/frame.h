/*
 * frame.h - the framed binary protocol spoken between peers over TLS.
 *
 * The layout is specified in frame.c. A frame carries one message of a
 * type; payloads above a size threshold are zstd-compressed. The decoder
 * takes untrusted bytes: it never reads out of bounds, checks the CRC32C
 * before looking at the payload and bounds the decompressed size.
 */
#ifndef NE_SHARDING_FRAME_H
#define NE_SHARDING_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NE_FRAME_MAGIC   0x4550u /* bytes 'P','E' on the wire (little endian) */
#define NE_FRAME_VERSION 1
#define NE_FRAME_HDR     13          /* header bytes */
#define NE_FRAME_MAX     (16u << 20) /* largest payload, compressed or not */
#define NE_FRAME_F_ZSTD  0x01        /* payload = [raw_len u32][zstd frame] */

/* Message types. Values below 32 belong to the transport itself; the
 * modules above it (forwarding, hints, anti-entropy) use 32 and up. */
enum ne_frame_type {
    NE_FT_HELLO = 1,     /* client -> server: struct ne_hello */
    NE_FT_HELLO_ACK = 2, /* server -> client: struct ne_hello (version chosen in max) */
    NE_FT_REFUSE = 3,    /* either way: UTF-8 reason, then the connection closes */
    NE_FT_PING = 4,      /* payload echoed in the PONG */
    NE_FT_PONG = 5,
    NE_FT_ERROR = 6, /* reply: [code i32][reason] */
    NE_FT_APP = 32,  /* first application type */
    /* Write replication (sharding/replicate.h): */
    NE_FT_WRITE_BATCH = 33, /* hint queue records for the receiver to store */
    NE_FT_WRITE_ACK = 34,   /* [accepted u32][rejected u32]: stored durably */
    /* Distributed reads (sharding/scan.h): */
    NE_FT_SCAN_REQ = 48,   /* struct ne_scan_req */
    NE_FT_SCAN_REPLY = 49, /* column chunks of the series asked for, paged */
    NE_FT_META_REQ = 50,   /* struct ne_meta_req: names, fields or series */
    NE_FT_META_REPLY = 51, /* the names asked for, paged */
    /* Anti-entropy (sharding/antientropy.h specifies the payloads): */
    NE_FT_AE_ROOTS = 64,         /* Merkle roots of the shards named */
    NE_FT_AE_ROOTS_REPLY = 65,
    NE_FT_AE_BUCKETS = 66,       /* time-bucket digests of one shard */
    NE_FT_AE_BUCKETS_REPLY = 67,
    NE_FT_AE_SERIES = 68,        /* series digests of one shard's bucket */
    NE_FT_AE_SERIES_REPLY = 69,
    NE_FT_AE_PULL = 70,          /* the points of some series, versioned */
    NE_FT_AE_PULL_REPLY = 71,
    NE_FT_AE_TOMBS = 72,         /* tombstone lists exchanged (tomb.h) */
    NE_FT_AE_TOMBS_REPLY = 73,
    /* Shard moves (sharding/rebalance.h specifies the payloads): */
    NE_FT_MOVE_STATUS = 80,      /* which shards the node holds complete */
    NE_FT_MOVE_STATUS_REPLY = 81,
    NE_FT_DECOMMISSION = 82,     /* empty: the receiver decommissions itself */
    NE_FT_DECOMMISSION_ACK = 83, /* empty */
};

/* A growable byte buffer. Zero-initialise; free with ne_pbuf_free. */
struct ne_pbuf {
    uint8_t *p;
    size_t len, cap;
};
int ne_pbuf_reserve(struct ne_pbuf *b, size_t need); /* 0 or NE_ENOMEM */
void ne_pbuf_free(struct ne_pbuf *b);

/* Appends one encoded frame to out. Compresses the payload with zstd when
 * compress_min > 0 and n >= compress_min and compression saves space.
 * Returns 0, NE_ETOOBIG (n > NE_FRAME_MAX) or NE_ENOMEM. */
int ne_frame_encode(struct ne_pbuf *out, uint8_t type, const void *payload, size_t n,
                    size_t compress_min);

struct ne_frame_hdr {
    uint8_t version, type, flags;
    uint32_t len; /* payload bytes on the wire */
    uint32_t crc;
};

/* Parses and checks a 13-byte header: magic, version, flags, length bound.
 * Returns 0, NE_ECORRUPT (bad magic/flags), NE_EVERSION or NE_ETOOBIG. */
int ne_frame_parse_hdr(const uint8_t *hdr, struct ne_frame_hdr *out);

/* Checks the CRC of a frame whose header h was parsed and whose payload
 * (h->len bytes) follows, then yields the message payload: msg and msg_len
 * point into wire, or into scratch when the payload was compressed (scratch
 * is reused across calls). Returns 0, NE_ECHECKSUM, NE_ECORRUPT (bad
 * compressed data or length) or NE_ENOMEM. */
int ne_frame_open(const struct ne_frame_hdr *h, const uint8_t *hdr, const uint8_t *wire,
                  struct ne_pbuf *scratch, const uint8_t **msg, size_t *msg_len);

/* Decodes the first frame of buf[0..n): on success *consumed is the frame
 * size and type, msg, msg_len describe it as ne_frame_open does. Returns
 * NE_EAGAIN when buf holds less than one whole frame, else as above. */
int ne_frame_decode(const uint8_t *buf, size_t n, struct ne_pbuf *scratch, uint8_t *type,
                    const uint8_t **msg, size_t *msg_len, size_t *consumed);

/* ---- HELLO ------------------------------------------------------------- */

#define NE_PROTO_MIN 1 /* the peer protocol versions this build speaks */
#define NE_PROTO_MAX 1

struct ne_hello {
    char node_id[64]; /* NUL-terminated, 1..63 bytes */
    uint64_t incarnation;
    uint8_t proto_min, proto_max;
};

/* HELLO payload: [proto_min u8][proto_max u8][incarnation u64 LE]
 *                [id_len u8][node_id id_len bytes]. */
int ne_hello_encode(const struct ne_hello *h, struct ne_pbuf *out);
/* Returns 0 or NE_ECORRUPT (short, trailing bytes, empty/long id,
 * min > max). */
int ne_hello_decode(const uint8_t *p, size_t n, struct ne_hello *out);

/* The protocol version two ranges share (the highest), or 0 if none. */
uint8_t ne_proto_negotiate(uint8_t amin, uint8_t amax, uint8_t bmin, uint8_t bmax);

/* Little-endian helpers shared by the sharding wire formats. */
static inline void ne_put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8), p[2] = (uint8_t)(v >> 16),
    p[3] = (uint8_t)(v >> 24);
}
static inline uint32_t ne_get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline void ne_put_u64(uint8_t *p, uint64_t v)
{
    ne_put_u32(p, (uint32_t)v);
    ne_put_u32(p + 4, (uint32_t)(v >> 32));
}
static inline uint64_t ne_get_u64(const uint8_t *p)
{
    return (uint64_t)ne_get_u32(p) | (uint64_t)ne_get_u32(p + 4) << 32;
}

#endif
