/*
 * engine_memtable_test.c - memtable column capacity: a column starts with
 * room for what it held in the previous memtable, and one memtable sealed
 * early does not reset that to the minimum (which would make every column
 * of the next memtable grow again from 16 values, one reallocation at a
 * time), and the hints together never reserve more than the next memtable
 * may hold. Capacity is visible as m->bytes, what the budget is charged.
 * And the pool that passes a memtable's memory on to the next one.
 */
#include <string.h>

#include "store/engine/engine.h"
#include "t.h"

/* Bytes of a memtable holding nothing yet (its own struct). */
static uint64_t empty_bytes(void)
{
    struct eng_memtable *m = NULL;
    if (eng_mt_new(1, NULL, &m) != 0) return UINT64_MAX;
    uint64_t b = m->bytes;
    eng_mt_free(&m);
    return b;
}

/* Fills one column of s in a memtable of generation gen with n values,
 * notes the sizes as a seal does and returns the value capacity the
 * column had after its first append (bytes charged for ts + value), 0
 * when an append failed. The hints may reserve room bytes for the columns. */
static uint64_t run_memtable_in(struct eng_series *s, uint64_t gen, uint32_t n, uint64_t base,
                               uint64_t room)
{
    struct eng_memtable *m = NULL;
    if (eng_mt_new(gen, NULL, &m) != 0) return 0;
    uint64_t first_cap = 0;
    for (uint32_t i = 0; i < n; i++) {
        union ne_value v = {.f = (double)i};
        if (eng_mt_append(m, s, 0, 1767225600000000000LL + (int64_t)i * 1000000000LL, &v) != 0) {
            eng_mt_free(&m);
            return 0;
        }
        if (i == 0) first_cap = m->bytes - base - m->cap_cols * sizeof *m->cols;
    }
    /* room is for the columns: the column table and arena come on top */
    uint64_t fixed = (uint64_t)m->cap_cols * sizeof *m->cols + m->cap_strs;
    eng_mt_note_sizes(m, room == UINT64_MAX ? room : fixed + room);
    eng_mt_free(&m);
    return first_cap / 16; /* 8-byte timestamp + 8-byte value slot */
}

static uint64_t run_memtable(struct eng_series *s, uint64_t gen, uint32_t n, uint64_t base)
{
    return run_memtable_in(s, gen, n, base, UINT64_MAX);
}

static void test_capacity_follows_history(void)
{
    struct eng_field f;
    memset(&f, 0, sizeof f);
    f.type = NE_V_FLOAT;
    struct eng_series s;
    memset(&s, 0, sizeof s);
    s.fields = &f;
    s.nfields = s.cap_fields = 1;
    uint64_t base = empty_bytes();
    T_CHECK(base != UINT64_MAX);

    /* no history: the minimum */
    T_EQ_U64(run_memtable(&s, 1, 400, base), 16);
    /* 400 last time: room for 400 and an eighth at once */
    T_EQ_U64(run_memtable(&s, 2, 5, base), 450);
    /* after a memtable of only 5 values, still half of that */
    uint64_t cap = run_memtable(&s, 3, 400, base);
    T_CHECK(cap >= 200);
    T_EQ_U64(cap, 200 + 200 / 8);
    /* and a full one restores the whole hint */
    T_EQ_U64(run_memtable(&s, 4, 10, base), 450);
}

/* A memtable that grew past what the next one may reserve (it filled
 * while the one before it flushed) scales the hints down to that room:
 * else the next memtable would be full after a few values per column. */
static void test_hints_fit_the_room(void)
{
    struct eng_field f[2];
    memset(f, 0, sizeof f);
    f[0].type = f[1].type = NE_V_FLOAT;
    struct eng_series s;
    memset(&s, 0, sizeof s);
    s.fields = f;
    s.nfields = s.cap_fields = 2;
    uint64_t base = empty_bytes();
    T_CHECK(base != UINT64_MAX);
    /* 400 values would reserve 450 x 16 bytes; the room is half that */
    T_EQ_U64(run_memtable_in(&s, 1, 400, base, 450 * 16 / 2), 16);
    T_EQ_U64(f[0].mt_hint, 200);
    T_EQ_U64(run_memtable_in(&s, 2, 400, base, UINT64_MAX), 225);
    T_EQ_U64(f[0].mt_hint, 400);
}

