/*
 * test_file.c - the ne_file_* layer, run once per backend (argv[1] is
 * "posix" or "io_uring"): reads and writes, tracked end, sticky failure after
 * a failed datasync, injected ENOSPC and short writes, threads, fork.
 */
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ports/platform.h"
#include "t.h"

static char g_dir[256];
static enum ne_io_backend g_want;

static void path_in(char *buf, size_t n, const char *name)
{
    snprintf(buf, n, "%s/%s", g_dir, name);
}

static void fill(unsigned char *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        p[i] = (unsigned char)(seed >> 16);
    }
}

static uint64_t disk_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (uint64_t)st.st_size : UINT64_MAX;
}

static void test_backend_selected(void)
{
    T_EQ_INT(ne_io_backend_active(), g_want);
    T_EQ_STR(ne_io_backend_name(ne_io_backend_active()),
             g_want == NE_IO_URING ? "io_uring" : "posix");
}

static void test_append_read_reopen(void)
{
    char p[300];
    path_in(p, sizeof p, "append");
    struct ne_file *f = NULL;
    T_OK(ne_file_open(p, NE_F_WRITE | NE_F_CREATE | NE_F_TRUNC, &f));
    T_EQ_STR(ne_file_path(f), p);
    T_OK(ne_file_append(f, "hello ", 6));
    T_OK(ne_file_append(f, "world", 5));
    uint64_t size = 0;
    T_OK(ne_file_size(f, &size));
    T_EQ_U64(size, 11);
    char buf[32] = {0};
    size_t n = 0;
    T_OK(ne_file_pread(f, buf, sizeof buf, 0, &n));
    T_EQ_U64(n, 11);
    T_CHECK(memcmp(buf, "hello world", 11) == 0);
    T_OK(ne_file_pread(f, buf, sizeof buf, 11, &n));
    T_EQ_U64(n, 0);
    T_OK(ne_file_datasync(f));
    T_OK(ne_file_close(&f));
    T_CHECK(f == NULL);

    /* The tracked end of a reopened file is its size. */
    T_OK(ne_file_open(p, NE_F_WRITE, &f));
    T_OK(ne_file_append(f, "!", 1));
    T_OK(ne_file_size(f, &size));
    T_EQ_U64(size, 12);
    T_OK(ne_file_pread(f, buf, sizeof buf, 0, &n));
    T_EQ_U64(n, 12);
    T_CHECK(memcmp(buf, "hello world!", 12) == 0);
    T_OK(ne_file_close(&f));
    T_EQ_U64(disk_size(p), 12);
}

static void test_pwrite_hole_and_large(void)
{
    char p[300];
    path_in(p, sizeof p, "large");
    struct ne_file *f = NULL;
    T_OK(ne_file_open(p, NE_F_WRITE | NE_F_CREATE | NE_F_TRUNC, &f));
    size_t len = 3u << 20;
    unsigned char *src = ne_malloc(len), *dst = ne_malloc(len + 100);
    T_CHECK(src && dst);
    fill(src, len, 7);
    T_OK(ne_file_pwrite(f, src, len, 100));
    size_t n = 0;
    T_OK(ne_file_pread(f, dst, len + 100, 0, &n));
    T_EQ_U64(n, len + 100);
    int zeros = 1;
    for (int i = 0; i < 100; i++)
        zeros &= dst[i] == 0;
    T_CHECK(zeros);
    T_CHECK(memcmp(dst + 100, src, len) == 0);
    ne_free(src);
    ne_free(dst);
    T_OK(ne_file_close(&f));
}

static void test_open_errors(void)
{
    char p[300];
    path_in(p, sizeof p, "missing");
    struct ne_file *f = NULL;
    T_EQ_INT(ne_file_open(p, NE_F_READ, &f), NE_ENOTFOUND);
    T_CHECK(f == NULL);
    path_in(p, sizeof p, "excl");
    T_OK(ne_file_open(p, NE_F_WRITE | NE_F_CREATE | NE_F_EXCL, &f));
    T_OK(ne_file_close(&f));
    T_EQ_INT(ne_file_open(p, NE_F_WRITE | NE_F_CREATE | NE_F_EXCL, &f), NE_EEXISTS);
    T_OK(ne_file_open(p, NE_F_READ, &f));
    T_EQ_INT(ne_file_append(f, "x", 1), NE_EINVAL);
    T_OK(ne_file_close(&f));
    T_OK(ne_file_close(&f)); /* NULL-safe */
}

