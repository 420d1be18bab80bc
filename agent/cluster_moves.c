/*
 * cluster_moves.c - shard moves of the cluster module: what this node
 * holds of each shard (sharding/rebalance.h), driven once a tick of the
 * anti-entropy thread (agent__cluster_move_tick), the peers' statuses it
 * polls, the keepers it hands to the replicator, and the drop of shards
 * this node no longer owns. The state lives in struct cluster
 * (cluster_int.h) under mv_mu; locks and invariants are described in
 * mod_cluster.c's header comment.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/cluster_int.h"
#include "ports/err.h"
#include "ports/log.h"
#include "ports/metrics.h"
#include "ports/platform.h"
#include "sharding/rebalance.h"
#include "sharding/replicate.h"
#include "sharding/ring.h"
#include "sharding/scan.h"
#include "sharding/transport.h"

#define MOD "cluster"

/* ---- shard moves -------------------------------------------------------------
 *
 * sharding/rebalance.h holds what this node has of each shard; here it is
 * driven once per tick of the anti-entropy thread (agent__cluster_move_tick):
 *   1. the placement ring (write ring) is applied: shards gained become
 *      moving, shards lost are kept;
 *   2. every alive member is asked which shards it holds complete
 *      (NE_FT_MOVE_STATUS), and whether it is decommissioned (then it
 *      leaves the placement ring here too);
 *   3. shards nobody holds while every member answered are taken as they
 *      are, once the cluster has formed (every seed alive, or membership
 *      quiet for 10 s): a new cluster;
 *   4. moving shards are pulled in full from a live member holding them,
 *      once the ring has been stable for max_lag + 2 s (writes placed on
 *      the old ring have reached the old owners by then);
 *   5. a kept shard whose owners all hold it complete, for more than
 *      MOVE_GRACE ticks in a row, is deleted from the local store. The
 *      grace outlasts STATUS_FRESH_NS plus a status poll: a coordinator
 *      reads a shard from this old owner only while its own view of the
 *      new owners is older than their completion, and such a view is
 *      no longer fresh by the time the copy goes.
 * The state is saved in data_dir/cluster/shards when it changes. Reads
 * (agent__cluster_source) go to members holding a shard complete, so a
 * moving shard is read from an old owner; and so that such a read misses
 * nothing, writes go to the old owners too while they keep the shard:
 * after step 2 every member's last reported holds become the
 * replicator's keepers (keepers_update), so a write reaches each member
 * holding its shard complete as well as its owners, until that member
 * dropped its copy and said so. A keeper record that arrives after its
 * shard was dropped is skipped (agent__cluster_keeps_shard): the drop and such a write
 * exclude each other (drop_lock), so a dropped shard never grows a
 * partial copy again. Metrics:
 * neoedge_rebalance_{shards_moving,shards_leaving,decommission_state},
 * neoedge_rebalance_{moves_completed,bytes_moved,points_moved,
 * shards_dropped}_total. */

#define STATUS_FRESH_NS (5LL * 1000000000LL) /* a status older than this is unknown */
#define MOVE_GRACE      7 /* a drop waits until allowed more than this many ticks in a row */
#define MOVE_TICK_NS    (3LL * 1000000000LL) /* pull time per tick, at most */

static void shards_path(const struct cluster *c, char *out, size_t n)
{
    snprintf(out, n, "%s/cluster/shards", c->agent->data_dir);
}

struct peer_status *agent__cluster_peer_find(struct cluster *c, const char *id, bool add)
{
    for (size_t i = 0; i < c->npeers; i++)
        if (strcmp(c->peers[i].id, id) == 0) return &c->peers[i];
    if (!add || c->npeers == MAX_MEMBERS) return NULL;
    struct peer_status *p = &c->peers[c->npeers++];
    snprintf(p->id, sizeof p->id, "%s", id);
    return p;
}

void agent__cluster_statuses_check(struct cluster *c, const struct ne_swim_member_info *ms,
                                   size_t n)
{
    for (size_t i = 1; i < n; i++) {
        struct peer_status *p = agent__cluster_peer_find(c, ms[i].id, false);
        if (p && p->seen_ns && p->inc != ms[i].incarnation) p->seen_ns = 0;
    }
}

