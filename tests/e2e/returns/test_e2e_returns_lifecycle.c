/*
 * End to end, returns both ways (docs/returns.md, "WMS receipt and QC" and "Rejected,
 * cancelled, archived"): dh-sandbox (Return Prime webhooks and API, WMS) -> Kafka ->
 * dh-returns -> WMS sandbox and Return Prime sandbox, against the local stack.
 *
 * Webhook bodies are built by the sandbox's Return Prime (which also keeps the request's
 * state for its API) and produced with the gateway's headers on the run's own topics:
 *  1. an approved return creates the WMS expectation; the warehouse receives it (one item
 *     QC PASS, one FAIL) and publishes wms.return_received three times (a producer retry
 *     and a republish under a new event_id): Return Prime shows the request inspected
 *     with both results, after exactly one receive call; a courier return (RTO) on the
 *     same key is the marker that everything before it was handled, and is not sent;
 *  2. a request rejected after approval cancels its WMS expectation; one rejected after
 *     receipt is a dead letter "return-received" (counted); one rejected before approval
 *     cancels nothing (404, counted);
 *  3. a request whose every webhook was lost (never produced) is found by the
 *     reconciliation pass (every second here) and created once; later passes publish
 *     nothing more (awaited by the pass counter, not a sleep);
 *  4. a request whose items change before receipt (a line dropped, an AWB booked) updates
 *     the expectation once, whatever the duplicates;
 *  5. exchanges on four stores, one per DH_RETURNS_EXCHANGE_RELEASE policy: each held
 *     exchange order (created ON_HOLD in the WMS as dh-orders would) is released at its
 *     policy's moment and not before (approval, pickup, receipt, QC pass; a QC failure
 *     keeps it held under on_qc_pass), each by exactly one release-hold call.
 * Every far-side call is counted in the sandbox journal.
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
#include <unistd.h>

#include "harness.h"

#define WMS_TOKEN "wms-e2e-token"
#define RP_TOKEN  "rp-e2e-api-token"

typedef struct env {
    th_sandbox_t sb;
    int admin_port;
    char store[128];
    char xstore[4][128]; /* exchange stores: on_approval, on_pickup, on_receipt, on_qc_pass */
    char stores_file[256];
    char cir[128];     /* returnprime.cir of the run */
    char receipt[160]; /* wms.return_received of the run */
    char log[256];
} env_t;

static void env_start(env_t *e)
{
    char buf[100], seed[2048], stores[4096], one[600];
    size_t n = 0;

    memset(e, 0, sizeof(*e));
    th_unique("retlc", buf, sizeof(buf));
    snprintf(e->store, sizeof(e->store), "%s.myshopify.com", buf);
    for (int i = 0; i < 4; i++) {
        snprintf(e->xstore[i], sizeof(e->xstore[i]), "x%d-%s.myshopify.com", i, buf);
    }
    snprintf(e->cir, sizeof(e->cir), "t.%s.returnprime.cir", buf);
    snprintf(e->receipt, sizeof(e->receipt), "t.%s.wms.return_received", buf);
    snprintf(e->log, sizeof(e->log), "%s/%s-returns.log", th_log_dir(), buf);
    snprintf(seed, sizeof(seed),
             "{\"stores\": [{\"domain\": \"%s\"}, {\"domain\": \"%s\"}, {\"domain\": \"%s\"}, "
             "{\"domain\": \"%s\"}, {\"domain\": \"%s\"}], \"wms\": {\"token\": \"" WMS_TOKEN
             "\"}, \"returnprime\": {\"api_token\": \"" RP_TOKEN "\", \"api_tokens\": {\"%s\": "
             "\"" RP_TOKEN "-0\", \"%s\": \"" RP_TOKEN "-1\", \"%s\": \"" RP_TOKEN "-2\", \"%s\": "
             "\"" RP_TOKEN "-3\", \"%s\": \"" RP_TOKEN "-4\"}}}",
             e->store, e->xstore[0], e->xstore[1], e->xstore[2], e->xstore[3], e->store,
             e->xstore[0], e->xstore[1], e->xstore[2], e->xstore[3]);
    th_sandbox_start(&e->sb, seed);
    n += (size_t)snprintf(stores + n, sizeof(stores) - n, "{\"stores\": [");
    for (int i = -1; i < 4; i++) {
        const char *d = i < 0 ? e->store : e->xstore[i];

        snprintf(one, sizeof(one),
                 "%s{\"domain\": \"%s\", \"admin_url\": \"%s/shops/%s\", \"access_token\": "
                 "\"shpat_e2e\", \"webhook_secrets\": [\"unused\"], \"returnprime_token\": "
                 "\"" RP_TOKEN "-%d\"}",
                 i < 0 ? "" : ", ", d, e->sb.base, d, i + 1);
        n += (size_t)snprintf(stores + n, sizeof(stores) - n, "%s", one);
    }
    snprintf(stores + n, sizeof(stores) - n, "]}");
    snprintf(e->stores_file, sizeof(e->stores_file), "%s",
             th_write_temp("dh-returns-lc-stores", stores));
    th_create_topic(e->cir, 6);
    th_create_topic(e->receipt, 6);
}

