/*
 * dh-orders' handler (workers/orders/) in the real runtime (th_rt.h) against a scripted far
 * side (th_far.h) that is both Shopify's GraphQL endpoint and the WMS, for the order
 * lifecycle after placement (docs/orders.md "Lifecycle"): a fulfillment order moved to or
 * from a WMS location, a scheduled one becoming ready, holds per fulfillment order, a
 * payment marked after creation (orders/paid), and an edit that leaves nothing to ship.
 * Each case sends its events in order and asserts exactly the WMS requests they made (and
 * the Shopify documents read). The stores map WMS facility FAC-1 to location 11 and FAC-2
 * to location 13; location 12 is not the WMS's. Every case has its own store.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "orders.h"
#include "orders_internal.h"
#include "th_far.h"
#include "th_rt.h"

/* cmocka.h needs these three first; keep clang-format from sorting it above them. */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
/* clang-format on */

#define TOPIC    "shopify.orders"
#define ORDER_ID "5802154000001" /* the example's */
#define COD_ID   "5802154000101" /* the cash-on-delivery example's */
#define L11      "gid://shopify/Location/11"
#define L12      "gid://shopify/Location/12"
#define L13      "gid://shopify/Location/13"
#define NSTORES  7
#define MS       20000

#define COST  ",\"extensions\":{\"cost\":{\"actualQueryCost\":3}}}"
#define LI(n) "{\"lineItem\":{\"id\":\"gid://shopify/LineItem/" n "\"}}"
#define L1    LI("14202154000011")
#define L2    LI("14202154000012")
#define FO(id, st, loc, lines)                                                                     \
    "{\"id\":\"gid://shopify/FulfillmentOrder/" id "\",\"status\":\"" st "\","                     \
    "\"assignedLocation\":{\"location\":{\"id\":\"" loc "\"}},\"fulfillmentHolds\":[],"            \
    "\"lineItems\":{\"nodes\":[" lines "]}}"
#define FOS(nodes)                                                                                 \
    "{\"data\":{\"order\":{\"id\":\"gid://shopify/Order/" ORDER_ID "\",\"name\":\"#1021\","        \
    "\"fulfillmentOrders\":{\"nodes\":[" nodes "]}}}" COST
#define FO_ORDER                                                                                   \
    "{\"data\":{\"fulfillmentOrder\":{\"id\":\"gid://shopify/FulfillmentOrder/7\",\"status\":"     \
    "\"OPEN\",\"order\":{\"id\":\"gid://shopify/Order/" ORDER_ID                                   \
    "\",\"legacyResourceId\":\"" ORDER_ID "\"}}}" COST

#define Q_FOS   "OrderFulfillmentOrders("
#define Q_FOO   "FulfillmentOrderOrder("
#define Q_ORDER "OrderForReconcile("
#define W_NEW   "\"channel_order_id\""
#define W_PUT   "\"updated_at\""
#define W_HOLD  "\"hold_code\""
#define W_CXL   "\"cancelled_at\""
#define W_REL   "{}"
#define OK_SO   "{\"id\":\"SO-1\",\"status\":\"OPEN\"}"
#define PROBLEM(slug)                                                                              \
    "{\"type\":\"https://dockhand.example/problems/" slug "\",\"title\":\"" slug "\"}"

static th_far_fx_t g_fx;
static char *g_order_reply; /* OrderForReconcile's answer: the example order's node */

/* Stores "<prefix><i>.myshopify.com" at the far side, FAC-1 at 11 and FAC-2 at 13. */
static int setup(void **state)
{
    char *node = th_text_file(DH_ORDERS_FIXTURES "/gql-node-1021.json");
    size_t n = strlen(node) + 64;

    (void)state;
    th_far_fx_start(&g_fx, "ofo", NSTORES);
    th_far_fx_stores(&g_fx, NSTORES, 0, "{\"FAC-1\":\"" L11 "\",\"FAC-2\":\"" L13 "\"}");
    g_order_reply = malloc(n);
    assert_non_null(g_order_reply);
    snprintf(g_order_reply, n, "{\"data\":{\"order\":%s}}", node);
    free(node);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    th_far_fx_stop(&g_fx);
    free(g_order_reply);
    return 0;
}

