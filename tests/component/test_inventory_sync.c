/*
 * dh-inventory's full sync (workers/inventory/sync.c, run from tick()) in the real runtime
 * (th_rt.h) against a scripted WMS and a scripted Shopify (th_far.h): an on-demand sync of
 * one store (dh:inv:sync:request:<store>), its pages, rows and calls counted at both far
 * sides, and the store's progress series. Every case has its own store.
 */
#include <hiredis/hiredis.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "inventory.h"
#include "th_far.h"
#include "th_rt.h"

/* cmocka.h needs these three first; keep clang-format from sorting it above them. */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
/* clang-format on */

#define LOCATION "gid://shopify/Location/11"
#define NSTORES  2
#define WAIT_MS  20000
#define Q_SET    "InventorySetQuantities("

#define APPLIED                                                                                    \
    "{\"data\":{\"inventorySetQuantities\":{\"inventoryAdjustmentGroup\":{\"id\":"                 \
    "\"gid://shopify/InventoryAdjustmentGroup/1\"},\"userErrors\":[]}},"                           \
    "\"extensions\":{\"cost\":{\"actualQueryCost\":10}}}"
/* A valid row, a row without safety_stock and one whose good_online is a string. */
static const char rows_page[] =
    "{\"items\":["
    "{\"sku\":\"TH-SYNC-A\",\"facility\":\"BLR-1\",\"sequence\":7,\"stock\":{"
    "\"good_online\":40,\"allocated\":1,\"safety_stock\":2,\"damaged\":0,"
    "\"quarantined\":0,\"good_offline\":0}},"
    "{\"sku\":\"TH-SYNC-B\",\"facility\":\"BLR-1\",\"sequence\":7,\"stock\":{"
    "\"good_online\":40,\"allocated\":1,\"damaged\":0,"
    "\"quarantined\":0,\"good_offline\":0}},"
    "{\"sku\":\"TH-SYNC-C\",\"facility\":\"BLR-1\",\"sequence\":7,\"stock\":{"
    "\"good_online\":\"40\",\"allocated\":1,\"safety_stock\":2,\"damaged\":0,"
    "\"quarantined\":0,\"good_offline\":0}}"
    "],\"next_cursor\":\"c2\"}";
#define EMPTY "{\"items\":[],\"next_cursor\":null}"

static th_far_fx_t g_fx;
static th_far_t *g_wms;

static void redis_do(const char *fmt, const char *a, const char *b)
{
    redisContext *c = th_rt_hiredis();
    redisReply *r = redisCommand(c, fmt, a, b);

    assert_non_null(r);
    assert_true(r->type != REDIS_REPLY_ERROR);
    freeReplyObject(r);
    redisFree(c);
}

static long long redis_exists(const char *key)
{
    redisContext *c = th_rt_hiredis();
    redisReply *r = redisCommand(c, "EXISTS %s", key);
    long long n;

    assert_non_null(r);
    n = r->integer;
    freeReplyObject(r);
    redisFree(c);
    return n;
}

static int setup(void **state)
{
    (void)state;
    th_far_fx_start(&g_fx, "is", NSTORES);
    g_wms = th_far_start();
    th_far_fx_stores(&g_fx, NSTORES, 1, "{\"BLR-1\":\"" LOCATION "\"}");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    th_far_stop(g_wms);
    th_far_fx_stop(&g_fx);
    return 0;
}

typedef struct await_store {
    size_t store;
} await_store_t;

/* The store's sync finished (last success set) and nothing runs any more. */
static int sync_finished(dh_rt_t *rt, void *ud)
{
    const inv_shared_t *sh = rt->shared;
    size_t i = ((const await_store_t *)ud)->store;

    return dh_gauge_value(sh->sync_series[i].last_success) > 0 &&
           dh_gauge_value(sh->m.sync_running) == 0;
}

/* Start a runtime whose tick syncs store \p i on request; \p wms and \p shop are the two
 * far sides' scripts. Returns the runtime, started. */
