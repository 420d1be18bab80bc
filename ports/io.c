/*
 * io.c - the backend-independent file layer: ne_file_* and backend choice.
 *
 * Invariants:
 *  - One backend (a const struct ports__file_ops) is active per process; it
 *    is chosen by ne_io_init before files are opened and only moves bytes.
 *  - This layer owns the handle state: the tracked end for appends, the
 *    sticky failure after a failed datasync (fsyncgate: the kernel may have
 *    dropped the dirty pages, so every later write or sync on the handle
 *    fails with NE_EFAILED until it is reopened), and the fault hooks, so
 *    injected faults behave the same on every backend.
 *  - A handle may be used by several threads for pread/pwrite at explicit
 *    offsets; ne_file_append and ne_file_truncate assume a single writer.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ports/log.h"
#include "ports/platform.h"
#include "ports/ports_internal.h"

struct ne_file {
    int fd;
    int flags;
    atomic_bool failed;
    _Atomic uint64_t end; /* atomic so a sync or stats thread may read it */
    char *path;
};

static const struct ports__file_ops *_Atomic g_backend = &ports__posix_ops;
static _Atomic enum ne_io_backend g_active = NE_IO_POSIX;

const struct ports__file_ops *ports__file_backend(void)
{
    return atomic_load_explicit(&g_backend, memory_order_acquire);
}

static void set_backend(enum ne_io_backend b, const struct ports__file_ops *ops)
{
    atomic_store_explicit(&g_backend, ops, memory_order_release);
    atomic_store(&g_active, b);
}

int ne_io_init(enum ne_io_backend want)
{
    if (want == NE_IO_POSIX) {
        set_backend(NE_IO_POSIX, &ports__posix_ops);
        return 0;
    }
    int rc = ports__uring_ops.probe();
    if (rc == 0) {
        set_backend(NE_IO_URING, &ports__uring_ops);
        return 0;
    }
    if (want == NE_IO_URING) {
        ne_log(NE_LOG_ERROR, "ports", "io_uring refused by the kernel", "err", strerror(-rc), NULL);
        return NE_EUNSUPPORTED;
    }
    ne_log(NE_LOG_INFO, "ports", "io_uring unavailable, using posix file backend", "err",
           strerror(-rc), NULL);
    set_backend(NE_IO_POSIX, &ports__posix_ops);
    return 0;
}

enum ne_io_backend ne_io_backend_active(void)
{
    return atomic_load(&g_active);
}

const char *ne_io_backend_name(enum ne_io_backend b)
{
    switch (b) {
    case NE_IO_AUTO:
        return "auto";
    case NE_IO_URING:
        return "io_uring";
    case NE_IO_POSIX:
        return "posix";
    }
    return "unknown";
}

int ne_io_backend_parse(const char *s, enum ne_io_backend *out)
{
    static const struct {
        const char *name;
        enum ne_io_backend b;
    } names[] = {{"auto", NE_IO_AUTO},
                 {"io_uring", NE_IO_URING},
                 {"uring", NE_IO_URING},
                 {"posix", NE_IO_POSIX}};
    if (!s) return NE_EINVAL;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (strcmp(s, names[i].name) == 0) {
            *out = names[i].b;
            return 0;
        }
    }
    return NE_EINVAL;
}

/* Logs an OS error on f once and maps it to an NE_E* code. */
static int fail_os(const struct ne_file *f, const char *what, int neg_errno)
{
    int e = -neg_errno;
    int rc = ne_err_from_errno(e);
    ne_log(rc == NE_ENOSPC ? NE_LOG_WARN : NE_LOG_ERROR, "ports", what, "path", f->path, "err",
           strerror(e), NULL);
    return rc;
}

static int open_flags(int flags)
{
    int o = O_CLOEXEC;
    o |= (flags & NE_F_WRITE) ? O_RDWR : O_RDONLY;
    if (flags & NE_F_CREATE) o |= O_CREAT;
    if (flags & NE_F_EXCL) o |= O_EXCL;
    if (flags & NE_F_TRUNC) o |= O_TRUNC;
    return o;
}

