/*
 * dh-inventory's handle_batch (workers/inventory/handler.c) in the real runtime (th_rt.h)
 * against a scripted Shopify GraphQL endpoint (th_far.h): three putaways of three SKUs in
 * one batch (one lane, a long linger), their inventory items pre-seeded in Redis
 * (dh:inv:item:<store>:<sku>, catalog.c) so that only inventorySetQuantities is scripted.
 * Each case asserts the events' outcomes and the calls Shopify saw, counted after the
 * runtime stopped. Every case has its own store (own tenant, records).
 */
#include <hiredis/hiredis.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dockhand/stockledger.h"
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

#define TOPIC    "wms.putaway"
#define LOCATION "gid://shopify/Location/11"
#define NSKUS    3
#define NCASES   5
#define NSTORES  (NCASES + 2) /* and the ledger and fence cases */
#define LEDGER   NCASES
#define FENCED   (NCASES + 1)
#define WAIT_MS  20000
#define Q_SET    "InventorySetQuantities("

#define COST ",\"extensions\":{\"cost\":{\"actualQueryCost\":3}}}"
#define APPLIED                                                                                    \
    "{\"data\":{\"inventorySetQuantities\":{\"inventoryAdjustmentGroup\":{\"id\":"                 \
    "\"gid://shopify/InventoryAdjustmentGroup/1\"},\"userErrors\":[]}}" COST
#define USER_ERROR(code, i)                                                                        \
    "{\"data\":{\"inventorySetQuantities\":{\"inventoryAdjustmentGroup\":null,\"userErrors\":"     \
    "[{\"code\":\"" code "\",\"field\":[\"input\",\"quantities\",\"" i "\"],\"message\":\"" code   \
    "\"}]}}" COST
#define THROTTLED                                                                                  \
    "{\"errors\":[{\"message\":\"Throttled\",\"extensions\":{\"code\":\"THROTTLED\"}}],"           \
    "\"extensions\":{\"cost\":{\"requestedQueryCost\":15,\"actualQueryCost\":null,"                \
    "\"throttleStatus\":{\"maximumAvailable\":2000,\"currentlyAvailable\":0,"                      \
    "\"restoreRate\":100}}}}"
#define UNAUTH "{\"errors\":\"[API] Invalid API key or access token\"}"

static const char *const skus[NSKUS] = {"TH-SKU-A", "TH-SKU-B", "TH-SKU-C"};

typedef struct icase {
    int store;
    const char *name;
    th_far_reply_t replies[4];
    size_t nreplies;
    const char *env;
    size_t calls;           /* inventorySetQuantities requests */
    const char *dead_class; /* NULL: all three done; else quantity 1's event dead-lettered */
    int waited;             /* the runtime counted a WAIT */
    size_t qty[4];          /* when set: each call's quantities (a gate's probe carries one) */
} icase_t;

static th_far_fx_t g_fx;

/* dh:inv:item:<store>:<sku> -> gid://shopify/InventoryItem/<100+i>, for a while. */
static void seed_items(const char *store)
{
    redisContext *c = th_rt_hiredis();

    for (int i = 0; i < NSKUS; i++) {
        redisReply *r =
            redisCommand(c, "SET dh:inv:item:%s:%s gid://shopify/InventoryItem/%d EX 600", store,
                         skus[i], 100 + i);

        assert_non_null(r);
        assert_int_equal(r->type, REDIS_REPLY_STATUS);
        freeReplyObject(r);
    }
    redisFree(c);
}

static int setup(void **state)
{
    (void)state;
    th_far_fx_start(&g_fx, "it", NSTORES);
    th_far_fx_stores(&g_fx, NSTORES, 1, "{\"BLR-1\":\"" LOCATION "\",\"BLR-2\":\"" LOCATION "\"}");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    th_far_fx_stop(&g_fx);
    return 0;
}

/* The putaway example for \p sku of \p tenant, its event id (the effect id) unique to the
 * process, the case and \p i. */
