/*
 * config.h - the typed, validated neoedge configuration.
 *
 * One YAML file per gateway (examples/neoedge.yaml documents every key) is
 * parsed with libyaml into struct ne_config. Modules never read this struct:
 * agent/ copies each section into the module's own options struct.
 *
 * Precedence, lowest first: built-in defaults, the YAML file, environment
 * overrides (NEOEDGE_<SECTION>_<KEY>, e.g. NEOEDGE_STORAGE_DURABILITY=sync,
 * NEOEDGE_HTTP_LISTEN=0.0.0.0:8086; nested keys joined by '_', upper-cased;
 * lists comma-separated, NEOEDGE_MQTT_BROKERS=tcp://a:1883,tcp://b:1883;
 * lists of records as YAML flow text, NEOEDGE_MQTT_SUBSCRIPTIONS='[{topic:
 * a/#}]'). Inside any scalar value of the file ${VAR} expands from the
 * environment (${VAR:-fallback} when unset); an unset variable is an error
 * naming it ($$ is a literal $; a $ before anything else stays as written,
 * so "$share/group/topic" needs no escaping).
 *
 * Every key is one row of the schema table in config/schema.c: the loader,
 * the environment overrides, the default YAML, explain and diff all walk it.
 *
 * Durations are strings with a unit: "250ms", "10s", "5m", "3h", "30d"
 * (a bare 0 means off). Sizes: "512KiB", "64MiB", "2GiB", "1GB", or bytes.
 */
#ifndef NE_CONFIG_CONFIG_H
#define NE_CONFIG_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ports/log.h"
#include "ports/platform.h"

enum ne_role { NE_ROLE_GATEWAY = 0, NE_ROLE_CENTRAL };
enum ne_durability { NE_DUR_SYNC = 0, NE_DUR_INTERVAL, NE_DUR_NONE };
enum ne_format {
    NE_FMT_AUTO = 0, /* CoAP: by Content-Format; MQTT: line protocol */
    NE_FMT_LINE,
    NE_FMT_JSON,
    NE_FMT_SENML_JSON,
    NE_FMT_SENML_CBOR,
    NE_FMT_CBOR,
    NE_FMT_RAW,
};

struct ne_cfg_tls {
    char *ca_file;   /* NULL: system store */
    char *cert_file; /* client certificate (PEM), optional */
    char *key_file;
    bool verify_hostname; /* default true */
};

struct ne_cfg_mqtt_sub {
    char *topic;       /* filter, may be "$share/group/filter" */
    int qos;           /* 0, 1, 2; default 1 */
    enum ne_format format;
    char *database;    /* default "iot" */
    char *template_;   /* "sensors/{site}/{device}/{measurement}" or NULL */
    char *measurement; /* for raw/json when the template names none */
    char *field;       /* field name for raw values; default "value" */
};

struct ne_cfg_mqtt {
    bool enabled;
    char **brokers; /* tcp://host:port, ssl://, ws://; at least one */
    size_t nbrokers;
    char *client_id; /* default "neoedge-<node id>" */
    char *username, *password;
    bool clean_session;  /* default false (persistent session) */
    int protocol;        /* 0 = auto (5, then 3.1.1), 4 = 3.1.1, 5 */
    int keepalive_s;     /* default 30 */
    int max_inflight;    /* default 1000 */
    uint64_t max_payload_bytes;
    struct ne_cfg_tls tls;
    struct ne_cfg_mqtt_sub *subs;
    size_t nsubs;
};

struct ne_cfg_coap_psk {
    char *identity;
    char *key; /* the pre-shared key text */
};

struct ne_cfg_coap_path {
    char *path; /* "write" (no leading slash) */
    char *database;
    enum ne_format format; /* AUTO: by Content-Format */
    char *measurement;     /* for raw/json without one */
};

struct ne_cfg_coap {
    bool enabled;
    char *listen;      /* "127.0.0.1:5683"; NULL/"" disables plain UDP */
    char *dtls_listen; /* "127.0.0.1:5684"; NULL/"" disables DTLS */
    struct ne_cfg_coap_psk *psk;
    size_t npsk;
    struct ne_cfg_coap_path *paths;
    size_t npaths;
    uint64_t max_payload_bytes;
};

struct ne_cfg_http {
    bool enabled;
    char *listen;        /* "127.0.0.1:8086" */
    char *auth_token;    /* NULL: no auth */
    uint64_t max_body_bytes;
    int threads;         /* libmicrohttpd worker threads; default 2 */
};

struct ne_cfg_retention {
    int64_t max_age_ns;      /* 0: keep forever */
    uint64_t max_disk_bytes; /* 0: no budget */
    bool evict_unsynced;     /* default false */
};

