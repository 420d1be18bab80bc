/*
 * compact.c - background compaction and retention.
 *
 * Compaction merges runs of segments that are adjacent in WAL order (no
 * other segment's range lies between them) with ne_seg_merge, so the
 * output's range [first.seq_min, last.seq_max] is contiguous and "newer
 * wins" stays the order of ranges. Background policy is size-tiered: four
 * or more adjacent segments of the same size class (factor 4 apart) merge,
 * as long as the output stays under segment_target_bytes, and beyond
 * MAX_OPEN_SEGS segments (IDLE_OPEN_SEGS once writes paused) the cheapest
 * adjacent pair merges (an open segment costs memory per column);
 * ne_store_compact also merges any adjacent run that fits the target.
 *
 * Crash safety (naming rule): the output gets a new, higher id and is
 * durable before any input is unlinked. If a crash leaves both, the store
 * at open drops every segment whose WAL range lies inside the range of a
 * segment with a higher id (store.c: drop_superseded), so no point is lost
 * or duplicated.
 *
 * Deleted data (delete.c): every merge drops the columns of dead series
 * and the points tombstones cover in its inputs; a synced segment marked
 * purge is rewritten alone (or removed when nothing in it is left), a
 * merge whose result is empty publishes nothing lasting (the output is
 * removed with its inputs).
 *
 * Retention drops whole segments: those whose newest point is older than
 * retention_max_age_ns, then, while segments + WAL exceed
 * retention_max_disk_bytes, the segment with the oldest data. With
 * hold_for_sync, a segment some sink has not delivered yet (its WAL range
 * is above ne_store_set_synced_seq's mark) is never merged, and is evicted
 * only with retention_evict_unsynced and only after every synced segment
 * (counted in neoedge_store_segments_evicted_unsynced_total). Every
 * eviction is logged and counted.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "ports/log.h"
#include "ports/platform.h"
#include "store/engine/store_int.h"

#define TIER_BASE     (64u << 10)
#define TIER_RUN      4
/* Past this many segments the cheapest adjacent pair merges. Each open
 * segment holds its column index in memory, but few open segments make
 * every flush's data be rewritten again and again while blocks are still
 * partial: with 3, each of the 36 to 61 flushes of the S1 and I1 imports
 * was rewritten 6 to 9 times (a simulation of this policy); with 8, twice.
 * So 8 while writes arrive; once none came for IDLE_NS, the pairs merge
 * down to IDLE_OPEN_SEGS, which keeps memory and disk small at rest (small
 * partial blocks compress worse than merged ones). */
#define MAX_OPEN_SEGS  8
#define IDLE_OPEN_SEGS 3
#define IDLE_NS        2000000000LL

static int size_class(uint64_t bytes)
{
    int c = 0;
    for (uint64_t b = TIER_BASE; bytes > b && c < 30; b *= 4)
        c++;
    return c;
}

/* Picks a run [*lo, *hi) to merge; mu held. Returns true if one exists. */
/* How many segments, from the oldest, compaction may merge: those every
 * sink has (the list is ordered by WAL range and sinks deliver in that
 * order, so they are a prefix). Unsynced segments stay as flushed: a sink
 * names its uploads by segment id and resumes on WAL ranges. */
static size_t mergeable_prefix(const struct ne_store *s)
{
    size_t n = 0;
    while (n < s->nsegs && eng_seg_synced(s, s->segs[n]))
        n++;
    return n;
}

static bool pick_run(struct ne_store *s, bool force, size_t *lo, size_t *hi)
{
    uint64_t target = s->o.segment_target_bytes;
    size_t nsegs = mergeable_prefix(s);
    for (size_t i = 0; i + 1 < nsegs; i++) {
        int cls = size_class(s->segs[i]->bytes);
        uint64_t total = 0;
        size_t j = i;
        while (j < nsegs && total + s->segs[j]->bytes <= target &&
               (force || size_class(s->segs[j]->bytes) == cls)) {
            total += s->segs[j]->bytes;
            j++;
        }
        if (j - i >= (force ? 2u : TIER_RUN)) {
            *lo = i;
            *hi = j;
            return true;
        }
    }
    /* Every open segment keeps its column index in memory (hundreds of
     * bytes per column): past the limit, merge the adjacent pair that
     * costs least. */
    bool idle = ne_time_mono_ns() - s->last_write_mono >= IDLE_NS;
    if (nsegs <= (idle ? IDLE_OPEN_SEGS : MAX_OPEN_SEGS)) return false;
    uint64_t best = UINT64_MAX;
    for (size_t i = 0; i + 1 < nsegs; i++) {
        uint64_t b = s->segs[i]->bytes + s->segs[i + 1]->bytes;
        if (b <= target && b < best) {
            best = b;
            *lo = i;
            *hi = i + 2;
        }
    }
    return best != UINT64_MAX;
}

