/*
 * test_fs.c - ne_fs_* helpers: directories, listing, usage, removal and the
 * data directory lock (taken twice: the second taker is a forked child).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ports/platform.h"
#include "t.h"

static char g_dir[256];

static int write_file(const char *dir, const char *name, size_t len)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    char *buf = ne_calloc(1, len ? len : 1);
    if (!buf) return NE_ENOMEM;
    int rc = ne_fs_write_atomic(p, buf, len);
    ne_free(buf);
    return rc;
}

static void test_mkdir_p_and_exists(void)
{
    char p[512];
    snprintf(p, sizeof p, "%s/a/b/c", g_dir);
    T_CHECK(!ne_fs_exists(p));
    T_OK(ne_fs_mkdir_p(p));
    T_CHECK(ne_fs_exists(p));
    T_OK(ne_fs_mkdir_p(p)); /* existing is fine */
    struct stat st;
    T_CHECK(stat(p, &st) == 0 && S_ISDIR(st.st_mode));
    /* A file in the way is an error. */
    T_OK(write_file(g_dir, "plain", 1));
    snprintf(p, sizeof p, "%s/plain/sub", g_dir);
    T_CHECK(ne_fs_mkdir_p(p) != 0);
}

struct listing {
    char names[16][32];
    int is_dir[16];
    int n;
    int stop_at;
};

static int collect(void *ctx, const char *name, bool is_dir)
{
    struct listing *l = ctx;
    if (l->n == 16) return -1;
    snprintf(l->names[l->n], sizeof l->names[0], "%s", name);
    l->is_dir[l->n] = is_dir;
    l->n++;
    return l->n == l->stop_at ? 42 : 0;
}

static void test_list_dir_sorted(void)
{
    char d[512];
    snprintf(d, sizeof d, "%s/list", g_dir);
    T_OK(ne_fs_mkdir_p(d));
    T_OK(write_file(d, "c.seg", 3));
    T_OK(write_file(d, "a.seg", 1));
    T_OK(write_file(d, "b.seg", 2));
    char sub[600];
    snprintf(sub, sizeof sub, "%s/sub", d);
    T_OK(ne_fs_mkdir_p(sub));
    struct listing l = {.stop_at = -1};
    T_OK(ne_fs_list_dir(d, collect, &l));
    T_EQ_INT(l.n, 4);
    T_EQ_STR(l.names[0], "a.seg");
    T_EQ_STR(l.names[1], "b.seg");
    T_EQ_STR(l.names[2], "c.seg");
    T_EQ_STR(l.names[3], "sub");
    T_EQ_INT(l.is_dir[0], 0);
    T_EQ_INT(l.is_dir[3], 1);
    struct listing s = {.stop_at = 2};
    T_EQ_INT(ne_fs_list_dir(d, collect, &s), 42);
    T_EQ_INT(s.n, 2);
    snprintf(sub, sizeof sub, "%s/nope", d);
    T_EQ_INT(ne_fs_list_dir(sub, collect, &s), NE_ENOTFOUND);
}

static void test_usage_size_free(void)
{
    char d[512];
    snprintf(d, sizeof d, "%s/usage/x/y", g_dir);
    T_OK(ne_fs_mkdir_p(d));
    T_OK(write_file(d, "f1", 1000));
    snprintf(d, sizeof d, "%s/usage", g_dir);
    T_OK(write_file(d, "f2", 234));
    uint64_t used = 0;
    T_OK(ne_fs_dir_usage(d, &used));
    T_EQ_U64(used, 1234);
    char f[600];
    snprintf(f, sizeof f, "%s/f2", d);
    uint64_t size = 0;
    T_OK(ne_fs_file_size(f, &size));
    T_EQ_U64(size, 234);
    uint64_t avail = 0;
    T_OK(ne_fs_free_space(d, &avail));
    T_CHECK(avail > 0);
}

static void test_rename_unlink_remove_tree(void)
{
    char a[512], b[512], tree[512];
    snprintf(tree, sizeof tree, "%s/tree", g_dir);
    snprintf(a, sizeof a, "%s/tree/deep/er", g_dir);
    T_OK(ne_fs_mkdir_p(a));
    T_OK(write_file(a, "leaf", 10));
    snprintf(a, sizeof a, "%s/tree/one", g_dir);
    snprintf(b, sizeof b, "%s/tree/two", g_dir);
    T_OK(ne_fs_write_atomic(a, "1", 1));
    T_OK(ne_fs_rename(a, b));
    T_CHECK(!ne_fs_exists(a) && ne_fs_exists(b));
    T_OK(ne_fs_sync_dir(tree));
    T_EQ_INT(ne_fs_rename(a, b), NE_ENOTFOUND);
    T_OK(ne_fs_unlink(b));
    T_EQ_INT(ne_fs_unlink(b), NE_ENOTFOUND);
    T_OK(ne_fs_remove_tree(tree));
    T_CHECK(!ne_fs_exists(tree));
    T_OK(ne_fs_remove_tree(tree)); /* missing is fine */
}