static void test_datasync_failure_is_sticky(void)
{
    char p[300];
    path_in(p, sizeof p, "sticky");
    struct ne_file *f = NULL;
    ne_fault_reset();
    T_OK(ne_file_open(p, NE_F_WRITE | NE_F_CREATE | NE_F_TRUNC, &f));
    T_OK(ne_file_append(f, "abc", 3));
    T_OK(ne_file_datasync(f));
    ne_fault_arm(NE_FAULT_SYNC, 1, NE_FAULT_EIO, false);
    T_OK(ne_file_append(f, "def", 3));
    T_EQ_INT(ne_file_datasync(f), NE_EFAILED);
    T_EQ_U64(ne_fault_fired(NE_FAULT_SYNC), 1);
    /* The fault was one-shot, yet the handle stays failed. */
    T_EQ_INT(ne_file_datasync(f), NE_EFAILED);
    T_EQ_INT(ne_file_append(f, "ghi", 3), NE_EFAILED);
    T_EQ_INT(ne_file_pwrite(f, "ghi", 3, 0), NE_EFAILED);
    T_EQ_INT(ne_file_truncate(f, 0), NE_EFAILED);
    T_EQ_U64(ne_fault_fired(NE_FAULT_SYNC), 1);
    T_OK(ne_file_close(&f));
    /* A reopened handle works again. */
    T_OK(ne_file_open(p, NE_F_WRITE, &f));
    T_OK(ne_file_append(f, "ghi", 3));
    T_OK(ne_file_datasync(f));
    T_OK(ne_file_close(&f));
    T_EQ_U64(disk_size(p), 9);
}

static void test_enospc_sticky_then_disarm(void)
{
    char p[300];
    path_in(p, sizeof p, "enospc");
    struct ne_file *f = NULL;
    ne_fault_reset();
    T_OK(ne_file_open(p, NE_F_WRITE | NE_F_CREATE | NE_F_TRUNC, &f));
    ne_fault_arm(NE_FAULT_WRITE, 2, NE_FAULT_ENOSPC, true);
    T_OK(ne_file_append(f, "one,", 4));
    T_EQ_INT(ne_file_append(f, "two,", 4), NE_ENOSPC);
    T_EQ_INT(ne_file_append(f, "three,", 6), NE_ENOSPC);
    T_EQ_INT(ne_file_pwrite(f, "x", 1, 0), NE_ENOSPC);
    T_EQ_U64(ne_fault_fired(NE_FAULT_WRITE), 3);
    uint64_t size = 0;
    T_OK(ne_file_size(f, &size));
    T_EQ_U64(size, 4);
    ne_fault_disarm(NE_FAULT_WRITE); /* space returned */
    T_OK(ne_file_append(f, "four", 4));
    T_OK(ne_file_datasync(f)); /* a full disk does not fail the handle */
    char buf[16] = {0};
    size_t n = 0;
    T_OK(ne_file_pread(f, buf, sizeof buf, 0, &n));
    T_EQ_U64(n, 8);
    T_CHECK(memcmp(buf, "one,four", 8) == 0);
    T_EQ_U64(ne_fault_fired(NE_FAULT_WRITE), 3);
    T_OK(ne_file_close(&f));
}

