/*
 * dh_lane_produce(): a synchronous produce for handlers and ticks (reconciliation
 * republishing orders, for example). One idempotent, acks=all producer per process,
 * created on first use. The caller waits for its own delivery report: whichever thread
 * polls serves it, so the wait is a poll loop on a per-call flag. librdkafka reports
 * every message within message.timeout.ms, so the wait is bounded.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "dockhand/log.h"
#include "runtime.h"

struct completion {
    atomic_int done;
    rd_kafka_resp_err_t err;
};

static void out_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *rkm, void *opaque)
{
    struct completion *c = rkm->_private;

    (void)rk;
    (void)opaque;
    c->err = rkm->err;
    atomic_store(&c->done, 1);
}

static rd_kafka_t *out_producer(dh_rt_t *rt)
{
    char errstr[512];
    rd_kafka_conf_t *conf;

    pthread_mutex_lock(&rt->mu);
    if (rt->out) {
        pthread_mutex_unlock(&rt->mu);
        return rt->out;
    }
    conf = dh_rt_producer_conf(rt, "dockhand-out", errstr, sizeof(errstr));
    if (!conf || rd_kafka_conf_set(conf, "message.timeout.ms", "15000", errstr, sizeof(errstr)) !=
                     RD_KAFKA_CONF_OK) {
        DH_LOG(DH_LOG_ERROR, "produce", "producer config: %s", errstr);
        if (conf) {
            rd_kafka_conf_destroy(conf);
        }
        pthread_mutex_unlock(&rt->mu);
        return NULL;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, out_dr_cb);
    rt->out = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (!rt->out) {
        DH_LOG(DH_LOG_ERROR, "produce", "producer: %s", errstr);
        rd_kafka_conf_destroy(conf);
    }
    pthread_mutex_unlock(&rt->mu);
    return rt->out;
}

dh_err_t dh_lane_produce(dh_lane_t *lane, const char *topic, const char *key, size_t key_len,
                         const void *value, size_t len, const char *const *headers, int timeout_ms)
{
    dh_rt_t *rt = dh_lane_runtime(lane);
    rd_kafka_t *rk = out_producer(rt);
    struct completion c = {0, RD_KAFKA_RESP_ERR_NO_ERROR};
    rd_kafka_headers_t *h = rd_kafka_headers_new(8);
    rd_kafka_resp_err_t err;

    (void)timeout_ms;
    if (!rk) {
        rd_kafka_headers_destroy(h);
        return DH_ERR_IO;
    }
    for (size_t i = 0; headers && headers[i] && headers[i + 1]; i += 2) {
        rd_kafka_header_add(h, headers[i], -1, headers[i + 1], -1);
    }
    do {
        err = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, key_len),
                                RD_KAFKA_V_VALUE((void *)value, len),
                                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(h),
                                RD_KAFKA_V_OPAQUE(&c), RD_KAFKA_V_END);
        if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            rd_kafka_poll(rk, 50);
        }
    } while (err == RD_KAFKA_RESP_ERR__QUEUE_FULL);
    if (err) {
        rd_kafka_headers_destroy(h);
        DH_LOG(DH_LOG_WARN, "produce", "produce to %s: %s", topic, rd_kafka_err2str(err));
        return DH_ERR_IO;
    }
    while (!atomic_load(&c.done)) { /* bounded by message.timeout.ms */
        rd_kafka_poll(rk, 20);
    }
    if (c.err) {
        DH_LOG(DH_LOG_WARN, "produce", "delivery to %s failed: %s", topic, rd_kafka_err2str(c.err));
        return DH_ERR_IO;
    }
    return DH_OK;
}