static char *event_of(const char *text, const char *tenant, const char *sku, int store, int i)
{
    char tq[100], sq[100], id[64];
    char *a, *b, *out;

    snprintf(tq, sizeof(tq), "\"%s\"", tenant);
    snprintf(sq, sizeof(sq), "\"%s\"", sku);
    snprintf(id, sizeof(id), "\"%08x-7f1e-7c3a-9d2e-%06x%02x%04x\"", (unsigned)time(NULL),
             (unsigned)getpid() & 0xffffffu, (unsigned)store & 0xffu, (unsigned)i);
    a = th_text_replace(text, "\"ACME\"", tq);
    b = th_text_replace(a, "\"TSHIRT-BLK-M\"", sq);
    out = th_text_replace(b, "\"0190c3b2-7f1e-7c3a-9d2e-4b5a6c7d8e01\"", id);
    free(a);
    free(b);
    return out;
}

/* Every request is an inventorySetQuantities of all three items (after a refused quantity,
 * \p dead, the later ones of the two others), with an idempotency key; the inventory item of
 * the first one's quantity 1 into \p item1. */
static void check_calls(size_t want, int dead, const size_t *qty, char *item1, size_t size)
{
    th_far_req_t q;

    assert_int_equal(th_far_count(g_fx.far), want);
    for (size_t i = 0; i < want; i++) {
        th_far_request(g_fx.far, i, &q);
        assert_string_equal(q.path, "/admin/api/2026-10/graphql.json");
        assert_non_null(strstr(q.body, Q_SET));
        json_t *root = json_loads(q.body, 0, NULL), *vars = json_object_get(root, "variables");
        json_t *qs = json_object_get(json_object_get(vars, "input"), "quantities");

        assert_non_null(root);
        assert_true(json_string_length(json_object_get(vars, "idempotencyKey")) > 0);
        if (qty[0]) {
            assert_int_equal(json_array_size(qs), qty[i]);
        } else if (i == 0 || !dead) {
            assert_int_equal(json_array_size(qs), NSKUS);
        } else { /* the rest goes again without the refused quantity */
            assert_int_equal(json_array_size(qs), NSKUS - 1);
            for (size_t k = 0; k < NSKUS - 1; k++) {
                assert_string_not_equal(
                    json_string_value(json_object_get(json_array_get(qs, k), "inventoryItemId")),
                    item1);
            }
        }
        if (i == 0) {
            snprintf(item1, size, "%s",
                     json_string_value(json_object_get(json_array_get(qs, 1), "inventoryItemId")));
        }
        json_decref(root);
        free(q.body);
    }
}

static void run_case(void **state)
{
    const icase_t *c = *state;
    char env_stores[300], tenant[96], store[128], key[200], item1[128], cls[200], want_key[200];
    const char *env[] = {env_stores,
                         "DH_LANES=1",
                         "DH_BATCH_LINGER_MS=1500",
                         "DH_BATCH_MAX=16",
                         "DH_INVENTORY_SYNC_GRACE_S=60",
                         "DH_HTTP_TIMEOUT_MS=2000",
                         c->env,
                         NULL};
    char *text = th_text_file(DH_PUTAWAY_EXAMPLES "/putaway-good-online.json"), *ev[NSKUS];
    th_dlq_msg_t m[2];

    snprintf(tenant, sizeof(tenant), "%s%d", g_fx.prefix, c->store);
    snprintf(store, sizeof(store), "%s.myshopify.com", tenant);
    snprintf(env_stores, sizeof(env_stores), "DH_STORES_FILE=%s", g_fx.stores);
    seed_items(store);
    th_rt_t *t = th_rt_new(&inv_handler, TOPIC, 1, env);
    dh_rt_t *rt = th_rt_runtime(t);

    th_far_script(g_fx.far, c->replies, c->nreplies);
    for (int i = 0; i < NSKUS; i++) { /* before the start: one batch (run_three) */
        ev[i] = event_of(text, tenant, skus[i], c->store, i);
        snprintf(key, sizeof(key), "%s|BLR-1|%s", tenant, skus[i]);
        th_rt_produce(t, 0, key, ev[i], NULL);
    }
    th_rt_start(t);
    if (!c->dead_class) {
        assert_true(th_rt_await_count(t, &rt->m.done, NSKUS, WAIT_MS));
    } else {
        assert_true(th_rt_await_count(t, &rt->m.done, NSKUS - 1, WAIT_MS));
        assert_int_equal(th_rt_dlq(t, 1, WAIT_MS, m, 2), 1);
    }
    assert_true(th_rt_await_stored(t, 0, NSKUS, WAIT_MS));
    assert_int_equal(dh_counter_value(rt->m.waits) > 0, c->waited);
    assert_int_equal(dh_counter_value(rt->m.dead), c->dead_class ? 1 : 0);
    assert_int_equal(th_rt_stop(t), 0); /* the metrics are gone from here on */
    check_calls(c->calls, c->dead_class != NULL, c->qty, item1, sizeof(item1));
    if (c->dead_class) {
        /* the event of quantity 1's item (InventoryItem/<100+i> is skus[i]) */
        int i = atoi(strrchr(item1, '/') + 1) - 100;

        assert_true(i >= 0 && i < NSKUS);
        snprintf(want_key, sizeof(want_key), "%s|BLR-1|%s", tenant, skus[i]);
        assert_string_equal(m[0].key, want_key);
        assert_string_equal(th_dlq_hdr(&m[0], "dh-error-class", cls, sizeof(cls)), c->dead_class);
        th_dlq_msg_clear(&m[0]);
    }
    th_rt_destroy(t);
    for (int i = 0; i < NSKUS; i++) {
        free(ev[i]);
    }
    free(text);
}

