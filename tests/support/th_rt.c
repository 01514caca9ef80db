/*
 * The in-process worker runtime on a mock cluster (th_rt.h). Setup and teardown follow
 * run_worker() in common/src/worker.c step by step, so a test sees what a worker does.
 */
#include "th_rt.h"

#include <librdkafka/rdkafka_mock.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dockhand/log.h"

/* cmocka.h needs these three first; keep clang-format from sorting it above them. */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
/* clang-format on */

#define TH_ENV_MAX 48

struct th_rt {
    rd_kafka_t *owner; /* owns the mock cluster */
    rd_kafka_mock_cluster_t *mc;
    rd_kafka_t *producer;
    char bootstraps[256];
    char topic[200];
    char group[96];
    char run_id[64];
    char envbuf[TH_ENV_MAX][512];
    char *envp[TH_ENV_MAX + 1];
    dh_rt_t *rt;
    pthread_t thread;
    int started;
    volatile sig_atomic_t run;
    int code;
};

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

static rd_kafka_t *kafka_client(rd_kafka_type_t type, const char *bootstraps)
{
    char errstr[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_t *rk;

    if (bootstraps) {
        assert_int_equal(
            rd_kafka_conf_set(conf, "bootstrap.servers", bootstraps, errstr, sizeof(errstr)), 0);
    } else { /* the mock cluster's owner: it never connects, so no warning about it */
        assert_int_equal(rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof(errstr)), 0);
    }
    if (type == RD_KAFKA_CONSUMER) { /* assign() only, never joins: any name does */
        assert_int_equal(rd_kafka_conf_set(conf, "group.id", "th-reader", errstr, sizeof(errstr)),
                         0);
    }
    rk = rd_kafka_new(type, conf, errstr, sizeof(errstr));
    if (!rk) {
        fail_msg("rd_kafka_new: %s", errstr);
    }
    return rk;
}

/* "NAME=value" entries: the caller's first, then each default the caller did not set. */
static void env_build(th_rt_t *t, const char *const *env, const char *const *defaults)
{
    size_t n = 0;

    for (size_t i = 0; env && env[i] && n < TH_ENV_MAX; i++) {
        snprintf(t->envbuf[n++], sizeof(t->envbuf[0]), "%s", env[i]);
    }
    for (size_t i = 0; defaults[i] && n < TH_ENV_MAX; i++) {
        size_t nl = strcspn(defaults[i], "=") + 1;
        int given = 0;

        for (size_t j = 0; env && env[j]; j++) {
            given |= strncmp(env[j], defaults[i], nl) == 0;
        }
        if (!given) {
            snprintf(t->envbuf[n++], sizeof(t->envbuf[0]), "%s", defaults[i]);
        }
    }
    for (size_t i = 0; i < n; i++) {
        t->envp[i] = t->envbuf[i];
    }
    t->envp[n] = NULL;
}

const char *th_rt_redis_url(void)
{
    const char *redis = getenv("DH_TEST_REDIS_URL");

    return redis && *redis ? redis : "redis://127.0.0.1:36379";
}

dh_redis_t *th_rt_redis_new(void)
{
    dh_redis_opts_t o = {th_rt_redis_url(), NULL, 2000};
    char err[200];
    dh_redis_t *r = dh_redis_new(&o, err, sizeof(err));

    if (!r) {
        fail_msg("test Redis %s: %s", th_rt_redis_url(), err);
    }
    return r;
}

redisContext *th_rt_hiredis(void)
{
    char host[128];
    int port = 0;
    redisContext *c;

    assert_int_equal(sscanf(th_rt_redis_url(), "redis://%127[^:]:%d", host, &port), 2);
    c = redisConnect(host, port);
    assert_true(c && !c->err);
    return c;
}

