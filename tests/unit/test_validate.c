/*
 * dh_v_*: the JSON number checks shared by the WMS consumers. Regression cases for reals
 * far outside int64_t (issue #10: the cast came before the range check, so one such
 * event was undefined behaviour and, under UBSan, killed the worker).
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "dockhand/validate.h"

/* cmocka.h needs these three first; keep clang-format from sorting it above them. */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
/* clang-format on */

/* Runs dh_v_int on {"n": <text>}; returns 1 when valid, the reason in err otherwise. */
static int check_int(const char *text, int64_t min, int64_t max, int64_t *out, char *err,
                     size_t size)
{
    char doc[256];
    json_error_t jerr;
    json_t *root;
    dh_vctx_t v = {.err = err, .size = size};
    int ok;

    snprintf(doc, sizeof(doc), "{\"n\": %s}", text);
    root = json_loads(doc, 0, &jerr);
    if (!root) {
        fail_msg("fixture %s does not parse: %s", doc, jerr.text);
    }
    err[0] = '\0';
    ok = dh_v_int(&v, root, "", "n", min, max, out);
    json_decref(root);
    return ok;
}

static void test_int_huge_reals_rejected(void **state)
{
    static const char *const too_big[] = {"20955555555555E74", "9.3e18", "9223372036854775808.0",
                                          "1e308", "18446744073709551616.0"};
    char err[128];
    int64_t out = 42;

    (void)state;
    for (size_t i = 0; i < sizeof(too_big) / sizeof(too_big[0]); i++) {
        assert_false(check_int(too_big[i], 0, 9007199254740991LL, &out, err, sizeof(err)));
        assert_string_equal(err, "/n must be <= 9007199254740991");
        assert_false(check_int(too_big[i], 0, INT64_MAX, &out, err, sizeof(err)));
        assert_string_equal(err, "/n must be <= 9223372036854775807");
    }
    assert_false(check_int("-20955555555555E74", 0, INT64_MAX, &out, err, sizeof(err)));
    assert_string_equal(err, "/n must be >= 0");
    assert_false(check_int("-1e300", INT64_MIN, 5, &out, err, sizeof(err)));
    assert_string_equal(err, "/n must be >= -9223372036854775808");
    assert_int_equal(out, 42); /* untouched on failure */
}

static void test_int_integral_reals_accepted(void **state)
{
    char err[128];
    int64_t out = 0;

    (void)state;
    assert_true(check_int("7.0", 0, 10, &out, err, sizeof(err)));
    assert_int_equal(out, 7);
    assert_true(check_int("1e15", 0, 9007199254740991LL, &out, err, sizeof(err)));
    assert_int_equal(out, 1000000000000000LL);
    assert_true(check_int("-9223372036854775808.0", INT64_MIN, 0, &out, err, sizeof(err)));
    assert_int_equal(out, INT64_MIN);
    assert_false(check_int("1e16", 0, 9007199254740991LL, &out, err, sizeof(err)));
    assert_string_equal(err, "/n must be <= 9007199254740991");
}

static void test_int_fractions_and_types(void **state)
{
    char err[128];
    int64_t out = 0;

    (void)state;
    assert_false(check_int("1.5", 0, 10, &out, err, sizeof(err)));
    assert_string_equal(err, "/n must be integer");
    assert_false(check_int("\"3\"", 0, 10, &out, err, sizeof(err)));
    assert_string_equal(err, "/n must be integer");
    assert_false(check_int("11", 0, 10, &out, err, sizeof(err)));
    assert_string_equal(err, "/n must be <= 10");
}

static void test_real_to_i64(void **state)
{
    int64_t out = 5;

    (void)state;
    assert_false(dh_v_real_to_i64(NAN, &out));
    assert_false(dh_v_real_to_i64(INFINITY, &out));
    assert_false(dh_v_real_to_i64(-INFINITY, &out));
    assert_false(dh_v_real_to_i64(9223372036854775808.0, &out));
    assert_false(dh_v_real_to_i64(-9223372036854777856.0, &out)); /* next double below -2^63 */
    assert_false(dh_v_real_to_i64(0.5, &out));
    assert_int_equal(out, 5);
    assert_true(dh_v_real_to_i64(-9223372036854775808.0, &out));
    assert_int_equal(out, INT64_MIN);
    assert_true(dh_v_real_to_i64(9223372036854774784.0, &out)); /* largest double < 2^63 */
    assert_int_equal(out, 9223372036854774784LL);
}

static void test_real_clamp(void **state)
{
    (void)state;
    assert_int_equal(dh_v_real_clamp_i64(2.0955555555555e87, 250, 600000), 600000);
    assert_int_equal(dh_v_real_clamp_i64(-1e300, 250, 600000), 250);
    assert_int_equal(dh_v_real_clamp_i64(NAN, 250, 600000), 250);
    assert_int_equal(dh_v_real_clamp_i64(INFINITY, 0, INT64_MAX), INT64_MAX);
    assert_int_equal(dh_v_real_clamp_i64(1e19, 0, INT64_MAX), INT64_MAX);
    assert_int_equal(dh_v_real_clamp_i64(1234.9, 0, INT64_MAX), 1234);
    /* Bounds compare exactly, even where a double cannot represent them (2^53 + 1). */
    assert_int_equal(dh_v_real_clamp_i64(9007199254740992.0, 0, 9007199254740991LL),
                     9007199254740991LL);
    assert_int_equal(dh_v_real_clamp_i64(9007199254740992.0, 0, 9007199254740993LL),
                     9007199254740992LL);
    assert_int_equal(dh_v_real_clamp_i64(9007199254740994.0, 0, 9007199254740993LL),
                     9007199254740993LL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_int_huge_reals_rejected),
        cmocka_unit_test(test_int_integral_reals_accepted),
        cmocka_unit_test(test_int_fractions_and_types),
        cmocka_unit_test(test_real_to_i64),
        cmocka_unit_test(test_real_clamp),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
