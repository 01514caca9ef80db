/*
 * Unit tests of dh-orders' pure core (mapping.c): REST order -> WMS body (table-driven
 * from fixture JSON, including the contract's valid examples), GraphQL node -> REST,
 * hold-tag detection, decimals and times.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "orders.h"
#include "th_examples.h"

#define STORE "acme-apparel.myshopify.com"
#define HOLD  "returnprime,exchange"

/* The defaults: exchange tags held, a pending payment other than COD held. */
static const orders_map_opts_t OPTS = {HOLD, 1};

static json_t *load(const char *dir, const char *name)
{
    char path[1024];
    json_error_t err;
    json_t *j;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    j = json_load_file(path, 0, &err);
    if (!j) {
        fail_msg("%s: %s (line %d)", path, err.text, err.line);
    }
    return j;
}

static void assert_json_equal(json_t *got, json_t *want)
{
    if (!json_equal(got, want)) {
        char *g = json_dumps(got, JSON_SORT_KEYS | JSON_INDENT(1));
        char *w = json_dumps(want, JSON_SORT_KEYS | JSON_INDENT(1));

        print_error("got:\n%s\nwant:\n%s\n", g ? g : "(null)", w ? w : "(null)");
        free(g);
        free(w);
        fail();
    }
}

typedef struct map_case {
    const char *dir; /* DH_ORDERS_EXAMPLES or DH_ORDERS_FIXTURES */
    const char *input;
    const char *expected; /* fixture with the body, or NULL when an error is expected */
    int held;
    const char *error; /* substring of the error */
} map_case_t;

static void test_rest_to_wms(void **state)
{
    static const map_case_t cases[] = {
        {DH_ORDERS_EXAMPLES, "orders-create.json", "expected-create-1021.json", 0, NULL},
        /* orders/cancelled carries the full order: the same lines and address as the
         * create body, with the payment as it stands at the cancellation (refunded). */
        {DH_ORDERS_EXAMPLES, "orders-cancelled.json", "expected-create-1021-cancelled.json", 0,
         NULL},
        /* A line to ship without a SKU: held missing-sku, recorded as unmapped. */
        {DH_ORDERS_EXAMPLES, "orders-create-custom-line-item-redacted.json",
         "expected-custom-line-held.json", 1, NULL},
        /* COD: pending but never held, the outstanding total to collect; the gift card
         * is recorded, not picked. */
        {DH_ORDERS_EXAMPLES, "orders-create-cod-gift-card.json", "expected-cod-gift-card.json", 0,
         NULL},
        {DH_ORDERS_FIXTURES, "pending-bank-transfer.json", "expected-pending-bank-transfer.json", 1,
         NULL},
        {DH_ORDERS_FIXTURES, "exchange-held.json", "expected-exchange-held.json", 1, NULL},
        {DH_ORDERS_FIXTURES, "edited-zero-line.json", "expected-edited-zero-line.json", 0, NULL},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const map_case_t *c = &cases[i];
        json_t *in = load(c->dir, c->input), *body = NULL;
        char err[300] = "";
        int held = -1;
        int rc = orders_wms_create_body(STORE, in, &OPTS, &body, &held, err, sizeof(err));

        print_message("case %s\n", c->input);
        if (c->expected) {
            json_t *want = load(DH_ORDERS_FIXTURES, c->expected);

            assert_int_equal(rc, 0);
            assert_int_equal(held, c->held);
            assert_json_equal(body, want);
            json_decref(want);
        } else {
            assert_int_equal(rc, -1);
            assert_null(body);
            assert_non_null(strstr(err, c->error));
        }
        json_decref(body);
        json_decref(in);
    }
}

