/*
 * dh-gateway: receives Shopify and Return Prime webhooks over HTTP, verifies their
 * signatures and writes them, byte for byte, to Kafka (shopify.orders, shopify.products,
 * returnprime.cir); it answers 200 only once the broker has acknowledged. Not a consumer
 * worker: no dh_worker_main(). Exit codes: 0 clean stop, 1 failure, 2 configuration.
 */
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dockhand/admin.h"
#include "dockhand/config.h"
#include "dockhand/log.h"
#include "dockhand/worker.h"
#include "gateway.h"
#include "route.h"
#include "server.h"

static volatile sig_atomic_t g_run = 1; /* the one mutable global: the signal flag */

static void on_signal(int sig)
{
    (void)sig;
    g_run = 0;
}

static const dh_config_var_t gateway_vars[] = {
    {"DH_GATEWAY_ADDR", DH_CFG_STRING, "0.0.0.0", 0, 0, NULL,
     "Address the webhook endpoints listen on (IPv4 or IPv6 literal)."},
    {"DH_GATEWAY_PORT", DH_CFG_INT, "8080", 0, 65535, NULL,
     "Port of the webhook endpoints; 0 picks a free one."},
    {"DH_GATEWAY_MAX_BODY", DH_CFG_INT, "1048576", 1024, 67108864, NULL,
     "Largest webhook body accepted, in bytes (larger: 413)."},
    {"DH_GATEWAY_ACK_TIMEOUT_MS", DH_CFG_INT, "4000", 100, 60000, NULL,
     "How long a request waits for Kafka's acknowledgement before answering 503; keep it "
     "under Shopify's 5 s budget."},
    {"DH_GATEWAY_MAX_CONNECTIONS", DH_CFG_INT, "1024", 1, 65535, NULL,
     "Concurrent HTTP connections (one thread each)."},
    {"DH_GATEWAY_MAX_CONNECTIONS_PER_IP", DH_CFG_INT, "256", 0, 65535, NULL,
     "Concurrent HTTP connections from one client address (more are closed at once); 0 = no "
     "cap. Behind a proxy every connection has the proxy's address: size it for the proxy."},
    {"DH_GATEWAY_REQUEST_TIMEOUT_MS", DH_CFG_INT, "10000", 100, 600000, NULL,
     "A request (headers and body) must be complete this long after its connection was "
     "accepted or its previous answer sent, else 408 and the connection is closed; idle "
     "keep-alive connections close after it too."},
    {"DH_GATEWAY_TOPIC_ORDERS", DH_CFG_STRING, DH_GW_TOPIC_ORDERS, 0, 0, NULL,
     "Kafka topic for orders/*, fulfillment_holds/* and refunds/create webhooks."},
    {"DH_GATEWAY_TOPIC_PRODUCTS", DH_CFG_STRING, DH_GW_TOPIC_PRODUCTS, 0, 0, NULL,
     "Kafka topic for products/* webhooks."},
    {"DH_GATEWAY_TOPIC_RETURNPRIME", DH_CFG_STRING, DH_GW_TOPIC_RETURNPRIME, 0, 0, NULL,
     "Kafka topic for Return Prime webhooks."},
    {"DH_DEDUP_TTL_S", DH_CFG_INT, "86400", 0, 31536000, NULL,
     "How long a delivered webhook id suppresses redeliveries; 0 disables suppression."},
    DH_CONFIG_END,
};

/* Everything the process holds, so that cleanup is one function. */
typedef struct app {
    dh_config_t *cfg;
    dh_stores_t *stores;
    dh_metrics_t *metrics;
    dh_gw_producer_t *producer;
    dh_gw_dedup_t *dedup;
    dh_admin_t *admin;
    dh_gw_server_t *server;
    dh_gw_t gw;
    atomic_llong last_loop_us;
} app_t;

/* The gateway's own variables beyond their types: what its start would refuse. */
static void gateway_check(const dh_config_t *cfg, dh_config_report_t *report)
{
    dh_process_check_addr(cfg, report, "DH_GATEWAY_ADDR");
}