static const icase_t cases[NCASES] = {
    {0, "applied", {{200, APPLIED, NULL, 0}}, 1, NULL, 1, NULL, 0, {0}},
    {1,
     "throttled_then_applied",
     {{200, THROTTLED, NULL, 0}, {200, APPLIED, NULL, 0}},
     2,
     NULL,
     2,
     NULL,
     1,
     {0}},
    {2,
     "concurrent_request_waits",
     {{200, USER_ERROR("IDEMPOTENCY_CONCURRENT_REQUEST", "1"), NULL, 0}, {200, APPLIED, NULL, 0}},
     2,
     NULL,
     2,
     NULL,
     1,
     {0}},
    {3,
     "user_error_dead_letters_one",
     {{200, USER_ERROR("INVALID_QUANTITY", "1"), NULL, 0}, {200, APPLIED, NULL, 0}},
     2,
     NULL,
     2,
     "INVALID_QUANTITY",
     0,
     {0}},
    {4,
     "401_never_exhausts",
     {{401, UNAUTH, NULL, 0}, {401, UNAUTH, NULL, 0}, {200, APPLIED, NULL, 0}},
     3,
     "DH_RETRY_MAX_ATTEMPTS=1",
     4,
     NULL,
     0,
     /* The first 401 closes the store's gate: the three events park; one probes (401, it
      * parks again), the next probes (200), and the gate releases the other two together. */
     {3, 1, 1, 2}},
};

/* ---- the shipment ledger, facilities summed, the fence (docs/inventory.md §1-§2) ---- */

static dh_redis_t *redis_conn(void)
{
    const char *url = getenv("DH_TEST_REDIS_URL");
    dh_redis_opts_t o = {.url = url && *url ? url : "redis://127.0.0.1:36379", .timeout_ms = 2000};
    char err[256];
    dh_redis_t *r = dh_redis_new(&o, err, sizeof(err));

    if (!r) {
        fail_msg("dh_redis_new: %s", err);
    }
    return r;
}

/* HGET key field (GET key when \p field is NULL) into \p buf, "" when absent. */
static void redis_get(dh_redis_t *r, const char *key, const char *field, char *buf, size_t size)
{
    redisReply *rep = NULL;

    if (field) {
        assert_int_equal(dh_redis_commandf(r, &rep, "HGET %s %s", key, field), DH_OK);
    } else {
        assert_int_equal(dh_redis_commandf(r, &rep, "GET %s", key), DH_OK);
    }
    snprintf(buf, size, "%s", rep->type == REDIS_REPLY_STRING ? rep->str : "");
    freeReplyObject(rep);
}

/* Starts the runtime on store \p store's three putaways (sequence 1042, base 40 - 2 = 38)
 * and waits until all three are done; returns the stopped runtime's Shopify calls. */
