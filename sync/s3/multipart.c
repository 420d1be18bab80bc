/*
 * multipart.c - object uploads: one PUT for small bodies, a resumable
 * multipart upload for large ones.
 *
 * Multipart sequence: CreateMultipartUpload (POST ?uploads) -> UploadPart
 * (PUT ?partNumber=N&uploadId=ID) for every part not yet acknowledged ->
 * CompleteMultipartUpload (POST ?uploadId=ID with the part list). The state
 * (struct ne_s3_upload, format in upload.c) is handed to the caller's
 * progress callback after the upload is created and after each part.
 * Resuming trusts the server, not the state: ListParts says which parts
 * exist (and their ETags); parts whose size does not match are sent again.
 *
 * Invariants: a part is read into the client's body buffer once per part
 * and every retry sends those same bytes; memory is bounded by one part
 * (or one single-PUT object, below the multipart threshold). The reader is
 * never asked for bytes at or past its size.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ports/err.h"
#include "ports/log.h"
#include "ports/platform.h"
#include "sync/s3/internal.h"

#define READ_CHUNK (1u << 20)

static int mem_read(void *ctx, uint64_t off, void *buf, size_t len, size_t *nread)
{
    memcpy(buf, (const uint8_t *)ctx + off, len);
    *nread = len;
    return 0;
}

struct ne_s3_reader ne_s3_reader_mem(const void *buf, size_t len)
{
    return (struct ne_s3_reader){.read = mem_read, .ctx = (void *)(uintptr_t)buf, .size = len};
}

/* Reads [off, off+n) of the body into c->body. */
static int fill(struct ne_s3 *c, const struct ne_s3_reader *r, uint64_t off, size_t n)
{
    int rc = s3__body_reserve(c, n ? n : 1);
    size_t got = 0;
    while (!rc && got < n) {
        size_t want = n - got < READ_CHUNK ? n - got : READ_CHUNK, nr = 0;
        rc = r->read(r->ctx, off + got, c->body + got, want, &nr);
        if (!rc && nr == 0) {
            snprintf(c->err, sizeof(c->err), "s3 reader ended at %" PRIu64 " of %" PRIu64,
                     off + got, r->size);
            rc = NE_EIO;
        }
        got += nr;
    }
    return rc;
}

static void fail_log(struct ne_s3 *c, const char *what, const char *key, int rc)
{
    if (!c->err[0]) snprintf(c->err, sizeof(c->err), "s3 %s: %s", what, ne_strerror(rc));
    NE_ERROR("s3", "%s %s/%s%s: %s", what, c->bucket, c->prefix, key, c->err);
}

static int put_single(struct ne_s3 *c, const char *key, const struct ne_s3_reader *r,
                      const char *ctype, struct ne_s3_object_info *info)
{
    int rc = fill(c, r, 0, (size_t)r->size);
    struct s3_req q = {.method = "PUT",
                       .key = key,
                       .body = c->body,
                       .body_len = (size_t)r->size,
                       .content_type = ctype};
    struct s3_resp resp;
    if (!rc) rc = s3__request(c, &q, &resp);
    if (rc) {
        fail_log(c, "PUT", key, rc);
        return rc;
    }
    if (info) {
        info->size = r->size;
        snprintf(info->etag, sizeof(info->etag), "%s", resp.etag);
    }
    return 0;
}

/* ---- multipart state -------------------------------------------------------- */

static uint64_t pick_part_size(uint64_t size, uint64_t want)
{
    uint64_t ps = want;
    if ((size + ps - 1) / ps > NE_S3_MAX_PARTS) {
        ps = (size + NE_S3_MAX_PARTS - 1) / NE_S3_MAX_PARTS;
        ps = (ps + (1u << 20) - 1) & ~(uint64_t)((1u << 20) - 1);
    }
    return ps;
}

static int state_init(struct ne_s3_upload *u, const char *full, uint64_t size, uint64_t ps)
{
    ne_s3_upload_reset(u);
    u->key = ne_strdup(full);
    u->object_size = size;
    u->part_size = ps;
    u->nparts = size == 0 ? 1 : (uint32_t)((size + ps - 1) / ps);
    u->parts = ne_calloc(u->nparts, sizeof(*u->parts));
    if (!u->key || !u->parts) {
        ne_s3_upload_reset(u);
        return NE_ENOMEM;
    }
    for (uint32_t i = 0; i < u->nparts; i++)
        u->parts[i].number = i + 1;
    return 0;
}

