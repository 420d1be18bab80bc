/*
 * file_posix.c - the POSIX file backend: pread, pwrite, fdatasync, fallocate.
 *
 * Always available; chosen when configured or when io_uring is refused.
 * Invariants: every call is blocking, retries EINTR and short transfers, and
 * returns 0 or a negated errno (the file layer in io.c maps and logs it).
 */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "ports/ports_internal.h"

static int posix_probe(void)
{
    return 0;
}

static int posix_pwrite(int fd, const void *buf, size_t len, uint64_t off, size_t *done)
{
    const char *p = buf;
    size_t n = 0;
    while (n < len) {
        ssize_t w = pwrite(fd, p + n, len - n, (off_t)(off + n));
        if (w < 0) {
            if (errno == EINTR) continue;
            *done = n;
            return -errno;
        }
        if (w == 0) {
            *done = n;
            return -EIO;
        }
        n += (size_t)w;
    }
    *done = n;
    return 0;
}

static int posix_pread(int fd, void *buf, size_t len, uint64_t off, size_t *nread)
{
    char *p = buf;
    size_t n = 0;
    while (n < len) {
        ssize_t r = pread(fd, p + n, len - n, (off_t)(off + n));
        if (r < 0) {
            if (errno == EINTR) continue;
            return -errno;
        }
        if (r == 0) break;
        n += (size_t)r;
    }
    *nread = n;
    return 0;
}

static int posix_datasync(int fd)
{
    return fdatasync(fd) == 0 ? 0 : -errno;
}

static int posix_fsync(int fd)
{
    return fsync(fd) == 0 ? 0 : -errno;
}

static int posix_allocate(int fd, uint64_t off, uint64_t len)
{
    for (;;) {
        if (fallocate(fd, FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len) == 0) return 0;
        if (errno != EINTR) return -errno;
    }
}

const struct ports__file_ops ports__posix_ops = {
    .name = "posix",
    .probe = posix_probe,
    .pwrite = posix_pwrite,
    .pread = posix_pread,
    .datasync = posix_datasync,
    .fsync = posix_fsync,
    .allocate = posix_allocate,
};
