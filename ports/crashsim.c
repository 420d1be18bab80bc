/*
 * crashsim.c - power-loss simulation under the file layer (see crashsim.h).
 *
 * Model: the bytes of every write really reach the file at once; what this
 * file keeps is how to go back to the durable state:
 *   - per inode (struct cs_inode, keyed by device and inode number, with a
 *     descriptor of our own so the inode outlives unlinks and renames): the
 *     durable size (the size at the last successful fdatasync, or when first
 *     seen), the smallest size since then (truncates), and the pre-image of
 *     each synced sector overwritten since then (struct cs_unit, sorted by
 *     sector index). Appends past the durable size need no pre-image: their
 *     "old" content is nothing;
 *   - per directory (keyed by device and inode number of the directory):
 *     the creates, renames and unlinks since its last fsync, in time order
 *     (struct cs_dirop, one global list).
 * A crash replays the fates backwards onto the real files (data first, then
 * the directory operations newest first), then _exit()s, so nothing else
 * runs after the "power cut".
 *
 * Invariants:
 *   - every hooked call holds g.mu from its first bookkeeping step to the end
 *     of its real I/O, so a crash never meets a half-done write;
 *   - a pre-image is taken only on the first overwrite of a sector after a
 *     sync, so it always holds durable bytes;
 *   - a tracked inode keeps its descriptor until disarm, so inode numbers
 *     are never reused while tracked.
 * No on-disk format of its own.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ports/crashsim.h"
#include "ports/log.h"
#include "ports/platform.h"
#include "ports/ports_internal.h"

#define DEFAULT_SECTOR 512u

/* Pre-image of one synced sector, clipped to the durable size. */
struct cs_unit {
    uint64_t idx;
    uint32_t len;
    uint8_t *bytes;
};

struct cs_inode {
    dev_t dev;
    ino_t ino;
    int fd;
    bool writable;
    uint64_t durable;  /* size made durable */
    uint64_t min_size; /* smallest size since the last sync */
    struct cs_unit *units;
    size_t nunits, cap;
};

enum dirop_kind { OP_CREATE, OP_RENAME, OP_UNLINK };

struct cs_dirop {
    enum dirop_kind kind;
    dev_t ddev; /* the directory whose fsync makes it durable */
    ino_t dino;
    char *a, *b;          /* create/unlink: a = path; rename: a = from, b = to */
    struct cs_inode *obj; /* the inode created, moved or unlinked */
    struct cs_inode *old; /* rename: the inode replaced at b, or NULL */
    bool undo;            /* decided at the crash */
};

enum fate { F_KEEP, F_DROP, F_GARBLE, F_TORN };

static struct {
    pthread_mutex_t mu;
    struct ne_crashsim_opts o;
    uint64_t rng;
    uint64_t syncs, writes;
    struct cs_inode **inodes;
    size_t ninodes, cap_inodes;
    struct cs_dirop *ops;
    size_t nops, cap_ops;
    struct ne_crashsim_report rep;
} g = {.mu = PTHREAD_MUTEX_INITIALIZER};

atomic_bool ports__cs_armed;
static _Atomic uint64_t g_clock;

/* ---- small helpers -------------------------------------------------------- */

static uint64_t rnd(void)
{
    /* xorshift64*: enough for choosing fates, and reproducible */
    g.rng ^= g.rng >> 12;
    g.rng ^= g.rng << 25;
    g.rng ^= g.rng >> 27;
    return g.rng * 0x2545F4914F6CDD1DULL;
}

static uint64_t rnd_below(uint64_t n)
{
    return n ? rnd() % n : 0;
}

static enum fate pick_fate(void)
{
    const struct ne_crashsim_opts *o = &g.o;
    uint64_t w[4] = {o->w_keep, o->w_drop, o->w_garble, o->w_torn};
    uint64_t sum = w[0] + w[1] + w[2] + w[3];
    uint64_t r = rnd_below(sum);
    for (int i = 0; i < 4; i++) {
        if (r < w[i]) return (enum fate)i;
        r -= w[i];
    }
    return F_KEEP;
}

