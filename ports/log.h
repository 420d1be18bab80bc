/*
 * log.h - leveled logging as logfmt lines (or JSON lines) on stderr.
 *
 * Every module logs through these; agent/ sets the level and format from
 * config. An error is logged once, where its context is; callers return it.
 * Line format (logfmt):
 *   ts=2026-01-01T00:00:00.123Z level=info mod=store msg="segment sealed" id=42
 * JSON: {"ts":"…","level":"info","mod":"store","msg":"segment sealed","id":"42"}
 */
#ifndef NE_PORTS_LOG_H
#define NE_PORTS_LOG_H

#include <stdarg.h>

enum ne_log_level { NE_LOG_DEBUG = 0, NE_LOG_INFO, NE_LOG_WARN, NE_LOG_ERROR, NE_LOG_OFF };

/* Process-wide settings; thread-safe to change at any time. */
void ne_log_set_level(enum ne_log_level lvl);
enum ne_log_level ne_log_get_level(void);
void ne_log_set_json(int json);
/* Parses "debug|info|warn|error|off". Returns 0 or NE_EINVAL. */
int ne_log_level_parse(const char *s, enum ne_log_level *out);

/* Logs msg for module mod. The varargs are key/value pairs of strings
 * (const char *), ended by NULL:
 *   ne_log(NE_LOG_INFO, "store", "segment sealed", "id", idbuf, "bytes", nbuf, NULL);
 * Values are quoted as logfmt requires. One write(2) per line. */
void ne_log(enum ne_log_level lvl, const char *mod, const char *msg, ...);

/* printf-style convenience: the formatted text becomes msg. */
void ne_logf(enum ne_log_level lvl, const char *mod, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define NE_DEBUG(mod, ...) ne_logf(NE_LOG_DEBUG, mod, __VA_ARGS__)
#define NE_INFO(mod, ...)  ne_logf(NE_LOG_INFO, mod, __VA_ARGS__)
#define NE_WARN(mod, ...)  ne_logf(NE_LOG_WARN, mod, __VA_ARGS__)
#define NE_ERROR(mod, ...) ne_logf(NE_LOG_ERROR, mod, __VA_ARGS__)

#endif