/* One case's run: its store, the runtime, the events sent so far. */
typedef struct run {
    th_rt_t *t;
    char store[128];
    uint64_t done;
} run_t;

static void run_start(run_t *r, int store, const th_far_reply_t *replies, const char *const *when,
                      size_t n)
{
    static char env_url[200], env_stores[300];
    const char *env[] = {env_url,
                         env_stores,
                         "DH_WMS_TOKEN=wms-test",
                         "DH_WMS_RATE=default=1000",
                         "DH_HTTP_TIMEOUT_MS=2000",
                         "DH_ORDERS_RECONCILE_INTERVAL_S=0",
                         NULL};

    snprintf(r->store, sizeof(r->store), "%s%d.myshopify.com", g_fx.prefix, store);
    snprintf(env_url, sizeof(env_url), "DH_WMS_URL=%s", th_far_url(g_fx.far));
    snprintf(env_stores, sizeof(env_stores), "DH_STORES_FILE=%s", g_fx.stores);
    r->t = th_rt_new(&orders_handler, TOPIC, 1, env);
    r->done = 0;
    th_far_script_when(g_fx.far, replies, when, n);
    th_rt_start(r->t);
}

/* Sends one webhook as the gateway writes it (\p key_id: the order id or "fo:<id>") and
 * awaits it handled: every request it makes has been answered once it counts as done. */
static void deliver(run_t *r, const char *topic, const char *key_id, const char *payload)
{
    char key[200], wid[64];
    const char *hdrs[] = {"dh-topic", topic, "dh-shop-domain", r->store, "dh-webhook-id",
                          wid,        NULL};

    snprintf(key, sizeof(key), "%s|%s", r->store, key_id);
    snprintf(wid, sizeof(wid), "wh-%llu-%s", (unsigned long long)r->done, th_rt_run_id(r->t));
    th_rt_produce(r->t, 0, key, payload, hdrs);
    r->done++;
    if (!th_rt_await_count(r->t, &th_rt_runtime(r->t)->m.done, r->done, MS)) {
        th_far_print(g_fx.far);
        fail_msg("%s (%s) not handled within %d ms", topic, key_id, MS);
    }
}

static void run_stop(run_t *r)
{
    assert_int_equal(th_rt_stop(r->t), 0);
    th_rt_destroy(r->t);
}

/* The WMS requests, in order, as "METHOD path-suffix" (Shopify's are left out). */
static void assert_wms(const char *const *want, size_t n)
{
    size_t all = th_far_count(g_fx.far), k = 0;
    th_far_req_t q;
    char got[600];

    for (size_t i = 0; i < all; i++) {
        th_far_request(g_fx.far, i, &q);
        if (strncmp(q.path, "/wms/", 5) == 0) {
            const char *at =
                strstr(q.path, ORDER_ID) ? strstr(q.path, ORDER_ID) : strstr(q.path, COD_ID);

            snprintf(got, sizeof(got), "%s %s", q.method,
                     !at      ? q.path
                     : at[13] ? at + 13
                              : "/wms/v1/sales-orders/<order>");
            assert_true(k < n);
            assert_string_equal(got, want[k]);
            k++;
        }
        free(q.body);
    }
    assert_int_equal(k, n);
}

static size_t count_doc(const char *doc)
{
    size_t all = th_far_count(g_fx.far), n = 0;
    th_far_req_t q;

    for (size_t i = 0; i < all; i++) {
        th_far_request(g_fx.far, i, &q);
        n += strstr(q.body, doc) != NULL;
        free(q.body);
    }
    return n;
}

/* The body of the \p i-th WMS request (new reference). */
static json_t *wms_body(size_t want)
{
    size_t all = th_far_count(g_fx.far), k = 0;
    th_far_req_t q;
    json_t *out = NULL;

    for (size_t i = 0; i < all && !out; i++) {
        th_far_request(g_fx.far, i, &q);
        if (strncmp(q.path, "/wms/", 5) == 0 && k++ == want) {
            out = json_loads(q.body, 0, NULL);
        }
        free(q.body);
    }
    assert_non_null(out);
    return out;
}

static char *example(const char *name)
{
    char path[512];

    snprintf(path, sizeof(path), "%s/%s", DH_ORDERS_EXAMPLES, name);
    return th_text_file(path);
}

