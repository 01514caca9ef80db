/*
 * End to end, flow 2 (docs/orders.md): dh-sandbox (Shopify + WMS) -> dh-gateway -> Kafka ->
 * dh-orders -> WMS sandbox, against the local stack (deploy/stack.sh up).
 *
 *  1. gateway leg: orders placed in the sandbox store travel webhook -> gateway -> Kafka
 *     -> worker -> WMS, created once; a redelivered webhook changes nothing.
 *  2. duplicates, cancellations before their creation, a Return Prime exchange held and
 *     released, and the WMS answering 503 for 30 s while orders flow: every order created
 *     once, cancelled once, none lost (counted in the sandbox journal).
 *  3. a webhook that never arrived ("deliver": false) is caught by the reconciliation.
 * Each scenario uses its own store domain, topic and consumer group, so runs never share
 * idempotency records. Every POST to the WMS is counted in the sandbox journal (a create
 * the WMS absorbed under another key answers 200, not 201, and still counts), and "nothing
 * more happened" is proved by a later event on each order's key, awaited, never a sleep.
 * A missing dh-gateway fails the test.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define WMS_TOKEN "wms-e2e-token"
#define WH_SECRET "whsec-e2e"

typedef struct env {
    th_sandbox_t sb;
    char store[128];
    char stores_file[256];
    char topic[128];
    char group[128];
    char log[256];
} env_t;

static void env_start(env_t *e, const char *prefix, int gw_port)
{
    char buf[100], seed[4096], stores[1024];

    memset(e, 0, sizeof(*e));
    th_unique(prefix, buf, sizeof(buf));
    snprintf(e->store, sizeof(e->store), "%s.myshopify.com", buf);
    snprintf(e->topic, sizeof(e->topic), "t.%s", buf);
    snprintf(e->group, sizeof(e->group), "g.%s", buf);
    snprintf(e->log, sizeof(e->log), "%s/%s-orders.log", th_log_dir(), buf);
    snprintf(
        seed, sizeof(seed),
        "{\"stores\": [{\"domain\": \"%s\", \"access_token\": \"shpat_e2e\", "
        "\"api_version\": \"2026-10\", \"bucket_size\": 2000, \"restore_rate\": 100, "
        "\"webhook_url\": \"http://127.0.0.1:%d/webhooks/shopify\", "
        "\"webhook_secret\": \"" WH_SECRET "\", \"locations\": [{\"id\": 11, \"name\": \"WH1\"}], "
        "\"products\": [{\"id\": 100, \"title\": \"Tee\", \"variants\": ["
        "{\"id\": 200, \"sku\": \"TEE-1\", \"inventory_item_id\": 300, \"price\": \"10.00\"},"
        "{\"id\": 201, \"sku\": \"TEE-2\", \"inventory_item_id\": 301, \"price\": \"12.50\"}]}],"
        "\"levels\": [{\"inventory_item_id\": 300, \"location_id\": 11, \"available\": 1000000},"
        "{\"inventory_item_id\": 301, \"location_id\": 11, \"available\": 1000000}]}],"
        "\"wms\": {\"token\": \"" WMS_TOKEN "\"}}",
        e->store, gw_port > 0 ? gw_port : 1);
    th_sandbox_start(&e->sb, seed);
    snprintf(stores, sizeof(stores),
             "{\"stores\": [{\"domain\": \"%s\", \"admin_url\": \"%s/shops/%s\", "
             "\"api_version\": \"2026-10\", \"access_token\": \"shpat_e2e\", "
             "\"webhook_secrets\": [\"" WH_SECRET "\"]}]}",
             e->store, e->sb.base, e->store);
    snprintf(e->stores_file, sizeof(e->stores_file), "%s",
             th_write_temp("dh-orders-stores", stores));
}

static void env_stop(env_t *e)
{
    th_sandbox_stop(&e->sb);
    unlink(e->stores_file);
}

/* dh-orders with the scenario's environment plus \p extra ("NAME=value", NULL-ended). */
static int gateway_listening(void *ud)
{
    return th_port_open(*(int *)ud);
}

