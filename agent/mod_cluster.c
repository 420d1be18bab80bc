/*
 * mod_cluster.c - the "cluster" module: turns the cluster and replication
 * sections of the config into struct ne_cluster_opts, starts membership
 * (UDP) and the peer transport (TCP + TLS-PSK) on the same port, and
 * reports what this node sees of the cluster: health and metrics here, the
 * JSON of GET /api/v1/cluster in cluster_json.c, shard moves in
 * cluster_moves.c (struct cluster and what the three files share are in
 * cluster_int.h).
 *
 * Invariants:
 * - at most one cluster runs per process (one daemon); `running` points to
 *   it between a successful start and stop, guarded by running_mu;
 * - the member-state gauges are only written from the membership change
 *   callback (membership thread, membership lock held) and at start,
 *   before the membership thread exists. That callback registers metrics
 *   (registry lock), so nothing here may take the membership lock from
 *   inside a metric callback: the gauges are plain values, never
 *   computed on demand;
 * - counts[] mirrors the state of every member known, self included, so
 *   neoedge_cluster_members{state=...} always sums to the member count.
 * - replication (sharding/replicate.h): while the module runs, agent->sink
 *   is wrapped so that a write goes to the local store first and then to
 *   the replicator, which queues it for the other owners of its shards.
 *   The ring writes are placed with counts every member not LEFT nor
 *   decommissioned (a dead or stopped member keeps its shards until
 *   replication.dead_member_timeout removes it, LEFT, so its writes wait
 *   as hints until it returns or hint_window passes); on_change (and a
 *   member's status saying it is decommissioned) marks it stale and the
 *   next write
 *   rebuilds it (and saves its ids in data_dir/cluster/members, read back
 *   at start so that a restarted node forwards before it has rejoined).
 *   Inbound NE_FT_WRITE_BATCH requests go to the replicator, which writes
 *   them into the local store only.
 * - node tags ("node tags" below): of two live members whose ids share
 *   the node tag of the versions, the later to join is refused by every
 *   node and refuses to take part itself;
 * - deletions (DELETE, DROP MEASUREMENT, DROP DATABASE; sharding/tomb.h):
 *   the accepting node stamps one with a version from the same HLC as
 *   writes, applies it and keeps its tombstone in
 *   data_dir/cluster/tombstones, then queues it as a hint record for every
 *   other member seen (whether or not it owns a shard the deletion
 *   touches: any member may hold copies). Received points, by hint or
 *   anti-entropy, that a tombstone covers (older version) are dropped and
 *   counted in neoedge_cluster_points_deleted_on_arrival_total;
 *   anti-entropy rounds start by exchanging tombstones, so a member that
 *   missed a deletion past the hint window learns it.
 * - shard moves (sharding/rebalance.h, in cluster_moves.c): driven by the
 *   anti-entropy thread once a tick; mv_mu guards the move state and the
 *   peers' statuses, and is never held around a network call or a store
 *   call. Lock order: ring_mu is never taken with mv_mu held; rep_lock,
 *   then drop_lock, then mv_mu.
 */
#include "agent/mod_cluster.h"
#include "agent/cluster_int.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/sbuf.h"
#include "ports/err.h"
#include "ports/log.h"
#include "ports/metrics.h"
#include "ports/platform.h"
#include "sharding/antientropy.h"
#include "sharding/cluster.h"
#include "sharding/hlc.h"
#include "sharding/membership.h"
#include "sharding/rebalance.h"
#include "sharding/removed.h"
#include "sharding/replicate.h"
#include "sharding/ring.h"
#include "sharding/scan.h"
#include "sharding/scan_src.h"
#include "sharding/tomb.h"
#include "sharding/transport.h"
#include "store/query/query.h"

#define MOD "cluster"

/* How long a stopping node keeps answering peers after announcing it. */
#define STOP_DRAIN_NS (500LL * 1000000LL)

static pthread_mutex_t running_mu = PTHREAD_MUTEX_INITIALIZER;
static struct cluster *running;

const char *const agent__cluster_state_names[NSTATES] = {"alive", "suspect", "dead", "left",
                                                          "stopped"};

/* ---- options ------------------------------------------------------------- */

static uint32_t ms_of(int64_t ns)
{
    int64_t ms = ns / 1000000;
    return ms > (int64_t)UINT32_MAX ? UINT32_MAX : (uint32_t)ms;
}

static void cluster_opts(const struct ne_config *cfg, struct ne_cluster_opts *o)
{
    const struct ne_cfg_cluster *c = &cfg->cluster;
    const struct ne_cfg_replication *r = &cfg->replication;
    ne_cluster_opts_default(o);
    o->node_id = cfg->node_id;
    o->listen = c->listen;
    o->advertise = c->advertise;
    o->seeds = (const char *const *)c->seeds;
    o->nseeds = c->nseeds;
    o->key = (const uint8_t *)c->key;
    o->key_len = c->key ? strlen(c->key) : 0;
    o->replication_factor = (uint32_t)r->factor;
    o->shards = (uint32_t)c->shards;
    o->vnodes = (uint32_t)c->vnodes;
    o->probe_interval_ms = ms_of(c->probe_interval_ns);
    o->probe_timeout_ms = ms_of(c->probe_timeout_ns);
    o->suspect_timeout_ms = ms_of(c->suspect_timeout_ns);
    o->indirect_probes = (uint32_t)c->indirect_probes;
    o->connect_timeout_ms = ms_of(c->connect_timeout_ns);
    o->io_timeout_ms = ms_of(c->io_timeout_ns);
    o->max_lag_ms = (uint64_t)r->max_lag_ns / 1000000;
    o->hint_window_ms = (uint64_t)r->hint_window_ns / 1000000;
    o->hint_max_bytes = r->hint_max_bytes;
    o->remove_after_ms = (uint64_t)r->dead_member_timeout_ns / 1000000;
}

/* ---- metrics ------------------------------------------------------------- */

/* `node="id"` with the escapes the registry expects. */
static void node_labels(const char *id, char *out, size_t n)
{
    size_t o = (size_t)snprintf(out, n, "node=\"");
    for (const char *p = id; *p && o + 4 < n; p++) {
        if (*p == '"' || *p == '\\') out[o++] = '\\';
        if (*p == '\n') {
            out[o++] = '\\';
            out[o++] = 'n';
            continue;
        }
        out[o++] = *p;
    }
    snprintf(out + o, n - o, "\"");
}

static void set_member_gauge(const char *id, enum ne_swim_state st)
{
    char labels[160];
    node_labels(id, labels, sizeof labels);
    ne_metric_set(ne_metric_gauge("neoedge_cluster_member_state",
                                  "State of each cluster member as this node sees it: "
                                  "0 alive, 1 suspect, 2 dead, 3 left (or removed), 4 stopped",
                                  labels),
                  (double)st);
}

static void register_count_gauges(struct cluster *c)
{
    for (int s = 0; s < NSTATES; s++) {
        char labels[32];
        snprintf(labels, sizeof labels, "state=\"%s\"", agent__cluster_state_names[s]);
        c->m_members[s] = ne_metric_gauge("neoedge_cluster_members",
                                          "Cluster members known to this node, by state", labels);
        ne_metric_set(c->m_members[s], (double)c->counts[s]);
    }
}

/* ---- the write ring ------------------------------------------------------- */

/* Records a member's state for the write ring and marks the ring stale when
 * its member set changes. Membership thread (or start): quick. */
static void ring_member_set(struct cluster *c, const char *id, enum ne_swim_state st)
{
    pthread_mutex_lock(&c->ring_mu);
    size_t i = 0;
    while (i < c->nring && strcmp(c->ring_members[i].id, id) != 0)
        i++;
    if (i == c->nring && c->nring < MAX_MEMBERS) {
        snprintf(c->ring_members[i].id, sizeof c->ring_members[i].id, "%s", id);
        c->ring_members[i].state = NE_SWIM_NONE;
        c->nring++;
    }
    if (i < c->nring) {
        bool was_in =
            c->ring_members[i].state != NE_SWIM_NONE && c->ring_members[i].state != NE_SWIM_LEFT;
        bool is_in = st != NE_SWIM_NONE && st != NE_SWIM_LEFT;
        c->ring_members[i].state = st;
        if (was_in != is_in) atomic_store(&c->ring_stale, true);
    }
    pthread_mutex_unlock(&c->ring_mu);
}

/* data_dir/cluster/members: the ids of the write ring, one per line,
 * rewritten whenever the ring changes. A restarted node places the writes
 * it takes before membership has found its peers again with it, so they
 * are queued for their owners instead of staying on this node alone. */
