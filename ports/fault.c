/*
 * fault.c - fault injection for tests: make the Nth write, sync or
 * allocation fail.
 *
 * Invariants:
 *  - Each op has its own call counter, fault kind, target call (nth) and
 *    sticky flag, all atomics; ne_fault_arm zeroes the counter, so nth
 *    counts from the arming.
 *  - ports__fault_armed has bit (1 << op) set while op is armed. Hooked
 *    calls read it relaxed first (ports__fault_check), so a process that
 *    never arms a fault pays one load per call.
 *  - A non-sticky fault fires once (on call nth) and then disarms itself;
 *    a sticky one fires on every call from nth on until disarmed.
 *
 * Spec syntax (NEOEDGE_FAULTS): comma-separated op:nth:kind[:sticky], with
 * op in write|sync|alloc and kind in eio|enospc|short|null.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ports/log.h"
#include "ports/platform.h"
#include "ports/ports_internal.h"

struct fault_slot {
    _Atomic uint64_t calls;
    _Atomic uint64_t nth;
    _Atomic int kind;
    atomic_bool sticky;
    _Atomic uint64_t fired;
};

_Atomic unsigned ports__fault_armed;
static struct fault_slot g_slots[NE_FAULT__COUNT];

int ports__fault_take(enum ne_fault_op op)
{
    struct fault_slot *s = &g_slots[op];
    uint64_t n = atomic_fetch_add(&s->calls, 1) + 1;
    uint64_t nth = atomic_load(&s->nth);
    bool sticky = atomic_load(&s->sticky);
    if (n < nth || (n > nth && !sticky)) return -1;
    if (!(atomic_load(&ports__fault_armed) & (1u << op))) return -1; /* disarmed meanwhile */
    if (!sticky) atomic_fetch_and(&ports__fault_armed, ~(1u << op));
    atomic_fetch_add(&s->fired, 1);
    return atomic_load(&s->kind);
}

void ne_fault_arm(enum ne_fault_op op, uint64_t nth, enum ne_fault_kind kind, bool sticky)
{
    if ((unsigned)op >= NE_FAULT__COUNT) return;
    struct fault_slot *s = &g_slots[op];
    atomic_fetch_and(&ports__fault_armed, ~(1u << op));
    atomic_store(&s->calls, 0);
    atomic_store(&s->nth, nth ? nth : 1);
    atomic_store(&s->kind, (int)kind);
    atomic_store(&s->sticky, sticky);
    atomic_fetch_or(&ports__fault_armed, 1u << op);
}

void ne_fault_disarm(enum ne_fault_op op)
{
    if ((unsigned)op >= NE_FAULT__COUNT) return;
    atomic_fetch_and(&ports__fault_armed, ~(1u << op));
}

void ne_fault_reset(void)
{
    atomic_store(&ports__fault_armed, 0);
    for (int i = 0; i < NE_FAULT__COUNT; i++) {
        atomic_store(&g_slots[i].calls, 0);
        atomic_store(&g_slots[i].fired, 0);
    }
}

uint64_t ne_fault_fired(enum ne_fault_op op)
{
    if ((unsigned)op >= NE_FAULT__COUNT) return 0;
    return atomic_load(&g_slots[op].fired);
}

/* ---- spec parsing ---------------------------------------------------------- */

struct fault_spec {
    enum ne_fault_op op;
    uint64_t nth;
    enum ne_fault_kind kind;
    bool sticky;
};

static int lookup(const char *tok, size_t len, const char *const *names, int count)
{
    for (int i = 0; i < count; i++)
        if (strlen(names[i]) == len && memcmp(tok, names[i], len) == 0) return i;
    return -1;
}

/* Splits off the next ':'-separated field of [*p, end). */
static bool next_field(const char **p, const char *end, const char **tok, size_t *len)
{
    if (*p > end) return false;
    const char *colon = memchr(*p, ':', (size_t)(end - *p));
    const char *stop = colon ? colon : end;
    *tok = *p;
    *len = (size_t)(stop - *p);
    *p = stop + 1;
    return *len > 0;
}

/* Parses one "op:nth:kind[:sticky]" item of [p, end). */
static int parse_item(const char *p, const char *end, struct fault_spec *out)
{
    static const char *const ops[] = {"write", "sync", "alloc"};
    static const char *const kinds[] = {"eio", "enospc", "short", "null"};
    const char *tok;
    size_t len;
    if (!next_field(&p, end, &tok, &len)) return NE_EINVAL;
    int op = lookup(tok, len, ops, 3);
    if (op < 0 || !next_field(&p, end, &tok, &len) || len > 20) return NE_EINVAL;
    char num[24];
    memcpy(num, tok, len);
    num[len] = '\0';
    char *stop;
    errno = 0;
    unsigned long long nth = strtoull(num, &stop, 10);
    if (errno || *stop || nth == 0 || num[0] == '-') return NE_EINVAL;
    if (!next_field(&p, end, &tok, &len)) return NE_EINVAL;
    int kind = lookup(tok, len, kinds, 4);
    if (kind < 0) return NE_EINVAL;
    bool sticky = false;
    if (p <= end) {
        if (!next_field(&p, end, &tok, &len) ||
            lookup(tok, len, (const char *const[]){"sticky"}, 1))
            return NE_EINVAL;
        sticky = true;
        if (p <= end) return NE_EINVAL; /* trailing fields */
    }
    *out = (struct fault_spec){(enum ne_fault_op)op, nth, (enum ne_fault_kind)kind, sticky};
    return 0;
}

int ne_fault_arm_spec(const char *spec)
{
    if (!spec) return NE_EINVAL;
    struct fault_spec items[16];
    size_t n = 0;
    const char *p = spec;
    while (*p) {
        const char *comma = strchr(p, ',');
        const char *end = comma ? comma : p + strlen(p);
        if (n == sizeof items / sizeof items[0] || parse_item(p, end, &items[n]) != 0) {
            ne_log(NE_LOG_ERROR, "ports", "invalid fault spec", "spec", spec, NULL);
            return NE_EINVAL;
        }
        n++;
        p = comma ? comma + 1 : end;
    }
    for (size_t i = 0; i < n; i++)
        ne_fault_arm(items[i].op, items[i].nth, items[i].kind, items[i].sticky);
    return 0;
}
