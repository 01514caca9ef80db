/* Unit tests: fault rules (sandbox/faults.c), in particular numbers out of range. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <string.h>

#include "faults.h"

static dh_sb_err_t set_text(dh_sb_faults_t *f, const char *text, char *err, size_t size)
{
    json_error_t jerr;
    json_t *rule = json_loads(text, 0, &jerr);
    dh_sb_err_t rc;

    if (!rule) {
        fail_msg("fixture %s: %s", text, jerr.text);
    }
    rc = dh_sb_faults_set(f, rule, err, size);
    json_decref(rule);
    return rc;
}

/* issue #10: these were converted to long before any range check (undefined behaviour). */
static void test_huge_numbers_rejected(void **state)
{
    static const char *const bad[] = {
        "{\"group\":\"shopify\",\"latency_ms\":20955555555555E74}",
        "{\"group\":\"shopify\",\"timeout_ms\":-1e300}",
        "{\"group\":\"wms\",\"count\":1e19}",
        "{\"group\":\"wms\",\"error_status\":1e300}",
        "{\"group\":\"wms\",\"error_status\":600}",
        "{\"group\":\"wms\",\"latency_ms\":-1}",
        "{\"group\":\"wms\",\"count\":-2}",
    };
    dh_sb_faults_t *f = dh_sb_faults_new();
    dh_sb_fault_decision_t d;
    char err[256];

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        assert_int_equal(set_text(f, bad[i], err, sizeof(err)), DH_SB_ERR_CONFIG);
        assert_non_null(strstr(err, "error_status in 100..599"));
    }
    /* Nothing was installed: a request meets no fault. */
    dh_sb_faults_decide(f, DH_SB_GROUP_SHOPIFY, NULL, NULL, &d);
    assert_int_equal(d.latency_ms, 0);
    assert_int_equal(d.error_status, 0);
    dh_sb_faults_destroy(f);
}

static void test_valid_rule_applies(void **state)
{
    dh_sb_faults_t *f = dh_sb_faults_new();
    dh_sb_fault_decision_t d;
    char err[256] = "";

    (void)state;
    assert_int_equal(set_text(f,
                              "{\"group\":\"wms\",\"latency_ms\":5.0,\"error_rate\":1,"
                              "\"error_status\":502,\"count\":1}",
                              err, sizeof(err)),
                     DH_SB_OK);
    dh_sb_faults_decide(f, DH_SB_GROUP_WMS, NULL, NULL, &d);
    assert_int_equal(d.latency_ms, 5);
    assert_int_equal(d.error_status, 502);
    dh_sb_faults_decide(f, DH_SB_GROUP_WMS, NULL, NULL, &d); /* count exhausted */
    assert_int_equal(d.error_status, 0);
    dh_sb_faults_destroy(f);
}

/* A rule narrowed by "contains" applies, and counts, only for bodies containing it. */
static void test_contains_narrows(void **state)
{
    dh_sb_faults_t *f = dh_sb_faults_new();
    dh_sb_fault_decision_t d;
    char err[256] = "";

    (void)state;
    assert_int_equal(set_text(f,
                              "{\"group\":\"shopify\",\"timeout_after_effect_rate\":1,"
                              "\"timeout_ms\":10,\"count\":1,\"contains\":\"fulfillmentCreate\"}",
                              err, sizeof(err)),
                     DH_SB_OK);
    dh_sb_faults_decide(f, DH_SB_GROUP_SHOPIFY, NULL, "query { order(id: 1) { id } }", &d);
    assert_false(d.timeout_after);
    dh_sb_faults_decide(f, DH_SB_GROUP_SHOPIFY, NULL, NULL, &d);
    assert_false(d.timeout_after);
    dh_sb_faults_decide(f, DH_SB_GROUP_SHOPIFY, NULL, "mutation { fulfillmentCreate }", &d);
    assert_true(d.timeout_after);
    assert_int_equal(d.timeout_ms, 10);
    dh_sb_faults_decide(f, DH_SB_GROUP_SHOPIFY, NULL, "mutation { fulfillmentCreate }", &d);
    assert_false(d.timeout_after); /* count used up by the one match */
    dh_sb_faults_destroy(f);
}

