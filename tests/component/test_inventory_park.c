/*
 * Store gates and setting events aside (common/src/gate.c, park.c) with dh-inventory's
 * handler in the real runtime (th_rt.h) against a scripted Shopify (th_far.h): store X
 * answers 503 while store Y answers. Y's events are applied while X's first ones fail; X's
 * events park, then (over DH_PARK_MEMORY_MAX) are set aside in Redis, so the partition's
 * offset passes all of them although none of X's is applied. When X answers again, its
 * events are taken back and each of its SKUs is set exactly once; none is dead-lettered and
 * the store leaves the set-aside list.
 */
#include <hiredis/hiredis.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "inventory.h"
#include "runtime.h"
#include "th_far.h"
#include "th_rt.h"

/* cmocka.h needs these three first; keep clang-format from sorting it above them. */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
/* clang-format on */

#define TOPIC    "wms.putaway"
#define LOCATION "gid://shopify/Location/11"
#define NX       20 /* events (SKUs) of the troubled store X */
#define NY       10 /* of the answering store Y */
#define WAIT_MS  30000
#define X_ITEM   "InventoryItem/9" /* X's items are 9000+i, Y's 100+i */
#define Y_ITEM   "InventoryItem/1"

#define APPLIED                                                                                    \
    "{\"data\":{\"inventorySetQuantities\":{\"inventoryAdjustmentGroup\":{\"id\":"                 \
    "\"gid://shopify/InventoryAdjustmentGroup/1\"},\"userErrors\":[]}},"                           \
    "\"extensions\":{\"cost\":{\"actualQueryCost\":3}}}"

static th_far_fx_t g_fx;

static void seed_items(const char *store, int n, int base)
{
    redisContext *c = th_rt_hiredis();

    for (int i = 0; i < n; i++) {
        redisReply *r =
            redisCommand(c, "SET dh:inv:item:%s:PK-%d gid://shopify/InventoryItem/%d EX 600", store,
                         i, base + i);

        assert_non_null(r);
        freeReplyObject(r);
    }
    redisFree(c);
}

static long long redis_int(const char *fmt, const char *a, const char *b)
{
    redisContext *c = th_rt_hiredis();
    redisReply *r = redisCommand(c, fmt, a, b);
    long long v;

    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_INTEGER);
    v = r->integer;
    freeReplyObject(r);
    redisFree(c);
    return v;
}

static char *event_of(const char *text, const char *tenant, int i, const char *run)
{
    char tq[100], sq[100], id[100], *a, *b, *out;

    snprintf(tq, sizeof(tq), "\"%s\"", tenant);
    snprintf(sq, sizeof(sq), "\"PK-%d\"", i);
    /* A v7-shaped id unique to the run, the tenant and the SKU. */
    snprintf(id, sizeof(id), "\"%08x-7f1e-7c3a-9d2e-%04x%02x%06x\"", (unsigned)time(NULL),
             (unsigned)getpid() & 0xffffu, (unsigned)(tenant[strlen(tenant) - 1] & 0xff),
             (unsigned)(i + (int)(strlen(run) & 0xff) * 1000));
    a = th_text_replace(text, "\"ACME\"", tq);
    b = th_text_replace(a, "\"TSHIRT-BLK-M\"", sq);
    out = th_text_replace(b, "\"0190c3b2-7f1e-7c3a-9d2e-4b5a6c7d8e01\"", id);
    free(a);
    free(b);
    return out;
}

/* How many times X's item 9000+i was in a call (all calls after the re-script answer 200). */
static void count_x_items(int *seen)
{
    size_t n = th_far_count(g_fx.far);

    for (size_t k = 0; k < n; k++) {
        th_far_req_t q;
        json_t *root, *qs;

        th_far_request(g_fx.far, k, &q);
        root = json_loads(q.body, 0, NULL);
        qs = json_object_get(json_object_get(json_object_get(root, "variables"), "input"),
                             "quantities");
        for (size_t j = 0; j < json_array_size(qs); j++) {
            const char *gid =
                json_string_value(json_object_get(json_array_get(qs, j), "inventoryItemId"));
            const char *num = gid ? strrchr(gid, '/') : NULL;
            int item = num ? atoi(num + 1) : -1;

            if (item >= 9000 && item < 9000 + NX) {
                seen[item - 9000]++;
            }
        }
        json_decref(root);
        free(q.body);
    }
}

static int none_parked(dh_rt_t *rt, void *ud)
{
    (void)ud;
    return rt->parked_events == 0 && !rt->drain_active;
}

