/*
 * stream.c - a query answer as a byte stream: the query runs on a thread
 * of its own and writes through a result writer into a bounded buffer;
 * the caller (an HTTP response body callback) pulls bytes out of it.
 *
 * The executor pushes its output, a response body is pulled: the buffer
 * between them holds at most max_buffered bytes plus one emit of the
 * writer (a chunk line, or 64 KiB of a longer one), so a long answer never
 * sits in memory whole. The producer waits while the buffer is full; the
 * reader waits while it is empty. ne_qstream_free sets the stop flag, so a
 * producer blocked on a reader that went away returns an error from its
 * emit, the executor stops at its next output, and the thread is joined.
 */
#include <pthread.h>
#include <string.h>

#include "ports/err.h"
#include "ports/platform.h"
#include "store/query/query.h"

#define DEFAULT_MAX_BUFFERED (64u << 10)

struct ne_qstream {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    char *buf; /* pending bytes: [off, len) */
    size_t off, len, cap, max;
    bool done, stop;
    int rc; /* the query's result once done */

    struct ne_qsrc src;
    struct ne_query_opts qopts;
    char *db;
    struct ne_iql_query *q;
    struct ne_qwriter *w;
};

/* The writer's emit: appends to the buffer, waiting for room. */
static int stream_emit(void *ctx, const char *p, size_t n)
{
    struct ne_qstream *st = ctx;
    int rc = 0;
    pthread_mutex_lock(&st->mu);
    while (!st->stop && st->len - st->off >= st->max)
        pthread_cond_wait(&st->cv, &st->mu);
    if (st->stop) {
        rc = NE_ECLOSED;
    } else {
        if (st->off == st->len) st->off = st->len = 0;
        if (st->len + n > st->cap && st->off) {
            size_t live = st->len - st->off;
            memmove(st->buf, st->buf + st->off, live); /* reclaim what was read */
            st->off = 0;
            st->len = live;
        }
        if (st->len + n > st->cap) {
            char *b = ne_realloc(st->buf, st->len + n);
            if (b) {
                st->buf = b;
                st->cap = st->len + n;
            } else {
                rc = NE_ENOMEM;
            }
        }
        if (!rc) {
            memcpy(st->buf + st->len, p, n);
            st->len += n;
            pthread_cond_broadcast(&st->cv);
        }
    }
    pthread_mutex_unlock(&st->mu);
    return rc;
}

static void *stream_main(void *arg)
{
    struct ne_qstream *st = arg;
    int rc = ne_query_run(&st->src, &st->qopts, st->q, ne_qwriter_out(st->w));
    if (!rc) rc = ne_qwriter_finish(st->w);
    pthread_mutex_lock(&st->mu);
    st->rc = rc;
    st->done = true;
    pthread_cond_broadcast(&st->cv);
    pthread_mutex_unlock(&st->mu);
    return NULL;
}

static void stream_release(struct ne_qstream *st)
{
    ne_qwriter_free(&st->w);
    ne_free(st->buf);
    ne_free(st->db);
    pthread_mutex_destroy(&st->mu);
    pthread_cond_destroy(&st->cv);
    ne_free(st);
}

int ne_qstream_start(const struct ne_qstream_opts *o, struct ne_iql_query *q,
                     struct ne_qstream **out)
{
    if (!o || !o->src || !o->qopts || !q || !out) return NE_EINVAL;
    struct ne_qstream *st = ne_calloc(1, sizeof *st);
    if (!st) return NE_ENOMEM;
    pthread_mutex_init(&st->mu, NULL);
    pthread_cond_init(&st->cv, NULL);
    st->max = o->max_buffered ? o->max_buffered : DEFAULT_MAX_BUFFERED;
    st->src = *o->src;
    st->qopts = *o->qopts;
    int rc = 0;
    if (o->qopts->db) {
        st->db = ne_strdup(o->qopts->db);
        rc = st->db ? 0 : NE_ENOMEM;
        st->qopts.db = st->db;
    }
    struct ne_qwriter_opts wo = o->wopts;
    wo.emit = stream_emit;
    wo.emit_ctx = st;
    if (!rc) rc = ne_qwriter_new(&wo, &st->w);
    st->q = q;
    if (!rc && pthread_create(&st->thread, NULL, stream_main, st) != 0) rc = NE_ENOMEM;
    if (rc) {
        stream_release(st); /* q stays the caller's */
        return rc;
    }
    *out = st;
    return 0;
}

long ne_qstream_read(struct ne_qstream *st, char *buf, size_t max)
{
    pthread_mutex_lock(&st->mu);
    while (st->off == st->len && !st->done)
        pthread_cond_wait(&st->cv, &st->mu);
    long n;
    if (st->off < st->len) {
        size_t k = st->len - st->off < max ? st->len - st->off : max;
        memcpy(buf, st->buf + st->off, k);
        st->off += k;
        n = (long)k;
        pthread_cond_broadcast(&st->cv);
    } else {
        n = st->rc ? st->rc : 0;
    }
    pthread_mutex_unlock(&st->mu);
    return n;
}

void ne_qstream_free(struct ne_qstream **sp)
{
    struct ne_qstream *st = sp ? *sp : NULL;
    if (!st) return;
    pthread_mutex_lock(&st->mu);
    st->stop = true;
    pthread_cond_broadcast(&st->cv);
    pthread_mutex_unlock(&st->mu);
    pthread_join(st->thread, NULL);
    ne_iql_free(&st->q);
    stream_release(st);
    *sp = NULL;
}
