/*
 * test_time.c - clocks: the monotonic clock never goes back, the wall clock
 * can be injected and restored, sleep waits at least the asked time.
 */
#include <time.h>

#include "ports/platform.h"
#include "t.h"

static int64_t fixed_clock(void *ctx)
{
    int64_t *now = ctx;
    return *now;
}

static int64_t raw_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t realtime_ns(void)
{
    return raw_ns(CLOCK_REALTIME);
}

static void test_monotonic_never_goes_back(void)
{
    int64_t prev = ne_time_mono_ns();
    T_CHECK(prev > 0);
    for (int i = 0; i < 10000; i++) {
        int64_t now = ne_time_mono_ns();
        T_CHECK(now >= prev);
        prev = now;
    }
}

static void test_wall_clock_injection(void)
{
    int64_t before = realtime_ns();
    int64_t real = ne_time_wall_ns();
    int64_t after = realtime_ns();
    T_CHECK(real >= before && real <= after);

    int64_t now = 1767225600123000000; /* 2026-01-01T00:00:00.123Z */
    ne_time_set_wall_clock(fixed_clock, &now);
    T_EQ_INT(ne_time_wall_ns(), now);
    now += 5000;
    T_EQ_INT(ne_time_wall_ns(), 1767225600123005000);
    /* The monotonic clock is never injected. */
    int64_t m0 = raw_ns(CLOCK_MONOTONIC);
    int64_t m = ne_time_mono_ns();
    int64_t m1 = raw_ns(CLOCK_MONOTONIC);
    T_CHECK(m >= m0 && m <= m1);
    ne_time_set_wall_clock(NULL, NULL);
    before = realtime_ns();
    real = ne_time_wall_ns();
    after = realtime_ns();
    T_CHECK(real >= before && real <= after);
}

static void test_sleep_waits_at_least(void)
{
    int64_t t0 = ne_time_mono_ns();
    ne_time_sleep_ns(2000000);
    T_CHECK(ne_time_mono_ns() - t0 >= 2000000);
    ne_time_sleep_ns(-5); /* no-op */
}

int main(void)
{
    T_RUN(test_monotonic_never_goes_back);
    T_RUN(test_wall_clock_injection);
    T_RUN(test_sleep_waits_at_least);
    return t_done();
}
