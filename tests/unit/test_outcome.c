/*
 * The outcome table's pure parts: the classifier from a client's (error, status), the
 * completeness of the common table, the rule lookup (order, problem suffix, the 4xx
 * catch-all, defaults), rule outcomes and the printed markdown.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dockhand/outcome.h"

/* cmocka.h needs these three first; keep clang-format from sorting it above them. */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
/* clang-format on */

static void test_answer_of(void **state)
{
    static const struct {
        dh_far_t far;
        dh_err_t err;
        long status;
        dh_answer_t want;
    } cases[] = {
        {DH_FAR_WMS, DH_OK, 201, DH_ANSWER_OK},
        {DH_FAR_WMS, DH_OK, 404, DH_ANSWER_404},
        {DH_FAR_WMS, DH_OK, 409, DH_ANSWER_409},
        {DH_FAR_WMS, DH_OK, 422, DH_ANSWER_422},
        {DH_FAR_WMS, DH_OK, 400, DH_ANSWER_4XX},
        {DH_FAR_WMS, DH_ERR_RATE, 429, DH_ANSWER_THROTTLED},
        {DH_FAR_WMS, DH_ERR_RATE, 0, DH_ANSWER_THROTTLED},
        {DH_FAR_WMS, DH_ERR_AUTH, 401, DH_ANSWER_401},
        {DH_FAR_WMS, DH_ERR_AUTH, 403, DH_ANSWER_403},
        {DH_FAR_WMS, DH_ERR_PROTO, 502, DH_ANSWER_5XX},
        {DH_FAR_WMS, DH_ERR_PROTO, 200, DH_ANSWER_BAD_REPLY},
        {DH_FAR_WMS, DH_ERR_TIMEOUT, 0, DH_ANSWER_TIMEOUT},
        {DH_FAR_WMS, DH_ERR_IO, 0, DH_ANSWER_REFUSED},
        {DH_FAR_WMS, DH_ERR_INVALID, 0, DH_ANSWER_INTERNAL},
        {DH_FAR_WMS, DH_ERR_NOMEM, 0, DH_ANSWER_NOMEM},
        {DH_FAR_SHOPIFY, DH_OK, 200, DH_ANSWER_OK},
        {DH_FAR_SHOPIFY, DH_ERR_AUTH, 0, DH_ANSWER_401}, /* a refused token grant */
        {DH_FAR_SHOPIFY, DH_ERR_INVALID, 404, DH_ANSWER_404},
        {DH_FAR_SHOPIFY, DH_ERR_INVALID, 200, DH_ANSWER_4XX}, /* top-level GraphQL errors */
        {DH_FAR_SHOPIFY, DH_ERR_INVALID, 0, DH_ANSWER_INTERNAL},
        {DH_FAR_SHOPIFY, DH_ERR_CONFIG, 0, DH_ANSWER_INTERNAL},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(dh_answer_of(cases[i].far, cases[i].err, cases[i].status), cases[i].want);
    }
}

/* Every far side x answer has its own row; credentials never dead-letter. */
static void test_table_complete(void **state)
{
    (void)state;
    for (int f = 0; f < DH_FAR__COUNT; f++) {
        for (int a = 0; a < DH_ANSWER__COUNT; a++) {
            const dh_outcome_row_t *r = dh_outcome_row((dh_far_t)f, (dh_answer_t)a);

            assert_int_equal(r->far, f);
            assert_int_equal(r->answer, a);
            assert_non_null(r->note);
            assert_string_not_equal(dh_answer_str((dh_answer_t)a), "unknown");
            if (a == DH_ANSWER_401 || a == DH_ANSWER_403) {
                assert_int_equal(r->result, DH_RESULT_RETRY);
                assert_true(dh_outcome_never_exhausts(r->error_class));
            } else if (!r->answered) {
                assert_false(dh_outcome_never_exhausts(r->error_class));
            }
        }
    }
    /* The WMS's business answers are the caller's; Shopify's 4xx are not. */
    assert_true(dh_outcome_row(DH_FAR_WMS, DH_ANSWER_409)->answered);
    assert_false(dh_outcome_row(DH_FAR_SHOPIFY, DH_ANSWER_409)->answered);
    assert_true(dh_outcome_row(DH_FAR_SHOPIFY, DH_ANSWER_USER_ERRORS)->answered);
}

