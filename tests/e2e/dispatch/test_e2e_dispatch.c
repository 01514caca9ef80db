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

#include "harness.h"

#define DH_TEST_PRINTF __attribute__((format(printf, 1, 2)))

typedef struct env {
    th_sandbox_t sb;
    char store[128];
    char stores_file[256];
    char topic[128];
    char group[128];
    char log[256];
    th_producer_t *p;
    pid_t worker;
    int serial; /* event_id counter */
} env_t;

static void env_start(env_t *e)
{
    char buf[100], seed[2048], stores[1024];

    memset(e, 0, sizeof(*e));
    th_unique("dsp", buf, sizeof(buf));
    snprintf(e->store, sizeof(e->store), "%s.myshopify.com", buf);
    snprintf(e->topic, sizeof(e->topic), "t.%s", buf);
    snprintf(e->group, sizeof(e->group), "g.%s", buf);
    snprintf(e->log, sizeof(e->log), "%s/%s-dispatch.log", th_log_dir(), buf);
    snprintf(
        seed, sizeof(seed),
        "{\"stores\": [{\"domain\": \"%s\", \"access_token\": \"shpat_e2e\", "
        "\"api_version\": \"2026-10\", \"locations\": [{\"id\": 11, \"name\": \"WH1\"}, {\"id\": "
        "12, \"name\": \"WH2\"}], "
        "\"products\": [{\"id\": 100, \"title\": \"Tee\", \"variants\": ["
        "{\"id\": 200, \"sku\": \"TEE-1\", \"inventory_item_id\": 300, \"price\": \"10.00\"},"
        "{\"id\": 201, \"sku\": \"TEE-2\", \"inventory_item_id\": 301, \"price\": \"12.50\"}]}],"
        "\"levels\": [{\"inventory_item_id\": 300, \"location_id\": 11, \"available\": 1000},"
        "{\"inventory_item_id\": 301, \"location_id\": 11, \"available\": 1000},"
        "{\"inventory_item_id\": 301, \"location_id\": 12, \"available\": 1000}]}]}",
        e->store);
    th_sandbox_start(&e->sb, seed);
    snprintf(stores, sizeof(stores),
             "{\"stores\": [{\"domain\": \"%s\", \"admin_url\": \"%s/shops/%s\", "
             "\"api_version\": \"2026-10\", \"access_token\": \"shpat_e2e\", "
             "\"locations\": {\"BLR-1\": \"gid://shopify/Location/11\", "
             "\"DEL-1\": \"gid://shopify/Location/12\"}}]}",
             e->store, e->sb.base, e->store);
    snprintf(e->stores_file, sizeof(e->stores_file), "%s",
             th_write_temp("dh-dispatch-stores", stores));
    th_create_topic(e->topic, 3);
    e->p = th_producer_new();
}

static void start_worker(env_t *e)
{
    static char buf[24][300];
    const char *envv[25];
    int n = 0;

#define ADD(...) (snprintf(buf[n], sizeof(buf[n]), __VA_ARGS__), envv[n] = buf[n], n++)
    ADD("DH_KAFKA_BROKERS=%s", th_kafka());
    ADD("DH_REDIS_URL=%s", th_redis_url());
    ADD("DH_TOPICS=%s", e->topic);
    ADD("DH_GROUP_ID=%s", e->group);
    ADD("DH_STORES_FILE=%s", e->stores_file);
    ADD("DH_ADMIN_PORT=0");
    ADD("DH_LANES=4");
    ADD("DH_RETRY_BASE_MS=50");
    ADD("DH_RETRY_MAX_MS=200");
    ADD("DH_RETRY_MAX_ATTEMPTS=4");
    ADD("DH_IDEM_LEASE_MS=5000");
    ADD("DH_DISPATCH_HOLD_RECHECK_MS=200");
    /* Off by default here, on for this store: the per-store value is the one applied. */
    ADD("DH_DISPATCH_NOTIFY_CUSTOMER=false,%s=true", e->store);
    ADD("DH_HTTP_TIMEOUT_MS=5000");
    ADD("KAFKA_SESSION_TIMEOUT_MS=6000");
    ADD("KAFKA_HEARTBEAT_INTERVAL_MS=1000");
#undef ADD
    envv[n] = NULL;
    fprintf(stderr, "dh-dispatch on %s: log %s\n", e->topic, e->log);
    e->worker = th_spawn("dh-dispatch", envv, e->log);
}

