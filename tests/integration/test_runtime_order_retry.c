/*
 * 8 lanes, interleaved keys in ONE partition: per-key order holds, and a key whose first
 * event keeps failing delays only its own later events - every other key keeps flowing
 * while it waits. The failing event succeeds only once the far side holds every other
 * key's effects, so if a waiting key held back the others the run would never finish
 * (the bounded wait fails). No speed is assumed: the wait is on conditions.
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

#define KEYS    40
#define PER_KEY 25
#define OTHERS  ((KEYS - 1) * PER_KEY)

static void test_slow_key_only_delays_itself(void **state)
{
    th_run_t run;
    th_producer_t *p;
    char key[32], val[160], extra[64];
    pid_t w;

    (void)state;
    th_run_init(&run, "order", 1);
    th_run_setenv(&run, "DH_LANES", "8");
    th_run_setenv(&run, "DH_RETRY_BASE_MS", "50");
    th_run_setenv(&run, "DH_RETRY_MAX_MS", "200");
    th_run_setenv(&run, "DH_RETRY_MAX_ATTEMPTS", "1000"); /* waits, is not dead-lettered */
    p = th_producer_new();
    snprintf(extra, sizeof(extra), ",\"fail_until\":%d", OTHERS);
    for (int s = 0; s < PER_KEY; s++) {
        for (int k = 0; k < KEYS; k++) {
            int len;

            snprintf(key, sizeof(key), "k%d", k);
            /* k0's first event fails until every other key's events were performed. */
            len = snprintf(val, sizeof(val), "{\"id\":\"k%d-%d\",\"seq\":%d%s}", k, s, s,
                           (k == 0 && s == 0) ? extra : "");
            th_produce(p, run.topic, 0, key, val, (size_t)len);
        }
    }
    th_producer_destroy(p);

    w = th_run_worker(&run);
    assert_true(th_run_wait_performed(&run, KEYS * PER_KEY, 120000));
    kill(w, SIGTERM);
    assert_int_equal(th_wait_exit(w, 30000), 0);

    th_run_assert_once(&run, KEYS * PER_KEY);
    assert_true(th_run_order_ok(&run, KEYS, 1));

    /* k0's first event finished after every other key's events, and k0's later events
     * all after it: none of them overtook the waiting one. */
    size_t n = 0;
    th_perf_t *perf = th_run_perfs(&run, &n, NULL);
    long long pos_k0_first = -1;
    for (size_t i = 0; i < n; i++) {
        if (!strcmp(perf[i].id, "k0-0")) {
            pos_k0_first = (long long)i;
        }
    }
    fprintf(stderr, "k0-0 performed at position %lld of %zu\n", pos_k0_first, n);
    assert_int_equal(pos_k0_first, OTHERS);
    for (size_t i = 0; i < (size_t)pos_k0_first; i++) {
        assert_true(strcmp(perf[i].key, "k0") != 0);
    }
    free(perf);
    /* Precondition: it really failed and waited (at least once before succeeding). */
    redisContext *c = th_redis();
    long long tries = th_redis_int(c, "HGET %s:tries k0-0", run.ns);
    fprintf(stderr, "k0-0 attempted %lld times\n", tries);
    assert_true(tries >= 2);
    redisFree(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_slow_key_only_delays_itself),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
