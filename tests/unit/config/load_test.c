/*
 * load_test.c - loading YAML into struct ne_config: values, defaults,
 * derived keys, and every kind of error with its file:line:col, key and hint.
 */
#include <unistd.h>

#include "config/config.h"
#include "t.h"

static char *const noenv[] = {NULL};

static int load(const char *yaml, struct ne_config **out, struct ne_config_error *err)
{
    return ne_config_load_text("t.yaml", yaml, strlen(yaml), noenv, out, err);
}

/* Loads yaml expecting failure at line:col for key, with the message
 * holding both needles (NULL: skip). Reports what differs. */
static int expect_err(int at, const char *yaml, int rc_want, int line, int col, const char *key,
                      const char *n1, const char *n2)
{
    struct ne_config *cfg = NULL;
    struct ne_config_error err;
    int rc = load(yaml, &cfg, &err);
    char buf[1024], prefix[512];
    ne_config_error_format(&err, buf, sizeof buf);
    if (line > 0)
        snprintf(prefix, sizeof prefix, "t.yaml:%d:%d: %s%s", line, col, key, *key ? ": " : "");
    else
        snprintf(prefix, sizeof prefix, "t.yaml: %s%s", key, *key ? ": " : "");
    int ok = rc == rc_want && cfg == NULL && err.line == line && err.column == col &&
             strcmp(err.key, key) == 0 && strncmp(buf, prefix, strlen(prefix)) == 0 &&
             (!n1 || strstr(err.msg, n1)) && (!n2 || strstr(err.msg, n2));
    if (!ok) fprintf(stderr, "  line %d: rc %d (want %d), got \"%s\"\n", at, rc, rc_want, buf);
    ne_config_free(&cfg);
    return ok;
}

#define T_ERR(yaml, line, col, key, n1, n2)                                                        \
    T_CHECK(expect_err(__LINE__, yaml, NE_EINVAL, line, col, key, n1, n2))

static const char full_yaml[] = "node_id: gw-7\n"
                                "role: central\n"
                                "data_dir: /var/lib/neoedge\n"
                                "default_database: plant\n"
                                "log: {level: debug, format: json}\n"
                                "central: {token: push-t0ken, max_segment_size: 2GiB}\n"
                                "sinks:\n"
                                "  - name: archive\n"
                                "    bucket: fleet\n"
                                "    prefix: site1/gw\n"
                                "    path_style: true\n"
                                "    windows: 22:00-06:00, 12:00-13:00\n"
                                "    bandwidth: 1MiB\n"
                                "  - {name: hq, type: central, url: \"https://c:8086\", token: t}\n"
                                "http:\n"
                                "  enabled: false\n"
                                "  listen: \"[::1]:9086\"\n"
                                "  max_body_bytes: 4MiB\n"
                                "  threads: 8\n"
                                "storage:\n"
                                "  io_backend: posix\n"
                                "  durability: sync\n"
                                "  max_loss: 0\n"
                                "  memtable_budget: 64MiB\n"
                                "  memtable_max_age: 1h\n"
                                "  segment_target_size: 128MiB\n"
                                "  late_window: 7d\n"
                                "  future_grace: 30s\n"
                                "  max_series_per_database: 0\n"
                                "  max_series_per_measurement: 5000\n"
                                "  retention:\n"
                                "    max_age: 30d\n"
                                "    max_disk: 2GiB\n"
                                "    evict_unsynced: yes\n"
                                "mqtt:\n"
                                "  brokers:\n"
                                "    - ssl://broker.example:8883\n"
                                "    - tcp://10.0.0.2:1883\n"
                                "  username: gw\n"
                                "  clean_session: true\n"
                                "  protocol: 3.1.1\n"
                                "  keepalive: 1m\n"
                                "  max_inflight: 200\n"
                                "  max_payload_size: 64KiB\n"
                                "  tls:\n"
                                "    ca_file: /etc/ca.pem\n"
                                "    cert_file: /etc/c.pem\n"
                                "    key_file: /etc/c.key\n"
                                "    verify_hostname: false\n"
                                "  subscriptions:\n"
                                "    - topic: \"$share/ne/sensors/+/+/#\"\n"
                                "      qos: 2\n"
                                "      format: raw\n"
                                "      template: sensors/{site}/{device}/{measurement}/{field}\n"
                                "    - topic: lab/json\n"
                                "      qos: 0\n"
                                "      format: senml-json\n"
                                "      database: lab\n"
                                "      measurement: env\n"
                                "coap:\n"
                                "  listen: 0.0.0.0:5683\n"
                                "  dtls_listen: 0.0.0.0:5684\n"
                                "  psk:\n"
                                "    - {identity: dev1, key: k1}\n"
                                "  paths:\n"
                                "    - path: api/v1/write\n"
                                "      format: cbor\n"
                                "      measurement: m\n"
                                "  max_payload_size: 256KiB\n";

