/*
 * test_fault.c - fault injection: nth-call counting, sticky mode, spec
 * parsing, allocation failure reaching callers (which must return NE_ENOMEM
 * without leaking: LeakSanitizer checks at exit), and counting under threads.
 */
#include <pthread.h>

#include "ports/platform.h"
#include "t.h"

static char g_dir[256];

static void test_nth_allocation_fails_once(void)
{
    ne_fault_reset();
    ne_fault_arm(NE_FAULT_ALLOC, 3, NE_FAULT_NULL, false);
    void *a = ne_malloc(8), *b = ne_calloc(2, 8), *c = ne_malloc(8), *d = ne_malloc(8);
    T_CHECK(a && b && d);
    T_CHECK(c == NULL);
    T_EQ_U64(ne_fault_fired(NE_FAULT_ALLOC), 1);
    ne_free(a);
    ne_free(b);
    ne_free(d);
}

static void test_sticky_until_disarm(void)
{
    ne_fault_reset();
    ne_fault_arm(NE_FAULT_ALLOC, 2, NE_FAULT_NULL, true);
    void *a = ne_malloc(1);
    T_CHECK(a != NULL);
    for (int i = 0; i < 5; i++)
        T_CHECK(ne_malloc(1) == NULL);
    /* ne_realloc leaves the block untouched on failure. */
    T_CHECK(ne_realloc(a, 64) == NULL);
    T_CHECK(ne_strdup("x") == NULL);
    T_EQ_U64(ne_fault_fired(NE_FAULT_ALLOC), 7);
    ne_fault_disarm(NE_FAULT_ALLOC);
    char *s = ne_strdup("back");
    T_EQ_STR(s, "back");
    ne_free(s);
    ne_free(a);
    ne_fault_reset();
    T_EQ_U64(ne_fault_fired(NE_FAULT_ALLOC), 0);
}

static void test_spec_arms_each_op(void)
{
    ne_fault_reset();
    T_OK(ne_fault_arm_spec("alloc:2:null,sync:1:eio"));
    void *a = ne_malloc(4), *b = ne_malloc(4);
    T_CHECK(a != NULL && b == NULL);
    ne_free(a);
    char p[300];
    snprintf(p, sizeof p, "%s/spec", g_dir);
    struct ne_file *f = NULL;
    T_OK(ne_file_open(p, NE_F_WRITE | NE_F_CREATE, &f));
    T_EQ_INT(ne_file_datasync(f), NE_EFAILED);
    T_OK(ne_file_close(&f));
    T_EQ_U64(ne_fault_fired(NE_FAULT_SYNC), 1);

    ne_fault_reset();
    T_OK(ne_fault_arm_spec("write:2:enospc:sticky"));
    T_OK(ne_file_open(p, NE_F_WRITE | NE_F_TRUNC, &f));
    T_OK(ne_file_append(f, "a", 1));
    T_EQ_INT(ne_file_append(f, "b", 1), NE_ENOSPC);
    T_EQ_INT(ne_file_append(f, "c", 1), NE_ENOSPC);
    ne_fault_reset();
    T_OK(ne_file_append(f, "d", 1));
    T_OK(ne_file_close(&f));
}

static void test_spec_rejects_bad_input(void)
{
    static const char *const bad[] = {
        "disk:1:eio",           "write:0:eio", "write:x:eio", "write:1:boom", "write:1:eio:forever",
        "write:1:eio:sticky:x", "write:1",     "write::eio",  "write:-1:eio", ":1:eio",
        "alloc:1:null,sync:1",
    };
    ne_fault_reset();
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (ne_fault_arm_spec(bad[i]) != NE_EINVAL) T_FAIL_("spec \"%s\" was accepted", bad[i]);
    }
    /* Nothing was armed by the rejected specs (not even their valid items). */
    void *p = ne_malloc(1);
    T_CHECK(p != NULL);
    ne_free(p);
    T_EQ_U64(ne_fault_fired(NE_FAULT_ALLOC), 0);
    T_OK(ne_fault_arm_spec(""));
}

/* Each allocation inside ne_file_open / ne_fs_write_atomic / read_all fails
 * in turn: the call must report NE_ENOMEM and leak nothing. */
