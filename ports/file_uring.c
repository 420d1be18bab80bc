/*
 * file_uring.c - the io_uring file backend (liburing).
 *
 * Every file operation (write, read, fdatasync via IORING_FSYNC_DATASYNC,
 * fsync, fallocate) is one SQE submitted to a ring, and the caller waits for
 * its CQE, so the calls keep the blocking contract of the POSIX backend.
 *
 * Invariants:
 *  - One small ring per thread (thread-local, created on the thread's first
 *    call, torn down by a pthread key destructor when the thread exits). No
 *    lock is shared between threads, and a ring only ever has one request in
 *    flight, so a CQE always belongs to the request just submitted.
 *  - After fork() the child must not share the parent's rings: an atfork
 *    handler bumps a generation, and a thread whose ring is from an older
 *    generation drops it and makes a new one.
 *  - A thread that cannot get a ring after the probe succeeded (old kernels
 *    charge rings to RLIMIT_MEMLOCK) does that call through the POSIX
 *    backend instead, after one warning: the contract is the same.
 *  - Returns 0 or a negated errno, like every backend.
 *
 * Writes first try pwritev2(RWF_NOWAIT) in the calling thread: it succeeds
 * when the data fits the page cache without blocking, which is what a ring
 * would do inline too. On file systems that cannot do non-blocking buffered
 * writes (it answers EOPNOTSUPP; ext4 on some kernels) the kernel would only
 * hand an io_uring write to an io-wq worker thread and wake the caller when
 * it is done: the same blocking write plus two context switches, measured
 * at 2.5x the CPU of a plain write per WAL append. There the write is done
 * in place with pwrite. Writes that would block (EAGAIN, a partial write)
 * go through the ring.
 */
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <pthread.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "ports/log.h"
#include "ports/ports_internal.h"

#define RING_ENTRIES 8u
/* SQE lengths are 32-bit; larger transfers are split. */
#define MAX_CHUNK (1u << 30)

struct uring_tls {
    struct io_uring ring;
    bool ready;   /* ring is set up for generation gen */
    bool refused; /* the kernel refused a ring in generation gen */
    int refused_err;
    unsigned gen;
};

static _Thread_local struct uring_tls tls;
static pthread_key_t g_key;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static _Atomic unsigned g_fork_gen;

static void tls_destroy(void *p)
{
    struct uring_tls *t = p;
    if (t && t->ready) {
        io_uring_queue_exit(&t->ring);
        t->ready = false;
    }
}

static void after_fork_child(void)
{
    atomic_fetch_add(&g_fork_gen, 1);
}

static void global_init(void)
{
    pthread_key_create(&g_key, tls_destroy);
    pthread_atfork(NULL, NULL, after_fork_child);
}

/* The calling thread's ring, created on first use. NULL with *err set when
 * the kernel refuses. */
static struct io_uring *thread_ring(int *err)
{
    unsigned gen = atomic_load_explicit(&g_fork_gen, memory_order_relaxed);
    if (tls.ready && tls.gen == gen) return &tls.ring;
    if (tls.refused && tls.gen == gen) {
        *err = tls.refused_err; /* do not retry the setup on every call */
        return NULL;
    }
    pthread_once(&g_once, global_init);
    if (tls.ready) tls_destroy(&tls);
    tls.gen = gen;
    int rc = io_uring_queue_init(RING_ENTRIES, &tls.ring, 0);
    if (rc < 0) {
        tls.refused = true;
        tls.refused_err = rc;
        *err = rc;
        return NULL;
    }
    tls.refused = false;
    tls.ready = true;
    pthread_setspecific(g_key, &tls);
    return &tls.ring;
}

/* Submits the one prepared SQE and waits for its result (cqe->res). */
static int submit_wait(struct io_uring *r)
{
    int rc;
    do {
        rc = io_uring_submit(r);
    } while (rc == -EINTR);
    if (rc < 0) return rc;
    struct io_uring_cqe *cqe;
    do {
        rc = io_uring_wait_cqe(r, &cqe);
    } while (rc == -EINTR);
    if (rc < 0) return rc;
    int res = cqe->res;
    io_uring_cqe_seen(r, cqe);
    return res;
}

static void warn_no_ring(int err)
{
    static atomic_bool warned;
    if (!atomic_exchange(&warned, true))
        ne_log(NE_LOG_WARN, "ports", "no io_uring for this thread, using posix calls", "err",
               strerror(-err), NULL);
}

/* Gets an SQE from the thread's ring, or NULL when the thread has no ring:
 * the caller then uses the POSIX backend for this call. */
static struct io_uring_sqe *next_sqe(struct io_uring **out)
{
    int err = 0;
    struct io_uring *r = thread_ring(&err);
    if (!r) {
        warn_no_ring(err);
        return NULL;
    }
    struct io_uring_sqe *sqe = io_uring_get_sqe(r);
    if (!sqe) return NULL; /* cannot happen with one request in flight */
    *out = r;
    return sqe;
}

