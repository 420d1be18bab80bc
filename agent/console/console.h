/*
 * console.h - the web console page (agent/console/console.html), embedded
 * in the binary at build time by agent/console/embed.cmake and served at
 * GET /console by the admin HTTP server.
 *
 * The page is self-contained (HTML, CSS and script in one file, nothing
 * fetched from elsewhere) and reads the daemon's own API: /health,
 * /metrics, /api/v1/status, /api/v1/cluster and /query.
 */
#ifndef NE_AGENT_CONSOLE_H
#define NE_AGENT_CONSOLE_H

#include <stddef.h>

/* The page's bytes (static, NUL-terminated) and size; the size is 0 when
 * the build left the console out (NE_CONSOLE=OFF). */
extern const unsigned char agent__console_html[];
extern const size_t agent__console_html_len;

#endif