static size_t run_three(int store, const char *extra, int *waited)
{
    char env_stores[300], tenant[96], domain[128], key[200];
    const char *env[] = {env_stores,
                         "DH_LANES=1",
                         "DH_BATCH_LINGER_MS=1500",
                         "DH_BATCH_MAX=16",
                         "DH_INVENTORY_SYNC_GRACE_S=60",
                         "DH_HTTP_TIMEOUT_MS=2000",
                         "DH_RETRY_MAX_ATTEMPTS=1", /* a fence WAIT is not an attempt */
                         extra,
                         NULL};
    char *text = th_text_file(DH_PUTAWAY_EXAMPLES "/putaway-good-online.json"), *ev[NSKUS];
    const th_far_reply_t ok[] = {{200, APPLIED, NULL, 0}};

    snprintf(tenant, sizeof(tenant), "%s%d", g_fx.prefix, store);
    snprintf(domain, sizeof(domain), "%s.myshopify.com", tenant);
    snprintf(env_stores, sizeof(env_stores), "DH_STORES_FILE=%s", g_fx.stores);
    seed_items(domain);
    th_rt_t *t = th_rt_new(&inv_handler, TOPIC, 1, env);
    dh_rt_t *rt = th_rt_runtime(t);

    th_far_script(g_fx.far, ok, 1);
    /* All three are in the partition before the runtime starts, so one fetch brings them
     * and the linger makes them one batch: produced one by one against a started runtime
     * on a loaded machine, the linger could run out between two of them. */
    for (int i = 0; i < NSKUS; i++) {
        ev[i] = event_of(text, tenant, skus[i], store, i);
        snprintf(key, sizeof(key), "%s|BLR-1|%s", tenant, skus[i]);
        th_rt_produce(t, 0, key, ev[i], NULL);
    }
    th_rt_start(t);
    assert_true(th_rt_await_count(t, &rt->m.done, NSKUS, WAIT_MS));
    assert_true(th_rt_await_stored(t, 0, NSKUS, WAIT_MS));
    assert_int_equal(dh_counter_value(rt->m.dead), 0);
    *waited = dh_counter_value(rt->m.waits) > 0;
    assert_int_equal(th_rt_stop(t), 0);
    th_rt_destroy(t);
    for (int i = 0; i < NSKUS; i++) {
        free(ev[i]);
    }
    free(text);
    return th_far_count(g_fx.far);
}

/* The quantity request \p i set for InventoryItem/<100 + sku>, or -1 if it set none. */
static long long qty_of(size_t i, int sku)
{
    char gid[64];
    th_far_req_t q;
    long long v = -1;
    size_t k;
    json_t *x;

    snprintf(gid, sizeof(gid), "gid://shopify/InventoryItem/%d", 100 + sku);
    th_far_request(g_fx.far, i, &q);
    json_t *root = json_loads(q.body, 0, NULL);
    json_t *qs =
        json_object_get(json_object_get(json_object_get(root, "variables"), "input"), "quantities");

    json_array_foreach(qs, k, x)
    {
        if (!strcmp(json_string_value(json_object_get(x, "inventoryItemId")), gid)) {
            assert_string_equal(json_string_value(json_object_get(x, "locationId")), LOCATION);
            v = json_integer_value(json_object_get(x, "quantity"));
        }
    }
    json_decref(root);
    free(q.body);
    return v;
}

/* One call sets: SKU A the snapshot less a shipment Shopify already fulfilled that the
 * snapshot still counts (stock_seq 1043 > 1042: a snapshot taken before the shipment,
 * applied after its fulfilment, must not put it back on sale); SKU B the sum of the two
 * facilities mapped to the location; SKU C the snapshot plus units that left the WMS
 * (stock_seq <= 1042) whose fulfilment Shopify has not seen (still committed there). A done
 * entry the snapshot already excludes is not subtracted, and is pruned. */
