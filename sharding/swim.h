/*
 * swim.h - SWIM failure detection and membership: the protocol state
 * machine, free of sockets, threads and clocks.
 *
 * The caller feeds it events - received datagrams (ne_swim_receive) and the
 * passing of time (ne_swim_tick) - with the current time in milliseconds,
 * and it answers through an injected send function. The same code runs
 * under a simulated network in tests and over UDP in membership.c.
 *
 * Protocol (Das, Gupta, Motivala 2002, with the suspicion mechanism):
 * every probe interval a member pings the next member of a shuffled
 * round-robin order; without an ack after probe_timeout it asks k others to
 * ping the target for it (PING_REQ); without any ack by the end of the
 * interval the target becomes SUSPECT. A suspect not refuted within
 * suspect_timeout becomes DEAD. A member refutes a suspicion about itself by
 * raising its incarnation and announcing ALIVE. Updates (alive, suspect,
 * dead, left, each with an incarnation) ride piggy-back on every message,
 * each sent about lambda*log2(N) times. New members JOIN through seeds and
 * get the whole view back (SYNC); a leaving member announces LEFT.
 * A member that stops for a while (a restart) announces STOPPED instead:
 * the others mark it down at once, without waiting for suspicion, and it
 * keeps its place (it comes back with a higher incarnation). With
 * remove_after_ms set, a member DEAD or STOPPED that long is removed: the
 * first member to see it that long marks it LEFT and gossips it, so every
 * member removes it within a few periods of one another. Only a member
 * that sees a majority of the members not LEFT alive removes anyone, and
 * its clock for a down member runs only while it sees that majority, so
 * a node cut off from most of the cluster does not remove the rest, not
 * even right after the partition heals. A removed member that comes back
 * (higher incarnation, or refuting the LEFT about itself) is a member
 * again.
 * Dead members are still pinged for a while, and seeds not seen alive are
 * sent a JOIN every 10 periods, so that both sides of a healed partition
 * learn of each other and refute.
 *
 * Not thread-safe: one owner drives it (membership.c holds a lock).
 */
#ifndef NE_SHARDING_SWIM_H
#define NE_SHARDING_SWIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum ne_swim_state {
    NE_SWIM_ALIVE = 0,
    NE_SWIM_SUSPECT = 1,
    NE_SWIM_DEAD = 2,
    NE_SWIM_LEFT = 3,
    NE_SWIM_STOPPED = 4, /* announced a stop: down, but keeps its place */
    NE_SWIM_NONE = 5,    /* not known (only as the "from" of a change) */
};

const char *ne_swim_state_name(enum ne_swim_state s);

/* Sends one datagram to a peer address. msg is borrowed for the call. */
typedef void (*ne_swim_send_fn)(void *ctx, const char *to_addr, const uint8_t *msg, size_t n);
/* A member changed state (or appeared: from == NE_SWIM_NONE). Called from
 * inside ne_swim_receive / tick / join; must not call back into the swim.
 * Never called for this node itself, but once when it learns that the
 * others removed it (LEFT at its current incarnation, e.g. after a long
 * partition) and refutes that: id is its own, from LEFT, to ALIVE, with
 * the raised incarnation. Whatever it held may have moved meanwhile. */
typedef void (*ne_swim_change_fn)(void *ctx, const char *id, const char *addr,
                                  enum ne_swim_state from, enum ne_swim_state to,
                                  uint64_t incarnation);

struct ne_swim_opts {
    const char *id;             /* this node, 1..63 bytes (copied) */
    const char *addr;           /* where peers reach it, 1..63 bytes (copied) */
    uint64_t incarnation;       /* start value; use a higher one after each restart */
    int64_t probe_interval_ms;  /* 0: 1000 */
    int64_t probe_timeout_ms;   /* 0: interval * 3 / 10 */
    int64_t suspect_timeout_ms; /* 0: 5 intervals */
    int64_t dead_probe_ms;      /* keep pinging dead members this long; 0: 30 intervals */
    int64_t remove_after_ms;    /* remove (LEFT) members DEAD or STOPPED this long; 0: never */
    uint32_t indirect_k;        /* 0: 3 */
    uint32_t lambda;            /* gossip retransmit multiplier; 0: 3 */
    uint64_t seed;              /* random seed (probe order, relays) */
    ne_swim_send_fn send;
    ne_swim_change_fn on_change; /* may be NULL */
    void *ctx;
};

struct ne_swim;

/* Creates the state machine with only itself as member. Returns 0 and
 * *out (free with ne_swim_free), NE_EINVAL or NE_ENOMEM. */
