/*
 * Duplicated deliveries run each effect exactly once; SIGTERM drains and commits, so a
 * restart repeats nothing; per-key order holds. Real Kafka + real Redis.
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

static void test_duplicates_and_sigterm(void **state)
{
    th_run_t run;
    long long dups = 0, decoded_before, decoded_after;
    redisContext *c;
    pid_t w;

    (void)state;
    th_run_init(&run, "once", 6);
    th_run_setenv(&run, "DH_LANES", "8");
    /* Every 3rd event is delivered twice, as a second Kafka message. */
    th_run_produce_events(&run, N, KEYS, 3);
    w = th_run_worker(&run);
    assert_true(th_run_wait_performed(&run, N, 120000));
    th_sleep_ms(1500); /* let the duplicates that follow the last effect be consumed */
    assert_int_equal(th_run_performed(&run, &dups), N);
    assert_int_equal(dups, 0);
    assert_true(th_run_order_ok(&run, KEYS, 1));

    kill(w, SIGTERM);
    assert_int_equal(th_wait_exit(w, 30000), 0);

    c = th_redis();
    decoded_before = th_redis_int(c, "GET %s:decoded", run.ns);
    assert_true(decoded_before >= N + N / 3);
    /* A restart of the same group must not see any event again. */
    w = th_run_worker(&run);
    th_sleep_ms(6000);
    kill(w, SIGTERM);
    assert_int_equal(th_wait_exit(w, 30000), 0);
    decoded_after = th_redis_int(c, "GET %s:decoded", run.ns);
    assert_int_equal(decoded_after, decoded_before);
    assert_int_equal(th_run_performed(&run, &dups), N);
    assert_int_equal(dups, 0);
    redisFree(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_duplicates_and_sigterm),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
