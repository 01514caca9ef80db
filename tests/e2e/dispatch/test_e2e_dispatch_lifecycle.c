/*
 * End to end, flow 3 as merchants and shoppers see it (issue 12, docs/dispatch.md): the
 * dispatching facility's location only, holds, carriers, against the local stack's broker
 * and Redis and dh-sandbox. Waits on the sandbox's state and journal, never on time.
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
#include <sys/wait.h>
#include <unistd.h>

#include "dispatch_e2e.h"

/* A split order (TEE-1 at WH1 = BLR-1, TEE-2 at WH2): BLR-1's dispatch of its line fulfils
 * only WH1's fulfillment order; BLR-1 dispatching WH2's line is dead-lettered
 * (wrong-location) and WH2's fulfillment order stays
 * untouched. */
static void scenario_split(env_t *e)
{
    json_t *o = place(e, "{\"sku\": \"TEE-1\", \"quantity\": 2, \"location_id\": 11}, "
                         "{\"sku\": \"TEE-2\", \"quantity\": 1, \"location_id\": 12}");
    long long id = id_of(o);
    char *l1 = line(line_id(o, 0), 2), *l2 = line(line_id(o, 1), 1);

    produce_dispatch(e, id, "SHP-S1", "TRK-S1", l1);
    produce_dispatch(e, id, "SHP-S2", "TRK-S2", l2);                /* BLR-1 ships WH2's line */
    produce_status(e, id, "SHP-S1", 1, "IN_TRANSIT", "In transit"); /* the barrier */
    wait_fulfilled(e, id, 1, 1);
    assert_int_equal(nfulfillments(e, id), 1);
    assert_int_equal(journal_creates(e, "TRK-S1"), 1);
    assert_int_equal(journal_creates(e, "TRK-S2"), 0);
    json_t *f = fulfillment(e, id, 0);

    assert_string_equal(json_string_value(json_object_get(f, "location_id")), "11");
    assert_int_equal(units(f), 2);
    json_decref(f);
    json_t *wh1 = fo_at(e, id, "11"), *wh2 = fo_at(e, id, "12");

    assert_string_equal(json_string_value(json_object_get(wh1, "status")), "CLOSED");
    assert_string_equal(json_string_value(json_object_get(wh2, "status")), "OPEN");
    assert_int_equal(json_integer_value(json_object_get(
                         json_array_get(json_object_get(wh2, "line_items"), 0), "remaining")),
                     1);
    json_decref(wh1);
    json_decref(wh2);

    char dlq[200], cls[64], why[1024];
    size_t n = 0;

    snprintf(dlq, sizeof(dlq), "%s.dlq", e->topic);
    rd_kafka_message_t **msgs = th_consume(dlq, 1, 30000, &n);

    assert_int_equal(n, 1);
    th_dead_letter(msgs[0], cls, sizeof(cls), why, sizeof(why));
    assert_string_equal(cls, "wrong-location");
    assert_non_null(strstr(why, "not at gid://shopify/Location/11"));
    rd_kafka_message_destroy(msgs[0]);
    free(msgs);
    free(l1);
    free(l2);
    json_decref(o);
}

static void scenario_hold(env_t *e)
{
    json_t *o = place_with(e, "{\"sku\": \"TEE-1\", \"quantity\": 1}",
                           ", \"hold_reason\": \"HIGH_RISK_OF_FRAUD\"");
    long long id = id_of(o);
    char *l1 = line(line_id(o, 0), 1), url[512];
    wait_reads_t w = {e, id, 8}; /* four attempts on the held fulfillment order */
    long st = 0;

    produce_dispatch(e, id, "SHP-H", "TRK-H", l1);
    assert_true(th_wait_for(order_read, &w, 20000));
    assert_int_equal(journal_creates(e, "TRK-H"), 0);
    assert_int_equal(nfulfillments(e, id), 0);
    json_t *fo = fo_at(e, id, "11");

    assert_string_equal(json_string_value(json_object_get(fo, "status")), "ON_HOLD");
    json_decref(fo);
    snprintf(url, sizeof(url), "%s/_control/shops/%s/orders/%lld/release-hold", e->sb.base,
             e->store, id);
    json_decref(th_http_json("POST", url, "{\"deliver\": false}", &st));
    assert_int_equal(st, 200);
    produce_status(e, id, "SHP-H", 1, "IN_TRANSIT", "In transit"); /* the barrier */
    wait_fulfilled(e, id, 1, 1);
    assert_int_equal(nfulfillments(e, id), 1);
    assert_int_equal(journal_creates(e, "TRK-H"), 1);
    free(l1);
    json_decref(o);
}