struct ne_cfg_storage {
    enum ne_io_backend io_backend;
    enum ne_durability durability; /* default interval */
    int64_t max_loss_ns;           /* interval mode fsync bound; default 100ms */
    uint64_t memtable_bytes;       /* budget for all memtables; default 12MiB */
    int64_t memtable_max_age_ns;   /* flush a memtable older than this; default 10m */
    uint64_t segment_target_bytes; /* compaction target; default 64MiB */
    int64_t late_window_ns;        /* 0: accept any age */
    int64_t future_grace_ns;       /* default 10m */
    uint64_t max_series_per_db;          /* 0: unlimited; default 1,000,000 */
    uint64_t max_series_per_measurement; /* 0: unlimited; default 100,000 */
    struct ne_cfg_retention retention;
};

/* Peer cluster of gateways (sharding/cluster.h). The node name is the root
 * node_id. The cluster is off unless listen or seeds is set. */
struct ne_cfg_cluster {
    char *listen;    /* "host:port", TCP (transport) and UDP (membership) */
    char *advertise; /* address peers dial; NULL: listen */
    char **seeds;    /* "host:port" of members to join through */
    size_t nseeds;
    char *key;                  /* pre-shared cluster key, 16..32 bytes */
    uint64_t shards;            /* default 1024; fixed for a cluster */
    uint64_t vnodes;            /* tokens per node; default 128 */
    int64_t probe_interval_ns;  /* default 1s */
    int64_t probe_timeout_ns;   /* default 300ms; below probe_interval */
    int64_t suspect_timeout_ns; /* suspect -> dead; default 5s */
    int indirect_probes;        /* default 3 */
    int64_t connect_timeout_ns; /* transport connect + handshake; default 2s */
    int64_t io_timeout_ns;      /* one transport request/reply; default 5s */
    int node_tag;               /* tag of this node's versions, 0..255; -1: from node_id */
};

/* Replication between the members of a cluster. */
struct ne_cfg_replication {
    uint64_t factor;         /* copies of each shard; default 2 */
    int64_t max_lag_ns;      /* default 1s */
    int64_t hint_window_ns;  /* default 3h */
    uint64_t hint_max_bytes; /* default 256MiB */
    int64_t dead_member_timeout_ns; /* default 3h; 0: down members are never removed */
    int64_t anti_entropy_interval_ns; /* default 10m; 0: no periodic repair */
    int64_t anti_entropy_window_ns;   /* default 1h; 0: every round compares all time */
    uint64_t anti_entropy_sweep_rounds; /* default 12: rounds per sweep of all time */
    int64_t tombstone_ttl_ns;         /* default 7d; 0: tombstones kept forever */
};

/* Cloud sync: where sealed segments go (sync/sink). */
enum ne_sink_type { NE_SINK_S3 = 0, NE_SINK_CENTRAL };
enum ne_sink_format { NE_SINK_FMT_PARQUET = 0, NE_SINK_FMT_NATIVE };

struct ne_cfg_sink {
    char *name; /* unique; names the cursor directory data_dir/sync/<name> */
    enum ne_sink_type type;
    enum ne_sink_format format; /* s3: parquet (default) or native segment files */
    /* s3 */
    char *endpoint; /* "http(s)://host[:port]"; NULL: AWS for the region */
    char *region;   /* NULL: AWS_REGION / shared credentials / us-east-1 */
    char *bucket;
    char *prefix;   /* key prefix without trailing '/', may be NULL */
    bool path_style;
    char *access_key, *secret_key, *session_token; /* NULL: env, then ~/.aws */
    uint64_t multipart_threshold; /* default 16MiB */
    uint64_t part_size;           /* default 8MiB */
    /* central */
    char *url;   /* "https://central:8086" */
    char *token; /* bearer token the central node expects */
    /* both */
    char *ca_file;   /* NULL: system CA store */
    bool verify_tls; /* default true */
    uint64_t bandwidth_bytes_per_s; /* 0: unlimited */
    char *windows;   /* "22:00-06:00,12:00-13:00" UTC; NULL: any time */
    char *encryption_key; /* 64 hex digits (AES-256-GCM); NULL: off */
    int64_t backlog_max_age_ns; /* /health degraded past this; default 1h */
    int max_retries;            /* per request before the segment is retried later; default 5 */
};

/* The central role: accepting segment pushes from gateways. */
struct ne_cfg_central {
    char *token;                /* required with role central */
    uint64_t max_segment_bytes; /* largest accepted push; default 1GiB */
};

struct ne_config_meta; /* private to config/: where each value came from */