static pid_t start_returns(env_t *e, const char *group)
{
    static char buf[24][700];
    const char *envv[25];
    int n = 0;

#define ADD(...) (snprintf(buf[n], sizeof(buf[n]), __VA_ARGS__), envv[n] = buf[n], n++)
    ADD("DH_KAFKA_BROKERS=%s", th_kafka());
    ADD("DH_REDIS_URL=%s", th_redis_url());
    ADD("DH_TOPICS=%s,%s", e->cir, e->receipt);
    ADD("DH_GROUP_ID=%s", group);
    ADD("DH_STORES_FILE=%s", e->stores_file);
    ADD("DH_WMS_URL=%s", e->sb.base);
    ADD("DH_WMS_TOKEN=%s", WMS_TOKEN);
    ADD("DH_WMS_RATE=default=100000");
    ADD("DH_RETURNPRIME_URL=%s/returnprime/return-exchange/v2", e->sb.base);
    ADD("DH_ADMIN_ADDR=127.0.0.1");
    ADD("DH_ADMIN_PORT=%d", e->admin_port);
    ADD("DH_LANES=4");
    ADD("DH_RETRY_BASE_MS=50");
    ADD("DH_RETRY_MAX_MS=500");
    ADD("DH_IDEM_LEASE_MS=5000");
    ADD("KAFKA_SESSION_TIMEOUT_MS=6000");
    ADD("KAFKA_HEARTBEAT_INTERVAL_MS=1000");
    /* A topic created just before the start may be missing from the first metadata. */
    ADD("KAFKA_TOPIC_METADATA_REFRESH_INTERVAL_MS=1000");
    ADD("DH_RETURNS_RECONCILE_INTERVAL_S=1");
    ADD("DH_RETURNS_EXCHANGE_RELEASE=none,%s=on_approval,%s=on_pickup,%s=on_receipt,%s=on_qc_pass",
        e->xstore[0], e->xstore[1], e->xstore[2], e->xstore[3]);
#undef ADD
    envv[n] = NULL;
    fprintf(stderr, "dh-returns on %s, %s (group %s): log %s\n", e->cir, e->receipt, group, e->log);
    return th_spawn("dh-returns", envv, e->log);
}

/* ---- Return Prime: the sandbox builds the webhook and keeps the request ---- */

#define LINES                                                                                      \
    "{\"line_item_id\": 901, \"sku\": \"TEE-1\", \"quantity\": 1, \"variant_id\": 200, "           \
    "\"product_id\": 100, \"price\": \"10.00\"}, {\"line_item_id\": 902, \"sku\": \"TEE-2\", "     \
    "\"quantity\": 1, \"variant_id\": 201, \"product_id\": 101, \"price\": \"12.00\"}"

/* A Return Prime webhook body as the gateway writes it to returnprime.cir. */
static void produce_cir(env_t *e, rd_kafka_t *rk, const char *store, const char *id,
                        const char *topic, const char *value)
{
    char key[300];

    snprintf(key, sizeof(key), "%s|%s", store, id);
    assert_int_equal(rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(e->cir),
                                       RD_KAFKA_V_KEY(key, strlen(key)),
                                       RD_KAFKA_V_VALUE((void *)value, strlen(value)),
                                       RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                       RD_KAFKA_V_HEADER("dh-topic", topic, -1),
                                       RD_KAFKA_V_HEADER("dh-store", store, -1),
                                       RD_KAFKA_V_HEADER("dh-webhook-id", id, -1), RD_KAFKA_V_END),
                     RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(rd_kafka_flush(rk, 15000), RD_KAFKA_RESP_ERR_NO_ERROR);
}

