/*
 * metrics.c - the process-wide metrics registry and its Prometheus text
 * rendering (exposition format 0.0.4).
 *
 * Invariants:
 *  - Registration, lookup, reset and rendering hold one mutex; updates never
 *    take it: counters are an atomic uint64, gauges an atomic uint64 holding
 *    the bit pattern of a double (updated by compare-and-swap), histograms
 *    one atomic count per bucket (non-cumulative; rendering accumulates)
 *    plus an atomic double sum.
 *  - Series of one name form a family with one HELP, one TYPE and one kind;
 *    registering a name again with another kind fails (NULL).
 *  - Labels are parsed at registration and kept in canonical form
 *    (k="v" joined by ',', values escaped as \\, \", \n), so two spellings
 *    of the same label set are the same series.
 *  - The rendered _count of a histogram is the sum of its buckets as read,
 *    so the +Inf bucket always equals _count in one scrape.
 */
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ports/log.h"
#include "ports/metrics.h"
#include "ports/platform.h"

enum mtype { M_COUNTER, M_GAUGE, M_HISTOGRAM };

static const char *const type_names[] = {"counter", "gauge", "histogram"};

struct family;

struct ne_metric {
    struct family *fam;
    char *labels;       /* canonical, "" for none */
    _Atomic uint64_t v; /* counter value, or gauge double bits */
    ne_metric_fn fn;    /* computed gauge, read under the registry lock */
    void *ctx;
    size_t nb;
    double *bounds;
    _Atomic uint64_t *buckets; /* nb + 1, the last is +Inf */
    _Atomic uint64_t sum_bits;
    struct ne_metric *next;
};

struct family {
    char *name;
    char *help;
    enum mtype type;
    struct ne_metric *first, *last;
    struct family *next;
};

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static struct family *g_first, *g_last;

static uint64_t dbl_bits(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    return u;
}

