/*
 * A second replica joins mid-run and later leaves (SIGTERM): cooperative rebalancing
 * hands partitions over without losing an event or running an effect twice. The
 * preconditions are asserted, not assumed: the second replica is assigned partitions
 * and performs effects before it is stopped, and the events produced after it left
 * (on every partition, so on its former ones too) are all performed by the first.
 * Every performance is counted at the test far side (the run's journal, with the
 * performing process's pid).
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

#define N    12000
#define KEYS 1200

/* Events "e<from>".."e<to - 1>" with keys "k<i % KEYS>" and seq i / KEYS, as
 * th_run_produce_events numbers them. */
static void produce_range(th_run_t *run, int from, int to)
{
    th_producer_t *p = th_producer_new();
    char key[32], val[128];

    for (int i = from; i < to; i++) {
        int len = snprintf(val, sizeof(val), "{\"id\":\"e%d\",\"seq\":%d}", i, i / KEYS);

        snprintf(key, sizeof(key), "k%d", i % KEYS);
        th_produce(p, run->topic, -1, key, val, (size_t)len);
    }
    th_producer_destroy(p);
}

struct by_pid {
    th_run_t *run;
    pid_t pid;
    long long want;
};

static int performed_by(void *ud)
{
    struct by_pid *g = ud;

    return th_run_far_by(g->run, g->pid) >= g->want;
}

/* The most partitions a "assigned N partition(s)" line of \p log reports. */
static int assigned_max(const char *log)
{
    char line[2048];
    int best = 0;
    FILE *f = fopen(log, "r");

    while (f && fgets(line, sizeof(line), f)) {
        const char *at = strstr(line, "assigned ");
        int n = 0;

        if (at && sscanf(at, "assigned %d partition", &n) == 1 && n > best) {
            best = n;
        }
    }
    if (f) {
        fclose(f);
    }
    return best;
}

static void test_join_and_leave(void **state)
{
    th_run_t run;
    char blog[300];
    pid_t a, b;
    long long a_at_leave, b_total;

    (void)state;
    th_run_init(&run, "rebal", 6);
    th_run_setenv(&run, "DH_LANES", "4");
    th_run_setenv(&run, "DH_TEST_SLEEP_MS", "3");
    produce_range(&run, 0, N / 2);
    snprintf(blog, sizeof(blog), "%s.b", run.log); /* B's own log: its assignments */

    a = th_run_worker(&run);
    assert_true(th_run_wait_performed(&run, N / 10, 120000));
    b = th_run_spawn(&run, "dh-testworker", blog); /* joins: A gives up some partitions */
    struct by_pid gb = {&run, b, 100};
    assert_true(th_wait_for(performed_by, &gb, 120000)); /* B got partitions and worked */
    assert_true(assigned_max(blog) >= 1);
    kill(b, SIGTERM); /* leaves: its partitions go back to A */
    assert_int_equal(th_wait_exit(b, 30000), 0);
    a_at_leave = th_run_far_by(&run, a);
    b_total = th_run_far_by(&run, b);
    fprintf(stderr, "B performed %lld effects; A %lld when B left\n", b_total, a_at_leave);

    /* The second half, on all six partitions: only A is left to perform it. */
    produce_range(&run, N / 2, N);
    assert_true(th_run_wait_performed(&run, N, 180000));
    kill(a, SIGTERM);
    assert_int_equal(th_wait_exit(a, 30000), 0);

    assert_true(th_run_far_by(&run, a) - a_at_leave >= N / 2);
    assert_int_equal(th_run_far_by(&run, b), b_total); /* nothing after it exited */
    assert_int_equal(th_run_far_by(&run, a) + b_total, N);
    th_run_assert_once(&run, N);
    assert_true(th_run_order_ok(&run, KEYS, 1));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_join_and_leave),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
