/*
 * config.c - loads YAML into struct ne_config: file, defaults, environment,
 * derived values, then checks across keys.
 *
 * Order of a load: parse the YAML tree; reject unknown keys (with a "did you
 * mean"); for each schema key take the file's value or the table default;
 * apply NEOEDGE_<PATH> environment overrides; derive what depends on other
 * keys; run the cross-key checks. The first problem stops the load and is
 * reported with file, line, column and dotted key. Invariant: a config
 * handed out has every key set and valid; on failure nothing leaks.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/internal.h"
#include "ports/err.h"
#include "ports/log.h"
#include "ports/platform.h"

struct loader {
    const char *name; /* file name for messages */
    char *const *envp;
    struct ne_config_error *err;
    enum cfg_src src;     /* where the value being set comes from */
    const char *env_name; /* CFG_SRC_ENV: the variable */
};

/* Records an error; returns rc. Positions are only meaningful for the file. */
static int lerr(struct loader *L, int rc, const struct cfg_node *at, const char *key,
                const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static int lerr(struct loader *L, int rc, const struct cfg_node *at, const char *key,
                const char *fmt, ...)
{
    struct ne_config_error *e = L->err;
    if (!e) return rc;
    memset(e, 0, sizeof *e);
    const char *file = L->src == CFG_SRC_FILE  ? L->name
                       : L->src == CFG_SRC_ENV ? "environment"
                                               : "defaults";
    snprintf(e->file, sizeof e->file, "%s", file ? file : "config");
    if (L->src == CFG_SRC_FILE && at) {
        e->line = at->line;
        e->column = at->col;
    }
    snprintf(e->key, sizeof e->key, "%s", key ? key : "");
    int off = 0;
    if (L->src == CFG_SRC_ENV && L->env_name)
        off = snprintf(e->msg, sizeof e->msg, "%s: ", L->env_name);
    if (off < 0 || (size_t)off >= sizeof e->msg) off = 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg + off, sizeof e->msg - (size_t)off, fmt, ap);
    va_end(ap);
    return rc;
}

static int oom(struct loader *L, const char *key)
{
    return lerr(L, NE_ENOMEM, NULL, key, "out of memory");
}

static void join(char *buf, size_t n, const char *prefix, const char *key)
{
    if (prefix && *prefix)
        snprintf(buf, n, "%s.%s", prefix, key);
    else
        snprintf(buf, n, "%s", key);
}

/* ---- unknown keys --------------------------------------------------- */

static bool has_prefix(const char *path, const char *prefix)
{
    size_t n = strlen(prefix);
    return strncmp(path, prefix, n) == 0 && path[n] == '.';
}

static const struct cfg_key *find_key(const struct cfg_table *t, const char *path)
{
    for (size_t i = 0; i < t->nkeys; i++)
        if (strcmp(t->keys[i].path, path) == 0) return &t->keys[i];
    return NULL;
}

static bool is_section(const struct cfg_table *t, const char *path)
{
    for (size_t i = 0; i < t->nkeys; i++)
        if (has_prefix(t->keys[i].path, path)) return true;
    return false;
}

/* The child name of key path p below prefix (p = "a.b.c", prefix "a" ->
 * "b"), copied into buf. */
static void child_name(const char *p, const char *prefix, char *buf, size_t n)
{
    const char *s = *prefix ? p + strlen(prefix) + 1 : p;
    const char *dot = strchr(s, '.');
    size_t len = dot ? (size_t)(dot - s) : strlen(s);
    snprintf(buf, n, "%.*s", (int)(len < n ? len : n - 1), s);
}

/* Writes a hint for an unknown key: the closest sibling, else the same
 * name in another section, else the list of valid keys. */
static void suggest(const struct cfg_table *t, const char *prefix, const char *key, char *out,
                    size_t n)
{
    char best[64] = "", name[64];
    int best_d = 100;
    for (size_t i = 0; i < t->nkeys; i++) {
        if (*prefix && !has_prefix(t->keys[i].path, prefix)) continue;
        child_name(t->keys[i].path, prefix, name, sizeof name);
        int d = config__distance(key, name);
        if (d < best_d) {
            best_d = d;
            snprintf(best, sizeof best, "%s", name);
        }
    }
    int limit = strlen(key) <= 3 ? 1 : strlen(key) <= 6 ? 2 : 3;
    if (best[0] && best_d <= limit) {
        snprintf(out, n, "; did you mean '%s'?", best);
        return;
    }
    for (size_t i = 0; i < t->nkeys; i++) {
        const char *last = strrchr(t->keys[i].path, '.');
        if (last && strcmp(last + 1, key) == 0) {
            snprintf(out, n, "; did you mean '%s'? (it belongs under '%.*s')", t->keys[i].path,
                     (int)(last - t->keys[i].path), t->keys[i].path);
            return;
        }
    }
    size_t o = (size_t)snprintf(out, n, "; valid keys here:");
    char prev[64] = "";
    for (size_t i = 0; i < t->nkeys && o < n; i++) {
        if (*prefix && !has_prefix(t->keys[i].path, prefix)) continue;
        child_name(t->keys[i].path, prefix, name, sizeof name);
        if (strcmp(name, prev) == 0) continue;
        o += (size_t)snprintf(out + o, n - o, "%s %s", prev[0] ? "," : "", name);
        snprintf(prev, sizeof prev, "%s", name);
    }
}

