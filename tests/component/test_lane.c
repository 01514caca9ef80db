/*
 * lane.c through the real runtime (tests/support/th_rt.h: consumer, lanes and dead-letter
 * producer on librdkafka's mock cluster, idempotency records in the shared Redis) with a
 * scripted handler: every dh_result_t ends as the right outcome, counted at the handler
 * (each performance) and on the runtime's series. Each event's payload is "<script> <id>";
 * the id (unique per run) is its effect id.
 *
 *   done      DONE                      retryN    RETRY ("http") N times, then DONE
 *   retry     RETRY ("http") always     authN     RETRY ("auth") N times, then DONE
 *   waitN     WAIT N times, then DONE   dead      DEAD_LETTER ("schema")
 *   killrec   DONE, after killing the lane's Redis connection (the done record fails)
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "th_rt.h"

/* cmocka.h needs these three first; keep clang-format from sorting it above them. */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
/* clang-format on */

#define TOPIC   "lane.events"
#define WAIT_MS 20000

typedef struct calls {
    char id[128];
    int n;
} calls_t;

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static calls_t g_calls[64];
static size_t g_ncalls;

/* Count one performance of \p id; returns how many there were, this one included. */
static int performed(const char *id)
{
    int n = 0;

    pthread_mutex_lock(&g_mu);
    size_t i = 0;
    while (i < g_ncalls && strcmp(g_calls[i].id, id) != 0) {
        i++;
    }
    if (i == g_ncalls && g_ncalls < 64) {
        snprintf(g_calls[g_ncalls++].id, sizeof(g_calls[0].id), "%s", id);
    }
    if (i < 64) {
        n = ++g_calls[i].n;
    }
    pthread_mutex_unlock(&g_mu);
    return n;
}

static int performances(const char *id)
{
    int n = 0;

    pthread_mutex_lock(&g_mu);
    for (size_t i = 0; i < g_ncalls; i++) {
        if (strcmp(g_calls[i].id, id) == 0) {
            n = g_calls[i].n;
        }
    }
    pthread_mutex_unlock(&g_mu);
    return n;
}

typedef struct sev {
    char script[32];
    char id[128];
} sev_t;

static dh_result_t s_decode(void *shared, const dh_msg_t *msg, dh_event_t *ev, dh_lane_t *lane)
{
    sev_t *e = calloc(1, sizeof(*e));

    (void)shared;
    if (!e) {
        return DH_RESULT_FATAL;
    }
    if (sscanf(msg->payload ? msg->payload : "", "%31s %127s", e->script, e->id) != 2 ||
        dh_event_set_effect(ev, "%s", e->id)) {
        free(e);
        dh_lane_fail(lane, "decode", "not \"<script> <id>\"");
        return DH_RESULT_DEAD_LETTER;
    }
    ev->data = e;
    return DH_RESULT_DONE;
}

/* The connection the done record will use is closed under the lane: the record fails once. */
static void kill_own_connection(dh_lane_t *lane)
{
    redisReply *r = NULL;
    long long id;

    assert_int_equal(dh_redis_commandf(dh_lane_redis(lane), &r, "CLIENT ID"), DH_OK);
    id = r->integer;
    freeReplyObject(r);
    r = NULL;
    /* Its own reply may be lost with the connection: what counts is that it is gone. */
    if (dh_redis_commandf(dh_lane_redis(lane), &r, "CLIENT KILL ID %lld SKIPME no", id) == DH_OK) {
        freeReplyObject(r);
    }
}

static dh_result_t s_handle(void *shared, const dh_msg_t *msg, void *data, dh_lane_t *lane)
{
    sev_t *e = data;
    int n = performed(e->id);
    int limit = 0;

    (void)shared, (void)msg;
    if (strcmp(e->script, "killrec") == 0) {
        kill_own_connection(lane);
        return DH_RESULT_DONE;
    }
    if (strcmp(e->script, "dead") == 0) {
        dh_lane_fail(lane, "schema", "scripted dead letter");
        return DH_RESULT_DEAD_LETTER;
    }
    if (strcmp(e->script, "retry") == 0 || sscanf(e->script, "retry%d", &limit) == 1) {
        if (limit == 0 || n <= limit) {
            dh_lane_fail(lane, "http", "scripted failure %d", n);
            return DH_RESULT_RETRY;
        }
    } else if (sscanf(e->script, "auth%d", &limit) == 1 && n <= limit) {
        dh_lane_fail(lane, "auth", "scripted refusal %d", n);
        return DH_RESULT_RETRY;
    } else if (sscanf(e->script, "wait%d", &limit) == 1 && n <= limit) {
        dh_lane_retry_after(lane, 5);
        return DH_RESULT_WAIT;
    }
    return DH_RESULT_DONE;
}

