/*
 * swim.c - SWIM membership state machine and its datagram format.
 *
 * Datagram layout (integers little endian; str8 = [len u8][bytes], 1..63):
 *
 *   +-------+-----+------+---------+-------------+-----------+-------------+
 *   | magic | ver | type | seq u32 | sender inc  | sender id | sender addr |
 *   | 'S''W'| =1  |      |         | u64         | str8      | str8        |
 *   +-------+-----+------+---------+-------------+-----------+-------------+
 *   | PING_REQ only: target id str8, target addr str8                      |
 *   +-------+--------------------------------------------------------------+
 *   | n u8  | n x { state u8 | incarnation u64 | id str8 | addr str8 }     |
 *   +-------+--------------------------------------------------------------+
 *   | crc32c u32 over every byte before it                                 |
 *   +----------------------------------------------------------------------+
 *
 * n <= NE_SWIM_MAX_UPDATES, the whole datagram <= NE_SWIM_MAX_MSG bytes.
 *
 * Invariants: members[0] is this node; ids are unique; a member's
 * incarnation never decreases; DEAD, STOPPED and LEFT are overridden only
 * by a higher incarnation (but for LEFT over DEAD or STOPPED, and STOPPED
 * over DEAD, at the same one); a suspicion, death or removal about
 * ourselves is answered by raising our incarnation above it (unless we
 * are leaving or stopping).
 *
 * State values on the wire: 0 alive, 1 suspect, 2 dead, 3 left, 4 stopped.
 */
#include "sharding/swim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ports/crc32c.h"
#include "ports/err.h"
#include "ports/log.h"
#include "ports/platform.h"
#include "sharding/frame.h"

#define SWIM_MAGIC     0x5753u /* 'S','W' */
#define SWIM_VERSION   1
#define MAX_RELAYS     32
#define MAX_SEEDS      16
#define LEAVE_FANOUT   16
#define REJOIN_PERIODS 10

struct member {
    char id[64], addr[64];
    uint64_t inc;
    uint8_t state;
    int64_t since;        /* when the state was entered */
    uint32_t gossip_left; /* piggy-back transmissions still due */
};

struct relay {
    bool used;
    uint32_t seq, orig_seq;
    char requester[64];
    int64_t expires;
};

struct probe {
    bool active, acked, indirect_sent;
    uint32_t seq;
    char target[64];
    int64_t sent;
};

struct ne_swim {
    struct ne_swim_opts o;
    struct member *m;
    size_t n, cap;
    uint32_t *order; /* probe order: member indices */
    size_t norder, order_pos;
    uint32_t *pick; /* scratch for gossip selection */
    struct probe probe;
    struct relay relays[MAX_RELAYS];
    char seeds[MAX_SEEDS][64];
    size_t nseeds;
    bool joined, leaving;
    int64_t next_probe, next_join, last_now;
    int64_t majority_since; /* since when a majority is seen alive; -1: not now */
    uint32_t seq;
    uint64_t rng;
    struct ne_swim_msg out;
    uint8_t buf[NE_SWIM_MAX_MSG];
};

const char *ne_swim_state_name(enum ne_swim_state s)
{
    static const char *names[] = {"alive", "suspect", "dead", "left", "stopped", "none"};
    return (unsigned)s <= NE_SWIM_NONE ? names[s] : "?";
}

/* ---- wire ---------------------------------------------------------------- */

struct rd {
    const uint8_t *p;
    size_t n, off;
    bool bad;
};

static uint8_t rd_u8(struct rd *r)
{
    if (r->n - r->off < 1) {
        r->bad = true;
        return 0;
    }
    return r->p[r->off++];
}

static uint32_t rd_u32(struct rd *r)
{
    if (r->n - r->off < 4) {
        r->bad = true;
        return 0;
    }
    uint32_t v = ne_get_u32(r->p + r->off);
    r->off += 4;
    return v;
}

static uint64_t rd_u64(struct rd *r)
{
    if (r->n - r->off < 8) {
        r->bad = true;
        return 0;
    }
    uint64_t v = ne_get_u64(r->p + r->off);
    r->off += 8;
    return v;
}

static void rd_str(struct rd *r, char out[64])
{
    size_t len = rd_u8(r);
    if (r->bad || len == 0 || len > 63 || r->n - r->off < len || memchr(r->p + r->off, 0, len)) {
        r->bad = true;
        out[0] = 0;
        return;
    }
    memcpy(out, r->p + r->off, len);
    out[len] = 0;
    r->off += len;
}