static bool is_null(const struct cfg_node *n)
{
    if (!n) return true;
    if (n->kind != CFG_SCALAR || !n->plain) return false;
    return n->len == 0 || strcmp(n->str, "~") == 0 || strcasecmp(n->str, "null") == 0;
}

/* Rejects keys the table does not know below prefix (recursing into
 * sections); values are type-checked later, when they are set. */
static int check_keys(struct loader *L, const struct cfg_table *t, const struct cfg_node *map,
                      const char *prefix)
{
    for (size_t i = 0; i < map->n; i++) {
        const struct cfg_node *kn = map->pairs[i].key, *vn = map->pairs[i].val;
        char full[256];
        join(full, sizeof full, prefix, kn->str);
        for (size_t j = 0; j < i; j++)
            if (strcmp(map->pairs[j].key->str, kn->str) == 0)
                return lerr(L, NE_EINVAL, kn, full, "duplicate key '%.100s' (first set at line %d)",
                            kn->str, map->pairs[j].key->line);
        if (strchr(kn->str, '.'))
            return lerr(L, NE_EINVAL, kn, full,
                        "unknown key '%.100s': write nested keys as sections, e.g. "
                        "'storage:' then '  durability: sync' on the next line",
                        kn->str);
        if (find_key(t, full)) continue;
        if (is_section(t, full)) {
            if (vn->kind == CFG_MAP) {
                int rc = check_keys(L, t, vn, full);
                if (rc != 0) return rc;
            } else if (!is_null(vn)) {
                return lerr(L, NE_EINVAL, vn, full,
                            "'%s' is a section: expected a mapping of keys, got %s", kn->str,
                            config__yaml_kind_name(vn->kind));
            }
            continue;
        }
        char hint[400];
        suggest(t, prefix, kn->str, hint, sizeof hint);
        return lerr(L, NE_EINVAL, kn, full, "unknown key '%.100s'%s", kn->str, hint);
    }
    return 0;
}

/* The pair for a dotted path in the tree, or NULL. */
static const struct cfg_pair *find_pair(const struct cfg_node *map, const char *path)
{
    char part[128];
    const char *p = path;
    for (;;) {
        if (!map || map->kind != CFG_MAP) return NULL;
        const char *dot = strchr(p, '.');
        size_t len = dot ? (size_t)(dot - p) : strlen(p);
        snprintf(part, sizeof part, "%.*s", (int)(len < sizeof part ? len : sizeof part - 1), p);
        const struct cfg_pair *hit = NULL;
        for (size_t i = 0; i < map->n; i++)
            if (strcmp(map->pairs[i].key->str, part) == 0) hit = &map->pairs[i];
        if (!hit || !dot) return hit;
        map = hit->val;
        p = dot + 1;
    }
}

/* ---- setting values ------------------------------------------------- */

static void store_int(void *p, size_t size, int v)
{
    if (size == sizeof(bool))
        *(bool *)p = v != 0;
    else
        *(int *)p = v;
}

static void clear_key(const struct cfg_key *k, void *base);

static void free_table(const struct cfg_table *t, void *base)
{
    for (size_t i = 0; i < t->nkeys; i++)
        clear_key(&t->keys[i], base);
}

/* Frees what key k owns inside base and zeroes it. */
static void clear_key(const struct cfg_key *k, void *base)
{
    char *p = (char *)base + k->off;
    if (k->kind == CFG_K_STR) {
        ne_free(*(char **)p);
        *(char **)p = NULL;
    } else if (k->kind == CFG_K_STRLIST || k->kind == CFG_K_LIST) {
        size_t *count = (size_t *)((char *)base + k->count_off);
        for (size_t i = 0; i < *count; i++) {
            if (k->kind == CFG_K_STRLIST)
                ne_free((*(char ***)p)[i]);
            else
                free_table(k->item, *(char **)p + i * k->item->item_size);
        }
        ne_free(*(void **)p);
        *(void **)p = NULL;
        *count = 0;
    }
}

static void enum_list(const struct cfg_key *k, char *buf, size_t n)
{
    size_t o = 0;
    for (const struct cfg_enum *e = k->enums; e->name && o < n; e++)
        o += (size_t)snprintf(buf + o, n - o, "%s%s", e == k->enums ? "" : ", ", e->name);
}

