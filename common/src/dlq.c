/*
 * Dead-letter producer. A permanently failed event is written to <topic>.dlq with its
 * original key, value and headers plus dh-* headers saying where it came from and why.
 * The idempotent producer (acks=all) reports delivery on the poll thread; only then is
 * the event finished, so its offset is never stored before the dead letter is durable.
 * A letter that could not be enqueued or delivered is produced again by the poll thread
 * after DLQ_RETRY_MS: nothing is dropped, and a refusing broker is not hammered.
 */
#include <stdarg.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dockhand/log.h"
#include "dockhand/metrics.h"
#include "runtime.h"

#define DLQ_RETRY_MS 500

static int set_prop(rd_kafka_conf_t *conf, const char *k, const char *v, char *errstr,
                    size_t errstr_size)
{
    return rd_kafka_conf_set(conf, k, v, errstr, errstr_size) != RD_KAFKA_CONF_OK;
}

struct prop_ctx {
    rd_kafka_conf_t *conf;
    char *errstr;
    size_t errstr_size;
};

/* Producer-relevant KAFKA_* settings (brokers, security) also apply to our producers;
 * consumer-only properties would only draw warnings from librdkafka, so skip those. */
static int pass_prop(const char *prop, const char *value, void *ud)
{
    struct prop_ctx *pc = ud;

    if (!strncmp(prop, "group.", 6) || !strncmp(prop, "enable.auto", 11) ||
        !strncmp(prop, "auto.", 5) || !strncmp(prop, "partition.assignment", 20) ||
        !strncmp(prop, "session.", 8) || !strncmp(prop, "max.poll", 8) ||
        !strncmp(prop, "fetch.", 6) || !strncmp(prop, "queued.", 7) ||
        !strncmp(prop, "heartbeat.", 10) || !strncmp(prop, "isolation.", 10)) {
        return 0;
    }
    return set_prop(pc->conf, prop, value, pc->errstr, pc->errstr_size);
}

rd_kafka_conf_t *dh_rt_producer_conf(dh_rt_t *rt, const char *client_id, char *errstr,
                                     size_t errstr_size)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    struct prop_ctx pc = {conf, errstr, errstr_size};

    if (set_prop(conf, "bootstrap.servers", dh_config_get(rt->cfg, "DH_KAFKA_BROKERS"), errstr,
                 errstr_size) ||
        set_prop(conf, "client.id", client_id, errstr, errstr_size) ||
        set_prop(conf, "linger.ms", "5", errstr, errstr_size) ||
        dh_config_kafka_each(rt->cfg, pass_prop, &pc) ||
        /* Never weakened by configuration: a write must be durable before we move on. */
        set_prop(conf, "enable.idempotence", "true", errstr, errstr_size) ||
        set_prop(conf, "acks", "all", errstr, errstr_size)) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    /* librdkafka's lines become JSON log lines, as the consumer's do (not raw stderr). */
    rd_kafka_conf_set_log_cb(conf, dh_log_rdkafka);
    return conf;
}

/* Park \p ev for dh_rt_dlq_poll(); at shutdown it is given up instead (read again later). */
static void retry_later(dh_rt_t *rt, dh_rt_ev_t *ev)
{
    pthread_mutex_lock(&rt->mu);
    if (atomic_load(&rt->dlq_closing)) {
        dh_rt_abandon(rt, ev);
    } else {
        if (!rt->dlq_retry) {
            rt->dlq_retry_ms = dh_rt_now_ms() + DLQ_RETRY_MS;
        }
        ev->dnext = rt->dlq_retry;
        rt->dlq_retry = ev;
    }
    pthread_mutex_unlock(&rt->mu);
}

/* The store label of \p ev's letter: its dh-shop-domain or dh-store header when that names
 * a store of the stores file, "unconfigured" when it names another, "none" without either
 * (WMS events carry their store in the payload): the configured stores plus two values. */
