/*
 * 8 lanes, interleaved keys in ONE partition: per-key order holds, and a key that fails
 * three times before succeeding delays only its own later events — every other key
 * keeps flowing while it waits.
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

static void test_slow_key_only_delays_itself(void **state)
{
    th_run_t run;
    th_producer_t *p;
    char key[32], val[160];
    pid_t w;
    long long dups;

    (void)state;
    th_run_init(&run, "order", 1);
    th_run_setenv(&run, "DH_LANES", "8");
    th_run_setenv(&run, "DH_RETRY_BASE_MS", "400"); /* ~0.2+0.4+0.8 s of backoff */
    p = th_producer_new();
    for (int s = 0; s < PER_KEY; s++) {
        for (int k = 0; k < KEYS; k++) {
            int len;

            snprintf(key, sizeof(key), "k%d", k);
            /* k0's first event fails three times, then succeeds. */
            len = snprintf(val, sizeof(val), "{\"id\":\"k%d-%d\",\"seq\":%d%s}", k, s, s,
                           (k == 0 && s == 0) ? ",\"fail\":3" : "");
            th_produce(p, run.topic, 0, key, val, (size_t)len);
        }
    }
    th_producer_destroy(p);

    w = th_run_worker(&run);
    assert_true(th_run_wait_performed(&run, KEYS * PER_KEY, 60000));
    kill(w, SIGTERM);
    assert_int_equal(th_wait_exit(w, 30000), 0);

    assert_int_equal(th_run_performed(&run, &dups), KEYS * PER_KEY);
    assert_int_equal(dups, 0);
    assert_true(th_run_order_ok(&run, KEYS, 1));

    /* Completion order: k0's first event finishes only after its retries, and by then
     * every other key has finished all of its events. */
    redisContext *c = th_redis();
    redisReply *r = redisCommand(c, "LRANGE %s:done 0 -1", run.ns);
    long long pos_k0_first = -1, last_other = -1;
    assert_non_null(r);
    for (size_t i = 0; i < r->elements; i++) {
        const char *id = r->element[i]->str;

        if (!strcmp(id, "k0-0")) {
            pos_k0_first = (long long)i;
        } else if (strncmp(id, "k0-", 3)) {
            last_other = (long long)i;
        }
    }
    fprintf(stderr, "k0-0 finished at position %lld; last other key at %lld of %zu\n", pos_k0_first,
            last_other, r->elements);
    assert_true(pos_k0_first > last_other);
    /* k0's later events all come after its first. */
    for (size_t i = 0; i < (size_t)pos_k0_first; i++) {
        assert_true(strncmp(r->element[i]->str, "k0-", 3) != 0);
    }
    freeReplyObject(r);
    assert_int_equal(th_redis_int(c, "HGET %s:tries k0-0", run.ns), 4);
    redisFree(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_slow_key_only_delays_itself),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
