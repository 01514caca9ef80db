/*
 * Synchronous-per-request produce on top of librdkafka's asynchronous API. Each send
 * allocates a completion shared by the request thread and the delivery-report callback;
 * it is reference counted because the request may give up (deadline) before the report
 * arrives, and the report must still find valid memory.
 */
#include "produce.h"

#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dockhand/log.h"

struct dh_gw_producer_s {
    rd_kafka_t *rk;
    pthread_t poller;
    int poller_started;
    atomic_int stop;
    atomic_int ready;
    atomic_int fatal;
    int ack_timeout_ms;
};

typedef struct completion {
    pthread_mutex_t mu;
    pthread_cond_t cv; /* on CLOCK_MONOTONIC */
    int done;
    rd_kafka_resp_err_t err;
    atomic_int refs;
} completion_t;

static completion_t *completion_new(void)
{
    completion_t *c = calloc(1, sizeof(*c));
    pthread_condattr_t ca;

    if (!c) {
        return NULL;
    }
    pthread_mutex_init(&c->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&c->cv, &ca);
    pthread_condattr_destroy(&ca);
    atomic_init(&c->refs, 2); /* the request thread and the delivery report */
    return c;
}

static void completion_unref(completion_t *c)
{
    if (c && atomic_fetch_sub(&c->refs, 1) == 1) {
        pthread_cond_destroy(&c->cv);
        pthread_mutex_destroy(&c->mu);
        free(c);
    }
}

/* Runs on the poller thread, exactly once per message that producev() accepted. */
static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    dh_gw_producer_t *p = opaque;
    completion_t *c = m->_private;

    (void)rk;
    if (!m->err) {
        atomic_store(&p->ready, 1);
    }
    pthread_mutex_lock(&c->mu);
    c->done = 1;
    c->err = m->err;
    pthread_cond_signal(&c->cv);
    pthread_mutex_unlock(&c->mu);
    completion_unref(c);
}

static void on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    dh_gw_producer_t *p = opaque;
    char buf[512];

    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        rd_kafka_fatal_error(rk, buf, sizeof(buf));
        DH_LOG(DH_LOG_ERROR, "kafka", "fatal producer error: %s", buf);
        atomic_store(&p->fatal, 1);
        atomic_store(&p->ready, 0);
        return;
    }
    if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
        atomic_store(&p->ready, 0);
    }
    DH_LOG(DH_LOG_WARN, "kafka", "%s: %s", rd_kafka_err2name((rd_kafka_resp_err_t)err), reason);
}

static void *poller_main(void *ud)
{
    dh_gw_producer_t *p = ud;

    /* 10 ms: a delivery report waits at most this long after it is ready. */
    while (!atomic_load(&p->stop)) {
        rd_kafka_poll(p->rk, 10);
    }
    return NULL;
}

static int set_prop(const char *prop, const char *value, void *ud)
{
    return rd_kafka_conf_set(ud, prop, value, NULL, 0) != RD_KAFKA_CONF_OK;
}

/* Our defaults, then KAFKA_* overrides, then what correctness needs (not overridable). */
static rd_kafka_conf_t *make_conf(const dh_gw_producer_opts_t *o, dh_gw_producer_t *p, char *errstr,
                                  size_t errstr_size)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char mto[32];
    /* librdkafka scans for timed-out messages about once a second, so leave that much
     * room: a message that cannot be delivered then fails (definitively) before the
     * request's deadline, and the 503 is not an "unknown outcome". */
    int msg_timeout = o->ack_timeout_ms >= 2400 ? o->ack_timeout_ms - 1200 : o->ack_timeout_ms / 2;
    const char *must[][2] = {{"enable.idempotence", "true"}, {"acks", "all"}};

    snprintf(mto, sizeof(mto), "%d", msg_timeout > 1 ? msg_timeout : 1);
    if (set_prop("bootstrap.servers", o->brokers, conf) || set_prop("linger.ms", "1", conf) ||
        set_prop("message.timeout.ms", mto, conf) || set_prop("request.timeout.ms", mto, conf) ||
        set_prop("client.id", "dh-gateway", conf) || set_prop("compression.type", "lz4", conf) ||
        (o->cfg && dh_config_kafka_each(o->cfg, set_prop, conf))) {
        snprintf(errstr, errstr_size, "invalid Kafka property (check KAFKA_* variables)");
        goto fail;
    }
    for (size_t i = 0; i < sizeof(must) / sizeof(must[0]); i++) {
        if (rd_kafka_conf_set(conf, must[i][0], must[i][1], errstr, errstr_size)) {
            goto fail;
        }
    }
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_error_cb(conf, on_error);
    rd_kafka_conf_set_log_cb(conf, dh_log_rdkafka);
    rd_kafka_conf_set_opaque(conf, p);
    return conf;
fail:
    rd_kafka_conf_destroy(conf);
    return NULL;
}

