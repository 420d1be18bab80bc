/*
 * schema.c - every configuration key, in one table.
 *
 * Each row names a key by its dotted path, where it lives in struct
 * ne_config, its type, default (YAML text), valid values or range, doc line
 * and whether a reload applies it live. Rows of one section are contiguous
 * and follow the order of the generated default YAML. Lists of records
 * (MQTT subscriptions, CoAP PSKs and paths) have an item table of their own.
 *
 * Adding a key: add the field to config.h, one row here; loading, env
 * override, default YAML, explain and diff follow from the row.
 */
#include <ctype.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "config/internal.h"
#include "ports/err.h"
#include "ports/platform.h"

#define ROOT(m)  .off = offsetof(struct ne_config, m), .size = sizeof(((struct ne_config *)0)->m)
#define COUNT(m) .count_off = offsetof(struct ne_config, m)
#define SUB(m)                                                                                     \
    .off = offsetof(struct ne_cfg_mqtt_sub, m), .size = sizeof(((struct ne_cfg_mqtt_sub *)0)->m)
#define PSK(m)                                                                                     \
    .off = offsetof(struct ne_cfg_coap_psk, m), .size = sizeof(((struct ne_cfg_coap_psk *)0)->m)
#define CPATH(m)                                                                                   \
    .off = offsetof(struct ne_cfg_coap_path, m), .size = sizeof(((struct ne_cfg_coap_path *)0)->m)

#define SINK(m)                                                                                    \
    .off = offsetof(struct ne_cfg_sink, m), .size = sizeof(((struct ne_cfg_sink *)0)->m)

#define KIB 1024LL
#define MIB (1024LL * 1024)
#define GIB (1024LL * 1024 * 1024)
#define MS  1000000LL
#define SEC 1000000000LL
#define DAY (86400LL * SEC)

/* ---- value checks ---------------------------------------------------- */

static int fail(char *msg, size_t n, const char *fmt, const char *s)
{
    snprintf(msg, n, fmt, s);
    return -1;
}

static bool valid_port(const char *p)
{
    if (!*p || strlen(p) > 5) return false;
    for (const char *c = p; *c; c++)
        if (!isdigit((unsigned char)*c)) return false;
    return atoi(p) <= 65535;
}

/* "host:port" or "[v6]:port"; the host has no spaces or slashes. */
static bool valid_hostport(const char *s)
{
    const char *colon;
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (!close || close == s + 1 || close[1] != ':') return false;
        colon = close + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon || colon == s) return false;
        for (const char *c = s; c < colon; c++)
            if (*c == ':' || *c == '/' || isspace((unsigned char)*c)) return false;
    }
    return valid_port(colon + 1);
}

static int check_hostport(const char *s, char *msg, size_t n)
{
    if (valid_hostport(s)) return 0;
    return fail(msg, n, "expected host:port like 127.0.0.1:8086 or [::1]:8086, got '%.200s'", s);
}

static int check_broker(const char *s, char *msg, size_t n)
{
    static const char *const schemes[] = {"tcp://", "ssl://", "mqtt://", "mqtts://",
                                          "ws://",  "wss://", NULL};
    for (int i = 0; schemes[i]; i++) {
        size_t sl = strlen(schemes[i]);
        if (strncmp(s, schemes[i], sl) != 0) continue;
        char hp[256];
        snprintf(hp, sizeof hp, "%s", s + sl);
        if (s[0] == 'w') {
            char *slash = strchr(hp, '/');
            if (slash) *slash = '\0'; /* websocket path */
        }
        if (valid_hostport(hp)) return 0;
        break;
    }
    return fail(msg, n,
                "expected a broker URL like tcp://127.0.0.1:1883 (schemes tcp, ssl, mqtt, "
                "mqtts, ws, wss), got '%.200s'",
                s);
}

static int check_node_id(const char *s, char *msg, size_t n)
{
    size_t len = strlen(s);
    bool ok = len > 0 && len <= 63;
    for (const char *c = s; ok && *c; c++)
        ok = isalnum((unsigned char)*c) || *c == '-' || *c == '_' || *c == '.';
    if (ok) return 0;
    return fail(msg, n, "expected 1 to 63 letters, digits, '-', '_' or '.', got '%.200s'", s);
}

static int check_name(const char *s, char *msg, size_t n)
{
    size_t len = strlen(s);
    bool ok = len > 0 && len <= 255;
    for (const char *c = s; ok && *c; c++)
        ok = !iscntrl((unsigned char)*c) && *c != '/';
    if (ok) return 0;
    return fail(msg, n, "expected a name without '/' or control characters, got '%.200s'", s);
}

static int check_dir(const char *s, char *msg, size_t n)
{
    return *s ? 0 : fail(msg, n, "must not be empty%s", "");
}

/* The cluster key is used as raw bytes for membership HMACs and as the
 * TLS pre-shared key, which mbedTLS caps at 32 bytes (MBEDTLS_PSK_MAX_LEN). */
static int check_cluster_key(const char *s, char *msg, size_t n)
{
    size_t len = strlen(s);
    if (len >= 16 && len <= 32) return 0;
    snprintf(msg, n, "the cluster key must be 16 to 32 bytes long, got %zu", len);
    return -1;
}

/* MQTT filter rules: '#' only as the whole last level, '+' only as a whole
 * level; "$share/<group>/<filter>" needs a group without wildcards. */
static int check_topic(const char *s, char *msg, size_t n)
{
    const char *f = s;
    if (strncmp(s, "$share/", 7) == 0) {
        const char *group = s + 7, *slash = strchr(group, '/');
        if (!slash || slash == group)
            return fail(msg, n, "expected $share/<group>/<filter>, got '%.200s'", s);
        for (const char *c = group; c < slash; c++)
            if (*c == '+' || *c == '#')
                return fail(msg, n, "a $share group cannot hold wildcards: '%.200s'", s);
        f = slash + 1;
    }
    if (!*f || strlen(s) > 65535)
        return fail(msg, n, "expected a topic filter like sensors/#, got '%.200s'", s);
    for (const char *c = f; *c; c++) {
        bool level_start = c == f || c[-1] == '/';
        bool level_end = c[1] == '\0' || c[1] == '/';
        if (*c == '#' && !(level_start && c[1] == '\0'))
            return fail(msg, n, "'#' must be the whole last level of the filter: '%.200s'", s);
        if (*c == '+' && !(level_start && level_end))
            return fail(msg, n, "'+' must be a whole level of the filter: '%.200s'", s);
    }
    return 0;
}

