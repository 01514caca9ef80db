/*
 * The orders e2e tests' shared steps (orders_e2e.h): a scenario's sandbox, stores file,
 * topic and group; the workers it starts; orders placed and cancelled in the sandbox store;
 * what reached the WMS, counted from the sandbox journal; and the awaited markers.
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
#include "steps.h"

/* The sandbox store: location 11 "WH1" (and, with \p split, location 12 "Shop2" stocking
 * the same SKUs); the stores file maps WMS facility FAC-1 to location 11 when split. */
static void env_start_with(env_t *e, const char *prefix, int gw_port, int split)
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
        "\"webhook_secret\": \"" WH_SECRET
        "\", \"locations\": [{\"id\": 11, \"name\": \"WH1\"}%s], "
        "\"products\": [{\"id\": 100, \"title\": \"Tee\", \"variants\": ["
        "{\"id\": 200, \"sku\": \"TEE-1\", \"inventory_item_id\": 300, \"price\": \"10.00\"},"
        "{\"id\": 201, \"sku\": \"TEE-2\", \"inventory_item_id\": 301, \"price\": \"12.50\"}]}],"
        "\"levels\": [{\"inventory_item_id\": 300, \"location_id\": 11, \"available\": 1000000},"
        "{\"inventory_item_id\": 301, \"location_id\": 11, \"available\": 1000000}%s]}],"
        "\"wms\": {\"token\": \"" WMS_TOKEN "\"}}",
        e->store, gw_port > 0 ? gw_port : 1, split ? ", {\"id\": 12, \"name\": \"Shop2\"}" : "",
        split ? ", {\"inventory_item_id\": 300, \"location_id\": 12, \"available\": 1000000},"
                "{\"inventory_item_id\": 301, \"location_id\": 12, \"available\": 1000000}"
              : "");
    th_sandbox_start(&e->sb, seed);
    snprintf(stores, sizeof(stores),
             "{\"stores\": [{\"domain\": \"%s\", \"admin_url\": \"%s/shops/%s\", "
             "\"api_version\": \"2026-10\", \"access_token\": \"shpat_e2e\", "
             "\"webhook_secrets\": [\"" WH_SECRET "\"]%s}]}",
             e->store, e->sb.base, e->store,
             split ? ", \"locations\": {\"FAC-1\": \"gid://shopify/Location/11\"}" : "");
    snprintf(e->stores_file, sizeof(e->stores_file), "%s",
             th_write_temp("dh-orders-stores", stores));
}

void env_start(env_t *e, const char *prefix, int gw_port)
{
    env_start_with(e, prefix, gw_port, 0);
}

void env_start_split(env_t *e, const char *prefix, int gw_port)
{
    env_start_with(e, prefix, gw_port, 1);
}

void env_stop(env_t *e)
{
    th_sandbox_stop(&e->sb);
    unlink(e->stores_file);
}

static int gateway_listening(void *ud)
{
    return th_port_open(*(int *)ud);
}

pid_t start_gateway(env_t *e, int gw_port)
{
    char bin[1024], env[5][300];

    snprintf(bin, sizeof(bin), "%s/dh-gateway", th_env_or("DH_TEST_BUILD_DIR", "."));
    if (access(bin, X_OK) != 0) {
        fail_msg("%s is missing: this leg needs the gateway (build it)", bin);
    }
    snprintf(env[0], 300, "DH_GATEWAY_PORT=%d", gw_port);
    snprintf(env[1], 300, "DH_STORES_FILE=%s", e->stores_file);
    snprintf(env[2], 300, "DH_GATEWAY_TOPIC_ORDERS=%s", e->topic);
    snprintf(env[3], 300, "DH_KAFKA_BROKERS=%s", th_kafka());
    snprintf(env[4], 300, "DH_REDIS_URL=%s", th_redis_url());
    const char *genv[] = {
        env[0], env[1], env[2], env[3], env[4], "DH_ADMIN_PORT=0", "DH_GATEWAY_ADDR=127.0.0.1",
        NULL};
    pid_t gw = th_spawn("dh-gateway", genv, e->log);

    assert_true(th_wait_for(gateway_listening, &gw_port, 30000));
    return gw;
}

pid_t start_orders(env_t *e, const char *topic, const char *const *extra)
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

