/*
 * yaml_tree.c - builds a cfg_node tree from libyaml parser events.
 *
 * Invariants: a finished tree holds only scalars, mappings whose keys are
 * unique scalars, and sequences; every node knows its 1-based line and
 * column. The builder recurses once per nesting level and stops at
 * CFG_YAML_MAX_DEPTH, so hostile input cannot exhaust the stack. Aliases
 * are refused rather than expanded (no "billion laughs").
 */
#include "config/yaml_tree.h"

#include <stdio.h>
#include <string.h>
#include <yaml.h>

#include "ports/err.h"
#include "ports/platform.h"

struct builder {
    yaml_parser_t parser;
    struct cfg_yaml_err *err;
};

static void set_err(struct builder *b, int line, int col, const char *fmt, const char *arg)
{
    if (!b->err) return;
    b->err->line = line;
    b->err->col = col;
    snprintf(b->err->msg, sizeof b->err->msg, fmt, arg ? arg : "");
}

static struct cfg_node *node_new(enum cfg_node_kind kind, yaml_mark_t mark)
{
    struct cfg_node *n = ne_calloc(1, sizeof *n);
    if (!n) return NULL;
    n->kind = kind;
    n->line = (int)mark.line + 1;
    n->col = (int)mark.column + 1;
    return n;
}

void config__yaml_free(struct cfg_node *n)
{
    if (!n) return;
    for (size_t i = 0; i < n->n; i++) {
        if (n->kind == CFG_MAP) {
            config__yaml_free(n->pairs[i].key);
            config__yaml_free(n->pairs[i].val);
        } else if (n->kind == CFG_SEQ) {
            config__yaml_free(n->items[i]);
        }
    }
    ne_free(n->pairs);
    ne_free(n->items);
    ne_free(n->str);
    ne_free(n);
}

/* Grows a map or sequence by one slot. */
static int grow(struct cfg_node *n)
{
    if (n->n < n->cap) return 0;
    size_t cap = n->cap ? n->cap * 2 : 8;
    if (n->kind == CFG_MAP) {
        struct cfg_pair *p = ne_realloc(n->pairs, cap * sizeof *p);
        if (!p) return NE_ENOMEM;
        n->pairs = p;
    } else {
        struct cfg_node **p = ne_realloc(n->items, cap * sizeof *p);
        if (!p) return NE_ENOMEM;
        n->items = p;
    }
    n->cap = cap;
    return 0;
}

int config__yaml_push(struct cfg_node *seq, struct cfg_node *item)
{
    if (grow(seq) != 0) return NE_ENOMEM;
    seq->items[seq->n++] = item;
    return 0;
}

struct cfg_node *config__yaml_scalar(const char *s, size_t len, int line, int col)
{
    struct cfg_node *n = ne_calloc(1, sizeof *n);
    if (!n) return NULL;
    n->kind = CFG_SCALAR;
    n->plain = true;
    n->line = line;
    n->col = col;
    n->len = len;
    n->str = ne_strndup(s, len);
    if (!n->str) {
        ne_free(n);
        return NULL;
    }
    return n;
}

struct cfg_node *config__yaml_seq(int line, int col)
{
    struct cfg_node *n = ne_calloc(1, sizeof *n);
    if (!n) return NULL;
    n->kind = CFG_SEQ;
    n->line = line;
    n->col = col;
    return n;
}

struct cfg_node *config__yaml_get(const struct cfg_node *map, const char *key)
{
    if (!map || map->kind != CFG_MAP) return NULL;
    for (size_t i = 0; i < map->n; i++)
        if (strcmp(map->pairs[i].key->str, key) == 0) return map->pairs[i].val;
    return NULL;
}

const char *config__yaml_kind_name(enum cfg_node_kind k)
{
    switch (k) {
    case CFG_SCALAR:
        return "a single value";
    case CFG_MAP:
        return "a mapping";
    case CFG_SEQ:
        return "a list";
    }
    return "?";
}

/* Pulls the next event; a libyaml failure becomes NE_EPARSE with its mark. */
static int next_event(struct builder *b, yaml_event_t *ev)
{
    if (yaml_parser_parse(&b->parser, ev)) return 0;
    yaml_parser_t *p = &b->parser;
    if (p->error == YAML_MEMORY_ERROR) return NE_ENOMEM;
    char msg[200];
    snprintf(msg, sizeof msg, "%s%s%s", p->problem ? p->problem : "invalid YAML",
             p->context ? " " : "", p->context ? p->context : "");
    set_err(b, (int)p->problem_mark.line + 1, (int)p->problem_mark.column + 1, "YAML syntax: %s",
            msg);
    return NE_EPARSE;
}

static int build_node(struct builder *b, yaml_event_t *ev, int depth, struct cfg_node **out);

static int build_scalar(struct builder *b, yaml_event_t *ev, struct cfg_node **out)
{
    size_t len = ev->data.scalar.length;
    const char *val = (const char *)ev->data.scalar.value;
    if (memchr(val, '\0', len)) {
        set_err(b, (int)ev->start_mark.line + 1, (int)ev->start_mark.column + 1,
                "a value contains a NUL byte%s", NULL);
        return NE_EPARSE;
    }
    struct cfg_node *n = node_new(CFG_SCALAR, ev->start_mark);
    if (!n) return NE_ENOMEM;
    n->str = ne_strndup(val, len);
    if (!n->str) {
        ne_free(n);
        return NE_ENOMEM;
    }
    n->len = len;
    n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
    *out = n;
    return 0;
}

