/*
 * lazylib.c - loading a shared library on first use (lazylib.h).
 */
#include "ports/lazylib.h"

#include <dlfcn.h>
#include <stdio.h>

#include "ports/log.h"

static bool load(struct ne_lazylib *lib)
{
    void *h = dlopen(lib->soname, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *e = dlerror();
        snprintf(lib->error, sizeof lib->error, "cannot load %s: %s", lib->soname, e ? e : "?");
        return false;
    }
    for (size_t i = 0; i < lib->nsyms; i++) {
        void *p = dlsym(h, lib->syms[i].name);
        if (!p) {
            snprintf(lib->error, sizeof lib->error, "%s: no symbol %s", lib->soname,
                     lib->syms[i].name);
            dlclose(h);
            return false;
        }
        *(void **)lib->syms[i].slot = p;
    }
    lib->error[0] = '\0';
    return true; /* h stays open for the life of the process */
}

bool ne_lazylib_ready(struct ne_lazylib *lib)
{
    int st = atomic_load_explicit(&lib->state, memory_order_acquire);
    if (st) return st == 1;
    pthread_mutex_lock(&lib->mu);
    st = atomic_load_explicit(&lib->state, memory_order_relaxed);
    if (!st) {
        st = load(lib) ? 1 : 2;
        if (st == 2) ne_log(NE_LOG_ERROR, lib->mod, lib->error, NULL);
        atomic_store_explicit(&lib->state, st, memory_order_release);
    }
    pthread_mutex_unlock(&lib->mu);
    return st == 1;
}
