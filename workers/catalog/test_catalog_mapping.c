/*
 * Unit tests of dh-catalog's pure core (mapping.c): the contract's product examples map
 * to the expected upsertSku bodies (Style Code from the option or the metafield, one image:
 * the variant's own, else the featured one), a variant without SKU gets no body, a SKU
 * repeated within a product marks both variants, the GraphQL (bulk JSONL) shape maps to
 * the same body as the webhook, and the fingerprint changes exactly when the body does.
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

#include "catalog.h"
#include "th_examples.h"

static const cat_opts_t no_mf = {.style_metafield = ""};

static void parse_example(const char *name, const char *topic, const cat_opts_t *o,
                          cat_product_t *p)
{
    size_t len;
    char err[256];
    char *buf = th_slurp(DH_CATALOG_EXAMPLES "/valid", name, &len);

    if (cat_product_from_rest(buf, len, topic, o, p, err, sizeof(err))) {
        fail_msg("%s: %s", name, err);
    }
    free(buf);
}

static void test_update_example(void **state)
{
    cat_product_t p;

    (void)state;
    parse_example("products-update.json", "products/update", &no_mf, &p);
    assert_string_equal(p.id, "8102154000001");
    assert_int_equal(p.nv, 2);
    assert_int_equal(p.deleted, 0);
    assert_int_equal(p.archived, 0);
    /* 2026-05-01T09:30:00+05:30 = 04:00:00Z */
    assert_true(p.updated_ms == cat_time_ms("2026-05-01T04:00:00Z"));
    th_assert_json_equal(
        p.v[0].body,
        "{\"sku\": \"TSHIRT-BLK-M\", \"title\": \"Classic Tee - Black / M / CT-001\", "
        "\"style_code\": \"CT-001\", \"image_url\": "
        "\"https://cdn.shopify.com/s/files/1/0001/files/ct-001-black.jpg\", \"barcode\": "
        "\"8901234567897\", \"price\": \"499.00\", \"shopify_product_id\": \"8102154000001\", "
        "\"shopify_variant_id\": \"44102154000011\", \"inventory_item_id\": \"46102154000011\", "
        "\"status\": \"ACTIVE\", \"options\": [{\"name\": \"Color\", \"value\": \"Black\"}, "
        "{\"name\": \"Size\", \"value\": \"M\"}, {\"name\": \"Style Code\", \"value\": "
        "\"CT-001\"}]}");
    assert_null(json_object_get(p.v[1].body, "barcode")); /* null in the webhook */
    assert_string_equal(p.v[1].item_id, "46102154000012");
    assert_int_equal(strlen(p.v[0].fp), 64);
    assert_string_not_equal(p.v[0].fp, p.v[1].fp);
    cat_product_clear(&p);
}

static void test_variant_image_and_style(void **state)
{
    cat_product_t p;
    static const char *const skus[] = {"LINEN-S", "LINEN-M", "LINEN-L"};

    (void)state;
    parse_example("products-create-style-code-variant-image.json", "products/create", &no_mf, &p);
    assert_int_equal(p.nv, 3);
    for (size_t i = 0; i < 3; i++) {
        assert_string_equal(p.v[i].sku, skus[i]);
        assert_string_equal(json_string_value(json_object_get(p.v[i].body, "style_code")),
                            "LS-100");
        assert_int_equal(p.v[i].dup_in_product, 0);
    }
    /* S has its own image; M and L fall back to the featured (first) image. */
    assert_string_equal(json_string_value(json_object_get(p.v[0].body, "image_url")),
                        "https://cdn.shopify.com/s/files/1/0001/files/linen-s.jpg");
    assert_string_equal(json_string_value(json_object_get(p.v[1].body, "image_url")),
                        "https://cdn.shopify.com/s/files/1/0001/files/linen-front.jpg");
    assert_string_equal(json_string_value(json_object_get(p.v[2].body, "price")), "1349.00");
    cat_product_clear(&p);
}

static void test_missing_sku_no_image(void **state)
{
    cat_product_t p;

    (void)state;
    parse_example("products-create-missing-sku-no-image.json", "products/create", &no_mf, &p);
    assert_int_equal(p.nv, 1);
    assert_string_equal(p.v[0].sku, "");
    assert_null(p.v[0].body); /* reported, never sent, never invented */
    assert_string_equal(p.v[0].id, "44102154000091");
    assert_string_equal(p.v[0].title, "Plain Mug");
    cat_product_clear(&p);
}