/* A template level is a literal or exactly one {name} placeholder. */
static int check_template(const char *s, char *msg, size_t n)
{
    if (!*s) return fail(msg, n, "must not be empty%s", "");
    const char *lvl = s;
    while (lvl) {
        const char *end = strchr(lvl, '/');
        size_t len = end ? (size_t)(end - lvl) : strlen(lvl);
        const char *open = memchr(lvl, '{', len), *close = memchr(lvl, '}', len);
        if (open || close) {
            bool ok = open == lvl && close == lvl + len - 1 && len > 2;
            for (const char *c = lvl + 1; ok && c < lvl + len - 1; c++)
                ok = isalnum((unsigned char)*c) || *c == '_';
            if (!ok)
                return fail(msg, n,
                            "a placeholder must be a whole topic level like {device}, "
                            "got '%.200s'",
                            s);
            if (memmem(s, (size_t)(lvl - s), lvl, len))
                return fail(msg, n, "a placeholder appears twice in '%.200s'", s);
        }
        lvl = end ? end + 1 : NULL;
    }
    return 0;
}

static int check_coap_path(const char *s, char *msg, size_t n)
{
    if (s[0] == '/')
        return fail(msg, n,
                    "write the path without a leading '/', e.g. 'write' for /write, "
                    "got '%.200s'",
                    s);
    bool ok = *s && s[strlen(s) - 1] != '/' && !strstr(s, "//");
    for (const char *c = s; ok && *c; c++)
        ok = isgraph((unsigned char)*c) && *c != '?' && *c != '#';
    if (ok) return 0;
    return fail(msg, n, "expected a URI path like write or api/v1/write, got '%.200s'", s);
}

/* ---- list items ------------------------------------------------------ */

static const struct cfg_enum formats[] = {
    {"auto", NE_FMT_AUTO},
    {"line", NE_FMT_LINE},
    {"json", NE_FMT_JSON},
    {"senml-json", NE_FMT_SENML_JSON},
    {"senml-cbor", NE_FMT_SENML_CBOR},
    {"cbor", NE_FMT_CBOR},
    {"raw", NE_FMT_RAW},
    {NULL, 0},
};

/* Copies level i (0-based) of a '/'-separated string into buf; false past
 * the end. */
static bool level_at(const char *s, int i, char *buf, size_t n)
{
    for (; i > 0; i--) {
        s = strchr(s, '/');
        if (!s) return false;
        s++;
    }
    const char *end = strchr(s, '/');
    size_t len = end ? (size_t)(end - s) : strlen(s);
    snprintf(buf, n, "%.*s", (int)(len < n ? len : n - 1), s);
    return true;
}

/* Each placeholder of the template must fall on a '+' level of the filter
 * or under its '#'; literal levels must match the filter where it is
 * literal. */
static int check_template_fits(const struct ne_cfg_mqtt_sub *s, char *msg, size_t n)
{
    const char *filter = s->topic;
    if (strncmp(filter, "$share/", 7) == 0) filter = strchr(filter + 7, '/') + 1;
    bool under_hash = false;
    char tl[256], fl[256];
    int i = 0;
    for (; level_at(s->template_, i, tl, sizeof tl); i++) {
        if (!under_hash) {
            if (!level_at(filter, i, fl, sizeof fl)) goto mismatch;
            under_hash = strcmp(fl, "#") == 0;
        }
        if (under_hash || strcmp(fl, "+") == 0) continue;
        if (tl[0] == '{' || strcmp(tl, fl) != 0) goto mismatch;
    }
    if (!under_hash && level_at(filter, i, fl, sizeof fl) && strcmp(fl, "#") != 0) goto mismatch;
    return 0;
mismatch:
    snprintf(msg, n,
             "template '%.100s' does not fit topic '%.100s': it needs one level per topic "
             "level, with {placeholders} only where the topic has + or #",
             s->template_, s->topic);
    return -1;
}

static int check_sub(const void *item, char *field, size_t fn, char *msg, size_t n)
{
    const struct ne_cfg_mqtt_sub *s = item;
    if (s->template_ && check_template_fits(s, msg, n) != 0) {
        snprintf(field, fn, "template");
        return -1;
    }
    if (s->format == NE_FMT_RAW && !s->measurement &&
        !(s->template_ && strstr(s->template_, "{measurement}"))) {
        snprintf(field, fn, "measurement");
        snprintf(msg, n,
                 "format raw needs a measurement: set measurement, or put "
                 "{measurement} in template");
        return -1;
    }
    return 0;
}

static const struct cfg_key sub_keys[] = {
    {.path = "topic",
     .kind = CFG_K_STR,
     SUB(topic),
     .flags = CFG_F_REQUIRED | CFG_F_UNIQUE,
     .check = check_topic,
     .doc = "Topic filter to subscribe to; + and # are wildcards, "
            "$share/<group>/<filter> makes a shared subscription."},
    {.path = "qos",
     .kind = CFG_K_INT,
     SUB(qos),
     .def = "1",
     .min = 0,
     .max = 2,
     .doc = "MQTT QoS of the subscription; with 1 or 2 the broker redelivers until the "
            "store has the points."},
    {.path = "format",
     .kind = CFG_K_ENUM,
     SUB(format),
     .def = "line",
     .enums = formats,
     .doc = "Payload format; auto means line protocol for MQTT."},
    {.path = "database",
     .kind = CFG_K_STR,
     SUB(database),
     .flags = CFG_F_DERIVED,
     .check = check_name,
     .example = "iot",
     .doc = "Database the points go to; default: default_database."},
    {.path = "template",
     .kind = CFG_K_STR,
     SUB(template_),
     .check = check_template,
     .example = "sensors/{site}/{device}/{measurement}",
     .doc = "Maps topic levels to tags: {measurement} and {field} name those, any other "
            "{name} becomes a tag."},
    {.path = "measurement",
     .kind = CFG_K_STR,
     SUB(measurement),
     .check = check_name,
     .example = "temperature",
     .doc = "Measurement for raw and JSON payloads whose topic template names none."},
    {.path = "field",
     .kind = CFG_K_STR,
     SUB(field),
     .def = "value",
     .check = check_name,
     .doc = "Field name for raw payload values."},
};

static const struct cfg_table sub_table = {
    .keys = sub_keys,
    .nkeys = sizeof sub_keys / sizeof sub_keys[0],
    .item_size = sizeof(struct ne_cfg_mqtt_sub),
    .check_item = check_sub,
};

static const struct cfg_key psk_keys[] = {
    {.path = "identity",
     .kind = CFG_K_STR,
     PSK(identity),
     .flags = CFG_F_REQUIRED | CFG_F_UNIQUE,
     .example = "sensor-17",
     .doc = "PSK identity the device presents."},
    {.path = "key",
     .kind = CFG_K_STR,
     PSK(key),
     .flags = CFG_F_REQUIRED | CFG_F_SECRET,
     .example = "${SENSOR17_PSK}",
     .doc = "The pre-shared key text."},
};

