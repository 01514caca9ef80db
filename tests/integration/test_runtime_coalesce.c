/*
 * Coalescing snapshot events: while a key is busy, its queued events fold into the newest,
 * so far fewer effects run; the newest always runs; a malformed event among the folded
 * ones is dead-lettered, not dropped; and every offset is committed (a restart re-reads
 * nothing).
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

#define KEYS    4
#define PER_KEY 200

struct progress {
    th_run_t *run;
};

/* The newest snapshot of every key was performed. */
static int last_seq_done(void *ud)
{
    struct progress *pr = ud;
    size_t n = 0;
    int done = 0;
    th_perf_t *p = th_run_perfs(pr->run, &n, NULL);

    for (size_t i = 0; i < n; i++) {
        done += p[i].seq == PER_KEY - 1;
    }
    free(p);
    return done >= KEYS;
}

static void test_coalesce(void **state)
{
    th_run_t run;
    th_producer_t *p;
    char key[16], val[160], dlq[160];
    long long decoded;
    th_far_t far;
    size_t n = 0;
    pid_t w;

    (void)state;
    th_run_init(&run, "coalesce", 1);
    th_run_setenv(&run, "DH_LANES", "2");
    th_run_setenv(&run, "DH_TEST_SLEEP_MS", "20"); /* keys stay busy: later events queue */
    p = th_producer_new();
    for (int s = 0; s < PER_KEY; s++) {
        for (int k = 0; k < KEYS; k++) {
            int len;

            snprintf(key, sizeof(key), "k%d", k);
            if (k == 1 && s == 100) { /* a malformed snapshot in the middle of key k1 */
                th_produce(p, run.topic, 0, key, "{broken", 7);
                continue;
            }
            len = snprintf(val, sizeof(val), "{\"id\":\"k%d-%d\",\"seq\":%d}", k, s, s);
            th_produce(p, run.topic, 0, key, val, (size_t)len);
        }
    }
    th_producer_destroy(p);

    w = th_run_spawn(&run, "dh-testworker-coalesce", NULL);
    struct progress pr = {&run};
    assert_true(th_wait_for(last_seq_done, &pr, 60000)); /* the newest of each key ran */
    snprintf(dlq, sizeof(dlq), "%s.dlq", run.topic);
    rd_kafka_message_t **ms = th_consume(dlq, 1, 30000, &n);
    assert_int_equal(n, 1);
    assert_int_equal(ms[0]->len, 7);
    assert_memory_equal(ms[0]->payload, "{broken", 7);
    rd_kafka_message_destroy(ms[0]);
    free(ms);
    kill(w, SIGTERM);
    assert_int_equal(th_wait_exit(w, 30000), 0);

    th_run_far(&run, &far);
    fprintf(stderr, "%d events, %lld effects run after coalescing\n", KEYS * PER_KEY, far.effects);
    th_run_assert_once(&run, far.effects);         /* none performed twice */
    assert_true(far.effects < KEYS * PER_KEY / 4); /* folded, not run one by one */
    assert_true(th_run_order_ok(&run, KEYS, 1));
    decoded = th_run_decoded(&run);
    assert_int_equal(decoded, KEYS * PER_KEY); /* the handler saw every snapshot */

    /* Everything was committed, folded events included: a restart sees nothing again.
     * A marker per key comes after every earlier event of its key: once it ran, a re-read
     * event would already have been decoded (folded into the marker or not). */
    w = th_run_spawn(&run, "dh-testworker-coalesce", NULL);
    th_run_produce_markers(&run, "m", KEYS);
    assert_true(th_run_wait_markers(&run, "m", KEYS, 60000));
    kill(w, SIGTERM);
    assert_int_equal(th_wait_exit(w, 30000), 0);
    assert_int_equal(th_run_decoded(&run), decoded + KEYS);
    th_run_assert_once(&run, far.effects + KEYS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_coalesce),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