static void test_delete(void **state)
{
    cat_product_t p;

    (void)state;
    parse_example("products-delete.json", "products/delete", &no_mf, &p);
    assert_int_equal(p.deleted, 1);
    assert_string_equal(p.id, "8102154000001");
    assert_int_equal(p.nv, 0);
    cat_product_clear(&p);
}

static void test_rejections(void **state)
{
    static const struct {
        const char *file, *topic, *reason;
    } cases[] = {
        {"missing-variants.json", "products/update", "/variants must be an array"},
        {"delete-without-id.json", "products/delete", "/id must be a Shopify id"},
    };
    char err[256];

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t len;
        char *buf = th_slurp(DH_CATALOG_EXAMPLES "/invalid", cases[i].file, &len);
        cat_product_t p;

        assert_int_equal(
            cat_product_from_rest(buf, len, cases[i].topic, &no_mf, &p, err, sizeof(err)), -1);
        assert_string_equal(err, cases[i].reason);
        free(buf);
    }
    assert_int_equal(cat_product_from_rest("[1]", 3, "products/update", &no_mf, &(cat_product_t){0},
                                           err, sizeof(err)),
                     -1);
}

#define PRODUCT(status, variants, extra)                                                           \
    "{\"id\": 7, \"title\": \"Cap\", \"status\": \"" status "\", \"updated_at\": "                 \
    "\"2026-05-01T10:00:00Z\", \"options\": [{\"name\": \"Colour\", \"position\": 1}], "           \
    "\"variants\": [" variants "]" extra "}"
#define VARIANT(id, sku, price)                                                                    \
    "{\"id\": " #id ", \"sku\": " sku ", \"price\": \"" price "\", \"title\": \"Red\", "           \
    "\"option1\": \"Red\", \"inventory_item_id\": 9" #id "}"

static void parse_text(const char *text, const cat_opts_t *o, cat_product_t *p)
{
    char err[256];

    if (cat_product_from_rest(text, strlen(text), "products/update", o, p, err, sizeof(err))) {
        fail_msg("%s", err);
    }
}

static void test_duplicate_in_product(void **state)
{
    cat_product_t p;

    (void)state;
    parse_text(PRODUCT("active",
                       VARIANT(1, "\"CAP\"", "5.00") ", " VARIANT(
                           2, "\"CAP\"", "5.00") ", " VARIANT(3, "\"CAP-B\"", "5.00"),
                       ""),
               &no_mf, &p);
    assert_int_equal(p.v[0].dup_in_product, 1);
    assert_int_equal(p.v[1].dup_in_product, 1);
    assert_int_equal(p.v[2].dup_in_product, 0);
    cat_product_clear(&p);
}

static void test_archived_and_metafield(void **state)
{
    cat_product_t p;
    cat_opts_t mf = {.style_metafield = "custom.style_code"};

    (void)state;
    parse_text(PRODUCT("archived", VARIANT(1, "\"CAP\"", "5.00"),
                       ", \"metafields\": [{\"namespace\": \"custom\", \"key\": \"other\", "
                       "\"value\": \"X\"}, {\"namespace\": \"custom\", \"key\": \"style_code\", "
                       "\"value\": \"ST-9\"}]"),
               &mf, &p);
    assert_int_equal(p.archived, 1);
    assert_string_equal(json_string_value(json_object_get(p.v[0].body, "status")), "ARCHIVED");
    assert_string_equal(json_string_value(json_object_get(p.v[0].body, "style_code")), "ST-9");
    cat_product_clear(&p);
    /* Without the variable, the metafield is not read. */
    parse_text(PRODUCT("active", VARIANT(1, "\"CAP\"", "5.00"),
                       ", \"metafields\": [{\"namespace\": \"custom\", \"key\": \"style_code\", "
                       "\"value\": \"ST-9\"}]"),
               &no_mf, &p);
    assert_null(json_object_get(p.v[0].body, "style_code"));
    cat_product_clear(&p);
}

