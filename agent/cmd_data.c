/*
 * cmd_data.c - the CLI commands that work on stored data: `flush`, `import`,
 * `inspect wal|segment`, `verify`.
 *
 * flush talks to a running daemon over its admin HTTP API;
 * flush --data-dir and import open the store themselves, after taking the
 * data dir lock, so they refuse to run beside a daemon on the same dir.
 *
 * import reads its input in blocks and cuts it at line ends into chunks of
 * IMPORT_BATCH lines; each chunk is decoded into one reused batch (no
 * per-point allocation) and written with ne_store_write. A line protocol
 * string value that spans lines may be cut at a chunk boundary; such a
 * record is reported as a bad line like any other.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/cli.h"
#include "agent/daemon.h"
#include "agent/httpc.h"
#include "config/config.h"
#include "ingest/decode/decode.h"
#include "ports/log.h"
#include "ports/platform.h"
#include "sharding/hintq.h"
#include "sharding/tomb.h"
#include "store/segment/segment.h"
#include "store/store.h"

#define IMPORT_BATCH 5000
#define IMPORT_BLOCK (1u << 20)

void agent__store_opts(const struct ne_config *cfg, const char *data_dir, struct ne_store_opts *o);

/* ---- shared helpers ------------------------------------------------------ */

/* Loads the config (or the default) for CLI defaults; prints errors. */
static struct ne_config *cli_config(const char *path)
{
    struct ne_config *cfg = NULL;
    if (ne_daemon_load_config(path, &cfg) != 0) return NULL;
    return cfg;
}

int agent__open_store_locked(const struct ne_config *cfg, const char *dir, int *lock_fd,
                             struct ne_store **out)
{
    if (!ne_fs_exists(dir)) {
        fprintf(stderr, "data dir %s does not exist\n", dir);
        return NE_ENOTFOUND;
    }
    int rc = ne_fs_lock_dir(dir, lock_fd);
    if (rc == NE_ELOCKED) {
        fprintf(stderr, "data dir %s is in use by a running daemon; stop it first%s\n", dir,
                " (or use the daemon's HTTP API)");
        return rc;
    }
    if (rc != 0) {
        fprintf(stderr, "data dir %s cannot be locked: %s\n", dir, ne_strerror(rc));
        return rc;
    }
    rc = ne_io_init(cfg->storage.io_backend);
    if (rc == 0) {
        struct ne_store_opts o;
        agent__store_opts(cfg, dir, &o);
        rc = ne_store_open(&o, out);
    }
    if (rc != 0) {
        fprintf(stderr, "cannot open the store in %s: %s\n", dir, ne_strerror(rc));
        ne_fs_unlock_dir(*lock_fd);
        *lock_fd = -1;
    }
    return rc;
}

/* ---- flush ----------------------------------------------------------------- */

static int flush_local(const struct ne_config *cfg, const char *dir)
{
    int lock_fd = -1;
    struct ne_store *s = NULL;
    if (agent__open_store_locked(cfg, dir, &lock_fd, &s) != 0) return NE_EXIT_FAIL;
    int rc = ne_store_flush(s);
    ne_store_close(&s);
    ne_fs_unlock_dir(lock_fd);
    if (rc != 0) {
        fprintf(stderr, "flush of %s failed: %s\n", dir, ne_strerror(rc));
        return NE_EXIT_FAIL;
    }
    printf("flushed %s\n", dir);
    return NE_EXIT_OK;
}

static int flush_remote(const char *host, const char *token)
{
    if (!host || !*host) {
        fprintf(stderr, "flush: no daemon address: give --host or set http.listen\n");
        return NE_EXIT_FAIL;
    }
    struct agent__http_resp r = {0};
    char err[512] = "";
    int rc = agent__http_request("POST", host, "/api/v1/flush", token, NULL, NULL, 0, 300, &r, err,
                                 sizeof(err));
    if (rc != 0) {
        fprintf(stderr, "flush: %s\n", err[0] ? err : ne_strerror(rc));
        return NE_EXIT_FAIL;
    }
    int code = NE_EXIT_OK;
    if (r.status / 100 == 2) {
        printf("flushed (daemon at %s)\n", host);
    } else {
        fprintf(stderr, "flush: HTTP %ld %s\n", r.status, r.body ? r.body : "");
        code = NE_EXIT_FAIL;
    }
    agent__http_resp_free(&r);
    return code;
}