static const struct cfg_table psk_table = {
    .keys = psk_keys,
    .nkeys = sizeof psk_keys / sizeof psk_keys[0],
    .item_size = sizeof(struct ne_cfg_coap_psk),
};

static const struct cfg_key path_keys[] = {
    {.path = "path",
     .kind = CFG_K_STR,
     CPATH(path),
     .flags = CFG_F_REQUIRED | CFG_F_UNIQUE,
     .check = check_coap_path,
     .doc = "URI path accepting POSTs, without the leading '/'."},
    {.path = "database",
     .kind = CFG_K_STR,
     CPATH(database),
     .flags = CFG_F_DERIVED,
     .check = check_name,
     .example = "iot",
     .doc = "Database the points go to; default: default_database."},
    {.path = "format",
     .kind = CFG_K_ENUM,
     CPATH(format),
     .def = "auto",
     .enums = formats,
     .doc = "Payload format; auto picks it from the CoAP Content-Format option."},
    {.path = "measurement",
     .kind = CFG_K_STR,
     CPATH(measurement),
     .check = check_name,
     .example = "readings",
     .doc = "Measurement for raw and JSON payloads that name none."},
};

static const struct cfg_table path_table = {
    .keys = path_keys,
    .nkeys = sizeof path_keys / sizeof path_keys[0],
    .item_size = sizeof(struct ne_cfg_coap_path),
};

const char *ne_format_name(enum ne_format f)
{
    for (const struct cfg_enum *e = formats; e->name; e++)
        if (e->value == (int)f) return e->name;
    return "unknown";
}

int ne_format_parse(const char *s, enum ne_format *out)
{
    for (const struct cfg_enum *e = formats; s && e->name; e++) {
        if (strcasecmp(s, e->name) == 0) {
            *out = (enum ne_format)e->value;
            return 0;
        }
    }
    return NE_EINVAL;
}


/* ---- sinks ------------------------------------------------------------ */

static const struct cfg_enum sink_types[] = {
    {"s3", NE_SINK_S3}, {"central", NE_SINK_CENTRAL}, {NULL, 0}};
static const struct cfg_enum sink_formats[] = {
    {"parquet", NE_SINK_FMT_PARQUET}, {"native", NE_SINK_FMT_NATIVE}, {NULL, 0}};

static int check_url(const char *s, char *msg, size_t n)
{
    const char *hp = NULL;
    if (strncmp(s, "http://", 7) == 0) hp = s + 7;
    if (strncmp(s, "https://", 8) == 0) hp = s + 8;
    if (hp && *hp && *hp != '/' && !strpbrk(s, " \t\r\n")) return 0;
    return fail(msg, n, "expected a URL like https://host:port, got '%.200s'", s);
}

/* A sink name becomes a directory name and a metrics label. */
static int check_sink_name(const char *s, char *msg, size_t n)
{
    size_t len = strlen(s);
    bool ok = len > 0 && len <= 63;
    for (const char *c = s; ok && *c; c++)
        ok = isalnum((unsigned char)*c) || *c == '-' || *c == '_';
    if (ok) return 0;
    return fail(msg, n, "expected 1 to 63 letters, digits, '-' or '_', got '%.200s'", s);
}

static int check_prefix(const char *s, char *msg, size_t n)
{
    size_t len = strlen(s);
    if (len && s[0] != '/' && s[len - 1] != '/' && !strstr(s, "//")) return 0;
    return fail(msg, n, "expected a key prefix like fleet/site1 (no leading or trailing '/'), "
                        "got '%.200s'",
                s);
}

static int parse_hhmm(const char *s, int *min)
{
    if (!isdigit((unsigned char)s[0]) || !isdigit((unsigned char)s[1]) || s[2] != ':' ||
        !isdigit((unsigned char)s[3]) || !isdigit((unsigned char)s[4]))
        return -1;
    int h = (s[0] - '0') * 10 + (s[1] - '0'), m = (s[3] - '0') * 10 + (s[4] - '0');
    if (h > 24 || m > 59 || (h == 24 && m != 0)) return -1;
    *min = h * 60 + m;
    return 0;
}

int ne_config_parse_windows(const char *s, int *from_min, int *to_min, size_t max, size_t *n)
{
    *n = 0;
    while (*s) {
        int a, b;
        while (*s == ' ')
            s++;
        if (strlen(s) < 11 || parse_hhmm(s, &a) || s[5] != '-' || parse_hhmm(s + 6, &b) ||
            a == b)
            return NE_EINVAL;
        if (*n == max) return NE_EINVAL;
        from_min[*n] = a;
        to_min[*n] = b;
        (*n)++;
        s += 11;
        while (*s == ' ')
            s++;
        if (*s == ',') s++;
        else if (*s) return NE_EINVAL;
    }
    return *n ? 0 : NE_EINVAL;
}

static int check_windows(const char *s, char *msg, size_t n)
{
    int a[16], b[16];
    size_t k;
    if (ne_config_parse_windows(s, a, b, 16, &k) == 0) return 0;
    return fail(msg, n, "expected up to 16 UTC windows like 22:00-06:00,12:00-13:00, got '%.200s'",
                s);
}

static int check_hex_key(const char *s, char *msg, size_t n)
{
    size_t len = strlen(s);
    bool ok = len == 64;
    for (const char *c = s; ok && *c; c++)
        ok = isxdigit((unsigned char)*c);
    if (ok) return 0;
    snprintf(msg, n,
             "expected 64 hex digits (a 256-bit key, e.g. from `openssl rand -hex 32`), got %zu "
             "characters",
             len);
    return -1;
}

/* S3 bucket naming rules: 3 to 63 lowercase letters, digits, '.' and
 * '-', starting and ending with a letter or digit. */
static int check_bucket(const char *s, char *msg, size_t n)
{
    size_t len = strlen(s);
    bool ok = len >= 3 && len <= 63 && isalnum((unsigned char)s[0]) &&
              isalnum((unsigned char)s[len - 1]);
    for (const char *c = s; ok && *c; c++)
        ok = islower((unsigned char)*c) || isdigit((unsigned char)*c) || *c == '.' || *c == '-';
    if (ok) return 0;
    return fail(msg, n,
                "expected an S3 bucket name: 3 to 63 lowercase letters, digits, '.' or '-', "
                "got '%.200s'",
                s);
}

