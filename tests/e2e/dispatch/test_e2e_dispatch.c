/*
 * End to end, flow 3 (docs/dispatch.md): Kafka (wms.dispatch) -> dh-dispatch -> the
 * sandbox's Shopify (fulfillment orders, fulfillmentCreate, fulfillmentEventCreate),
 * against the local stack's broker and Redis.
 *
 * One worker, one sandbox store, one topic; each scenario uses its own order (hence its own
 * message key), and waits on the sandbox's state rather than on time. Events of one key are
 * handled in order, so a later event's visible effect proves the earlier ones of that key
 * were handled (the barrier used for "nothing more happened").
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

#include "dispatch_e2e.h"

/* The shipment ledger (docs/dispatch.md): \p shipment's two lines (TEE x 2, x 1) done. */
static void assert_ledger_done(env_t *e, redisContext *rc, const char *shipment)
{
    static const char *const want[] = {"502 2 done", "501 1 done"};

    for (int i = 0; i < 2; i++) {
        redisReply *r =
            redisCommand(rc, "HGET dh:inv:ledger:%s:BLR-1|TEE %s#%d", e->store, shipment, i);

        assert_int_equal(r->type, REDIS_REPLY_STRING);
        assert_string_equal(r->str, want[i]);
        freeReplyObject(r);
    }
    redisReply *r = redisCommand(rc, "ZSCORE dh:inv:repush:%s BLR-1|TEE", e->store);

    assert_int_equal(r->type, REDIS_REPLY_STRING); /* the SKU is re-pushed */
    freeReplyObject(r);
}

/* A dispatch creates one fulfillment with the tracking; duplicates, a replay and a replay
 * whose records were lost create nothing more; statuses map, stale ones are ignored. */
static void scenario_full(env_t *e, redisContext *rc)
{
    json_t *o = place(e, "{\"sku\": \"TEE-1\", \"quantity\": 2}, {\"sku\": \"TEE-2\", "
                         "\"quantity\": 1}");
    long long id = id_of(o);
    char *l1 = line(line_id(o, 0), 2), *l2 = line(line_id(o, 1), 1), lines[512], *v;

    snprintf(lines, sizeof(lines), "%s, %s", l1, l2);
    v = dispatch_json(e, id, "SHP-A", "TRK-A", lines);
    produce(e, id, v);
    produce(e, id, v);                                /* the same event delivered twice */
    produce_dispatch(e, id, "SHP-A", "TRK-A", lines); /* a replay: new event id */
    produce_status(e, id, "SHP-A", 1, "IN_TRANSIT", "In Transit - Pune Hub");
    wait_fulfilled(e, id, 1, 1);
    assert_int_equal(nfulfillments(e, id), 1);
    json_t *f = fulfillment(e, id, 0);

    assert_tracking(f, "TRK-A");
    assert_int_equal(units(f), 3);
    assert_true(json_is_true(json_object_get(f, "notify_customer")));
    json_decref(f);
    assert_int_equal(journal_creates(e, "TRK-A"), 1);
    assert_ledger_done(e, rc, "SHP-A");

    /* Created but never recorded (a crash between Shopify's answer and our SET): both
     * records gone, a replay must adopt the fulfillment, not create a second one. */
    char ful_key[300], idem_key[400], *gid;
    redisReply *r;

    snprintf(ful_key, sizeof(ful_key), "dh:dispatch:ful:%s:SHP-A", e->store);
    snprintf(idem_key, sizeof(idem_key), "dispatch:idem:dispatch:%s:SHP-A:TRK-A", e->store);
    r = redisCommand(rc, "GET %s", ful_key);
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    gid = strdup(r->str);
    freeReplyObject(r);
    assert_int_equal(th_redis_int(rc, "DEL %s %s", ful_key, idem_key), 2);
    produce(e, id, v);
    produce_status(e, id, "SHP-A", 2, "OUT_FOR_DELIVERY", "Out for delivery");
    produce_status(e, id, "SHP-A", 2, "OUT_FOR_DELIVERY", "Out for delivery"); /* dup seq */
    produce_status(e, id, "SHP-A", 1, "IN_TRANSIT", "In Transit - Pune Hub");  /* dup seq */
    produce_status(e, id, "SHP-A", 4, "ATTEMPTED_DELIVERY", "UD: Customer not available");
    /* Reordered: never applied, but older than 4; the sequence check drops it. */
    produce_status(e, id, "SHP-A", 3, "DELIVERED", "Delivered");
    produce_status(e, id, "SHP-A", 5, "RTO_DELIVERED", "RTO Delivered");
    wait_fulfilled(e, id, 1, 4);
    assert_int_equal(nfulfillments(e, id), 1);
    assert_int_equal(journal_creates(e, "TRK-A"), 1);
    r = redisCommand(rc, "GET %s", ful_key);
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    assert_string_equal(r->str, gid); /* adopted and recorded again */
    freeReplyObject(r);
    free(gid);
    assert_ledger_done(e, rc, "SHP-A"); /* never moved back by the replays */

    f = fulfillment(e, id, 0);
    json_t *evs = json_object_get(f, "events");
    static const char *const want[] = {"IN_TRANSIT", "OUT_FOR_DELIVERY", "ATTEMPTED_DELIVERY",
                                       "FAILURE"};

    assert_int_equal(json_array_size(evs), 4);
    for (size_t i = 0; i < 4; i++) {
        assert_string_equal(json_string_value(json_object_get(json_array_get(evs, i), "status")),
                            want[i]);
    }
    assert_string_equal(json_string_value(json_object_get(json_array_get(evs, 3), "message")),
                        "RTO Delivered");
    assert_int_equal(th_redis_int(rc, "GET dh:dispatch:seq:%s:SHP-A", e->store), 5);
    json_decref(f);
    free(v);
    free(l1);
    free(l2);
    json_decref(o);
}

