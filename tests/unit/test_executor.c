/*
 * The key-ordered executor (executor.c) and the retry backoff, without lanes: a key's
 * events run one at a time in offset order while other keys run in parallel; a delayed
 * key parks on the delayed list (sorted by due time) while others flow; coalescing folds
 * a key's queued snapshots into the newest; the watermark never passes unfinished work.
 * Real librdkafka messages come from an in-process mock cluster (no broker needed).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime.h"

#define TOPIC "t"

/* Partition 0: the keys of offsets 0..5; partition 1: key A at offset 0. */
static const char *const P0_KEYS[] = {"A", "A", "B", "A", "B", "C"};
#define P0_N 6

static rd_kafka_t *g_rk, *g_consumer; /* the mock cluster's owner; the messages' reader */
static rd_kafka_message_t *g_p0[P0_N], *g_p1;

static dh_result_t handle_nothing(void *shared, const dh_msg_t *msg, void *data, dh_lane_t *lane)
{
    (void)shared;
    (void)msg;
    (void)data;
    (void)lane;
    return DH_RESULT_DONE;
}

static const dh_handler_t H_PLAIN = {.name = "exec", .handle = handle_nothing};
static const dh_handler_t H_COALESCE = {.name = "exec", .coalesce = 1, .handle = handle_nothing};

static rd_kafka_t *client(rd_kafka_type_t type, const char *bootstrap)
{
    char errstr[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_t *rk;

    if (bootstrap) {
        assert_int_equal(
            rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, errstr, sizeof(errstr)), 0);
    }
    if (type == RD_KAFKA_CONSUMER) {
        assert_int_equal(rd_kafka_conf_set(conf, "group.id", "unit", errstr, sizeof(errstr)), 0);
    }
    rk = rd_kafka_new(type, conf, errstr, sizeof(errstr));
    if (!rk) {
        fail_msg("rd_kafka_new: %s", errstr);
    }
    return rk;
}

static void produce(rd_kafka_t *p, int32_t partition, const char *key, const char *value)
{
    assert_int_equal(rd_kafka_producev(p, RD_KAFKA_V_TOPIC(TOPIC), RD_KAFKA_V_PARTITION(partition),
                                       RD_KAFKA_V_KEY(key, strlen(key)),
                                       RD_KAFKA_V_VALUE((void *)value, strlen(value)),
                                       RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END),
                     RD_KAFKA_RESP_ERR_NO_ERROR);
}