static void test_full_config(void)
{
    struct ne_config *c = NULL;
    struct ne_config_error err;
    T_OK(load(full_yaml, &c, &err));
    T_CHECK(c->path == NULL);
    T_EQ_STR(c->node_id, "gw-7");
    T_EQ_INT(c->role, NE_ROLE_CENTRAL);
    T_EQ_STR(c->central.token, "push-t0ken");
    T_EQ_U64(c->central.max_segment_bytes, 2ULL << 30);
    T_EQ_U64(c->nsinks, 2);
    T_EQ_STR(c->sinks[0].name, "archive");
    T_EQ_INT(c->sinks[0].type, NE_SINK_S3);
    T_EQ_INT(c->sinks[0].format, NE_SINK_FMT_PARQUET);
    T_EQ_STR(c->sinks[0].prefix, "site1/gw");
    T_CHECK(c->sinks[0].path_style);
    T_CHECK(c->sinks[0].verify_tls);
    T_EQ_U64(c->sinks[0].bandwidth_bytes_per_s, 1ULL << 20);
    T_EQ_U64(c->sinks[0].multipart_threshold, 16ULL << 20);
    T_EQ_INT(c->sinks[0].backlog_max_age_ns, 3600LL * 1000000000LL);
    T_EQ_INT(c->sinks[1].type, NE_SINK_CENTRAL);
    T_EQ_STR(c->sinks[1].url, "https://c:8086");
    int from[4], to[4];
    size_t nw;
    T_OK(ne_config_parse_windows(c->sinks[0].windows, from, to, 4, &nw));
    T_EQ_U64(nw, 2);
    T_EQ_INT(from[0], 22 * 60);
    T_EQ_INT(to[0], 6 * 60);
    T_EQ_INT(to[1], 13 * 60);
    T_EQ_STR(c->data_dir, "/var/lib/neoedge");
    T_EQ_STR(c->default_database, "plant");
    T_EQ_INT(c->log.level, NE_LOG_DEBUG);
    T_CHECK(c->log.json);
    T_CHECK(!c->http.enabled);
    T_EQ_STR(c->http.listen, "[::1]:9086");
    T_CHECK(c->http.auth_token == NULL);
    T_EQ_U64(c->http.max_body_bytes, 4ULL << 20);
    T_EQ_INT(c->http.threads, 8);
    T_EQ_INT(c->storage.io_backend, NE_IO_POSIX);
    T_EQ_INT(c->storage.durability, NE_DUR_SYNC);
    T_EQ_INT(c->storage.max_loss_ns, 0);
    T_EQ_U64(c->storage.memtable_bytes, 64ULL << 20);
    T_EQ_INT(c->storage.memtable_max_age_ns, 3600LL * 1000000000LL);
    T_EQ_U64(c->storage.segment_target_bytes, 128ULL << 20);
    T_EQ_INT(c->storage.late_window_ns, 7LL * 86400 * 1000000000LL);
    T_EQ_INT(c->storage.future_grace_ns, 30LL * 1000000000LL);
    T_EQ_U64(c->storage.max_series_per_db, 0);
    T_EQ_U64(c->storage.max_series_per_measurement, 5000);
    T_EQ_INT(c->storage.retention.max_age_ns, 30LL * 86400 * 1000000000LL);
    T_EQ_U64(c->storage.retention.max_disk_bytes, 2ULL << 30);
    T_CHECK(c->storage.retention.evict_unsynced);
    T_CHECK(c->mqtt.enabled);
    T_EQ_INT(c->mqtt.nbrokers, 2);
    T_EQ_STR(c->mqtt.brokers[0], "ssl://broker.example:8883");
    T_EQ_STR(c->mqtt.brokers[1], "tcp://10.0.0.2:1883");
    T_EQ_STR(c->mqtt.client_id, "neoedge-gw-7");
    T_EQ_STR(c->mqtt.username, "gw");
    T_CHECK(c->mqtt.password == NULL);
    T_CHECK(c->mqtt.clean_session);
    T_EQ_INT(c->mqtt.protocol, 4);
    T_EQ_INT(c->mqtt.keepalive_s, 60);
    T_EQ_INT(c->mqtt.max_inflight, 200);
    T_EQ_U64(c->mqtt.max_payload_bytes, 64 * 1024);
    T_EQ_STR(c->mqtt.tls.ca_file, "/etc/ca.pem");
    T_EQ_STR(c->mqtt.tls.key_file, "/etc/c.key");
    T_CHECK(!c->mqtt.tls.verify_hostname);
    T_EQ_INT(c->mqtt.nsubs, 2);
    T_EQ_STR(c->mqtt.subs[0].topic, "$share/ne/sensors/+/+/#");
    T_EQ_INT(c->mqtt.subs[0].qos, 2);
    T_EQ_INT(c->mqtt.subs[0].format, NE_FMT_RAW);
    T_EQ_STR(c->mqtt.subs[0].template_, "sensors/{site}/{device}/{measurement}/{field}");
    T_EQ_STR(c->mqtt.subs[0].database, "plant"); /* from default_database */
    T_EQ_STR(c->mqtt.subs[0].field, "value");
    T_CHECK(c->mqtt.subs[0].measurement == NULL);
    T_EQ_INT(c->mqtt.subs[1].format, NE_FMT_SENML_JSON);
    T_EQ_STR(c->mqtt.subs[1].database, "lab");
    T_EQ_STR(c->mqtt.subs[1].measurement, "env");
    T_CHECK(c->coap.enabled);
    T_EQ_STR(c->coap.dtls_listen, "0.0.0.0:5684");
    T_EQ_INT(c->coap.npsk, 1);
    T_EQ_STR(c->coap.psk[0].identity, "dev1");
    T_EQ_STR(c->coap.psk[0].key, "k1");
    T_EQ_INT(c->coap.npaths, 1);
    T_EQ_STR(c->coap.paths[0].path, "api/v1/write");
    T_EQ_STR(c->coap.paths[0].database, "plant");
    T_EQ_INT(c->coap.paths[0].format, NE_FMT_CBOR);
    T_EQ_U64(c->coap.max_payload_bytes, 256 * 1024);
    ne_config_free(&c);
    T_CHECK(c == NULL);
    ne_config_free(&c); /* NULL-safe */
    ne_config_free(NULL);
}