static void env_stop(env_t *e)
{
    th_stop(e->worker);
    th_producer_destroy(e->p);
    th_sandbox_stop(&e->sb);
    unlink(e->stores_file);
}

/* A newly allocated printf result (asprintf is not C11). */
static char *fmt(const char *f, ...) DH_TEST_PRINTF;

static char *fmt(const char *f, ...)
{
    va_list ap;
    int n;
    char *out;

    va_start(ap, f);
    n = vsnprintf(NULL, 0, f, ap);
    va_end(ap);
    assert_true(n >= 0);
    out = malloc((size_t)n + 1);
    assert_non_null(out);
    va_start(ap, f);
    vsnprintf(out, (size_t)n + 1, f, ap);
    va_end(ap);
    return out;
}

/* ---- the sandbox ---- */

/* Places an order (no webhook) with \p extra order fields ("" or ", \"k\": v"); returns the
 * REST order. */
static json_t *place_with(env_t *e, const char *lines, const char *extra)
{
    char url[512], body[1024];
    long st = 0;

    snprintf(url, sizeof(url), "%s/_control/shops/%s/orders", e->sb.base, e->store);
    snprintf(body, sizeof(body), "{\"line_items\": [%s], \"deliver\": false%s}", lines, extra);
    json_t *o = th_http_json("POST", url, body, &st);

    assert_int_equal(st, 201);
    assert_non_null(o);
    return o;
}

static json_t *place(env_t *e, const char *lines)
{
    return place_with(e, lines, "");
}

static long long id_of(json_t *o)
{
    return (long long)json_integer_value(json_object_get(o, "id"));
}

/* The numeric id of the order's \p i-th line item. */
static long long line_id(json_t *o, size_t i)
{
    return (long long)json_integer_value(
        json_object_get(json_array_get(json_object_get(o, "line_items"), i), "id"));
}

/* The order as the sandbox holds it (fulfillments with tracking, lines and events). */
static json_t *order_state(env_t *e, long long id)
{
    char url[512];
    long st = 0;

    snprintf(url, sizeof(url), "%s/_control/shops/%s/orders/%lld", e->sb.base, e->store, id);
    json_t *o = th_http_json("GET", url, NULL, &st);

    assert_int_equal(st, 200);
    return o;
}

static size_t nfulfillments(env_t *e, long long id)
{
    json_t *o = order_state(e, id);
    size_t n = json_array_size(json_object_get(o, "fulfillments"));

    json_decref(o);
    return n;
}

/* Fulfillment \p i of the order (new reference). */
static json_t *fulfillment(env_t *e, long long id, size_t i)
{
    json_t *o = order_state(e, id);
    json_t *f = json_incref(json_array_get(json_object_get(o, "fulfillments"), i));

    json_decref(o);
    return f;
}

typedef struct wait_ful {
    env_t *e;
    long long order;
    size_t fulfillments; /* at least this many */
    size_t events;       /* and fulfillment \p which has at least this many events */
    size_t which;
} wait_ful_t;

static int fulfilled(void *ud)
{
    wait_ful_t *w = ud;
    json_t *o = order_state(w->e, w->order);
    json_t *fs = json_object_get(o, "fulfillments");
    int ok = json_array_size(fs) >= w->fulfillments &&
             json_array_size(json_object_get(json_array_get(fs, w->which), "events")) >= w->events;

    json_decref(o);
    return ok;
}

static void wait_fulfilled(env_t *e, long long order, size_t fulfillments, size_t events)
{
    wait_ful_t w = {e, order, fulfillments, events, 0};

    assert_true(th_wait_for(fulfilled, &w, 20000));
}