static int check_sink(const void *item, char *field, size_t fn, char *msg, size_t n)
{
    const struct ne_cfg_sink *k = item;
    if (k->type == NE_SINK_S3 && !k->bucket) {
        snprintf(field, fn, "bucket");
        snprintf(msg, n, "an s3 sink needs a bucket");
        return -1;
    }
    if (k->type == NE_SINK_CENTRAL && !k->url) {
        snprintf(field, fn, "url");
        snprintf(msg, n, "a central sink needs the url of a central node");
        return -1;
    }
    if (k->type == NE_SINK_CENTRAL && !k->token) {
        snprintf(field, fn, "token");
        snprintf(msg, n, "a central sink needs the token the central node expects");
        return -1;
    }
    if (!k->access_key != !k->secret_key) {
        snprintf(field, fn, k->access_key ? "secret_key" : "access_key");
        snprintf(msg, n, "access_key and secret_key go together: set both or neither");
        return -1;
    }
    if (k->part_size > k->multipart_threshold) {
        snprintf(field, fn, "part_size");
        snprintf(msg, n, "part_size must not exceed multipart_threshold");
        return -1;
    }
    return 0;
}

static const struct cfg_key sink_keys[] = {
    {.path = "name",
     .kind = CFG_K_STR,
     SINK(name),
     .flags = CFG_F_REQUIRED | CFG_F_UNIQUE,
     .check = check_sink_name,
     .example = "archive",
     .doc = "Names the sink in metrics, health and its cursor directory data_dir/sync/<name>."},
    {.path = "type",
     .kind = CFG_K_ENUM,
     SINK(type),
     .def = "s3",
     .enums = sink_types,
     .doc = "s3: objects in a bucket; central: segment pushes to a central neoedge."},
    {.path = "format",
     .kind = CFG_K_ENUM,
     SINK(format),
     .def = "parquet",
     .enums = sink_formats,
     .doc = "s3 objects: parquet (one file per measurement and hour of a segment) or native "
            "(segment files as they are)."},
    {.path = "endpoint",
     .kind = CFG_K_STR,
     SINK(endpoint),
     .check = check_url,
     .example = "https://s3.eu-west-1.amazonaws.com",
     .doc = "S3 endpoint URL; unset: AWS for the region."},
    {.path = "region",
     .kind = CFG_K_STR,
     SINK(region),
     .example = "eu-west-1",
     .doc = "Signing region; unset: AWS_REGION, the shared credentials file, else us-east-1."},
    {.path = "bucket",
     .kind = CFG_K_STR,
     SINK(bucket),
     .check = check_bucket,
     .example = "fleet-data",
     .doc = "Bucket (s3)."},
    {.path = "prefix",
     .kind = CFG_K_STR,
     SINK(prefix),
     .check = check_prefix,
     .example = "site1",
     .doc = "Key prefix before db=.../measurement=.../date=.../hour=..."},
    {.path = "path_style",
     .kind = CFG_K_BOOL,
     SINK(path_style),
     .def = "false",
     .doc = "Path-style URLs (endpoint/bucket/key) instead of bucket.host/key."},
    {.path = "access_key",
     .kind = CFG_K_STR,
     SINK(access_key),
     .example = "${AWS_ACCESS_KEY_ID}",
     .doc = "Access key id; unset: AWS_ACCESS_KEY_ID, then the shared credentials file."},
    {.path = "secret_key",
     .kind = CFG_K_STR,
     SINK(secret_key),
     .flags = CFG_F_SECRET,
     .example = "${AWS_SECRET_ACCESS_KEY}",
     .doc = "Secret access key."},
    {.path = "session_token",
     .kind = CFG_K_STR,
     SINK(session_token),
     .flags = CFG_F_SECRET,
     .example = "${AWS_SESSION_TOKEN}",
     .doc = "Session token of temporary credentials, sent as x-amz-security-token."},
    {.path = "multipart_threshold",
     .kind = CFG_K_SIZE,
     SINK(multipart_threshold),
     .def = "16MiB",
     .min = 5 * MIB,
     .max = GIB,
     .doc = "Objects at least this large go up as multipart uploads, resumed after a "
            "restart."},
    {.path = "part_size",
     .kind = CFG_K_SIZE,
     SINK(part_size),
     .def = "8MiB",
     .min = 5 * MIB,
     .max = GIB,
     .doc = "Multipart part size."},
    {.path = "url",
     .kind = CFG_K_STR,
     SINK(url),
     .check = check_url,
     .example = "https://central.example:8086",
     .doc = "Central node the segments go to (central)."},
    {.path = "token",
     .kind = CFG_K_STR,
     SINK(token),
     .flags = CFG_F_SECRET,
     .example = "${NEOEDGE_CENTRAL_TOKEN}",
     .doc = "Bearer token the central node expects (central)."},
    {.path = "ca_file",
     .kind = CFG_K_STR,
     SINK(ca_file),
     .example = "/etc/neoedge/ca.pem",
     .doc = "CA bundle (PEM) to verify the server; unset: the system store."},
    {.path = "verify_tls",
     .kind = CFG_K_BOOL,
     SINK(verify_tls),
     .def = "true",
     .doc = "Verify the server's certificate and host name."},
    {.path = "bandwidth",
     .kind = CFG_K_SIZE,
     SINK(bandwidth_bytes_per_s),
     .def = "0",
     .doc = "Upload cap in bytes per second for metered links; 0: none."},
    {.path = "windows",
     .kind = CFG_K_STR,
     SINK(windows),
     .check = check_windows,
     .example = "22:00-06:00",
     .doc = "UTC times uploads may run, comma-separated; unset: any time."},
    {.path = "encryption_key",
     .kind = CFG_K_STR,
     SINK(encryption_key),
     .flags = CFG_F_SECRET,
     .check = check_hex_key,
     .example = "${NEOEDGE_SINK_KEY}",
     .doc = "64 hex digits: objects are AES-256-GCM encrypted (`neoedge decrypt` reads them); "
            "unset: plain."},
    {.path = "backlog_max_age",
     .kind = CFG_K_DURATION,
     SINK(backlog_max_age_ns),
     .def = "1h",
     .min = SEC,
     .max = 365 * DAY,
     .doc = "/health turns degraded when the oldest undelivered segment is older."},
    {.path = "max_retries",
     .kind = CFG_K_INT,
     SINK(max_retries),
     .def = "5",
     .min = 0,
     .max = 100,
     .doc = "Retries of one request (5xx, 429, timeouts) before the segment waits for the "
            "next attempt."},
};

static const struct cfg_table sink_table = {
    .keys = sink_keys,
    .nkeys = sizeof sink_keys / sizeof sink_keys[0],
    .item_size = sizeof(struct ne_cfg_sink),
    .check_item = check_sink,
};

/* ---- the root table -------------------------------------------------- */

static const struct cfg_enum roles[] = {
    {"gateway", NE_ROLE_GATEWAY}, {"central", NE_ROLE_CENTRAL}, {NULL, 0}};
static const struct cfg_enum levels[] = {{"debug", NE_LOG_DEBUG}, {"info", NE_LOG_INFO},
                                         {"warn", NE_LOG_WARN},   {"error", NE_LOG_ERROR},
                                         {"off", NE_LOG_OFF},     {NULL, 0}};
