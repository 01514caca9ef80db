/*
 * dh-inventory's SKU lookup (workers/inventory/catalog.c) in the real runtime (th_rt.h)
 * against a scripted Shopify (th_far.h): one putaway of a SKU that only productVariants
 * resolves, its search three pages long (Shopify's sku: search also returns SKUs that
 * merely start with it), with the bucket drained (THROTTLED, currentlyAvailable 0) while
 * the lookup is in progress. Every request Shopify saw is counted after the runtime
 * stopped. Every case has its own store (own keys).
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
#define SKU      "LK-1"
#define WAIT_MS  30000
#define Q_SET    "InventorySetQuantities("
#define Q_PV     "ProductVariantsBySku("

#define NODE(sku, n)                                                                               \
    "{\"id\":\"gid://shopify/ProductVariant/" n "\",\"sku\":\"" sku "\",\"inventoryItem\":{"       \
    "\"id\":\"gid://shopify/InventoryItem/" n                                                      \
    "\"},\"product\":{\"id\":\"gid://shopify/Product/1\"}}"
#define PAGE(nodes, next, cursor)                                                                  \
    "{\"data\":{\"productVariants\":{\"nodes\":[" nodes "],\"pageInfo\":{\"hasNextPage\":" next    \
    ",\"endCursor\":" cursor "}}},\"extensions\":{\"cost\":{\"actualQueryCost\":5}}}"
/* Pages 1 and 2 hold only SKUs LK-1 is a prefix of; page 3 has LK-1 itself. */
#define PAGE1 PAGE(NODE("LK-10", "710") "," NODE("LK-11", "711"), "true", "\"cur1\"")
#define PAGE2 PAGE(NODE("LK-12", "712"), "true", "\"cur2\"")
#define PAGE3 PAGE(NODE("LK-13", "713") "," NODE(SKU, "777"), "false", "\"cur3\"")
#define THROTTLED                                                                                  \
    "{\"errors\":[{\"message\":\"Throttled\",\"extensions\":{\"code\":\"THROTTLED\"}}],"           \
    "\"extensions\":{\"cost\":{\"requestedQueryCost\":302,\"actualQueryCost\":null,"               \
    "\"throttleStatus\":{\"maximumAvailable\":2000,\"currentlyAvailable\":0,"                      \
    "\"restoreRate\":2000}}}}"
#define APPLIED                                                                                    \
    "{\"data\":{\"inventorySetQuantities\":{\"inventoryAdjustmentGroup\":{\"id\":"                 \
    "\"gid://shopify/InventoryAdjustmentGroup/1\"},\"userErrors\":[]}},"                           \
    "\"extensions\":{\"cost\":{\"actualQueryCost\":10}}}"

static th_far_fx_t g_fx;

static long long redis_exists(const char *key)
{
    redisContext *c = th_rt_hiredis();
    redisReply *r;
    long long n;

    r = redisCommand(c, "EXISTS %s", key);
    assert_non_null(r);
    n = r->integer;
    freeReplyObject(r);
    redisFree(c);
    return n;
}

static int setup(void **state)
{
    (void)state;
    th_far_fx_start(&g_fx, "il", 2);
    th_far_fx_stores(&g_fx, 2, 1, "{\"BLR-1\":\"" LOCATION "\"}");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    th_far_fx_stop(&g_fx);
    return 0;
}

/* Start a runtime and produce the putaway of SKU for store \p i. */
static th_rt_t *start(int i, const char *extra_env, char *store, size_t size)
{
    static char env_stores[300];
    const char *env[] = {
        env_stores, "DH_LANES=1", "DH_INVENTORY_SYNC_GRACE_S=60", "DH_HTTP_TIMEOUT_MS=2000",
        extra_env,  NULL};
    char *text = th_text_file(DH_PUTAWAY_EXAMPLES "/putaway-good-online.json");
    char tenant[96], tq[100], key[200], id[64];
    char *a, *b, *ev;

    snprintf(env_stores, sizeof(env_stores), "DH_STORES_FILE=%s", g_fx.stores);
    snprintf(tenant, sizeof(tenant), "%s%d", g_fx.prefix, i);
    snprintf(store, size, "%s.myshopify.com", tenant);
    snprintf(tq, sizeof(tq), "\"%s\"", tenant);
    snprintf(id, sizeof(id), "\"%08x-7f1e-7c3a-9d2e-%06x%02x0000\"", (unsigned)time(NULL),
             (unsigned)getpid() & 0xffffffu, (unsigned)i & 0xffu);
    a = th_text_replace(text, "\"ACME\"", tq);
    b = th_text_replace(a, "\"TSHIRT-BLK-M\"", "\"" SKU "\"");
    ev = th_text_replace(b, "\"0190c3b2-7f1e-7c3a-9d2e-4b5a6c7d8e01\"", id);
    th_rt_t *t = th_rt_new(&inv_handler, "wms.putaway", 1, env);

    th_rt_start(t);
    snprintf(key, sizeof(key), "%s|BLR-1|" SKU, tenant);
    th_rt_produce(t, 0, key, ev, NULL);
    free(ev);
    free(b);
    free(a);
    free(text);
    return t;
}