int ne_swim_new(const struct ne_swim_opts *o, struct ne_swim **out);
void ne_swim_free(struct ne_swim **ps);

/* Starts joining through seed addresses (copied, up to 16): a JOIN goes to
 * each seed now and every probe interval until a peer answers, then every
 * 10 intervals to the seeds not seen alive. Seeds equal to our own address
 * are skipped. Returns 0. */
int ne_swim_join(struct ne_swim *s, const char *const *seeds, size_t n, int64_t now_ms);

/* Advances timers to now_ms (monotonic, never going back): probes,
 * indirect probes, suspicion timeouts, join retries. Call at least every
 * probe_timeout/4 or so; calling more often is harmless. */
void ne_swim_tick(struct ne_swim *s, int64_t now_ms);

/* Handles one datagram from the network. Returns 0, or NE_ECORRUPT /
 * NE_EVERSION for a datagram that was ignored. */
int ne_swim_receive(struct ne_swim *s, const uint8_t *msg, size_t n, int64_t now_ms);

/* Announces LEFT to the members (up to 16 of them directly, plus gossip)
 * and stops probing. Returns 0. */
int ne_swim_leave(struct ne_swim *s, int64_t now_ms);

/* Announces STOPPED the same way (a stop that is not a departure: the
 * node keeps its place and comes back with a higher incarnation) and
 * stops probing. Returns 0. */
int ne_swim_stop(struct ne_swim *s, int64_t now_ms);

/* Removes member id on behalf of the cluster: it becomes LEFT at its
 * incarnation and that is gossiped. An unknown member is added as LEFT
 * with addr and incarnation inc (a removal remembered across a restart,
 * so that it spreads to members that missed it). Returns 0 (also when it
 * is LEFT already), NE_EINVAL (this node, bad id or addr) or NE_EBUSY (the
 * member is alive or suspect: it must be decommissioned instead; or its
 * incarnation is above inc: it came back since; pass UINT64_MAX to
 * remove it at whatever incarnation it has). */
int ne_swim_remove(struct ne_swim *s, const char *id, const char *addr, uint64_t inc,
                   int64_t now_ms);

struct ne_swim_member_info {
    char id[64], addr[64];
    uint64_t incarnation;
    enum ne_swim_state state;
};

/* This node's current incarnation (raised by refutations). */
uint64_t ne_swim_incarnation(const struct ne_swim *s);
/* Number of members known, self included, in any state. */
size_t ne_swim_size(const struct ne_swim *s);
/* Number of members (self included) in state st. */
size_t ne_swim_count(const struct ne_swim *s, enum ne_swim_state st);
/* Copies member i (0 is self) into *out. Returns 0 or NE_ERANGE. */
int ne_swim_member(const struct ne_swim *s, size_t i, struct ne_swim_member_info *out);
/* Looks a member up by id. Returns 0 or NE_ENOTFOUND. */
int ne_swim_find(const struct ne_swim *s, const char *id, struct ne_swim_member_info *out);

/* ---- wire format (exposed for the fuzzer and tests) -------------------- */

enum ne_swim_msg_type {
    NE_SWIM_PING = 1,
    NE_SWIM_ACK = 2,
    NE_SWIM_PING_REQ = 3,
    NE_SWIM_JOIN = 4,
    NE_SWIM_SYNC = 5,
    NE_SWIM_LEAVE = 6,
};

#define NE_SWIM_MAX_UPDATES 32
#define NE_SWIM_MAX_MSG     4096

struct ne_swim_update {
    uint8_t state;
    uint64_t incarnation;
    char id[64], addr[64];
};

struct ne_swim_msg {
    uint8_t type;
    uint32_t seq;
    uint64_t incarnation;                /* sender's */
    char id[64], addr[64];               /* sender's */
    char target_id[64], target_addr[64]; /* PING_REQ only */
    uint32_t nupdates;
    struct ne_swim_update updates[NE_SWIM_MAX_UPDATES];
};

/* Decodes an untrusted datagram. Returns 0, NE_ECORRUPT (any malformation,
 * bad CRC) or NE_EVERSION. */
int ne_swim_msg_decode(const uint8_t *p, size_t n, struct ne_swim_msg *out);

/* Encodes m into buf (NE_SWIM_MAX_MSG bytes). Returns the length, or 0 if
 * a string is empty or too long. */
size_t ne_swim_msg_encode(const struct ne_swim_msg *m, uint8_t *buf);

#endif