/* Bad events are dead-lettered with a reason: malformed JSON, a contract violation, an
 * unknown line item, a status for a shipment that never got a fulfillment (retried until
 * the runtime's budget ends), and scenario_split's dispatch of another location's line. */
/* The company and url of fulfillment \p i's first tracking entry, as the sandbox holds it
 * (borrowed from *keep, which the caller releases). */
static void tracking_of(env_t *e, long long id, size_t i, const char **company, const char **url,
                        json_t **keep)
{
    json_t *t;

    *keep = fulfillment(e, id, i);
    t = json_array_get(json_object_get(*keep, "tracking"), 0);
    *company = json_string_value(json_object_get(t, "company"));
    *url = json_string_value(json_object_get(t, "url"));
}

/* WMS courier spellings reach Shopify as its listed names (no url: Shopify builds it); an
 * unlisted courier is sent as given, with the url template's link. */
static void scenario_carriers(env_t *e)
{
    json_t *o = place(e, "{\"sku\": \"TEE-1\", \"quantity\": 3}");
    long long id = id_of(o);
    char *l = line(line_id(o, 0), 1), *v;
    const char *company, *url;
    json_t *keep;

    static const char *const sent[][3] = {{"SHP-K1", "BLUE DART", "TRK-K1"},
                                          {"SHP-K2", "xpress bees", "TRK-K2"},
                                          {"SHP-K3", "Shree Maruti", "TRK-K3"}};

    for (size_t i = 0; i < 3; i++) {
        v = dispatch_json_by(e, id, sent[i][0], sent[i][1], sent[i][2], NULL, l);
        produce(e, id, v);
        free(v);
    }
    produce_status(e, id, "SHP-K3", 1, "IN_TRANSIT", "In transit"); /* the barrier */
    wait_ful_t w = {e, id, 3, 1, 2};

    assert_true(th_wait_for(fulfilled, &w, 20000));
    static const char *const want[][2] = {
        {"Bluedart", NULL}, {"XpressBees", NULL}, {"Shree Maruti", "https://sm.example/TRK-K3"}};

    for (size_t i = 0; i < 3; i++) {
        tracking_of(e, id, i, &company, &url, &keep);
        assert_string_equal(company, want[i][0]);
        if (want[i][1]) {
            assert_non_null(url);
            assert_string_equal(url, want[i][1]);
        } else {
            assert_null(url);
        }
        json_decref(keep);
    }
    free(l);
    json_decref(o);
}

/* Every row of the delivery-status table (docs/dispatch.md) in order, on one shipment: the
 * documented event each, the RTO tag once for three RTO statuses, the loss tag once; then a
 * repeated and a stale status post and tag nothing (the barrier: a later DELAYED). */