static void test_ledger_and_facilities(void **state)
{
    char tenant[96], st[128], buf[128], key[300], field[128];
    dh_redis_t *r = redis_conn();
    const dh_sl_line_t done[] = {{"BLR-1", skus[0], "SHIP-1#0", 1043, 2},
                                 {"BLR-1", skus[0], "SHIP-0#0", 1000, 5}};
    const dh_sl_line_t open = {"BLR-1", skus[2], "SHIP-2#0", 1042, 3};
    int busy = 1, waited = 1;
    (void)state;

    snprintf(tenant, sizeof(tenant), "%s%d", g_fx.prefix, LEDGER);
    snprintf(st, sizeof(st), "%s.myshopify.com", tenant);
    assert_int_equal(dh_sl_dispatch_open(r, st, done, 2), DH_OK);
    assert_int_equal(dh_sl_dispatch_begin(r, st, done, 2, &busy), DH_OK);
    assert_int_equal(busy, 0);
    assert_int_equal(dh_sl_dispatch_finish(r, st, done, 2, 1), DH_OK);
    assert_int_equal(dh_sl_dispatch_open(r, st, &open, 1), DH_OK);
    assert_int_equal(
        dh_redis_commandf(r, NULL, "HSET dh:inv:seq:%s BLR-2|%s %s", st, skus[1], "900 7 7"),
        DH_OK);
    assert_int_equal(run_three(LEDGER, NULL, &waited), 1);
    assert_int_equal(waited, 0);
    assert_int_equal(qty_of(0, 0), 38 - 2);
    assert_int_equal(qty_of(0, 1), 38 + 7);
    assert_int_equal(qty_of(0, 2), 38 + 3);
    snprintf(key, sizeof(key), "dh:inv:seq:%s", st);
    snprintf(field, sizeof(field), "BLR-1|%s", skus[0]);
    redis_get(r, key, field, buf, sizeof(buf));
    assert_string_equal(buf, "1042 38 36");
    snprintf(field, sizeof(field), "BLR-2|%s", skus[1]);
    redis_get(r, key, field, buf, sizeof(buf));
    assert_string_equal(buf, "900 7 45");
    snprintf(key, sizeof(key), "dh:inv:ledger:%s:BLR-1|%s", st, skus[0]);
    redis_get(r, key, "SHIP-0#0", buf, sizeof(buf));
    assert_string_equal(buf, ""); /* pruned */
    redis_get(r, key, "SHIP-1#0", buf, sizeof(buf));
    assert_string_equal(buf, "1043 2 done");
    dh_redis_destroy(r);
}

/* A SKU whose fence another owner holds waits (not an attempt: one attempt allowed) and is
 * set once the fence is gone; the two others go in the first call without it. */
static void test_fenced_sku_waits(void **state)
{
    char tenant[96], st[128], buf[128], key[300];
    dh_redis_t *r = redis_conn();
    int waited = 0;
    (void)state;

    snprintf(tenant, sizeof(tenant), "%s%d", g_fx.prefix, FENCED);
    snprintf(st, sizeof(st), "%s.myshopify.com", tenant);
    assert_int_equal(
        dh_redis_commandf(r, NULL, "SET dh:inv:fence:%s:BLR-2|%s other PX 6000", st, skus[0]),
        DH_OK);
    assert_int_equal(run_three(FENCED, NULL, &waited), 2);
    assert_int_equal(waited, 1);
    assert_int_equal(qty_of(0, 0), -1);
    assert_int_equal(qty_of(0, 1), 38);
    assert_int_equal(qty_of(0, 2), 38);
    assert_int_equal(qty_of(1, 0), 38);
    assert_int_equal(qty_of(1, 1), -1);
    snprintf(key, sizeof(key), "dh:inv:fence:%s:BLR-2|%s", st, skus[0]);
    redis_get(r, key, NULL, buf, sizeof(buf));
    assert_string_equal(buf, ""); /* released */
    dh_redis_destroy(r);
}

#define CASE(i)                                                                                    \
    {                                                                                              \
        cases[i].name, run_case, NULL, NULL, (void *)&cases[i]                                     \
    }

int main(void)
{
    const struct CMUnitTest tests[] = {
        CASE(0),
        CASE(1),
        CASE(2),
        CASE(3),
        CASE(4),
        cmocka_unit_test(test_ledger_and_facilities),
        cmocka_unit_test(test_fenced_sku_waits),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