static void test_fingerprint_tracks_body(void **state)
{
    cat_product_t a, b, c;

    (void)state;
    parse_text(
        PRODUCT("active", VARIANT(1, "\"CAP\"", "5.00") ", " VARIANT(2, "\"CAP-2\"", "5.00"), ""),
        &no_mf, &a);
    parse_text(
        PRODUCT("active", VARIANT(1, "\"CAP\"", "5.00") ", " VARIANT(2, "\"CAP-2\"", "6.00"), ""),
        &no_mf, &b);
    parse_text(
        PRODUCT("active", VARIANT(1, "\"CAP\"", "5.00") ", " VARIANT(2, "\"CAP-2\"", "5.00"), ""),
        &no_mf, &c);
    assert_string_equal(a.v[0].fp, b.v[0].fp); /* unchanged variant: no call */
    assert_string_not_equal(a.v[1].fp, b.v[1].fp);
    assert_string_equal(a.v[1].fp, c.v[1].fp);
    json_t *off = cat_body_archived(a.v[0].body);
    char fp[65];

    assert_int_equal(cat_fingerprint(off, fp), 0);
    assert_string_not_equal(fp, a.v[0].fp);
    assert_string_equal(json_string_value(json_object_get(a.v[0].body, "status")), "ACTIVE");
    json_decref(off);
    cat_product_clear(&a);
    cat_product_clear(&b);
    cat_product_clear(&c);
}

/* A bulk operation's JSONL lines of the same product give the webhook's bodies. */
static void test_gql_shape(void **state)
{
    cat_product_t rest, gql;
    char err[256];
    json_t *prod = json_loads(
        "{\"id\": \"gid://shopify/Product/8102154000020\", \"title\": \"Linen Shirt\", "
        "\"status\": \"ACTIVE\", \"updatedAt\": \"2026-05-02T04:30:00Z\", \"featuredMedia\": "
        "{\"image\": {\"url\": \"https://cdn.shopify.com/s/files/1/0001/files/linen-front.jpg\"}}}",
        0, NULL);
    json_t *vars = json_loads(
        "[{\"id\": \"gid://shopify/ProductVariant/44102154000201\", \"sku\": \"LINEN-S\", "
        "\"barcode\": \"8901234560011\", \"price\": \"1299.00\", \"title\": \"S / LS-100\", "
        "\"selectedOptions\": [{\"name\": \"Size\", \"value\": \"S\"}, {\"name\": \"Style Code\", "
        "\"value\": \"LS-100\"}], \"image\": {\"url\": "
        "\"https://cdn.shopify.com/s/files/1/0001/files/linen-s.jpg\"}, \"inventoryItem\": "
        "{\"id\": "
        "\"gid://shopify/InventoryItem/46102154000201\", \"measurement\": {\"weight\": null}}, "
        "\"__parentId\": \"gid://shopify/Product/8102154000020\"},"
        " {\"id\": \"gid://shopify/ProductVariant/44102154000202\", \"sku\": \"LINEN-M\", "
        "\"barcode\": null, \"price\": \"1299.00\", \"title\": \"M / LS-100\", "
        "\"selectedOptions\": [{\"name\": \"Size\", \"value\": \"M\"}, {\"name\": \"Style Code\", "
        "\"value\": \"LS-100\"}], \"image\": null, \"inventoryItem\": {\"id\": "
        "\"gid://shopify/InventoryItem/46102154000202\", \"measurement\": {\"weight\": {\"value\": "
        "0.25, \"unit\": \"KILOGRAMS\"}}}}]",
        0, NULL);

    (void)state;
    parse_example("products-create-style-code-variant-image.json", "products/create", &no_mf,
                  &rest);
    assert_int_equal(cat_product_from_gql(prod, vars, NULL, &no_mf, &gql, err, sizeof(err)), 0);
    assert_int_equal(gql.nv, 2);
    assert_true(gql.updated_ms == rest.updated_ms);
    assert_true(json_equal(gql.v[0].body, rest.v[0].body));
    assert_string_equal(gql.v[0].fp, rest.v[0].fp); /* an import after the webhook: no call */
    th_assert_json_equal(json_object_get(gql.v[1].body, "weight"),
                         "{\"value\": 0.25, \"unit\": \"KILOGRAMS\"}");
    cat_product_clear(&rest);
    cat_product_clear(&gql);
    json_decref(prod);
    json_decref(vars);
}