dh_err_t dh_gw_producer_new(const dh_gw_producer_opts_t *opts, dh_gw_producer_t **out, char *errstr,
                            size_t errstr_size)
{
    dh_gw_producer_t *p = calloc(1, sizeof(*p));
    rd_kafka_conf_t *conf = NULL;
    dh_err_t err = DH_ERR_NOMEM;

    *out = NULL;
    if (!p) {
        goto out;
    }
    p->ack_timeout_ms = opts->ack_timeout_ms;
    err = DH_ERR_CONFIG;
    conf = make_conf(opts, p, errstr, errstr_size);
    if (!conf) {
        goto out;
    }
    p->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, errstr_size);
    if (!p->rk) {
        goto out;
    }
    conf = NULL; /* owned by rk now */
    err = DH_ERR_NOMEM;
    if (pthread_create(&p->poller, NULL, poller_main, p)) {
        snprintf(errstr, errstr_size, "cannot start the poller thread");
        goto out;
    }
    p->poller_started = 1;
    *out = p;
    p = NULL;
    err = DH_OK;
out:
    if (conf) {
        rd_kafka_conf_destroy(conf);
    }
    dh_gw_producer_destroy(p, 0);
    return err;
}

/* Wait for \p c until \p deadline (CLOCK_MONOTONIC). Returns 1 when it completed. */
static int completion_wait(completion_t *c, const struct timespec *deadline,
                           rd_kafka_resp_err_t *err)
{
    int done, rc = 0;

    pthread_mutex_lock(&c->mu);
    while (!c->done && rc == 0) {
        rc = pthread_cond_timedwait(&c->cv, &c->mu, deadline);
    }
    done = c->done;
    *err = c->err;
    pthread_mutex_unlock(&c->mu);
    return done;
}

static rd_kafka_headers_t *headers_new(const dh_gw_header_t *h, size_t n)
{
    rd_kafka_headers_t *hdrs = rd_kafka_headers_new(n);

    for (size_t i = 0; i < n; i++) {
        if (h[i].value) {
            rd_kafka_header_add(hdrs, h[i].name, -1, h[i].value, -1);
        }
    }
    return hdrs;
}

dh_err_t dh_gw_producer_send(dh_gw_producer_t *p, const char *topic, const char *key,
                             const void *value, size_t len, const dh_gw_header_t *headers,
                             size_t nheaders, char *errstr, size_t errstr_size)
{
    completion_t *c = completion_new();
    rd_kafka_headers_t *hdrs = headers_new(headers, nheaders);
    rd_kafka_resp_err_t kerr;
    struct timespec deadline;
    dh_err_t err = DH_ERR_IO;

    if (!c || !hdrs) {
        snprintf(errstr, errstr_size, "out of memory");
        goto out;
    }
    if (atomic_load(&p->fatal)) {
        snprintf(errstr, errstr_size, "producer is in a fatal state");
        goto out;
    }
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += p->ack_timeout_ms / 1000;
    deadline.tv_nsec += (long)(p->ack_timeout_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    kerr = rd_kafka_producev(p->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, strlen(key)),
                             RD_KAFKA_V_VALUE((void *)value, len),
                             RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(hdrs),
                             RD_KAFKA_V_OPAQUE(c), RD_KAFKA_V_END);
    if (kerr) {
        snprintf(errstr, errstr_size, "produce to %s: %s", topic, rd_kafka_err2str(kerr));
        atomic_fetch_sub(&c->refs, 1); /* no delivery report will come */
        goto out;
    }
    hdrs = NULL; /* owned by the message now */
    if (!completion_wait(c, &deadline, &kerr)) {
        snprintf(errstr, errstr_size, "no acknowledgement from %s within %d ms", topic,
                 p->ack_timeout_ms);
        err = DH_ERR_TIMEOUT;
        goto out;
    }
    if (kerr) {
        snprintf(errstr, errstr_size, "delivery to %s failed: %s", topic, rd_kafka_err2str(kerr));
        goto out;
    }
    err = DH_OK;
out:
    if (hdrs) {
        rd_kafka_headers_destroy(hdrs);
    }
    completion_unref(c);
    return err;
}

void dh_gw_producer_probe(dh_gw_producer_t *p, int timeout_ms)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t err = rd_kafka_metadata(p->rk, 0, NULL, &md, timeout_ms);

    atomic_store(&p->ready, !err && md && md->broker_cnt > 0 && !atomic_load(&p->fatal));
    if (md) {
        rd_kafka_metadata_destroy(md);
    }
}

int dh_gw_producer_ready(const dh_gw_producer_t *p)
{
    return atomic_load(&((dh_gw_producer_t *)p)->ready);
}

int dh_gw_producer_fatal(const dh_gw_producer_t *p)
{
    return atomic_load(&((dh_gw_producer_t *)p)->fatal);
}

void dh_gw_producer_destroy(dh_gw_producer_t *p, int flush_ms)
{
    if (!p) {
        return;
    }
    if (p->rk && flush_ms > 0 && rd_kafka_flush(p->rk, flush_ms)) {
        DH_LOG(DH_LOG_WARN, "kafka", "%d message(s) not delivered at shutdown",
               rd_kafka_outq_len(p->rk));
    }
    if (p->rk && p->poller_started) {
        /* Fail what is left so every delivery report (and completion) is served. */
        rd_kafka_purge(p->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        if (rd_kafka_flush(p->rk, 1000)) {
            DH_LOG(DH_LOG_WARN, "kafka", "purged messages still queued at shutdown");
        }
    }
    atomic_store(&p->stop, 1);
    if (p->poller_started) {
        pthread_join(p->poller, NULL);
    }
    if (p->rk) {
        /* Undelivered messages get their reports (and free their completions) here. */
        rd_kafka_destroy(p->rk);
    }
    free(p);
}
