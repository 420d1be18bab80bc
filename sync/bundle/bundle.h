/*
 * bundle.h - the segment bundle: one sealed segment as a self-describing
 * unit a gateway pushes to a central node (or uploads anywhere).
 *
 * A segment file alone cannot be read elsewhere: its columns carry series
 * ids, and the identity behind an id (database, measurement, tags) lives
 * in the sending store's series index. A bundle carries that identity
 * along: a header, the dictionary of every series the segment uses, the
 * segment file verbatim, and a trailer with the segment's checksums.
 *
 * Format (version 1; integers little endian; CRCs are CRC32C):
 *
 *   +------------------------------------------------------------------+
 *   | header (76 + node_len bytes)                                     |
 *   |   0  u32 magic "NEBN" (0x4e42454e)                               |
 *   |   4  u16 version (1)                                             |
 *   |   6  u16 node_len (1..255)                                       |
 *   |   8  u64 segment id              16  u64 WAL seq_min             |
 *   |  24  u64 WAL seq_max             32  i64 min_ts (ns)             |
 *   |  40  i64 max_ts (ns)             48  u64 dict_len                |
 *   |  56  u64 seg_len                 64  u32 nseries                 |
 *   |  68  u32 flags (0)               72  node id (node_len bytes)    |
 *   |  72 + node_len  u32 crc of every header byte before it           |
 *   +------------------------------------------------------------------+
 *   | dictionary (dict_len bytes)                                      |
 *   |   nseries entries, series ids strictly increasing:               |
 *   |     u64 series id                                                |
 *   |     u32 db_len   | db bytes           (1..255 bytes)             |
 *   |     u32 meas_len | measurement bytes  (1..65535 bytes)           |
 *   |     u32 ntags (0..65535), then per tag, keys strictly increasing |
 *   |       (bytewise, shorter first on a common prefix):              |
 *   |       u32 key_len | key bytes (1..65535)                         |
 *   |       u32 val_len | value bytes (0..65535)                       |
 *   |   u32 crc of the dictionary bytes before it                      |
 *   +------------------------------------------------------------------+
 *   | segment file bytes (seg_len bytes, store/segment/segment.h)      |
 *   +------------------------------------------------------------------+
 *   | trailer (44 bytes)                                               |
 *   |   0  u32 magic "NEBT" (0x5442454e)                               |
 *   |   4  u32 crc of the segment bytes                                |
 *   |   8  32 bytes SHA-256 of the segment bytes                       |
 *   |  40  u32 crc of the 40 trailer bytes before it                   |
 *   +------------------------------------------------------------------+
 *
 * The bundle's checksum string is "sha256:" and the 64 lower-case hex
 * digits of the SHA-256 in the trailer. With the node id and the segment
 * id it identifies a push: a segment is immutable and its id is never
 * reused by its store, so the same (node, segment, checksum) is the same
 * data.
 *
 * Two sides:
 *   - sending (ne_bundle_open ...): the header and dictionary are built in
 *     memory (some tens of bytes per series); the segment bytes are read
 *     from the file when asked for, so a bundle of any size streams with
 *     bounded memory through a positional reader (the contract of struct
 *     ne_s3_reader in sync/s3/s3.h);
 *   - receiving (ne_bundle_in_open ...): a bundle file on disk is checked
 *     completely (every checksum, the structure, the segment's own blocks)
 *     before a single point is handed out; then its points come out as
 *     store batches with the tag gateway=<node id> added, at most
 *     batch_points at a time.
 *
 * All calls return 0 or a negative NE_E* code (ports/err.h). A bundle that
 * fails a check gives NE_ECORRUPT (structure, truncation), NE_ECHECKSUM (a
 * CRC or the SHA-256 does not match) or NE_EVERSION (a version this build
 * does not read), with a one-line reason naming the part at fault.
 */
#ifndef NE_SYNC_BUNDLE_H
#define NE_SYNC_BUNDLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/point.h"
#include "store/store.h"
#include "sync/s3/s3.h"

#define NE_BUNDLE_MAGIC         0x4e42454eu /* "NEBN" */
#define NE_BUNDLE_TRAILER_MAGIC 0x5442454eu /* "NEBT" */
#define NE_BUNDLE_VERSION       1u
#define NE_BUNDLE_HEADER_FIXED  72u /* header bytes before the node id */
#define NE_BUNDLE_TRAILER_BYTES 44u
#define NE_BUNDLE_NODE_MAX      255u
#define NE_BUNDLE_CHECKSUM_MAX  72u            /* "sha256:" + 64 hex + NUL */
#define NE_BUNDLE_BATCH_POINTS  10000u         /* default points per batch */
#define NE_BUNDLE_GATEWAY_TAG   "gateway"      /* tag key added on receipt */
#define NE_BUNDLE_DICT_MAX      (256ull << 20) /* largest dictionary accepted */