/* The request's webhook as Return Prime would send it for \p topic, produced on the run's
 * returnprime.cir with the gateway's headers (or lost: \p deliver 0). */
static void webhook_sent(env_t *e, rd_kafka_t *rk, const char *id, const char *topic, int deliver)
{
    char url[512], body[1024];
    long st = 0;

    snprintf(url, sizeof(url), "%s/_control/returnprime/requests", e->sb.base);
    snprintf(body, sizeof(body),
             "{\"store\": \"%s\", \"type\": \"return\", \"order_id\": 5001, \"order_name\": "
             "\"#5001\", \"request_id\": \"%s\", \"request_number\": \"N-%s\", \"topic\": "
             "\"%s\", \"deliver\": false, \"lines\": [" LINES "]}",
             e->store, id, id, topic);
    json_t *r = th_http_json("POST", url, body, &st);

    assert_int_equal(st, 202);
    if (!deliver) {
        json_decref(r);
        return;
    }
    char *value = json_dumps(json_object_get(r, "payload"), JSON_COMPACT);

    produce_cir(e, rk, e->store, id, topic, value);
    free(value);
    json_decref(r);
}

static void webhook(env_t *e, rd_kafka_t *rk, const char *id, const char *topic)
{
    webhook_sent(e, rk, id, topic, 1);
}

/* wms.return_received as the WMS publishes it, keyed <store>|<return id>. */
static void receipt_ex(env_t *e, rd_kafka_t *rk, const char *store, const char *return_id,
                       const char *event_id, const char *type, const char *request_id,
                       const char *qc2)
{
    char value[1400], key[300], rid[64] = "";

    if (request_id) {
        snprintf(rid, sizeof(rid), "\"return_request_id\": \"%s\", ", request_id);
    }
    snprintf(value, sizeof(value),
             "{\"schema_version\": 1, \"event_id\": \"%s\", \"event_type\": "
             "\"return_received\", \"occurred_at\": \"2026-05-09T11:02:00+05:30\", \"store\": "
             "\"%s\", \"return_id\": \"%s\", \"return_type\": \"%s\", %s\"received_at\": "
             "\"2026-05-09T10:41:00+05:30\", \"lines\": [{\"channel_line_item_id\": \"901\", "
             "\"sku\": \"TEE-1\", \"quantity\": 1, \"qc_status\": \"PASS\"}, "
             "{\"channel_line_item_id\": \"902\", \"sku\": \"TEE-2\", \"quantity\": 1, "
             "\"qc_status\": \"%s\", \"qc_notes\": \"Stained\"}]}",
             event_id, store, return_id, type, rid, qc2);
    snprintf(key, sizeof(key), "%s|%s", store, return_id);
    assert_int_equal(rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(e->receipt),
                                       RD_KAFKA_V_KEY(key, strlen(key)),
                                       RD_KAFKA_V_VALUE(value, strlen(value)),
                                       RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END),
                     RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(rd_kafka_flush(rk, 15000), RD_KAFKA_RESP_ERR_NO_ERROR);
}

static void receipt(env_t *e, rd_kafka_t *rk, const char *event_id, const char *type,
                    const char *request_id)
{
    receipt_ex(e, rk, e->store, "RET-1", event_id, type, request_id, "FAIL");
}

/* ---- counting at the far sides ---- */

/* Journal entries of \p group whose path ends with \p suffix and whose status is \p status
 * (0: any; -2: any 2xx that is not an Idempotency-Key replay, i.e. a performance). */
static int journal_count(env_t *e, const char *group, const char *suffix, long status)
{
    char url[512], *text = NULL, *line, *save = NULL;
    int n = 0;

    snprintf(url, sizeof(url), "%s/_journal?group=%s", e->sb.base, group);
    assert_int_equal(th_http("GET", url, NULL, NULL, &text), 200);
    for (line = text ? strtok_r(text, "\n", &save) : NULL; line;
         line = strtok_r(NULL, "\n", &save)) {
        json_t *j = json_loads(line, 0, NULL);
        const char *path = json_string_value(json_object_get(j, "path"));
        long s = (long)json_integer_value(json_object_get(j, "status"));
        size_t pl = path ? strlen(path) : 0, sl = strlen(suffix);

        int performed = s / 100 == 2 && !json_is_true(json_object_get(j, "idempotent_replay"));

        if (pl >= sl && strcmp(path + pl - sl, suffix) == 0 &&
            (!status || s == status || (status == -2 && performed))) {
            n++;
        }
        json_decref(j);
    }
    free(text);
    return n;
}

