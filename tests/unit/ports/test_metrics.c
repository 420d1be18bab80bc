/*
 * test_metrics.c - the metrics registry: handles, lock-free updates from
 * threads, and the Prometheus text rendering, checked by parsing the output
 * back (one HELP and TYPE per name before its samples, label escaping,
 * cumulative histogram buckets, _sum and _count).
 */
#include <pthread.h>

#include "ports/metrics.h"
#include "ports/platform.h"
#include "t.h"

/* ---- a small parser for the exposition format -------------------------------- */

#define MAXS 64

struct sample {
    char name[96];
    char labels[8][2][64]; /* unescaped key, value */
    int nl;
    double value;
};

struct family {
    char name[96];
    char help[128];
    char type[16];
    int helps, types, samples;
};

struct parsed {
    struct sample s[MAXS];
    int ns;
    struct family f[16];
    int nf;
    int errors;
};

static struct family *family_of(struct parsed *p, const char *name)
{
    for (int i = 0; i < p->nf; i++)
        if (strcmp(p->f[i].name, name) == 0) return &p->f[i];
    if (p->nf == 16) return NULL;
    struct family *f = &p->f[p->nf++];
    memset(f, 0, sizeof *f);
    snprintf(f->name, sizeof f->name, "%s", name);
    return f;
}

/* Parses `k="v",...}` at s into out; returns the position after '}'. */
static const char *parse_labels(const char *s, struct sample *out)
{
    while (*s != '}') {
        if (out->nl == 8) return NULL;
        const char *eq = strchr(s, '=');
        if (!eq || eq[1] != '"' || (size_t)(eq - s) >= 64) return NULL;
        memcpy(out->labels[out->nl][0], s, (size_t)(eq - s));
        out->labels[out->nl][0][eq - s] = '\0';
        char *v = out->labels[out->nl][1];
        size_t n = 0;
        for (s = eq + 2; *s != '"'; s++) {
            char c = *s;
            if (!c || c == '\n' || n == 63) return NULL;
            if (c == '\\') {
                c = *++s;
                if (c == 'n')
                    c = '\n';
                else if (c != '\\' && c != '"')
                    return NULL;
            }
            v[n++] = c;
        }
        v[n] = '\0';
        out->nl++;
        s++;
        if (*s == ',')
            s++;
        else if (*s != '}')
            return NULL;
    }
    return s + 1;
}

/* Strips a histogram suffix so samples map to their family name. */
static void family_name(const char *sample, char *out, size_t n, struct parsed *p)
{
    static const char *const sfx[] = {"_bucket", "_sum", "_count"};
    snprintf(out, n, "%s", sample);
    for (int i = 0; i < 3; i++) {
        size_t ls = strlen(sample), lx = strlen(sfx[i]);
        if (ls > lx && strcmp(sample + ls - lx, sfx[i]) == 0) {
            char base[96];
            snprintf(base, sizeof base, "%.*s", (int)(ls - lx), sample);
            for (int k = 0; k < p->nf; k++)
                if (strcmp(p->f[k].name, base) == 0 && strcmp(p->f[k].type, "histogram") == 0)
                    snprintf(out, n, "%s", base);
        }
    }
}

