/*
 * Unit tests of dh-returns' two-way core: wms.return_received (received.c) against the
 * contract's examples and the Return Prime receive body built from it; which statuses
 * cancel the WMS return (returns_cancels()); the cancel, receive and release rules of the
 * outcome table; the exchange release policy and its moments; the topic and path helpers.
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

static void test_receipt_valid(void **state)
{
    size_t len;
    char err[512];
    returns_receipt_t r;
    char *buf = th_slurp(DH_RECEIVED_EXAMPLES "/valid", "customer-return-pass-and-fail.json", &len);

    (void)state;
    if (returns_receipt_parse(buf, len, &r, err, sizeof(err)) != RETURNS_PARSE_OK) {
        fail_msg("%s", err);
    }
    assert_false(r.courier);
    assert_string_equal(r.request_id, "6620011");
    assert_string_equal(r.env.scope, "acme-demo.myshopify.com");
    json_t *body = returns_rp_receipt_body(&r);

    th_assert_json_equal(body,
                         "{\"received_at\": \"2026-05-09T10:41:00+05:30\", \"line_items\": ["
                         "{\"id\": \"14211090000001\", \"quantity\": 1, \"qc_status\": "
                         "\"passed\", \"inspection_notes\": \"\"}, {\"id\": \"14211090000002\", "
                         "\"quantity\": 1, \"qc_status\": \"failed\", \"inspection_notes\": "
                         "\"Stained, tag removed\"}]}");
    json_decref(body);
    returns_receipt_clear(&r);
    free(buf);

    buf = th_slurp(DH_RECEIVED_EXAMPLES "/valid", "courier-return-rto.json", &len);
    if (returns_receipt_parse(buf, len, &r, err, sizeof(err)) != RETURNS_PARSE_OK) {
        fail_msg("%s", err);
    }
    assert_true(r.courier);
    assert_null(r.request_id);
    assert_string_equal(r.env.scope, "ACME");
    returns_receipt_clear(&r);
    free(buf);
}

static void test_receipt_invalid(void **state)
{
    json_t *expected = th_expected_errors(DH_RECEIVED_EXAMPLES);
    const char *name;
    json_t *want;

    (void)state;
    json_object_foreach(expected, name, want)
    {
        char err[512];
        size_t len;
        char *buf = th_slurp(DH_RECEIVED_EXAMPLES "/invalid", name, &len);
        returns_receipt_t r;

        print_message("invalid: %s\n", name);
        assert_int_equal(returns_receipt_parse(buf, len, &r, err, sizeof(err)),
                         RETURNS_PARSE_SCHEMA);
        th_assert_ajv_reason(name, err, want);
        returns_receipt_clear(&r);
        free(buf);
    }
    json_decref(expected);
}

static void test_receipt_not_json(void **state)
{
    char err[256];
    returns_receipt_t r;

    (void)state;
    assert_int_equal(returns_receipt_parse("{\"x\": ", 6, &r, err, sizeof(err)),
                     RETURNS_PARSE_DECODE);
    returns_receipt_clear(&r);
    assert_int_equal(returns_receipt_parse("[]", 2, &r, err, sizeof(err)), RETURNS_PARSE_DECODE);
    returns_receipt_clear(&r);
}

static returns_action_t cancels(const char *status, int received)
{
    char text[600], err[512];
    returns_request_t r;
    returns_action_t a;

    snprintf(text, sizeof(text),
             "{\"request\": {\"id\": 77, \"request_number\": \"RET77\", \"request_type\": "
             "\"return\", \"status\": \"%s\", \"created_at\": \"2026-05-10T12:00:00Z\", \"order\": "
             "{\"id\": 5001, \"name\": \"#5001\"}, "
             "\"received\": {\"status\": %s}, \"line_items\": [{\"id\": 901, \"quantity\": 1, "
             "\"original_product\": {\"sku\": \"TEE\", \"variant_id\": 2}}]}}",
             status, received ? "true" : "false");
    if (returns_request_parse(text, strlen(text), &r, err, sizeof(err)) != RETURNS_PARSE_OK) {
        fail_msg("%s", err);
    }
    a = returns_cancels(&r);
    if (a == RETURNS_CANCEL) {
        json_t *b = returns_cancel_body(&r);
        char want[100];

        snprintf(want, sizeof(want), "{\"reason\": \"Return Prime request %s\"}", status);
        th_assert_json_equal(b, want);
        json_decref(b);
    }
    returns_request_clear(&r);
    return a;
}

static void test_cancels(void **state)
{
    (void)state;
    assert_int_equal(cancels("rejected", 0), RETURNS_CANCEL);
    assert_int_equal(cancels("rejected", 1), RETURNS_CANCEL); /* the WMS refuses: a dead letter */
    assert_int_equal(cancels("archived", 0), RETURNS_CANCEL);
    assert_int_equal(cancels("archived", 1), RETURNS_SKIP); /* a completed return, archived */
    assert_int_equal(cancels("refunded", 0), RETURNS_SKIP);
    assert_int_equal(cancels("pending", 0), RETURNS_SKIP);
}