typedef struct wait_path {
    env_t *e;
    const char *group, *suffix;
    long status;
    int want;
} wait_path_t;

static int path_seen(void *ud)
{
    wait_path_t *w = ud;

    return journal_count(w->e, w->group, w->suffix, w->status) >= w->want;
}

static void wait_path(env_t *e, const char *group, const char *suffix, long status)
{
    wait_path_t w = {e, group, suffix, status, 1};

    if (!th_wait_for(path_seen, &w, 30000)) {
        fail_msg("no %s call to ...%s with status %ld", group, suffix, status);
    }
}

/* One counter of the worker's /metrics (the sum over series whose labels contain \p label;
 * "" also takes a series without labels). */
static long long metric(env_t *e, const char *name, const char *label)
{
    char url[128], *text = NULL;
    long long total = 0;

    snprintf(url, sizeof(url), "http://127.0.0.1:%d/metrics", e->admin_port);
    if (th_http("GET", url, NULL, NULL, &text) != 200) {
        free(text);
        return -1;
    }
    for (char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        char *end = strchr(l, '}');

        if (!strncmp(l, name, strlen(name)) && l[strlen(name)] == '{' && end && strstr(l, label) &&
            strstr(l, label) < end) {
            total += (long long)strtod(end + 1, NULL);
        } else if (!label[0] && !strncmp(l, name, strlen(name)) && l[strlen(name)] == ' ') {
            total += (long long)strtod(l + strlen(name), NULL);
        }
    }
    free(text);
    return total;
}

typedef struct wait_metric {
    env_t *e;
    const char *name, *label;
    long long want;
} wait_metric_t;

static int metric_reached(void *ud)
{
    wait_metric_t *w = ud;

    return metric(w->e, w->name, w->label) >= w->want;
}

static void wait_metric(env_t *e, const char *name, const char *label, long long want)
{
    wait_metric_t w = {e, name, label, want};

    if (!th_wait_for(metric_reached, &w, 30000)) {
        fail_msg("%s{%s} did not reach %lld", name, label, want);
    }
}

/* Return Prime's state of request \p id, through its API. */
static json_t *rp_get(env_t *e, const char *id)
{
    char url[512];
    const char *hdr[] = {"x-rp-token: " RP_TOKEN, NULL};
    char *text = NULL;

    snprintf(url, sizeof(url), "%s/returnprime/return-exchange/v2/request/%s", e->sb.base, id);
    assert_int_equal(th_http("GET", url, hdr, NULL, &text), 200);
    json_t *r = json_loads(text ? text : "", 0, NULL);

    free(text);
    assert_non_null(r);
    return r;
}

static void wms_receive(env_t *e, const char *id)
{
    char url[512], body[512];

    snprintf(url, sizeof(url), "%s/_control/wms/returns/receive", e->sb.base);
    snprintf(body, sizeof(body), "{\"store\": \"%s\", \"return_request_id\": \"%s\"}", e->store,
             id);
    assert_int_equal(th_http("POST", url, NULL, body, NULL), 200);
}

/* ---- the scenario ---- */

static void check_inspected(env_t *e)
{
    json_t *r = rp_get(e, "rpR");
    json_t *req = json_object_get(json_object_get(r, "data"), "request");
    json_t *lines = json_object_get(req, "line_items");

    assert_string_equal(json_string_value(json_object_get(req, "status")), "inspected");
    assert_true(json_is_true(json_object_get(json_object_get(req, "received"), "status")));
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(req, "received"), "created_at")),
        "2026-05-09T10:41:00+05:30");
    assert_string_equal(json_string_value(json_object_get(json_array_get(lines, 0), "qc_status")),
                        "passed");
    assert_string_equal(json_string_value(json_object_get(json_array_get(lines, 1), "qc_status")),
                        "failed");
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(lines, 1), "inspection_notes")),
        "Stained");
    json_decref(r);
}

