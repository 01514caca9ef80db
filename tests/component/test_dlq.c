/*
 * dlq.c through the real runtime (th_rt.h, mock cluster) with the scripted handler
 * (th_script.h): a dead letter keeps the event's key, value and headers and adds where it
 * came from and why; a dead letter the broker refuses is produced again, and its event is
 * not finished (its offset never stored) before the broker acknowledged it.
 */
#include <string.h>

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
/* The broker refuses the dead letter REFUSALS times; the runtime produces a refused letter
 * again after 500 ms, so that is a window of 10 s or more in which it cannot be acked. */
#define REFUSALS       20
#define APIKEY_PRODUCE 0 /* the Kafka protocol's ApiKey of Produce requests */

static th_rt_t *start(int partitions)
{
    th_rt_t *t = th_rt_new(&th_script_handler, TH_SCRIPT_TOPIC, partitions, NULL);

    th_rt_start(t);
    return t;
}

/* DEAD_LETTER: performed once, the dead letter keeps key, value and headers and says
 * where the event came from and why (dlq.c's dh-* headers); the event after it runs. */
static void test_dead_letter_headers(void **state)
{
    th_rt_t *t = start(1);
    dh_rt_t *rt = th_rt_runtime(t);
    const char *hdrs[] = {"x-trace", "abc", NULL};
    th_dlq_msg_t m[2];
    char id[128], p[200], id2[128], p2[200], h[600];

    (void)state;
    th_rt_produce(
        t, 0, "k1",
        th_script_event(th_rt_run_id(t), "done", "before", id2, sizeof(id2), p2, sizeof(p2)), NULL);
    th_rt_produce(t, 0, "k2",
                  th_script_event(th_rt_run_id(t), "dead", "dead", id, sizeof(id), p, sizeof(p)),
                  hdrs);
    th_rt_produce(
        t, 0, "k2",
        th_script_event(th_rt_run_id(t), "done", "after", id2, sizeof(id2), p2, sizeof(p2)), NULL);
    assert_int_equal(th_rt_dlq(t, 1, WAIT_MS, m, 2), 1);
    assert_string_equal(m[0].key, "k2");
    assert_string_equal(m[0].value, p);
    assert_string_equal(th_dlq_hdr(&m[0], "x-trace", h, sizeof(h)), "abc");
    assert_string_equal(th_dlq_hdr(&m[0], "dh-original-topic", h, sizeof(h)), TH_SCRIPT_TOPIC);
    assert_string_equal(th_dlq_hdr(&m[0], "dh-original-partition", h, sizeof(h)), "0");
    assert_string_equal(th_dlq_hdr(&m[0], "dh-original-offset", h, sizeof(h)), "1");
    assert_string_equal(th_dlq_hdr(&m[0], "dh-error-class", h, sizeof(h)), "schema");
    assert_string_equal(th_dlq_hdr(&m[0], "dh-error", h, sizeof(h)), "scripted dead letter");
    assert_string_equal(th_dlq_hdr(&m[0], "dh-attempts", h, sizeof(h)), "1");
    assert_string_equal(th_dlq_hdr(&m[0], "dh-worker", h, sizeof(h)), "scripted");
    assert_int_equal(strlen(th_dlq_hdr(&m[0], "dh-first-seen", h, sizeof(h))), 24);
    th_dlq_msg_clear(&m[0]);
    assert_true(th_rt_await_stored(t, 0, 3, WAIT_MS)); /* all three finished */
    assert_int_equal(th_script_performances(id), 1);
    assert_int_equal(th_script_performances(id2), 1);
    assert_int_equal(dh_counter_value(rt->m.dead), 1);
    assert_int_equal(th_rt_stop(t), 0);
    th_rt_destroy(t);
}

static size_t refusals_left(th_rt_t *t)
{
    size_t n = 0;

    assert_int_equal(
        rd_kafka_mock_broker_error_stack_cnt(th_rt_mock(t), TH_RT_DLQ_BROKER, APIKEY_PRODUCE, &n),
        0);
    return n;
}

static int refused_once(dh_rt_t *rt, void *ud)
{
    (void)rt;
    return refusals_left(ud) < REFUSALS;
}

/* The broker refuses the dead letter again and again (its topic's broker only): the event
 * behind it on another key finishes, and a later store pass (the marker on partition 1)
 * still stores nothing for partition 0; once the broker accepts, exactly one dead letter
 * is written and the watermark passes both events. */
static void test_refused_dead_letter_is_sent_again(void **state)
{
    th_rt_t *t = start(2);
    dh_rt_t *rt = th_rt_runtime(t);
    const char *run = th_rt_run_id(t);
    th_dlq_msg_t m[3];
    size_t left;
    char id[128], p[200], id2[128], p2[200], id3[128], p3[200], h[600];

    (void)state;
    for (int i = 0; i < REFUSALS; i++) {
        assert_int_equal(rd_kafka_mock_broker_push_request_error_rtts(
                             th_rt_mock(t), TH_RT_DLQ_BROKER, APIKEY_PRODUCE, 1,
                             RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED, 0),
                         0);
    }
    th_rt_produce(t, 0, "k1", th_script_event(run, "dead", "refused", id, sizeof(id), p, sizeof(p)),
                  NULL);
    th_rt_produce(t, 0, "k2",
                  th_script_event(run, "done", "behind", id2, sizeof(id2), p2, sizeof(p2)), NULL);
    assert_true(th_rt_await(t, refused_once, t, WAIT_MS));
    assert_true(th_rt_await_count(t, &rt->m.done, 1, WAIT_MS));
    th_rt_produce(t, 1, "k3",
                  th_script_event(run, "done", "marker", id3, sizeof(id3), p3, sizeof(p3)), NULL);
    assert_true(th_rt_await_stored(t, 1, 1, WAIT_MS));
    assert_int_equal(th_rt_stored(t, 0), -1); /* the dead letter is not acknowledged yet */
    left = refusals_left(t);
    assert_true(left > 0); /* still being refused: it cannot have been acknowledged */
    assert_true(th_rt_await_stored(t, 0, 2, REFUSALS * 1000 + WAIT_MS));
    assert_int_equal(refusals_left(t), 0);
    assert_int_equal(th_rt_dlq(t, 1, WAIT_MS, m, 3), 1);
    assert_string_equal(m[0].value, p);
    assert_string_equal(th_dlq_hdr(&m[0], "dh-original-offset", h, sizeof(h)), "0");
    th_dlq_msg_clear(&m[0]);
    assert_int_equal(th_script_performances(id), 1); /* re-sent, never handled again */
    assert_int_equal(th_rt_stop(t), 0);
    th_rt_destroy(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dead_letter_headers),
        cmocka_unit_test(test_refused_dead_letter_is_sent_again),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
