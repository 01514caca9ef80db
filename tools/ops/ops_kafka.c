/*
 * dh-ops's Kafka and Redis handles, made from the workers' configuration: brokers from
 * DH_KAFKA_BROKERS, then the KAFKA_* settings that say how to reach and authenticate to
 * the cluster (security, SASL, TLS, sockets). A worker's group, instance id or client id
 * never apply: the tool must not join or fence a worker's group.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "dockhand/log.h"
#include "ops.h"

/* The broker's last refusal of our credentials or TLS, from librdkafka's log (its
 * threads): a request then only times out, and its error alone would not say why. */
static pthread_mutex_t g_refused_mu = PTHREAD_MUTEX_INITIALIZER;
static char g_refused[512];

static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    const char *why = strstr(buf, "SASL authentication error");

    why = why ? why : strstr(buf, "SSL handshake failed");
    if (why && level <= 4) {
        pthread_mutex_lock(&g_refused_mu);
        snprintf(g_refused, sizeof(g_refused), "%s", why);
        pthread_mutex_unlock(&g_refused_mu);
    }
    dh_log_rdkafka(rk, level, fac, buf);
}

int ops_kafka_refused(char *buf, size_t size)
{
    int any;

    pthread_mutex_lock(&g_refused_mu);
    any = g_refused[0] != '\0';
    snprintf(buf, size, "%s", g_refused);
    pthread_mutex_unlock(&g_refused_mu);
    return any;
}

static const char *const conn_props[] = {"bootstrap.servers",
                                         "metadata.broker.list",
                                         "security.protocol",
                                         "sasl.",
                                         "ssl.",
                                         "ssl_",
                                         "socket.",
                                         "broker.",
                                         "client.dns.lookup",
                                         "enable.ssl.",
                                         "api.version.",
                                         NULL};

struct conf_ctx {
    rd_kafka_conf_t *conf;
    char *errstr;
    size_t size;
};

static int pass_conn_prop(const char *prop, const char *value, void *ud)
{
    struct conf_ctx *c = ud;

    for (size_t i = 0; conn_props[i]; i++) {
        if (!strncmp(prop, conn_props[i], strlen(conn_props[i]))) {
            return rd_kafka_conf_set(c->conf, prop, value, c->errstr, c->size) != RD_KAFKA_CONF_OK;
        }
    }
    return 0;
}

static int role_conf(rd_kafka_conf_t *conf, rd_kafka_type_t type, const char *group, int durable,
                     char *errstr, size_t size)
{
    if (type == RD_KAFKA_PRODUCER && durable) {
        /* A write must be durable before we report it done. */
        return rd_kafka_conf_set(conf, "enable.idempotence", "true", errstr, size) ||
               rd_kafka_conf_set(conf, "acks", "all", errstr, size);
    }
    if (type == RD_KAFKA_CONSUMER) {
        return rd_kafka_conf_set(conf, "group.id", group ? group : "dh-ops-reader", errstr, size) ||
               rd_kafka_conf_set(conf, "enable.partition.eof", "true", errstr, size) ||
               rd_kafka_conf_set(conf, "enable.auto.commit", "false", errstr, size) ||
               rd_kafka_conf_set(conf, "enable.auto.offset.store", "false", errstr, size);
    }
    return 0;
}

static rd_kafka_t *client_new(const ops_t *o, rd_kafka_type_t type, const char *group, int durable,
                              ops_dr_cb_t *dr_cb)
{
    char errstr[512] = "";
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    struct conf_ctx cc = {conf, errstr, sizeof(errstr)};
    rd_kafka_t *rk = NULL;

    if (rd_kafka_conf_set(conf, "bootstrap.servers", dh_config_get(o->cfg, "DH_KAFKA_BROKERS"),
                          errstr, sizeof(errstr)) ||
        dh_config_kafka_each(o->cfg, pass_conn_prop, &cc) ||
        role_conf(conf, type, group, durable, errstr, sizeof(errstr))) {
        ops_err(o, "kafka configuration: %s", errstr);
        goto out;
    }
    rd_kafka_conf_set_log_cb(conf, log_cb);
    if (dr_cb) {
        rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
    }
    rk = rd_kafka_new(type, conf, errstr, sizeof(errstr));
    if (!rk) {
        ops_err(o, "kafka client: %s", errstr);
        goto out;
    }
    conf = NULL; /* rd_kafka_new() took it */
out:
    if (conf) {
        rd_kafka_conf_destroy(conf);
    }
    return rk;
}

