/*
 * The poll thread: owns the Kafka consumer. It fetches and dispatches messages to the
 * executor, stores each partition's contiguous done watermark, pauses partitions for
 * backpressure or while Redis is down (while still polling, so the group membership
 * stays alive), handles cooperative rebalances, and drains on shutdown. It never runs a
 * handler, so max.poll.interval.ms is never exceeded by slow work.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dockhand/log.h"
#include "runtime.h"

#define POLL_BATCH 1000
#define STALL_MS   1000 /* how long the poll loop may hold back before pausing */

static void store_offsets(dh_rt_t *rt, int only_revoked_list, rd_kafka_topic_partition_list_t *sel,
                          rd_kafka_topic_partition_list_t *out)
{
    for (dh_rt_part_t *p = rt->parts; p; p = p->next) {
        if (!p->assigned) {
            continue;
        }
        if (only_revoked_list && !rd_kafka_topic_partition_list_find(sel, p->topic, p->partition)) {
            continue;
        }
        int64_t c = dh_wm_advance(p->wm);

        if (c >= 0) {
            p->stored = c;
        }
        if (c >= 0 || (only_revoked_list && p->stored >= 0)) {
            rd_kafka_topic_partition_list_add(out, p->topic, p->partition)->offset = p->stored;
        }
    }
}

/* Store every partition's watermark that moved. Caller holds rt->mu. */
static void store_all(dh_rt_t *rt)
{
    rd_kafka_topic_partition_list_t *tpl = rd_kafka_topic_partition_list_new(8);

    store_offsets(rt, 0, NULL, tpl);
    if (tpl->cnt > 0) {
        rd_kafka_resp_err_t err = rd_kafka_offsets_store(rt->consumer, tpl);

        if (err && err != RD_KAFKA_RESP_ERR__STATE) {
            DH_LOG(DH_LOG_WARN, "consumer", "offsets_store: %s", rd_kafka_err2str(err));
        }
    }
    rd_kafka_topic_partition_list_destroy(tpl);
}

/* Wait, bounded, until no event of a revoked partition is running; dead-letter acks keep
 * being served meanwhile. Caller holds rt->mu. */
static void wait_parts_idle(dh_rt_t *rt, const rd_kafka_topic_partition_list_t *parts)
{
    int64_t deadline = dh_rt_now_ms() + rt->opts.revoke_timeout_ms;

    for (;;) {
        int running = 0;

        for (dh_rt_part_t *p = rt->parts; p; p = p->next) {
            if (p->assigned && rd_kafka_topic_partition_list_find(parts, p->topic, p->partition)) {
                running += p->running;
            }
        }
        if (running == 0 || rt->stopping) {
            return;
        }
        if (dh_rt_now_ms() >= deadline) {
            DH_LOG(DH_LOG_WARN, "consumer",
                   "revoke: %d event(s) still running after %lld ms; their partitions are "
                   "released without them (the new owner waits for their leases)",
                   running, (long long)rt->opts.revoke_timeout_ms);
            return;
        }
        pthread_mutex_unlock(&rt->mu);
        rd_kafka_poll(rt->dlq, 20);
        pthread_mutex_lock(&rt->mu);
    }
}

