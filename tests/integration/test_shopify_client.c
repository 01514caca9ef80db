/*
 * dh_shopify against dh-sandbox and the stack's Redis: two lanes sharing one small
 * bucket never get THROTTLED yet use most of the restore rate; a THROTTLED answer starts
 * a cooldown that other clients honour; bad credentials are DH_ERR_AUTH; the
 * client-credentials grant works. Store domains are unique per run, so the Redis bucket
 * keys (dh:rl:shopify:<domain>) never collide with other runs on the shared Redis.
 */
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dockhand/http.h"
#include "dockhand/redis.h"
#include "dockhand/shopify.h"
#include "dockhand/stores.h"
#include "harness.h"

/* cmocka.h needs these three first; keep clang-format from sorting it above them. */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
/* clang-format on */

#define BUCKET   100.0
#define RESTORE  50.0
#define RUN_MS   3000
#define NTHREADS 2

typedef struct fixture {
    th_sandbox_t sb;
    char shop[128];  /**< Small bucket: the utilisation and throttling tests. */
    char shop2[128]; /**< Credentials tests (its own sandbox bucket). */
    dh_stores_t *stores;
} fixture_t;

static fixture_t fx;

static dh_http_t *new_http(void)
{
    dh_http_opts_t o = {2000, 10000, 1 << 20};
    char err[256];
    dh_http_t *h = dh_http_new(&o, err, sizeof(err));

    assert_non_null(h);
    return h;
}

static dh_redis_t *new_redis(void)
{
    dh_redis_opts_t o = {th_redis_url(), NULL, 2000};
    char err[256];
    dh_redis_t *r = dh_redis_new(&o, err, sizeof(err));

    assert_non_null(r);
    return r;
}

/* The test's stores file: the small-bucket store, then shop2 three ways. */
static void load_stores(void)
{
    char text[4096], err[1024];

    snprintf(
        text, sizeof(text),
        "{\"stores\": ["
        "{\"domain\": \"%s\", \"admin_url\": \"%s/shops/%s\", \"access_token\": \"tok-1\","
        " \"bucket_size\": %g, \"restore_rate\": %g},"
        "{\"domain\": \"cc-%s\", \"admin_url\": \"%s/shops/%s\", \"client_id\": \"cid\","
        " \"client_secret\": \"csec&=\"},"
        "{\"domain\": \"bad-%s\", \"admin_url\": \"%s/shops/%s\", \"access_token\": \"wrong\"},"
        "{\"domain\": \"badcc-%s\", \"admin_url\": \"%s/shops/%s\", \"client_id\": \"cid\","
        " \"client_secret\": \"nope\"}"
        "]}",
        fx.shop, fx.sb.base, fx.shop, BUCKET, RESTORE, fx.shop2, fx.sb.base, fx.shop2, fx.shop2,
        fx.sb.base, fx.shop2, fx.shop2, fx.sb.base, fx.shop2);
    if (dh_stores_parse(text, strlen(text), &fx.stores, err, sizeof(err)) != DH_OK) {
        fail_msg("stores: %s", err);
    }
}

static int setup(void **state)
{
    char seed[4096], u[64];

    (void)state;
    th_unique("shop", u, sizeof(u));
    snprintf(fx.shop, sizeof(fx.shop), "%s.myshopify.com", u);
    snprintf(fx.shop2, sizeof(fx.shop2), "%s-2.myshopify.com", u);
    snprintf(seed, sizeof(seed),
             "{\"stores\": ["
             "{\"domain\": \"%s\", \"access_token\": \"tok-1\", \"bucket_size\": %g,"
             " \"restore_rate\": %g, \"locations\": [{\"id\": 11, \"name\": \"WH1\"},"
             " {\"id\": 12, \"name\": \"WH2\"}],"
             " \"products\": [{\"id\": 100, \"title\": \"Tee\", \"variants\": ["
             "  {\"id\": 200, \"sku\": \"A-1\", \"inventory_item_id\": 300},"
             "  {\"id\": 201, \"sku\": \"A-10\", \"inventory_item_id\": 301}]}]},"
             "{\"domain\": \"%s\", \"access_token\": \"tok-2\", \"client_id\": \"cid\","
             " \"client_secret\": \"csec&=\", \"locations\": [{\"id\": 21, \"name\": \"X\"}],"
             " \"products\": [{\"id\": 110, \"title\": \"X\", \"variants\": ["
             "  {\"id\": 210, \"sku\": \"X-1\", \"inventory_item_id\": 310}]}]}"
             "]}",
             fx.shop, BUCKET, RESTORE, fx.shop2);
    th_sandbox_start(&fx.sb, seed);
    load_stores();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    th_sandbox_stop(&fx.sb);
    dh_stores_destroy(fx.stores);
    return 0;
}