/* The defaults the deployment guide promises. */
static void test_defaults(void)
{
    struct ne_config *c = NULL;
    T_OK(ne_config_load(NULL, noenv, &c, NULL));
    char host[256] = "";
    gethostname(host, sizeof host - 1);
    T_EQ_STR(c->node_id, host);
    T_EQ_INT(c->role, NE_ROLE_GATEWAY);
    T_EQ_STR(c->data_dir, "./neoedge-data");
    T_EQ_STR(c->default_database, "iot");
    T_EQ_INT(c->log.level, NE_LOG_INFO);
    T_CHECK(!c->log.json);
    T_CHECK(c->http.enabled);
    T_EQ_STR(c->http.listen, "127.0.0.1:8086");
    T_EQ_INT(c->http.threads, 2);
    T_EQ_INT(c->storage.durability, NE_DUR_INTERVAL);
    T_EQ_INT(c->storage.max_loss_ns, 100000000);
    T_EQ_U64(c->storage.memtable_bytes, 12ULL << 20);
    T_EQ_INT(c->storage.future_grace_ns, 600LL * 1000000000LL);
    T_EQ_U64(c->storage.max_series_per_db, 1000000);
    T_EQ_U64(c->storage.max_series_per_measurement, 100000);
    T_EQ_INT(c->storage.retention.max_age_ns, 0);
    T_CHECK(!c->storage.retention.evict_unsynced);
    T_EQ_INT(c->mqtt.nbrokers, 1);
    T_EQ_STR(c->mqtt.brokers[0], "tcp://127.0.0.1:1883");
    T_CHECK(!c->mqtt.clean_session);
    T_EQ_INT(c->mqtt.keepalive_s, 30);
    T_EQ_INT(c->mqtt.max_inflight, 1000);
    T_CHECK(c->mqtt.tls.verify_hostname);
    T_EQ_INT(c->mqtt.nsubs, 1);
    T_EQ_STR(c->mqtt.subs[0].topic, "sensors/#");
    T_EQ_INT(c->mqtt.subs[0].format, NE_FMT_LINE);
    T_EQ_INT(c->mqtt.subs[0].qos, 1);
    T_EQ_STR(c->mqtt.subs[0].database, "iot");
    T_EQ_STR(c->coap.listen, "127.0.0.1:5683");
    T_CHECK(c->coap.dtls_listen == NULL);
    T_EQ_INT(c->coap.npaths, 1);
    T_EQ_STR(c->coap.paths[0].path, "write");
    T_EQ_STR(c->coap.paths[0].database, "iot");
    T_EQ_INT(c->coap.paths[0].format, NE_FMT_AUTO);
    ne_config_free(&c);
}

static void test_empty_and_null_sections(void)
{
    const char *texts[] = {"", "# only a comment\n", "---\n", "mqtt:\nlog: ~\n", "{}\n"};
    for (int i = 0; i < 5; i++) {
        struct ne_config *c = NULL;
        struct ne_config_error err;
        T_OK(load(texts[i], &c, &err));
        T_EQ_INT(c->log.level, NE_LOG_INFO);
        T_EQ_INT(c->mqtt.nsubs, 1);
        ne_config_free(&c);
    }
}

