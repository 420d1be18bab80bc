/*
 * sbuf.c - the growable text buffer (see sbuf.h). Capacity doubles, so
 * appending n bytes costs O(n) amortised.
 */
#include "agent/sbuf.h"

#include <stdio.h>
#include <string.h>

#include "ports/err.h"
#include "ports/platform.h"

void agent__sb_put(struct agent__sbuf *b, const char *s, size_t n)
{
    if (b->err) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 512;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = ne_realloc(b->p, cap);
        if (!p) {
            b->err = NE_ENOMEM;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void agent__sb_str(struct agent__sbuf *b, const char *s)
{
    agent__sb_put(b, s, strlen(s));
}

void agent__sb_json(struct agent__sbuf *b, const char *s)
{
    agent__sb_put(b, "\"", 1);
    const char *run = s;
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        if (*c != '"' && *c != '\\' && *c >= 0x20) continue;
        agent__sb_put(b, run, (size_t)((const char *)c - run));
        char esc[8];
        if (*c == '"' || *c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)*c;
            agent__sb_put(b, esc, 2);
        } else {
            snprintf(esc, sizeof(esc), "\\u%04x", *c);
            agent__sb_put(b, esc, 6);
        }
        run = (const char *)c + 1;
    }
    agent__sb_put(b, run, strlen(run));
    agent__sb_put(b, "\"", 1);
}

void agent__sb_free(struct agent__sbuf *b)
{
    ne_free(b->p);
    memset(b, 0, sizeof(*b));
}
