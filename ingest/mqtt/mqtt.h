/*
 * mqtt.h - the MQTT ingest source (Paho MQTTAsync).
 *
 * One client per configured broker URI (tcp://, ssl://, ws://, wss://), each
 * with a stable client id and, by default, a persistent session (clean
 * session off), so QoS 1/2 messages published while neoedge was away are
 * delivered when it comes back. Every configured filter is subscribed with
 * its QoS on every (re)connect; "$share/<group>/<filter>" filters spread one
 * stream over several neoedge instances.
 *
 * Acknowledgement: a message is acknowledged to the broker (PUBACK/PUBREC)
 * only after the sink accepted its batch. When the sink answers NE_EBUSY,
 * NE_ENOSPC or NE_EFAILED the message is held unacknowledged and offered to
 * the sink again after a pause that doubles (busy_min_ms .. busy_max_ms);
 * meanwhile nothing more is read from the broker, so its in-flight window
 * throttles the publishers. A payload that cannot be decoded, is larger than
 * max_payload_bytes or whose topic does not fit the template is acknowledged
 * and counted (reasons "parse", "too_large", "topic"), so a poison message
 * never blocks the stream.
 *
 * An unreachable broker is never fatal: ne_mqtt_start succeeds, the client
 * keeps retrying with exponential backoff and ne_mqtt_health reports why.
 */
#ifndef NE_INGEST_MQTT_MQTT_H
#define NE_INGEST_MQTT_MQTT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ingest/ingest.h"

/* One subscription. */
struct ne_mqtt_sub_opts {
    const char *topic;      /* filter, may be "$share/<group>/<filter>" */
    int qos;                /* 0, 1 or 2 */
    enum ne_payload format; /* AUTO means line protocol */
    const char *database;   /* NULL: "iot" */
    /* Topic template, e.g. "sensors/{site}/{device}/{measurement}": each
     * "{name}" level becomes the tag name=<level> (overriding a payload tag of
     * that name), except "{measurement}" (the measurement of payloads that
     * name none: JSON without its measurement key, SenML, raw) and "{field}"
     * (the field name of raw payloads); "+" matches any level and is
     * ignored; "#" as the last level matches the rest; any other level must
     * match literally. A topic that does not match is acknowledged and
     * rejected (reason "topic"). NULL: no tags from the topic. */
    const char *template_;
    const char *measurement; /* when neither payload nor template names one;
                                NULL: the last topic level */
    const char *field;       /* field name for raw values; NULL: "value" */
};

struct ne_mqtt_tls_opts {
    const char *ca_file;   /* NULL: the system trust store */
    const char *cert_file; /* client certificate (PEM); NULL: none */
    const char *key_file;  /* its private key (PEM) */
    bool verify_hostname;  /* check the broker's name against its cert */
};

struct ne_mqtt_opts {
    const char *const *brokers; /* URIs; one client each */
    size_t nbrokers;
    const char *client_id; /* stable across restarts; NULL: "neoedge" */
    const char *username;  /* NULL: none */
    const char *password;
    bool clean_session;         /* false: persistent session (default) */
    int protocol;               /* 0 auto (5, then 3.1.1), 4 = 3.1.1, 5 */
    int keepalive_s;            /* default 30 */
    int max_inflight;           /* Paho maxInflight; default 1000 */
    uint64_t max_payload_bytes; /* 0: no limit; larger -> "too_large" */
    int min_retry_ms;           /* reconnect backoff; default 500 */
    int max_retry_ms;           /* default 30000 */
    int busy_min_ms;            /* first pause before refusing a message the
                                   sink could not take; default 10 */
    int busy_max_ms;            /* the pause doubles up to this; default 1000 */
    struct ne_mqtt_tls_opts tls;
    const struct ne_mqtt_sub_opts *subs;
    size_t nsubs;
};

/* Fills o with the defaults above (no brokers, no subscriptions, TLS
 * hostname verification on). */
void ne_mqtt_opts_default(struct ne_mqtt_opts *o);

struct ne_mqtt; /* opaque */

/* Validates opts (URIs, QoS, templates), creates one client per broker and
 * starts connecting in the background. Everything in opts is copied; the
 * sink struct is copied and sink->ctx must outlive the source. Returns 0
 * even when no broker is reachable yet (see ne_mqtt_health); NE_EINVAL for
 * bad options (logged), NE_ENOMEM. On success *out owns the source: stop it
 * with ne_mqtt_stop. */
int ne_mqtt_start(const struct ne_mqtt_opts *opts, const struct ne_ingest_sink *sink,
                  struct ne_mqtt **out);

/* Disconnects every client (messages the broker sent but we did not
 * acknowledge are redelivered to the persistent session later), waits for
 * the callbacks to finish and frees everything. Call it before closing the
 * sink's store. A message held because the sink refuses it is offered for
 * 2 s more; if the sink still refuses, Paho acknowledges it when the
 * callback gives up (Paho 1.3 sends PUBACK whatever the callback returns),
 * and it is lost: stop the sources before the store, not after. Sets *mp to
 * NULL. NULL-safe. */
void ne_mqtt_stop(struct ne_mqtt **mp);

/* 0 when every broker is connected and subscribed; 1 (degraded) when some
 * broker is not (unreachable, refusing, a subscription refused: the client
 * keeps retrying) or the sink is refusing messages; 2 (failing) when a
 * client cannot be created at all. why (n bytes, may be NULL) gets a
 * one-line reason for the first broker that is not up, e.g.
 * "mqtt tcp://127.0.0.1:1883: connection refused, retrying", or "" when ok. */
int ne_mqtt_health(struct ne_mqtt *m, char *why, size_t n);

/* Counters of this instance (tests and the console). */
struct ne_mqtt_stats {
    uint64_t messages;  /* messages that reached the arrival callback */
    uint64_t acked;     /* messages acknowledged (stored or rejected) */
    uint64_t refusals;  /* sink refusals of a held message (offered again) */
    uint64_t points;    /* points accepted by the sink */
    uint64_t rejected;  /* messages rejected (parse, topic, too_large) */
    uint32_t connected; /* brokers connected now */
    uint32_t connects;  /* successful (re)connects since start */
};
/* Fills *out (all zero for m == NULL). */
void ne_mqtt_stats(struct ne_mqtt *m, struct ne_mqtt_stats *out);

#endif