/* The `after` of productVariants request \p i ("" for none); 0 if it is not one. */
static int pv_after(size_t i, char *after, size_t size)
{
    th_far_req_t q;
    int is_pv;

    th_far_request(g_fx.far, i, &q);
    is_pv = strstr(q.body, Q_PV) != NULL;
    json_t *root = json_loads(q.body, 0, NULL);

    snprintf(after, size, "%s",
             json_string_value(json_object_get(json_object_get(root, "variables"), "after"))
                 ? json_string_value(json_object_get(json_object_get(root, "variables"), "after"))
                 : "");
    json_decref(root);
    free(q.body);
    return is_pv;
}

/* Throttled after pages 1 and 2: each try continues at the page that failed (never page 1
 * again), the exact SKU on page 3 is the one set, and the paused state is gone. */
static void test_throttled_lookup_finishes(void **state)
{
    static const th_far_reply_t r[] = {
        {200, PAGE1, NULL, 0},     {200, THROTTLED, NULL, 0}, {200, PAGE2, NULL, 0},
        {200, THROTTLED, NULL, 0}, {200, PAGE3, NULL, 0},     {200, APPLIED, NULL, 0},
    };
    static const char *const when[] = {Q_PV, Q_PV, Q_PV, Q_PV, Q_PV, Q_SET};
    static const char *const want_after[] = {"", "cur1", "cur1", "cur2", "cur2"};
    char store[128], after[64], key[300];
    th_far_req_t q;

    (void)state;
    th_far_script_when(g_fx.far, r, when, 6);
    th_rt_t *t = start(0, NULL, store, sizeof(store));
    dh_rt_t *rt = th_rt_runtime(t);

    assert_true(th_rt_await_count(t, &rt->m.done, 1, WAIT_MS));
    assert_true(dh_counter_value(rt->m.waits) >= 2);
    assert_int_equal(dh_counter_value(rt->m.dead), 0);
    assert_int_equal(th_rt_stop(t), 0);
    th_rt_destroy(t);
    assert_int_equal(th_far_count(g_fx.far), 6);
    for (size_t i = 0; i < 5; i++) {
        assert_true(pv_after(i, after, sizeof(after)));
        assert_string_equal(after, want_after[i]);
    }
    th_far_request(g_fx.far, 5, &q);
    assert_non_null(strstr(q.body, Q_SET));
    assert_non_null(strstr(q.body, "\"gid://shopify/InventoryItem/777\""));
    assert_null(strstr(q.body, "InventoryItem/71"));
    free(q.body);
    snprintf(key, sizeof(key), "dh:inv:lookup:%s:sku:" SKU, store);
    assert_int_equal(redis_exists(key), 0);
    snprintf(key, sizeof(key), "dh:inv:item:%s:" SKU, store);
    assert_int_equal(redis_exists(key), 1);
}

/* Throttled for good after page 1: after DH_INVENTORY_LOOKUP_WAIT_MAX_S without a page
 * the event is dead-lettered "lookup-throttled"; page 1 was fetched once. */
static void test_stuck_lookup_dead_letters(void **state)
{
    static const th_far_reply_t r[] = {{200, PAGE1, NULL, 0}, {200, THROTTLED, NULL, 0}};
    static const char *const when[] = {Q_PV, Q_PV};
    char store[128], after[64], cls[64], key[300];
    th_dlq_msg_t m[2];
    size_t n;

    (void)state;
    th_far_script_when(g_fx.far, r, when, 2);
    th_rt_t *t = start(1, "DH_INVENTORY_LOOKUP_WAIT_MAX_S=2", store, sizeof(store));
    dh_rt_t *rt = th_rt_runtime(t);

    assert_int_equal(th_rt_dlq(t, 1, WAIT_MS, m, 2), 1);
    assert_string_equal(th_dlq_hdr(&m[0], "dh-error-class", cls, sizeof(cls)), "lookup-throttled");
    th_dlq_msg_clear(&m[0]);
    assert_true(th_rt_await_count(t, &rt->m.dead, 1, WAIT_MS));
    assert_int_equal(dh_counter_value(rt->m.done), 0);
    assert_int_equal(th_rt_stop(t), 0);
    th_rt_destroy(t);
    n = th_far_count(g_fx.far);
    assert_true(n >= 3); /* page 1, then throttled tries for at least the bound */
    for (size_t i = 0; i < n; i++) {
        assert_true(pv_after(i, after, sizeof(after)));
        assert_string_equal(after, i == 0 ? "" : "cur1");
    }
    snprintf(key, sizeof(key), "dh:inv:lookup:%s:sku:" SKU, store);
    assert_int_equal(redis_exists(key), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_throttled_lookup_finishes),
        cmocka_unit_test(test_stuck_lookup_dead_letters),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
