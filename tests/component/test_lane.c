/*
 * lane.c through the real runtime (tests/support/th_rt.h: consumer, lanes and dead-letter
 * producer on librdkafka's mock cluster, idempotency records in the shared Redis) with the
 * scripted handler (th_script.h): every dh_result_t ends as the right outcome, counted at
 * the handler (each performance) and on the runtime's series.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "dockhand/idem.h"
#include "th_rt.h"
#include "th_script.h"

/* cmocka.h needs these three first; keep clang-format from sorting it above them. */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
/* clang-format on */

#define WAIT_MS 20000

static th_rt_t *start_with(const dh_handler_t *h, const char *const *env)
{
    th_rt_t *t = th_rt_new(h, TH_SCRIPT_TOPIC, 1, env);

    th_rt_start(t);
    return t;
}

static th_rt_t *start(const char *const *env)
{
    return start_with(&th_script_handler, env);
}

/* Claim -> handle -> record: performed once, done; the same effect again is a duplicate
 * skipped before the handler. */
static void test_done_then_duplicate(void **state)
{
    th_rt_t *t = start(NULL);
    dh_rt_t *rt = th_rt_runtime(t);
    char id[128], p[200];

    (void)state;
    th_rt_produce(t, 0, "k",
                  th_script_event(th_rt_run_id(t), "done", "once", id, sizeof(id), p, sizeof(p)),
                  NULL);
    assert_true(th_rt_await_count(t, &rt->m.done, 1, WAIT_MS));
    th_rt_produce(t, 0, "k", p, NULL);
    assert_true(th_rt_await_count(t, &rt->m.skipped, 1, WAIT_MS));
    assert_int_equal(th_script_performances(id), 1);
    assert_int_equal(dh_counter_value(rt->m.done), 1);
    assert_int_equal(th_rt_stop(t), 0);
    th_rt_destroy(t);
}

/* RETRY twice, then DONE: three performances, two retries counted, no dead letter. */
static void test_retry_then_done(void **state)
{
    th_rt_t *t = start(NULL);
    dh_rt_t *rt = th_rt_runtime(t);
    char id[128], p[200];

    (void)state;
    th_rt_produce(t, 0, "k",
                  th_script_event(th_rt_run_id(t), "retry2", "r2", id, sizeof(id), p, sizeof(p)),
                  NULL);
    assert_true(th_rt_await_count(t, &rt->m.done, 1, WAIT_MS));
    assert_int_equal(th_script_performances(id), 3);
    assert_int_equal(dh_counter_value(rt->m.retried), 2);
    assert_int_equal(dh_counter_value(rt->m.dead), 0);
    assert_int_equal(th_rt_stop(t), 0);
    th_rt_destroy(t);
}

#define ID_MAX 128

/* \p n events of \p script, each its own key and name "<prefix><i>"; their ids in \p id. */
static void produce_each(th_rt_t *t, const char *script, const char *prefix, int n,
                         char (*id)[ID_MAX])
{
    char p[200], name[16];

    for (int i = 0; i < n; i++) {
        snprintf(name, sizeof(name), "%s%d", prefix, i);
        th_rt_produce(t, 0, name,
                      th_script_event(th_rt_run_id(t), script, name, id[i], ID_MAX, p, sizeof(p)),
                      NULL);
    }
}

/* Each of the \p n effects was performed exactly once. */
static void assert_each_once(char (*id)[ID_MAX], int n)
{
    for (int i = 0; i < n; i++) {
        assert_int_equal(th_script_performances(id[i]), 1);
    }
}

/* One batch where one effect fails and ten succeed (all produced before the runtime starts,
 * one lane): the batch is finished done, and the failed effect must still be performed on
 * its retry. Its record is released in the same step that marks the batch done; a record
 * left pointing at the done batch would read as done, and the retry would skip it. */
