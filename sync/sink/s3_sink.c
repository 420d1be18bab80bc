/*
 * s3_sink.c - the S3 driver of cloud sync (keys and resume protocol in
 * s3_sink.h).
 *
 * One delivery, for segment S:
 *   1. load PROGRESS (reset when it names another segment) and UPLOAD;
 *   2. export S: Parquet objects (sync/export, spooled to state_dir/spool)
 *      or one bundle (sync/bundle, streamed), skipping the objects PROGRESS
 *      says are complete;
 *   3. for each exported object: (encrypted: take the saved nonce prefix
 *      of this object, or draw one and save it in PROGRESS first), upload
 *      it with ne_s3_put_object (single PUT or multipart, UPLOAD saved
 *      after every step), then count it complete in PROGRESS and drop
 *      UPLOAD (the converter removes the spool file).
 * The runner moves its cursor only after deliver returned 0; a crash in
 * between repeats the delivery, which then finds every object complete.
 *
 * PROGRESS file (state_dir/PROGRESS, 40 bytes, little endian):
 *   off size field
 *   0   4    magic "NESP" (0x5053454e)
 *   4   4    version (1)
 *   8   8    segment id
 *   16  4    objects complete (in export order)
 *   20  4    flags: bit 0 = the nonce prefix below belongs to object
 *            number "objects complete" (the one in progress)
 *   24  8    encryption nonce prefix
 *   32  4    reserved (0)
 *   36  4    crc32c of the previous 36 bytes
 * A missing or corrupt file reads as "nothing complete": uploads repeat,
 * which is harmless because keys are deterministic.
 */
#include "sync/sink/s3_sink.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "ports/crc32c.h"
#include "ports/err.h"
#include "ports/log.h"
#include "ports/platform.h"
#include "store/codec/buf.h"
#include "sync/bundle/bundle.h"
#include "sync/crypt/crypt.h"
#include "sync/export/seg2pq.h"
#include "sync/s3/s3.h"

#define MOD              "sync"
#define PROGRESS_MAGIC   0x5053454eu /* "NESP" */
#define PROGRESS_VERSION 1u
#define PROGRESS_LEN     40u
#define PROGRESS_PREFIX  1u /* flags: prefix valid for the object in progress */
#define PATH_CAP         4096
#define KEY_CAP          1024

#define CT_PARQUET "application/vnd.apache.parquet"
#define CT_BINARY  "application/octet-stream"

struct s3_sink {
    struct ne_s3 *s3;
    char *name;
    char *prefix; /* the sink's prefix and '/', or "" (the client prepends it) */
    bool native;
    bool encrypt;
    uint8_t key[NE_CRYPT_KEY_SIZE];
};

/* Where a delivery stands in the resume protocol. */
struct progress {
    uint64_t seg_id;
    uint32_t done;
    bool has_prefix;
    uint8_t prefix[NE_CRYPT_PREFIX_SIZE];
};

/* One delivery in progress. */
struct delivery {
    struct s3_sink *k;
    const struct ne_sink_env *env;
    const struct ne_store_seg_desc *seg;
    struct ne_sink_result *res;
    struct progress pg;
    struct ne_s3_upload up; /* multipart state of the object in progress */
    uint64_t sent;          /* client bytes_sent already counted */
    uint32_t index;         /* export order of the object being sent */
    char spool[PATH_CAP];   /* where its bytes come from (for messages) */
    char progress_path[PATH_CAP];
    char upload_path[PATH_CAP];
};

/* ---- failures ------------------------------------------------------------------------ */