static void members_path(const struct cluster *c, char *out, size_t n)
{
    snprintf(out, n, "%s/cluster/members", c->agent->data_dir);
}

static bool valid_id(const char *s)
{
    size_t len = strlen(s);
    bool ok = len > 0 && len <= NE_NODE_ID_MAX;
    for (const char *p = s; ok && *p; p++)
        ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
             *p == '-' || *p == '_' || *p == '.';
    return ok;
}

/* Takes the members of the last run into the write ring as dead (until
 * membership says otherwise). A missing or unreadable file is no error. */
static void members_load(struct cluster *c)
{
    char path[4200];
    members_path(c, path, sizeof path);
    char *text = NULL;
    size_t len = 0;
    if (ne_fs_read_all(path, &text, &len) != 0) return;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
        if (valid_id(line) && strcmp(line, c->opts.node_id) != 0)
            ring_member_set(c, line, NE_SWIM_DEAD);
    ne_free(text);
}

static void members_save(struct cluster *c, const char *const *names, size_t n)
{
    size_t cap = n * (NE_NODE_ID_MAX + 1) + 1, used = 0;
    char *text = ne_malloc(cap); /* on the heap: writers' threads have small stacks */
    int rc = text ? 0 : NE_ENOMEM;
    for (size_t i = 0; rc == 0 && i < n; i++)
        used += (size_t)snprintf(text + used, cap - used, "%s\n", names[i]);
    char path[4200];
    members_path(c, path, sizeof path);
    if (rc == 0) rc = ne_fs_write_atomic(path, text, used);
    ne_free(text);
    if (rc != 0)
        ne_log(NE_LOG_WARN, MOD, "cannot save the member list", "path", path, "err",
               ne_strerror(rc), NULL);
}

/* Records where member id is reached and its incarnation (what the list
 * of removed members saves). Membership thread (or start): quick. */
static void ring_member_where(struct cluster *c, const char *id, const char *addr, uint64_t inc)
{
    pthread_mutex_lock(&c->ring_mu);
    for (size_t i = 0; i < c->nring; i++)
        if (strcmp(c->ring_members[i].id, id) == 0) {
            snprintf(c->ring_members[i].addr, sizeof c->ring_members[i].addr, "%s", addr);
            c->ring_members[i].inc = inc;
            break;
        }
    pthread_mutex_unlock(&c->ring_mu);
}

/* ---- removed members: data_dir/cluster/removed ------------------------------
 *
 * The members this node knows but places nothing on: those that left (a
 * decommissioned node that stopped, a down member removed by
 * `neoedge cluster remove` or after replication.dead_member_timeout) and
 * those decommissioned. Saved (format in sharding/removed.c) whenever the
 * write ring is rebuilt and the list changed; read back at start, so that
 * a restarted node keeps them off its ring before it has heard from
 * anyone, and announces each removal again (ne_membership_remove) so that
 * members that were down when it happened, and restarted since, learn it
 * too. A member that comes back (a higher incarnation) drops out of the
 * list by itself: it is no longer LEFT. */

static void removed_path(const struct cluster *c, char *out, size_t n)
{
    snprintf(out, n, "%s/cluster/removed", c->agent->data_dir);
}

/* The entries of the list into e (room for MAX_MEMBERS); ring_mu held. */
static size_t removed_collect_locked(const struct cluster *c, struct ne_removed_entry *e)
{
    size_t k = 0;
    for (size_t i = 1; i < c->nring; i++) {
        const struct ring_member *m = &c->ring_members[i];
        bool left = m->state == NE_SWIM_LEFT;
        if ((!left && !m->decom) || !m->addr[0] || !valid_id(m->id)) continue;
        memset(&e[k], 0, sizeof e[k]);
        e[k].kind = left ? NE_REMOVED_LEFT : NE_REMOVED_DECOMMISSIONED;
        e[k].incarnation = m->inc;
        snprintf(e[k].id, sizeof e[k].id, "%s", m->id);
        snprintf(e[k].addr, sizeof e[k].addr, "%s", m->addr);
        k++;
    }
    return k;
}

/* Saves the list when it differs from the last saved; ring_mu held. */
static void removed_save_locked(struct cluster *c)
{
    struct ne_removed_entry *e = ne_calloc(MAX_MEMBERS, sizeof *e);
    struct ne_pbuf b = {0};
    int rc = e ? ne_removed_format(e, removed_collect_locked(c, e), &b) : NE_ENOMEM;
    ne_free(e);
    if (rc == 0 && b.len == c->removed_saved.len && memcmp(b.p, c->removed_saved.p, b.len) == 0) {
        ne_pbuf_free(&b);
        return;
    }
    char path[4200];
    removed_path(c, path, sizeof path);
    if (rc == 0) rc = ne_fs_write_atomic(path, b.p, b.len);
    if (rc == 0) {
        ne_pbuf_free(&c->removed_saved);
        c->removed_saved = b;
        return;
    }
    ne_pbuf_free(&b);
    ne_log(NE_LOG_WARN, MOD, "cannot save the list of removed members", "path", path, "err",
           ne_strerror(rc), NULL);
}

/* Removes member id, down and known to membership or only to the member
 * table (from the last run's data_dir/cluster/members: no running member
 * has told this node about it since it started), with the incarnation
 * given for the latter. Must not be called with ring_mu held. */
static int remove_member(struct cluster *c, const char *id, uint64_t inc)
{
    struct ne_swim_member_info m;
    if (ne_membership_find(c->mem, id, &m) == 0)
        return ne_membership_remove(c->mem, id, m.addr, UINT64_MAX);
    char addr[NE_ADDR_MAX + 1] = "";
    bool known = false;
    pthread_mutex_lock(&c->ring_mu);
    for (size_t i = 1; i < c->nring && !known; i++)
        if (strcmp(c->ring_members[i].id, id) == 0) {
            known = true;
            snprintf(addr, sizeof addr, "%s", c->ring_members[i].addr);
        }
    pthread_mutex_unlock(&c->ring_mu);
    if (!known) return NE_ENOTFOUND;
    return ne_membership_remove(c->mem, id, addr[0] ? addr : "-", inc); /* "-": never seen */
}

/* Members of the last run's write ring that membership has not heard of
 * since this node started (every member that knew them restarted since):
 * once replication.dead_member_timeout has passed since the start, they
 * are removed like any member down that long, if this node sees a
 * majority of the members alive. Anti-entropy thread. */
void agent__cluster_remove_forgotten(struct cluster *c)
{
    int64_t after = c->agent->cfg->replication.dead_member_timeout_ns;
    if (after <= 0 || ne_time_mono_ns() - c->started_ns < after) return;
    char (*ids)[NE_NODE_ID_MAX + 1] = ne_calloc(MAX_MEMBERS, sizeof *ids);
    if (!ids) return;
    size_t k = 0, all = 0;
    pthread_mutex_lock(&c->ring_mu);
    for (size_t i = 0; i < c->nring; i++) {
        all += c->ring_members[i].state != NE_SWIM_LEFT;
        if (i > 0 && c->ring_members[i].state == NE_SWIM_DEAD)
            snprintf(ids[k++], sizeof ids[0], "%s", c->ring_members[i].id);
    }
    pthread_mutex_unlock(&c->ring_mu);
    size_t up = ne_membership_count(c->mem, NE_SWIM_ALIVE) +
                ne_membership_count(c->mem, NE_SWIM_SUSPECT);
    for (size_t i = 0; i < k && 2 * up > all; i++) {
        struct ne_swim_member_info m;
        if (ne_membership_find(c->mem, ids[i], &m) == 0) continue; /* membership decides */
        if (remove_member(c, ids[i], 0) == 0)
            ne_log(NE_LOG_WARN, MOD,
                   "member of the last run nobody has heard of since the start removed from the "
                   "placement ring (dead_member_timeout)",
                   "node", ids[i], NULL);
    }
    ne_free(ids);
}

/* Reads the list saved by the last run into the member table (before
 * membership starts). Returns the entries of members that left, to be
 * announced again once membership runs (free with ne_free; *n of them),
 * or NULL. A missing file is no error; an unreadable one is logged and
 * ignored: the removals are then learned from the others again. */