static void test_scalar_forms(void)
{
    struct ne_config *c = NULL;
    struct ne_config_error err;
    T_OK(load("mqtt:\n  brokers: tcp://h:1\n  keepalive: 45\n  protocol: 5\n"
              "  password: null\nhttp:\n  auth_token: \"\"\n  threads: \"4\"\n"
              "log:\n  level: WARN\n",
              &c, &err));
    T_EQ_INT(c->mqtt.nbrokers, 1);
    T_EQ_STR(c->mqtt.brokers[0], "tcp://h:1");
    T_EQ_INT(c->mqtt.keepalive_s, 45);
    T_EQ_INT(c->mqtt.protocol, 5);
    T_CHECK(c->mqtt.password == NULL);
    T_CHECK(c->http.auth_token == NULL);
    T_EQ_INT(c->http.threads, 4);
    T_EQ_INT(c->log.level, NE_LOG_WARN);
    ne_config_free(&c);
    /* mqtt and coap off: no brokers or paths needed */
    T_OK(load("mqtt: {enabled: false, brokers: [], subscriptions: []}\n"
              "coap: {enabled: false, listen: null, paths: []}\n",
              &c, &err));
    T_EQ_INT(c->mqtt.nbrokers, 0);
    T_CHECK(c->coap.listen == NULL);
    ne_config_free(&c);
}

static void test_unknown_keys(void)
{
    T_ERR("stroage:\n  durability: sync\n", 1, 1, "stroage", "unknown key 'stroage'",
          "did you mean 'storage'?");
    T_ERR("storage:\n  durabilty: sync\n", 2, 3, "storage.durabilty", "unknown key",
          "did you mean 'durability'?");
    T_ERR("http:\n  listne: 1.2.3.4:1\n", 2, 3, "http.listne", NULL, "did you mean 'listen'?");
    T_ERR("durability: sync\n", 1, 1, "durability", "unknown key",
          "did you mean 'storage.durability'? (it belongs under 'storage')");
    T_ERR("storage.durability: sync\n", 1, 1, "storage.durability",
          "unknown key 'storage.durability'", "write nested keys as sections");
    T_ERR("log:\n  colour: red\n", 2, 3, "log.colour", "unknown key 'colour'",
          "valid keys here: level, format");
    T_ERR("mqtt:\n  tsl:\n    ca_file: x\n", 2, 3, "mqtt.tsl", NULL, "did you mean 'tls'?");
    T_ERR("mqtt:\n  subscriptions:\n    - topic: a\n      qoss: 1\n", 4, 7,
          "mqtt.subscriptions[0].qoss", "unknown key 'qoss'", "did you mean 'qos'?");
    T_ERR("coap:\n  psk:\n    - {identity: a, key: b, kye: c}\n", 3, 29, "coap.psk[0].kye", NULL,
          "did you mean 'key'?");
}

static void test_enum_errors(void)
{
    T_ERR("storage:\n  durability: fast\n", 2, 15, "storage.durability",
          "expected one of sync, interval, none, got 'fast'", NULL);
    T_ERR("storage:\n  durability: synk\n", 2, 15, "storage.durability", "sync, interval, none",
          "did you mean 'sync'?");
    T_ERR("log:\n  format: text\n", 2, 11, "log.format", "expected one of logfmt, json", NULL);
    T_ERR("role: edge\n", 1, 7, "role", "expected one of gateway, central, got 'edge'", NULL);
    T_ERR("mqtt:\n  protocol: 4\n", 2, 13, "mqtt.protocol", "auto, 3.1.1, 5", NULL);
    T_ERR("mqtt:\n  subscriptions:\n    - {topic: a, format: xml}\n", 3, 26,
          "mqtt.subscriptions[0].format", "line, json, senml-json, senml-cbor, cbor, raw", NULL);
    T_ERR("storage:\n  io_backend:\n", 2, 14, "storage.io_backend", "missing value", NULL);
}

