/*
 * httpc.h - a small blocking HTTP client (libcurl) for the CLI commands that
 * talk to a running daemon (flush, status, query).
 */
#ifndef NE_AGENT_HTTPC_H
#define NE_AGENT_HTTPC_H

#include <stdbool.h>
#include <stddef.h>

struct agent__http_resp {
    long status; /* HTTP status code */
    char *body;  /* NUL-terminated; owned, free with agent__http_resp_free */
    size_t len;
};

/* Sends method to http://addr/path (addr "host:port"; a wildcard host such
 * as 0.0.0.0 or [::] means the local host) with an optional body, an
 * optional auth token ("Authorization: Token <token>") and an optional
 * Accept header (NULL: none). Returns 0 with
 * *out filled whatever the status, or NE_EIO (err gets curl's reason, e.g.
 * "Couldn't connect to server") / NE_ENOMEM. timeout_s bounds the call. */
int agent__http_request(const char *method, const char *addr, const char *path, const char *token,
                        const char *accept, const char *body, size_t blen, long timeout_s,
                        struct agent__http_resp *out, char *err, size_t errn);

/* URL-encodes s (RFC 3986 unreserved characters kept). Returns a new string
 * (ne_free) or NULL. */
char *agent__http_urlencode(const char *s);

void agent__http_resp_free(struct agent__http_resp *r);

struct ne_config;

/* The daemon address for a CLI command: host when given, else http.listen of
 * the config at cfg_path (or the default). *cfg gets the loaded config (NULL
 * when host was given; free it with ne_config_free). Returns 0, or prints
 * "CMD: ..." on stderr and returns -1. */
int agent__daemon_addr(const char *cmd, const char *host, const char *cfg_path,
                       struct ne_config **cfg, const char **addr);

/* Where a CLI command finds the daemon: -H/--host, -t/--token and
 * -c/--config, borrowed from argv (NULL when not given). */
struct agent__daemon_opts {
    const char *host, *token, *cfg_path;
};

/* The getopt_long entries of those three options ("H:t:c:" in the short
 * option string), a comma after the last: more entries follow. */
#define AGENT__DAEMON_LONGOPTS                                                                     \
    {"host", required_argument, NULL, 'H'}, {"token", required_argument, NULL, 't'},               \
        {"config", required_argument, NULL, 'c'},

/* Takes getopt's option ch into o when it is H, t or c (optarg). Returns
 * true when it was one of them. */
bool agent__daemon_opt(int ch, struct agent__daemon_opts *o);

/* Builds "http://host:port" from a listen address into buf. */
void agent__http_base_url(const char *addr, char *buf, size_t n);

#endif