static void test_rules(void **state)
{
    static const struct {
        dh_far_t far;
        const char *call;
        dh_answer_t a;
        const char *problem;
        dh_result_t want;
        const char *cls;
    } cases[] = {
        {DH_FAR_WMS, "cancel-return", DH_ANSWER_OK, NULL, DH_RESULT_DONE, NULL},
        {DH_FAR_WMS, "cancel-return", DH_ANSWER_404, NULL, DH_RESULT_DONE, NULL},
        {DH_FAR_WMS, "cancel-return", DH_ANSWER_409,
         "https://dockhand.dev/problems/return-received", DH_RESULT_DEAD_LETTER, "return-received"},
        {DH_FAR_WMS, "cancel-return", DH_ANSWER_409,
         "https://dockhand.dev/problems/idempotency-key-mismatch", DH_RESULT_DONE, NULL},
        {DH_FAR_WMS, "cancel-return", DH_ANSWER_422, NULL, DH_RESULT_DEAD_LETTER, "rejected"},
        {DH_FAR_WMS, "update-return", DH_ANSWER_OK, NULL, DH_RESULT_DONE, NULL},
        {DH_FAR_WMS, "update-return", DH_ANSWER_409,
         "https://dockhand.dev/problems/return-received", DH_RESULT_DONE, NULL},
        {DH_FAR_WMS, "update-return", DH_ANSWER_422, NULL, DH_RESULT_DEAD_LETTER, "rejected"},
        {DH_FAR_WMS, "release-exchange", DH_ANSWER_OK, NULL, DH_RESULT_DONE, NULL},
        {DH_FAR_WMS, "release-exchange", DH_ANSWER_404, NULL, DH_RESULT_RETRY,
         "exchange-order-missing"},
        {DH_FAR_WMS, "release-exchange", DH_ANSWER_409, "https://dockhand.dev/problems/x",
         DH_RESULT_DONE, NULL},
        {DH_FAR_RETURNPRIME, "mark-received", DH_ANSWER_OK, NULL, DH_RESULT_DONE, NULL},
        {DH_FAR_RETURNPRIME, "mark-received", DH_ANSWER_404, NULL, DH_RESULT_DEAD_LETTER,
         "unknown-request"},
        {DH_FAR_RETURNPRIME, "mark-received", DH_ANSWER_409, NULL, DH_RESULT_DEAD_LETTER,
         "qc-conflict"},
        {DH_FAR_RETURNPRIME, "mark-received", DH_ANSWER_422, NULL, DH_RESULT_DEAD_LETTER,
         "rp-refused"},
        {DH_FAR_RETURNPRIME, "mark-received", DH_ANSWER_4XX, NULL, DH_RESULT_DEAD_LETTER,
         "rp-refused"},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const dh_outcome_rule_t *r = dh_outcome_rule(&returns_outcomes, cases[i].far, cases[i].call,
                                                     cases[i].a, cases[i].problem);

        assert_int_equal(r->result, cases[i].want);
        if (cases[i].cls) {
            assert_string_equal(r->error_class, cases[i].cls);
        }
    }
    /* Return Prime's credentials, throttles and 5xx are the common table's. */
    assert_int_equal(dh_outcome_row(DH_FAR_RETURNPRIME, DH_ANSWER_401)->result, DH_RESULT_RETRY);
    assert_string_equal(dh_outcome_row(DH_FAR_RETURNPRIME, DH_ANSWER_401)->error_class, "auth");
    assert_int_equal(dh_outcome_row(DH_FAR_RETURNPRIME, DH_ANSWER_THROTTLED)->result,
                     DH_RESULT_WAIT);
    assert_int_equal(dh_outcome_row(DH_FAR_RETURNPRIME, DH_ANSWER_5XX)->result, DH_RESULT_RETRY);
    assert_string_equal(dh_far_str(DH_FAR_RETURNPRIME), "returnprime");
}

