/*
 * internal.h - what the files of config/ share with each other (and with
 * the unit tests); nothing here is part of the public API.
 *
 * The schema is one table of keys (schema.c). Each key says where its value
 * lives in struct ne_config, how to parse it, its default (as YAML text), its
 * valid values and range, its doc line and whether a reload applies it
 * live. Loading, environment overrides, the default YAML, explain and diff
 * are all walks over that table, so a new key is one table row.
 */
#ifndef NE_CONFIG_INTERNAL_H
#define NE_CONFIG_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "config/yaml_tree.h"

enum cfg_kind {
    CFG_K_STR = 0,  /* char *, owned; "null"/"~"/"" plain means unset */
    CFG_K_BOOL,     /* bool */
    CFG_K_INT,      /* int */
    CFG_K_U64,      /* uint64_t count */
    CFG_K_DURATION, /* int64_t nanoseconds */
    CFG_K_SECONDS,  /* int seconds, written as a duration ("30s") */
    CFG_K_SIZE,     /* uint64_t bytes */
    CFG_K_ENUM,     /* int-sized enum (or bool when size is 1), by name */
    CFG_K_STRLIST,  /* char **, count at count_off */
    CFG_K_LIST,     /* array of item structs described by .item; count at count_off */
};

enum {
    CFG_F_LIVE = 1 << 0,     /* a reload applies it without a restart */
    CFG_F_REQUIRED = 1 << 1, /* list items: must be present and non-empty */
    CFG_F_SECRET = 1 << 2,   /* redacted by explain */
    CFG_F_UNIQUE = 1 << 3,   /* list items: no two items share the value */
    CFG_F_DERIVED = 1 << 4,  /* unset means computed from other keys */
};

struct cfg_enum {
    const char *name;
    int value;
};

/* Extra check of a parsed string value; writes a message and returns
 * non-zero when s is not acceptable. */
typedef int (*cfg_check_fn)(const char *s, char *msg, size_t n);

struct cfg_table;

struct cfg_key {
    const char *path; /* dotted, relative to its table */
    enum cfg_kind kind;
    size_t off, size;             /* the field inside the table's struct */
    size_t count_off;             /* STRLIST, LIST: the size_t element count */
    const char *def;              /* default as YAML text; NULL: unset */
    const struct cfg_enum *enums; /* ENUM: ends with a NULL name */
    int64_t min, max;             /* inclusive range when min < max */
    unsigned flags;               /* CFG_F_* */
    cfg_check_fn check;
    const struct cfg_table *item; /* LIST */
    const char *doc;              /* one sentence or two, no trailing newline */
    const char *example;          /* shown commented out when there is no default */
};

/* Checks one list item after all its fields are set. On failure writes
 * the offending field name (relative, "" for the whole item) and a message
 * and returns non-zero. */
typedef int (*cfg_item_check_fn)(const void *item, char *field, size_t fn, char *msg, size_t n);

struct cfg_table {
    const struct cfg_key *keys;
    size_t nkeys;
    size_t item_size;
    cfg_item_check_fn check_item;
};

struct cfg_section {
    const char *path;
    const char *doc;
};

/* The root table (struct ne_config) and the section docs, NULL-terminated. */
extern const struct cfg_table config__schema;
extern const struct cfg_section config__sections[];

/* Checks across keys after loading. On failure writes the dotted key the
 * problem is best reported at and a message, and returns non-zero. */
int config__check(const struct ne_config *cfg, char *key, size_t kn, char *msg, size_t n);

/* Fills values computed from others (node_id from the host name, MQTT
 * client_id, subscription and path databases). Returns 0 or NE_ENOMEM. */
int config__derive(struct ne_config *cfg);

/* A config holding only the table defaults (no file, no environment, no
 * derived values): what the default YAML shows. Returns 0 or NE_ENOMEM. */
int config__load_defaults(struct ne_config **out);

/* Where a key's effective value came from. */
enum cfg_src { CFG_SRC_DEFAULT = 0, CFG_SRC_FILE, CFG_SRC_ENV, CFG_SRC_DERIVED };

struct cfg_origin {
    unsigned char src;
    int line, col; /* CFG_SRC_FILE */
};

struct ne_config_meta {
    char *name;                /* file name used in messages */
    struct cfg_origin *origin; /* one per key of config__schema */
};

/* ---- parse.c: scalar parsers and helpers ---------------------------- */

int config__parse_bool(const char *s, bool *out);
int config__parse_int(const char *s, int64_t *out);
int config__parse_u64(const char *s, uint64_t *out);

/* Formats ns / bytes in the largest unit that is exact ("100ms", "16MiB"). */
void config__fmt_duration(int64_t ns, char *buf, size_t n);
void config__fmt_size(uint64_t bytes, char *buf, size_t n);

/* Optimal string alignment distance (Damerau-Levenshtein with adjacent
 * transpositions); capped at 100. */
int config__distance(const char *a, const char *b);

/* Expands ${VAR} and ${VAR:-default} from envp; $$ is a literal $, any
 * other $ stays as written. On success *out is ne_malloc'd. On NE_EINVAL
 * msg says which variable is unset or malformed. */
int config__expand(const char *in, char *const *envp, char **out, char *msg, size_t n);

/* The value of name in envp ("K=V" strings, NULL: environ), or NULL. */
const char *config__getenv(char *const *envp, const char *name);

/* The environment variable for a dotted path: NEOEDGE_ + upper, '.' -> '_'. */
void config__env_name(const char *path, char *buf, size_t n);

/* ---- emit.c: YAML writers -------------------------------------------- */

/* A growable string; on allocation failure it latches oom and drops text. */
struct cfg_buf {
    char *p;
    size_t len, cap;
    bool oom;
};
void config__buf_puts(struct cfg_buf *b, const char *s);
void config__buf_printf(struct cfg_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Appends the value of key k (inside the struct at base) as YAML: a scalar
 * on the same line, or for lists a newline and block items indented by
 * indent. redact replaces secrets by "<redacted>". */
void config__emit_value(struct cfg_buf *b, const struct cfg_key *k, const void *base, int indent,
                        bool redact);

/* The value of a scalar key as text, for diff ("" for unset). */
void config__value_text(struct cfg_buf *b, const struct cfg_key *k, const void *base);

#endif
