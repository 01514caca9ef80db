/*
 * Poison events land in <topic>.dlq with their original key, bytes and headers plus the
 * dh-* headers (origin, error class and message, attempts, worker, times); the partition
 * keeps moving past them. Covers an undecodable event, a permanent rejection, and a
 * transient failure that exhausts its retry budget.
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

#define GOOD 60

static const char *hdr(rd_kafka_message_t *m, const char *name)
{
    static char buf[8][600];
    static int slot;
    rd_kafka_headers_t *h = NULL;
    const void *v;
    size_t len;

    if (rd_kafka_message_headers(m, &h) || rd_kafka_header_get_last(h, name, &v, &len)) {
        return NULL;
    }
    slot = (slot + 1) % 8;
    snprintf(buf[slot], sizeof(buf[slot]), "%.*s", (int)len, (const char *)v);
    return buf[slot];
}

static int hdr_count(rd_kafka_message_t *m, const char *name)
{
    rd_kafka_headers_t *h = NULL;
    const void *v;
    size_t len;
    int n = 0;

    if (rd_kafka_message_headers(m, &h)) {
        return 0;
    }
    while (!rd_kafka_header_get(h, (size_t)n, name, &v, &len)) {
        n++;
    }
    return n;
}

static rd_kafka_message_t *find_by_key(rd_kafka_message_t **ms, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++) {
        if (ms[i]->key_len == strlen(key) && !memcmp(ms[i]->key, key, ms[i]->key_len)) {
            return ms[i];
        }
    }
    fail_msg("no dead letter with key %s", key);
    return NULL;
}

static void check_common(rd_kafka_message_t *m, const char *topic, const char *cls)
{
    const char *names[] = {
        "dh-original-topic", "dh-original-partition", "dh-original-offset", "dh-error-class",
        "dh-error",          "dh-attempts",           "dh-worker",          "dh-first-seen",
        "dh-last-failed"};

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        assert_non_null(hdr(m, names[i]));
    }
    assert_string_equal(hdr(m, "dh-original-topic"), topic);
    assert_string_equal(hdr(m, "dh-original-partition"), "0");
    assert_string_equal(hdr(m, "dh-error-class"), cls);
    assert_string_equal(hdr(m, "dh-worker"), "testworker");
}

static void test_poison_goes_to_dlq(void **state)
{
    th_run_t run;
    th_producer_t *p;
    char val[200], dlq[160];
    pid_t w;
    size_t n = 0;
    const char *bad = "{not json";

    (void)state;
    th_run_init(&run, "dlq", 1);
    th_run_setenv(&run, "DH_RETRY_MAX_ATTEMPTS", "3");
    p = th_producer_new();
    th_produce(p, run.topic, 0, "bad-json", bad, strlen(bad));
    int len = snprintf(val, sizeof(val), "{\"id\":\"poison\",\"poison\":true}");
    th_produce_hdr(p, run.topic, 0, "poison", val, (size_t)len, "x-trace", "trace-123");
    len = snprintf(val, sizeof(val), "{\"id\":\"flaky\",\"fail\":100}");
    th_produce(p, run.topic, 0, "flaky", val, (size_t)len);
    for (int i = 0; i < GOOD; i++) {
        char key[16];

        snprintf(key, sizeof(key), "k%d", i % 5);
        len = snprintf(val, sizeof(val), "{\"id\":\"g%d\",\"seq\":%d}", i, i / 5);
        th_produce(p, run.topic, 0, key, val, (size_t)len);
    }
    th_producer_destroy(p);

    w = th_run_worker(&run);
    assert_true(th_run_wait_performed(&run, GOOD, 60000)); /* the partition moved on */
    snprintf(dlq, sizeof(dlq), "%s.dlq", run.topic);
    rd_kafka_message_t **ms = th_consume(dlq, 3, 30000, &n);
    assert_int_equal(n, 3);

    rd_kafka_message_t *m = find_by_key(ms, n, "bad-json");
    check_common(m, run.topic, "decode");
    assert_int_equal(m->len, strlen(bad));
    assert_memory_equal(m->payload, bad, m->len); /* original bytes, untouched */
    assert_string_equal(hdr(m, "dh-original-offset"), "0");

    m = find_by_key(ms, n, "poison");
    check_common(m, run.topic, "rejected");
    assert_string_equal(hdr(m, "dh-original-offset"), "1");
    assert_non_null(strstr(hdr(m, "dh-error"), "poison"));
    /* The producer's own header survives the copy out of librdkafka, once, beside dh-*. */
    assert_string_equal(hdr(m, "x-trace"), "trace-123");
    assert_int_equal(hdr_count(m, "x-trace"), 1);

    m = find_by_key(ms, n, "flaky");
    check_common(m, run.topic, "retry-exhausted");
    assert_string_equal(hdr(m, "dh-attempts"), "3");
    assert_non_null(strstr(hdr(m, "dh-error"), "simulated failure"));
    assert_null(hdr(m, "x-trace")); /* headers stay with their own event */

    for (size_t i = 0; i < n; i++) {
        rd_kafka_message_destroy(ms[i]);
    }
    free(ms);

    /* On-call tool: a dry run writes nothing; --execute republishes to the original topic,
     * where the (still bad) event is dead-lettered again, now carrying dh-redriven-from. */
    char cmd[600];
    const char *dir = getenv("DH_TEST_BUILD_DIR");
    snprintf(cmd, sizeof(cmd),
             "DH_KAFKA_BROKERS=%s %s/dh-dlq list %s | grep -c '\"list\"' "
             "| grep -qx 3",
             th_kafka(), dir ? dir : ".", dlq);
    assert_int_equal(system(cmd), 0);
    snprintf(cmd, sizeof(cmd),
             "DH_KAFKA_BROKERS=%s %s/dh-dlq redrive %s --class decode "
             ">/dev/null",
             th_kafka(), dir ? dir : ".", dlq);
    assert_int_equal(system(cmd), 0);
    /* The dry run wrote nothing: dh-dlq has exited, so anything it wrote is in the logs. */
    assert_int_equal(th_end_offset(run.topic, 0), GOOD + 3);
    assert_int_equal(th_end_offset(dlq, 0), 3);
    snprintf(cmd, sizeof(cmd),
             "DH_KAFKA_BROKERS=%s %s/dh-dlq redrive %s --class decode "
             "--execute >/dev/null",
             th_kafka(), dir ? dir : ".", dlq);
    assert_int_equal(system(cmd), 0);
    ms = th_consume(dlq, 4, 30000, &n);
    assert_int_equal(n, 4);
    int redriven = 0;
    for (size_t i = 0; i < n; i++) {
        if (hdr(ms[i], "dh-redriven-from")) {
            redriven++;
            assert_int_equal(ms[i]->len, strlen(bad));
            assert_string_equal(hdr(ms[i], "dh-error-class"), "decode");
        }
        rd_kafka_message_destroy(ms[i]);
    }
    free(ms);
    assert_int_equal(redriven, 1);
    kill(w, SIGTERM);
    assert_int_equal(th_wait_exit(w, 30000), 0);
    th_run_assert_once(&run, GOOD); /* every performance counted at the far side */
    assert_int_equal(th_run_far_count(&run, "flaky"), 0);
    assert_int_equal(th_run_far_count(&run, "poison"), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_poison_goes_to_dlq),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
