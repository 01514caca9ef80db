/*
 * End to end, flow 4 (docs/returns.md): dh-sandbox (Return Prime + WMS) -> dh-gateway ->
 * Kafka -> dh-returns -> WMS sandbox, against the local stack (deploy/stack.sh up).
 *
 * One scenario on its own store, topic and consumer group (so runs never share
 * idempotency records):
 *  1. through the gateway: an approved return creates one WMS return with its lines; a
 *     request/created (pending) creates nothing, its approval later does; an exchange
 *     creates its return leg; the same webhook redelivered byte for byte, the same request
 *     sent again under a new webhook id and a later request/received create nothing more;
 *  2. produced directly with the gateway's headers: a malformed value, a schema violation,
 *     an unknown store and a line without SKU land in <topic>.dlq with their classes; a
 *     request produced while the WMS answers 503 is created once after it recovers;
 *  3. a replay of the whole topic by a fresh consumer group makes no WMS call at all.
 * Effects are counted in the sandbox's WMS journal. A missing dh-gateway fails the test.
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
#define RP_SECRET "rp-e2e-secret"

typedef struct env {
    th_sandbox_t sb;
    int gw_port, admin_port;
    char store[128];
    char stores_file[256];
    char topic[128];
    char log[256];
} env_t;

static void env_start(env_t *e, const char *prefix)
{
    char buf[100], seed[2048], stores[1024];

    memset(e, 0, sizeof(*e));
    th_unique(prefix, buf, sizeof(buf));
    e->gw_port = th_free_port();
    snprintf(e->store, sizeof(e->store), "%s.myshopify.com", buf);
    snprintf(e->topic, sizeof(e->topic), "t.%s", buf);
    snprintf(e->log, sizeof(e->log), "%s/%s-returns.log", th_log_dir(), buf);
    snprintf(seed, sizeof(seed),
             "{\"stores\": [{\"domain\": \"%s\", \"access_token\": \"shpat_e2e\", "
             "\"api_version\": \"2026-10\", \"locations\": [{\"id\": 11, \"name\": \"WH1\"}]}], "
             "\"wms\": {\"token\": \"" WMS_TOKEN "\"}, \"returnprime\": {\"webhook_url\": "
             "\"http://127.0.0.1:%d/webhooks/returnprime/%s\", \"webhook_secret\": "
             "\"" RP_SECRET "\"}}",
             e->store, e->gw_port, e->store);
    th_sandbox_start(&e->sb, seed);
    snprintf(stores, sizeof(stores),
             "{\"stores\": [{\"domain\": \"%s\", \"admin_url\": \"%s/shops/%s\", "
             "\"api_version\": \"2026-10\", \"access_token\": \"shpat_e2e\", "
             "\"webhook_secrets\": [\"unused\"], \"returnprime_secret\": \"" RP_SECRET "\"}]}",
             e->store, e->sb.base, e->store);
    snprintf(e->stores_file, sizeof(e->stores_file), "%s",
             th_write_temp("dh-returns-stores", stores));
    th_create_topic(e->topic, 6);
}

static pid_t start_gateway(env_t *e)
{
    static char buf[6][300];

    snprintf(buf[0], 300, "DH_GATEWAY_PORT=%d", e->gw_port);
    snprintf(buf[1], 300, "DH_STORES_FILE=%s", e->stores_file);
    snprintf(buf[2], 300, "DH_GATEWAY_TOPIC_RETURNPRIME=%s", e->topic);
    snprintf(buf[3], 300, "DH_KAFKA_BROKERS=%s", th_kafka());
    snprintf(buf[4], 300, "DH_REDIS_URL=%s", th_redis_url());
    const char *genv[] = {
        buf[0], buf[1], buf[2], buf[3], buf[4], "DH_ADMIN_PORT=0", "DH_GATEWAY_ADDR=127.0.0.1",
        NULL};

    return th_spawn("dh-gateway", genv, e->log);
}

static pid_t start_returns(env_t *e, const char *group)
{
    static char buf[24][300];
    const char *envv[25];
    int n = 0;

#define ADD(...) (snprintf(buf[n], sizeof(buf[n]), __VA_ARGS__), envv[n] = buf[n], n++)
    ADD("DH_KAFKA_BROKERS=%s", th_kafka());
    ADD("DH_REDIS_URL=%s", th_redis_url());
    ADD("DH_TOPICS=%s", e->topic);
    ADD("DH_GROUP_ID=%s", group);
    ADD("DH_STORES_FILE=%s", e->stores_file);
    ADD("DH_WMS_URL=%s", e->sb.base);
    ADD("DH_WMS_TOKEN=%s", WMS_TOKEN);
    ADD("DH_WMS_RATE=default=100000");
    ADD("DH_ADMIN_ADDR=127.0.0.1");
    ADD("DH_ADMIN_PORT=%d", e->admin_port);
    ADD("DH_LANES=4");
    ADD("DH_RETRY_BASE_MS=50");
    ADD("DH_RETRY_MAX_MS=500");
    ADD("DH_RETRY_MAX_ATTEMPTS=1000");
    ADD("DH_IDEM_LEASE_MS=5000");
    ADD("DH_HTTP_TIMEOUT_MS=5000");
    ADD("KAFKA_SESSION_TIMEOUT_MS=6000");
    ADD("KAFKA_HEARTBEAT_INTERVAL_MS=1000");
#undef ADD
    envv[n] = NULL;
    fprintf(stderr, "dh-returns on %s (group %s): log %s\n", e->topic, group, e->log);
    return th_spawn("dh-returns", envv, e->log);
}

/* ---- Return Prime (the sandbox sends the signed webhook to the gateway) ---- */

