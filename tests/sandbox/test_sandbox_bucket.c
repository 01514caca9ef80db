/* Unit tests: leaky-bucket arithmetic (sandbox/bucket.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <stdint.h>

#include "bucket.h"

static void test_charge_and_refund(void **state)
{
    dh_sb_bucket_t b;

    (void)state;
    dh_sb_bucket_init(&b, 2000, 100, 0);
    assert_true(dh_sb_bucket_charge(&b, 1500, 0));
    assert_false(dh_sb_bucket_charge(&b, 501, 0));
    assert_float_equal(b.available, 500, 1e-9);
    dh_sb_bucket_refund(&b, 400);
    assert_float_equal(b.available, 900, 1e-9);
    dh_sb_bucket_refund(&b, 5000);
    assert_float_equal(b.available, 2000, 1e-9);
}

static void test_restore_rate(void **state)
{
    dh_sb_bucket_t b;

    (void)state;
    dh_sb_bucket_init(&b, 2000, 100, 10);
    assert_true(dh_sb_bucket_charge(&b, 2000, 10));
    dh_sb_bucket_refill(&b, 12.5);
    assert_float_equal(b.available, 250, 1e-9);
    dh_sb_bucket_refill(&b, 100);
    assert_float_equal(b.available, 2000, 1e-9); /* capped */
}

static void test_wait_for(void **state)
{
    dh_sb_bucket_t b;

    (void)state;
    dh_sb_bucket_init(&b, 1000, 50, 0);
    assert_true(dh_sb_bucket_charge(&b, 1000, 0));
    assert_float_equal(dh_sb_bucket_wait_for(&b, 100, 0), 2.0, 1e-9);
    assert_float_equal(dh_sb_bucket_wait_for(&b, 100, 1), 1.0, 1e-9);
    assert_float_equal(dh_sb_bucket_wait_for(&b, 100, 5), 0.0, 1e-9);
}

/* A drained bucket (the control endpoint) restores from the moment it was drained. */
static void test_set_drains_then_restores(void **state)
{
    dh_sb_bucket_t b;

    (void)state;
    dh_sb_bucket_init(&b, 2000, 100, 0);
    dh_sb_bucket_set(&b, 0, 30);
    assert_float_equal(b.available, 0, 1e-9);
    assert_false(dh_sb_bucket_charge(&b, 15, 30));
    assert_float_equal(dh_sb_bucket_wait_for(&b, 15, 30), 0.15, 1e-9);
    dh_sb_bucket_refill(&b, 32);
    assert_float_equal(b.available, 200, 1e-9);
    dh_sb_bucket_set(&b, -5, 32);
    assert_float_equal(b.available, 0, 1e-9);
    dh_sb_bucket_set(&b, 9999, 32);
    assert_float_equal(b.available, 2000, 1e-9);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_charge_and_refund),
        cmocka_unit_test(test_restore_rate),
        cmocka_unit_test(test_wait_for),
        cmocka_unit_test(test_set_drains_then_restores),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