static void test_failed_effect_in_done_batch(void **state)
{
    /* One batch of all eleven: the lane lingers until it has them (without it, how a
     * fetch is split into batches decides whether the case is tested at all; a 1 s linger
     * was once not enough on a loaded CI machine). The retry, alone, waits the linger out. */
    const char *env[] = {"DH_LANES=1", "DH_BATCH_MAX=11", "DH_BATCH_LINGER_MS=5000", NULL};
    th_rt_t *t = th_rt_new(&th_script_handler, TH_SCRIPT_TOPIC, 1, env);
    dh_rt_t *rt = th_rt_runtime(t);
    char idf[128], pf[200], id[10][ID_MAX];

    (void)state;
    produce_each(t, "done", "ok", 5, id);
    th_rt_produce(t, 0, "f",
                  th_script_event(th_rt_run_id(t), "retry1", "f", idf, sizeof(idf), pf, sizeof(pf)),
                  NULL);
    produce_each(t, "done", "ol", 5, id + 5);
    th_rt_start(t);
    assert_true(th_rt_await_count(t, &rt->m.done, 11, WAIT_MS));
    assert_int_equal(th_script_performances(idf), 2);
    assert_each_once(id, 10);
    assert_int_equal(dh_counter_value(rt->m.skipped), 0);
    /* The case was the one meant: the ten done effects point at one batch, and a lane takes
     * keys in the order they became ready, so "f", between them, was in it too. */
    dh_redis_t *r = th_rt_redis_new();
    const char *ids[10];
    dh_idem_state_t st[10];
    char batches[10][DH_IDEM_BATCH_LEN + 1];

    for (int i = 0; i < 10; i++) {
        ids[i] = id[i];
    }
    assert_int_equal(dh_idem_lookup(r, "scripted", 10, ids, st, batches), DH_OK);
    for (int i = 0; i < 10; i++) {
        assert_int_equal(st[i], DH_IDEM_DONE);
        assert_string_equal(batches[i], batches[0]);
    }
    dh_redis_destroy(r);
    assert_int_equal(th_rt_stop(t), 0);
    th_rt_destroy(t);
}

/* A RETRY every time spends the budget (DH_RETRY_MAX_ATTEMPTS=3): exactly three
 * performances, then one dead letter of class retry-exhausted that names the cause. */
static void test_retry_budget_exhausted(void **state)
{
    const char *env[] = {"DH_RETRY_MAX_ATTEMPTS=3", NULL};
    th_rt_t *t = start(env);
    dh_rt_t *rt = th_rt_runtime(t);
    th_dlq_msg_t m[2];
    char id[128], p[200], h[600];

    (void)state;
    th_rt_produce(t, 0, "k",
                  th_script_event(th_rt_run_id(t), "retry", "ex", id, sizeof(id), p, sizeof(p)),
                  NULL);
    assert_int_equal(th_rt_dlq(t, 1, WAIT_MS, m, 2), 1);
    assert_string_equal(th_dlq_hdr(&m[0], "dh-error-class", h, sizeof(h)), "retry-exhausted");
    assert_string_equal(th_dlq_hdr(&m[0], "dh-attempts", h, sizeof(h)), "3");
    assert_non_null(
        strstr(th_dlq_hdr(&m[0], "dh-error", h, sizeof(h)), "http: scripted failure 3"));
    assert_string_equal(m[0].value, p);
    th_dlq_msg_clear(&m[0]);
    assert_true(th_rt_await_stored(t, 0, 1, WAIT_MS)); /* finished once the letter was acked */
    assert_int_equal(th_script_performances(id), 3);
    assert_int_equal(dh_counter_value(rt->m.dead), 1);
    assert_int_equal(dh_counter_value(rt->m.done), 0);
    assert_int_equal(th_rt_stop(t), 0);
    th_rt_destroy(t);
}

/* Refused credentials (class "auth") never exhaust the budget: five refusals with
 * DH_RETRY_MAX_ATTEMPTS=2, then done; nothing dead-lettered. */