static void on_revoke(dh_rt_t *rt, rd_kafka_t *rk, rd_kafka_topic_partition_list_t *parts)
{
    int lost = rd_kafka_assignment_lost(rk);
    rd_kafka_topic_partition_list_t *tpl = rd_kafka_topic_partition_list_new(parts->cnt);
    size_t purged = 0;

    pthread_mutex_lock(&rt->mu);
    for (int i = 0; i < parts->cnt; i++) {
        dh_rt_part_t *p = dh_rt_part_find(rt, parts->elems[i].topic, parts->elems[i].partition);

        if (p) {
            purged += dh_rt_purge_part(rt, p);
        }
    }
    if (!lost) {
        wait_parts_idle(rt, parts);
        store_offsets(rt, 1, parts, tpl);
    }
    for (int i = 0; i < parts->cnt; i++) {
        dh_rt_part_t *p = dh_rt_part_find(rt, parts->elems[i].topic, parts->elems[i].partition);

        if (p) {
            p->assigned = 0;
            dh_rt_part_unref(rt, p);
        }
    }
    pthread_mutex_unlock(&rt->mu);
    if (tpl->cnt > 0) {
        /* Commit now: the next owner starts from here. */
        rd_kafka_resp_err_t err = rd_kafka_offsets_store(rk, tpl);

        if (!err) {
            err = rd_kafka_commit(rk, tpl, 0);
        }
        if (err && err != RD_KAFKA_RESP_ERR__NO_OFFSET) {
            DH_LOG(DH_LOG_WARN, "consumer", "commit on revoke: %s", rd_kafka_err2str(err));
        }
    }
    DH_LOG(DH_LOG_INFO, "consumer",
           "revoked %d partition(s)%s, %zu queued event(s) left for "
           "the next owner",
           parts->cnt, lost ? " (lost: nothing committed)" : "", purged);
    rd_kafka_topic_partition_list_destroy(tpl);
}

static void on_assign(dh_rt_t *rt, rd_kafka_topic_partition_list_t *parts)
{
    pthread_mutex_lock(&rt->mu);
    for (int i = 0; i < parts->cnt; i++) {
        if (!dh_rt_part_add(rt, parts->elems[i].topic, parts->elems[i].partition)) {
            DH_LOG(DH_LOG_ERROR, "consumer", "out of memory tracking a partition");
            rt->fatal = 1;
        }
    }
    pthread_mutex_unlock(&rt->mu);
    DH_LOG(DH_LOG_INFO, "consumer", "assigned %d partition(s)", parts->cnt);
}

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    dh_rt_t *rt = opaque;
    int coop = !strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE");
    rd_kafka_error_t *error = NULL;
    rd_kafka_resp_err_t ret = RD_KAFKA_RESP_ERR_NO_ERROR;

    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        on_assign(rt, parts);
        if (coop) {
            error = rd_kafka_incremental_assign(rk, parts);
        } else {
            ret = rd_kafka_assign(rk, parts);
        }
    } else if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
        on_revoke(rt, rk, parts);
        if (coop) {
            error = rd_kafka_incremental_unassign(rk, parts);
        } else {
            ret = rd_kafka_assign(rk, NULL);
        }
    } else {
        DH_LOG(DH_LOG_ERROR, "consumer", "rebalance error: %s", rd_kafka_err2str(err));
        ret = rd_kafka_assign(rk, NULL);
    }
    if (error) {
        DH_LOG(DH_LOG_ERROR, "consumer", "incremental (un)assign: %s",
               rd_kafka_error_string(error));
        rd_kafka_error_destroy(error);
    } else if (ret) {
        DH_LOG(DH_LOG_ERROR, "consumer", "assign: %s", rd_kafka_err2str(ret));
    }
}

static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    dh_rt_t *rt = opaque;

    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        char buf[512];

        rd_kafka_fatal_error(rk, buf, sizeof(buf));
        DH_LOG(DH_LOG_ERROR, "consumer", "fatal Kafka error: %s", buf);
        rt->fatal = 1; /* only the poll thread reads it */
        return;
    }
    DH_LOG(DH_LOG_WARN, "consumer", "kafka: %s: %s", rd_kafka_err2name(err), reason);
}

/* Consumer lag from librdkafka statistics, summed over our partitions. */
static int stats_cb(rd_kafka_t *rk, char *json, size_t len, void *opaque)
{
    dh_rt_t *rt = opaque;
    json_t *root = json_loadb(json, len, 0, NULL);
    json_t *topics = json_object_get(root, "topics");
    const char *tname, *pname;
    json_t *t, *pv;
    long long lag = 0;

    (void)rk;
    json_object_foreach(topics, tname, t)
    {
        json_object_foreach(json_object_get(t, "partitions"), pname, pv)
        {
            json_int_t l = json_integer_value(json_object_get(pv, "consumer_lag"));

            if (strcmp(pname, "-1") && l > 0) {
                lag += l;
            }
        }
    }
    dh_gauge_set(rt->m.lag, (double)lag);
    json_decref(root);
    return 0; /* we did not keep json: librdkafka frees it */
}