static void receipt_once(env_t *e, rd_kafka_t *rk)
{
    webhook(e, rk, "rpR", "request/approved");
    wait_path(e, "wms", "/wms/v1/returns", 201);
    wms_receive(e, "rpR");
    receipt(e, rk, "0190c4a0-0000-7000-8000-0000000000b1", "CUSTOMER_RETURN", "rpR");
    receipt(e, rk, "0190c4a0-0000-7000-8000-0000000000b1", "CUSTOMER_RETURN", "rpR");
    receipt(e, rk, "0190c4a0-0000-7000-8000-0000000000b2", "CUSTOMER_RETURN", "rpR");
    /* The marker: an RTO on the same key, handled after all three. */
    receipt(e, rk, "0190c4a0-0000-7000-8000-0000000000b3", "COURIER_RETURN", NULL);
    wait_metric(e, "dh_returns_receipts_total", "outcome=\"courier\"", 1);
    assert_int_equal(journal_count(e, "returnprime", "/request/rpR/receive", 0), 1);
    assert_int_equal(journal_count(e, "returnprime", "/receive", 0), 1);
    assert_int_equal(metric(e, "dh_returns_receipts_total", "outcome=\"received\""), 1);
    check_inspected(e);
}

static const char *wms_return_status(env_t *e, const char *id, char *out, size_t size)
{
    char url[512], *text = NULL;
    const char *hdr[] = {"Authorization: Bearer " WMS_TOKEN, NULL};

    snprintf(url, sizeof(url), "%s/wms/v1/returns/%s/%s", e->sb.base, e->store, id);
    assert_int_equal(th_http("GET", url, hdr, NULL, &text), 200);
    json_t *r = json_loads(text ? text : "", 0, NULL);

    snprintf(out, size, "%s", json_string_value(json_object_get(r, "status")));
    json_decref(r);
    free(text);
    return out;
}

static void cancellations(env_t *e, rd_kafka_t *rk)
{
    char path[300], st[32], dlq[200], cls[64], why[512];
    size_t n = 0;

    /* Rejected after approval: the expectation is cancelled, once; the archive that
     * follows is the same cancellation (a duplicate), and a refunded webhook on the same
     * key is the marker that it was handled. */
    webhook(e, rk, "rpJ", "request/approved");
    webhook(e, rk, "rpJ", "request/rejected");
    snprintf(path, sizeof(path), "/wms/v1/returns/%s/rpJ/cancel", e->store);
    wait_path(e, "wms", path, 200);
    assert_string_equal(wms_return_status(e, "rpJ", st, sizeof(st)), "CANCELLED");
    webhook(e, rk, "rpJ", "request/archived");
    webhook(e, rk, "rpJ", "request/refunded");
    wait_metric(e, "dh_returns_requests_total", "outcome=\"skipped\"", 1);
    assert_int_equal(journal_count(e, "wms", path, 0), 1);
    assert_int_equal(metric(e, "dh_returns_requests_total", "outcome=\"cancelled\""), 1);

    /* Rejected before approval: no expectation, nothing to cancel (404), counted. */
    webhook(e, rk, "rpP", "request/created");
    webhook(e, rk, "rpP", "request/rejected");
    wait_metric(e, "dh_returns_requests_total", "outcome=\"cancel-not-created\"", 1);
    snprintf(path, sizeof(path), "/wms/v1/returns/%s/rpP/cancel", e->store);
    assert_int_equal(journal_count(e, "wms", path, 404), 1);

    /* Rejected after receipt: the WMS refuses (409 return-received), a dead letter of its
     * own class at once, counted; the expectation stays received. */
    webhook(e, rk, "rpR", "request/rejected");
    snprintf(dlq, sizeof(dlq), "%s.dlq", e->cir);
    rd_kafka_message_t **msgs = th_consume(dlq, 1, 30000, &n);

    assert_int_equal(n, 1);
    th_dead_letter(msgs[0], cls, sizeof(cls), why, sizeof(why));
    assert_string_equal(cls, "return-received");
    rd_kafka_message_destroy(msgs[0]);
    free(msgs);
    wait_metric(e, "dh_returns_requests_total", "outcome=\"cancel-after-receipt\"", 1);
    snprintf(path, sizeof(path), "/wms/v1/returns/%s/rpR/cancel", e->store);
    assert_int_equal(journal_count(e, "wms", path, 409), 1);
    assert_int_equal(journal_count(e, "wms", path, 0), 1);
    assert_string_equal(wms_return_status(e, "rpR", st, sizeof(st)), "RECEIVED");
    assert_int_equal(metric(e, "dh_events_total", "outcome=\"dead_letter\""), 1);
}