static double bits_dbl(uint64_t u)
{
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

/* ---- string builder ------------------------------------------------------------ */

struct sbuf {
    char *p;
    size_t len, cap;
    bool oom;
};

static void sb_put(struct sbuf *b, const char *s, size_t n)
{
    if (b->oom) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *np = ne_realloc(b->p, cap);
        if (!np) {
            b->oom = true;
            return;
        }
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sb_puts(struct sbuf *b, const char *s)
{
    sb_put(b, s, strlen(s));
}

static void sb_putc(struct sbuf *b, char c)
{
    sb_put(b, &c, 1);
}

/* ---- names and labels ------------------------------------------------------------ */

static bool name_char(char c, bool first, bool colon_ok)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_') return true;
    if (c == ':') return colon_ok;
    return !first && c >= '0' && c <= '9';
}

static bool valid_name(const char *s, bool colon_ok)
{
    if (!s || !*s) return false;
    for (size_t i = 0; s[i]; i++)
        if (!name_char(s[i], i == 0, colon_ok)) return false;
    return true;
}

static const char *skip_spaces(const char *p)
{
    while (*p == ' ')
        p++;
    return p;
}

/* Parses one quoted label value at p (after the opening quote) into b,
 * escaped canonically. Returns the position after the closing quote. */
static const char *parse_value(const char *p, struct sbuf *b)
{
    for (; *p && *p != '"'; p++) {
        char c = *p;
        if (c == '\\') {
            char e = *++p;
            if (e == 'n')
                c = '\n';
            else if (e == '\\' || e == '"')
                c = e;
            else
                return NULL;
        }
        if (c == '\\')
            sb_puts(b, "\\\\");
        else if (c == '"')
            sb_puts(b, "\\\"");
        else if (c == '\n')
            sb_puts(b, "\\n");
        else
            sb_putc(b, c);
    }
    return *p == '"' ? p + 1 : NULL;
}

/* Turns `k="v",k2="v2"` into canonical form; *has_le reports a "le" key.
 * Returns a malloc'd string or NULL (bad syntax or no memory). */
static char *canon_labels(const char *in, bool *has_le, bool *bad)
{
    struct sbuf b = {0};
    *has_le = false;
    *bad = false;
    sb_puts(&b, "");
    const char *p = skip_spaces(in ? in : "");
    while (*p) {
        const char *k = p;
        while (name_char(*p, p == k, false))
            p++;
        size_t klen = (size_t)(p - k);
        if (klen == 0 || p[0] != '=' || p[1] != '"') goto bad;
        if (klen == 2 && memcmp(k, "le", 2) == 0) *has_le = true;
        if (b.len) sb_putc(&b, ',');
        sb_put(&b, k, klen);
        sb_puts(&b, "=\"");
        p = parse_value(p + 2, &b);
        if (!p) goto bad;
        sb_putc(&b, '"');
        p = skip_spaces(p);
        if (*p == ',')
            p = skip_spaces(p + 1);
        else if (*p)
            goto bad;
    }
    if (b.oom) {
        ne_free(b.p);
        return NULL;
    }
    return b.p;
bad:
    *bad = true;
    ne_free(b.p);
    return NULL;
}

/* ---- registry ------------------------------------------------------------------- */

static struct family *find_family(const char *name)
{
    for (struct family *f = g_first; f; f = f->next)
        if (strcmp(f->name, name) == 0) return f;
    return NULL;
}

static struct ne_metric *find_series(const struct family *f, const char *labels)
{
    for (struct ne_metric *m = f->first; m; m = m->next)
        if (strcmp(m->labels, labels) == 0) return m;
    return NULL;
}

static struct family *new_family(const char *name, const char *help, enum mtype type)
{
    struct family *f = ne_calloc(1, sizeof *f);
    if (!f) return NULL;
    f->name = ne_strdup(name);
    f->help = ne_strdup(help ? help : "");
    if (!f->name || !f->help) {
        ne_free(f->name);
        ne_free(f->help);
        ne_free(f);
        return NULL;
    }
    f->type = type;
    return f;
}

static void free_series(struct ne_metric *m)
{
    ne_free(m->labels);
    ne_free(m->bounds);
    ne_free((void *)m->buckets);
    ne_free(m);
}

static struct ne_metric *new_series(char *labels, const double *bounds, size_t nb)
{
    struct ne_metric *m = ne_calloc(1, sizeof *m);
    if (!m) return NULL;
    m->labels = labels;
    if (bounds) {
        m->nb = nb;
        m->bounds = ne_malloc((nb ? nb : 1) * sizeof *bounds);
        m->buckets = ne_calloc(nb + 1, sizeof *m->buckets);
        if (!m->bounds || !m->buckets) {
            m->labels = NULL;
            free_series(m);
            return NULL;
        }
        memcpy(m->bounds, bounds, nb * sizeof *bounds);
        for (size_t i = 0; i <= nb; i++)
            atomic_init(&m->buckets[i], 0);
    }
    return m;
}

static bool valid_bounds(const double *bounds, size_t nb)
{
    if (nb && !bounds) return false;
    for (size_t i = 0; i < nb; i++) {
        if (!isfinite(bounds[i]) || (i > 0 && !(bounds[i] > bounds[i - 1]))) return false;
    }
    return true;
}

static bool same_bounds(const struct ne_metric *m, const double *bounds, size_t nb)
{
    return m->nb == nb && (nb == 0 || memcmp(m->bounds, bounds, nb * sizeof *bounds) == 0);
}

static struct ne_metric *reg_fail(const char *name, const char *why)
{
    ne_log(NE_LOG_ERROR, "metrics", why, "name", name ? name : "", NULL);
    return NULL;
}

/* Registers (name, labels) of the given kind, or returns the existing one. */
static struct ne_metric *reg(const char *name, const char *help, const char *labels,
                             enum mtype type, const double *bounds, size_t nb)
{
    if (!valid_name(name, true)) return reg_fail(name, "invalid metric name");
    if (type == M_HISTOGRAM && !valid_bounds(bounds, nb))
        return reg_fail(name, "histogram bounds must be finite and ascending");
    bool has_le, bad;
    char *canon = canon_labels(labels, &has_le, &bad);
    if (!canon) return bad ? reg_fail(name, "invalid metric labels") : NULL;
    if (has_le && type == M_HISTOGRAM) {
        ne_free(canon);
        return reg_fail(name, "histogram labels may not use \"le\"");
    }

    struct ne_metric *m = NULL;
    pthread_mutex_lock(&g_lock);
    struct family *f = find_family(name);
    bool fresh_family = false;
    if (f && f->type != type) {
        pthread_mutex_unlock(&g_lock);
        ne_free(canon);
        return reg_fail(name, "metric registered again with another type");
    }
    if (f && (m = find_series(f, canon)) != NULL) {
        pthread_mutex_unlock(&g_lock);
        ne_free(canon);
        if (type == M_HISTOGRAM && !same_bounds(m, bounds, nb))
            return reg_fail(name, "histogram registered again with other bounds");
        return m;
    }
    if (!f) {
        f = new_family(name, help, type);
        fresh_family = true;
    }
    if (f)
        m = new_series(canon, type == M_HISTOGRAM ? (bounds ? bounds : (const double[]){0}) : NULL,
                       nb);
    if (!m) {
        if (fresh_family && f) {
            ne_free(f->name);
            ne_free(f->help);
            ne_free(f);
        }
        pthread_mutex_unlock(&g_lock);
        ne_free(canon);
        return NULL;
    }
    m->fam = f;
    if (f->last)
        f->last->next = m;
    else
        f->first = m;
    f->last = m;
    if (fresh_family) {
        if (g_last)
            g_last->next = f;
        else
            g_first = f;
        g_last = f;
    }
    pthread_mutex_unlock(&g_lock);
    return m;
}

struct ne_metric *ne_metric_counter(const char *name, const char *help, const char *labels)
{
    return reg(name, help, labels, M_COUNTER, NULL, 0);
}

struct ne_metric *ne_metric_gauge(const char *name, const char *help, const char *labels)
{
    return reg(name, help, labels, M_GAUGE, NULL, 0);
}

struct ne_metric *ne_metric_histogram(const char *name, const char *help, const char *labels,
                                      const double *bounds, size_t nb)
{
    return reg(name, help, labels, M_HISTOGRAM, bounds, nb);
}

struct ne_metric *ne_metric_gauge_fn(const char *name, const char *help, const char *labels,
                                     ne_metric_fn fn, void *ctx)
{
    struct ne_metric *m = reg(name, help, labels, M_GAUGE, NULL, 0);
    if (m) {
        pthread_mutex_lock(&g_lock);
        m->fn = fn;
        m->ctx = ctx;
        pthread_mutex_unlock(&g_lock);
    }
    return m;
}

struct ne_metric *ne_metric_find(const char *name, const char *labels)
{
    bool has_le, bad;
    char *canon = canon_labels(labels, &has_le, &bad);
    if (!canon || !name) return NULL;
    struct ne_metric *m = NULL;
    pthread_mutex_lock(&g_lock);
    struct family *f = find_family(name);
    if (f) m = find_series(f, canon);
    pthread_mutex_unlock(&g_lock);
    ne_free(canon);
    return m;
}

void ne_metrics_reset(void)
{
    pthread_mutex_lock(&g_lock);
    struct family *f = g_first;
    g_first = g_last = NULL;
    pthread_mutex_unlock(&g_lock);
    while (f) {
        struct family *nf = f->next;
        struct ne_metric *m = f->first;
        while (m) {
            struct ne_metric *nm = m->next;
            free_series(m);
            m = nm;
        }
        ne_free(f->name);
        ne_free(f->help);
        ne_free(f);
        f = nf;
    }
}

/* ---- updates (lock-free) ---------------------------------------------------------- */

void ne_metric_add(struct ne_metric *m, uint64_t n)
{
    if (m && m->fam->type == M_COUNTER) atomic_fetch_add_explicit(&m->v, n, memory_order_relaxed);
}

void ne_metric_set(struct ne_metric *m, double v)
{
    if (m && m->fam->type == M_GAUGE)
        atomic_store_explicit(&m->v, dbl_bits(v), memory_order_relaxed);
}

static void atomic_add_double(_Atomic uint64_t *a, double delta)
{
    uint64_t old = atomic_load_explicit(a, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(a, &old, dbl_bits(bits_dbl(old) + delta),
                                                  memory_order_relaxed, memory_order_relaxed)) {
    }
}

void ne_metric_gauge_add(struct ne_metric *m, double delta)
{
    if (m && m->fam->type == M_GAUGE) atomic_add_double(&m->v, delta);
}

/* Index of the first bucket whose bound is >= v (nb for +Inf). */
static size_t bucket_of(const struct ne_metric *m, double v)
{
    size_t lo = 0, hi = m->nb;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (v <= m->bounds[mid])
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

void ne_metric_observe(struct ne_metric *m, double v)
{
    if (!m || m->fam->type != M_HISTOGRAM) return;
    atomic_fetch_add_explicit(&m->buckets[bucket_of(m, v)], 1, memory_order_relaxed);
    atomic_add_double(&m->sum_bits, v);
}

double ne_metric_value(const struct ne_metric *m)
{
    if (!m) return 0;
    switch (m->fam->type) {
    case M_COUNTER:
        return (double)atomic_load_explicit(&m->v, memory_order_relaxed);
    case M_GAUGE: {
        /* fn and ctx may be replaced by a new registration: read them locked. */
        pthread_mutex_lock(&g_lock);
        double v =
            m->fn ? m->fn(m->ctx) : bits_dbl(atomic_load_explicit(&m->v, memory_order_relaxed));
        pthread_mutex_unlock(&g_lock);
        return v;
    }
    case M_HISTOGRAM: {
        uint64_t n = 0;
        for (size_t i = 0; i <= m->nb; i++)
            n += atomic_load_explicit(&m->buckets[i], memory_order_relaxed);
        return (double)n;
    }
    }
    return 0;
}

/* ---- rendering ---------------------------------------------------------------------- */

/* Shortest text that reads back as the same double; Prometheus spellings
 * for the special values. */
static void fmt_double(char *buf, size_t n, double v)
{
    if (isnan(v)) {
        snprintf(buf, n, "NaN");
        return;
    }
    if (isinf(v)) {
        snprintf(buf, n, v > 0 ? "+Inf" : "-Inf");
        return;
    }
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, n, "%.*g", prec, v);
        if (strtod(buf, NULL) == v) return;
    }
}

