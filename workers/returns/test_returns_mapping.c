/*
 * Unit tests of dh-returns' pure core (mapping.c): the contract's valid examples map to
 * the expected createReturn bodies, every invalid example is rejected with the reason
 * expected-errors.json names, the create/skip table, and the mapping's own rejections
 * (a line without SKU, values the WMS cannot carry).
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

#include "returns.h"
#include "th_examples.h"

#define STORE "acme-apparel.myshopify.com"

static void parse_text(const char *text, returns_request_t *r)
{
    char err[512];

    if (returns_request_parse(text, strlen(text), r, err, sizeof(err)) != RETURNS_PARSE_OK) {
        fail_msg("%s", err);
    }
}

static void parse_example(const char *name, returns_request_t *r)
{
    size_t len;
    char *buf = th_slurp(DH_RETURNS_EXAMPLES "/valid", name, &len);

    parse_text(buf, r);
    free(buf);
}

static void test_valid_examples(void **state)
{
    static const struct {
        const char *file, *status, *body;
    } cases[] = {
        {"return-approved.json", "approved", NULL},
        {"exchange-approved.json", "approved",
         "{\"store\": \"" STORE "\", \"return_request_id\": \"rp_8842\", \"request_number\": "
         "\"EXC1021\", \"type\": \"EXCHANGE\", \"channel_order_id\": \"5802154000001\", "
         "\"exchange_order_id\": \"5802154000077\", \"awb\": \"8812345670\", \"carrier\": "
         "\"Shiprocket - Delhivery\", \"lines\": [{\"channel_line_item_id\": \"14202154000011\", "
         "\"sku\": \"TSHIRT-BLK-M\", \"quantity\": 1, \"reason\": \"Size too small\"}]}"},
        {"request-created-string-ids.json", "pending",
         "{\"store\": \"" STORE "\", \"return_request_id\": \"90311\", \"request_number\": "
         "\"RET1021\", \"type\": \"RETURN\", \"channel_order_id\": \"5802154000001\", "
         "\"lines\": [{\"channel_line_item_id\": \"14202154000011\", \"sku\": \"TSHIRT-BLK-M\", "
         "\"quantity\": 1, \"reason\": \"Others\"}]}"},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        returns_request_t r;
        const char *cls = NULL;
        char err[512];

        print_message("valid: %s\n", cases[i].file);
        parse_example(cases[i].file, &r);
        assert_string_equal(r.status, cases[i].status);
        json_t *body = returns_wms_body(&r, STORE, &cls, err, sizeof(err));

        if (!body) {
            fail_msg("%s: %s %s", cases[i].file, cls, err);
        }
        if (cases[i].body) {
            th_assert_json_equal(body, cases[i].body);
        } else { /* return-approved: a plain return, no exchange order */
            assert_string_equal(json_string_value(json_object_get(body, "type")), "RETURN");
            assert_null(json_object_get(body, "exchange_order_id"));
            assert_string_equal(json_string_value(json_object_get(body, "store")), STORE);
            assert_true(json_array_size(json_object_get(body, "lines")) >= 1);
        }
        json_decref(body);
        returns_request_clear(&r);
    }
}

static void test_invalid_examples(void **state)
{
    json_t *expected = th_expected_errors(DH_RETURNS_EXAMPLES);
    const char *name;
    json_t *want;

    (void)state;
    json_object_foreach(expected, name, want)
    {
        char err[512];
        size_t len;
        char *buf = th_slurp(DH_RETURNS_EXAMPLES "/invalid", name, &len);
        returns_request_t r;

        print_message("invalid: %s\n", name);
        assert_int_equal(returns_request_parse(buf, len, &r, err, sizeof(err)),
                         RETURNS_PARSE_SCHEMA);
        th_assert_ajv_reason(name, err, want);
        returns_request_clear(&r);
        free(buf);
    }
    json_decref(expected);
    /* Every invalid example is listed. */
    const char *const files[] = {"line-item-zero-quantity.json",
                                 "missing-order.json",
                                 "missing-request.json",
                                 "no-line-items.json",
                                 "original-product-missing-sku.json",
                                 "unknown-request-type.json",
                                 "unknown-status.json"};

    expected = th_expected_errors(DH_RETURNS_EXAMPLES);
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        assert_non_null(json_object_get(expected, files[i]));
    }
    json_decref(expected);

    char err[128];
    returns_request_t r;

    assert_int_equal(returns_request_parse("[1]", 3, &r, err, sizeof(err)), RETURNS_PARSE_DECODE);
    returns_request_clear(&r);
    assert_int_equal(returns_request_parse("{not json", 9, &r, err, sizeof(err)),
                     RETURNS_PARSE_DECODE);
    returns_request_clear(&r);
    assert_int_equal(returns_request_parse(NULL, 0, &r, err, sizeof(err)), RETURNS_PARSE_DECODE);
    returns_request_clear(&r);
}

