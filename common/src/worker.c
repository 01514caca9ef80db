/*
 * dh_worker_main(): the whole life of a worker process. Reads the configuration (the
 * runtime's table plus the worker's own), answers --help / --check-config /
 * --dump-config, starts the admin port, lanes, dead-letter producer and consumer, runs
 * until SIGTERM or SIGINT, drains, and picks the exit code (0 clean, 1 fatal, 2 config).
 */
#include <ctype.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dockhand/admin.h"
#include "dockhand/log.h"
#include "dockhand/stores.h"
#include "runtime.h"

extern char **environ;

static volatile sig_atomic_t g_run = 1; /* the one mutable global: the signal flag */

static void on_signal(int sig)
{
    (void)sig;
    g_run = 0;
}

/* Variables every dockhand process has (workers and the gateway). */
const dh_config_var_t dh_process_config_vars[] = {
    {"DH_KAFKA_BROKERS", DH_CFG_STRING, "127.0.0.1:39092", 0, 0, NULL,
     "Kafka bootstrap servers (KAFKA_BOOTSTRAP_SERVERS overrides)."},
    {"DH_REDIS_URL", DH_CFG_URL, "redis://127.0.0.1:36379", 0, 0, "redis",
     "Redis for idempotency records, shared rate limits and locks: "
     "redis://[[user]:password@]host:port[/db]."},
    {"DH_REDIS_PASSWORD", DH_CFG_SECRET, "", 0, 0, NULL,
     "Redis password (or DH_REDIS_PASSWORD_FILE)."},
    {"DH_REDIS_TIMEOUT_MS", DH_CFG_INT, "2000", 10, 60000, NULL,
     "Redis connect and command timeout."},
    {"DH_ADMIN_ADDR", DH_CFG_STRING, "0.0.0.0", 0, 0, NULL,
     "Address of the /metrics, /healthz, /readyz port."},
    {"DH_ADMIN_PORT", DH_CFG_INT, "9464", -1, 65535, NULL,
     "Port of the admin endpoints; 0 picks a free one, -1 disables them."},
    {"DH_LOG_LEVEL", DH_CFG_ENUM, "info", 0, 0, "debug|info|warn|error", "Minimum log level."},
    DH_CONFIG_END,
};