static void test_auth_never_exhausts(void **state)
{
    const char *env[] = {"DH_RETRY_MAX_ATTEMPTS=2", NULL};
    th_rt_t *t = start(env);
    dh_rt_t *rt = th_rt_runtime(t);
    char id[128], p[200];

    (void)state;
    th_rt_produce(t, 0, "k",
                  th_script_event(th_rt_run_id(t), "auth5", "auth", id, sizeof(id), p, sizeof(p)),
                  NULL);
    assert_true(th_rt_await_count(t, &rt->m.done, 1, WAIT_MS));
    assert_int_equal(th_script_performances(id), 6);
    assert_int_equal(dh_counter_value(rt->m.dead), 0);
    assert_int_equal(th_rt_stop(t), 0);
    th_rt_destroy(t);
}

/* WAIT is not a failed attempt: three waits, then one RETRY, with DH_RETRY_MAX_ATTEMPTS=2:
 * the retry is the first failed attempt, so the event is retried and done, not dead. */
static void test_wait_is_not_an_attempt(void **state)
{
    const char *env[] = {"DH_RETRY_MAX_ATTEMPTS=2", NULL};
    th_rt_t *t = start(env);
    dh_rt_t *rt = th_rt_runtime(t);
    char id[128], p[200];

    (void)state;
    th_rt_produce(
        t, 0, "k",
        th_script_event(th_rt_run_id(t), "waitretry3", "wait", id, sizeof(id), p, sizeof(p)), NULL);
    assert_true(th_rt_await_count(t, &rt->m.done, 1, WAIT_MS));
    assert_int_equal(th_script_performances(id), 5);
    assert_int_equal(dh_counter_value(rt->m.waits), 3);
    assert_int_equal(dh_counter_value(rt->m.retried), 1);
    assert_int_equal(dh_counter_value(rt->m.dead), 0);
    assert_int_equal(th_rt_stop(t), 0);
    th_rt_destroy(t);
}

/* The done record fails (the lane's Redis connection is killed after the effect): the
 * event stays running until the record is written, is performed once, and a replay of
 * the same effect is a duplicate, never a second performance. */
static void test_failed_done_record_keeps_running(void **state)
{
    th_rt_t *t = start(NULL);
    dh_rt_t *rt = th_rt_runtime(t);
    char id[128], p[200];

    (void)state;
    th_rt_produce(t, 0, "k",
                  th_script_event(th_rt_run_id(t), "killrec", "rec", id, sizeof(id), p, sizeof(p)),
                  NULL);
    assert_true(th_rt_await_count(t, &rt->m.done, 1, WAIT_MS));
    assert_true(dh_counter_value(rt->m.redis_errors) >= 1); /* the record did fail once */
    th_rt_produce(t, 0, "k", p, NULL);
    assert_true(th_rt_await_count(t, &rt->m.skipped, 1, WAIT_MS));
    assert_int_equal(th_script_performances(id), 1);
    assert_int_equal(dh_counter_value(rt->m.done), 1);
    assert_int_equal(th_rt_stop(t), 0);
    th_rt_destroy(t);
}

/* Another replica's claim of \p id, repeated while it finds a lease until it finds \p want
 * or \p timeout_ms passed; when it claims, it finishes its batch done (it "performed" it). */
static int other_claim(const char *id, dh_idem_state_t want, int timeout_ms)
{
    dh_redis_t *r = th_rt_redis_new();
    const char *ids[] = {id};
    dh_idem_state_t st = DH_IDEM_DONE;
    char batch[DH_IDEM_BATCH_LEN + 1];
    int64_t until = dh_rt_now_ms() + timeout_ms;

    do {
        dh_idem_batch_id(batch);
        assert_int_equal(
            dh_idem_claim(r, "scripted", "other-replica", batch, 60000, 600, 1, ids, &st, NULL),
            DH_OK);
        if (st == want || st != DH_IDEM_LEASED) {
            break;
        }
        nanosleep(&(struct timespec){0, 20 * 1000000L}, NULL); /* polling: ends on the state */
    } while (dh_rt_now_ms() < until);
    if (st == DH_IDEM_CLAIMED) {
        int held;

        /* The other replica "performed" it: its batch is done. */
        assert_int_equal(
            dh_idem_finish(r, "scripted", "other-replica", batch, 600, 1, 0, NULL, &held), DH_OK);
        assert_int_equal(held, 1);
    }
    dh_redis_destroy(r);
    return st == want;
}