static void letter_store(const dh_rt_t *rt, const dh_rt_ev_t *ev, char *out, size_t size)
{
    static const char *const names[] = {"dh-shop-domain", "dh-store"};
    const void *v = NULL;
    size_t len = 0;
    char name[256];

    snprintf(out, size, "none");
    for (size_t i = 0; ev->hdrs && i < sizeof(names) / sizeof(names[0]); i++) {
        if (rd_kafka_header_get_last(ev->hdrs, names[i], &v, &len) == RD_KAFKA_RESP_ERR_NO_ERROR &&
            v && len > 0 && len < sizeof(name)) {
            memcpy(name, v, len);
            name[len] = '\0';
            if (rt->stores && dh_stores_find(rt->stores, name)) {
                dh_metrics_escape(name, out, size);
            } else {
                snprintf(out, size, "unconfigured");
            }
            return;
        }
    }
}

/* dh_dead_letters_total{topic,class,store} of \p ev's letter, made on first use (the
 * classes are words of the code, the topics the worker's, the stores the file's: a bounded
 * set). */
static dh_counter_t *letters_of(dh_rt_t *rt, const dh_rt_ev_t *ev)
{
    char lbl[900], topic[300], klass[100], store[300];

    dh_metrics_escape(ev->part->topic, topic, sizeof(topic));
    dh_metrics_escape(dh_rt_ev_err_class(ev)[0] ? dh_rt_ev_err_class(ev) : "unknown", klass,
                      sizeof(klass));
    letter_store(rt, ev, store, sizeof(store));
    snprintf(lbl, sizeof(lbl), "worker=\"%s\",topic=\"%s\",class=\"%s\",store=\"%s\"",
             rt->handler->name, topic, klass, store);
    return dh_metrics_counter(rt->metrics, "dh_dead_letters_total",
                              "Dead letters written (acked), by source topic and error class.",
                              lbl);
}

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *rkm, void *opaque)
{
    dh_rt_t *rt = opaque;
    dh_rt_ev_t *ev = rkm->_private;

    (void)rk;
    if (rkm->err && atomic_load(&rt->dlq_closing)) {
        pthread_mutex_lock(&rt->mu);
        dh_rt_abandon(rt, ev);
        pthread_mutex_unlock(&rt->mu);
        return;
    }
    if (rkm->err) {
        DH_LOG(DH_LOG_ERROR, "dlq", "dead-letter write to %s failed, retrying: %s",
               rd_kafka_topic_name(rkm->rkt), rd_kafka_err2str(rkm->err));
        retry_later(rt, ev);
        return;
    }
    dh_counter_add(letters_of(rt, ev), 1);
    pthread_mutex_lock(&rt->mu);
    dh_rt_dlq_acked(rt, ev);
    pthread_mutex_unlock(&rt->mu);
}

dh_err_t dh_rt_dlq_new(dh_rt_t *rt, char *errstr, size_t errstr_size)
{
    rd_kafka_conf_t *conf = dh_rt_producer_conf(rt, "dockhand-dlq", errstr, errstr_size);

    if (!conf) {
        return DH_ERR_CONFIG;
    }
    rd_kafka_conf_set_opaque(conf, rt);
    rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
    rt->dlq = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, errstr_size);
    if (!rt->dlq) {
        rd_kafka_conf_destroy(conf);
        return DH_ERR_CONFIG;
    }
    return DH_OK; /* conf is owned by rt->dlq now */
}

static void add_hdr(rd_kafka_headers_t *h, const char *name, const char *fmt, ...) DH_PRINTF(3, 4);

static void add_hdr(rd_kafka_headers_t *h, const char *name, const char *fmt, ...)
{
    char buf[600];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    rd_kafka_header_add(h, name, -1, buf, -1);
}

static void iso8601(int64_t ms, char *buf, size_t size)
{
    time_t s = (time_t)(ms / 1000);
    struct tm tm;

    gmtime_r(&s, &tm);
    snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
}