static uint32_t sector(void)
{
    return g.o.sector_bytes;
}

static void fill_random(uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)rnd();
}

/* pwrite/pread all bytes, retrying EINTR and short transfers (crash path:
 * errors are ignored there, they are reported by the check that follows). */
static int raw_pwrite(int fd, const void *buf, size_t len, uint64_t off)
{
    size_t done = 0;
    return ports__posix_ops.pwrite(fd, buf, len, off, &done);
}

static int raw_pread(int fd, void *buf, size_t len, uint64_t off, size_t *n)
{
    return ports__posix_ops.pread(fd, buf, len, off, n);
}

/* Copies the directory part of path into buf ("." when there is none). */
static void dir_part(const char *path, char *buf, size_t n)
{
    const char *slash = strrchr(path, '/');
    size_t len = slash ? (size_t)(slash - path) : 0;
    if (!slash) {
        snprintf(buf, n, ".");
        return;
    }
    if (len == 0) len = 1;
    if (len >= n) len = n - 1;
    memcpy(buf, path, len);
    buf[len] = '\0';
}

static int dir_key(const char *path, dev_t *dev, ino_t *ino)
{
    char dir[4096];
    struct stat st;
    dir_part(path, dir, sizeof dir);
    if (stat(dir, &st) != 0) return -errno;
    *dev = st.st_dev;
    *ino = st.st_ino;
    return 0;
}

/* ---- inode table ---------------------------------------------------------- */

static struct cs_inode *find_inode(dev_t dev, ino_t ino)
{
    for (size_t i = g.ninodes; i-- > 0;)
        if (g.inodes[i]->ino == ino && g.inodes[i]->dev == dev) return g.inodes[i];
    return NULL;
}

/* Finds or starts tracking the inode open at fd; takes a descriptor of our
 * own (dup), writable if fd is. A new entry counts its current size as
 * durable. NULL on allocation failure. */
static struct cs_inode *track_fd(int fd, bool writable)
{
    struct stat st;
    if (fstat(fd, &st) != 0) return NULL;
    struct cs_inode *n = find_inode(st.st_dev, st.st_ino);
    if (n && (n->writable || !writable)) return n;
    int own = dup(fd);
    if (own < 0) return NULL;
    if (n) { /* upgrade a read-only descriptor */
        close(n->fd);
        n->fd = own;
        n->writable = true;
        return n;
    }
    if (g.ninodes == g.cap_inodes) {
        size_t nc = g.cap_inodes ? g.cap_inodes * 2 : 32;
        struct cs_inode **v = ne_realloc(g.inodes, nc * sizeof *v);
        if (!v) goto fail;
        g.inodes = v;
        g.cap_inodes = nc;
    }
    n = ne_calloc(1, sizeof *n);
    if (!n) goto fail;
    n->dev = st.st_dev;
    n->ino = st.st_ino;
    n->fd = own;
    n->writable = writable;
    n->durable = n->min_size = (uint64_t)st.st_size;
    g.inodes[g.ninodes++] = n;
    return n;
fail:
    close(own);
    return NULL;
}

/* Tracks the inode at path (read-only descriptor unless already tracked).
 * NULL if path does not exist or on allocation failure. */
static struct cs_inode *track_path(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) return NULL;
    struct cs_inode *n = track_fd(fd, false);
    close(fd);
    return n;
}

static void forget_units(struct cs_inode *n)
{
    for (size_t i = 0; i < n->nunits; i++)
        ne_free(n->units[i].bytes);
    n->nunits = 0;
}