static void test_short_write(void)
{
    char p[300];
    path_in(p, sizeof p, "short");
    struct ne_file *f = NULL;
    ne_fault_reset();
    T_OK(ne_file_open(p, NE_F_WRITE | NE_F_CREATE | NE_F_TRUNC, &f));
    unsigned char a[100], b[100];
    fill(a, sizeof a, 1);
    fill(b, sizeof b, 2);
    ne_fault_arm(NE_FAULT_WRITE, 1, NE_FAULT_SHORT, false);
    T_EQ_INT(ne_file_append(f, a, sizeof a), NE_EIO);
    /* Half reached the file, but the tracked end did not move. */
    T_EQ_U64(disk_size(p), 50);
    uint64_t size = 1;
    T_OK(ne_file_size(f, &size));
    T_EQ_U64(size, 0);
    unsigned char got[100];
    size_t n = 0;
    T_OK(ne_file_pread(f, got, sizeof got, 0, &n));
    T_EQ_U64(n, 50);
    T_CHECK(memcmp(got, a, 50) == 0);
    /* The next append overwrites the torn prefix. */
    T_OK(ne_file_append(f, b, sizeof b));
    T_OK(ne_file_pread(f, got, sizeof got, 0, &n));
    T_EQ_U64(n, 100);
    T_CHECK(memcmp(got, b, 100) == 0);
    T_OK(ne_file_close(&f));
}

/* A real kernel error, not an injected one: past RLIMIT_FSIZE the kernel
 * first writes short (the retry loop must continue) and then refuses with
 * EFBIG. */
static void test_real_write_error_past_file_size_limit(void)
{
    char p[300];
    path_in(p, sizeof p, "fsize");
    struct ne_file *f = NULL;
    T_OK(ne_file_open(p, NE_F_WRITE | NE_F_CREATE | NE_F_TRUNC, &f));
    struct rlimit old, tight;
    T_CHECK(getrlimit(RLIMIT_FSIZE, &old) == 0);
    tight = old;
    tight.rlim_cur = 1000;
    void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
    T_CHECK(setrlimit(RLIMIT_FSIZE, &tight) == 0);
    unsigned char buf[2000];
    fill(buf, sizeof buf, 3);
    int big = ne_file_append(f, buf, sizeof buf);
    int small = ne_file_append(f, buf, 600);
    setrlimit(RLIMIT_FSIZE, &old);
    signal(SIGXFSZ, prev);
    T_EQ_INT(big, NE_ETOOBIG);
    T_OK(small);                  /* the tracked end did not move: this fits */
    T_EQ_U64(disk_size(p), 1000); /* the prefix the kernel took */
    uint64_t size = 0;
    T_OK(ne_file_size(f, &size));
    T_EQ_U64(size, 600);
    T_OK(ne_file_close(&f));
}

static void test_truncate_and_allocate(void)
{
    char p[300];
    path_in(p, sizeof p, "alloc");
    struct ne_file *f = NULL;
    T_OK(ne_file_open(p, NE_F_WRITE | NE_F_CREATE | NE_F_TRUNC, &f));
    T_OK(ne_file_append(f, "0123456789", 10));
    int rc = ne_file_allocate(f, 0, 1 << 20);
    T_CHECK(rc == 0 || rc == NE_EUNSUPPORTED);
    struct stat st;
    T_CHECK(stat(p, &st) == 0);
    T_EQ_U64(st.st_size, 10); /* keep size */
    if (rc == 0) T_CHECK((uint64_t)st.st_blocks * 512 >= (1u << 20));
    T_OK(ne_file_truncate(f, 4));
    uint64_t size = 0;
    T_OK(ne_file_size(f, &size));
    T_EQ_U64(size, 4);
    T_EQ_U64(disk_size(p), 4);
    T_OK(ne_file_append(f, "x", 1));
    char buf[8];
    size_t n = 0;
    T_OK(ne_file_pread(f, buf, sizeof buf, 0, &n));
    T_EQ_U64(n, 5);
    T_CHECK(memcmp(buf, "0123x", 5) == 0);
    T_OK(ne_file_close(&f));
}

#define NTHREADS 4
#define BLOCKS   64
#define BLOCK    4096