static void test_allocation_failure_reaches_callers(void)
{
    char p[300];
    snprintf(p, sizeof p, "%s/oom", g_dir);
    T_OK(ne_fs_write_atomic(p, "payload", 7));
    int failures = 0;
    for (uint64_t nth = 1; nth <= 8; nth++) {
        ne_fault_reset();
        ne_fault_arm(NE_FAULT_ALLOC, nth, NE_FAULT_NULL, false);
        int rc = ne_fs_write_atomic(p, "payload", 7);
        if (ne_fault_fired(NE_FAULT_ALLOC) == 0) {
            T_OK(rc); /* past the last allocation */
            break;
        }
        T_EQ_INT(rc, NE_ENOMEM);
        failures++;
    }
    T_CHECK(failures >= 3); /* tmp name, dir name, the handle */
    for (uint64_t nth = 1; nth <= 4; nth++) {
        ne_fault_reset();
        ne_fault_arm(NE_FAULT_ALLOC, nth, NE_FAULT_NULL, false);
        char *data = NULL;
        size_t len = 0;
        int rc = ne_fs_read_all(p, &data, &len);
        if (ne_fault_fired(NE_FAULT_ALLOC) == 0) {
            T_OK(rc);
            T_EQ_STR(data, "payload");
            ne_free(data);
            break;
        }
        T_EQ_INT(rc, NE_ENOMEM);
        T_CHECK(data == NULL);
    }
    ne_fault_reset();
}

#define NT  4
#define PER 2000

static void *alloc_loop(void *arg)
{
    int *nulls = arg;
    for (int i = 0; i < PER; i++) {
        void *p = ne_malloc(16);
        if (!p) (*nulls)++;
        ne_free(p);
    }
    return NULL;
}

static void test_counting_is_atomic_across_threads(void)
{
    ne_fault_reset();
    ne_fault_arm(NE_FAULT_ALLOC, NT * PER / 2, NE_FAULT_NULL, false);
    pthread_t th[NT];
    int nulls[NT] = {0};
    for (int i = 0; i < NT; i++)
        pthread_create(&th[i], NULL, alloc_loop, &nulls[i]);
    for (int i = 0; i < NT; i++)
        pthread_join(th[i], NULL);
    int total = 0;
    for (int i = 0; i < NT; i++)
        total += nulls[i];
    T_EQ_INT(total, 1);
    T_EQ_U64(ne_fault_fired(NE_FAULT_ALLOC), 1);

    ne_fault_reset();
    ne_fault_arm(NE_FAULT_ALLOC, NT * PER / 2 + 1, NE_FAULT_NULL, true);
    memset(nulls, 0, sizeof nulls);
    for (int i = 0; i < NT; i++)
        pthread_create(&th[i], NULL, alloc_loop, &nulls[i]);
    for (int i = 0; i < NT; i++)
        pthread_join(th[i], NULL);
    ne_fault_reset();
    total = 0;
    for (int i = 0; i < NT; i++)
        total += nulls[i];
    T_EQ_INT(total, NT * PER / 2);
}

/* The byte accounting follows allocations, reallocations and frees, and
 * its peak is the high-water mark of the net bytes held. */
static void test_alloc_tracking(void)
{
    void *early = ne_malloc(4096); /* from before the start: counts when freed */
    ne_alloc_track(true);
    T_EQ_U64(ne_alloc_peak(), 0);
    char *a = ne_malloc(100000);
    T_CHECK(a != NULL);
    T_CHECK(ne_alloc_peak() >= 100000);
    a = ne_realloc(a, 300000);
    T_CHECK(a != NULL);
    size_t p1 = ne_alloc_peak();
    T_CHECK(p1 >= 300000 && p1 < 450000);
    ne_free(a);
    void *b = ne_calloc(1000, 100); /* 100 kB: below the earlier peak */
    T_EQ_U64(ne_alloc_peak(), p1);
    ne_free(b);
    ne_free(early); /* net goes below zero: the peak stays */
    T_EQ_U64(ne_alloc_peak(), p1);
    ne_alloc_track(false);
    void *c = ne_malloc(1000000); /* not counted once stopped */
    T_EQ_U64(ne_alloc_peak(), p1);
    ne_free(c);
    ne_alloc_track(true); /* a restart zeroes */
    T_EQ_U64(ne_alloc_peak(), 0);
    ne_alloc_track(false);
}

int main(void)
{
    if (!t_tmpdir(g_dir, sizeof g_dir)) return 1;
    T_RUN(test_nth_allocation_fails_once);
    T_RUN(test_sticky_until_disarm);
    T_RUN(test_spec_arms_each_op);
    T_RUN(test_spec_rejects_bad_input);
    T_RUN(test_allocation_failure_reaches_callers);
    T_RUN(test_counting_is_atomic_across_threads);
    T_RUN(test_alloc_tracking);
    ne_fault_reset();
    ne_fs_remove_tree(g_dir);
    return t_done();
}
