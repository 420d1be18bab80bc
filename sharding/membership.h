/*
 * membership.h - the SWIM failure detector (swim.h) running over UDP.
 *
 * One thread per membership owns a UDP socket bound to the cluster listen
 * address, feeds datagrams and clock ticks to the state machine and sends
 * its datagrams. Every datagram carries an HMAC tag made with the cluster
 * key, so only nodes holding the key take part (layout in membership.c).
 * Queries are safe from any thread.
 */
#ifndef NE_SHARDING_MEMBERSHIP_H
#define NE_SHARDING_MEMBERSHIP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sharding/cluster.h"
#include "sharding/swim.h"

struct ne_membership;

struct ne_membership_opts {
    const struct ne_cluster_opts *cluster; /* borrowed for the call */
    uint64_t incarnation;                  /* 0: wall-clock ms (grows across restarts) */
    uint64_t seed;                         /* 0: from the clock and node id */
    /* Called on the membership thread, with its lock held: must be quick
     * and must not call ne_membership_* on the same membership. */
    ne_swim_change_fn on_change;
    void *ctx;
};

/* Binds UDP on cluster->listen (port 0: a free port, then advertised with
 * the port chosen), starts the thread and joins through cluster->seeds.
 * cluster->key (16..64 bytes, copied) is required. Returns 0 and *out
 * (stop with ne_membership_stop), NE_EINVAL, NE_EADDRINUSE or NE_ENOMEM. */
int ne_membership_start(const struct ne_membership_opts *o, struct ne_membership **out);

/* Stops the thread and closes the socket without announcing anything (as a
 * crash looks to the others). NULL-safe; sets *pm to NULL. */
void ne_membership_stop(struct ne_membership **pm);

/* Announces a graceful leave (LEFT) to the members. Returns 0. Call
 * ne_membership_stop after. */
int ne_membership_leave(struct ne_membership *m);

/* Announces a stop that is not a departure (STOPPED: the others mark this
 * node down at once and keep its place on the ring). Returns 0. Call
 * ne_membership_stop after. */
int ne_membership_announce_stop(struct ne_membership *m);

/* Removes a member that is down (see ne_swim_remove: addr and inc are
 * used for a member not known here). Returns 0, NE_EINVAL or NE_EBUSY (it
 * is alive or suspect). The change callback runs from inside this call. */
int ne_membership_remove(struct ne_membership *m, const char *id, const char *addr, uint64_t inc);

/* The address peers use to reach this node ("host:port"). Borrowed. */
const char *ne_membership_addr(const struct ne_membership *m);

/* Number of members (self included) in state st. */
size_t ne_membership_count(struct ne_membership *m, enum ne_swim_state st);

/* Copies up to max members into out, self first; returns how many known. */
size_t ne_membership_snapshot(struct ne_membership *m, struct ne_swim_member_info *out, size_t max);

/* Looks a member up by id. Returns 0 or NE_ENOTFOUND. */
int ne_membership_find(struct ne_membership *m, const char *id, struct ne_swim_member_info *out);

/* Test hook (partition simulation): while set, every datagram to or from
 * peer address addr is dropped. Up to 16 addresses. Returns 0 or NE_ELIMIT. */
int ne_membership_set_drop(struct ne_membership *m, const char *addr, bool drop);

/* Datagrams dropped because their tag did not verify with our key. */
uint64_t ne_membership_rejected(const struct ne_membership *m);

#endif
