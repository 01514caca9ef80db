/*
 * stockledger (shipment ledger, SKU fences, re-push queue) against a real redis-server
 * (DH_TEST_REDIS_URL, default the local stack's). Each test uses its own store name, so
 * every key it touches is its own.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dockhand/stockledger.h"
#include "harness.h"

/* cmocka.h needs these three first; keep clang-format from sorting it above them. */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
/* clang-format on */

/* A generous timeout: the Redis is shared with other test runs. */
static dh_redis_t *conn(void)
{
    dh_redis_opts_t o = {.url = th_redis_url(), .password = NULL, .timeout_ms = 10000};
    char err[256];
    dh_redis_t *r = dh_redis_new(&o, err, sizeof(err));

    if (!r) {
        fail_msg("dh_redis_new: %s", err);
    }
    return r;
}

static void store_name(const char *tag, char *buf, size_t size)
{
    char u[96];

    th_unique(tag, u, sizeof(u));
    snprintf(buf, size, "dhtest-sl-%s", u);
}

/* Deletes every key the tests make for \p store (no KEYS on a shared Redis). */
static void del_keys(dh_redis_t *r, const char *store)
{
    static const char *const facs[] = {"F1", "F2", "F3"}, *const skus[] = {"K", "K2", "K|x"},
                             *const kinds[] = {"ledger", "shipped", "fence"};
    char keys[2 + 27][300];
    const char *argv[1 + 2 + 27];
    int n = 0;

    argv[n++] = "DEL";
    snprintf(keys[0], sizeof(keys[0]), "dh:inv:seq:%s", store);
    snprintf(keys[1], sizeof(keys[1]), "dh:inv:repush:%s", store);
    argv[n++] = keys[0];
    argv[n++] = keys[1];
    for (int f = 0; f < 3; f++) {
        for (int k = 0; k < 3; k++) {
            for (int d = 0; d < 3; d++) {
                snprintf(keys[n - 1], sizeof(keys[0]), "dh:inv:%s:%s:%s|%s", kinds[d], store,
                         facs[f], skus[k]);
                argv[n] = keys[n - 1];
                n++;
            }
        }
    }
    assert_int_equal(dh_redis_command(r, n, argv, NULL, NULL), DH_OK);
}

/* The ledger value of one line, "" when absent. */
static void entry(dh_redis_t *r, const char *store, const char *fsku, const char *id, char *buf,
                  size_t size)
{
    redisReply *rep = NULL;

    assert_int_equal(dh_redis_commandf(r, &rep, "HGET dh:inv:ledger:%s:%s %s", store, fsku, id),
                     DH_OK);
    snprintf(buf, size, "%s", rep->type == REDIS_REPLY_STRING ? rep->str : "");
    freeReplyObject(rep);
}

