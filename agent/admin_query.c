/*
 * admin_query.c - GET|POST /query, the InfluxDB 1.x query API, on the
 * HTTP server of admin.c.
 *
 * Parameters come from the URL or a form body (q, db, epoch, pretty,
 * chunked, chunk_size); Accept picks JSON or CSV. A query answers in one
 * of three ways:
 *   chunked=true   streamed from a thread of its own (ne_qstream) through
 *                  a libmicrohttpd content reader, a chunk at a time;
 *   reads data     SELECT, DELETE, DROP: run on the query threads while
 *                  the connection is suspended (query_submit), answered
 *                  whole when the thread resumes it;
 *   otherwise      SHOW and CREATE, from the series index: answered whole
 *                  on the HTTP thread.
 * A syntax error is 400; an error inside a statement is reported in that
 * statement's result, as InfluxDB does.
 */
#include <microhttpd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "agent/admin_int.h"
#include "agent/agent.h"
#include "agent/mod_cluster.h"
#include "agent/workers.h"
#include "ports/err.h"
#include "ports/platform.h"
#include "sharding/scan_src.h"
#include "store/query/query.h"


static int hexval(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* URL-decodes the value of key in an application/x-www-form-urlencoded
 * body (InfluxDB clients POST q= that way). Returns a new string or NULL. */
static char *form_value(const char *body, size_t len, const char *key)
{
    size_t kl = strlen(key);
    const char *p = body, *end = body + len;
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *fe = amp ? amp : end;
        if ((size_t)(fe - p) > kl && strncmp(p, key, kl) == 0 && p[kl] == '=') {
            const char *v = p + kl + 1;
            char *out = ne_malloc((size_t)(fe - v) + 1), *o = out;
            if (!out) return NULL;
            for (; v < fe; v++) {
                if (*v == '+') {
                    *o++ = ' ';
                } else if (*v == '%' && fe - v > 2 && hexval(v[1]) >= 0 && hexval(v[2]) >= 0) {
                    *o++ = (char)(hexval(v[1]) * 16 + hexval(v[2]));
                    v += 2;
                } else {
                    *o++ = *v;
                }
            }
            *o = '\0';
            return out;
        }
        p = fe + 1;
    }
    return NULL;
}

static bool is_form(struct MHD_Connection *c)
{
    const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
    return ct && strncasecmp(ct, "application/x-www-form-urlencoded", 33) == 0;
}

/* A query parameter from the URL, else from a form body. *owned is set
 * when the result must be freed. */
static const char *param(struct request *r, const char *key, char **owned)
{
    const char *v = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, key);
    if (v || !r->body || !is_form(r->conn)) return v;
    *owned = form_value(r->body, r->len, key);
    return *owned;
}

/* JSON by default; CSV for Accept: application/csv or text/csv (as
 * InfluxDB); an aligned text table for Accept: text/plain. */
static enum ne_qfmt query_format(struct MHD_Connection *c, const char **ctype)
{
    const char *acc = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Accept");
    if (acc && (strstr(acc, "application/csv") || strstr(acc, "text/csv"))) {
        *ctype = "application/csv";
        return NE_QFMT_CSV;
    }
    if (acc && strncmp(acc, "text/plain", 10) == 0) {
        *ctype = "text/plain; charset=utf-8";
        return NE_QFMT_TABLE;
    }
    *ctype = "application/json";
    return NE_QFMT_JSON;
}

/* chunked=true: the answer streams from a query thread (ne_qstream)
 * through libmicrohttpd's content reader (chunked transfer encoding): JSON
 * as one InfluxDB response object per line, CSV as its rows; memory stays
 * bounded by a chunk. */
/* A streamed answer and the cluster source it reads (NULL: the store). */
struct query_body {
    struct ne_qstream *st;
    struct ne_csrc *cs;
};

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct query_body *qb = cls;
    (void)pos;
    long n = ne_qstream_read(qb->st, buf, max);
    if (n > 0) return (ssize_t)n;
    return n == 0 ? MHD_CONTENT_READER_END_OF_STREAM : MHD_CONTENT_READER_END_WITH_ERROR;
}

static void stream_free(void *cls)
{
    struct query_body *qb = cls;
    ne_qstream_free(&qb->st); /* the query thread is done with the source */
    ne_csrc_free(&qb->cs);
    ne_free(qb);
}

/* What a query reads: the whole cluster while the cluster module runs
 * (*cs is then the query's own source, freed by the caller after the
 * query), else this node's store. */
static int query_source(struct ne_admin *a, struct ne_qsrc *src, struct ne_csrc **cs)
{
    *cs = NULL;
    int rc = agent__cluster_running(a->agent) ? agent__cluster_source(a->agent, cs) : NE_ENOTFOUND;
    if (rc == 0) {
        ne_csrc_qsrc(*cs, src);
        return 0;
    }
    if (rc != NE_ENOTFOUND) return rc;
    ne_store_qsrc(a->agent->store, src);
    return 0;
}

