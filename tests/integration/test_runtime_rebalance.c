/*
 * A second replica joins mid-run and later leaves (SIGTERM): cooperative rebalancing
 * hands partitions over without losing an event or running an effect twice. The
 * preconditions are asserted, not assumed: the second replica is assigned partitions
 * and performs effects before it is stopped, and the events produced after it left
 * (on every partition, so on its former ones too) are all performed by the first.
 * Every performance is counted at the test far side (the run's journal, with the
 * performing process's pid).
 *
 * test_paused_come_back: partitions paused by backpressure are revoked (a replica joins),
 * and come back when it leaves; librdkafka keeps their pause across the round trip, so
 * unless the runtime resumes what it is assigned they are never fetched again. Asserted:
 * the first replica's log shows paused partitions revoked (the revoke never waiting out
 * its bound: lanes leave the rest of a batch of those partitions to the new owner), and
 * every event produced after the second left, on every partition, is performed once.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <signal.h>
#include <stdbool.h>
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

/* The largest N of the lines of \p log that contain \p must and "<N><after>". */
static int log_max(const char *log, const char *must, const char *after)
{
    char line[2048];
    int best = 0;
    FILE *f = fopen(log, "r");

    while (f && fgets(line, sizeof(line), f)) {
        const char *at = strstr(line, after);
        int n = 0;

        while (at && at > line && at[-1] >= '0' && at[-1] <= '9') {
            at--;
        }
        if (at && strstr(line, must) && sscanf(at, "%d", &n) == 1 && n > best) {
            best = n;
        }
    }
    if (f) {
        fclose(f);
    }
    return best;
}

/* Whether some line of \p log contains \p must. */
static int log_has(const char *log, const char *must)
{
    char line[2048];
    int found = 0;
    FILE *f = fopen(log, "r");

    while (f && !found && fgets(line, sizeof(line), f)) {
        found = strstr(line, must) != NULL;
    }
    if (f) {
        fclose(f);
    }
    return found;
}

/* The most partitions a "assigned N partition(s)" line of \p log reports. */
static int assigned_max(const char *log)
{
    return log_max(log, "assigned ", " partition");
}

/* B joins while there is work: the backlog is topped up until B has performed some, since
 * joining takes a rebalance or two however fast A is. Returns how many were produced. */
static int join_with_work(th_run_t *run, pid_t b, int produced)
{
    int64_t deadline = th_now_ms() + 120000;
    long long dups;

    while (th_run_far_by(run, b) < 100) {
        assert_true(th_now_ms() < deadline);
        if (produced - th_run_performed(run, &dups) < 1000) {
            produce_range(run, produced, produced + 600);
            produced += 600;
        }
        th_sleep_ms(100); /* a polling interval: the loop ends on B's work */
    }
    return produced;
}

static void test_join_and_leave(void **state)
{
    th_run_t run;
    char blog[300];
    pid_t a, b;
    long long a_at_leave, b_total;
    int produced = N / 2;

    (void)state;
    th_run_init(&run, "rebal", 6);
    th_run_setenv(&run, "DH_LANES", "4");
    th_run_setenv(&run, "DH_TEST_SLEEP_MS", "3");
    produce_range(&run, 0, produced);
    snprintf(blog, sizeof(blog), "%s.b", run.log); /* B's own log: its assignments */

    a = th_run_worker(&run);
    assert_true(th_run_wait_performed(&run, N / 10, 120000));
    b = th_run_spawn(&run, "dh-testworker", blog); /* joins: A gives up some partitions */
    produced = join_with_work(&run, b, produced);  /* B got partitions and worked */
    assert_true(assigned_max(blog) >= 1);
    kill(b, SIGTERM); /* leaves: its partitions go back to A */
    assert_int_equal(th_wait_exit(b, 30000), 0);
    a_at_leave = th_run_far_by(&run, a);
    b_total = th_run_far_by(&run, b);
    fprintf(stderr, "B performed %lld effects; A %lld when B left; %d produced\n", b_total,
            a_at_leave, produced);

    /* Another N / 2, on all six partitions: only A is left to perform them. */
    produce_range(&run, produced, produced + N / 2);
    produced += N / 2;
    assert_true(th_run_wait_performed(&run, produced, 180000));
    kill(a, SIGTERM);
    assert_int_equal(th_wait_exit(a, 30000), 0);

    assert_true(th_run_far_by(&run, a) - a_at_leave >= N / 2);
    assert_int_equal(th_run_far_by(&run, b), b_total); /* nothing after it exited */
    assert_int_equal(th_run_far_by(&run, a) + b_total, produced);
    th_run_assert_once(&run, produced);
    assert_true(th_run_order_ok(&run, KEYS, 1));
}