/* Reads children until end_type; each is built by build_node. */
static int build_children(struct builder *b, struct cfg_node *n, yaml_event_type_t end_type,
                          int depth)
{
    for (;;) {
        yaml_event_t ev;
        int rc = next_event(b, &ev);
        if (rc != 0) return rc;
        if (ev.type == end_type) {
            yaml_event_delete(&ev);
            return 0;
        }
        struct cfg_node *child = NULL;
        rc = build_node(b, &ev, depth + 1, &child);
        yaml_event_delete(&ev);
        if (rc != 0) return rc;
        if (n->kind == CFG_SEQ) {
            if (config__yaml_push(n, child) != 0) {
                config__yaml_free(child);
                return NE_ENOMEM;
            }
            continue;
        }
        /* mapping: child is the key; the value follows */
        if (child->kind != CFG_SCALAR) {
            set_err(b, child->line, child->col, "a mapping key must be a plain name%s", NULL);
            config__yaml_free(child);
            return NE_EPARSE;
        }
        rc = next_event(b, &ev);
        if (rc != 0) {
            config__yaml_free(child);
            return rc;
        }
        struct cfg_node *val = NULL;
        rc = build_node(b, &ev, depth + 1, &val);
        yaml_event_delete(&ev);
        if (rc == 0 && grow(n) != 0) {
            config__yaml_free(val);
            rc = NE_ENOMEM;
        }
        if (rc != 0) {
            config__yaml_free(child);
            return rc;
        }
        n->pairs[n->n].key = child;
        n->pairs[n->n].val = val;
        n->n++;
    }
}

static int build_node(struct builder *b, yaml_event_t *ev, int depth, struct cfg_node **out)
{
    int line = (int)ev->start_mark.line + 1, col = (int)ev->start_mark.column + 1;
    if (depth > CFG_YAML_MAX_DEPTH) {
        set_err(b, line, col, "nesting is too deep%s", NULL);
        return NE_EPARSE;
    }
    enum cfg_node_kind kind;
    yaml_event_type_t end_type;
    switch (ev->type) {
    case YAML_SCALAR_EVENT:
        return build_scalar(b, ev, out);
    case YAML_ALIAS_EVENT:
        set_err(b, line, col, "aliases (*%s) are not supported: repeat the value",
                (const char *)ev->data.alias.anchor);
        return NE_EPARSE;
    case YAML_MAPPING_START_EVENT:
        kind = CFG_MAP;
        end_type = YAML_MAPPING_END_EVENT;
        break;
    case YAML_SEQUENCE_START_EVENT:
        kind = CFG_SEQ;
        end_type = YAML_SEQUENCE_END_EVENT;
        break;
    default:
        set_err(b, line, col, "unexpected YAML structure%s", NULL);
        return NE_EPARSE;
    }
    struct cfg_node *n = node_new(kind, ev->start_mark);
    if (!n) return NE_ENOMEM;
    int rc = build_children(b, n, end_type, depth);
    if (rc != 0) {
        config__yaml_free(n);
        return rc;
    }
    *out = n;
    return 0;
}

/* Expects the event type t next (stream/document framing). */
static int expect(struct builder *b, yaml_event_type_t t, yaml_event_t *ev)
{
    int rc = next_event(b, ev);
    if (rc != 0) return rc;
    if (ev->type != t) {
        set_err(b, (int)ev->start_mark.line + 1, (int)ev->start_mark.column + 1,
                "only one YAML document is expected%s", NULL);
        yaml_event_delete(ev);
        return NE_EPARSE;
    }
    return 0;
}

static bool is_empty_scalar(const struct cfg_node *n)
{
    return n && n->kind == CFG_SCALAR && n->plain && n->len == 0;
}

static int build_document(struct builder *b, struct cfg_node **out)
{
    yaml_event_t ev;
    int rc = expect(b, YAML_STREAM_START_EVENT, &ev);
    if (rc != 0) return rc;
    yaml_event_delete(&ev);
    rc = next_event(b, &ev);
    if (rc != 0) return rc;
    if (ev.type == YAML_STREAM_END_EVENT) {
        yaml_event_delete(&ev);
        *out = NULL;
        return 0;
    }
    if (ev.type != YAML_DOCUMENT_START_EVENT) {
        yaml_event_delete(&ev);
        set_err(b, 0, 0, "unexpected YAML stream%s", NULL);
        return NE_EPARSE;
    }
    yaml_event_delete(&ev);
    rc = next_event(b, &ev);
    if (rc != 0) return rc;
    struct cfg_node *root = NULL;
    rc = build_node(b, &ev, 1, &root);
    yaml_event_delete(&ev);
    if (rc == 0) rc = expect(b, YAML_DOCUMENT_END_EVENT, &ev);
    if (rc == 0) {
        yaml_event_delete(&ev);
        rc = expect(b, YAML_STREAM_END_EVENT, &ev);
        if (rc == 0) yaml_event_delete(&ev);
    }
    if (rc != 0) {
        config__yaml_free(root);
        return rc;
    }
    if (is_empty_scalar(root)) {
        config__yaml_free(root);
        root = NULL;
    }
    *out = root;
    return 0;
}

int config__yaml_parse(const char *text, size_t len, struct cfg_node **out,
                       struct cfg_yaml_err *err)
{
    struct builder b = {.err = err};
    if (err) memset(err, 0, sizeof *err);
    if (!yaml_parser_initialize(&b.parser)) return NE_ENOMEM;
    yaml_parser_set_input_string(&b.parser, (const unsigned char *)text, len);
    struct cfg_node *root = NULL;
    int rc = build_document(&b, &root);
    yaml_parser_delete(&b.parser);
    if (rc == 0) *out = root;
    return rc;
}
