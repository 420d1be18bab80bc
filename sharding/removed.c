/*
 * removed.c - the list of members kept off the placement ring, as a file.
 *
 * data_dir/cluster/removed is text, so that an operator can read it; one
 * entry per line, fields separated by one space:
 *
 *   neoedge cluster removed 1                      header, format version
 *   left 1763715309123 node3 10.0.0.3:7946         kind incarnation id addr
 *   decommissioned 1763715309456 node4 10.0.0.4:7946
 *   crc32c 1a2b3c4d                                CRC32C (8 lowercase hex
 *                                                  digits) of every byte
 *                                                  before this line
 *
 * kind is "left" (left, or removed: by `neoedge cluster remove` or after
 * replication.dead_member_timeout) or "decommissioned"; incarnation is
 * decimal. Every line ends with '\n'. The agent publishes the file with
 * ne_fs_write_atomic (temp, fsync, rename, fsync of the directory); a file
 * that fails any check is ignored whole (the caller logs it).
 */
#include "sharding/removed.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "ports/crc32c.h"
#include "ports/err.h"

#define HEADER   "neoedge cluster removed "
#define VERSION  1
#define CRC_LINE 16 /* "crc32c " + 8 hex digits + '\n' */
#define MAX_LINE 200

static const char *kind_name(uint8_t kind)
{
    return kind == NE_REMOVED_LEFT             ? "left"
           : kind == NE_REMOVED_DECOMMISSIONED ? "decommissioned"
                                               : NULL;
}

static bool id_ok(const char *s, size_t len)
{
    if (len == 0 || len > 63) return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.'))
            return false;
    }
    return true;
}

static bool addr_ok(const char *s, size_t len)
{
    if (len == 0 || len > 63) return false;
    for (size_t i = 0; i < len; i++)
        if (s[i] <= ' ' || s[i] > '~') return false;
    return true;
}

static int append(struct ne_pbuf *b, const char *s, size_t n)
{
    if (ne_pbuf_reserve(b, b->len + n) != 0) return NE_ENOMEM;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    return 0;
}

int ne_removed_format(const struct ne_removed_entry *e, size_t n, struct ne_pbuf *out)
{
    for (size_t i = 0; i < n; i++)
        if (!kind_name(e[i].kind) || !id_ok(e[i].id, strnlen(e[i].id, sizeof e[i].id)) ||
            !addr_ok(e[i].addr, strnlen(e[i].addr, sizeof e[i].addr)))
            return NE_EINVAL;
    size_t start = out->len;
    char line[MAX_LINE];
    int w = snprintf(line, sizeof line, "%s%d\n", HEADER, VERSION);
    int rc = append(out, line, (size_t)w);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        w = snprintf(line, sizeof line, "%s %llu %s %s\n", kind_name(e[i].kind),
                     (unsigned long long)e[i].incarnation, e[i].id, e[i].addr);
        rc = append(out, line, (size_t)w);
    }
    if (rc == 0) {
        uint32_t crc = ne_crc32c(0, out->p + start, out->len - start);
        w = snprintf(line, sizeof line, "crc32c %08x\n", (unsigned)crc);
        rc = append(out, line, (size_t)w);
    }
    if (rc != 0) out->len = start;
    return rc;
}

/* ---- parsing ---------------------------------------------------------------- */

static bool hex8(const uint8_t *p, uint32_t *out)
{
    uint32_t v = 0;
    for (int i = 0; i < 8; i++) {
        uint8_t c = p[i];
        uint32_t d;
        if (c >= '0' && c <= '9')
            d = c - '0';
        else if (c >= 'a' && c <= 'f')
            d = (uint32_t)(c - 'a' + 10);
        else
            return false;
        v = v << 4 | d;
    }
    *out = v;
    return true;
}

/* A decimal u64 without sign or leading zeros (but "0"). */
static bool dec_u64(const char *s, size_t len, uint64_t *out)
{
    if (len == 0 || len > 20 || (len > 1 && s[0] == '0')) return false;
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') return false;
        uint64_t d = (uint64_t)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10) return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

/* Splits line (len bytes, no '\n') at single spaces into exactly 4 fields. */
static bool fields4(const char *line, size_t len, const char *f[4], size_t fl[4])
{
    size_t k = 0, start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && line[i] != ' ') continue;
        if (k == 4 || i == start) return false;
        f[k] = line + start;
        fl[k++] = i - start;
        start = i + 1;
    }
    return k == 4;
}

static bool parse_entry(const char *line, size_t len, struct ne_removed_entry *e)
{
    const char *f[4];
    size_t fl[4];
    if (!fields4(line, len, f, fl)) return false;
    if (fl[0] == 4 && memcmp(f[0], "left", 4) == 0)
        e->kind = NE_REMOVED_LEFT;
    else if (fl[0] == 14 && memcmp(f[0], "decommissioned", 14) == 0)
        e->kind = NE_REMOVED_DECOMMISSIONED;
    else
        return false;
    if (!dec_u64(f[1], fl[1], &e->incarnation) || !id_ok(f[2], fl[2]) || !addr_ok(f[3], fl[3]))
        return false;
    memcpy(e->id, f[2], fl[2]);
    e->id[fl[2]] = '\0';
    memcpy(e->addr, f[3], fl[3]);
    e->addr[fl[3]] = '\0';
    return true;
}

/* The version in the header line p[0..len) (no '\n'), or -1. */
static int header_version(const uint8_t *p, size_t len)
{
    size_t hl = strlen(HEADER);
    uint64_t v;
    if (len <= hl || memcmp(p, HEADER, hl) != 0) return -1;
    if (!dec_u64((const char *)p + hl, len - hl, &v) || v > 255) return -1;
    return (int)v;
}

int ne_removed_parse(const uint8_t *p, size_t len, struct ne_removed_entry *out, size_t max,
                     size_t *n)
{
    const uint8_t *nl = len ? memchr(p, '\n', len) : NULL;
    if (!nl) return NE_ECORRUPT;
    int v = header_version(p, (size_t)(nl - p));
    if (v < 0) return NE_ECORRUPT;
    if (v != VERSION) return NE_EVERSION;
    if (len < CRC_LINE + (size_t)(nl - p) + 1) return NE_ECORRUPT;
    size_t body = len - CRC_LINE;
    const uint8_t *t = p + body;
    uint32_t want;
    if (memcmp(t, "crc32c ", 7) != 0 || !hex8(t + 7, &want) || t[15] != '\n') return NE_ECORRUPT;
    if (ne_crc32c(0, p, body) != want) return NE_ECORRUPT;
    size_t k = 0, off = (size_t)(nl - p) + 1;
    while (off < body) {
        const uint8_t *end = memchr(p + off, '\n', body - off);
        if (!end) return NE_ECORRUPT;
        size_t ll = (size_t)(end - (p + off));
        if (k == max) return NE_ELIMIT;
        struct ne_removed_entry e;
        memset(&e, 0, sizeof e);
        if (ll >= MAX_LINE || !parse_entry((const char *)p + off, ll, &e)) return NE_ECORRUPT;
        out[k++] = e;
        off += ll + 1;
    }
    *n = k;
    return 0;
}
