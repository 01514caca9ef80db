/*
 * kill -9 of a worker while it processes 20,000 events, then a restart: every effect
 * happens, none is lost, and only effects that were mid-flight at the kill (claimed,
 * performed, not yet recorded done) can run twice — bounded by lanes x batch.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <signal.h>
#include <stdio.h>

#include "harness.h"

#define N     20000
#define KEYS  2000
#define LANES 8
#define BATCH 16

struct progress {
    th_run_t *run;
    long long want;
};

static int performed_at_least(void *ud)
{
    struct progress *p = ud;
    long long dups;

    return th_run_performed(p->run, &dups) >= p->want;
}

static void test_kill9_midway(void **state)
{
    th_run_t run;
    char lanes[8], batch[8];
    long long dups = 0, at_kill;
    pid_t w;

    (void)state;
    th_run_init(&run, "kill9", 6);
    snprintf(lanes, sizeof(lanes), "%d", LANES);
    snprintf(batch, sizeof(batch), "%d", BATCH);
    th_run_setenv(&run, "DH_LANES", lanes);
    th_run_setenv(&run, "DH_BATCH_MAX", batch);
    th_run_setenv(&run, "DH_IDEM_LEASE_MS", "2000"); /* a killed lane's leases expire soon */
    th_run_produce_events(&run, N, KEYS, 0);

    w = th_run_worker(&run);
    struct progress some = {&run, N / 4};
    assert_true(th_wait_for(performed_at_least, &some, 120000));
    kill(w, SIGKILL);
    assert_int_equal(th_wait_exit(w, 10000), 128 + SIGKILL);
    at_kill = th_run_performed(&run, &dups);
    fprintf(stderr, "killed after %lld effects\n", at_kill);
    assert_true(at_kill < N); /* the kill really was mid-run */

    w = th_run_worker(&run);
    struct progress all = {&run, N};
    assert_true(th_wait_for(performed_at_least, &all, 180000));
    th_sleep_ms(1000);
    kill(w, SIGTERM);
    assert_int_equal(th_wait_exit(w, 30000), 0);

    assert_int_equal(th_run_performed(&run, &dups), N); /* none lost */
    fprintf(stderr, "effects run twice after kill -9: %lld (bound %d)\n", dups, LANES * BATCH);
    assert_true(dups <= LANES * BATCH);
    assert_true(th_run_order_ok(&run, KEYS, 0)); /* per-key order, repeats allowed */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kill9_midway),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