/* Index of the first unit with idx >= want. */
static size_t unit_lower(const struct cs_inode *n, uint64_t want)
{
    size_t lo = 0, hi = n->nunits;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (n->units[mid].idx < want)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Saves the pre-image of sector idx unless saved already. */
static int save_unit(struct cs_inode *n, uint64_t idx)
{
    size_t at = unit_lower(n, idx);
    if (at < n->nunits && n->units[at].idx == idx) return 0;
    uint64_t start = idx * sector();
    uint64_t end = start + sector();
    if (end > n->durable) end = n->durable;
    if (start >= end) return 0;
    if (n->nunits == n->cap) {
        size_t nc = n->cap ? n->cap * 2 : 16;
        struct cs_unit *v = ne_realloc(n->units, nc * sizeof *v);
        if (!v) return NE_ENOMEM;
        n->units = v;
        n->cap = nc;
    }
    struct cs_unit u = {idx, (uint32_t)(end - start), ne_malloc(end - start)};
    if (!u.bytes) return NE_ENOMEM;
    size_t got = 0;
    if (raw_pread(n->fd, u.bytes, u.len, start, &got) != 0 || got != u.len) {
        /* the file is shorter than we think: keep what there is */
        memset(u.bytes + got, 0, u.len - got);
    }
    memmove(n->units + at + 1, n->units + at, (n->nunits - at) * sizeof *n->units);
    n->units[at] = u;
    n->nunits++;
    return 0;
}

/* Saves the pre-images of the synced sectors of [off, off + len). */
static int save_range(struct cs_inode *n, uint64_t off, uint64_t len)
{
    uint64_t end = off + len;
    if (end > n->durable) end = n->durable;
    if (off >= end) return 0;
    for (uint64_t i = off / sector(); i * sector() < end; i++) {
        int rc = save_unit(n, i);
        if (rc) return rc;
    }
    return 0;
}

/* ---- directory operations ---------------------------------------------------- */

static int add_op(enum dirop_kind kind, const char *a, const char *b, struct cs_inode *obj,
                  struct cs_inode *old)
{
    struct cs_dirop op = {.kind = kind, .obj = obj, .old = old};
    int rc = dir_key(b ? b : a, &op.ddev, &op.dino);
    if (rc) return ne_err_from_errno(-rc);
    if (g.nops == g.cap_ops) {
        size_t nc = g.cap_ops ? g.cap_ops * 2 : 32;
        struct cs_dirop *v = ne_realloc(g.ops, nc * sizeof *v);
        if (!v) return NE_ENOMEM;
        g.ops = v;
        g.cap_ops = nc;
    }
    op.a = ne_strdup(a);
    op.b = b ? ne_strdup(b) : NULL;
    if (!op.a || (b && !op.b)) {
        ne_free(op.a);
        ne_free(op.b);
        return NE_ENOMEM;
    }
    g.ops[g.nops++] = op;
    return 0;
}

static void free_op(struct cs_dirop *op)
{
    ne_free(op->a);
    ne_free(op->b);
}

/* ---- the crash ------------------------------------------------------------- */

/* Decides and applies the fate of one pre-imaged sector [start, end) below
 * base; cur is the file's current size. */
static void crash_unit(struct cs_inode *n, const struct cs_unit *u, uint64_t base, uint64_t cur)
{
    uint64_t start = u->idx * sector();
    uint64_t end = start + u->len;
    if (end > base) end = base;
    if (start >= end) return;
    size_t len = (size_t)(end - start);
    enum fate f = pick_fate();
    if (end > cur && (f == F_KEEP || f == F_TORN)) f = F_DROP; /* truncated away: restore */
    uint8_t buf[65536];
    switch (f) {
    case F_KEEP:
        g.rep.kept++;
        break;
    case F_DROP:
        raw_pwrite(n->fd, u->bytes, len, start);
        g.rep.dropped++;
        break;
    case F_GARBLE:
        fill_random(buf, len);
        raw_pwrite(n->fd, buf, len, start);
        g.rep.garbled++;
        break;
    case F_TORN: {
        size_t keep = len > 1 ? 1 + (size_t)rnd_below(len - 1) : 0;
        raw_pwrite(n->fd, u->bytes + keep, len - keep, start + keep);
        g.rep.torn++;
        break;
    }
    }
}

/* Applies fates to the unsynced tail [base, cur); returns where the file
 * ends now. */
static uint64_t crash_tail(struct cs_inode *n, uint64_t base, uint64_t cur)
{
    static const uint8_t zeros[65536];
    uint8_t buf[65536];
    uint64_t last = base;
    uint64_t s = base;
    while (s < cur) {
        uint64_t e = (s / sector() + 1) * sector();
        if (e > cur) e = cur;
        size_t len = (size_t)(e - s);
        switch (pick_fate()) {
        case F_KEEP:
            last = e;
            g.rep.kept++;
            break;
        case F_DROP:
            raw_pwrite(n->fd, zeros, len, s);
            g.rep.dropped++;
            break;
        case F_GARBLE:
            fill_random(buf, len);
            raw_pwrite(n->fd, buf, len, s);
            last = e;
            g.rep.garbled++;
            break;
        case F_TORN: {
            size_t keep = len > 1 ? 1 + (size_t)rnd_below(len - 1) : 0;
            raw_pwrite(n->fd, zeros, len - keep, s + keep);
            last = s + keep;
            g.rep.torn++;
            break;
        }
        }
        s = e;
    }
    return last;
}

static void crash_inode(struct cs_inode *n)
{
    if (!n->writable) return; /* never written while armed */
    struct stat st;
    if (fstat(n->fd, &st) != 0) return;
    uint64_t cur = (uint64_t)st.st_size;
    uint64_t base = n->durable;
    if (n->min_size < n->durable) {
        if (rnd_below(2))
            base = n->min_size; /* the truncate reached the disk */
        else
            g.rep.truncates_undone++;
    }
    for (size_t i = 0; i < n->nunits; i++)
        crash_unit(n, &n->units[i], base, cur);
    uint64_t end = crash_tail(n, base, cur);
    if (end < base) end = base;
    if (end != cur || cur < base) (void)ftruncate(n->fd, (off_t)end);
}

/* Recreates path with the content of the inode open at fd. */
static void restore_copy(int fd, const char *path)
{
    int out = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (out < 0) return;
    uint8_t buf[65536];
    uint64_t off = 0;
    for (;;) {
        size_t got = 0;
        if (raw_pread(fd, buf, sizeof buf, off, &got) != 0 || got == 0) break;
        raw_pwrite(out, buf, got, off);
        off += got;
    }
    close(out);
}

static bool path_is(const char *path, const struct cs_inode *n)
{
    struct stat st;
    return n && lstat(path, &st) == 0 && st.st_ino == n->ino && st.st_dev == n->dev;
}

static void undo_op(const struct cs_dirop *op)
{
    switch (op->kind) {
    case OP_CREATE:
        if (path_is(op->a, op->obj)) (void)unlink(op->a);
        break;
    case OP_RENAME:
        if (path_is(op->b, op->obj)) (void)rename(op->b, op->a);
        if (op->old) restore_copy(op->old->fd, op->b);
        break;
    case OP_UNLINK:
        if (op->obj && !ne_fs_exists(op->a)) restore_copy(op->obj->fd, op->a);
        break;
    }
}

/* Chooses, per directory, the prefix of its pending operations that
 * survives, and marks the rest for undoing. */
static void decide_dir_ops(void)
{
    for (size_t i = 0; i < g.nops; i++) {
        struct cs_dirop *op = &g.ops[i];
        bool seen = false;
        for (size_t j = 0; j < i && !seen; j++)
            seen = g.ops[j].ddev == op->ddev && g.ops[j].dino == op->dino;
        if (seen) continue;
        size_t count = 0;
        for (size_t j = i; j < g.nops; j++)
            count += g.ops[j].ddev == op->ddev && g.ops[j].dino == op->dino;
        size_t keep = count;
        if (g.o.dir_policy == NE_CRASHSIM_DIR_RANDOM)
            keep = (size_t)rnd_below(count + 1);
        else if (g.o.dir_policy == NE_CRASHSIM_DIR_UNDO_ALL)
            keep = 0;
        size_t k = 0;
        for (size_t j = i; j < g.nops; j++) {
            if (g.ops[j].ddev != op->ddev || g.ops[j].dino != op->dino) continue;
            g.ops[j].undo = k++ >= keep;
        }
    }
}

_Noreturn static void crash_locked(const char *cause, const char *path)
{
    g.rep.cause = cause;
    g.rep.path = path ? path : "";
    g.rep.syncs = g.syncs;
    g.rep.writes = g.writes;
    g.rep.dir_ops_pending = g.nops;
    for (size_t i = 0; i < g.ninodes; i++)
        crash_inode(g.inodes[i]);
    decide_dir_ops();
    for (size_t i = g.nops; i-- > 0;) {
        if (!g.ops[i].undo) continue;
        undo_op(&g.ops[i]);
        g.rep.dir_ops_undone++;
    }
    if (g.o.on_crash) g.o.on_crash(g.o.ctx, &g.rep);
    _exit(NE_CRASHSIM_EXIT);
}

/* ---- hooks called by io.c and fs.c (ports_internal.h) ------------------------- */

void ports__cs_lock(void)
{
    pthread_mutex_lock(&g.mu);
}

void ports__cs_unlock(void)
{
    pthread_mutex_unlock(&g.mu);
}

static uint64_t tick(void)
{
    return atomic_fetch_add(&g_clock, 1) + 1;
}

int ports__cs_open_begin(const char *path, int flags, bool *existed)
{
    struct stat st;
    *existed = stat(path, &st) == 0;
    if (!*existed || !(flags & NE_F_TRUNC) || !(flags & NE_F_WRITE)) return 0;
    if (flags & NE_F_EXCL) return 0; /* the open fails anyway */
    tick();
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0) return 0; /* the real open reports it */
    struct cs_inode *n = track_fd(fd, true);
    close(fd);
    if (!n) return NE_ENOMEM;
    int rc = save_range(n, 0, n->durable);
    if (!rc) n->min_size = 0;
    return rc;
}