static void test_duration_and_size_errors(void)
{
    T_ERR("storage:\n  max_loss: fast\n", 2, 13, "storage.max_loss",
          "expected a duration like 100ms", "got 'fast'");
    T_ERR("storage:\n  max_loss: 100\n", 2, 13, "storage.max_loss", "got '100'",
          "add a unit: ns, us, ms, s, m, h, d, w");
    T_ERR("storage:\n  max_loss: 2h\n", 2, 13, "storage.max_loss",
          "must be between 0 and 1h, got 2h", NULL);
    T_ERR("storage:\n  memtable_max_age: 500ms\n", 2, 21, "storage.memtable_max_age",
          "between 1s and 7d", NULL);
    T_ERR("storage:\n  late_window: 999999d\n", 2, 16, "storage.late_window", "too large", NULL);
    T_ERR("storage:\n  memtable_budget: 16M\n", 2, 20, "storage.memtable_budget",
          "expected a size like", "MiB, GiB");
    T_ERR("storage:\n  memtable_budget: 10KiB\n", 2, 20, "storage.memtable_budget",
          "between 1MiB and 64GiB, got 10KiB", NULL);
    T_ERR("mqtt:\n  keepalive: 1500ms\n", 2, 14, "mqtt.keepalive", "whole seconds", NULL);
    T_ERR("mqtt:\n  keepalive: 70000s\n", 2, 14, "mqtt.keepalive", "between 0s and 65535s", NULL);
    T_ERR("storage:\n  max_series_per_database: -5\n", 2, 28, "storage.max_series_per_database",
          "out of range", NULL);
    T_ERR("replication:\n  anti_entropy_interval: 2d\n", 2, 26,
          "replication.anti_entropy_interval", "must be between 0 and 1d, got 2d", NULL);
    T_ERR("replication:\n  anti_entropy_interval: soon\n", 2, 26,
          "replication.anti_entropy_interval", "expected a duration", NULL);
    T_ERR("replication:\n  anti_entropy_window: -1h\n", 2, 24,
          "replication.anti_entropy_window", "expected a duration", NULL);
    T_ERR("replication:\n  anti_entropy_sweep_rounds: 0\n", 2, 30,
          "replication.anti_entropy_sweep_rounds", "between 1 and 10000", NULL);
}

static void test_number_and_bool_errors(void)
{
    T_ERR("http:\n  threads: many\n", 2, 12, "http.threads", "expected a whole number, got 'many'",
          NULL);
    T_ERR("http:\n  threads: 0\n", 2, 12, "http.threads", "between 1 and 64, got 0", NULL);
    T_ERR("mqtt:\n  subscriptions:\n    - topic: a\n      qos: 3\n", 4, 12,
          "mqtt.subscriptions[0].qos", "between 0 and 2, got 3", NULL);
    T_ERR("http:\n  enabled: maybe\n", 2, 12, "http.enabled", "expected true or false, got 'maybe'",
          NULL);
}

static void test_shape_errors(void)
{
    T_ERR("storage: 5\n", 1, 10, "storage", "'storage' is a section", "got a single value");
    T_ERR("http:\n  listen:\n    host: a\n", 3, 5, "http.listen",
          "expected a single value, got a mapping", NULL);
    T_ERR("http:\n  threads: [1, 2]\n", 2, 12, "http.threads",
          "expected a whole number, got a list", NULL);
    T_ERR("- a\n- b\n", 1, 1, "", "top level must be a mapping", "got a list");
    T_ERR("mqtt:\n  subscriptions: sensors/#\n", 2, 18, "mqtt.subscriptions",
          "expected a list of mappings (- topic: ...)", NULL);
    T_ERR("mqtt:\n  subscriptions: [sensors/#]\n", 2, 19, "mqtt.subscriptions[0]",
          "expected a mapping like {topic: ...}", NULL);
    T_ERR("mqtt:\n  brokers: {a: b}\n", 2, 12, "mqtt.brokers", "expected a list, got a mapping",
          NULL);
}

static void test_required_and_duplicates(void)
{
    T_ERR("mqtt:\n  subscriptions:\n    - qos: 1\n      format: line\n", 3, 7,
          "mqtt.subscriptions[0]", "missing required key 'topic'", "Topic filter");
    T_ERR("mqtt:\n  subscriptions:\n    - topic: \"\"\n", 3, 14, "mqtt.subscriptions[0].topic",
          "must not be empty", NULL);
    T_ERR("coap:\n  psk:\n    - identity: a\n", 3, 7, "coap.psk[0]", "missing required key 'key'",
          NULL);
    T_ERR("mqtt:\n  subscriptions:\n    - topic: a/#\n    - topic: b\n    - topic: a/#\n", 5, 14,
          "mqtt.subscriptions", "items 0 and 2 have the same topic 'a/#'", NULL);
    T_ERR("coap:\n  dtls_listen: 1.2.3.4:5684\n  psk: [{identity: d, key: x}, {identity: d, "
          "key: y}]\n",
          3, 43, "coap.psk", "same identity 'd'", NULL);
    T_ERR("log:\n  level: info\n  level: debug\n", 3, 3, "log.level", "duplicate key 'level'",
          "first set at line 2");
    T_ERR("mqtt:\n  subscriptions:\n    - topic: a\n      qos: 1\n      qos: 2\n", 5, 7,
          "mqtt.subscriptions[0].qos", "duplicate key 'qos'", "first set at line 4");
    T_ERR("log: {}\nhttp: {}\nlog: {}\n", 3, 1, "log", "duplicate key 'log'", NULL);
}