static void test_far_outcome(void **state)
{
    dh_outcome_t o;

    (void)state;
    assert_int_equal(dh_far_outcome(NULL, DH_FAR_WMS, DH_OK, 409, 0, "w", "", &o), 0);
    assert_int_equal(o.answer, DH_ANSWER_409);
    assert_int_equal(dh_far_outcome(NULL, DH_FAR_WMS, DH_ERR_RATE, 429, 1500, "w", "x", &o), -1);
    assert_int_equal(o.result, DH_RESULT_WAIT);
    assert_int_equal(o.retry_after_ms, 1500);
    assert_string_equal(o.error_class, "rate-limit");
    assert_int_equal(dh_far_outcome(NULL, DH_FAR_WMS, DH_ERR_RATE, 0, 0, "w", "x", &o), -1);
    assert_true(o.retry_after_ms > 0); /* never a busy loop */
    assert_int_equal(dh_far_outcome(NULL, DH_FAR_SHOPIFY, DH_ERR_AUTH, 401, 0, "s", "x", &o), -1);
    assert_int_equal(o.result, DH_RESULT_RETRY);
    assert_string_equal(o.error_class, "auth");
    assert_true(o.retry_after_ms >= 1000);
    assert_non_null(strstr(o.error, "s: 401"));
    assert_int_equal(dh_far_outcome(NULL, DH_FAR_SHOPIFY, DH_ERR_INVALID, 200, 0, "s", "x", &o),
                     -1);
    assert_int_equal(o.result, DH_RESULT_DEAD_LETTER);
    assert_string_equal(o.error_class, "rejected");
}

#define R(call, ans, problem, act, res, cls)                                                       \
    {                                                                                              \
        DH_FAR_WMS, call, DH_ANSWER_##ans, problem, act, DH_RESULT_##res, 0, cls, "n"              \
    }

static const dh_outcome_rule_t rules[] = {
    R("a", 409, "/key-mismatch", 7, DONE, NULL),
    R("a", 404, NULL, 0, RETRY, "not-yet"),
    R("a", 4XX, NULL, 0, DEAD_LETTER, NULL),
    R("b", OK, NULL, 0, WAIT, "later"),
};
static const dh_outcome_rules_t set = {"t", rules, sizeof(rules) / sizeof(rules[0])};

static void test_rule_lookup(void **state)
{
    dh_outcome_t o;

    (void)state;
    assert_ptr_equal(
        dh_outcome_rule(&set, DH_FAR_WMS, "a", DH_ANSWER_409, "https://x/problems/key-mismatch"),
        &rules[0]);
    assert_ptr_equal(dh_outcome_rule(&set, DH_FAR_WMS, "a", DH_ANSWER_404, "whatever"), &rules[1]);
    /* The 4xx catch-all takes 409s of other types, 422 and other 4xx. */
    assert_ptr_equal(dh_outcome_rule(&set, DH_FAR_WMS, "a", DH_ANSWER_409, "/other"), &rules[2]);
    assert_ptr_equal(dh_outcome_rule(&set, DH_FAR_WMS, "a", DH_ANSWER_422, NULL), &rules[2]);
    assert_ptr_equal(dh_outcome_rule(&set, DH_FAR_WMS, "b", DH_ANSWER_OK, NULL), &rules[3]);
    /* Defaults: another far side or call. */
    assert_int_equal(dh_outcome_rule(&set, DH_FAR_SHOPIFY, "a", DH_ANSWER_404, NULL)->result,
                     DH_RESULT_DEAD_LETTER);
    assert_int_equal(dh_outcome_rule(&set, DH_FAR_WMS, "c", DH_ANSWER_OK, NULL)->result,
                     DH_RESULT_DONE);
    assert_int_equal(dh_outcome_rule(NULL, DH_FAR_WMS, "c", DH_ANSWER_422, NULL)->result,
                     DH_RESULT_DEAD_LETTER);
    /* A rule without a class takes the problem type (or userErrors code). */
    dh_outcome_of_rule(&rules[2], "CODE_X", &o, "why %d", 1);
    assert_int_equal(o.result, DH_RESULT_DEAD_LETTER);
    assert_string_equal(o.error_class, "CODE_X");
    assert_string_equal(o.error, "why 1");
    dh_outcome_of_rule(&rules[1], "CODE_X", &o, "x");
    assert_string_equal(o.error_class, "not-yet");
}

static void test_print(void **state)
{
    const dh_outcome_rules_t *const all[] = {&set};
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    (void)state;
    assert_non_null(f);
    dh_outcome_print(f, all, 1);
    fclose(f);
    assert_non_null(strstr(buf, "| 401 | retry (auth)"));
    assert_non_null(strstr(buf, "### Worker x answer"));
    assert_non_null(strstr(buf, "| wms | a | 409 /key-mismatch | done | n |"));
    assert_non_null(strstr(buf, "| 404 | a: retry |"));
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_answer_of),   cmocka_unit_test(test_table_complete),
        cmocka_unit_test(test_far_outcome), cmocka_unit_test(test_rule_lookup),
        cmocka_unit_test(test_print),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
