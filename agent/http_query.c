/*
 * http_query.c - GET|POST /query: parameters, auth, and the InfluxQL
 * executor writing JSON or CSV into the response body.
 *
 * A form-encoded POST body is decoded into a small parameter table;
 * query-string parameters come through the request's callback. The body is
 * built in memory (the executor streams into a growable buffer).
 */
#include "agent/http_query.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ports/err.h"
#include "ports/platform.h"

#define MAX_FORM 16

struct form {
    char *buf; /* decoded copy of the body: "k\0v\0k\0v\0" */
    const char *keys[MAX_FORM], *vals[MAX_FORM];
    int n;
};

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decodes %XX and '+' in place over [p, p+n); returns the new length. */
static size_t url_decode(char *p, size_t n)
{
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '+') {
            p[w++] = ' ';
        } else if (p[i] == '%' && i + 2 < n && hexval(p[i + 1]) >= 0 && hexval(p[i + 2]) >= 0) {
            p[w++] = (char)(hexval(p[i + 1]) * 16 + hexval(p[i + 2]));
            i += 2;
        } else {
            p[w++] = p[i];
        }
    }
    return w;
}

static int form_parse(struct form *f, const char *body, size_t len)
{
    memset(f, 0, sizeof *f);
    f->buf = ne_malloc(len + 1);
    if (!f->buf)
        return NE_ENOMEM;
    memcpy(f->buf, body, len);
    f->buf[len] = 0;
    char *p = f->buf, *end = f->buf + len;
    while (p < end && f->n < MAX_FORM) {
        char *amp = memchr(p, '&', (size_t)(end - p));
        char *stop = amp ? amp : end;
        char *eq = memchr(p, '=', (size_t)(stop - p));
        char *kend = eq ? eq : stop;
        size_t kl = url_decode(p, (size_t)(kend - p));
        p[kl] = 0;
        const char *v = "";
        if (eq) {
            size_t vl = url_decode(eq + 1, (size_t)(stop - eq - 1));
            eq[1 + vl] = 0;
            v = eq + 1;
        }
        f->keys[f->n] = p;
        f->vals[f->n] = v;
        f->n++;
        p = stop + 1;
    }
    return 0;
}

static const char *param(const struct ne_http_req *req, const struct form *f, const char *key)
{
    for (int i = 0; i < f->n; i++)
        if (strcmp(f->keys[i], key) == 0)
            return f->vals[i];
    return req->query ? req->query(req->ctx, key) : NULL;
}

static int set_json_error(struct ne_http_resp *resp, int status, const char *prefix,
                          const char *msg)
{
    size_t cap = strlen(msg) * 6 + strlen(prefix) + 32;
    char *b = ne_malloc(cap);
    if (!b)
        return NE_ENOMEM;
    size_t w = (size_t)snprintf(b, cap, "{\"error\":\"%s", prefix);
    for (const char *s = msg; *s && w + 8 < cap; s++) {
        if (*s == '"' || *s == '\\')
            b[w++] = '\\';
        if ((unsigned char)*s < 0x20) {
            w += (size_t)snprintf(b + w, cap - w, "\\u%04x", (unsigned char)*s);
            continue;
        }
        b[w++] = *s;
    }
    w += (size_t)snprintf(b + w, cap - w, "\"}\n");
    resp->status = status;
    snprintf(resp->content_type, sizeof resp->content_type, "application/json");
    resp->body = b;
    resp->body_len = w;
    snprintf(resp->influx_error, sizeof resp->influx_error, "%s%s", prefix, msg);
    return 0;
}

struct growbuf {
    char *p;
    size_t n, cap;
};

static int grow_emit(void *ctx, const char *p, size_t n)
{
    struct growbuf *g = ctx;
    if (g->n + n + 1 > g->cap) {
        size_t cap = g->cap ? g->cap : 4096;
        while (cap < g->n + n + 1)
            cap *= 2;
        char *b = ne_realloc(g->p, cap);
        if (!b)
            return NE_ENOMEM;
        g->p = b;
        g->cap = cap;
    }
    memcpy(g->p + g->n, p, n);
    g->n += n;
    return 0;
}

int ne_http_query_handle(const struct ne_http_query_opts *o, const struct ne_http_req *req,
                         struct ne_http_resp *resp)
{
    if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "POST") != 0)
        return set_json_error(resp, 405, "", "method not allowed, use GET or POST");
    struct form f = {0};
    const char *ctype = req->header ? req->header(req->ctx, "Content-Type") : NULL;
    if (strcmp(req->method, "POST") == 0 && req->body_len && ctype &&
        strncasecmp(ctype, "application/x-www-form-urlencoded", 33) == 0) {
        if (form_parse(&f, req->body, req->body_len))
            return NE_ENOMEM;
    }
    int rc = 0;
    if (ne_http_check_auth(o->auth_token, req) != 0) {
        rc = set_json_error(resp, 401, "", "authorization failed");
        goto out;
    }
    const char *q = param(req, &f, "q");
    if (!q || !*q) {
        rc = set_json_error(resp, 400, "", "missing required parameter \"q\"");
        goto out;
    }
    struct ne_iql_query *parsed = NULL;
    char err[512];
    int prc = ne_iql_parse(q, strlen(q), &parsed, err, sizeof err);
    if (prc == NE_ENOMEM) {
        rc = NE_ENOMEM;
        goto out;
    }
    if (prc) {
        rc = set_json_error(resp, 400, "error parsing query: ", err);
        goto out;
    }
    const char *accept = req->header ? req->header(req->ctx, "Accept") : NULL;
    bool csv = accept && strstr(accept, "application/csv") != NULL;
    const char *epoch = param(req, &f, "epoch");
    const char *pretty = param(req, &f, "pretty");
    struct growbuf g = {0};
    struct ne_qwriter_opts wo = {.format = csv ? NE_QFMT_CSV : NE_QFMT_JSON,
                                 .epoch = epoch,
                                 .pretty = pretty && strcmp(pretty, "true") == 0,
                                 .emit = grow_emit,
                                 .emit_ctx = &g};
    struct ne_qwriter *w = NULL;
    int wrc = ne_qwriter_new(&wo, &w);
    if (wrc == NE_EINVAL) {
        ne_iql_free(&parsed);
        rc = set_json_error(resp, 400, "", "invalid epoch: use ns, u, ms, s, m or h");
        goto out;
    }
    if (wrc) {
        ne_iql_free(&parsed);
        rc = NE_ENOMEM;
        goto out;
    }
    const char *db = param(req, &f, "db");
    struct ne_query_opts qo = {.db = db && *db ? db : o->default_db,
                               .now_ns = ne_time_wall_ns()};
    int qrc = ne_query_run(o->src, &qo, parsed, ne_qwriter_out(w));
    if (qrc == 0)
        qrc = ne_qwriter_finish(w);
    ne_qwriter_free(&w);
    ne_iql_free(&parsed);
    if (qrc) {
        ne_free(g.p);
        rc = qrc == NE_ENOMEM ? NE_ENOMEM : set_json_error(resp, 500, "", ne_strerror(qrc));
        goto out;
    }
    resp->status = 200;
    snprintf(resp->content_type, sizeof resp->content_type, "%s",
             csv ? "application/csv" : "application/json");
    resp->body = g.p;
    resp->body_len = g.n;
out:
    ne_free(f.buf);
    return rc;
}