static int uring_probe(void)
{
    int err = 0;
    struct io_uring *r = thread_ring(&err);
    if (!r) return err;
    struct io_uring_probe *p = io_uring_get_probe_ring(r);
    if (!p) return -ENOSYS;
    static const int needed[] = {IORING_OP_WRITE, IORING_OP_READ, IORING_OP_FSYNC,
                                 IORING_OP_FALLOCATE};
    int rc = 0;
    for (size_t i = 0; i < sizeof needed / sizeof needed[0]; i++)
        if (!io_uring_opcode_supported(p, needed[i])) rc = -ENOSYS;
    io_uring_free_probe(p);
    return rc;
}

static unsigned chunk_len(size_t left)
{
    return left > MAX_CHUNK ? MAX_CHUNK : (unsigned)left;
}

/* Writes what can be written without blocking, in this thread. Returns
 * the bytes written (0 when the write would block), or a negated errno;
 * -EOPNOTSUPP when the file system cannot tell (then a plain pwrite is the
 * cheapest way to do the write). */
static ssize_t write_nowait(int fd, const char *p, size_t len, uint64_t off)
{
    struct iovec v = {(void *)(uintptr_t)p, len > MAX_CHUNK ? MAX_CHUNK : len};
    ssize_t r = pwritev2(fd, &v, 1, (off_t)off, RWF_NOWAIT);
    if (r >= 0)
        return r;
    return errno == EAGAIN ? 0 : -errno;
}

static int uring_pwrite(int fd, const void *buf, size_t len, uint64_t off, size_t *done)
{
    const char *p = buf;
    size_t n = 0;
    while (n < len) {
        ssize_t w = write_nowait(fd, p + n, len - n, off + n);
        if (w == -EOPNOTSUPP || w == -EINVAL) {
            size_t more = 0;
            int rc = ports__posix_ops.pwrite(fd, p + n, len - n, off + n, &more);
            *done = n + more;
            return rc;
        }
        if (w < 0 && w != -EINTR) {
            *done = n;
            return (int)w;
        }
        if (w > 0) {
            n += (size_t)w;
            continue;
        }
        struct io_uring *r;
        struct io_uring_sqe *sqe = next_sqe(&r);
        if (!sqe) {
            size_t more = 0;
            int rc = ports__posix_ops.pwrite(fd, p + n, len - n, off + n, &more);
            *done = n + more;
            return rc;
        }
        io_uring_prep_write(sqe, fd, p + n, chunk_len(len - n), off + n);
        int res = submit_wait(r);
        if (res == -EINTR || res == -EAGAIN) continue;
        if (res <= 0) {
            *done = n;
            return res < 0 ? res : -EIO;
        }
        n += (size_t)res;
    }
    *done = n;
    return 0;
}

static int uring_pread(int fd, void *buf, size_t len, uint64_t off, size_t *nread)
{
    char *p = buf;
    size_t n = 0;
    while (n < len) {
        struct io_uring *r;
        struct io_uring_sqe *sqe = next_sqe(&r);
        if (!sqe) {
            size_t more = 0;
            int rc = ports__posix_ops.pread(fd, p + n, len - n, off + n, &more);
            if (rc == 0) *nread = n + more;
            return rc;
        }
        io_uring_prep_read(sqe, fd, p + n, chunk_len(len - n), off + n);
        int res = submit_wait(r);
        if (res == -EINTR || res == -EAGAIN) continue;
        if (res < 0) return res;
        if (res == 0) break;
        n += (size_t)res;
    }
    *nread = n;
    return 0;
}

static int uring_sync(int fd, unsigned flags)
{
    struct io_uring *r;
    struct io_uring_sqe *sqe = next_sqe(&r);
    if (!sqe) return flags ? ports__posix_ops.datasync(fd) : ports__posix_ops.fsync(fd);
    io_uring_prep_fsync(sqe, fd, flags);
    int res = submit_wait(r);
    return res < 0 ? res : 0;
}

static int uring_datasync(int fd)
{
    return uring_sync(fd, IORING_FSYNC_DATASYNC);
}

static int uring_fsync(int fd)
{
    return uring_sync(fd, 0);
}

static int uring_allocate(int fd, uint64_t off, uint64_t len)
{
    for (;;) {
        struct io_uring *r;
        struct io_uring_sqe *sqe = next_sqe(&r);
        if (!sqe) return ports__posix_ops.allocate(fd, off, len);
        io_uring_prep_fallocate(sqe, fd, FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len);
        int res = submit_wait(r);
        if (res == -EINTR) continue;
        return res < 0 ? res : 0;
    }
}

const struct ports__file_ops ports__uring_ops = {
    .name = "io_uring",
    .probe = uring_probe,
    .pwrite = uring_pwrite,
    .pread = uring_pread,
    .datasync = uring_datasync,
    .fsync = uring_fsync,
    .allocate = uring_allocate,
};
