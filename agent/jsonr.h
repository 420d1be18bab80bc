/*
 * jsonr.h - a small JSON reader for the CLI commands that show what a
 * daemon answered (`neoedge status`): parses one document into a tree.
 *
 * Meant for the daemon's own answers (kilobytes): every value is one
 * allocation-owning node, objects keep their keys in order, duplicate keys
 * are kept (lookups return the first). Nesting is limited to 64 levels.
 */
#ifndef NE_AGENT_JSONR_H
#define NE_AGENT_JSONR_H

#include <stdbool.h>
#include <stddef.h>

enum agent__jkind { AJ_NULL = 0, AJ_BOOL, AJ_NUM, AJ_STR, AJ_ARR, AJ_OBJ };

struct agent__jv {
    enum agent__jkind kind;
    bool b;                  /* AJ_BOOL */
    double num;              /* AJ_NUM */
    char *str;               /* AJ_STR: UTF-8, NUL-terminated (a \u0000 escape ends it) */
    struct agent__jv *items; /* AJ_ARR, AJ_OBJ: n values */
    char **keys;             /* AJ_OBJ: keys[i] names items[i] */
    size_t n;
};

/* Parses text[0..len) (one value, whitespace around it allowed). On
 * success *out owns the tree (free with agent__json_free). Returns 0,
 * NE_EINVAL for text that is not JSON (err gets "offset N: what"), or
 * NE_ENOMEM. */
int agent__json_parse(const char *text, size_t len, struct agent__jv **out, char *err, size_t errn);

/* Frees the tree and sets *v to NULL. NULL-safe. */
void agent__json_free(struct agent__jv **v);

/* The member key of object o, or NULL when o is NULL, not an object, or
 * has no such member. The result is borrowed from o. */
const struct agent__jv *agent__json_get(const struct agent__jv *o, const char *key);

/* The value of v when it has the kind asked for, else dflt. NULL-safe. */
double agent__json_num(const struct agent__jv *v, double dflt);
const char *agent__json_str(const struct agent__jv *v, const char *dflt);
bool agent__json_bool(const struct agent__jv *v, bool dflt);

#endif