rd_kafka_t *ops_consumer_new(const ops_t *o, const char *group)
{
    return client_new(o, RD_KAFKA_CONSUMER, group, 0, NULL);
}

rd_kafka_t *ops_producer_new(const ops_t *o, ops_dr_cb_t *dr_cb)
{
    return client_new(o, RD_KAFKA_PRODUCER, NULL, 1, dr_cb);
}

rd_kafka_t *ops_admin_new(const ops_t *o)
{
    /* Not idempotent: a read-only operator needs no producer id (nor its ACL). */
    return client_new(o, RD_KAFKA_PRODUCER, NULL, 0, NULL);
}

int ops_partitions(const ops_t *o, rd_kafka_t *rk, const char *topic)
{
    const rd_kafka_metadata_t *md = NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    rd_kafka_resp_err_t err =
        rkt ? rd_kafka_metadata(rk, 0, rkt, &md, o->timeout_ms) : RD_KAFKA_RESP_ERR__INVALID_ARG;
    int n = -1;

    if (err) {
        ops_err(o, "cannot read topic %s: %s", topic, rd_kafka_err2str(err));
    } else if (md->topic_cnt != 1 || md->topics[0].err) {
        ops_err(o, "cannot read topic %s: %s", topic,
                md->topic_cnt ? rd_kafka_err2str(md->topics[0].err) : "no metadata");
    } else {
        n = md->topics[0].partition_cnt;
    }
    if (md) {
        rd_kafka_metadata_destroy(md);
    }
    if (rkt) {
        rd_kafka_topic_destroy(rkt);
    }
    return n;
}

int ops_watermarks(const ops_t *o, rd_kafka_t *rk, const char *topic, int32_t p, int64_t *lo,
                   int64_t *hi)
{
    rd_kafka_resp_err_t err = rd_kafka_query_watermark_offsets(rk, topic, p, lo, hi, o->timeout_ms);

    if (err) {
        ops_err(o, "watermarks of %s [%d]: %s", topic, (int)p, rd_kafka_err2str(err));
        return -1;
    }
    return 0;
}

dh_redis_t *ops_redis_new(const ops_t *o)
{
    char errstr[256] = "";
    dh_redis_opts_t opts = {
        .url = dh_config_get(o->cfg, "DH_REDIS_URL"),
        .password = dh_config_get(o->cfg, "DH_REDIS_PASSWORD"),
        .timeout_ms = (int)dh_config_int(o->cfg, "DH_REDIS_TIMEOUT_MS"),
    };
    dh_redis_t *r = dh_redis_new(&opts, errstr, sizeof(errstr));

    if (!r) {
        ops_err(o, "redis: %s", errstr);
        return NULL;
    }
    if (dh_redis_connect(r)) {
        ops_err(o, "redis: %s", dh_redis_errstr(r));
        dh_redis_destroy(r);
        return NULL;
    }
    return r;
}

rd_kafka_event_t *ops_admin_wait(const ops_t *o, rd_kafka_queue_t *q, const char *what)
{
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, o->timeout_ms + 5000);

    if (!ev) {
        ops_err(o, "%s: no answer from Kafka in %d ms", what, o->timeout_ms + 5000);
        return NULL;
    }
    if (rd_kafka_event_error(ev)) {
        ops_err(o, "%s: %s", what, rd_kafka_event_error_string(ev));
        rd_kafka_event_destroy(ev);
        return NULL;
    }
    return ev;
}