static struct ne_removed_entry *removed_load(struct cluster *c, size_t *n)
{
    *n = 0;
    char path[4200];
    removed_path(c, path, sizeof path);
    char *text = NULL;
    size_t len = 0;
    if (ne_fs_read_all(path, &text, &len) != 0) return NULL;
    struct ne_removed_entry *e = ne_calloc(MAX_MEMBERS, sizeof *e);
    size_t k = 0;
    int rc = e ? ne_removed_parse((const uint8_t *)text, len, e, MAX_MEMBERS, &k) : NE_ENOMEM;
    ne_free(text);
    if (rc != 0) {
        ne_log(NE_LOG_ERROR, MOD,
               "the list of removed members is unreadable: ignored (learned from the others again)",
               "path", path, "err", ne_strerror(rc), NULL);
        ne_free(e);
        return NULL;
    }
    size_t left = 0;
    for (size_t i = 0; i < k; i++) {
        if (strcmp(e[i].id, c->opts.node_id) == 0) continue;
        bool is_left = e[i].kind == NE_REMOVED_LEFT;
        ring_member_set(c, e[i].id, is_left ? NE_SWIM_LEFT : NE_SWIM_DEAD);
        ring_member_where(c, e[i].id, e[i].addr, e[i].incarnation);
        pthread_mutex_lock(&c->ring_mu);
        for (size_t j = 1; j < c->nring; j++)
            if (strcmp(c->ring_members[j].id, e[i].id) == 0 && !is_left)
                c->ring_members[j].decom = true;
        pthread_mutex_unlock(&c->ring_mu);
        if (is_left) e[left++] = e[i];
    }
    atomic_store(&c->ring_stale, true);
    *n = left;
    return e;
}

/* Builds the write ring (every member not LEFT, decommissioned nor
 * refused; only this node when it refused to join) into *out; ring_mu
 * held.
 * names: room for MAX_MEMBERS, filled with *n borrowed ids. */
int agent__cluster_ring_build_locked(struct cluster *c, const char **names, size_t *n,
                                     struct ne_ring **out)
{
    *n = 0;
    bool self_out = atomic_load(&c->self_decom), alone = atomic_load(&c->self_refused);
    for (size_t i = 0; i < c->nring; i++)
        if (c->ring_members[i].state != NE_SWIM_NONE && c->ring_members[i].state != NE_SWIM_LEFT &&
            !c->ring_members[i].decom && !c->ring_members[i].refused && !(i == 0 && self_out) &&
            !(i > 0 && alone))
            names[(*n)++] = c->ring_members[i].id;
    if (*n == 0) names[(*n)++] = c->ring_members[0].id; /* alone and leaving: still a ring */
    struct ne_ring_opts ro = {
        .shards = c->opts.shards, .vnodes = c->opts.vnodes, .rf = c->opts.replication_factor};
    return ne_ring_build(&ro, names, *n, out); /* copies the names */
}

/* Rebuilds the replicator's ring when members came or left. ring_mu is
 * held throughout, so two writers refreshing at once install and save the
 * rings in the order they were built. */
void agent__cluster_ring_refresh(struct cluster *c)
{
    if (!atomic_exchange(&c->ring_stale, false)) return;
    const char **names = ne_malloc(MAX_MEMBERS * sizeof *names);
    if (!names) {
        atomic_store(&c->ring_stale, true);
        return;
    }
    size_t n = 0;
    pthread_mutex_lock(&c->ring_mu);
    struct ne_ring *r = NULL;
    int rc = agent__cluster_ring_build_locked(c, names, &n, &r);
    if (rc == 0) {
        ne_replicator_set_ring(c->rep, r);
        members_save(c, names, n);
        removed_save_locked(c);
    }
    pthread_mutex_unlock(&c->ring_mu);
    ne_free(names);
    if (rc != 0) {
        atomic_store(&c->ring_stale, true);
        ne_log(NE_LOG_ERROR, MOD, "cannot build the write ring", "err", ne_strerror(rc), NULL);
    }
}

/* Membership thread, membership lock held: quick, no ne_membership_*. */
static void on_change(void *ctx, const char *id, const char *addr, enum ne_swim_state from,
                      enum ne_swim_state to, uint64_t incarnation)
{
    struct cluster *c = ctx;
    if (strcmp(id, c->opts.node_id) == 0) { /* removed by the others, and refuted */
        atomic_store(&c->self_removed, true);
        return;
    }
    if (from < NSTATES && c->counts[from] > 0) c->counts[from]--;
    if (to < NSTATES) c->counts[to]++;
    for (int s = 0; s < NSTATES; s++)
        ne_metric_set(c->m_members[s], (double)c->counts[s]);
    if (to < NSTATES) set_member_gauge(id, to);
    ring_member_set(c, id, to);
    ring_member_where(c, id, addr, incarnation);
    if (to == NE_SWIM_LEFT && (from == NE_SWIM_DEAD || from == NE_SWIM_STOPPED)) {
        ne_metric_add(c->m_removed, 1);
        ne_log(NE_LOG_WARN, MOD,
               "member removed from the placement ring (down too long, or removed by an "
               "operator): its shards are copied to the others from their live replicas",
               "node", id, NULL);
    }
    atomic_store(&c->member_change_ns, ne_time_mono_ns());
    if (to == NE_SWIM_ALIVE && from != NE_SWIM_ALIVE && strcmp(id, c->opts.node_id) != 0) {
        pthread_mutex_lock(&c->ae_mu); /* never held around membership calls */
        c->ae_kick = true;
        pthread_cond_signal(&c->ae_cv);
        pthread_mutex_unlock(&c->ae_mu);
    }
}

/* ---- seed check ---------------------------------------------------------- */

bool agent__cluster_is_self(const struct cluster *c, const char *addr)
{
    return strcmp(addr, ne_membership_addr(c->mem)) == 0 || strcmp(addr, c->opts.listen) == 0;
}

static size_t count_other_seeds(const struct cluster *c)
{
    size_t n = 0;
    for (size_t i = 0; i < c->opts.nseeds; i++)
        n += !agent__cluster_is_self(c, c->opts.seeds[i]);
    return n;
}

/* Pings each seed once over the transport, so that a key mismatch shows in
 * this node's log right away (the seeds log it on their side too). */
static void *check_seeds(void *arg)
{
    struct cluster *c = arg;
    for (size_t i = 0; i < c->opts.nseeds && !atomic_load(&c->stop); i++) {
        const char *seed = c->opts.seeds[i];
        if (agent__cluster_is_self(c, seed)) continue;
        int rc = ne_transport_ping(c->tp, NULL, seed);
        if (rc == 0)
            ne_log(NE_LOG_INFO, MOD, "peer transport reached a seed", "seed", seed, NULL);
        else if (rc == NE_EPERM)
            ne_log(NE_LOG_ERROR, MOD,
                   "seed refused this node: the cluster key differs (check cluster.key)", "seed",
                   seed, NULL);
        else
            ne_log(NE_LOG_DEBUG, MOD, "seed not reachable yet", "seed", seed, "err",
                   ne_strerror(rc), NULL);
    }
    return NULL;
}

/* ---- replication --------------------------------------------------------- */

/* Where the sender of a peer dials: its member address, while the peer is
 * alive or suspect. Sender threads. */
static int peer_addr(void *ctx, const char *peer_id, char *addr, size_t n)
{
    struct cluster *c = ctx;
    struct ne_swim_member_info m;
    int rc = ne_membership_find(c->mem, peer_id, &m);
    if (rc != 0) return rc;
    if (m.state != NE_SWIM_ALIVE && m.state != NE_SWIM_SUSPECT) return NE_EAGAIN;
    snprintf(addr, n, "%s", m.addr);
    return 0;
}

/* Merges the greatest of n versions received from a peer into the clock,
 * so that this node's next writes order after what it has seen. */
static void clock_merge(struct cluster *c, const uint64_t *ver, size_t n)
{
    uint64_t top = 0, now;
    for (size_t i = 0; i < n; i++)
        if (ver[i] > top) top = ver[i];
    if (top && ne_hlc_update(&c->hlc, ne_lww_version_hlc(top), &now) != 0)
        ne_log(NE_LOG_WARN, MOD, "a peer's clock is far ahead: not merged", NULL);
}

/* ---- deletions -------------------------------------------------------------- */

/* Adds the points tombstones dropped since the last call to the metric. */
static void tomb_metrics_update(struct cluster *c)
{
    pthread_mutex_lock(&c->tomb_mu);
    uint64_t now = ne_tombs_dropped(c->tombs);
    ne_metric_add(c->m_tomb_dropped, now - c->tomb_seen);
    c->tomb_seen = now;
    ne_metric_set(c->m_tombs, (double)ne_tombs_count(c->tombs));
    pthread_mutex_unlock(&c->tomb_mu);
}