static void test_ids_and_times(void **state)
{
    char id[24];
    json_t *gid = json_string("gid://shopify/ProductVariant/42"), *num = json_integer(7);
    json_t *bad = json_string("gid://shopify/Product/x");

    (void)state;
    assert_int_equal(cat_id(gid, id, sizeof(id)), 0);
    assert_string_equal(id, "42");
    assert_int_equal(cat_id(num, id, sizeof(id)), 0);
    assert_string_equal(id, "7");
    assert_int_equal(cat_id(bad, id, sizeof(id)), -1);
    json_decref(gid);
    json_decref(num);
    json_decref(bad);
    assert_true(cat_time_ms("1970-01-01T00:00:01Z") == 1000);
    assert_true(cat_time_ms("2026-05-01T09:30:00+05:30") == cat_time_ms("2026-05-01T04:00:00Z"));
    assert_true(cat_time_ms("2026-05-01T04:00:00.250Z") - cat_time_ms("2026-05-01T04:00:00Z") ==
                250);
    assert_true(cat_time_ms("yesterday") == -1);
}

/* The business answers of the catalogue's calls, by catalog_outcomes. */
static void test_outcome_rules(void **state)
{
    static const struct {
        dh_far_t far;
        const char *call;
        dh_answer_t answer;
        const char *problem;
        dh_result_t result;
        int action;
        const char *cls;
    } cases[] = {
        {DH_FAR_WMS, CAT_CALL_UPSERT, DH_ANSWER_OK, NULL, DH_RESULT_DONE, 0, NULL},
        {DH_FAR_WMS, CAT_CALL_UPSERT, DH_ANSWER_409,
         "https://dockhand.example/problems/duplicate-sku", DH_RESULT_DEAD_LETTER, CAT_ACT_REPORT,
         "duplicate-sku"},
        {DH_FAR_WMS, CAT_CALL_UPSERT, DH_ANSWER_409,
         "https://dockhand.example/problems/idempotency-key-mismatch", DH_RESULT_DEAD_LETTER, 0,
         "rejected"},
        {DH_FAR_WMS, CAT_CALL_UPSERT, DH_ANSWER_422, NULL, DH_RESULT_DEAD_LETTER, 0, "rejected"},
        {DH_FAR_WMS, CAT_CALL_UPSERT, DH_ANSWER_404, NULL, DH_RESULT_DEAD_LETTER, 0, "rejected"},
        {DH_FAR_SHOPIFY, CAT_CALL_BULK_RUN, DH_ANSWER_USER_ERRORS, "OPERATION_IN_PROGRESS",
         DH_RESULT_WAIT, 0, "bulk-busy"},
        {DH_FAR_SHOPIFY, CAT_CALL_BULK_RUN, DH_ANSWER_USER_ERRORS, "INVALID", DH_RESULT_DEAD_LETTER,
         0, "rejected"},
        {DH_FAR_SHOPIFY, CAT_CALL_BULK_STATUS, DH_ANSWER_MISSING, NULL, DH_RESULT_DEAD_LETTER, 0,
         "rejected"},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const dh_outcome_rule_t *r = dh_outcome_rule(&catalog_outcomes, cases[i].far, cases[i].call,
                                                     cases[i].answer, cases[i].problem);

        assert_int_equal(r->result, cases[i].result);
        assert_int_equal(r->action, cases[i].action);
        if (cases[i].cls) {
            assert_string_equal(r->error_class, cases[i].cls);
        }
    }
    assert_true(dh_outcome_rule(&catalog_outcomes, DH_FAR_SHOPIFY, CAT_CALL_BULK_RUN,
                                DH_ANSWER_USER_ERRORS, "OPERATION_IN_PROGRESS")
                    ->retry_after_ms >= 1000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_update_example),
        cmocka_unit_test(test_variant_image_and_style),
        cmocka_unit_test(test_missing_sku_no_image),
        cmocka_unit_test(test_delete),
        cmocka_unit_test(test_rejections),
        cmocka_unit_test(test_duplicate_in_product),
        cmocka_unit_test(test_archived_and_metafield),
        cmocka_unit_test(test_fingerprint_tracks_body),
        cmocka_unit_test(test_gql_shape),
        cmocka_unit_test(test_ids_and_times),
        cmocka_unit_test(test_outcome_rules),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