int ne_swim_msg_decode(const uint8_t *p, size_t n, struct ne_swim_msg *m)
{
    if (n < 4 + 4 || n > NE_SWIM_MAX_MSG) return NE_ECORRUPT;
    if ((p[0] | p[1] << 8) != SWIM_MAGIC) return NE_ECORRUPT;
    if (ne_crc32c(0, p, n - 4) != ne_get_u32(p + n - 4)) return NE_ECORRUPT;
    if (p[2] != SWIM_VERSION) return NE_EVERSION;
    struct rd r = {p, n - 4, 3, false};
    m->type = rd_u8(&r);
    m->seq = rd_u32(&r);
    m->incarnation = rd_u64(&r);
    rd_str(&r, m->id);
    rd_str(&r, m->addr);
    m->target_id[0] = m->target_addr[0] = 0;
    if (m->type == NE_SWIM_PING_REQ) {
        rd_str(&r, m->target_id);
        rd_str(&r, m->target_addr);
    }
    if (r.bad || m->type < NE_SWIM_PING || m->type > NE_SWIM_LEAVE) return NE_ECORRUPT;
    m->nupdates = rd_u8(&r);
    if (m->nupdates > NE_SWIM_MAX_UPDATES) return NE_ECORRUPT;
    for (uint32_t i = 0; i < m->nupdates && !r.bad; i++) {
        struct ne_swim_update *u = &m->updates[i];
        u->state = rd_u8(&r);
        u->incarnation = rd_u64(&r);
        rd_str(&r, u->id);
        rd_str(&r, u->addr);
        if (u->state > NE_SWIM_STOPPED) r.bad = true;
    }
    if (r.bad || r.off != r.n) return NE_ECORRUPT;
    return 0;
}

static bool put_str(uint8_t *buf, size_t *off, const char *s)
{
    size_t len = strlen(s);
    if (len == 0 || len > 63 || *off + 1 + len > NE_SWIM_MAX_MSG - 4) return false;
    buf[(*off)++] = (uint8_t)len;
    memcpy(buf + *off, s, len);
    *off += len;
    return true;
}

/* Bytes an update takes on the wire. */
static size_t update_size(const char *id, const char *addr)
{
    return 1 + 8 + 1 + strlen(id) + 1 + strlen(addr);
}

size_t ne_swim_msg_encode(const struct ne_swim_msg *m, uint8_t *buf)
{
    size_t off = 0;
    buf[0] = (uint8_t)(SWIM_MAGIC & 0xff);
    buf[1] = (uint8_t)(SWIM_MAGIC >> 8);
    buf[2] = SWIM_VERSION;
    buf[3] = m->type;
    ne_put_u32(buf + 4, m->seq);
    ne_put_u64(buf + 8, m->incarnation);
    off = 16;
    if (!put_str(buf, &off, m->id) || !put_str(buf, &off, m->addr)) return 0;
    if (m->type == NE_SWIM_PING_REQ &&
        (!put_str(buf, &off, m->target_id) || !put_str(buf, &off, m->target_addr)))
        return 0;
    if (m->nupdates > NE_SWIM_MAX_UPDATES) return 0;
    buf[off++] = (uint8_t)m->nupdates;
    for (uint32_t i = 0; i < m->nupdates; i++) {
        const struct ne_swim_update *u = &m->updates[i];
        if (off + 9 > NE_SWIM_MAX_MSG - 4) return 0;
        buf[off] = u->state;
        ne_put_u64(buf + off + 1, u->incarnation);
        off += 9;
        if (!put_str(buf, &off, u->id) || !put_str(buf, &off, u->addr)) return 0;
    }
    ne_put_u32(buf + off, ne_crc32c(0, buf, off));
    return off + 4;
}

/* ---- helpers ----------------------------------------------------------- */

static uint64_t rnd(struct ne_swim *s)
{
    /* xorshift64*: deterministic for a given seed */
    s->rng ^= s->rng >> 12;
    s->rng ^= s->rng << 25;
    s->rng ^= s->rng >> 27;
    return s->rng * 0x2545F4914F6CDD1Dull;
}

static int find(const struct ne_swim *s, const char *id)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->m[i].id, id) == 0) return (int)i;
    return -1;
}