static void test_invalid_orders(void **state)
{
    static const struct {
        const char *json;
        const char *error;
    } cases[] = {
        {"{\"id\":\"5\",\"name\":\"#1\"}", "id must be an integer"},
        {"{\"id\":5,\"name\":\"\"}", "name must be"},
        {"{\"id\":5,\"name\":\"#1\",\"currency\":\"inr\"}", "currency"},
        {"{\"id\":5,\"name\":\"#1\",\"currency\":\"INR\",\"created_at\":\"yesterday\"}",
         "created_at"},
        {"{\"id\":5,\"name\":\"#1\",\"currency\":\"INR\",\"created_at\":\"2026-05-01T00:00:00Z\"}",
         "line_items must be an array"},
        {"{\"id\":5,\"name\":\"#1\",\"currency\":\"INR\",\"created_at\":\"2026-05-01T00:00:00Z\","
         "\"line_items\":[{\"id\":1,\"sku\":\"A\",\"quantity\":1,\"price\":\"1,00\"}]}",
         "line_items[0] (id 1): price"},
        {"{\"id\":5,\"name\":\"#1\",\"currency\":\"INR\",\"created_at\":\"2026-05-01T00:00:00Z\","
         "\"line_items\":[{\"id\":1,\"sku\":\"A\",\"quantity\":-1,\"price\":\"1\"}]}",
         "quantity) must be an integer"},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *in = json_loads(cases[i].json, 0, NULL), *body = NULL;
        char err[300] = "";
        int held;

        assert_non_null(in);
        assert_int_equal(orders_wms_create_body(STORE, in, &OPTS, &body, &held, err, sizeof(err)),
                         -1);
        if (!strstr(err, cases[i].error)) {
            fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err, cases[i].error);
        }
        json_decref(in);
    }
}

static void test_cancel_body(void **state)
{
    json_t *in = load(DH_ORDERS_EXAMPLES, "orders-cancelled.json");
    json_t *want =
        json_pack("{s:s, s:s}", "reason", "customer", "cancelled_at", "2026-05-01T05:30:00Z");
    char err[200];
    json_t *b = orders_wms_cancel_body(in, err, sizeof(err));

    (void)state;
    assert_json_equal(b, want);
    json_decref(b);
    json_decref(want);
    json_decref(in);
}

/* The reconciliation's node must build the same WMS body as the webhook of that order, so
 * the WMS sees the same request under the same Idempotency-Key. */
static void test_gql_node_same_body_as_webhook(void **state)
{
    json_t *node = load(DH_ORDERS_FIXTURES, "gql-node-1021.json");
    json_t *want = load(DH_ORDERS_FIXTURES, "expected-create-1021.json");
    char err[200] = "";
    json_t *rest = orders_from_gql_node(node, err, sizeof(err)), *body = NULL;
    int held;

    (void)state;
    assert_non_null(rest);
    assert_int_equal(json_integer_value(json_object_get(rest, "id")), 5802154000001LL);
    assert_string_equal(json_string_value(json_object_get(rest, "admin_graphql_api_id")),
                        "gid://shopify/Order/5802154000001");
    assert_true(json_is_null(json_object_get(rest, "cancelled_at")));
    assert_string_equal(json_string_value(json_object_get(rest, "financial_status")), "paid");
    json_t *l0 = json_array_get(json_object_get(rest, "line_items"), 0);

    assert_int_equal(json_integer_value(json_object_get(l0, "id")), 14202154000011LL);
    assert_int_equal(json_integer_value(json_object_get(l0, "variant_id")), 44102154000011LL);
    assert_true(json_is_null(
        json_object_get(json_array_get(json_object_get(rest, "line_items"), 1), "variant_id")));
    assert_int_equal(orders_wms_create_body(STORE, rest, &OPTS, &body, &held, err, sizeof(err)), 0);
    assert_json_equal(body, want);
    json_decref(body);
    json_decref(rest);
    json_decref(want);
    json_decref(node);
}

static void test_gql_node_cancelled_and_tags(void **state)
{
    json_t *node = load(DH_ORDERS_FIXTURES, "gql-node-cancelled-tags.json");
    char err[200] = "";
    json_t *rest = orders_from_gql_node(node, err, sizeof(err)), *body = NULL, *cancel;
    int held = 0;

    (void)state;
    assert_non_null(rest);
    assert_int_equal(json_integer_value(json_object_get(rest, "id")), 77); /* from the GID */
    assert_string_equal(json_string_value(json_object_get(rest, "tags")), "exchange, vip");
    assert_string_equal(json_string_value(json_object_get(rest, "cancel_reason")), "customer");
    assert_true(json_is_null(json_object_get(rest, "shipping_address")));
    assert_int_equal(orders_wms_create_body(STORE, rest, &OPTS, &body, &held, err, sizeof(err)), 0);
    assert_int_equal(held, 1);
    assert_string_equal(json_string_value(json_object_get(body, "status")), "ON_HOLD");
    cancel = orders_wms_cancel_body(rest, err, sizeof(err));
    assert_string_equal(json_string_value(json_object_get(cancel, "cancelled_at")),
                        "2026-05-01T05:30:00Z");
    json_decref(cancel);
    json_decref(body);
    json_decref(rest);
    json_decref(node);
}