static void s_release(void *data)
{
    free(data);
}

static const char *const topics[] = {TOPIC, NULL};
static const dh_handler_t H = {
    .name = "lanetest",
    .topics = topics,
    .decode = s_decode,
    .handle = s_handle,
    .release = s_release,
};

/* An id unique to the run and \p name; "<script> <id>" into \p payload. */
static const char *event(th_rt_t *t, const char *script, const char *name, char *id, size_t idsz,
                         char *payload, size_t psz)
{
    snprintf(id, idsz, "%s-%s", name, th_rt_run_id(t));
    snprintf(payload, psz, "%s %s", script, id);
    return payload;
}

static th_rt_t *start(const char *const *env)
{
    th_rt_t *t = th_rt_new(&H, TOPIC, 1, env);

    th_rt_start(t);
    return t;
}

/* Claim -> handle -> record: performed once, done; the same effect again is a duplicate
 * skipped before the handler. */
static void test_done_then_duplicate(void **state)
{
    th_rt_t *t = start(NULL);
    dh_rt_t *rt = th_rt_runtime(t);
    char id[128], p[200];

    (void)state;
    th_rt_produce(t, 0, "k", event(t, "done", "once", id, sizeof(id), p, sizeof(p)), NULL);
    assert_true(th_rt_await_count(t, &rt->m.done, 1, WAIT_MS));
    th_rt_produce(t, 0, "k", p, NULL);
    assert_true(th_rt_await_count(t, &rt->m.skipped, 1, WAIT_MS));
    assert_int_equal(performances(id), 1);
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
    th_rt_produce(t, 0, "k", event(t, "retry2", "r2", id, sizeof(id), p, sizeof(p)), NULL);
    assert_true(th_rt_await_count(t, &rt->m.done, 1, WAIT_MS));
    assert_int_equal(performances(id), 3);
    assert_int_equal(dh_counter_value(rt->m.retried), 2);
    assert_int_equal(dh_counter_value(rt->m.dead), 0);
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
    th_rt_produce(t, 0, "k", event(t, "retry", "ex", id, sizeof(id), p, sizeof(p)), NULL);
    assert_int_equal(th_rt_dlq(t, 1, WAIT_MS, m, 2), 1);
    assert_string_equal(th_dlq_hdr(&m[0], "dh-error-class", h, sizeof(h)), "retry-exhausted");
    assert_string_equal(th_dlq_hdr(&m[0], "dh-attempts", h, sizeof(h)), "3");
    assert_non_null(
        strstr(th_dlq_hdr(&m[0], "dh-error", h, sizeof(h)), "http: scripted failure 3"));
    assert_string_equal(m[0].value, p);
    th_dlq_msg_clear(&m[0]);
    assert_true(th_rt_await_stored(t, 0, 1, WAIT_MS)); /* finished once the letter was acked */
    assert_int_equal(performances(id), 3);
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
    th_rt_produce(t, 0, "k", event(t, "auth5", "auth", id, sizeof(id), p, sizeof(p)), NULL);
    assert_true(th_rt_await_count(t, &rt->m.done, 1, WAIT_MS));
    assert_int_equal(performances(id), 6);
    assert_int_equal(dh_counter_value(rt->m.dead), 0);
    assert_int_equal(th_rt_stop(t), 0);
    th_rt_destroy(t);
}