static th_rt_t *start(size_t i, const th_far_reply_t *wms, size_t nw, const th_far_reply_t *shop,
                      size_t ns, char *store, size_t size)
{
    static char env_stores[300], env_wms[200];
    static const char *env[] = {env_stores,
                                env_wms,
                                "DH_LANES=1",
                                "DH_INVENTORY_SYNC_GRACE_S=60",
                                "DH_HTTP_TIMEOUT_MS=2000",
                                NULL};
    char key[300];

    snprintf(env_stores, sizeof(env_stores), "DH_STORES_FILE=%s", g_fx.stores);
    snprintf(env_wms, sizeof(env_wms), "DH_WMS_URL=%s", th_far_url(g_wms));
    snprintf(store, size, "%s%zu.myshopify.com", g_fx.prefix, i);
    th_far_script(g_wms, wms, nw);
    th_far_script(g_fx.far, shop, ns);
    snprintf(key, sizeof(key), "dh:inv:item:%s:TH-SYNC-A", store);
    redis_do("SET %s %s EX 600", key, "gid://shopify/InventoryItem/501");
    snprintf(key, sizeof(key), "dh:inv:sync:request:%s", store);
    redis_do("SET %s %s EX 600", key, "1");
    th_rt_t *t = th_rt_new(&inv_handler, "wms.putaway", 1, env);

    th_rt_start(t);
    return t;
}

/* A store without rows: one empty page, no HMGET without fields, the slot finishes. */
static void test_empty_store(void **state)
{
    const th_far_reply_t wms[] = {{200, EMPTY, NULL, 0}};
    const th_far_reply_t shop[] = {{200, APPLIED, NULL, 0}};
    char store[128], key[300];
    await_store_t a = {0};

    (void)state;
    th_rt_t *t = start(0, wms, 1, shop, 1, store, sizeof(store));
    dh_rt_t *rt = th_rt_runtime(t);
    const inv_shared_t *sh = rt->shared;

    assert_true(th_rt_await(t, sync_finished, &a, WAIT_MS));
    assert_int_equal(dh_gauge_value(sh->sync_series[0].pages), 1);
    assert_int_equal(dh_gauge_value(sh->sync_series[0].rows), 0);
    assert_int_equal(dh_gauge_value(sh->sync_series[1].last_success), 0);
    assert_int_equal(th_rt_stop(t), 0);
    th_rt_destroy(t);
    assert_int_equal(th_far_count(g_wms), 1);
    assert_int_equal(th_far_count(g_fx.far), 0);
    snprintf(key, sizeof(key), "dh:inv:sync:active:%s", store);
    assert_int_equal(redis_exists(key), 0);
    snprintf(key, sizeof(key), "dh:inv:sync:last_success:%s", store);
    assert_int_equal(redis_exists(key), 1);
}

/* A page of three rows, two invalid, then an empty last page: the valid row alone is set,
 * the two are counted by reason, never set as 0 or 40; progress 2 pages, 3 rows. */
static void test_rows_validated(void **state)
{
    const th_far_reply_t wms[] = {{200, rows_page, NULL, 0}, {200, EMPTY, NULL, 0}};
    const th_far_reply_t shop[] = {{200, APPLIED, NULL, 0}};
    char store[128];
    await_store_t a = {1};
    th_far_req_t q;

    (void)state;
    th_rt_t *t = start(1, wms, 2, shop, 1, store, sizeof(store));
    dh_rt_t *rt = th_rt_runtime(t);
    const inv_shared_t *sh = rt->shared;

    assert_true(th_rt_await(t, sync_finished, &a, WAIT_MS));
    assert_int_equal(dh_gauge_value(sh->sync_series[1].pages), 2);
    assert_int_equal(dh_gauge_value(sh->sync_series[1].rows), 3);
    assert_int_equal(dh_counter_value(sh->m.rows_rejected[0]), 1); /* missing */
    assert_int_equal(dh_counter_value(sh->m.rows_rejected[1]), 1); /* type */
    assert_int_equal(dh_counter_value(sh->m.rows_rejected[2]), 0);
    assert_int_equal(th_rt_stop(t), 0);
    th_rt_destroy(t);
    assert_int_equal(th_far_count(g_wms), 2);
    assert_int_equal(th_far_count(g_fx.far), 1);
    th_far_request(g_fx.far, 0, &q);
    assert_non_null(strstr(q.body, Q_SET));
    json_t *root = json_loads(q.body, 0, NULL);
    json_t *qs =
        json_object_get(json_object_get(json_object_get(root, "variables"), "input"), "quantities");
    assert_int_equal(json_array_size(qs), 1);
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(qs, 0), "inventoryItemId")),
        "gid://shopify/InventoryItem/501");
    assert_int_equal(json_integer_value(json_object_get(json_array_get(qs, 0), "quantity")), 38);
    json_decref(root);
    free(q.body);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_store),
        cmocka_unit_test(test_rows_validated),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
