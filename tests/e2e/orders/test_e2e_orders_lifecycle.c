/*
 * End to end, the contents of an order (docs/orders.md "Lifecycle"): orders placed in the
 * sandbox store travel webhook -> dh-gateway -> Kafka -> dh-orders -> WMS sandbox:
 *
 *   A  a gift card and a shippable line: created OPEN with the shippable line only, the
 *      gift card recorded in non_shipping_lines;
 *   B  a custom item that must ship but has no SKU, and a shippable line: created ON_HOLD
 *      (hold_code missing-sku) with the custom item in unmapped_lines;
 *   C  a test order: never created (default policy: skip);
 *   D  cash on delivery: created OPEN with payment.cash_on_delivery and the outstanding
 *      total as amount_to_collect;
 *   E  a gift card alone: nothing to ship, never created.
 *
 * "Once" and "never" are counted in the sandbox's WMS journal after a later event on each
 * order's key was handled (a fulfillment_holds/released marker for A, C, D, E; B's own
 * cancellation through the gateway, since a release would lift its hold).
 *
 * Edits (test_edits): an order edited in the sandbox store four times before picking (a
 * line reduced, a line removed, a line added, the address changed) and refunded once has
 * each change in the WMS, each applied once; an order the WMS picked is edited: the update is
 * refused (409), dead-lettered with class edit-refused, tried once, and the order's later
 * cancellation still goes through.
 *
 * Reconciliation (test_reconcile_repairs): an edit whose orders/updated never arrives, and
 * a pending payment marked paid whose orders/updated never arrives, are found by the
 * scheduled pass (Shopify's updatedAt after the last order event the worker handled): the
 * edit reaches the WMS once, the awaiting-payment hold is released.
 *
 * Shopify's fulfillment holds (test_fulfillment_holds): an order placed on hold for each
 * FulfillmentHoldReason, and an order held after its creation, reach the WMS ON_HOLD with
 * the reason's code (one hold call each); releasing them in Shopify releases them; a hold
 * on an order the WMS picked is dead-lettered "hold-refused".
 *
 * Lines by location (test_locations): a store whose WMS facility FAC-1 is Shopify location
 * 11 and whose location 12 is not the WMS's: an order at 11 reaches the WMS with facility
 * FAC-1; a split order only with its line at 11 (the other recorded); an order at 12
 * never; a scheduled order at 11 ON_HOLD "scheduled". Refunds with restock (refunds/create
 * through the gateway): the line restocked at 11 re-pushes FAC-1's stock of its SKU
 * (dh:inv:repush), the line restocked at 12 nothing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "steps.h"

#define GIFT_CARD                                                                                  \
    "{\"title\": \"Gift card\", \"price\": \"500.00\", \"quantity\": 1, "                          \
    "\"gift_card\": true}"

static const char *str_at(json_t *j, const char *path0, size_t i, const char *key)
{
    return json_string_value(json_object_get(json_array_get(json_object_get(j, path0), i), key));
}

static void check_a_gift_card(env_t *e, long long id)
{
    json_t *so = wms_order(e, id);

    assert_non_null(so);
    assert_string_equal(json_string_value(json_object_get(so, "status")), "OPEN");
    assert_int_equal(json_array_size(json_object_get(so, "lines")), 1);
    assert_string_equal(str_at(so, "lines", 0, "sku"), "TEE-1");
    assert_int_equal(json_array_size(json_object_get(so, "non_shipping_lines")), 1);
    assert_string_equal(str_at(so, "non_shipping_lines", 0, "title"), "Gift card");
    assert_true(json_is_true(json_object_get(
        json_array_get(json_object_get(so, "non_shipping_lines"), 0), "gift_card")));
    json_decref(so);
}

static void check_b_missing_sku(env_t *e, long long id)
{
    json_t *so = wms_order(e, id);

    assert_non_null(so);
    assert_string_equal(json_string_value(json_object_get(so, "status")), "ON_HOLD");
    assert_string_equal(json_string_value(json_object_get(so, "hold_code")), "missing-sku");
    assert_int_equal(json_array_size(json_object_get(so, "lines")), 1);
    assert_string_equal(str_at(so, "lines", 0, "sku"), "TEE-2");
    assert_int_equal(json_array_size(json_object_get(so, "unmapped_lines")), 1);
    assert_string_equal(str_at(so, "unmapped_lines", 0, "title"), "Engraving plate");
    json_decref(so);
}

static void check_d_cod(env_t *e, long long id)
{
    json_t *so = wms_order(e, id);
    json_t *pay = json_object_get(so, "payment");

    assert_non_null(so);
    assert_string_equal(json_string_value(json_object_get(so, "status")), "OPEN");
    assert_true(json_is_true(json_object_get(pay, "cash_on_delivery")));
    assert_string_equal(json_string_value(json_object_get(pay, "financial_status")), "pending");
    assert_string_equal(json_string_value(json_object_get(pay, "amount_to_collect")), "32.50");
    assert_string_equal(json_string_value(json_object_get(pay, "currency")), "INR");
    json_decref(so);
}

static void test_order_contents(void **state)
{
    int gw_port = th_free_port();
    long long ids[5]; /* A B C D E */
    env_t e;
    json_t *o[5];

    (void)state;
    env_start(&e, "ordlc", gw_port);
    th_create_topic(e.topic, 6);
    pid_t gw = start_gateway(&e, gw_port);
    const char *extra[] = {"DH_ORDERS_RECONCILE_INTERVAL_S=0", NULL};
    pid_t w = start_orders(&e, e.topic, extra);

    o[0] = place_lines(&e, "[" GIFT_CARD ", {\"sku\": \"TEE-1\", \"quantity\": 2}]", NULL, 1);
    o[1] = place_lines(&e,
                       "[{\"title\": \"Engraving plate\", \"price\": \"5.00\", \"quantity\": 1},"
                       " {\"sku\": \"TEE-2\", \"quantity\": 1}]",
                       NULL, 1);
    o[2] = place(&e, "\"test\": true", 1);
    o[3] = place(&e, "\"gateway\": \"Cash on Delivery (COD)\"", 1); /* 2 x 10.00 + 12.50 */
    o[4] = place_lines(&e, "[" GIFT_CARD "]", NULL, 1);
    for (int i = 0; i < 5; i++) {
        ids[i] = id_of(o[i]);
    }
    assert_true(json_is_true(json_object_get(o[2], "test")));
    assert_string_equal(json_string_value(json_object_get(o[3], "total_outstanding")), "32.50");

    const char *want[] = {"OPEN", "ON_HOLD", "OPEN"};
    long long seen[] = {ids[0], ids[1], ids[3]};
    wait_ctx_t wc = {&e, seen, want, 3};

    assert_true(th_wait_for(all_in_state, &wc, 60000));
    check_a_gift_card(&e, ids[0]);
    check_b_missing_sku(&e, ids[1]);
    check_d_cod(&e, ids[3]);

    /* Later events on every key, awaited: B's cancellation, the others' markers. */
    json_decref(cancel_in_shop(&e, o[1], 1));
    const char *cancelled[] = {"CANCELLED"};
    wait_ctx_t wb = {&e, &ids[1], cancelled, 1};

    assert_true(th_wait_for(all_in_state, &wb, 60000));
    long long marked[] = {ids[0], ids[2], ids[3], ids[4]};

    await_markers(&e, marked, 4);

    effects_t fx;
    long long made[] = {ids[0], ids[1], ids[3]};
    const char *made_want[] = {"OPEN", "CANCELLED", "OPEN"};
    char id[32];

    wms_effects(&e, &fx);
    assert_once(&fx, made, made_want, 3);
    for (int i = 2; i < 5; i += 2) { /* C and E: no create was ever sent */
        snprintf(id, sizeof(id), "%lld", ids[i]);
        assert_int_equal(json_object_size(json_object_get(fx.create_keys, id)), 0);
        assert_null(wms_order(&e, ids[i]));
    }
    effects_clear(&fx);
    for (int i = 0; i < 5; i++) {
        json_decref(o[i]);
    }
    th_stop(w);
    kill(gw, SIGTERM);
    th_wait_exit(gw, 10000);
    env_stop(&e);
}