static void parse_request(const char *status, const char *shipping, const char *exchange,
                          returns_request_t *r)
{
    char text[900], err[512];

    snprintf(text, sizeof(text),
             "{\"request\": {\"id\": 78, \"request_number\": \"EXC78\", \"request_type\": "
             "\"exchange\", \"status\": \"%s\", \"created_at\": \"2026-05-10T12:00:00Z\", "
             "\"order\": {\"id\": 5001, \"name\": \"#5001\"}%s, \"line_items\": [{\"id\": 901, "
             "\"quantity\": 1, \"original_product\": {\"sku\": \"TEE\", \"variant_id\": 2}, "
             "\"shipping\": [{\"awb\": \"A1\", \"status\": \"%s\"}]}]}}",
             status, exchange, shipping);
    if (returns_request_parse(text, strlen(text), r, err, sizeof(err)) != RETURNS_PARSE_OK) {
        fail_msg("%s", err);
    }
}

static void test_exchange_policy(void **state)
{
    returns_policy_t p;
    returns_request_t r;
    char err[256], order[32];

    (void)state;
    assert_int_equal(returns_release_parse("none", &p, err, sizeof(err)), 0);
    assert_int_equal(returns_release_for(&p, "a.myshopify.com"), RETURNS_RELEASE_NONE);
    assert_int_equal(returns_release_parse(" on_receipt , a.myshopify.com=on_approval,"
                                           "b.myshopify.com=on_qc_pass",
                                           &p, err, sizeof(err)),
                     0);
    assert_int_equal(returns_release_for(&p, "a.myshopify.com"), RETURNS_RELEASE_APPROVAL);
    assert_int_equal(returns_release_for(&p, "b.myshopify.com"), RETURNS_RELEASE_QC_PASS);
    assert_int_equal(returns_release_for(&p, "c.myshopify.com"), RETURNS_RELEASE_RECEIPT);
    assert_string_equal(returns_release_name(RETURNS_RELEASE_PICKUP), "on_pickup");
    assert_int_equal(returns_release_parse("on_delivery", &p, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "on_delivery"));
    assert_int_equal(returns_release_parse("=on_receipt", &p, err, sizeof(err)), -1);

    parse_request("approved", "Out For Pickup", ", \"exchange\": {\"order\": {\"id\": 7077}}", &r);
    assert_int_equal(returns_exchange_order(&r, order, sizeof(order)), 0);
    assert_string_equal(order, "7077");
    assert_true(returns_release_now(RETURNS_RELEASE_APPROVAL, &r));
    assert_false(returns_release_now(RETURNS_RELEASE_PICKUP, &r));
    assert_false(returns_release_now(RETURNS_RELEASE_RECEIPT, &r)); /* the WMS's moment */
    assert_false(returns_release_now(RETURNS_RELEASE_NONE, &r));
    returns_request_clear(&r);
    parse_request("approved", "Picked Up", "", &r);
    assert_true(returns_release_now(RETURNS_RELEASE_PICKUP, &r));
    assert_int_equal(returns_exchange_order(&r, order, sizeof(order)), -1); /* not placed yet */
    returns_request_clear(&r);
    parse_request("received", "", ", \"exchange\": {\"order\": {\"id\": \"7078\"}}", &r);
    assert_true(returns_release_now(RETURNS_RELEASE_PICKUP, &r)); /* received: picked up */
    assert_int_equal(returns_exchange_order(&r, order, sizeof(order)), 0);
    assert_string_equal(order, "7078");
    returns_request_clear(&r);
}

