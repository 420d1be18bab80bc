/*
 * engine.h - internal interfaces between the parts of the store engine:
 * series index (series.c), write-ahead log (wal.c), memtable (memtable.c),
 * the store itself (store.c), reads (scan.c), compaction and retention
 * (compact.c) and the tools (tools.c). Nothing here is public: other
 * modules use store/store.h.
 *
 * Locking: struct ne_store.mu guards the series index, the memtables and
 * the segment list; the WAL has its own lock (wal.c) and is entered with
 * store.mu held (lock order: store.mu, then the WAL's lock), or without it.
 */
#ifndef NE_STORE_ENGINE_ENGINE_H
#define NE_STORE_ENGINE_ENGINE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "store/codec/buf.h"
#include "store/point.h"
#include "store/store.h"

#define ENG_MOD "store"

/* ---- framing shared by the WAL and the series log ------------------------- */

/* A record is [u32 len][u32 crc32c][len bytes]; ENG_REC_MAX bounds len so a
 * garbage length is never believed. */
#define ENG_REC_HDR 8u
#define ENG_REC_MAX (256u << 20)

/* ---- series index (series.c) ------------------------------------------- */

struct eng_field {
    struct ne_sv name; /* NUL-terminated copy owned by the series */
    uint8_t type;      /* enum ne_vtype */
    uint64_t wal_gen;  /* WAL file in which this field was last defined */
    /* column index in the memtable of generation mt_gen[g & 1]: the
     * active and the sealed memtable have consecutive generations */
    uint64_t mt_gen[2];
    uint32_t mt_idx[2];
    /* values of this column in the last sealed memtable: the next
     * memtable's column starts with room for about as many */
    uint32_t mt_hint;
};

struct eng_series {
    uint64_t id; /* 1.. dense, persistent */
    uint64_t hash;
    uint32_t db;   /* index into the database table */
    uint32_t meas; /* index into the measurement table */
    struct ne_sv meas_name;
    struct ne_tag *tags; /* views into this allocation, sorted by key */
    uint32_t ntags;
    struct eng_field *fields;
    uint32_t nfields, cap_fields;
    uint64_t wal_gen; /* WAL file in which this series was last defined */
    /* Deleted (DROP DATABASE/MEASUREMENT, or DELETE that left it no
     * point): hidden from reads and listings, its columns are dropped by
     * compaction; a later write with the same key creates a new series. */
    bool dead;
};

struct eng_db {
    char *name;
    uint32_t id;
    uint64_t nseries; /* live series (the per-database limit) */
    bool dropped;     /* DROP DATABASE; a write or CREATE revives it, empty */
};

struct eng_meas {
    char *name;
    uint32_t len;
    uint32_t db;
    uint64_t hash;
    struct eng_series **series; /* in creation order, dead ones included */
    uint64_t nseries, cap_series;
    uint64_t nlive; /* series not dead (listings, the per-measurement limit) */
    /* Tag keys of the measurement's series, each with its distinct values
     * (series.c: the tag value index behind SHOW TAG VALUES). */
    struct eng_tkey *tkeys;
    uint32_t ntkeys, cap_tkeys;
};

/* A time-range deletion that did not remove whole series: the points of
 * series ids[] with t0 <= ts <= t1 in every segment with id < seg_limit
 * are deleted. Segments made later hold only newer writes (the delete
 * flushed the memtables first) or were purged of it by compaction. The
 * index keeps it until no segment it touches is left. Immutable once
 * made; refs is changed under store.mu (compaction holds one while it
 * merges). */
struct eng_tomb {
    uint64_t seq;       /* WAL sequence number of the delete */
    uint64_t seg_limit; /* applies to segments with id < seg_limit */
    int64_t t0, t1;     /* inclusive */
    uint64_t *ids;      /* ascending */
    size_t nids;
    int refs;
};

/* True if t covers series id (binary search). */
bool eng_tomb_has(const struct eng_tomb *t, uint64_t id);
/* Drops a reference; frees t with the last one. */
void eng_tomb_unref(struct eng_tomb *t);

/* A deletion as the series log records it (series.c specifies the
 * format): every series of database db, or of measurement meas of db, or
 * (ENG_DEL_SERIES) the series dead[] die, and range[] lose [t0, t1]. */