/* ---- edits ---- */

static void control_post(env_t *e, long long id, const char *action, const char *body);

static void edit_in_shop(env_t *e, long long id, const char *body)
{
    char url[512];
    long st = 0;

    snprintf(url, sizeof(url), "%s/_control/shops/%s/orders/%lld/edit", e->sb.base, e->store, id);
    json_t *o = th_http_json("POST", url, body, &st);

    assert_int_equal(st, 200);
    json_decref(o);
}

static long long line_id(json_t *order, int i)
{
    return (long long)json_integer_value(
        json_object_get(json_array_get(json_object_get(order, "line_items"), (size_t)i), "id"));
}

/* "SKU:qty,..." of the WMS order's lines, and its address1. */
typedef struct content_ctx {
    env_t *e;
    long long id;
    const char *lines, *address1;
} content_ctx_t;

static int content_is(void *ud)
{
    content_ctx_t *c = ud;
    json_t *so = wms_order(c->e, c->id), *l;
    char got[512] = "";
    size_t i, off = 0;

    json_array_foreach(json_object_get(so, "lines"), i, l)
    {
        off += (size_t)snprintf(got + off, sizeof(got) - off, "%s%s:%lld", i ? "," : "",
                                json_string_value(json_object_get(l, "sku")),
                                (long long)json_integer_value(json_object_get(l, "quantity")));
    }
    const char *a1 =
        json_string_value(json_object_get(json_object_get(so, "shipping_address"), "address1"));
    int ok = so && strcmp(got, c->lines) == 0 && (!c->address1 || (a1 && !strcmp(a1, c->address1)));

    json_decref(so);
    return ok;
}

