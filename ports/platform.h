/*
 * platform.h - the whole OS contract of neoedge.
 *
 * ports/ is the only place with OS-specific file and time code. Every other
 * module reaches the disk and the clocks through these calls. Two file
 * backends implement them: io_uring (liburing), chosen by default where the
 * kernel allows it, and POSIX, chosen automatically when io_uring is refused
 * or when configured (`storage.io_backend: posix`).
 *
 * Conventions: 0 on success, a negative NE_E* code (ports/err.h) on failure.
 * Output parameters are last and written only on success. Every call that
 * writes or syncs passes through the fault-injection hook (ne_fault_*), so
 * tests can make the Nth write or fsync fail with EIO or ENOSPC, turn a write
 * short, or make the Nth allocation fail. The same calls also feed the
 * power-loss simulation of ports/crashsim.h (tests only; one relaxed load
 * per call when it is not armed).
 *
 * The io_uring backend keeps one small ring per thread (created on the
 * thread's first file call, released when the thread exits; a forked child
 * makes its own), so threads never contend on a ring lock. Both backends
 * keep the blocking contract below: a call returns when its I/O completed.
 * I/O failures are logged here, once, with the path and the OS error;
 * callers return the code without logging it again.
 */
#ifndef NE_PORTS_PLATFORM_H
#define NE_PORTS_PLATFORM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ports/err.h"

/* ---- I/O backend selection ------------------------------------------- */

enum ne_io_backend {
    NE_IO_AUTO = 0, /* io_uring if the kernel allows it, else POSIX */
    NE_IO_URING,
    NE_IO_POSIX,
};

/* Selects the process-wide file backend. Call once at start-up, before any
 * file is opened. With NE_IO_AUTO a refused io_uring (ENOSYS, EPERM under
 * seccomp, old kernel) silently falls back to POSIX. With NE_IO_URING a
 * refusal is an error. Returns 0 or NE_EUNSUPPORTED. Safe to call again
 * (tests switch backends between cases) when no file is open. */
int ne_io_init(enum ne_io_backend want);

/* The backend in use after ne_io_init (NE_IO_POSIX before it). */
enum ne_io_backend ne_io_backend_active(void);

/* "io_uring" or "posix". Static string. */
const char *ne_io_backend_name(enum ne_io_backend b);

/* Parses "auto", "io_uring", "posix". Returns 0 or NE_EINVAL. */
int ne_io_backend_parse(const char *s, enum ne_io_backend *out);

/* ---- files ------------------------------------------------------------ */

struct ne_file; /* opaque; owned by the caller of ne_file_open */

enum {
    NE_F_READ = 1 << 0,   /* open for reading */
    NE_F_WRITE = 1 << 1,  /* open for writing (implies read) */
    NE_F_CREATE = 1 << 2, /* create if missing (mode 0644) */
    NE_F_EXCL = 1 << 3,   /* with CREATE: fail with NE_EEXISTS if present */
    NE_F_TRUNC = 1 << 4,  /* truncate to zero on open */
};

/* Opens path. On success *out owns the handle: close it with ne_file_close. */
int ne_file_open(const char *path, int flags, struct ne_file **out);

/* Closes *fp and sets it to NULL. NULL-safe. Returns the close error, if any
 * (the handle is released either way). Close does not sync. */
int ne_file_close(struct ne_file **fp);

/* Writes all len bytes at offset off. A short write from the kernel is
 * retried; an injected short write returns NE_EIO after writing a prefix.
 * Does not sync. */
int ne_file_pwrite(struct ne_file *f, const void *buf, size_t len, uint64_t off);

/* Writes all len bytes at the file's tracked end (the size at open plus what
 * was appended) and advances it. On failure the tracked end is unchanged. */
int ne_file_append(struct ne_file *f, const void *buf, size_t len);

/* Reads up to len bytes at off; *nread gets the count (0 at end of file).
 * Short only at end of file: partial reads from the kernel are retried. */
int ne_file_pread(struct ne_file *f, void *buf, size_t len, uint64_t off, size_t *nread);