static int set_enum(struct loader *L, const struct cfg_key *k, const char *key,
                    const struct cfg_node *at, const char *s, void *dst)
{
    const char *close = NULL;
    int best = 100;
    for (const struct cfg_enum *e = k->enums; e->name; e++) {
        if (strcasecmp(s, e->name) == 0) {
            store_int(dst, k->size, e->value);
            return 0;
        }
        int d = config__distance(s, e->name);
        if (d < best) {
            best = d;
            close = e->name;
        }
    }
    char valid[256], hint[128] = "";
    enum_list(k, valid, sizeof valid);
    if (close && best <= 2 && best < (int)strlen(s))
        snprintf(hint, sizeof hint, "; did you mean '%s'?", close);
    return lerr(L, NE_EINVAL, at, key, "expected one of %s, got '%.100s'%s", valid, s, hint);
}

static bool all_digits(const char *s)
{
    if (!*s) return false;
    for (; *s; s++)
        if (!isdigit((unsigned char)*s)) return false;
    return true;
}

static int range_err(struct loader *L, const struct cfg_key *k, const char *key,
                     const struct cfg_node *at, const char *got)
{
    char lo[32], hi[32];
    if (k->kind == CFG_K_DURATION) {
        config__fmt_duration(k->min, lo, sizeof lo);
        config__fmt_duration(k->max, hi, sizeof hi);
    } else if (k->kind == CFG_K_SIZE) {
        config__fmt_size((uint64_t)k->min, lo, sizeof lo);
        config__fmt_size((uint64_t)k->max, hi, sizeof hi);
    } else if (k->kind == CFG_K_SECONDS) {
        snprintf(lo, sizeof lo, "%llds", (long long)k->min);
        snprintf(hi, sizeof hi, "%llds", (long long)k->max);
    } else {
        snprintf(lo, sizeof lo, "%lld", (long long)k->min);
        snprintf(hi, sizeof hi, "%lld", (long long)k->max);
    }
    return lerr(L, NE_EINVAL, at, key, "out of range: must be between %s and %s, got %.100s", lo,
                hi, got);
}

static bool out_of_range(const struct cfg_key *k, int64_t v)
{
    return k->min < k->max && (v < k->min || v > k->max);
}

static const char duration_hint[] = "expected a duration like 100ms, 10s, 5m or 1h30m";
static const char size_hint[] = "expected a size like 512KiB, 16MiB or 1GB "
                                "(units B, KB, MB, GB, TB, KiB, MiB, GiB, TiB)";

static int set_duration(struct loader *L, const struct cfg_key *k, const char *key,
                        const struct cfg_node *at, const char *s, void *dst)
{
    int64_t v;
    int rc = ne_config_parse_duration(s, &v);
    if (rc == NE_ERANGE) return lerr(L, NE_EINVAL, at, key, "duration '%.100s' is too large", s);
    if (rc == 0 && k->kind == CFG_K_SECONDS && v % 1000000000LL != 0)
        return lerr(L, NE_EINVAL, at, key, "expected whole seconds like 30s, got '%.100s'", s);
    if (rc != 0 && k->kind == CFG_K_SECONDS && all_digits(s) && strlen(s) < 12) {
        v = strtoll(s, NULL, 10) * 1000000000LL; /* bare seconds */
        rc = 0;
    }
    if (rc != 0)
        return lerr(L, NE_EINVAL, at, key, "%s, got '%.100s'%s", duration_hint, s,
                    all_digits(s) ? " (add a unit: ns, us, ms, s, m, h, d, w)" : "");
    if (k->kind == CFG_K_SECONDS) {
        int64_t secs = v / 1000000000LL;
        if (out_of_range(k, secs)) return range_err(L, k, key, at, s);
        *(int *)dst = (int)secs;
        return 0;
    }
    if (out_of_range(k, v)) return range_err(L, k, key, at, s);
    *(int64_t *)dst = v;
    return 0;
}

static int set_number(struct loader *L, const struct cfg_key *k, const char *key,
                      const struct cfg_node *at, const char *s, void *dst)
{
    if (k->kind == CFG_K_SIZE || k->kind == CFG_K_U64) {
        uint64_t v;
        int rc = k->kind == CFG_K_SIZE ? ne_config_parse_size(s, &v) : config__parse_u64(s, &v);
        if (rc == NE_ERANGE) return lerr(L, NE_EINVAL, at, key, "'%.100s' is out of range", s);
        if (rc != 0)
            return lerr(L, NE_EINVAL, at, key, "%s, got '%.100s'",
                        k->kind == CFG_K_SIZE ? size_hint : "expected a whole number >= 0", s);
        if (out_of_range(k, (int64_t)v)) return range_err(L, k, key, at, s);
        *(uint64_t *)dst = v;
        return 0;
    }
    int64_t v;
    int rc = config__parse_int(s, &v);
    if (rc != 0) return lerr(L, NE_EINVAL, at, key, "expected a whole number, got '%.100s'", s);
    if (out_of_range(k, v) || v < -2147483647 || v > 2147483647) return range_err(L, k, key, at, s);
    *(int *)dst = (int)v;
    return 0;
}