struct ne_config {
    char *path;        /* the file loaded, or NULL for the embedded default */
    char *node_id;     /* default: the host name */
    enum ne_role role; /* default gateway */
    char *data_dir;    /* default "./neoedge-data" */
    char *default_database; /* default "iot" */
    struct {
        enum ne_log_level level;
        bool json;
    } log;
    struct ne_cfg_http http;
    struct ne_cfg_storage storage;
    struct ne_cfg_mqtt mqtt;
    struct ne_cfg_coap coap;
    struct ne_cfg_cluster cluster;
    struct ne_cfg_replication replication;
    struct ne_cfg_sink *sinks;
    size_t nsinks;
    struct ne_cfg_central central;
    struct ne_config_meta *meta; /* provenance for explain; owned, private */
};

/* A diagnostic: where and what. */
struct ne_config_error {
    char file[256];
    int line, column; /* 1-based; 0 when not from the file (env, defaults) */
    char key[128];    /* dotted path, e.g. "storage.durability" */
    char msg[512];    /* full human message, including valid values and
                         "did you mean" hints */
};

/* The embedded default config as commented YAML (what `neoedge config
 * default` prints). Static string. Loading it gives the same struct as
 * loading with no file at all. */
const char *ne_config_default_yaml(void);

/* Loads path (NULL: the embedded default), applies environment overrides
 * (envp: "KEY=VALUE" strings, NULL-terminated; NULL means environ) and
 * validates. On success *out is a new config (free with ne_config_free).
 * On failure returns NE_EPARSE (YAML syntax), NE_EINVAL (a key or value),
 * NE_ENOTFOUND / NE_EIO / NE_EPERM (the file cannot be read) or NE_ENOMEM,
 * and fills *err (if non-NULL; with err NULL the problem is logged once).
 * Only the first problem is reported. A NEOEDGE_ variable that is not a
 * key but close to one is logged as a warning ("did you mean"). */
int ne_config_load(const char *path, char *const *envp, struct ne_config **out,
                   struct ne_config_error *err);

/* Same from an in-memory YAML text (name is used in messages). */
int ne_config_load_text(const char *name, const char *yaml, size_t len, char *const *envp,
                        struct ne_config **out, struct ne_config_error *err);

/* Frees the config and everything it owns. Sets *cfg to NULL. NULL-safe. */
void ne_config_free(struct ne_config **cfg);

/* Formats err as one line: "FILE:LINE:COL: KEY: MSG". Returns buf. */
const char *ne_config_error_format(const struct ne_config_error *err, char *buf, size_t n);

/* Lists which keys differ between a and b and whether each can be applied
 * without a restart (used by SIGHUP reload). Calls fn once per changed key
 * with live = true if it can change at run time (log level/format, retention,
 * http.auth_token, storage.max_loss_ns, memtable budget). */
/* key is the dotted path ("log.level"; a list such as "mqtt.subscriptions"
 * is reported once as a whole), a static string. */
typedef void (*ne_config_diff_fn)(void *ctx, const char *key, bool live);
void ne_config_diff(const struct ne_config *a, const struct ne_config *b, ne_config_diff_fn fn,
                    void *ctx);

/* Writes the effective config (after defaults and env) as YAML with a
 * comment on each key saying where its value came from ("default",
 * "file NAME:LINE:COL", "env NEOEDGE_...", "derived"). Secrets (auth token,
 * passwords, PSK keys) are written as "<redacted>"; everything else loads
 * back to the same values. Returns a malloc'd string (ne_free) or NULL
 * when out of memory. */
char *ne_config_explain(const struct ne_config *cfg);

/* Small parsers shared with the CLI (exposed for tests). Return 0,
 * NE_EINVAL (not the grammar of config.h's header comment) or NE_ERANGE
 * (beyond INT64_MAX); *out is written only on success. */
int ne_config_parse_duration(const char *s, int64_t *out_ns);
int ne_config_parse_size(const char *s, uint64_t *out_bytes);
/* Upload windows "HH:MM-HH:MM[,HH:MM-HH:MM...]" (UTC; a window may wrap
 * past midnight; 24:00 is the end of the day): fills from_min/to_min
 * (minutes since 00:00) with up to max windows and *n with their count.
 * Returns 0 or NE_EINVAL. */
int ne_config_parse_windows(const char *s, int *from_min, int *to_min, size_t max, size_t *n);
/* "auto", "line", "json", "senml-json", "senml-cbor", "cbor", "raw" (static
 * strings; "unknown" otherwise). ne_format_parse is case-insensitive and
 * returns 0 or NE_EINVAL. */
const char *ne_format_name(enum ne_format f);
int ne_format_parse(const char *s, enum ne_format *out);

#endif
