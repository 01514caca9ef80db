/*
 * A second replica joins mid-run and later leaves (SIGTERM): cooperative rebalancing
 * hands partitions over without losing an event or running an effect twice.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <signal.h>
#include <stdio.h>

#include "harness.h"

#define N    12000
#define KEYS 1200

static void test_join_and_leave(void **state)
{
    th_run_t run;
    pid_t a, b;
    long long dups;

    (void)state;
    th_run_init(&run, "rebal", 6);
    th_run_setenv(&run, "DH_LANES", "4");
    th_run_setenv(&run, "DH_TEST_SLEEP_MS", "3");
    th_run_produce_events(&run, N, KEYS, 0);

    a = th_run_worker(&run);
    assert_true(th_run_wait_performed(&run, N / 5, 120000));
    b = th_run_worker(&run); /* joins: A gives up some partitions */
    assert_true(th_run_wait_performed(&run, N / 2, 120000));
    kill(b, SIGTERM); /* leaves: its partitions go back to A */
    assert_int_equal(th_wait_exit(b, 30000), 0);
    assert_true(th_run_wait_performed(&run, N, 180000));
    kill(a, SIGTERM);
    assert_int_equal(th_wait_exit(a, 30000), 0);

    assert_int_equal(th_run_performed(&run, &dups), N);
    assert_int_equal(dups, 0);
    assert_true(th_run_order_ok(&run, KEYS, 1));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_join_and_leave),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
