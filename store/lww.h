/*
 * lww.h - the last-writer-wins rule between two values of one (series,
 * field, timestamp), in one place: the memtable, the flush, segment
 * merges (compaction), the query's merge of memtable and overlapping
 * segments, and so anti-entropy's digests (computed from what the store
 * returns), all decide with ne_lww_replaces.
 *
 * The rule, for a value arriving after (or read from a newer source than)
 * the one standing:
 *   - the greater version wins (store.h: ne_store_write_versioned);
 *   - both unversioned (version 0: a single node): the later arrival;
 *   - equal nonzero versions (two writers stamped the same version; the
 *     cluster refuses nodes whose tags collide, so this is a last resort,
 *     or one write held the same point twice): the larger value, so that
 *     every replica keeps the same one whatever order the values came in.
 *     Numbers and booleans compare by their 64-bit pattern taken as an
 *     unsigned integer (a float's IEEE 754 bits, an integer's two's
 *     complement); strings byte by byte (unsigned), a prefix before the
 *     longer string. Equal values are the same value: either may stay.
 */
#ifndef NE_STORE_LWW_H
#define NE_STORE_LWW_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

/* A value as the tie rule sees it: u for numbers and booleans (the 64-bit
 * pattern, booleans 0/1), p/n for strings (u then 0). Borrowed views. */
struct ne_lww_val {
    uint64_t u;
    const char *p;
    uint32_t n;
};

/* Order of two values of one type: <0, 0 or >0 like memcmp. */
static inline int ne_lww_val_cmp(struct ne_lww_val a, struct ne_lww_val b)
{
    if (a.u != b.u) return a.u < b.u ? -1 : 1;
    uint32_t n = a.n < b.n ? a.n : b.n;
    int c = n ? memcmp(a.p, b.p, n) : 0;
    if (c) return c;
    return (a.n > b.n) - (a.n < b.n);
}

/* Whether the later value (version ver_new, value vnew) replaces the one
 * standing (ver_old, vold). vnew and vold are only looked at when the
 * versions tie; callers on a hot path may test the versions first. */
static inline bool ne_lww_replaces(uint64_t ver_new, struct ne_lww_val vnew, uint64_t ver_old,
                                   struct ne_lww_val vold)
{
    if (ver_new != ver_old) return ver_new > ver_old;
    if (ver_new == 0) return true;
    return ne_lww_val_cmp(vnew, vold) >= 0;
}

#endif