enum ne_sink_err ne_s3_sink_classify(const struct ne_s3_failure *f, int rc)
{
    switch (f->kind) {
    case NE_S3_FAIL_HTTP:
        if (f->status == 401 || f->status == 403) return NE_SINK_ERR_AUTH;
        if (f->status == 429 || f->status == 503 || strcmp(f->code, "SlowDown") == 0)
            return NE_SINK_ERR_THROTTLE;
        if (f->status >= 500) return NE_SINK_ERR_SERVER;
        return NE_SINK_ERR_REJECTED;
    case NE_S3_FAIL_CONNECT:
        return NE_SINK_ERR_CONNECT;
    case NE_S3_FAIL_TIMEOUT:
        return NE_SINK_ERR_TIMEOUT;
    case NE_S3_FAIL_OTHER:
        return rc == NE_ETOOBIG ? NE_SINK_ERR_SERVER : NE_SINK_ERR_LOCAL;
    case NE_S3_FAIL_NONE:
        break;
    }
    switch (rc) {
    case NE_EPERM:
        return NE_SINK_ERR_AUTH;
    case NE_ETIMEOUT:
        return NE_SINK_ERR_TIMEOUT;
    case NE_EAGAIN:
    case NE_EPARSE:
        return NE_SINK_ERR_SERVER;
    case NE_ENOTFOUND:
    case NE_EINVAL:
    case NE_ECONFLICT:
        return NE_SINK_ERR_REJECTED;
    default:
        return NE_SINK_ERR_LOCAL;
    }
}

/* Records a local failure (disk, memory, export) in res. Returns rc. */
static int fail_local(struct delivery *d, int rc, const char *what, const char *path)
{
    if (!d->res->kind) {
        d->res->kind = NE_SINK_ERR_LOCAL;
        snprintf(d->res->msg, sizeof d->res->msg, "%.60s %.140s: %.40s", what, path,
                 ne_strerror(rc));
    }
    return rc;
}

/* Records a failed S3 call in res. Returns rc. */
static int fail_s3(struct delivery *d, int rc, const char *key)
{
    struct ne_s3_failure f;
    ne_s3_last_failure(d->k->s3, &f);
    d->res->kind = ne_s3_sink_classify(&f, rc);
    const char *why = ne_s3_last_error(d->k->s3);
    snprintf(d->res->msg, sizeof d->res->msg, "%s (object %s%s)", why[0] ? why : ne_strerror(rc),
             d->k->prefix, key);
    return rc;
}

/* ---- PROGRESS and UPLOAD ---------------------------------------------------------------- */

static void progress_load(struct delivery *d)
{
    char *buf = NULL;
    size_t n = 0;
    memset(&d->pg, 0, sizeof d->pg);
    d->pg.seg_id = d->seg->id;
    int rc = ne_fs_read_all(d->progress_path, &buf, &n);
    if (rc) {
        if (rc != NE_ENOTFOUND)
            NE_WARN(MOD, "sink %s: cannot read %s (%s): uploading segment %016" PRIx64 " whole",
                    d->k->name, d->progress_path, ne_strerror(rc), d->seg->id);
        return;
    }
    const uint8_t *b = (const uint8_t *)buf;
    if (n != PROGRESS_LEN || ne_load_u32le(b) != PROGRESS_MAGIC ||
        ne_load_u32le(b + 4) != PROGRESS_VERSION || ne_load_u32le(b + 36) != ne_crc32c(0, b, 36)) {
        NE_WARN(MOD, "sink %s: %s is corrupt: uploading segment %016" PRIx64 " whole", d->k->name,
                d->progress_path, d->seg->id);
    } else if (ne_load_u64le(b + 8) == d->seg->id) {
        d->pg.done = ne_load_u32le(b + 16);
        d->pg.has_prefix = (ne_load_u32le(b + 20) & PROGRESS_PREFIX) != 0;
        memcpy(d->pg.prefix, b + 24, NE_CRYPT_PREFIX_SIZE);
    }
    ne_free(buf);
}

static int progress_save(struct delivery *d)
{
    uint8_t b[PROGRESS_LEN] = {0};
    ne_store_u32le(b, PROGRESS_MAGIC);
    ne_store_u32le(b + 4, PROGRESS_VERSION);
    ne_store_u64le(b + 8, d->pg.seg_id);
    ne_store_u32le(b + 16, d->pg.done);
    ne_store_u32le(b + 20, d->pg.has_prefix ? PROGRESS_PREFIX : 0);
    memcpy(b + 24, d->pg.prefix, NE_CRYPT_PREFIX_SIZE);
    ne_store_u32le(b + 36, ne_crc32c(0, b, 36));
    int rc = ne_fs_write_atomic(d->progress_path, b, sizeof b);
    return rc ? fail_local(d, rc, "writing", d->progress_path) : 0;
}