static json_t *rp_request(env_t *e, const char *id, const char *type, const char *topic,
                          const char *lines, const char *extra)
{
    char url[512], body[2048];
    long st = 0;

    snprintf(url, sizeof(url), "%s/_control/returnprime/requests", e->sb.base);
    snprintf(body, sizeof(body),
             "{\"store\": \"%s\", \"type\": \"%s\", \"order_id\": 5001, \"order_name\": "
             "\"#5001\", \"request_id\": \"%s\", \"request_number\": \"N-%s\", \"topic\": "
             "\"%s\", \"lines\": [%s]%s%s}",
             e->store, type, id, id, topic, lines, extra ? ", " : "", extra ? extra : "");
    json_t *r = th_http_json("POST", url, body, &st);

    assert_int_equal(st, 202);
    assert_non_null(r);
    return r;
}

#define LINE(id, sku, qty, reason)                                                                 \
    "{\"line_item_id\": " #id ", \"sku\": \"" sku "\", \"quantity\": " #qty                        \
    ", \"reason\": \"" reason "\", \"price\": \"10.00\", \"variant_id\": 200, \"product_id\": "    \
    "100}"

/* ---- the WMS journal ---- */

/* Per return_request_id: successful creations (201, not replayed), distinct
 * Idempotency-Keys, and the body of the first creation. Plus every POST /returns. */
typedef struct wms_seen {
    json_t *created; /* id -> count */
    json_t *keys;    /* id -> {key: true} */
    json_t *bodies;  /* id -> body */
    int posts, unavailable;
} wms_seen_t;

static void wms_journal(env_t *e, wms_seen_t *w)
{
    char url[512], *text = NULL, *line, *save = NULL;

    memset(w, 0, sizeof(*w));
    w->created = json_object();
    w->keys = json_object();
    w->bodies = json_object();
    snprintf(url, sizeof(url), "%s/_journal?group=wms", e->sb.base);
    assert_int_equal(th_http("GET", url, NULL, NULL, &text), 200);
    if (!text) {
        return; /* an empty journal */
    }
    for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        json_t *j = json_loads(line, 0, NULL);
        const char *path = json_string_value(json_object_get(j, "path"));
        long status = (long)json_integer_value(json_object_get(j, "status"));
        json_t *b = json_object_get(j, "body");
        json_t *body =
            json_is_string(b) ? json_loads(json_string_value(b), 0, NULL) : json_incref(b);
        const char *id = json_string_value(json_object_get(body, "return_request_id"));
        const char *key =
            json_string_value(json_object_get(json_object_get(j, "headers"), "Idempotency-Key"));

        if (path && !strcmp(path, "/wms/v1/returns") && id) {
            w->posts++;
            w->unavailable += status == 503;
            if (key) {
                if (!json_object_get(w->keys, id)) {
                    json_object_set_new(w->keys, id, json_object());
                }
                json_object_set_new(json_object_get(w->keys, id), key, json_true());
            }
            if (status == 201 && !json_is_true(json_object_get(j, "idempotent_replay"))) {
                json_object_set_new(
                    w->created, id,
                    json_integer(json_integer_value(json_object_get(w->created, id)) + 1));
                if (!json_object_get(w->bodies, id)) {
                    json_object_set(w->bodies, id, body);
                }
            }
        }
        json_decref(body);
        json_decref(j);
    }
    free(text);
}