static pid_t start_orders(env_t *e, const char *topic, const char *const *extra)
{
    static char buf[32][300];
    const char *envv[33];
    int n = 0;

#define ADD(...) (snprintf(buf[n], sizeof(buf[n]), __VA_ARGS__), envv[n] = buf[n], n++)
    ADD("DH_KAFKA_BROKERS=%s", th_kafka());
    ADD("DH_REDIS_URL=%s", th_redis_url());
    ADD("DH_TOPICS=%s", topic);
    ADD("DH_GROUP_ID=%s", e->group);
    ADD("DH_STORES_FILE=%s", e->stores_file);
    ADD("DH_WMS_URL=%s", e->sb.base);
    ADD("DH_WMS_TOKEN=%s", WMS_TOKEN);
    ADD("DH_WMS_RATE=default=100000");
    ADD("DH_ADMIN_PORT=0");
    ADD("DH_LANES=16");
    ADD("DH_RETRY_BASE_MS=50");
    ADD("DH_RETRY_MAX_MS=1000");
    ADD("DH_RETRY_MAX_ATTEMPTS=1000");
    ADD("DH_IDEM_LEASE_MS=5000");
    ADD("DH_HTTP_TIMEOUT_MS=5000");
    ADD("DH_ORDERS_RECONCILE_TOPIC=%s", topic);
    ADD("KAFKA_SESSION_TIMEOUT_MS=6000");
    ADD("KAFKA_HEARTBEAT_INTERVAL_MS=1000");
    for (size_t i = 0; extra && extra[i] && n < 32; i++) {
        ADD("%s", extra[i]);
    }
#undef ADD
    envv[n] = NULL;
    fprintf(stderr, "dh-orders on %s: log %s\n", topic, e->log);
    return th_spawn("dh-orders", envv, e->log);
}

/* ---- Kafka with headers (the gateway's envelope) ---- */

static void produce_webhook(rd_kafka_t *rk, const char *topic, const char *store, json_t *order,
                            const char *wtopic, const char *webhook_id)
{
    char key[256], recv[64];
    char *value = json_dumps(order, JSON_COMPACT);
    int64_t now = th_now_ms();
    time_t secs = (time_t)(now / 1000);
    struct tm tm;

    gmtime_r(&secs, &tm);
    strftime(recv, sizeof(recv), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(recv + strlen(recv), sizeof(recv) - strlen(recv), ".%03dZ", (int)(now % 1000));
    snprintf(key, sizeof(key), "%s|%lld", store,
             (long long)json_integer_value(json_object_get(order, "id")));
    rd_kafka_resp_err_t err = rd_kafka_producev(
        rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, strlen(key)),
        RD_KAFKA_V_VALUE(value, strlen(value)), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_HEADER("dh-topic", wtopic, -1), RD_KAFKA_V_HEADER("dh-shop-domain", store, -1),
        RD_KAFKA_V_HEADER("dh-webhook-id", webhook_id, -1),
        RD_KAFKA_V_HEADER("dh-api-version", "2026-10", -1),
        RD_KAFKA_V_HEADER("dh-received-at", recv, -1), RD_KAFKA_V_END);

    assert_int_equal(err, RD_KAFKA_RESP_ERR_NO_ERROR);
    free(value);
    rd_kafka_poll(rk, 0);
}