/* rebalance.h's holds callback; mv_mu held. */
bool agent__cluster_holds_locked(void *ctx, uint32_t shard, const char *node)
{
    struct cluster *c = ctx;
    if (strcmp(node, c->opts.node_id) == 0) return ne_rebal_holds(c->rb, shard);
    const struct peer_status *p = agent__cluster_peer_find(c, node, false);
    return p && p->holds && ne_time_mono_ns() - p->seen_ns < STATUS_FRESH_NS &&
           ne_rebal_bit(p->holds, shard);
}

/* The replicator's keeps callback (inbound keeper records, drop_lock
 * read-held by handle_write_batch): this node owns the series' shard or
 * has not dropped its copy. */
bool agent__cluster_keeps_shard(void *ctx, uint64_t series_hash)
{
    struct cluster *c = ctx;
    uint32_t s = (uint32_t)(series_hash % c->opts.shards);
    pthread_mutex_lock(&c->mv_mu);
    bool keep = ne_rebal_owner(c->rb, s) || ne_rebal_leaving(c->rb, s);
    pthread_mutex_unlock(&c->mv_mu);
    return keep;
}

/* After step 2: every member not LEFT whose status is known becomes a
 * keeper of the shards it last said it holds complete (dead ones too:
 * their writes wait as hints), so that writes reach old owners that reads
 * may still use. The holds are copied under mv_mu, handed over without. */
static void keepers_update(struct cluster *c, const struct ne_swim_member_info *ms, size_t n)
{
    size_t nb = ((size_t)c->opts.shards + 7) / 8, nk = 0;
    struct ne_repl_keeper *k = ne_calloc(n ? n : 1, sizeof *k);
    uint8_t *bits = ne_malloc(n * nb + 1);
    bool *refused = NULL;
    if (!k || !bits) goto out;
    refused = ne_calloc(n ? n : 1, sizeof *refused);
    if (!refused) goto out;
    for (size_t i = 1; i < n; i++) /* before mv_mu: ring_mu is never taken under it */
        refused[i] = agent__cluster_peer_refused(c, ms[i].id);
    pthread_mutex_lock(&c->mv_mu);
    for (size_t i = 1; i < n; i++) {
        const struct peer_status *p = agent__cluster_peer_find(c, ms[i].id, false);
        if (ms[i].state == NE_SWIM_LEFT || refused[i] || !p || !p->holds) continue;
        memcpy(bits + nk * nb, p->holds, nb);
        k[nk] = (struct ne_repl_keeper){ms[i].id, bits + nk * nb};
        nk++;
    }
    pthread_mutex_unlock(&c->mv_mu);
    pthread_rwlock_rdlock(&c->rep_lock);
    int rc = c->rep ? ne_replicator_set_keepers(c->rep, c->opts.shards, k, nk) : 0;
    pthread_rwlock_unlock(&c->rep_lock);
    if (rc != 0)
        ne_log(NE_LOG_WARN, MOD, "cannot update the shard keepers (tried again next tick)", "err",
               ne_strerror(rc), NULL);
out:
    ne_free(refused);
    ne_free(k);
    ne_free(bits);
}

int agent__cluster_start_moves(struct cluster *c)
{
    char path[4200];
    shards_path(c, path, sizeof path);
    char *text = NULL;
    size_t len = 0;
    int rc = NE_ENOTFOUND;
    if (ne_fs_read_all(path, &text, &len) == 0) {
        rc = ne_rebal_load((const uint8_t *)text, len, c->opts.shards, &c->rb);
        ne_free(text);
        if (rc == 0) ne_rebal_restarted(c->rb);
        if (rc != 0)
            ne_log(NE_LOG_WARN, MOD, "shard state unreadable: every shard is pulled again", "path",
                   path, "err", ne_strerror(rc), NULL);
    }
    if (rc != 0) rc = ne_rebal_new(c->opts.shards, true, &c->rb);
    if (rc != 0) return rc;
    if (ne_rebal_decommissioned(c->rb)) atomic_store(&c->self_decom, true);
    c->drop_seen = ne_calloc(c->opts.shards, 1);
    if (!c->drop_seen) return NE_ENOMEM;
    static const char *const names[7] = {
        "neoedge_rebalance_shards_moving",       "neoedge_rebalance_shards_leaving",
        "neoedge_rebalance_decommission_state",  "neoedge_rebalance_moves_completed_total",
        "neoedge_rebalance_bytes_moved_total",   "neoedge_rebalance_points_moved_total",
        "neoedge_rebalance_shards_dropped_total"};
    static const char *const help[7] = {
        "Shards this node owns but is still pulling from an old owner",
        "Shards this node no longer owns and keeps until their owners hold them",
        "Decommission of this node: 0 none, 1 leaving (shards moving away), 2 done (may stop)",
        "Shard moves to this node finished (full pull from a complete copy)",
        "Bytes pulled by shard moves",
        "Points pulled by shard moves and written locally",
        "Shard copies deleted after their new owners confirmed theirs"};
    for (int i = 0; i < 7; i++)
        c->m_mv[i] = i < 3 ? ne_metric_gauge(names[i], help[i], "")
                           : ne_metric_counter(names[i], help[i], "");
    return 0;
}