static int set_string(struct loader *L, const struct cfg_key *k, const char *key,
                      const struct cfg_node *at, char *s, void *dst)
{
    if (!*s) {
        ne_free(s);
        if (k->flags & CFG_F_REQUIRED) return lerr(L, NE_EINVAL, at, key, "must not be empty");
        s = NULL;
    }
    char msg[400];
    if (s && k->check && k->check(s, msg, sizeof msg) != 0) {
        ne_free(s);
        return lerr(L, NE_EINVAL, at, key, "%s", msg);
    }
    ne_free(*(char **)dst);
    *(char **)dst = s;
    return 0;
}

/* The scalar's text after ${VAR} expansion (file values only). NULL with
 * the error recorded in *rc. */
static char *scalar_text(struct loader *L, const char *key, const struct cfg_node *n, int *rc)
{
    char *out = NULL;
    if (L->src != CFG_SRC_FILE) {
        out = ne_strdup(n->str);
        *rc = out ? 0 : oom(L, key);
        return out;
    }
    char msg[300];
    *rc = config__expand(n->str, L->envp, &out, msg, sizeof msg);
    if (*rc == NE_EINVAL)
        *rc = lerr(L, NE_EINVAL, n, key, "%s", msg);
    else if (*rc != 0)
        *rc = oom(L, key);
    return out;
}

static const char *kind_expects(enum cfg_kind kind)
{
    switch (kind) {
    case CFG_K_BOOL:
        return "true or false";
    case CFG_K_INT:
    case CFG_K_U64:
        return "a whole number";
    case CFG_K_DURATION:
    case CFG_K_SECONDS:
        return "a duration like 100ms";
    case CFG_K_SIZE:
        return "a size like 16MiB";
    case CFG_K_STRLIST:
    case CFG_K_LIST:
        return "a list";
    default:
        return "a single value";
    }
}

/* Sets a scalar key from node n into base. */
static int set_scalar(struct loader *L, const struct cfg_key *k, const char *key,
                      const struct cfg_node *n, void *base)
{
    void *dst = (char *)base + k->off;
    if (n->kind != CFG_SCALAR)
        return lerr(L, NE_EINVAL, n, key, "expected %s, got %s", kind_expects(k->kind),
                    config__yaml_kind_name(n->kind));
    if (is_null(n)) {
        if (k->kind == CFG_K_STR && !(k->flags & CFG_F_REQUIRED)) {
            clear_key(k, base);
            return 0;
        }
        return lerr(L, NE_EINVAL, n, key, "missing value: expected %s",
                    k->kind == CFG_K_ENUM ? "one of its values" : kind_expects(k->kind));
    }
    int rc;
    char *s = scalar_text(L, key, n, &rc);
    if (!s) return rc;
    if (k->kind == CFG_K_STR) return set_string(L, k, key, n, s, dst);
    bool b;
    switch (k->kind) {
    case CFG_K_BOOL:
        rc = config__parse_bool(s, &b);
        if (rc == 0)
            *(bool *)dst = b;
        else
            rc = lerr(L, NE_EINVAL, n, key, "expected true or false, got '%.100s'", s);
        break;
    case CFG_K_ENUM:
        rc = set_enum(L, k, key, n, s, dst);
        break;
    case CFG_K_DURATION:
    case CFG_K_SECONDS:
        rc = set_duration(L, k, key, n, s, dst);
        break;
    default:
        rc = set_number(L, k, key, n, s, dst);
        break;
    }
    ne_free(s);
    return rc;
}

static int set_value(struct loader *L, const struct cfg_key *k, const char *key,
                     const struct cfg_node *n, void *base);

/* A list value: a sequence, a single scalar (one element) or null. */
static int set_strlist(struct loader *L, const struct cfg_key *k, const char *key,
                       const struct cfg_node *n, void *base)
{
    if (n->kind == CFG_MAP) return lerr(L, NE_EINVAL, n, key, "expected a list, got a mapping");
    const struct cfg_node *const *items =
        n->kind == CFG_SEQ ? (const struct cfg_node *const *)n->items : &n;
    size_t count = is_null(n) ? 0 : n->kind == CFG_SEQ ? n->n : 1;
    char **arr = count ? ne_calloc(count, sizeof *arr) : NULL;
    if (count && !arr) return oom(L, key);
    struct cfg_key one = *k;
    one.kind = CFG_K_STR;
    one.off = 0;
    one.flags |= CFG_F_REQUIRED;
    int rc = 0;
    size_t i = 0;
    for (; i < count && rc == 0; i++) {
        char ikey[160];
        snprintf(ikey, sizeof ikey, "%s[%zu]", key, i);
        rc = set_scalar(L, &one, ikey, items[i], &arr[i]);
    }
    if (rc != 0) {
        for (size_t j = 0; j < count; j++)
            ne_free(arr[j]);
        ne_free(arr);
        return rc;
    }
    clear_key(k, base);
    *(char ***)((char *)base + k->off) = arr;
    *(size_t *)((char *)base + k->count_off) = count;
    return 0;
}

