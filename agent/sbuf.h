/*
 * sbuf.h - a growable text buffer for the agent's HTTP answers and JSON.
 * Allocation failure is sticky: every later append is a no-op and err says
 * NE_ENOMEM, so callers check once at the end.
 */
#ifndef NE_AGENT_SBUF_H
#define NE_AGENT_SBUF_H

#include <stddef.h>

struct agent__sbuf {
    char *p; /* NUL-terminated once anything was appended; owned (ne_free) */
    size_t len, cap;
    int err; /* 0 or NE_ENOMEM */
};

/* Appends n bytes of s. */
void agent__sb_put(struct agent__sbuf *b, const char *s, size_t n);
/* Appends a C string. */
void agent__sb_str(struct agent__sbuf *b, const char *s);
/* Appends s as a JSON string literal (quotes, escapes). */
void agent__sb_json(struct agent__sbuf *b, const char *s);
/* Frees the buffer and zeroes the struct. */
void agent__sb_free(struct agent__sbuf *b);

#endif