static const struct cfg_enum log_formats[] = {{"logfmt", 0}, {"json", 1}, {NULL, 0}};
static const struct cfg_enum backends[] = {
    {"auto", NE_IO_AUTO}, {"io_uring", NE_IO_URING}, {"posix", NE_IO_POSIX}, {NULL, 0}};
static const struct cfg_enum durabilities[] = {
    {"sync", NE_DUR_SYNC}, {"interval", NE_DUR_INTERVAL}, {"none", NE_DUR_NONE}, {NULL, 0}};
static const struct cfg_enum protocols[] = {{"auto", 0}, {"3.1.1", 4}, {"5", 5}, {NULL, 0}};

static const struct cfg_key root_keys[] = {
    {.path = "node_id",
     .kind = CFG_K_STR,
     ROOT(node_id),
     .flags = CFG_F_DERIVED,
     .check = check_node_id,
     .example = "gw-01",
     .doc = "Name of this node among its peers and in synced data; default: the host name."},
    {.path = "role",
     .kind = CFG_K_ENUM,
     ROOT(role),
     .def = "gateway",
     .enums = roles,
     .doc = "gateway ingests from devices at the edge; central receives synced data."},
    {.path = "data_dir",
     .kind = CFG_K_STR,
     ROOT(data_dir),
     .def = "./neoedge-data",
     .check = check_dir,
     .doc = "Directory holding the WAL, segments and sync cursors."},
    {.path = "default_database",
     .kind = CFG_K_STR,
     ROOT(default_database),
     .def = "iot",
     .check = check_name,
     .doc = "Database for writes that name none (MQTT subscriptions, CoAP paths, HTTP)."},

    {.path = "log.level",
     .kind = CFG_K_ENUM,
     ROOT(log.level),
     .def = "info",
     .enums = levels,
     .flags = CFG_F_LIVE,
     .doc = "Lowest level written to stderr."},
    {.path = "log.format",
     .kind = CFG_K_ENUM,
     ROOT(log.json),
     .def = "logfmt",
     .enums = log_formats,
     .flags = CFG_F_LIVE,
     .doc = "One line per record: logfmt or JSON."},

    {.path = "http.enabled",
     .kind = CFG_K_BOOL,
     ROOT(http.enabled),
     .def = "true",
     .doc = "Serve the InfluxDB-compatible HTTP API (/write, /query, /ping)."},
    {.path = "http.listen",
     .kind = CFG_K_STR,
     ROOT(http.listen),
     .def = "127.0.0.1:8086",
     .check = check_hostport,
     .doc = "TCP address to listen on, host:port."},
    {.path = "http.auth_token",
     .kind = CFG_K_STR,
     ROOT(http.auth_token),
     .flags = CFG_F_LIVE | CFG_F_SECRET,
     .example = "${NEOEDGE_HTTP_TOKEN}",
     .doc = "Bearer token clients must send (Authorization: Token <t>); unset: no auth."},
    {.path = "http.max_body_bytes",
     .kind = CFG_K_SIZE,
     ROOT(http.max_body_bytes),
     .def = "32MiB",
     .min = KIB,
     .max = GIB,
     .doc = "Largest accepted request body; bigger writes get 413."},
    {.path = "http.threads",
     .kind = CFG_K_INT,
     ROOT(http.threads),
     .def = "2",
     .min = 1,
     .max = 64,
     .doc = "HTTP worker threads; as many query threads run SELECT, DELETE and DROP."},

    {.path = "storage.io_backend",
     .kind = CFG_K_ENUM,
     ROOT(storage.io_backend),
     .def = "auto",
     .enums = backends,
     .doc = "File I/O: io_uring where the kernel allows it (auto), or force one."},
    {.path = "storage.durability",
     .kind = CFG_K_ENUM,
     ROOT(storage.durability),
     .def = "interval",
     .enums = durabilities,
     .doc = "When a write is acknowledged: sync after fdatasync; interval once in the "
            "kernel, with an fsync at least every max_loss; none from memory only."},
    {.path = "storage.max_loss",
     .kind = CFG_K_DURATION,
     ROOT(storage.max_loss_ns),
     .def = "100ms",
     .min = 0,
     .max = 3600 * SEC,
     .flags = CFG_F_LIVE,
     .doc = "interval durability: the most a power cut can lose."},
    {.path = "storage.memtable_budget",
     .kind = CFG_K_SIZE,
     ROOT(storage.memtable_bytes),
     .def = "12MiB",
     .min = MIB,
     .max = 64 * GIB,
     .flags = CFG_F_LIVE,
     .doc = "Memory for the in-memory tables: one fills while the one before it flushes, each up to "
            "half; a flushed table's memory is kept for the next while writes come."},
    {.path = "storage.memtable_max_age",
     .kind = CFG_K_DURATION,
     ROOT(storage.memtable_max_age_ns),
     .def = "10m",
     .min = SEC,
     .max = 7 * DAY,
     .doc = "Flush a memtable older than this even when the budget is not reached."},
    {.path = "storage.segment_target_size",
     .kind = CFG_K_SIZE,
     ROOT(storage.segment_target_bytes),
     .def = "64MiB",
     .min = MIB,
     .max = 16 * GIB,
     .doc = "Size compaction aims for when merging segments."},
    {.path = "storage.late_window",
     .kind = CFG_K_DURATION,
     ROOT(storage.late_window_ns),
     .def = "0",
     .doc = "Reject points older than now minus this; 0 accepts any age."},
    {.path = "storage.future_grace",
     .kind = CFG_K_DURATION,
     ROOT(storage.future_grace_ns),
     .def = "10m",
     .doc = "Reject points further than this in the future (clock skew)."},
    {.path = "storage.max_series_per_database",
     .kind = CFG_K_U64,
     ROOT(storage.max_series_per_db),
     .def = "1000000",
     .doc = "Series limit per database (0: unlimited); new series beyond it are rejected."},
    {.path = "storage.max_series_per_measurement",
     .kind = CFG_K_U64,
     ROOT(storage.max_series_per_measurement),
     .def = "100000",
     .doc = "Series limit per measurement (0: unlimited)."},
    {.path = "storage.retention.max_age",
     .kind = CFG_K_DURATION,
     ROOT(storage.retention.max_age_ns),
     .def = "0",
     .flags = CFG_F_LIVE,
     .doc = "Drop data older than this; 0 keeps it forever."},
    {.path = "storage.retention.max_disk",
     .kind = CFG_K_SIZE,
     ROOT(storage.retention.max_disk_bytes),
     .def = "0",
     .flags = CFG_F_LIVE,
     .doc = "Disk budget for data_dir; the oldest data goes first; 0: no budget."},
    {.path = "storage.retention.evict_unsynced",
     .kind = CFG_K_BOOL,
     ROOT(storage.retention.evict_unsynced),
     .def = "false",
     .flags = CFG_F_LIVE,
     .doc = "Whether the disk budget may drop data not yet synced upstream (counted)."},

    {.path = "mqtt.enabled",
     .kind = CFG_K_BOOL,
     ROOT(mqtt.enabled),
     .def = "true",
     .doc = "Subscribe to MQTT brokers."},
    {.path = "mqtt.brokers",
     .kind = CFG_K_STRLIST,
     ROOT(mqtt.brokers),
     COUNT(mqtt.nbrokers),
     .def = "[\"tcp://127.0.0.1:1883\"]",
     .check = check_broker,
     .doc = "Broker URLs tried in order: tcp://, ssl://, ws://, wss://host:port "
            "(env: comma-separated)."},
    {.path = "mqtt.client_id",
     .kind = CFG_K_STR,
     ROOT(mqtt.client_id),
     .flags = CFG_F_DERIVED,
     .check = check_name,
     .example = "neoedge-gw-01",
     .doc = "MQTT client id; default: neoedge-<node_id>."},
    {.path = "mqtt.username",
     .kind = CFG_K_STR,
     ROOT(mqtt.username),
     .example = "gateway",
     .doc = "User name for the broker; unset: anonymous."},
    {.path = "mqtt.password",
     .kind = CFG_K_STR,
     ROOT(mqtt.password),
     .flags = CFG_F_SECRET,
     .example = "${MQTT_PASSWORD}",
     .doc = "Password for the broker."},
    {.path = "mqtt.clean_session",
     .kind = CFG_K_BOOL,
     ROOT(mqtt.clean_session),
     .def = "false",
     .doc = "false keeps a persistent session, so the broker queues QoS 1/2 messages "
            "while the gateway is down."},
    {.path = "mqtt.protocol",
     .kind = CFG_K_ENUM,
     ROOT(mqtt.protocol),
     .def = "auto",
     .enums = protocols,
     .doc = "MQTT version; auto tries 5, then 3.1.1."},
    {.path = "mqtt.keepalive",
     .kind = CFG_K_SECONDS,
     ROOT(mqtt.keepalive_s),
     .def = "30s",
     .min = 0,
     .max = 65535,
     .doc = "Keep-alive interval, whole seconds; 0 turns it off."},
    {.path = "mqtt.max_inflight",
     .kind = CFG_K_INT,
     ROOT(mqtt.max_inflight),
     .def = "1000",
     .min = 1,
     .max = 65535,
     .doc = "Unacknowledged QoS 1/2 messages allowed at once."},
    {.path = "mqtt.max_payload_size",
     .kind = CFG_K_SIZE,
     ROOT(mqtt.max_payload_bytes),
     .def = "1MiB",
     .min = 1,
     .max = 256 * MIB,
     .doc = "Larger messages are dropped and counted."},
    {.path = "mqtt.tls.ca_file",
     .kind = CFG_K_STR,
     ROOT(mqtt.tls.ca_file),
     .example = "/etc/neoedge/ca.pem",
     .doc = "CA bundle (PEM); unset: the system store."},
    {.path = "mqtt.tls.cert_file",
     .kind = CFG_K_STR,
     ROOT(mqtt.tls.cert_file),
     .example = "/etc/neoedge/client.pem",
     .doc = "Client certificate (PEM) for mutual TLS."},
    {.path = "mqtt.tls.key_file",
     .kind = CFG_K_STR,
     ROOT(mqtt.tls.key_file),
     .example = "/etc/neoedge/client.key",
     .doc = "Private key of cert_file (PEM)."},
    {.path = "mqtt.tls.verify_hostname",
     .kind = CFG_K_BOOL,
     ROOT(mqtt.tls.verify_hostname),
     .def = "true",
     .doc = "Check that the broker certificate names the broker host."},
    {.path = "mqtt.subscriptions",
     .kind = CFG_K_LIST,
     ROOT(mqtt.subs),
     COUNT(mqtt.nsubs),
     .def = "[{topic: \"sensors/#\", qos: 1, format: line}]",
     .item = &sub_table,
     .doc = "Topics to subscribe to and how to read their payloads."},

    {.path = "coap.enabled",
     .kind = CFG_K_BOOL,
     ROOT(coap.enabled),
     .def = "true",
     .doc = "Accept CoAP POSTs from devices."},
    {.path = "coap.listen",
     .kind = CFG_K_STR,
     ROOT(coap.listen),
     .def = "127.0.0.1:5683",
     .check = check_hostport,
     .doc = "UDP address for plain CoAP; unset: no plain CoAP."},
    {.path = "coap.dtls_listen",
     .kind = CFG_K_STR,
     ROOT(coap.dtls_listen),
     .check = check_hostport,
     .example = "0.0.0.0:5684",
     .doc = "UDP address for CoAP over DTLS with PSKs; unset: no DTLS."},
    {.path = "coap.psk",
     .kind = CFG_K_LIST,
     ROOT(coap.psk),
     COUNT(coap.npsk),
     .def = "[]",
     .item = &psk_table,
     .doc = "DTLS pre-shared keys, one per device identity."},
    {.path = "coap.paths",
     .kind = CFG_K_LIST,
     ROOT(coap.paths),
     COUNT(coap.npaths),
     .def = "[{path: write, format: auto}]",
     .item = &path_table,
     .doc = "Resources that accept writes."},
    {.path = "coap.max_payload_size",
     .kind = CFG_K_SIZE,
     ROOT(coap.max_payload_bytes),
     .def = "1MiB",
     .min = 1,
     .max = 64 * MIB,
     .doc = "Largest accepted request (block-wise transfers included)."},

    {.path = "cluster.listen",
     .kind = CFG_K_STR,
     ROOT(cluster.listen),
     .check = check_hostport,
     .example = "0.0.0.0:7946",
     .doc = "Address for peer traffic, TCP and UDP on the same port; unset (with no "
            "seeds): this node runs alone."},
    {.path = "cluster.advertise",
     .kind = CFG_K_STR,
     ROOT(cluster.advertise),
     .check = check_hostport,
     .example = "10.0.0.11:7946",
     .doc = "Address peers use to reach this node; default: listen with its port."},
    {.path = "cluster.seeds",
     .kind = CFG_K_STRLIST,
     ROOT(cluster.seeds),
     COUNT(cluster.nseeds),
     .def = "[]",
     .check = check_hostport,
     .doc = "Members to join through, host:port of their cluster.listen; listing "
            "this node too is harmless (env: comma-separated)."},
    {.path = "cluster.key",
     .kind = CFG_K_STR,
     ROOT(cluster.key),
     .flags = CFG_F_SECRET,
     .check = check_cluster_key,
     .example = "${NEOEDGE_CLUSTER_KEY}",
     .doc = "Pre-shared key of the cluster, 16 to 32 bytes, the same on every member; "
            "peers with another key are refused."},
    {.path = "cluster.shards",
     .kind = CFG_K_U64,
     ROOT(cluster.shards),
     .def = "1024",
     .min = 1,
     .max = 1 << 20,
     .doc = "Shards series are hashed to; fixed for the life of a cluster."},
    {.path = "cluster.vnodes",
     .kind = CFG_K_U64,
     ROOT(cluster.vnodes),
     .def = "128",
     .min = 1,
     .max = 4096,
     .doc = "Ring tokens per node; more spread shards more evenly."},
    {.path = "cluster.node_tag",
     .kind = CFG_K_INT,
     ROOT(cluster.node_tag),
     .def = "-1",
     .min = -1,
     .max = 255,
     .doc = "Tag (0 to 255) ending every last-writer-wins version this node stamps; -1: 8 "
            "bits of a hash of node_id. Members sharing a tag could stamp equal versions: "
            "the later to start is refused. Set it when node ids collide."},
    {.path = "cluster.probe_interval",
     .kind = CFG_K_DURATION,
     ROOT(cluster.probe_interval_ns),
     .def = "1s",
     .min = 10 * MS,
     .max = 60 * SEC,
     .doc = "Failure detection: each member pings one other member this often."},
    {.path = "cluster.probe_timeout",
     .kind = CFG_K_DURATION,
     ROOT(cluster.probe_timeout_ns),
     .def = "300ms",
     .min = MS,
     .max = 60 * SEC,
     .doc = "Wait this long for an ack before asking others to probe; below "
            "probe_interval."},
    {.path = "cluster.suspect_timeout",
     .kind = CFG_K_DURATION,
     ROOT(cluster.suspect_timeout_ns),
     .def = "5s",
     .min = 10 * MS,
     .max = 3600 * SEC,
     .doc = "A suspect member that does not refute within this is declared dead."},
    {.path = "cluster.indirect_probes",
     .kind = CFG_K_INT,
     ROOT(cluster.indirect_probes),
     .def = "3",
     .min = 0,
     .max = 16,
     .doc = "Members asked to probe a member that missed a direct ack."},
    {.path = "cluster.connect_timeout",
     .kind = CFG_K_DURATION,
     ROOT(cluster.connect_timeout_ns),
     .def = "2s",
     .min = 10 * MS,
     .max = 600 * SEC,
     .doc = "Peer transport: TCP connect, TLS handshake and hello."},
    {.path = "cluster.io_timeout",
     .kind = CFG_K_DURATION,
     ROOT(cluster.io_timeout_ns),
     .def = "5s",
     .min = 10 * MS,
     .max = 600 * SEC,
     .doc = "Peer transport: one request and its reply."},

    {.path = "replication.factor",
     .kind = CFG_K_U64,
     ROOT(replication.factor),
     .def = "2",
     .min = 1,
     .max = 16,
     .doc = "Copies of each shard in the cluster (capped at the member count)."},
    {.path = "replication.max_lag",
     .kind = CFG_K_DURATION,
     ROOT(replication.max_lag_ns),
     .def = "1s",
     .min = MS,
     .max = 3600 * SEC,
     .doc = "Longest a write may live on its receiving node alone: each peer's hint queue "
            "is sent (and, with durability interval, synced) at least this often."},
    {.path = "replication.hint_window",
     .kind = CFG_K_DURATION,
     ROOT(replication.hint_window_ns),
     .def = "3h",
     .min = 0,
     .max = 30 * DAY,
     .doc = "How long writes for an unreachable replica are kept as hints in "
            "data_dir/cluster/hints/<peer>; older ones are dropped and counted (0: no age "
            "limit)."},
    {.path = "replication.dead_member_timeout",
     .kind = CFG_K_DURATION,
     ROOT(replication.dead_member_timeout_ns),
     .def = "3h",
     .min = 0,
     .max = 365 * DAY,
     .doc = "A member down (dead, or stopped) this long is removed from the placement ring "
            "and its shards are copied to the others from their live replicas; it rejoins "
            "if it comes back. The default equals hint_window: past it the member's hints "
            "are gone and it would be repaired by anti-entropy anyway (0: never remove)."},
    {.path = "replication.hint_max_size",
     .kind = CFG_K_SIZE,
     ROOT(replication.hint_max_bytes),
     .def = "256MiB",
     .min = MIB,
     .max = 1024 * GIB,
     .doc = "Disk budget for hints, all peers together; past it the oldest hints of the "
            "growing queue are dropped and counted."},
    {.path = "replication.anti_entropy_interval",
     .kind = CFG_K_DURATION,
     ROOT(replication.anti_entropy_interval_ns),
     .def = "10m",
     .min = 0,
     .max = DAY,
     .doc = "How often this node compares its data with each live replica (Merkle-style "
            "digests per shard and hour) and pulls what it lacks; also done when a peer "
            "comes back alive. 0: only then."},
    {.path = "replication.anti_entropy_window",
     .kind = CFG_K_DURATION,
     ROOT(replication.anti_entropy_window_ns),
     .def = "1h",
     .min = 0,
     .max = 365 * DAY,
     .doc = "A routine round compares only the hours from this long before its last "
            "successful round with the same peer onwards, plus all time for a slice of the "
            "shards (anti_entropy_sweep_rounds); the first round with a peer, and the one "
            "after it comes back alive, compare everything. 0: every round compares all "
            "time."},
    {.path = "replication.anti_entropy_sweep_rounds",
     .kind = CFG_K_U64,
     ROOT(replication.anti_entropy_sweep_rounds),
     .def = "12",
     .min = 1,
     .max = 10000,
     .doc = "N: each routine round compares 1/N of the shards over all time, so every "
            "shard is compared in full within N rounds with a peer and an old difference "
            "(outside anti_entropy_window) is repaired within N anti_entropy_interval."},
    {.path = "replication.tombstone_ttl",
     .kind = CFG_K_DURATION,
     ROOT(replication.tombstone_ttl_ns),
     .def = "7d",
     .min = 0,
     .max = 365 * DAY,
     .doc = "How long a cluster-wide DELETE or DROP is remembered (in "
            "data_dir/cluster/tombstones) so that older copies of the deleted points, "
            "arriving later by hint or anti-entropy, are dropped. A member down for longer "
            "may bring deleted points back: keep it well above hint_window and any outage "
            "expected. 0: remembered forever."},

    {.path = "sinks",
     .kind = CFG_K_LIST,
     ROOT(sinks),
     COUNT(nsinks),
     .def = "[]",
     .item = &sink_table,
     .doc = "Where sealed segments are shipped, each with its own durable cursor."},
    {.path = "central.token",
     .kind = CFG_K_STR,
     ROOT(central.token),
     .flags = CFG_F_SECRET,
     .example = "${NEOEDGE_CENTRAL_TOKEN}",
     .doc = "role central: the bearer token gateways push segments with."},
    {.path = "central.max_segment_size",
     .kind = CFG_K_SIZE,
     ROOT(central.max_segment_bytes),
     .def = "1GiB",
     .min = MIB,
     .max = 64 * GIB,
     .doc = "role central: largest segment push accepted."},
};