static void test_yaml_syntax_errors(void)
{
    struct ne_config *c = NULL;
    struct ne_config_error err;
    T_EQ_INT(load("log: [\n", &c, &err), NE_EPARSE);
    T_CHECK(c == NULL);
    T_EQ_STR(err.file, "t.yaml");
    T_CHECK(err.line >= 1);
    T_CHECK(strstr(err.msg, "YAML syntax"));
    T_EQ_INT(load("a: &x 1\nb: *x\n", &c, &err), NE_EPARSE);
    T_EQ_INT(err.line, 2);
    T_CHECK(strstr(err.msg, "aliases (*x) are not supported"));
    T_EQ_INT(load("log: {}\n---\nhttp: {}\n", &c, &err), NE_EPARSE);
    T_EQ_INT(err.line, 2);
    T_CHECK(strstr(err.msg, "only one YAML document"));
    T_EQ_INT(load("? [a, b]\n: c\n", &c, &err), NE_EPARSE);
    T_CHECK(strstr(err.msg, "mapping key must be a plain name"));
    T_EQ_INT(load("log:\n\tlevel: info\n", &c, &err), NE_EPARSE);
    T_EQ_INT(err.line, 2);
    T_EQ_INT(load("data_dir: \"a\\0b\"\n", &c, &err), NE_EPARSE);
    T_CHECK(strstr(err.msg, "NUL"));
    /* deep nesting is refused, not recursed into */
    char deep[400] = "";
    for (int i = 0; i < 100; i++)
        strcat(deep, "[");
    T_EQ_INT(load(deep, &c, &err), NE_EPARSE);
    T_CHECK(strstr(err.msg, "too deep") || strstr(err.msg, "YAML syntax"));
}

static void test_address_checks(void)
{
    T_ERR("http:\n  listen: localhost\n", 2, 11, "http.listen", "expected host:port",
          "got 'localhost'");
    T_ERR("http:\n  listen: 1.2.3.4:70000\n", 2, 11, "http.listen", "expected host:port", NULL);
    T_ERR("http:\n  listen: :8086\n", 2, 11, "http.listen", "expected host:port", NULL);
    T_ERR("coap:\n  listen: \"[::1]\"\n", 2, 11, "coap.listen", "expected host:port", NULL);
    T_ERR("mqtt:\n  brokers: [tcp://a:1, \"http://x:1\"]\n", 2, 24, "mqtt.brokers[1]",
          "expected a broker URL like tcp://127.0.0.1:1883", "got 'http://x:1'");
    T_ERR("mqtt:\n  brokers: [tcp://nohost]\n", 2, 13, "mqtt.brokers[0]", "broker URL", NULL);
    T_ERR("node_id: \"gw 1\"\n", 1, 10, "node_id", "letters, digits", "got 'gw 1'");
    T_ERR("coap:\n  paths: [{path: /write}]\n", 2, 18, "coap.paths[0].path",
          "without a leading '/'", NULL);
    T_ERR("default_database: a/b\n", 1, 19, "default_database", "without '/'", NULL);
    struct ne_config *c = NULL;
    struct ne_config_error err;
    T_OK(load("mqtt:\n  brokers: [\"wss://h.example:443/mqtt\", \"mqtts://[::1]:8883\"]\n", &c,
              &err));
    ne_config_free(&c);
}

