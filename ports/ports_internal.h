/*
 * ports_internal.h - contracts shared by the files of ports/ only.
 *
 * The file layer (io.c) owns struct ne_file, the fault hooks and the sticky
 * failure state; a backend (file_posix.c, file_uring.c) only moves bytes on
 * a descriptor. Backends return 0 or a negated errno (-EIO), never NE_E*
 * codes, so io.c can log the OS error once and map it.
 */
#ifndef NE_PORTS_INTERNAL_H
#define NE_PORTS_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ports/platform.h"

/* One file backend. Every call is blocking and thread-safe. */
struct ports__file_ops {
    const char *name;
    /* Probes the backend; 0 when usable, else a negated errno. */
    int (*probe)(void);
    /* Writes all len bytes (retrying short writes); *done gets the bytes
     * written even on failure. */
    int (*pwrite)(int fd, const void *buf, size_t len, uint64_t off, size_t *done);
    /* Reads until len bytes or end of file; *nread gets the count. */
    int (*pread)(int fd, void *buf, size_t len, uint64_t off, size_t *nread);
    int (*datasync)(int fd);
    int (*fsync)(int fd);
    /* fallocate(FALLOC_FL_KEEP_SIZE). */
    int (*allocate)(int fd, uint64_t off, uint64_t len);
};

extern const struct ports__file_ops ports__posix_ops;
extern const struct ports__file_ops ports__uring_ops;

/* The backend selected by ne_io_init (POSIX before it). */
const struct ports__file_ops *ports__file_backend(void);

/* ---- fault injection ---------------------------------------------------- */

/* Bit (1 << op) is set while op is armed; read relaxed on every hooked call
 * so the unarmed cost is one load and a predictable branch. */
extern _Atomic unsigned ports__fault_armed;

/* Counts one call of op and returns the fault kind to inject, or -1. */
int ports__fault_take(enum ne_fault_op op);

static inline int ports__fault_check(enum ne_fault_op op)
{
    if (__builtin_expect(
            atomic_load_explicit(&ports__fault_armed, memory_order_relaxed) & (1u << op), 0) == 0)
        return -1;
    return ports__fault_take(op);
}

/* ---- crc32c ---------------------------------------------------------------- */

/* The two implementations, exposed so tests can compare them. hw is only
 * callable when ports__crc32c_have_hw() is true. */
uint32_t ports__crc32c_sw(uint32_t crc, const void *buf, size_t len);
uint32_t ports__crc32c_hw(uint32_t crc, const void *buf, size_t len);
bool ports__crc32c_have_hw(void);

/* ---- logging --------------------------------------------------------------- */

/* Redirects log lines to fd (tests); -1 restores stderr. */
void ports__log_set_fd(int fd);

/* ---- crash simulation (crashsim.c) ---------------------------------------- */

#include "ports/crashsim.h"

/* True while ne_crashsim_arm is in force; read relaxed on every hooked call. */
extern atomic_bool ports__cs_armed;

static inline bool ports__cs_on(void)
{
    return __builtin_expect(atomic_load_explicit(&ports__cs_armed, memory_order_relaxed), 0);
}

/* The simulation's lock: a hooked call takes it before its bookkeeping and
 * releases it after its real I/O. Every ports__cs_* call below but
 * ports__cs_notify expects it held. Calls returning int give 0 or an NE_E*
 * code unless said otherwise. */
void ports__cs_lock(void);
void ports__cs_unlock(void);
/* Before/after a real open(2) of path with NE_F_* flags (a truncating open
 * saves the old content first; a create is recorded as pending). */
int ports__cs_open_begin(const char *path, int flags, bool *existed);
int ports__cs_open_end(const char *path, int fd, int flags, bool existed);
/* Before a write of [off, off + len) on fd: saves synced pre-images. */
int ports__cs_write_begin(int fd, uint64_t off, size_t len);
/* After a write: counts it; crashes (no return) if it is the chosen one. */
void ports__cs_write_end(const char *path);
/* Before ftruncate(fd, len). */
int ports__cs_truncate_begin(int fd, uint64_t len);
/* Counts a sync of path; crashes (no return) instead of the chosen one.
 * Returns the clock stamp of the sync. */
uint64_t ports__cs_sync_begin(const char *path);
/* After a successful fdatasync of fd / fsync of directory dir. */
void ports__cs_file_synced(int fd);
void ports__cs_dir_synced(const char *dir);
/* Calls the on_synced observer. Without the lock held. */
void ports__cs_notify(enum ne_crashsim_sync_kind kind, const char *path, uint64_t stamp);
/* rename(2) / unlink(2) with bookkeeping; 0 or a negated errno. */
int ports__cs_rename(const char *from, const char *to);
int ports__cs_unlink(const char *path);

#endif