const struct cfg_table config__schema = {
    .keys = root_keys,
    .nkeys = sizeof root_keys / sizeof root_keys[0],
    .item_size = sizeof(struct ne_config),
};

const struct cfg_section config__sections[] = {
    {"log", "Logging (stderr)."},
    {"http", "InfluxDB-compatible HTTP API."},
    {"storage", "The local time-series store."},
    {"storage.retention", "What to drop when data is old or the disk budget is reached."},
    {"mqtt", "MQTT ingest: subscribes to brokers; acknowledges after the store's durability."},
    {"mqtt.tls", "TLS for ssl:// and wss:// brokers."},
    {"coap", "CoAP ingest (RFC 7252), plain UDP and DTLS with pre-shared keys."},
    {"cluster", "Peer cluster: membership (SWIM over UDP), TLS-PSK transport, shard ring."},
    {"replication", "Copies among members: writes go to their shards' owners through hint queues."},
    {"central", "role central: accepting segment pushes from gateways (POST /api/v1/segments)."},
    {NULL, NULL},
};

/* ---- checks across keys ---------------------------------------------- */

static int cross(char *key, size_t kn, char *msg, size_t n, const char *k, const char *m)
{
    snprintf(key, kn, "%s", k);
    snprintf(msg, n, "%s", m);
    return -1;
}