/* Placed with every line at location 12 (nothing for the WMS), then moved to 11: the order
 * is created then, its lines shipped by FAC-1. */
static void test_moved_in(void **state)
{
    static const th_far_reply_t replies[] = {{200, FOS(FO("7", "OPEN", L12, L1 "," L2)), NULL, 0},
                                             {200, FO_ORDER, NULL, 0},
                                             {200, NULL, NULL, 0},
                                             {200, FOS(FO("7", "OPEN", L11, L1 "," L2)), NULL, 0},
                                             {201, OK_SO, NULL, 0}};
    static const char *const when[] = {Q_FOS, Q_FOO, Q_ORDER, Q_FOS, W_NEW};
    static const char *const want[] = {"POST /wms/v1/sales-orders"};
    th_far_reply_t r5[5];
    run_t r;
    char *create = example("orders-create.json"), *moved = example("fulfillment-orders-moved.json");

    (void)state;
    memcpy(r5, replies, sizeof(r5));
    r5[2].body = g_order_reply;
    run_start(&r, 0, r5, when, 5);
    deliver(&r, "orders/create", ORDER_ID, create);
    assert_int_equal(th_far_count(g_fx.far), 1); /* routed away: no WMS call */
    deliver(&r, "fulfillment_orders/moved", "fo:6102154000021", moved);
    assert_wms(want, 1);
    json_t *b = wms_body(0);

    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(b, "lines"), 1), "facility")),
                        "FAC-1");
    json_decref(b);
    assert_int_equal(count_doc(Q_FOO), 1);
    assert_int_equal(count_doc(Q_ORDER), 1);
    run_stop(&r);
    free(create);
    free(moved);
}

/* Created with one line at 11, one at 12; the fulfillment order at 11 moves to 12: nothing
 * is left for the WMS, so its order is cancelled there. */
static void test_moved_away(void **state)
{
    static const th_far_reply_t replies[] = {
        {200, FOS(FO("7", "OPEN", L11, L1) "," FO("8", "OPEN", L12, L2)), NULL, 0},
        {201, OK_SO, NULL, 0},
        {200, FO_ORDER, NULL, 0},
        {200, NULL, NULL, 0},
        {200, FOS(FO("7", "OPEN", L12, L1) "," FO("8", "OPEN", L12, L2)), NULL, 0},
        {200, OK_SO, NULL, 0}};
    static const char *const when[] = {Q_FOS, W_NEW, Q_FOO, Q_ORDER, Q_FOS, W_CXL};
    static const char *const want[] = {"POST /wms/v1/sales-orders", "POST /cancel"};
    th_far_reply_t r6[6];
    run_t r;
    char *create = example("orders-create.json"), *moved = example("fulfillment-orders-moved.json");

    (void)state;
    memcpy(r6, replies, sizeof(r6));
    r6[3].body = g_order_reply;
    run_start(&r, 1, r6, when, 6);
    deliver(&r, "orders/create", ORDER_ID, create);
    deliver(&r, "fulfillment_orders/moved", "fo:6102154000021", moved);
    assert_wms(want, 2);
    json_t *b = wms_body(0), *c = wms_body(1);

    assert_int_equal(json_array_size(json_object_get(b, "lines")), 1);
    assert_int_equal(json_array_size(json_object_get(b, "other_location_lines")), 1);
    assert_non_null(strstr(json_string_value(json_object_get(c, "reason")), "nothing left"));
    json_decref(b);
    json_decref(c);
    run_stop(&r);
    free(create);
    free(moved);
}

/* Created ON_HOLD "scheduled" (its fulfillment order at 11 SCHEDULED); ready: the same
 * lines, so no update, and the hold is released, once. */