static void test_topic_and_template_checks(void)
{
    T_ERR("mqtt:\n  subscriptions: [{topic: a/#/b}]\n", 2, 27, "mqtt.subscriptions[0].topic",
          "'#' must be the whole last level", NULL);
    T_ERR("mqtt:\n  subscriptions: [{topic: a/b+}]\n", 2, 27, "mqtt.subscriptions[0].topic",
          "'+' must be a whole level", NULL);
    T_ERR("mqtt:\n  subscriptions: [{topic: $share/g}]\n", 2, 27, "mqtt.subscriptions[0].topic",
          "$share/<group>/<filter>", NULL);
    T_ERR("mqtt:\n  subscriptions:\n    - topic: s/+/temp\n      template: s/{site}/{x}\n", 4, 17,
          "mqtt.subscriptions[0].template", "does not fit topic 's/+/temp'", NULL);
    T_ERR("mqtt:\n  subscriptions:\n    - topic: s/+/+\n      template: s/{site}\n", 4, 17,
          "mqtt.subscriptions[0].template", "one level per topic level", NULL);
    T_ERR("mqtt:\n  subscriptions:\n    - topic: s/#\n      template: s/{site\n", 4, 17,
          "mqtt.subscriptions[0].template", "a placeholder must be a whole topic level", NULL);
    T_ERR("mqtt:\n  subscriptions:\n    - topic: s/#\n      template: s/x{site}\n", 4, 17,
          "mqtt.subscriptions[0].template", "whole topic level", NULL);
    T_ERR("mqtt:\n  subscriptions:\n    - topic: s/#\n      template: s/{a}/{b}/{a}\n", 4, 17,
          "mqtt.subscriptions[0].template", "a placeholder appears twice", NULL);
    T_ERR("mqtt:\n  subscriptions:\n    - topic: s/#\n      format: raw\n", 3, 7,
          "mqtt.subscriptions[0].measurement", "format raw needs a measurement", NULL);
    struct ne_config *c = NULL;
    struct ne_config_error err;
    T_OK(load("mqtt:\n  subscriptions:\n"
              "    - {topic: s/+/t, template: \"s/{site}/t\"}\n"
              "    - {topic: x/#, template: \"x/{a}/{b}/{measurement}\", format: raw}\n"
              "    - {topic: y/+/#, template: \"y/{a}\"}\n"
              "    - topic: z/+\n"
              "      template: z/{field}\n",
              &c, &err));
    T_EQ_INT(c->mqtt.nsubs, 4);
    T_EQ_STR(c->mqtt.subs[1].template_, "x/{a}/{b}/{measurement}");
    T_EQ_STR(c->mqtt.subs[3].template_, "z/{field}");
    ne_config_free(&c);
}

static void test_cross_key_checks(void)
{
    T_ERR("storage:\n  durability: interval\n  max_loss: 0\n", 3, 3, "storage.max_loss",
          "durability interval needs max_loss above 0", NULL);
    /* the offending key came from the defaults: no position, still the file */
    T_ERR("storage:\n  max_loss: 0\n", 2, 3, "storage.max_loss", "needs max_loss", NULL);
    T_ERR("mqtt:\n  tls:\n    cert_file: /c.pem\n", 0, 0, "mqtt.tls.key_file",
          "cert_file and key_file go together", NULL);
    T_ERR("coap:\n  dtls_listen: 127.0.0.1:5684\n", 2, 3, "coap.dtls_listen",
          "at least one coap.psk entry", NULL);
    T_ERR("coap:\n  listen: 127.0.0.1:5684\n  dtls_listen: 127.0.0.1:5684\n  psk: [{identity: a, "
          "key: b}]\n",
          3, 3, "coap.dtls_listen", "must be different", NULL);
    T_ERR("coap:\n  listen: ~\n", 2, 3, "coap.listen", "neither listen nor dtls_listen", NULL);
    T_ERR("mqtt:\n  brokers: []\n", 2, 3, "mqtt.brokers", "no broker is listed", NULL);
    T_ERR("mqtt:\n  subscriptions: []\n", 2, 3, "mqtt.subscriptions", "no subscription", NULL);
    T_ERR("http:\n  listen: null\n", 2, 3, "http.listen", "listen is unset", NULL);
    T_ERR("role: central\n", 0, 0, "central.token", "needs central.token", NULL);
}

static void test_sink_checks(void)
{
    T_ERR("sinks:\n  - name: a\n", 2, 5, "sinks[0].bucket", "needs a bucket", NULL);
    T_ERR("sinks:\n  - {name: a, type: central, token: t}\n", 2, 5, "sinks[0].url",
          "needs the url", NULL);
    T_ERR("sinks:\n  - {name: a, type: ftp}\n", 2, 21, "sinks[0].type", "one of", "s3, central");
    T_ERR("sinks:\n  - {name: a b, bucket: bkt}\n", 2, 12, "sinks[0].name", "letters, digits",
          NULL);
    T_ERR("sinks:\n  - {name: a, bucket: bkt}\n  - {name: a, bucket: bky}\n", 3, 12, "sinks",
          "same name", NULL);
    T_ERR("sinks:\n  - {name: a, bucket: bkt, windows: 22-06}\n", 2, 37, "sinks[0].windows",
          "22:00-06:00", NULL);
    T_ERR("sinks:\n  - {name: a, bucket: bkt, encryption_key: abc}\n", 2, 44,
          "sinks[0].encryption_key", "64 hex digits", NULL);
    T_ERR("sinks:\n  - {name: a, bucket: bkt, prefix: /p/}\n", 2, 36, "sinks[0].prefix",
          "no leading", NULL);
    T_ERR("sinks:\n  - {name: a, bucket: My_Bucket}\n", 2, 23, "sinks[0].bucket",
          "S3 bucket name", NULL);
    T_ERR("sinks:\n  - {name: a, bucket: bkt, access_key: k}\n", 2, 5, "sinks[0].secret_key",
          "go together", NULL);
}