static void reconciliation(env_t *e, rd_kafka_t *rk)
{
    long long passes, published = metric(e, "dh_returns_reconcile_published_total", "");

    /* Passes ran all along (every second): one may have published a request before its
     * webhook was handled, which the idempotency record absorbed (the counts above). */
    assert_true(published >= 0);
    /* Every webhook of rpL is lost: only Return Prime knows it. */
    webhook_sent(e, rk, "rpL", "request/approved", 0);
    wait_metric(e, "dh_returns_reconcile_published_total", "", published + 1);
    {
        wait_path_t w = {e, "wms", "/wms/v1/returns", 201, 3}; /* rpR, rpJ, rpL */

        assert_true(th_wait_for(path_seen, &w, 30000));
    }
    /* Two more passes find nothing missing: nothing is published, rpL was created once. */
    passes = metric(e, "dh_returns_reconcile_passes_total", "");
    wait_metric(e, "dh_returns_reconcile_passes_total", "", passes + 2);
    assert_int_equal(metric(e, "dh_returns_reconcile_published_total", ""), published + 1);
    assert_int_equal(journal_count(e, "wms", "/wms/v1/returns", 201), 3);
}

/* ---- items changed before receipt ---- */

static void updates(env_t *e, rd_kafka_t *rk)
{
    char url[512], body[1024], path[300], st[32];
    long status = 0, skipped;
    const char *hdr[] = {"Authorization: Bearer " WMS_TOKEN, NULL};
    char *text = NULL;

    webhook(e, rk, "rpU", "request/approved");
    {
        wait_path_t w = {e, "wms", "/wms/v1/returns", 201, 4}; /* rpR, rpJ, rpL, rpU */

        assert_true(th_wait_for(path_seen, &w, 30000));
    }
    /* Return Prime: the shopper keeps TEE-2, the reverse pickup is booked. */
    snprintf(url, sizeof(url), "%s/_control/returnprime/requests", e->sb.base);
    snprintf(body, sizeof(body),
             "{\"store\": \"%s\", \"type\": \"return\", \"order_id\": 5001, \"order_name\": "
             "\"#5001\", \"request_id\": \"rpU\", \"request_number\": \"N-rpU\", \"topic\": "
             "\"request/updated\", \"status\": \"approved\", \"deliver\": false, \"lines\": "
             "[{\"line_item_id\": 901, \"sku\": \"TEE-1\", \"quantity\": 1, \"variant_id\": 200, "
             "\"product_id\": 100, \"price\": \"10.00\", \"awb\": \"AWB-U1\", \"carrier\": "
             "\"Delhivery\"}]}",
             e->store);
    json_t *r = th_http_json("POST", url, body, &status);

    assert_int_equal(status, 202);
    char *value = json_dumps(json_object_get(r, "payload"), JSON_COMPACT);

    produce_cir(e, rk, e->store, "rpU", "request/updated", value);
    produce_cir(e, rk, e->store, "rpU", "request/updated", value); /* a Return Prime retry */
    free(value);
    json_object_set_new(json_object_get(json_object_get(r, "payload"), "request"), "status",
                        json_string("refunded"));
    value = json_dumps(json_object_get(r, "payload"), JSON_COMPACT);
    skipped = (long)metric(e, "dh_returns_requests_total", "outcome=\"skipped\"");
    produce_cir(e, rk, e->store, "rpU", "request/refunded", value); /* the marker */
    free(value);
    json_decref(r);
    wait_metric(e, "dh_returns_requests_total", "outcome=\"skipped\"", skipped + 1);
    snprintf(path, sizeof(path), "/wms/v1/returns/%s/rpU", e->store);
    assert_int_equal(journal_count(e, "wms", path, 200), 1); /* the one PUT */
    assert_int_equal(metric(e, "dh_returns_requests_total", "outcome=\"updated\""), 1);
    snprintf(url, sizeof(url), "%s%s", e->sb.base, path);
    assert_int_equal(th_http("GET", url, hdr, NULL, &text), 200);
    r = json_loads(text ? text : "", 0, NULL);
    assert_int_equal(json_array_size(json_object_get(r, "lines")), 1);
    assert_string_equal(json_string_value(json_object_get(r, "awb")), "AWB-U1");
    snprintf(st, sizeof(st), "%s", json_string_value(json_object_get(r, "status")));
    assert_string_equal(st, "EXPECTED");
    json_decref(r);
    free(text);
}

