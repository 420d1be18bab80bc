/*
 * workers_test.c - the query pool (agent/workers.h): every job queued
 * runs once, stopping runs what is queued before the threads leave, and
 * a stopping pool refuses new jobs so the caller can run them itself.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "agent/workers.h"
#include "ports/err.h"
#include "t.h"

#define JOBS 2000

struct counted {
    struct agent__job job;
    atomic_int *runs; /* shared count of jobs run */
    atomic_int times; /* this job's own runs */
    int sleep_us;     /* how long the job takes */
};

static void counted_run(struct agent__job *job)
{
    struct counted *c = (struct counted *)job;
    if (c->sleep_us) {
        struct timespec ts = {0, (long)c->sleep_us * 1000};
        nanosleep(&ts, NULL);
    }
    atomic_fetch_add(&c->times, 1);
    atomic_fetch_add(c->runs, 1);
}

static struct counted jobs[JOBS];

static void init_jobs(atomic_int *runs, int n, int sleep_us)
{
    for (int i = 0; i < n; i++) {
        jobs[i].job.run = counted_run;
        jobs[i].runs = runs;
        atomic_store(&jobs[i].times, 0);
        jobs[i].sleep_us = sleep_us;
    }
}

/* Many jobs from two submitting threads: each runs exactly once. */
static void *submit_half(void *arg)
{
    struct agent__workers *w = arg;
    for (int i = 0; i < JOBS / 2; i++)
        if (agent__workers_submit(w, &jobs[2 * i + 1].job) != 0) return (void *)1;
    return NULL;
}

static void test_every_job_runs_once(void)
{
    atomic_int runs = 0;
    init_jobs(&runs, JOBS, 0);
    struct agent__workers *w = NULL;
    T_OK(agent__workers_start(3, "t-workers", &w));
    pthread_t other;
    T_CHECK(pthread_create(&other, NULL, submit_half, w) == 0);
    for (int i = 0; i < JOBS / 2; i++)
        T_OK(agent__workers_submit(w, &jobs[2 * i].job));
    void *other_rc = (void *)1;
    pthread_join(other, &other_rc);
    T_CHECK(other_rc == NULL);
    agent__workers_free(&w);
    T_CHECK(w == NULL);
    T_EQ_INT(atomic_load(&runs), JOBS);
    for (int i = 0; i < JOBS; i++)
        T_EQ_INT(atomic_load(&jobs[i].times), 1);
}

/* Jobs still queued when the pool stops run before stop returns; after
 * it, submit says NE_ECLOSED and runs nothing. */
static void test_stop_drains_then_refuses(void)
{
    atomic_int runs = 0;
    init_jobs(&runs, 40, 2000); /* 40 jobs of 2 ms on 1 thread: most wait */
    struct agent__workers *w = NULL;
    T_OK(agent__workers_start(1, "t-drain", &w));
    for (int i = 0; i < 40; i++)
        T_OK(agent__workers_submit(w, &jobs[i].job));
    agent__workers_stop(w);
    T_EQ_INT(atomic_load(&runs), 40);
    struct counted late = {.job.run = counted_run, .runs = &runs};
    T_EQ_INT(agent__workers_submit(w, &late.job), NE_ECLOSED);
    agent__workers_stop(w); /* a second stop does nothing */
    agent__workers_free(&w);
    T_EQ_INT(atomic_load(&late.times), 0);
    T_EQ_INT(atomic_load(&runs), 40);
    agent__workers_free(&w); /* NULL is fine */
    agent__workers_stop(NULL);
}

int main(void)
{
    T_RUN(test_every_job_runs_once);
    T_RUN(test_stop_drains_then_refuses);
    return t_done();
}