static void test_scheduled_ready(void **state)
{
    static const th_far_reply_t replies[] = {
        {200, FOS(FO("7", "SCHEDULED", L11, L1 "," L2)), NULL, 0},
        {201, OK_SO, NULL, 0},
        {200, FO_ORDER, NULL, 0},
        {200, NULL, NULL, 0},
        {200, FOS(FO("7", "OPEN", L11, L1 "," L2)), NULL, 0},
        {200, OK_SO, NULL, 0}};
    static const char *const when[] = {Q_FOS, W_NEW, Q_FOO, Q_ORDER, Q_FOS, W_REL};
    static const char *const want[] = {"POST /wms/v1/sales-orders", "POST /release-hold"};
    th_far_reply_t r6[6];
    run_t r;
    char *create = example("orders-create.json");
    char *ready = example("fulfillment-orders-scheduled-ready.json");

    (void)state;
    memcpy(r6, replies, sizeof(r6));
    r6[3].body = g_order_reply;
    run_start(&r, 2, r6, when, 6);
    deliver(&r, "orders/create", ORDER_ID, create);
    deliver(&r, "fulfillment_orders/scheduled_fulfillment_order_ready", "fo:6102154000022", ready);
    assert_wms(want, 2);
    json_t *b = wms_body(0);

    assert_string_equal(json_string_value(json_object_get(b, "hold_code")), "scheduled");
    json_decref(b);
    run_stop(&r);
    free(create);
    free(ready);
}

#define HOLD(id, fo, topic_reason)                                                                 \
    "{\"fulfillment_hold\":{\"id\":" id ",\"reason\":\"" topic_reason "\",\"reason_notes\":null,"  \
    "\"fulfillment_order_id\":\"" fo "\",\"order_id\":\"" ORDER_ID "\","                           \
    "\"held_by_requesting_app\":false}}"

/* Three fulfillment orders: 7 at FAC-1, 8 at location 12, 9 at FAC-2. A hold on 8 holds
 * nothing in the WMS; holds on 7 and 9 hold it; releasing 7 while 9 is held releases
 * nothing; releasing 9 releases the WMS order, once. */
static void test_holds_per_fulfillment_order(void **state)
{
    static const th_far_reply_t replies[] = {
        {200,
         FOS(FO("7", "OPEN", L11, L1) "," FO("8", "OPEN", L12, "") "," FO("9", "OPEN", L13, L2)),
         NULL, 0},
        {201, OK_SO, NULL, 0},
        {200,
         FOS(FO("7", "OPEN", L11, L1) "," FO("8", "ON_HOLD", L12, "") "," FO("9", "OPEN", L13, L2)),
         NULL, 0},
        {200,
         FOS(FO("7", "ON_HOLD", L11, L1) "," FO("8", "ON_HOLD", L12, "") "," FO("9", "OPEN", L13,
                                                                                L2)),
         NULL, 0},
        {200, OK_SO, NULL, 0},
        {200,
         FOS(FO("7", "ON_HOLD", L11, L1) "," FO("8", "ON_HOLD", L12, "") "," FO("9", "ON_HOLD", L13,
                                                                                L2)),
         NULL, 0},
        {200, OK_SO, NULL, 0},
        {200,
         FOS(FO("7", "OPEN", L11, L1) "," FO("8", "ON_HOLD", L12, "") "," FO("9", "ON_HOLD", L13,
                                                                             L2)),
         NULL, 0},
        {200,
         FOS(FO("7", "OPEN", L11, L1) "," FO("8", "ON_HOLD", L12, "") "," FO("9", "OPEN", L13, L2)),
         NULL, 0},
        {200, OK_SO, NULL, 0}};
    static const char *const when[] = {Q_FOS, W_NEW,  Q_FOS, Q_FOS, W_HOLD,
                                       Q_FOS, W_HOLD, Q_FOS, Q_FOS, W_REL};
    static const char *const want[] = {"POST /wms/v1/sales-orders", "POST /hold", "POST /hold",
                                       "POST /release-hold"};
    run_t r;
    char *create = example("orders-create.json");

    (void)state;
    run_start(&r, 3, replies, when, 10);
    deliver(&r, "orders/create", ORDER_ID, create);
    deliver(&r, "fulfillment_holds/added", ORDER_ID, HOLD("81", "8", "other"));
    deliver(&r, "fulfillment_holds/added", ORDER_ID, HOLD("71", "7", "high_risk_of_fraud"));
    deliver(&r, "fulfillment_holds/added", ORDER_ID, HOLD("91", "9", "incorrect_address"));
    deliver(&r, "fulfillment_holds/released", ORDER_ID, HOLD("71", "7", "high_risk_of_fraud"));
    deliver(&r, "fulfillment_holds/released", ORDER_ID, HOLD("91", "9", "incorrect_address"));
    assert_wms(want, 4);
    assert_int_equal(count_doc(Q_FOS), 6);
    run_stop(&r);
    free(create);
}