static void test_gql_node_invalid(void **state)
{
    char err[200] = "";
    json_t *n1 = json_loads("{\"id\":\"gid://shopify/Order/x\",\"name\":\"#1\"}", 0, NULL);
    json_t *n2 = json_loads(
        "{\"legacyResourceId\":\"5\",\"lineItems\":{\"nodes\":[{\"id\":\"7\"}]}}", 0, NULL);

    (void)state;
    assert_null(orders_from_gql_node(n1, err, sizeof(err)));
    assert_non_null(strstr(err, "id"));
    assert_null(orders_from_gql_node(n2, err, sizeof(err)));
    assert_non_null(strstr(err, "lineItems[0].id"));
    json_decref(n1);
    json_decref(n2);
}

static void test_hold_tags(void **state)
{
    static const struct {
        const char *tags, *hold;
        int want;
        const char *which;
    } cases[] = {
        {"returnprime, exchange", HOLD, 1, "returnprime"},
        {"VIP, Exchange", HOLD, 1, "Exchange"},
        {"  ReturnPrime  ", HOLD, 1, "ReturnPrime"},
        {"returnprime-x, exchanged, rp", HOLD, 0, NULL}, /* whole tags only */
        {"", HOLD, 0, NULL},
        {NULL, HOLD, 0, NULL},
        {"exchange", "", 0, NULL},
        {"a,,b , rp-hold", "x , rp-hold", 1, "rp-hold"},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char which[64] = "";

        assert_int_equal(orders_hold_tag(cases[i].tags, cases[i].hold, which, sizeof(which)),
                         cases[i].want);
        if (cases[i].which) {
            assert_string_equal(which, cases[i].which);
        }
    }
}

static void test_decimal(void **state)
{
    static const struct {
        const char *in, *out;
    } ok[] = {{"499.00", "499.00"}, {"499.0", "499.00"},   {"499", "499.00"}, {"0", "0.00"},
              {"10.125", "10.125"}, {"10.1250", "10.125"}, {"-3.5", "-3.50"}};
    static const char *const bad[] = {"", "1.", ".5", "1,00", "abc", "1e3", "-", "1.2.3"};
    char buf[32];

    (void)state;
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        assert_int_equal(orders_decimal(ok[i].in, buf, sizeof(buf)), 0);
        assert_string_equal(buf, ok[i].out);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(orders_decimal(bad[i], buf, sizeof(buf)), -1);
    }
    assert_int_equal(orders_decimal(NULL, buf, sizeof(buf)), -1);
}

static void test_times(void **state)
{
    static const struct {
        const char *in, *out;
    } ok[] = {
        {"2026-05-01T10:15:30+05:30", "2026-05-01T04:45:30Z"},
        {"2026-05-01T04:45:30Z", "2026-05-01T04:45:30Z"},
        {"2026-05-01T04:45:30.999Z", "2026-05-01T04:45:30Z"},
        {"2026-12-31T22:00:00-04:00", "2027-01-01T02:00:00Z"},
        {"2024-02-29T00:00:00+00:00", "2024-02-29T00:00:00Z"},
        {"1970-01-01T00:00:00Z", "1970-01-01T00:00:00Z"},
        {"0000-01-01T01:00:00+01:00", "0000-01-01T00:00:00Z"},
        {"9999-12-31T22:59:59-01:00", "9999-12-31T23:59:59Z"},
    };
    /* The last two are outside four-digit UTC years (found by tests/fuzz/fuzz_orders). */
    static const char *const bad[] = {"2026-05-01",
                                      "2026-05-01T04:45:30",
                                      "2026-13-01T00:00:00Z",
                                      "2026-05-01T04:45:30+0530",
                                      "x",
                                      "9999-12-31T23:59:60Z",
                                      "0000-01-01T00:30:00+01:00"};
    char buf[32];
    int64_t t;

    (void)state;
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        assert_int_equal(orders_time_utc(ok[i].in, buf, sizeof(buf)), 0);
        assert_string_equal(buf, ok[i].out);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(orders_time_utc(bad[i], buf, sizeof(buf)), -1);
    }
    assert_int_equal(orders_time_parse("2026-05-01T00:00:00Z", &t), 0);
    assert_int_equal(t, 1777593600LL);
}

