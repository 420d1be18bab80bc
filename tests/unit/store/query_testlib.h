/*
 * query_testlib.h - helpers shared by the tests that run InfluxQL over a
 * store or a cluster source: the answer collected as text. Include after
 * engine_util.h (EU_T0, EU_SEC).
 */
#ifndef NE_TESTS_QUERY_TESTLIB_H
#define NE_TESTS_QUERY_TESTLIB_H

#include <stdlib.h>
#include <string.h>

#include "store/query/query.h"

/* Text a query writer emitted, NUL-terminated (p NULL while empty). */
struct qt_text {
    char *p;
    size_t n;
};

/* ne_qwriter emit callback appending to the struct qt_text at ctx. */
static inline int qt_text_emit(void *ctx, const char *p, size_t n)
{
    struct qt_text *t = ctx;
    t->p = realloc(t->p, t->n + n + 1);
    memcpy(t->p + t->n, p, n);
    t->n += n;
    t->p[t->n] = 0;
    return 0;
}

/* Runs q over src (database "db", now one hour after EU_T0) through a
 * writer made from wo (its emit and emit_ctx are set here). *out gets what
 * the writer emitted whatever the result (malloc'ed, the caller frees it;
 * NULL when nothing). Returns 0 or the first error. */
static inline int qt_query(const struct ne_qsrc *src, struct ne_qwriter_opts wo, const char *q,
                           char **out)
{
    struct qt_text t = {0};
    wo.emit = qt_text_emit;
    wo.emit_ctx = &t;
    struct ne_qwriter *w = NULL;
    int rc = ne_qwriter_new(&wo, &w);
    if (!rc) {
        struct ne_query_opts qo = {.db = "db", .now_ns = EU_T0 + 3600 * EU_SEC};
        rc = ne_query_text(src, &qo, q, strlen(q), ne_qwriter_out(w));
        if (!rc) rc = ne_qwriter_finish(w);
        ne_qwriter_free(&w);
    }
    *out = t.p;
    return rc;
}

#endif