static void wms_seen_clear(wms_seen_t *w)
{
    json_decref(w->created);
    json_decref(w->keys);
    json_decref(w->bodies);
}

typedef struct want_ctx {
    env_t *e;
    const char *const *ids;
} want_ctx_t;

static int all_created(void *ud)
{
    want_ctx_t *c = ud;
    wms_seen_t w;
    int ok = 1;

    wms_journal(c->e, &w);
    for (size_t i = 0; c->ids[i]; i++) {
        ok &= json_object_get(w.created, c->ids[i]) != NULL;
    }
    wms_seen_clear(&w);
    return ok;
}

static void wait_created(env_t *e, const char *const *ids, int timeout_ms)
{
    want_ctx_t c = {e, ids};

    assert_true(th_wait_for(all_created, &c, timeout_ms));
}

/* ---- direct produce (what the gateway writes) ---- */

static void produce(rd_kafka_t *rk, const char *topic, const char *store, const char *id,
                    const char *rp_topic, const char *value)
{
    char key[300];

    snprintf(key, sizeof(key), "%s|%s", store, id);
    rd_kafka_resp_err_t err = rd_kafka_producev(
        rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, strlen(key)),
        RD_KAFKA_V_VALUE((void *)value, strlen(value)), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_HEADER("dh-topic", rp_topic, -1), RD_KAFKA_V_HEADER("dh-store", store, -1),
        RD_KAFKA_V_HEADER("dh-webhook-id", id, -1),
        RD_KAFKA_V_HEADER("dh-received-at", "2026-05-10T12:00:00.000Z", -1), RD_KAFKA_V_END);

    assert_int_equal(err, RD_KAFKA_RESP_ERR_NO_ERROR);
}

/* A request body as Return Prime sends it (schema-valid unless the caller breaks it). */
static char *request_json(const char *id, int qty, const char *sku_json)
{
    char buf[1024];

    snprintf(buf, sizeof(buf),
             "{\"request\": {\"id\": \"%s\", \"request_number\": \"N-%s\", \"request_type\": "
             "\"return\", \"status\": \"approved\", \"created_at\": \"2026-05-10T12:00:00Z\", "
             "\"order\": {\"id\": 5002, \"name\": \"#5002\"}, \"line_items\": [{\"id\": 931, "
             "\"quantity\": %d, \"reason\": \"Others\", \"original_product\": {\"sku\": %s, "
             "\"variant_id\": 201}}]}}",
             id, id, qty, sku_json);
    return strdup(buf);
}

/* ---- the replay's progress, from the worker's /metrics ---- */

typedef struct progress {
    env_t *e;
    long long want;
} progress_t;

static int finished_all(void *ud)
{
    progress_t *p = ud;
    char url[128], *text = NULL;
    long long total = 0;

    snprintf(url, sizeof(url), "http://127.0.0.1:%d/metrics", p->e->admin_port);
    if (th_http("GET", url, NULL, NULL, &text) != 200) {
        free(text);
        return 0;
    }
    for (char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        if (!strncmp(l, "dh_events_total{", 16) && strstr(l, "worker=\"returns\"") &&
            strchr(l, '}') && strchr(l, '\n') > strchr(l, '}')) {
            total += (long long)strtod(strchr(l, '}') + 1, NULL);
        }
    }
    free(text);
    return total >= p->want;
}

static long long topic_messages(const char *topic)
{
    rd_kafka_t *rk = th_kafka_producer();
    long long n = 0;

    for (int32_t p = 0; p < 6; p++) {
        int64_t lo = 0, hi = 0;

        assert_int_equal(rd_kafka_query_watermark_offsets(rk, topic, p, &lo, &hi, 10000),
                         RD_KAFKA_RESP_ERR_NO_ERROR);
        n += hi - lo;
    }
    rd_kafka_destroy(rk);
    return n;
}