/* fdatasync. A failure is sticky for this handle: the failing call and every
 * later write or sync on it return NE_EFAILED, because after a failed fsync
 * the kernel may have dropped the dirty pages (fsyncgate): the caller must
 * reopen and replay from what is known durable. */
int ne_file_datasync(struct ne_file *f);

/* Reserves space (fallocate, keep size). NE_EUNSUPPORTED where the
 * filesystem cannot; callers treat that as a hint failing, not an error. */
int ne_file_allocate(struct ne_file *f, uint64_t off, uint64_t len);

/* Truncates to len and sets the tracked end to len. */
int ne_file_truncate(struct ne_file *f, uint64_t len);

/* Current size (the tracked end for writers). */
int ne_file_size(struct ne_file *f, uint64_t *out);

/* The path the file was opened with. Borrowed; valid until close. */
const char *ne_file_path(const struct ne_file *f);

/* ---- file system -------------------------------------------------------- */

/* rename(2). Does not sync the directory: call ne_fs_sync_dir after. */
int ne_fs_rename(const char *from, const char *to);

/* Opens the directory and fsyncs it (makes renames/creates durable). */
int ne_fs_sync_dir(const char *dir);

/* Publishes a whole file atomically: removes a stale path.tmp, writes
 * path.tmp, fdatasyncs it, renames it over path and syncs the directory.
 * On failure path keeps its old content and path.tmp is removed; a failed
 * sync is NE_EIO here (the temporary handle is gone, a retry may work). */
int ne_fs_write_atomic(const char *path, const void *buf, size_t len);

/* Reads a whole file. On success *out is malloc'd (ne_free) with a NUL byte
 * after *len bytes. */
int ne_fs_read_all(const char *path, char **out, size_t *len);

/* Creates dir and its parents (mode 0755). Existing is fine; a non-directory
 * in the way is an error. */
int ne_fs_mkdir_p(const char *dir);

/* unlink(2); a missing file is NE_ENOTFOUND. */
int ne_fs_unlink(const char *path);

/* Removes a directory tree. Missing is fine. */
int ne_fs_remove_tree(const char *dir);

/* Size of a file in bytes. */
int ne_fs_file_size(const char *path, uint64_t *out);

/* Last modification time of a file, nanoseconds since the Unix epoch. */
int ne_fs_mtime_ns(const char *path, int64_t *out);

/* Bytes used by all regular files below dir (recursive; apparent sizes,
 * st_size; symlinks are not followed). NE_ENOTFOUND if dir is missing. */
int ne_fs_dir_usage(const char *dir, uint64_t *out);

/* Free bytes for unprivileged users on the file system holding path. */
int ne_fs_free_space(const char *path, uint64_t *out);

/* Calls fn for each entry name in dir (not "." or ".."), in sorted order.
 * fn returns 0 to go on, non-zero to stop (that value is returned). */
typedef int (*ne_dir_fn)(void *ctx, const char *name, bool is_dir);
int ne_fs_list_dir(const char *dir, ne_dir_fn fn, void *ctx);

/* True if the path exists. */
bool ne_fs_exists(const char *path);

/* Takes an exclusive advisory lock on dir/LOCK (flock, non-blocking) and
 * writes the pid into it. NE_ELOCKED if another process holds it. The lock
 * lives until ne_fs_unlock_dir or process exit. *out_fd is the lock handle. */
int ne_fs_lock_dir(const char *dir, int *out_fd);
void ne_fs_unlock_dir(int fd);

/* ---- clocks ------------------------------------------------------------ */

/* Monotonic clock, nanoseconds. Never injected. */
int64_t ne_time_mono_ns(void);

/* Wall clock, nanoseconds since the Unix epoch (UTC). Injectable. */
int64_t ne_time_wall_ns(void);

/* Replaces the wall clock for tests (fn == NULL restores the real one). */
typedef int64_t (*ne_wall_clock_fn)(void *ctx);
void ne_time_set_wall_clock(ne_wall_clock_fn fn, void *ctx);