static void upload_load(struct delivery *d)
{
    char *buf = NULL;
    size_t n = 0;
    int rc = ne_fs_read_all(d->upload_path, &buf, &n);
    if (rc) return;
    rc = ne_s3_upload_decode(buf, n, &d->up);
    ne_free(buf);
    if (rc) {
        NE_WARN(MOD, "sink %s: %s is unreadable (%s): its multipart upload starts over", d->k->name,
                d->upload_path, ne_strerror(rc));
        ne_fs_unlink(d->upload_path);
    }
}

static int upload_save(struct delivery *d, const struct ne_s3_upload *u)
{
    uint8_t *buf = NULL;
    size_t n = 0;
    int rc = ne_s3_upload_encode(u, &buf, &n);
    if (!rc) rc = ne_fs_write_atomic(d->upload_path, buf, n);
    ne_free(buf);
    return rc ? fail_local(d, rc, "writing", d->upload_path) : 0;
}

/* Gives up the saved multipart upload (it belongs to an object this
 * delivery does not send, or to older bytes). Best effort: an upload left
 * open on the server costs storage, not correctness. */
static void upload_drop(struct delivery *d)
{
    if (d->up.upload_id) {
        NE_INFO(MOD, "sink %s: aborting the stale multipart upload of %s", d->k->name, d->up.key);
        if (ne_s3_upload_abort(d->k->s3, &d->up) != 0)
            NE_WARN(MOD, "sink %s: abort failed: %s", d->k->name, ne_s3_last_error(d->k->s3));
    }
    ne_s3_upload_reset(&d->up);
    int rc = ne_fs_unlink(d->upload_path);
    if (rc && rc != NE_ENOTFOUND)
        NE_WARN(MOD, "sink %s: cannot remove %s: %s", d->k->name, d->upload_path, ne_strerror(rc));
}

/* ---- reading an object --------------------------------------------------------------- */

/* The bytes of one object as a positional reader (a spooled file or a
 * bundle), remembering the first read error: a failure of ours, not the
 * server's. */
struct src {
    int (*read)(void *ctx, uint64_t off, void *buf, size_t len, size_t *nread);
    void *ctx;
    uint64_t size;
    int err;
};

static int src_read(void *ctx, uint64_t off, void *buf, size_t len, size_t *nread)
{
    struct src *s = ctx;
    int rc = s->read(s->ctx, off, buf, len, nread);
    if (rc && !s->err) s->err = rc;
    return rc;
}

static int file_pread(void *ctx, uint64_t off, void *buf, size_t len, size_t *nread)
{
    return ne_file_pread(ctx, buf, len, off, nread);
}

/* ---- uploading ------------------------------------------------------------------------- */

static void count_sent(struct delivery *d)
{
    struct ne_s3_stats st;
    ne_s3_stats(d->k->s3, &st);
    if (st.bytes_sent > d->sent && d->env->count_bytes)
        d->env->count_bytes(d->env->runner, st.bytes_sent - d->sent);
    d->sent = st.bytes_sent;
}

static bool stopping(const struct delivery *d)
{
    return d->env->stopping && d->env->stopping(d->env->runner);
}

/* After CreateMultipartUpload and every part: save the state, count the
 * bytes, stop when the daemon stops. */
static int on_progress(void *ctx, const struct ne_s3_upload *u)
{
    struct delivery *d = ctx;
    count_sent(d);
    int rc = upload_save(d, u);
    if (rc) return rc;
    return stopping(d) ? NE_ECLOSED : 0;
}

/* Seals src for upload with the nonce prefix of object d->index: the one
 * saved in PROGRESS, or a new one, saved before any byte of it is sent. */
