/*
 * kill -9 of a worker while it processes 20,000 events, then a restart: every effect is
 * performed at the test far side (the run's journal counts every performance) and none
 * is lost. Only effects that were mid-flight
 * at the kill (claimed, attempted, not yet recorded done) are attempted again - bounded by
 * lanes x batch - and their far-side key makes the repeat harmless.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define N     20000
#define KEYS  2000
#define LANES 8
#define BATCH 16

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
    assert_true(th_run_wait_performed(&run, N / 4, 120000));
    kill(w, SIGKILL);
    assert_int_equal(th_wait_exit(w, 10000), 128 + SIGKILL);
    at_kill = th_run_performed(&run, &dups);
    th_run_far_print(&run, "at the kill");
    fprintf(stderr, "killed after %lld effects\n", at_kill);
    assert_true(at_kill < N); /* the kill really was mid-run */

    w = th_run_worker(&run);
    assert_true(th_run_wait_performed(&run, N, 180000));
    kill(w, SIGTERM);
    assert_int_equal(th_wait_exit(w, 30000), 0);

    /* None lost; only effects mid-flight at the kill performed again (the far side
     * absorbs them by their key), and no more than the lanes' batches held. */
    long long again = th_run_attempt_dups(&run);
    fprintf(stderr, "effects performed again after kill -9: %lld (bound %d)\n", again,
            LANES * BATCH);
    th_run_assert_applied(&run, N, LANES * BATCH);
    assert_true(th_run_order_ok(&run, KEYS, 0)); /* per-key order, repeats allowed */
}

/* ---- The commit never passes unperformed work ---- */

#define SLOW_N     400
#define SLOW_KEYS  40
#define SLOW_LANES 4

struct commit_goal {
    th_run_t *run;
    int64_t committed;
};

static int committed_some(void *ud)
{
    struct commit_goal *g = ud;

    g->committed = th_committed(g->run->group, g->run->topic, 0);
    return g->committed >= SLOW_KEYS;
}

/* A slow handler and one partition: the runtime has fetched (and queued) far more than it
 * has performed when its offsets are committed, so a commit of fetched rather than
 * finished work shows as a committed offset past an unperformed event; the kill -9 then
 * loses that event, which the restart must still perform. */
static void test_commit_behind_work(void **state)
{
    th_run_t run;
    char lanes[8], id[32];
    struct commit_goal g = {&run, -1};
    size_t n = 0;
    pid_t w;

    (void)state;
    th_run_init(&run, "kill9c", 1);
    snprintf(lanes, sizeof(lanes), "%d", SLOW_LANES);
    th_run_setenv(&run, "DH_LANES", lanes);
    th_run_setenv(&run, "DH_BATCH_MAX", "4");
    th_run_setenv(&run, "DH_TEST_SLEEP_MS", "50");
    th_run_setenv(&run, "DH_IDEM_LEASE_MS", "2000");
    th_run_produce_events(&run, SLOW_N, SLOW_KEYS, 0); /* e<i> at offset i */

    w = th_run_worker(&run);
    assert_true(th_wait_for(committed_some, &g, 60000));
    /* Every event below the committed offset was performed before the commit was read. */
    th_perf_t *p = th_run_perfs(&run, &n, NULL);
    fprintf(stderr, "committed offset %lld with %zu effects performed\n", (long long)g.committed,
            n);
    for (int64_t off = 0; off < g.committed && off < SLOW_N; off++) {
        int seen = 0;

        snprintf(id, sizeof(id), "e%lld", (long long)off);
        for (size_t i = 0; i < n && !seen; i++) {
            seen = !strcmp(p[i].id, id);
        }
        if (!seen) {
            fail_msg("offset %lld committed before event %s was performed", (long long)g.committed,
                     id);
        }
    }
    free(p);
    assert_true(g.committed < SLOW_N); /* precondition: work was left at the kill */
    kill(w, SIGKILL);
    assert_int_equal(th_wait_exit(w, 10000), 128 + SIGKILL);

    w = th_run_worker(&run);
    assert_true(th_run_wait_performed(&run, SLOW_N, 120000)); /* none lost */
    kill(w, SIGTERM);
    assert_int_equal(th_wait_exit(w, 30000), 0);
    th_run_assert_applied(&run, SLOW_N, SLOW_LANES * 4);
    assert_true(th_run_order_ok(&run, SLOW_KEYS, 0));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kill9_midway),
        cmocka_unit_test(test_commit_behind_work),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