static void test_error_format(void)
{
    struct ne_config_error e = {.line = 2, .column = 15};
    snprintf(e.file, sizeof e.file, "gw.yaml");
    snprintf(e.key, sizeof e.key, "storage.durability");
    snprintf(e.msg, sizeof e.msg, "bad");
    char buf[256];
    T_EQ_STR(ne_config_error_format(&e, buf, sizeof buf), "gw.yaml:2:15: storage.durability: bad");
    e.line = 0;
    T_EQ_STR(ne_config_error_format(&e, buf, sizeof buf), "gw.yaml: storage.durability: bad");
    e.key[0] = '\0';
    T_EQ_STR(ne_config_error_format(&e, buf, sizeof buf), "gw.yaml: bad");
    char small[8];
    ne_config_error_format(&e, small, sizeof small);
    T_EQ_INT(strlen(small), 7);
}

static void test_load_file(void)
{
    char dir[256], path[300];
    T_CHECK(t_tmpdir(dir, sizeof dir));
    snprintf(path, sizeof path, "%s/gw.yaml", dir);
    FILE *f = fopen(path, "w");
    T_CHECK(f);
    fputs("node_id: gw-file\nstorage:\n  durability: none\n", f);
    fclose(f);
    struct ne_config *c = NULL;
    struct ne_config_error err;
    int rc = ne_config_load(path, noenv, &c, &err);
    T_OK(rc);
    T_EQ_STR(c->path, path);
    T_EQ_STR(c->node_id, "gw-file");
    T_EQ_INT(c->storage.durability, NE_DUR_NONE);
    ne_config_free(&c);
    f = fopen(path, "w");
    fputs("storage:\n  durability: fast\n", f);
    fclose(f);
    T_EQ_INT(ne_config_load(path, noenv, &c, &err), NE_EINVAL);
    T_EQ_STR(err.file, path);
    T_EQ_INT(err.line, 2);
    unlink(path);
    T_EQ_INT(ne_config_load(path, noenv, &c, &err), NE_ENOTFOUND);
    T_EQ_STR(err.file, path);
    T_CHECK(strstr(err.msg, "cannot read"));
    rmdir(dir);
}

/* Every allocation failure surfaces as NE_ENOMEM and leaks nothing (the
 * sanitizer build checks the leaks). */
static void test_allocation_failures(void)
{
    int successes = 0;
    for (uint64_t nth = 1; nth < 5000; nth++) {
        ne_fault_reset();
        ne_fault_arm(NE_FAULT_ALLOC, nth, NE_FAULT_NULL, false);
        struct ne_config *c = NULL;
        struct ne_config_error err;
        int rc = load(full_yaml, &c, &err);
        bool fired = ne_fault_fired(NE_FAULT_ALLOC) > 0;
        ne_fault_reset();
        if (!fired) {
            T_OK(rc);
            successes++;
            char *x = ne_config_explain(c);
            T_CHECK(x != NULL);
            ne_free(x);
            ne_config_free(&c);
            break;
        }
        if (rc != NE_ENOMEM)
            T_FAIL_("allocation %llu failed: rc %d, %s", (unsigned long long)nth, rc, err.msg);
        T_CHECK(c == NULL);
    }
    T_EQ_INT(successes, 1);
    /* explain under allocation failure returns NULL, never a partial text */
    struct ne_config *c = NULL;
    struct ne_config_error err;
    T_OK(load(full_yaml, &c, &err));
    for (uint64_t nth = 1; nth < 50; nth++) {
        ne_fault_arm(NE_FAULT_ALLOC, nth, NE_FAULT_NULL, false);
        char *x = ne_config_explain(c);
        bool fired = ne_fault_fired(NE_FAULT_ALLOC) > 0;
        ne_fault_reset();
        if (!fired) {
            T_CHECK(x != NULL);
            ne_free(x);
            break;
        }
        T_CHECK(x == NULL);
    }
    ne_config_free(&c);
}

int main(void)
{
    T_RUN(test_full_config);
    T_RUN(test_defaults);
    T_RUN(test_empty_and_null_sections);
    T_RUN(test_scalar_forms);
    T_RUN(test_unknown_keys);
    T_RUN(test_enum_errors);
    T_RUN(test_duration_and_size_errors);
    T_RUN(test_number_and_bool_errors);
    T_RUN(test_shape_errors);
    T_RUN(test_required_and_duplicates);
    T_RUN(test_yaml_syntax_errors);
    T_RUN(test_address_checks);
    T_RUN(test_topic_and_template_checks);
    T_RUN(test_cross_key_checks);
    T_RUN(test_sink_checks);
    T_RUN(test_error_format);
    T_RUN(test_load_file);
    T_RUN(test_allocation_failures);
    return t_done();
}