static void parse_line(struct parsed *p, char *line, const char **current)
{
    char name[96];
    if (strncmp(line, "# HELP ", 7) == 0 || strncmp(line, "# TYPE ", 7) == 0) {
        char *sp = strchr(line + 7, ' ');
        if (!sp) {
            p->errors++;
            return;
        }
        snprintf(name, sizeof name, "%.*s", (int)(sp - line - 7), line + 7);
        struct family *f = family_of(p, name);
        if (!f) {
            p->errors++;
            return;
        }
        if (f->samples) p->errors++; /* metadata after samples */
        if (line[2] == 'H') {
            f->helps++;
            snprintf(f->help, sizeof f->help, "%s", sp + 1);
        } else {
            f->types++;
            snprintf(f->type, sizeof f->type, "%s", sp + 1);
        }
        *current = f->name;
        return;
    }
    if (p->ns == MAXS) {
        p->errors++;
        return;
    }
    struct sample *s = &p->s[p->ns];
    memset(s, 0, sizeof *s);
    size_t nlen = strcspn(line, "{ ");
    snprintf(s->name, sizeof s->name, "%.*s", (int)nlen, line);
    const char *rest = line + nlen;
    if (*rest == '{') rest = parse_labels(rest + 1, s);
    if (!rest || *rest != ' ') {
        p->errors++;
        return;
    }
    char *end;
    s->value = strtod(rest + 1, &end);
    if (*end != '\0') {
        p->errors++;
        return;
    }
    family_name(s->name, name, sizeof name, p);
    struct family *f = family_of(p, name);
    if (!f || !*current || strcmp(*current, f->name) != 0)
        p->errors++; /* a sample outside its family's group */
    else
        f->samples++;
    p->ns++;
}

static void parse(struct parsed *p, char *text)
{
    memset(p, 0, sizeof *p);
    const char *current = NULL;
    for (char *line = text; *line;) {
        char *nl = strchr(line, '\n');
        if (!nl) {
            p->errors++; /* last line must end with '\n' */
            return;
        }
        *nl = '\0';
        parse_line(p, line, &current);
        line = nl + 1;
    }
}

static const char *label(const struct sample *s, const char *key)
{
    for (int i = 0; i < s->nl; i++)
        if (strcmp(s->labels[i][0], key) == 0) return s->labels[i][1];
    return NULL;
}

/* The value of the sample name{key=val} (key may be NULL); NaN if absent. */
static double value_of(const struct parsed *p, const char *name, const char *key, const char *val)
{
    for (int i = 0; i < p->ns; i++) {
        const struct sample *s = &p->s[i];
        if (strcmp(s->name, name) != 0) continue;
        if (!key || (label(s, key) && strcmp(label(s, key), val) == 0)) return s->value;
    }
    return NAN;
}

static struct parsed g_p;

static int render_and_parse(void)
{
    size_t len = 0;
    char *text = ne_metrics_render(&len);
    if (!text) return -1;
    if (strlen(text) != len) {
        ne_free(text);
        return -1;
    }
    parse(&g_p, text);
    ne_free(text);
    return g_p.errors;
}

/* ---- tests -------------------------------------------------------------------------- */

static void test_same_series_same_handle(void)
{
    ne_metrics_reset();
    struct ne_metric *a = ne_metric_counter("ne_test_total", "Help.", "a=\"1\",b=\"2\"");
    struct ne_metric *b = ne_metric_counter("ne_test_total", "Help.", "a=\"1\", b=\"2\"");
    struct ne_metric *c = ne_metric_counter("ne_test_total", "Help.", "a=\"1\",b=\"3\"");
    T_CHECK(a != NULL && c != NULL);
    T_CHECK(a == b);
    T_CHECK(a != c);
    T_CHECK(ne_metric_find("ne_test_total", "a=\"1\",b=\"2\"") == a);
    T_CHECK(ne_metric_find("ne_test_total", "a=\"9\"") == NULL);
    T_CHECK(ne_metric_find("ne_other", NULL) == NULL);
    /* The same name as another kind, bad names and bad labels are refused. */
    T_CHECK(ne_metric_gauge("ne_test_total", "Help.", NULL) == NULL);
    T_CHECK(ne_metric_counter("9bad", "Help.", NULL) == NULL);
    T_CHECK(ne_metric_counter("ne_x", "Help.", "a=1") == NULL);
    T_CHECK(ne_metric_counter("ne_x", "Help.", "a=\"unterminated") == NULL);
    double bad_bounds[] = {1, 1};
    T_CHECK(ne_metric_histogram("ne_h", "Help.", NULL, bad_bounds, 2) == NULL);
    T_CHECK(ne_metric_histogram("ne_h", "Help.", "le=\"1\"", bad_bounds, 1) == NULL);
    /* NULL handles are ignored. */
    ne_metric_inc(NULL);
    ne_metric_set(NULL, 1);
    ne_metric_observe(NULL, 1);
    T_EQ_DBL(ne_metric_value(NULL), 0, 0);
}

