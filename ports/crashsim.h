/*
 * crashsim.h - power-loss simulation of the file layer (tests only).
 *
 * Once armed, every file write, truncate, create, rename and unlink made
 * through ports/ (ne_file_*, ne_fs_*) is remembered until it is made durable:
 *   - file data written since the file's last successful fdatasync is
 *     "unsynced" (the pre-image of each overwritten synced sector is kept);
 *   - a create, rename or unlink is "pending" until its directory is
 *     fsync'ed (ne_fs_sync_dir).
 * The bytes really go to the file, so every read sees them; only a crash
 * looks back at what was durable.
 *
 * A crash happens instead of the Nth sync (ne_file_datasync or
 * ne_fs_sync_dir, counted across the process from arming), right after the
 * Nth write (ne_file_pwrite / ne_file_append), or on ne_crashsim_crash_now.
 * It simulates the power cut, then ends the process at once with
 * _exit(NE_CRASHSIM_EXIT) (no atexit handlers, no flushing):
 *   - every file: each unsynced sector (sector_bytes units) is independently
 *     kept, dropped (old bytes back; zeros past the synced size), garbled
 *     (random bytes) or torn (a random prefix of the new bytes, the rest
 *     old). A truncate since the last sync is either undone or kept. The
 *     file ends after its last surviving sector (never before its synced
 *     size);
 *   - every directory: a random prefix (in time order) of its pending
 *     operations survives, the rest is undone newest first (a created file
 *     disappears, a rename goes back and the replaced file returns, an
 *     unlinked file returns).
 * Every choice comes from the seed, so a crash reproduces.
 *
 * Not modelled (treated as durable at once): directory creation
 * (ne_fs_mkdir_p), ne_fs_remove_tree, the data-directory lock file, and
 * fallocate. The state at arming counts as durable.
 *
 * Disarmed, every hooked call pays one relaxed atomic load. Armed, the
 * hooked calls are serialised by one process-wide lock (the crash must see
 * no write half done), so use it in tests only.
 */
#ifndef NE_PORTS_CRASHSIM_H
#define NE_PORTS_CRASHSIM_H

#include <stdbool.h>
#include <stdint.h>

/* Exit status of a process that crashed in the simulation. */
#define NE_CRASHSIM_EXIT 86

/* What survives of pending directory operations at the crash. */
enum ne_crashsim_dir_policy {
    NE_CRASHSIM_DIR_RANDOM = 0, /* a random prefix per directory survives */
    NE_CRASHSIM_DIR_KEEP_ALL,   /* every pending operation survives */
    NE_CRASHSIM_DIR_UNDO_ALL,   /* every pending operation is undone */
};

/* Facts about a crash, handed to on_crash just before the process exits. */
struct ne_crashsim_report {
    const char *cause;  /* "sync", "write" or "now" */
    const char *path;   /* file or directory of the triggering call, or "" */
    uint64_t syncs;     /* syncs seen (including the one crashed instead of) */
    uint64_t writes;    /* writes seen */
    uint64_t kept, dropped, garbled, torn; /* unsynced sectors, by fate */
    uint64_t truncates_undone;
    uint64_t dir_ops_pending, dir_ops_undone;
};

enum ne_crashsim_sync_kind { NE_CRASHSIM_SYNC_FILE = 0, NE_CRASHSIM_SYNC_DIR };

struct ne_crashsim_opts {
    uint64_t seed;           /* drives every choice; 0 is taken as 1 */
    uint64_t crash_at_sync;  /* crash instead of this sync (1-based); 0: never */
    uint64_t crash_at_write; /* crash right after this write (1-based); 0: never */
    uint32_t sector_bytes;   /* unit of the per-sector choice; 0: 512 */
    /* Relative weights of the fate of an unsynced sector. All zero means the
     * defaults keep 40, drop 30, garble 10, torn 20. */
    uint32_t w_keep, w_drop, w_garble, w_torn;
    enum ne_crashsim_dir_policy dir_policy;
    /* Called (outside the simulation's lock, by the calling thread) after
     * each successful sync with the path synced and the value of
     * ne_crashsim_clock() when that sync started: everything written before
     * that clock value, to that file (or that directory's entries), is
     * durable. May be NULL. */
    void (*on_synced)(void *ctx, enum ne_crashsim_sync_kind kind, const char *path,
                      uint64_t started_at);
    /* Called once the simulated disk state is final, just before _exit.
     * Must not use the file layer. May be NULL. */
    void (*on_crash)(void *ctx, const struct ne_crashsim_report *r);
    void *ctx; /* handed to the callbacks */
};

/* Arms the simulation (replacing any earlier arming and forgetting what it
 * tracked). The counters start from zero. Returns 0 or NE_EINVAL. Call
 * before other threads do file I/O, or accept that their calls in flight
 * count as durable. */
int ne_crashsim_arm(const struct ne_crashsim_opts *o);

/* Disarms: everything tracked is forgotten (treated as durable) and no
 * crash will happen. Safe when not armed. */
void ne_crashsim_disarm(void);

/* True while armed. */
bool ne_crashsim_armed(void);

/* A logical clock: the number of hooked operations (writes, truncates,
 * syncs, creates, renames, unlinks) started since arming. Compare with the
 * started_at of on_synced to know what a sync covered. */
uint64_t ne_crashsim_clock(void);

/* Counters since arming. */
struct ne_crashsim_stats {
    uint64_t syncs, writes;
    uint64_t files_tracked;   /* inodes with state kept */
    uint64_t dir_ops_pending; /* creates/renames/unlinks not yet fsync'ed */
};
void ne_crashsim_stats(struct ne_crashsim_stats *out);

/* Simulates the power cut now and exits. Does not return. Requires arming
 * (without it, it just exits with NE_CRASHSIM_EXIT). */
_Noreturn void ne_crashsim_crash_now(void);

#endif