static int start_tombs(struct cluster *c)
{
    char dir[4096], path[4200];
    snprintf(dir, sizeof dir, "%s/cluster", c->agent->data_dir);
    snprintf(path, sizeof path, "%s/tombstones", dir);
    int rc = ne_fs_mkdir_p(dir);
    if (rc == 0)
        rc = ne_tombs_open(path, c->agent->cfg->replication.tombstone_ttl_ns, ne_time_wall_ns(),
                           &c->tombs);
    if (rc != 0) {
        ne_log(NE_LOG_ERROR, MOD, "cannot open the tombstones", "path", path, "err",
               ne_strerror(rc), NULL);
        return rc;
    }
    c->m_tomb_dropped = ne_metric_counter(
        "neoedge_cluster_points_deleted_on_arrival_total",
        "Points received from peers (hints, anti-entropy, shard moves) and dropped because a "
        "cluster-wide DELETE or DROP issued after they were written covers them",
        "");
    c->m_tombs = ne_metric_gauge("neoedge_cluster_tombstones",
                                 "Cluster-wide deletions remembered (replication.tombstone_ttl)",
                                 "");
    tomb_metrics_update(c);
    return 0;
}

/* A deletion received from a peer (hint record): applied once, durably. */
static int receive_tomb(void *ctx, const uint8_t *p, size_t n)
{
    struct cluster *c = ctx;
    struct ne_tomb *t = NULL;
    int rc = ne_tomb_decode(p, n, &t);
    if (rc != 0) return rc;
    clock_merge(c, &t->version, 1);
    rc = ne_tombs_learn(c->tombs, c->agent->store, t, ne_time_wall_ns());
    ne_free(t);
    tomb_metrics_update(c);
    return rc < 0 ? rc : 0;
}

/* The cluster read source's deleter: stamps t, applies it here and queues
 * it for every other member seen, LEFT ones included (a node stopped
 * gracefully announces LEFT and may come back; its queue is bounded by
 * hint_window like any other). */
static int cluster_delete(void *ctx, struct ne_tomb *t)
{
    struct cluster *c = ctx;
    t->version = ne_lww_version(ne_hlc_now(&c->hlc), c->node_tag);
    int rc = ne_tombs_learn(c->tombs, c->agent->store, t, ne_time_wall_ns());
    if (rc < 0) return rc;
    tomb_metrics_update(c);
    struct ne_pbuf rec = {0};
    const char **ids = ne_malloc(MAX_MEMBERS * sizeof *ids);
    char(*names)[NE_NODE_ID_MAX + 1] = ne_malloc(MAX_MEMBERS * sizeof *names);
    rc = ids && names ? ne_repl_encode_tomb(&rec, t) : NE_ENOMEM;
    size_t n = 0;
    if (rc == 0) {
        pthread_mutex_lock(&c->ring_mu);
        for (size_t i = 1; i < c->nring; i++, n++) {
            memcpy(names[n], c->ring_members[i].id, sizeof names[n]);
            ids[n] = names[n];
        }
        pthread_mutex_unlock(&c->ring_mu);
        pthread_rwlock_rdlock(&c->rep_lock);
        rc = c->rep ? ne_replicator_broadcast(c->rep, ids, n, rec.p, rec.len) : NE_EAGAIN;
        pthread_rwlock_unlock(&c->rep_lock);
    }
    if (rc != 0)
        ne_log(NE_LOG_ERROR, MOD, "a deletion was applied here but not queued for every member",
               "db", t->db, "err", ne_strerror(rc), NULL);
    ne_pbuf_free(&rec);
    ne_free(ids);
    ne_free(names);
    return rc;
}

/* Received points go to the local store with the versions they came with,
 * never through the wrapped sink: they are not forwarded again. Those a
 * tombstone covers are dropped. */
static int local_write(void *ctx, const char *db, const struct ne_batch *b, const uint64_t *ver,
                       struct ne_write_result *res)
{
    struct cluster *c = ctx;
    if (!ver) return c->inner.write(c->inner.ctx, db, b, res);
    clock_merge(c, ver, b->npts);
    struct ne_tombs_kept k;
    int rc = ne_tombs_filter(c->tombs, db, b, ver, &k);
    if (rc != 0) return rc;
    if (k.dropped) tomb_metrics_update(c);
    rc = k.b.npts ? ne_store_write_versioned(c->agent->store, db, &k.b, k.ver, res) : 0;
    ne_tombs_kept_free(&k);
    return rc;
}

/* Gives points without a timestamp the arrival time in a copy of the
 * point array, so that every replica stores the same time. Returns b
 * itself when every point has one, tmp otherwise, or NULL without memory. */
static const struct ne_batch *stamped(const struct ne_batch *b, struct ne_batch *tmp)
{
    uint32_t i = 0;
    while (i < b->npts && b->pts[i].ts != NE_TS_UNSET)
        i++;
    if (i == b->npts) return b;
    *tmp = *b;
    tmp->pts = ne_malloc((size_t)b->npts * sizeof *tmp->pts);
    if (!tmp->pts) return NULL;
    memcpy(tmp->pts, b->pts, (size_t)b->npts * sizeof *tmp->pts);
    int64_t now = ne_time_wall_ns();
    for (; i < b->npts; i++)
        if (tmp->pts[i].ts == NE_TS_UNSET) tmp->pts[i].ts = now;
    return tmp;
}

/* The agent's sink while the cluster runs: the batch gets one version
 * (this node's HLC and tag: conflicting writes resolve the same way on
 * every replica), goes to the local store first (its answer is the
 * caller's), then to the replicator (in sync durability the queue records
 * are durable before this returns). */
static int replicated_write(void *ctx, const char *db, const struct ne_batch *b,
                            struct ne_write_result *res)
{
    struct cluster *c = ctx;
    struct ne_batch tmp;
    const struct ne_batch *w = stamped(b, &tmp);
    uint64_t *ver = w && b->npts ? ne_malloc((size_t)b->npts * sizeof *ver) : NULL;
    if (!w || (b->npts && !ver)) {
        if (w && w != b) ne_free(tmp.pts);
        return NE_ENOMEM;
    }
    uint64_t v = ne_lww_version(ne_hlc_now(&c->hlc), c->node_tag);
    for (uint32_t i = 0; i < b->npts; i++)
        ver[i] = v;
    int rc = ne_store_write_versioned(c->agent->store, db, w, ver, res);
    if (rc == 0 && res->accepted > 0) {
        agent__cluster_ring_refresh(c);
        rc = ne_replicator_submit(c->rep, db, w, ver);
    }
    if (w != b) ne_free(tmp.pts);
    ne_free(ver);
    return rc;
}

static int handle_write_batch(struct cluster *c, const char *peer_id, const uint8_t *msg, size_t n,
                              struct ne_pbuf *reply, uint8_t *reply_type)
{
    pthread_rwlock_rdlock(&c->rep_lock);
    pthread_rwlock_rdlock(&c->drop_lock);
    int rc = c->rep ? ne_replicator_handle(c->rep, peer_id, msg, n, reply, reply_type)
                    : NE_EAGAIN; /* starting or stopping: the sender retries */
    pthread_rwlock_unlock(&c->drop_lock);
    pthread_rwlock_unlock(&c->rep_lock);
    return rc;
}

static enum ne_store_durability queue_durability(const struct ne_config *cfg)
{
    switch (cfg->storage.durability) {
    case NE_DUR_SYNC:
        return NE_STORE_SYNC;
    case NE_DUR_NONE:
        return NE_STORE_NONE;
    default:
        return NE_STORE_INTERVAL;
    }
}

/* Starts the replicator and wraps the agent's sink with it. */
static int start_replication(struct cluster *c, struct ne_agent *a)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/cluster/hints", a->data_dir);
    const struct ne_cfg_replication *r = &a->cfg->replication;
    struct ne_replicator_opts o = {
        .node_id = c->opts.node_id,
        .hint_dir = dir,
        .durability = queue_durability(a->cfg),
        .max_lag_ns = r->max_lag_ns,
        .hint_window_ns = r->hint_window_ns,
        .hint_max_bytes = r->hint_max_bytes,
        .tp = c->tp,
        .peer_addr = peer_addr,
        .local_write = local_write,
        .keeps = agent__cluster_keeps_shard,
        .local_tomb = receive_tomb,
        .ctx = c,
    };
    c->inner = a->sink;
    struct ne_replicator *rep = NULL;
    int rc = ne_replicator_start(&o, &rep);
    if (rc != 0) return rc;
    pthread_rwlock_wrlock(&c->rep_lock);
    c->rep = rep;
    pthread_rwlock_unlock(&c->rep_lock);
    atomic_store(&c->ring_stale, true);
    agent__cluster_ring_refresh(c);
    a->sink.write = replicated_write;
    a->sink.ctx = c;
    c->owner = a;
    return 0;
}

/* Gives the agent its store sink back and stops the replicator (inbound
 * requests in progress finish first). */
