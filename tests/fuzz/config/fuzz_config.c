/*
 * fuzz_config.c - libFuzzer target for ne_config_load_text.
 *
 * Any input must load or fail cleanly with a message. When it loads, the
 * explain text must load back to a config that differs only in redacted
 * secrets: the writer's quoting and the loader's grammar agree.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"

static char *const fuzz_env[] = {"A=1", "SITE=plant", "NEOEDGE_LOG_LEVEL=debug", NULL};

static void check_change(void *ctx, const char *key, bool live)
{
    (void)ctx;
    (void)live;
    if (strcmp(key, "http.auth_token") != 0 && strcmp(key, "mqtt.password") != 0 &&
        strcmp(key, "coap.psk") != 0) {
        fprintf(stderr, "explain round trip changed %s\n", key);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ne_config *cfg = NULL, *again = NULL;
    struct ne_config_error err;
    char line[1024];
    int rc = ne_config_load_text("fuzz.yaml", (const char *)data, size, fuzz_env, &cfg, &err);
    if (rc != 0) {
        if (err.msg[0] == '\0') abort(); /* every failure explains itself */
        ne_config_error_format(&err, line, sizeof line);
        return 0;
    }
    char *text = ne_config_explain(cfg);
    if (!text) abort();
    rc = ne_config_load_text("explained", text, strlen(text), fuzz_env, &again, &err);
    if (rc != 0) {
        fprintf(stderr, "explain output does not load: %s\n%s\n",
                ne_config_error_format(&err, line, sizeof line), text);
        abort();
    }
    ne_config_diff(cfg, again, check_change, NULL);
    ne_free(text);
    ne_config_free(&again);
    ne_config_free(&cfg);
    return 0;
}