static void await_content(env_t *e, long long id, const char *lines, const char *address1)
{
    content_ctx_t c = {e, id, lines, address1};

    if (!th_wait_for(content_is, &c, 60000)) {
        json_t *so = wms_order(e, id);
        char *t = json_dumps(so, JSON_COMPACT), url[512], path[512], *journal = NULL;
        FILE *f;

        /* The sandbox's journal (every call and webhook, both sides) for the post-mortem. */
        snprintf(url, sizeof(url), "%s/_journal", e->sb.base);
        snprintf(path, sizeof(path), "%s/%s-journal.ndjson", th_log_dir(), e->topic);
        if (th_http("GET", url, NULL, NULL, &journal) == 200 && (f = fopen(path, "w"))) {
            fputs(journal, f);
            fclose(f);
            fprintf(stderr, "sandbox journal: %s\n", path);
        }
        free(journal);
        fail_msg("order %lld: want lines %s address1 %s, WMS has %s", id, lines,
                 address1 ? address1 : "-", t ? t : "(none)");
    }
}

static void wms_pick(env_t *e, long long id)
{
    char url[512];

    snprintf(url, sizeof(url), "%s/_control/wms/sales-orders/%s/%lld/pick", e->sb.base, e->store,
             id);
    assert_int_equal(th_http("POST", url, NULL, "{}", NULL), 200);
}