/* A batch that outlasts its lease (six effects of 150 ms, DH_IDEM_LEASE_MS=300) renews it
 * between effects: another replica's claim of its last effect, made well past the first
 * lease, still finds it leased, and every effect is performed once, by the lane. */
static void test_long_batch_renews_lease(void **state)
{
    /* One batch of all six: the lane lingers until it has them. */
    static const char *const env[] = {"DH_LANES=1", "DH_IDEM_LEASE_MS=300", "DH_BATCH_MAX=6",
                                      "DH_BATCH_LINGER_MS=5000", NULL};
    th_rt_t *t = th_rt_new(&th_script_handler, TH_SCRIPT_TOPIC, 1, env);
    dh_rt_t *rt = th_rt_runtime(t);
    char id[6][ID_MAX];

    (void)state;
    produce_each(t, "sleep150", "s", 6, id);
    th_rt_start(t);
    assert_true(th_script_await(id[3], 1, WAIT_MS)); /* 450 ms and more into the batch */
    assert_true(other_claim(id[5], DH_IDEM_LEASED, 0));
    assert_true(th_rt_await_count(t, &rt->m.done, 6, WAIT_MS));
    assert_each_once(id, 6);
    assert_int_equal(dh_counter_value(rt->m.leases_lapsed), 0);
    assert_int_equal(th_rt_stop(t), 0);
    th_rt_destroy(t);
}

/* An effect that outlasts the whole lease (1,000 ms against 300): another replica takes the
 * batch's next effect over once the lease lapsed and performs it. The lane finds its lease
 * lapsed at the renewal, leaves that effect alone, and later finds it done: performed once,
 * by the other replica, and the lapse is counted. */
static void test_lapsed_lease_stops_batch(void **state)
{
    static const char *const env[] = {"DH_LANES=1", "DH_IDEM_LEASE_MS=300", "DH_BATCH_MAX=2",
                                      "DH_BATCH_LINGER_MS=5000", NULL};
    th_rt_t *t = th_rt_new(&th_script_handler, TH_SCRIPT_TOPIC, 1, env);
    dh_rt_t *rt = th_rt_runtime(t);
    char slow[128], next[128], p[200];

    (void)state;
    th_rt_produce(
        t, 0, "a",
        th_script_event(th_rt_run_id(t), "sleep1000", "slow", slow, sizeof(slow), p, sizeof(p)),
        NULL);
    th_rt_produce(
        t, 0, "b",
        th_script_event(th_rt_run_id(t), "done", "next", next, sizeof(next), p, sizeof(p)), NULL);
    th_rt_start(t);
    assert_true(th_script_await(slow, 1, WAIT_MS));
    assert_true(other_claim(next, DH_IDEM_CLAIMED, WAIT_MS)); /* the lease lapsed */
    assert_true(th_rt_await_count(t, &rt->m.done, 1, WAIT_MS));
    assert_true(th_rt_await_count(t, &rt->m.skipped, 1, WAIT_MS));
    assert_int_equal(th_script_performances(slow), 1);
    assert_int_equal(th_script_performances(next), 0);
    assert_int_equal(dh_counter_value(rt->m.leases_lapsed), 1);
    assert_int_equal(th_rt_stop(t), 0);
    th_rt_destroy(t);
}

static int no_running(dh_rt_t *rt, void *ud)
{
    (void)ud;
    for (dh_rt_part_t *p = rt->parts; p; p = p->next) {
        if (p->running > 0) {
            return 0;
        }
    }
    return 1;
}