/* Fields of one list item: from the item mapping or the item defaults. */
static int set_item(struct loader *L, const struct cfg_table *t, const char *ikey,
                    const struct cfg_node *map, void *item)
{
    int rc = check_keys(L, t, map, "");
    if (rc != 0) {
        /* check_keys names the field alone; prefix the item */
        if (L->err) {
            char k[sizeof L->err->key + 160];
            snprintf(k, sizeof k, "%s.%s", ikey, L->err->key);
            snprintf(L->err->key, sizeof L->err->key, "%.127s", k);
        }
        return rc;
    }
    enum cfg_src src = L->src;
    for (size_t i = 0; i < t->nkeys && rc == 0; i++) {
        const struct cfg_key *f = &t->keys[i];
        char fkey[192];
        snprintf(fkey, sizeof fkey, "%s.%s", ikey, f->path);
        const struct cfg_pair *p = find_pair(map, f->path);
        if (p) {
            rc = set_value(L, f, fkey, p->val, item);
        } else if (f->flags & CFG_F_REQUIRED) {
            rc = lerr(L, NE_EINVAL, map, ikey, "missing required key '%s' (%s)", f->path, f->doc);
        } else if (f->def) {
            struct cfg_node *d = config__yaml_scalar(f->def, strlen(f->def), 0, 0);
            if (!d) return oom(L, fkey);
            L->src = CFG_SRC_DEFAULT;
            rc = set_value(L, f, fkey, d, item);
            L->src = src;
            config__yaml_free(d);
        }
    }
    if (rc == 0 && t->check_item) {
        char field[64] = "", msg[400];
        if (t->check_item(item, field, sizeof field, msg, sizeof msg) != 0) {
            const struct cfg_pair *p = field[0] ? find_pair(map, field) : NULL;
            char fkey[256];
            snprintf(fkey, sizeof fkey, "%s%s%s", ikey, field[0] ? "." : "", field);
            rc = lerr(L, NE_EINVAL, p ? p->val : map, fkey, "%s", msg);
        }
    }
    return rc;
}

/* No two items may share a CFG_F_UNIQUE field's value. */
static int check_unique(struct loader *L, const struct cfg_key *k, const char *key,
                        const struct cfg_node *seq, const char *items, size_t count)
{
    const struct cfg_table *t = k->item;
    for (size_t f = 0; f < t->nkeys; f++) {
        const struct cfg_key *fk = &t->keys[f];
        if (!(fk->flags & CFG_F_UNIQUE)) continue;
        for (size_t i = 1; i < count; i++) {
            const char *a = *(char *const *)(items + i * t->item_size + fk->off);
            for (size_t j = 0; j < i; j++) {
                const char *b = *(char *const *)(items + j * t->item_size + fk->off);
                if (!a || !b || strcmp(a, b) != 0) continue;
                const struct cfg_pair *p =
                    seq && seq->kind == CFG_SEQ ? find_pair(seq->items[i], fk->path) : NULL;
                return lerr(L, NE_EINVAL, p ? p->val : seq, key,
                            "items %zu and %zu have the same %s '%.100s'", j, i, fk->path, a);
            }
        }
    }
    return 0;
}

static int set_list(struct loader *L, const struct cfg_key *k, const char *key,
                    const struct cfg_node *n, void *base)
{
    if (!is_null(n) && n->kind != CFG_SEQ)
        return lerr(L, NE_EINVAL, n, key, "expected a list of mappings (- %s: ...), got %s",
                    k->item->keys[0].path, config__yaml_kind_name(n->kind));
    size_t count = is_null(n) ? 0 : n->n;
    size_t isz = k->item->item_size;
    char *items = count ? ne_calloc(count, isz) : NULL;
    if (count && !items) return oom(L, key);
    int rc = 0;
    size_t done = 0;
    for (; done < count && rc == 0; done++) {
        char ikey[160];
        snprintf(ikey, sizeof ikey, "%s[%zu]", key, done);
        const struct cfg_node *it = n->items[done];
        if (it->kind != CFG_MAP)
            rc = lerr(L, NE_EINVAL, it, ikey, "expected a mapping like {%s: ...}, got %s",
                      k->item->keys[0].path, config__yaml_kind_name(it->kind));
        else
            rc = set_item(L, k->item, ikey, it, items + done * isz);
    }
    if (rc == 0) rc = check_unique(L, k, key, n, items, count);
    if (rc != 0) {
        for (size_t i = 0; i < count; i++)
            free_table(k->item, items + i * isz);
        ne_free(items);
        return rc;
    }
    clear_key(k, base);
    *(char **)((char *)base + k->off) = items;
    *(size_t *)((char *)base + k->count_off) = count;
    return 0;
}

