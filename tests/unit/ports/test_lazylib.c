/*
 * test_lazylib.c - a library loaded on first use: symbols resolve into
 * their slots and the calls work; a missing library or symbol is reported
 * with its name, once, and every later call fails at once.
 */
#include "ports/lazylib.h"

#include <string.h>

#include "ports/log.h"
#include "t.h"

static double (*p_cos)(double);
static double (*p_sqrt)(double);
static const struct ne_lazysym m_syms[] = {{"cos", &p_cos}, {"sqrt", &p_sqrt}};
static struct ne_lazylib libm = NE_LAZYLIB_INIT("libm.so.6", "test", m_syms);

static void (*p_none)(void);
static const struct ne_lazysym none_syms[] = {{"neoedge_no_such_function", &p_none}};
static struct ne_lazylib bad_sym = NE_LAZYLIB_INIT("libm.so.6", "test", none_syms);
static struct ne_lazylib bad_lib = NE_LAZYLIB_INIT("libneoedge-absent.so.9", "test", none_syms);

static void test_loads_and_resolves(void)
{
    T_CHECK(p_cos == NULL);
    T_CHECK(ne_lazylib_ready(&libm));
    T_CHECK(ne_lazylib_ready(&libm)); /* the second call is the fast path */
    T_EQ_DBL(p_cos(0.0), 1.0, 0);
    T_EQ_DBL(p_sqrt(16.0), 4.0, 0);
    T_EQ_STR(libm.error, "");
}

static void test_missing_symbol(void)
{
    T_CHECK(!ne_lazylib_ready(&bad_sym));
    T_CHECK(strstr(bad_sym.error, "no symbol neoedge_no_such_function") != NULL);
    T_CHECK(p_none == NULL);
    T_CHECK(!ne_lazylib_ready(&bad_sym));
}

static void test_missing_library(void)
{
    T_CHECK(strstr(bad_lib.error, "is not loaded") != NULL); /* before any call */
    T_CHECK(!ne_lazylib_ready(&bad_lib));
    T_CHECK(strstr(bad_lib.error, "cannot load libneoedge-absent.so.9") != NULL);
    T_CHECK(!ne_lazylib_ready(&bad_lib));
}

int main(void)
{
    ne_log_set_level(NE_LOG_OFF);
    T_RUN(test_loads_and_resolves);
    T_RUN(test_missing_symbol);
    T_RUN(test_missing_library);
    return t_done();
}