static int open_plain(const char *path, int flags, struct ne_file **out)
{
    struct ne_file *f = ne_calloc(1, sizeof *f);
    if (!f) return NE_ENOMEM;
    f->path = ne_strdup(path);
    if (!f->path) {
        ne_free(f);
        return NE_ENOMEM;
    }
    f->flags = flags;
    f->fd = open(path, open_flags(flags), 0644);
    if (f->fd < 0) {
        int e = errno;
        int rc = ne_err_from_errno(e);
        if (rc != NE_ENOTFOUND && rc != NE_EEXISTS)
            ne_log(NE_LOG_ERROR, "ports", "open failed", "path", path, "err", strerror(e), NULL);
        ne_free(f->path);
        ne_free(f);
        return rc;
    }
    struct stat st;
    if (fstat(f->fd, &st) != 0) {
        int rc = fail_os(f, "fstat failed", -errno);
        close(f->fd);
        ne_free(f->path);
        ne_free(f);
        return rc;
    }
    atomic_init(&f->end, (uint64_t)st.st_size);
    atomic_init(&f->failed, false);
    *out = f;
    return 0;
}

/* Open under the crash simulation: records creates and truncations. */
static int open_crashsim(const char *path, int flags, struct ne_file **out)
{
    bool existed = false;
    ports__cs_lock();
    int rc = ports__cs_open_begin(path, flags, &existed);
    if (rc == 0) rc = open_plain(path, flags, out);
    if (rc == 0) {
        rc = ports__cs_open_end(path, (*out)->fd, flags, existed);
        if (rc) ne_file_close(out);
    }
    ports__cs_unlock();
    return rc;
}

int ne_file_open(const char *path, int flags, struct ne_file **out)
{
    if (!path || !out || !(flags & (NE_F_READ | NE_F_WRITE))) return NE_EINVAL;
    if (ports__cs_on()) return open_crashsim(path, flags, out);
    return open_plain(path, flags, out);
}

int ne_file_close(struct ne_file **fp)
{
    if (!fp || !*fp) return 0;
    struct ne_file *f = *fp;
    *fp = NULL;
    int rc = 0;
    if (close(f->fd) != 0 && errno != EINTR) rc = fail_os(f, "close failed", -errno);
    ne_free(f->path);
    ne_free(f);
    return rc;
}

/* Checks that f may be written: opened for writing and not failed. */
static int writable(const struct ne_file *f)
{
    if (!(f->flags & NE_F_WRITE)) return NE_EINVAL;
    if (atomic_load_explicit(&f->failed, memory_order_acquire)) return NE_EFAILED;
    return 0;
}

/* Applies an injected write fault: a short write writes half and fails. */
static int injected_write(struct ne_file *f, int kind, const void *buf, size_t len, uint64_t off)
{
    if (kind == NE_FAULT_SHORT) {
        size_t done = 0;
        if (len / 2 > 0) ports__file_backend()->pwrite(f->fd, buf, len / 2, off, &done);
        return fail_os(f, "short write (injected)", -EIO);
    }
    return fail_os(f, "write failed (injected)", kind == NE_FAULT_ENOSPC ? -ENOSPC : -EIO);
}

static int pwrite_plain(struct ne_file *f, const void *buf, size_t len, uint64_t off)
{
    int rc;
    int kind = ports__fault_check(NE_FAULT_WRITE);
    if (kind >= 0) return injected_write(f, kind, buf, len, off);
    size_t done = 0;
    rc = ports__file_backend()->pwrite(f->fd, buf, len, off, &done);
    if (rc) return fail_os(f, "write failed", rc);
    return 0;
}

/* Write under the crash simulation: keeps the synced pre-image, may crash
 * after the write. */
static int pwrite_crashsim(struct ne_file *f, const void *buf, size_t len, uint64_t off)
{
    ports__cs_lock();
    int rc = ports__cs_write_begin(f->fd, off, len);
    if (rc == 0) rc = pwrite_plain(f, buf, len, off);
    ports__cs_write_end(f->path);
    ports__cs_unlock();
    return rc;
}