void agent__cluster_stop_moves(struct cluster *c)
{
    for (size_t i = 0; i < c->npeers; i++)
        ne_free(c->peers[i].holds);
    ne_free(c->drop_seen);
    ne_pbuf_free(&c->saved);
    ne_rebal_free(&c->rb);
}

/* Saves the state when it changed since the last save; mv_mu held. */
static void moves_save(struct cluster *c)
{
    struct ne_pbuf b = {0};
    if (ne_rebal_save(c->rb, &b) != 0) return;
    if (b.len == c->saved.len && memcmp(b.p, c->saved.p, b.len) == 0) {
        ne_pbuf_free(&b);
        return;
    }
    char path[4200];
    shards_path(c, path, sizeof path);
    int rc = ne_fs_write_atomic(path, b.p, b.len);
    if (rc == 0) {
        ne_pbuf_free(&c->saved);
        c->saved = b;
        return;
    }
    ne_pbuf_free(&b);
    ne_log(NE_LOG_WARN, MOD, "cannot save the shard state", "path", path, "err", ne_strerror(rc),
           NULL);
}

/* Marks member id decommissioned or not, as its status says. */
static void member_decom(struct cluster *c, const char *id, bool decom)
{
    pthread_mutex_lock(&c->ring_mu);
    for (size_t i = 1; i < c->nring; i++)
        if (strcmp(c->ring_members[i].id, id) == 0 && c->ring_members[i].decom != decom) {
            c->ring_members[i].decom = decom;
            atomic_store(&c->ring_stale, true);
            ne_log(NE_LOG_INFO, MOD,
                   decom ? "member decommissioned: off the placement ring"
                         : "member back on the placement ring",
                   "node", id, NULL);
        }
    pthread_mutex_unlock(&c->ring_mu);
}

/* Step 2: the status of every alive member. */
static void poll_statuses(struct cluster *c, const struct ne_swim_member_info *ms, size_t n)
{
    uint32_t shards = c->opts.shards;
    size_t nb = ((size_t)shards + 7) / 8;
    struct ne_pbuf req = {0}, reply = {0};
    uint8_t *bits = ne_malloc(nb);
    if (!bits || ne_rebal_status_req(shards, &req) != 0) goto out;
    for (size_t i = 1; i < n && !atomic_load(&c->stop); i++) {
        if (ms[i].state != NE_SWIM_ALIVE || agent__cluster_is_dropped(c, ms[i].id)) continue;
        uint8_t type = 0;
        bool decom = false;
        int tag = -1;
        int rc = ne_transport_call(c->tp, ms[i].id, ms[i].addr, NE_FT_MOVE_STATUS, req.p, req.len,
                                   &reply, &type);
        if (rc == 0 && type != NE_FT_MOVE_STATUS_REPLY) rc = NE_ECORRUPT;
        if (rc == 0) rc = ne_rebal_status_parse(reply.p, reply.len, shards, bits, &decom, &tag);
        if (rc != 0) continue; /* unknown until it answers (an older node never does) */
        member_decom(c, ms[i].id, decom);
        if (agent__cluster_peer_refused(c, ms[i].id))
            memset(bits, 0, nb); /* its copies are never used */
        pthread_mutex_lock(&c->mv_mu);
        struct peer_status *p = agent__cluster_peer_find(c, ms[i].id, true);
        if (p) p->tag1 = tag + 1;
        if (p && !p->holds) p->holds = ne_malloc(nb);
        if (p && p->holds) {
            memcpy(p->holds, bits, nb);
            p->seen_ns = ne_time_mono_ns();
            p->inc = ms[i].incarnation;
        }
        pthread_mutex_unlock(&c->mv_mu);
    }
out:
    ne_free(bits);
    ne_pbuf_free(&req);
    ne_pbuf_free(&reply);
}