static uint32_t retransmits(const struct ne_swim *s)
{
    uint32_t lg = 1;
    for (size_t x = s->n; x > 1; x >>= 1)
        lg++;
    return s->o.lambda * lg;
}

static void changed(struct ne_swim *s, struct member *m, uint8_t from, int64_t now)
{
    m->since = now;
    m->gossip_left = retransmits(s);
    if (from != m->state && s->o.on_change)
        s->o.on_change(s->o.ctx, m->id, m->addr, (enum ne_swim_state)from,
                       (enum ne_swim_state)m->state, m->inc);
}

static int add_member(struct ne_swim *s, const char *id, const char *addr, uint8_t state,
                      uint64_t inc, int64_t now)
{
    if (s->n == s->cap) {
        size_t nc = s->cap * 2;
        struct member *nm = ne_realloc(s->m, nc * sizeof *nm);
        if (!nm) return NE_ENOMEM;
        s->m = nm;
        uint32_t *no = ne_realloc(s->order, nc * sizeof *no);
        if (!no) return NE_ENOMEM;
        s->order = no;
        uint32_t *np = ne_realloc(s->pick, nc * sizeof *np);
        if (!np) return NE_ENOMEM;
        s->pick = np;
        s->cap = nc;
    }
    struct member *m = &s->m[s->n++];
    memset(m, 0, sizeof *m);
    snprintf(m->id, sizeof m->id, "%s", id);
    snprintf(m->addr, sizeof m->addr, "%s", addr);
    m->inc = inc;
    m->state = state;
    changed(s, m, NE_SWIM_NONE, now);
    return 0;
}

static void refute(struct ne_swim *s, uint64_t inc, int64_t now)
{
    struct member *self = &s->m[0];
    if (s->leaving || inc < self->inc) return;
    self->inc = inc + 1;
    self->gossip_left = retransmits(s);
    self->since = now;
}

/* Whether an update (state, inc) supersedes what we hold for m. */
static bool supersedes(const struct member *m, uint8_t state, uint64_t inc)
{
    switch (state) {
    case NE_SWIM_ALIVE:
        return inc > m->inc;
    case NE_SWIM_SUSPECT:
        return m->state == NE_SWIM_ALIVE ? inc >= m->inc : inc > m->inc;
    case NE_SWIM_DEAD:
        return (m->state == NE_SWIM_ALIVE || m->state == NE_SWIM_SUSPECT) ? inc >= m->inc
                                                                          : inc > m->inc;
    case NE_SWIM_STOPPED:
        return (m->state == NE_SWIM_ALIVE || m->state == NE_SWIM_SUSPECT ||
                m->state == NE_SWIM_DEAD)
                   ? inc >= m->inc
                   : inc > m->inc;
    case NE_SWIM_LEFT:
        return m->state != NE_SWIM_LEFT ? inc >= m->inc : inc > m->inc;
    default:
        return false;
    }
}

static void apply(struct ne_swim *s, const char *id, const char *addr, uint8_t state, uint64_t inc,
                  int64_t now)
{
    if (strcmp(id, s->m[0].id) == 0) {
        bool removed = state == NE_SWIM_LEFT && !s->leaving && inc >= s->m[0].inc;
        if (state != NE_SWIM_ALIVE || inc > s->m[0].inc) refute(s, inc, now);
        if (removed && s->o.on_change) /* the others removed this very life of ours */
            s->o.on_change(s->o.ctx, s->m[0].id, s->m[0].addr, NE_SWIM_LEFT, NE_SWIM_ALIVE,
                           s->m[0].inc);
        return;
    }
    int i = find(s, id);
    if (i < 0) {
        add_member(s, id, addr, state, inc, now);
        return;
    }
    struct member *m = &s->m[i];
    if (!supersedes(m, state, inc)) return;
    uint8_t from = m->state;
    bool same = from == state && m->inc == inc;
    m->state = state;
    m->inc = inc;
    if (state == NE_SWIM_ALIVE && addr != m->addr) snprintf(m->addr, sizeof m->addr, "%s", addr);
    if (!same) changed(s, m, from, now);
}

/* ---- sending -------------------------------------------------------------- */

static int cmp_gossip(const void *a, const void *b, void *ctx)
{
    const struct ne_swim *s = ctx;
    uint32_t x = s->m[*(const uint32_t *)a].gossip_left;
    uint32_t y = s->m[*(const uint32_t *)b].gossip_left;
    return x > y ? -1 : x < y;
}

