/*
 * dh_ratelimit against a real redis-server (DH_TEST_REDIS_URL, default
 * redis://127.0.0.1:36379): bucket arithmetic, refill, settle refunds and re-sync,
 * pool-wide cooldown, the plain token bucket, and atomicity under concurrent callers
 * (never more granted than capacity + rate * elapsed).
 * No speed is assumed: a wait's lower bound allows for the refill during the time the
 * test measured (in Redis time) since the bucket's state was set, and the concurrent test runs
 * until a goal is reached (bounded). How close callers get to the bound is a speed figure:
 * bench/runtime/ratelimit.c measures it.
 */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dockhand/ratelimit.h"
#include "dockhand/redis.h"
#include "harness.h"

/* cmocka.h needs these three first; keep clang-format from sorting it above them. */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
/* clang-format on */

static char g_url[256];
static int g_seq;
static dh_redis_t *g_clock; /* read by redis_ms() */

static dh_redis_t *conn(void)
{
    dh_redis_opts_t o = {.url = g_url, .password = NULL, .timeout_ms = 2000};
    char err[256];
    dh_redis_t *r = dh_redis_new(&o, err, sizeof(err));
    if (r == NULL) {
        fail_msg("dh_redis_new(%s): %s", g_url, err);
    }
    return r;
}

static int setup(void **state)
{
    dh_redis_t *r;
    dh_err_t err;
    (void)state;

    snprintf(g_url, sizeof(g_url), "%s", th_redis_url());
    r = conn();
    err = dh_redis_connect(r);
    if (err != DH_OK) {
        fprintf(stderr, "no Redis at %s: %s\n", g_url, dh_redis_errstr(r));
        dh_redis_destroy(r);
        return -1;
    }
    g_clock = r;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    dh_redis_destroy(g_clock);
    return 0;
}

/* A store name no other test or run uses. */
static void fresh_store(char *out, size_t size)
{
    snprintf(out, size, "test-%ld-%ld-%d.myshopify.com", (long)getpid(), (long)time(NULL), ++g_seq);
}

static void sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

/* Redis's own clock, in ms: the buckets refill by TIME inside their scripts, so elapsed time
 * is measured on the same clock. The machine's monotonic clock may drift from the wall
 * clock Redis reads (seen on a CI virtual machine: a bucket refilled faster than monotonic
 * time said); deadlines that only bound a loop stay on now_ms(). */
static double redis_ms(void)
{
    redisReply *reply = NULL;
    double ms;

    assert_int_equal(dh_redis_commandf(g_clock, &reply, "TIME"), DH_OK);
    assert_true(reply->type == REDIS_REPLY_ARRAY && reply->elements == 2);
    ms = strtod(reply->element[0]->str, NULL) * 1000.0 +
         strtod(reply->element[1]->str, NULL) / 1000.0;
    freeReplyObject(reply);
    return ms;
}

/* Lower bound of a wait of \p full_ms when the bucket may have refilled since \p since_ms
 * (Redis time taken before the bucket's state was set), with 1 ms rounding. */
static uint64_t at_least(double full_ms, double since_ms)
{
    double lo = full_ms - (redis_ms() - since_ms) - 1;

    return lo > 0 ? (uint64_t)lo : 0;
}

static int64_t acquire(dh_redis_t *r, const char *store, const dh_bucket_spec_t *spec, double cost)
{
    int64_t wait = -1;
    assert_int_equal(dh_ratelimit_shopify_acquire(r, store, spec, cost, &wait), DH_OK);
    return wait;
}

static void test_fresh_bucket_then_wait(void **state)
{
    dh_redis_t *r = conn();
    dh_bucket_spec_t spec = {.capacity = 100, .restore_rate = 10};
    char store[128];
    int64_t wait;
    (void)state;

    fresh_store(store, sizeof(store));
    double t0 = redis_ms();
    assert_int_equal(acquire(r, store, &spec, 60), 0);
    assert_int_equal(acquire(r, store, &spec, 40), 0);
    /* Empty: 10 points at 10/s take a second, minus what refilled meanwhile. */
    wait = acquire(r, store, &spec, 10);
    assert_in_range(wait, at_least(1000, t0), 1000);
    /* A denied acquire charges nothing: asking again gives the same wait, less the time
     * that passed (a charge would have doubled it). */
    int64_t again = acquire(r, store, &spec, 10);
    assert_in_range(again, at_least(1000, t0), (uint64_t)wait);
    assert_int_equal(dh_ratelimit_shopify_acquire(r, store, &spec, 101, &wait), DH_ERR_INVALID);
    dh_redis_destroy(r);
}