static void stop_replication(struct cluster *c)
{
    if (c->owner) {
        c->owner->sink = c->inner;
        c->owner = NULL;
    }
    pthread_rwlock_wrlock(&c->rep_lock);
    struct ne_replicator *rep = c->rep;
    c->rep = NULL;
    pthread_rwlock_unlock(&c->rep_lock);
    ne_replicator_stop(&rep);
}

/* ---- anti-entropy ----------------------------------------------------------
 *
 * One thread runs a pass every replication.anti_entropy_interval, and at
 * once when a peer comes back alive: a round (sharding/antientropy.h) with
 * each alive member, one after the other, in which this node pulls what
 * it lacks; the peers pull from it in their own passes. Routine rounds
 * compare replication.anti_entropy_window and a sweep slice; the pass a
 * returning peer triggers compares all time with every peer. Metrics:
 * neoedge_antientropy_{rounds,rounds_failed,buckets_compared,
 * buckets_differing,points_repaired}_total.
 *
 * Test hook: with NEOEDGE_TEST_PARTITION=<file> in the environment, the
 * thread reads the file every 200 ms; traffic with the peers it names
 * (one id per line) is dropped, both ways, in the transport and in
 * membership, until they are no longer listed. Never set in production. */

int agent__cluster_ae_call(void *ctx, uint8_t type, const void *msg, size_t n,
                           struct ne_pbuf *reply, uint8_t *reply_type)
{
    struct ae_peer *p = ctx;
    return ne_transport_call(p->c->tp, p->id, p->addr, type, msg, n, reply, reply_type);
}

static const char *const ae_metric_names[5] = {
    "neoedge_antientropy_rounds_total", "neoedge_antientropy_rounds_failed_total",
    "neoedge_antientropy_buckets_compared_total", "neoedge_antientropy_buckets_differing_total",
    "neoedge_antientropy_points_repaired_total"};
static const char *const ae_metric_help[5] = {
    "Anti-entropy rounds with a peer finished",
    "Anti-entropy rounds cut short by an error (peer unreachable, store error)",
    "(shard, hour) digests compared with a peer's because their shard roots differed",
    "(shard, hour) digests that differed from the peer's",
    "Points pulled from peers by anti-entropy and written locally"};

static void ae_stat_values(const struct ne_ae_stats *st, uint64_t v[5])
{
    v[0] = st->rounds;
    v[1] = st->rounds_failed;
    v[2] = st->buckets_compared;
    v[3] = st->buckets_differing;
    v[4] = st->points_repaired;
}

/* Adds what the counters gained since the last call to the metrics. */
static void ae_metrics_update(struct cluster *c)
{
    struct ne_ae_stats st;
    ne_ae_stats(c->ae, &st);
    uint64_t now[5], was[5];
    ae_stat_values(&st, now);
    ae_stat_values(&c->ae_seen, was);
    for (int i = 0; i < 5; i++)
        ne_metric_add(c->m_ae[i], now[i] - was[i]);
    c->ae_seen = st;
}

bool agent__cluster_is_dropped(const struct cluster *c, const char *id)
{
    for (size_t i = 0; i < c->ndropped; i++)
        if (strcmp(c->dropped[i], id) == 0) return true;
    return false;
}

/* One round with every alive member, over the current write ring. */
static void ae_pass(struct cluster *c)
{
    const char **names = ne_malloc(MAX_MEMBERS * sizeof *names);
    struct ne_swim_member_info *ms = ne_calloc(MAX_MEMBERS, sizeof *ms);
    struct ne_ring *r = NULL;
    size_t nn = 0;
    int rc = names && ms ? 0 : NE_ENOMEM;
    if (rc == 0) {
        pthread_mutex_lock(&c->ring_mu);
        rc = agent__cluster_ring_build_locked(c, names, &nn, &r);
        pthread_mutex_unlock(&c->ring_mu);
    }
    int self = rc == 0 ? ne_ring_node_index(r, c->opts.node_id) : -1;
    size_t n = self >= 0 ? ne_membership_snapshot(c->mem, ms, MAX_MEMBERS) : 0;
    if (n > MAX_MEMBERS) n = MAX_MEMBERS;
    for (size_t i = 1; i < n && !atomic_load(&c->stop); i++) {
        int idx = ne_ring_node_index(r, ms[i].id);
        if (ms[i].state != NE_SWIM_ALIVE || idx < 0 || agent__cluster_is_dropped(c, ms[i].id))
            continue;
        struct ae_peer p = {c, ms[i].id, ms[i].addr};
        int e = ne_ae_round(c->ae, r, (uint32_t)self, (uint32_t)idx, agent__cluster_ae_call, &p);
        if (e != 0)
            ne_log(NE_LOG_WARN, MOD, "anti-entropy round failed", "peer", ms[i].id, "err",
                   ne_strerror(e), NULL);
    }
    ne_ring_free(&r);
    ne_free(names);
    ne_free(ms);
    ae_metrics_update(c);
    if (ne_tombs_expire(c->tombs, ne_time_wall_ns()) < 0)
        ne_log(NE_LOG_WARN, MOD, "expired tombstones could not be saved", NULL);
    tomb_metrics_update(c);
}

/* Sets or clears the test partition with peer id (addr: its member
 * address, for membership). */
static void partition_set(struct cluster *c, const char *id, const char *addr, bool drop)
{
    ne_log(NE_LOG_WARN, MOD, drop ? "test partition: dropping traffic with a peer"
                                  : "test partition: traffic with a peer restored",
           "peer", id, NULL);
    (void)ne_transport_set_drop(c->tp, id, drop);
    if (addr[0]) (void)ne_membership_set_drop(c->mem, addr, drop);
}

/* Applies the peer list of the partition file (test hook). */
static void partition_poll(struct cluster *c)
{
    char want[16][NE_NODE_ID_MAX + 1];
    size_t nw = 0;
    char *text = NULL;
    size_t len = 0;
    if (ne_fs_read_all(c->partition_file, &text, &len) == 0) {
        char *save = NULL;
        for (char *l = strtok_r(text, "\n", &save); l && nw < 16; l = strtok_r(NULL, "\n", &save))
            if (valid_id(l) && strcmp(l, c->opts.node_id) != 0)
                snprintf(want[nw++], sizeof want[0], "%s", l);
        ne_free(text);
    }
    for (size_t i = 0; i < c->ndropped;) {
        bool keep = false;
        for (size_t k = 0; k < nw && !keep; k++)
            keep = strcmp(want[k], c->dropped[i]) == 0;
        if (keep) {
            i++;
            continue;
        }
        partition_set(c, c->dropped[i], c->dropped_addr[i], false);
        c->ndropped--;
        memcpy(c->dropped[i], c->dropped[c->ndropped], sizeof c->dropped[i]);
        memcpy(c->dropped_addr[i], c->dropped_addr[c->ndropped], sizeof c->dropped_addr[i]);
    }
    for (size_t k = 0; k < nw && c->ndropped < 16; k++) {
        struct ne_swim_member_info m;
        if (agent__cluster_is_dropped(c, want[k]) || ne_membership_find(c->mem, want[k], &m) != 0)
            continue;
        snprintf(c->dropped[c->ndropped], sizeof c->dropped[0], "%.*s",
                 (int)sizeof c->dropped[0] - 1, want[k]); /* ids fit: checked by valid_id */
        snprintf(c->dropped_addr[c->ndropped], sizeof c->dropped_addr[0], "%s", m.addr);
        partition_set(c, want[k], m.addr, true);
        c->ndropped++;
    }
}

