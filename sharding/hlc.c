/*
 * hlc.c - hybrid logical clock (Kulkarni et al.), lock-free.
 *
 * Invariant: h->last only grows. now() = max(last + 1, pt << 16) where pt is
 * the physical clock in ms; update(r) = max(last + 1, r + 1, pt << 16).
 * Adding one to the packed value carries a full logical counter into the
 * millisecond field, so the clock runs at most slightly ahead of the wall
 * clock under bursts of more than 65,536 events per millisecond rather than
 * ever repeating a value.
 */
#include "sharding/hlc.h"

#include "ports/err.h"
#include "ports/platform.h"

static int64_t wall_ms(void *ctx)
{
    (void)ctx;
    return ne_time_wall_ns() / 1000000;
}

void ne_hlc_init(struct ne_hlc *h, ne_hlc_clock_fn clock, void *ctx, uint64_t max_skew_ms)
{
    atomic_init(&h->last, 0);
    h->clock = clock ? clock : wall_ms;
    h->ctx = clock ? ctx : NULL;
    h->max_skew_ms = max_skew_ms;
}

static uint64_t physical(struct ne_hlc *h)
{
    int64_t ms = h->clock(h->ctx);
    return ms > 0 ? ne_hlc_pack((uint64_t)ms, 0) : 0;
}

static uint64_t advance(struct ne_hlc *h, uint64_t floor)
{
    uint64_t pt = physical(h);
    uint64_t last = atomic_load_explicit(&h->last, memory_order_relaxed);
    for (;;) {
        uint64_t next = last + 1;
        if (floor + 1 > next) next = floor + 1;
        if (pt > next) next = pt;
        if (atomic_compare_exchange_weak_explicit(&h->last, &last, next, memory_order_acq_rel,
                                                  memory_order_relaxed))
            return next;
    }
}

uint64_t ne_hlc_now(struct ne_hlc *h)
{
    return advance(h, 0);
}

int ne_hlc_update(struct ne_hlc *h, uint64_t remote, uint64_t *out)
{
    if (h->max_skew_ms) {
        uint64_t pt_ms = ne_hlc_ms(physical(h));
        if (ne_hlc_ms(remote) > pt_ms + h->max_skew_ms) return NE_ERANGE;
    }
    *out = advance(h, remote);
    return 0;
}