void eng_seg_drop(struct ne_store *s, size_t i)
{
    struct eng_seg *g = s->segs[i];
    memmove(&s->segs[i], &s->segs[i + 1], (s->nsegs - i - 1) * sizeof *s->segs);
    s->nsegs--;
    g->dead = true;
    eng_seg_unref(s, g);
}

/* After a merge published out: an empty result goes at once; one that
 * missed a delete made while it ran is marked for purging. mu held. */
static void merged_output_check(struct ne_store *s, struct eng_seg *out, uint64_t npoints,
                                bool deletes_since)
{
    if (npoints && !deletes_since) return;
    for (size_t i = 0; i < s->nsegs; i++) {
        if (s->segs[i] != out) continue;
        if (!npoints)
            eng_seg_drop(s, i);
        else
            (void)eng_del_mark(s, out);
        break;
    }
}

int eng_merge_run(struct ne_store *s, size_t lo, size_t hi)
{
    size_t n = hi - lo;
    struct eng_seg **in = ne_malloc(n * sizeof *in);
    struct ne_seg **rs = ne_malloc(n * sizeof *rs);
    struct ne_seg_merge_opts mo;
    struct eng_del_merge dm;
    ne_seg_merge_opts_default(&mo);
    mo.align_ns = ENG_BLOCK_GRID_NS;
    mo.align_min = ENG_BLOCK_GRID_MIN;
    if (!in || !rs) {
        ne_free(in);
        ne_free(rs);
        return NE_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        in[i] = s->segs[lo + i];
        rs[i] = in[i]->r;
    }
    if (eng_del_merge_init(&dm, s, in, n, &mo)) {
        ne_free(in);
        ne_free(rs);
        return NE_ENOMEM;
    }
    for (size_t i = 0; i < n; i++)
        in[i]->refs++;
    uint64_t id = s->next_seg_id++;
    uint64_t del_gen = s->del_gen;
    s->compacting = true;
    pthread_mutex_unlock(&s->mu);

    struct ne_seg_info info;
    struct eng_seg *out = NULL;
    int rc = ne_seg_merge(rs, n, s->seg_dir, id, &mo, &info);
    if (!rc) {
        char path[4096];
        ne_seg_path(path, sizeof path, s->seg_dir, id);
        rc = eng_seg_load(path, &out);
    }

    pthread_mutex_lock(&s->mu);
    s->compacting = false;
    if (!rc && s->nsegs + 1 > s->cap_segs) {
        struct eng_seg **p = ne_realloc(s->segs, (s->cap_segs * 2 + 1) * sizeof *p);
        if (p) {
            s->segs = p;
            s->cap_segs = s->cap_segs * 2 + 1;
        } else {
            rc = NE_ENOMEM;
            eng_seg_unref(s, out);
        }
    }
    if (!rc) {
        /* remove the inputs from the list (they may have moved) */
        size_t keep = 0;
        for (size_t i = 0; i < s->nsegs; i++) {
            bool input = false;
            for (size_t k = 0; k < n && !input; k++)
                input = s->segs[i] == in[k];
            if (input) {
                s->segs[i]->dead = true;
                eng_seg_unref(s, s->segs[i]); /* the list's reference */
            } else {
                s->segs[keep++] = s->segs[i];
            }
        }
        s->nsegs = keep;
        eng_segs_publish(s, out);
        merged_output_check(s, out, info.npoints, s->del_gen != del_gen);
        eng_del_retire(s);
        eng_update_gauges(s);
        ne_metric_inc(s->m_compactions);
        ne_metric_add(s->m_compact_bytes, info.file_bytes);
        char ids[64], np[32];
        snprintf(ids, sizeof ids, "%" PRIu64, id);
        snprintf(np, sizeof np, "%zu", n);
        ne_log(NE_LOG_INFO, ENG_MOD,
               n == 1 ? "segment rewritten without deleted data" : "segments compacted", "into",
               ids, "inputs", np, NULL);
    } else {
        ne_log(NE_LOG_ERROR, ENG_MOD, "compaction failed", "err", ne_strerror(rc), NULL);
    }
    for (size_t i = 0; i < n; i++)
        eng_seg_unref(s, in[i]);
    eng_del_merge_free(&dm);
    ne_free(in);
    ne_free(rs);
    pthread_mutex_unlock(&s->mu);
    eng_reap(s);
    ne_alloc_trim(); /* the inputs' indexes and the merge buffers */
    pthread_mutex_lock(&s->mu);
    return rc;
}

static int compact_step(struct ne_store *s, bool force, bool *did)
{
    size_t lo, hi;
    *did = false;
    /* a delete being logged has fixed its segment limit: a merge started
     * now would get an id above it without dropping its points */
    if (s->deleting || !pick_run(s, force, &lo, &hi)) return 0;
    *did = true;
    return eng_merge_run(s, lo, hi);
}

