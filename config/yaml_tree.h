/*
 * yaml_tree.h - a small YAML document tree with source positions
 * (module-internal to config/).
 *
 * libyaml produces a stream of events; the config loader wants to look keys
 * up, report "line 12, column 5" for any value, and walk the document more
 * than once (file, then defaults, then environment). This builds a tree of
 * three node kinds from the events of exactly one document.
 *
 * Ownership: config__yaml_parse hands the caller a tree it frees with
 * config__yaml_free. Every string is NUL-terminated and owned by its node.
 */
#ifndef NE_CONFIG_YAML_TREE_H
#define NE_CONFIG_YAML_TREE_H

#include <stdbool.h>
#include <stddef.h>

enum cfg_node_kind { CFG_SCALAR = 0, CFG_MAP, CFG_SEQ };

struct cfg_node;

struct cfg_pair {
    struct cfg_node *key; /* always a scalar */
    struct cfg_node *val;
};

struct cfg_node {
    enum cfg_node_kind kind;
    int line, col; /* 1-based position of the node's first character */
    /* CFG_SCALAR */
    char *str;
    size_t len;
    bool plain; /* written without quotes (so "null" and "~" mean unset) */
    /* CFG_MAP: pairs in document order; CFG_SEQ: items */
    struct cfg_pair *pairs;
    struct cfg_node **items;
    size_t n, cap;
};

/* A parse problem: position (1-based; 0 when unknown) and text. */
struct cfg_yaml_err {
    int line, col;
    char msg[256];
};

/* Nesting deeper than this is refused (the config needs four levels). */
#define CFG_YAML_MAX_DEPTH 32

/* Parses one YAML document from text[0..len). On success *out is the root
 * node, or NULL when the stream holds no document or only an empty one.
 * Refuses aliases, more than one document, non-scalar mapping keys, NUL
 * bytes in scalars and nesting past CFG_YAML_MAX_DEPTH. Duplicate keys are
 * kept (in order) for the caller to report with their full path.
 * Returns 0, NE_EPARSE (err filled) or NE_ENOMEM. */
int config__yaml_parse(const char *text, size_t len, struct cfg_node **out,
                       struct cfg_yaml_err *err);

/* Frees a tree from config__yaml_parse or config__yaml_scalar. NULL-safe. */
void config__yaml_free(struct cfg_node *n);

/* A new plain scalar node holding a copy of s[0..len) at line/col (used for
 * values that come from the environment). NULL when out of memory. */
struct cfg_node *config__yaml_scalar(const char *s, size_t len, int line, int col);

/* A new empty sequence node; config__yaml_push appends item (taking it on
 * success). Return NULL / NE_ENOMEM when out of memory. */
struct cfg_node *config__yaml_seq(int line, int col);
int config__yaml_push(struct cfg_node *seq, struct cfg_node *item);

/* The value for key in a mapping node, or NULL. */
struct cfg_node *config__yaml_get(const struct cfg_node *map, const char *key);

/* "a string", "a mapping" or "a list", for messages. */
const char *config__yaml_kind_name(enum cfg_node_kind k);

#endif