static void add_update(struct ne_swim *s, size_t *room, uint32_t idx)
{
    struct member *m = &s->m[idx];
    size_t need = update_size(m->id, m->addr);
    if (s->out.nupdates >= NE_SWIM_MAX_UPDATES || need > *room) return;
    for (uint32_t i = 0; i < s->out.nupdates; i++)
        if (strcmp(s->out.updates[i].id, m->id) == 0) return;
    struct ne_swim_update *u = &s->out.updates[s->out.nupdates++];
    u->state = m->state;
    u->incarnation = m->inc;
    memcpy(u->id, m->id, sizeof u->id);
    memcpy(u->addr, m->addr, sizeof u->addr);
    *room -= need;
    if (m->gossip_left) m->gossip_left--;
}

/* Fills the piggy-back section: first what the receiver must hear about
 * itself (a suspicion to refute), then the updates due most often; with
 * full set, every member (SYNC). */
static void add_gossip(struct ne_swim *s, const char *to_addr, bool full)
{
    size_t room = NE_SWIM_MAX_MSG - 4 - 1 - 200; /* header and PING_REQ target */
    s->out.nupdates = 0;
    for (size_t i = 1; i < s->n; i++)
        if (s->m[i].state != NE_SWIM_ALIVE && strcmp(s->m[i].addr, to_addr) == 0)
            add_update(s, &room, (uint32_t)i);
    size_t k = 0;
    for (size_t i = 0; i < s->n; i++)
        if (full || s->m[i].gossip_left) s->pick[k++] = (uint32_t)i;
    qsort_r(s->pick, k, sizeof *s->pick, cmp_gossip, s);
    for (size_t i = 0; i < k; i++)
        add_update(s, &room, s->pick[i]);
}

static void send_msg(struct ne_swim *s, uint8_t type, uint32_t seq, const char *to_addr,
                     const struct member *target, bool full)
{
    struct ne_swim_msg *o = &s->out;
    o->type = type;
    o->seq = seq;
    o->incarnation = s->m[0].inc;
    memcpy(o->id, s->m[0].id, sizeof o->id);
    memcpy(o->addr, s->m[0].addr, sizeof o->addr);
    if (target) {
        memcpy(o->target_id, target->id, sizeof o->target_id);
        memcpy(o->target_addr, target->addr, sizeof o->target_addr);
    }
    add_gossip(s, to_addr, full);
    size_t len = ne_swim_msg_encode(o, s->buf);
    if (len) s->o.send(s->o.ctx, to_addr, s->buf, len);
}

/* ---- lifecycle -------------------------------------------------------------- */

int ne_swim_new(const struct ne_swim_opts *o, struct ne_swim **out)
{
    if (!o->id || !*o->id || strlen(o->id) > 63 || !o->addr || !*o->addr || strlen(o->addr) > 63 ||
        !o->send)
        return NE_EINVAL;
    struct ne_swim *s = ne_calloc(1, sizeof *s);
    if (!s) return NE_ENOMEM;
    s->o = *o;
    if (!s->o.probe_interval_ms) s->o.probe_interval_ms = 1000;
    if (!s->o.probe_timeout_ms) s->o.probe_timeout_ms = s->o.probe_interval_ms * 3 / 10;
    if (!s->o.suspect_timeout_ms) s->o.suspect_timeout_ms = 5 * s->o.probe_interval_ms;
    if (!s->o.dead_probe_ms) s->o.dead_probe_ms = 30 * s->o.probe_interval_ms;
    if (!s->o.indirect_k) s->o.indirect_k = 3;
    if (!s->o.lambda) s->o.lambda = 3;
    s->rng = o->seed ? o->seed : 0x9E3779B97F4A7C15ull;
    s->majority_since = -1;
    s->cap = 8;
    s->m = ne_calloc(s->cap, sizeof *s->m);
    s->order = ne_calloc(s->cap, sizeof *s->order);
    s->pick = ne_calloc(s->cap, sizeof *s->pick);
    if (!s->m || !s->order || !s->pick) {
        ne_swim_free(&s);
        return NE_ENOMEM;
    }
    s->o.on_change = NULL; /* no event for ourselves */
    add_member(s, o->id, o->addr, NE_SWIM_ALIVE, o->incarnation, 0);
    s->o.on_change = o->on_change;
    *out = s;
    return 0;
}