static void put_help(struct sbuf *b, const char *help)
{
    for (const char *p = help; *p; p++) {
        if (*p == '\\')
            sb_puts(b, "\\\\");
        else if (*p == '\n')
            sb_puts(b, "\\n");
        else
            sb_putc(b, *p);
    }
}

/* name{labels[,extra]} value\n */
static void put_sample(struct sbuf *b, const char *name, const char *suffix, const char *labels,
                       const char *extra, const char *value)
{
    sb_puts(b, name);
    sb_puts(b, suffix);
    bool any = *labels || extra;
    if (any) {
        sb_putc(b, '{');
        sb_puts(b, labels);
        if (extra) {
            if (*labels) sb_putc(b, ',');
            sb_puts(b, extra);
        }
        sb_putc(b, '}');
    }
    sb_putc(b, ' ');
    sb_puts(b, value);
    sb_putc(b, '\n');
}

static void render_histogram(struct sbuf *b, const struct family *f, const struct ne_metric *m)
{
    char num[64], le[80];
    uint64_t cum = 0;
    for (size_t i = 0; i <= m->nb; i++) {
        cum += atomic_load_explicit(&m->buckets[i], memory_order_relaxed);
        if (i < m->nb) {
            fmt_double(num, sizeof num, m->bounds[i]);
            snprintf(le, sizeof le, "le=\"%s\"", num);
        } else {
            snprintf(le, sizeof le, "le=\"+Inf\"");
        }
        snprintf(num, sizeof num, "%" PRIu64, cum);
        put_sample(b, f->name, "_bucket", m->labels, le, num);
    }
    fmt_double(num, sizeof num, bits_dbl(atomic_load_explicit(&m->sum_bits, memory_order_relaxed)));
    put_sample(b, f->name, "_sum", m->labels, NULL, num);
    snprintf(num, sizeof num, "%" PRIu64, cum);
    put_sample(b, f->name, "_count", m->labels, NULL, num);
}