static void test_edits(void **state)
{
    int gw_port = th_free_port();
    env_t e;
    char body[512], id[32], dlq[200];

    (void)state;
    env_start(&e, "ordedit", gw_port);
    th_create_topic(e.topic, 6);
    pid_t gw = start_gateway(&e, gw_port);
    const char *extra[] = {"DH_ORDERS_RECONCILE_INTERVAL_S=0", NULL};
    pid_t w = start_orders(&e, e.topic, extra);
    json_t *x = place(&e, NULL, 1), *y = place(&e, NULL, 1);
    long long xid = id_of(x), yid = id_of(y);

    await_content(&e, xid, "TEE-1:2,TEE-2:1", NULL);
    snprintf(body, sizeof(body), "{\"set_quantity\": [{\"line_item_id\": %lld, \"quantity\": 1}]}",
             line_id(x, 0));
    edit_in_shop(&e, xid, body); /* reduced */
    await_content(&e, xid, "TEE-1:1,TEE-2:1", NULL);
    snprintf(body, sizeof(body), "{\"set_quantity\": [{\"line_item_id\": %lld, \"quantity\": 0}]}",
             line_id(x, 1));
    edit_in_shop(&e, xid, body); /* removed */
    await_content(&e, xid, "TEE-1:1", NULL);
    edit_in_shop(&e, xid, "{\"add\": [{\"sku\": \"TEE-2\", \"quantity\": 3}]}"); /* added */
    await_content(&e, xid, "TEE-1:1,TEE-2:3", NULL);
    edit_in_shop(&e, xid,
                 "{\"shipping_address\": {\"first_name\": \"Asha\", \"last_name\": \"Rao\", "
                 "\"address1\": \"7 Brigade Road\", \"city\": \"Bengaluru\", \"zip\": "
                 "\"560025\", \"country_code\": \"IN\"}}");
    await_content(&e, xid, "TEE-1:1,TEE-2:3", "7 Brigade Road");
    snprintf(body, sizeof(body),
             "{\"refund_line_items\": [{\"line_item_id\": %lld, \"quantity\": 1, "
             "\"restock_type\": \"cancel\"}]}",
             line_id(x, 0));
    control_post(&e, xid, "refund", body); /* refunded and restocked before picking */
    await_content(&e, xid, "TEE-2:3", "7 Brigade Road");

    /* Y: picked, then edited: refused, dead-lettered once; its cancellation still lands. */
    await_content(&e, yid, "TEE-1:2,TEE-2:1", NULL);
    wms_pick(&e, yid);
    snprintf(body, sizeof(body), "{\"set_quantity\": [{\"line_item_id\": %lld, \"quantity\": 1}]}",
             line_id(y, 0));
    edit_in_shop(&e, yid, body);
    json_decref(cancel_in_shop(&e, y, 1));
    const char *cancelled[] = {"CANCELLED"};
    wait_ctx_t wy = {&e, &yid, cancelled, 1};

    assert_true(th_wait_for(all_in_state, &wy, 60000));
    long long xs[] = {xid};

    await_markers(&e, xs, 1); /* every earlier event of X was handled */

    effects_t fx;
    const char *want[] = {"OPEN", "CANCELLED"};
    long long ids[] = {xid, yid};

    wms_effects(&e, &fx);
    assert_once(&fx, ids, want, 2);
    snprintf(id, sizeof(id), "%lld", xid);
    assert_int_equal(json_integer_value(json_object_get(fx.updates, id)), 5);
    assert_int_equal(json_integer_value(json_object_get(fx.update_attempts, id)), 5);
    snprintf(id, sizeof(id), "%lld", yid);
    assert_int_equal(json_integer_value(json_object_get(fx.updates, id)), 0);
    assert_int_equal(json_integer_value(json_object_get(fx.update_attempts, id)), 1);
    effects_clear(&fx);

    size_t n = 0;

    snprintf(dlq, sizeof(dlq), "%s.dlq", e.topic);
    rd_kafka_message_t **msgs = th_consume(dlq, 1, 30000, &n);

    assert_int_equal(n, 1);
    char cls[64], why[1024];

    th_dead_letter(msgs[0], cls, sizeof(cls), why, sizeof(why));
    assert_string_equal(cls, "edit-refused");
    assert_non_null(strstr(why, "order-already-picked"));
    rd_kafka_message_destroy(msgs[0]);
    free(msgs);
    json_decref(x);
    json_decref(y);
    th_stop(w);
    kill(gw, SIGTERM);
    th_wait_exit(gw, 10000);
    env_stop(&e);
}

/* ---- reconciliation repairs lost orders/updated ---- */