static int set_value(struct loader *L, const struct cfg_key *k, const char *key,
                     const struct cfg_node *n, void *base)
{
    if (k->kind == CFG_K_LIST) return set_list(L, k, key, n, base);
    if (k->kind == CFG_K_STRLIST) return set_strlist(L, k, key, n, base);
    return set_scalar(L, k, key, n, base);
}

/* ---- defaults and environment --------------------------------------- */

static int set_default(struct loader *L, const struct cfg_key *k, void *base)
{
    if (!k->def) return 0;
    struct cfg_node *n = NULL;
    int rc;
    if (k->kind == CFG_K_LIST || k->kind == CFG_K_STRLIST) {
        struct cfg_yaml_err yerr;
        rc = config__yaml_parse(k->def, strlen(k->def), &n, &yerr);
        if (rc != 0)
            return rc == NE_ENOMEM ? oom(L, k->path)
                                   : lerr(L, NE_EINVAL, NULL, k->path, "bad default: %s", yerr.msg);
    } else {
        n = config__yaml_scalar(k->def, strlen(k->def), 0, 0);
        if (!n) return oom(L, k->path);
    }
    enum cfg_src src = L->src;
    L->src = CFG_SRC_DEFAULT;
    rc = n ? set_value(L, k, k->path, n, base) : 0;
    L->src = src;
    config__yaml_free(n);
    return rc;
}

/* A node for an environment value: lists of strings split at commas,
 * lists of records parsed as YAML flow text, scalars as written. */
static int env_node(struct loader *L, const struct cfg_key *k, const char *val,
                    struct cfg_node **out)
{
    if (k->kind == CFG_K_LIST) {
        struct cfg_yaml_err yerr;
        int rc = config__yaml_parse(val, strlen(val), out, &yerr);
        if (rc == NE_EPARSE)
            return lerr(L, NE_EINVAL, NULL, k->path,
                        "expected a YAML list like [{%s: ...}]: %s at column %d",
                        k->item->keys[0].path, yerr.msg, yerr.col);
        if (rc == 0 && !*out) *out = config__yaml_scalar("", 0, 0, 0);
        return rc == 0 && *out ? 0 : oom(L, k->path);
    }
    if (k->kind != CFG_K_STRLIST) {
        *out = config__yaml_scalar(val, strlen(val), 0, 0);
        return *out ? 0 : oom(L, k->path);
    }
    struct cfg_node *seq = config__yaml_seq(0, 0);
    if (!seq) return oom(L, k->path);
    for (const char *p = val; *p;) {
        while (*p == ' ' || *p == ',')
            p++;
        const char *end = p;
        while (*end && *end != ',')
            end++;
        const char *trim = end;
        while (trim > p && trim[-1] == ' ')
            trim--;
        if (trim > p) {
            struct cfg_node *item = config__yaml_scalar(p, (size_t)(trim - p), 0, 0);
            if (!item || config__yaml_push(seq, item) != 0) {
                config__yaml_free(item);
                config__yaml_free(seq);
                return oom(L, k->path);
            }
        }
        p = end;
    }
    *out = seq;
    return 0;
}

static int apply_env(struct loader *L, struct ne_config *cfg)
{
    for (size_t i = 0; i < config__schema.nkeys; i++) {
        const struct cfg_key *k = &config__schema.keys[i];
        char name[128];
        config__env_name(k->path, name, sizeof name);
        const char *val = config__getenv(L->envp, name);
        if (!val) continue;
        L->src = CFG_SRC_ENV;
        L->env_name = name;
        struct cfg_node *n = NULL;
        int rc = env_node(L, k, val, &n);
        if (rc == 0) rc = set_value(L, k, k->path, n, cfg);
        config__yaml_free(n);
        L->env_name = NULL;
        if (rc != 0) return rc;
        cfg->meta->origin[i].src = CFG_SRC_ENV;
    }
    return 0;
}

/* A NEOEDGE_ variable that is no key but close to one is probably a typo;
 * other NEOEDGE_ variables (used by tools and tests) are left alone. */
static void warn_env_typos(char *const *envp)
{
    extern char **environ;
    char *const *env = envp ? envp : environ;
    for (size_t e = 0; env && env[e]; e++) {
        const char *eq = strchr(env[e], '=');
        if (strncmp(env[e], "NEOEDGE_", 8) != 0 || !eq || eq - env[e] > 120) continue;
        char var[128];
        snprintf(var, sizeof var, "%.*s", (int)(eq - env[e]), env[e]);
        const char *close = NULL;
        char name[128], best[128];
        for (size_t i = 0; i < config__schema.nkeys; i++) {
            config__env_name(config__schema.keys[i].path, name, sizeof name);
            if (strcmp(name, var) == 0) {
                close = NULL;
                break;
            }
            if (!close && config__distance(var, name) <= 2) {
                snprintf(best, sizeof best, "%s", name);
                close = best;
            }
        }
        if (close) NE_WARN("config", "%s is not a config variable; did you mean %s?", var, close);
    }
}