/* Shopify requests in the journal for GraphQL root field \p op whose body contains \p what
 * (URL-encoded). */
static int journal_count(env_t *e, const char *op, const char *what)
{
    char url[512], *text = NULL;
    int n = 0;

    snprintf(url, sizeof(url), "%s/_journal?group=shopify&op=%s&contains=%s", e->sb.base, op, what);
    assert_int_equal(th_http("GET", url, NULL, NULL, &text), 200);
    for (char *p = text; p && (p = strstr(p, "\"op\"")); p++) {
        n++;
    }
    free(text);
    return n;
}

/* fulfillmentCreate requests in the journal carrying \p tracking. */
static int journal_creates(env_t *e, const char *tracking)
{
    return journal_count(e, "fulfillmentCreate", tracking);
}

/* ---- events ---- */

static void produce(env_t *e, long long order, const char *value)
{
    char key[256];

    snprintf(key, sizeof(key), "%s|%lld", e->store, order);
    th_produce(e->p, e->topic, -1, key, value, strlen(value));
}

static void next_id(env_t *e, char *out, size_t size)
{
    snprintf(out, size, "0190c4a0-0000-7000-8000-%012d", ++e->serial);
}

/* A dispatch of "<line item id>:<quantity>" lines; returns the JSON (caller frees). */
static char *dispatch_json(env_t *e, long long order, const char *shipment, const char *tracking,
                           const char *lines)
{
    char id[40], *out = NULL;

    next_id(e, id, sizeof(id));
    out = fmt("{\"schema_version\": 1, \"event_id\": \"%s\", \"event_type\": "
              "\"dispatch\", \"occurred_at\": \"2026-05-02T09:00:00Z\", \"store\": "
              "\"%s\", \"shipment_id\": \"%s\", \"facility\": \"BLR-1\", \"order\": "
              "{\"channel_order_id\": \"%lld\", \"order_name\": \"#%lld\"}, "
              "\"carrier\": {\"company\": \"Delhivery\", \"tracking_number\": \"%s\", "
              "\"tracking_url\": \"https://track.example/%s\"}, \"lines\": [%s], "
              "\"sequence\": 0}",
              id, e->store, shipment, order, order, tracking, tracking, lines);
    return out;
}

static void produce_dispatch(env_t *e, long long order, const char *shipment, const char *tracking,
                             const char *lines)
{
    char *v = dispatch_json(e, order, shipment, tracking, lines);

    produce(e, order, v);
    free(v);
}

static void produce_status(env_t *e, long long order, const char *shipment, int seq,
                           const char *status, const char *carrier_status)
{
    char id[40], *v = NULL;

    next_id(e, id, sizeof(id));
    v = fmt("{\"schema_version\": 1, \"event_id\": \"%s\", \"event_type\": "
            "\"delivery_status\", \"occurred_at\": \"2026-05-03T08:30:00Z\", "
            "\"store\": \"%s\", \"shipment_id\": \"%s\", \"order\": "
            "{\"channel_order_id\": \"%lld\", \"order_name\": \"#%lld\"}, "
            "\"status\": \"%s\", \"carrier_status\": \"%s\", \"happened_at\": "
            "\"2026-05-03T08:12:00+05:30\", \"sequence\": %d, \"city\": \"Pune\"}",
            id, e->store, shipment, order, order, status, carrier_status, seq);
    produce(e, order, v);
    free(v);
}

static char *line(long long id, int q)
{
    char *s = NULL;

    s = fmt("{\"sku\": \"TEE\", \"quantity\": %d, \"channel_line_item_id\": "
            "\"%lld\"}",
            q, id);
    return s;
}

/* Sum of the quantities of fulfillment \p f's lines. */
static long long units(json_t *f)
{
    long long n = 0;
    size_t i;
    json_t *l;

    json_array_foreach(json_object_get(f, "lines"), i, l)
    {
        n += json_integer_value(json_object_get(l, "quantity"));
    }
    return n;
}