static void mark_paid(env_t *e, long long id, int deliver)
{
    char url[512], body[64];

    snprintf(url, sizeof(url), "%s/_control/shops/%s/orders/%lld/mark-paid", e->sb.base, e->store,
             id);
    snprintf(body, sizeof(body), "{\"deliver\": %s}", deliver ? "true" : "false");
    assert_int_equal(th_http("POST", url, NULL, body, NULL), 200);
}

static int clock_past(void *ud)
{
    return th_wall_ms() >= *(int64_t *)ud;
}

static void test_reconcile_repairs(void **state)
{
    int gw_port = th_free_port();
    env_t e;
    char body[512], id[32];

    (void)state;
    env_start(&e, "ordrecup", gw_port);
    th_create_topic(e.topic, 6);
    pid_t gw = start_gateway(&e, gw_port);
    const char *extra[] = {"DH_ORDERS_RECONCILE_INTERVAL_S=2", "DH_ORDERS_RECONCILE_LOOKBACK_S=600",
                           NULL};
    pid_t w = start_orders(&e, e.topic, extra);
    json_t *x = place(&e, NULL, 1);
    json_t *p = place(&e, "\"gateway\": \"Bank Deposit\", \"financial_status\": \"pending\"", 1);
    int64_t placed_ms = th_wall_ms(); /* the sandbox stamps updated_at from the wall clock */
    long long ids[] = {id_of(x), id_of(p)};
    const char *held[] = {"OPEN", "ON_HOLD"};
    wait_ctx_t wh = {&e, ids, held, 2};

    assert_true(th_wait_for(all_in_state, &wh, 60000));
    json_t *so = wms_order(&e, ids[1]);

    assert_string_equal(json_string_value(json_object_get(so, "hold_code")), "awaiting-payment");
    json_decref(so);
    /* Shopify's updatedAt has whole seconds: the changes must fall in a later second than
     * the orders' creation for a pass to tell them from what the worker handled. */
    int64_t after = (placed_ms / 1000 + 1) * 1000; /* the second after both placements */

    assert_true(th_wait_for(clock_past, &after, 5000));
    /* Both changes happen in Shopify; neither webhook is delivered. */
    snprintf(body, sizeof(body),
             "{\"set_quantity\": [{\"line_item_id\": %lld, \"quantity\": 1}], \"deliver\": false}",
             line_id(x, 0));
    edit_in_shop(&e, ids[0], body);
    mark_paid(&e, ids[1], 0);
    await_content(&e, ids[0], "TEE-1:1,TEE-2:1", NULL);
    const char *open[] = {"OPEN", "OPEN"};
    wait_ctx_t wo = {&e, ids, open, 2};

    assert_true(th_wait_for(all_in_state, &wo, 60000));
    await_markers(&e, ids, 2);

    effects_t fx;

    wms_effects(&e, &fx);
    assert_once(&fx, ids, open, 2);
    snprintf(id, sizeof(id), "%lld", ids[0]);
    assert_int_equal(json_integer_value(json_object_get(fx.updates, id)), 1);
    effects_clear(&fx);
    json_decref(x);
    json_decref(p);
    th_stop(w);
    kill(gw, SIGTERM);
    th_wait_exit(gw, 10000);
    env_stop(&e);
}

/* ---- Shopify's fulfillment holds ---- */

static const char *const hold_reasons[] = {
    "AWAITING_PAYMENT",       "AWAITING_RETURN_ITEMS",
    "HIGH_RISK_OF_FRAUD",     "INCORRECT_ADDRESS",
    "INVENTORY_OUT_OF_STOCK", "ONLINE_STORE_POST_PURCHASE_CROSS_SELL",
    "UNKNOWN_DELIVERY_DATE",  "OTHER"};
#define NREASONS ((int)(sizeof(hold_reasons) / sizeof(hold_reasons[0])))

static void control_post(env_t *e, long long id, const char *action, const char *body)
{
    char url[512];

    snprintf(url, sizeof(url), "%s/_control/shops/%s/orders/%lld/%s", e->sb.base, e->store, id,
             action);
    assert_int_equal(th_http("POST", url, NULL, body, NULL), 200);
}