/* Sleeps for ns nanoseconds (monotonic). */
void ne_time_sleep_ns(int64_t ns);

/* ---- allocation ----------------------------------------------------------- */

/* malloc/calloc/realloc/free/strdup through the fault hook. A NULL return is
 * NE_ENOMEM for the caller. ne_realloc leaves p untouched on failure. */
void *ne_malloc(size_t n);
void *ne_calloc(size_t count, size_t size);
void *ne_realloc(void *p, size_t n);
void ne_free(void *p);
char *ne_strdup(const char *s);
char *ne_strndup(const char *s, size_t n);
/* Reallocates the array whose pointer is at pp (the address of any object
 * pointer, e.g. &s->vals) to n elements of size bytes, through ne_realloc,
 * and stores the new pointer there. Returns true, or false with the array
 * untouched when out of memory. */
bool ne_realloc_array(void *pp, size_t n, size_t size);
/* The capacity an array of cap entries grows to so that it holds need
 * entries: cap (first when 0) doubled until it does; cap when it already
 * does. */
size_t ne_grown_cap(size_t cap, size_t first, size_t need);
/* Gives the pages of freed memory back to the kernel (glibc: malloc_trim,
 * which also returns whole free pages inside the heaps). Called after a
 * large free (a flushed memtable, a finished merge) so resident memory
 * follows what is in use rather than the peak; a no-op elsewhere. */
void ne_alloc_trim(void);

/* Allocation accounting, for tests and benchmarks that bound the memory of
 * an operation: ne_alloc_track(true) zeroes the counters and starts adding
 * the usable size of every block the calls above hand out and subtracting
 * that of every block freed (blocks from before the start count negative
 * when freed); ne_alloc_track(false) stops, keeping the figures.
 * ne_alloc_peak: the highest net byte count seen since the start (0 if it
 * never rose). Process-wide,
 * thread-safe; off, each call pays one relaxed atomic load. */
void ne_alloc_track(bool on);
size_t ne_alloc_peak(void);

/* ---- fault injection (tests only; zero cost when unarmed) ----------------- */

enum ne_fault_op {
    NE_FAULT_WRITE = 0, /* ne_file_pwrite / ne_file_append */
    NE_FAULT_SYNC,      /* ne_file_datasync / ne_fs_sync_dir */
    NE_FAULT_ALLOC,     /* ne_malloc / ne_calloc / ne_realloc / ne_strdup */
    NE_FAULT__COUNT,
};

enum ne_fault_kind {
    NE_FAULT_EIO = 0, /* fail with EIO */
    NE_FAULT_ENOSPC,  /* fail with ENOSPC (writes) */
    NE_FAULT_SHORT,   /* write half the bytes, then fail with EIO (writes) */
    NE_FAULT_NULL,    /* return NULL (allocations) */
};

/* Arms a fault: the nth call (1-based, counted from now) of op fails as
 * kind, once (the fault then disarms itself). With sticky, every call from
 * the nth on fails until disarmed (a full disk). Re-arming an op replaces
 * its previous fault. Thread-safe; the calls are counted atomically across
 * threads. An injected datasync failure makes the handle failed like a real
 * one. Unarmed, a hooked call pays one relaxed atomic load. */
void ne_fault_arm(enum ne_fault_op op, uint64_t nth, enum ne_fault_kind kind, bool sticky);

/* Disarms op (the calls succeed again: space returned). */
void ne_fault_disarm(enum ne_fault_op op);

/* Disarms everything and zeroes the counters. */
void ne_fault_reset(void);

/* How many faults of op were injected since the last reset. */
uint64_t ne_fault_fired(enum ne_fault_op op);

/* Arms faults from a spec string, used by integration tests through the
 * NEOEDGE_FAULTS environment variable: comma-separated "op:nth:kind[:sticky]",
 * op in write|sync|alloc, kind in eio|enospc|short|null,
 * e.g. "sync:5:eio,write:100:enospc:sticky". Returns 0 or NE_EINVAL. */
int ne_fault_arm_spec(const char *spec);

#endif
