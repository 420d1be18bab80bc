/*
 * s3_it_lib.h - what the programs run by run_s3.sh share: their
 * environment and plain HTTP calls to the test proxy's admin port
 * (/stats, /faults, /reset) or to any URL. Header-only, for test programs.
 */
#ifndef NE_TESTS_S3_IT_LIB_H
#define NE_TESTS_S3_IT_LIB_H

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The variable run_s3.sh sets; exits 2 naming it when it is missing. */
static inline const char *s3_it_env(const char *name)
{
    const char *v = getenv(name);
    if (!v) {
        fprintf(stderr, "%s is not set: run through run_s3.sh\n", name);
        exit(2);
    }
    return v;
}

struct s3_it_text {
    char *p;
    size_t len;
};

static inline size_t s3_it_text_write(char *d, size_t sz, size_t n, void *ud)
{
    struct s3_it_text *s = ud;
    char *q = realloc(s->p, s->len + sz * n + 1);
    if (!q) return 0;
    memcpy(q + s->len, d, sz * n);
    s->p = q;
    s->len += sz * n;
    s->p[s->len] = '\0';
    return sz * n;
}

/* GETs url (or POSTs body to it); returns the answer (the caller frees
 * it) or NULL when the request failed. */
static inline char *s3_it_http(const char *url, const char *body)
{
    struct s3_it_text s = {0};
    CURL *h = curl_easy_init();
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, s3_it_text_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &s);
    if (body) curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    CURLcode rc = curl_easy_perform(h);
    curl_easy_cleanup(h);
    if (rc != CURLE_OK) {
        free(s.p);
        return NULL;
    }
    return s.p ? s.p : strdup("");
}

/* The same against a path of the proxy's admin port. */
static inline char *s3_it_admin(const char *path, const char *body)
{
    char url[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%s%s", s3_it_env("S3_IT_ADMIN_PORT"), path);
    return s3_it_http(url, body);
}

#endif