enum eng_del_what { ENG_DEL_SERIES = 0, ENG_DEL_MEAS = 1, ENG_DEL_DB = 2 };
struct eng_del {
    enum eng_del_what what;
    uint64_t seq, seg_limit;
    uint32_t db;
    struct ne_sv meas;       /* ENG_DEL_MEAS */
    int64_t t0, t1;          /* ENG_DEL_SERIES */
    const uint64_t *dead;    /* ascending */
    size_t ndead;
    const uint64_t *range;   /* ascending */
    size_t nrange;
};

struct eng_index; /* opaque, series.c */

/* Opens (creating) the index persisted in dir/series.log: loads every
 * record, truncating a torn tail. limits: 0 = unlimited. */
int eng_index_open(const char *dir, uint64_t max_per_db, uint64_t max_per_meas,
                   struct eng_index **out);
void eng_index_close(struct eng_index **ip);

/* Finds or creates database name (a dropped one is revived, empty, and
 * logged again). 0 or a negative error. */
int eng_index_db(struct eng_index *ix, struct ne_sv name, uint32_t *out);

/* Looks up the live series of point p of batch b in database db. On a
 * miss (or a dead series), creates it unless a cardinality limit forbids
 * (NE_ELIMIT, *why filled). No allocation when the series exists. When
 * p->hint holds a live series of this index in db, that is the answer
 * without hashing the tags; a hint that does not is filled with the series
 * found. The caller holds the store's lock (hints are written). */
int eng_index_series(struct eng_index *ix, uint32_t db, const struct ne_batch *b,
                     const struct ne_point *p, struct eng_series **out, char *why, size_t nwhy);

/* Same from explicit parts (WAL replay). keep_dead: a dead series with
 * that key is returned rather than replaced (records already flushed). */
int eng_index_series_parts(struct eng_index *ix, uint32_t db, struct ne_sv meas,
                           const struct ne_tag *tags, uint32_t ntags, bool keep_dead,
                           struct eng_series **out);

/* Finds field name in s: returns its slot or -1. hint is tried first. */
int eng_series_field_find(const struct eng_series *s, struct ne_sv name, uint32_t hint);

/* Adds field (name, type) to s and logs it; returns the slot or an error. */
int eng_index_field_add(struct eng_index *ix, struct eng_series *s, struct ne_sv name,
                        uint8_t type);

/* Writes pending series-log records and fdatasyncs them (before a segment
 * that references new series ids is published). */
int eng_index_sync(struct eng_index *ix);
/* The same in steps, so the I/O runs without the store lock: take the
 * pending records (lock held), write + sync them (the flusher thread only,
 * lock not held), and on failure put them back (lock held). */
int eng_index_take_pending(struct eng_index *ix, struct ne_buf *out);
int eng_index_write_pending(struct eng_index *ix, struct ne_buf *b);
void eng_index_restore_pending(struct eng_index *ix, struct ne_buf *b);

/* Appends the series-log record of d to out (framed like every record:
 * the caller writes it with eng_index_write_pending). 0 or NE_ENOMEM. */
int eng_index_encode_del(const struct eng_del *d, struct ne_buf *out);
/* Applies d to the index in memory: marks series dead (live counts go
 * down), the database dropped, and adds a tombstone for range[]. Done
 * once the record is durable, and again for every record at open.
 * 0 or NE_ENOMEM. */
int eng_index_apply_del(struct eng_index *ix, const struct eng_del *d);

/* Live tombstones (borrowed; valid under store.mu), and retiring one
 * (the index drops its reference). */
size_t eng_index_ntombs(const struct eng_index *ix);
struct eng_tomb *eng_index_tomb_at(const struct eng_index *ix, size_t i);
void eng_index_retire_tomb(struct eng_index *ix, size_t i);
/* Dead series in the index (0: no segment can hold deleted columns). */
uint64_t eng_index_ndead(const struct eng_index *ix);
/* Highest delete sequence number and segment limit ever logged (open
 * raises flushed_seq and the next segment id to them). */
void eng_index_del_marks(const struct eng_index *ix, uint64_t *max_seq, uint64_t *max_seg_limit);