/* A partial shipment then the rest: two fulfillments, 1 and 2 units. A fulfillment created
 * directly in Shopify with a shipment's tracking number is adopted. */
static void scenario_partial_and_adopt(env_t *e)
{
    json_t *o = place(e, "{\"sku\": \"TEE-1\", \"quantity\": 3}");
    long long id = id_of(o);
    char *l1 = line(line_id(o, 0), 1), *l2 = line(line_id(o, 0), 2);

    produce_dispatch(e, id, "SHP-B1", "TRK-B1", l1);
    produce_dispatch(e, id, "SHP-B2", "TRK-B2", l2);
    produce_dispatch(e, id, "SHP-B1", "TRK-B1", l1); /* replay of the first: nothing */
    produce_status(e, id, "SHP-B2", 1, "DELIVERED", "Delivered");
    /* The status of SHP-B2 is the barrier: it lands on the second fulfillment. */
    wait_ful_t w = {e, id, 2, 1, 1};

    assert_true(th_wait_for(fulfilled, &w, 20000));
    json_t *st = order_state(e, id);
    json_t *fs = json_object_get(st, "fulfillments");

    assert_int_equal(json_array_size(fs), 2);
    assert_tracking(json_array_get(fs, 0), "TRK-B1");
    assert_int_equal(units(json_array_get(fs, 0)), 1);
    assert_tracking(json_array_get(fs, 1), "TRK-B2");
    assert_int_equal(units(json_array_get(fs, 1)), 2);
    assert_string_equal(
        json_string_value(json_object_get(
            json_array_get(json_object_get(json_array_get(fs, 1), "events"), 0), "status")),
        "DELIVERED");
    json_decref(st);
    free(l1);
    free(l2);
    json_decref(o);

    /* Adoption of a partial fulfillment: 1 of 3 units fulfilled in Shopify with TRK-C (what a
     * worker killed right after fulfillmentCreate leaves behind). Creating again would
     * succeed (2 remain), so only the adoption prevents a second fulfillment. */
    o = place(e, "{\"sku\": \"TEE-1\", \"quantity\": 3}");
    id = id_of(o);
    char url[512], body[1024];
    long code = 0;
    json_t *fo = order_state(e, id);
    const char *foli = NULL;
    json_t *fol = json_array_get(
        json_object_get(json_array_get(json_object_get(fo, "fulfillment_orders"), 0), "line_items"),
        0);
    char foli_gid[128], fo_gid[128];

    foli = json_string_value(json_object_get(fol, "id"));
    snprintf(foli_gid, sizeof(foli_gid), "gid://shopify/FulfillmentOrderLineItem/%s", foli);
    snprintf(fo_gid, sizeof(fo_gid), "gid://shopify/FulfillmentOrder/%s",
             json_string_value(json_object_get(
                 json_array_get(json_object_get(fo, "fulfillment_orders"), 0), "id")));
    snprintf(url, sizeof(url), "%s/shops/%s/admin/api/2026-10/graphql.json", e->sb.base, e->store);
    snprintf(body, sizeof(body),
             "{\"query\": \"mutation($f: FulfillmentInput!) { fulfillmentCreate(fulfillment: $f) "
             "{ fulfillment { id } userErrors { message } } }\", \"variables\": {\"f\": "
             "{\"trackingInfo\": {\"company\": \"Delhivery\", \"number\": \"TRK-C\", \"url\": "
             "\"https://track.example/TRK-C\"}, \"lineItemsByFulfillmentOrder\": "
             "[{\"fulfillmentOrderId\": \"%s\", \"fulfillmentOrderLineItems\": [{\"id\": \"%s\", "
             "\"quantity\": 1}]}]}}}",
             fo_gid, foli_gid);
    const char *hdr[] = {"X-Shopify-Access-Token: shpat_e2e", "Content-Type: application/json",
                         NULL};
    char *text = NULL;

    code = th_http("POST", url, hdr, body, &text);
    assert_int_equal(code, 200);
    assert_non_null(strstr(text, "gid://shopify/Fulfillment/"));
    free(text);
    json_decref(fo);
    l1 = line(line_id(o, 0), 1);
    produce_dispatch(e, id, "SHP-C", "TRK-C", l1);
    produce_status(e, id, "SHP-C", 1, "PICKED_UP", "Picked up");
    wait_fulfilled(e, id, 1, 1);
    assert_int_equal(nfulfillments(e, id), 1);
    assert_int_equal(journal_creates(e, "TRK-C"), 1); /* only ours, made above */
    json_t *f = fulfillment(e, id, 0);

    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(f, "events"), 0), "status")),
                        "CARRIER_PICKED_UP");
    json_decref(f);
    free(l1);
    json_decref(o);
}