static void test_troubled_store_set_aside_then_taken_back(void **state)
{
    char env_stores[300], tx[96], ty[96], sx[128], sy[128], key[200], list[300];
    const char *env[] = {env_stores,
                         "DH_LANES=2",
                         "DH_BATCH_LINGER_MS=20",
                         "DH_BATCH_MAX=8",
                         "DH_PARK_MEMORY_MAX=5",
                         "DH_RETRY_BASE_MS=100",
                         "DH_RETRY_MAX_MS=400",
                         "DH_INVENTORY_SYNC_GRACE_S=60",
                         "DH_HTTP_TIMEOUT_MS=2000",
                         NULL};
    const th_far_reply_t failing[] = {{503, "{\"errors\":\"unavailable\"}", NULL, 0},
                                      {200, APPLIED, NULL, 0}};
    const char *const when[] = {X_ITEM, Y_ITEM};
    const th_far_reply_t answering[] = {{200, APPLIED, NULL, 0}};
    char *text = th_text_file(DH_PUTAWAY_EXAMPLES "/putaway-good-online.json");
    int seen[NX] = {0};

    (void)state;
    snprintf(tx, sizeof(tx), "%s0", g_fx.prefix);
    snprintf(ty, sizeof(ty), "%s1", g_fx.prefix);
    snprintf(sx, sizeof(sx), "%s.myshopify.com", tx);
    snprintf(sy, sizeof(sy), "%s.myshopify.com", ty);
    snprintf(env_stores, sizeof(env_stores), "DH_STORES_FILE=%s", g_fx.stores);
    seed_items(sx, NX, 9000);
    seed_items(sy, NY, 100);
    th_rt_t *t = th_rt_new(&inv_handler, TOPIC, 1, env);
    dh_rt_t *rt = th_rt_runtime(t);

    th_far_script_when(g_fx.far, failing, when, 2);
    th_rt_start(t);
    for (int i = 0; i < NX || i < NY; i++) {
        if (i < NX) {
            char *ev = event_of(text, tx, i, th_rt_run_id(t));

            snprintf(key, sizeof(key), "%s|BLR-1|PK-%d", tx, i);
            th_rt_produce(t, 0, key, ev, NULL);
            free(ev);
        }
        if (i < NY) {
            char *ev = event_of(text, ty, i, th_rt_run_id(t));

            snprintf(key, sizeof(key), "%s|BLR-1|PK-%d", ty, i);
            th_rt_produce(t, 0, key, ev, NULL);
            free(ev);
        }
    }
    /* Y is applied; every event of the partition is finished (offset stored past all 30)
     * although X's are not applied: they are set aside, not holding the partition. */
    assert_true(th_rt_await_count(t, &rt->m.done, NY, WAIT_MS));
    assert_true(th_rt_await_stored(t, 0, NX + NY, WAIT_MS));
    assert_true(dh_counter_value(rt->m.spilled) >= NX - 5);
    assert_int_equal(redis_int("SISMEMBER %s:parked %s", inv_handler.name, sx), 1);
    assert_true(dh_counter_value(rt->m.gate_closes[DH_GATE_UNAVAILABLE]) >= 1);
    assert_int_equal(dh_counter_value(rt->m.done), NY);
    /* X answers again: its events come back from Redis and are applied, once each. */
    th_far_script(g_fx.far, answering, 1);
    assert_true(th_rt_await_count(t, &rt->m.done, NX + NY, WAIT_MS));
    assert_true(th_rt_await(t, none_parked, NULL, WAIT_MS));
    snprintf(list, sizeof(list), "%s:park:%s", inv_handler.name, sx);
    for (int i = 0; i < 100 && redis_int("SISMEMBER %s:parked %s", inv_handler.name, sx); i++) {
        struct timespec ts = {0, 100 * 1000 * 1000}; /* lane 0 trims within a look */

        nanosleep(&ts, NULL);
    }
    assert_int_equal(redis_int("SISMEMBER %s:parked %s", inv_handler.name, sx), 0);
    assert_int_equal(redis_int("EXISTS %s%s", list, ""), 0);
    assert_int_equal(dh_counter_value(rt->m.dead), 0);
    assert_true(dh_counter_value(rt->m.unspilled) >= NX - 5);
    assert_int_equal(th_rt_stop(t), 0);
    count_x_items(seen);
    for (int i = 0; i < NX; i++) {
        assert_int_equal(seen[i], 1);
    }
    th_rt_destroy(t);
    free(text);
}

static int setup(void **state)
{
    (void)state;
    th_far_fx_start(&g_fx, "ip", 2);
    th_far_fx_stores(&g_fx, 2, 1, "{\"BLR-1\":\"" LOCATION "\"}");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    th_far_fx_stop(&g_fx);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_troubled_store_set_aside_then_taken_back),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
