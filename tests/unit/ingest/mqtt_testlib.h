/*
 * mqtt_testlib.h - helpers for the MQTT and CoAP source tests: a recording
 * sink, free loopback ports, child processes (mosquitto, publishers,
 * coap-client) and temporary directories.
 *
 * The recording sink identifies each point by the integer value of one field
 * (id_field, e.g. "seq"), so a test can tell every lost and duplicated point.
 */
#ifndef NE_TESTS_INGEST_MQTT_TESTLIB_H
#define NE_TESTS_INGEST_MQTT_TESTLIB_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ingest/ingest.h"

#define REC_MAX_IDS 400000
#define REC_SAMPLES 8

struct rec_sink {
    pthread_mutex_t mu;
    const char *id_field; /* field whose value identifies a point */
    uint16_t *seen;       /* count per id, REC_MAX_IDS entries */
    uint64_t points, distinct, dups, no_id, calls;
    atomic_int refuse;             /* refuse this many more calls with refuse_rc */
    atomic_int refuse_rc;          /* what a refused call returns */
    uint64_t refused;              /* calls refused so far */
    char db[64];                   /* database of the last write */
    char sample[REC_SAMPLES][256]; /* text of the first points */
    size_t nsample;
};

/* Initialises the sink (id_field borrowed) and returns its ne_ingest_sink. */
struct ne_ingest_sink rec_init(struct rec_sink *r, const char *id_field);
void rec_free(struct rec_sink *r);
/* Forgets everything recorded (keeps id_field and the refusal settings). */
void rec_clear(struct rec_sink *r);
/* Waits until at least n distinct ids were recorded or timeout_s passed.
 * Returns the number of distinct ids. */
uint64_t rec_wait(struct rec_sink *r, uint64_t n, int timeout_s);
/* Number of ids in [0, n) never seen. */
uint64_t rec_missing(struct rec_sink *r, uint64_t n);
/* Copy of sample i ("" if none). */
void rec_sample(struct rec_sink *r, size_t i, char *out, size_t n);

/* The counts and the last database, read under the sink's lock (the
 * source's threads write them). */
struct rec_counts {
    uint64_t points, distinct, dups;
    char db[64];
};
struct rec_counts rec_counts(struct rec_sink *r);

/* Value of a registered counter or gauge; 0 when not registered yet. */
double tl_metric(const char *name, const char *labels);

/* A TCP or UDP port on 127.0.0.1 that was free a moment ago. */
int tl_free_port(bool udp);
/* True once something accepts TCP connections on 127.0.0.1:port. */
bool tl_wait_tcp(int port, int timeout_s);

/* Starts argv[0] (PATH lookup) with stdin from in_path (NULL: /dev/null)
 * and stdout+stderr to out_path (NULL: /dev/null). Returns the pid or -1. */
pid_t tl_spawn(char *const argv[], const char *in_path, const char *out_path);
/* Sends sig and reaps the child. Returns its wait status. */
int tl_kill(pid_t pid, int sig);
/* Waits for the child to exit (timeout_s, then SIGKILL). Returns the exit
 * code, or -1 if it was killed. */
int tl_wait(pid_t pid, int timeout_s);
/* Runs argv to completion (timeout_s) with stdin from in_path; captures
 * stdout+stderr into out (n bytes, NUL-terminated). Returns the exit code. */
int tl_run(char *const argv[], const char *in_path, char *out, size_t n, int timeout_s);

/* Writes len bytes to path. Returns 0 or -1. */
int tl_write_file(const char *path, const void *buf, size_t len);
/* Removes the directory tree. */
void tl_rmtree(const char *dir);

/* A mosquitto broker on 127.0.0.1:port started by the test. */
struct tl_broker {
    pid_t pid;
    int port;
    char dir[256];
    char conf[300];
};
/* Writes a config (listener on port, anonymous, persistence as asked,
 * unlimited queues) into dir and starts the broker. Returns 0 or -1. */
int tl_broker_start(struct tl_broker *b, const char *dir, int port, bool persistence);
/* Stops it (SIGTERM, so a persistent broker saves its database). */
void tl_broker_stop(struct tl_broker *b);

#endif