static void *ae_main(void *arg)
{
    struct cluster *c = arg;
    int64_t interval = c->ae_interval_ns;
    int64_t next = interval ? ne_time_mono_ns() + interval : INT64_MAX;
    int64_t tick = c->partition_file ? 200000000LL : 1000000000LL;
    pthread_mutex_lock(&c->ae_mu);
    while (!atomic_load(&c->stop)) {
        if (!c->ae_kick) {
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            int64_t wake = (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec + tick;
            ts.tv_sec = (time_t)(wake / 1000000000LL);
            ts.tv_nsec = (long)(wake % 1000000000LL);
            pthread_cond_timedwait(&c->ae_cv, &c->ae_mu, &ts);
        }
        bool kick = c->ae_kick;
        c->ae_kick = false;
        pthread_mutex_unlock(&c->ae_mu);
        if (c->partition_file) partition_poll(c);
        if (!atomic_load(&c->stop)) agent__cluster_move_tick(c);
        if (!atomic_load(&c->stop) && (kick || ne_time_mono_ns() >= next)) {
            if (kick) ne_ae_full_next(c->ae); /* it may have missed writes of any time */
            ae_pass(c);
            next = interval ? ne_time_mono_ns() + interval : INT64_MAX;
        }
        pthread_mutex_lock(&c->ae_mu);
    }
    pthread_mutex_unlock(&c->ae_mu);
    return NULL;
}

static int start_antientropy(struct cluster *c)
{
    const struct ne_cfg_replication *repl = &c->agent->cfg->replication;
    struct ne_ae_opts o = {.store = c->agent->store,
                           .tombs = c->tombs,
                           .window_ns = repl->anti_entropy_window_ns,
                           .sweep_rounds = (uint32_t)repl->anti_entropy_sweep_rounds};
    c->ae_interval_ns = repl->anti_entropy_interval_ns;
    int rc = ne_ae_new(&o, &c->ae);
    if (rc != 0) return rc;
    for (int i = 0; i < 5; i++)
        c->m_ae[i] = ne_metric_counter(ae_metric_names[i], ae_metric_help[i], "");
    const char *pf = getenv("NEOEDGE_TEST_PARTITION");
    c->partition_file = pf && *pf ? pf : NULL;
    return 0;
}

/* Once the transport and replication run. */
static int start_antientropy_thread(struct cluster *c)
{
    if (pthread_create(&c->ae_thread, NULL, ae_main, c) != 0) return NE_ENOMEM;
    c->ae_started = true;
    return 0;
}

static void stop_antientropy(struct cluster *c)
{
    if (c->ae_started) {
        pthread_mutex_lock(&c->ae_mu);
        pthread_cond_signal(&c->ae_cv);
        pthread_mutex_unlock(&c->ae_mu);
        pthread_join(c->ae_thread, NULL);
        c->ae_started = false;
    }
}

/* ---- node tags ---------------------------------------------------------------
 *
 * A version ends in an 8-bit tag of the accepting node's id (hlc.h), so
 * two live members whose ids share a tag could stamp the very same
 * version. Every tick each node looks for such pairs among the live
 * members (self included); of each pair the later to join
 * (ne_lww_tag_yields) is refused: off the placement ring and out of
 * reads, its requests answered NE_EPERM (but its status: members learn
 * tags set with cluster.node_tag from it), logged with both ids. A node
 * that finds itself refused refuses to join: its ring holds only itself,
 * it serves no peer, asks none and stays `degraded`. Every node decides
 * this alike each tick, so the refusal lasts while the pair is live: the
 * operator gives the node another node_id or cluster.node_tag. */

static bool live_state(enum ne_swim_state s)
{
    return s == NE_SWIM_ALIVE || s == NE_SWIM_SUSPECT;
}

/* Sets whether member id (not this node) is refused, logging a change;
 * by: the member it collides with (NULL when cleared). */
static void tag_set_refused(struct cluster *c, const char *id, bool refuse, const char *by,
                            uint8_t tag_of)
{
    bool changed = false;
    pthread_mutex_lock(&c->ring_mu);
    for (size_t i = 1; i < c->nring; i++)
        if (strcmp(c->ring_members[i].id, id) == 0 && c->ring_members[i].refused != refuse) {
            c->ring_members[i].refused = refuse;
            changed = true;
        }
    if (changed) atomic_store(&c->ring_stale, true);
    pthread_mutex_unlock(&c->ring_mu);
    if (!changed) return;
    char tag[8];
    snprintf(tag, sizeof tag, "%u", (unsigned)tag_of);
    if (refuse)
        ne_log(NE_LOG_ERROR, MOD,
               "refusing a member: it has the node tag of an earlier member, so their writes "
               "could tie; give it another node_id (or cluster.node_tag)",
               "node", id, "member", by, "tag", tag, NULL);
    else
        ne_log(NE_LOG_INFO, MOD, "member no longer refused: its node tag is its own", "node", id,
               "tag", tag, NULL);
}

/* This node refuses to join while a live earlier member shares its tag
 * (by: that member; NULL: none any more). Refusing, it forgets what it
 * holds, so that nobody reads or pulls from it, and pulls anew once it
 * takes part. */
static void tag_refuse_self(struct cluster *c, const char *by)
{
    pthread_mutex_lock(&c->ring_mu);
    bool was = atomic_exchange(&c->self_refused, by != NULL);
    if (by) snprintf(c->refused_by, sizeof c->refused_by, "%s", by);
    if (was != (by != NULL)) atomic_store(&c->ring_stale, true);
    pthread_mutex_unlock(&c->ring_mu);
    if (was == (by != NULL)) return;
    char tag[8];
    snprintf(tag, sizeof tag, "%u", (unsigned)c->node_tag);
    if (!by) {
        ne_log(NE_LOG_INFO, MOD, "joining: no live member shares this node's tag any more", "node",
               c->opts.node_id, "tag", tag, NULL);
        return;
    }
    pthread_mutex_lock(&c->mv_mu);
    ne_rebal_restarted(c->rb);
    pthread_mutex_unlock(&c->mv_mu);
    ne_log(NE_LOG_ERROR, MOD,
           "refusing to join: this node has the node tag of a live member, so their writes "
           "could tie; give this node another node_id (or cluster.node_tag)",
           "node", c->opts.node_id, "member", by, "tag", tag, NULL);
}

/* Refuses the later of every pair of live members sharing a node tag (a
 * member's tag as its status gave it, cluster.node_tag, else its id's),
 * and takes the refusal back once it collides no more (it came back with
 * another tag, or the earlier member is down: then nobody can tie with
 * it). A member not live stays as it was. */
void agent__cluster_tag_check(struct cluster *c, const struct ne_swim_member_info *ms, size_t n)
{
    uint8_t tags[MAX_MEMBERS];
    int by[MAX_MEMBERS]; /* the earlier member each one collides with, or -1 */
    pthread_mutex_lock(&c->mv_mu);
    for (size_t i = 0; i < n; i++) {
        const struct peer_status *p = i ? agent__cluster_peer_find(c, ms[i].id, false) : NULL;
        tags[i] = i == 0         ? c->node_tag
                  : p && p->tag1 ? (uint8_t)(p->tag1 - 1)
                                 : ne_lww_node_tag(ms[i].id);
        by[i] = -1;
    }
    pthread_mutex_unlock(&c->mv_mu);
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; live_state(ms[i].state) && j < n; j++) {
            if (!live_state(ms[j].state) || tags[i] != tags[j]) continue;
            bool i_later =
                ne_lww_tag_yields(ms[i].id, ms[i].incarnation, ms[j].id, ms[j].incarnation);
            by[i_later ? i : j] = (int)(i_later ? j : i);
        }
    tag_refuse_self(c, by[0] >= 0 ? ms[by[0]].id : NULL);
    for (size_t i = 1; i < n; i++)
        if (live_state(ms[i].state))
            tag_set_refused(c, ms[i].id, by[i] >= 0, by[i] >= 0 ? ms[by[i]].id : NULL, tags[i]);
}

/* Whether requests of peer id are refused: it is, or this node is. */
bool agent__cluster_peer_refused(struct cluster *c, const char *id)
{
    if (atomic_load(&c->self_refused)) return true;
    bool out = false;
    pthread_mutex_lock(&c->ring_mu);
    for (size_t i = 1; i < c->nring && !out; i++)
        out = c->ring_members[i].refused && strcmp(c->ring_members[i].id, id) == 0;
    pthread_mutex_unlock(&c->ring_mu);
    return out;
}

/* ---- lifecycle ----------------------------------------------------------- */

static bool cluster_enabled(const struct ne_config *cfg)
{
    return cfg->cluster.listen || cfg->cluster.nseeds > 0;
}

/* The transport listens on the membership's host and port (TCP beside
 * UDP), so a peer's member address is also where its transport answers. */
static void transport_listen(const struct cluster *c, char *out, size_t n)
{
    const char *bound = ne_membership_addr(c->mem);
    if (c->opts.advertise) {
        snprintf(out, n, "%s", c->opts.listen);
        return;
    }
    char host[NE_ADDR_MAX + 1];
    snprintf(host, sizeof host, "%s", c->opts.listen);
    char *colon = strrchr(host, ':');
    const char *port = strrchr(bound, ':');
    if (colon) *colon = '\0';
    snprintf(out, n, "%s:%s", host, port ? port + 1 : "0");
}

/* The peer requests this node serves (transport handler, connection
 * threads): the remote reads of sharding/scan.h and replicated writes
 * (NE_FT_WRITE_BATCH); any other type is refused with NE_EINVAL. */
