/*
 * End to end, an order's life after placement (docs/orders.md "Lifecycle"): changes made in
 * the sandbox store travel webhook -> dh-gateway -> Kafka -> dh-orders -> WMS sandbox, in a
 * store whose WMS facility FAC-1 is Shopify location 11 (location 12 is not the WMS's):
 *
 *   A  placed at 12 (never sent), its fulfillment order moved to 11: created, FAC-1's lines;
 *   B  placed at 11, its fulfillment order moved to 12: cancelled in the WMS;
 *   C  scheduled at 11 (ON_HOLD "scheduled"), ready: released (OPEN);
 *   D  split 11/12: a hold on 12's fulfillment order holds nothing in the WMS; a hold on
 *      11's holds it (high-risk-of-fraud); its release releases it;
 *   E  cash on delivery at 11, marked paid (orders/paid, orders/updated): the WMS's payment
 *      says paid, nothing to collect;
 *   F  at 11, edited to nothing left to ship: cancelled in the WMS.
 *
 * Each change reaches the WMS once: counted in the sandbox's WMS journal after a later event
 * on every order's key was handled (a fulfillment_holds/released marker).
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

static void control(env_t *e, long long id, const char *action, const char *body)
{
    char url[512];
    long st = 0;

    snprintf(url, sizeof(url), "%s/_control/shops/%s/orders/%lld/%s", e->sb.base, e->store, id,
             action);
    json_t *o = th_http_json("POST", url, body, &st);

    assert_int_equal(st, 200);
    json_decref(o);
}

/* The id of order \p id's fulfillment order at location \p lid (the sandbox's view). */
static void fo_at(env_t *e, long long id, const char *lid, char *out, size_t size)
{
    char url[512];
    long st = 0;
    size_t i;
    json_t *fo;

    snprintf(url, sizeof(url), "%s/_control/shops/%s/orders/%lld", e->sb.base, e->store, id);
    json_t *o = th_http_json("GET", url, NULL, &st);

    out[0] = '\0';
    json_array_foreach(json_object_get(o, "fulfillment_orders"), i, fo)
    {
        if (!strcmp(json_string_value(json_object_get(fo, "location_id")), lid)) {
            snprintf(out, size, "%s", json_string_value(json_object_get(fo, "id")));
        }
    }
    json_decref(o);
    assert_true(out[0] != '\0');
}

static long long line_id(json_t *order, int i)
{
    return (long long)json_integer_value(
        json_object_get(json_array_get(json_object_get(order, "line_items"), (size_t)i), "id"));
}

static const char *str_of(json_t *so, const char *k1, const char *k2)
{
    json_t *v = json_object_get(so, k1);

    return json_string_value(k2 ? json_object_get(v, k2) : v);
}

typedef struct paid_ctx {
    env_t *e;
    long long id;
} paid_ctx_t;

static int payment_paid(void *ud)
{
    paid_ctx_t *p = ud;
    json_t *so = wms_order(p->e, p->id);
    int ok = so && !strcmp(str_of(so, "payment", "financial_status"), "paid");

    json_decref(so);
    return ok;
}

static int count_of(json_t *map, long long id)
{
    char k[32];

    snprintf(k, sizeof(k), "%lld", id);
    return (int)json_integer_value(json_object_get(map, k));
}