/* Whether a new cluster has formed: every seed is an alive member, or
 * membership has not changed for BOOTSTRAP_QUIET_NS (seeds that stay
 * away). Until then nothing is taken as it is, so that a cluster whose
 * nodes start one after the other places its first data on the full ring
 * instead of moving it at once. */
#define BOOTSTRAP_QUIET_NS (10LL * 1000000000LL)
static bool formed(struct cluster *c, const struct ne_swim_member_info *ms, size_t n)
{
    if (ne_time_mono_ns() - atomic_load(&c->member_change_ns) >= BOOTSTRAP_QUIET_NS)
        return !(c->other_seeds && n == 1); /* alone with seeds: not joined */
    for (size_t k = 0; k < c->opts.nseeds; k++) {
        const char *seed = c->opts.seeds[k];
        bool seen = agent__cluster_is_self(c, seed);
        for (size_t i = 1; i < n && !seen; i++)
            seen = ms[i].state == NE_SWIM_ALIVE && strcmp(ms[i].addr, seed) == 0;
        if (!seen) return false;
    }
    return true;
}

/* Steps 1 and 3; mv_mu held. */
static void moves_apply(struct cluster *c, const struct ne_ring *r, bool formed_now)
{
    uint32_t before = ne_rebal_count_moving(c->rb);
    (void)ne_rebal_apply(c->rb, r, c->opts.node_id);
    if (ne_rebal_count_moving(c->rb) > before) c->moving_since = ne_time_mono_ns();
    if (!formed_now) return;
    size_t nn = ne_ring_nodes(r);
    const char *members[MAX_MEMBERS];
    bool known[MAX_MEMBERS];
    for (size_t i = 0; i < nn && i < MAX_MEMBERS; i++) {
        members[i] = ne_ring_node_name(r, (uint32_t)i);
        const struct peer_status *p = agent__cluster_peer_find(c, members[i], false);
        known[i] = strcmp(members[i], c->opts.node_id) == 0 ||
                   (p && p->holds && ne_time_mono_ns() - p->seen_ns < STATUS_FRESH_NS);
    }
    uint32_t taken = ne_rebal_bootstrap(c->rb, members, known, nn < MAX_MEMBERS ? nn : MAX_MEMBERS,
                                        agent__cluster_holds_locked, c);
    if (taken) {
        char num[16];
        snprintf(num, sizeof num, "%u", taken);
        ne_log(NE_LOG_INFO, MOD, "shards nobody holds taken as they are (new cluster)", "shards",
               num, NULL);
    }
}

/* A live member holding shard complete (an owner first), or -1. mv_mu held. */
static int pull_source(struct cluster *c, const struct ne_ring *r, uint32_t shard,
                       const struct ne_swim_member_info *ms, size_t n)
{
    int pick = -1;
    for (size_t i = 1; i < n; i++) {
        if (ms[i].state != NE_SWIM_ALIVE || !agent__cluster_holds_locked(c, shard, ms[i].id))
            continue;
        int idx = ne_ring_node_index(r, ms[i].id);
        if (idx >= 0 && ne_ring_is_owner(r, shard, (uint32_t)idx)) return (int)i;
        if (pick < 0) pick = (int)i;
    }
    return pick;
}

/* Step 4: pulls moving shards, for MOVE_TICK_NS at most. */
static void pull_moving(struct cluster *c, const struct ne_ring *r,
                        const struct ne_swim_member_info *ms, size_t n)
{
    int64_t settle = c->agent->cfg->replication.max_lag_ns + 2000000000LL;
    int64_t t0 = ne_time_mono_ns();
    for (uint32_t s = 0; s < c->opts.shards && !atomic_load(&c->stop); s++) {
        if (ne_time_mono_ns() - t0 > MOVE_TICK_NS) break;
        pthread_mutex_lock(&c->mv_mu);
        bool go = ne_rebal_moving(c->rb, s) && t0 - c->moving_since >= settle;
        int src = go ? pull_source(c, r, s, ms, n) : -1;
        pthread_mutex_unlock(&c->mv_mu);
        if (src < 0) continue;
        struct ae_peer p = {c, ms[src].id, ms[src].addr};
        struct ne_ae_stats a, b;
        ne_ae_stats(c->ae, &a);
        uint64_t bytes = 0;
        bool complete = false;
        int rc = ne_ae_pull_shard(c->ae, c->opts.shards, s, agent__cluster_ae_call, &p, &bytes,
                                  &complete);
        ne_ae_stats(c->ae, &b);
        pthread_mutex_lock(&c->mv_mu);
        c->mv_bytes += bytes;
        c->mv_points += b.points_repaired - a.points_repaired;
        ne_metric_add(c->m_mv[4], bytes);
        ne_metric_add(c->m_mv[5], b.points_repaired - a.points_repaired);
        if (rc == 0 && complete && ne_rebal_moving(c->rb, s)) {
            ne_rebal_pulled(c->rb, s);
            c->mv_moves++;
            ne_metric_add(c->m_mv[3], 1);
        }
        pthread_mutex_unlock(&c->mv_mu);
        if (rc != 0) {
            char num[16];
            snprintf(num, sizeof num, "%u", s);
            ne_log(NE_LOG_WARN, MOD, "shard pull failed (tried again next tick)", "shard", num,
                   "from", ms[src].id, "err", ne_strerror(rc), NULL);
        }
    }
}

