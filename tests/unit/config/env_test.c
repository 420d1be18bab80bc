/*
 * env_test.c - NEOEDGE_<PATH> environment overrides and ${VAR} expansion:
 * precedence over the file, list forms, errors naming the variable, and
 * where explain says each value came from.
 */
#include <stdlib.h>

#include "config/config.h"
#include "t.h"

static int load_env(const char *yaml, char *const *env, struct ne_config **out,
                    struct ne_config_error *err)
{
    return ne_config_load_text("gw.yaml", yaml, strlen(yaml), env, out, err);
}

static void test_env_beats_file_and_default(void)
{
    char *const env[] = {"NEOEDGE_STORAGE_DURABILITY=sync",
                         "NEOEDGE_HTTP_LISTEN=0.0.0.0:9999",
                         "NEOEDGE_STORAGE_RETENTION_MAX_AGE=30d",
                         "NEOEDGE_LOG_FORMAT=json",
                         "UNRELATED=1",
                         NULL};
    struct ne_config *c = NULL;
    struct ne_config_error err;
    T_OK(load_env("storage:\n  durability: none\n", env, &c, &err));
    T_EQ_INT(c->storage.durability, NE_DUR_SYNC);
    T_EQ_STR(c->http.listen, "0.0.0.0:9999");
    T_EQ_INT(c->storage.retention.max_age_ns, 30LL * 86400 * 1000000000LL);
    T_CHECK(c->log.json);
    char *x = ne_config_explain(c);
    T_CHECK(x);
    T_CHECK(strstr(x, "durability: sync  # env NEOEDGE_STORAGE_DURABILITY\n"));
    T_CHECK(strstr(x, "listen: 0.0.0.0:9999  # env NEOEDGE_HTTP_LISTEN\n"));
    T_CHECK(strstr(x, "role: gateway  # default\n"));
    ne_free(x);
    ne_config_free(&c);
}

static void test_env_lists(void)
{
    char *const env[] = {"NEOEDGE_MQTT_BROKERS= tcp://a:1883 ,ssl://b:8883,, ",
                         "NEOEDGE_MQTT_SUBSCRIPTIONS=[{topic: \"f/#\", qos: 0, format: json}, "
                         "{topic: g/+}]",
                         "NEOEDGE_COAP_PSK=[{identity: d1, key: s3cret}]",
                         "NEOEDGE_COAP_DTLS_LISTEN=127.0.0.1:5684", NULL};
    struct ne_config *c = NULL;
    struct ne_config_error err;
    T_OK(load_env("", env, &c, &err));
    T_EQ_INT(c->mqtt.nbrokers, 2);
    T_EQ_STR(c->mqtt.brokers[0], "tcp://a:1883");
    T_EQ_STR(c->mqtt.brokers[1], "ssl://b:8883");
    T_EQ_INT(c->mqtt.nsubs, 2);
    T_EQ_STR(c->mqtt.subs[0].topic, "f/#");
    T_EQ_INT(c->mqtt.subs[0].qos, 0);
    T_EQ_INT(c->mqtt.subs[0].format, NE_FMT_JSON);
    T_EQ_STR(c->mqtt.subs[1].topic, "g/+");
    T_EQ_INT(c->mqtt.subs[1].qos, 1);
    T_EQ_INT(c->coap.npsk, 1);
    T_EQ_STR(c->coap.psk[0].key, "s3cret");
    ne_config_free(&c);
}

static void expect_env_err(const char *var, const char *key, const char *n1, const char *n2,
                           int *ok)
{
    char *const env[] = {(char *)var, NULL};
    struct ne_config *c = NULL;
    struct ne_config_error err;
    int rc = load_env("", env, &c, &err);
    char name[128];
    snprintf(name, sizeof name, "%.*s: ", (int)(strchr(var, '=') - var), var);
    *ok = rc == NE_EINVAL && !c && strcmp(err.file, "environment") == 0 && err.line == 0 &&
          strcmp(err.key, key) == 0 && strncmp(err.msg, name, strlen(name)) == 0 &&
          strstr(err.msg, n1) && (!n2 || strstr(err.msg, n2));
    if (!*ok) {
        char buf[1024];
        fprintf(stderr, "  %s: rc %d: %s\n", var, rc,
                ne_config_error_format(&err, buf, sizeof buf));
    }
    ne_config_free(&c);
}