static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk;
    DH_LOG(level <= 3   ? DH_LOG_ERROR
           : level <= 4 ? DH_LOG_WARN
                        : DH_LOG_DEBUG,
           "librdkafka", "%s: %s", fac, buf);
}

struct conf_ctx {
    rd_kafka_conf_t *conf;
    char *errstr;
    size_t errstr_size;
};

static int conf_pass(const char *prop, const char *value, void *ud)
{
    struct conf_ctx *c = ud;

    return rd_kafka_conf_set(c->conf, prop, value, c->errstr, c->errstr_size) != RD_KAFKA_CONF_OK;
}

static dh_err_t consumer_conf(dh_rt_t *rt, rd_kafka_conf_t *conf, char *errstr, size_t errstr_size)
{
    char group[256];
    const char *g = dh_config_get(rt->cfg, "DH_GROUP_ID");
    struct conf_ctx cc = {conf, errstr, errstr_size};

    snprintf(group, sizeof(group), "%s", g && *g ? g : "");
    if (!group[0]) {
        snprintf(group, sizeof(group), "dockhand-%s", rt->handler->name);
    }
    /* Our defaults first; KAFKA_* variables may override any of them. */
    const char *props[][2] = {
        {"bootstrap.servers", dh_config_get(rt->cfg, "DH_KAFKA_BROKERS")},
        {"group.id", group},
        {"client.id", group},
        {"enable.auto.offset.store", "false"},
        {"enable.auto.commit", "true"},
        {"auto.commit.interval.ms", "1000"},
        {"partition.assignment.strategy", "cooperative-sticky"},
        {"auto.offset.reset", "earliest"},
        {"statistics.interval.ms", "5000"},
        {"queued.max.messages.kbytes", "8192"},
        {"fetch.wait.max.ms", "100"},
    };
    for (size_t i = 0; i < sizeof(props) / sizeof(props[0]); i++) {
        if (rd_kafka_conf_set(conf, props[i][0], props[i][1], errstr, errstr_size)) {
            return DH_ERR_CONFIG;
        }
    }
    if (dh_config_kafka_each(rt->cfg, conf_pass, &cc)) {
        return DH_ERR_CONFIG;
    }
    /* Offsets are stored by us only after the effect is done; nothing may undo that. */
    if (rd_kafka_conf_set(conf, "enable.auto.offset.store", "false", errstr, errstr_size)) {
        return DH_ERR_CONFIG;
    }
    return DH_OK;
}

dh_err_t dh_rt_consumer_new(dh_rt_t *rt, const char *const *topics, char *errstr,
                            size_t errstr_size)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_topic_partition_list_t *subs = NULL;
    rd_kafka_resp_err_t kerr;
    dh_err_t err = consumer_conf(rt, conf, errstr, errstr_size);

    if (err) {
        goto out;
    }
    rd_kafka_conf_set_opaque(conf, rt);
    rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
    rd_kafka_conf_set_error_cb(conf, error_cb);
    rd_kafka_conf_set_stats_cb(conf, stats_cb);
    rd_kafka_conf_set_log_cb(conf, log_cb);
    rt->consumer = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, errstr_size);
    if (!rt->consumer) {
        err = DH_ERR_CONFIG;
        goto out;
    }
    conf = NULL; /* owned by rt->consumer */
    rd_kafka_poll_set_consumer(rt->consumer);
    subs = rd_kafka_topic_partition_list_new(4);
    for (size_t i = 0; topics[i]; i++) {
        rd_kafka_topic_partition_list_add(subs, topics[i], RD_KAFKA_PARTITION_UA);
    }
    kerr = rd_kafka_subscribe(rt->consumer, subs);
    if (kerr) {
        snprintf(errstr, errstr_size, "subscribe: %s", rd_kafka_err2str(kerr));
        err = DH_ERR_CONFIG;
    }
out:
    if (conf) {
        rd_kafka_conf_destroy(conf);
    }
    if (subs) {
        rd_kafka_topic_partition_list_destroy(subs);
    }
    return err;
}