/* ---- exchanges: one store per release policy ---- */

static void exchange_hook(env_t *e, rd_kafka_t *rk, const char *store, const char *id, int order,
                          const char *topic, int picked)
{
    char url[512], body[2048], line[2][300];
    long st = 0;

    for (int i = 0; i < 2; i++) {
        snprintf(line[i], sizeof(line[i]),
                 "{\"line_item_id\": %d, \"sku\": \"TEE-%d\", \"quantity\": 1, \"variant_id\": "
                 "%d, \"product_id\": %d, \"price\": \"10.00\"%s}",
                 901 + i, 1 + i, 200 + i, 100 + i,
                 picked ? ", \"awb\": \"AWB77\", \"carrier\": \"Delhivery\", \"shipping_status\": "
                          "\"Picked Up\""
                        : "");
    }
    snprintf(url, sizeof(url), "%s/_control/returnprime/requests", e->sb.base);
    snprintf(body, sizeof(body),
             "{\"store\": \"%s\", \"type\": \"exchange\", \"order_id\": 5001, \"order_name\": "
             "\"#5001\", \"request_id\": \"%s\", \"request_number\": \"EXC-%s\", \"topic\": "
             "\"%s\", \"status\": \"%s\", \"deliver\": false, \"exchange_order\": {\"id\": %d, "
             "\"name\": \"#%d\"}, \"lines\": [%s, %s]}",
             store, id, id, topic, "approved", order, order, line[0], line[1]);
    json_t *r = th_http_json("POST", url, body, &st);

    assert_int_equal(st, 202);
    char *value = json_dumps(json_object_get(r, "payload"), JSON_COMPACT);

    produce_cir(e, rk, store, id, topic, value);
    free(value);
    /* The marker: the same body with a status that asks for nothing, produced on the same
     * key but kept from Return Prime's state (a receipt must still find it approved). */
    json_object_set_new(json_object_get(json_object_get(r, "payload"), "request"), "status",
                        json_string("refunded"));
    value = json_dumps(json_object_get(r, "payload"), JSON_COMPACT);
    produce_cir(e, rk, store, id, "request/refunded", value);
    free(value);
    json_decref(r);
}

/* The held exchange order, as dh-orders creates it (ON_HOLD). */
static void held_order(env_t *e, const char *store, int order)
{
    char url[512], body[700], idem[160];
    char auth[] = "Authorization: Bearer " WMS_TOKEN;
    const char *hdr[] = {auth, idem, "Content-Type: application/json", NULL};

    snprintf(url, sizeof(url), "%s/wms/v1/sales-orders", e->sb.base);
    snprintf(idem, sizeof(idem), "Idempotency-Key: held-%s-%d", store, order);
    snprintf(body, sizeof(body),
             "{\"store\": \"%s\", \"channel_order_id\": \"%d\", \"order_name\": \"#%d\", "
             "\"status\": \"ON_HOLD\", \"hold_reason\": \"Return Prime exchange\", "
             "\"currency\": \"INR\", \"created_at\": \"2026-05-10T12:00:00Z\", \"lines\": "
             "[{\"channel_line_item_id\": \"1\", \"sku\": \"TEE-9\", \"quantity\": 1, "
             "\"unit_price\": \"10.00\"}]}",
             store, order, order);
    assert_int_equal(th_http("POST", url, hdr, body, NULL), 201);
}

static void order_is(env_t *e, const char *store, int order, const char *want)
{
    char url[512], *text = NULL;
    const char *hdr[] = {"Authorization: Bearer " WMS_TOKEN, NULL};

    snprintf(url, sizeof(url), "%s/wms/v1/sales-orders/%s/%d", e->sb.base, store, order);
    assert_int_equal(th_http("GET", url, hdr, NULL, &text), 200);
    json_t *so = json_loads(text ? text : "", 0, NULL);

    if (strcmp(json_string_value(json_object_get(so, "status")), want) != 0) {
        fail_msg("exchange order %s/%d is %s, expected %s", store, order,
                 json_string_value(json_object_get(so, "status")), want);
    }
    json_decref(so);
    free(text);
}

/* Every exchange request and its marker (exchange_hook()): counted as skipped once
 * everything before it on that key was handled. */