static void test_kinds(void **state)
{
    orders_kind_t k;

    (void)state;
    assert_int_equal(orders_kind_parse("orders/create", 13, &k), 0);
    assert_int_equal(k, ORDERS_CREATE);
    assert_int_equal(orders_kind_parse("orders/cancelled", 16, &k), 0);
    assert_int_equal(k, ORDERS_CANCELLED);
    assert_int_equal(orders_kind_parse("orders/updated", 14, &k), 0);
    assert_int_equal(k, ORDERS_UPDATED);
    assert_int_equal(orders_kind_parse("fulfillment_holds/released", 26, &k), 0);
    assert_int_equal(k, ORDERS_HOLD_RELEASED);
    assert_int_equal(orders_kind_parse("fulfillment_holds/added", 23, &k), 0);
    assert_int_equal(k, ORDERS_HOLD_ADDED);
    assert_int_equal(orders_kind_parse("refunds/create", 14, &k), 0);
    assert_int_equal(k, ORDERS_REFUND_CREATED);
    assert_int_equal(orders_kind_parse("orders/edited", 13, &k), -1); /* not consumed */
    assert_int_equal(orders_kind_parse("orders/paid", 11, &k), -1);
    assert_int_equal(orders_kind_parse("orders/create", 12, &k), -1);
}

/* The WMS's business answers per call, by orders_outcomes. */
static void test_outcome_rules(void **state)
{
    static const struct {
        const char *call;
        dh_answer_t a;
        const char *problem;
        int action;
        dh_result_t want;
    } cases[] = {
        {"create", DH_ANSWER_OK, NULL, 0, DH_RESULT_DONE},
        {"create", DH_ANSWER_409, "x/idempotency-key-mismatch", ORDERS_ACT_LOOKUP,
         DH_RESULT_DEAD_LETTER},
        {"create", DH_ANSWER_422, "x/validation", 0, DH_RESULT_DEAD_LETTER},
        {"cancel", DH_ANSWER_404, "x/not-found", ORDERS_ACT_CREATE_FIRST, DH_RESULT_DONE},
        {"cancel", DH_ANSWER_409, "x/order-already-dispatched", 0, DH_RESULT_DEAD_LETTER},
        {"cancel", DH_ANSWER_409, "x/idempotency-key-mismatch", ORDERS_ACT_LOOKUP,
         DH_RESULT_DEAD_LETTER},
        {"cancel-after-create", DH_ANSWER_404, NULL, 0, DH_RESULT_RETRY},
        {"update", DH_ANSWER_404, NULL, ORDERS_ACT_CREATE_FIRST, DH_RESULT_DONE},
        {"update", DH_ANSWER_409, "x/order-already-picked", 0, DH_RESULT_DEAD_LETTER},
        {"update", DH_ANSWER_409, "x/order-already-dispatched", 0, DH_RESULT_DEAD_LETTER},
        {"update", DH_ANSWER_409, "x/order-cancelled", 0, DH_RESULT_DONE},
        {"update", DH_ANSWER_422, NULL, 0, DH_RESULT_DEAD_LETTER},
        {"hold", DH_ANSWER_404, NULL, ORDERS_ACT_CHECK_UNSENT, DH_RESULT_RETRY},
        {"hold", DH_ANSWER_409, "x/order-already-picked", 0, DH_RESULT_DEAD_LETTER},
        {"hold", DH_ANSWER_409, "x/order-cancelled", 0, DH_RESULT_DONE},
        {"release-hold", DH_ANSWER_409, "x/conflict", 0, DH_RESULT_DONE},
        {"release-hold", DH_ANSWER_404, NULL, ORDERS_ACT_CHECK_UNSENT, DH_RESULT_RETRY},
        {"release-hold", DH_ANSWER_422, NULL, 0, DH_RESULT_DEAD_LETTER},
        {"lookup", DH_ANSWER_404, NULL, 0, DH_RESULT_DONE},
        {"lookup", DH_ANSWER_409, NULL, 0, DH_RESULT_DEAD_LETTER},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const dh_outcome_rule_t *r = dh_outcome_rule(&orders_outcomes, DH_FAR_WMS, cases[i].call,
                                                     cases[i].a, cases[i].problem);

        assert_int_equal(r->action, cases[i].action);
        assert_int_equal(r->result, cases[i].want);
    }
}