/* The cluster keys hang together: seeds need a listen address, a cluster
 * needs its key, and the failure detector its timings in order. */
static int check_cluster(const struct ne_config *c, char *key, size_t kn, char *msg, size_t n)
{
    const struct ne_cfg_cluster *cl = &c->cluster;
    if (cl->nseeds && !cl->listen)
        return cross(key, kn, msg, n, "cluster.listen",
                     "cluster.seeds is set but cluster.listen is not: set the address this "
                     "node takes peer traffic on");
    if (cl->listen && !cl->key)
        return cross(key, kn, msg, n, "cluster.key",
                     "the cluster needs its pre-shared key (16 to 32 bytes, the same on every "
                     "member)");
    if (cl->probe_timeout_ns >= cl->probe_interval_ns)
        return cross(key, kn, msg, n, "cluster.probe_timeout",
                     "probe_timeout must be below probe_interval");
    if (cl->suspect_timeout_ns < cl->probe_interval_ns)
        return cross(key, kn, msg, n, "cluster.suspect_timeout",
                     "suspect_timeout must be at least probe_interval");
    return 0;
}

int config__check(const struct ne_config *c, char *key, size_t kn, char *msg, size_t n)
{
    if (c->storage.durability == NE_DUR_INTERVAL && c->storage.max_loss_ns == 0)
        return cross(key, kn, msg, n, "storage.max_loss",
                     "durability interval needs max_loss above 0 (or use durability sync)");
    if (c->http.enabled && !c->http.listen)
        return cross(key, kn, msg, n, "http.listen", "http is enabled but listen is unset");
    if (c->mqtt.enabled && c->mqtt.nbrokers == 0)
        return cross(key, kn, msg, n, "mqtt.brokers",
                     "mqtt is enabled but no broker is listed (or set mqtt.enabled: false)");
    if (c->mqtt.enabled && c->mqtt.nsubs == 0)
        return cross(key, kn, msg, n, "mqtt.subscriptions",
                     "mqtt is enabled but has no subscription (or set mqtt.enabled: false)");
    if (!c->mqtt.tls.cert_file != !c->mqtt.tls.key_file)
        return cross(key, kn, msg, n,
                     c->mqtt.tls.cert_file ? "mqtt.tls.key_file" : "mqtt.tls.cert_file",
                     "cert_file and key_file go together: set both or neither");
    if (c->coap.enabled && !c->coap.listen && !c->coap.dtls_listen)
        return cross(key, kn, msg, n, "coap.listen",
                     "coap is enabled but neither listen nor dtls_listen is set");
    if (c->coap.dtls_listen && c->coap.npsk == 0)
        return cross(key, kn, msg, n, "coap.dtls_listen",
                     "DTLS needs at least one coap.psk entry {identity, key}");
    if (c->coap.listen && c->coap.dtls_listen && strcmp(c->coap.listen, c->coap.dtls_listen) == 0)
        return cross(key, kn, msg, n, "coap.dtls_listen",
                     "listen and dtls_listen must be different addresses");
    if (c->coap.enabled && c->coap.npaths == 0)
        return cross(key, kn, msg, n, "coap.paths",
                     "coap is enabled but has no path to accept writes on");
    if (c->role == NE_ROLE_CENTRAL && !c->central.token)
        return cross(key, kn, msg, n, "central.token",
                     "role central needs central.token, the token gateways push with");
    return check_cluster(c, key, kn, msg, n);
}

