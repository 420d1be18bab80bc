/*
 * fs.c - file-system helpers: atomic publish, directory walks, the data
 * directory lock.
 *
 * Invariants:
 *  - ne_fs_write_atomic never leaves a partially written file at path: the
 *    bytes go to path.tmp (a stale one is removed first, so a hard link left
 *    by an earlier crash is never written through), are fdatasync'd, then
 *    renamed over path, and the directory is fsync'd so the rename survives
 *    a power cut.
 *  - Walks use openat/fdopendir relative to a directory descriptor, never
 *    global state, so they are thread-safe.
 *
 * Format of dir/LOCK: the decimal pid of the holder followed by '\n'. The
 * lock itself is the flock on the open file; the pid is for operators.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "ports/log.h"
#include "ports/platform.h"
#include "ports/ports_internal.h"

/* Logs an OS error about path once and maps errno to an NE_E* code. */
static int fs_fail(const char *what, const char *path, int e)
{
    ne_log(NE_LOG_ERROR, "ports", what, "path", path, "err", strerror(e), NULL);
    return ne_err_from_errno(e);
}

/* unlink(2) and rename(2), through the crash simulation when it is armed;
 * 0 or -1 with errno set, like the calls themselves. */
static int do_unlink(const char *path)
{
    if (!ports__cs_on()) return unlink(path);
    ports__cs_lock();
    int rc = ports__cs_unlink(path);
    ports__cs_unlock();
    if (rc == 0) return 0;
    errno = -rc;
    return -1;
}

static int do_rename(const char *from, const char *to)
{
    if (!ports__cs_on()) return rename(from, to);
    ports__cs_lock();
    int rc = ports__cs_rename(from, to);
    ports__cs_unlock();
    if (rc == 0) return 0;
    errno = -rc;
    return -1;
}

int ne_fs_rename(const char *from, const char *to)
{
    if (do_rename(from, to) != 0) {
        int e = errno;
        if (e == ENOENT) return NE_ENOTFOUND;
        return fs_fail("rename failed", from, e);
    }
    return 0;
}

int ne_fs_sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return fs_fail("open directory failed", dir, errno);
    int rc;
    bool cs = ports__cs_on();
    uint64_t stamp = 0;
    if (cs) {
        ports__cs_lock();
        stamp = ports__cs_sync_begin(dir); /* the chosen sync crashes instead */
    }
    int kind = ports__fault_check(NE_FAULT_SYNC);
    if (kind >= 0)
        rc = kind == NE_FAULT_ENOSPC ? -ENOSPC : -EIO;
    else
        rc = ports__file_backend()->fsync(fd);
    if (cs) {
        if (rc == 0) ports__cs_dir_synced(dir);
        ports__cs_unlock();
        if (rc == 0) ports__cs_notify(NE_CRASHSIM_SYNC_DIR, dir, stamp);
    }
    close(fd);
    if (rc) return fs_fail("directory fsync failed", dir, -rc);
    return 0;
}

/* Copies the directory part of path into buf ("." when there is none). */
static void dir_of(const char *path, char *buf, size_t n)
{
    const char *slash = strrchr(path, '/');
    if (!slash) {
        snprintf(buf, n, ".");
        return;
    }
    size_t len = (size_t)(slash - path);
    if (len == 0) len = 1; /* "/file" lives in "/" */
    if (len >= n) len = n - 1;
    memcpy(buf, path, len);
    buf[len] = '\0';
}

int ne_fs_write_atomic(const char *path, const void *buf, size_t len)
{
    size_t plen = strlen(path);
    char *tmp = ne_malloc(plen + 5);
    char *dir = ne_malloc(plen + 2);
    struct ne_file *f = NULL;
    int rc = NE_ENOMEM;
    if (!tmp || !dir) goto out;
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp", 5);
    dir_of(path, dir, plen + 2);

    if (do_unlink(tmp) != 0 && errno != ENOENT) {
        rc = fs_fail("cannot remove stale temp file", tmp, errno);
        goto out;
    }
    rc = ne_file_open(tmp, NE_F_WRITE | NE_F_CREATE | NE_F_EXCL, &f);
    if (rc) goto out;
    rc = ne_file_pwrite(f, buf, len, 0);
    if (rc == 0) rc = ne_file_datasync(f);
    if (rc == NE_EFAILED) rc = NE_EIO; /* the failed handle is ours and gone: a retry may work */
    int crc = ne_file_close(&f);
    if (rc == 0) rc = crc;
    if (rc) goto out_unlink;
    rc = ne_fs_rename(tmp, path);
    if (rc) goto out_unlink;
    rc = ne_fs_sync_dir(dir);
    goto out;
out_unlink:
    do_unlink(tmp);
out:
    ne_free(tmp);
    ne_free(dir);
    return rc;
}