static void test_action(void **state)
{
    static const struct {
        const char *topic, *status;
        returns_action_t want;
    } cases[] = {
        {"request/created", "pending", RETURNS_SKIP},
        {"request/approved", "approved", RETURNS_CREATE},
        {"request/received", "received", RETURNS_CREATE},
        {"request/inspected", "inspected", RETURNS_CREATE},
        {"request/updated", "approved", RETURNS_CREATE},
        {"request/updated", "pending", RETURNS_SKIP},
        {"request/approved", "rejected", RETURNS_SKIP}, /* rejected since */
        {"request/rejected", "rejected", RETURNS_SKIP},
        {"request/refunded", "refunded", RETURNS_SKIP},
        {"request/archived", "archived", RETURNS_SKIP},
        {"request/deleted", "approved", RETURNS_BAD_TOPIC},
        {"request/approved ", "approved", RETURNS_BAD_TOPIC},
        {"", "approved", RETURNS_BAD_TOPIC},
    };
    unsigned mask, pending;
    char err[200];

    (void)state;
    assert_int_equal(returns_statuses_parse(RETURNS_DEFAULT_STATUSES, &mask, err, sizeof(err)), 0);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        print_message("action: %s %s\n", cases[i].topic, cases[i].status);
        assert_int_equal(
            returns_action(cases[i].topic, strlen(cases[i].topic), cases[i].status, mask),
            cases[i].want);
    }
    assert_int_equal(returns_statuses_parse(" pending , approved,", &pending, err, sizeof(err)), 0);
    assert_int_equal(returns_action("request/created", 15, "pending", pending), RETURNS_CREATE);
    assert_int_equal(returns_action("request/received", 16, "received", pending), RETURNS_SKIP);
    assert_int_equal(returns_statuses_parse("approved,APPROVED", &mask, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "APPROVED"));
}

/* A minimal valid request with one line; \p line replaces the line's object. */
static void request_with(const char *type, const char *number, const char *line, char *out,
                         size_t size)
{
    snprintf(out, size,
             "{\"request\": {\"id\": 7, \"request_number\": %s, \"request_type\": \"%s\", "
             "\"status\": \"approved\", \"created_at\": \"2026-05-10T12:00:00Z\", "
             "\"order\": {\"id\": 42, \"name\": \"#42\"}, \"line_items\": [%s]}}",
             number, type, line);
}