static void test_env_errors_name_the_variable(void)
{
    int ok;
    expect_env_err("NEOEDGE_STORAGE_DURABILITY=fast", "storage.durability",
                   "expected one of sync, interval, none, got 'fast'", NULL, &ok);
    T_CHECK(ok);
    expect_env_err("NEOEDGE_STORAGE_MAX_LOSS=100", "storage.max_loss", "add a unit", NULL, &ok);
    T_CHECK(ok);
    expect_env_err("NEOEDGE_HTTP_LISTEN=nowhere", "http.listen", "expected host:port", NULL, &ok);
    T_CHECK(ok);
    expect_env_err("NEOEDGE_MQTT_BROKERS=tcp://a:1,udp://b:2", "mqtt.brokers[1]",
                   "expected a broker URL", "udp://b:2", &ok);
    T_CHECK(ok);
    expect_env_err("NEOEDGE_HTTP_ENABLED=maybe", "http.enabled", "expected true or false", NULL,
                   &ok);
    T_CHECK(ok);
    expect_env_err("NEOEDGE_MQTT_SUBSCRIPTIONS=[{qos: 1}]", "mqtt.subscriptions[0]",
                   "missing required key 'topic'", NULL, &ok);
    T_CHECK(ok);
    expect_env_err("NEOEDGE_MQTT_SUBSCRIPTIONS=[{topic: a", "mqtt.subscriptions",
                   "expected a YAML list", NULL, &ok);
    T_CHECK(ok);
    /* a cross-key problem caused by the environment names it too */
    expect_env_err("NEOEDGE_MQTT_BROKERS=", "mqtt.brokers", "no broker is listed", NULL, &ok);
    T_CHECK(ok);
    expect_env_err("NEOEDGE_STORAGE_MAX_LOSS=0", "storage.max_loss", "needs max_loss above 0", NULL,
                   &ok);
    T_CHECK(ok);
}

static void test_var_expansion(void)
{
    char *const env[] = {"TOKEN=t0k3n", "SITE=plant-2", "EMPTY=", NULL};
    struct ne_config *c = NULL;
    struct ne_config_error err;
    T_OK(load_env("node_id: gw-${SITE}\n"
                  "data_dir: /data/$${SITE}/$$x/$y\n"
                  "http:\n  auth_token: ${TOKEN}\n"
                  "mqtt:\n  username: ${MQTT_USER:-anon}\n  password: \"${EMPTY}\"\n"
                  "  subscriptions:\n    - topic: $share/g/${SITE}/#\n",
                  env, &c, &err));
    T_EQ_STR(c->node_id, "gw-plant-2");
    T_EQ_STR(c->data_dir, "/data/${SITE}/$x/$y");
    T_EQ_STR(c->http.auth_token, "t0k3n");
    T_EQ_STR(c->mqtt.username, "anon");
    T_CHECK(c->mqtt.password == NULL);
    T_EQ_STR(c->mqtt.subs[0].topic, "$share/g/plant-2/#");
    /* secrets never appear in explain */
    char *x = ne_config_explain(c);
    T_CHECK(x && !strstr(x, "t0k3n") && strstr(x, "auth_token: \"<redacted>\""));
    ne_free(x);
    ne_config_free(&c);
    /* expansion happens before parsing: a variable can hold a duration */
    char *const env2[] = {"LOSS=250ms", NULL};
    T_OK(load_env("storage:\n  max_loss: ${LOSS}\n", env2, &c, &err));
    T_EQ_INT(c->storage.max_loss_ns, 250000000);
    ne_config_free(&c);
}

static void test_var_errors(void)
{
    char *const env[] = {"A=1", NULL};
    struct ne_config *c = NULL;
    struct ne_config_error err;
    T_EQ_INT(load_env("http:\n  auth_token: Bearer ${TOKEN}\n", env, &c, &err), NE_EINVAL);
    T_CHECK(c == NULL);
    T_EQ_STR(err.file, "gw.yaml");
    T_EQ_INT(err.line, 2);
    T_EQ_INT(err.column, 15);
    T_EQ_STR(err.key, "http.auth_token");
    T_CHECK(strstr(err.msg, "environment variable TOKEN is not set"));
    T_EQ_INT(load_env("data_dir: /x/${A\n", env, &c, &err), NE_EINVAL);
    T_CHECK(strstr(err.msg, "unterminated"));
    T_EQ_INT(load_env("data_dir: /x/${-}\n", env, &c, &err), NE_EINVAL);
    T_CHECK(strstr(err.msg, "$$"));
    /* the expanded value is validated like a literal one */
    char *const env2[] = {"D=fast", NULL};
    T_EQ_INT(load_env("storage:\n  durability: ${D}\n", env2, &c, &err), NE_EINVAL);
    T_CHECK(strstr(err.msg, "got 'fast'"));
    T_EQ_INT(err.line, 2);
}

/* envp NULL reads the process environment. */
static void test_process_environment(void)
{
    setenv("NEOEDGE_LOG_LEVEL", "debug", 1);
    setenv("NEOEDGE_STORAGE_DURABLITY", "sync", 1); /* a typo: warned about, not applied */
    struct ne_config *c = NULL;
    struct ne_config_error err;
    int rc = ne_config_load(NULL, NULL, &c, &err);
    unsetenv("NEOEDGE_LOG_LEVEL");
    unsetenv("NEOEDGE_STORAGE_DURABLITY");
    T_OK(rc);
    T_EQ_INT(c->log.level, NE_LOG_DEBUG);
    T_EQ_INT(c->storage.durability, NE_DUR_INTERVAL);
    ne_config_free(&c);
}

int main(void)
{
    T_RUN(test_env_beats_file_and_default);
    T_RUN(test_env_lists);
    T_RUN(test_env_errors_name_the_variable);
    T_RUN(test_var_expansion);
    T_RUN(test_var_errors);
    T_RUN(test_process_environment);
    return t_done();
}