#define NT  4
#define PER 20000

static struct ne_metric *g_counter, *g_gauge, *g_hist;

static void *update_loop(void *arg)
{
    (void)arg;
    for (int i = 0; i < PER; i++) {
        ne_metric_inc(g_counter);
        ne_metric_gauge_add(g_gauge, 0.5);
        ne_metric_observe(g_hist, (double)(i % 4));
    }
    return NULL;
}

static void test_concurrent_updates_are_exact(void)
{
    ne_metrics_reset();
    static const double bounds[] = {0.5, 1.5, 2.5};
    g_counter = ne_metric_counter("ne_c_total", "C.", NULL);
    g_gauge = ne_metric_gauge("ne_g", "G.", NULL);
    g_hist = ne_metric_histogram("ne_h", "H.", NULL, bounds, 3);
    T_CHECK(g_counter && g_gauge && g_hist);
    pthread_t th[NT];
    for (int i = 0; i < NT; i++)
        pthread_create(&th[i], NULL, update_loop, NULL);
    for (int i = 0; i < NT; i++)
        pthread_join(th[i], NULL);
    T_EQ_DBL(ne_metric_value(g_counter), NT * PER, 0);
    T_EQ_DBL(ne_metric_value(g_gauge), NT * PER * 0.5, 0);
    T_EQ_INT(render_and_parse(), 0);
    T_EQ_DBL(value_of(&g_p, "ne_c_total", NULL, NULL), NT * PER, 0);
    T_EQ_DBL(value_of(&g_p, "ne_h_count", NULL, NULL), NT * PER, 0);
    /* Each of 0,1,2,3 was observed NT*PER/4 times. */
    T_EQ_DBL(value_of(&g_p, "ne_h_bucket", "le", "0.5"), NT * PER / 4, 0);
    T_EQ_DBL(value_of(&g_p, "ne_h_bucket", "le", "1.5"), NT * PER / 2, 0);
    T_EQ_DBL(value_of(&g_p, "ne_h_bucket", "le", "2.5"), NT * PER * 3 / 4, 0);
    T_EQ_DBL(value_of(&g_p, "ne_h_bucket", "le", "+Inf"), NT * PER, 0);
    T_EQ_DBL(value_of(&g_p, "ne_h_sum", NULL, NULL), NT * PER / 4 * 6.0, 0);
}

static double queue_depth(void *ctx)
{
    return (double)*(int *)ctx;
}