/* Nothing left to ship (a gift card alone; every line edited to 0): no body, rc 1. */
static void test_nothing_to_ship(void **state)
{
    static const char *const cases[] = {
        "{\"id\":5,\"name\":\"#1\",\"currency\":\"INR\",\"created_at\":\"2026-05-01T00:00:00Z\","
        "\"line_items\":[{\"id\":1,\"sku\":null,\"quantity\":1,\"current_quantity\":1,"
        "\"requires_shipping\":false,\"gift_card\":true,\"price\":\"500.00\"}]}",
        "{\"id\":5,\"name\":\"#1\",\"currency\":\"INR\",\"created_at\":\"2026-05-01T00:00:00Z\","
        "\"line_items\":[{\"id\":1,\"sku\":\"A\",\"quantity\":2,\"current_quantity\":0,"
        "\"price\":\"1\"}]}",
        "{\"id\":5,\"name\":\"#1\",\"currency\":\"INR\",\"created_at\":\"2026-05-01T00:00:00Z\","
        "\"line_items\":[]}",
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *in = json_loads(cases[i], 0, NULL), *body = NULL;
        char err[300] = "";
        int held = -1;

        assert_non_null(in);
        assert_int_equal(orders_wms_create_body(STORE, in, &OPTS, &body, &held, err, sizeof(err)),
                         1);
        assert_null(body);
        assert_non_null(strstr(err, "nothing to ship"));
        json_decref(in);
    }
}

/* "<default>[,<store>=<value>...]": the store's own value wins; malformed specs refused. */
static void test_policy(void **state)
{
    (void)state;
    assert_int_equal(orders_policy("skip", "a.myshopify.com", "skip", "send", NULL, 0), 0);
    assert_int_equal(
        orders_policy("skip, a.myshopify.com=send", "a.myshopify.com", "skip", "send", NULL, 0), 1);
    assert_int_equal(
        orders_policy("skip,a.myshopify.com=send", "b.myshopify.com", "skip", "send", NULL, 0), 0);
    assert_int_equal(
        orders_policy("send,A.myshopify.com=skip", "a.myshopify.com", "skip", "send", NULL, 0), 0);
    assert_int_equal(orders_policy("", NULL, "skip", "send", NULL, 0), -1);
    assert_int_equal(orders_policy("maybe", NULL, "skip", "send", NULL, 0), -1);
    assert_int_equal(orders_policy("a.myshopify.com=send", NULL, "skip", "send", NULL, 0), -1);
    assert_int_equal(orders_policy("skip,send", NULL, "skip", "send", NULL, 0), -1);
    assert_int_equal(orders_policy("skip,=send", NULL, "skip", "send", NULL, 0), -1);
}

static void test_cod_gateway(void **state)
{
    (void)state;
    assert_true(orders_is_cod_gateway("Cash on Delivery (COD)"));
    assert_true(orders_is_cod_gateway("Advanced Cash on Delivery"));
    assert_true(orders_is_cod_gateway("cod"));
    assert_false(orders_is_cod_gateway("shopify_payments"));
    assert_false(orders_is_cod_gateway("Bank Deposit"));
    assert_false(orders_is_cod_gateway("codex pay"));
    assert_false(orders_is_cod_gateway(NULL));
}

/* Lines by location: WH (location 11) is the WMS facility FAC-1, location 12 is not. */
static const char *fac_of(void *ud, const char *gid)
{
    (void)ud;
    return gid && strcmp(gid, "gid://shopify/Location/11") == 0 ? "FAC-1" : NULL;
}

static void test_route_lines(void **state)
{
    json_t *body = json_loads(
        "{\"status\":\"OPEN\",\"lines\":[{\"channel_line_item_id\":\"1\",\"sku\":\"A\","
        "\"quantity\":2,"
        "\"unit_price\":\"1.00\"},{\"channel_line_item_id\":\"2\",\"sku\":\"B\",\"quantity\":1,"
        "\"unit_price\":\"2.00\"},{\"channel_line_item_id\":\"3\",\"sku\":\"C\",\"quantity\":1,"
        "\"unit_price\":\"3.00\"}]}",
        0, NULL);
    json_t *fos = json_loads(
        "[{\"status\":\"SCHEDULED\",\"assignedLocation\":{\"location\":{\"id\":\"gid://shopify/"
        "Location/11\"}},\"lineItems\":{\"nodes\":[{\"lineItem\":{\"id\":\"gid://shopify/LineItem/"
        "1\"}}]}},{\"status\":\"OPEN\",\"assignedLocation\":{\"location\":{\"id\":\"gid://shopify/"
        "Location/12\"}},\"lineItems\":{\"nodes\":[{\"lineItem\":{\"id\":\"gid://shopify/LineItem/"
        "2\"}}]}}]",
        0, NULL);

    (void)state;
    assert_non_null(body);
    assert_non_null(fos);
    /* line 1: FAC-1 (scheduled: held); line 2: other location; line 3: in no FO, kept */
    assert_int_equal(orders_route_lines(body, fos, fac_of, NULL), 2);
    json_t *lines = json_object_get(body, "lines");

    assert_int_equal(json_array_size(lines), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(lines, 0), "facility")),
                        "FAC-1");
    assert_null(json_object_get(json_array_get(lines, 1), "facility"));
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(body, "other_location_lines"), 0),
                            "channel_line_item_id")),
                        "2");
    assert_string_equal(json_string_value(json_object_get(body, "status")), "ON_HOLD");
    assert_string_equal(json_string_value(json_object_get(body, "hold_code")), "scheduled");
    json_decref(body);
    json_decref(fos);
}