static int open_sealer(struct delivery *d, struct src *src, struct ne_crypt_sealer **out)
{
    bool reuse = d->pg.has_prefix && d->pg.done == d->index;
    int rc = ne_crypt_sealer_open(d->k->key, 0, reuse ? d->pg.prefix : NULL, src_read, src,
                                  src->size, out);
    if (rc) return fail_local(d, rc, "encrypting object", d->spool);
    if (reuse) return 0;
    /* new bytes: a multipart upload of other bytes cannot be resumed */
    upload_drop(d);
    memcpy(d->pg.prefix, ne_crypt_sealer_prefix(*out), NE_CRYPT_PREFIX_SIZE);
    d->pg.has_prefix = true;
    d->pg.done = d->index;
    return progress_save(d);
}

/* Counts object d->index complete: PROGRESS moves past it, then UPLOAD
 * goes (a crash in between leaves the state of a completed upload, which
 * the next object aborts harmlessly, rather than sending this one again). */
static int object_done(struct delivery *d, uint64_t rows)
{
    ne_s3_upload_reset(&d->up);
    d->pg.done = d->index + 1;
    d->pg.has_prefix = false;
    int rc = progress_save(d);
    if (rc) return rc;
    rc = ne_fs_unlink(d->upload_path);
    if (rc && rc != NE_ENOTFOUND) return fail_local(d, rc, "removing", d->upload_path);
    d->res->objects++;
    d->res->rows += rows;
    d->index++;
    return 0;
}

/* Sorts a failed upload into res (unless it is already said). */
static int upload_failed(struct delivery *d, int rc, const struct src *src, const char *key)
{
    if (rc == NE_ECLOSED && stopping(d)) return rc;
    if (d->res->kind) return rc; /* our own state file failed */
    if (src->err) return fail_local(d, src->err, "reading the object for", key);
    return fail_s3(d, rc, key);
}

/* Uploads src as key (the client adds the sink prefix), as object number
 * d->index of the segment, resuming the saved multipart upload when it is
 * this object's. */
static int upload_object(struct delivery *d, const char *key, struct src *src, const char *ctype,
                         uint64_t rows)
{
    if (stopping(d)) return NE_ECLOSED;
    struct ne_crypt_sealer *sealer = NULL;
    struct ne_s3_reader r = {.read = src_read, .ctx = src, .size = src->size};
    char full[KEY_CAP];
    int rc = 0;
    if (d->k->encrypt) {
        rc = open_sealer(d, src, &sealer);
        if (rc) {
            ne_crypt_sealer_close(&sealer);
            return rc;
        }
        r = (struct ne_s3_reader){
            .read = ne_crypt_sealer_read, .ctx = sealer, .size = ne_crypt_sealer_size(sealer)};
    }
    snprintf(full, sizeof full, "%s%s", d->k->prefix, key);
    if (d->up.key && (strcmp(d->up.key, full) != 0 || d->up.object_size != r.size)) upload_drop(d);
    struct ne_s3_put_opts po = {
        .content_type = ctype, .upload = &d->up, .progress = on_progress, .progress_ctx = d};
    rc = ne_s3_put_object(d->k->s3, key, &r, &po, NULL);
    count_sent(d);
    ne_crypt_sealer_close(&sealer);
    if (rc) return upload_failed(d, rc, src, key);
    return object_done(d, rows);
}

/* ---- parquet ------------------------------------------------------------------------------ */

/* The file-name part of a node id ('/' and the like escaped). */
static void node_text(const struct delivery *d, char *out, size_t n)
{
    const char *node = d->env->node_id ? d->env->node_id : "neoedge";
    if (ne_seg2pq_escape(node, strlen(node), out, n) < 0) snprintf(out, n, "node");
}