int ne_fs_read_all(const char *path, char **out, size_t *len)
{
    struct ne_file *f = NULL;
    int rc = ne_file_open(path, NE_F_READ, &f);
    if (rc) return rc;
    uint64_t size = 0;
    rc = ne_file_size(f, &size);
    if (rc) goto out;
    size_t cap = (size_t)size + 1, n = 0;
    char *buf = ne_malloc(cap + 1);
    if (!buf) {
        rc = NE_ENOMEM;
        goto out;
    }
    /* Read until EOF: the file may grow while we read it. */
    for (;;) {
        size_t got = 0;
        rc = ne_file_pread(f, buf + n, cap - n, n, &got);
        if (rc) {
            ne_free(buf);
            goto out;
        }
        n += got;
        if (n < cap) break;
        char *nb = ne_realloc(buf, cap * 2 + 1);
        if (!nb) {
            ne_free(buf);
            rc = NE_ENOMEM;
            goto out;
        }
        buf = nb;
        cap *= 2;
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
out:
    ne_file_close(&f);
    return rc;
}

int ne_fs_mkdir_p(const char *dir)
{
    if (!dir || !*dir) return NE_EINVAL;
    size_t n = strlen(dir);
    char *p = ne_malloc(n + 1);
    if (!p) return NE_ENOMEM;
    memcpy(p, dir, n + 1);
    int rc = 0;
    for (size_t i = 1; i <= n; i++) {
        if (p[i] != '/' && p[i] != '\0') continue;
        char c = p[i];
        p[i] = '\0';
        if (mkdir(p, 0755) != 0 && errno != EEXIST) {
            rc = fs_fail("mkdir failed", p, errno);
            break;
        }
        p[i] = c;
    }
    if (rc == 0) {
        struct stat st;
        if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
            rc = fs_fail("not a directory", dir, ENOTDIR);
    }
    ne_free(p);
    return rc;
}

int ne_fs_unlink(const char *path)
{
    if (do_unlink(path) == 0) return 0;
    if (errno == ENOENT) return NE_ENOTFOUND;
    return fs_fail("unlink failed", path, errno);
}

bool ne_fs_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

int ne_fs_file_size(const char *path, uint64_t *out)
{
    struct stat st;
    if (stat(path, &st) != 0) return ne_err_from_errno(errno);
    *out = (uint64_t)st.st_size;
    return 0;
}

int ne_fs_mtime_ns(const char *path, int64_t *out)
{
    struct stat st;
    if (stat(path, &st) != 0) return ne_err_from_errno(errno);
    *out = (int64_t)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
    return 0;
}

int ne_fs_free_space(const char *path, uint64_t *out)
{
    struct statvfs sv;
    if (statvfs(path, &sv) != 0) return fs_fail("statvfs failed", path, errno);
    *out = (uint64_t)sv.f_bavail * (uint64_t)sv.f_frsize;
    return 0;
}

/* ---- recursive walks ------------------------------------------------------ */

static bool entry_is_dir(int dfd, const struct dirent *de)
{
    if (de->d_type != DT_UNKNOWN) return de->d_type == DT_DIR;
    struct stat st;
    return fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
}

static bool is_dot(const char *name)
{
    return name[0] == '.' && (name[1] == '\0' || (name[1] == '.' && name[2] == '\0'));
}

/* Empties the directory open at dfd (consumed), depth first. */
static int remove_children(int dfd)
{
    DIR *d = fdopendir(dfd);
    if (!d) {
        int e = errno;
        close(dfd);
        return -e;
    }
    int rc = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (is_dot(de->d_name)) continue;
        if (entry_is_dir(dirfd(d), de)) {
            int sub = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (sub < 0) {
                rc = -errno;
                break;
            }
            rc = remove_children(sub);
            if (rc == 0 && unlinkat(dirfd(d), de->d_name, AT_REMOVEDIR) != 0) rc = -errno;
        } else if (unlinkat(dirfd(d), de->d_name, 0) != 0 && errno != ENOENT) {
            rc = -errno;
        }
        if (rc) break;
    }
    closedir(d);
    return rc;
}