/* Step 5: drops the kept shards every owner has held for more than MOVE_GRACE ticks. */
static void drop_kept(struct cluster *c, const struct ne_ring *r)
{
    uint32_t shards = c->opts.shards;
    uint8_t *mask = ne_calloc(((size_t)shards + 7) / 8, 1);
    if (!mask) return;
    uint32_t ndrop = 0;
    pthread_mutex_lock(&c->mv_mu);
    for (uint32_t s = 0; s < shards; s++) {
        bool ok = ne_rebal_may_drop(c->rb, r, s, agent__cluster_holds_locked, c);
        c->drop_seen[s] = ok ? (uint8_t)(c->drop_seen[s] < 255 ? c->drop_seen[s] + 1 : 255) : 0;
        if (c->drop_seen[s] > MOVE_GRACE) {
            mask[s / 8] |= (uint8_t)(1u << (s % 8));
            ndrop++;
        }
    }
    pthread_mutex_unlock(&c->mv_mu);
    /* no inbound write between the delete and the state saying dropped:
     * a keeper record is stored before (and deleted) or skipped after */
    if (ndrop) pthread_rwlock_wrlock(&c->drop_lock);
    int rc = ndrop ? ne_rebal_delete_shards(c->agent->store, shards, mask) : 0;
    if (rc != 0)
        ne_log(NE_LOG_WARN, MOD, "cannot drop moved shards (tried again next tick)", "err",
               ne_strerror(rc), NULL);
    if (ndrop && rc == 0) {
        pthread_mutex_lock(&c->mv_mu);
        for (uint32_t s = 0; s < shards; s++)
            if (ne_rebal_bit(mask, s)) ne_rebal_dropped(c->rb, s);
        c->mv_dropped += ndrop;
        ne_metric_add(c->m_mv[6], ndrop);
        pthread_mutex_unlock(&c->mv_mu);
    }
    if (ndrop) pthread_rwlock_unlock(&c->drop_lock);
    if (ndrop && rc == 0) {
        char num[16];
        snprintf(num, sizeof num, "%u", ndrop);
        ne_log(NE_LOG_INFO, MOD, "dropped shard copies their new owners hold", "shards", num, NULL);
    }
    ne_free(mask);
}

/* No point waits in a hint queue for any member still placed on: what
 * this node took has reached its owners (a decommissioned node is done
 * only then). A removed member's queue does not count: its shards were
 * copied from the live replicas, which got their own copies of those
 * points from this node's queues for them. */
static bool queues_empty(struct cluster *c, const struct ne_swim_member_info *ms, size_t n)
{
    bool empty = true;
    pthread_rwlock_rdlock(&c->rep_lock);
    for (size_t i = 1; c->rep && i < n && empty; i++) {
        struct ne_replicator_peer_stats st;
        if (ms[i].state == NE_SWIM_LEFT) continue;
        if (ne_replicator_peer_stats(c->rep, ms[i].id, &st) == 0 && st.queue_records > 0)
            empty = false;
    }
    pthread_rwlock_unlock(&c->rep_lock);
    return empty;
}

/* The others had removed this node (it was down, or cut off from them,
 * for dead_member_timeout) and placed its shards elsewhere meanwhile: as
 * after a restart, no copy here is complete any more; each owned shard is
 * pulled (only what differs) from a node holding it before it is served
 * from here again, and the interim owners keep their copies until then. */