/* A REST refund (Shopify's Refund resource): restocked lines give their (location, SKU)
 * once; no_restock, a restock without location or SKU are left out (counted). */
static void test_refund_restocks(void **state)
{
    static const char refund[] =
        "{\"id\":929361464,\"order_id\":450789469,\"restock\":true,\"refund_line_items\":["
        "{\"id\":1,\"quantity\":1,\"line_item_id\":11,\"location_id\":487838322,"
        "\"restock_type\":\"return\",\"line_item\":{\"id\":11,\"sku\":\"TEE-M\"}},"
        "{\"id\":2,\"quantity\":2,\"line_item_id\":12,\"location_id\":\"gid://shopify/"
        "Location/487838322\",\"restock_type\":\"cancel\",\"line_item\":{\"sku\":\"CAP\"}},"
        "{\"id\":3,\"quantity\":1,\"line_item_id\":13,\"location_id\":487838322,"
        "\"restock_type\":\"return\",\"line_item\":{\"sku\":\"TEE-M\"}},"
        "{\"id\":4,\"quantity\":1,\"line_item_id\":14,\"location_id\":null,"
        "\"restock_type\":\"no_restock\",\"line_item\":{\"sku\":\"SOCK\"}},"
        "{\"id\":5,\"quantity\":1,\"line_item_id\":15,\"location_id\":7,"
        "\"restock_type\":\"legacy_restock\",\"line_item\":{\"sku\":\"BAG\"}},"
        "{\"id\":6,\"quantity\":1,\"line_item_id\":16,\"location_id\":null,"
        "\"restock_type\":\"return\",\"line_item\":{\"sku\":\"HAT\"}},"
        "{\"id\":7,\"quantity\":1,\"line_item_id\":17,\"location_id\":7,"
        "\"restock_type\":\"return\",\"line_item\":{\"sku\":null}}]}";
    json_t *root = json_loads(refund, 0, NULL), *got;
    size_t skipped = 99;

    (void)state;
    assert_non_null(root);
    got = orders_refund_restocks(root, &skipped);
    th_assert_json_equal(got, "[{\"location\":\"487838322\",\"sku\":\"TEE-M\"},"
                              "{\"location\":\"487838322\",\"sku\":\"CAP\"},"
                              "{\"location\":\"7\",\"sku\":\"BAG\"}]");
    assert_int_equal(skipped, 2);
    json_decref(got);
    json_decref(root);
    root = json_loads("{\"id\":1,\"order_id\":2}", 0, NULL);
    got = orders_refund_restocks(root, &skipped);
    assert_int_equal(json_array_size(got), 0);
    assert_int_equal(skipped, 0);
    json_decref(got);
    json_decref(root);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rest_to_wms),
        cmocka_unit_test(test_invalid_orders),
        cmocka_unit_test(test_nothing_to_ship),
        cmocka_unit_test(test_policy),
        cmocka_unit_test(test_cod_gateway),
        cmocka_unit_test(test_route_lines),
        cmocka_unit_test(test_cancel_body),
        cmocka_unit_test(test_gql_node_same_body_as_webhook),
        cmocka_unit_test(test_gql_node_cancelled_and_tags),
        cmocka_unit_test(test_gql_node_invalid),
        cmocka_unit_test(test_hold_tags),
        cmocka_unit_test(test_decimal),
        cmocka_unit_test(test_times),
        cmocka_unit_test(test_kinds),
        cmocka_unit_test(test_outcome_rules),
        cmocka_unit_test(test_refund_restocks),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
