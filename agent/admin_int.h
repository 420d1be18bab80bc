/*
 * admin_int.h - what the files of the HTTP server share: agent/admin.c
 * (the server, its routes and their glue to libmicrohttpd) and
 * agent/admin_query.c (/query). The server's state, a request and the
 * answer a route's handler builds.
 */
#ifndef NE_AGENT_ADMIN_INT_H
#define NE_AGENT_ADMIN_INT_H

#include <microhttpd.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/admin.h"

struct ne_agent;
struct ne_central;
struct ne_central_push;
struct agent__workers;
struct wbufs;
struct route;
struct query_job;

struct ne_admin {
    struct MHD_Daemon *mhd;
    int port;
    uint64_t max_body;
    const char *default_db;
    struct ne_agent *agent;
    pthread_mutex_t mu;
    char *token; /* guarded by mu; NULL: no auth */
    /* role central: the receiver of segment pushes; NULL otherwise */
    struct ne_central *central;
    /* /ping's answer, the same every time: made once, queued by every
     * request (libmicrohttpd counts its users), destroyed at stop */
    struct MHD_Response *ping;
    /* write buffers kept between requests (struct wbufs), guarded by
     * pool_mu */
    pthread_mutex_t pool_mu;
    struct wbufs *pool;
    unsigned npool, pool_max;
    /* the threads that run queries reading data (query_submit), as many
     * as the HTTP threads */
    struct agent__workers *queries;
};

/* What a handler answers. body is owned (ne_malloc) or NULL. */
struct answer {
    int status;
    const char *content_type;
    char *body;
    size_t len;
    char retry_after[16];   /* "" for none */
    char influx_error[512]; /* "" for none */
    bool body_static;       /* body is static data, never freed */
    const char *location;   /* Location header (redirects), static; NULL for none */
    bool page;              /* an HTML page: no caching, strict CSP */
    struct MHD_Response *stream; /* a streamed body (chunked /query), or NULL */
    struct MHD_Response *shared; /* a response kept by the server (borrowed), or NULL */
};

struct request {
    struct route *route;
    struct MHD_Connection *conn;
    const char *method, *path;
    char *body;
    size_t len, cap;
    size_t expect; /* declared Content-Length, 0 if unknown */
    bool too_big;  /* over max_body_bytes: the rest is dropped, answer 413 */
    bool nomem;    /* the body could not be held: answer 503 */
    struct wbufs *wb; /* a write's reusable buffers (from ne_admin.pool), or NULL */
    /* POST /api/v1/segments: where the body goes */
    struct ne_central_push *push;
    struct query_job *job; /* a query on the query pool, or NULL */
};

/* Sets out to the JSON error {"error":"msg"} with status; msg must need no
 * escaping beyond quotes, which are replaced. Without memory the answer
 * has the status and no body. */
void agent__answer_error(struct answer *out, int status, const char *msg);

/* True when the connection carries the auth token the way InfluxDB
 * clients send it, or when no token is set. */
bool agent__authorized(struct ne_admin *a, struct MHD_Connection *c);

/* ---- admin_query.c ---- */

/* GET|POST /query: answers out at once, streams it (chunked=true), or
 * hands the query to the query threads and suspends the connection with
 * the job in r->job; the connection's next access handler call, once
 * resumed, sends agent__query_job_answer(r->job). */
void agent__h_query(struct ne_admin *a, struct request *r, struct answer *out);

/* The answer a finished job holds (the job keeps owning it until
 * send_answer takes its body). */
struct answer *agent__query_job_answer(struct query_job *j);

/* Frees a job and what it still owns; NULL is fine. The request's
 * completion callback calls it. */
void agent__query_job_free(struct query_job *j);

#endif