/* A cash-on-delivery order marked paid: orders/paid puts the payment (nothing to collect)
 * in the WMS once (the orders/updated that follows changes nothing); after dispatch the same
 * change is done without a dead letter. */
static void run_paid(int store, int status, const char *answer)
{
    th_far_reply_t replies[] = {{200, FOS(FO("7", "OPEN", L11, LI("14202154001011"))), NULL, 0},
                                {201, OK_SO, NULL, 0},
                                {200, FOS(FO("7", "OPEN", L11, LI("14202154001011"))), NULL, 0},
                                {status, answer, NULL, 0},
                                {200, FOS(FO("7", "OPEN", L11, LI("14202154001011"))), NULL, 0}};
    static const char *const when[] = {Q_FOS, W_NEW, Q_FOS, W_PUT, Q_FOS};
    static const char *const want[] = {"POST /wms/v1/sales-orders",
                                       "PUT /wms/v1/sales-orders/<order>"};
    char *create = example("orders-create-cod-gift-card.json");
    char *a = th_text_replace(create, "\"financial_status\": \"pending\"",
                              "\"financial_status\": \"paid\"");
    char *b =
        th_text_replace(a, "\"total_outstanding\": \"999.00\"", "\"total_outstanding\": \"0.00\"");
    char *paid = th_text_replace(b, "2026-05-03T14:30:02+05:30", "2026-05-04T10:00:00+05:30");
    run_t r;

    run_start(&r, store, replies, when, 5);
    deliver(&r, "orders/create", COD_ID, create);
    deliver(&r, "orders/paid", COD_ID, paid);
    deliver(&r, "orders/updated", COD_ID, paid);
    json_t *put = wms_body(1), *pay = json_object_get(put, "payment");

    assert_wms(want, 2);
    assert_string_equal(json_string_value(json_object_get(pay, "financial_status")), "paid");
    assert_string_equal(json_string_value(json_object_get(pay, "amount_to_collect")), "0.00");
    assert_true(json_is_true(json_object_get(pay, "cash_on_delivery")));
    json_decref(put);
    assert_int_equal(dh_counter_value(th_rt_runtime(r.t)->m.dead), 0);
    run_stop(&r);
    free(create);
    free(a);
    free(b);
    free(paid);
}

static void test_paid(void **state)
{
    (void)state;
    run_paid(4, 200, OK_SO);
    run_paid(5, 409, PROBLEM("order-already-dispatched"));
}

/* An edit that leaves nothing to ship (every line at 0): the WMS order is cancelled. */
static void test_edit_nothing_left(void **state)
{
    static const th_far_reply_t replies[] = {{200, FOS(FO("7", "OPEN", L11, L1 "," L2)), NULL, 0},
                                             {201, OK_SO, NULL, 0},
                                             {200, OK_SO, NULL, 0}};
    static const char *const when[] = {Q_FOS, W_NEW, W_CXL};
    static const char *const want[] = {"POST /wms/v1/sales-orders", "POST /cancel"};
    char *create = example("orders-create.json");
    char *a = th_text_replace(create, "\"current_quantity\": 2", "\"current_quantity\": 0");
    char *b = th_text_replace(a, "\"current_quantity\": 1", "\"current_quantity\": 0");
    char *edited = th_text_replace(b, "2026-05-01T10:15:32+05:30", "2026-05-01T11:00:00+05:30");
    run_t r;

    (void)state;
    run_start(&r, 6, replies, when, 3);
    deliver(&r, "orders/create", ORDER_ID, create);
    deliver(&r, "orders/updated", ORDER_ID, edited);
    assert_wms(want, 2);
    json_t *c = wms_body(1);

    assert_string_equal(json_string_value(json_object_get(c, "cancelled_at")),
                        "2026-05-01T05:30:00Z");
    json_decref(c);
    run_stop(&r);
    free(create);
    free(a);
    free(b);
    free(edited);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_moved_in),
        cmocka_unit_test(test_moved_away),
        cmocka_unit_test(test_scheduled_ready),
        cmocka_unit_test(test_holds_per_fulfillment_order),
        cmocka_unit_test(test_paid),
        cmocka_unit_test(test_edit_nothing_left),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