static void test_after_placement(void **state)
{
    int gw_port = th_free_port();
    env_t e;
    char body[512], fo[32];

    (void)state;
    env_start_split(&e, "ordfo", gw_port);
    th_create_topic(e.topic, 6);
    pid_t gw = start_gateway(&e, gw_port);
    const char *extra[] = {"DH_ORDERS_RECONCILE_INTERVAL_S=0", NULL};
    pid_t w = start_orders(&e, e.topic, extra);
    json_t *a = place(&e, "\"location_id\": 12", 1), *b = place(&e, NULL, 1);
    json_t *c = place(&e, "\"fulfill_at\": \"2030-01-01T00:00:00Z\"", 1);
    json_t *d = place_lines(&e,
                            "[{\"sku\": \"TEE-1\", \"quantity\": 2}, {\"sku\": \"TEE-2\", "
                            "\"quantity\": 1, \"location_id\": 12}]",
                            NULL, 1);
    json_t *cod = place(&e, "\"gateway\": \"Cash on Delivery (COD)\"", 1), *f = place(&e, NULL, 1);
    long long ids[] = {id_of(a), id_of(b), id_of(c), id_of(d), id_of(cod), id_of(f)};
    const char *want[] = {"", "OPEN", "ON_HOLD", "OPEN", "OPEN", "OPEN"};
    wait_ctx_t wc = {&e, ids + 1, want + 1, 5};

    assert_true(th_wait_for(all_in_state, &wc, 60000));
    assert_null(wms_order(&e, ids[0])); /* at 12: nothing for the WMS */
    /* A's orders/create handled before A moves: otherwise the move may come first (another
     * key, another partition) and rightly find out by a PUT answered 404 that the WMS has
     * nothing of A, an update attempt this test counts as one too many. */
    await_markers(&e, ids, 1);

    /* A to 11, B to 12; C ready; F edited to nothing. */
    fo_at(&e, ids[0], "12", fo, sizeof(fo));
    snprintf(body, sizeof(body), "{\"fulfillment_order_id\": \"%s\", \"location_id\": 11}", fo);
    control(&e, ids[0], "move", body);
    control(&e, ids[1], "move", "{\"location_id\": 12}");
    control(&e, ids[2], "ready", "{}");
    snprintf(body, sizeof(body),
             "{\"set_quantity\": [{\"line_item_id\": %lld, \"quantity\": 0}, "
             "{\"line_item_id\": %lld, \"quantity\": 0}]}",
             line_id(f, 0), line_id(f, 1));
    control(&e, ids[5], "edit", body);
    /* D: a hold at 12 holds nothing here; then 11's is held. */
    fo_at(&e, ids[3], "12", fo, sizeof(fo));
    snprintf(body, sizeof(body), "{\"fulfillment_order_id\": \"%s\", \"reason\": \"OTHER\"}", fo);
    control(&e, ids[3], "holds", body);
    fo_at(&e, ids[3], "11", fo, sizeof(fo));
    snprintf(body, sizeof(body),
             "{\"fulfillment_order_id\": \"%s\", \"reason\": \"HIGH_RISK_OF_FRAUD\"}", fo);
    control(&e, ids[3], "holds", body);
    control(&e, ids[4], "mark-paid", "{}");
    const char *want2[] = {"OPEN", "CANCELLED", "OPEN", "ON_HOLD", "OPEN", "CANCELLED"};
    wait_ctx_t wc2 = {&e, ids, want2, 6};

    assert_true(th_wait_for(all_in_state, &wc2, 60000));
    json_t *so = wms_order(&e, ids[3]);

    assert_string_equal(str_of(so, "hold_code", NULL), "high-risk-of-fraud");
    json_decref(so);
    snprintf(body, sizeof(body), "{\"fulfillment_order_id\": \"%s\"}", fo);
    control(&e, ids[3], "release-hold", body);
    want2[3] = "OPEN";
    paid_ctx_t pc = {&e, ids[4]};

    assert_true(th_wait_for(all_in_state, &wc2, 60000));
    assert_true(th_wait_for(payment_paid, &pc, 60000));
    await_markers(&e, ids, 6); /* every order's events handled */

    so = wms_order(&e, ids[0]);
    assert_string_equal(str_of(json_array_get(json_object_get(so, "lines"), 0), "facility", NULL),
                        "FAC-1");
    json_decref(so);
    so = wms_order(&e, ids[4]);
    assert_string_equal(str_of(so, "payment", "amount_to_collect"), "0.00");
    json_decref(so);

    effects_t fx;

    wms_effects(&e, &fx);
    assert_once(&fx, ids, want2, 6);                 /* created once each; B and F cancelled once */
    assert_int_equal(count_of(fx.holds, ids[3]), 1); /* only 11's hold reached the WMS */
    assert_int_equal(count_of(fx.updates, ids[4]), 1); /* the payment, once */
    for (int i = 0; i < 6; i++) {
        if (i != 4) {
            assert_int_equal(count_of(fx.update_attempts, ids[i]), 0);
        }
    }
    effects_clear(&fx);
    json_decref(a);
    json_decref(b);
    json_decref(c);
    json_decref(d);
    json_decref(cod);
    json_decref(f);
    th_stop(w);
    kill(gw, SIGTERM);
    th_wait_exit(gw, 10000);
    env_stop(&e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_after_placement),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
