/*
 * workers.c - a fixed pool of threads running queued jobs (workers.h).
 *
 * One mutex guards the queue (a singly linked list with a tail pointer,
 * the jobs' own links, so queueing never allocates) and the stopping
 * flag; idle threads wait on one condition variable. Stopping lets the
 * threads drain the queue before they leave, so every job taken runs.
 */
#include "agent/workers.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>

#include "ports/err.h"
#include "ports/platform.h"

struct agent__workers {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct agent__job *head, *tail; /* queued, guarded by mu */
    bool stopping;                  /* guarded by mu */
    unsigned n;                     /* threads started */
    char name[16];
    pthread_t threads[];
};

/* The next job, waiting for one; NULL once stopping with none left. */
static struct agent__job *next_job(struct agent__workers *w)
{
    pthread_mutex_lock(&w->mu);
    while (!w->head && !w->stopping)
        pthread_cond_wait(&w->cv, &w->mu);
    struct agent__job *job = w->head;
    if (job) {
        w->head = job->next;
        if (!w->head) w->tail = NULL;
        job->next = NULL;
    }
    pthread_mutex_unlock(&w->mu);
    return job;
}

static void *worker_main(void *arg)
{
    struct agent__workers *w = arg;
    pthread_setname_np(pthread_self(), w->name);
    struct agent__job *job;
    while ((job = next_job(w)))
        job->run(job); /* may free the job */
    return NULL;
}

/* Wakes and joins the threads started so far (once). */
static void workers_join(struct agent__workers *w)
{
    pthread_mutex_lock(&w->mu);
    w->stopping = true;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    for (unsigned i = 0; i < w->n; i++)
        pthread_join(w->threads[i], NULL);
    w->n = 0;
}

static void workers_release(struct agent__workers *w)
{
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    ne_free(w);
}

int agent__workers_start(unsigned n, const char *name, struct agent__workers **out)
{
    if (n == 0) n = 1;
    struct agent__workers *w = ne_calloc(1, sizeof *w + n * sizeof(pthread_t));
    if (!w) return NE_ENOMEM;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    snprintf(w->name, sizeof w->name, "%s", name ? name : "ne-worker");
    for (; w->n < n; w->n++) {
        if (pthread_create(&w->threads[w->n], NULL, worker_main, w) != 0) {
            workers_join(w);
            workers_release(w);
            return NE_EIO;
        }
    }
    *out = w;
    return 0;
}

int agent__workers_submit(struct agent__workers *w, struct agent__job *job)
{
    job->next = NULL;
    pthread_mutex_lock(&w->mu);
    bool taken = !w->stopping;
    if (taken) {
        if (w->tail)
            w->tail->next = job;
        else
            w->head = job;
        w->tail = job;
        pthread_cond_signal(&w->cv);
    }
    pthread_mutex_unlock(&w->mu);
    return taken ? 0 : NE_ECLOSED;
}

void agent__workers_stop(struct agent__workers *w)
{
    if (w) workers_join(w); /* only the stopping thread touches n */
}

void agent__workers_free(struct agent__workers **wp)
{
    if (!wp || !*wp) return;
    workers_join(*wp);
    workers_release(*wp);
    *wp = NULL;
}