static void assert_tracking(json_t *f, const char *number)
{
    json_t *t = json_array_get(json_object_get(f, "tracking"), 0);
    char url[128];

    snprintf(url, sizeof(url), "https://track.example/%s", number);
    assert_string_equal(json_string_value(json_object_get(t, "company")), "Delhivery");
    assert_string_equal(json_string_value(json_object_get(t, "number")), number);
    assert_string_equal(json_string_value(json_object_get(t, "url")), url);
}

/* ---- scenarios ---- */

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

    /* Created but never recorded (a crash between Shopify's answer and our SET): both
     * records gone, a replay must adopt the fulfillment, not create a second one. */
    char ful_key[300], idem_key[400], *gid;
    redisReply *r;

    snprintf(ful_key, sizeof(ful_key), "dh:dispatch:ful:%s:SHP-A", e->store);
    snprintf(idem_key, sizeof(idem_key), "dispatch:idem:dispatch:%s:SHP-A", e->store);
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

/* The fulfillment order of \p o at \p location_id (new reference). */
static json_t *fo_at(env_t *e, long long id, const char *location_id)
{
    json_t *o = order_state(e, id), *found = NULL;
    size_t i;
    json_t *fo;

    json_array_foreach(json_object_get(o, "fulfillment_orders"), i, fo)
    {
        if (strcmp(json_string_value(json_object_get(fo, "location_id")), location_id) == 0) {
            found = json_incref(fo);
        }
    }
    json_decref(o);
    assert_non_null(found);
    return found;
}

/* A split order (TEE-1 at WH1 = BLR-1, TEE-2 at WH2): BLR-1's dispatch of its line fulfils
 * only WH1's fulfillment order; BLR-1 dispatching WH2's line is dead-lettered
 * (wrong-location, checked with the other dead letters) and WH2's fulfillment order stays
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
    free(l1);
    free(l2);
    json_decref(o);
}

typedef struct wait_reads {
    env_t *e;
    long long order;
    int reads;
} wait_reads_t;

/* The worker read the order at least w->reads times (each attempt reads it twice). */
static int order_read(void *ud)
{
    wait_reads_t *w = ud;
    char what[64];

    snprintf(what, sizeof(what), "Order/%lld%%22", w->order);
    return journal_count(w->e, "order", what) >= w->reads;
}

/* A dispatch for a held fulfillment order is parked (no fulfillmentCreate, no dead letter:
 * scenario_dead_letters counts every class) and applied right after the release, once. */
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
    static const char *const want[] = {"decode", "schema", "unknown-line-item", "retry-exhausted",
                                       "wrong-location"};
    int seen[5] = {0};

    snprintf(dlq, sizeof(dlq), "%s.dlq", e->topic);
    rd_kafka_message_t **msgs = th_consume(dlq, 5, 30000, &n);

    assert_int_equal(n, 5);
    for (size_t i = 0; i < n; i++) {
        char cls[64], why[1024];

        th_dead_letter(msgs[i], cls, sizeof(cls), why, sizeof(why));
        for (int k = 0; k < 5; k++) {
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
        if (strcmp(cls, "wrong-location") == 0) { /* scenario_split's SHP-S2 */
            assert_non_null(strstr(why, "not at gid://shopify/Location/11"));
        }
        if (strcmp(cls, "unknown-line-item") == 0) {
            assert_non_null(strstr(why, "999999999"));
        }
        rd_kafka_message_destroy(msgs[i]);
    }
    free(msgs);
    for (int k = 0; k < 5; k++) {
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
    start_worker(&e);
    scenario_full(&e, rc);
    fprintf(stderr, "full shipment, replays, adoption, statuses: %lld ms\n",
            (long long)(th_now_ms() - t0));
    scenario_partial_and_adopt(&e);
    fprintf(stderr, "partial shipments, adoption of a partial: %lld ms\n",
            (long long)(th_now_ms() - t0));
    scenario_split(&e);
    fprintf(stderr, "split order, two locations: %lld ms\n", (long long)(th_now_ms() - t0));
    scenario_hold(&e);
    fprintf(stderr, "held fulfillment order, released: %lld ms\n", (long long)(th_now_ms() - t0));
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