/* A revoke begins while a batch runs (flagged by hand, as consumer.c's on_revoke does
 * before it waits for running events): the lane performs no more of that partition's
 * events, releases their claims with the batch, so another replica claims them at once
 * instead of waiting out a 60 s lease, and stores no offset past them. */
static void test_revoked_left_for_next_owner(void **state)
{
    static const char *const env[] = {"DH_LANES=1", "DH_IDEM_LEASE_MS=60000", "DH_BATCH_MAX=3",
                                      "DH_BATCH_LINGER_MS=5000", NULL};
    th_rt_t *t = th_rt_new(&th_script_handler, TH_SCRIPT_TOPIC, 1, env);
    dh_rt_t *rt = th_rt_runtime(t);
    char slow[1][ID_MAX], next[2][ID_MAX];

    (void)state;
    produce_each(t, "sleep300", "r", 1, slow); /* offset 0 */
    produce_each(t, "done", "n", 2, next);     /* offsets 1 and 2, the same batch */
    th_rt_start(t);
    assert_true(th_script_await(slow[0], 1, WAIT_MS));
    pthread_mutex_lock(&rt->mu);
    for (dh_rt_part_t *p = rt->parts; p; p = p->next) {
        atomic_store(&p->revoking, 1);
    }
    pthread_mutex_unlock(&rt->mu);
    assert_true(th_rt_await_count(t, &rt->m.done, 1, WAIT_MS));
    assert_true(th_rt_await(t, no_running, NULL, WAIT_MS));
    assert_true(th_rt_await_stored(t, 0, 1, WAIT_MS));
    assert_int_equal(th_script_performances(slow[0]), 1);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(th_script_performances(next[i]), 0);
        assert_true(other_claim(next[i], DH_IDEM_CLAIMED, 0)); /* released, not leased */
    }
    assert_int_equal(th_rt_stored(t, 0), 1); /* nothing past the one performed */
    assert_int_equal(dh_counter_value(rt->m.done), 1);
    assert_int_equal(th_rt_stop(t), 0);
    th_rt_destroy(t);
}

/* dh_lane_produce() (produce.c) from a handler: each message written once with its key,
 * value and headers, in order; two events, two messages. */
static void test_lane_produce(void **state)
{
    th_rt_t *t = th_rt_new(&th_script_handler, TH_SCRIPT_TOPIC, 1, NULL);
    dh_rt_t *rt = th_rt_runtime(t);
    char id[128], p[200], id2[128], p2[200], h[64];
    th_dlq_msg_t m[3];

    (void)state;
    assert_int_equal(rd_kafka_mock_topic_create(th_rt_mock(t), TH_SCRIPT_OUT, 1, 1), 0);
    th_rt_start(t);
    th_rt_produce(t, 0, "k",
                  th_script_event(th_rt_run_id(t), "produce", "p1", id, sizeof(id), p, sizeof(p)),
                  NULL);
    th_rt_produce(
        t, 0, "k",
        th_script_event(th_rt_run_id(t), "produce", "p2", id2, sizeof(id2), p2, sizeof(p2)), NULL);
    assert_true(th_rt_await_count(t, &rt->m.done, 2, WAIT_MS));
    /* p2's message is the marker: a second write of p1 would stand before it. */
    assert_int_equal(th_rt_read(t, TH_SCRIPT_OUT, 2, WAIT_MS, m, 3), 2);
    assert_string_equal(m[0].key, id);
    assert_string_equal(m[0].value, id);
    assert_string_equal(th_dlq_hdr(&m[0], "x-from", h, sizeof(h)), "scripted");
    assert_string_equal(m[1].value, id2);
    th_dlq_msg_clear(&m[0]);
    th_dlq_msg_clear(&m[1]);
    assert_int_equal(dh_counter_value(rt->m.retried), 0);
    assert_int_equal(th_rt_stop(t), 0);
    th_rt_destroy(t);
}

/* Coalescing: the scripted handler with coalesce on, counting the decoded forms alive and
 * the most seen alive while a survivor runs. */
