/*
 * t.h - the in-tree unit-test harness.
 *
 * A test file defines static void functions and lists them in main:
 *
 *     static void test_roundtrip(void) { T_EQ_INT(decode(encode(5)), 5); }
 *     int main(void) { T_RUN(test_roundtrip); return t_done(); }
 *
 * A failed check prints file:line and the values, marks the current test
 * failed and returns from it. ctest runs each file in its own process with a
 * timeout, so a crash fails only that file. t_done() prints the closing line
 * "N passed, M failed" and returns the exit code.
 */
#ifndef NE_TESTS_T_H
#define NE_TESTS_T_H

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int t_passed, t_failed, t_cur_failed;
static const char *t_cur_name;

#define T_FAIL_(...)                                                                   \
    do {                                                                               \
        fprintf(stderr, "  FAIL %s (%s:%d): ", t_cur_name, __FILE__, __LINE__);        \
        fprintf(stderr, __VA_ARGS__);                                                  \
        fputc('\n', stderr);                                                           \
        t_cur_failed = 1;                                                              \
        return;                                                                        \
    } while (0)

#define T_CHECK(c)                                                                     \
    do {                                                                               \
        if (!(c))                                                                      \
            T_FAIL_("%s", #c);                                                         \
    } while (0)

#define T_EQ_INT(a, b)                                                                 \
    do {                                                                               \
        long long t_a_ = (long long)(a), t_b_ = (long long)(b);                        \
        if (t_a_ != t_b_)                                                              \
            T_FAIL_("%s == %s: %lld != %lld", #a, #b, t_a_, t_b_);                     \
    } while (0)

#define T_EQ_U64(a, b)                                                                 \
    do {                                                                               \
        uint64_t t_a_ = (uint64_t)(a), t_b_ = (uint64_t)(b);                           \
        if (t_a_ != t_b_)                                                              \
            T_FAIL_("%s == %s: %" PRIu64 " != %" PRIu64, #a, #b, t_a_, t_b_);          \
    } while (0)

#define T_EQ_STR(a, b)                                                                 \
    do {                                                                               \
        const char *t_a_ = (a), *t_b_ = (b);                                           \
        if (!t_a_ || !t_b_ || strcmp(t_a_, t_b_) != 0)                                 \
            T_FAIL_("%s == %s: \"%s\" != \"%s\"", #a, #b, t_a_ ? t_a_ : "(null)",       \
                    t_b_ ? t_b_ : "(null)");                                           \
    } while (0)

#define T_EQ_DBL(a, b, eps)                                                            \
    do {                                                                               \
        double t_a_ = (a), t_b_ = (b);                                                 \
        if (!(fabs(t_a_ - t_b_) <= (eps)))                                             \
            T_FAIL_("%s == %s: %.17g != %.17g", #a, #b, t_a_, t_b_);                   \
    } while (0)

/* 0 on success (NE_OK); prints the error code otherwise. */
#define T_OK(expr)                                                                     \
    do {                                                                               \
        int t_rc_ = (expr);                                                            \
        if (t_rc_ != 0)                                                                \
            T_FAIL_("%s returned %d", #expr, t_rc_);                                   \
    } while (0)

#define T_RUN(fn)                                                                      \
    do {                                                                               \
        t_cur_name = #fn;                                                              \
        t_cur_failed = 0;                                                              \
        fn();                                                                          \
        if (t_cur_failed) {                                                            \
            t_failed++;                                                                \
            fprintf(stderr, "not ok %s\n", #fn);                                       \
        } else {                                                                       \
            t_passed++;                                                                \
            fprintf(stderr, "ok %s\n", #fn);                                           \
        }                                                                              \
    } while (0)

static inline int t_done(void)
{
    fprintf(stderr, "%d passed, %d failed\n", t_passed, t_failed);
    return t_failed ? 1 : 0;
}

/* A fresh temporary directory for a test; the caller removes it. */
static inline char *t_tmpdir(char *buf, size_t n)
{
    const char *base = getenv("TMPDIR");
    snprintf(buf, n, "%s/neoedge-test-XXXXXX", base ? base : "/tmp");
    return mkdtemp(buf);
}

#endif