void produce_webhook(rd_kafka_t *rk, const char *topic, const char *store, json_t *order,
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

void producer_done(rd_kafka_t *rk)
{
    assert_int_equal(rd_kafka_flush(rk, 15000), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_destroy(rk);
}

/* ---- the sandbox ---- */

json_t *place_lines(env_t *e, const char *lines_json, const char *extra_json, int deliver)
{
    char url[512], body[2048];
    long st = 0;

    snprintf(url, sizeof(url), "%s/_control/shops/%s/orders", e->sb.base, e->store);
    snprintf(body, sizeof(body), "{\"line_items\": %s, \"deliver\": %s%s%s}", lines_json,
             deliver ? "true" : "false", extra_json ? ", " : "", extra_json ? extra_json : "");
    json_t *o = th_http_json("POST", url, body, &st);

    assert_int_equal(st, 201);
    assert_non_null(o);
    json_object_del(o, "fulfillment_order_ids"); /* control-only field */
    return o;
}

json_t *place(env_t *e, const char *extra_json, int deliver)
{
    return place_lines(
        e, "[{\"sku\": \"TEE-1\", \"quantity\": 2}, {\"sku\": \"TEE-2\", \"quantity\": 1}]",
        extra_json, deliver);
}

json_t *cancel_in_shop(env_t *e, json_t *order, int deliver)
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

json_t *wms_order(env_t *e, long long id)
{
    char url[512], *text = NULL;
    const char *hdr[] = {"Authorization: Bearer " WMS_TOKEN, NULL};

    snprintf(url, sizeof(url), "%s/wms/v1/sales-orders/%s/%lld", e->sb.base, e->store, id);
    long st = th_http("GET", url, hdr, NULL, &text);
    json_t *j = st == 200 && text ? json_loads(text, 0, NULL) : NULL;

    free(text);
    return j;
}

void wms_status(env_t *e, long long id, char *out, size_t size)
{
    json_t *j = wms_order(e, id);

    snprintf(out, size, "%s",
             json_string_value(json_object_get(j, "status"))
                 ? json_string_value(json_object_get(j, "status"))
                 : "");
    json_decref(j);
}

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
    if (!strcmp(json_string_value(json_object_get(j, "method")), "PUT")) {
        if (!strncmp(path, prefix, strlen(prefix)) && !strchr(path + strlen(prefix), '/')) {
            bump(fx->update_attempts, path + strlen(prefix));
            if (performed) {
                bump(fx->updates, path + strlen(prefix));
            }
        }
    } else if (!strcmp(path, "/wms/v1/sales-orders") && coid && store && !strcmp(store, e->store)) {
        fx->unavailable += status == 503;
        add_key(fx->create_keys, coid, key);
        if (performed) {
            bump(fx->creates, coid);
        }
    } else if (!strncmp(path, prefix, strlen(prefix))) {
        fx->unavailable += status == 503;
        snprintf(id, sizeof(id), "%.*s", (int)strcspn(path + strlen(prefix), "/"),
                 path + strlen(prefix));
        if (strstr(path, "/hold") && !strstr(path, "/release-hold")) {
            bump(fx->holds, id);
        }
        if (strstr(path, "/cancel") && performed) {
            bump(fx->cancels, id);
        } else if (strstr(path, "/release-hold")) {
            bump(fx->releases, id);
        }
    }
    json_decref(parsed);
}

void wms_effects(env_t *e, effects_t *fx)
{
    char url[512], *text = NULL, *line, *save = NULL;

    memset(fx, 0, sizeof(*fx));
    fx->base = e->sb.base;
    fx->creates = json_object();
    fx->create_keys = json_object();
    fx->cancels = json_object();
    fx->releases = json_object();
    fx->updates = json_object();
    fx->holds = json_object();
    fx->update_attempts = json_object();
    snprintf(url, sizeof(url), "%s/_journal?group=wms", e->sb.base);
    assert_int_equal(th_http("GET", url, NULL, NULL, &text), 200);
    for (line = text ? strtok_r(text, "\n", &save) : NULL; line;
         line = strtok_r(NULL, "\n", &save)) {
        json_t *j = json_loads(line, 0, NULL);
        const char *path = json_string_value(json_object_get(j, "path"));
        const char *method = json_string_value(json_object_get(j, "method"));

        if (j && path && method && (!strcmp(method, "POST") || !strcmp(method, "PUT"))) {
            effects_add(e, fx, j);
        }
        json_decref(j);
    }
    free(text);
}

void effects_clear(effects_t *fx)
{
    json_decref(fx->creates);
    json_decref(fx->create_keys);
    json_decref(fx->cancels);
    json_decref(fx->releases);
    json_decref(fx->updates);
    json_decref(fx->holds);
    json_decref(fx->update_attempts);
}

long long id_of(json_t *o)
{
    return (long long)json_integer_value(json_object_get(o, "id"));
}

int all_in_state(void *ud)
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

void assert_once(effects_t *fx, long long *ids, const char **want, int n)
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
void await_markers(env_t *e, const long long *ids, int n)
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
