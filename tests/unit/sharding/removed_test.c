/*
 * removed_test.c - the saved list of members kept off the placement ring
 * (sharding/removed.h): what is written reads back the same; every kind of
 * damage (a flipped byte, a cut, another version, a bad line) is refused
 * whole; entries that would not read back are refused at writing.
 */
#include <stdio.h>
#include <string.h>

#include "ports/err.h"
#include "sharding/removed.h"
#include "t.h"

static struct ne_removed_entry entry(uint8_t kind, uint64_t inc, const char *id, const char *addr)
{
    struct ne_removed_entry e;
    memset(&e, 0, sizeof e);
    e.kind = kind;
    e.incarnation = inc;
    snprintf(e.id, sizeof e.id, "%s", id);
    snprintf(e.addr, sizeof e.addr, "%s", addr);
    return e;
}

static void test_round_trip(void)
{
    struct ne_removed_entry in[3] = {
        entry(NE_REMOVED_LEFT, 1763715309123ull, "node3", "10.0.0.3:7946"),
        entry(NE_REMOVED_DECOMMISSIONED, 0, "gw-b.site_1", "[::1]:7946"),
        entry(NE_REMOVED_LEFT, UINT64_MAX, "x", "h:1"),
    };
    struct ne_pbuf b = {0};
    T_OK(ne_removed_format(in, 3, &b));
    T_CHECK(b.len > 0 &&
            memcmp(b.p, "neoedge cluster removed 1\nleft 1763715309123 node3 ", 51) == 0);
    struct ne_removed_entry out[4];
    size_t n = 99;
    T_OK(ne_removed_parse(b.p, b.len, out, 4, &n));
    T_EQ_U64(n, 3);
    for (size_t i = 0; i < 3; i++) {
        T_EQ_INT(out[i].kind, in[i].kind);
        T_EQ_U64(out[i].incarnation, in[i].incarnation);
        T_EQ_STR(out[i].id, in[i].id);
        T_EQ_STR(out[i].addr, in[i].addr);
    }
    n = 99;
    T_EQ_INT(ne_removed_parse(b.p, b.len, out, 2, &n), NE_ELIMIT);
    T_EQ_U64(n, 99);
    ne_pbuf_free(&b);

    T_OK(ne_removed_format(NULL, 0, &b)); /* nobody removed: header and checksum */
    T_OK(ne_removed_parse(b.p, b.len, out, 4, &n));
    T_EQ_U64(n, 0);
    ne_pbuf_free(&b);
}

static void test_damage_refused(void)
{
    struct ne_removed_entry in[2] = {
        entry(NE_REMOVED_LEFT, 42, "node3", "127.0.0.1:7003"),
        entry(NE_REMOVED_DECOMMISSIONED, 7, "node4", "127.0.0.1:7004"),
    };
    struct ne_pbuf b = {0};
    T_OK(ne_removed_format(in, 2, &b));
    struct ne_removed_entry out[4];
    size_t n = 0;
    for (size_t cut = 0; cut < b.len; cut++)
        T_CHECK(ne_removed_parse(b.p, cut, out, 4, &n) != 0);
    for (size_t i = 0; i < b.len; i++) {
        b.p[i] ^= 0x01;
        int rc = ne_removed_parse(b.p, b.len, out, 4, &n);
        T_CHECK(rc == NE_ECORRUPT || rc == NE_EVERSION);
        b.p[i] ^= 0x01;
    }
    ne_pbuf_free(&b);

    /* a well-formed file of another version is a version error, not corruption */
    const char *v2 = "neoedge cluster removed 2\ncrc32c 00000000\n";
    T_EQ_INT(ne_removed_parse((const uint8_t *)v2, strlen(v2), out, 4, &n), NE_EVERSION);
    T_EQ_INT(ne_removed_parse((const uint8_t *)"", 0, out, 4, &n), NE_ECORRUPT);
    const char *junk = "node3\nnode4\n"; /* another file put in its place */
    T_EQ_INT(ne_removed_parse((const uint8_t *)junk, strlen(junk), out, 4, &n), NE_ECORRUPT);
}

static void test_bad_entries_not_written(void)
{
    struct ne_pbuf b = {0};
    struct ne_removed_entry e = entry(NE_REMOVED_LEFT, 1, "bad id", "h:1");
    T_EQ_INT(ne_removed_format(&e, 1, &b), NE_EINVAL);
    e = entry(NE_REMOVED_LEFT, 1, "ok", "h 1");
    T_EQ_INT(ne_removed_format(&e, 1, &b), NE_EINVAL);
    e = entry(9, 1, "ok", "h:1");
    T_EQ_INT(ne_removed_format(&e, 1, &b), NE_EINVAL);
    e = entry(NE_REMOVED_LEFT, 1, "", "h:1");
    T_EQ_INT(ne_removed_format(&e, 1, &b), NE_EINVAL);
    T_EQ_U64(b.len, 0);
    ne_pbuf_free(&b);
}

int main(void)
{
    T_RUN(test_round_trip);
    T_RUN(test_damage_refused);
    T_RUN(test_bad_entries_not_written);
    return t_done();
}
