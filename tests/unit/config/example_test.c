/*
 * example_test.c - the documented configs: examples/neoedge.yaml and the
 * embedded default YAML validate and equal the built-in defaults; explain
 * round-trips and names origins; diff reports changed keys and whether a
 * reload applies them live; the schema table keeps its invariants.
 * Usage: config_example PATH/TO/examples/neoedge.yaml
 */
#include "config/config.h"
#include "config/internal.h"
#include "t.h"

static const char *example_path;
static char *const noenv[] = {NULL};

struct changes {
    char keys[64][64];
    bool live[64];
    int n;
};

static void collect(void *ctx, const char *key, bool live)
{
    struct changes *c = ctx;
    if (c->n < 64) {
        snprintf(c->keys[c->n], sizeof c->keys[0], "%s", key);
        c->live[c->n] = live;
    }
    c->n++;
}

static int find_change(const struct changes *c, const char *key)
{
    for (int i = 0; i < c->n && i < 64; i++)
        if (strcmp(c->keys[i], key) == 0) return i;
    return -1;
}

static void test_example_file_is_the_defaults(void)
{
    struct ne_config *ex = NULL, *def = NULL;
    struct ne_config_error err;
    char buf[1024];
    int rc = ne_config_load(example_path, noenv, &ex, &err);
    if (rc != 0) T_FAIL_("%s", ne_config_error_format(&err, buf, sizeof buf));
    T_EQ_STR(ex->path, example_path);
    T_OK(ne_config_load(NULL, noenv, &def, &err));
    struct changes ch = {0};
    ne_config_diff(def, ex, collect, &ch);
    if (ch.n != 0) T_FAIL_("example differs from defaults at %s", ch.keys[0]);
    ne_config_free(&ex);
    ne_config_free(&def);
}

/* Every key is documented in the example and the default text. */
static void test_every_key_documented(void)
{
    char *text = NULL;
    size_t len = 0;
    T_OK(ne_fs_read_all(example_path, &text, &len));
    const char *def = ne_config_default_yaml();
    for (size_t i = 0; i < config__schema.nkeys; i++) {
        const struct cfg_key *k = &config__schema.keys[i];
        char env[128];
        config__env_name(k->path, env, sizeof env);
        if (!strstr(text, env) || !strstr(def, env)) {
            ne_free(text);
            T_FAIL_("%s (%s) is not documented", k->path, env);
        }
        if (!k->doc || !*k->doc) {
            ne_free(text);
            T_FAIL_("%s has no doc", k->path);
        }
    }
    ne_free(text);
}

static void test_default_text_equals_no_file(void)
{
    const char *def = ne_config_default_yaml();
    T_CHECK(def[0] != '\0');
    T_CHECK(def == ne_config_default_yaml());
    struct ne_config *a = NULL, *b = NULL;
    struct ne_config_error err;
    char buf[1024];
    int rc = ne_config_load_text("default", def, strlen(def), noenv, &a, &err);
    if (rc != 0) T_FAIL_("%s", ne_config_error_format(&err, buf, sizeof buf));
    T_OK(ne_config_load(NULL, noenv, &b, &err));
    struct changes ch = {0};
    ne_config_diff(a, b, collect, &ch);
    if (ch.n != 0) T_FAIL_("default text differs from no file at %s", ch.keys[0]);
    T_EQ_STR(a->node_id, b->node_id);
    T_EQ_STR(a->mqtt.subs[0].topic, b->mqtt.subs[0].topic);
    ne_config_free(&a);
    ne_config_free(&b);
    /* the default text obeys the environment like any file */
    char *const env[] = {"NEOEDGE_STORAGE_DURABILITY=sync", NULL};
    T_OK(ne_config_load_text("default", def, strlen(def), env, &a, &err));
    T_EQ_INT(a->storage.durability, NE_DUR_SYNC);
    ne_config_free(&a);
}

static const char custom[] =
    "node_id: gw-9\n"
    "data_dir: \"/data/with space/#1\"\n"
    "log:\n  level: warn\n"
    "storage:\n  max_loss: 1500us\n  memtable_budget: 1536KiB\n  late_window: 1h30m\n"
    "  retention: {max_age: 90d, max_disk: 123456789}\n"
    "mqtt:\n  brokers: [ssl://b:8883]\n  username: \"yes\"\n  keepalive: 90\n"
    "  tls: {ca_file: /ca.pem}\n"
    "  subscriptions:\n"
    "    - {topic: \"$share/g/a/+/#\", template: \"a/{site}/{measurement}\", format: raw}\n"
    "    - {topic: b, measurement: \"m \\\"q\\\"\", qos: 0}\n"
    "coap:\n  paths: [{path: w, database: d2, format: senml-cbor}]\n";