/* ---- derived values -------------------------------------------------- */

static int set_dup(char **dst, const char *src)
{
    if (*dst) return 0;
    *dst = ne_strdup(src);
    return *dst ? 0 : NE_ENOMEM;
}

int config__derive(struct ne_config *c)
{
    if (!c->node_id) {
        /* the host name, made a valid node_id (it must pass check_node_id
         * when explain's output is loaded back) */
        char host[256] = "";
        if (gethostname(host, sizeof host - 1) != 0 || !host[0])
            snprintf(host, sizeof host, "neoedge");
        host[63] = '\0';
        for (char *h = host; *h; h++)
            if (!isalnum((unsigned char)*h) && *h != '-' && *h != '_' && *h != '.') *h = '-';
        if (set_dup(&c->node_id, host) != 0) return NE_ENOMEM;
    }
    if (!c->mqtt.client_id) {
        char id[300];
        snprintf(id, sizeof id, "neoedge-%s", c->node_id);
        if (set_dup(&c->mqtt.client_id, id) != 0) return NE_ENOMEM;
    }
    for (size_t i = 0; i < c->mqtt.nsubs; i++)
        if (set_dup(&c->mqtt.subs[i].database, c->default_database) != 0) return NE_ENOMEM;
    for (size_t i = 0; i < c->coap.npaths; i++)
        if (set_dup(&c->coap.paths[i].database, c->default_database) != 0) return NE_ENOMEM;
    return 0;
}