int agent__cmd_flush(int argc, char **argv)
{
    static const struct option opts[] = {
        AGENT__DAEMON_LONGOPTS{"data-dir", required_argument, NULL, 'd'},
        {NULL, 0, NULL, 0},
    };
    struct agent__daemon_opts d = {0};
    const char *dir = NULL;
    int ch;
    while ((ch = getopt_long(argc, argv, "H:t:c:d:", opts, NULL)) != -1) {
        if (agent__daemon_opt(ch, &d)) continue;
        switch (ch) {
        case 'd':
            dir = optarg;
            break;
        default:
            return agent__usage_error("flush", "invalid option");
        }
    }
    if (optind < argc) return agent__usage_error("flush", "unexpected argument '%s'", argv[optind]);
    if (d.host && dir)
        return agent__usage_error("flush", "--host and --data-dir exclude each other");
    struct ne_config *cfg = cli_config(d.cfg_path);
    if (!cfg) return NE_EXIT_FAIL;
    int code;
    if (dir)
        code = flush_local(cfg, dir);
    else
        code = flush_remote(d.host ? d.host : cfg->http.listen,
                            d.token ? d.token : cfg->http.auth_token);
    ne_config_free(&cfg);
    return code;
}

/* ---- import ---------------------------------------------------------------- */

struct import_state {
    struct ne_store *store;
    const char *db;
    struct ne_decode_opts dopts;
    struct ne_batch batch;
    uint64_t lines, points, rejected, bad;
    bool tty;
    unsigned batches;
};

static void import_progress(const struct import_state *st, bool final)
{
    if (!final && !st->tty && st->batches % 20 != 0) return;
    fprintf(stderr, "%simported %llu points from %llu lines (%llu bad lines, %llu rejected)%s",
            st->tty ? "\r" : "", (unsigned long long)st->points, (unsigned long long)st->lines,
            (unsigned long long)st->bad, (unsigned long long)st->rejected,
            st->tty && !final ? "" : "\n");
}

/* Writes the batch, waiting out backpressure. */
static int import_write(struct import_state *st)
{
    if (st->batch.npts == 0) return 0;
    struct ne_write_result res;
    int64_t pause = 1000000; /* 1 ms, doubling up to 1 s */
    for (;;) {
        memset(&res, 0, sizeof(res));
        int rc = ne_store_write(st->store, st->db, &st->batch, &res);
        if (rc == NE_EBUSY || rc == NE_EFAILED) {
            ne_time_sleep_ns(pause);
            pause = pause < 1000000000 ? pause * 2 : pause;
            continue;
        }
        if (rc != 0) {
            fprintf(stderr, "\nimport: write failed: %s\n", ne_strerror(rc));
            return rc;
        }
        break;
    }
    st->points += res.accepted;
    if (res.rejected && st->rejected == 0)
        fprintf(stderr, "%simport: points rejected: %s\n", st->tty ? "\n" : "", res.first_error);
    st->rejected += res.rejected;
    return 0;
}

/* Decodes one chunk of whole lines (first_line: its 1-based number) and
 * writes it. */
static int import_chunk(struct import_state *st, const char *p, size_t n, uint64_t first_line)
{
    struct ne_decode_report rep;
    ne_batch_reset(&st->batch);
    st->dopts.now_ns = ne_time_wall_ns();
    int rc = ne_decode(&st->dopts, p, n, &st->batch, &rep);
    if (rc == NE_ENOMEM || rc == NE_EINVAL) {
        fprintf(stderr, "\nimport: %s\n", ne_strerror(rc));
        return rc;
    }
    if (rep.bad) {
        if (st->bad == 0)
            fprintf(stderr, "%simport: line %llu: %s\n", st->tty ? "\n" : "",
                    (unsigned long long)(first_line + rep.first_record - 1), rep.first_error);
        st->bad += rep.bad;
    }
    rc = import_write(st);
    st->batches++;
    import_progress(st, false);
    return rc;
}