static void render_series(struct sbuf *b, const struct family *f, const struct ne_metric *m)
{
    char num[64];
    switch (f->type) {
    case M_COUNTER:
        snprintf(num, sizeof num, "%" PRIu64, atomic_load_explicit(&m->v, memory_order_relaxed));
        put_sample(b, f->name, "", m->labels, NULL, num);
        break;
    case M_GAUGE:
        fmt_double(num, sizeof num,
                   m->fn ? m->fn(m->ctx)
                         : bits_dbl(atomic_load_explicit(&m->v, memory_order_relaxed)));
        put_sample(b, f->name, "", m->labels, NULL, num);
        break;
    case M_HISTOGRAM:
        render_histogram(b, f, m);
        break;
    }
}

char *ne_metrics_render(size_t *len)
{
    struct sbuf b = {0};
    sb_puts(&b, "");
    pthread_mutex_lock(&g_lock);
    for (const struct family *f = g_first; f; f = f->next) {
        sb_puts(&b, "# HELP ");
        sb_puts(&b, f->name);
        sb_putc(&b, ' ');
        put_help(&b, f->help);
        sb_puts(&b, "\n# TYPE ");
        sb_puts(&b, f->name);
        sb_putc(&b, ' ');
        sb_puts(&b, type_names[f->type]);
        sb_putc(&b, '\n');
        for (const struct ne_metric *m = f->first; m; m = m->next)
            render_series(&b, f, m);
    }
    pthread_mutex_unlock(&g_lock);
    if (b.oom) {
        ne_free(b.p);
        return NULL;
    }
    if (len) *len = b.len;
    return b.p;
}