static rd_kafka_headers_t *dlq_headers(dh_rt_t *rt, const dh_rt_ev_t *ev)
{
    rd_kafka_headers_t *h;
    char first[80], last[80]; /* room for any year gmtime_r may return */
    char corr[256];
    const void *cv;
    size_t clen;

    if (ev->hdrs) {
        h = rd_kafka_headers_copy(ev->hdrs);
    } else {
        h = rd_kafka_headers_new(12);
    }
    iso8601(ev->first_seen_ms, first, sizeof(first));
    iso8601(ev->last_failed_ms ? ev->last_failed_ms : dh_rt_wall_ms(), last, sizeof(last));
    add_hdr(h, "dh-original-topic", "%s", ev->part->topic);
    add_hdr(h, "dh-original-partition", "%" PRId32, ev->part->partition);
    add_hdr(h, "dh-original-offset", "%" PRId64, ev->offset);
    add_hdr(h, "dh-error-class", "%s",
            dh_rt_ev_err_class(ev)[0] ? dh_rt_ev_err_class(ev) : "unknown");
    add_hdr(h, "dh-error", "%s", dh_rt_ev_err(ev)[0] ? dh_rt_ev_err(ev) : "(no detail)");
    add_hdr(h, "dh-attempts", "%d", ev->attempts);
    add_hdr(h, "dh-worker", "%s", rt->handler->name);
    add_hdr(h, "dh-first-seen", "%s", first);
    add_hdr(h, "dh-last-failed", "%s", last);
    dh_rt_ev_correlation(ev, corr, sizeof(corr));
    if (corr[0] &&
        (!ev->hdrs || rd_kafka_header_get_last(ev->hdrs, "dh-correlation-id", &cv, &clen))) {
        add_hdr(h, "dh-correlation-id", "%s", corr); /* dh-ops trace finds the letter by it */
    }
    return h;
}

void dh_rt_dlq_send(dh_rt_t *rt, dh_rt_ev_t *ev)
{
    char topic[300];
    rd_kafka_headers_t *h = dlq_headers(rt, ev);
    rd_kafka_resp_err_t err;

    snprintf(topic, sizeof(topic), "%s.dlq", ev->part->topic);
    for (;;) {
        err = rd_kafka_producev(rt->dlq, RD_KAFKA_V_TOPIC(topic),
                                RD_KAFKA_V_KEY(ev->key, ev->key_len),
                                RD_KAFKA_V_VALUE((void *)ev->payload, ev->len) /* copied */,
                                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(h),
                                RD_KAFKA_V_OPAQUE(ev), RD_KAFKA_V_END);
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            break;
        }
        rd_kafka_poll(rt->dlq, 100); /* make room; the queue drains as acks arrive */
    }
    if (err) {
        /* Not enqueued (e.g. the topic's last delivery was refused): the event stays
         * unfinished, its offset unstored, and the letter is produced again later. */
        rd_kafka_headers_destroy(h);
        DH_LOG(DH_LOG_ERROR, "dlq", "cannot produce dead letter to %s, retrying: %s", topic,
               rd_kafka_err2str(err));
        retry_later(rt, ev);
    }
}

void dh_rt_dlq_poll(dh_rt_t *rt, int timeout_ms)
{
    dh_rt_ev_t *due = NULL;

    rd_kafka_poll(rt->dlq, timeout_ms);
    pthread_mutex_lock(&rt->mu);
    if (rt->dlq_retry && dh_rt_now_ms() >= rt->dlq_retry_ms) {
        due = rt->dlq_retry;
        rt->dlq_retry = NULL;
    }
    pthread_mutex_unlock(&rt->mu);
    while (due) {
        dh_rt_ev_t *next = due->dnext;

        dh_rt_dlq_send(rt, due);
        due = next;
    }
}

/* Shutdown: letters still waiting to be produced again are given up (read again later). */
static void abandon_retries(dh_rt_t *rt)
{
    pthread_mutex_lock(&rt->mu);
    while (rt->dlq_retry) {
        dh_rt_ev_t *ev = rt->dlq_retry;

        rt->dlq_retry = ev->dnext;
        dh_rt_abandon(rt, ev);
    }
    pthread_mutex_unlock(&rt->mu);
}

void dh_rt_dlq_destroy(dh_rt_t *rt, int flush_ms)
{
    if (!rt->dlq) {
        return;
    }
    if (rd_kafka_flush(rt->dlq, flush_ms) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        DH_LOG(DH_LOG_ERROR, "dlq",
               "%d dead letter(s) not acknowledged at shutdown; their "
               "offsets were not stored, they will be read again",
               rd_kafka_outq_len(rt->dlq));
        atomic_store(&rt->dlq_closing, 1);
        rd_kafka_purge(rt->dlq, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_poll(rt->dlq, 0); /* purged messages' reports free their events */
    }
    atomic_store(&rt->dlq_closing, 1);
    abandon_retries(rt);
    rd_kafka_destroy(rt->dlq);
    rt->dlq = NULL;
}