static void test_render_format(void)
{
    ne_metrics_reset();
    struct ne_metric *mq =
        ne_metric_counter("neoedge_points_rejected_total", "Points rejected,\nby source \\ reason",
                          "source=\"mqtt\",reason=\"parse\"");
    struct ne_metric *hp = ne_metric_counter("neoedge_points_rejected_total", "ignored",
                                             "source=\"http\",reason=\"say \\\"no\\\"\"");
    struct ne_metric *nl = ne_metric_counter("neoedge_points_rejected_total", "ignored",
                                             "source=\"a\nb\",reason=\"C:\\\\dir\"");
    struct ne_metric *temp = ne_metric_gauge("neoedge_temp", "Temperature.", NULL);
    int depth = 7;
    struct ne_metric *q =
        ne_metric_gauge_fn("neoedge_queue_depth", "Depth.", "q=\"wal\"", queue_depth, &depth);
    static const double bounds[] = {0.1, 1, 5};
    struct ne_metric *lat =
        ne_metric_histogram("neoedge_latency_seconds", "Latency.", "op=\"append\"", bounds, 3);
    T_CHECK(mq && hp && nl && temp && q && lat);
    ne_metric_add(mq, 3);
    ne_metric_inc(hp);
    ne_metric_add(nl, 2);
    ne_metric_set(temp, -12.25);
    ne_metric_gauge_add(temp, 0.5);
    double obs[] = {0.05, 0.5, 0.5, 3, 100};
    for (size_t i = 0; i < 5; i++)
        ne_metric_observe(lat, obs[i]);
    depth = 11; /* computed at render time */

    T_EQ_INT(render_and_parse(), 0);
    T_EQ_INT(g_p.nf, 4);
    for (int i = 0; i < g_p.nf; i++) {
        T_EQ_INT(g_p.f[i].helps, 1);
        T_EQ_INT(g_p.f[i].types, 1);
        T_CHECK(g_p.f[i].samples > 0);
    }
    T_EQ_STR(g_p.f[0].name, "neoedge_points_rejected_total");
    T_EQ_STR(g_p.f[0].type, "counter");
    T_EQ_STR(g_p.f[0].help, "Points rejected,\\nby source \\\\ reason");
    T_EQ_INT(g_p.f[0].samples, 3);
    T_EQ_STR(g_p.f[1].type, "gauge");
    T_EQ_STR(g_p.f[3].type, "histogram");
    T_EQ_INT(g_p.f[3].samples, 6); /* 4 buckets, _sum, _count */

    T_EQ_DBL(value_of(&g_p, "neoedge_points_rejected_total", "source", "mqtt"), 3, 0);
    T_EQ_DBL(value_of(&g_p, "neoedge_points_rejected_total", "reason", "say \"no\""), 1, 0);
    T_EQ_DBL(value_of(&g_p, "neoedge_points_rejected_total", "source", "a\nb"), 2, 0);
    T_EQ_DBL(value_of(&g_p, "neoedge_points_rejected_total", "reason", "C:\\dir"), 2, 0);
    T_EQ_DBL(value_of(&g_p, "neoedge_temp", NULL, NULL), -11.75, 0);
    T_EQ_DBL(value_of(&g_p, "neoedge_queue_depth", "q", "wal"), 11, 0);
    T_EQ_DBL(ne_metric_value(q), 11, 0);
    T_EQ_DBL(value_of(&g_p, "neoedge_latency_seconds_bucket", "le", "0.1"), 1, 0);
    T_EQ_DBL(value_of(&g_p, "neoedge_latency_seconds_bucket", "le", "1"), 3, 0);
    T_EQ_DBL(value_of(&g_p, "neoedge_latency_seconds_bucket", "le", "5"), 4, 0);
    T_EQ_DBL(value_of(&g_p, "neoedge_latency_seconds_bucket", "le", "+Inf"), 5, 0);
    T_EQ_DBL(value_of(&g_p, "neoedge_latency_seconds_sum", "op", "append"), 104.05, 1e-9);
    T_EQ_DBL(value_of(&g_p, "neoedge_latency_seconds_count", "op", "append"), 5, 0);
    /* Every histogram sample keeps the series labels. */
    for (int i = 0; i < g_p.ns; i++)
        if (strncmp(g_p.s[i].name, "neoedge_latency_seconds", 23) == 0)
            T_CHECK(label(&g_p.s[i], "op") && strcmp(label(&g_p.s[i], "op"), "append") == 0);
}

static void test_reset_empties_registry(void)
{
    ne_metric_counter("ne_left_total", "x", NULL);
    ne_metrics_reset();
    size_t len = 99;
    char *text = ne_metrics_render(&len);
    T_CHECK(text != NULL);
    T_EQ_U64(len, 0);
    ne_free(text);
    T_CHECK(ne_metric_find("ne_left_total", NULL) == NULL);
}

int main(void)
{
    T_RUN(test_same_series_same_handle);
    T_RUN(test_concurrent_updates_are_exact);
    T_RUN(test_render_format);
    T_RUN(test_reset_empties_registry);
    ne_metrics_reset();
    return t_done();
}
