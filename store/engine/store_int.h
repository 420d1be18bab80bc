/*
 * store_int.h - struct ne_store and the functions the engine's files share
 * (store.c: open/close/write/flush; scan.c: reads; compact.c: compaction
 * and retention; tools.c: inspection). Internal to store/engine.
 */
#ifndef NE_STORE_ENGINE_STORE_INT_H
#define NE_STORE_ENGINE_STORE_INT_H

#include <stdatomic.h>

#include "ports/metrics.h"
#include "store/engine/engine.h"
#include "store/segment/segment.h"

/* A published segment. Readers take a reference under store.mu and read
 * without it; a segment replaced by compaction or evicted by retention is
 * unlinked when its last reference goes. */
struct eng_seg {
    struct ne_seg *r;
    uint64_t id, seq_min, seq_max;
    int64_t min_ts, max_ts;
    uint64_t bytes;
    int64_t sealed_ns; /* wall time written (mtime when loaded at open) */
    int refs;
    bool dead;
    /* holds deleted points (dead series' columns, or points a tombstone
     * covers): compaction rewrites it once it is synced (delete.c) */
    bool purge;
};

enum eng_state { ENG_OK = 0, ENG_FAILED };

/* Segment blocks (flushes and merges) end at whole hours of UTC once they
 * hold ENG_BLOCK_GRID_MIN points: a GROUP BY time of an hour or a multiple
 * of it then reads statistics instead of decoding, and columns sparser
 * than that many points an hour keep blocks of several hours. */
#define ENG_BLOCK_GRID_NS  3600000000000LL
#define ENG_BLOCK_GRID_MIN 64u

struct ne_store {
    struct ne_store_opts o;
    char *root, *wal_dir, *seg_dir;
    int lock_fd;

    pthread_mutex_t mu;
    pthread_cond_t cv; /* flush progress, state changes */
    struct eng_index *ix;
    struct eng_wal *wal; /* NULL in durability none */
    struct eng_memtable *active, *sealed;
    struct eng_mt_pool *mt_pool; /* memory the memtables pass on */
    uint64_t next_mt_gen;
    uint64_t next_seq;       /* durability none: sequence numbers without a WAL */
    bool flushing;           /* the flusher works on sealed */
    uint64_t flush_attempts; /* finished flush attempts */
    int flush_err;           /* of the last attempt */
    int wal_users;           /* writers waiting on the WAL outside mu */
    /* write_points' tables of shared tag ranges and field slots (struct
     * same in store.c), kept between writes under mu: a steady stream of
     * batches reuses them instead of mapping and faulting them in again
     * for every batch */
    void *same_tag0;
    int *same_fslots;
    size_t same_tag0_cap, same_fslots_cap; /* entries */

    char **grave; /* paths of dead segments to unlink outside the lock */
    size_t ngrave, cap_grave;
    struct eng_seg **segs; /* ordered by seq_min (oldest data first) */
    size_t nsegs, cap_segs;
    uint64_t next_seg_id;
    uint64_t flushed_seq; /* every seq <= this is in a segment */
    uint64_t synced_seq; /* sync mark: every seq <= this reached every sink */

    atomic_int state;
    atomic_bool disk_full;
    int64_t disk_probe_mono;
    int64_t space_check_mono;
    int64_t last_write_mono; /* last write admitted or tried (compaction policy) */
    char why[128];

    pthread_t flusher, compactor;
    bool has_flusher, has_compactor, stop, stop_compactor;
    bool compacting;
    bool deleting;    /* a delete runs: writes wait for it (delete.c) */
    uint64_t del_gen; /* deletions applied so far (compaction notices new ones) */

    uint64_t points_written, values_written;

    struct ne_metric *m_points, *m_values, *m_rej[NE_REJ__COUNT], *m_flushes, *m_segments,
        *m_seg_bytes, *m_mt_bytes, *m_evicted, *m_evicted_bytes, *m_evicted_unsynced, *m_quarantined, *m_recoveries,
        *m_compactions, *m_series, *m_backpressure, *m_nospc, *m_flush_bytes, *m_compact_bytes;
};

/* store.c */
int eng_store_flush_sealed(struct ne_store *s);               /* flusher; mu not held */
void eng_segs_publish(struct ne_store *s, struct eng_seg *g); /* mu held */
void eng_seg_unref(struct ne_store *s, struct eng_seg *g);    /* mu held */
void eng_reap(struct ne_store *s);          /* unlinks dead segments; mu not held */
void eng_update_gauges(struct ne_store *s); /* mu held */
int eng_seg_load(const char *path, struct eng_seg **out);

/* A segment every sink has (always true without opts.hold_for_sync). */
static inline bool eng_seg_synced(const struct ne_store *s, const struct eng_seg *g)
{
    return !s->o.hold_for_sync || g->seq_max <= s->synced_seq;
}

/* compact.c */
void *eng_compactor_main(void *arg);
/* One step of the background policy (after any merge in progress): *did
 * says whether it merged. mu not held. 0 or the merge's error. */
int eng_compact_once(struct ne_store *s, bool *did);
int eng_retention_once(struct ne_store *s);
/* Merges segs[lo, hi) into one new segment, dropping deleted points;
 * mu held (released while merging). */
int eng_merge_run(struct ne_store *s, size_t lo, size_t hi);
/* Removes segs[i] from the list (it goes when its last reader does). */
void eng_seg_drop(struct ne_store *s, size_t i);

/* delete.c: deletions on the read path and in compaction */

/* Time ranges a read of series id must skip in segment g: the tombstones
 * for id that apply to g (g->id < seg_limit). */
struct eng_trange {
    uint64_t seg_limit;
    int64_t t0, t1;
};
/* Appends to *v (growing *cap) the tombstone ranges of series id; mu held.
 * 0 or NE_ENOMEM. */
int eng_del_ranges_of(const struct ne_store *s, uint64_t id, struct eng_trange **v, size_t *n,
                      size_t *cap);
/* Sets g->purge from the index's dead series and tombstones; mu held.
 * Returns true if every point of g is deleted. */
bool eng_del_mark(struct ne_store *s, struct eng_seg *g);
/* Drops the tombstones no segment needs any more; mu held. */
void eng_del_retire(struct ne_store *s);
/* One purge step: a synced segment marked purge is removed (all of it is
 * deleted) or rewritten without its deleted points. *did says whether
 * there was one. mu held (released while rewriting). */
int eng_del_purge_step(struct ne_store *s, bool *did);
/* At open, after the index and the segments are loaded: marks segments,
 * retires tombstones, and raises flushed_seq and next_seg_id past every
 * logged delete. mu held. */
void eng_del_open(struct ne_store *s);

/* Merge options that drop deleted points; the context snapshots the
 * tombstones (references) for a merge of inputs[0..n). */
struct eng_del_merge {
    struct ne_store *s;
    struct eng_seg **in;
    size_t n;
    struct eng_tomb **tombs;
    size_t ntombs;
};
/* mu held. 0 or NE_ENOMEM. */
int eng_del_merge_init(struct eng_del_merge *dm, struct ne_store *s, struct eng_seg **in,
                       size_t n, struct ne_seg_merge_opts *mo);
/* mu held. */
void eng_del_merge_free(struct eng_del_merge *dm);

#endif