/* peek says what acquire would, charges nothing, and honours a cooldown. */
static void test_peek_charges_nothing(void **state)
{
    dh_redis_t *r = conn();
    dh_bucket_spec_t spec = {.capacity = 100, .restore_rate = 10};
    char store[128];
    int64_t wait = -1;
    (void)state;

    fresh_store(store, sizeof(store));
    double t0 = redis_ms();
    for (int i = 0; i < 3; i++) {
        assert_int_equal(dh_ratelimit_shopify_peek(r, store, &spec, 100, &wait), DH_OK);
        assert_int_equal(wait, 0);
    }
    assert_int_equal(acquire(r, store, &spec, 100), 0); /* all 100 still there */
    assert_int_equal(dh_ratelimit_shopify_peek(r, store, &spec, 10, &wait), DH_OK);
    assert_in_range(wait, at_least(1000, t0), 1000);
    assert_int_equal(dh_ratelimit_shopify_cooldown(r, store, 5000), DH_OK);
    assert_int_equal(dh_ratelimit_shopify_peek(r, store, &spec, 1, &wait), DH_OK);
    assert_in_range(wait, 4000, 5000);
    assert_int_equal(dh_ratelimit_shopify_peek(r, store, &spec, 101, &wait), DH_ERR_INVALID);
    dh_redis_destroy(r);
}

static void test_refill(void **state)
{
    dh_redis_t *r = conn();
    dh_bucket_spec_t spec = {.capacity = 100, .restore_rate = 100};
    char store[128];
    int64_t wait, got;
    double t0, told;
    (void)state;

    fresh_store(store, sizeof(store));
    t0 = redis_ms();
    assert_int_equal(acquire(r, store, &spec, 100), 0);
    wait = acquire(r, store, &spec, 50);
    told = now_ms();
    assert_in_range(wait, at_least(500, t0), 500);
    /* Granted once the refill covers it: not before the wait it was told (less the time
     * the answer took), and within a bounded time after. */
    while ((got = acquire(r, store, &spec, 50)) > 0 && now_ms() - told < 10000) {
        sleep_ms(got < 10 ? got : 10);
    }
    assert_int_equal(got, 0);
    assert_true(redis_ms() - t0 >= (double)wait);
    dh_redis_destroy(r);
}

static void test_settle_refunds(void **state)
{
    dh_redis_t *r = conn();
    dh_bucket_spec_t spec = {.capacity = 100, .restore_rate = 1};
    char store[128];
    int64_t wait;
    (void)state;

    fresh_store(store, sizeof(store));
    double t0 = redis_ms();
    assert_int_equal(acquire(r, store, &spec, 80), 0); /* level 20 */
    /* The call cost 10 of the 80 requested: 70 come back. */
    assert_int_equal(dh_ratelimit_shopify_settle(r, store, &spec, 80, 10, -1), DH_OK);
    assert_int_equal(acquire(r, store, &spec, 90), 0); /* level ~0 */
    wait = acquire(r, store, &spec, 5);
    assert_in_range(wait, at_least(5000, t0), 5000);

    /* THROTTLED (actual unknown): the whole request is refunded, up to capacity. */
    fresh_store(store, sizeof(store));
    assert_int_equal(acquire(r, store, &spec, 80), 0);
    assert_int_equal(dh_ratelimit_shopify_settle(r, store, &spec, 80, -1, -1), DH_OK);
    assert_int_equal(acquire(r, store, &spec, 100), 0);
    assert_true(acquire(r, store, &spec, 1) > 0);
    dh_redis_destroy(r);
}