void ne_swim_free(struct ne_swim **ps)
{
    if (!ps || !*ps) return;
    ne_free((*ps)->m);
    ne_free((*ps)->order);
    ne_free((*ps)->pick);
    ne_free(*ps);
    *ps = NULL;
}

int ne_swim_join(struct ne_swim *s, const char *const *seeds, size_t n, int64_t now)
{
    s->nseeds = 0;
    for (size_t i = 0; i < n && s->nseeds < MAX_SEEDS; i++)
        if (seeds[i] && *seeds[i] && strlen(seeds[i]) < 64 && strcmp(seeds[i], s->m[0].addr))
            snprintf(s->seeds[s->nseeds++], 64, "%s", seeds[i]);
    s->joined = s->nseeds == 0;
    s->next_join = now;
    ne_swim_tick(s, now);
    return 0;
}

/* Sets our own state to st (LEFT or STOPPED), tells up to LEAVE_FANOUT
 * members directly and stops probing and refuting. */
static int announce_down(struct ne_swim *s, uint8_t st)
{
    if (s->leaving) return 0;
    s->leaving = true;
    s->m[0].state = st;
    s->m[0].gossip_left = retransmits(s);
    size_t sent = 0;
    for (size_t i = 1; i < s->n && sent < LEAVE_FANOUT; i++)
        if (s->m[i].state == NE_SWIM_ALIVE || s->m[i].state == NE_SWIM_SUSPECT) {
            send_msg(s, NE_SWIM_LEAVE, ++s->seq, s->m[i].addr, NULL, false);
            sent++;
        }
    return 0;
}

int ne_swim_leave(struct ne_swim *s, int64_t now)
{
    (void)now;
    return announce_down(s, NE_SWIM_LEFT);
}

int ne_swim_stop(struct ne_swim *s, int64_t now)
{
    (void)now;
    return announce_down(s, NE_SWIM_STOPPED);
}

static bool down_state(uint8_t st)
{
    return st == NE_SWIM_DEAD || st == NE_SWIM_STOPPED;
}

int ne_swim_remove(struct ne_swim *s, const char *id, const char *addr, uint64_t inc, int64_t now)
{
    if (!id || !*id || strlen(id) > 63 || strcmp(id, s->m[0].id) == 0) return NE_EINVAL;
    int i = find(s, id);
    if (i < 0) {
        if (!addr || !*addr || strlen(addr) > 63) return NE_EINVAL;
        return add_member(s, id, addr, NE_SWIM_LEFT, inc, now);
    }
    struct member *m = &s->m[i];
    if (m->state == NE_SWIM_LEFT) return 0;
    if (!down_state(m->state) || m->inc > inc) return NE_EBUSY;
    apply(s, m->id, m->addr, NE_SWIM_LEFT, m->inc, now);
    return 0;
}

/* ---- probing ------------------------------------------------------------------ */

static bool probeable(const struct member *m)
{
    return m->state == NE_SWIM_ALIVE || m->state == NE_SWIM_SUSPECT;
}

static void shuffle_order(struct ne_swim *s)
{
    s->norder = 0;
    for (size_t i = 1; i < s->n; i++)
        if (probeable(&s->m[i])) s->order[s->norder++] = (uint32_t)i;
    for (size_t i = s->norder; i > 1; i--) {
        size_t j = rnd(s) % i;
        uint32_t t = s->order[i - 1];
        s->order[i - 1] = s->order[j];
        s->order[j] = t;
    }
    s->order_pos = 0;
}

static int next_target(struct ne_swim *s)
{
    for (int pass = 0; pass < 2; pass++) {
        while (s->order_pos < s->norder) {
            uint32_t i = s->order[s->order_pos++];
            if (i < s->n && probeable(&s->m[i])) return (int)i;
        }
        shuffle_order(s);
    }
    return -1;
}

static void start_probe(struct ne_swim *s, int64_t now)
{
    int t = next_target(s);
    if (t < 0) return;
    struct probe *p = &s->probe;
    p->active = true;
    p->acked = p->indirect_sent = false;
    p->seq = ++s->seq;
    p->sent = now;
    memcpy(p->target, s->m[t].id, sizeof p->target);
    send_msg(s, NE_SWIM_PING, p->seq, s->m[t].addr, NULL, false);
}