static void producer_done(rd_kafka_t *rk)
{
    assert_int_equal(rd_kafka_flush(rk, 15000), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_destroy(rk);
}

/* ---- the sandbox ---- */

/* Places an order; returns the REST order (what orders/create carries). */
static json_t *place(env_t *e, const char *extra_json, int deliver)
{
    char url[512], body[512];
    long st = 0;

    snprintf(url, sizeof(url), "%s/_control/shops/%s/orders", e->sb.base, e->store);
    snprintf(body, sizeof(body),
             "{\"line_items\": [{\"sku\": \"TEE-1\", \"quantity\": 2}, {\"sku\": \"TEE-2\", "
             "\"quantity\": 1}], \"deliver\": %s%s%s}",
             deliver ? "true" : "false", extra_json ? ", " : "", extra_json ? extra_json : "");
    json_t *o = th_http_json("POST", url, body, &st);

    assert_int_equal(st, 201);
    assert_non_null(o);
    json_object_del(o, "fulfillment_order_ids"); /* control-only field */
    return o;
}

static json_t *cancel_in_shop(env_t *e, json_t *order, int deliver)
{
    char url[512], body[64];
    long st = 0;

    snprintf(url, sizeof(url), "%s/_control/shops/%s/orders/%lld/cancel", e->sb.base, e->store,
             (long long)json_integer_value(json_object_get(order, "id")));
    snprintf(body, sizeof(body), "{\"deliver\": %s}", deliver ? "true" : "false");
    json_t *o = th_http_json("POST", url, body, &st);

    assert_int_equal(st, 200);
    return o;
}

/* WMS status of an order: "OPEN", "ON_HOLD", "CANCELLED" or "" if unknown. */
static void wms_status(env_t *e, long long id, char *out, size_t size)
{
    char url[512], *text = NULL;
    const char *hdr[] = {"Authorization: Bearer " WMS_TOKEN, NULL};

    snprintf(url, sizeof(url), "%s/wms/v1/sales-orders/%s/%lld", e->sb.base, e->store, id);
    long st = th_http("GET", url, hdr, NULL, &text);
    json_t *j = st == 200 && text ? json_loads(text, 0, NULL) : NULL;

    snprintf(out, size, "%s",
             json_string_value(json_object_get(j, "status"))
                 ? json_string_value(json_object_get(j, "status"))
                 : "");
    json_decref(j);
    free(text);
}

/* What reached the WMS, from the sandbox journal: every POST of this store, per order id.
 * A create the WMS performed is one it did not replay under a key it had stored: 201, or
 * 200 when the natural key (store + channel_order_id) found the order already there (a
 * duplicate create under another key, invisible to a count of 201s). Replays under the
 * same key are flagged by the sandbox and are not performances. */
typedef struct effects {
    const char *base;
    json_t *creates;     /* id -> creates performed (non-replayed 200/201) */
    json_t *create_keys; /* id -> {Idempotency-Key: true} over every create POST */
    json_t *cancels;     /* id -> cancels performed (non-replayed 200) */
    json_t *releases;    /* id -> release-hold POSTs (any answer) */
    int unavailable;     /* POSTs answered 503 by the injected WMS outage */
} effects_t;

static void bump(json_t *map, const char *id)
{
    json_object_set_new(map, id, json_integer(json_integer_value(json_object_get(map, id)) + 1));
}

static void add_key(json_t *map, const char *id, const char *key)
{
    json_t *keys = json_object_get(map, id);

    if (!keys) {
        keys = json_object();
        json_object_set_new(map, id, keys);
    }
    json_object_set_new(keys, key ? key : "", json_true());
}

/* One journal entry: a POST of this store's sales orders. */
static void effects_add(env_t *e, effects_t *fx, json_t *j)
{
    const char *path = json_string_value(json_object_get(j, "path"));
    long status = (long)json_integer_value(json_object_get(j, "status"));
    int performed = !json_is_true(json_object_get(j, "idempotent_replay")) && status / 100 == 2;
    const char *key =
        json_string_value(json_object_get(json_object_get(j, "headers"), "Idempotency-Key"));
    json_t *body = json_object_get(j, "body");
    json_t *parsed =
        json_is_string(body) ? json_loads(json_string_value(body), 0, NULL) : json_incref(body);
    const char *coid = json_string_value(json_object_get(parsed, "channel_order_id"));
    const char *store = json_string_value(json_object_get(parsed, "store"));
    char prefix[256], id[64];

    snprintf(prefix, sizeof(prefix), "/wms/v1/sales-orders/%s/", e->store);
    if (!strcmp(path, "/wms/v1/sales-orders") && coid && store && !strcmp(store, e->store)) {
        fx->unavailable += status == 503;
        add_key(fx->create_keys, coid, key);
        if (performed) {
            bump(fx->creates, coid);
        }
    } else if (!strncmp(path, prefix, strlen(prefix))) {
        fx->unavailable += status == 503;
        snprintf(id, sizeof(id), "%.*s", (int)strcspn(path + strlen(prefix), "/"),
                 path + strlen(prefix));
        if (strstr(path, "/cancel") && performed) {
            bump(fx->cancels, id);
        } else if (strstr(path, "/release-hold")) {
            bump(fx->releases, id);
        }
    }
    json_decref(parsed);
}

static void wms_effects(env_t *e, effects_t *fx)
{
    char url[512], *text = NULL, *line, *save = NULL;

    memset(fx, 0, sizeof(*fx));
    fx->base = e->sb.base;
    fx->creates = json_object();
    fx->create_keys = json_object();
    fx->cancels = json_object();
    fx->releases = json_object();
    snprintf(url, sizeof(url), "%s/_journal?group=wms", e->sb.base);
    assert_int_equal(th_http("GET", url, NULL, NULL, &text), 200);
    for (line = text ? strtok_r(text, "\n", &save) : NULL; line;
         line = strtok_r(NULL, "\n", &save)) {
        json_t *j = json_loads(line, 0, NULL);
        const char *path = json_string_value(json_object_get(j, "path"));
        const char *method = json_string_value(json_object_get(j, "method"));

        if (j && path && method && !strcmp(method, "POST")) {
            effects_add(e, fx, j);
        }
        json_decref(j);
    }
    free(text);
}

static void effects_clear(effects_t *fx)
{
    json_decref(fx->creates);
    json_decref(fx->create_keys);
    json_decref(fx->cancels);
    json_decref(fx->releases);
}

static long long id_of(json_t *o)
{
    return (long long)json_integer_value(json_object_get(o, "id"));
}

/* Waits until every order of \p ids has status \p want[i]. */
typedef struct wait_ctx {
    env_t *e;
    long long *ids;
    const char **want;
    int n;
} wait_ctx_t;

static int all_in_state(void *ud)
{
    wait_ctx_t *w = ud;
    char st[32];

    for (int i = 0; i < w->n; i++) {
        wms_status(w->e, w->ids[i], st, sizeof(st));
        if (strcmp(st, w->want[i]) != 0) {
            return 0;
        }
    }
    return 1;
}

static void assert_once(effects_t *fx, long long *ids, const char **want, int n)
{
    char id[32];

    for (int i = 0; i < n; i++) {
        snprintf(id, sizeof(id), "%lld", ids[i]);
        long long c = (long long)json_integer_value(json_object_get(fx->creates, id));
        long long k = (long long)json_object_size(json_object_get(fx->create_keys, id));
        long long x = (long long)json_integer_value(json_object_get(fx->cancels, id));

        if (c != 1 || k != 1 || x != (strcmp(want[i], "CANCELLED") == 0)) {
            char url[512], *text = NULL;

            snprintf(url, sizeof(url), "%s/_journal?group=wms", fx->base);
            th_http("GET", url, NULL, NULL, &text);
            for (char *ln = text; ln && *ln;) {
                char *nl = strchr(ln, '\n');
                json_t *j = json_loadb(ln, nl ? (size_t)(nl - ln) : strlen(ln), 0, NULL);
                const char *pth = json_string_value(json_object_get(j, "path"));
                const char *bdy = json_string_value(json_object_get(j, "body"));

                if (!(pth && strstr(pth, id)) && !(bdy && strstr(bdy, id))) {
                    json_decref(j);
                    ln = nl ? nl + 1 : NULL;
                    continue;
                }

                fprintf(stderr, "journal %s: %s %s -> %lld replay=%d key=%s body=%s\n", id,
                        json_string_value(json_object_get(j, "method")),
                        json_string_value(json_object_get(j, "path")),
                        (long long)json_integer_value(json_object_get(j, "status")),
                        json_is_true(json_object_get(j, "idempotent_replay")),
                        json_string_value(
                            json_object_get(json_object_get(j, "headers"), "Idempotency-Key")),
                        json_string_value(json_object_get(j, "body")));
                json_decref(j);
                ln = nl ? nl + 1 : NULL;
            }
            free(text);
            fail_msg("order %s: %lld creations under %lld keys, %lld cancellations (want 1, 1, "
                     "%d)",
                     id, c, k, x, strcmp(want[i], "CANCELLED") == 0);
        }
    }
}

/* ---- "nothing more happened": a later event on each order's key, awaited ---- */

/* A fulfillment_holds/released of order \p id under a fresh webhook id: the worker POSTs
 * release-hold (the WMS answers 200 whatever the order's state). Events of one key are
 * handled in order, so its POST proves every earlier event of that order was handled. */
static void produce_marker(rd_kafka_t *rk, const char *topic, const char *store, long long id)
{
    char key[256], value[64], wid[96];

    snprintf(key, sizeof(key), "%s|%lld", store, id);
    snprintf(value, sizeof(value), "{\"order_id\": %lld}", id);
    snprintf(wid, sizeof(wid), "wh-marker-%lld-%lld", id, (long long)th_now_ms());
    rd_kafka_resp_err_t err = rd_kafka_producev(
        rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, strlen(key)),
        RD_KAFKA_V_VALUE(value, strlen(value)), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_HEADER("dh-topic", "fulfillment_holds/released", -1),
        RD_KAFKA_V_HEADER("dh-shop-domain", store, -1), RD_KAFKA_V_HEADER("dh-webhook-id", wid, -1),
        RD_KAFKA_V_HEADER("dh-api-version", "2026-10", -1), RD_KAFKA_V_END);

    assert_int_equal(err, RD_KAFKA_RESP_ERR_NO_ERROR);
}