static int on_request(void *ctx, const char *peer_id, uint8_t type, const uint8_t *msg, size_t n,
                      struct ne_pbuf *reply, uint8_t *reply_type)
{
    struct cluster *c = ctx;
    /* node tags: a refused node still says its status (its tag, no holds) */
    if (type != NE_FT_MOVE_STATUS && agent__cluster_peer_refused(c, peer_id)) return NE_EPERM;
    if (ne_scan_is_request(type)) return ne_scan_serve(&c->local, type, msg, n, reply, reply_type);
    if (type == NE_FT_WRITE_BATCH) return handle_write_batch(c, peer_id, msg, n, reply, reply_type);
    if (type == NE_FT_AE_ROOTS || type == NE_FT_AE_BUCKETS || type == NE_FT_AE_SERIES ||
        type == NE_FT_AE_PULL || type == NE_FT_AE_TOMBS)
        return ne_ae_handle(c->ae, c->opts.shards, type, msg, n, reply, reply_type);
    if (type == NE_FT_MOVE_STATUS || type == NE_FT_DECOMMISSION)
        return agent__cluster_handle_moves(c, type, msg, n, reply, reply_type);
    return NE_EINVAL;
}

static int start_transport(struct cluster *c)
{
    char listen[NE_ADDR_MAX + 8];
    transport_listen(c, listen, sizeof listen);
    struct ne_swim_member_info self;
    if (ne_membership_find(c->mem, c->opts.node_id, &self) != 0) self.incarnation = 0;
    struct ne_transport_opts t = {
        .node_id = c->opts.node_id,
        .incarnation = self.incarnation,
        .listen = listen,
        .key = c->opts.key,
        .key_len = c->opts.key_len,
        .connect_timeout_ms = c->opts.connect_timeout_ms,
        .io_timeout_ms = c->opts.io_timeout_ms,
        .pool_per_peer = c->opts.pool_per_peer,
        .handler = on_request,
        .ctx = c,
    };
    int rc = ne_transport_start(&t, &c->tp);
    if (rc != 0)
        ne_log(NE_LOG_ERROR, MOD, "cannot start the peer transport", "listen", listen, "err",
               ne_strerror(rc), NULL);
    return rc;
}

static void cluster_free(struct cluster *c)
{
    if (!c) return;
    atomic_store(&c->stop, true);
    if (c->checker_started) pthread_join(c->checker, NULL);
    stop_antientropy(c);
    stop_replication(c); /* its senders call through the transport */
    ne_transport_stop(&c->tp);
    ne_membership_stop(&c->mem);
    ne_ae_free(&c->ae); /* after the transport: its handlers use it */
    ne_tombs_close(&c->tombs);
    agent__cluster_stop_moves(c);
    ne_pbuf_free(&c->removed_saved);
    pthread_rwlock_destroy(&c->rep_lock);
    pthread_rwlock_destroy(&c->drop_lock);
    pthread_mutex_destroy(&c->ring_mu);
    pthread_mutex_destroy(&c->ae_mu);
    pthread_mutex_destroy(&c->mv_mu);
    pthread_mutex_destroy(&c->tomb_mu);
    pthread_cond_destroy(&c->ae_cv);
    ne_free(c);
}

static int cluster_start(struct ne_agent *a)
{
    struct cluster *c = ne_calloc(1, sizeof *c);
    if (!c) return NE_ENOMEM;
    c->agent = a;
    pthread_rwlock_init(&c->rep_lock, NULL);
    pthread_rwlockattr_t ra; /* a drop must not wait behind a stream of inbound writes */
    pthread_rwlockattr_init(&ra);
    pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&c->drop_lock, &ra);
    pthread_rwlockattr_destroy(&ra);
    pthread_mutex_init(&c->ring_mu, NULL);
    pthread_mutex_init(&c->ae_mu, NULL);
    pthread_mutex_init(&c->mv_mu, NULL);
    pthread_mutex_init(&c->tomb_mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&c->ae_cv, &ca);
    pthread_condattr_destroy(&ca);
    ne_store_qsrc(a->store, &c->local);
    cluster_opts(a->cfg, &c->opts);
    int rc = ne_cluster_opts_check(&c->opts);
    if (rc != 0) goto fail;
    c->node_tag = a->cfg->cluster.node_tag >= 0 ? (uint8_t)a->cfg->cluster.node_tag
                                                : ne_lww_node_tag(c->opts.node_id);
    if ((rc = agent__cluster_start_moves(c)) != 0) goto fail;
    ne_rebal_set_tag(c->rb, c->node_tag);
    if ((rc = start_tombs(c)) != 0) goto fail;
    atomic_store(&c->member_change_ns, ne_time_mono_ns());
    c->started_ns = ne_time_mono_ns();
    ne_hlc_init(&c->hlc, NULL, NULL, 0);
    c->counts[NE_SWIM_ALIVE] = 1; /* this node */
    ring_member_set(c, c->opts.node_id, NE_SWIM_ALIVE);
    members_load(c);
    size_t nleft = 0;
    struct ne_removed_entry *left = removed_load(c, &nleft);
    register_count_gauges(c);
    c->m_removed = ne_metric_counter("neoedge_cluster_members_removed_total",
                                     "Members this node saw removed from the placement ring "
                                     "while down (dead_member_timeout, or cluster remove)",
                                     "");
    set_member_gauge(c->opts.node_id, NE_SWIM_ALIVE);
    struct ne_membership_opts mo = {.cluster = &c->opts, .on_change = on_change, .ctx = c};
    rc = ne_membership_start(&mo, &c->mem);
    if (rc != 0) {
        ne_log(NE_LOG_ERROR, MOD, "cannot start membership", "listen", c->opts.listen, "err",
               ne_strerror(rc), NULL);
        ne_free(left);
        goto fail;
    }
    for (size_t i = 0; i < nleft; i++) /* NE_EBUSY: it came back since */
        (void)ne_membership_remove(c->mem, left[i].id, left[i].addr, left[i].incarnation);
    ne_free(left);
    if ((rc = start_antientropy(c)) != 0) goto fail;
    if ((rc = start_transport(c)) != 0) goto fail;
    if ((rc = start_replication(c, a)) != 0) {
        ne_log(NE_LOG_ERROR, MOD, "cannot start replication", "err", ne_strerror(rc), NULL);
        goto fail;
    }
    c->other_seeds = count_other_seeds(c); /* before the thread that reads it */
    if ((rc = start_antientropy_thread(c)) != 0) goto fail;
    if (pthread_create(&c->checker, NULL, check_seeds, c) == 0) c->checker_started = true;
    pthread_mutex_lock(&running_mu);
    running = c;
    pthread_mutex_unlock(&running_mu);
    char nseeds[24];
    snprintf(nseeds, sizeof nseeds, "%zu", c->opts.nseeds);
    ne_log(NE_LOG_INFO, MOD, "cluster started", "node", c->opts.node_id, "addr",
           ne_membership_addr(c->mem), "transport", ne_transport_addr(c->tp), "seeds", nseeds,
           NULL);
    return 0;
fail:
    cluster_free(c);
    return rc;
}

/* A graceful stop announces STOPPED: the others mark this node down at
 * once (hints from then on, reads from the other replicas) but keep its
 * shards where they are, so a restart moves nothing. Only a
 * decommissioned node announces LEFT: its departure is for good. */
static void cluster_stop(struct ne_agent *a)
{
    pthread_mutex_lock(&running_mu);
    struct cluster *c = running && running->agent == a ? running : NULL;
    if (c) running = NULL;
    pthread_mutex_unlock(&running_mu);
    if (!c) return;
    if (atomic_load(&c->self_decom))
        (void)ne_membership_leave(c->mem);
    else
        (void)ne_membership_announce_stop(c->mem);
    /* the transport goes on answering while the announcement spreads, so
     * that a read a peer sent before it learned of the stop is answered */
    ne_time_sleep_ns(STOP_DRAIN_NS);
    cluster_free(c);
}

/* Only the daemon's threads call in here, between start and stop. */
struct cluster *agent__cluster_find(const struct ne_agent *a)
{
    pthread_mutex_lock(&running_mu);
    struct cluster *c = running && running->agent == a ? running : NULL;
    pthread_mutex_unlock(&running_mu);
    return c;
}

bool agent__cluster_running(const struct ne_agent *a)
{
    return agent__cluster_find(a) != NULL;
}

/* ---- distributed reads ------------------------------------------------------ */

/* The read ring is the write ring: every member not LEFT, decommissioned
 * nor refused (node tags; a refused member is not even asked). A dead or
 * stopped owner keeps its shards until it is removed (LEFT), so they are
 * reported missing rather than silently read from a node that never held
 * them. Alive and suspect members are asked; a shard is read
 * from a member holding it complete (shard moves), so a moving shard is
 * read from an old owner until its new owner has pulled it. */