/* Accessors for reads and lookups. Pointers are borrowed from the index and
 * valid while the store lives (the index only grows; dead series and
 * dropped databases stay, marked). */
uint32_t eng_index_ndbs(const struct eng_index *ix);
const struct eng_db *eng_index_db_at(const struct eng_index *ix, uint32_t i);
/* A database that is not dropped. */
int eng_index_db_find(const struct eng_index *ix, const char *name, uint32_t *out);
/* Finds database name, dropped or not, creating it if unknown (WAL replay
 * of records already flushed: it must neither revive nor lose a db). */
int eng_index_db_any(struct eng_index *ix, struct ne_sv name, uint32_t *out);
uint32_t eng_index_nmeas(const struct eng_index *ix);
const struct eng_meas *eng_index_meas_at(const struct eng_index *ix, uint32_t i);
int eng_index_meas_find(const struct eng_index *ix, uint32_t db, const char *name,
                        const struct eng_meas **out);
/* Highest series id (dead ones included), and the live series count. */
uint64_t eng_index_nseries(const struct eng_index *ix);
uint64_t eng_index_nlive(const struct eng_index *ix);
struct eng_series *eng_index_series_by_id(const struct eng_index *ix, uint64_t id);
/* Appends to the array *vals (*n used, *cap allocated; grown with
 * ne_realloc, owned by the caller) the distinct values of tag key among
 * the live series of measurement meas of database db, in ascending byte
 * order: views into the index, valid while the store lives. Sorts the
 * values added since the last call first, hence not const: the caller
 * holds the store lock. 0, NE_ENOTFOUND (no such measurement) or
 * NE_ENOMEM (*vals then unchanged). */
int eng_index_tag_values(struct eng_index *ix, uint32_t db, struct ne_sv meas, struct ne_sv key,
                         struct ne_sv **vals, size_t *n, size_t *cap);
/* Appends to *keys (as eng_index_tag_values does) the tag keys that live
 * series of measurement meas of database db have, unsorted. 0,
 * NE_ENOTFOUND (no such measurement) or NE_ENOMEM. */
int eng_index_tag_keys(const struct eng_index *ix, uint32_t db, struct ne_sv meas,
                       struct ne_sv **keys, size_t *n, size_t *cap);
/* Series of meas having tag key=val (postings); *n gets the count. */
struct eng_series *const *eng_index_postings(const struct eng_index *ix, const struct eng_meas *m,
                                             struct ne_sv key, struct ne_sv val, uint64_t *n);

/* ---- memtable (memtable.c) -------------------------------------------- */

/* One column's append buffer: timestamps and 8-byte value slots (float
 * bits, int64, uint64, bool 0/1, or a string's (offset << 32 | length) in
 * the memtable's string arena), in insertion (= WAL sequence) order. */
union eng_val {
    double f;
    int64_t i;
    uint64_t u;
};

struct eng_mcol {
    struct eng_series *s;
    uint32_t slot;
    uint8_t type;
    bool sorted; /* ts increasing so far (an equal one clears it) */
    bool heap;   /* ts and v are heap blocks of their own (else carved
                    from the memtable's slabs) */
    uint32_t n, cap;
    int64_t *ts;
    union eng_val *v;
    uint64_t *ver; /* LWW versions, allocated at the first versioned
                      append (earlier values get 0); NULL: none */
    int64_t min_ts, max_ts;
};

struct eng_slab;     /* memtable.c */
struct eng_mt_pool;  /* memtable.c */

struct eng_memtable {
    uint64_t gen;
    struct eng_mt_pool *pool; /* borrowed; NULL: none */
    struct eng_slab *slabs;   /* the one carved from first */
    struct eng_mcol *cols;
    uint32_t ncols, cap_cols;
    char *strs;
    size_t nstrs, cap_strs;
    uint64_t bytes;     /* memory held, for the budget */
    int64_t first_mono; /* when the first value arrived (0: empty) */
    uint64_t seq_min, seq_max;
    uint64_t values;
};

/* Memory a store's memtables pass on to the next ones: the slabs their
 * column arrays are carved from and the largest column table. A memtable
 * that is freed gives them back, the next one takes them, so a store
 * under steady ingest reuses pages that are already mapped instead of
 * allocating (and the kernel zeroing) them again, and the heap is not
 * strewn with a memtable's thousands of small arrays. The pool keeps at
 * most max_bytes of slabs; the rest are freed. Thread-safe. */