typedef struct marker_ctx {
    env_t *e;
    const long long *ids;
    long long *before; /* release-hold POSTs per order before the markers */
    int n;
} marker_ctx_t;

static int markers_seen(void *ud)
{
    marker_ctx_t *m = ud;
    effects_t fx;
    char id[32];
    int ok = 1;

    wms_effects(m->e, &fx);
    for (int i = 0; i < m->n && ok; i++) {
        snprintf(id, sizeof(id), "%lld", m->ids[i]);
        ok = json_integer_value(json_object_get(fx.releases, id)) > m->before[i];
    }
    effects_clear(&fx);
    return ok;
}

/* Produces one marker per order and waits until the WMS saw each. */
static void await_markers(env_t *e, const long long *ids, int n)
{
    long long before[64];
    marker_ctx_t m = {e, ids, before, n};
    effects_t fx;
    char id[32];

    assert_true(n <= 64);
    wms_effects(e, &fx);
    for (int i = 0; i < n; i++) {
        snprintf(id, sizeof(id), "%lld", ids[i]);
        before[i] = json_integer_value(json_object_get(fx.releases, id));
    }
    effects_clear(&fx);
    rd_kafka_t *rk = th_kafka_producer();

    for (int i = 0; i < n; i++) {
        produce_marker(rk, e->topic, e->store, ids[i]);
    }
    producer_done(rk);
    assert_true(th_wait_for(markers_seen, &m, 60000));
}