/* ---- load ----------------------------------------------------------- */

static int new_config(const char *name, struct ne_config **out)
{
    struct ne_config *cfg = ne_calloc(1, sizeof *cfg);
    if (!cfg) return NE_ENOMEM;
    cfg->meta = ne_calloc(1, sizeof *cfg->meta);
    if (cfg->meta) cfg->meta->origin = ne_calloc(config__schema.nkeys, sizeof *cfg->meta->origin);
    if (cfg->meta && name) cfg->meta->name = ne_strdup(name);
    if (!cfg->meta || !cfg->meta->origin || (name && !cfg->meta->name)) {
        ne_config_free(&cfg);
        return NE_ENOMEM;
    }
    *out = cfg;
    return 0;
}

/* Sets every key from the file tree (may be NULL) or its default. */
static int apply_tree(struct loader *L, const struct cfg_node *root, struct ne_config *cfg)
{
    if (root && root->kind != CFG_MAP)
        return lerr(L, NE_EINVAL, root, "",
                    "the top level must be a mapping of keys (node_id: ..., storage: ...), "
                    "got %s",
                    config__yaml_kind_name(root->kind));
    if (root) {
        int rc = check_keys(L, &config__schema, root, "");
        if (rc != 0) return rc;
    }
    for (size_t i = 0; i < config__schema.nkeys; i++) {
        const struct cfg_key *k = &config__schema.keys[i];
        const struct cfg_pair *p = root ? find_pair(root, k->path) : NULL;
        int rc;
        if (p) {
            rc = set_value(L, k, k->path, p->val, cfg);
            cfg->meta->origin[i] =
                (struct cfg_origin){.src = CFG_SRC_FILE, .line = p->key->line, .col = p->key->col};
        } else {
            rc = set_default(L, k, cfg);
        }
        if (rc != 0) return rc;
    }
    return 0;
}

/* Records derived keys that were unset before config__derive. */
static int derive(struct loader *L, struct ne_config *cfg)
{
    size_t nk = config__schema.nkeys;
    bool *unset = ne_calloc(nk, sizeof *unset);
    if (!unset) return oom(L, "");
    for (size_t i = 0; i < nk; i++) {
        const struct cfg_key *k = &config__schema.keys[i];
        unset[i] = (k->flags & CFG_F_DERIVED) && !*(char **)((char *)cfg + k->off);
    }
    if (config__derive(cfg) != 0) {
        ne_free(unset);
        return oom(L, "");
    }
    for (size_t i = 0; i < nk; i++)
        if (unset[i]) cfg->meta->origin[i].src = CFG_SRC_DERIVED;
    ne_free(unset);
    return 0;
}

/* The origin node of a key for cross-key messages (file positions). */
static int cross_check(struct loader *L, struct ne_config *cfg)
{
    char key[128], msg[400];
    if (config__check(cfg, key, sizeof key, msg, sizeof msg) == 0) return 0;
    const struct cfg_key *k = find_key(&config__schema, key);
    const struct cfg_origin *o = k ? &cfg->meta->origin[k - config__schema.keys] : NULL;
    struct cfg_node at = {.line = o ? o->line : 0, .col = o ? o->col : 0};
    char env[128];
    L->src = o ? (enum cfg_src)o->src : CFG_SRC_DEFAULT;
    if (L->src == CFG_SRC_ENV) {
        config__env_name(key, env, sizeof env);
        L->env_name = env;
    }
    if (L->src == CFG_SRC_DEFAULT || L->src == CFG_SRC_DERIVED)
        L->src = CFG_SRC_FILE; /* report against the file, without a position */
    return lerr(L, NE_EINVAL, o && o->line ? &at : NULL, key, "%s", msg);
}

enum { LOAD_NO_ENV = 1, LOAD_NO_DERIVE = 2 };

static int load_tree(const char *name, const struct cfg_node *root, char *const *envp, int flags,
                     struct ne_config **out, struct ne_config_error *err)
{
    struct loader L = {.name = name, .envp = envp, .err = err, .src = CFG_SRC_FILE};
    struct ne_config *cfg = NULL;
    int rc = new_config(name, &cfg);
    if (rc != 0) return oom(&L, "");
    rc = apply_tree(&L, root, cfg);
    if (rc == 0 && !(flags & LOAD_NO_ENV)) {
        rc = apply_env(&L, cfg);
        if (rc == 0) warn_env_typos(envp);
    }
    if (rc == 0 && !(flags & LOAD_NO_DERIVE)) {
        rc = derive(&L, cfg);
        if (rc == 0) rc = cross_check(&L, cfg);
    }
    if (rc != 0) {
        ne_config_free(&cfg);
        return rc;
    }
    *out = cfg;
    return 0;
}