int ne_fs_remove_tree(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) return 0;
        if (errno == ENOTDIR || errno == ELOOP) {
            int rc = ne_fs_unlink(dir);
            return rc == NE_ENOTFOUND ? 0 : rc;
        }
        return fs_fail("cannot open directory", dir, errno);
    }
    int rc = remove_children(fd);
    if (rc == 0 && rmdir(dir) != 0 && errno != ENOENT) rc = -errno;
    return rc ? fs_fail("remove tree failed", dir, -rc) : 0;
}

/* Adds the sizes of the regular files below dfd (consumed) to *sum. */
static int usage_of(int dfd, uint64_t *sum)
{
    DIR *d = fdopendir(dfd);
    if (!d) {
        int e = errno;
        close(dfd);
        return -e;
    }
    int rc = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (is_dot(de->d_name)) continue;
        struct stat st;
        if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
            if (errno == ENOENT) continue; /* removed while we walk */
            rc = -errno;
            break;
        }
        if (S_ISREG(st.st_mode)) {
            *sum += (uint64_t)st.st_size;
        } else if (S_ISDIR(st.st_mode)) {
            int sub = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (sub < 0) {
                if (errno == ENOENT) continue;
                rc = -errno;
                break;
            }
            rc = usage_of(sub, sum);
            if (rc) break;
        }
    }
    closedir(d);
    return rc;
}

int ne_fs_dir_usage(const char *dir, uint64_t *out)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? NE_ENOTFOUND : fs_fail("cannot open directory", dir, errno);
    uint64_t sum = 0;
    int rc = usage_of(fd, &sum);
    if (rc) return fs_fail("directory walk failed", dir, -rc);
    *out = sum;
    return 0;
}

struct dir_entry {
    char *name;
    bool is_dir;
};

static int cmp_entry(const void *a, const void *b)
{
    return strcmp(((const struct dir_entry *)a)->name, ((const struct dir_entry *)b)->name);
}

static void free_entries(struct dir_entry *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        ne_free(v[i].name);
    ne_free(v);
}

/* Reads every entry of d into *out (sorted by name). */
static int read_entries(DIR *d, struct dir_entry **out, size_t *count)
{
    struct dir_entry *v = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (is_dot(de->d_name)) continue;
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 16;
            struct dir_entry *nv = ne_realloc(v, nc * sizeof *v);
            if (!nv) {
                free_entries(v, n);
                return NE_ENOMEM;
            }
            v = nv;
            cap = nc;
        }
        v[n].name = ne_strdup(de->d_name);
        if (!v[n].name) {
            free_entries(v, n);
            return NE_ENOMEM;
        }
        v[n].is_dir = entry_is_dir(dirfd(d), de);
        n++;
    }
    if (n > 1) qsort(v, n, sizeof *v, cmp_entry);
    *out = v;
    *count = n;
    return 0;
}

int ne_fs_list_dir(const char *dir, ne_dir_fn fn, void *ctx)
{
    DIR *d = opendir(dir);
    if (!d) return errno == ENOENT ? NE_ENOTFOUND : fs_fail("cannot open directory", dir, errno);
    struct dir_entry *v = NULL;
    size_t n = 0;
    int rc = read_entries(d, &v, &n);
    closedir(d);
    if (rc) return rc;
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = fn(ctx, v[i].name, v[i].is_dir);
    free_entries(v, n);
    return rc;
}

/* ---- data directory lock -------------------------------------------------- */

int ne_fs_lock_dir(const char *dir, int *out_fd)
{
    char path[4096];
    int n = snprintf(path, sizeof path, "%s/LOCK", dir);
    if (n < 0 || (size_t)n >= sizeof path) return NE_ETOOBIG;
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return fs_fail("cannot open lock file", path, errno);
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        close(fd);
        if (e == EWOULDBLOCK) {
            ne_log(NE_LOG_ERROR, "ports", "data directory is locked by another process", "path",
                   path, NULL);
            return NE_ELOCKED;
        }
        return fs_fail("flock failed", path, e);
    }
    char pid[32];
    int len = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)len, 0) != len) {
        int e = errno ? errno : EIO;
        close(fd);
        return fs_fail("cannot write pid to lock file", path, e);
    }
    *out_fd = fd;
    return 0;
}

void ne_fs_unlock_dir(int fd)
{
    if (fd < 0) return;
    flock(fd, LOCK_UN);
    close(fd);
}