static void scenario_dead_letters(env_t *e)
{
    json_t *o = place(e, "{\"sku\": \"TEE-2\", \"quantity\": 1}");
    long long id = id_of(o);
    char *bad = line(999999999, 1), *v;

    produce(e, id, "{not json");
    v = dispatch_json(e, id, "SHP-D", "TRK-D", bad);
    strstr(v, "\"carrier\"")[1] = 'X'; /* "Xarrier": the required carrier is missing */
    produce(e, id, v);
    free(v);
    produce_dispatch(e, id, "SHP-D", "TRK-D", bad);
    produce_status(e, id, "SHP-NONE", 1, "IN_TRANSIT", "In transit");

    char dlq[200];
    size_t n = 0;
    static const char *const want[] = {"decode", "schema", "unknown-line-item", "retry-exhausted"};
    int seen[4] = {0};

    snprintf(dlq, sizeof(dlq), "%s.dlq", e->topic);
    rd_kafka_message_t **msgs = th_consume(dlq, 4, 30000, &n);

    assert_int_equal(n, 4);
    for (size_t i = 0; i < n; i++) {
        char cls[64], why[1024];

        th_dead_letter(msgs[i], cls, sizeof(cls), why, sizeof(why));
        for (int k = 0; k < 4; k++) {
            if (strcmp(cls, want[k]) == 0) {
                seen[k]++;
            }
        }
        if (strcmp(cls, "schema") == 0) {
            assert_non_null(strstr(why, "carrier"));
        }
        if (strcmp(cls, "retry-exhausted") == 0) {
            assert_non_null(strstr(why, "no-fulfillment"));
        }
        if (strcmp(cls, "unknown-line-item") == 0) {
            assert_non_null(strstr(why, "999999999"));
        }
        rd_kafka_message_destroy(msgs[i]);
    }
    free(msgs);
    for (int k = 0; k < 4; k++) {
        assert_int_equal(seen[k], 1);
    }
    assert_int_equal(nfulfillments(e, id), 0);
    free(bad);
    json_decref(o);
}

static void test_dispatch_e2e(void **state)
{
    env_t e;
    redisContext *rc = th_redis();
    int64_t t0 = th_now_ms();

    (void)state;
    env_start(&e);
    start_worker(&e, NULL);
    scenario_full(&e, rc);
    fprintf(stderr, "full shipment, replays, adoption, statuses: %lld ms\n",
            (long long)(th_now_ms() - t0));
    scenario_partial_and_adopt(&e);
    fprintf(stderr, "partial shipments, adoption of a partial: %lld ms\n",
            (long long)(th_now_ms() - t0));
    scenario_dead_letters(&e);
    fprintf(stderr, "dead letters: %lld ms\n", (long long)(th_now_ms() - t0));
    env_stop(&e);
    redisFree(rc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dispatch_e2e),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
