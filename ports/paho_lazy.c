/*
 * paho_lazy.c - the Paho MQTT C library, loaded on first use.
 *
 * Only the MQTT source needs Paho, yet linking libpaho-mqtt3as loads it
 * and, through it, OpenSSL's libssl and libcrypto into every process at
 * start: about 1.7 MiB resident on a gateway whose config turns MQTT off,
 * and in every CLI command. So ne::paho (cmake/NeoedgeDeps.cmake) is this
 * file, not the library: it defines the MQTTAsync functions neoedge calls,
 * with Paho's own prototypes (<MQTTAsync.h>), and each one loads
 * libpaho-mqtt3as.so.1 with dlopen the first time any of them runs, then
 * forwards to the real function. Callers include <MQTTAsync.h> as usual.
 *
 * When the library cannot be loaded the reason is logged once and the
 * calls fail the way Paho reports failure: the int functions return
 * MQTTASYNC_FAILURE (MQTTAsync_isConnected: 0), MQTTAsync_strerror and
 * MQTTReasonCode_toString name the problem, the others do nothing.
 *
 * Adding a call to a Paho function not defined here fails at link time
 * (undefined reference): add it to struct paho_fns and define it below.
 */
#include <MQTTAsync.h>
#include <stdbool.h>
#include <stdio.h>

#include "ports/lazylib.h"

#define LIBPAHO "libpaho-mqtt3as.so.1"

static struct paho_fns {
    int (*create)(MQTTAsync *, const char *, const char *, int, void *, MQTTAsync_createOptions *);
    int (*set_callbacks)(MQTTAsync, void *, MQTTAsync_connectionLost *,
                         MQTTAsync_messageArrived *, MQTTAsync_deliveryComplete *);
    int (*connect)(MQTTAsync, const MQTTAsync_connectOptions *);
    int (*disconnect)(MQTTAsync, const MQTTAsync_disconnectOptions *);
    int (*is_connected)(MQTTAsync);
    int (*subscribe_many)(MQTTAsync, int, char *const *, const int *, MQTTAsync_responseOptions *);
    void (*free_message)(MQTTAsync_message **);
    void (*free)(void *);
    void (*destroy)(MQTTAsync *);
    const char *(*strerror)(int);
    void (*global_init)(MQTTAsync_init_options *);
    int (*props_add)(MQTTProperties *, const MQTTProperty *);
    void (*props_free)(MQTTProperties *);
    const char *(*reason)(enum MQTTReasonCodes);
} fns;

static const struct ne_lazysym syms[] = {
    {"MQTTAsync_createWithOptions", &fns.create},
    {"MQTTAsync_setCallbacks", &fns.set_callbacks},
    {"MQTTAsync_connect", &fns.connect},
    {"MQTTAsync_disconnect", &fns.disconnect},
    {"MQTTAsync_isConnected", &fns.is_connected},
    {"MQTTAsync_subscribeMany", &fns.subscribe_many},
    {"MQTTAsync_freeMessage", &fns.free_message},
    {"MQTTAsync_free", &fns.free},
    {"MQTTAsync_destroy", &fns.destroy},
    {"MQTTAsync_strerror", &fns.strerror},
    {"MQTTAsync_global_init", &fns.global_init},
    {"MQTTProperties_add", &fns.props_add},
    {"MQTTProperties_free", &fns.props_free},
    {"MQTTReasonCode_toString", &fns.reason},
};

static struct ne_lazylib lib = NE_LAZYLIB_INIT(LIBPAHO, "mqtt", syms);

static bool ready(void)
{
    return ne_lazylib_ready(&lib);
}

int MQTTAsync_createWithOptions(MQTTAsync *handle, const char *uri, const char *client_id,
                                int persistence_type, void *persistence_context,
                                MQTTAsync_createOptions *options)
{
    return ready() ? fns.create(handle, uri, client_id, persistence_type, persistence_context,
                                options)
                   : MQTTASYNC_FAILURE;
}

int MQTTAsync_setCallbacks(MQTTAsync handle, void *context, MQTTAsync_connectionLost *cl,
                           MQTTAsync_messageArrived *ma, MQTTAsync_deliveryComplete *dc)
{
    return ready() ? fns.set_callbacks(handle, context, cl, ma, dc) : MQTTASYNC_FAILURE;
}

int MQTTAsync_connect(MQTTAsync handle, const MQTTAsync_connectOptions *options)
{
    return ready() ? fns.connect(handle, options) : MQTTASYNC_FAILURE;
}

int MQTTAsync_disconnect(MQTTAsync handle, const MQTTAsync_disconnectOptions *options)
{
    return ready() ? fns.disconnect(handle, options) : MQTTASYNC_FAILURE;
}

int MQTTAsync_isConnected(MQTTAsync handle)
{
    return ready() ? fns.is_connected(handle) : 0;
}

int MQTTAsync_subscribeMany(MQTTAsync handle, int count, char *const *topic, const int *qos,
                            MQTTAsync_responseOptions *response)
{
    return ready() ? fns.subscribe_many(handle, count, topic, qos, response) : MQTTASYNC_FAILURE;
}

void MQTTAsync_freeMessage(MQTTAsync_message **msg)
{
    if (ready()) fns.free_message(msg);
}

void MQTTAsync_free(void *ptr)
{
    if (ready()) fns.free(ptr);
}

void MQTTAsync_destroy(MQTTAsync *handle)
{
    if (ready()) fns.destroy(handle);
}

const char *MQTTAsync_strerror(int code)
{
    return ready() ? fns.strerror(code) : lib.error;
}

void MQTTAsync_global_init(MQTTAsync_init_options *inits)
{
    if (ready()) fns.global_init(inits);
}

int MQTTProperties_add(MQTTProperties *props, const MQTTProperty *prop)
{
    return ready() ? fns.props_add(props, prop) : MQTTASYNC_FAILURE;
}

void MQTTProperties_free(MQTTProperties *props)
{
    if (ready()) fns.props_free(props);
}

const char *MQTTReasonCode_toString(enum MQTTReasonCodes value)
{
    return ready() ? fns.reason(value) : lib.error;
}