int ports__cs_open_end(const char *path, int fd, int flags, bool existed)
{
    if (!(flags & NE_F_WRITE) && existed) return 0;
    struct cs_inode *n = track_fd(fd, (flags & NE_F_WRITE) != 0);
    if (!n) return NE_ENOMEM;
    if (existed) return 0;
    tick();
    n->durable = n->min_size = 0;
    return add_op(OP_CREATE, path, NULL, n, NULL);
}

int ports__cs_write_begin(int fd, uint64_t off, size_t len)
{
    tick();
    struct cs_inode *n = track_fd(fd, true);
    if (!n) return NE_ENOMEM;
    return save_range(n, off, len);
}

void ports__cs_write_end(const char *path)
{
    g.writes++;
    if (g.o.crash_at_write && g.writes == g.o.crash_at_write) crash_locked("write", path);
}

int ports__cs_truncate_begin(int fd, uint64_t len)
{
    tick();
    struct cs_inode *n = track_fd(fd, true);
    if (!n) return NE_ENOMEM;
    int rc = save_range(n, len, n->durable > len ? n->durable - len : 0);
    if (!rc && len < n->min_size) n->min_size = len;
    return rc;
}

uint64_t ports__cs_sync_begin(const char *path)
{
    uint64_t stamp = tick();
    g.syncs++;
    if (g.o.crash_at_sync && g.syncs == g.o.crash_at_sync) crash_locked("sync", path);
    return stamp;
}