/* What explain writes loads back to the same configuration. */
static void test_explain_round_trip(void)
{
    struct ne_config *a = NULL, *b = NULL;
    struct ne_config_error err;
    char buf[1024];
    T_OK(ne_config_load_text("custom.yaml", custom, sizeof custom - 1, noenv, &a, &err));
    char *x = ne_config_explain(a);
    T_CHECK(x);
    int rc = ne_config_load_text("explained", x, strlen(x), noenv, &b, &err);
    if (rc != 0) {
        fprintf(stderr, "%s\n", x);
        ne_free(x);
        T_FAIL_("%s", ne_config_error_format(&err, buf, sizeof buf));
    }
    struct changes ch = {0};
    ne_config_diff(a, b, collect, &ch);
    T_EQ_INT(ch.n, 0);
    T_EQ_STR(b->data_dir, "/data/with space/#1");
    T_EQ_STR(b->mqtt.username, "yes");
    T_EQ_STR(b->mqtt.subs[1].measurement, "m \"q\"");
    /* origins: file positions, defaults, derived values */
    T_CHECK(strstr(x, "node_id: gw-9  # file custom.yaml:1:1\n"));
    T_CHECK(strstr(x, "  level: warn  # file custom.yaml:4:3\n"));
    T_CHECK(strstr(x, "  max_loss: 1500us  # file custom.yaml:6:3\n"));
    T_CHECK(strstr(x, "  durability: interval  # default\n"));
    T_CHECK(strstr(x, "  client_id: neoedge-gw-9  # derived\n"));
    T_CHECK(strstr(x, "    max_disk: 123456789  # file custom.yaml:9:29\n"));
    ne_free(x);
    ne_config_free(&a);
    ne_config_free(&b);
}

/* The commented examples of examples/neoedge.yaml (TLS brokers, a topic
 * template, a shared SenML subscription, DTLS PSKs, a CBOR path), with
 * their comment marks removed, validate. */
static void test_documented_examples(void)
{
    static const char text[] = "mqtt:\n"
                               "  brokers:\n"
                               "    - ssl://broker.example.com:8883\n"
                               "    - wss://broker.example.com:443/mqtt\n"
                               "  tls:\n"
                               "    ca_file: /etc/neoedge/ca.pem\n"
                               "    cert_file: /etc/neoedge/gw-01.pem\n"
                               "    key_file: /etc/neoedge/gw-01.key\n"
                               "  subscriptions:\n"
                               "    - topic: \"sensors/#\"\n"
                               "    - topic: \"telemetry/+/+/+\"\n"
                               "      format: raw\n"
                               "      template: \"telemetry/{site}/{device}/{measurement}\"\n"
                               "      field: value\n"
                               "    - topic: \"$share/neoedge/senml/#\"\n"
                               "      qos: 2\n"
                               "      format: senml-json\n"
                               "      database: lab\n"
                               "coap:\n"
                               "  dtls_listen: 0.0.0.0:5684\n"
                               "  psk:\n"
                               "    - identity: sensor-17\n"
                               "      key: ${SENSOR17_PSK}\n"
                               "    - identity: sensor-18\n"
                               "      key: ${SENSOR18_PSK}\n"
                               "  paths:\n"
                               "    - path: write\n"
                               "    - path: api/v1/readings\n"
                               "      format: cbor\n"
                               "      measurement: readings\n";
    char *text_in_example = NULL;
    size_t len = 0;
    T_OK(ne_fs_read_all(example_path, &text_in_example, &len));
    bool documented = strstr(text_in_example, "#   template: \"telemetry/{site}/{device}/") &&
                      strstr(text_in_example, "#     key: ${SENSOR17_PSK}") &&
                      strstr(text_in_example, "#   cert_file: /etc/neoedge/gw-01.pem");
    ne_free(text_in_example);
    T_CHECK(documented);
    char *const env[] = {"SENSOR17_PSK=k17", "SENSOR18_PSK=k18", NULL};
    struct ne_config *c = NULL;
    struct ne_config_error err;
    char buf[1024];
    int rc = ne_config_load_text("examples", text, sizeof text - 1, env, &c, &err);
    if (rc != 0) T_FAIL_("%s", ne_config_error_format(&err, buf, sizeof buf));
    T_EQ_INT(c->mqtt.nsubs, 3);
    T_EQ_INT(c->mqtt.subs[1].format, NE_FMT_RAW);
    T_EQ_STR(c->coap.psk[1].key, "k18");
    T_EQ_INT(c->coap.paths[1].format, NE_FMT_CBOR);
    ne_config_free(&c);
}