static void scenario_statuses(env_t *e)
{
    static const char *const rows[][3] = {
        {"PICKED_UP", "CARRIER_PICKED_UP", "Picked up"},
        {"IN_TRANSIT", "IN_TRANSIT", "In transit"},
        {"OUT_FOR_DELIVERY", "OUT_FOR_DELIVERY", "Out for delivery"},
        {"ATTEMPTED_DELIVERY", "ATTEMPTED_DELIVERY", "Customer not available"},
        {"DELAYED", "DELAYED", "Delayed"},
        {"DELIVERED", "DELIVERED", "Delivered"},
        {"RTO_INITIATED", "FAILURE", "RTO Initiated"},
        {"RTO_IN_TRANSIT", "FAILURE", "RTO In Transit"},
        {"RTO_DELIVERED", "FAILURE", "RTO Delivered"},
        {"LOST", "FAILURE", "Shipment Lost"},
        {"DAMAGED", "FAILURE", "Shipment Damaged"},
        {"CANCELLED", "FAILURE", "Shipment Cancelled"},
    };
    enum { NROWS = sizeof(rows) / sizeof(rows[0]) };
    json_t *o = place(e, "{\"sku\": \"TEE-2\", \"quantity\": 1}");
    long long id = id_of(o);
    char *l = line(line_id(o, 0), 1), what[64];

    produce_dispatch(e, id, "SHP-T", "TRK-T", l);
    for (int i = 0; i < NROWS; i++) {
        produce_status(e, id, "SHP-T", i + 1, rows[i][0], rows[i][2]);
    }
    produce_status(e, id, "SHP-T", 9, "RTO_DELIVERED", "RTO Delivered");   /* repeated */
    produce_status(e, id, "SHP-T", 8, "RTO_IN_TRANSIT", "RTO In Transit"); /* stale */
    produce_status(e, id, "SHP-T", NROWS + 1, "DELAYED", "Delayed");       /* the barrier */
    wait_fulfilled(e, id, 1, NROWS + 1);
    json_t *f = fulfillment(e, id, 0), *evs = json_object_get(f, "events");

    assert_int_equal(json_array_size(evs), NROWS + 1);
    for (size_t i = 0; i < NROWS; i++) {
        json_t *ev = json_array_get(evs, i);

        assert_string_equal(json_string_value(json_object_get(ev, "status")), rows[i][1]);
        assert_string_equal(json_string_value(json_object_get(ev, "message")), rows[i][2]);
    }
    json_decref(f);
    json_t *st = order_state(e, id), *tags = json_object_get(st, "tags");

    assert_int_equal(json_array_size(tags), 2);
    assert_string_equal(json_string_value(json_array_get(tags, 0)), "rto");
    assert_string_equal(json_string_value(json_array_get(tags, 1)), "lost-in-transit");
    json_decref(st);
    snprintf(what, sizeof(what), "Order/%lld%%22", id);
    assert_int_equal(journal_count(e, "tagsAdd", what), 2); /* once each */
    free(l);
    json_decref(o);
}

/* A courier reassignment: the shipment dispatched again under a new AWB updates the tracking
 * of its one fulfillment (no new fulfillment); a duplicate changes nothing; a replay whose
 * records were lost (updated, then a crash before recording) finds the fulfillment carrying
 * the new number and sends nothing. */
static void scenario_retrack(env_t *e, redisContext *rc)
{
    json_t *o = place(e, "{\"sku\": \"TEE-1\", \"quantity\": 2}");
    long long id = id_of(o);
    char *l = line(line_id(o, 0), 2), *v;

    produce_dispatch(e, id, "SHP-R", "TRK-R1", l);
    v = dispatch_json_by(e, id, "SHP-R", "Blue Dart", "TRK-R2", NULL, l);
    produce(e, id, v);
    produce(e, id, v);                                             /* the same event twice */
    produce_status(e, id, "SHP-R", 1, "IN_TRANSIT", "In transit"); /* the barrier */
    wait_fulfilled(e, id, 1, 1);
    assert_int_equal(nfulfillments(e, id), 1);
    assert_int_equal(journal_creates(e, "TRK-R1"), 1);
    assert_int_equal(journal_creates(e, "TRK-R2"), 0);
    assert_int_equal(journal_count(e, "fulfillmentTrackingInfoUpdate", "TRK-R2"), 1);
    json_t *f = fulfillment(e, id, 0), *t = json_array_get(json_object_get(f, "tracking"), 0);

    assert_int_equal(json_array_size(json_object_get(f, "tracking")), 1);
    assert_string_equal(json_string_value(json_object_get(t, "number")), "TRK-R2");
    assert_string_equal(json_string_value(json_object_get(t, "company")), "Bluedart");
    json_decref(f);

    assert_int_equal(
        th_redis_int(rc, "DEL dh:dispatch:awb:%s:SHP-R dispatch:idem:dispatch:%s:SHP-R:TRK-R2",
                     e->store, e->store),
        2);
    produce(e, id, v); /* a replay after "updated but not recorded" */
    produce_status(e, id, "SHP-R", 2, "OUT_FOR_DELIVERY", "Out for delivery");
    wait_fulfilled(e, id, 1, 2);
    assert_int_equal(journal_count(e, "fulfillmentTrackingInfoUpdate", "TRK-R2"), 1);
    assert_int_equal(nfulfillments(e, id), 1);
    assert_int_equal(th_redis_int(rc, "EXISTS dh:dispatch:awb:%s:SHP-R", e->store), 1);
    free(v);
    free(l);
    json_decref(o);
}