/* ne_seg2pq_fn: uploads one spooled Parquet object. */
static int on_parquet(void *ctx, const struct ne_seg2pq_obj *o)
{
    struct delivery *d = ctx;
    char node[3 * 256 + 1], key[KEY_CAP];
    node_text(d, node, sizeof node);
    d->index = (uint32_t)o->index;
    int n = snprintf(key, sizeof key, "%s/%s-%016" PRIx64 ".parquet%s", o->key_suffix, node,
                     o->seg_id, d->k->encrypt ? ".enc" : "");
    if (n < 0 || (size_t)n >= sizeof key)
        return fail_local(d, NE_ETOOBIG, "object key for", o->path);
    struct ne_file *f = NULL;
    int rc = ne_file_open(o->path, NE_F_READ, &f);
    if (rc) return fail_local(d, rc, "opening", o->path);
    snprintf(d->spool, sizeof d->spool, "%s", o->path);
    struct src src = {.read = file_pread, .ctx = f, .size = o->bytes};
    rc = upload_object(d, key, &src, CT_PARQUET, o->rows);
    ne_file_close(&f);
    return rc;
}

static int deliver_parquet(struct delivery *d)
{
    char spool[PATH_CAP];
    snprintf(spool, sizeof spool, "%s/spool", d->env->state_dir);
    int rc = ne_fs_mkdir_p(spool);
    if (!rc) rc = ne_seg2pq_clean_spool(spool);
    if (rc) return fail_local(d, rc, "preparing the spool directory", spool);
    struct ne_seg2pq_opts o = {
        .spool_dir = spool,
        .resolve = ne_seg2pq_resolve_store,
        .resolve_ctx = d->env->store,
        .node = d->env->node_id,
    };
    struct ne_seg2pq_stats st;
    rc = ne_seg2pq_convert(d->seg->path, &o, d->pg.done, on_parquet, d, &st);
    if (st.unknown_series)
        NE_WARN(MOD,
                "sink %s: segment %016" PRIx64 ": %" PRIu64 " series unknown to the index "
                "left out (%" PRIu64 " values)",
                d->k->name, d->seg->id, st.unknown_series, st.unknown_values);
    if (st.uint_nulled)
        NE_WARN(MOD,
                "sink %s: segment %016" PRIx64 ": %" PRIu64 " unsigned values above "
                "INT64_MAX written as null",
                d->k->name, d->seg->id, st.uint_nulled);
    if (rc && !d->res->kind && rc != NE_ECLOSED)
        fail_local(d, rc, "exporting segment", d->seg->path);
    return rc;
}

/* ---- native ------------------------------------------------------------------------------- */

static int deliver_native(struct delivery *d)
{
    struct ne_bundle *b = NULL;
    char node[3 * 256 + 1], key[KEY_CAP];
    const char *node_id = d->env->node_id ? d->env->node_id : "neoedge";
    if (d->pg.done >= 1) return 0; /* delivered before a restart */
    int rc = ne_bundle_open(d->env->store, d->seg, node_id, &b);
    if (rc) return rc == NE_ENOTFOUND ? rc : fail_local(d, rc, "bundling segment", d->seg->path);
    node_text(d, node, sizeof node);
    snprintf(key, sizeof key, "native/node=%s/%016" PRIx64 ".neseg%s", node, d->seg->id,
             d->k->encrypt ? ".enc" : "");
    snprintf(d->spool, sizeof d->spool, "%s", d->seg->path);
    struct ne_s3_reader br = ne_bundle_reader(b);
    struct src src = {.read = br.read, .ctx = br.ctx, .size = br.size};
    d->index = 0;
    rc = upload_object(d, key, &src, CT_BINARY, d->seg->points);
    ne_bundle_close(&b);
    return rc;
}

/* ---- the driver ------------------------------------------------------------------------- */