int eng_mt_pool_new(uint64_t max_bytes, struct eng_mt_pool **out);
void eng_mt_pool_free(struct eng_mt_pool **pp); /* after every memtable using it */
/* Bytes the pool holds (slabs and the kept column table). */
uint64_t eng_mt_pool_bytes(struct eng_mt_pool *p);
/* Frees what the pool holds (an idle store's memory goes back). */
void eng_mt_pool_trim(struct eng_mt_pool *p);

/* A new, empty memtable of generation gen taking its memory from pool
 * (borrowed, may be NULL). 0 or NE_ENOMEM. */
int eng_mt_new(uint64_t gen, struct eng_mt_pool *pool, struct eng_memtable **out);
/* Frees m, giving its slabs and column table back to its pool. */
void eng_mt_free(struct eng_memtable **mp);
/* Appends one value to the column of (s, slot); the string bytes (if any)
 * are copied into the arena. Returns 0 or NE_ENOMEM (nothing appended). */
int eng_mt_append(struct eng_memtable *m, struct eng_series *s, uint32_t slot, int64_t ts,
                  const union ne_value *v);
/* Appends one point's values: f[i].v to the column of (s, slots[i]) for
 * i < n, all at ts (slots are valid field slots of s, f[i].type their
 * types). The same as n eng_mt_append calls in one: on an error
 * (NE_ENOMEM, NE_ETOOBIG) the values before the failing one stay. */
int eng_mt_append_row(struct eng_memtable *m, struct eng_series *s, const int *slots,
                      const struct ne_field *f, uint32_t n, int64_t ts);
/* The same with a last-writer-wins version (0: none). */
int eng_mt_append_v(struct eng_memtable *m, struct eng_series *s, uint32_t slot, int64_t ts,
                    const union ne_value *v, uint64_t ver);
/* Records in each column's field how many values m's column holds
 * (eng_field.mt_hint), so that the columns of the next memtable start
 * about that large: one allocation per column instead of a series of
 * reallocations, and less unused capacity charged to the budget. The
 * hints together reserve at most room bytes with m's column table and
 * string arena (the next memtable's will be about as large): a memtable
 * that grew past
 * that while the one before it flushed must not make the next one
 * reserve so much up front that it is full with a few values per
 * column. A column that held fewer than half its hint keeps half the
 * hint: one memtable sealed early (a flush forced by a query, shutdown or
 * the age limit) would otherwise send every column of the next one
 * through a series of reallocations from COL_MIN_CAP. Called when m is
 * sealed, store lock held. */
void eng_mt_note_sizes(const struct eng_memtable *m, uint64_t room);
/* Sorts column c of m by time (stable) and keeps one value per timestamp:
 * unversioned, the last inserted (the LWW rule by WAL order); versioned,
 * the winner by store/lww.h. Returns the new count. */
uint32_t eng_mt_col_finish(const struct eng_memtable *m, struct eng_mcol *c);
/* The column of (s, slot) in m, or NULL. */
struct eng_mcol *eng_mt_find(const struct eng_memtable *m, const struct eng_series *s,
                             uint32_t slot);
/* A string value of a column. */
static inline struct ne_sv eng_mt_str(const struct eng_memtable *m, union eng_val v)
{
    struct ne_sv s = {m->strs ? m->strs + (v.u >> 32) : "", (uint32_t)(v.u & 0xffffffffu)};
    return s;
}
/* Stable-sorts (ts, v) pairs by ts and drops all but the last of equal
 * timestamps; returns the new count. tmp_ts/tmp_v: scratch of n elements. */
size_t eng_sort_dedup(int64_t *ts, union eng_val *v, size_t n, int64_t *tmp_ts,
                      union eng_val *tmp_v);
/* The same with versions ver[0..n) of values of one type: per timestamp
 * keeps the winner by store/lww.h (strings: (offset << 32 | length) into
 * strs, borrowed). Allocates its scratch (falls back to an in-place
 * insertion sort without memory). */
size_t eng_sort_dedup_v(int64_t *ts, union eng_val *v, uint64_t *ver, size_t n, uint8_t type,
                        const char *strs);