static void test_resync_lowers_only(void **state)
{
    dh_redis_t *r = conn();
    dh_bucket_spec_t spec = {.capacity = 100, .restore_rate = 1};
    char store[128];
    (void)state;

    fresh_store(store, sizeof(store));
    double t0 = redis_ms();
    /* Shopify says 30 left (another app shares the bucket): ours drops to 30. */
    assert_int_equal(dh_ratelimit_shopify_settle(r, store, &spec, 0, 0, 30), DH_OK);
    int64_t wait = -1;

    /* Peeked, not acquired: a refused acquire would reserve its 31 points (see
     * test_large_request_not_starved) and hold the 30 below back. */
    assert_int_equal(dh_ratelimit_shopify_peek(r, store, &spec, 31, &wait), DH_OK);
    assert_in_range(wait, at_least(1000, t0), 1000);
    assert_int_equal(acquire(r, store, &spec, 30), 0);
    /* A higher report never raises ours: its moment predates our later charges. */
    assert_int_equal(dh_ratelimit_shopify_settle(r, store, &spec, 0, 0, 100), DH_OK);
    assert_true(acquire(r, store, &spec, 5) > 0);
    dh_redis_destroy(r);
}

static void test_cooldown_blocks_everyone(void **state)
{
    dh_redis_t *a = conn();
    dh_redis_t *b = conn();
    dh_bucket_spec_t spec = {.capacity = 2000, .restore_rate = 100};
    char store[128];
    (void)state;

    fresh_store(store, sizeof(store));
    double t0 = redis_ms();
    assert_int_equal(dh_ratelimit_shopify_cooldown(a, store, 300), DH_OK);
    int64_t wa = acquire(a, store, &spec, 1), wb = acquire(b, store, &spec, 1);
    assert_in_range(wa, at_least(300, t0), 300);
    assert_in_range(wb, at_least(300, t0), 300);
    /* A shorter cooldown does not cut a running one short (unless it is over anyway). */
    assert_int_equal(dh_ratelimit_shopify_cooldown(b, store, 50), DH_OK);
    wb = acquire(b, store, &spec, 1);
    assert_in_range(wb, at_least(300, t0), 300);
    sleep_ms(320); /* the cooldown's length, not a wait for work */
    assert_int_equal(acquire(a, store, &spec, 1), 0);
    assert_int_equal(acquire(b, store, &spec, 1), 0);
    dh_redis_destroy(a);
    dh_redis_destroy(b);
}

static void test_token_bucket(void **state)
{
    dh_redis_t *r = conn();
    char name[128];
    int64_t wait = -1;
    (void)state;

    fresh_store(name, sizeof(name));
    double t0 = redis_ms();
    for (int i = 0; i < 5; i++) {
        assert_int_equal(dh_ratelimit_take(r, name, 10, 5, 1, &wait), DH_OK);
        assert_int_equal(wait, 0);
    }
    assert_int_equal(dh_ratelimit_take(r, name, 10, 5, 1, &wait), DH_OK);
    assert_in_range(wait, at_least(100, t0), 100); /* 1 token at 10/s */
    assert_int_equal(dh_ratelimit_take(r, name, 0, 5, 1, &wait), DH_ERR_INVALID);
    assert_int_equal(dh_ratelimit_take(r, "", 10, 5, 1, &wait), DH_ERR_INVALID);
    dh_redis_destroy(r);
}

static void test_keys_expire(void **state)
{
    dh_redis_t *r = conn();
    dh_bucket_spec_t spec = {.capacity = 2000, .restore_rate = 100};
    char store[128];
    redisReply *reply = NULL;
    (void)state;

    fresh_store(store, sizeof(store));
    assert_int_equal(acquire(r, store, &spec, 10), 0);
    assert_int_equal(dh_redis_commandf(r, &reply, "PTTL dh:rl:shopify:%s", store), DH_OK);
    /* 2000/100 s to refill, doubled, plus a minute: 100 s. */
    assert_in_range(reply->integer, 90000, 100000);
    freeReplyObject(reply);
    dh_redis_destroy(r);
}

/* ---- concurrency: the atomicity proof ------------------------------------------------ */

typedef struct hammer {
    pthread_barrier_t *start;
    const char *store;
    double granted;
    int failed;
} hammer_t;