#define FOLDED 19
static atomic_int g_live;
static int g_live_at_survivor = -1;
static char g_survivor[128];

static dh_result_t c_decode(void *shared, const dh_msg_t *msg, dh_event_t *ev, dh_lane_t *lane)
{
    dh_result_t r = th_script_handler.decode(shared, msg, ev, lane);

    if (r == DH_RESULT_DONE) {
        atomic_fetch_add(&g_live, 1);
    }
    return r;
}

static void c_release(void *data)
{
    atomic_fetch_sub(&g_live, 1);
    th_script_handler.release(data);
}

static dh_result_t c_handle(void *shared, const dh_msg_t *msg, void *data, dh_lane_t *lane)
{
    if (g_survivor[0] && msg->payload && strstr(msg->payload, g_survivor)) {
        g_live_at_survivor = atomic_load(&g_live);
    }
    return th_script_handler.handle(shared, msg, data, lane);
}

static int all_queued(dh_rt_t *rt, void *ud)
{
    (void)ud;
    return rt->inflight == FOLDED + 2;
}

/* The snapshots folded into a survivor are decoded (a bad one would be dead-lettered) but
 * their decoded forms are not kept while it runs: only the survivor's is alive then. They
 * still finish with it, as superseded, never performed. */
static void test_folded_not_kept_decoded(void **state)
{
    static const char *const env[] = {"DH_LANES=1", NULL};
    dh_handler_t h = th_script_handler;
    th_rt_t *t;
    dh_rt_t *rt;
    char id[FOLDED + 2][128], p[200], name[16];

    (void)state;
    h.coalesce = 1;
    h.decode = c_decode;
    h.release = c_release;
    h.handle = c_handle;
    t = start_with(&h, env);
    rt = th_rt_runtime(t);
    /* The key is held by a blocked event while the snapshots queue behind it. */
    th_rt_produce(
        t, 0, "k",
        th_script_event(th_rt_run_id(t), "block", "b", id[0], sizeof(id[0]), p, sizeof(p)), NULL);
    assert_true(th_script_await(id[0], 1, WAIT_MS));
    for (int i = 1; i <= FOLDED + 1; i++) {
        snprintf(name, sizeof(name), "s%d", i);
        th_rt_produce(
            t, 0, "k",
            th_script_event(th_rt_run_id(t), "done", name, id[i], sizeof(id[i]), p, sizeof(p)),
            NULL);
    }
    snprintf(g_survivor, sizeof(g_survivor), "%s", id[FOLDED + 1]);
    assert_true(th_rt_await(t, all_queued, NULL, WAIT_MS));
    th_script_unblock();
    assert_true(th_rt_await_count(t, &rt->m.superseded, FOLDED, WAIT_MS));
    assert_true(th_rt_await_count(t, &rt->m.done, 2, WAIT_MS));
    assert_int_equal(g_live_at_survivor, 1);
    assert_int_equal(th_script_performances(id[FOLDED + 1]), 1);
    for (int i = 1; i <= FOLDED; i++) {
        assert_int_equal(th_script_performances(id[i]), 0);
    }
    assert_int_equal(th_rt_stop(t), 0);
    assert_int_equal(atomic_load(&g_live), 0);
    th_rt_destroy(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_done_then_duplicate),
        cmocka_unit_test(test_retry_then_done),
        cmocka_unit_test(test_failed_effect_in_done_batch),
        cmocka_unit_test(test_retry_budget_exhausted),
        cmocka_unit_test(test_auth_never_exhausts),
        cmocka_unit_test(test_wait_is_not_an_attempt),
        cmocka_unit_test(test_failed_done_record_keeps_running),
        cmocka_unit_test(test_long_batch_renews_lease),
        cmocka_unit_test(test_lapsed_lease_stops_batch),
        cmocka_unit_test(test_revoked_left_for_next_owner),
        cmocka_unit_test(test_lane_produce),
        cmocka_unit_test(test_folded_not_kept_decoded), /* last: it unblocks "block" for good */
    };

    th_cases_filter();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