/* WAIT is not a failed attempt: three waits with DH_RETRY_MAX_ATTEMPTS=1, then done. */
static void test_wait_is_not_an_attempt(void **state)
{
    const char *env[] = {"DH_RETRY_MAX_ATTEMPTS=1", NULL};
    th_rt_t *t = start(env);
    dh_rt_t *rt = th_rt_runtime(t);
    char id[128], p[200];

    (void)state;
    th_rt_produce(t, 0, "k", event(t, "wait3", "wait", id, sizeof(id), p, sizeof(p)), NULL);
    assert_true(th_rt_await_count(t, &rt->m.done, 1, WAIT_MS));
    assert_int_equal(performances(id), 4);
    assert_int_equal(dh_counter_value(rt->m.waits), 3);
    assert_int_equal(dh_counter_value(rt->m.retried), 0);
    assert_int_equal(dh_counter_value(rt->m.dead), 0);
    assert_int_equal(th_rt_stop(t), 0);
    th_rt_destroy(t);
}

/* DEAD_LETTER: performed once, the dead letter keeps key, value and headers and says
 * where the event came from and why (dlq.c's dh-* headers); the event after it runs. */
static void test_dead_letter_headers(void **state)
{
    th_rt_t *t = start(NULL);
    dh_rt_t *rt = th_rt_runtime(t);
    const char *hdrs[] = {"x-trace", "abc", NULL};
    th_dlq_msg_t m[2];
    char id[128], p[200], id2[128], p2[200], h[600];

    (void)state;
    th_rt_produce(t, 0, "k1", event(t, "done", "before", id2, sizeof(id2), p2, sizeof(p2)), NULL);
    th_rt_produce(t, 0, "k2", event(t, "dead", "dead", id, sizeof(id), p, sizeof(p)), hdrs);
    th_rt_produce(t, 0, "k2", event(t, "done", "after", id2, sizeof(id2), p2, sizeof(p2)), NULL);
    assert_int_equal(th_rt_dlq(t, 1, WAIT_MS, m, 2), 1);
    assert_string_equal(m[0].key, "k2");
    assert_string_equal(m[0].value, p);
    assert_string_equal(th_dlq_hdr(&m[0], "x-trace", h, sizeof(h)), "abc");
    assert_string_equal(th_dlq_hdr(&m[0], "dh-original-topic", h, sizeof(h)), TOPIC);
    assert_string_equal(th_dlq_hdr(&m[0], "dh-original-partition", h, sizeof(h)), "0");
    assert_string_equal(th_dlq_hdr(&m[0], "dh-original-offset", h, sizeof(h)), "1");
    assert_string_equal(th_dlq_hdr(&m[0], "dh-error-class", h, sizeof(h)), "schema");
    assert_string_equal(th_dlq_hdr(&m[0], "dh-error", h, sizeof(h)), "scripted dead letter");
    assert_string_equal(th_dlq_hdr(&m[0], "dh-attempts", h, sizeof(h)), "1");
    assert_string_equal(th_dlq_hdr(&m[0], "dh-worker", h, sizeof(h)), "lanetest");
    assert_int_equal(strlen(th_dlq_hdr(&m[0], "dh-first-seen", h, sizeof(h))), 24);
    th_dlq_msg_clear(&m[0]);
    assert_true(th_rt_await_stored(t, 0, 3, WAIT_MS)); /* all three finished */
    assert_int_equal(performances(id), 1);
    assert_int_equal(performances(id2), 1);
    assert_int_equal(dh_counter_value(rt->m.dead), 1);
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
    th_rt_produce(t, 0, "k", event(t, "killrec", "rec", id, sizeof(id), p, sizeof(p)), NULL);
    assert_true(th_rt_await_count(t, &rt->m.done, 1, WAIT_MS));
    assert_true(dh_counter_value(rt->m.redis_errors) >= 1); /* the record did fail once */
    th_rt_produce(t, 0, "k", p, NULL);
    assert_true(th_rt_await_count(t, &rt->m.skipped, 1, WAIT_MS));
    assert_int_equal(performances(id), 1);
    assert_int_equal(dh_counter_value(rt->m.done), 1);
    assert_int_equal(th_rt_stop(t), 0);
    th_rt_destroy(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_done_then_duplicate),
        cmocka_unit_test(test_retry_then_done),
        cmocka_unit_test(test_retry_budget_exhausted),
        cmocka_unit_test(test_auth_never_exhausts),
        cmocka_unit_test(test_wait_is_not_an_attempt),
        cmocka_unit_test(test_dead_letter_headers),
        cmocka_unit_test(test_failed_done_record_keeps_running),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
