/*
 * End to end, flow 2 (docs/orders.md): dh-sandbox (Shopify + WMS) -> dh-gateway -> Kafka ->
 * dh-orders -> WMS sandbox, against the local stack (deploy/stack.sh up).
 *
 *  1. gateway leg: orders placed in the sandbox store travel webhook -> gateway -> Kafka
 *     -> worker -> WMS, created once; a redelivered webhook changes nothing.
 *  2. duplicates, cancellations before their creation, a Return Prime exchange held and
 *     released, and the WMS answering 503 for 12 s while orders flow: every order created
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
#include "steps.h"

/* dh-ops trace <order id>, one command: the order's creation as the runtime recorded it,
 * from the gateway's delivery (its webhook id) to the WMS call the sandbox saw (its
 * Idempotency-Key, among \p fx's create keys of that order) and the sales order made. */
static void trace_order(const env_t *e, const effects_t *fx, long long order_id)
{
    char id[32], prefix[200];
    json_t *trace, *rec, *c;
    size_t i;
    int posted = 0;

    snprintf(id, sizeof(id), "%lld", order_id);
    trace = th_ops_trace(id);
    /* order ids are per store: this store's (other runs' stores share the sandbox's ids) */
    snprintf(prefix, sizeof(prefix), "orders/create:%s:%s", e->store, id);
    rec = th_trace_effect(trace, prefix);
    assert_non_null(rec);
    assert_string_equal(json_string_value(json_object_get(rec, "record")), "done");
    assert_string_equal(json_string_value(json_object_get(rec, "worker")), "orders");
    /* from its batch's record (dockhand/trace.h): a 16-hex batch id */
    assert_int_equal(json_string_length(json_object_get(rec, "batch")), 16);
    assert_non_null(json_string_value(json_object_get(rec, "webhook-id"))); /* the gateway's */
    json_array_foreach(json_object_get(rec, "calls"), i, c)
    {
        const char *key = json_string_value(json_object_get(c, "idempotency_key"));
        const char *call = json_string_value(json_object_get(c, "call"));

        if (!strcmp(json_string_value(json_object_get(c, "far")), "wms") &&
            !strncmp(call, "POST ", 5) && json_array_size(json_object_get(c, "ids"))) {
            assert_non_null(key); /* the WMS saw this request */
            assert_non_null(json_object_get(json_object_get(fx->create_keys, id), key));
            posted++;
        }
    }
    assert_int_equal(posted, 1);
    json_decref(trace);
}

/* ---- 1. webhook -> gateway -> Kafka -> worker -> WMS ---- */

static void test_gateway_leg(void **state)
{
    char url[512];
    int gw_port = th_free_port();
    long long ids[5];
    const char *want[5];
    env_t e;

    (void)state;
    env_start(&e, "ordgw", gw_port);
    th_create_topic(e.topic, 6);
    pid_t gw = start_gateway(&e, gw_port);
    /* The gateway writes to this run's own topic, read from the beginning: no waiting for
     * the group to join before the first webhook. */
    const char *extra[] = {"DH_ORDERS_RECONCILE_INTERVAL_S=0", NULL};
    pid_t w = start_orders(&e, e.topic, extra);

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

    th_stop(w); /* its trace records are written before it exits */
    wms_effects(&e, &fx);
    assert_once(&fx, ids, want, 5);
    trace_order(&e, &fx, ids[1]);
    effects_clear(&fx);
    kill(gw, SIGTERM);
    th_wait_exit(gw, 10000);
    env_stop(&e);
}

/* ---- 2. duplicates, cancel before create, hold, WMS 503 for 12 s ---- */

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

    /* The WMS fails every call for 12 s while the orders flow: longer than the idempotency
     * lease (5 s) and the session timeout (6 s) above, so events wait out the outage
     * across both; its 503s are counted below. (It was 30 s: 18 s of each run waited.) */
    snprintf(url, sizeof(url), "%s/_control/faults", e.sb.base);
    assert_int_equal(th_http("POST", url, NULL,
                             "{\"group\":\"wms\",\"error_rate\":1.0,\"error_status\":503,"
                             "\"for_ms\":12000}",
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