static int s3_deliver(void *ctx, const struct ne_sink_env *env, const struct ne_store_seg_desc *seg,
                      struct ne_sink_result *res)
{
    struct delivery *d = ne_calloc(1, sizeof *d);
    if (!d) {
        res->kind = NE_SINK_ERR_LOCAL;
        snprintf(res->msg, sizeof res->msg, "out of memory");
        return NE_ENOMEM;
    }
    d->k = ctx;
    d->env = env;
    d->seg = seg;
    d->res = res;
    snprintf(d->progress_path, sizeof d->progress_path, "%s/PROGRESS", env->state_dir);
    snprintf(d->upload_path, sizeof d->upload_path, "%s/UPLOAD", env->state_dir);
    struct ne_s3_stats st;
    ne_s3_stats(d->k->s3, &st);
    d->sent = st.bytes_sent;
    progress_load(d);
    upload_load(d);
    int rc = d->k->native ? deliver_native(d) : deliver_parquet(d);
    if (!rc && d->up.key) upload_drop(d); /* state of an object this segment no longer has */
    ne_s3_upload_reset(&d->up);
    ne_free(d);
    return rc;
}

static void s3_destroy(void *ctx)
{
    struct s3_sink *k = ctx;
    if (!k) return;
    ne_s3_close(&k->s3);
    memset(k->key, 0, sizeof k->key);
    ne_free(k->name);
    ne_free(k->prefix);
    ne_free(k);
}

static void opts_from_cfg(const struct ne_cfg_sink *cfg, const char *prefix, struct ne_s3_opts *o)
{
    ne_s3_opts_init(o);
    o->endpoint = cfg->endpoint;
    o->region = cfg->region;
    o->bucket = cfg->bucket;
    o->prefix = prefix;
    o->path_style = cfg->path_style;
    o->access_key = cfg->access_key;
    o->secret_key = cfg->secret_key;
    o->session_token = cfg->session_token;
    o->bandwidth_bytes_per_s = cfg->bandwidth_bytes_per_s;
    if (cfg->part_size) o->part_size = cfg->part_size;
    if (cfg->multipart_threshold) o->multipart_threshold = cfg->multipart_threshold;
    o->verify_tls = cfg->verify_tls;
    o->ca_file = cfg->ca_file;
    o->max_retries = cfg->max_retries;
}

static int sink_setup(struct s3_sink *k, const struct ne_cfg_sink *cfg)
{
    char why[NE_CRYPT_WHY_MAX];
    k->native = cfg->format == NE_SINK_FMT_NATIVE;
    k->name = ne_strdup(cfg->name ? cfg->name : "s3");
    size_t pl = cfg->prefix ? strlen(cfg->prefix) : 0;
    k->prefix = ne_malloc(pl + 2);
    if (!k->name || !k->prefix) return NE_ENOMEM;
    snprintf(k->prefix, pl + 2, "%s%s", pl ? cfg->prefix : "", pl ? "/" : "");
    if (cfg->encryption_key) {
        if (ne_crypt_key_parse_why(cfg->encryption_key, k->key, why, sizeof why) != 0) {
            NE_ERROR(MOD, "sink %s: encryption_key: %s", k->name, why);
            return NE_EINVAL;
        }
        k->encrypt = true;
    }
    struct ne_s3_opts o;
    opts_from_cfg(cfg, k->prefix, &o);
    int rc = ne_s3_open(&o, &k->s3);
    if (rc == NE_ENOTFOUND)
        NE_ERROR(MOD,
                 "sink %s: no S3 credentials: set access_key and secret_key, or "
                 "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or a shared credentials file",
                 k->name);
    else if (rc)
        NE_ERROR(MOD, "sink %s: cannot set up the S3 client for bucket %s: %s", k->name,
                 cfg->bucket ? cfg->bucket : "(none)", ne_strerror(rc));
    return rc;
}

int ne_s3_sink_new(const struct ne_cfg_sink *cfg, struct ne_sink_driver *out)
{
    if (cfg->type != NE_SINK_S3) return NE_EINVAL;
    struct s3_sink *k = ne_calloc(1, sizeof *k);
    if (!k) return NE_ENOMEM;
    int rc = sink_setup(k, cfg);
    if (rc) {
        s3_destroy(k);
        return rc;
    }
    *out = (struct ne_sink_driver){
        .type = "s3", .deliver = s3_deliver, .destroy = s3_destroy, .ctx = k};
    return 0;
}