/* ---- write-ahead log (wal.c) ------------------------------------------- */

struct eng_wal; /* opaque */

struct eng_wal_opts {
    const char *dir; /* the WAL directory */
    enum ne_store_durability mode;
    int64_t max_loss_ns; /* interval mode */
    uint64_t file_bytes; /* rotate past this size */
    uint64_t next_seq;   /* first sequence number to give */
    uint64_t next_gen;   /* first file generation to create */
};

int eng_wal_open(const struct eng_wal_opts *o, struct eng_wal **out);
/* Writes what is pending, syncs and closes. */
void eng_wal_close(struct eng_wal **wp);

/* Record building, with the caller holding the store lock (which also
 * serialises appends): begin reserves a record in the shared buffer and
 * returns the buffer to encode the payload into; commit seals it
 * (length, CRC) and returns its sequence number; abort drops it. */
struct ne_buf *eng_wal_begin(struct eng_wal *w);
uint64_t eng_wal_commit(struct eng_wal *w);
void eng_wal_abort(struct eng_wal *w);
/* Generation of the file the next record goes to (series/field definitions
 * are repeated once per file). */
uint64_t eng_wal_gen(const struct eng_wal *w);
/* Waits until record seq reached the durability of the mode. Returns 0,
 * NE_ENOSPC (the record was not written; the file is intact), NE_EIO, or
 * NE_EFAILED (a sync failed: the WAL must be reopened). */
int eng_wal_wait(struct eng_wal *w, uint64_t seq);
/* Writes and syncs everything pending, closes the current file and starts
 * a new one. Returns the first sequence number of the new file. */
int eng_wal_rotate(struct eng_wal *w, uint64_t *first_seq_new);
/* Syncs everything written so far (sync point for tests and close). */
int eng_wal_sync(struct eng_wal *w);
/* Deletes closed files whose every record has seq <= upto. */
void eng_wal_drop_upto(struct eng_wal *w, uint64_t upto);
/* Bytes of the WAL files on disk. */
uint64_t eng_wal_bytes(const struct eng_wal *w);
/* Last sequence number known durable (or written, in interval mode). */
uint64_t eng_wal_last_seq(const struct eng_wal *w);
/* The sequence number the next record will get. */
uint64_t eng_wal_next_seq(const struct eng_wal *w);
/* True once a sync failed (the WAL must be reopened). */
bool eng_wal_failed(const struct eng_wal *w);
/* Sets the next sequence number (used after replay). */
void eng_wal_set_next_seq(struct eng_wal *w, uint64_t seq);

/* Replay: calls fn for every valid record, file by file in order (records
 * with seq <= after_seq are already in segments: fn only learns their
 * definitions; rep counts the others). Damage after the file's durable
 * point (a torn or holey tail that was never fdatasynced) is cut back to
 * the last valid record; damage before it (proved by a later record's
 * synced_upto, or by a newer WAL file) is corruption: the file is renamed
 * to <name>.quarantine after its valid prefix was replayed. Reports what
 * it did in *rep. */
struct eng_replay_report {
    uint64_t files, records, bytes;
    uint64_t torn_cut;    /* files whose torn tail was cut */
    uint64_t quarantined; /* files renamed to .quarantine */
    uint64_t last_seq, last_gen;
};
typedef int (*eng_replay_fn)(void *ctx, uint64_t seq, uint64_t gen, const uint8_t *p, size_t n);
int eng_wal_replay(const char *dir, uint64_t after_seq, eng_replay_fn fn, void *ctx,
                   struct eng_replay_report *rep);
/* Deletes every WAL file in dir (durability none, once all is flushed). */
int eng_wal_remove_all(const char *dir);
/* Registers the files found by replay as closed files of w (for dropping). */
int eng_wal_adopt(struct eng_wal *w);
/* True when the current file is past its size limit (rotate it). */
bool eng_wal_want_rotate(struct eng_wal *w);

/* Prints the records of one WAL file; 0 if all valid. */
int eng_wal_inspect(const char *path, FILE *out);
/* Decodes a record payload for printing (store.c owns the payload format). */
int eng_payload_print(const uint8_t *p, size_t n, FILE *out);

#endif
