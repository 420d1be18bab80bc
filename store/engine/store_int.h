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
};

enum eng_state { ENG_OK = 0, ENG_FAILED };

struct ne_store {
    struct ne_store_opts o;
    char *root, *wal_dir, *seg_dir;
    int lock_fd;

    pthread_mutex_t mu;
    pthread_cond_t cv; /* flush progress, state changes */
    struct eng_index *ix;
    struct eng_wal *wal; /* NULL in durability none */
    struct eng_memtable *active, *sealed;
    uint64_t next_mt_gen;
    uint64_t next_seq;       /* durability none: sequence numbers without a WAL */
    bool flushing;           /* the flusher works on sealed */
    uint64_t flush_attempts; /* finished flush attempts */
    int flush_err;           /* of the last attempt */
    int wal_users;           /* writers waiting on the WAL outside mu */

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
    char why[128];

    pthread_t flusher, compactor;
    bool has_flusher, has_compactor, stop, stop_compactor;
    bool compacting;

    uint64_t points_written, values_written;

    struct ne_metric *m_points, *m_values, *m_rej[NE_REJ__COUNT], *m_flushes, *m_segments,
        *m_seg_bytes, *m_mt_bytes, *m_evicted, *m_evicted_bytes, *m_evicted_unsynced, *m_quarantined, *m_recoveries,
        *m_compactions, *m_series, *m_backpressure, *m_nospc;
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
int eng_compact_once(struct ne_store *s, bool *did);
int eng_retention_once(struct ne_store *s);

#endif