static void hold_code_of(const char *reason, char *out, size_t size)
{
    size_t i;

    for (i = 0; reason[i] && i < size - 1; i++) {
        out[i] = reason[i] == '_' ? '-' : (char)(reason[i] - 'A' + 'a');
    }
    out[i] = '\0';
}

static void test_fulfillment_holds(void **state)
{
    int gw_port = th_free_port();
    env_t e;
    long long ids[NREASONS + 2];
    const char *want[NREASONS + 2];
    char extra_json[160], code[64], id[32], dlq[200];

    (void)state;
    env_start(&e, "ordhold", gw_port);
    th_create_topic(e.topic, 6);
    pid_t gw = start_gateway(&e, gw_port);
    const char *extra[] = {"DH_ORDERS_RECONCILE_INTERVAL_S=0", NULL};
    pid_t w = start_orders(&e, e.topic, extra);

    for (int i = 0; i < NREASONS; i++) { /* placed on hold */
        snprintf(extra_json, sizeof(extra_json), "\"hold_reason\": \"%s\"", hold_reasons[i]);
        json_t *o = place(&e, extra_json, 1);

        ids[i] = id_of(o);
        want[i] = "ON_HOLD";
        json_decref(o);
    }
    json_t *late = place(&e, NULL, 1), *picked = place(&e, NULL, 1);

    ids[NREASONS] = id_of(late);
    ids[NREASONS + 1] = id_of(picked);
    want[NREASONS] = want[NREASONS + 1] = "OPEN";
    wait_ctx_t wc = {&e, ids, want, NREASONS + 2};

    assert_true(th_wait_for(all_in_state, &wc, 60000));
    wms_pick(&e, ids[NREASONS + 1]);
    control_post(&e, ids[NREASONS], "holds", "{\"reason\": \"HIGH_RISK_OF_FRAUD\"}");
    control_post(&e, ids[NREASONS + 1], "holds", "{\"reason\": \"INCORRECT_ADDRESS\"}");
    want[NREASONS] = "ON_HOLD";
    want[NREASONS + 1] = "PICKED";
    assert_true(th_wait_for(all_in_state, &wc, 60000));
    for (int i = 0; i < NREASONS; i++) {
        json_t *so = wms_order(&e, ids[i]);

        hold_code_of(hold_reasons[i], code, sizeof(code));
        assert_string_equal(json_string_value(json_object_get(so, "hold_code")), code);
        json_decref(so);
    }
    /* Released in Shopify: fulfillment_holds/released per hold, then orders/updated. */
    for (int i = 0; i <= NREASONS; i++) {
        control_post(&e, ids[i], "release-hold", "{}");
        want[i] = "OPEN";
    }
    assert_true(th_wait_for(all_in_state, &wc, 60000));

    size_t n = 0;

    snprintf(dlq, sizeof(dlq), "%s.dlq", e.topic);
    rd_kafka_message_t **msgs = th_consume(dlq, 1, 30000, &n);
    char cls[64], why[1024];

    assert_int_equal(n, 1);
    th_dead_letter(msgs[0], cls, sizeof(cls), why, sizeof(why));
    assert_string_equal(cls, "hold-refused");
    rd_kafka_message_destroy(msgs[0]);
    free(msgs);
    await_markers(&e, ids, NREASONS + 1);

    effects_t fx;

    wms_effects(&e, &fx);
    assert_once(&fx, ids, want, NREASONS + 1);
    for (int i = 0; i < NREASONS + 2; i++) {
        snprintf(id, sizeof(id), "%lld", ids[i]);
        assert_int_equal(json_integer_value(json_object_get(fx.holds, id)), 1);
    }
    effects_clear(&fx);
    json_decref(late);
    json_decref(picked);
    th_stop(w);
    kill(gw, SIGTERM);
    th_wait_exit(gw, 10000);
    env_stop(&e);
}

/* ---- lines by location ---- */