static const dh_bucket_spec_t HAMMER_SPEC = {.capacity = 200, .restore_rate = 1000};
/* The callers stop once this much was granted in all (the full bucket plus about half a
 * second of refill), or at the deadline: a goal, not a speed. */
#define HAMMER_GOAL     700
#define HAMMER_DEADLINE 20000
static atomic_llong g_granted; /* points granted so far, all callers */
static double g_deadline;      /* written before the start barrier, read after it */

static void *hammer_main(void *arg)
{
    hammer_t *h = arg;
    dh_redis_t *r = conn();

    if (dh_redis_connect(r) != DH_OK) {
        h->failed = 1;
    }
    pthread_barrier_wait(h->start);
    while (!h->failed && now_ms() < g_deadline && atomic_load(&g_granted) < HAMMER_GOAL) {
        int64_t wait = 0;
        if (dh_ratelimit_shopify_acquire(r, h->store, &HAMMER_SPEC, 10, &wait) != DH_OK) {
            h->failed = 1;
        } else if (wait == 0) {
            h->granted += 10;
            atomic_fetch_add(&g_granted, 10);
        } else {
            sleep_ms(wait > 1 ? 1 : wait);
        }
    }
    dh_redis_destroy(r);
    return NULL;
}

static void test_concurrent_never_overspends(void **state)
{
    enum { T = 4 };
    pthread_t th[T];
    hammer_t hs[T];
    pthread_barrier_t start;
    char store[128];
    double t0;
    double elapsed_s;
    double total = 0;
    double bound;
    (void)state;

    fresh_store(store, sizeof(store));
    atomic_store(&g_granted, 0);
    pthread_barrier_init(&start, NULL, T + 1);
    for (int i = 0; i < T; i++) {
        memset(&hs[i], 0, sizeof(hs[i]));
        hs[i].start = &start;
        hs[i].store = store;
        assert_int_equal(pthread_create(&th[i], NULL, hammer_main, &hs[i]), 0);
    }
    g_deadline = now_ms() + HAMMER_DEADLINE;
    t0 = redis_ms(); /* the bound is in the buckets' own clock */
    pthread_barrier_wait(&start);
    for (int i = 0; i < T; i++) {
        pthread_join(th[i], NULL);
        assert_false(hs[i].failed);
        total += hs[i].granted;
    }
    elapsed_s = (redis_ms() - t0) / 1000.0;
    pthread_barrier_destroy(&start);
    bound = HAMMER_SPEC.capacity + HAMMER_SPEC.restore_rate * elapsed_s;
    printf("granted %.0f points in %.3f s; bound %.0f (%.1f%%)\n", total, elapsed_s, bound,
           100.0 * total / bound);
    /* Reached, and never more than the bucket allows over the time it took: four callers
     * racing one bucket would overspend here if a check-and-charge were not atomic. */
    assert_true(total >= HAMMER_GOAL);
    assert_true(total <= bound);
}

/* A small caller that takes points whenever the bucket has them, until told to stop. */
typedef struct nibbler {
    const char *store;
    const dh_bucket_spec_t *spec;
    atomic_int stop;
    atomic_long granted, failed;
} nibbler_t;

static void *nibble_main(void *arg)
{
    nibbler_t *nb = arg;
    dh_redis_t *r = conn();

    if (dh_redis_connect(r) != DH_OK) {
        atomic_fetch_add(&nb->failed, 1);
    }
    while (!atomic_load(&nb->stop) && !atomic_load(&nb->failed)) {
        int64_t wait = 0;

        if (dh_ratelimit_shopify_acquire(r, nb->store, nb->spec, 5, &wait) != DH_OK) {
            atomic_fetch_add(&nb->failed, 1);
        } else if (wait == 0) {
            atomic_fetch_add(&nb->granted, 1);
        } else {
            sleep_ms(2);
        }
    }
    dh_redis_destroy(r);
    return NULL;
}

/* A large request among a stream of small ones (an order's query among a warehouse's stock
 * updates, on one store's bucket): the small ones ask for 10× the refill between them and
 * would take every point as it comes back, so without a reservation the large one waited
 * forever. Turned away once, it reserves its cost; it is granted when it comes back after
 * the wait it was told, while the small ones go on. */