static void test_qc_all_pass(void **state)
{
    size_t len;
    char err[512];
    returns_receipt_t r;
    char *buf = th_slurp(DH_RECEIVED_EXAMPLES "/valid", "customer-return-pass-and-fail.json", &len);

    (void)state;
    assert_int_equal(returns_receipt_parse(buf, len, &r, err, sizeof(err)), RETURNS_PARSE_OK);
    assert_false(returns_receipt_all_pass(&r));
    returns_receipt_clear(&r);
    free(buf);
    buf = th_slurp(DH_RECEIVED_EXAMPLES "/valid", "courier-return-rto.json", &len);
    assert_int_equal(returns_receipt_parse(buf, len, &r, err, sizeof(err)), RETURNS_PARSE_OK);
    assert_true(returns_receipt_all_pass(&r));
    returns_receipt_clear(&r);
    free(buf);
}

static void test_content_tag(void **state)
{
    json_t *a =
        json_loads("{\"store\": \"s\", \"lines\": [{\"sku\": \"A\", \"quantity\": 1}]}", 0, NULL);
    json_t *b = json_loads("{\"lines\": [{\"quantity\": 1, \"sku\": \"A\"}], \"type\": \"RETURN\"}",
                           0, NULL);
    json_t *c = json_loads("{\"lines\": [{\"sku\": \"A\", \"quantity\": 2}]}", 0, NULL);
    json_t *d =
        json_loads("{\"lines\": [{\"sku\": \"A\", \"quantity\": 1}], \"awb\": \"X1\"}", 0, NULL);
    char ta[13], tb[13], tc[13], td[13];

    (void)state;
    assert_int_equal(returns_content_tag(a, ta), 0);
    assert_int_equal(returns_content_tag(b, tb), 0);
    assert_int_equal(returns_content_tag(c, tc), 0);
    assert_int_equal(returns_content_tag(d, td), 0);
    assert_int_equal(strlen(ta), 12);
    assert_string_equal(ta, tb); /* only lines, awb and carrier count, in any key order */
    assert_string_not_equal(ta, tc);
    assert_string_not_equal(ta, td);
    assert_true(returns_same_content(a, b));
    assert_false(returns_same_content(a, d));
    json_t *u = returns_update_body(d);

    th_assert_json_equal(u, "{\"lines\": [{\"sku\": \"A\", \"quantity\": 1}], \"awb\": \"X1\"}");
    json_decref(u);
    json_decref(a);
    json_decref(b);
    json_decref(c);
    json_decref(d);
}

static void test_helpers(void **state)
{
    char out[64];

    (void)state;
    assert_true(returns_is_receipt_topic("wms.return_received"));
    assert_true(returns_is_receipt_topic("t.run1.wms.return_received"));
    assert_false(returns_is_receipt_topic("returnprime.cir"));
    assert_false(returns_is_receipt_topic(NULL));
    returns_url_encode("a b/c%d.e_f~g-h", out, sizeof(out));
    assert_string_equal(out, "a%20b%2Fc%25d.e_f~g-h");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_receipt_valid),
        cmocka_unit_test(test_receipt_invalid),
        cmocka_unit_test(test_receipt_not_json),
        cmocka_unit_test(test_cancels),
        cmocka_unit_test(test_rules),
        cmocka_unit_test(test_helpers),
        cmocka_unit_test(test_content_tag),
        cmocka_unit_test(test_exchange_policy),
        cmocka_unit_test(test_qc_all_pass),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