/* Strings plain YAML would misread are quoted so they load back intact. */
static void test_explain_quoting(void)
{
    const char *values[] = {"a:",    "yes",    "null", "~",           "-x",   "${X}",
                            "$$",    "a $ b",  "#c",   "caf\xc3\xa9", "t\tb", "l\xe2\x80\xa8s",
                            "\"q\"", "back\\", "x: y", "[a]",         "0x1f", " lead"};
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        char *const env[] = {NULL};
        struct ne_config *a = NULL, *b = NULL;
        struct ne_config_error err;
        T_OK(ne_config_load(NULL, env, &a, &err));
        ne_free(a->data_dir);
        a->data_dir = ne_strdup(values[i]);
        char *x = ne_config_explain(a);
        T_CHECK(x);
        int rc = ne_config_load_text("x", x, strlen(x), env, &b, &err);
        ne_free(x);
        if (rc != 0) {
            ne_config_free(&a);
            T_FAIL_("'%s' does not load back: %s", values[i], err.msg);
        }
        bool same = strcmp(a->data_dir, b->data_dir) == 0;
        if (!same) fprintf(stderr, "  '%s' came back as '%s'\n", values[i], b->data_dir);
        ne_config_free(&a);
        ne_config_free(&b);
        T_CHECK(same);
    }
}

static void test_diff_live_and_restart(void)
{
    struct ne_config *a = NULL, *b = NULL;
    struct ne_config_error err;
    T_OK(ne_config_load_text("a", custom, sizeof custom - 1, noenv, &a, &err));
    char *const env[] = {"NEOEDGE_LOG_LEVEL=debug",
                         "NEOEDGE_HTTP_LISTEN=127.0.0.1:9000",
                         "NEOEDGE_STORAGE_RETENTION_MAX_AGE=7d",
                         "NEOEDGE_HTTP_AUTH_TOKEN=tok",
                         "NEOEDGE_MQTT_SUBSCRIPTIONS=[{topic: b, qos: 1}]",
                         NULL};
    T_OK(ne_config_load_text("a", custom, sizeof custom - 1, env, &b, &err));
    struct changes ch = {0};
    ne_config_diff(a, b, collect, &ch);
    T_EQ_INT(ch.n, 5);
    int i;
    T_CHECK((i = find_change(&ch, "log.level")) >= 0 && ch.live[i]);
    T_CHECK((i = find_change(&ch, "storage.retention.max_age")) >= 0 && ch.live[i]);
    T_CHECK((i = find_change(&ch, "http.auth_token")) >= 0 && ch.live[i]);
    T_CHECK((i = find_change(&ch, "http.listen")) >= 0 && !ch.live[i]);
    T_CHECK((i = find_change(&ch, "mqtt.subscriptions")) >= 0 && !ch.live[i]);
    /* a config does not differ from itself */
    ch.n = 0;
    ne_config_diff(b, b, collect, &ch);
    T_EQ_INT(ch.n, 0);
    ne_config_free(&a);
    ne_config_free(&b);
}

/* Sections are contiguous (the YAML writers rely on it), env names are
 * unique, and each list has an item table. */
static void test_schema_invariants(void)
{
    const struct cfg_table *t = &config__schema;
    for (size_t i = 0; i < t->nkeys; i++) {
        const struct cfg_key *k = &t->keys[i];
        const char *dot = strrchr(k->path, '.');
        size_t sec = dot ? (size_t)(dot - k->path) : 0;
        /* once a section is left, no later key returns to it */
        for (size_t j = i + 1; j < t->nkeys; j++) {
            const struct cfg_key *o = &t->keys[j];
            const char *od = strrchr(o->path, '.');
            size_t osec = od ? (size_t)(od - o->path) : 0;
            bool same = sec && osec == sec && strncmp(o->path, k->path, sec) == 0;
            bool left = false;
            for (size_t m = i + 1; m < j; m++) {
                const char *md = strrchr(t->keys[m].path, '.');
                size_t msec = md ? (size_t)(md - t->keys[m].path) : 0;
                if (!(msec >= sec && strncmp(t->keys[m].path, k->path, sec) == 0)) left = true;
            }
            if (same && left) T_FAIL_("section of %s is split (%s)", k->path, o->path);
        }
        char a[128], b[128];
        config__env_name(k->path, a, sizeof a);
        for (size_t j = i + 1; j < t->nkeys; j++) {
            config__env_name(t->keys[j].path, b, sizeof b);
            if (strcmp(a, b) == 0) T_FAIL_("%s and %s share %s", k->path, t->keys[j].path, a);
        }
        T_CHECK((k->kind == CFG_K_LIST) == (k->item != NULL));
        T_CHECK(k->def || k->example || k->kind == CFG_K_LIST);
    }
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s examples/neoedge.yaml\n", argv[0]);
        return 2;
    }
    example_path = argv[1];
    T_RUN(test_example_file_is_the_defaults);
    T_RUN(test_every_key_documented);
    T_RUN(test_default_text_equals_no_file);
    T_RUN(test_explain_round_trip);
    T_RUN(test_documented_examples);
    T_RUN(test_explain_quoting);
    T_RUN(test_diff_live_and_restart);
    T_RUN(test_schema_invariants);
    return t_done();
}