/* Memtables taking their column arrays from a pool: values stay right
 * through every growth (arrays carved from slabs move to larger ones, a
 * column past a slab's share gets heap arrays of its own), a freed
 * memtable's slabs and column table go back to the pool up to its bound,
 * the next memtable takes them, and a trim empties it. Under
 * AddressSanitizer an array left behind by a growth is poisoned, so a
 * read of stale memory would stop the test. */
static void test_pool(void)
{
    enum { NCOLS = 600, SMALL = 300, BIG = 20000 };
    static struct eng_field f[NCOLS];
    memset(f, 0, sizeof f);
    for (int i = 0; i < NCOLS; i++)
        f[i].type = NE_V_FLOAT;
    struct eng_series s;
    memset(&s, 0, sizeof s);
    s.fields = f;
    s.nfields = s.cap_fields = NCOLS;
    struct eng_mt_pool *pool = NULL;
    T_OK(eng_mt_pool_new(1u << 20, &pool));
    T_EQ_U64(eng_mt_pool_bytes(pool), 0);
    const int64_t t0 = 1767225600000000000LL;
    for (uint64_t gen = 1; gen <= 3; gen++) {
        struct eng_memtable *m = NULL;
        T_OK(eng_mt_new(gen, pool, &m));
        if (gen > 1) T_CHECK(m->cap_cols >= NCOLS); /* the table came back */
        /* rows: every column takes a value, column 0 many more */
        for (int r = 0; r < BIG; r++) {
            for (int c = 0; c < (r < SMALL ? NCOLS : 1); c++) {
                union ne_value v = {.f = r * 1000.0 + c + (double)gen};
                T_OK(eng_mt_append(m, &s, (uint32_t)c, t0 + r, &v));
            }
        }
        T_EQ_U64(m->values, (uint64_t)NCOLS * SMALL + (BIG - SMALL));
        for (int c = 0; c < NCOLS; c++) {
            const struct eng_mcol *col = eng_mt_find(m, &s, (uint32_t)c);
            T_CHECK(col != NULL);
            uint32_t want = c ? SMALL : BIG;
            T_EQ_U64(col->n, want);
            T_CHECK(col->heap == (c == 0));
            for (uint32_t r = 0; r < want; r++) {
                if (col->ts[r] != t0 + (int64_t)r ||
                    col->v[r].f != r * 1000.0 + c + (double)gen) {
                    T_CHECK(!"value moved");
                }
            }
        }
        eng_mt_free(&m);
        /* kept: at most the bound in slabs, and the column table */
        uint64_t kept = eng_mt_pool_bytes(pool);
        T_CHECK(kept > (1u << 20) / 2);
        T_CHECK(kept <= (1u << 20) + (uint64_t)(NCOLS * 2) * sizeof(struct eng_mcol));
    }
    eng_mt_pool_trim(pool);
    T_EQ_U64(eng_mt_pool_bytes(pool), 0);
    /* without a pool, nothing is kept and nothing breaks */
    struct eng_memtable *m = NULL;
    T_OK(eng_mt_new(9, NULL, &m));
    union ne_value v = {.f = 1.5};
    T_OK(eng_mt_append(m, &s, 3, t0, &v));
    T_CHECK(eng_mt_find(m, &s, 3)->v[0].f == 1.5);
    eng_mt_free(&m);
    eng_mt_pool_free(&pool);
    T_CHECK(pool == NULL);
}

int main(void)
{
    T_RUN(test_pool);
    T_RUN(test_capacity_follows_history);
    T_RUN(test_hints_fit_the_room);
    return t_done();
}