/* The most paused partitions one "revoked ... (K of them paused)" line of \p log reports. */
static int revoked_paused_max(const char *log)
{
    return log_max(log, "revoked ", " of them paused");
}

/* Events "<prefix><part>_<j>" (key the same, seq 0) on each of \p parts partitions. */
static void produce_parts(th_run_t *run, const char *prefix, int parts, int per, int sleep_ms)
{
    th_producer_t *p = th_producer_new();
    char id[64], val[160];

    for (int part = 0; part < parts; part++) {
        for (int j = 0; j < per; j++) {
            snprintf(id, sizeof(id), "%s%d_%d", prefix, part, j);
            int len = snprintf(val, sizeof(val), "{\"id\":\"%s\",\"seq\":0,\"sleep_ms\":%d}", id,
                               sleep_ms);

            th_produce(p, run->topic, part, id, val, (size_t)len);
        }
    }
    th_producer_destroy(p);
}

#define PP_PARTS 4
#define PP_SLOW  14 /* per partition, 0.6 s each: every partition over its bound of 10 */
#define PP_AFTER 25 /* per partition, after the second replica left */

static void test_paused_come_back(void **state)
{
    th_run_t run;
    char blog[300];
    pid_t a, b;

    (void)state;
    th_run_init(&run, "rebpause", PP_PARTS);
    th_run_setenv(&run, "DH_LANES", "2");
    th_run_setenv(&run, "DH_MAX_INFLIGHT_PER_PARTITION", "10"); /* the least allowed */
    snprintf(blog, sizeof(blog), "%s.b", run.log);
    produce_parts(&run, "s", PP_PARTS, PP_SLOW, 600);
    a = th_run_worker(&run);
    int port = th_admin_port(run.log, 30000);
    int64_t deadline = th_now_ms() + 60000;

    assert_true(port > 0);
    /* A paused its partitions (each over its bound for a second) before B joins. */
    while (th_metric(port, "dh_paused_partitions", NULL) < PP_PARTS) {
        assert_true(th_now_ms() < deadline);
        th_sleep_ms(50);
    }
    b = th_run_spawn(&run, "dh-testworker", blog); /* A gives partitions up */
    deadline = th_now_ms() + 120000;

    while (th_run_far_by(&run, b) < 1) { /* B got some and worked */
        assert_true(th_now_ms() < deadline);
        th_sleep_ms(100);
    }
    /* The scenario happened: A gave up partitions it had paused. Whatever its lanes were
     * running of those partitions (up to 14 events of 0.6 s each per batch), they left the
     * rest to B, so the revoke waited for one call per lane, never for its 10 s bound. */
    assert_true(revoked_paused_max(run.log) >= 1);
    assert_false(log_has(run.log, "still running after"));
    kill(b, SIGTERM); /* B's partitions go back to A */
    assert_int_equal(th_wait_exit(b, 30000), 0);

    produce_parts(&run, "a", PP_PARTS, PP_AFTER, 0);
    long long total = PP_PARTS * (PP_SLOW + PP_AFTER);
    bool all = th_run_wait_performed(&run, total, 90000);

    kill(a, SIGTERM);
    assert_int_equal(th_wait_exit(a, 30000), 0);
    if (!all) {
        th_run_far_print(&run, "after B left");
    }
    assert_true(all);
    th_run_assert_once(&run, total);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_join_and_leave),
        cmocka_unit_test(test_paused_come_back),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
