/*
 * Duplicated deliveries run each effect exactly once; SIGTERM drains and commits, so a
 * restart repeats nothing; per-key order holds. Real Kafka + real Redis; every
 * performance is counted at the test far side (the run's journal, see testworker.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <signal.h>
#include <stdio.h>

#include "harness.h"

#define N    3000
#define KEYS 300
#define DUPS ((N + 2) / 3) /* every 3rd event (i % 3 == 0) is delivered twice */

static void test_duplicates_and_sigterm(void **state)
{
    th_run_t run;
    long long decoded_before;
    pid_t w;

    (void)state;
    th_run_init(&run, "once", 6);
    th_run_setenv(&run, "DH_LANES", "8");
    /* Every 3rd event is delivered twice, as a second Kafka message; then one marker per
     * key, so "every duplicate was consumed" is awaited, not slept. */
    th_run_produce_events(&run, N, KEYS, 3);
    th_run_produce_markers(&run, "m1", KEYS);
    w = th_run_worker(&run);
    assert_true(th_run_wait_markers(&run, "m1", KEYS, 120000));
    th_run_assert_once(&run, N + KEYS);
    assert_true(th_run_order_ok(&run, KEYS, 1));
    /* Precondition: the duplicates really were delivered (each decoded, none performed). */
    assert_int_equal(th_run_decoded(&run), N + DUPS + KEYS);

    kill(w, SIGTERM);
    assert_int_equal(th_wait_exit(w, 30000), 0);

    decoded_before = th_run_decoded(&run);
    /* A restart of the same group must not see any event again: a second marker per key
     * comes after every earlier event of its key, so once all are performed, a re-read
     * would already have been decoded. */
    w = th_run_worker(&run);
    th_run_produce_markers(&run, "m2", KEYS);
    assert_true(th_run_wait_markers(&run, "m2", KEYS, 120000));
    kill(w, SIGTERM);
    assert_int_equal(th_wait_exit(w, 30000), 0);
    assert_int_equal(th_run_decoded(&run), decoded_before + KEYS);
    th_run_assert_once(&run, N + 2 * KEYS);
    assert_true(th_run_order_ok(&run, KEYS, 1));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_duplicates_and_sigterm),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
