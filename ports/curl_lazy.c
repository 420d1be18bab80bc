/*
 * curl_lazy.c - libcurl, loaded on first use.
 *
 * The daemon needs libcurl only for the sinks (S3, central) and the CLI
 * only for the commands that talk to a daemon, yet linking it loads
 * libcurl and its own dependencies (Kerberos, LDAP, SASL, SSH, RTMP,
 * HTTP/2, IDN, PSL, Brotli: twenty libraries) into every process at
 * start: about 1.4 MiB resident for nothing on a gateway without sinks.
 *
 * So ne::curl (cmake/NeoedgeDeps.cmake) is this file, not libcurl: it
 * defines the libcurl functions neoedge calls, with libcurl's own
 * prototypes (<curl/curl.h>), and each one loads libcurl.so.4 with dlopen
 * the first time any of them runs, then forwards to the real function.
 * Callers include <curl/curl.h> and call libcurl as usual.
 *
 * When libcurl cannot be loaded the reason is logged once and the calls
 * fail the way libcurl reports failure: curl_easy_init and
 * curl_slist_append return NULL, curl_global_init and the CURLcode
 * functions CURLE_FAILED_INIT, curl_easy_strerror names the problem.
 *
 * Adding a call to a libcurl function not defined here fails at link time
 * (undefined reference): add it to struct curl_fns and define it below.
 *
 * curl_easy_setopt and curl_easy_getinfo are variadic: the one argument
 * after the option is passed on with the type libcurl reads for that
 * option (long, pointer, function pointer or curl_off_t, by the option's
 * number range as curl.h defines them).
 */
#define CURL_DISABLE_TYPECHECK /* plain prototypes, not curl.h's checking macros */
#include <curl/curl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>

#include "ports/lazylib.h"

#define LIBCURL "libcurl.so.4"

typedef void (*any_fn)(void);

static struct curl_fns {
    CURLcode (*global_init)(long);
    void (*global_cleanup)(void);
    char *(*version)(void);
    CURL *(*easy_init)(void);
    CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
    CURLcode (*easy_perform)(CURL *);
    void (*easy_cleanup)(CURL *);
    CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
    CURL *(*easy_duphandle)(CURL *);
    void (*easy_reset)(CURL *);
    const char *(*easy_strerror)(CURLcode);
    char *(*easy_escape)(CURL *, const char *, int);
    char *(*easy_unescape)(CURL *, const char *, int, int *);
    void (*free)(void *);
    struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
    void (*slist_free_all)(struct curl_slist *);
} fns;

static const struct ne_lazysym syms[] = {
    {"curl_global_init", &fns.global_init},
    {"curl_global_cleanup", &fns.global_cleanup},
    {"curl_version", &fns.version},
    {"curl_easy_init", &fns.easy_init},
    {"curl_easy_setopt", &fns.easy_setopt},
    {"curl_easy_perform", &fns.easy_perform},
    {"curl_easy_cleanup", &fns.easy_cleanup},
    {"curl_easy_getinfo", &fns.easy_getinfo},
    {"curl_easy_duphandle", &fns.easy_duphandle},
    {"curl_easy_reset", &fns.easy_reset},
    {"curl_easy_strerror", &fns.easy_strerror},
    {"curl_easy_escape", &fns.easy_escape},
    {"curl_easy_unescape", &fns.easy_unescape},
    {"curl_free", &fns.free},
    {"curl_slist_append", &fns.slist_append},
    {"curl_slist_free_all", &fns.slist_free_all},
};

static struct ne_lazylib lib = NE_LAZYLIB_INIT(LIBCURL, "curl", syms);

static bool ready(void)
{
    return ne_lazylib_ready(&lib);
}

CURLcode curl_global_init(long flags)
{
    return ready() ? fns.global_init(flags) : CURLE_FAILED_INIT;
}

void curl_global_cleanup(void)
{
    if (ready()) fns.global_cleanup();
}

char *curl_version(void)
{
    static char none[] = "libcurl not loaded";
    return ready() ? fns.version() : none;
}

CURL *curl_easy_init(void)
{
    return ready() ? fns.easy_init() : NULL;
}

CURLcode curl_easy_setopt(CURL *c, CURLoption opt, ...)
{
    if (!ready()) return CURLE_FAILED_INIT;
    va_list ap;
    va_start(ap, opt);
    CURLcode rc;
    if (opt < CURLOPTTYPE_OBJECTPOINT)
        rc = fns.easy_setopt(c, opt, va_arg(ap, long));
    else if (opt < CURLOPTTYPE_FUNCTIONPOINT)
        rc = fns.easy_setopt(c, opt, va_arg(ap, void *));
    else if (opt < CURLOPTTYPE_OFF_T)
        rc = fns.easy_setopt(c, opt, va_arg(ap, any_fn));
    else if (opt < CURLOPTTYPE_BLOB)
        rc = fns.easy_setopt(c, opt, va_arg(ap, curl_off_t));
    else
        rc = fns.easy_setopt(c, opt, va_arg(ap, void *)); /* struct curl_blob * */
    va_end(ap);
    return rc;
}

CURLcode curl_easy_perform(CURL *c)
{
    return ready() ? fns.easy_perform(c) : CURLE_FAILED_INIT;
}

void curl_easy_cleanup(CURL *c)
{
    if (ready()) fns.easy_cleanup(c);
}

CURLcode curl_easy_getinfo(CURL *c, CURLINFO info, ...)
{
    if (!ready()) return CURLE_FAILED_INIT;
    va_list ap;
    va_start(ap, info);
    CURLcode rc = fns.easy_getinfo(c, info, va_arg(ap, void *)); /* always a pointer */
    va_end(ap);
    return rc;
}

CURL *curl_easy_duphandle(CURL *c)
{
    return ready() ? fns.easy_duphandle(c) : NULL;
}

void curl_easy_reset(CURL *c)
{
    if (ready()) fns.easy_reset(c);
}

const char *curl_easy_strerror(CURLcode code)
{
    return ready() ? fns.easy_strerror(code) : lib.error;
}

char *curl_easy_escape(CURL *c, const char *s, int len)
{
    return ready() ? fns.easy_escape(c, s, len) : NULL;
}

char *curl_easy_unescape(CURL *c, const char *s, int len, int *outlen)
{
    return ready() ? fns.easy_unescape(c, s, len, outlen) : NULL;
}

void curl_free(void *p)
{
    if (ready()) fns.free(p);
}

struct curl_slist *curl_slist_append(struct curl_slist *l, const char *s)
{
    return ready() ? fns.slist_append(l, s) : NULL;
}

void curl_slist_free_all(struct curl_slist *l)
{
    if (ready()) fns.slist_free_all(l);
}