static uint64_t part_len(const struct ne_s3_upload *u, uint32_t idx)
{
    uint64_t off = (uint64_t)idx * u->part_size;
    uint64_t left = u->object_size - off;
    return left < u->part_size ? left : u->part_size;
}

static int id_query(const char *id, uint32_t part, char *out, size_t cap)
{
    char num[16];
    snprintf(num, sizeof(num), "%u", part);
    struct s3_kv kv[2] = {{"uploadId", id}, {"partNumber", num}};
    return s3__query_build(kv, part ? 2 : 1, out, cap);
}

static int create_upload(struct ne_s3 *c, const char *key, struct ne_s3_upload *u,
                         const char *ctype)
{
    struct s3_req q = {.method = "POST",
                       .key = key,
                       .query = "uploads=",
                       .body = (const uint8_t *)"",
                       .body_len = 0,
                       .content_type = ctype};
    struct s3_resp resp;
    int rc = s3__request(c, &q, &resp);
    if (rc) return rc;
    const char *vs, *ve;
    char id[NE_S3_UPLOAD_ID_MAX];
    if (!s3__xml_find(c->resp.p, c->resp.p + c->resp.len, "UploadId", &vs, &ve) ||
        s3__xml_text(vs, ve, id, sizeof(id)) || !id[0]) {
        snprintf(c->err, sizeof(c->err), "s3 CreateMultipartUpload: no UploadId in answer");
        return NE_EPARSE;
    }
    u->upload_id = ne_strdup(id);
    return u->upload_id ? 0 : NE_ENOMEM;
}

/* Applies one ListParts page to u; sets *next to the next marker or 0. */
static int apply_parts_page(struct ne_s3 *c, struct ne_s3_upload *u, uint32_t *next)
{
    const char *s = c->resp.p, *e = c->resp.p + c->resp.len, *vs, *ve, *ks, *ke;
    char num[32], etag[NE_S3_ETAG_MAX];
    while (s3__xml_find(s, e, "Part", &vs, &ve)) {
        uint64_t n = 0, size = UINT64_MAX;
        if (s3__xml_find(vs, ve, "PartNumber", &ks, &ke) && !s3__xml_text(ks, ke, num, sizeof(num)))
            n = strtoull(num, NULL, 10);
        if (s3__xml_find(vs, ve, "Size", &ks, &ke) && !s3__xml_text(ks, ke, num, sizeof(num)))
            size = strtoull(num, NULL, 10);
        etag[0] = '\0';
        if (s3__xml_find(vs, ve, "ETag", &ks, &ke)) s3__xml_text(ks, ke, etag, sizeof(etag));
        if (n >= 1 && n <= u->nparts && etag[0] && size == part_len(u, (uint32_t)n - 1))
            snprintf(u->parts[n - 1].etag, NE_S3_ETAG_MAX, "%s", etag);
        s = ve;
    }
    *next = 0;
    if (s3__xml_find(c->resp.p, e, "IsTruncated", &vs, &ve) && ve - vs == 4 &&
        memcmp(vs, "true", 4) == 0 &&
        s3__xml_find(c->resp.p, e, "NextPartNumberMarker", &vs, &ve) &&
        !s3__xml_text(vs, ve, num, sizeof(num)))
        *next = (uint32_t)strtoul(num, NULL, 10);
    return 0;
}

/* Replaces the ETags in u with what the server holds (ListParts). */
static int sync_parts(struct ne_s3 *c, const char *key, struct ne_s3_upload *u)
{
    for (uint32_t i = 0; i < u->nparts; i++)
        u->parts[i].etag[0] = '\0';
    uint32_t marker = 0;
    do {
        char query[2048], mk[16];
        snprintf(mk, sizeof(mk), "%u", marker);
        struct s3_kv kv[2] = {{"uploadId", u->upload_id}, {"part-number-marker", mk}};
        int rc = s3__query_build(kv, marker ? 2 : 1, query, sizeof(query));
        struct s3_req q = {.method = "GET", .key = key, .query = query, .max_resp = 16u << 20};
        struct s3_resp resp;
        if (!rc) rc = s3__request(c, &q, &resp);
        if (!rc) rc = apply_parts_page(c, u, &marker);
        if (rc) return rc;
    } while (marker);
    return 0;
}