static const struct {
    int store;
    const char *id;
    int order;
} ex[] = {{0, "ex0", 7000}, {1, "ex1", 7001}, {2, "ex2", 7002}, {3, "ex3", 7003}, {3, "ex4", 7010}};
#define NEX ((int)(sizeof(ex) / sizeof(ex[0])))

static void exchange_round(env_t *e, rd_kafka_t *rk, const char *topic, int picked)
{
    long long skipped = metric(e, "dh_returns_requests_total", "outcome=\"skipped\"");

    for (int i = 0; i < NEX; i++) {
        exchange_hook(e, rk, e->xstore[ex[i].store], ex[i].id, ex[i].order, topic, picked);
    }
    wait_metric(e, "dh_returns_requests_total", "outcome=\"skipped\"", skipped + NEX);
}

static void exchanges(env_t *e, rd_kafka_t *rk)
{
    static const char *const after[3][NEX] = {
        {"OPEN", "ON_HOLD", "ON_HOLD", "ON_HOLD", "ON_HOLD"}, /* approved */
        {"OPEN", "OPEN", "ON_HOLD", "ON_HOLD", "ON_HOLD"},    /* picked up */
        {"OPEN", "OPEN", "OPEN", "OPEN", "ON_HOLD"},          /* received, QC'd */
    };
    long long courier = metric(e, "dh_returns_receipts_total", "outcome=\"courier\"");
    char path[400], rid[32];

    for (int i = 0; i < NEX; i++) {
        held_order(e, e->xstore[ex[i].store], ex[i].order);
    }
    exchange_round(e, rk, "request/approved", 0);
    for (int i = 0; i < NEX; i++) {
        order_is(e, e->xstore[ex[i].store], ex[i].order, after[0][i]);
    }
    exchange_round(e, rk, "request/updated", 1);
    for (int i = 0; i < NEX; i++) {
        order_is(e, e->xstore[ex[i].store], ex[i].order, after[1][i]);
    }
    /* The WMS receives ex2 (a line fails), ex3 (all pass) and ex4 (a line fails); an RTO
     * on each key is the marker. */
    for (int i = 2; i < NEX; i++) {
        snprintf(rid, sizeof(rid), "RET-%s", ex[i].id);
        receipt_ex(e, rk, e->xstore[ex[i].store], rid,
                   i == 3   ? "0190c4a0-0000-7000-8000-0000000000c3"
                   : i == 2 ? "0190c4a0-0000-7000-8000-0000000000c2"
                            : "0190c4a0-0000-7000-8000-0000000000c4",
                   "CUSTOMER_RETURN", ex[i].id, i == 3 ? "PASS" : "FAIL");
        receipt_ex(e, rk, e->xstore[ex[i].store], rid, "0190c4a0-0000-7000-8000-0000000000cf",
                   "COURIER_RETURN", NULL, "PASS");
    }
    wait_metric(e, "dh_returns_receipts_total", "outcome=\"courier\"", courier + 3);
    for (int i = 0; i < NEX; i++) {
        order_is(e, e->xstore[ex[i].store], ex[i].order, after[2][i]);
        snprintf(path, sizeof(path), "/sales-orders/%s/%d/release-hold", e->xstore[ex[i].store],
                 ex[i].order);
        /* Once performed: a later webhook that changes the request (the pickup's AWB) may
         * send the release again, under the same key, and the WMS replays it. */
        assert_int_equal(journal_count(e, "wms", path, -2), i == 4 ? 0 : 1);
    }
    assert_int_equal(metric(e, "dh_returns_exchange_releases_total", "outcome=\"released\""), 4);
    assert_int_equal(metric(e, "dh_returns_exchange_releases_total", "outcome=\"held-qc-fail\""),
                     1);
}

static void test_lifecycle(void **state)
{
    char group[128];
    env_t e;

    (void)state;
    env_start(&e);
    e.admin_port = th_free_port();
    th_unique("g.retlc", group, sizeof(group));
    pid_t wk = start_returns(&e, group);
    rd_kafka_t *rk = th_kafka_producer();

    receipt_once(&e, rk);
    cancellations(&e, rk);
    reconciliation(&e, rk);
    updates(&e, rk);
    exchanges(&e, rk);
    rd_kafka_destroy(rk);
    th_stop(wk);
    th_sandbox_stop(&e.sb);
    unlink(e.stores_file);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lifecycle),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
