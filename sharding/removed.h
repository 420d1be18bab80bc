/*
 * removed.h - the members a node places no shard on although they may
 * still be known: decommissioned members, and members that left (a
 * decommissioned node stopped, or a dead member removed by hand or after
 * replication.dead_member_timeout). The agent saves the list in
 * data_dir/cluster/removed whenever it changes and reads it back at start,
 * so that a restarted node keeps those members off its placement ring
 * and tells the others about them again (format in removed.c).
 *
 * Pure functions over caller-owned arrays: no I/O, no state.
 */
#ifndef NE_SHARDING_REMOVED_H
#define NE_SHARDING_REMOVED_H

#include <stddef.h>
#include <stdint.h>

#include "sharding/frame.h"

enum ne_removed_kind {
    NE_REMOVED_LEFT = 1,           /* left the cluster, or was removed */
    NE_REMOVED_DECOMMISSIONED = 2, /* decommissioned (may still be running) */
};

struct ne_removed_entry {
    uint8_t kind;         /* enum ne_removed_kind */
    uint64_t incarnation; /* its membership incarnation when it was taken off */
    char id[64];          /* node id: 1..63 of [A-Za-z0-9._-] */
    char addr[64];        /* its member address, 1..63 printable bytes, no space */
};

/* Appends the file holding entries e[0..n) to out. Returns 0, NE_EINVAL (an
 * entry that would not read back: bad kind, id or addr) or NE_ENOMEM. */
int ne_removed_format(const struct ne_removed_entry *e, size_t n, struct ne_pbuf *out);

/* Parses a file written by ne_removed_format into out (room for max
 * entries); *n is the number read. Returns 0, NE_ECORRUPT (any line that
 * does not parse, a bad checksum, a truncated file), NE_EVERSION (another
 * format version) or NE_ELIMIT (more than max entries). *n is written
 * only on success (out may hold some entries after a failure). */
int ne_removed_parse(const uint8_t *p, size_t len, struct ne_removed_entry *out, size_t max,
                     size_t *n);

#endif