static int upload_part(struct ne_s3 *c, const char *key, const struct ne_s3_reader *r,
                       struct ne_s3_upload *u, uint32_t idx)
{
    size_t n = (size_t)part_len(u, idx);
    char query[2048];
    int rc = fill(c, r, (uint64_t)idx * u->part_size, n);
    if (!rc) rc = id_query(u->upload_id, idx + 1, query, sizeof(query));
    if (rc) return rc;
    struct s3_req q = {.method = "PUT", .key = key, .query = query, .body = c->body, .body_len = n};
    struct s3_resp resp;
    rc = s3__request(c, &q, &resp);
    if (rc) return rc;
    if (!resp.etag[0]) {
        snprintf(c->err, sizeof(c->err), "s3 UploadPart %u: no ETag in answer", idx + 1);
        return NE_EPARSE;
    }
    memcpy(u->parts[idx].etag, resp.etag, sizeof(resp.etag));
    return 0;
}

static int complete_body(const struct ne_s3_upload *u, struct s3_buf *b)
{
    int rc = s3__buf_printf(b, "<CompleteMultipartUpload>");
    for (uint32_t i = 0; !rc && i < u->nparts; i++) {
        rc = s3__buf_printf(b, "<Part><PartNumber>%u</PartNumber><ETag>", i + 1);
        if (!rc) rc = s3__xml_escape(b, u->parts[i].etag);
        if (!rc) rc = s3__buf_printf(b, "</ETag></Part>");
    }
    if (!rc) rc = s3__buf_printf(b, "</CompleteMultipartUpload>");
    return rc;
}

/* Completes u. An upload the server no longer knows may have been completed
 * by an earlier attempt whose answer was lost: HEAD decides. */
static int complete_upload(struct ne_s3 *c, const char *key, struct ne_s3_upload *u,
                           struct ne_s3_object_info *info)
{
    struct s3_buf body = {0};
    char query[2048];
    int rc = complete_body(u, &body);
    if (!rc) rc = id_query(u->upload_id, 0, query, sizeof(query));
    struct s3_req q = {.method = "POST",
                       .key = key,
                       .query = query,
                       .body = (uint8_t *)body.p,
                       .body_len = body.len,
                       .content_type = "application/xml"};
    struct s3_resp resp;
    if (!rc) rc = s3__request(c, &q, &resp);
    s3__buf_free(&body);
    const char *vs, *ve;
    if (!rc) {
        info->size = u->object_size;
        info->etag[0] = '\0';
        if (s3__xml_find(c->resp.p, c->resp.p + c->resp.len, "ETag", &vs, &ve))
            s3__xml_text(vs, ve, info->etag, sizeof(info->etag));
        return 0;
    }
    if (rc != NE_ENOTFOUND) return rc;
    char saved[NE_S3_ERR_MAX];
    struct ne_s3_failure saved_fail = c->fail;
    snprintf(saved, sizeof(saved), "%s", c->err);
    rc = ne_s3_head_object(c, key, info);
    if (rc == 0 && info->size == u->object_size) return 0;
    snprintf(c->err, sizeof(c->err), "%s", saved);
    c->fail = saved_fail;
    return NE_ENOTFOUND;
}

static int notify(struct ne_s3 *c, const struct ne_s3_put_opts *po, const struct ne_s3_upload *u)
{
    if (!po || !po->progress) return 0;
    int rc = po->progress(po->progress_ctx, u);
    if (rc) {
        snprintf(c->err, sizeof(c->err), "s3 upload stopped by progress callback (%d)", rc);
        c->stopped = true;
    }
    return rc;
}