/* EXISTS dh:inv:<kind>:<store>[:<fsku>] */
static long long exists(dh_redis_t *r, const char *kind, const char *store, const char *fsku)
{
    redisReply *rep = NULL;
    char key[512];
    long long v;

    snprintf(key, sizeof(key), "dh:inv:%s:%s%s%s", kind, store, fsku ? ":" : "", fsku ? fsku : "");
    assert_int_equal(dh_redis_commandf(r, &rep, "EXISTS %s", key), DH_OK);
    v = rep->integer;
    freeReplyObject(rep);
    return v;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

/* One (location, sku) over the facilities \p facs, candidate (seq, base) each. */
typedef struct one {
    dh_sl_fac_t f[4];
    dh_sl_item_t it;
} one_t;

static void one_init(one_t *o, const char *sku, size_t n, const char *const *facs,
                     const int64_t *cand)
{
    memset(o, 0, sizeof(*o));
    for (size_t i = 0; i < n; i++) {
        o->f[i].facility = facs[i];
        o->f[i].cand_seq = cand ? cand[2 * i] : -1;
        o->f[i].cand_base = cand ? cand[2 * i + 1] : -1;
    }
    o->it.sku = sku;
    o->it.fac = o->f;
    o->it.nfac = n;
}

/* Every state x (stock_seq <=, >) the snapshot sequence: + open at or below, - inflight
 * and done above, nothing otherwise. */
static void test_adj_formula(void **state)
{
    dh_redis_t *r = conn();
    char st[160], buf[128];
    const char *f1[] = {"F1"};
    const dh_sl_line_t open[] = {{"F1", "K", "s1#0", 9, 1},   {"F1", "K", "s2#0", 10, 2},
                                 {"F1", "K", "s3#0", 11, 4},  {"F1", "K", "s4#0", 10, 8},
                                 {"F1", "K", "s5#0", 11, 16}, {"F1", "K", "s6#0", 10, 32},
                                 {"F1", "K", "s7#0", 12, 64}};
    int busy = 1;
    one_t o;
    (void)state;

    store_name("adj", st, sizeof(st));
    assert_int_equal(dh_sl_dispatch_open(r, st, open, 7), DH_OK);
    assert_int_equal(dh_sl_dispatch_begin(r, st, open + 3, 4, &busy), DH_OK);
    assert_int_equal(busy, 0);
    assert_int_equal(dh_sl_dispatch_finish(r, st, open + 5, 2, 1), DH_OK);
    entry(r, st, "F1|K", "s4#0", buf, sizeof(buf));
    assert_string_equal(buf, "10 8 inflight");
    entry(r, st, "F1|K", "s7#0", buf, sizeof(buf));
    assert_string_equal(buf, "12 64 done");
    assert_int_equal(dh_redis_commandf(r, NULL, "HSET dh:inv:seq:%s F1|K %s", st, "10 100 90"),
                     DH_OK);

    /* At the record (s = 10): +1 +2 (open <= 10), -16 -64 (inflight/done > 10). */
    one_init(&o, "K", 1, f1, NULL);
    assert_int_equal(dh_sl_fence_take(r, st, "A", 10000, &o.it, 1), DH_OK);
    assert_int_equal(o.it.busy, 0);
    assert_int_equal(o.f[0].rec_seq, 10);
    assert_int_equal(o.f[0].rec_base, 100);
    assert_int_equal(o.f[0].rec_pushed, 90);
    assert_int_equal(o.f[0].seq, 10);
    assert_int_equal(o.f[0].adj, 3 - 80);
    assert_int_equal(dh_sl_item_on_hand(&o.it), 23);
    /* A candidate at 11: +1 +2 +4, -64. */
    one_init(&o, "K", 1, f1, (const int64_t[]){11, 50});
    assert_int_equal(dh_sl_fence_take(r, st, "A", 10000, &o.it, 1), DH_OK);
    assert_int_equal(o.f[0].seq, 11);
    assert_int_equal(o.f[0].base, 50);
    assert_int_equal(o.f[0].adj, 7 - 64);
    assert_int_equal(dh_sl_item_on_hand(&o.it), 0); /* never negative */
    /* A stale candidate (5 < 10) is not used: the record is. */
    one_init(&o, "K", 1, f1, (const int64_t[]){5, 1000});
    assert_int_equal(dh_sl_fence_take(r, st, "A", 10000, &o.it, 1), DH_OK);
    assert_int_equal(o.f[0].seq, 10);
    assert_int_equal(o.f[0].base, 100);
    /* A candidate at 12 with nothing left above it: +all open. */
    one_init(&o, "K", 1, f1, (const int64_t[]){12, 5});
    assert_int_equal(dh_sl_fence_take(r, st, "A", 10000, &o.it, 1), DH_OK);
    assert_int_equal(o.f[0].adj, 7);
    assert_int_equal(dh_sl_item_on_hand(&o.it), 12);
    o.it.applied = 0;
    assert_int_equal(dh_sl_commit(r, st, "A", &o.it, 1), DH_OK);
    del_keys(r, st);
    dh_redis_destroy(r);
}

/* Several facilities of one location are summed; one without a record or candidate
 * contributes 0; old two-field records read as base = pushed. */
static void test_facilities_summed(void **state)
{
    dh_redis_t *r = conn();
    char st[160];
    const char *facs[] = {"F1", "F2", "F3"};
    const dh_sl_line_t l = {"F2", "K", "s1#0", 4, 3};
    one_t o;
    (void)state;

    store_name("sum", st, sizeof(st));
    assert_int_equal(dh_redis_commandf(r, NULL, "HSET dh:inv:seq:%s F1|K %s", st, "7 40"), DH_OK);
    assert_int_equal(dh_sl_dispatch_open(r, st, &l, 1), DH_OK);
    one_init(&o, "K", 3, facs, (const int64_t[]){-1, -1, 5, 10, -1, -1});
    assert_int_equal(dh_sl_fence_take(r, st, "A", 10000, &o.it, 1), DH_OK);
    assert_int_equal(o.f[0].rec_base, 40);
    assert_int_equal(o.f[0].rec_pushed, 40);
    assert_int_equal(o.f[1].adj, 3);
    assert_int_equal(o.f[2].seq, -1);
    assert_int_equal(dh_sl_item_on_hand(&o.it), 40 + 10 + 3);
    o.it.applied = 1;
    o.it.pushed = 53;
    assert_int_equal(dh_sl_commit(r, st, "A", &o.it, 1), DH_OK);
    one_init(&o, "K", 3, facs, NULL);
    assert_int_equal(dh_sl_fence_take(r, st, "B", 10000, &o.it, 1), DH_OK);
    assert_int_equal(o.it.busy, 0); /* A released all three */
    assert_int_equal(o.f[0].rec_seq, 7);
    assert_int_equal(o.f[0].rec_pushed, 53);
    assert_int_equal(o.f[1].rec_seq, 5);
    assert_int_equal(o.f[1].rec_base, 10);
    assert_int_equal(o.f[2].rec_seq, -1);
    assert_int_equal(exists(r, "fence", st, "F3|K"), 1);
    assert_int_equal(dh_sl_commit(r, st, "B", &o.it, 1), DH_OK);
    del_keys(r, st);
    dh_redis_destroy(r);
}

/* While a fence is held, begin is busy and changes nothing, and a second taker of any of
 * its facilities gets none of its own item's fences; the owner may take again. */
static void test_fence_exclusion(void **state)
{
    dh_redis_t *r = conn();
    char st[160], buf[128];
    const char *f12[] = {"F1", "F2"}, *f31[] = {"F3", "F1"};
    const dh_sl_line_t l = {"F2", "K", "s1#0", 4, 3};
    int busy = 0;
    one_t a, b;
    (void)state;

    store_name("fence", st, sizeof(st));
    assert_int_equal(dh_sl_dispatch_open(r, st, &l, 1), DH_OK);
    one_init(&a, "K", 2, f12, NULL);
    assert_int_equal(dh_sl_fence_take(r, st, "A", 10000, &a.it, 1), DH_OK);
    assert_int_equal(a.it.busy, 0);
    assert_int_equal(dh_sl_dispatch_begin(r, st, &l, 1, &busy), DH_OK);
    assert_int_equal(busy, 1);
    entry(r, st, "F2|K", "s1#0", buf, sizeof(buf));
    assert_string_equal(buf, "4 3 open");
    one_init(&b, "K", 2, f31, NULL);
    assert_int_equal(dh_sl_fence_take(r, st, "B", 10000, &b.it, 1), DH_OK);
    assert_int_equal(b.it.busy, 1);
    assert_int_equal(exists(r, "fence", st, "F3|K"), 0);
    /* B's release of a busy item touches nothing of A's. */
    assert_int_equal(dh_sl_commit(r, st, "B", &b.it, 1), DH_OK);
    b.it.busy = 0;
    assert_int_equal(dh_sl_commit(r, st, "B", &b.it, 1), DH_OK); /* not its fences */
    assert_int_equal(exists(r, "fence", st, "F1|K"), 1);
    one_init(&a, "K", 2, f12, NULL);
    assert_int_equal(dh_sl_fence_take(r, st, "A", 10000, &a.it, 1), DH_OK);
    assert_int_equal(a.it.busy, 0); /* re-entrant */
    assert_int_equal(dh_sl_commit(r, st, "A", &a.it, 1), DH_OK);
    assert_int_equal(dh_sl_dispatch_begin(r, st, &l, 1, &busy), DH_OK);
    assert_int_equal(busy, 0);
    entry(r, st, "F2|K", "s1#0", buf, sizeof(buf));
    assert_string_equal(buf, "4 3 inflight");
    one_init(&b, "K", 2, f31, NULL);
    assert_int_equal(dh_sl_fence_take(r, st, "B", 10000, &b.it, 1), DH_OK);
    assert_int_equal(b.it.busy, 0);
    assert_int_equal(dh_sl_commit(r, st, "B", &b.it, 1), DH_OK);
    del_keys(r, st);
    dh_redis_destroy(r);
}

/* A crashed owner's fence expires with its lease; its late release frees nothing. */
static void test_fence_lease(void **state)
{
    dh_redis_t *r = conn();
    char st[160];
    const char *f1[] = {"F1"};
    int busy = 1;
    one_t a, b;
    (void)state;

    store_name("lease", st, sizeof(st));
    one_init(&a, "K", 1, f1, NULL);
    assert_int_equal(dh_sl_fence_take(r, st, "crashed", 50, &a.it, 1), DH_OK);
    assert_int_equal(a.it.busy, 0);
    for (int i = 0; i < 200 && busy; i++) {
        one_init(&b, "K", 1, f1, NULL);
        assert_int_equal(dh_sl_fence_take(r, st, "B", 10000, &b.it, 1), DH_OK);
        busy = b.it.busy;
        if (busy) {
            sleep_ms(20);
        }
    }
    assert_int_equal(busy, 0);
    assert_int_equal(dh_sl_commit(r, st, "crashed", &a.it, 1), DH_OK);
    assert_int_equal(exists(r, "fence", st, "F1|K"), 1);
    assert_int_equal(dh_sl_commit(r, st, "B", &b.it, 1), DH_OK);
    assert_int_equal(exists(r, "fence", st, "F1|K"), 0);
    del_keys(r, st);
    dh_redis_destroy(r);
}

/* open never moves inflight/done back; finish(0) makes inflight open, never done; lines
 * without a stock sequence make no entry. */
static void test_idempotent_states(void **state)
{
    dh_redis_t *r = conn();
    char st[160], buf[128];
    const dh_sl_line_t l = {"F1", "K", "s1#0", 4, 3};
    const dh_sl_line_t none = {"F1", "K", "s2#0", -1, 3};
    int busy = 1;
    (void)state;

    store_name("idem", st, sizeof(st));
    assert_int_equal(dh_sl_dispatch_open(r, st, &l, 1), DH_OK);
    assert_int_equal(dh_sl_dispatch_open(r, st, &l, 1), DH_OK);
    entry(r, st, "F1|K", "s1#0", buf, sizeof(buf));
    assert_string_equal(buf, "4 3 open");
    assert_int_equal(dh_sl_dispatch_begin(r, st, &l, 1, &busy), DH_OK);
    assert_int_equal(dh_sl_dispatch_open(r, st, &l, 1), DH_OK);
    entry(r, st, "F1|K", "s1#0", buf, sizeof(buf));
    assert_string_equal(buf, "4 3 inflight");
    assert_int_equal(dh_sl_dispatch_finish(r, st, &l, 1, 0), DH_OK);
    entry(r, st, "F1|K", "s1#0", buf, sizeof(buf));
    assert_string_equal(buf, "4 3 open");
    assert_int_equal(dh_sl_dispatch_begin(r, st, &l, 1, &busy), DH_OK);
    assert_int_equal(dh_sl_dispatch_finish(r, st, &l, 1, 1), DH_OK);
    assert_int_equal(dh_sl_dispatch_open(r, st, &l, 1), DH_OK);
    assert_int_equal(dh_sl_dispatch_begin(r, st, &l, 1, &busy), DH_OK);
    assert_int_equal(dh_sl_dispatch_finish(r, st, &l, 1, 0), DH_OK);
    entry(r, st, "F1|K", "s1#0", buf, sizeof(buf));
    assert_string_equal(buf, "4 3 done");
    assert_int_equal(dh_sl_dispatch_open(r, st, &none, 1), DH_OK);
    assert_int_equal(dh_sl_dispatch_begin(r, st, &none, 1, &busy), DH_OK);
    assert_int_equal(dh_sl_dispatch_finish(r, st, &none, 1, 1), DH_OK);
    entry(r, st, "F1|K", "s2#0", buf, sizeof(buf));
    assert_string_equal(buf, "");
    del_keys(r, st);
    dh_redis_destroy(r);
}

/* A commit records keep-max and prunes done entries at or below the recorded sequence;
 * a pruned line is never re-created by a redelivered event. */
static void test_commit_prunes(void **state)
{
    dh_redis_t *r = conn();
    char st[160], buf[128];
    const char *f1[] = {"F1"};
    const dh_sl_line_t l[] = {
        {"F1", "K", "s1#0", 5, 3}, {"F1", "K", "s2#0", 6, 2}, {"F1", "K", "s3#0", 4, 1}};
    int busy = 1;
    one_t o;
    (void)state;

    store_name("prune", st, sizeof(st));
    assert_int_equal(dh_sl_dispatch_open(r, st, l, 3), DH_OK);
    assert_int_equal(dh_sl_dispatch_begin(r, st, l, 2, &busy), DH_OK);
    assert_int_equal(dh_sl_dispatch_finish(r, st, l, 2, 1), DH_OK);
    one_init(&o, "K", 1, f1, (const int64_t[]){5, 20});
    assert_int_equal(dh_sl_fence_take(r, st, "A", 10000, &o.it, 1), DH_OK);
    assert_int_equal(o.f[0].adj, 1 - 2);
    o.it.applied = 1;
    o.it.pushed = 19;
    assert_int_equal(dh_sl_commit(r, st, "A", &o.it, 1), DH_OK);
    entry(r, st, "F1|K", "s1#0", buf, sizeof(buf));
    assert_string_equal(buf, ""); /* done, 5 <= 5: pruned */
    entry(r, st, "F1|K", "s2#0", buf, sizeof(buf));
    assert_string_equal(buf, "6 2 done");
    entry(r, st, "F1|K", "s3#0", buf, sizeof(buf));
    assert_string_equal(buf, "4 1 open");
    assert_int_equal(dh_sl_dispatch_open(r, st, l, 1), DH_OK);
    assert_int_equal(dh_sl_dispatch_finish(r, st, l, 1, 0), DH_OK);
    entry(r, st, "F1|K", "s1#0", buf, sizeof(buf));
    assert_string_equal(buf, "");
    /* A lower sequence applied later (lease expired meanwhile) does not lower the record. */
    one_init(&o, "K", 1, f1, NULL);
    assert_int_equal(dh_sl_fence_take(r, st, "A", 10000, &o.it, 1), DH_OK);
    o.f[0].seq = 3;
    o.f[0].base = 99;
    o.it.applied = 1;
    o.it.pushed = 99;
    assert_int_equal(dh_sl_commit(r, st, "A", &o.it, 1), DH_OK);
    one_init(&o, "K", 1, f1, NULL);
    assert_int_equal(dh_sl_fence_take(r, st, "A", 10000, &o.it, 1), DH_OK);
    assert_int_equal(o.f[0].rec_seq, 5);
    assert_int_equal(o.f[0].rec_base, 20);
    assert_int_equal(o.f[0].rec_pushed, 19);
    o.it.applied = 0;
    assert_int_equal(dh_sl_commit(r, st, "A", &o.it, 1), DH_OK);
    del_keys(r, st);
    dh_redis_destroy(r);
}

static size_t claim(dh_redis_t *r, const char *st, long long lease, dh_sl_repush_t *c)
{
    size_t n = 99;

    assert_int_equal(dh_sl_repush_claim(r, st, lease, c, 8, &n), DH_OK);
    return n;
}

/* Claims re-score to now + lease; a crashed claimer's members come back; done removes
 * only the current claim; an enqueue during a claim makes it due again. */
static void test_repush_queue(void **state)
{
    dh_redis_t *r = conn();
    char st[160];
    const dh_sl_line_t l[] = {{"F1", "K|x", "s1#0", 5, 3}, {"F2", "K2", "s2#0", -1, 2}};
    dh_sl_repush_t c[8], c2[8];
    size_t n = 0;
    (void)state;

    store_name("repush", st, sizeof(st));
    assert_int_equal(claim(r, st, 1000, c), 0);
    assert_int_equal(dh_sl_dispatch_open(r, st, l, 1), DH_OK);
    assert_int_equal(dh_sl_dispatch_finish(r, st, l + 1, 1, 1), DH_OK);
    assert_int_equal(claim(r, st, 1000, c), 2);
    assert_string_equal(c[0].facility, "F1");
    assert_string_equal(c[0].sku, "K|x");
    assert_string_equal(c[1].facility, "F2");
    assert_string_equal(c[1].sku, "K2");
    assert_int_equal(claim(r, st, 100, c2), 0); /* claimed */
    for (int i = 0; i < 200 && n == 0; i++) {
        sleep_ms(20);
        n = claim(r, st, 10000, c2);
    }
    assert_int_equal(n, 2); /* the lease passed: back */
    assert_true(c2[0].claim > c[0].claim);
    assert_int_equal(dh_sl_repush_done(r, st, &c[0]), DH_OK); /* stale claim: stays */
    assert_int_equal(dh_sl_repush_add(r, st, "F2", "K2"), DH_OK);
    assert_int_equal(dh_sl_repush_done(r, st, &c2[1]), DH_OK); /* re-enqueued: stays */
    assert_int_equal(claim(r, st, 10000, c), 1);
    assert_string_equal(c[0].sku, "K2");
    assert_int_equal(dh_sl_repush_done(r, st, &c[0]), DH_OK);
    assert_int_equal(dh_sl_repush_later(r, st, &c2[0], 0), DH_OK);
    assert_int_equal(claim(r, st, 10000, c), 1);
    assert_string_equal(c[0].sku, "K|x");
    assert_int_equal(dh_sl_repush_done(r, st, &c[0]), DH_OK);
    assert_int_equal(exists(r, "repush", st, NULL), 0);
    del_keys(r, st);
    dh_redis_destroy(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_adj_formula),       cmocka_unit_test(test_facilities_summed),
        cmocka_unit_test(test_fence_exclusion),   cmocka_unit_test(test_fence_lease),
        cmocka_unit_test(test_idempotent_states), cmocka_unit_test(test_commit_prunes),
        cmocka_unit_test(test_repush_queue),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
