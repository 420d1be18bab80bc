/*
 * http_query.h - the InfluxDB 1.x query endpoint (GET|POST /query),
 * without a transport: admin.c hands it a struct ne_http_req and sends the
 * struct ne_http_resp it fills.
 *
 * Parameters (query string, or an application/x-www-form-urlencoded POST
 * body, as InfluxDB accepts both): q (required; several statements may be
 * separated by ';'), db, epoch (ns, u, µ, ms, s, m, h; RFC3339 times when
 * absent), pretty, chunked (accepted; the answer is sent whole), and u/p
 * or an Authorization header when an auth token is configured.
 * "Accept: application/csv" answers in CSV.
 *
 * Answers: 200 with {"results":[...]} (an error inside one statement is
 * reported in that statement, as InfluxDB does); 400 {"error":"error
 * parsing query: ..."} for a syntax error or a missing q; 401 without the
 * token; 405 for other methods.
 */
#ifndef NE_AGENT_HTTP_QUERY_H
#define NE_AGENT_HTTP_QUERY_H

#include "ingest/http/http_write.h"
#include "store/query/query.h"

struct ne_http_query_opts {
    const struct ne_qsrc *src; /* borrowed */
    const char *auth_token;    /* NULL or "": no auth */
    const char *default_db;    /* used when no db= is given; may be NULL */
};

/* Fills resp (zeroed by the caller; free with ne_http_resp_free). Returns 0
 * when resp holds an answer, NE_ENOMEM when none could be built. */
int ne_http_query_handle(const struct ne_http_query_opts *o, const struct ne_http_req *req,
                         struct ne_http_resp *resp);

#endif