static int gateway_listening(void *ud)
{
    return th_port_open(*(int *)ud);
}

static void test_returns(void **state)
{
    char bin[1024], group[128], url[512];
    env_t e;
    wms_seen_t w;

    (void)state;
    snprintf(bin, sizeof(bin), "%s/dh-gateway", th_env_or("DH_TEST_BUILD_DIR", "."));
    if (access(bin, X_OK) != 0) {
        fail_msg("%s is missing: this test needs the gateway (build it)", bin);
    }
    env_start(&e, "ret");
    e.admin_port = th_free_port();
    th_unique("g.ret", group, sizeof(group));
    pid_t gw = start_gateway(&e);
    pid_t wk = start_returns(&e, group);

    assert_true(th_wait_for(gateway_listening, &e.gw_port, 30000));

    /* ---- 1. through the gateway ---- */
    json_t *a =
        rp_request(&e, "rpA", "return", "request/approved",
                   LINE(901, "TEE-1", 2, "Too big") ", " LINE(902, "TEE-2", 1, "Others"), NULL);
    json_decref(
        rp_request(&e, "rpB", "return", "request/created", LINE(911, "TEE-1", 1, "x"), NULL));
    json_decref(rp_request(&e, "rpC", "exchange", "request/approved", LINE(921, "TEE-2", 1, "Size"),
                           "\"exchange_order\": {\"id\": 7077, \"name\": \"#7077\"}"));
    const char *const first[] = {"rpA", "rpC", NULL};

    wait_created(&e, first, 30000);
    /* rpB is still pending: its approval (a new webhook) creates it. */
    wms_journal(&e, &w);
    assert_null(json_object_get(w.keys, "rpB"));
    wms_seen_clear(&w);
    json_decref(
        rp_request(&e, "rpB", "return", "request/approved", LINE(911, "TEE-1", 1, "x"), NULL));
    /* Return Prime retrying rpA's delivery byte for byte (the gateway answers 200 whether
     * or not it suppresses it), the same request again under a new webhook id, and a later
     * status of it. */
    {
        char *body = json_dumps(json_object_get(a, "payload"), JSON_COMPACT);
        json_t *h = json_object_get(a, "headers");
        char hb[4][300];
        const char *hdr[] = {hb[0], hb[1], hb[2], hb[3], "Content-Type: application/json", NULL};
        const char *names[] = {"X-RP-Topic", "X-RP-Webhook-Id", "X-RP-Timestamp", "X-RP-Signature"};

        for (int i = 0; i < 4; i++) {
            snprintf(hb[i], sizeof(hb[i]), "%s: %s", names[i],
                     json_string_value(json_object_get(h, names[i])));
        }
        snprintf(url, sizeof(url), "http://127.0.0.1:%d/webhooks/returnprime/%s", e.gw_port,
                 e.store);
        assert_int_equal(th_http("POST", url, hdr, body, NULL), 200);
        free(body);
    }
    json_decref(rp_request(&e, "rpA", "return", "request/approved",
                           LINE(901, "TEE-1", 2, "Too big") ", " LINE(902, "TEE-2", 1, "Others"),
                           NULL));
    json_decref(rp_request(&e, "rpA", "return", "request/received",
                           LINE(901, "TEE-1", 2, "Too big") ", " LINE(902, "TEE-2", 1, "Others"),
                           NULL));
    const char *const second[] = {"rpA", "rpB", "rpC", NULL};

    wait_created(&e, second, 30000);

    /* ---- 2. produced directly: bad input, and a WMS outage ---- */
    snprintf(url, sizeof(url), "%s/_control/faults", e.sb.base);
    assert_int_equal(th_http("POST", url, NULL,
                             "{\"group\":\"wms\",\"error_rate\":1.0,\"error_status\":503,"
                             "\"for_ms\":3000}",
                             NULL),
                     200);
    rd_kafka_t *rk = th_kafka_producer();
    char *ok = request_json("rpD", 3, "\"TEE-1\"");
    char *zero = request_json("rpE", 0, "\"TEE-1\"");
    char *nosku = request_json("rpF", 1, "null");

    produce(rk, e.topic, e.store, "rpD", "request/approved", ok);
    produce(rk, e.topic, e.store, "rpD", "request/approved", ok); /* duplicate delivery */
    produce(rk, e.topic, e.store, "rpX", "request/approved", "{\"request\": ");
    produce(rk, e.topic, e.store, "rpE", "request/approved", zero);
    produce(rk, e.topic, "nowhere.myshopify.com", "rpG", "request/approved", ok);
    produce(rk, e.topic, e.store, "rpF", "request/approved", nosku);
    assert_int_equal(rd_kafka_flush(rk, 15000), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_destroy(rk);
    free(ok);
    free(zero);
    free(nosku);
    const char *const third[] = {"rpA", "rpB", "rpC", "rpD", NULL};

    wait_created(&e, third, 30000);

    char dlq[200];
    size_t n = 0;
    static const char *const classes[] = {"decode", "schema", "unknown-store", "missing-sku"};
    static const char *const reasons[] = {"not a JSON object", "/request/line_items/0/quantity",
                                          "nowhere.myshopify.com", "original_product/sku"};
    int seen[4] = {0};

    snprintf(dlq, sizeof(dlq), "%s.dlq", e.topic);
    rd_kafka_message_t **msgs = th_consume(dlq, 4, 30000, &n);

    assert_int_equal(n, 4);
    for (size_t i = 0; i < n; i++) {
        char cls[64], why[512];

        th_dead_letter(msgs[i], cls, sizeof(cls), why, sizeof(why));
        for (int k = 0; k < 4; k++) {
            if (!strcmp(cls, classes[k]) && strstr(why, reasons[k])) {
                seen[k]++;
            }
        }
        rd_kafka_message_destroy(msgs[i]);
    }
    free(msgs);
    for (int k = 0; k < 4; k++) {
        if (seen[k] != 1) {
            fail_msg("dead letter class %s seen %d times", classes[k], seen[k]);
        }
    }

    /* Exactly one return per request, each under one Idempotency-Key, with its lines. */
    wms_journal(&e, &w);
    for (size_t i = 0; third[i]; i++) {
        assert_int_equal(json_integer_value(json_object_get(w.created, third[i])), 1);
        assert_int_equal(json_object_size(json_object_get(w.keys, third[i])), 1);
    }
    assert_int_equal(json_object_size(w.created), 4);
    assert_true(w.unavailable >= 1); /* rpD met the outage */
    json_t *want_a =
        json_pack("{s:s, s:s, s:s, s:s, s:s, s:[{s:s, s:s, s:i, s:s}, {s:s, s:s, s:i, s:s}]}",
                  "store", e.store, "return_request_id", "rpA", "request_number", "N-rpA", "type",
                  "RETURN", "channel_order_id", "5001", "lines", "channel_line_item_id", "901",
                  "sku", "TEE-1", "quantity", 2, "reason", "Too big", "channel_line_item_id", "902",
                  "sku", "TEE-2", "quantity", 1, "reason", "Others");

    if (!json_equal(json_object_get(w.bodies, "rpA"), want_a)) {
        char *g = json_dumps(json_object_get(w.bodies, "rpA"), JSON_SORT_KEYS);

        fail_msg("rpA body: %s", g ? g : "(none)");
    }
    json_decref(want_a);
    json_t *c = json_object_get(w.bodies, "rpC");

    assert_string_equal(json_string_value(json_object_get(c, "type")), "EXCHANGE");
    assert_string_equal(json_string_value(json_object_get(c, "exchange_order_id")), "7077");
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(json_object_get(c, "lines"), 0), "sku")),
        "TEE-2");
    int posts = w.posts;

    wms_seen_clear(&w);
    th_stop(wk);

    /* ---- 3. replay the topic under a fresh group: no WMS call at all ---- */
    progress_t p = {&e, topic_messages(e.topic)};

    th_unique("g.ret-replay", group, sizeof(group));
    e.admin_port = th_free_port();
    wk = start_returns(&e, group);
    assert_true(th_wait_for(finished_all, &p, 30000));
    wms_journal(&e, &w);
    fprintf(stderr, "replayed %lld messages; WMS POST /returns: %d before, %d after\n", p.want,
            posts, w.posts);
    assert_int_equal(w.posts, posts);
    wms_seen_clear(&w);
    th_stop(wk);
    kill(gw, SIGTERM);
    th_wait_exit(gw, 10000);
    json_decref(a);
    th_sandbox_stop(&e.sb);
    unlink(e.stores_file);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_returns),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
