/*
 * compact.c - background compaction and retention.
 *
 * Compaction merges runs of segments that are adjacent in WAL order (no
 * other segment's range lies between them) with ne_seg_merge, so the
 * output's range [first.seq_min, last.seq_max] is contiguous and "newer
 * wins" stays the order of ranges.
 *
 * Background policy: encode each value again about once, after its hour
 * is complete. A merge copies a block verbatim when it is full or closed
 * by the hour grid (ENG_BLOCK_GRID_NS) and decodes and encodes it again
 * otherwise, so merging flushes while their hour cell is still being
 * filled encodes the same partial blocks again in every merge until the
 * hour ends: the size tiers used before (four adjacent segments of one
 * size class, then the cheapest pair beyond eight) rewrote I1's flushed
 * bytes 2.45 times, and merges took a third of the instructions. The
 * rules, first match wins:
 *   - closed cells (pick_closed_run): the open cell is the one holding the
 *     newest point of any segment (data arrives about in time order, be it
 *     an import of history or wall-clock ingest). The newest run of
 *     segments holding data of earlier cells merges, reaching back over
 *     the segments before it that share a cell with it (takes_prev), up
 *     to segment_target_bytes. Segments wholly in the open cell wait. An
 *     hour's flushes (with the one that straddles into the next hour) so
 *     merge once, together with the output of the hours before, whose
 *     closed blocks are copied verbatim;
 *   - the limit (pick_over_limit): past MAX_OPEN_SEGS segments (each holds
 *     its column index in memory) the longest run of the smallest size
 *     class merges, cells open or not (S1 is one hour: its 43 flushes
 *     merge in runs of 13), else the cheapest adjacent pair;
 *   - at rest (every point written is in a segment and no write came for
 *     IDLE_NS, or none came for REST_NS): every cell counts as closed, so
 *     what the open cell holds merges too, segments of the same cells
 *     merge whatever their sizes, and the limit is IDLE_OPEN_SEGS.
 * ne_store_compact merges any adjacent run that fits the target.
 *
 * Measured against the size tiers (Release, memtable hints fixed at the
 * same time, see store.c; bench/ingest/ingest_cpu.py --amp --disk, medians
 * of 3 runs): merged bytes per flushed byte 2.45 -> 1.08 on I1 and 1.21
 * -> 0.48 on S1; CPU until the store settled 0.52 -> 0.38 and 0.32 ->
 * 0.22 s per million values; disk per value unchanged on I1 (4.32 bytes)
 * and 0.261 -> 0.210 bytes on S1; peak RSS 64.6 -> 66.0 and 49.6 -> 48.7
 * MiB (runs spread over +-4 MiB). Under callgrind, instructions per value
 * until settled: 3081 -> 2180 on the first 2 hours of I1 (ne_seg_merge
 * 7.8 -> 2.7 billion), 1742 -> 1518 on the first 1.2 M lines of S1.
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

/* Past this many segments a merge is due even if its cells are still
 * open: each open segment holds its column index in memory. An hour of
 * the I1 import is 9 flushes of a 16 MiB memtable budget, 12 of the
 * 12 MiB default, so with the previous hours' outputs beside them the
 * limit lets most of the open cell fill without merges (FLUSH_HOLD_SEGS
 * in store.c is above it). At rest the limit is
 * IDLE_OPEN_SEGS, which keeps memory and disk small (small partial blocks
 * compress worse than merged ones). */
#define MAX_OPEN_SEGS  12
#define TIER_BASE      (64u << 10)
#define IDLE_OPEN_SEGS 3
#define IDLE_NS        2000000000LL
#define REST_NS        60000000000LL

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

/* The grid cell of t (the segment writer's rule: floor, times before the
 * epoch included). */
static int64_t cell_of(int64_t t)
{
    int64_t q = t / ENG_BLOCK_GRID_NS;
    return (t % ENG_BLOCK_GRID_NS != 0 && t < 0) ? q - 1 : q;
}

/* The open cell: the one holding the newest point of any segment. Cells
 * before it count as closed (data arrives about in time order: an import
 * of history, or wall-clock ingest). INT64_MAX (every cell closed) at
 * rest. mu held. */
static int64_t open_cell(const struct ne_store *s, bool rest)
{
    if (rest || !s->nsegs) return INT64_MAX;
    int64_t newest = INT64_MIN;
    for (size_t i = 0; i < s->nsegs; i++)
        if (s->segs[i]->max_ts > newest) newest = s->segs[i]->max_ts;
    return cell_of(newest);
}

/* Whether a run should take in a, the segment before it (first is the
 * run's oldest): a shares a grid cell with first (its blocks there are
 * partial and are best merged with first's once, not in a later merge),
 * and taking it costs little: a is at most TAKE_BACK times the run's
 * size when it reaches back into earlier cells than first (in data that
 * arrives about in time order only its newest cell meets the run; its
 * older blocks are closed by the grid and copied verbatim, which costs
 * writes rather than CPU), at most TAKE_SAME times otherwise (data
 * scattered in time: every block of a is decoded again). The bounds keep
 * the bytes rewritten per byte flushed logarithmic where data is
 * scattered or arrives slowly: on a 200-truck part of I1 flushed every
 * 600 s of data (bench/ingest/realtime_amp.py), a TAKE_BACK of 4 wrote
 * 2.79 merged bytes per flushed byte, 1 wrote 1.47 for fewer instructions
 * (2126 -> 2106 per value; the size tiers: 1.56 and 2337). At rest a
 * segment of the same cells is taken whatever its size: a cell split
 * over two segments costs disk and reads until they merge. */