int eng_compact_once(struct ne_store *s, bool *did)
{
    pthread_mutex_lock(&s->mu);
    int rc = compact_step(s, false, did);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

/* ---- retention ----------------------------------------------------------------- */

static void evict(struct ne_store *s, size_t i, const char *why)
{
    struct eng_seg *g = s->segs[i];
    char bytes[32], maxts[32];
    snprintf(bytes, sizeof bytes, "%" PRIu64, g->bytes);
    snprintf(maxts, sizeof maxts, "%" PRId64, g->max_ts);
    ne_log(NE_LOG_INFO, ENG_MOD, "segment evicted by retention", "path", ne_seg_path_of(g->r),
           "reason", why, "bytes", bytes, "max_ts", maxts, NULL);
    ne_metric_inc(s->m_evicted);
    ne_metric_add(s->m_evicted_bytes, g->bytes);
    eng_seg_drop(s, i);
}

/* unsynced: also consider segments a sink has not delivered (only with
 * retention_evict_unsynced, and only once no synced segment may go). */
static bool evictable(const struct ne_store *s, const struct eng_seg *g, bool unsynced)
{
    if (g->refs != 1) return false;
    return eng_seg_synced(s, g) || (unsynced && s->o.retention_evict_unsynced);
}

static void evict_counted(struct ne_store *s, size_t i, const char *why)
{
    if (!eng_seg_synced(s, s->segs[i])) {
        ne_metric_inc(s->m_evicted_unsynced);
        ne_log(NE_LOG_WARN, ENG_MOD, "evicting a segment no sink has delivered yet", "reason",
               why, NULL);
    }
    evict(s, i, why);
}

/* The evictable segment with the oldest data, or SIZE_MAX. */
static size_t oldest_evictable(const struct ne_store *s, bool unsynced)
{
    size_t best = SIZE_MAX;
    for (size_t i = 0; i < s->nsegs; i++) {
        struct eng_seg *g = s->segs[i];
        if (!evictable(s, g, unsynced)) continue;
        if (best == SIZE_MAX || g->max_ts < s->segs[best]->max_ts) best = i;
    }
    return best;
}

/* mu held. */
static int retention_locked(struct ne_store *s)
{
    size_t nsegs = s->nsegs;
    if (s->o.retention_max_age_ns > 0) {
        int64_t cutoff = ne_time_wall_ns() - s->o.retention_max_age_ns;
        for (size_t i = 0; i < s->nsegs;) {
            if (s->segs[i]->max_ts < cutoff && evictable(s, s->segs[i], true))
                evict_counted(s, i, "age");
            else
                i++;
        }
    }
    if (s->o.retention_max_disk_bytes > 0) {
        for (;;) {
            uint64_t used = s->wal ? eng_wal_bytes(s->wal) : 0;
            for (size_t i = 0; i < s->nsegs; i++)
                used += s->segs[i]->bytes;
            if (used <= s->o.retention_max_disk_bytes) break;
            /* unsynced segments go last */
            size_t best = oldest_evictable(s, false);
            if (best == SIZE_MAX) best = oldest_evictable(s, true);
            if (best == SIZE_MAX) break; /* nothing may go: over budget, logged once per pass */
            evict_counted(s, best, "disk_budget");
        }
    }
    if (s->nsegs != nsegs && eng_index_ntombs(s->ix)) eng_del_retire(s); /* evictions */
    eng_update_gauges(s);
    return 0;
}

int eng_retention_once(struct ne_store *s)
{
    pthread_mutex_lock(&s->mu);
    int rc = retention_locked(s);
    pthread_mutex_unlock(&s->mu);
    eng_reap(s);
    return rc;
}

static void wait_not_compacting(struct ne_store *s)
{
    while (s->compacting) {
        pthread_mutex_unlock(&s->mu);
        ne_time_sleep_ns(10000000);
        pthread_mutex_lock(&s->mu);
    }
}

int ne_store_compact(struct ne_store *s)
{
    int rc = eng_retention_once(s);
    bool did = true;
    pthread_mutex_lock(&s->mu);
    while (!rc && did) { /* deleted data first, then size */
        wait_not_compacting(s);
        rc = eng_del_purge_step(s, &did);
    }
    did = true;
    while (!rc && did) {
        wait_not_compacting(s);
        rc = compact_step(s, true, &did);
    }
    pthread_mutex_unlock(&s->mu);
    eng_reap(s);
    return rc;
}

static void wait_500ms(struct ne_store *s)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += 500000000;
    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
    }
    pthread_cond_timedwait(&s->cv, &s->mu, &ts);
}

void *eng_compactor_main(void *arg)
{
    struct ne_store *s = arg;
    bool again = false;
    pthread_mutex_lock(&s->mu);
    while (!s->stop_compactor) {
        if (!again) /* after a successful merge, more may be due: no pause */
            wait_500ms(s);
        if (s->stop_compactor) break;
        (void)retention_locked(s);
        bool did = false;
        int rc = eng_del_purge_step(s, &did);
        if (!did && !rc && !s->compacting) rc = compact_step(s, false, &did);
        again = did && rc == 0;
        pthread_mutex_unlock(&s->mu);
        eng_reap(s);
        pthread_mutex_lock(&s->mu);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}
