/*
 * httpc.c - blocking HTTP requests to a running daemon through libcurl.
 * One easy handle per request: the CLI makes one or two calls per run.
 */
#include "agent/httpc.h"

#include <curl/curl.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "agent/daemon.h"
#include "config/config.h"
#include "ports/err.h"
#include "ports/platform.h"

struct body_buf {
    char *p;
    size_t len, cap;
    int err;
};

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *ud)
{
    struct body_buf *b = ud;
    size_t n = size * nmemb;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = ne_realloc(b->p, cap);
        if (!p) {
            b->err = NE_ENOMEM;
            return 0;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, ptr, n);
    b->len += n;
    b->p[b->len] = '\0';
    return n;
}

void agent__http_base_url(const char *addr, char *buf, size_t n)
{
    const char *colon = strrchr(addr, ':');
    const char *port = colon ? colon + 1 : "8086";
    size_t hl = colon ? (size_t)(colon - addr) : strlen(addr);
    char host[256];
    snprintf(host, sizeof(host), "%.*s", (int)hl, addr);
    if (host[0] == '\0' || strcmp(host, "0.0.0.0") == 0 || strcmp(host, "*") == 0)
        snprintf(host, sizeof(host), "127.0.0.1");
    else if (strcmp(host, "[::]") == 0 || strcmp(host, "::") == 0)
        snprintf(host, sizeof(host), "[::1]");
    snprintf(buf, n, "http://%s:%s", host, port);
}

int agent__http_request(const char *method, const char *addr, const char *path, const char *token,
                        const char *accept, const char *body, size_t blen, long timeout_s,
                        struct agent__http_resp *out, char *err, size_t errn)
{
    size_t un = strlen(addr) + strlen(path) + 64;
    char *url = ne_malloc(un);
    if (!url) return NE_ENOMEM;
    agent__http_base_url(addr, url, un);
    size_t ul = strlen(url);
    snprintf(url + ul, un - ul, "%s", path);

    CURL *c = curl_easy_init();
    if (!c) {
        ne_free(url);
        return NE_ENOMEM;
    }
    struct curl_slist *hdrs = NULL;
    char auth[512], acc[256];
    if (token && *token) {
        snprintf(auth, sizeof(auth), "Authorization: Token %s", token);
        hdrs = curl_slist_append(hdrs, auth);
    }
    if (accept) {
        snprintf(acc, sizeof(acc), "Accept: %s", accept);
        hdrs = curl_slist_append(hdrs, acc);
    }
    struct body_buf b = {0};
    char ebuf[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, ebuf);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, timeout_s);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    if (hdrs) curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    if (strcmp(method, "HEAD") == 0) curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)blen);
    } else if (strcmp(method, "POST") == 0) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)0);
    }
    CURLcode cc = curl_easy_perform(c);
    int rc = 0;
    if (b.err) {
        rc = b.err;
    } else if (cc != CURLE_OK) {
        snprintf(err, errn, "%s: %s", url, ebuf[0] ? ebuf : curl_easy_strerror(cc));
        rc = NE_EIO;
    } else {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
        out->body = b.p;
        out->len = b.len;
        b.p = NULL;
    }
    ne_free(b.p);
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(c);
    ne_free(url);
    return rc;
}

char *agent__http_urlencode(const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(s);
    char *out = ne_malloc(n * 3 + 1), *o = out;
    if (!out) return NULL;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '_' || *p == '.' || *p == '~') {
            *o++ = (char)*p;
        } else {
            *o++ = '%';
            *o++ = hex[*p >> 4];
            *o++ = hex[*p & 15];
        }
    }
    *o = '\0';
    return out;
}

void agent__http_resp_free(struct agent__http_resp *r)
{
    ne_free(r->body);
    r->body = NULL;
    r->len = 0;
}

bool agent__daemon_opt(int ch, struct agent__daemon_opts *o)
{
    switch (ch) {
    case 'H':
        o->host = optarg;
        return true;
    case 't':
        o->token = optarg;
        return true;
    case 'c':
        o->cfg_path = optarg;
        return true;
    default:
        return false;
    }
}

int agent__daemon_addr(const char *cmd, const char *host, const char *cfg_path,
                       struct ne_config **cfg, const char **addr)
{
    *cfg = NULL;
    if (!host && ne_daemon_load_config(cfg_path, cfg) != 0)
        return -1;
    *addr = host ? host : (*cfg)->http.listen;
    if (!*addr || !**addr) {
        fprintf(stderr, "%s: no daemon address: give --host or set http.listen\n", cmd);
        ne_config_free(cfg);
        return -1;
    }
    return 0;
}