/* chunk_size as InfluxDB reads it: a positive integer, else 10000. */
static size_t chunk_size_of(const char *v)
{
    char *end = NULL;
    long long n = v ? strtoll(v, &end, 10) : 0;
    return v && end != v && *end == '\0' && n > 0 ? (size_t)n : 10000;
}

/* Starts streaming the answer to *parsed (taken over: *parsed is set to
 * NULL once the stream owns it). */
static int query_stream(struct ne_admin *a, struct ne_iql_query **parsed,
                        const struct ne_qwriter_opts *wo, const char *db, size_t chunk_size,
                        const char *ctype, struct answer *out)
{
    struct query_body *qb = ne_calloc(1, sizeof *qb);
    if (!qb) return NE_ENOMEM;
    struct ne_qsrc src;
    int rc = query_source(a, &src, &qb->cs);
    struct ne_query_opts qo = {.db = db, .now_ns = ne_time_wall_ns()};
    struct ne_qstream_opts so = {.src = &src, .qopts = &qo, .wopts = *wo};
    so.wopts.chunked = true;
    so.wopts.chunk_size = chunk_size;
    if (rc == 0) rc = ne_qstream_start(&so, *parsed, &qb->st);
    if (rc) {
        stream_free(qb);
        return rc;
    }
    *parsed = NULL;
    out->stream =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 32 * 1024, stream_read, qb, stream_free);
    if (!out->stream) {
        stream_free(qb);
        return NE_ENOMEM;
    }
    out->status = MHD_HTTP_OK;
    out->content_type = ctype;
    return 0;
}

/* Runs *parsed to a whole answer in out (the body from the writer's
 * buffer). Frees *parsed. */
static void query_answer(struct ne_admin *a, struct ne_iql_query **parsed,
                         const struct ne_qwriter_opts *wopts, const char *db, const char *ctype,
                         struct answer *out)
{
    struct ne_qwriter_opts wo = *wopts;
    wo.keep = true; /* the whole answer is the body, sent from the writer's buffer */
    struct ne_qwriter *w = NULL;
    int rc = ne_qwriter_new(&wo, &w);
    if (rc != 0) {
        agent__answer_error(out, MHD_HTTP_BAD_REQUEST, ne_strerror(rc));
        goto out;
    }
    struct ne_qsrc src;
    struct ne_csrc *cs = NULL;
    rc = query_source(a, &src, &cs);
    struct ne_query_opts qo = {.db = db, .now_ns = ne_time_wall_ns()};
    if (rc == 0) rc = ne_query_run(&src, &qo, *parsed, ne_qwriter_out(w));
    ne_csrc_free(&cs);
    if (rc == 0) rc = ne_qwriter_finish(w);
    if (rc == 0) rc = ne_qwriter_take(w, &out->body, &out->len); /* taken over */
    if (rc != 0) {
        agent__answer_error(out, MHD_HTTP_INTERNAL_SERVER_ERROR, ne_strerror(rc));
        goto out;
    }
    out->status = MHD_HTTP_OK;
    out->content_type = ctype;
out:
    ne_iql_free(parsed);
    ne_qwriter_free(&w);
}

/* A query that reads or changes data runs on the query pool, its
 * connection suspended meanwhile: a scan of seconds then holds a query
 * thread, not the libmicrohttpd thread that also serves this thread's
 * other connections (writes, health checks). The SHOW and CREATE
 * statements answer from the series index in microseconds, and run on
 * the HTTP thread: the hand-over would cost more than they do.
 * Keeping the long work off the HTTP threads also keeps those threads
 * where the scheduler put them: a thread that ran a 30 ms scan tends to
 * be moved to another CPU than its client's, and every later request on
 * the connection then pays two cross-CPU wake-ups (SHOW TAG VALUES of
 * 1,000 values right after such a scan: 0.075 against 0.036 ms;
 * bench/README.md, "Long queries off the HTTP threads"). */
struct query_job {
    struct agent__job job;
    struct ne_admin *a;
    struct MHD_Connection *conn;
    struct ne_iql_query *parsed; /* owned until run */
    struct ne_qwriter_opts wo;   /* .epoch points into epoch */
    char *db, *epoch;            /* owned copies, or NULL */
    const char *ctype;
    struct answer ans; /* set by the query thread before it resumes conn */
};

static bool query_reads_data(const struct ne_iql_query *q)
{
    for (size_t i = 0; i < q->nstmts; i++) {
        enum ne_iql_stmt_kind k = q->stmts[i].kind;
        if (k == NE_IQL_SELECT || k == NE_IQL_DELETE || k == NE_IQL_DROP_MEASUREMENT ||
            k == NE_IQL_DROP_DATABASE)
            return true;
    }
    return false;
}