struct worker {
    struct ne_file *f;
    unsigned idx;
    int rc;
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    unsigned char blk[BLOCK];
    for (unsigned i = 0; i < BLOCKS && w->rc == 0; i++) {
        unsigned slot = i * NTHREADS + w->idx;
        fill(blk, sizeof blk, slot);
        w->rc = ne_file_pwrite(w->f, blk, sizeof blk, (uint64_t)slot * BLOCK);
    }
    if (w->rc == 0) w->rc = ne_file_datasync(w->f);
    return NULL;
}

static void test_threads_write_disjoint_blocks(void)
{
    char p[300];
    path_in(p, sizeof p, "threads");
    struct ne_file *f = NULL;
    T_OK(ne_file_open(p, NE_F_WRITE | NE_F_CREATE | NE_F_TRUNC, &f));
    pthread_t th[NTHREADS];
    struct worker w[NTHREADS];
    for (unsigned i = 0; i < NTHREADS; i++) {
        w[i] = (struct worker){f, i, 0};
        T_CHECK(pthread_create(&th[i], NULL, worker_main, &w[i]) == 0);
    }
    for (unsigned i = 0; i < NTHREADS; i++)
        pthread_join(th[i], NULL);
    for (unsigned i = 0; i < NTHREADS; i++)
        T_OK(w[i].rc);
    unsigned char want[BLOCK], got[BLOCK];
    for (unsigned slot = 0; slot < NTHREADS * BLOCKS; slot++) {
        size_t n = 0;
        fill(want, sizeof want, slot);
        T_OK(ne_file_pread(f, got, sizeof got, (uint64_t)slot * BLOCK, &n));
        T_EQ_U64(n, BLOCK);
        T_CHECK(memcmp(got, want, BLOCK) == 0);
    }
    T_OK(ne_file_close(&f));
}

static void *write_in_thread(void *arg)
{
    struct worker *w = arg;
    w->rc = ne_file_append(w->f, "from thread", 11);
    if (w->rc == 0) w->rc = ne_file_datasync(w->f);
    return NULL;
}

/* A thread that cannot get a ring (no descriptor left for io_uring_setup)
 * still does its I/O, through plain system calls. */
static void test_thread_without_ring_falls_back(void)
{
    char p[300];
    path_in(p, sizeof p, "noring");
    struct ne_file *f = NULL;
    T_OK(ne_file_open(p, NE_F_WRITE | NE_F_CREATE | NE_F_TRUNC, &f));
    struct rlimit old;
    T_CHECK(getrlimit(RLIMIT_NOFILE, &old) == 0);
    int lowest_free = dup(0);
    T_CHECK(lowest_free >= 0);
    close(lowest_free);
    struct rlimit tight = old;
    tight.rlim_cur = (rlim_t)lowest_free; /* no new descriptor can be made */
    T_CHECK(setrlimit(RLIMIT_NOFILE, &tight) == 0);
    struct worker w = {f, 0, -1};
    pthread_t th;
    int created = pthread_create(&th, NULL, write_in_thread, &w);
    if (created == 0) pthread_join(th, NULL);
    setrlimit(RLIMIT_NOFILE, &old);
    T_EQ_INT(created, 0);
    T_OK(w.rc);
    char buf[16];
    size_t n = 0;
    T_OK(ne_file_pread(f, buf, sizeof buf, 0, &n));
    T_EQ_U64(n, 11);
    T_CHECK(memcmp(buf, "from thread", 11) == 0);
    T_OK(ne_file_close(&f));
}

/* A forked child does its own I/O (and must not reuse the parent's ring). */
static void test_io_in_forked_child(void)
{
    char p[300];
    path_in(p, sizeof p, "forked");
    struct ne_file *f = NULL;
    T_OK(ne_file_open(p, NE_F_WRITE | NE_F_CREATE | NE_F_TRUNC, &f));
    T_OK(ne_file_append(f, "parent", 6));
    pid_t pid = fork();
    T_CHECK(pid >= 0);
    if (pid == 0) {
        int ok = ne_file_append(f, "+child", 6) == 0 && ne_file_datasync(f) == 0;
        _exit(ok ? 0 : 1);
    }
    int status = 0;
    T_CHECK(waitpid(pid, &status, 0) == pid);
    T_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    char buf[16];
    size_t n = 0;
    T_OK(ne_file_pread(f, buf, sizeof buf, 0, &n));
    T_EQ_U64(n, 12);
    T_CHECK(memcmp(buf, "parent+child", 12) == 0);
    T_OK(ne_file_append(f, "!", 1)); /* the parent's ring still works */
    T_OK(ne_file_datasync(f));
    T_OK(ne_file_close(&f));
}

