/* Tests of the batch (store/point.c): building points, tag sorting,
 * duplicate keys, aborts, arena copies surviving growth, and reuse. */
#include "store/point.h"

#include "ports/err.h"
#include "t.h"

static struct ne_sv sv(const char *s)
{
    return ne_sv_c(s);
}

static void test_build_and_sort(void)
{
    struct ne_batch b;
    ne_batch_init(&b);
    T_OK(ne_batch_begin(&b, sv("env"), 42));
    T_OK(ne_batch_tag(&b, sv("site"), sv("s1")));
    T_OK(ne_batch_tag(&b, sv("device"), sv("d1")));
    T_OK(ne_batch_tag(&b, sv("area"), sv("north")));
    T_OK(ne_batch_field_f(&b, sv("temp"), 21.5));
    T_OK(ne_batch_end(&b));
    T_EQ_INT(b.npts, 1);
    const struct ne_point *p = &b.pts[0];
    const struct ne_tag *t = ne_point_tags(&b, p);
    T_EQ_INT(p->ntags, 3);
    T_CHECK(ne_sv_eq(t[0].key, sv("area")));
    T_CHECK(ne_sv_eq(t[1].key, sv("device")));
    T_CHECK(ne_sv_eq(t[2].key, sv("site")));
    T_EQ_INT(p->ts, 42);
    T_EQ_DBL(ne_point_fields(&b, p)[0].v.f, 21.5, 0);
    ne_batch_free(&b);
}

static void test_duplicates_keep_last(void)
{
    struct ne_batch b;
    ne_batch_init(&b);
    union ne_value v = {.i = 7};
    T_OK(ne_batch_begin(&b, sv("m"), 1));
    T_OK(ne_batch_tag(&b, sv("k"), sv("first")));
    T_OK(ne_batch_tag(&b, sv("k"), sv("second")));
    T_OK(ne_batch_field_f(&b, sv("a"), 1.0));
    T_OK(ne_batch_field(&b, sv("b"), NE_V_INT, v));
    T_OK(ne_batch_field_f(&b, sv("a"), 2.0));
    T_OK(ne_batch_end(&b));
    const struct ne_point *p = &b.pts[0];
    T_EQ_INT(p->ntags, 1);
    T_CHECK(ne_sv_eq(ne_point_tags(&b, p)[0].val, sv("second")));
    T_EQ_INT(p->nfields, 2);
    const struct ne_field *f = ne_point_fields(&b, p);
    T_CHECK(ne_sv_eq(f[0].key, sv("a")));
    T_EQ_DBL(f[0].v.f, 2.0, 0);
    T_EQ_INT(f[1].v.i, 7);
    /* the arrays shrank with the point */
    T_EQ_INT(b.ntags, 1);
    T_EQ_INT(b.nfields, 2);
    ne_batch_free(&b);
}

static void test_invalid_and_abort(void)
{
    struct ne_batch b;
    ne_batch_init(&b);
    T_OK(ne_batch_begin(&b, sv("m"), 1));
    T_OK(ne_batch_tag(&b, sv("k"), sv("v")));
    T_EQ_INT(ne_batch_end(&b), NE_EINVAL); /* no field */
    T_EQ_INT(b.npts, 0);
    T_EQ_INT(b.ntags, 0);
    T_OK(ne_batch_begin(&b, sv(""), 1));
    T_OK(ne_batch_field_f(&b, sv("f"), 1));
    T_EQ_INT(ne_batch_end(&b), NE_EINVAL); /* empty measurement */
    T_OK(ne_batch_begin(&b, sv("m"), 1));
    T_OK(ne_batch_field_f(&b, sv("f"), 1));
    ne_batch_abort(&b);
    T_EQ_INT(b.nfields, 0);
    T_EQ_INT(ne_batch_field_f(&b, sv("f"), 1), NE_EINVAL); /* no open point */
    ne_batch_free(&b);
}

static void test_many_points_and_arena(void)
{
    struct ne_batch b;
    ne_batch_init(&b);
    char key[32];
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 10000; i++) {
            int n = snprintf(key, sizeof key, "dev-%05d", i);
            struct ne_sv copy = ne_batch_copy(&b, key, (size_t)n);
            T_CHECK(copy.p != NULL);
            T_OK(ne_batch_begin(&b, sv("env"), i % 2 ? NE_TS_UNSET : i));
            T_OK(ne_batch_tag(&b, sv("device"), copy));
            T_OK(ne_batch_field_f(&b, sv("v"), i));
            T_OK(ne_batch_end(&b));
        }
        T_EQ_INT(b.npts, 10000);
        ne_batch_fill_ts(&b, -5);
        for (int i = 0; i < 10000; i++) {
            int n = snprintf(key, sizeof key, "dev-%05d", i);
            const struct ne_tag *t = ne_point_tags(&b, &b.pts[i]);
            T_EQ_INT(t->val.n, n);
            T_CHECK(memcmp(t->val.p, key, (size_t)n) == 0);
            T_EQ_INT(b.pts[i].ts, i % 2 ? -5 : i);
        }
        T_EQ_U64(ne_batch_values(&b), 10000);
        ne_batch_reset(&b);
        T_EQ_INT(b.npts, 0);
    }
    ne_batch_free(&b);
}