/* The order has at least one fulfillment (the sandbox applied a create). */
static int has_fulfillment(void *ud)
{
    wait_ful_t *w = ud;

    return nfulfillments(w->e, w->order) >= 1;
}

/* A real kill -9 of dh-dispatch between Shopify's effect and the record: the sandbox applies
 * the fulfillmentCreate carrying TRK-X and holds its answer back (timeout_after_effect,
 * narrowed to that body); once the fulfillment exists the worker is killed; a new worker
 * (same group) gets the event again and adopts the fulfillment: still exactly one, and no
 * second fulfillmentCreate (the journal lists the held request only when it ends). */
static void scenario_kill9(env_t *e, redisContext *rc, const char *const *extra)
{
    json_t *o = place(e, "{\"sku\": \"TEE-1\", \"quantity\": 1}");
    long long id = id_of(o);
    char *l = line(line_id(o, 0), 1), url[300];
    long st = 0;
    wait_ful_t w = {e, id, 1, 0, 0};

    snprintf(url, sizeof(url), "%s/_control/faults", e->sb.base);
    json_decref(th_http_json("POST", url,
                             "{\"group\": \"shopify\", \"timeout_after_effect_rate\": 1, "
                             "\"timeout_ms\": 120000, \"count\": 1, \"contains\": \"TRK-X\"}",
                             &st));
    assert_int_equal(st, 200);
    produce_dispatch(e, id, "SHP-X", "TRK-X", l);
    assert_true(th_wait_for(has_fulfillment, &w, 20000));
    assert_int_equal(kill(e->worker, SIGKILL), 0);
    assert_int_equal(waitpid(e->worker, NULL, 0), e->worker);
    json_decref(th_http_json("DELETE", url, NULL, &st));
    start_worker(e, extra);
    produce_status(e, id, "SHP-X", 1, "IN_TRANSIT", "In transit"); /* the barrier */
    wait_ful_t w2 = {e, id, 1, 1, 0};

    assert_true(th_wait_for(fulfilled, &w2, 60000));
    assert_int_equal(nfulfillments(e, id), 1);
    assert_int_equal(journal_creates(e, "TRK-X"), 0); /* the new worker created nothing */
    json_t *f = fulfillment(e, id, 0);
    char gid[128];
    redisReply *r = redisCommand(rc, "GET dh:dispatch:ful:%s:SHP-X", e->store);

    snprintf(gid, sizeof(gid), "gid://shopify/Fulfillment/%s",
             json_string_value(json_object_get(f, "id")));
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    assert_string_equal(r->str, gid); /* adopted and recorded */
    freeReplyObject(r);
    json_decref(f);
    free(l);
    json_decref(o);
}

static void test_dispatch_lifecycle(void **state)
{
    env_t e;
    redisContext *rc = th_redis();
    int64_t t0 = th_now_ms();
    static const char *const extra[] = {
        "DH_DISPATCH_TRACKING_URLS=Shree Maruti=https://sm.example/{number}", NULL};

    (void)state;
    env_start(&e);
    start_worker(&e, extra);
    scenario_split(&e);
    fprintf(stderr, "split order, two locations: %lld ms\n", (long long)(th_now_ms() - t0));
    scenario_hold(&e);
    fprintf(stderr, "held fulfillment order, released: %lld ms\n", (long long)(th_now_ms() - t0));
    scenario_carriers(&e);
    fprintf(stderr, "carriers: %lld ms\n", (long long)(th_now_ms() - t0));
    scenario_statuses(&e);
    fprintf(stderr, "status table, tags: %lld ms\n", (long long)(th_now_ms() - t0));
    scenario_retrack(&e, rc);
    fprintf(stderr, "courier reassigned: %lld ms\n", (long long)(th_now_ms() - t0));
    scenario_kill9(&e, rc, extra);
    fprintf(stderr, "kill -9 after the effect: %lld ms\n", (long long)(th_now_ms() - t0));
    env_stop(&e);
    redisFree(rc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dispatch_lifecycle),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