static void test_write_atomic(void)
{
    char p[300], tmp[310], victim[300];
    path_in(p, sizeof p, "manifest");
    snprintf(tmp, sizeof tmp, "%s.tmp", p);
    path_in(victim, sizeof victim, "victim");
    T_OK(ne_fs_write_atomic(p, "v1", 2));
    T_CHECK(!ne_fs_exists(tmp));
    /* A stale tmp hard-linked to another file is removed, not written through. */
    T_OK(ne_fs_write_atomic(victim, "keep", 4));
    T_CHECK(link(victim, tmp) == 0);
    T_OK(ne_fs_write_atomic(p, "version2", 8));
    T_CHECK(!ne_fs_exists(tmp));
    char *data = NULL;
    size_t len = 0;
    T_OK(ne_fs_read_all(p, &data, &len));
    T_EQ_U64(len, 8);
    T_EQ_STR(data, "version2");
    ne_free(data);
    T_OK(ne_fs_read_all(victim, &data, &len));
    T_EQ_STR(data, "keep");
    ne_free(data);
    /* A failed sync leaves the old content and no tmp behind. */
    ne_fault_reset();
    ne_fault_arm(NE_FAULT_SYNC, 1, NE_FAULT_EIO, false);
    T_EQ_INT(ne_fs_write_atomic(p, "version3", 8), NE_EIO);
    T_CHECK(!ne_fs_exists(tmp));
    T_OK(ne_fs_read_all(p, &data, &len));
    T_EQ_STR(data, "version2");
    ne_free(data);
    /* A failed write too. */
    ne_fault_arm(NE_FAULT_WRITE, 1, NE_FAULT_SHORT, false);
    T_EQ_INT(ne_fs_write_atomic(p, "version4", 8), NE_EIO);
    T_CHECK(!ne_fs_exists(tmp));
    T_OK(ne_fs_read_all(p, &data, &len));
    T_EQ_STR(data, "version2");
    ne_free(data);
    ne_fault_reset();
}

int main(int argc, char **argv)
{
    const char *want = argc > 1 ? argv[1] : "posix";
    if (ne_io_backend_parse(want, &g_want) != 0 || g_want == NE_IO_AUTO) {
        fprintf(stderr, "usage: %s posix|io_uring\n", argv[0]);
        return 2;
    }
    if (ne_io_init(g_want) != 0) {
        /* The kernel refuses io_uring: AUTO must then fall back to POSIX. */
        fprintf(stderr, "io_uring refused here; checking the POSIX fallback\n");
        if (ne_io_init(NE_IO_AUTO) != 0 || ne_io_backend_active() != NE_IO_POSIX) return 1;
        g_want = NE_IO_POSIX;
    }
    if (!t_tmpdir(g_dir, sizeof g_dir)) return 1;
    T_RUN(test_backend_selected);
    T_RUN(test_append_read_reopen);
    T_RUN(test_pwrite_hole_and_large);
    T_RUN(test_open_errors);
    T_RUN(test_datasync_failure_is_sticky);
    T_RUN(test_enospc_sticky_then_disarm);
    T_RUN(test_short_write);
    T_RUN(test_real_write_error_past_file_size_limit);
    T_RUN(test_truncate_and_allocate);
    T_RUN(test_threads_write_disjoint_blocks);
    T_RUN(test_thread_without_ring_falls_back);
    T_RUN(test_io_in_forked_child);
    T_RUN(test_write_atomic);
    ne_fault_reset();
    ne_fs_remove_tree(g_dir);
    return t_done();
}