/* ---- 1. webhook -> gateway -> Kafka -> worker -> WMS ---- */

static void test_gateway_leg(void **state)
{
    char bin[1024], portenv[64], storesenv[300], url[512], envb[4][300];
    int gw_port = th_free_port();
    long long ids[5];
    const char *want[5];

    (void)state;
    snprintf(bin, sizeof(bin), "%s/dh-gateway", th_env_or("DH_TEST_BUILD_DIR", "."));
    if (access(bin, X_OK) != 0) {
        fail_msg("%s is missing: this leg needs the gateway (build it)", bin);
    }
    env_t e;

    env_start(&e, "ordgw", gw_port);
    th_create_topic(e.topic, 6);
    snprintf(portenv, sizeof(portenv), "DH_GATEWAY_PORT=%d", gw_port);
    snprintf(storesenv, sizeof(storesenv), "DH_STORES_FILE=%s", e.stores_file);
    snprintf(envb[2], 300, "DH_GATEWAY_TOPIC_ORDERS=%s", e.topic);
    snprintf(envb[0], 300, "DH_KAFKA_BROKERS=%s", th_kafka());
    snprintf(envb[1], 300, "DH_REDIS_URL=%s", th_redis_url());
    const char *genv[] = {portenv,
                          storesenv,
                          envb[0],
                          envb[1],
                          envb[2],
                          "DH_ADMIN_PORT=0",
                          "DH_GATEWAY_ADDR=127.0.0.1",
                          NULL};
    pid_t gw = th_spawn("dh-gateway", genv, e.log);
    /* The gateway writes to this run's own topic, read from the beginning: no waiting for
     * the group to join before the first webhook. */
    const char *extra[] = {"DH_ORDERS_RECONCILE_INTERVAL_S=0", NULL};
    pid_t w = start_orders(&e, e.topic, extra);

    assert_true(th_wait_for(gateway_listening, &gw_port, 30000));
    for (int i = 0; i < 5; i++) {
        json_t *o = place(&e, NULL, 1);

        ids[i] = id_of(o);
        want[i] = "OPEN";
        json_decref(o);
    }
    wait_ctx_t wc = {&e, ids, want, 5};

    assert_true(th_wait_for(all_in_state, &wc, 60000));
    /* A Shopify retry of one delivery: same body and webhook id. */
    snprintf(url, sizeof(url), "%s/_control/shops/%s/orders/%lld/redeliver", e.sb.base, e.store,
             ids[0]);
    assert_int_equal(th_http("POST", url, NULL, "{}", NULL), 202);
    /* The barrier: the sandbox delivers webhooks one at a time, in order, so the order's
     * cancellation reaches the gateway after the redelivery, on the same key; once it is
     * CANCELLED in the WMS the redelivery was handled too. */
    json_t *o0 = json_object();

    json_object_set_new(o0, "id", json_integer(ids[0]));
    json_decref(cancel_in_shop(&e, o0, 1));
    json_decref(o0);
    want[0] = "CANCELLED";
    assert_true(th_wait_for(all_in_state, &wc, 60000));
    effects_t fx;

    wms_effects(&e, &fx);
    assert_once(&fx, ids, want, 5);
    effects_clear(&fx);
    th_stop(w);
    kill(gw, SIGTERM);
    th_wait_exit(gw, 10000);
    env_stop(&e);
}

