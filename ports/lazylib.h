/*
 * lazylib.h - a shared library loaded on first use (dlopen), for the
 * shims that stand in for libcurl (curl_lazy.c) and Paho MQTT
 * (paho_lazy.c): linking those libraries would load them, and everything
 * they depend on, into every process at start.
 *
 * A shim keeps one struct ne_lazylib (static, NE_LAZYLIB_INIT) listing the
 * symbols it needs and where to store each address, and calls
 * ne_lazylib_ready before forwarding a call. The library stays loaded for
 * the life of the process.
 */
#ifndef NE_PORTS_LAZYLIB_H
#define NE_PORTS_LAZYLIB_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

/* A symbol to resolve: its name and the function pointer variable that
 * gets its address (POSIX lets dlsym's result be used as one). */
struct ne_lazysym {
    const char *name;
    void *slot; /* address of a function pointer variable */
};

struct ne_lazylib {
    const char *soname; /* "libcurl.so.4" */
    const char *mod;    /* log module of the load failure */
    const struct ne_lazysym *syms;
    size_t nsyms;
    pthread_mutex_t mu;
    atomic_int state; /* 0 not tried, 1 loaded, 2 failed */
    char error[256];  /* why it is not loaded; "" once loaded */
};

#define NE_LAZYLIB_INIT(so, module, symbols)                                                       \
    {                                                                                              \
        .soname = (so), .mod = (module), .syms = (symbols),                                        \
        .nsyms = sizeof(symbols) / sizeof((symbols)[0]), .mu = PTHREAD_MUTEX_INITIALIZER,          \
        .error = so " is not loaded"                                                               \
    }

/* Loads lib the first time (thread-safe; later calls are one atomic load)
 * and resolves every symbol. Returns true when all resolved; otherwise
 * lib->error says why (logged once at error level) and every later call
 * returns false at once. */
bool ne_lazylib_ready(struct ne_lazylib *lib);

#endif