static void send_indirect(struct ne_swim *s, int target)
{
    uint32_t chosen[8];
    uint32_t k = s->o.indirect_k < 8 ? s->o.indirect_k : 8, got = 0;
    size_t cand = 0;
    for (size_t i = 1; i < s->n; i++)
        if (s->m[i].state == NE_SWIM_ALIVE && (int)i != target) s->pick[cand++] = (uint32_t)i;
    while (got < k && cand > 0) {
        size_t j = rnd(s) % cand;
        chosen[got++] = s->pick[j];
        s->pick[j] = s->pick[--cand];
    }
    for (uint32_t i = 0; i < got; i++)
        send_msg(s, NE_SWIM_PING_REQ, s->probe.seq, s->m[chosen[i]].addr, &s->m[target], false);
}

static void probe_timers(struct ne_swim *s, int64_t now)
{
    struct probe *p = &s->probe;
    if (!p->active) return;
    int t = find(s, p->target);
    if (t < 0 || p->acked) {
        p->active = false;
        return;
    }
    if (!p->indirect_sent && now >= p->sent + s->o.probe_timeout_ms) {
        p->indirect_sent = true;
        send_indirect(s, t);
    }
    if (now >= p->sent + s->o.probe_interval_ms) {
        p->active = false;
        struct member *m = &s->m[t];
        if (m->state == NE_SWIM_ALIVE) apply(s, m->id, m->addr, NE_SWIM_SUSPECT, m->inc, now);
    }
}

static void expire_suspects(struct ne_swim *s, int64_t now)
{
    for (size_t i = 1; i < s->n; i++) {
        struct member *m = &s->m[i];
        if (m->state == NE_SWIM_SUSPECT && now - m->since >= s->o.suspect_timeout_ms)
            apply(s, m->id, m->addr, NE_SWIM_DEAD, m->inc, now);
    }
}

/* Whether this node sees a majority of the members not LEFT (itself
 * included) alive or suspect: only then may it remove members. */
static bool sees_majority(const struct ne_swim *s)
{
    size_t up = 0, all = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (s->m[i].state == NE_SWIM_LEFT) continue;
        all++;
        up += probeable(&s->m[i]);
    }
    return 2 * up > all;
}

/* Removes the members down (DEAD or STOPPED) for remove_after_ms while
 * this node saw a majority alive: a node back from the minority side of a
 * partition first hears from the others again (whom it saw dead all
 * along) before its clock for them starts. */
static void remove_down(struct ne_swim *s, int64_t now)
{
    if (s->o.remove_after_ms <= 0) return;
    if (!sees_majority(s)) {
        s->majority_since = -1;
        return;
    }
    if (s->majority_since < 0) s->majority_since = now;
    for (size_t i = 1; i < s->n; i++) {
        struct member *m = &s->m[i];
        int64_t from = m->since > s->majority_since ? m->since : s->majority_since;
        if (down_state(m->state) && now - from >= s->o.remove_after_ms)
            apply(s, m->id, m->addr, NE_SWIM_LEFT, m->inc, now);
    }
}

/* Pings one recently dead (or stopped) member so a healed partition can
 * reconcile. */
static void ping_dead(struct ne_swim *s, int64_t now)
{
    size_t cand = 0;
    for (size_t i = 1; i < s->n; i++)
        if (down_state(s->m[i].state) && now - s->m[i].since < s->o.dead_probe_ms)
            s->pick[cand++] = (uint32_t)i;
    if (cand) send_msg(s, NE_SWIM_PING, ++s->seq, s->m[s->pick[rnd(s) % cand]].addr, NULL, false);
}

/* True if an alive member is reachable at addr. */
static bool alive_at(const struct ne_swim *s, const char *addr)
{
    for (size_t i = 1; i < s->n; i++)
        if (s->m[i].state == NE_SWIM_ALIVE && strcmp(s->m[i].addr, addr) == 0) return true;
    return false;
}

/* Until joined, JOINs every seed each period. Afterwards, every
 * REJOIN_PERIODS, JOINs the seeds we do not see alive: after a partition
 * longer than the dead-probe window this is how the two sides meet again. */
static void join_seeds(struct ne_swim *s, int64_t now)
{
    s->next_join = now + s->o.probe_interval_ms * (s->joined ? REJOIN_PERIODS : 1);
    for (size_t i = 0; i < s->nseeds; i++)
        if (!s->joined || !alive_at(s, s->seeds[i]))
            send_msg(s, NE_SWIM_JOIN, ++s->seq, s->seeds[i], NULL, false);
}