#define TAKE_BACK 1u
#define TAKE_SAME 2u

static bool takes_prev(const struct eng_seg *a, const struct eng_seg *first, uint64_t run_bytes,
                       size_t run_len, bool rest)
{
    if (cell_of(a->max_ts) < cell_of(first->min_ts)) return false;
    if (cell_of(a->min_ts) >= cell_of(first->min_ts))
        return rest || a->bytes <= TAKE_SAME * run_bytes;
    /* a run of one segment reaching back is the output of an earlier
     * run: its first cell was encoded whole once, and merging would only
     * encode it again */
    return run_len >= 2 && a->bytes <= TAKE_BACK * run_bytes;
}

/* The newest run of two or more adjacent segments holding data of closed
 * cells, each taken in by takes_prev, within the target size. Segments
 * wholly in the open cell wait for it to close: merged now, their partial
 * blocks would be decoded and encoded again in every merge until it does.
 * mu held. */
static bool pick_closed_run(const struct ne_store *s, size_t nsegs, bool rest, size_t *lo,
                            size_t *hi)
{
    int64_t open = open_cell(s, rest);
    uint64_t target = s->o.segment_target_bytes;
    size_t j = 0;
    while (j < nsegs && cell_of(s->segs[j]->min_ts) < open)
        j++;
    for (size_t e = j; e >= 2;) { /* the run [i, e) */
        size_t i = e - 1;
        uint64_t total = s->segs[i]->bytes;
        while (i > 0 && total + s->segs[i - 1]->bytes <= target &&
               takes_prev(s->segs[i - 1], s->segs[i], total, e - i, rest)) {
            i--;
            total += s->segs[i]->bytes;
        }
        if (e - i >= 2) {
            *lo = i;
            *hi = e;
            return true;
        }
        e = i;
    }
    return false;
}

static int size_class(uint64_t bytes)
{
    int c = 0;
    for (uint64_t b = TIER_BASE; bytes > b && c < 30; b *= 4)
        c++;
    return c;
}

/* Past the limit of open segments (each keeps its column index in memory,
 * hundreds of bytes per column), cells still open or not: the longest
 * adjacent run of segments in the smallest size class there is (many
 * flushes of one long-open cell then merge in one go, not pair by pair:
 * each value is encoded again about once per size class), else the
 * adjacent pair that costs least. mu held. */
static bool pick_over_limit(const struct ne_store *s, size_t nsegs, size_t *lo, size_t *hi)
{
    uint64_t target = s->o.segment_target_bytes;
    int minc = INT32_MAX;
    for (size_t i = 0; i < nsegs; i++)
        if (size_class(s->segs[i]->bytes) < minc) minc = size_class(s->segs[i]->bytes);
    size_t best_len = 0;
    for (size_t i = 0; i < nsegs;) {
        size_t j = i;
        uint64_t total = 0;
        while (j < nsegs && size_class(s->segs[j]->bytes) == minc &&
               total + s->segs[j]->bytes <= target)
            total += s->segs[j++]->bytes;
        if (j - i > best_len) {
            best_len = j - i;
            *lo = i;
            *hi = j;
        }
        i = j > i ? j : i + 1;
    }
    if (best_len >= 2) return true;
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

/* Picks a run [*lo, *hi) to merge; mu held. Returns true if one exists.
 * force (ne_store_compact): the first adjacent run that fits the target. */
static bool pick_run(struct ne_store *s, bool force, size_t *lo, size_t *hi)
{
    uint64_t target = s->o.segment_target_bytes;
    size_t nsegs = mergeable_prefix(s);
    if (force) {
        for (size_t i = 0; i + 1 < nsegs; i++) {
            uint64_t total = 0;
            size_t j = i;
            while (j < nsegs && total + s->segs[j]->bytes <= target)
                total += s->segs[j++]->bytes;
            if (j - i >= 2) {
                *lo = i;
                *hi = j;
                return true;
            }
        }
        return false;
    }
    /* at rest: every point written is in a segment and none came for a
     * while (a source that writes every few seconds keeps the memtable
     * from being empty for long), or none came for REST_NS (a memtable
     * without an age limit may hold the last points for good) */
    int64_t quiet = ne_time_mono_ns() - s->last_write_mono;
    bool rest = (quiet >= IDLE_NS && !s->sealed && !s->active->values) || quiet >= REST_NS;
    if (pick_closed_run(s, nsegs, rest, lo, hi)) return true;
    if (nsegs <= (rest ? IDLE_OPEN_SEGS : MAX_OPEN_SEGS)) return false;
    return pick_over_limit(s, nsegs, lo, hi);
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

static void wait_not_compacting(struct ne_store *s);

int eng_compact_once(struct ne_store *s, bool *did)
{
    pthread_mutex_lock(&s->mu);
    wait_not_compacting(s); /* the background compactor's merge */
    int rc = compact_step(s, false, did);
    pthread_mutex_unlock(&s->mu);
    eng_reap(s);
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