/* What a bundle's header and trailer say. */
struct ne_bundle_info {
    char node[NE_BUNDLE_NODE_MAX + 1]; /* sending node id */
    uint64_t segment_id;
    uint64_t seq_min, seq_max; /* WAL range of the segment */
    int64_t min_ts, max_ts;    /* point timestamps in the segment */
    uint32_t nseries;          /* dictionary entries */
    uint64_t header_bytes, dict_bytes, segment_bytes;
    uint64_t total_bytes;                  /* the whole bundle */
    char checksum[NE_BUNDLE_CHECKSUM_MAX]; /* "sha256:<64 hex>" of the segment bytes */
};

/* Parses a checksum string ("sha256:" + 64 hex digits, either case) into
 * the 32 bytes. Returns 0 or NE_EINVAL. */
int ne_bundle_parse_checksum(const char *s, uint8_t out[32]);

/* ---- sending ------------------------------------------------------------ */

struct ne_bundle; /* opaque */

/* Builds the bundle of segment seg of store for node node_id (1..255
 * bytes): opens the segment file at once (so a later unlink does not take
 * it away), reads its index for the series ids, looks each up with
 * ne_store_series_info, and reads the file once to compute its CRC32C and
 * SHA-256. The store is borrowed for this call only; seg and node_id are
 * copied. Returns 0 and *out (free with ne_bundle_close), NE_ENOTFOUND if
 * the segment file is gone, NE_ECORRUPT if the segment uses a series the
 * store does not know or is unreadable, NE_EINVAL for a bad node id, or an
 * I/O error / NE_ENOMEM. */
int ne_bundle_open(struct ne_store *store, const struct ne_store_seg_desc *seg, const char *node_id,
                   struct ne_bundle **out);

/* Header facts and the checksum string. Borrowed; valid until close. */
const struct ne_bundle_info *ne_bundle_info(const struct ne_bundle *b);

/* Positional read over the whole bundle (header, dictionary, segment
 * file, trailer): fills buf with up to len bytes from offset off and sets
 * *nread, short only at the end (0 at or past the total size). The same
 * offset always gives the same bytes. ctx is the struct ne_bundle. Safe
 * from one thread at a time. Returns 0 or an I/O error. */
int ne_bundle_read(void *ctx, uint64_t off, void *buf, size_t len, size_t *nread);

/* The bundle as a struct ne_s3_reader (read = ne_bundle_read, size =
 * total bytes); b stays owned by the caller and must outlive the reader. */
struct ne_s3_reader ne_bundle_reader(struct ne_bundle *b);

/* Writes the whole bundle to path (created or truncated, fdatasync'ed;
 * not renamed into place: a tool and test helper). 0 or an I/O error. */
int ne_bundle_write_file(struct ne_bundle *b, const char *path);

/* Closes the segment file and frees. Sets *bp to NULL. NULL-safe. */
void ne_bundle_close(struct ne_bundle **bp);

/* ---- receiving ------------------------------------------------------------ */

struct ne_bundle_in; /* opaque */

struct ne_bundle_in_opts {
    /* Where the segment bytes are copied to be read (a segment is read
     * from a file of its own); removed at close. NULL: "<path>.seg". */
    const char *scratch_path;
    uint32_t batch_points; /* points per batch; 0: NE_BUNDLE_BATCH_POINTS */
};

/* Opens and checks the bundle file at path completely: header (magic,
 * CRC, version, sizes against the file size), dictionary (CRC, every
 * entry well formed, ids increasing, tags sorted), trailer (magic, CRC),
 * the segment bytes against the trailer's CRC32C and SHA-256, the segment
 * itself (ne_seg_verify: every block's CRC and decoding), its id, WAL and
 * time range against the header, and that every series id of the segment
 * is in the dictionary under the database the segment names. opts may be
 * NULL. On success *out owns the reader (ne_bundle_in_close). On failure
 * nothing is left behind, the code says what kind of problem it is and
 * why (n bytes, may be NULL) gets one line such as "bundle dictionary:
 * checksum mismatch" or "bundle truncated: 1200 of 5120 bytes". */
int ne_bundle_in_open(const char *path, const struct ne_bundle_in_opts *opts,
                      struct ne_bundle_in **out, char *why, size_t n);

/* Header facts and checksum string of an opened bundle. Borrowed. */
const struct ne_bundle_info *ne_bundle_in_info(const struct ne_bundle_in *in);

/* Fills b (reset first) with the next points of the bundle, all of one
 * database (*db, NUL-terminated, borrowed from the reader): at most
 * batch_points points, each a series of the segment at one timestamp with
 * every field the segment holds for it there, its tags sorted with
 * gateway=<node id> added (replacing a gateway tag of its own). Series
 * come in id order, each series' points in time order. The batch's views
 * point into the reader and the batch's arena: valid until the next call
 * or close. Returns 1 when b holds points, 0 at the end, or a negative
 * error (an I/O error reading the scratch copy, NE_ENOMEM). */
int ne_bundle_in_next(struct ne_bundle_in *in, struct ne_batch *b, const char **db);

/* Field values handed out so far by ne_bundle_in_next. */
uint64_t ne_bundle_in_values(const struct ne_bundle_in *in);

/* Removes the scratch copy and frees. Sets *inp to NULL. NULL-safe. The
 * bundle file itself is left alone. */
void ne_bundle_in_close(struct ne_bundle_in **inp);

#endif