/* Pause partitions over their in-flight cap once the poll loop has held back for a while
 * (stalled), or all of them while Redis is down or while draining; resume below half the
 * cap. A short burst over the cap is absorbed by not polling instead: pausing drops
 * librdkafka's prefetched messages and costs a refetch, which starves fast lanes.
 * Caller holds rt->mu. */
static void flow_control(dh_rt_t *rt, int draining, int stalled)
{
    rd_kafka_topic_partition_list_t *pause = rd_kafka_topic_partition_list_new(4);
    rd_kafka_topic_partition_list_t *resume = rd_kafka_topic_partition_list_new(4);
    int redis_down = atomic_load(&rt->redis_down);
    size_t cap = (size_t)rt->opts.max_inflight_per_partition;
    int assigned = 0;

    for (dh_rt_part_t *p = rt->parts; p; p = p->next) {
        if (!p->assigned) {
            continue;
        }
        assigned++;
        size_t pending = dh_wm_pending(p->wm);

        if (!p->paused && (draining || redis_down || (stalled && pending >= cap))) {
            rd_kafka_topic_partition_list_add(pause, p->topic, p->partition);
            p->paused = 1;
        } else if (p->paused && !draining && !redis_down && pending <= cap / 2) {
            rd_kafka_topic_partition_list_add(resume, p->topic, p->partition);
            p->paused = 0;
        }
    }
    if (pause->cnt) {
        rd_kafka_pause_partitions(rt->consumer, pause);
    }
    if (resume->cnt) {
        rd_kafka_resume_partitions(rt->consumer, resume);
    }
    rd_kafka_topic_partition_list_destroy(pause);
    rd_kafka_topic_partition_list_destroy(resume);
    dh_gauge_set(rt->m.inflight, (double)rt->inflight);
    dh_gauge_set(rt->m.assigned, assigned);
    atomic_store(&rt->ready_flag, assigned > 0 && !redis_down);
}

/* Some assigned, unpaused partition has reached its in-flight cap. */
static int over_cap(dh_rt_t *rt)
{
    size_t cap = (size_t)rt->opts.max_inflight_per_partition;
    int over = 0;

    pthread_mutex_lock(&rt->mu);
    for (dh_rt_part_t *p = rt->parts; p && !over; p = p->next) {
        over = p->assigned && !p->paused && dh_wm_pending(p->wm) >= cap;
    }
    pthread_mutex_unlock(&rt->mu);
    return over;
}

/* Sleep until a lane finishes something (or 5 ms), storing the offsets that moved. */
static void wait_progress(dh_rt_t *rt)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += 5 * 1000000;
    ts.tv_sec += ts.tv_nsec / 1000000000;
    ts.tv_nsec %= 1000000000;
    pthread_mutex_lock(&rt->mu);
    pthread_cond_timedwait(&rt->idle_cv, &rt->mu, &ts);
    store_all(rt);
    flow_control(rt, 0, 0);
    pthread_mutex_unlock(&rt->mu);
}

static void handle_consumer_error(const rd_kafka_message_t *rkm)
{
    if (rkm->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        return;
    }
    /* Consumer errors are informational: librdkafka recovers by itself. */
    DH_LOG(DH_LOG_WARN, "consumer", "consume: %s", rd_kafka_message_errstr(rkm));
}

/* Block up to 100 ms for one message, then take what is already fetched without waiting. */
static int poll_batch(dh_rt_t *rt, rd_kafka_message_t **msgs)
{
    int n = 0;
    rd_kafka_message_t *rkm = rd_kafka_consumer_poll(rt->consumer, 100);

    while (rkm) {
        msgs[n++] = rkm;
        if (n == POLL_BATCH) {
            break;
        }
        rkm = rd_kafka_consumer_poll(rt->consumer, 0);
    }
    return n;
}