/* Returns -1 to run, else the exit code (the same command line as every worker). */
static int load_config(int argc, char **argv, dh_config_t **cfg)
{
    const dh_config_var_t *tables[] = {dh_process_config_vars, gateway_vars, dh_stores_config_vars,
                                       NULL};
    /* The checks a worker runs: Redis URL, KAFKA_* through librdkafka, the stores file. */
    const dh_config_check_fn checks[] = {dh_process_check_config, dh_stores_config_check,
                                         gateway_check, NULL};

    return dh_config_cli(argc, argv, "dh-gateway", tables, checks, cfg);
}

static int admin_healthy(void *ud, char *buf, size_t size)
{
    app_t *app = ud;
    long long age_ms = (dh_gw_now_us() - atomic_load(&app->last_loop_us)) / 1000;

    if (age_ms > 10000) {
        snprintf(buf, size, "main loop stalled for %lld ms", age_ms);
        return 0;
    }
    return 1;
}

static int admin_ready(void *ud, char *buf, size_t size)
{
    app_t *app = ud;

    if (!dh_gw_producer_ready(app->producer)) {
        snprintf(buf, size, "no Kafka broker reachable");
        return 0;
    }
    return 1;
}

static dh_err_t start_clients(app_t *app, char *errstr, size_t errstr_size)
{
    const dh_config_t *c = app->cfg;
    dh_gw_producer_opts_t po = {
        .cfg = c,
        .brokers = dh_config_get(c, "DH_KAFKA_BROKERS"),
        .ack_timeout_ms = (int)dh_config_int(c, "DH_GATEWAY_ACK_TIMEOUT_MS"),
    };
    dh_gw_dedup_opts_t dopts = {
        .redis_url = dh_config_get(c, "DH_REDIS_URL"),
        .password = dh_config_get(c, "DH_REDIS_PASSWORD"),
        /* Dedup is optional: never let a slow Redis eat the webhook's 5 s budget. */
        .timeout_ms = dh_config_int(c, "DH_REDIS_TIMEOUT_MS") < 250
                          ? (int)dh_config_int(c, "DH_REDIS_TIMEOUT_MS")
                          : 250,
        .ttl_s = dh_config_int(c, "DH_DEDUP_TTL_S"),
    };
    dh_err_t err =
        dh_stores_load(dh_config_get(c, "DH_STORES_FILE"), &app->stores, errstr, errstr_size);

    if (err) {
        return err;
    }
    app->metrics = dh_metrics_new();
    if (!app->metrics) {
        snprintf(errstr, errstr_size, "out of memory");
        return DH_ERR_NOMEM;
    }
    err = dh_gw_producer_new(&po, &app->producer, errstr, errstr_size);
    if (err) {
        return err;
    }
    return dh_gw_dedup_new(&dopts, &app->dedup, errstr, errstr_size);
}

