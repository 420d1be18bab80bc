/*
 * workers.h - a fixed pool of threads that run queued jobs, first in,
 * first out. The HTTP server hands queries to one so that a long query
 * never holds a libmicrohttpd thread, which also serves writes and
 * health checks.
 */
#ifndef NE_AGENT_WORKERS_H
#define NE_AGENT_WORKERS_H

/* A job: embedded by the caller in its own structure, which it owns. The
 * pool links it while queued and calls run(job) once on one of its
 * threads; run may free the structure around it. */
struct agent__job {
    void (*run)(struct agent__job *job);
    struct agent__job *next; /* the pool's */
};

struct agent__workers;

/* Starts n threads (at least 1) named name (at most 15 characters) for
 * the pool in *out (agent__workers_stop). Returns 0, NE_ENOMEM, or
 * NE_EIO when a thread cannot be started. */
int agent__workers_start(unsigned n, const char *name, struct agent__workers **out);

/* Queues job, which must stay valid until it has run. Returns 0, or
 * NE_ECLOSED once the pool is stopping: the job was not taken, the
 * caller runs it (or drops it) itself. */
int agent__workers_submit(struct agent__workers *w, struct agent__job *job);

/* Stops taking jobs (agent__workers_submit answers NE_ECLOSED from then
 * on), lets the threads run every job already queued and joins them. The
 * pool stays valid for submit until agent__workers_free. Once is enough;
 * later calls do nothing. NULL is fine. */
void agent__workers_stop(struct agent__workers *w);

/* Stops the pool if it still runs, then frees it; *wp is set to NULL.
 * NULL and *wp NULL are fine. */
void agent__workers_free(struct agent__workers **wp);

#endif
