/*
 * The poll thread: owns the Kafka consumer. It fetches and dispatches messages to the
 * executor, stores each partition's contiguous done watermark, pauses partitions for
 * backpressure or while Redis is down (while still polling, so the group membership
 * stays alive), handles cooperative rebalances, and drains on shutdown. It never runs a
 * handler, so max.poll.interval.ms is never exceeded by slow work.
 */
#include <jansson.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dockhand/log.h"
#include "runtime.h"

#define POLL_BATCH 1000
#define STALL_MS   1000  /* how long the poll loop may hold back before pausing */
#define TRIM_MS    10000 /* how often freed heap is given back to the system */

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
        dh_rt_dlq_poll(rt, 20);
        pthread_mutex_lock(&rt->mu);
    }
}

static void on_revoke(dh_rt_t *rt, rd_kafka_t *rk, rd_kafka_topic_partition_list_t *parts)
{
    int lost = rd_kafka_assignment_lost(rk);
    rd_kafka_topic_partition_list_t *tpl = rd_kafka_topic_partition_list_new(parts->cnt);
    size_t purged = 0;
    int paused = 0;

    pthread_mutex_lock(&rt->mu);
    for (int i = 0; i < parts->cnt; i++) {
        dh_rt_part_t *p = dh_rt_part_find(rt, parts->elems[i].topic, parts->elems[i].partition);

        if (p) {
            atomic_store(&p->revoking, 1);
            purged += dh_rt_purge_part(rt, p);
            paused += p->paused;
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
           "revoked %d partition(s)%s (%d of them paused), %zu queued event(s) left for "
           "the next owner",
           parts->cnt, lost ? " (lost: nothing committed)" : "", paused, purged);
    rd_kafka_topic_partition_list_destroy(tpl);
}

static void on_assign(dh_rt_t *rt, rd_kafka_topic_partition_list_t *parts)
{
    pthread_mutex_lock(&rt->mu);
    /* The previous owner may have set events aside: ask Redis until lane 0 has looked. */
    atomic_store(&rt->park_check, 1);
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
        /* librdkafka keeps a partition's pause across revoke and re-assignment (only its
         * own pause is reset), while the new dh_rt_part_t starts unpaused: a partition we
         * paused, lost and got back would never be fetched again. Start it fetching. */
        if (!error && !ret) {
            rd_kafka_resume_partitions(rk, parts);
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

/* The lag series of one partition, made on first sight (a partition is known only once
 * librdkafka reports it; the registry returns the same series afterwards). */
static dh_gauge_t *partition_lag(dh_rt_t *rt, const char *topic, const char *partition)
{
    char lbl[600], esc[400];

    dh_metrics_escape(topic, esc, sizeof(esc));
    snprintf(lbl, sizeof(lbl), "worker=\"%s\",topic=\"%s\",partition=\"%s\"", rt->handler->name,
             esc, partition);
    return dh_metrics_gauge(rt->metrics, "dh_consumer_partition_lag",
                            "Consumer lag of one partition (librdkafka stats; 0 when not "
                            "assigned here).",
                            lbl);
}

/* Consumer lag from librdkafka statistics, summed over our partitions, and per partition. */
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
            if (strcmp(pname, "-1")) { /* -1 (not ours, or not known yet) reads as 0 */
                dh_gauge_set(partition_lag(rt, tname, pname), l > 0 ? (double)l : 0.0);
            }
        }
    }
    dh_gauge_set(rt->m.lag, (double)lag);
    json_decref(root);
    return 0; /* we did not keep json: librdkafka frees it */
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
    char group[256], min_msgs[24];
    const char *g = dh_config_get(rt->cfg, "DH_GROUP_ID");
    struct conf_ctx cc = {conf, errstr, errstr_size};

    snprintf(group, sizeof(group), "%s", g && *g ? g : "");
    if (!group[0]) {
        snprintf(group, sizeof(group), "dockhand-%s", rt->handler->name);
    }
    snprintf(min_msgs, sizeof(min_msgs), "%d", rt->opts.max_inflight_per_partition);
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
        /* Small fetches and a small queue: memory stays low and pausing wastes little.
         * A fetch returns at least one whole record batch, whatever the limits. No more
         * messages per partition are prefetched than the runtime takes in flight: more
         * only sat in librdkafka's queue (about 350 bytes of overhead each), and was most
         * of a replica's peak while it read a backlog (bench/fairness/burst-memory.sh). */
        {"queued.min.messages", min_msgs},
        {"queued.max.messages.kbytes", "8192"},
        {"max.partition.fetch.bytes", "262144"},
        {"fetch.max.bytes", "1048576"},
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
    rd_kafka_conf_set_log_cb(conf, dh_log_rdkafka);
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

/* Backpressure. Each partition may hold DH_MAX_INFLIGHT_PER_PARTITION unfinished events
 * and its equal share of DH_MAX_INFLIGHT_BYTES (events are copied out of librdkafka at
 * dispatch, so that is what they cost). Over either bound the poll loop first holds back:
 * librdkafka's queue fills to its own small bound and fetching stops, keeping what was
 * fetched. After STALL_MS the partitions still over a bound are paused (so a slow
 * partition stops only itself and the loop keeps polling for rebalances), and resumed at
 * half of both bounds. Everything is paused while Redis is down or while draining.
 * Caller holds rt->mu. */
static size_t byte_share(const dh_rt_t *rt)
{
    int assigned = 0;

    for (const dh_rt_part_t *p = rt->parts; p; p = p->next) {
        assigned += p->assigned;
    }
    return (size_t)rt->opts.max_inflight_bytes / (size_t)(assigned > 0 ? assigned : 1);
}

static int part_over(const dh_rt_t *rt, const dh_rt_part_t *p, size_t share)
{
    return dh_wm_pending(p->wm) >= (size_t)rt->opts.max_inflight_per_partition || p->bytes >= share;
}

static void flow_control(dh_rt_t *rt, int draining, int stalled)
{
    rd_kafka_topic_partition_list_t *pause = rd_kafka_topic_partition_list_new(4);
    rd_kafka_topic_partition_list_t *resume = rd_kafka_topic_partition_list_new(4);
    int redis_down = atomic_load(&rt->redis_down);
    size_t cap = (size_t)rt->opts.max_inflight_per_partition;
    size_t share = byte_share(rt);
    int assigned = 0, paused = 0;

    for (dh_rt_part_t *p = rt->parts; p; p = p->next) {
        if (!p->assigned) {
            continue;
        }
        assigned++;
        int stop = draining || redis_down;

        if (!p->paused && (stop || (stalled && part_over(rt, p, share)))) {
            rd_kafka_topic_partition_list_add(pause, p->topic, p->partition);
            p->paused = 1;
        } else if (p->paused && !stop && dh_wm_pending(p->wm) <= cap / 2 && p->bytes <= share / 2) {
            rd_kafka_topic_partition_list_add(resume, p->topic, p->partition);
            p->paused = 0;
        }
        paused += p->paused;
    }
    if (pause->cnt) {
        rd_kafka_pause_partitions(rt->consumer, pause);
    }
    if (resume->cnt) {
        rd_kafka_resume_partitions(rt->consumer, resume);
        rt->resumed = 1;
    }
    rd_kafka_topic_partition_list_destroy(pause);
    rd_kafka_topic_partition_list_destroy(resume);
    dh_gauge_set(rt->m.inflight, (double)rt->inflight);
    dh_gauge_set(rt->m.inflight_bytes, (double)rt->inflight_bytes);
    dh_gauge_set(rt->m.assigned, assigned);
    dh_gauge_set(rt->m.paused, paused);
    atomic_store(&rt->ready_flag, assigned > 0 && !redis_down);
}

/* Some assigned, unpaused partition is over a bound. *room: the bytes of events that may
 * still be fetched before the total bound. */
static int over_cap(dh_rt_t *rt, size_t *room)
{
    int over = 0;

    pthread_mutex_lock(&rt->mu);
    size_t share = byte_share(rt), max = (size_t)rt->opts.max_inflight_bytes;
    *room = rt->inflight_bytes < max ? max - rt->inflight_bytes : 0;
    for (dh_rt_part_t *p = rt->parts; p && !over; p = p->next) {
        over = p->assigned && !p->paused && part_over(rt, p, share);
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

/* Block up to 100 ms for one message, then take what is already fetched without waiting,
 * until the batch would pass \p room bytes of events. *bytes: the key and payload bytes;
 * *emptied: librdkafka's queue ran dry (rather than the batch filling up). */
static int poll_batch(dh_rt_t *rt, rd_kafka_message_t **msgs, size_t room, size_t *bytes,
                      int *emptied)
{
    int n = 0;
    size_t cost = 0;
    rd_kafka_message_t *rkm = rd_kafka_consumer_poll(rt->consumer, 100);

    *bytes = 0;
    while (rkm) {
        msgs[n++] = rkm;
        *bytes += rkm->len + rkm->key_len;
        cost += dh_rt_ev_bytes(rkm);
        if (n == POLL_BATCH || cost >= room) {
            break;
        }
        rkm = rd_kafka_consumer_poll(rt->consumer, 0);
    }
    *emptied = !rkm;
    return n;
}

/* Queue copies of the messages and give the messages back to librdkafka. */
static void dispatch_batch(dh_rt_t *rt, rd_kafka_message_t **msgs, int n, int draining, int stalled)
{
    pthread_mutex_lock(&rt->mu);
    for (int i = 0; i < n; i++) {
        if (msgs[i]->err) {
            handle_consumer_error(msgs[i]);
        } else if (!draining) {
            /* Draining: not dispatched, so never stored; it is read again after the restart. */
            dh_err_t err = dh_rt_dispatch(rt, msgs[i]);

            if (err && err != DH_ERR_STATE) { /* STATE: its partition was just revoked */
                /* Skipping it would let the watermark pass it later: stop instead. */
                DH_LOG(DH_LOG_ERROR, "consumer", "cannot queue event: %s", dh_err_str(err));
                rt->fatal = 1;
                draining = 1;
            }
        }
        rd_kafka_message_destroy(msgs[i]);
    }
    store_all(rt);
    flow_control(rt, draining, stalled);
    pthread_mutex_unlock(&rt->mu);
}

/*
 * The fetch nudge. librdkafka 2.0 (Debian 12's) stops fetching while its queue is over
 * queued.min.messages or queued.max.messages.kbytes, and looks again only when its broker
 * thread wakes up: for a fetch response, a request to send, or once a second. So once the
 * poll loop has drained a full queue, every partition may sit out the rest of that second
 * while the lanes run dry (fetch.queue.backoff.ms, the fix, arrived in librdkafka 2.2).
 * A ListOffsets request for the unpaused partitions wakes their leaders' broker threads
 * at once. The call blocks for a round trip, so a helper thread makes it.
 */
typedef struct nudger {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    rd_kafka_t *rk;
    rd_kafka_topic_partition_list_t *todo; /* handed over by the poll thread */
    int busy;                              /* todo taken, request under way */
    int stop;
} nudger_t;

static void *nudger_main(void *arg)
{
    nudger_t *nd = arg;

    pthread_mutex_lock(&nd->mu);
    while (!nd->stop) {
        rd_kafka_topic_partition_list_t *list = nd->todo;

        if (!list) {
            pthread_cond_wait(&nd->cv, &nd->mu);
            continue;
        }
        nd->todo = NULL;
        nd->busy = 1;
        pthread_mutex_unlock(&nd->mu);
        /* Only the wake-up matters, not the offsets (or an error) it returns. */
        rd_kafka_offsets_for_times(nd->rk, list, 1000);
        rd_kafka_topic_partition_list_destroy(list);
        pthread_mutex_lock(&nd->mu);
        nd->busy = 0;
    }
    pthread_mutex_unlock(&nd->mu);
    return NULL;
}

static int nudger_start(nudger_t *nd, rd_kafka_t *rk)
{
    memset(nd, 0, sizeof(*nd));
    nd->rk = rk;
    pthread_mutex_init(&nd->mu, NULL);
    pthread_cond_init(&nd->cv, NULL);
    if (pthread_create(&nd->thread, NULL, nudger_main, nd)) {
        pthread_cond_destroy(&nd->cv);
        pthread_mutex_destroy(&nd->mu);
        return -1;
    }
    return 0;
}

static void nudger_stop(nudger_t *nd)
{
    pthread_mutex_lock(&nd->mu);
    nd->stop = 1;
    pthread_cond_signal(&nd->cv);
    pthread_mutex_unlock(&nd->mu);
    pthread_join(nd->thread, NULL);
    if (nd->todo) {
        rd_kafka_topic_partition_list_destroy(nd->todo);
    }
    pthread_cond_destroy(&nd->cv);
    pthread_mutex_destroy(&nd->mu);
}

/* Hand the unpaused partitions to the nudger, unless a nudge is already under way. */
static void nudge(dh_rt_t *rt, nudger_t *nd)
{
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(8);

    pthread_mutex_lock(&rt->mu);
    for (dh_rt_part_t *p = rt->parts; p; p = p->next) {
        if (p->assigned && !p->paused) {
            /* offsets_for_times reads .offset as a timestamp: -1 asks for the end. */
            rd_kafka_topic_partition_list_add(list, p->topic, p->partition)->offset =
                RD_KAFKA_OFFSET_END;
        }
    }
    pthread_mutex_unlock(&rt->mu);
    pthread_mutex_lock(&nd->mu);
    if (list->cnt > 0 && !nd->todo && !nd->busy) {
        nd->todo = list;
        list = NULL;
        pthread_cond_signal(&nd->cv);
        dh_counter_add(rt->m.nudges, 1);
    }
    pthread_mutex_unlock(&nd->mu);
    if (list) {
        rd_kafka_topic_partition_list_destroy(list);
    }
}

/* What librdkafka's queue holds when it stops fetching (see the nudge), from the
 * consumer's configuration; 90% of it counts as full. */
static void fetch_limits(dh_rt_t *rt, size_t *full_msgs, size_t *full_bytes)
{
    const rd_kafka_conf_t *conf = rd_kafka_conf(rt->consumer);
    char buf[32];
    size_t size = sizeof(buf);

    *full_msgs = 100000;
    *full_bytes = 65536 * 1024;
    if (rd_kafka_conf_get(conf, "queued.min.messages", buf, &size) == RD_KAFKA_CONF_OK) {
        *full_msgs = (size_t)strtoull(buf, NULL, 10);
    }
    size = sizeof(buf);
    if (rd_kafka_conf_get(conf, "queued.max.messages.kbytes", buf, &size) == RD_KAFKA_CONF_OK) {
        *full_bytes = (size_t)strtoull(buf, NULL, 10) * 1024;
    }
    *full_msgs = *full_msgs / 10 * 9;
    *full_bytes = *full_bytes / 10 * 9;
}

/* Stop taking work, let the lanes finish what was fetched (bounded), then stop them. */
static void drain(dh_rt_t *rt, rd_kafka_message_t **msgs)
{
    int64_t deadline = dh_rt_now_ms() + rt->opts.drain_timeout_ms;
    size_t busy = 0;

    DH_LOG(DH_LOG_INFO, "consumer", "draining: %zu event(s) in flight, up to %lld ms", rt->inflight,
           (long long)rt->opts.drain_timeout_ms);
    while (dh_rt_now_ms() < deadline) {
        size_t bytes;
        int emptied; /* unused: nothing is dispatched */
        /* Keeps the group membership alive; everything is paused, so ~nothing comes. */
        int n = poll_batch(rt, msgs, SIZE_MAX, &bytes, &emptied);

        dispatch_batch(rt, msgs, n, 1, 0);
        dh_rt_dlq_poll(rt, 0);
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
    rd_kafka_queue_t *cq = rd_kafka_queue_get_consumer(rt->consumer);
    rd_kafka_resp_err_t err;
    nudger_t nd;
    size_t full_msgs, full_bytes;
    int64_t held_since = 0, next_trim_ms = 0;
    int maybe_stopped = 0; /* librdkafka's queue was full: its fetcher may be waiting */
    size_t run_bytes = 0;  /* polled since the queue last ran dry */

    if (!msgs || !cq || nudger_start(&nd, rt->consumer)) {
        DH_LOG(DH_LOG_ERROR, "consumer", "out of memory or threads");
        free(msgs);
        if (cq) {
            rd_kafka_queue_destroy(cq);
        }
        return 1;
    }
    fetch_limits(rt, &full_msgs, &full_bytes);
    while (*run && !rt->fatal) {
        int64_t now = dh_rt_now_ms();
        int stalled = 0;

        atomic_store(&rt->last_loop_ms, now);
        size_t room;

        if (over_cap(rt, &room)) {
            /* Hold back for at most STALL_MS (librdkafka's queue is bounded, so fetching
             * stops too); then pause the partitions over a bound and keep polling, so
             * rebalances and the group membership are served during a long stall. */
            held_since = held_since ? held_since : now;
            if (now - held_since < STALL_MS) {
                wait_progress(rt);
                dh_rt_dlq_poll(rt, 0);
                continue;
            }
            stalled = 1;
        } else {
            held_since = 0;
        }
        size_t queued = rd_kafka_queue_length(cq), bytes;
        int emptied;
        int n = poll_batch(rt, msgs, room, &bytes, &emptied);

        /* The count is exact; the bytes are an upper bound (some of what was polled
         * arrived while polling): a needless nudge costs one small request. */
        run_bytes += bytes;
        if (queued >= full_msgs || run_bytes >= full_bytes) {
            maybe_stopped = 1;
        }
        run_bytes = emptied ? 0 : run_bytes;
        dispatch_batch(rt, msgs, n, 0, stalled);
        dh_rt_dlq_poll(rt, 0);
        if (now >= next_trim_ms) {
            /* Give back what a burst left free: glibc keeps freed heap mapped, so a backlog
             * would set the replica's RSS for good. Cheap when there is little to give. */
            next_trim_ms = now + TRIM_MS;
            malloc_trim(0);
        }
        /* Wake the fetcher once the queue is empty or down to a quarter of its bound
         * (what is left covers the round trip), and whenever partitions were resumed:
         * a resume does not wake it either. */
        if ((maybe_stopped && (emptied || rd_kafka_queue_length(cq) < full_msgs / 4)) ||
            rt->resumed) {
            nudge(rt, &nd);
            maybe_stopped = 0;
            rt->resumed = 0;
            run_bytes = 0; /* at most one nudge per queue-full of bytes */
        }
    }
    drain(rt, msgs);
    free(msgs);
    nudger_stop(&nd);
    rd_kafka_queue_destroy(cq);
    err = rd_kafka_consumer_close(rt->consumer); /* final commit of stored offsets */
    if (err) {
        DH_LOG(DH_LOG_WARN, "consumer", "close: %s", rd_kafka_err2str(err));
    }
    rd_kafka_destroy(rt->consumer);
    rt->consumer = NULL;
    return rt->fatal ? 1 : 0;
}