/* The consumer runtime's own variables. */
const dh_config_var_t dh_rt_config_vars[] = {
    {"DH_TOPICS", DH_CFG_STRING, "", 0, 0, NULL,
     "Comma-separated topics to consume; empty means the worker's default topics."},
    {"DH_GROUP_ID", DH_CFG_STRING, "", 0, 0, NULL,
     "Consumer group; empty means dockhand-<worker>."},
    {"DH_INSTANCE_NAME", DH_CFG_STRING, "", 0, 0, NULL,
     "This replica's name in leases and logs; empty means <hostname>-<pid>."},
    {"DH_LANES", DH_CFG_INT, "8", 1, 256, NULL,
     "Worker threads; events of one key run in order, different keys in parallel."},
    {"DH_BATCH_MAX", DH_CFG_INT, "", 1, 1024, NULL,
     "Events a lane takes at once (one Redis round trip claims them all); unset: the "
     "worker's preference, else 64."},
    {"DH_BATCH_LINGER_MS", DH_CFG_INT, "", 0, 60000, NULL,
     "How long a lane may wait for a batch to fill; unset: the worker's preference, else 0."},
    {"DH_MAX_INFLIGHT_PER_PARTITION", DH_CFG_INT, "5000", 10, 1000000, NULL,
     "Unfinished events per partition before it is paused (resumed at half)."},
    {"DH_MAX_INFLIGHT_BYTES", DH_CFG_INT, "16777216", 65536, 4294967296LL, NULL,
     "Bytes of fetched, unfinished events (their copies) across all partitions; each "
     "assigned partition is paused at its equal share and resumed at half."},
    {"DH_IDEM_LEASE_MS", DH_CFG_INT, "60000", 100, 3600000, NULL,
     "Lease on a batch's effects while they are performed, renewed between handler calls "
     "once a third of it has passed; must exceed the longest single handler call."},
    {"DH_IDEM_RETENTION_S", DH_CFG_INT, "691200", 60, 31536000, NULL,
     "How long a done record is kept; longer than the replay horizon (default 8 days, "
     "topic retention is 7)."},
    {"DH_TRACE_RETENTION_S", DH_CFG_INT, "259200", 0, 31536000, NULL,
     "How long the trace records of applied effects (one per batch, for dh-ops trace) and "
     "their index are kept; 0 writes none (default 3 days)."},
    {"DH_RETRY_MAX_ATTEMPTS", DH_CFG_INT, "12", 1, 1000, NULL,
     "Attempts before a transiently failing event is dead-lettered."},
    {"DH_RETRY_MAX_AGE_MS", DH_CFG_INT, "1800000", 1000, 604800000, NULL,
     "Age (since first seen) after which a failing event is dead-lettered."},
    {"DH_RETRY_BASE_MS", DH_CFG_INT, "250", 1, 600000, NULL,
     "First retry delay; doubles per attempt, with jitter."},
    {"DH_RETRY_MAX_MS", DH_CFG_INT, "30000", 1, 3600000, NULL, "Largest retry delay."},
    {"DH_PARK_MEMORY_MAX", DH_CFG_INT, "1000", 1, 1000000, NULL,
     "Events of one store in trouble a replica keeps parked in memory; beyond, or after "
     "DH_PARK_MEMORY_MS, the store's events are set aside in Redis until it answers."},
    {"DH_PARK_MEMORY_MS", DH_CFG_INT, "15000", 0, 86400000, NULL,
     "How long a store's gate may stay closed with its events parked in memory before they "
     "are set aside in Redis (they would otherwise hold their partitions' offsets)."},
    {"DH_PARK_DRAIN_CHUNK", DH_CFG_INT, "500", 1, 100000, NULL,
     "Set-aside events a replica takes back into work at a time once their store answers."},
    {"DH_REVOKE_TIMEOUT_MS", DH_CFG_INT, "10000", 0, 600000, NULL,
     "On a rebalance, how long to wait for running events of revoked partitions."},
    {"DH_DRAIN_TIMEOUT_MS", DH_CFG_INT, "20000", 0, 600000, NULL,
     "On SIGTERM, how long to let fetched events finish before closing."},
    {"DH_HTTP_CONNECT_TIMEOUT_MS", DH_CFG_INT, "2000", 1, 60000, NULL, "HTTP connect timeout."},
    {"DH_HTTP_TIMEOUT_MS", DH_CFG_INT, "10000", 1, 300000, NULL, "HTTP total request timeout."},
    {"DH_HTTP_MAX_BODY", DH_CFG_INT, "8388608", 1024, 1073741824, NULL,
     "Largest HTTP response body accepted, in bytes."},
    DH_CONFIG_END,
};

/* A bind address must be what dh_admin_sockaddr() takes: a numeric IPv4 or IPv6 literal. */
static void addr_check(const dh_config_t *cfg, dh_config_report_t *report, const char *name,
                       int used)
{
    const char *addr = dh_config_get(cfg, name);
    struct sockaddr_storage ss;
    int ipv6 = 0;

    if (used && addr && !dh_admin_sockaddr(addr, 0, &ss, &ipv6)) {
        dh_config_report(report, name, "must be a numeric IPv4 or IPv6 address, got '%.64s'", addr);
    }
}

typedef struct kafka_check {
    dh_config_report_t *report;
    rd_kafka_conf_t *conf; /* scratch: never used by a client */
} kafka_check_t;

/* One KAFKA_* property on the scratch configuration; its variable named on failure
 * (KAFKA_<PROP> upper-cased, as the variables are written). */