void ports__cs_file_synced(int fd)
{
    struct stat st;
    if (fstat(fd, &st) != 0) return;
    struct cs_inode *n = find_inode(st.st_dev, st.st_ino);
    if (!n) return; /* never written while armed: durable already */
    forget_units(n);
    n->durable = n->min_size = (uint64_t)st.st_size;
}

void ports__cs_dir_synced(const char *dir)
{
    struct stat st;
    if (stat(dir, &st) != 0) return;
    size_t keep = 0;
    for (size_t i = 0; i < g.nops; i++) {
        if (g.ops[i].ddev == st.st_dev && g.ops[i].dino == st.st_ino)
            free_op(&g.ops[i]);
        else
            g.ops[keep++] = g.ops[i];
    }
    g.nops = keep;
}

void ports__cs_notify(enum ne_crashsim_sync_kind kind, const char *path, uint64_t stamp)
{
    void (*fn)(void *, enum ne_crashsim_sync_kind, const char *, uint64_t);
    void *ctx;
    pthread_mutex_lock(&g.mu);
    fn = g.o.on_synced;
    ctx = g.o.ctx;
    pthread_mutex_unlock(&g.mu);
    if (fn) fn(ctx, kind, path, stamp);
}

int ports__cs_rename(const char *from, const char *to)
{
    tick();
    struct cs_inode *obj = track_path(from);
    struct cs_inode *old = ne_fs_exists(to) ? track_path(to) : NULL;
    if (rename(from, to) != 0) return -errno;
    int rc = add_op(OP_RENAME, from, to, obj, old);
    return rc == NE_ENOMEM ? -ENOMEM : 0;
}