static void config_load(th_rt_t *t, const dh_handler_t *h, const char *const *env)
{
    const dh_config_var_t *tables[16] = {dh_process_config_vars, dh_rt_config_vars};
    char d[9][300];
    const char *defaults[10] = {d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7], d[8], NULL};
    dh_config_t *cfg = NULL;
    char *problems = NULL;
    size_t nt = 2;

    snprintf(d[0], sizeof(d[0]), "DH_KAFKA_BROKERS=%s", t->bootstraps);
    snprintf(d[1], sizeof(d[1]), "DH_REDIS_URL=%s", th_rt_redis_url());
    snprintf(d[2], sizeof(d[2]), "DH_INSTANCE_NAME=th-%s", t->run_id);
    snprintf(d[3], sizeof(d[3]), "DH_LANES=2");
    snprintf(d[4], sizeof(d[4]), "DH_RETRY_BASE_MS=5");
    snprintf(d[5], sizeof(d[5]), "DH_RETRY_MAX_MS=20");
    snprintf(d[6], sizeof(d[6]), "DH_DRAIN_TIMEOUT_MS=5000");
    snprintf(d[7], sizeof(d[7]), "DH_LOG_LEVEL=warn");
    snprintf(d[8], sizeof(d[8]), "DH_GROUP_ID=%s", t->group);
    env_build(t, env, defaults);
    for (size_t i = 0; h->config && h->config[i] && nt < 15; i++) {
        tables[nt++] = h->config[i];
    }
    if (dh_config_load(tables, t->envp, &cfg, &problems) != DH_OK) {
        fail_msg("configuration: %s", problems ? problems : "?");
    }
    t->rt->cfg = cfg;
}

th_rt_t *th_rt_new(const dh_handler_t *h, const char *topic, int partitions, const char *const *env)
{
    static int seq;
    th_rt_t *t = calloc(1, sizeof(*t));
    struct timespec ts;

    assert_non_null(t);
    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(t->run_id, sizeof(t->run_id), "%d-%lld%03ld-%d", (int)getpid(), (long long)ts.tv_sec,
             ts.tv_nsec / 1000000, ++seq);
    snprintf(t->topic, sizeof(t->topic), "%s", topic);
    snprintf(t->group, sizeof(t->group), "th-%s", t->run_id);
    t->owner = kafka_client(RD_KAFKA_PRODUCER, NULL);
    t->mc = rd_kafka_mock_cluster_new(t->owner, 2);
    assert_non_null(t->mc);
    snprintf(t->bootstraps, sizeof(t->bootstraps), "%s", rd_kafka_mock_cluster_bootstraps(t->mc));
    char dlq[220];
    snprintf(dlq, sizeof(dlq), "%s.dlq", topic);
    assert_int_equal(rd_kafka_mock_topic_create(t->mc, topic, partitions, 1), 0);
    assert_int_equal(rd_kafka_mock_topic_create(t->mc, dlq, 1, 1), 0);
    for (int i = 0; i < partitions; i++) {
        assert_int_equal(rd_kafka_mock_partition_set_leader(t->mc, topic, i, 1), 0);
    }
    assert_int_equal(rd_kafka_mock_partition_set_leader(t->mc, dlq, 0, TH_RT_DLQ_BROKER), 0);
    t->producer = kafka_client(RD_KAFKA_PRODUCER, t->bootstraps);
    t->rt = calloc(1, sizeof(*t->rt));
    assert_non_null(t->rt);
    t->rt->handler = h;
    config_load(t, h, env);
    return t;
}

static void *consumer_main(void *arg)
{
    th_rt_t *t = arg;

    t->code = dh_rt_consumer_run(t->rt, &t->run);
    return NULL;
}

void th_rt_start(th_rt_t *t)
{
    dh_rt_t *rt = t->rt;
    const char *topics[] = {t->topic, NULL};
    char errstr[512] = "";
    int code = 0;

    dh_log_level_t level = DH_LOG_WARN;

    if (dh_log_level_parse(dh_config_get(rt->cfg, "DH_LOG_LEVEL"), &level)) {
        level = DH_LOG_WARN; /* unreachable: the enum was validated */
    }
    dh_log_init(rt->handler->name, level);
    assert_int_equal(dh_http_global_init(), DH_OK);
    assert_int_equal(dh_rt_init(rt), DH_OK);
    rt->metrics = dh_metrics_new();
    assert_non_null(rt->metrics);
    dh_rt_metrics_setup(rt);
    dh_rt_opts_from_config(rt);
    atomic_store(&rt->last_loop_ms, dh_rt_now_ms());
    if (dh_rt_handler_init(rt, errstr, sizeof(errstr), &code)) {
        fail_msg("handler init (exit %d): %s", code, errstr);
    }
    if (dh_rt_dlq_new(rt, errstr, sizeof(errstr)) ||
        dh_rt_lanes_start(rt, errstr, sizeof(errstr)) ||
        dh_rt_consumer_new(rt, topics, errstr, sizeof(errstr))) {
        fail_msg("runtime start: %s", errstr);
    }
    t->run = 1;
    assert_int_equal(pthread_create(&t->thread, NULL, consumer_main, t), 0);
    t->started = 1;
}