rd_kafka_AdminOptions_t *ops_admin_options(const ops_t *o, rd_kafka_t *rk, rd_kafka_admin_op_t op)
{
    char errstr[256];
    rd_kafka_AdminOptions_t *opts = rd_kafka_AdminOptions_new(rk, op);

    if (opts &&
        rd_kafka_AdminOptions_set_request_timeout(opts, o->timeout_ms, errstr, sizeof(errstr))) {
        ops_err(o, "admin options: %s", errstr);
    }
    return opts;
}

rd_kafka_event_t *ops_admin_run(const ops_t *o, rd_kafka_t *rk, rd_kafka_admin_op_t op,
                                const char *what, ops_admin_send_fn *send, void *ud)
{
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *opts = ops_admin_options(o, rk, op);
    rd_kafka_event_t *ev;

    send(rk, opts, q, ud);
    ev = ops_admin_wait(o, q, what);
    rd_kafka_AdminOptions_destroy(opts);
    rd_kafka_queue_destroy(q);
    return ev;
}

const rd_kafka_topic_partition_list_t *
ops_group_result(const ops_t *o, const rd_kafka_group_result_t **res, size_t n, const char *group)
{
    if (n != 1) {
        ops_err(o, "group %s: %zu answers from Kafka", group, n);
        return NULL;
    }
    if (rd_kafka_group_result_error(res[0])) {
        ops_err(o, "group %s: %s", group,
                rd_kafka_error_string(rd_kafka_group_result_error(res[0])));
        return NULL;
    }
    return rd_kafka_group_result_partitions(res[0]);
}

static void send_list_offsets(rd_kafka_t *rk, const rd_kafka_AdminOptions_t *opts,
                              rd_kafka_queue_t *q, void *ud)
{
    rd_kafka_ListConsumerGroupOffsets(rk, ud, 1, opts, q);
}

rd_kafka_topic_partition_list_t *ops_group_offsets(const ops_t *o, rd_kafka_t *rk,
                                                   const char *group,
                                                   const rd_kafka_topic_partition_list_t *only)
{
    rd_kafka_ListConsumerGroupOffsets_t *req = rd_kafka_ListConsumerGroupOffsets_new(group, only);
    rd_kafka_event_t *ev = ops_admin_run(o, rk, RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPOFFSETS,
                                         "offsets of the group", send_list_offsets, &req);
    const rd_kafka_topic_partition_list_t *ps = NULL;
    size_t n = 0;

    if (ev) {
        const rd_kafka_group_result_t **res = rd_kafka_ListConsumerGroupOffsets_result_groups(
            rd_kafka_event_ListConsumerGroupOffsets_result(ev), &n);

        ps = ops_group_result(o, res, n, group);
    }
    rd_kafka_topic_partition_list_t *out = ps ? rd_kafka_topic_partition_list_copy(ps) : NULL;

    if (ev) {
        rd_kafka_event_destroy(ev);
    }
    rd_kafka_ListConsumerGroupOffsets_destroy(req);
    return out;
}

json_t *ops_redis_get(dh_redis_t *r, const char *key, int *err)
{
    redisReply *rep = NULL;
    json_t *v = NULL;

    if (dh_redis_commandf(r, &rep, "GET %s", key)) {
        *err = 1;
    } else if (rep->type == REDIS_REPLY_STRING) {
        v = json_stringn(rep->str, rep->len);
    }
    if (rep) {
        freeReplyObject(rep);
    }
    return v;
}

static void destroy_handle(void *rk)
{
    rd_kafka_destroy(rk);
}

void ops_kafka_destroy(const ops_t *o, rd_kafka_t *rk)
{
    int bound = o->timeout_ms > 5000 ? o->timeout_ms : 5000;

    if (rk && ops_run_bounded(destroy_handle, rk, bound) != 0) {
        DH_LOG(DH_LOG_WARN, "kafka",
               "the Kafka client did not shut down within %d ms (a known librdkafka hang); "
               "its work is done, so the command ends without it",
               bound);
    }
}