/* Reads fd to the end, feeding chunks of IMPORT_BATCH lines. */
static int import_stream(struct import_state *st, int fd)
{
    size_t cap = IMPORT_BLOCK, len = 0;
    char *buf = ne_malloc(cap);
    if (!buf) return NE_ENOMEM;
    int rc = 0;
    bool eof = false;
    while (!eof || len > 0) {
        if (!eof) {
            if (len == cap) { /* one chunk of lines longer than the buffer */
                char *nb = ne_realloc(buf, cap * 2);
                if (!nb) {
                    rc = NE_ENOMEM;
                    break;
                }
                buf = nb;
                cap *= 2;
            }
            ssize_t got = read(fd, buf + len, cap - len);
            if (got < 0 && errno == EINTR) continue;
            if (got < 0) {
                fprintf(stderr, "import: read: %s\n", strerror(errno));
                rc = NE_EIO;
                break;
            }
            if (got == 0) eof = true;
            len += (size_t)got;
        }
        /* Cut complete chunks of IMPORT_BATCH lines (or the rest at EOF). */
        size_t start = 0;
        for (;;) {
            size_t pos = start, lines = 0, end = 0;
            while (pos < len && lines < IMPORT_BATCH) {
                const char *nl = memchr(buf + pos, '\n', len - pos);
                if (!nl) break;
                pos = (size_t)(nl - buf) + 1;
                end = pos;
                lines++;
            }
            if (lines < IMPORT_BATCH && !eof) break; /* read more first */
            if (eof && lines < IMPORT_BATCH && end < len) {
                end = len; /* the last line has no newline */
                lines++;
            }
            if (end == start) break;
            uint64_t first = st->lines + 1;
            st->lines += lines;
            rc = import_chunk(st, buf + start, end - start, first);
            start = end;
            if (rc != 0) break;
        }
        memmove(buf, buf + start, len - start);
        len -= start;
        if (rc != 0 || (eof && len == 0)) break;
    }
    ne_free(buf);
    return rc;
}

struct import_args {
    const char *db, *precision, *dir, *cfg_path, *input;
};

static int import_parse_args(int argc, char **argv, struct import_args *a)
{
    static const struct option opts[] = {
        {"db", required_argument, NULL, 'b'},
        {"precision", required_argument, NULL, 'p'},
        {"data-dir", required_argument, NULL, 'd'},
        {"config", required_argument, NULL, 'c'},
        {NULL, 0, NULL, 0},
    };
    int ch;
    while ((ch = getopt_long(argc, argv, "b:p:d:c:", opts, NULL)) != -1) {
        switch (ch) {
        case 'b':
            a->db = optarg;
            break;
        case 'p':
            a->precision = optarg;
            break;
        case 'd':
            a->dir = optarg;
            break;
        case 'c':
            a->cfg_path = optarg;
            break;
        default:
            return agent__usage_error("import", "invalid option");
        }
    }
    if (optind + 1 != argc)
        return agent__usage_error("import", optind == argc ? "missing FILE (or - for stdin)"
                                                           : "too many arguments");
    a->input = argv[optind];
    return 0;
}

int agent__cmd_import(int argc, char **argv)
{
    struct import_args a = {0};
    int code = import_parse_args(argc, argv, &a);
    if (code != 0) return code;
    struct import_state st;
    memset(&st, 0, sizeof(st));
    st.dopts.format = NE_PAYLOAD_LINE;
    if (ne_decode_precision(a.precision, &st.dopts.precision_ns) != 0)
        return agent__usage_error("import", "invalid precision '%s'", a.precision);

    int fd = strcmp(a.input, "-") == 0 ? STDIN_FILENO : open(a.input, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        fprintf(stderr, "import: %s: %s\n", a.input, strerror(errno));
        return NE_EXIT_FAIL;
    }
    struct ne_config *cfg = cli_config(a.cfg_path);
    int lock_fd = -1;
    code = NE_EXIT_FAIL;
    if (!cfg) goto out;
    const char *dir = a.dir ? a.dir : cfg->data_dir;
    if (!a.dir && ne_fs_mkdir_p(dir) != 0) {
        fprintf(stderr, "data dir %s cannot be created\n", dir);
        goto out;
    }
    if (agent__open_store_locked(cfg, dir, &lock_fd, &st.store) != 0) goto out;
    st.db = a.db ? a.db : cfg->default_database;
    st.tty = isatty(STDERR_FILENO);
    ne_batch_init(&st.batch);
    int rc = import_stream(&st, fd);
    ne_batch_free(&st.batch);
    import_progress(&st, true);
    ne_store_close(&st.store);
    ne_fs_unlock_dir(lock_fd);
    code = (rc == 0 && st.bad == 0 && st.rejected == 0) ? NE_EXIT_OK : NE_EXIT_FAIL;
out:
    ne_config_free(&cfg);
    if (fd != STDIN_FILENO) close(fd);
    return code;
}

