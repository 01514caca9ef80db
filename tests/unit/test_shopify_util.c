/*
 * The pure parts of the Shopify client: embedded documents, the cost table,
 * dh_gql_user_errors() and dh_gid_tail().
 */
#include <stdio.h>
#include <string.h>

#include "dockhand/shopify.h"

/* cmocka.h needs these three first; keep clang-format from sorting it above them. */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
/* clang-format on */

static void test_documents(void **state)
{
    (void)state;
    for (int d = 0; d < DH_GQL__COUNT; d++) {
        const char *text = dh_gql_text((dh_gql_doc_t)d);
        double cost = dh_gql_expected_cost((dh_gql_doc_t)d);
        char root[80];

        assert_non_null(text);
        assert_true(strlen(text) > 20);
        assert_true(strlen(dh_gql_name((dh_gql_doc_t)d)) > 0);
        /* The root field gql_docs.def names is what the text selects. */
        snprintf(root, sizeof(root), "%s(", dh_gql_root((dh_gql_doc_t)d));
        if (strlen(root) < 2 || strstr(text, root) == NULL) {
            fail_msg("document %s lacks its root field %s", dh_gql_name((dh_gql_doc_t)d), root);
        }
        /* Every document stays under Shopify's single-query cap; mutations cost >= 10. */
        assert_true(cost >= 1 && cost < 1000);
        if (strncmp(text, "mutation", 8) == 0) {
            assert_true(cost >= 10);
        }
    }
    assert_non_null(strstr(dh_gql_text(DH_GQL_INVENTORY_SET_QUANTITIES), "@idempotent(key:"));
    /* Reconciliation pages cheaply and reads full orders one by one, only when missing. */
    assert_non_null(strstr(dh_gql_text(DH_GQL_ORDER_FOR_RECONCILE), "shippingAddress"));
    assert_null(strstr(dh_gql_text(DH_GQL_ORDERS_UPDATED_SINCE), "lineItems"));
    assert_string_equal(dh_gql_text(DH_GQL__COUNT), "");
    assert_string_equal(dh_gql_name(DH_GQL__COUNT), "");
    assert_string_equal(dh_gql_root(DH_GQL__COUNT), "");
    assert_string_equal(dh_gql_name(DH_GQL_PRODUCT_VARIANTS_BY_SKU), "productVariantsBySku");
    assert_string_equal(dh_gql_root(DH_GQL_PRODUCT_VARIANTS_BY_SKU), "productVariants");
    /* Escaping survived the embedding: quotes and newlines are real characters. */
    assert_non_null(
        strstr(dh_gql_text(DH_GQL_INVENTORY_SET_QUANTITIES), "quantityNames: [\"available\""));
    assert_non_null(strchr(dh_gql_text(DH_GQL_PRODUCT_VARIANTS_BY_SKU), '\n'));
}

static dh_gql_reply_t reply_of(const char *json)
{
    dh_gql_reply_t r = {0};

    r.root = json_loads(json, 0, NULL);
    assert_non_null(r.root);
    r.data = json_object_get(r.root, "data");
    return r;
}

static void test_user_errors(void **state)
{
    dh_gql_reply_t r =
        reply_of("{\"data\": {\"inventorySetQuantities\": {\"inventoryAdjustmentGroup\": null,"
                 " \"userErrors\": [{\"code\": \"CHANGE_FROM_QUANTITY_STALE\","
                 "   \"field\": [\"input\", \"quantities\", \"0\", \"changeFromQuantity\"],"
                 "   \"message\": \"stale\"},"
                 "  {\"code\": null, \"field\": null, \"message\": \"second\"}]}}}");
    char buf[256], code[64], tiny[8];

    (void)state;
    assert_int_equal(
        dh_gql_user_errors(&r, "inventorySetQuantities", buf, sizeof(buf), code, sizeof(code)), 2);
    assert_string_equal(code, "CHANGE_FROM_QUANTITY_STALE");
    assert_string_equal(buf, "CHANGE_FROM_QUANTITY_STALE input.quantities.0.changeFromQuantity: "
                             "stale; second");
    /* Truncation keeps the buffer terminated; the count is still right. */
    assert_int_equal(dh_gql_user_errors(&r, "inventorySetQuantities", tiny, sizeof(tiny), NULL, 0),
                     2);
    assert_int_equal(strlen(tiny), sizeof(tiny) - 1);
    /* Another root field, or no errors. */
    assert_int_equal(dh_gql_user_errors(&r, "tagsAdd", buf, sizeof(buf), code, sizeof(code)), 0);
    assert_string_equal(buf, "");
    assert_string_equal(code, "");
    dh_gql_reply_clear(&r);
    assert_null(r.root);
    r = reply_of("{\"data\": {\"tagsAdd\": {\"node\": {\"id\": \"x\"}, \"userErrors\": []}}}");
    assert_int_equal(dh_gql_user_errors(&r, "tagsAdd", buf, sizeof(buf), code, sizeof(code)), 0);
    dh_gql_reply_clear(&r);
    r = reply_of("{\"data\": {\"fulfillmentCreate\": {\"userErrors\": "
                 "[{\"field\": [\"fulfillment\"], \"message\": \"closed\"}]}}}");
    assert_int_equal(
        dh_gql_user_errors(&r, "fulfillmentCreate", buf, sizeof(buf), code, sizeof(code)), 1);
    assert_string_equal(code, "");
    assert_string_equal(buf, "fulfillment: closed");
    dh_gql_reply_clear(&r);
    assert_int_equal(dh_gql_user_errors(NULL, "x", buf, sizeof(buf), NULL, 0), 0);
    dh_gql_reply_clear(NULL);
}

static void test_gid_tail(void **state)
{
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"gid://shopify/Order/42", "42"},
        {"gid://shopify/InventoryItem/30322695", "30322695"},
        {"gid://shopify/Location/7?foo=bar", "7"},
        {"123", "123"},
        {"", ""},
        {NULL, ""},
    };
    char buf[16], tiny[3];

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_string_equal(dh_gid_tail(cases[i].in, buf, sizeof(buf)), cases[i].out);
    }
    assert_string_equal(dh_gid_tail("gid://shopify/Order/12345", tiny, sizeof(tiny)), "12");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_documents),
        cmocka_unit_test(test_user_errors),
        cmocka_unit_test(test_gid_tail),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