bool agent__cluster_unplaced(struct cluster *c, const char *id)
{
    bool out = false;
    pthread_mutex_lock(&c->ring_mu);
    for (size_t i = 0; i < c->nring; i++)
        if (strcmp(c->ring_members[i].id, id) == 0)
            out = c->ring_members[i].decom || c->ring_members[i].refused ||
                  (i == 0 && atomic_load(&c->self_decom)) ||
                  (i > 0 && atomic_load(&c->self_refused));
    pthread_mutex_unlock(&c->ring_mu);
    return out;
}

int agent__cluster_source(const struct ne_agent *a, struct ne_csrc **out)
{
    *out = NULL;
    struct cluster *c = agent__cluster_find(a);
    if (!c) return NE_ENOTFOUND;
    struct ne_swim_member_info *ms = ne_calloc(MAX_MEMBERS, sizeof *ms);
    struct ne_csrc_member *cm = ne_calloc(MAX_MEMBERS, sizeof *cm);
    int rc = ms && cm ? 0 : NE_ENOMEM;
    if (rc == 0) {
        size_t n = ne_membership_snapshot(c->mem, ms, MAX_MEMBERS);
        if (n > MAX_MEMBERS) n = MAX_MEMBERS;
        size_t k = 0;
        for (size_t i = 0; i < n; i++)
            if (i == 0 ||
                (ms[i].state != NE_SWIM_LEFT && !agent__cluster_peer_refused(c, ms[i].id)))
                cm[k++] = (struct ne_csrc_member){ms[i].id, ms[i].addr,
                                                  ms[i].state == NE_SWIM_ALIVE ||
                                                      ms[i].state == NE_SWIM_SUSPECT,
                                                  agent__cluster_unplaced(c, ms[i].id)};
        struct ne_csrc_opts o = {.local = &c->local,
                                 .tp = c->tp,
                                 .self = c->opts.node_id,
                                 .members = cm,
                                 .nmembers = k,
                                 .shards = c->opts.shards,
                                 .vnodes = c->opts.vnodes,
                                 .rf = c->opts.replication_factor,
                                 .holds = agent__cluster_holds_locked,
                                 .holds_ctx = c,
                                 .deleter = cluster_delete,
                                 .deleter_ctx = c};
        pthread_mutex_lock(&c->mv_mu); /* agent__cluster_holds_locked is called in there only */
        agent__cluster_statuses_check(c, ms, n);
        rc = ne_csrc_new(&o, out);
        pthread_mutex_unlock(&c->mv_mu);
    }
    ne_free(ms);
    ne_free(cm);
    return rc;
}

/* ---- health -------------------------------------------------------------- */

/* Appends "id (addr)" to a reason list, as room allows. */
static void reason_add(char *r, size_t n, size_t *used, const struct ne_swim_member_info *m)
{
    if (*used >= n) return;
    int w = snprintf(r + *used, n - *used, "%s%s (%s)", *used ? ", " : "", m->id, m->addr);
    *used += w > 0 ? (size_t)w : 0;
}

static void cluster_health(struct ne_agent *a, struct ne_health *h)
{
    struct cluster *c = agent__cluster_find(a);
    h->status = NE_HEALTH_OK;
    if (!c) return;
    if (atomic_load(&c->self_refused)) {
        h->status = NE_HEALTH_DEGRADED;
        pthread_mutex_lock(&c->ring_mu);
        snprintf(h->reason, sizeof h->reason,
                 "refused to join: this node has the node tag of member %s "
                 "(give this node another node_id or cluster.node_tag)",
                 c->refused_by);
        pthread_mutex_unlock(&c->ring_mu);
        return;
    }
    /* On the heap: a thread-local array would be set up in every thread of
     * the process (36 KiB resident each), and the stack of a pool thread is
     * no place for it either. */
    struct ne_swim_member_info *ms = ne_calloc(MAX_MEMBERS, sizeof *ms);
    if (!ms) {
        h->status = NE_HEALTH_DEGRADED;
        snprintf(h->reason, sizeof h->reason, "cannot read the members: out of memory");
        return;
    }
    size_t n = ne_membership_snapshot(c->mem, ms, MAX_MEMBERS);
    if (n > MAX_MEMBERS) n = MAX_MEMBERS;
    char dead[160] = "", suspect[160] = "", stopped[160] = "";
    size_t nd = 0, ns = 0, nt = 0, ud = 0, us = 0, ut = 0;
    for (size_t i = 1; i < n; i++) {
        if (ms[i].state == NE_SWIM_DEAD) {
            nd++;
            reason_add(dead, sizeof dead, &ud, &ms[i]);
        } else if (ms[i].state == NE_SWIM_STOPPED) {
            nt++;
            reason_add(stopped, sizeof stopped, &ut, &ms[i]);
        } else if (ms[i].state == NE_SWIM_SUSPECT) {
            ns++;
            reason_add(suspect, sizeof suspect, &us, &ms[i]);
        }
    }
    ne_free(ms); /* the reasons hold copies of what they name */
    if (n == 1 && c->other_seeds) {
        /* alone although it has seeds: they are down, or hold another key */
        h->status = NE_HEALTH_DEGRADED;
        snprintf(h->reason, sizeof h->reason,
                 "not joined: none of the %zu seeds answered (down, or another cluster.key?)",
                 c->other_seeds);
        return;
    }
    if (nd + ns + nt == 0) return;
    h->status = NE_HEALTH_DEGRADED;
    snprintf(h->reason, sizeof h->reason, "%s%s%s%s%s%s%s%s", nd ? "dead: " : "", dead,
             nd && ns ? "; " : "", ns ? "suspect: " : "", suspect, (nd || ns) && nt ? "; " : "",
             nt ? "stopped: " : "", stopped);
}

const struct ne_module_ops agent__cluster_ops = {
    .name = "cluster",
    .enabled = cluster_enabled,
    .start = cluster_start,
    .stop = cluster_stop,
    .health = cluster_health,
};

int agent__cluster_decommission(const struct ne_agent *a, const char *node, char *err, size_t n)
{
    struct cluster *c = agent__cluster_find(a);
    if (!c) {
        snprintf(err, n, "clustering is off on this node");
        return NE_ENOTFOUND;
    }
    if (!node || !*node || strcmp(node, c->opts.node_id) == 0) {
        agent__cluster_decommission_self(c);
        return 0;
    }
    struct ne_swim_member_info m;
    int rc = ne_membership_find(c->mem, node, &m);
    if (rc != 0) {
        snprintf(err, n, "no member '%s' in this cluster", node);
        return NE_ENOTFOUND;
    }
    if (m.state != NE_SWIM_ALIVE && m.state != NE_SWIM_SUSPECT) {
        snprintf(err, n, "member '%s' is %s: only a running node can hand its shards over", node,
                 ne_swim_state_name(m.state));
        return NE_EAGAIN;
    }
    struct ne_pbuf reply = {0};
    uint8_t type = 0;
    rc = ne_transport_call(c->tp, m.id, m.addr, NE_FT_DECOMMISSION, NULL, 0, &reply, &type);
    ne_pbuf_free(&reply);
    if (rc == 0 && type != NE_FT_DECOMMISSION_ACK) rc = NE_ECORRUPT;
    if (rc != 0) snprintf(err, n, "member '%s' did not answer: %s", node, ne_strerror(rc));
    return rc;
}

int agent__cluster_remove(const struct ne_agent *a, const char *node, char *err, size_t n)
{
    struct cluster *c = agent__cluster_find(a);
    if (!c) {
        snprintf(err, n, "clustering is off on this node");
        return NE_ENOTFOUND;
    }
    if (!node || !*node) {
        snprintf(err, n, "which member? (node=ID)");
        return NE_EINVAL;
    }
    if (strcmp(node, c->opts.node_id) == 0) {
        snprintf(err, n, "'%s' is this node and it is running: decommission it instead", node);
        return NE_EBUSY;
    }
    struct ne_swim_member_info m = {.state = NE_SWIM_DEAD};
    (void)ne_membership_find(c->mem, node, &m); /* else only in the member table, or unknown */
    int rc = remove_member(c, node, 0);
    if (rc == NE_ENOTFOUND) {
        snprintf(err, n, "no member '%s' in this cluster", node);
        return NE_ENOTFOUND;
    }
    if (rc == NE_EBUSY)
        snprintf(err, n,
                 "member '%s' is %s: only a member that is down can be removed (decommission a "
                 "running one)",
                 node, ne_swim_state_name(m.state));
    else if (rc != 0)
        snprintf(err, n, "cannot remove '%s': %s", node, ne_strerror(rc));
    if (rc == 0) {
        ne_log(NE_LOG_INFO, MOD, "member removed by an operator", "node", node, "was",
               ne_swim_state_name(m.state), NULL);
        agent__cluster_ring_refresh(c); /* placed without it, and saved, before the answer */
    }
    return rc;
}