static void test_body_rules(void **state)
{
    char text[4096], err[512], longer[200];
    const char *cls;
    returns_request_t r;
    json_t *body;

    (void)state;
    /* A line without SKU (null) is valid input but cannot become a WMS return line. */
    request_with("return", "\"RET7\"",
                 "{\"id\": 9, \"quantity\": 1, \"original_product\": {\"sku\": null, "
                 "\"variant_id\": 5}}",
                 text, sizeof(text));
    parse_text(text, &r);
    assert_null(returns_wms_body(&r, STORE, &cls, err, sizeof(err)));
    assert_string_equal(cls, "missing-sku");
    assert_non_null(strstr(err, "/request/line_items/0/original_product/sku"));
    returns_request_clear(&r);
    /* Integer request number, reason with detail, null reason elsewhere, exchange without
     * a replacement order yet. */
    request_with("exchange", "1021",
                 "{\"id\": \"9\", \"quantity\": 2, \"reason\": \"Damaged\", \"reason_detail\": "
                 "\"torn seam\", \"original_product\": {\"sku\": \"A-1\", \"variant_id\": 5}, "
                 "\"shipping\": [{\"awb\": \"\", \"shipping_company\": \"X\"}]}, "
                 "{\"id\": 10, \"quantity\": 1, \"reason\": null, \"original_product\": "
                 "{\"sku\": \"B-2\", \"variant_id\": \"6\"}}",
                 text, sizeof(text));
    parse_text(text, &r);
    body = returns_wms_body(&r, STORE, &cls, err, sizeof(err));
    assert_non_null(body);
    th_assert_json_equal(body, "{\"store\": \"" STORE "\", \"return_request_id\": \"7\", "
                               "\"request_number\": \"1021\", \"type\": \"EXCHANGE\", "
                               "\"channel_order_id\": \"42\", \"lines\": ["
                               "{\"channel_line_item_id\": \"9\", \"sku\": \"A-1\", \"quantity\": "
                               "2, \"reason\": \"Damaged: torn seam\"}, "
                               "{\"channel_line_item_id\": \"10\", \"sku\": \"B-2\", "
                               "\"quantity\": 1, \"reason\": \"\"}]}");
    json_decref(body);
    returns_request_clear(&r);
    /* A request number over the WMS's 64 characters. */
    memset(longer, 0, sizeof(longer));
    longer[0] = '"';
    memset(longer + 1, 'N', 70);
    longer[71] = '"';
    request_with("return", longer,
                 "{\"id\": 9, \"quantity\": 1, \"original_product\": {\"sku\": \"A\", "
                 "\"variant_id\": 5}}",
                 text, sizeof(text));
    parse_text(text, &r);
    assert_null(returns_wms_body(&r, STORE, &cls, err, sizeof(err)));
    assert_string_equal(cls, "invalid-request");
    assert_non_null(strstr(err, "request_number"));
    returns_request_clear(&r);
    /* A SKU with surrounding spaces and a quantity over the WMS's cap. */
    request_with("return", "\"R\"",
                 "{\"id\": 9, \"quantity\": 1, \"original_product\": {\"sku\": \" A\", "
                 "\"variant_id\": 5}}",
                 text, sizeof(text));
    parse_text(text, &r);
    assert_null(returns_wms_body(&r, STORE, &cls, err, sizeof(err)));
    assert_string_equal(cls, "invalid-request");
    returns_request_clear(&r);
    request_with("return", "\"R\"",
                 "{\"id\": 9, \"quantity\": 100001, \"original_product\": {\"sku\": \"A\", "
                 "\"variant_id\": 5}}",
                 text, sizeof(text));
    parse_text(text, &r);
    assert_null(returns_wms_body(&r, STORE, &cls, err, sizeof(err)));
    assert_non_null(strstr(err, "quantity"));
    returns_request_clear(&r);
    /* Schema details beyond the examples: ids, formats. */
    request_with("return", "\"R\"",
                 "{\"id\": \"09\", \"quantity\": 1, \"original_product\": {\"sku\": \"A\", "
                 "\"variant_id\": 5}}",
                 text, sizeof(text));
    assert_int_equal(returns_request_parse(text, strlen(text), &r, err, sizeof(err)),
                     RETURNS_PARSE_SCHEMA);
    assert_string_equal(err, "/request/line_items/0/id must match a schema in anyOf");
    returns_request_clear(&r);
}

/* The WMS's business answers to POST /wms/v1/returns, by returns_outcomes. */
static void test_outcome_rules(void **state)
{
    static const struct {
        dh_answer_t a;
        const char *problem;
        dh_result_t want;
        const char *cls;
    } cases[] = {
        {DH_ANSWER_OK, NULL, DH_RESULT_DONE, NULL},
        {DH_ANSWER_409, "https://dockhand.dev/problems/idempotency-key-mismatch", DH_RESULT_DONE,
         NULL},
        {DH_ANSWER_409, "https://dockhand.dev/problems/duplicate-sku", DH_RESULT_DEAD_LETTER,
         "rejected"},
        {DH_ANSWER_404, "https://dockhand.dev/problems/not-found", DH_RESULT_DEAD_LETTER,
         "rejected"},
        {DH_ANSWER_422, NULL, DH_RESULT_DEAD_LETTER, "rejected"},
        {DH_ANSWER_4XX, NULL, DH_RESULT_DEAD_LETTER, "rejected"},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const dh_outcome_rule_t *r = dh_outcome_rule(&returns_outcomes, DH_FAR_WMS, "create-return",
                                                     cases[i].a, cases[i].problem);

        assert_int_equal(r->result, cases[i].want);
        if (cases[i].cls) {
            assert_string_equal(r->error_class, cases[i].cls);
        }
    }
    /* Credentials are the common table's: retried, never a dead letter. */
    assert_int_equal(dh_outcome_row(DH_FAR_WMS, DH_ANSWER_401)->result, DH_RESULT_RETRY);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_examples), cmocka_unit_test(test_invalid_examples),
        cmocka_unit_test(test_action),         cmocka_unit_test(test_body_rules),
        cmocka_unit_test(test_outcome_rules),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