/* Brings u to a state ready for part uploads: resumed, or newly created. */
static int prepare(struct ne_s3 *c, const char *key, const char *full, const struct ne_s3_reader *r,
                   const struct ne_s3_put_opts *po, struct ne_s3_upload *u)
{
    if (u->upload_id && (!u->key || strcmp(u->key, full) != 0 || u->object_size != r->size)) {
        NE_WARN("s3", "stale multipart state for %s: aborting upload and starting over",
                u->key ? u->key : "?");
        ne_s3_upload_abort(c, u);
    }
    if (u->upload_id) {
        int rc = sync_parts(c, key, u);
        if (rc == NE_ENOTFOUND) {
            NE_WARN("s3", "multipart upload of %s is gone on the server: starting over", full);
            ne_s3_upload_reset(u);
        } else if (rc) {
            return rc;
        } else {
            NE_INFO("s3", "resuming upload of %s: %u of %u parts on the server", full,
                    ne_s3_upload_done(u), u->nparts);
            return 0;
        }
    }
    int rc = state_init(u, full, r->size, pick_part_size(r->size, c->o.part_size));
    if (!rc) rc = create_upload(c, key, u, po ? po->content_type : NULL);
    if (!rc) rc = notify(c, po, u);
    return rc;
}

static int put_multipart(struct ne_s3 *c, const char *key, const struct ne_s3_reader *r,
                         const struct ne_s3_put_opts *po, struct ne_s3_object_info *info)
{
    struct ne_s3_upload local = {0};
    struct ne_s3_upload *u = po && po->upload ? po->upload : &local;
    size_t fl = strlen(c->prefix) + strlen(key) + 1;
    char *full = ne_malloc(fl);
    if (!full) return NE_ENOMEM;
    snprintf(full, fl, "%s%s", c->prefix, key);
    int rc = prepare(c, key, full, r, po, u);
    for (uint32_t i = 0; !rc && i < u->nparts; i++) {
        if (u->parts[i].etag[0]) continue;
        rc = upload_part(c, key, r, u, i);
        if (!rc) rc = notify(c, po, u);
    }
    struct ne_s3_object_info tmp;
    if (!rc) rc = complete_upload(c, key, u, &tmp);
    if (rc) {
        if (c->stopped) /* the caller's choice (e.g. shutting down), not a failure */
            NE_INFO("s3", "multipart PUT %s/%s%s paused after %u of %u parts", c->bucket, c->prefix,
                    key, ne_s3_upload_done(u), u->nparts);
        else
            fail_log(c, "multipart PUT", key, rc);
    } else {
        if (info) *info = tmp;
        ne_s3_upload_reset(u);
    }
    if (u == &local) ne_s3_upload_reset(&local);
    ne_free(full);
    return rc;
}

int ne_s3_put_object(struct ne_s3 *c, const char *key, const struct ne_s3_reader *r,
                     const struct ne_s3_put_opts *po, struct ne_s3_object_info *info)
{
    c->err[0] = '\0';
    memset(&c->fail, 0, sizeof(c->fail));
    c->stopped = false;
    if (!key || !*key || !r || !r->read) {
        snprintf(c->err, sizeof(c->err), "s3 PUT: empty key or no reader");
        return NE_EINVAL;
    }
    bool resume = po && po->upload && po->upload->upload_id;
    if (r->size < c->o.multipart_threshold && !resume)
        return put_single(c, key, r, po ? po->content_type : NULL, info);
    return put_multipart(c, key, r, po, info);
}

int ne_s3_upload_abort(struct ne_s3 *c, struct ne_s3_upload *u)
{
    if (!u->upload_id || !u->key) {
        ne_s3_upload_reset(u);
        return 0;
    }
    size_t pl = strlen(c->prefix);
    if (strncmp(u->key, c->prefix, pl) != 0) {
        snprintf(c->err, sizeof(c->err), "s3 abort: key %s outside prefix %s", u->key, c->prefix);
        return NE_EINVAL;
    }
    char query[2048];
    int rc = id_query(u->upload_id, 0, query, sizeof(query));
    struct s3_req q = {.method = "DELETE", .key = u->key + pl, .query = query};
    struct s3_resp resp;
    if (!rc) rc = s3__request(c, &q, &resp);
    if (rc == NE_ENOTFOUND) rc = 0;
    if (rc) {
        fail_log(c, "AbortMultipartUpload", u->key + pl, rc);
        return rc;
    }
    ne_s3_upload_reset(u);
    return 0;
}