void ne_swim_tick(struct ne_swim *s, int64_t now)
{
    if (now < s->last_now) now = s->last_now;
    s->last_now = now;
    if (s->leaving) return;
    expire_suspects(s, now);
    remove_down(s, now);
    probe_timers(s, now);
    if (now >= s->next_probe && !s->probe.active) {
        s->next_probe = now + s->o.probe_interval_ms;
        start_probe(s, now);
        ping_dead(s, now);
    }
    if (now >= s->next_join) join_seeds(s, now);
}

/* ---- receiving --------------------------------------------------------------- */

static void on_ack(struct ne_swim *s, const struct ne_swim_msg *m)
{
    if (s->probe.active && m->seq == s->probe.seq) {
        s->probe.acked = true;
        return;
    }
    for (int i = 0; i < MAX_RELAYS; i++) {
        struct relay *r = &s->relays[i];
        if (r->used && r->seq == m->seq) {
            r->used = false;
            send_msg(s, NE_SWIM_ACK, r->orig_seq, r->requester, NULL, false);
            return;
        }
    }
}

static void on_ping_req(struct ne_swim *s, const struct ne_swim_msg *m, int64_t now)
{
    int slot = 0;
    for (int i = 0; i < MAX_RELAYS; i++) {
        if (!s->relays[i].used || s->relays[i].expires <= now) {
            slot = i;
            break;
        }
        if (s->relays[i].expires < s->relays[slot].expires) slot = i;
    }
    struct relay *r = &s->relays[slot];
    r->used = true;
    r->seq = ++s->seq;
    r->orig_seq = m->seq;
    r->expires = now + s->o.probe_interval_ms;
    memcpy(r->requester, m->addr, sizeof r->requester);
    send_msg(s, NE_SWIM_PING, r->seq, m->target_addr, NULL, false);
}

int ne_swim_receive(struct ne_swim *s, const uint8_t *buf, size_t n, int64_t now)
{
    struct ne_swim_msg *m = ne_malloc(sizeof *m);
    if (!m) return NE_ENOMEM;
    int rc = ne_swim_msg_decode(buf, n, m);
    if (rc || strcmp(m->id, s->m[0].id) == 0 || s->leaving) {
        ne_free(m);
        return rc;
    }
    s->joined = true;
    apply(s, m->id, m->addr, NE_SWIM_ALIVE, m->incarnation, now);
    for (uint32_t i = 0; i < m->nupdates; i++) {
        const struct ne_swim_update *u = &m->updates[i];
        apply(s, u->id, u->addr, u->state, u->incarnation, now);
    }
    switch (m->type) {
    case NE_SWIM_PING:
        send_msg(s, NE_SWIM_ACK, m->seq, m->addr, NULL, false);
        break;
    case NE_SWIM_ACK:
        on_ack(s, m);
        break;
    case NE_SWIM_PING_REQ:
        on_ping_req(s, m, now);
        break;
    case NE_SWIM_JOIN:
        send_msg(s, NE_SWIM_SYNC, m->seq, m->addr, NULL, true);
        break;
    default: /* SYNC and LEAVE carry everything in their updates */
        break;
    }
    ne_free(m);
    return 0;
}

/* ---- queries --------------------------------------------------------------- */

uint64_t ne_swim_incarnation(const struct ne_swim *s)
{
    return s->m[0].inc;
}

size_t ne_swim_size(const struct ne_swim *s)
{
    return s->n;
}

size_t ne_swim_count(const struct ne_swim *s, enum ne_swim_state st)
{
    size_t c = 0;
    for (size_t i = 0; i < s->n; i++)
        c += s->m[i].state == st;
    return c;
}

static void info(const struct member *m, struct ne_swim_member_info *out)
{
    memcpy(out->id, m->id, sizeof out->id);
    memcpy(out->addr, m->addr, sizeof out->addr);
    out->incarnation = m->inc;
    out->state = (enum ne_swim_state)m->state;
}

int ne_swim_member(const struct ne_swim *s, size_t i, struct ne_swim_member_info *out)
{
    if (i >= s->n) return NE_ERANGE;
    info(&s->m[i], out);
    return 0;
}

int ne_swim_find(const struct ne_swim *s, const char *id, struct ne_swim_member_info *out)
{
    int i = find(s, id);
    if (i < 0) return NE_ENOTFOUND;
    info(&s->m[i], out);
    return 0;
}