/* ---- 2. duplicates, cancel before create, hold, WMS 503 for 30 s ---- */

#define N2 20

static void test_duplicates_cancel_first_outage(void **state)
{
    env_t e;
    json_t *created[N2 + 1], *cancelled[N2 + 1];
    long long ids[N2 + 1];
    const char *want[N2 + 1];
    char wid[64], url[512];

    (void)state;
    env_start(&e, "orddup", 0);
    th_create_topic(e.topic, 6);
    for (int i = 0; i < N2 + 1; i++) {
        created[i] = place(&e, NULL, 0); /* payloads only: we deliver them ourselves */
        ids[i] = id_of(created[i]);
        cancelled[i] = (i % 2 == 0 || (i >= 10 && i < 15)) && i < N2
                           ? cancel_in_shop(&e, created[i], 0)
                           : NULL;
        want[i] = cancelled[i] ? "CANCELLED" : "OPEN";
    }
    /* The last order is a Return Prime exchange: tagged, created held, released later. */
    json_object_set_new(created[N2], "tags", json_string("returnprime, exchange"));
    want[N2] = "OPEN";

    const char *extra[] = {"DH_ORDERS_RECONCILE_INTERVAL_S=0", NULL};
    pid_t w = start_orders(&e, e.topic, extra);
    rd_kafka_t *rk = th_kafka_producer();

    /* The WMS fails every call for 30 s while the orders flow. */
    snprintf(url, sizeof(url), "%s/_control/faults", e.sb.base);
    assert_int_equal(th_http("POST", url, NULL,
                             "{\"group\":\"wms\",\"error_rate\":1.0,\"error_status\":503,"
                             "\"for_ms\":30000}",
                             NULL),
                     200);
    for (int i = 0; i < N2; i++) {
        snprintf(wid, sizeof(wid), "wh-create-%d", i);
        if (i >= 10 && i < 15) { /* the cancellation arrives before the creation */
            produce_webhook(rk, e.topic, e.store, cancelled[i], "orders/cancelled", "wh-c1");
            produce_webhook(rk, e.topic, e.store, created[i], "orders/create", wid);
            continue;
        }
        produce_webhook(rk, e.topic, e.store, created[i], "orders/create", wid);
        produce_webhook(rk, e.topic, e.store, created[i], "orders/create", wid); /* retry */
        produce_webhook(rk, e.topic, e.store, created[i], "orders/updated", "wh-u");
        if (cancelled[i]) {
            produce_webhook(rk, e.topic, e.store, cancelled[i], "orders/cancelled", "wh-c");
            produce_webhook(rk, e.topic, e.store, cancelled[i], "orders/updated", "wh-cu");
            produce_webhook(rk, e.topic, e.store, cancelled[i], "orders/cancelled", "wh-c");
        }
    }
    produce_webhook(rk, e.topic, e.store, created[N2], "orders/create", "wh-x");
    producer_done(rk);

    /* Wait out the outage, then the exchange must be held. */
    const char *held[] = {"ON_HOLD"};
    wait_ctx_t wh = {&e, &ids[N2], held, 1};

    assert_true(th_wait_for(all_in_state, &wh, 90000));
    rk = th_kafka_producer();
    json_object_set_new(created[N2], "tags", json_string("")); /* Return Prime released it */
    json_object_set_new(created[N2], "updated_at", json_string("2030-01-01T00:00:00Z"));
    produce_webhook(rk, e.topic, e.store, created[N2], "orders/updated", "wh-xu");
    producer_done(rk);

    wait_ctx_t wc = {&e, ids, want, N2 + 1};

    assert_true(th_wait_for(all_in_state, &wc, 90000));
    await_markers(&e, ids, N2 + 1); /* every earlier event of each order was handled */
    effects_t fx;

    wms_effects(&e, &fx);
    assert_once(&fx, ids, want, N2 + 1);
    fprintf(stderr, "WMS answered %d POSTs with 503 during the outage\n", fx.unavailable);
    assert_true(fx.unavailable >= 1); /* the outage happened to the worker's calls */
    effects_clear(&fx);
    th_stop(w);
    for (int i = 0; i < N2 + 1; i++) {
        json_decref(created[i]);
        json_decref(cancelled[i]);
    }
    env_stop(&e);
}