/* Journal entries of group shopify for \p shop: how many, and how many THROTTLED. */
/* The sandbox's journal entries for \p shop (only those of operation \p op when not NULL),
 * and how many of them were THROTTLED. */
static long journal_count_op(const char *shop, const char *op, long *throttled)
{
    char url[512];
    char *text = NULL, *line, *save = NULL;
    long n = 0;

    *throttled = 0;
    snprintf(url, sizeof(url), "%s/_journal?group=shopify&shop=%s", fx.sb.base, shop);
    assert_int_equal(th_http("GET", url, NULL, NULL, &text), 200);
    for (line = strtok_r(text, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
        json_t *j = json_loads(line, 0, NULL);
        const char *jop = json_string_value(json_object_get(j, "op"));

        if (j != NULL && (op == NULL || (jop != NULL && strcmp(jop, op) == 0))) {
            n++;
            *throttled += json_is_true(json_object_get(j, "throttled"));
        }
        json_decref(j);
    }
    free(text);
    return n;
}

static long journal_count(const char *shop, long *throttled)
{
    return journal_count_op(shop, NULL, throttled);
}

/* Client-credentials grants the sandbox answered for \p shop so far. */
static long grants(const char *shop)
{
    long throttled;

    return journal_count_op(shop, "oauth/access_token", &throttled);
}

/* Our bucket's level now (the ratelimit module's {level, ts} hash, refilled). */
static double bucket_level(const char *shop)
{
    redisContext *c = th_redis();
    redisReply *r = redisCommand(c, "HMGET dh:rl:shopify:%s level ts", shop);
    redisReply *t = redisCommand(c, "TIME");
    double level, ts, now;

    assert_non_null(r);
    assert_non_null(t);
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    level = r->element[0]->str != NULL ? atof(r->element[0]->str) : BUCKET;
    ts = r->element[1]->str != NULL ? atof(r->element[1]->str) : 0;
    now = atof(t->element[0]->str) * 1000 + atof(t->element[1]->str) / 1000;
    freeReplyObject(r);
    freeReplyObject(t);
    redisFree(c);
    level += (now - ts) * RESTORE / 1000;
    return level > BUCKET ? BUCKET : level;
}

typedef struct lane {
    const dh_store_t *store;
    int64_t deadline;
    double actual; /**< Sum of actualQueryCost of successful calls. */
    long calls, limited, errors;
    int64_t waited_ms;
    char last_err[512];
} lane_t;

static void *lane_main(void *arg)
{
    lane_t *l = arg;
    dh_http_t *http = new_http();
    dh_redis_t *redis = new_redis();
    dh_shopify_t *s = dh_shopify_new(http, redis, NULL);
    json_t *small = json_pack("{s:s, s:i}", "query", "sku:A-1", "first", 2);
    json_t *skus = json_pack("{s:s, s:i}", "query", "sku:A-1", "first", 10);

    for (long i = 0; th_now_ms() < l->deadline; i++) {
        dh_gql_reply_t r;
        int64_t wait = 0;
        dh_err_t err =
            dh_shopify_graphql(s, l->store, DH_GQL_PRODUCT_VARIANTS_BY_SKU, i % 2 ? small : skus,
                               &r, &wait, l->last_err, sizeof(l->last_err));

        if (err == DH_OK) {
            l->calls++;
            l->actual += r.actual_cost;
            dh_gql_reply_clear(&r);
        } else if (err == DH_ERR_RATE) {
            int64_t left = l->deadline - th_now_ms();
            int64_t ms = wait < left ? wait : left;

            l->limited++;
            i--; /* retry the same document, as a lane would */
            if (ms > 0) {
                th_sleep_ms((int)ms);
                l->waited_ms += ms;
            }
        } else {
            l->errors++;
            th_sleep_ms(50);
        }
    }
    json_decref(small);
    json_decref(skus);
    dh_shopify_destroy(s);
    dh_redis_destroy(redis);
    dh_http_destroy(http);
    return NULL;
}

static void test_two_lanes_share_the_bucket(void **state)
{
    const dh_store_t *store = dh_stores_find(fx.stores, fx.shop);
    lane_t lanes[NTHREADS];
    pthread_t th[NTHREADS];
    double actual = 0;
    long calls = 0, throttled = 0, total;
    int64_t t0 = th_now_ms();

    (void)state;
    for (int i = 0; i < NTHREADS; i++) {
        memset(&lanes[i], 0, sizeof(lanes[i]));
        lanes[i].store = store;
        lanes[i].deadline = t0 + RUN_MS;
        assert_int_equal(pthread_create(&th[i], NULL, lane_main, &lanes[i]), 0);
    }
    for (int i = 0; i < NTHREADS; i++) {
        pthread_join(th[i], NULL);
        if (lanes[i].errors > 0) {
            fail_msg("lane %d: %ld errors, last: %s", i, lanes[i].errors, lanes[i].last_err);
        }
        actual += lanes[i].actual;
        calls += lanes[i].calls;
    }
    double secs = (double)(th_now_ms() - t0) / 1000.0;
    /* Points restored during the run = spent - (full bucket at the start - level now):
     * what the lanes used of the restore rate, not counting the initial burst nor what
     * was left unspent when they stopped. */
    double left = bucket_level(fx.shop);
    double steady = (actual - BUCKET + left) / secs;
    total = journal_count(fx.shop, &throttled);
    fprintf(stderr,
            "utilisation: %ld calls (%ld sent), %.0f points in %.2f s = %.1f/s overall; "
            "restored-and-spent %.1f/s = %.0f%% of the %.0f/s restore rate (%.0f left in the "
            "bucket); %ld THROTTLED; lane waits %lld + %lld ms\n",
            calls, total, actual, secs, actual / secs, steady, 100.0 * steady / RESTORE, RESTORE,
            left, throttled, (long long)lanes[0].waited_ms, (long long)lanes[1].waited_ms);
    assert_int_equal(throttled, 0);
    assert_int_equal(total, calls);
    assert_true(steady >= 0.8 * RESTORE);
}

static void test_throttled_starts_a_shared_cooldown(void **state)
{
    const dh_store_t *store = dh_stores_find(fx.stores, fx.shop);
    dh_http_t *h1 = new_http(), *h2 = new_http();
    dh_redis_t *r1 = new_redis(), *r2 = new_redis();
    dh_shopify_t *c1 = dh_shopify_new(h1, r1, NULL), *c2 = dh_shopify_new(h2, r2, NULL);
    json_t *vars = json_pack("{s:s, s:i}", "query", "sku:A-1", "first", 5);
    char err[512], url[256], key[300];
    dh_gql_reply_t rep;
    int64_t wait = 0;
    long st, before, after, throttled, throttled_before;
    redisContext *rc;
    json_t *j;

    (void)state;
    th_sleep_ms((int)(BUCKET / RESTORE * 1000) + 200); /* bucket full again: no local wait */
    journal_count(fx.shop, &throttled_before);         /* the THROTTLED answers of earlier cases */
    snprintf(url, sizeof(url), "%s/_control/faults", fx.sb.base);
    j = th_http_json("POST", url, "{\"group\":\"shopify\",\"throttle\":true,\"count\":1}", &st);
    json_decref(j);
    assert_true(st >= 200 && st < 300);
    assert_int_equal(dh_shopify_graphql(c1, store, DH_GQL_PRODUCT_VARIANTS_BY_SKU, vars, &rep,
                                        &wait, err, sizeof(err)),
                     DH_ERR_RATE);
    assert_true(wait > 0);
    assert_non_null(strstr(err, "THROTTLED"));
    assert_int_equal(journal_count(fx.shop, &throttled) > 0, 1);
    assert_int_equal(throttled - throttled_before, 1);
    /* The cooldown is in Redis for every replica... */
    snprintf(key, sizeof(key), "dh:rl:shopify:%s:cooldown", fx.shop);
    rc = th_redis();
    assert_true(th_redis_int(rc, "PTTL %s", key) > 0);
    redisFree(rc);
    /* ...so another client waits without sending anything. */
    before = journal_count(fx.shop, &throttled);
    wait = 0;
    assert_int_equal(dh_shopify_graphql(c2, store, DH_GQL_PRODUCT_VARIANTS_BY_SKU, vars, &rep,
                                        &wait, err, sizeof(err)),
                     DH_ERR_RATE);
    assert_true(wait > 0);
    after = journal_count(fx.shop, &throttled);
    assert_int_equal(before, after);
    /* After the cooldown, calls go through again. */
    th_sleep_ms((int)wait + 50);
    assert_int_equal(dh_shopify_graphql(c2, store, DH_GQL_PRODUCT_VARIANTS_BY_SKU, vars, &rep,
                                        &wait, err, sizeof(err)),
                     DH_OK);
    assert_int_equal(
        json_array_size(json_object_get(json_object_get(rep.data, "productVariants"), "nodes")),
        2); /* the query matches like Shopify's */
    assert_true(rep.currently_available >= 0 && rep.actual_cost > 0);
    dh_gql_reply_clear(&rep);
    json_decref(vars);
    dh_shopify_destroy(c1);
    dh_shopify_destroy(c2);
    dh_redis_destroy(r1);
    dh_redis_destroy(r2);
    dh_http_destroy(h1);
    dh_http_destroy(h2);
}

static void call_shop2(const char *prefix, dh_err_t expect, int rounds)
{
    char name[160], err[512];
    const dh_store_t *store;
    dh_http_t *h = new_http();
    dh_redis_t *r = new_redis();
    dh_shopify_t *c = dh_shopify_new(h, r, NULL);
    json_t *vars = json_pack("{s:s, s:i}", "query", "sku:X-1", "first", 5);
    dh_gql_reply_t rep;
    int64_t wait = 0;

    snprintf(name, sizeof(name), "%s%s", prefix, fx.shop2);
    store = dh_stores_find(fx.stores, name);
    assert_non_null(store);
    for (int i = 0; i < rounds; i++) {
        dh_err_t got = dh_shopify_graphql(c, store, DH_GQL_PRODUCT_VARIANTS_BY_SKU, vars, &rep,
                                          &wait, err, sizeof(err));
        if (got != expect) {
            fail_msg("%s: got %s, want %s: %s", name, dh_err_str(got), dh_err_str(expect), err);
        }
        if (got == DH_OK) {
            assert_string_equal(
                json_string_value(json_object_get(
                    json_array_get(
                        json_object_get(json_object_get(rep.data, "productVariants"), "nodes"), 0),
                    "sku")),
                "X-1");
        }
        /* No secret ever reaches the error text. */
        assert_null(strstr(err, "wrong"));
        assert_null(strstr(err, "nope"));
        assert_null(strstr(err, "csec"));
        dh_gql_reply_clear(&rep);
    }
    json_decref(vars);
    dh_shopify_destroy(c);
    dh_redis_destroy(r);
    dh_http_destroy(h);
}

static void test_credentials(void **state)
{
    (void)state;
    call_shop2("bad-", DH_ERR_AUTH, 1);
    call_shop2("badcc-", DH_ERR_AUTH, 1);
    /* The grant is fetched once and reused (form-encoding of "&=" in the secret works). */
    call_shop2("cc-", DH_OK, 3);
}

/* The lanes of a worker share one token cache (the runtime's): a store's grant is fetched
 * by the first lane that needs it and used by the others. */
static void test_lanes_share_a_grant(void **state)
{
    char name[160], err[512];
    dh_http_t *h1 = new_http(), *h2 = new_http();
    dh_redis_t *r1 = new_redis(), *r2 = new_redis();
    dh_shopify_t *c1 = dh_shopify_new(h1, r1, NULL), *c2 = dh_shopify_new(h2, r2, NULL);
    dh_tokens_t *shared = dh_tokens_new();
    json_t *vars = json_pack("{s:s, s:i}", "query", "sku:X-1", "first", 5);
    dh_gql_reply_t rep;
    int64_t wait = 0;

    (void)state;
    dh_shopify_share_tokens(c1, shared);
    dh_shopify_share_tokens(c2, shared);
    snprintf(name, sizeof(name), "cc-%s", fx.shop2);
    const dh_store_t *store = dh_stores_find(fx.stores, name);
    long before = grants(fx.shop2);

    assert_non_null(store);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(dh_shopify_graphql(i % 2 ? c2 : c1, store, DH_GQL_PRODUCT_VARIANTS_BY_SKU,
                                            vars, &rep, &wait, err, sizeof(err)),
                         DH_OK);
        dh_gql_reply_clear(&rep);
    }
    assert_int_equal(grants(fx.shop2) - before, 1);
    assert_int_equal(dh_tokens_count(shared), 1);
    json_decref(vars);
    dh_shopify_destroy(c1);
    dh_shopify_destroy(c2);
    dh_tokens_destroy(shared);
    dh_redis_destroy(r1);
    dh_redis_destroy(r2);
    dh_http_destroy(h1);
    dh_http_destroy(h2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_two_lanes_share_the_bucket),
        cmocka_unit_test(test_throttled_starts_a_shared_cooldown),
        cmocka_unit_test(test_credentials),
        cmocka_unit_test(test_lanes_share_a_grant),
    };
    int rc;

    if (dh_http_global_init() != DH_OK) {
        return 1;
    }
    rc = cmocka_run_group_tests(tests, setup, teardown);
    dh_http_global_cleanup();
    return rc;
}