static void test_read_all_empty(void)
{
    T_OK(write_file(g_dir, "empty", 0));
    char p[512];
    snprintf(p, sizeof p, "%s/empty", g_dir);
    char *data = NULL;
    size_t len = 99;
    T_OK(ne_fs_read_all(p, &data, &len));
    T_EQ_U64(len, 0);
    T_CHECK(data && data[0] == '\0');
    ne_free(data);
    snprintf(p, sizeof p, "%s/absent", g_dir);
    T_EQ_INT(ne_fs_read_all(p, &data, &len), NE_ENOTFOUND);
}

/* Runs ne_fs_lock_dir in a child and returns its result code. */
static int lock_in_child(const char *dir)
{
    pid_t pid = fork();
    if (pid == 0) {
        int fd = -1;
        int rc = ne_fs_lock_dir(dir, &fd);
        _exit(rc == 0 ? 0 : rc == NE_ELOCKED ? 10 : 20);
    }
    int status = 0;
    if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) return -1;
    return WEXITSTATUS(status);
}

static void test_lock_dir(void)
{
    char d[512];
    snprintf(d, sizeof d, "%s/data", g_dir);
    T_OK(ne_fs_mkdir_p(d));
    int fd = -1;
    T_OK(ne_fs_lock_dir(d, &fd));
    T_CHECK(fd >= 0);
    T_EQ_INT(lock_in_child(d), 10); /* NE_ELOCKED */
    int again = -1;
    T_EQ_INT(ne_fs_lock_dir(d, &again), NE_ELOCKED); /* a second open in this process too */
    char p[600];
    snprintf(p, sizeof p, "%s/LOCK", d);
    char *data = NULL;
    size_t len = 0;
    T_OK(ne_fs_read_all(p, &data, &len));
    char want[32];
    snprintf(want, sizeof want, "%ld\n", (long)getpid());
    T_EQ_STR(data, want);
    ne_free(data);
    ne_fs_unlock_dir(fd);
    T_EQ_INT(lock_in_child(d), 0); /* released: the child gets it */
}

static void test_backend_parse_and_auto(void)
{
    enum ne_io_backend b = NE_IO_POSIX;
    T_OK(ne_io_backend_parse("auto", &b));
    T_EQ_INT(b, NE_IO_AUTO);
    T_OK(ne_io_backend_parse("io_uring", &b));
    T_EQ_INT(b, NE_IO_URING);
    T_OK(ne_io_backend_parse("posix", &b));
    T_EQ_INT(b, NE_IO_POSIX);
    T_EQ_INT(ne_io_backend_parse("aio", &b), NE_EINVAL);
    T_EQ_INT(ne_io_backend_parse(NULL, &b), NE_EINVAL);
    T_EQ_INT(b, NE_IO_POSIX); /* untouched on failure */
    /* AUTO never fails: io_uring when the kernel allows it, else POSIX. */
    int uring = ne_io_init(NE_IO_URING);
    T_OK(ne_io_init(NE_IO_AUTO));
    T_EQ_INT(ne_io_backend_active(), uring == 0 ? NE_IO_URING : NE_IO_POSIX);
    T_OK(ne_io_init(NE_IO_POSIX));
    T_EQ_INT(ne_io_backend_active(), NE_IO_POSIX);
    T_EQ_STR(ne_io_backend_name(NE_IO_POSIX), "posix");
}

/* Refuses io_uring_setup with ENOSYS for this process (as a seccomp
 * profile or an old kernel would). Returns 0 on success. */
static int refuse_io_uring(void)
{
#if defined(__x86_64__)
    struct sock_filter code[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {.len = sizeof code / sizeof code[0], .filter = code};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return -1;
    return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog);
#else
    return -1;
#endif
}

/* In a child where the kernel refuses io_uring: NE_IO_URING is an error,
 * AUTO falls back to POSIX, and files work. */
static void test_auto_falls_back_when_io_uring_refused(void)
{
    char p[512];
    snprintf(p, sizeof p, "%s/fallback", g_dir);
    pid_t pid = fork();
    T_CHECK(pid >= 0);
    if (pid == 0) {
        if (refuse_io_uring() != 0) _exit(77);
        if (ne_io_init(NE_IO_URING) != NE_EUNSUPPORTED) _exit(1);
        if (ne_io_init(NE_IO_AUTO) != 0 || ne_io_backend_active() != NE_IO_POSIX) _exit(2);
        if (ne_fs_write_atomic(p, "posix", 5) != 0) _exit(3);
        _exit(0);
    }
    int status = 0;
    T_CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status));
    if (WEXITSTATUS(status) == 77) {
        fprintf(stderr, "  (seccomp unavailable: fallback not exercised)\n");
        return;
    }
    T_EQ_INT(WEXITSTATUS(status), 0);
    char *data = NULL;
    size_t len = 0;
    T_OK(ne_fs_read_all(p, &data, &len));
    T_EQ_STR(data, "posix");
    ne_free(data);
}

int main(void)
{
    if (!t_tmpdir(g_dir, sizeof g_dir)) return 1;
    T_RUN(test_backend_parse_and_auto);
    T_RUN(test_auto_falls_back_when_io_uring_refused);
    T_RUN(test_mkdir_p_and_exists);
    T_RUN(test_list_dir_sorted);
    T_RUN(test_usage_size_free);
    T_RUN(test_rename_unlink_remove_tree);
    T_RUN(test_read_all_empty);
    T_RUN(test_lock_dir);
    ne_fs_remove_tree(g_dir);
    return t_done();
}