static void test_large_request_not_starved(void **state)
{
    dh_redis_t *r = conn();
    dh_bucket_spec_t spec = {.capacity = 100, .restore_rate = 100};
    nibbler_t nb = {.spec = &spec};
    pthread_t th;
    char store[128];
    int64_t wait;
    int tries = 0;
    long small_before;
    (void)state;

    fresh_store(store, sizeof(store));
    nb.store = store;
    assert_int_equal(acquire(r, store, &spec, 100), 0); /* empty */
    assert_int_equal(pthread_create(&th, NULL, nibble_main, &nb), 0);
    while ((wait = acquire(r, store, &spec, 80)) > 0 && tries < 20) {
        tries++;
        sleep_ms(wait);
    }
    small_before = atomic_load(&nb.granted);
    /* The small ones still get points: what refills beyond the reservation. */
    for (double t0 = now_ms(); atomic_load(&nb.granted) == small_before && now_ms() - t0 < 10000;) {
        sleep_ms(5);
    }
    atomic_store(&nb.stop, 1);
    pthread_join(th, NULL);
    printf("large request granted after %d wait(s); small ones granted %ld times before, %ld "
           "after\n",
           tries, small_before, atomic_load(&nb.granted) - small_before);
    assert_int_equal(atomic_load(&nb.failed), 0);
    assert_int_equal(wait, 0);
    assert_in_range(tries, 1, 3); /* the first wait, then at most a retry or two */
    assert_true(atomic_load(&nb.granted) > small_before);
    dh_redis_destroy(r);
}

/* The reservation holds points back from smaller requests only while its request may come
 * back: until it is granted, or its wait plus the grace has passed. */
static void test_reservation_ends(void **state)
{
    dh_redis_t *r = conn();
    dh_bucket_spec_t spec = {.capacity = 100, .restore_rate = 100};
    char store[128];
    int64_t wait;
    double t0;
    (void)state;

    fresh_store(store, sizeof(store));
    t0 = redis_ms();
    assert_int_equal(acquire(r, store, &spec, 100), 0);
    wait = acquire(r, store, &spec, 80); /* reserves 80 until t0 + wait + grace */
    assert_in_range(wait, at_least(800, t0), 800);
    while (redis_ms() < t0 + 1100) { /* full again */
        sleep_ms(20);
    }
    /* 100 points, 80 of them reserved: a request of 60 must wait (it would be granted
     * without the reservation); peek says the same and changes nothing. */
    assert_int_equal(dh_ratelimit_shopify_peek(r, store, &spec, 60, &wait), DH_OK);
    assert_true(wait > 0);
    assert_true(acquire(r, store, &spec, 60) > 0);
    /* Past the wait plus the grace (5 s) the large request has not come back: the points
     * are everybody's again. */
    while (redis_ms() < t0 + 800 + 5000 + 200) {
        sleep_ms(50);
    }
    assert_int_equal(acquire(r, store, &spec, 60), 0);
    /* A granted request of the reserved size ends a reservation at once. */
    assert_true(acquire(r, store, &spec, 80) > 0); /* 40 left: reserves 80 */
    while (acquire(r, store, &spec, 80) > 0) {
        sleep_ms(20);
    }
    assert_int_equal(dh_ratelimit_shopify_peek(r, store, &spec, 1, &wait), DH_OK);
    assert_in_range(wait, 0, 11); /* no reservation left: 1 point is all it needs */
    dh_redis_destroy(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fresh_bucket_then_wait),
        cmocka_unit_test(test_peek_charges_nothing),
        cmocka_unit_test(test_refill),
        cmocka_unit_test(test_settle_refunds),
        cmocka_unit_test(test_resync_lowers_only),
        cmocka_unit_test(test_cooldown_blocks_everyone),
        cmocka_unit_test(test_token_bucket),
        cmocka_unit_test(test_keys_expire),
        cmocka_unit_test(test_concurrent_never_overspends),
        cmocka_unit_test(test_large_request_not_starved),
        cmocka_unit_test(test_reservation_ends),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