int ports__cs_unlink(const char *path)
{
    tick();
    struct cs_inode *obj = track_path(path);
    if (unlink(path) != 0) return -errno;
    int rc = add_op(OP_UNLINK, path, NULL, obj, NULL);
    return rc == NE_ENOMEM ? -ENOMEM : 0;
}

/* ---- public ------------------------------------------------------------------- */

static void forget_all(void)
{
    for (size_t i = 0; i < g.ninodes; i++) {
        forget_units(g.inodes[i]);
        ne_free(g.inodes[i]->units);
        close(g.inodes[i]->fd);
        ne_free(g.inodes[i]);
    }
    ne_free(g.inodes);
    g.inodes = NULL;
    g.ninodes = g.cap_inodes = 0;
    for (size_t i = 0; i < g.nops; i++)
        free_op(&g.ops[i]);
    ne_free(g.ops);
    g.ops = NULL;
    g.nops = g.cap_ops = 0;
}

int ne_crashsim_arm(const struct ne_crashsim_opts *o)
{
    if (!o || (o->sector_bytes && (o->sector_bytes > 65536 || o->sector_bytes < 16)))
        return NE_EINVAL;
    pthread_mutex_lock(&g.mu);
    forget_all();
    g.o = *o;
    if (!g.o.sector_bytes) g.o.sector_bytes = DEFAULT_SECTOR;
    if (!(g.o.w_keep | g.o.w_drop | g.o.w_garble | g.o.w_torn)) {
        g.o.w_keep = 40;
        g.o.w_drop = 30;
        g.o.w_garble = 10;
        g.o.w_torn = 20;
    }
    g.rng = o->seed ? o->seed : 1;
    g.syncs = g.writes = 0;
    memset(&g.rep, 0, sizeof g.rep);
    atomic_store(&g_clock, 0);
    atomic_store(&ports__cs_armed, true);
    pthread_mutex_unlock(&g.mu);
    return 0;
}

void ne_crashsim_disarm(void)
{
    pthread_mutex_lock(&g.mu);
    atomic_store(&ports__cs_armed, false);
    forget_all();
    memset(&g.o, 0, sizeof g.o);
    pthread_mutex_unlock(&g.mu);
}

bool ne_crashsim_armed(void)
{
    return atomic_load(&ports__cs_armed);
}

uint64_t ne_crashsim_clock(void)
{
    return atomic_load(&g_clock);
}

void ne_crashsim_stats(struct ne_crashsim_stats *out)
{
    pthread_mutex_lock(&g.mu);
    out->syncs = g.syncs;
    out->writes = g.writes;
    out->files_tracked = g.ninodes;
    out->dir_ops_pending = g.nops;
    pthread_mutex_unlock(&g.mu);
}

_Noreturn void ne_crashsim_crash_now(void)
{
    pthread_mutex_lock(&g.mu);
    if (!atomic_load(&ports__cs_armed)) _exit(NE_CRASHSIM_EXIT);
    crash_locked("now", NULL);
}