static dh_err_t start_servers(app_t *app, char *errstr, size_t errstr_size)
{
    const dh_config_t *c = app->cfg;
    dh_admin_opts_t ao = {.bind_addr = dh_config_get(c, "DH_ADMIN_ADDR"),
                          .port = (int)dh_config_int(c, "DH_ADMIN_PORT"),
                          .metrics = app->metrics,
                          .healthy = admin_healthy,
                          .ready = admin_ready,
                          .ud = app};
    dh_gw_server_opts_t so = {
        .bind_addr = dh_config_get(c, "DH_GATEWAY_ADDR"),
        .port = (int)dh_config_int(c, "DH_GATEWAY_PORT"),
        .max_conns = (unsigned int)dh_config_int(c, "DH_GATEWAY_MAX_CONNECTIONS"),
        .idle_timeout_s = 60,
        .max_conns_per_ip = (unsigned int)dh_config_int(c, "DH_GATEWAY_MAX_CONNECTIONS_PER_IP"),
        .request_timeout_ms = (int)dh_config_int(c, "DH_GATEWAY_REQUEST_TIMEOUT_MS"),
        .gw = &app->gw};
    dh_err_t err;

    app->gw = (dh_gw_t){.stores = app->stores,
                        .producer = app->producer,
                        .dedup = app->dedup,
                        .registry = app->metrics,
                        .max_body = (size_t)dh_config_int(c, "DH_GATEWAY_MAX_BODY"),
                        .topic_orders = dh_config_get(c, "DH_GATEWAY_TOPIC_ORDERS"),
                        .topic_products = dh_config_get(c, "DH_GATEWAY_TOPIC_PRODUCTS"),
                        .topic_returnprime = dh_config_get(c, "DH_GATEWAY_TOPIC_RETURNPRIME")};
    err = dh_gw_metrics_init(&app->gw);
    if (err) {
        snprintf(errstr, errstr_size, "cannot create metrics");
        return err;
    }
    if (ao.port >= 0) {
        err = dh_admin_start(&ao, &app->admin, errstr, errstr_size);
        if (err) {
            return err;
        }
        DH_LOG(DH_LOG_INFO, "admin", "admin endpoints on %s:%d", ao.bind_addr,
               dh_admin_port(app->admin));
    }
    err = dh_gw_server_start(&so, &app->server, errstr, errstr_size);
    if (!err) {
        DH_LOG(DH_LOG_INFO, "gateway", "webhooks on %s:%d (%zu store(s), dedup %s)", so.bind_addr,
               dh_gw_server_port(app->server), dh_stores_count(app->stores),
               app->dedup ? "on" : "off");
    }
    return err;
}

/* Until SIGTERM: keep the readiness probe fresh. Returns the exit code. */
static int run(app_t *app)
{
    long long next_probe = 0;

    while (g_run) {
        long long now = dh_gw_now_us();

        atomic_store(&app->last_loop_us, now);
        if (now >= next_probe) {
            dh_gw_producer_probe(app->producer, 1000);
            next_probe = now + 2000000;
        }
        if (dh_gw_producer_fatal(app->producer)) {
            DH_LOG(DH_LOG_ERROR, "gateway", "producer failed fatally; exiting to restart");
            return 1;
        }
        nanosleep(&(struct timespec){0, 100000000L}, NULL);
    }
    return 0;
}

static void app_stop(app_t *app)
{
    int ack_ms = app->cfg ? (int)dh_config_int(app->cfg, "DH_GATEWAY_ACK_TIMEOUT_MS") : 0;

    if (app->server) {
        /* Stop accepting, let requests already received get their answer, then close. */
        dh_gw_server_quiesce(app->server);
        dh_gw_server_stop(app->server, ack_ms + 1000);
    }
    dh_gw_producer_destroy(app->producer, 5000);
    dh_admin_stop(app->admin);
    dh_gw_dedup_destroy(app->dedup);
    dh_metrics_destroy(app->metrics);
    dh_stores_destroy(app->stores);
    dh_config_destroy(app->cfg);
}

int main(int argc, char **argv)
{
    app_t app = {0};
    dh_log_level_t level = DH_LOG_INFO;
    struct sigaction sa;
    char errstr[1024] = "";
    int code = load_config(argc, argv, &app.cfg);

    if (code >= 0) {
        return code;
    }
    if (dh_log_level_parse(dh_config_get(app.cfg, "DH_LOG_LEVEL"), &level)) {
        level = DH_LOG_INFO; /* unreachable: the enum was validated */
    }
    dh_log_init("gateway", level);
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    atomic_init(&app.last_loop_us, dh_gw_now_us());
    code = 1;
    if (start_clients(&app, errstr, sizeof(errstr)) ||
        start_servers(&app, errstr, sizeof(errstr))) {
        DH_LOG(DH_LOG_ERROR, "gateway", "start: %s", errstr);
        goto out;
    }
    code = run(&app);
    DH_LOG(DH_LOG_INFO, "gateway", "stopping: %d request(s) in flight",
           dh_gw_server_inflight(app.server));
out:
    app_stop(&app);
    DH_LOG(DH_LOG_INFO, "gateway", "stopped (exit %d)", code);
    return code;
}