static void test_locations(void **state)
{
    int gw_port = th_free_port();
    env_t e;
    char id[32];

    (void)state;
    env_start_split(&e, "ordloc", gw_port);
    th_create_topic(e.topic, 6);
    pid_t gw = start_gateway(&e, gw_port);
    const char *extra[] = {"DH_ORDERS_RECONCILE_INTERVAL_S=0", NULL};
    pid_t w = start_orders(&e, e.topic, extra);
    json_t *at11 = place(&e, NULL, 1);
    json_t *split =
        place_lines(&e,
                    "[{\"sku\": \"TEE-1\", \"quantity\": 2}, {\"sku\": \"TEE-2\", \"quantity\": 1, "
                    "\"location_id\": 12}]",
                    NULL, 1);
    json_t *at12 = place(&e, "\"location_id\": 12", 1);
    json_t *later = place(&e, "\"fulfill_at\": \"2030-01-01T00:00:00Z\"", 1);
    long long ids[] = {id_of(at11), id_of(split), id_of(later), id_of(at12)};
    const char *want[] = {"OPEN", "OPEN", "ON_HOLD"};
    wait_ctx_t wc = {&e, ids, want, 3};

    assert_true(th_wait_for(all_in_state, &wc, 60000));
    await_content(&e, ids[0], "TEE-1:2,TEE-2:1", NULL);
    await_content(&e, ids[1], "TEE-1:2", NULL);
    json_t *so = wms_order(&e, ids[0]);

    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(so, "lines"), 0), "facility")),
                        "FAC-1");
    json_decref(so);
    so = wms_order(&e, ids[1]);
    assert_int_equal(json_array_size(json_object_get(so, "other_location_lines")), 1);
    json_decref(so);
    so = wms_order(&e, ids[2]);
    assert_string_equal(json_string_value(json_object_get(so, "hold_code")), "scheduled");
    json_decref(so);
    /* Restocking refunds: split's line at 12 first, then at11's TEE-1 at 11. The sandbox
     * delivers its webhooks in order, so once at11's orders/updated is applied, split's
     * refunds/create is in Kafka ahead of split's marker. */
    char body[300];

    snprintf(body, sizeof(body),
             "{\"refund_line_items\": [{\"line_item_id\": %lld, \"quantity\": 1, "
             "\"restock_type\": \"cancel\"}]}",
             line_id(split, 1));
    control_post(&e, ids[1], "refund", body);
    snprintf(body, sizeof(body),
             "{\"refund_line_items\": [{\"line_item_id\": %lld, \"quantity\": 1, "
             "\"restock_type\": \"cancel\"}]}",
             line_id(at11, 0));
    control_post(&e, ids[0], "refund", body);
    await_content(&e, ids[0], "TEE-1:1,TEE-2:1", NULL);
    await_markers(&e, ids, 4); /* every order's events handled, the one at 12 included */
    redisContext *rc = th_redis();
    redisReply *r = redisCommand(rc, "ZRANGE dh:inv:repush:%s 0 -1", e.store);

    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    assert_int_equal(r->elements, 1); /* location 12 is not a WMS facility's */
    assert_string_equal(r->element[0]->str, "FAC-1|TEE-1");
    freeReplyObject(r);
    redisFree(rc);

    effects_t fx;

    wms_effects(&e, &fx);
    assert_once(&fx, ids, want, 3);
    snprintf(id, sizeof(id), "%lld", ids[3]);
    assert_int_equal(json_object_size(json_object_get(fx.create_keys, id)), 0);
    assert_null(wms_order(&e, ids[3]));
    effects_clear(&fx);
    json_decref(at11);
    json_decref(split);
    json_decref(at12);
    json_decref(later);
    th_stop(w);
    kill(gw, SIGTERM);
    th_wait_exit(gw, 10000);
    env_stop(&e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_order_contents),    cmocka_unit_test(test_edits),
        cmocka_unit_test(test_reconcile_repairs), cmocka_unit_test(test_fulfillment_holds),
        cmocka_unit_test(test_locations),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