/* ---- 3. a lost webhook is caught by the reconciliation ---- */

/* What the Shopify journal says about the reconciliation: the OrderForReconcile calls (the
 * ids asked for, each counted) and the answers that were over the cost cap or throttled. */
typedef struct gql_calls {
    json_t *fetched; /* order GID -> number of OrderForReconcile calls */
    int pages, fetches, over_cost, throttled;
} gql_calls_t;

static void shopify_calls(env_t *e, gql_calls_t *g, int verbose)
{
    char url[512], *text = NULL, *line, *save = NULL;

    memset(g, 0, sizeof(*g));
    g->fetched = json_object();
    snprintf(url, sizeof(url), "%s/_journal?group=shopify", e->sb.base);
    assert_int_equal(th_http("GET", url, NULL, NULL, &text), 200);
    for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        json_t *j = json_loads(line, 0, NULL);
        const char *body = json_string_value(json_object_get(j, "body"));
        const char *resp = json_string_value(json_object_get(j, "response"));
        json_t *req = body ? json_loads(body, 0, NULL) : NULL;
        const char *q = json_string_value(json_object_get(req, "query"));
        const char *gid =
            json_string_value(json_object_get(json_object_get(req, "variables"), "id"));

        g->over_cost += resp && strstr(resp, "MAX_COST_EXCEEDED") != NULL;
        g->throttled += (resp && strstr(resp, "THROTTLED") != NULL) ||
                        json_is_true(json_object_get(j, "throttled"));
        g->pages += q && strstr(q, "query OrdersUpdatedSince") != NULL;
        if (q && strstr(q, "query OrderForReconcile") && gid) {
            g->fetches++;
            if (verbose) {
                fprintf(stderr, "journal: %s OrderForReconcile %s\n",
                        json_string_value(json_object_get(j, "time")), gid);
            }
            json_object_set_new(
                g->fetched, gid,
                json_integer(json_integer_value(json_object_get(g->fetched, gid)) + 1));
        }
        json_decref(req);
        json_decref(j);
    }
    free(text);
}

typedef struct pages_ctx {
    env_t *e;
    int want;
} pages_ctx_t;