/* ---- inspect / verify ------------------------------------------------------ */

static int inspect_one(const char *what, int argc, char **argv,
                       int (*fn)(const char *path, FILE *out))
{
    if (argc != 2)
        return agent__usage_error(what, argc < 2 ? "missing PATH" : "too many arguments");
    if (!ne_fs_exists(argv[1])) {
        fprintf(stderr, "%s: %s: no such file\n", what, argv[1]);
        return NE_EXIT_FAIL;
    }
    int rc = fn(argv[1], stdout);
    fflush(stdout);
    if (rc != 0) {
        fprintf(stderr, "%s: %s: %s\n", what, argv[1], ne_strerror(rc));
        return NE_EXIT_FAIL;
    }
    return NE_EXIT_OK;
}

int agent__cmd_inspect_wal(int argc, char **argv)
{
    return inspect_one("inspect wal", argc, argv, ne_store_inspect_wal);
}

int agent__cmd_inspect_segment(int argc, char **argv)
{
    return inspect_one("inspect segment", argc, argv, ne_seg_inspect);
}

struct hint_walk {
    const char *root;
    int rc; /* the first problem */
};

static int verify_hint_queue(void *ctx, const char *name, bool is_dir)
{
    struct hint_walk *w = ctx;
    if (!is_dir) return 0;
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", w->root, name);
    int rc = ne_hintq_verify_dir(path, stdout);
    if (rc != 0 && w->rc == 0) w->rc = rc;
    return 0;
}

/* Checks every peer's hint queue under dir/cluster/hints (none is fine).
 * Returns 0 or the first problem. */
static int verify_hints(const char *dir)
{
    char root[4096];
    snprintf(root, sizeof root, "%s/cluster/hints", dir);
    if (!ne_fs_exists(root)) return 0;
    struct hint_walk w = {.root = root};
    int rc = ne_fs_list_dir(root, verify_hint_queue, &w);
    return rc != 0 ? rc : w.rc;
}

/* Checks the tombstones of cluster deletions, dir/cluster/tombstones
 * (absent is fine), printing their count. Returns 0 or the problem. */
static int verify_tombs(const char *dir)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/cluster/tombstones", dir);
    if (!ne_fs_exists(path)) return 0;
    struct ne_tombs *t = NULL;
    int rc = ne_tombs_open(path, 0, 0, &t);
    if (rc == 0)
        printf("%s: %zu tombstones\n", path, ne_tombs_count(t));
    else
        printf("%s: %s\n", path, ne_strerror(rc));
    ne_tombs_close(&t);
    return rc;
}

int agent__cmd_verify(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {NULL, 0, NULL, 0},
    };
    const char *cfg_path = NULL;
    int ch;
    while ((ch = getopt_long(argc, argv, "c:", opts, NULL)) != -1) {
        if (ch != 'c') return agent__usage_error("verify", "invalid option");
        cfg_path = optarg;
    }
    if (argc - optind > 1) return agent__usage_error("verify", "too many arguments");
    struct ne_config *cfg = NULL;
    if (optind == argc && !(cfg = cli_config(cfg_path))) return NE_EXIT_FAIL;
    const char *dir = optind < argc ? argv[optind] : cfg->data_dir;
    int code = NE_EXIT_FAIL, lock_fd = -1;
    if (!ne_fs_exists(dir)) {
        fprintf(stderr, "verify: data dir %s does not exist\n", dir);
        goto out;
    }
    int rc = ne_fs_lock_dir(dir, &lock_fd);
    if (rc != 0) {
        fprintf(stderr, "verify: data dir %s %s\n", dir,
                rc == NE_ELOCKED ? "is in use by a running daemon; stop it first"
                                 : ne_strerror(rc));
        goto out;
    }
    rc = ne_store_verify_dir(dir, stdout);
    int hrc = verify_hints(dir);
    int trc = verify_tombs(dir);
    if (rc == 0) rc = hrc;
    if (rc == 0) rc = trc;
    fflush(stdout);
    ne_fs_unlock_dir(lock_fd);
    if (rc != 0)
        fprintf(stderr, "verify: %s: %s\n", dir, ne_strerror(rc));
    else
        code = NE_EXIT_OK;
out:
    ne_config_free(&cfg);
    return code;
}