int config__load_defaults(struct ne_config **out)
{
    return load_tree(NULL, NULL, NULL, LOAD_NO_ENV | LOAD_NO_DERIVE, out, NULL);
}

static void log_unreported(int rc, const struct ne_config_error *err, bool had_err)
{
    if (rc == 0 || had_err) return;
    char buf[1024];
    NE_ERROR("config", "%s", ne_config_error_format(err, buf, sizeof buf));
}

int ne_config_load_text(const char *name, const char *yaml, size_t len, char *const *envp,
                        struct ne_config **out, struct ne_config_error *err)
{
    struct ne_config_error local;
    bool had_err = err != NULL;
    if (!err) err = &local;
    memset(err, 0, sizeof *err);
    if (!name) name = "config";
    struct cfg_node *root = NULL;
    struct cfg_yaml_err yerr;
    int rc = config__yaml_parse(yaml ? yaml : "", yaml ? len : 0, &root, &yerr);
    if (rc == NE_EPARSE) {
        snprintf(err->file, sizeof err->file, "%s", name);
        err->line = yerr.line;
        err->column = yerr.col;
        snprintf(err->msg, sizeof err->msg, "%s", yerr.msg);
    } else if (rc != 0) {
        snprintf(err->file, sizeof err->file, "%s", name);
        snprintf(err->msg, sizeof err->msg, "out of memory");
    } else {
        rc = load_tree(name, root, envp, 0, out, err);
    }
    config__yaml_free(root);
    log_unreported(rc, err, had_err);
    return rc;
}

int ne_config_load(const char *path, char *const *envp, struct ne_config **out,
                   struct ne_config_error *err)
{
    struct ne_config_error local;
    bool had_err = err != NULL;
    if (!err) err = &local;
    memset(err, 0, sizeof *err);
    if (!path) {
        int rc = load_tree("defaults", NULL, envp, 0, out, err);
        log_unreported(rc, err, had_err);
        return rc;
    }
    char *text = NULL;
    size_t len = 0;
    int rc = ne_fs_read_all(path, &text, &len);
    if (rc != 0) {
        snprintf(err->file, sizeof err->file, "%s", path);
        snprintf(err->msg, sizeof err->msg, "cannot read the config file: %s", ne_strerror(rc));
        log_unreported(rc, err, had_err);
        return rc;
    }
    struct ne_config *cfg = NULL;
    rc = ne_config_load_text(path, text, len, envp, &cfg, had_err ? err : NULL);
    ne_free(text);
    if (rc != 0) return rc;
    cfg->path = ne_strdup(path);
    if (!cfg->path) {
        ne_config_free(&cfg);
        snprintf(err->msg, sizeof err->msg, "out of memory");
        return NE_ENOMEM;
    }
    *out = cfg;
    return 0;
}

void ne_config_free(struct ne_config **pcfg)
{
    if (!pcfg || !*pcfg) return;
    struct ne_config *cfg = *pcfg;
    free_table(&config__schema, cfg);
    if (cfg->meta) {
        ne_free(cfg->meta->origin);
        ne_free(cfg->meta->name);
        ne_free(cfg->meta);
    }
    ne_free(cfg->path);
    ne_free(cfg);
    *pcfg = NULL;
}

const char *ne_config_error_format(const struct ne_config_error *err, char *buf, size_t n)
{
    if (!buf || n == 0) return buf;
    if (!err) {
        snprintf(buf, n, "no error");
        return buf;
    }
    int o = err->line > 0 ? snprintf(buf, n, "%s:%d:%d: ", err->file, err->line, err->column)
                          : snprintf(buf, n, "%s: ", err->file);
    if (o < 0 || (size_t)o >= n) return buf;
    if (err->key[0])
        snprintf(buf + o, n - (size_t)o, "%s: %s", err->key, err->msg);
    else
        snprintf(buf + o, n - (size_t)o, "%s", err->msg);
    return buf;
}

void ne_config_diff(const struct ne_config *a, const struct ne_config *b, ne_config_diff_fn fn,
                    void *ctx)
{
    if (!a || !b || !fn) return;
    for (size_t i = 0; i < config__schema.nkeys; i++) {
        const struct cfg_key *k = &config__schema.keys[i];
        struct cfg_buf ta = {0}, tb = {0};
        config__value_text(&ta, k, a);
        config__value_text(&tb, k, b);
        bool same = !ta.oom && !tb.oom && ta.p && tb.p && strcmp(ta.p, tb.p) == 0;
        ne_free(ta.p);
        ne_free(tb.p);
        if (!same) fn(ctx, k->path, (k->flags & CFG_F_LIVE) != 0);
    }
}