/* The reconciliation has read at least want pages (one per pass). */
static int pages_at_least(void *ud)
{
    pages_ctx_t *p = ud;
    gql_calls_t g;

    shopify_calls(p->e, &g, 0);
    json_decref(g.fetched);
    return g.pages >= p->want;
}

/* Orders 0-2 never reach the worker; order 3's webhook does, and is handled before the
 * first pass (held back through the pass state's "next" key), so exactly three orders are
 * missing: the pass reads one default-size page (DH_ORDERS_RECONCILE_PAGE unset, 50) and
 * fetches those three in full, once each, never over Shopify's cost cap. */
static void test_reconcile_catches_lost_webhook(void **state)
{
    env_t e;
    long long ids[4];
    const char *want[4] = {"OPEN", "OPEN", "CANCELLED", "OPEN"};
    json_t *o;

    (void)state;
    env_start(&e, "ordrec", 0);
    th_create_topic(e.topic, 6);
    for (int i = 0; i < 4; i++) {
        o = place(&e, NULL, 0); /* "deliver": false: the webhook never arrives */
        ids[i] = id_of(o);
        if (i == 2) {
            json_decref(cancel_in_shop(&e, o, 0));
        }
        if (i == 3) { /* this one did arrive: reconciliation must not duplicate it */
            rd_kafka_t *rk = th_kafka_producer();

            produce_webhook(rk, e.topic, e.store, o, "orders/create", "wh-3");
            producer_done(rk);
        }
        json_decref(o);
    }
    /* The pass state's "next" is Unix ms (the worker's CLOCK_REALTIME). */
    redisContext *rc = th_redis();
    int64_t first_pass = th_now_ms() + 20000;

    th_redis_int(rc, "SET dh:orders:reconcile:next:%s %lld", e.store,
                 (long long)time(NULL) * 1000 + 20000);
    redisFree(rc);
    const char *extra[] = {"DH_ORDERS_RECONCILE_INTERVAL_S=2", "DH_ORDERS_RECONCILE_LOOKBACK_S=600",
                           NULL};
    pid_t w = start_orders(&e, e.topic, extra);
    wait_ctx_t w3 = {&e, &ids[3], &want[3], 1}, wc = {&e, ids, want, 4};

    assert_true(th_wait_for(all_in_state, &w3, 20000));
    assert_true(th_now_ms() < first_pass); /* else the test cannot tell what was missing */
    assert_true(th_wait_for(all_in_state, &wc, 60000));
    /* Two more passes start (so the one before the second finished) and every order's
     * key has a later event handled: nothing may have been created or fetched twice. */
    gql_calls_t g;
    pages_ctx_t pc = {&e, 0};

    shopify_calls(&e, &g, 0);
    pc.want = g.pages + 2;
    json_decref(g.fetched);
    assert_true(th_wait_for(pages_at_least, &pc, 30000));
    await_markers(&e, ids, 4);
    effects_t fx;

    wms_effects(&e, &fx);
    assert_once(&fx, ids, want, 4);
    effects_clear(&fx);
    shopify_calls(&e, &g, 1);
    char *fetched = json_dumps(g.fetched, JSON_COMPACT | JSON_SORT_KEYS);

    fprintf(stderr, "reconcile: %d pages, %d order fetches %s\n", g.pages, g.fetches,
            fetched ? fetched : "");
    free(fetched);
    assert_int_equal(g.over_cost, 0);
    assert_int_equal(g.throttled, 0);
    assert_true(g.pages >= 2);
    assert_int_equal(g.fetches, 3);
    for (int i = 0; i < 3; i++) {
        char gid[64];

        snprintf(gid, sizeof(gid), "gid://shopify/Order/%lld", ids[i]);
        assert_int_equal(json_integer_value(json_object_get(g.fetched, gid)), 1);
    }
    json_decref(g.fetched);
    th_stop(w);
    env_stop(&e);
}

/* ORDERS_E2E_ONLY=<substring of a test name> runs only the matching tests. */
int main(void)
{
    if (getenv("ORDERS_E2E_ONLY")) {
        cmocka_set_test_filter(getenv("ORDERS_E2E_ONLY"));
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gateway_leg),
        cmocka_unit_test(test_duplicates_cancel_first_outage),
        cmocka_unit_test(test_reconcile_catches_lost_webhook),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