int ne_file_pwrite(struct ne_file *f, const void *buf, size_t len, uint64_t off)
{
    int rc = writable(f);
    if (rc) return rc;
    if (ports__cs_on()) return pwrite_crashsim(f, buf, len, off);
    return pwrite_plain(f, buf, len, off);
}

int ne_file_append(struct ne_file *f, const void *buf, size_t len)
{
    uint64_t end = atomic_load_explicit(&f->end, memory_order_relaxed);
    int rc = ne_file_pwrite(f, buf, len, end);
    if (rc == 0) atomic_store_explicit(&f->end, end + len, memory_order_relaxed);
    return rc;
}

int ne_file_pread(struct ne_file *f, void *buf, size_t len, uint64_t off, size_t *nread)
{
    size_t n = 0;
    int rc = ports__file_backend()->pread(f->fd, buf, len, off, &n);
    if (rc) return fail_os(f, "read failed", rc);
    *nread = n;
    return 0;
}

static int datasync_plain(struct ne_file *f)
{
    int rc;
    int kind = ports__fault_check(NE_FAULT_SYNC);
    if (kind >= 0)
        rc = kind == NE_FAULT_ENOSPC ? -ENOSPC : -EIO;
    else
        rc = ports__file_backend()->datasync(f->fd);
    if (rc) {
        atomic_store_explicit(&f->failed, true, memory_order_release);
        fail_os(f, "fdatasync failed; handle is now failed", rc);
        return NE_EFAILED;
    }
    return 0;
}

/* fdatasync under the crash simulation: the chosen sync crashes instead. */
static int datasync_crashsim(struct ne_file *f)
{
    ports__cs_lock();
    uint64_t stamp = ports__cs_sync_begin(f->path);
    int rc = datasync_plain(f);
    if (rc == 0) ports__cs_file_synced(f->fd);
    ports__cs_unlock();
    if (rc == 0) ports__cs_notify(NE_CRASHSIM_SYNC_FILE, f->path, stamp);
    return rc;
}

int ne_file_datasync(struct ne_file *f)
{
    int rc = writable(f);
    if (rc == NE_EFAILED) return rc;
    if (ports__cs_on()) return datasync_crashsim(f);
    return datasync_plain(f);
}

int ne_file_allocate(struct ne_file *f, uint64_t off, uint64_t len)
{
    int rc = writable(f);
    if (rc) return rc;
    rc = ports__file_backend()->allocate(f->fd, off, len);
    if (rc == -EOPNOTSUPP || rc == -ENOSYS) return NE_EUNSUPPORTED;
    if (rc) return fail_os(f, "fallocate failed", rc);
    return 0;
}

int ne_file_truncate(struct ne_file *f, uint64_t len)
{
    int rc = writable(f);
    if (rc) return rc;
    if (ports__cs_on()) {
        ports__cs_lock();
        rc = ports__cs_truncate_begin(f->fd, len);
        if (rc == 0 && ftruncate(f->fd, (off_t)len) != 0) rc = -errno;
        ports__cs_unlock();
        if (rc == NE_ENOMEM) return rc;
    } else if (ftruncate(f->fd, (off_t)len) != 0) {
        rc = -errno;
    }
    if (rc) return fail_os(f, "ftruncate failed", rc);
    atomic_store_explicit(&f->end, len, memory_order_relaxed);
    return 0;
}

int ne_file_size(struct ne_file *f, uint64_t *out)
{
    if (f->flags & NE_F_WRITE) {
        *out = atomic_load_explicit(&f->end, memory_order_relaxed);
        return 0;
    }
    struct stat st;
    if (fstat(f->fd, &st) != 0) return fail_os(f, "fstat failed", -errno);
    *out = (uint64_t)st.st_size;
    return 0;
}

const char *ne_file_path(const struct ne_file *f)
{
    return f->path;
}