static void dispatch_batch(dh_rt_t *rt, rd_kafka_message_t **msgs, int n, int draining, int stalled)
{
    pthread_mutex_lock(&rt->mu);
    for (int i = 0; i < n; i++) {
        if (msgs[i]->err) {
            handle_consumer_error(msgs[i]);
            rd_kafka_message_destroy(msgs[i]);
        } else if (draining) {
            /* Not dispatched, so never stored: it is read again after the restart. */
            rd_kafka_message_destroy(msgs[i]);
        } else {
            dh_err_t err = dh_rt_dispatch(rt, msgs[i]);

            if (err == DH_ERR_STATE) {
                rd_kafka_message_destroy(msgs[i]); /* its partition was just revoked */
            } else if (err) {
                /* Skipping it would let the watermark pass it later: stop instead. */
                DH_LOG(DH_LOG_ERROR, "consumer", "cannot queue event: %s", dh_err_str(err));
                rd_kafka_message_destroy(msgs[i]);
                rt->fatal = 1;
                draining = 1;
            }
        }
    }
    store_all(rt);
    flow_control(rt, draining, stalled);
    pthread_mutex_unlock(&rt->mu);
}

/* Stop taking work, let the lanes finish what was fetched (bounded), then stop them. */
static void drain(dh_rt_t *rt, rd_kafka_message_t **msgs)
{
    int64_t deadline = dh_rt_now_ms() + rt->opts.drain_timeout_ms;
    size_t busy = 0;

    DH_LOG(DH_LOG_INFO, "consumer", "draining: %zu event(s) in flight, up to %lld ms", rt->inflight,
           (long long)rt->opts.drain_timeout_ms);
    while (dh_rt_now_ms() < deadline) {
        int n = poll_batch(rt, msgs); /* keeps the membership alive; paused, so ~nothing */

        dispatch_batch(rt, msgs, n, 1, 0);
        rd_kafka_poll(rt->dlq, 0);
        pthread_mutex_lock(&rt->mu);
        busy = dh_rt_busy(rt);
        pthread_mutex_unlock(&rt->mu);
        if (busy == 0 || rt->fatal) {
            break;
        }
    }
    dh_rt_lanes_stop(rt);
    dh_rt_dlq_destroy(rt, 10000);
    pthread_mutex_lock(&rt->mu);
    store_all(rt);
    DH_LOG(DH_LOG_INFO, "consumer",
           "drained: %zu event(s) left unfinished (not committed, "
           "read again on restart)",
           rt->inflight);
    for (dh_rt_part_t *p = rt->parts; p; p = p->next) {
        dh_rt_purge_part(rt, p);
    }
    pthread_mutex_unlock(&rt->mu);
}

int dh_rt_consumer_run(dh_rt_t *rt, volatile sig_atomic_t *run)
{
    rd_kafka_message_t **msgs = calloc(POLL_BATCH, sizeof(*msgs));
    rd_kafka_resp_err_t err;

    if (!msgs) {
        return 1;
    }
    int64_t held_since = 0;

    while (*run && !rt->fatal) {
        int64_t now = dh_rt_now_ms();
        int stalled = 0;

        atomic_store(&rt->last_loop_ms, now);
        if (over_cap(rt)) {
            /* Hold back (librdkafka's prefetch queue is bounded, so fetching stops too),
             * for at most STALL_MS; then pause the full partitions and keep polling, so
             * rebalances and the group membership are served during a long stall. */
            held_since = held_since ? held_since : now;
            if (now - held_since < STALL_MS) {
                wait_progress(rt);
                rd_kafka_poll(rt->dlq, 0);
                continue;
            }
            stalled = 1;
        } else {
            held_since = 0;
        }
        int n = poll_batch(rt, msgs);

        dispatch_batch(rt, msgs, n, 0, stalled);
        rd_kafka_poll(rt->dlq, 0);
    }
    drain(rt, msgs);
    free(msgs);
    err = rd_kafka_consumer_close(rt->consumer); /* final commit of stored offsets */
    if (err) {
        DH_LOG(DH_LOG_WARN, "consumer", "close: %s", rd_kafka_err2str(err));
    }
    rd_kafka_destroy(rt->consumer);
    rt->consumer = NULL;
    return rt->fatal ? 1 : 0;
}