void agent__query_job_free(struct query_job *j)
{
    if (!j) return;
    ne_iql_free(&j->parsed);
    if (!j->ans.body_static) ne_free(j->ans.body);
    ne_free(j->db);
    ne_free(j->epoch);
    ne_free(j);
}

/* On a query thread: the answer, then the connection goes on (from then
 * on the job belongs to the request, freed with it). */
static void query_job_run(struct agent__job *job)
{
    struct query_job *j = (struct query_job *)job;
    query_answer(j->a, &j->parsed, &j->wo, j->db, j->ctype, &j->ans);
    MHD_resume_connection(j->conn);
}

/* Hands *parsed (taken over on success) to the query pool and suspends
 * the request's connection, which on_request answers from r->job when
 * the query thread resumes it. Returns 0, or NE_ENOMEM with nothing
 * handed over (the caller answers inline). */
static int query_submit(struct ne_admin *a, struct request *r, struct ne_iql_query **parsed,
                        const struct ne_qwriter_opts *wo, const char *db, const char *ctype)
{
    struct query_job *j = ne_calloc(1, sizeof *j);
    if (!j) return NE_ENOMEM;
    j->job.run = query_job_run;
    j->a = a;
    j->conn = r->conn;
    j->wo = *wo;
    j->ctype = ctype;
    if ((db && !(j->db = ne_strdup(db))) || (wo->epoch && !(j->epoch = ne_strdup(wo->epoch)))) {
        agent__query_job_free(j);
        return NE_ENOMEM;
    }
    j->wo.epoch = j->epoch;
    j->parsed = *parsed;
    *parsed = NULL;
    r->job = j;
    /* Suspended before it is queued: the query thread may resume it at
     * once. The connection is processed again only after this handler
     * returns. */
    MHD_suspend_connection(r->conn);
    if (!a->queries || agent__workers_submit(a->queries, &j->job) != 0)
        query_job_run(&j->job); /* no pool, or it is stopping: here and now */
    return 0;
}

void agent__h_query(struct ne_admin *a, struct request *r, struct answer *out)
{
    if (!agent__authorized(a, r->conn)) {
        agent__answer_error(out, MHD_HTTP_UNAUTHORIZED, "authorization failed");
        return;
    }
    char *q_owned = NULL, *db_owned = NULL, *ep_owned = NULL, *pr_owned = NULL;
    char *ch_owned = NULL, *cs_owned = NULL;
    const char *q = param(r, "q", &q_owned);
    const char *db = param(r, "db", &db_owned);
    const char *epoch = param(r, "epoch", &ep_owned);
    const char *pretty = param(r, "pretty", &pr_owned);
    const char *chunked = param(r, "chunked", &ch_owned);
    const char *chunk_size = param(r, "chunk_size", &cs_owned);
    struct ne_iql_query *parsed = NULL;
    if (!q || !*q) {
        agent__answer_error(out, MHD_HTTP_BAD_REQUEST, "missing required parameter \"q\"");
        goto out;
    }
    /* A syntax error is the request's fault: 400, as InfluxDB answers. */
    char perr[512];
    int prc = ne_iql_parse(q, strlen(q), &parsed, perr, sizeof perr);
    if (prc != 0) {
        char msg[600];
        snprintf(msg, sizeof msg, "error parsing query: %s", prc == NE_ENOMEM ? "out of memory" : perr);
        agent__answer_error(out, prc == NE_ENOMEM ? MHD_HTTP_INTERNAL_SERVER_ERROR : MHD_HTTP_BAD_REQUEST, msg);
        goto out;
    }
    const char *ctype = NULL;
    struct ne_qwriter_opts wo = {
        .format = query_format(r->conn, &ctype),
        .epoch = epoch,
        .pretty = pretty && strcmp(pretty, "true") == 0,
    };
    if (chunked && strcmp(chunked, "true") == 0 && wo.format != NE_QFMT_TABLE) {
        int rc = query_stream(a, &parsed, &wo, db, chunk_size_of(chunk_size), ctype, out);
        if (rc != 0)
            agent__answer_error(out, rc == NE_EINVAL ? MHD_HTTP_BAD_REQUEST : MHD_HTTP_INTERNAL_SERVER_ERROR,
                         ne_strerror(rc));
        goto out;
    }
    if (query_reads_data(parsed) && query_submit(a, r, &parsed, &wo, db, ctype) == 0)
        goto out; /* answered when the query thread resumes the connection */
    query_answer(a, &parsed, &wo, db, ctype, out);
out:
    ne_iql_free(&parsed);
    ne_free(q_owned);
    ne_free(db_owned);
    ne_free(ep_owned);
    ne_free(pr_owned);
    ne_free(ch_owned);
    ne_free(cs_owned);
}

struct answer *agent__query_job_answer(struct query_job *j)
{
    return &j->ans;
}
