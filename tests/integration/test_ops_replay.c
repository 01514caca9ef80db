/*
 * dh-ops replay, filtered mode (--recheck / --reapply), against the real broker and Redis
 * and a dh-testworker that keeps running throughout (the group is never stopped):
 *   (a) a dry run selects by key, store and SKU and writes nothing (end offsets unchanged),
 *       and reports the selected events that a newer event of their key follows;
 *   (b) --recheck --execute of events already done: every copy is read and decoded, none
 *       is performed again (every performance counted at the far side, awaited by a
 *       later marker round);
 *   (c) --reapply --execute --key K: exactly K's selected events are performed once more,
 *       each with a new far-side idempotency key, and nothing else is;
 *   (d) bad filters exit 2, an unknown topic 1, more matches than --max is refused (3)
 *       and writes nothing; an event with a malformed dh-reapply nonce is dead-lettered
 *       (class "reapply") and never performed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include "harness.h"

#define KEYS    4
#define EVENTS  20           /* e0..e19 on k0..k3 */
#define IN_SPAN (EVENTS + 3) /* plus s0, s1 (store header) and sku0 (a SKU in lines[]) */
#define SHOP    "replay-a.myshopify.com"

static char g_log[300];

/* Run `dh-ops <args>` (stderr to the test's log); its stdout in \p out (caller frees). */
static int ops(char **out, const char *fmt, ...)
{
    va_list ap;
    int st;

    va_start(ap, fmt);
    st = th_ops_vrun(g_log, out, fmt, ap);
    va_end(ap);
    return st;
}

/* `dh-ops --json replay <args>` must exit 0; the integer \p field of its summary line. */
static long long replay_summary(const char *field, const char *fmt, ...)
{
    char args[1200], *out = NULL;
    va_list ap;
    long long v = -1;

    va_start(ap, fmt);
    vsnprintf(args, sizeof(args), fmt, ap);
    va_end(ap);
    assert_int_equal(ops(&out, "--json replay %s", args), 0);
    for (char *l = strtok(out, "\n"); l; l = strtok(NULL, "\n")) {
        json_t *row = json_loads(l, 0, NULL);

        const char *action = json_string_value(json_object_get(row, "action"));

        if (action && !strcmp(action, "summary")) {
            v = json_integer_value(json_object_get(row, field));
        }
        json_decref(row);
    }
    free(out);
    assert_true(v >= 0);
    return v;
}

/* The events of the span: EVENTS test events, two with the gateway's store header, one
 * carrying a SKU the way wms.dispatch does (lines[].sku). */
static void produce_span(th_run_t *run)
{
    th_producer_t *p = th_producer_new();
    const char *s0 = "{\"id\":\"s0\",\"seq\":100}", *s1 = "{\"id\":\"s1\",\"seq\":100}";
    const char *sku =
        "{\"id\":\"sku0\",\"seq\":100,\"lines\":[{\"sku\":\"TEE-1\",\"quantity\":1}]}";

    th_run_produce_events(run, EVENTS, KEYS, 0);
    th_produce_hdr(p, run->topic, -1, "k0", s0, strlen(s0), "dh-shop-domain", SHOP);
    th_produce_hdr(p, run->topic, -1, "k1", s1, strlen(s1), "dh-shop-domain", SHOP);
    th_produce(p, run->topic, -1, "k2", sku, strlen(sku));
    th_producer_destroy(p);
}

/* The far keys of \p id's performances differ pairwise (a re-apply is a new request). */
static int far_keys_distinct(th_run_t *run, const char *id)
{
    size_t n = 0;
    th_perf_t *pf = th_run_perfs(run, &n, NULL);
    const char *first = NULL;
    int distinct = 1, seen = 0;

    for (size_t i = 0; i < n; i++) {
        if (strcmp(pf[i].id, id)) {
            continue;
        }
        seen++;
        if (first && !strcmp(first, pf[i].far)) {
            distinct = 0;
        }
        first = first ? first : pf[i].far;
    }
    free(pf);
    return distinct && seen == 2;
}