/* Produce the fixture messages to a mock cluster and read them back once. */
static int setup(void **state)
{
    rd_kafka_mock_cluster_t *mc;
    rd_kafka_t *p, *c;
    rd_kafka_topic_partition_list_t *tpl = rd_kafka_topic_partition_list_new(2);
    size_t got = 0;

    (void)state;
    g_rk = client(RD_KAFKA_PRODUCER, NULL);
    mc = rd_kafka_mock_cluster_new(g_rk, 1);
    assert_non_null(mc);
    assert_int_equal(rd_kafka_mock_topic_create(mc, TOPIC, 2, 1), 0);
    p = client(RD_KAFKA_PRODUCER, rd_kafka_mock_cluster_bootstraps(mc));
    for (int i = 0; i < P0_N; i++) {
        produce(p, 0, P0_KEYS[i], "{}");
    }
    produce(p, 1, "A", "{}");
    assert_int_equal(rd_kafka_flush(p, 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_destroy(p);

    c = client(RD_KAFKA_CONSUMER, rd_kafka_mock_cluster_bootstraps(mc));
    rd_kafka_topic_partition_list_add(tpl, TOPIC, 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_topic_partition_list_add(tpl, TOPIC, 1)->offset = RD_KAFKA_OFFSET_BEGINNING;
    assert_int_equal(rd_kafka_assign(c, tpl), 0);
    rd_kafka_topic_partition_list_destroy(tpl);
    for (int tries = 0; got < P0_N + 1 && tries < 200; tries++) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 100);

        if (!m || m->err) {
            if (m) {
                rd_kafka_message_destroy(m);
            }
            continue;
        }
        if (m->partition == 0) {
            g_p0[m->offset] = m;
        } else {
            g_p1 = m;
        }
        got++;
    }
    assert_int_equal(got, P0_N + 1);
    g_consumer = c; /* alive as long as its messages: both go with the process */
    return 0;
}

static dh_rt_t *rt_new(const dh_handler_t *h, int lanes)
{
    dh_rt_t *rt = calloc(1, sizeof(*rt));

    assert_non_null(rt);
    rt->handler = h;
    rt->opts.lanes = lanes;
    rt->opts.batch_max = 64;
    assert_int_equal(dh_rt_init(rt), DH_OK);
    assert_non_null(dh_rt_part_add(rt, TOPIC, 0));
    assert_non_null(dh_rt_part_add(rt, TOPIC, 1));
    return rt;
}

/* Everything finished: no key, event or byte left behind. */
static void rt_destroy(dh_rt_t *rt)
{
    assert_int_equal(rt->inflight, 0);
    assert_int_equal(rt->inflight_bytes, 0);
    assert_int_equal(rt->nkeys, 0);
    assert_int_equal(rt->nready, 0);
    assert_null(rt->delayed_head);
    dh_rt_fini(rt);
    free(rt);
}

static void dispatch_p0(dh_rt_t *rt)
{
    for (int i = 0; i < P0_N; i++) {
        assert_int_equal(dh_rt_dispatch(rt, g_p0[i]), DH_OK);
    }
}

static dh_rt_part_t *p0(dh_rt_t *rt)
{
    return dh_rt_part_find(rt, TOPIC, 0);
}

/* Take up to \p max events; check their keys and offsets ("A0 B2 C5"). */
static size_t take_expect(dh_rt_t *rt, size_t max, const char *want, dh_rt_ev_t **evs)
{
    char got[128] = "";
    int64_t due;
    size_t n = dh_rt_take(rt, evs, max, &due);

    for (size_t i = 0; i < n; i++) {
        char one[32];

        snprintf(one, sizeof(one), "%s%.*s%lld", i ? " " : "", (int)evs[i]->key_len, evs[i]->key,
                 (long long)evs[i]->offset);
        strncat(got, one, sizeof(got) - strlen(got) - 1);
    }
    assert_string_equal(got, want);
    return n;
}

static void test_key_order_and_parallel_keys(void **state)
{
    dh_rt_t *rt = rt_new(&H_PLAIN, 1);
    dh_rt_ev_t *evs[16], *a0, *b2, *c5, *a1, *b4, *a3;

    (void)state;
    dispatch_p0(rt);
    assert_int_equal(rt->inflight, P0_N);
    assert_int_equal(rt->nkeys, 3);
    /* One head per key, keys in arrival order; a key's later events wait. */
    take_expect(rt, 16, "A0 B2 C5", evs);
    a0 = evs[0], b2 = evs[1], c5 = evs[2];
    take_expect(rt, 16, "", evs); /* every key is running */
    dh_rt_finish(rt, b2);
    take_expect(rt, 16, "B4", evs);
    b4 = evs[0];
    assert_int_equal(dh_wm_advance(p0(rt)->wm), -1); /* offset 0 still running */
    dh_rt_finish(rt, a0);
    assert_int_equal(dh_wm_advance(p0(rt)->wm), 1);
    take_expect(rt, 16, "A1", evs);
    a1 = evs[0];
    dh_rt_finish(rt, c5);
    dh_rt_finish(rt, a1);
    assert_int_equal(dh_wm_advance(p0(rt)->wm), 3); /* 0..2 done; B4 (offset 4) open */
    take_expect(rt, 16, "A3", evs);
    a3 = evs[0];
    dh_rt_finish(rt, b4);
    assert_int_equal(dh_wm_advance(p0(rt)->wm), -1); /* A3 still open */
    dh_rt_finish(rt, a3);
    assert_int_equal(dh_wm_advance(p0(rt)->wm), P0_N);
    take_expect(rt, 16, "", evs);
    rt_destroy(rt);
}

/* Without handle_batch, a lane takes only its share of the ready keys. */
static void test_lane_share(void **state)
{
    dh_rt_t *rt = rt_new(&H_PLAIN, 2);
    dh_rt_ev_t *evs[16], *first[3];

    (void)state;
    dispatch_p0(rt);
    take_expect(rt, 16, "A0 B2", evs); /* 3 ready keys, 2 lanes: 2 each at most */
    first[0] = evs[0], first[1] = evs[1];
    take_expect(rt, 16, "C5", evs);
    first[2] = evs[0];
    for (int i = 0; i < 3; i++) {
        dh_rt_finish(rt, first[i]);
    }
    for (int round = 0; round < 3; round++) {
        size_t n = dh_rt_take(rt, evs, 16, &(int64_t){0});

        for (size_t i = 0; i < n; i++) {
            dh_rt_finish(rt, evs[i]);
        }
    }
    assert_int_equal(dh_wm_advance(p0(rt)->wm), P0_N);
    rt_destroy(rt);
}

static void test_delayed_key_parks_others_flow(void **state)
{
    dh_rt_t *rt = rt_new(&H_PLAIN, 1);
    dh_rt_ev_t *evs[16], *a0, *b2, *c5;
    int64_t due = 0;

    (void)state;
    dispatch_p0(rt);
    take_expect(rt, 16, "A0 B2 C5", evs);
    a0 = evs[0], b2 = evs[1], c5 = evs[2];
    a0->attempts = 1;
    dh_rt_delay(rt, a0, 60000);
    assert_ptr_equal(rt->delayed_head, a0->kq);
    assert_int_equal(dh_rt_take(rt, evs, 16, &due), 0);
    assert_true(due > dh_rt_now_ms() + 50000); /* the lane is told when A is due */
    /* B and C flow on; A's later events wait behind the parked A0. */
    dh_rt_finish(rt, b2);
    take_expect(rt, 16, "B4", evs);
    dh_rt_finish(rt, evs[0]);
    dh_rt_finish(rt, c5);
    take_expect(rt, 16, "", evs);
    assert_int_equal(dh_rt_busy(rt), 0); /* the delayed key is not busy work */
    assert_int_equal(rt->inflight, 3);   /* A0, A1, A3 */
    assert_int_equal(dh_wm_advance(p0(rt)->wm), -1);
    /* Due: the same event comes back (its attempts kept), not the key's next one. */
    rt->delayed_head->not_before_ms = 0;
    take_expect(rt, 16, "A0", evs);
    assert_ptr_equal(evs[0], a0);
    assert_int_equal(a0->attempts, 1);
    assert_null(rt->delayed_head);
    dh_rt_finish(rt, a0);
    take_expect(rt, 16, "A1", evs);
    dh_rt_finish(rt, evs[0]);
    take_expect(rt, 16, "A3", evs);
    dh_rt_finish(rt, evs[0]);
    assert_int_equal(dh_wm_advance(p0(rt)->wm), P0_N);
    rt_destroy(rt);
}

static void test_delayed_list_sorted_by_due(void **state)
{
    dh_rt_t *rt = rt_new(&H_PLAIN, 1);
    dh_rt_ev_t *evs[16], *a0, *b2, *c5;
    int64_t due = 0;

    (void)state;
    dispatch_p0(rt);
    take_expect(rt, 16, "A0 B2 C5", evs);
    a0 = evs[0], b2 = evs[1], c5 = evs[2];
    dh_rt_delay(rt, a0, 300000);
    dh_rt_delay(rt, b2, 100000);
    dh_rt_delay(rt, c5, 200000);
    assert_ptr_equal(rt->delayed_head, b2->kq);
    assert_ptr_equal(rt->delayed_head->lnext, c5->kq);
    assert_ptr_equal(rt->delayed_head->lnext->lnext, a0->kq);
    assert_int_equal(dh_rt_take(rt, evs, 16, &due), 0);
    assert_int_equal(due, b2->kq->not_before_ms);
    /* Only the keys that are due become ready, in due order. */
    b2->kq->not_before_ms = 0;
    c5->kq->not_before_ms = 1;
    take_expect(rt, 16, "B2 C5", evs);
    assert_ptr_equal(rt->delayed_head, a0->kq);
    a0->kq->not_before_ms = 0;
    take_expect(rt, 16, "A0", evs);
    dh_rt_finish(rt, a0);
    dh_rt_finish(rt, b2);
    dh_rt_finish(rt, c5);
    for (int round = 0; round < 3; round++) {
        size_t n = dh_rt_take(rt, evs, 16, &due);

        for (size_t i = 0; i < n; i++) {
            dh_rt_finish(rt, evs[i]);
        }
    }
    assert_int_equal(dh_wm_advance(p0(rt)->wm), P0_N);
    rt_destroy(rt);
}

/* A dead-lettered event lets its key move on, but the commit waits for the DLQ ack. */
static void test_detach_waits_for_ack(void **state)
{
    dh_rt_t *rt = rt_new(&H_PLAIN, 1);
    dh_rt_ev_t *evs[16], *a0, *b2, *c5;

    (void)state;
    dispatch_p0(rt);
    take_expect(rt, 16, "A0 B2 C5", evs);
    a0 = evs[0], b2 = evs[1], c5 = evs[2];
    dh_rt_detach(rt, a0);
    take_expect(rt, 16, "A1", evs);
    dh_rt_finish(rt, evs[0]);
    dh_rt_finish(rt, b2);
    dh_rt_finish(rt, c5);
    assert_int_equal(dh_wm_advance(p0(rt)->wm), -1); /* offset 0 not acked */
    dh_rt_dlq_acked(rt, a0);
    assert_int_equal(dh_wm_advance(p0(rt)->wm), 3);
    for (int round = 0; round < 3; round++) {
        size_t n = dh_rt_take(rt, evs, 16, &(int64_t){0});

        for (size_t i = 0; i < n; i++) {
            dh_rt_finish(rt, evs[i]);
        }
    }
    assert_int_equal(dh_wm_advance(p0(rt)->wm), P0_N);
    rt_destroy(rt);
}

/* Coalescing: a key's queued events fold into the newest; all finish with it. */
static void test_coalesce_folds_into_newest(void **state)
{
    dh_rt_t *rt = rt_new(&H_COALESCE, 1);
    dh_rt_ev_t *evs[16];
    int folded = 0;

    (void)state;
    dispatch_p0(rt);
    take_expect(rt, 16, "A3 B4 C5", evs);
    for (dh_rt_ev_t *f = evs[0]->folded; f; f = f->fnext) {
        folded++;
        assert_true(f->offset == 0 || f->offset == 1);
    }
    assert_int_equal(folded, 2);
    assert_non_null(evs[1]->folded);
    assert_int_equal(evs[1]->folded->offset, 2);
    assert_null(evs[1]->folded->fnext);
    assert_null(evs[2]->folded);
    dh_rt_finish(rt, evs[1]);
    dh_rt_finish(rt, evs[2]);
    assert_int_equal(dh_wm_advance(p0(rt)->wm), -1); /* A0 finishes only with A3 */
    dh_rt_finish(rt, evs[0]);
    assert_int_equal(dh_wm_advance(p0(rt)->wm), P0_N);
    rt_destroy(rt);
}

/* A key with queued events from two partitions is not folded: a revoke of one partition
 * would otherwise drop the other's events with the survivor. */
static void test_coalesce_not_across_partitions(void **state)
{
    dh_rt_t *rt = rt_new(&H_COALESCE, 1);
    dh_rt_ev_t *evs[16];

    (void)state;
    assert_int_equal(dh_rt_dispatch(rt, g_p0[0]), DH_OK); /* A, partition 0 */
    assert_int_equal(dh_rt_dispatch(rt, g_p1), DH_OK);    /* A, partition 1 */
    assert_int_equal(dh_rt_dispatch(rt, g_p0[1]), DH_OK); /* A, partition 0 */
    take_expect(rt, 16, "A0", evs);
    assert_null(evs[0]->folded);
    assert_int_equal(evs[0]->part->partition, 0);
    dh_rt_finish(rt, evs[0]);
    take_expect(rt, 16, "A0", evs); /* partition 1's */
    assert_int_equal(evs[0]->part->partition, 1);
    dh_rt_finish(rt, evs[0]);
    take_expect(rt, 16, "A1", evs);
    dh_rt_finish(rt, evs[0]);
    rt_destroy(rt);
}

/* A revoke drops the partition's queued events, never a running one. */
static void test_purge_keeps_running(void **state)
{
    dh_rt_t *rt = rt_new(&H_PLAIN, 1);
    dh_rt_ev_t *evs[16];

    (void)state;
    dispatch_p0(rt);
    assert_int_equal(dh_rt_dispatch(rt, g_p1), DH_OK);
    take_expect(rt, 1, "A0", evs);
    assert_int_equal(dh_rt_purge_part(rt, p0(rt)), P0_N - 1);
    assert_int_equal(rt->inflight, 2); /* A0 running, partition 1's A queued */
    dh_rt_finish(rt, evs[0]);
    take_expect(rt, 16, "A0", evs);
    assert_int_equal(evs[0]->part->partition, 1);
    dh_rt_finish(rt, evs[0]);
    rt_destroy(rt);
}

static void test_backoff_bounds_and_growth(void **state)
{
    dh_rt_opts_t o = {.retry_base_ms = 100, .retry_max_ms = 5000};
    unsigned int rng = 12345;

    (void)state;
    for (int attempts = 1; attempts <= 40; attempts++) {
        int64_t step = 100, lo = INT64_MAX, hi = 0;

        for (int i = 1; i < attempts && step < 5000; i++) {
            step *= 2;
        }
        step = step > 5000 ? 5000 : step;
        for (int i = 0; i < 2000; i++) {
            int64_t d = dh_rt_backoff_ms(&o, attempts, &rng);

            lo = d < lo ? d : lo;
            hi = d > hi ? d : hi;
        }
        /* Within [step/2, step]; the jitter really spreads over that range. */
        assert_true(lo >= step / 2);
        assert_true(hi <= step);
        assert_true(hi - lo >= step / 4);
    }
    /* Growth: doubles per attempt until the cap (the lower bound shows it). */
    assert_true(dh_rt_backoff_ms(&o, 1, &rng) <= 100);
    assert_true(dh_rt_backoff_ms(&o, 2, &rng) >= 100);
    assert_true(dh_rt_backoff_ms(&o, 4, &rng) >= 400);
    assert_true(dh_rt_backoff_ms(&o, 1000, &rng) >= 2500);
    assert_true(dh_rt_backoff_ms(&o, 1000, &rng) <= 5000);
    /* Tiny settings stay positive and bounded. */
    o.retry_base_ms = 1;
    o.retry_max_ms = 1;
    for (int i = 0; i < 100; i++) {
        int64_t d = dh_rt_backoff_ms(&o, i + 1, &rng);

        assert_true(d >= 0 && d <= 1);
    }
}

/* ---- store gates (gate.c) ---- */

static const dh_store_t STORE_X = {.domain = "x.myshopify.com"};
/* When a call that answered was sent: after the latest trouble report (the test does not wait
 * for the clock to pass it, as a real call would). */
#define AFTER_TROUBLE (dh_rt_now_ms() + 1)
static const dh_store_t STORE_Y = {.domain = "y.myshopify.com"};

/* What a lane's decode leaves on a taken event: its store. */
static void decoded_for(dh_rt_ev_t *ev, const dh_store_t *store)
{
    if (!ev->dev) {
        ev->dev = calloc(1, sizeof(*ev->dev));
        assert_non_null(ev->dev);
    }
    ev->dev->store = store;
    ev->decoded = 1;
}

static dh_rt_gate_t *gate_of(dh_rt_t *rt, const dh_store_t *store)
{
    return dh_rt_gate_of(rt, store);
}

/* A failing store's keys park with all their queued events; another store's keys flow; the
 * gate probes with one key after its backoff, and the store's first answer releases the rest.
 * No parked event is attempted, so none spends an attempt. */
static void test_gate_parks_store_probes_then_opens(void **state)
{
    dh_rt_t *rt = rt_new(&H_PLAIN, 1);
    dh_rt_ev_t *evs[16], *a0, *b2, *c5;
    int64_t due = -1;

    (void)state;
    dispatch_p0(rt);
    take_expect(rt, 16, "A0 B2 C5", evs);
    a0 = evs[0], b2 = evs[1], c5 = evs[2];
    decoded_for(a0, &STORE_X);
    decoded_for(b2, &STORE_X);
    decoded_for(c5, &STORE_Y);
    /* A0's call finds X answering 5xx: X's gate closes for at least the wait given. */
    dh_rt_gate_report(rt, &STORE_X, DH_GATE_UNAVAILABLE, 60000, dh_rt_now_ms());
    assert_int_equal(dh_rt_gate_verdict(rt, a0), DH_GATE_PARK);
    assert_int_equal(dh_rt_gate_verdict(rt, b2), DH_GATE_PARK);
    assert_int_not_equal(dh_rt_gate_verdict(rt, c5), DH_GATE_PARK);
    dh_rt_park(rt, a0);
    dh_rt_park(rt, b2);
    dh_rt_finish(rt, c5);
    assert_int_equal(rt->parked_events, 5); /* A0 A1 A3 and B2 B4, keys and all */
    assert_int_equal(gate_of(rt, &STORE_X)->keys, 2);
    assert_int_equal(dh_rt_busy(rt), 0);
    assert_int_equal(dh_rt_take(rt, evs, 16, &due), 0);
    assert_true(due > dh_rt_now_ms() + 50000); /* the lane sleeps until the probe is due */
    /* Another event of a parked key joins it without running. */
    assert_int_equal(dh_rt_dispatch(rt, g_p1), DH_OK); /* A at partition 1 */
    assert_int_equal(rt->parked_events, 6);
    /* Due: one key (the first parked) goes as the probe; the other stays. */
    gate_of(rt, &STORE_X)->until_ms = 0;
    take_expect(rt, 16, "A0", evs);
    assert_ptr_equal(evs[0], a0);
    assert_int_not_equal(dh_rt_gate_verdict(rt, a0), DH_GATE_PARK); /* the probe passes the gate */
    assert_int_equal(rt->parked_events, 2);
    /* The probe fails again: its key parks at the end, behind B. */
    dh_rt_gate_report(rt, &STORE_X, DH_GATE_UNAVAILABLE, 10, dh_rt_now_ms());
    assert_int_equal(dh_rt_gate_verdict(rt, a0), DH_GATE_PARK);
    dh_rt_park(rt, a0);
    assert_ptr_equal(gate_of(rt, &STORE_X)->head, b2->kq);
    gate_of(rt, &STORE_X)->until_ms = 0;
    take_expect(rt, 16, "B2", evs);
    /* X answers: the gate goes and the parked key A is ready again. */
    dh_rt_gate_report(rt, &STORE_X, DH_GATE_OPEN, 0, AFTER_TROUBLE);
    assert_null(rt->gates);
    assert_int_equal(rt->parked_events, 0);
    dh_rt_finish(rt, evs[0]);
    take_expect(rt, 16, "A0 B4", evs);
    assert_int_equal(a0->attempts, 0);
    dh_rt_finish(rt, evs[0]);
    dh_rt_finish(rt, evs[1]);
    for (int round = 0; round < 4; round++) {
        for (size_t n = dh_rt_take(rt, evs, 16, &due), i = 0; i < n; i++) {
            dh_rt_finish(rt, evs[i]);
        }
    }
    assert_int_equal(dh_wm_advance(p0(rt)->wm), P0_N);
    rt_destroy(rt);
}

/* A throttled store's gate opens whole when its wait is over: no probe, every key at once;
 * a revoke purges parked events and their count with them. */
static void test_gate_throttled_reopens_whole_and_purge_counts(void **state)
{
    dh_rt_t *rt = rt_new(&H_PLAIN, 1);
    dh_rt_ev_t *evs[16], *a0, *b2, *c5;
    int64_t due = -1;

    (void)state;
    dispatch_p0(rt);
    take_expect(rt, 16, "A0 B2 C5", evs);
    a0 = evs[0], b2 = evs[1], c5 = evs[2];
    decoded_for(a0, &STORE_X);
    decoded_for(b2, &STORE_X);
    decoded_for(c5, &STORE_X);
    dh_rt_gate_report(rt, &STORE_X, DH_GATE_THROTTLED, 60000, dh_rt_now_ms());
    dh_rt_park(rt, a0);
    dh_rt_park(rt, b2);
    dh_rt_park(rt, c5);
    assert_int_equal(rt->parked_events, P0_N);
    gate_of(rt, &STORE_X)->until_ms = 0;
    take_expect(rt, 16, "A0 B2 C5", evs); /* all of them, in the order they parked */
    assert_null(rt->gates);
    /* Closed again, then partition 0 is revoked: the queued events go, the count follows. */
    dh_rt_gate_report(rt, &STORE_X, DH_GATE_THROTTLED, 60000, dh_rt_now_ms());
    for (int i = 0; i < 3; i++) {
        dh_rt_park(rt, evs[i]);
    }
    assert_int_equal(dh_rt_take(rt, evs, 16, &due), 0);
    assert_int_equal(dh_rt_purge_part(rt, p0(rt)), P0_N);
    assert_int_equal(rt->parked_events, 0);
    assert_int_equal(rt->inflight, 0);
    dh_rt_gate_report(rt, &STORE_X, DH_GATE_OPEN, 0, AFTER_TROUBLE);
    assert_null(rt->gates);
    rt_destroy(rt);
}

/* Lanes' calls overlap: one meets THROTTLED while another, sent before it, comes back with an
 * answer. That answer predates the trouble and leaves the gate closed (it used to release
 * every parked key into the same throttle, and the gate flapped with every call in flight);
 * an answer to a call sent after the trouble opens it. */
static void test_gate_ignores_answers_sent_before_trouble(void **state)
{
    dh_rt_t *rt = rt_new(&H_PLAIN, 1);
    dh_rt_ev_t *evs[16];
    int64_t due = -1, sent = dh_rt_now_ms() - 5; /* C5's call, under way before the trouble */

    (void)state;
    dispatch_p0(rt);
    take_expect(rt, 16, "A0 B2 C5", evs);
    for (int i = 0; i < 3; i++) {
        decoded_for(evs[i], &STORE_X);
    }
    dh_rt_gate_report(rt, &STORE_X, DH_GATE_THROTTLED, 60000, dh_rt_now_ms());
    dh_rt_park(rt, evs[0]);
    dh_rt_park(rt, evs[1]);
    assert_int_equal(rt->parked_events, 5); /* A0 A1 A3 and B2 B4 */
    dh_rt_gate_report(rt, &STORE_X, DH_GATE_OPEN, 0, sent);
    assert_non_null(gate_of(rt, &STORE_X));
    assert_true(gate_of(rt, &STORE_X)->closed);
    assert_int_equal(rt->parked_events, 5);
    dh_rt_finish(rt, evs[2]);
    assert_int_equal(dh_rt_take(rt, evs, 16, &due), 0); /* still parked */
    dh_rt_gate_report(rt, &STORE_X, DH_GATE_OPEN, 0, AFTER_TROUBLE);
    assert_null(rt->gates);
    assert_int_equal(rt->parked_events, 0);
    for (int round = 0; round < 4; round++) {
        for (size_t n = dh_rt_take(rt, evs, 16, &due), i = 0; i < n; i++) {
            dh_rt_finish(rt, evs[i]);
        }
    }
    assert_int_equal(dh_wm_advance(p0(rt)->wm), P0_N);
    rt_destroy(rt);
}

/* A set-aside entry (park.c) reads back as the event it was made from; any cut or changed
 * framing is refused rather than read as another event. */
static void test_park_entry_round_trip(void **state)
{
    dh_rt_t *rt = rt_new(&H_PLAIN, 1);
    dh_rt_ev_t *evs[16];
    dh_rt_parked_t e;
    size_t len;
    char *enc;

    (void)state;
    assert_int_equal(dh_rt_dispatch(rt, g_p0[2]), DH_OK);
    take_expect(rt, 16, "B2", evs);
    evs[0]->hdrs = rd_kafka_headers_new(2);
    rd_kafka_header_add(evs[0]->hdrs, "dh-store", -1, "x.myshopify.com", -1);
    enc = dh_rt_park_encode(evs[0], &len);
    assert_non_null(enc);
    assert_int_equal(dh_rt_park_decode(enc, len, &e), 0);
    assert_int_equal(e.topic_len, strlen(TOPIC));
    assert_memory_equal(e.topic, TOPIC, e.topic_len);
    assert_int_equal(e.partition, 0);
    assert_int_equal(e.offset, 2);
    assert_int_equal(e.key_len, 1);
    assert_memory_equal(e.key, "B", 1);
    assert_int_equal(e.len, 2);
    assert_memory_equal(e.payload, "{}", 2);
    assert_int_equal(e.nhdrs, 1);
    for (size_t cut = 0; cut < len; cut++) {
        assert_int_equal(dh_rt_park_decode(enc, cut, &e), -1);
    }
    enc[0] = 'X';
    assert_int_equal(dh_rt_park_decode(enc, len, &e), -1);
    free(enc);
    dh_rt_finish(rt, evs[0]);
    rt_destroy(rt);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_key_order_and_parallel_keys),
        cmocka_unit_test(test_lane_share),
        cmocka_unit_test(test_delayed_key_parks_others_flow),
        cmocka_unit_test(test_delayed_list_sorted_by_due),
        cmocka_unit_test(test_detach_waits_for_ack),
        cmocka_unit_test(test_coalesce_folds_into_newest),
        cmocka_unit_test(test_coalesce_not_across_partitions),
        cmocka_unit_test(test_purge_keeps_running),
        cmocka_unit_test(test_backoff_bounds_and_growth),
        cmocka_unit_test(test_gate_parks_store_probes_then_opens),
        cmocka_unit_test(test_gate_throttled_reopens_whole_and_purge_counts),
        cmocka_unit_test(test_gate_ignores_answers_sent_before_trouble),
        cmocka_unit_test(test_park_entry_round_trip),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
