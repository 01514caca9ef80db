/*
 * The gateway and dh-orders agree on Shopify ids (issue #10): every body the gateway
 * accepts for the orders topics has an id dh-orders takes (the same digits end up in the
 * key), and every id dh-orders would dead-letter is a 400 at the gateway. Both sides run
 * here, on one table: dh_gw_extract_id() and orders_order_id() / the holds rule.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <jansson.h>
#include <string.h>

#include "dockhand/validate.h"
#include "orders.h"
#include "route.h"

typedef struct id_case {
    const char *body;
    const char *id; /* the id both take, or NULL when both refuse it */
} id_case_t;

static const id_case_t order_cases[] = {
    {"{\"id\":5802154000001}", "5802154000001"},
    {"{\"id\":1}", "1"},
    {"{\"id\":9223372036854775807}", "9223372036854775807"},
    {"{\"id\":0}", NULL},
    {"{\"id\":-1}", NULL},
    {"{\"id\":\"5802154000001\"}", NULL}, /* the schema's shopify_id is an integer */
    {"{\"id\":\"gid-ish\"}", NULL},
    {"{\"id\":\"gid://shopify/Order/5\"}", NULL},
    {"{\"id\":1.0}", NULL},
    {"{\"id\":1.5}", NULL},
    {"{\"id\":20955555555555E74}", NULL},
    {"{\"id\":null}", NULL},
    {"{\"id\":true}", NULL},
    {"{\"name\":\"#1\"}", NULL},
};

static const id_case_t hold_cases[] = {
    {"{\"id\":7,\"order_id\":4058}", "4058"},
    {"{\"fulfillment_order\":{\"order_id\":\"gid://shopify/Order/4059\"}}", "4059"},
    {"{\"fulfillment_hold\":{\"order_id\":\"4060\"}}", "4060"},
    {"{\"order_id\":0,\"fulfillment_order\":{\"order_id\":12}}", "12"},
    {"{\"order_id\":0}", NULL},
    {"{\"order_id\":\"gid://shopify/Order/abc\"}", NULL},
    {"{\"order_id\":\"gid://shopify/Order/12abc\"}", NULL},
    {"{\"order_id\":\"gid://shopify/Order/\"}", NULL},
    {"{\"order_id\":\"gid://other/Order/12\"}", NULL},
    {"{\"order_id\":\"0012\"}", NULL},
    {"{\"order_id\":\"abc\"}", NULL},
    {"{\"order_id\":-5}", NULL},
    {"{\"id\":7}", NULL},
};

static void test_orders_ids_agree(void **state)
{
    char gw[DH_GW_ID_MAX], worker[64], err[256];

    (void)state;
    for (size_t i = 0; i < sizeof(order_cases) / sizeof(order_cases[0]); i++) {
        const id_case_t *c = &order_cases[i];
        json_t *root = json_loads(c->body, 0, NULL);
        dh_err_t g = dh_gw_extract_id(c->body, strlen(c->body), dh_gw_id_path("orders/create"), gw,
                                      sizeof(gw), err, sizeof(err));
        int w = orders_order_id(root, worker, sizeof(worker));

        assert_non_null(root);
        printf("%-32s gateway %s, dh-orders %s\n", c->body, g == DH_OK ? "takes" : "400",
               w == 0 ? "takes" : "dead-letters");
        assert_int_equal(g == DH_OK, c->id != NULL);
        assert_int_equal(w == 0, c->id != NULL);
        if (c->id) {
            assert_string_equal(gw, c->id);
            assert_string_equal(worker, c->id);
        } else {
            assert_non_null(strstr(err, "\"id\" must be an integer >= 1"));
        }
        json_decref(root);
    }
}

static void test_hold_ids_agree(void **state)
{
    char gw[DH_GW_ID_MAX], worker[64], err[256];

    (void)state;
    for (size_t i = 0; i < sizeof(hold_cases) / sizeof(hold_cases[0]); i++) {
        const id_case_t *c = &hold_cases[i];
        json_t *root = json_loads(c->body, 0, NULL);
        dh_err_t g =
            dh_gw_extract_id(c->body, strlen(c->body), dh_gw_id_path("fulfillment_holds/released"),
                             gw, sizeof(gw), err, sizeof(err));
        int w = dh_v_shopify_hold_order_id(root, worker, sizeof(worker)); /* dh-orders' rule */

        assert_non_null(root);
        assert_int_equal(g == DH_OK, c->id != NULL);
        assert_int_equal(w, c->id != NULL);
        if (c->id) {
            assert_string_equal(gw, c->id);
            assert_string_equal(worker, c->id);
        }
        json_decref(root);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_orders_ids_agree),
        cmocka_unit_test(test_hold_ids_agree),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