static void test_filtered_replay(void **state)
{
    th_run_t run;
    char from[32], to[32], id[16];
    int64_t t0, t1, end0;
    long long decoded;
    pid_t w;
    static const int k1[] = {1, 5, 9, 13, 17}; /* e<i> on key k1, besides s1 */

    (void)state;
    unsetenv("DH_STORES_FILE");
    th_run_init(&run, "ops-rp", 2);
    w = th_run_worker(&run);
    t0 = th_wall_ms();
    th_sleep_ms(5); /* the span's timestamps (CreateTime, wall-clock ms) are after t0 */
    produce_span(&run);
    assert_true(th_run_wait_performed(&run, IN_SPAN, 60000));
    t1 = th_wall_ms() + 1;
    th_sleep_ms(5);
    th_run_produce_markers(&run, "m1", KEYS); /* after --to: never selected */
    assert_true(th_run_wait_markers(&run, "m1", KEYS, 60000));
    snprintf(from, sizeof(from), "%lld", (long long)t0);
    snprintf(to, sizeof(to), "%lld", (long long)t1);

    /* (a) dry runs: the selection, and nothing written. */
    end0 = th_topic_size(run.topic);
    assert_int_equal(replay_summary("selected", "--topic %s --from %s --to %s --key k1 --reapply",
                                    run.topic, from, to),
                     6);
    assert_int_equal(replay_summary("newer_later",
                                    "--topic %s --from %s --to %s --key k1 "
                                    "--reapply",
                                    run.topic, from, to),
                     5); /* only s1, the last of k1 in the span, has none after it */
    assert_int_equal(replay_summary("selected", "--topic %s --from %s --store %s --recheck",
                                    run.topic, from, SHOP),
                     2);
    assert_int_equal(replay_summary("selected",
                                    "--topic %s --from %s --sku TEE-1 --sku NONE "
                                    "--recheck",
                                    run.topic, from),
                     1);
    assert_int_equal(replay_summary("selected",
                                    "--topic %s --from %s --store %s --key k1 "
                                    "--recheck",
                                    run.topic, from, SHOP),
                     1);
    assert_int_equal(replay_summary("written", "--topic %s --from %s --recheck", run.topic, from),
                     0);
    assert_int_equal(th_topic_size(run.topic), end0);

    /* (d) bad arguments, an unknown topic, a refusal: nothing written either. */
    assert_int_equal(ops(NULL, "replay --topic %s --from %s --sku '' --recheck", run.topic, from),
                     2);
    assert_int_equal(ops(NULL, "replay --topic %s --from %s --store '' --reapply", run.topic, from),
                     2);
    assert_int_equal(ops(NULL, "replay --topic %s --from %s --recheck --reapply", run.topic, from),
                     2);
    assert_int_equal(
        ops(NULL, "replay --topic %s --from %s --to %s --recheck", run.topic, to, from), 2);
    assert_int_equal(
        ops(NULL, "replay --topic %s --from %s --reapply --nonce 'a b'", run.topic, from), 2);
    assert_int_equal(ops(NULL, "replay --topic %s --from yesterday --recheck", run.topic), 2);
    assert_int_equal(ops(NULL, "replay --topic t.nosuch-%s --from %s --recheck", run.group, from),
                     1);
    assert_int_equal(ops(NULL, "replay --topic %s --from %s --key k1 --max 5 --reapply --execute",
                         run.topic, from),
                     3);
    assert_int_equal(th_topic_size(run.topic), end0);

    /* (b) --recheck of done events: every copy decoded, none performed again. */
    decoded = th_run_decoded(&run);
    assert_int_equal(replay_summary("written", "--topic %s --from %s --to %s --recheck --execute",
                                    run.topic, from, to),
                     IN_SPAN);
    assert_int_equal(th_topic_size(run.topic), end0 + IN_SPAN);
    th_run_produce_markers(&run, "m2", KEYS);
    assert_true(th_run_wait_markers(&run, "m2", KEYS, 60000));
    assert_int_equal(th_run_decoded(&run), decoded + IN_SPAN + KEYS);
    th_run_assert_once(&run, IN_SPAN + 2 * KEYS);

    /* (c) --reapply of k1's events: each performed exactly once more, with a new far key.
     * The recheck copies (dh-replay-of) in the topic are never selected again. */
    assert_int_equal(replay_summary("earlier_copies", "--topic %s --from %s --key k1 --reapply",
                                    run.topic, from),
                     IN_SPAN);
    assert_int_equal(replay_summary("written", "--topic %s --from %s --key k1 --reapply --execute",
                                    run.topic, from),
                     8); /* the span's six, markers m1-k1 and m2-k1 (no --to this time) */
    th_run_produce_markers(&run, "m3", KEYS);
    assert_true(th_run_wait_markers(&run, "m3", KEYS, 60000));
    for (size_t i = 0; i < sizeof(k1) / sizeof(k1[0]); i++) {
        snprintf(id, sizeof(id), "e%d", k1[i]);
        assert_int_equal(th_run_far_count(&run, id), 2);
        assert_true(far_keys_distinct(&run, id));
    }
    assert_int_equal(th_run_far_count(&run, "s1"), 2);
    assert_int_equal(th_run_far_count(&run, "m1-k1"), 2);
    assert_int_equal(th_run_far_count(&run, "m2-k1"), 2);
    assert_int_equal(th_run_far_count(&run, "m2-k0"), 1);
    assert_int_equal(th_run_far_count(&run, "e0"), 1);
    assert_int_equal(th_run_far_count(&run, "s0"), 1);
    assert_int_equal(th_run_far_count(&run, "sku0"), 1);
    {
        th_far_t far;

        th_run_far(&run, &far);
        assert_int_equal(far.effects, IN_SPAN + 3 * KEYS);
        assert_int_equal(far.performances, IN_SPAN + 3 * KEYS + 8);
    }
    /* A malformed nonce: dead-lettered (class "reapply"), never performed. */
    {
        th_producer_t *p = th_producer_new();
        const char *bad = "{\"id\":\"bad0\",\"seq\":200}";
        size_t n = 0;
        rd_kafka_message_t **dl;
        char dlq[160], cls[64], why[512];

        th_produce_hdr(p, run.topic, -1, "k3", bad, strlen(bad), "dh-reapply", "not a nonce");
        th_producer_destroy(p);
        th_run_produce_markers(&run, "m4", KEYS);
        assert_true(th_run_wait_markers(&run, "m4", KEYS, 60000));
        assert_int_equal(th_run_far_count(&run, "bad0"), 0);
        snprintf(dlq, sizeof(dlq), "%s.dlq", run.topic);
        dl = th_consume(dlq, 1, 30000, &n);
        assert_int_equal(n, 1);
        th_dead_letter(dl[0], cls, sizeof(cls), why, sizeof(why));
        assert_string_equal(cls, "reapply");
        rd_kafka_message_destroy(dl[0]);
        free(dl);
    }
    th_stop(w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_filtered_replay),
    };
    char uniq[100];

    th_unique("ops-replay", uniq, sizeof(uniq));
    snprintf(g_log, sizeof(g_log), "%s/%s.log", th_log_dir(), uniq);
    setenv("DH_KAFKA_BROKERS", th_kafka(), 1);
    setenv("DH_REDIS_URL", th_redis_url(), 1);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