static void test_sv_cmp(void)
{
    T_CHECK(ne_sv_cmp(sv("a"), sv("b")) < 0);
    T_CHECK(ne_sv_cmp(sv("ab"), sv("a")) > 0);
    T_CHECK(ne_sv_cmp(sv(""), sv("")) == 0);
    T_CHECK(ne_sv_eq(NE_SV("xyz"), sv("xyz")));
    T_EQ_STR(ne_vtype_name(NE_V_UINT), "unsigned");
}

/* A reserved batch takes that many appends without moving its arrays;
 * keys sharing their first byte still sort and dedup by all bytes. */
static void test_reserve(void)
{
    struct ne_batch b;
    ne_batch_init(&b);
    T_OK(ne_batch_reserve(&b, 1000, 3000, 2000));
    const struct ne_point *pts = b.pts;
    const struct ne_tag *tags = b.tags;
    const struct ne_field *fields = b.fields;
    for (int i = 0; i < 1000; i++) {
        T_OK(ne_batch_begin(&b, sv("m"), i));
        T_OK(ne_batch_tag(&b, sv("apple"), sv("1")));
        T_OK(ne_batch_tag(&b, sv("ab"), sv("2")));
        T_OK(ne_batch_tag(&b, sv("alpha"), sv("3")));
        T_OK(ne_batch_field_f(&b, sv("vb"), 1.0));
        T_OK(ne_batch_field_f(&b, sv("va"), 2.0));
        T_OK(ne_batch_end(&b));
    }
    T_CHECK(b.pts == pts && b.tags == tags && b.fields == fields);
    const struct ne_tag *t = ne_point_tags(&b, &b.pts[999]);
    T_CHECK(ne_sv_eq(t[0].key, sv("ab")) && ne_sv_eq(t[1].key, sv("alpha")) &&
            ne_sv_eq(t[2].key, sv("apple")));
    T_EQ_INT(b.pts[999].nfields, 2);
    /* more than a batch can count: refused, the points stay */
    T_EQ_INT(ne_batch_reserve(&b, UINT32_MAX, 0, 0), NE_ENOMEM);
    T_EQ_INT(ne_batch_reserve(&b, 1, UINT32_MAX - 10, 0), NE_ENOMEM);
    T_EQ_INT(b.npts, 1000);
    T_OK(ne_batch_begin(&b, sv("m"), 1000));
    T_OK(ne_batch_field_f(&b, sv("v"), 3.0));
    T_OK(ne_batch_end(&b));
    T_EQ_INT(b.npts, 1001);
    ne_batch_free(&b);
}

/* A point begun like an earlier one shares its tags; abort and a failed
 * end leave the earlier point's tags whole; no tag can be added to it. */
static void test_begin_same(void)
{
    struct ne_batch b;
    ne_batch_init(&b);
    T_EQ_INT(ne_batch_begin_same(&b, 0, 1), NE_EINVAL); /* no such point */
    T_OK(ne_batch_begin(&b, sv("env"), 1));
    T_OK(ne_batch_tag(&b, sv("site"), sv("s1")));
    T_OK(ne_batch_tag(&b, sv("dev"), sv("d1")));
    T_OK(ne_batch_field_f(&b, sv("t"), 1.0));
    T_OK(ne_batch_end(&b));
    T_OK(ne_batch_begin_same(&b, 0, 2));
    T_EQ_INT(ne_batch_tag(&b, sv("x"), sv("y")), NE_EINVAL);
    ne_batch_abort(&b);
    T_EQ_INT(b.ntags, 2);
    T_OK(ne_batch_begin_same(&b, 0, 3));
    T_EQ_INT(ne_batch_end(&b), NE_EINVAL); /* no field: dropped */
    T_EQ_INT(b.ntags, 2);
    T_OK(ne_batch_begin_same(&b, 0, 4));
    T_OK(ne_batch_field_f(&b, sv("t"), 4.0));
    T_OK(ne_batch_end(&b));
    T_EQ_INT(b.npts, 2);
    T_EQ_INT(b.ntags, 2);
    const struct ne_point *p = &b.pts[1];
    T_EQ_INT(p->tag0, b.pts[0].tag0);
    T_EQ_INT(p->ntags, 2);
    T_EQ_INT(p->ts, 4);
    T_CHECK(ne_sv_eq(p->meas, sv("env")));
    T_CHECK(ne_sv_eq(ne_point_tags(&b, p)[0].key, sv("dev")));
    T_EQ_DBL(ne_point_fields(&b, p)[0].v.f, 4.0, 0);
    /* a point of its own after it still gets fresh tags */
    T_OK(ne_batch_begin(&b, sv("env"), 5));
    T_OK(ne_batch_tag(&b, sv("site"), sv("s2")));
    T_OK(ne_batch_field_f(&b, sv("t"), 5.0));
    T_OK(ne_batch_end(&b));
    T_EQ_INT(b.pts[2].tag0, 2);
    T_EQ_INT(b.ntags, 3);
    T_EQ_INT(b.nsame, 3); /* the aborted and the dropped ones count too */
    ne_batch_reset(&b);
    T_EQ_INT(b.nsame, 0);
    ne_batch_free(&b);
}

int main(void)
{
    T_RUN(test_build_and_sort);
    T_RUN(test_duplicates_keep_last);
    T_RUN(test_invalid_and_abort);
    T_RUN(test_many_points_and_arena);
    T_RUN(test_sv_cmp);
    T_RUN(test_reserve);
    T_RUN(test_begin_same);
    return t_done();
}