/* Per-shop rules: a troubled store's fault leaves the others alone, takes precedence over
 * the group's rule, replaces only its own shop's rule, and is bounded in number. */
static void test_shop_rules(void **state)
{
    dh_sb_faults_t *f = dh_sb_faults_new();
    dh_sb_fault_decision_t d;
    char err[256], rule[200];
    json_t *list;

    (void)state;
    assert_int_equal(set_text(f,
                              "{\"group\":\"shopify\",\"shop\":\"a.myshopify.com\","
                              "\"error_rate\":1,\"error_status\":401}",
                              err, sizeof err),
                     DH_SB_OK);
    assert_int_equal(set_text(f,
                              "{\"group\":\"shopify\",\"shop\":\"b.myshopify.com\","
                              "\"error_rate\":1,\"error_status\":503}",
                              err, sizeof err),
                     DH_SB_OK);
    dh_sb_faults_decide(f, DH_SB_GROUP_SHOPIFY, "a.myshopify.com", NULL, &d);
    assert_int_equal(d.error_status, 401);
    dh_sb_faults_decide(f, DH_SB_GROUP_SHOPIFY, "b.myshopify.com", NULL, &d);
    assert_int_equal(d.error_status, 503);
    dh_sb_faults_decide(f, DH_SB_GROUP_SHOPIFY, "c.myshopify.com", NULL, &d);
    assert_int_equal(d.error_status, 0);
    dh_sb_faults_decide(f, DH_SB_GROUP_SHOPIFY, NULL, NULL, &d); /* no shop known */
    assert_int_equal(d.error_status, 0);
    /* A group rule applies to the other shops; a's own rule still wins for a. */
    assert_int_equal(set_text(f, "{\"group\":\"shopify\",\"latency_ms\":5}", err, sizeof err),
                     DH_SB_OK);
    dh_sb_faults_decide(f, DH_SB_GROUP_SHOPIFY, "c.myshopify.com", NULL, &d);
    assert_int_equal(d.latency_ms, 5);
    dh_sb_faults_decide(f, DH_SB_GROUP_SHOPIFY, "a.myshopify.com", NULL, &d);
    assert_int_equal(d.error_status, 401);
    assert_int_equal(d.latency_ms, 0);
    /* Replacing a's rule leaves b's. */
    assert_int_equal(set_text(f,
                              "{\"group\":\"shopify\",\"shop\":\"a.myshopify.com\","
                              "\"latency_ms\":7}",
                              err, sizeof err),
                     DH_SB_OK);
    dh_sb_faults_decide(f, DH_SB_GROUP_SHOPIFY, "a.myshopify.com", NULL, &d);
    assert_int_equal(d.error_status, 0);
    assert_int_equal(d.latency_ms, 7);
    dh_sb_faults_decide(f, DH_SB_GROUP_SHOPIFY, "b.myshopify.com", NULL, &d);
    assert_int_equal(d.error_status, 503);
    list = dh_sb_faults_json(f);
    assert_int_equal(json_array_size(list), 3); /* the group's, a's, b's */
    json_decref(list);
    /* Bounded: 64 shops per group. */
    for (int i = 2; i < 64; i++) {
        snprintf(rule, sizeof rule, "{\"group\":\"shopify\",\"shop\":\"s%d.myshopify.com\"}", i);
        assert_int_equal(set_text(f, rule, err, sizeof err), DH_SB_OK);
    }
    assert_int_equal(
        set_text(f, "{\"group\":\"shopify\",\"shop\":\"x.myshopify.com\"}", err, sizeof err),
        DH_SB_ERR_CONFIG);
    assert_non_null(strstr(err, "64"));
    assert_int_equal(set_text(f, "{\"group\":\"shopify\",\"shop\":\"\"}", err, sizeof err),
                     DH_SB_ERR_CONFIG);
    dh_sb_faults_reset(f);
    dh_sb_faults_decide(f, DH_SB_GROUP_SHOPIFY, "b.myshopify.com", NULL, &d);
    assert_int_equal(d.error_status, 0);
    dh_sb_faults_destroy(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_huge_numbers_rejected),
        cmocka_unit_test(test_valid_rule_applies),
        cmocka_unit_test(test_contains_narrows),
        cmocka_unit_test(test_shop_rules),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