int th_rt_stop(th_rt_t *t)
{
    dh_rt_t *rt = t->rt;

    if (!t->started) {
        return -1;
    }
    t->run = 0;
    pthread_join(t->thread, NULL);
    t->started = 0;
    dh_rt_release(rt); /* what run_worker() does after the consumer returned */
    dh_http_global_cleanup();
    return t->code;
}

void th_rt_destroy(th_rt_t *t)
{
    if (!t) {
        return;
    }
    if (t->started) {
        (void)th_rt_stop(t);
    }
    dh_config_destroy((dh_config_t *)t->rt->cfg);
    free(t->rt);
    rd_kafka_destroy(t->producer);
    rd_kafka_mock_cluster_destroy(t->mc);
    rd_kafka_destroy(t->owner);
    free(t);
}

dh_rt_t *th_rt_runtime(th_rt_t *t)
{
    return t->rt;
}

const char *th_rt_bootstraps(const th_rt_t *t)
{
    return t->bootstraps;
}

rd_kafka_mock_cluster_t *th_rt_mock(th_rt_t *t)
{
    return t->mc;
}

const char *th_rt_group(const th_rt_t *t)
{
    return t->group;
}

const char *th_rt_run_id(const th_rt_t *t)
{
    return t->run_id;
}

void th_rt_produce(th_rt_t *t, int32_t partition, const char *key, const char *value,
                   const char *const *hdrs)
{
    rd_kafka_headers_t *h = rd_kafka_headers_new(8);

    for (size_t i = 0; hdrs && hdrs[i] && hdrs[i + 1]; i += 2) {
        rd_kafka_header_add(h, hdrs[i], -1, hdrs[i + 1], -1);
    }
    assert_int_equal(rd_kafka_producev(t->producer, RD_KAFKA_V_TOPIC(t->topic),
                                       RD_KAFKA_V_PARTITION(partition),
                                       RD_KAFKA_V_KEY(key, key ? strlen(key) : 0),
                                       RD_KAFKA_V_VALUE((void *)value, value ? strlen(value) : 0),
                                       RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                       RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_END),
                     RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(rd_kafka_flush(t->producer, 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
}

int th_rt_await(th_rt_t *t, int (*cond)(dh_rt_t *rt, void *ud), void *ud, int timeout_ms)
{
    int64_t deadline = dh_rt_now_ms() + timeout_ms;

    for (;;) {
        pthread_mutex_lock(&t->rt->mu);
        int ok = cond(t->rt, ud);
        pthread_mutex_unlock(&t->rt->mu);

        if (ok) {
            return 1;
        }
        if (dh_rt_now_ms() >= deadline) {
            th_rt_print_state(t, "a wait timed out");
            return 0;
        }
        sleep_ms(5);
    }
}

void th_rt_print_state(th_rt_t *t, const char *why)
{
    const dh_rt_metrics_t *m = &t->rt->m;
    size_t inflight, parked, assigned = 0;

    pthread_mutex_lock(&t->rt->mu);
    inflight = t->rt->inflight;
    parked = t->rt->parked_events;
    for (const dh_rt_part_t *p = t->rt->parts; p; p = p->next) {
        assigned += p->assigned;
    }
    pthread_mutex_unlock(&t->rt->mu);
    fprintf(stderr,
            "runtime (%s): %zu partition(s) assigned, %zu event(s) in flight, %zu parked; "
            "done %llu, skipped %llu, retried %llu, dead %llu, resource waits %llu, lease "
            "waits %llu, redis errors %llu, parks %llu\n",
            why, assigned, inflight, parked, (unsigned long long)dh_counter_value(m->done),
            (unsigned long long)dh_counter_value(m->skipped),
            (unsigned long long)dh_counter_value(m->retried),
            (unsigned long long)dh_counter_value(m->dead),
            (unsigned long long)dh_counter_value(m->waits),
            (unsigned long long)dh_counter_value(m->lease_waits),
            (unsigned long long)dh_counter_value(m->redis_errors),
            (unsigned long long)dh_counter_value(m->parks));
}

struct count_want {
    dh_counter_t *const *c;
    uint64_t n;
};

static int count_reached(dh_rt_t *rt, void *ud)
{
    struct count_want *w = ud;

    (void)rt;
    return dh_counter_value(*w->c) >= w->n;
}

int th_rt_await_count(th_rt_t *t, dh_counter_t *const *c, uint64_t n, int timeout_ms)
{
    struct count_want w = {c, n};

    return th_rt_await(t, count_reached, &w, timeout_ms);
}

int64_t th_rt_stored(th_rt_t *t, int32_t partition)
{
    int64_t v = -1;

    pthread_mutex_lock(&t->rt->mu);
    dh_rt_part_t *p = dh_rt_part_find(t->rt, t->topic, partition);
    if (p) {
        v = p->stored;
    }
    pthread_mutex_unlock(&t->rt->mu);
    return v;
}

int64_t th_rt_committed(th_rt_t *t, const char *group, int32_t partition)
{
    char errstr[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_topic_partition_list_t *tpl = rd_kafka_topic_partition_list_new(1);
    rd_kafka_t *c;
    int64_t off;

    assert_int_equal(
        rd_kafka_conf_set(conf, "bootstrap.servers", t->bootstraps, errstr, sizeof(errstr)), 0);
    assert_int_equal(rd_kafka_conf_set(conf, "group.id", group, errstr, sizeof(errstr)), 0);
    c = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
    assert_non_null(c);
    rd_kafka_topic_partition_list_add(tpl, t->topic, partition);
    assert_int_equal(rd_kafka_committed(c, tpl, 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
    off = tpl->elems[0].offset;
    rd_kafka_topic_partition_list_destroy(tpl);
    rd_kafka_destroy(c);
    return off < 0 ? -1 : off;
}

/* A copy that outlives the reading consumer. */
static void dlq_copy(const rd_kafka_message_t *m, th_dlq_msg_t *out)
{
    rd_kafka_headers_t *h = NULL;

    memset(out, 0, sizeof(*out));
    snprintf(out->key, sizeof(out->key), "%.*s", (int)m->key_len, m->key ? (char *)m->key : "");
    out->value = strndup(m->payload ? (const char *)m->payload : "", m->len);
    assert_non_null(out->value);
    out->hdrs = rd_kafka_message_headers(m, &h) == 0 ? rd_kafka_headers_copy(h) : NULL;
}

void th_dlq_msg_clear(th_dlq_msg_t *m)
{
    free(m->value);
    m->value = NULL;
    if (m->hdrs) {
        rd_kafka_headers_destroy(m->hdrs);
        m->hdrs = NULL;
    }
}

struct stored_want {
    const char *topic;
    int32_t partition;
    int64_t off;
};

static int stored_reached(dh_rt_t *rt, void *ud)
{
    struct stored_want *w = ud;
    dh_rt_part_t *p = dh_rt_part_find(rt, w->topic, w->partition);

    return p && p->stored >= w->off;
}

int th_rt_await_stored(th_rt_t *t, int32_t partition, int64_t off, int timeout_ms)
{
    struct stored_want w = {t->topic, partition, off};

    return th_rt_await(t, stored_reached, &w, timeout_ms);
}

size_t th_rt_dlq(th_rt_t *t, size_t want, int timeout_ms, th_dlq_msg_t *out, size_t max)
{
    char dlq[220];

    snprintf(dlq, sizeof(dlq), "%s.dlq", t->topic);
    return th_rt_read(t, dlq, want, timeout_ms, out, max);
}

size_t th_rt_read(th_rt_t *t, const char *topic, size_t want, int timeout_ms, th_dlq_msg_t *out,
                  size_t max)
{
    rd_kafka_t *c = kafka_client(RD_KAFKA_CONSUMER, t->bootstraps);
    rd_kafka_topic_partition_list_t *tpl = rd_kafka_topic_partition_list_new(1);
    int64_t deadline = dh_rt_now_ms() + timeout_ms;
    size_t n = 0;

    rd_kafka_topic_partition_list_add(tpl, topic, 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
    assert_int_equal(rd_kafka_assign(c, tpl), 0);
    rd_kafka_topic_partition_list_destroy(tpl);
    while (n < want && dh_rt_now_ms() < deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 50);

        if (m && !m->err && n < max) {
            dlq_copy(m, &out[n++]);
        }
        if (m) {
            rd_kafka_message_destroy(m);
        }
    }
    rd_kafka_consumer_close(c);
    rd_kafka_destroy(c);
    return n;
}

const char *th_dlq_hdr(const th_dlq_msg_t *m, const char *name, char *buf, size_t size)
{
    const void *v = NULL;
    size_t len = 0;

    buf[0] = '\0';
    if (m->hdrs && rd_kafka_header_get_last(m->hdrs, name, &v, &len) == 0 && v) {
        snprintf(buf, size, "%.*s", (int)len, (const char *)v);
    }
    return buf;
}

void th_cases_filter(void)
{
    const char *only = getenv("DH_TEST_CASES");

    if (only != NULL && *only) {
        cmocka_set_test_filter(only);
    }
}

char *th_text_file(const char *path)
{
    FILE *f = fopen(path, "r");
    char *text;
    long n;

    if (!f) {
        fail_msg("cannot read %s", path);
    }
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    text = calloc(1, (size_t)n + 1);
    assert_non_null(text);
    assert_int_equal(fread(text, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    return text;
}

char *th_text_replace(const char *text, const char *old, const char *repl)
{
    const char *at = strstr(text, old);
    char *out;

    if (!at) {
        fail_msg("\"%s\" not found", old);
    }
    out = calloc(1, strlen(text) + strlen(repl) + 1);
    assert_non_null(out);
    sprintf(out, "%.*s%s%s", (int)(at - text), text, repl, at + strlen(old));
    return out;
}

void th_stores_file(const char *path, const char *prefix, int n)
{
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    fputs("{\"stores\":[", f);
    for (int i = 0; i < n; i++) {
        fprintf(f,
                "%s{\"domain\":\"%s%d.myshopify.com\",\"tenants\":[\"%s%d\"],"
                "\"admin_url\":\"http://127.0.0.1:9\",\"api_version\":\"2026-10\","
                "\"access_token\":\"shpat_test\",\"webhook_secrets\":[\"s\"],"
                "\"locations\":{}}",
                i ? "," : "", prefix, i, prefix, i);
    }
    fputs("]}", f);
    assert_int_equal(fclose(f), 0);
}

void th_rt_expect_outcome(th_rt_t *t, const char *key, const char *payload, const char *const *hdrs,
                          const char *dead_class)
{
    dh_rt_t *rt = t->rt;
    th_dlq_msg_t m[2];
    char cls[600];

    th_rt_produce(t, 0, key, payload, hdrs);
    if (!dead_class) {
        assert_true(th_rt_await_count(t, &rt->m.done, 1, 20000));
        th_rt_produce(t, 0, key, payload, hdrs); /* a redelivery: a duplicate */
        assert_true(th_rt_await_count(t, &rt->m.skipped, 1, 20000));
        return;
    }
    assert_int_equal(th_rt_dlq(t, 1, 20000, m, 2), 1);
    assert_string_equal(th_dlq_hdr(&m[0], "dh-error-class", cls, sizeof(cls)), dead_class);
    th_dlq_msg_clear(&m[0]);
    assert_true(th_rt_await_stored(t, 0, 1, 20000));
}