static int kafka_prop_check(const char *prop, const char *value, void *ud)
{
    kafka_check_t *kc = ud;
    char errstr[512] = "";
    char name[256];
    size_t n = (size_t)snprintf(name, sizeof(name), "KAFKA_");

    for (const char *p = prop; *p && n + 1 < sizeof(name); p++) {
        name[n++] = *p == '.' ? '_' : (char)toupper((unsigned char)*p);
    }
    name[n] = '\0';
    if (rd_kafka_conf_set(kc->conf, prop, value, errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK) {
        dh_config_report(kc->report, name, "librdkafka refuses %s: %s", prop, errstr);
    }
    return 0; /* go on: every bad property in one report */
}

void dh_process_check_addr(const dh_config_t *cfg, dh_config_report_t *report, const char *name)
{
    addr_check(cfg, report, name, 1);
}

void dh_process_check_config(const dh_config_t *cfg, dh_config_report_t *report)
{
    const char *url = dh_config_get(cfg, "DH_REDIS_URL");
    dh_redis_opts_t ro = {
        .url = url,
        .password = dh_config_get(cfg, "DH_REDIS_PASSWORD"),
        .timeout_ms = 1000,
    };
    char errstr[512] = "";
    kafka_check_t kc = {report, rd_kafka_conf_new()};
    dh_redis_t *r;

    if (url && *url) { /* the client a lane makes, without connecting */
        r = dh_redis_new(&ro, errstr, sizeof(errstr));
        if (!r) {
            dh_config_report(report, "DH_REDIS_URL", "%s", errstr);
        }
        dh_redis_destroy(r);
    }
    if (kc.conf) {
        (void)dh_config_kafka_each(cfg, kafka_prop_check, &kc);
        rd_kafka_conf_destroy(kc.conf);
    }
    addr_check(cfg, report, "DH_ADMIN_ADDR", dh_config_int(cfg, "DH_ADMIN_PORT") >= 0);
}

static int admin_healthy(void *ud, char *buf, size_t size)
{
    dh_rt_t *rt = ud;
    long long age = dh_rt_now_ms() - atomic_load(&rt->last_loop_ms);

    if (age > 30000) {
        snprintf(buf, size, "poll loop stalled for %lld ms", age);
        return 0;
    }
    return 1;
}

static int admin_ready(void *ud, char *buf, size_t size)
{
    dh_rt_t *rt = ud;

    if (atomic_load(&rt->redis_down)) {
        snprintf(buf, size, "redis unreachable");
        return 0;
    }
    if (!atomic_load(&rt->ready_flag)) {
        snprintf(buf, size, "no partitions assigned yet");
        return 0;
    }
    return 1;
}

void dh_rt_metrics_setup(dh_rt_t *rt)
{
    static const double lat[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                 0.1,    0.25,  0.5,    1,     2.5,  5,     10};
    char lbl[200];
    dh_metrics_t *m = rt->metrics;
    const char *ev = "dh_events_total";
    const char *evh = "Events finished by outcome.";

#define OUTCOME(field, word)                                                                       \
    snprintf(lbl, sizeof(lbl), "worker=\"%s\",outcome=\"%s\"", rt->handler->name, word);           \
    rt->m.field = dh_metrics_counter(m, ev, evh, lbl)
    OUTCOME(done, "done");
    OUTCOME(skipped, "duplicate");
    OUTCOME(dead, "dead_letter");
    OUTCOME(superseded, "superseded");
#undef OUTCOME
    snprintf(lbl, sizeof(lbl), "worker=\"%s\"", rt->handler->name);
    rt->m.retried = dh_metrics_counter(m, "dh_retries_total", "Failed attempts retried.", lbl);
    rt->m.nudges = dh_metrics_counter(m, "dh_fetch_nudges_total",
                                      "Wake-ups sent to a fetcher stopped by a full queue.", lbl);
    rt->m.waits = dh_metrics_counter(m, "dh_resource_waits_total",
                                     "Events that waited for a rate limit or resource.", lbl);
    rt->m.lease_waits = dh_metrics_counter(m, "dh_lease_waits_total",
                                           "Events that waited for another replica's lease.", lbl);
    rt->m.leases_lapsed = dh_metrics_counter(m, "dh_leases_lapsed_total",
                                             "Batches whose idempotency lease lapsed before they "
                                             "finished (an effect may have run twice).",
                                             lbl);
    rt->m.redis_errors =
        dh_metrics_counter(m, "dh_redis_errors_total", "Redis failures seen by lanes.", lbl);
    rt->m.latency = dh_metrics_histogram(m, "dh_handler_seconds", "Handler latency.", lbl, lat,
                                         sizeof(lat) / sizeof(lat[0]));
    rt->m.inflight = dh_metrics_gauge(m, "dh_inflight_events", "Events fetched, unfinished.", lbl);
    rt->m.inflight_bytes =
        dh_metrics_gauge(m, "dh_inflight_bytes", "Bytes of fetched, unfinished events.", lbl);
    rt->m.lag = dh_metrics_gauge(m, "dh_consumer_lag", "Consumer lag (librdkafka stats).", lbl);
    rt->m.assigned = dh_metrics_gauge(m, "dh_assigned_partitions", "Partitions assigned.", lbl);
    rt->m.paused = dh_metrics_gauge(
        m, "dh_paused_partitions",
        "Assigned partitions not fetched: over a backpressure bound, Redis down or draining.", lbl);
    rt->m.redis_up = dh_metrics_gauge(m, "dh_redis_up", "1 while Redis is reachable.", lbl);
    rt->m.parked = dh_metrics_gauge(m, "dh_parked_events",
                                    "Events parked on the gates of stores in trouble.", lbl);
    rt->m.gated = dh_metrics_gauge(m, "dh_gated_stores", "Stores whose gate is closed.", lbl);
    rt->m.park_stores =
        dh_metrics_gauge(m, "dh_set_aside_stores",
                         "Stores with events set aside in Redis (lane 0's last look).", lbl);
    rt->m.spilled =
        dh_metrics_counter(m, "dh_set_aside_events_total",
                           "Events set aside in Redis while their store was in trouble.", lbl);
    rt->m.unspilled = dh_metrics_counter(m, "dh_taken_back_events_total",
                                         "Set-aside events taken back into work.", lbl);
    rt->m.parks = dh_metrics_counter(m, "dh_parks_total",
                                     "Keys parked on a closed store gate (each time).", lbl);
    for (int g = DH_GATE_THROTTLED; g < DH_GATE__COUNT; g++) {
        static const char *const why[] = {"", "throttled", "auth", "unavailable"};
        char glbl[300];

        snprintf(glbl, sizeof(glbl), "worker=\"%s\",reason=\"%s\"", rt->handler->name, why[g]);
        rt->m.gate_closes[g] = dh_metrics_counter(m, "dh_store_gate_closes_total",
                                                  "Store gates closed, by the trouble seen.", glbl);
    }
    dh_gauge_set(rt->m.redis_up, 1);
}

void dh_rt_opts_from_config(dh_rt_t *rt)
{
    const dh_config_t *c = rt->cfg;
    dh_rt_opts_t *o = &rt->opts;

    o->lanes = (int)dh_config_int(c, "DH_LANES");
    o->batch_max = (int)dh_config_int(c, "DH_BATCH_MAX");
    if (o->batch_max <= 0) {
        o->batch_max = rt->handler->batch_max > 0 ? rt->handler->batch_max : 64;
    }
    o->linger_ms = *dh_config_get(c, "DH_BATCH_LINGER_MS") ? dh_config_int(c, "DH_BATCH_LINGER_MS")
                                                           : rt->handler->linger_ms;
    o->max_inflight_per_partition = (int)dh_config_int(c, "DH_MAX_INFLIGHT_PER_PARTITION");
    o->max_inflight_bytes = dh_config_int(c, "DH_MAX_INFLIGHT_BYTES");
    o->lease_ms = dh_config_int(c, "DH_IDEM_LEASE_MS");
    o->retention_s = dh_config_int(c, "DH_IDEM_RETENTION_S");
    o->trace_retention_s = dh_config_int(c, "DH_TRACE_RETENTION_S");
    o->retry_max_attempts = (int)dh_config_int(c, "DH_RETRY_MAX_ATTEMPTS");
    o->retry_max_age_ms = dh_config_int(c, "DH_RETRY_MAX_AGE_MS");
    o->retry_base_ms = dh_config_int(c, "DH_RETRY_BASE_MS");
    o->retry_max_ms = dh_config_int(c, "DH_RETRY_MAX_MS");
    o->revoke_timeout_ms = dh_config_int(c, "DH_REVOKE_TIMEOUT_MS");
    o->park_memory_max = (size_t)dh_config_int(c, "DH_PARK_MEMORY_MAX");
    o->park_memory_ms = dh_config_int(c, "DH_PARK_MEMORY_MS");
    o->park_drain_chunk = (size_t)dh_config_int(c, "DH_PARK_DRAIN_CHUNK");
    o->drain_timeout_ms = dh_config_int(c, "DH_DRAIN_TIMEOUT_MS");

    const char *inst = dh_config_get(c, "DH_INSTANCE_NAME");
    if (inst && *inst) {
        snprintf(rt->owner, sizeof(rt->owner), "%s", inst);
    } else {
        char host[64] = "host";

        gethostname(host, sizeof(host) - 1);
        snprintf(rt->owner, sizeof(rt->owner), "%s-%d", host, (int)getpid());
    }
}

#define TOPICS_MAX 8

/* DH_TOPICS, when set, names 1..TOPICS_MAX topics (topics_new() takes no more). */
static void runtime_check(const dh_config_t *cfg, dh_config_report_t *report)
{
    const char *s = dh_config_get(cfg, "DH_TOPICS");
    size_t n = 0;

    for (const char *p = s; p && *p;) {
        size_t len = strcspn(p, ",");
        size_t sp = strspn(p, " ");

        n += sp < len;
        p += len + (p[len] == ',');
    }
    if (s && *s && n == 0) {
        dh_config_report(report, "DH_TOPICS", "names no topic");
    } else if (n > TOPICS_MAX) {
        dh_config_report(report, "DH_TOPICS", "names %zu topics, at most %d", n, TOPICS_MAX);
    }
}

/* Split DH_TOPICS (or take the handler's defaults) into a NULL-terminated array. */
static char **topics_new(const dh_config_t *cfg, const dh_handler_t *h)
{
    const char *s = dh_config_get(cfg, "DH_TOPICS");
    size_t n = 0, cap = TOPICS_MAX;
    char **v = calloc(cap + 1, sizeof(*v));

    if (!v) {
        return NULL;
    }
    if (!s || !*s) {
        for (; h->topics && h->topics[n] && n < cap; n++) {
            v[n] = strdup(h->topics[n]);
        }
        return v;
    }
    char *copy = strdup(s), *save = NULL;
    for (char *t = strtok_r(copy, ",", &save); t && n < cap; t = strtok_r(NULL, ",", &save)) {
        while (*t == ' ') {
            t++;
        }
        if (*t) {
            v[n++] = strdup(t);
        }
    }
    free(copy);
    return v;
}

static void topics_destroy(char **v)
{
    for (size_t i = 0; v && v[i]; i++) {
        free(v[i]);
    }
    free(v);
}

/* Parse arguments, load and check the configuration: the same checks for --check-config
 * and a start. Returns -1 to continue, else an exit code. */
static int load_config(int argc, char **argv, const dh_handler_t *h, dh_config_t **cfg)
{
    const dh_config_var_t *tables[16] = {dh_process_config_vars, dh_rt_config_vars};
    const dh_config_check_fn checks[] = {dh_process_check_config, runtime_check,
                                         dh_stores_config_check,  dh_wms_config_check,
                                         h->check_config,         NULL};
    size_t nt = 2;
    char prog[64];

    for (size_t i = 0; h->config && h->config[i] && nt < 15; i++) {
        tables[nt++] = h->config[i];
    }
    snprintf(prog, sizeof(prog), "dh-%s", h->name);
    return dh_config_cli(argc, argv, prog, tables, checks, cfg);
}

static dh_err_t start_admin(dh_rt_t *rt, dh_admin_t **admin, char *errstr, size_t errstr_size)
{
    long long port = dh_config_int(rt->cfg, "DH_ADMIN_PORT");
    dh_admin_opts_t ao = {
        .bind_addr = dh_config_get(rt->cfg, "DH_ADMIN_ADDR"),
        .port = (int)port,
        .metrics = rt->metrics,
        .healthy = admin_healthy,
        .ready = admin_ready,
        .ud = rt,
    };

    if (port < 0) {
        return DH_OK;
    }
    dh_err_t err = dh_admin_start(&ao, admin, errstr, errstr_size);
    if (!err) {
        DH_LOG(DH_LOG_INFO, "admin", "admin endpoints on %s:%d", ao.bind_addr,
               dh_admin_port(*admin));
    }
    return err;
}

void dh_rt_release(dh_rt_t *rt)
{
    if (rt->lanes) {
        dh_rt_lanes_stop(rt);
    }
    dh_rt_dlq_destroy(rt, 5000);
    if (rt->out) {
        rd_kafka_flush(rt->out, 5000);
        rd_kafka_destroy(rt->out);
        rt->out = NULL;
    }
    if (rt->handler->fini && rt->shared) {
        rt->handler->fini(rt->shared);
        rt->shared = NULL;
    }
    dh_stores_destroy(rt->stores); /* after fini: the worker borrowed it */
    rt->stores = NULL;
    dh_metrics_destroy(rt->metrics);
    rt->metrics = NULL;
    dh_rt_fini(rt);
}

/* The worker context as a start makes it: the stores file (when the worker lists it) and
 * the handler's init(). */
dh_err_t dh_rt_handler_init(dh_rt_t *rt, char *errstr, size_t errstr_size, int *code)
{
    const char *stores = dh_config_get(rt->cfg, "DH_STORES_FILE");
    char why[448] = "";
    dh_err_t err = DH_OK;

    /* Checked a moment ago by load_config(): a failure here means the file changed. */
    if (stores && dh_stores_load(stores, &rt->stores, why, sizeof(why))) {
        snprintf(errstr, errstr_size, "DH_STORES_FILE: %s", why);
        *code = 2;
        return DH_ERR_CONFIG;
    }
    if (rt->handler->init) {
        dh_worker_ctx_t ctx = {.cfg = rt->cfg, .metrics = rt->metrics, .stores = rt->stores};

        err = rt->handler->init(&ctx, &rt->shared, why, sizeof(why));
        if (err) {
            snprintf(errstr, errstr_size, "init: %s", why);
            *code = err == DH_ERR_CONFIG ? 2 : 1;
        }
    }
    return err;
}

/* Everything after configuration: returns the exit code. */
static int run_worker(dh_rt_t *rt)
{
    char errstr[512] = "";
    char **topics = NULL;
    dh_admin_t *admin = NULL;
    int code = 1;

    if (dh_rt_init(rt) || !(rt->metrics = dh_metrics_new())) {
        DH_LOG(DH_LOG_ERROR, "worker", "out of memory");
        return 1;
    }
    dh_rt_metrics_setup(rt);
    dh_rt_opts_from_config(rt);
    atomic_store(&rt->last_loop_ms, dh_rt_now_ms());
    topics = topics_new(rt->cfg, rt->handler);
    if (!topics || !topics[0]) {
        DH_LOG(DH_LOG_ERROR, "worker", "no topics to consume (set DH_TOPICS)");
        goto out;
    }
    if (dh_rt_handler_init(rt, errstr, sizeof(errstr), &code)) {
        DH_LOG(DH_LOG_ERROR, "worker", "%s", errstr);
        goto out;
    }
    if (start_admin(rt, &admin, errstr, sizeof(errstr)) ||
        dh_rt_dlq_new(rt, errstr, sizeof(errstr)) ||
        dh_rt_lanes_start(rt, errstr, sizeof(errstr)) ||
        dh_rt_consumer_new(rt, (const char *const *)topics, errstr, sizeof(errstr))) {
        DH_LOG(DH_LOG_ERROR, "worker", "start: %s", errstr);
        goto out;
    }
    DH_LOG(DH_LOG_INFO, "worker", "started: %d lane(s), consuming %s%s", rt->opts.lanes, topics[0],
           topics[1] ? " and more" : "");
    code = dh_rt_consumer_run(rt, &g_run);
    DH_LOG(DH_LOG_INFO, "worker", "stopped (exit %d)", code);
out:
    if (rt->consumer) { /* failed after the consumer was created */
        rd_kafka_consumer_close(rt->consumer);
        rd_kafka_destroy(rt->consumer);
    }
    dh_admin_stop(admin);
    topics_destroy(topics);
    dh_rt_release(rt);
    return code;
}

int dh_worker_main(int argc, char **argv, const dh_handler_t *handler)
{
    dh_config_t *cfg = NULL;
    dh_log_level_t level = DH_LOG_INFO;
    struct sigaction sa;
    dh_rt_t *rt;
    int code;

    /* glibc gives each allocating thread an arena of its own (up to 8 per core): lanes and
     * librdkafka's threads then each keep the memory a burst freed, and the RSS stays at
     * several times what is live. Two arenas keep it near the live size (measured with
     * bench/fairness/run.sh); MALLOC_ARENA_MAX still decides when set. */
    if (!getenv("MALLOC_ARENA_MAX")) {
        mallopt(M_ARENA_MAX, 2);
    }
    code = load_config(argc, argv, handler, &cfg);
    if (code >= 0) {
        return code;
    }
    if (dh_log_level_parse(dh_config_get(cfg, "DH_LOG_LEVEL"), &level)) {
        level = DH_LOG_INFO; /* unreachable: the enum was validated */
    }
    dh_log_init(handler->name, level);
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (dh_http_global_init()) {
        dh_config_destroy(cfg);
        return 1;
    }
    rt = calloc(1, sizeof(*rt));
    if (!rt) {
        code = 1;
    } else {
        rt->handler = handler;
        rt->cfg = cfg;
        code = run_worker(rt);
        free(rt);
    }
    dh_http_global_cleanup();
    dh_config_destroy(cfg);
    return code;
}