static void rejoin_after_removal(struct cluster *c)
{
    if (!atomic_exchange(&c->self_removed, false)) return;
    pthread_mutex_lock(&c->mv_mu);
    ne_rebal_restarted(c->rb);
    c->moving_since = ne_time_mono_ns();
    pthread_mutex_unlock(&c->mv_mu);
    ne_log(NE_LOG_WARN, MOD,
           "the other members had removed this node (down or cut off longer than "
           "dead_member_timeout): its shards are pulled again before it serves them",
           NULL);
}

void agent__cluster_move_tick(struct cluster *c)
{
    const char **names = ne_malloc(MAX_MEMBERS * sizeof *names);
    struct ne_swim_member_info *ms = ne_calloc(MAX_MEMBERS, sizeof *ms);
    struct ne_ring *r = NULL;
    size_t nn = 0, n = 0;
    if (!names || !ms) goto out;
    agent__cluster_remove_forgotten(c);
    rejoin_after_removal(c);
    agent__cluster_ring_refresh(
        c); /* membership changes reach the writers' ring without writes too */
    n = ne_membership_snapshot(c->mem, ms, MAX_MEMBERS);
    if (n > MAX_MEMBERS) n = MAX_MEMBERS;
    pthread_mutex_lock(&c->mv_mu);
    agent__cluster_statuses_check(c, ms, n);
    pthread_mutex_unlock(&c->mv_mu);
    agent__cluster_tag_check(c, ms, n);
    if (atomic_load(&c->self_refused)) {
        keepers_update(c, ms, 0); /* none: this node forwards nothing */
        goto out;
    }
    poll_statuses(c, ms, n);
    keepers_update(c, ms, n);
    pthread_mutex_lock(&c->ring_mu);
    int rc = agent__cluster_ring_build_locked(c, names, &nn, &r);
    pthread_mutex_unlock(&c->ring_mu);
    if (rc != 0) goto out;
    bool f = formed(c, ms, n);
    pthread_mutex_lock(&c->mv_mu);
    moves_apply(c, r, f);
    pthread_mutex_unlock(&c->mv_mu);
    pull_moving(c, r, ms, n);
    drop_kept(c, r);
    bool drained = queues_empty(c, ms, n);
    pthread_mutex_lock(&c->mv_mu);
    c->mv_done = ne_rebal_done(c->rb, r, agent__cluster_holds_locked, c) && drained;
    ne_metric_set(c->m_mv[0], ne_rebal_count_moving(c->rb));
    ne_metric_set(c->m_mv[1], ne_rebal_count_leaving(c->rb));
    ne_metric_set(c->m_mv[2], c->mv_done ? 2 : ne_rebal_decommissioned(c->rb) ? 1 : 0);
    moves_save(c);
    pthread_mutex_unlock(&c->mv_mu);
out:
    ne_ring_free(&r);
    ne_free(names);
    ne_free(ms);
}

/* Decommissions this node: off the placement ring from now on (saved, so
 * a restart keeps it off), reported in its status so the others place
 * without it too. */
void agent__cluster_decommission_self(struct cluster *c)
{
    pthread_mutex_lock(&c->mv_mu);
    bool was = ne_rebal_decommissioned(c->rb);
    ne_rebal_set_decommissioned(c->rb);
    moves_save(c);
    pthread_mutex_unlock(&c->mv_mu);
    atomic_store(&c->self_decom, true);
    atomic_store(&c->ring_stale, true);
    if (!was)
        ne_log(NE_LOG_INFO, MOD, "decommissioning: this node leaves the placement ring", NULL);
}

/* Transport requests of shard moves (see cluster_int.h). */
int agent__cluster_handle_moves(struct cluster *c, uint8_t type, const uint8_t *msg, size_t n,
                                struct ne_pbuf *reply, uint8_t *reply_type)
{
    if (type == NE_FT_DECOMMISSION) {
        if (n != 0) return NE_ECORRUPT;
        agent__cluster_decommission_self(c);
        reply->len = 0;
        *reply_type = NE_FT_DECOMMISSION_ACK;
        return 0;
    }
    pthread_mutex_lock(&c->mv_mu);
    int rc = ne_rebal_status_serve(c->rb, msg, n, reply);
    pthread_mutex_unlock(&c->mv_mu);
    *reply_type = NE_FT_MOVE_STATUS_REPLY;
    return rc;
}
