/*
 * The dispatch end-to-end tests' common part: see dispatch_e2e.h.
 */
#include "dispatch_e2e.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void env_start(env_t *e)
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

void start_worker(env_t *e, const char *const *extra)
{
    static char buf[32][300];
    const char *envv[33];
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
    for (size_t i = 0; extra && extra[i] && n < 32; i++) {
        ADD("%s", extra[i]);
    }
#undef ADD
    envv[n] = NULL;
    fprintf(stderr, "dh-dispatch on %s: log %s\n", e->topic, e->log);
    e->worker = th_spawn("dh-dispatch", envv, e->log);
}

void env_stop(env_t *e)
{
    th_stop(e->worker);
    th_producer_destroy(e->p);
    th_sandbox_stop(&e->sb);
    unlink(e->stores_file);
}

/* A newly allocated printf result (asprintf is not C11). */
char *fmt(const char *f, ...)
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
json_t *place_with(env_t *e, const char *lines, const char *extra)
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

json_t *place(env_t *e, const char *lines)
{
    return place_with(e, lines, "");
}

long long id_of(json_t *o)
{
    return (long long)json_integer_value(json_object_get(o, "id"));
}

/* The numeric id of the order's \p i-th line item. */
long long line_id(json_t *o, size_t i)
{
    return (long long)json_integer_value(
        json_object_get(json_array_get(json_object_get(o, "line_items"), i), "id"));
}

/* The order as the sandbox holds it (fulfillments with tracking, lines and events). */
json_t *order_state(env_t *e, long long id)
{
    char url[512];
    long st = 0;

    snprintf(url, sizeof(url), "%s/_control/shops/%s/orders/%lld", e->sb.base, e->store, id);
    json_t *o = th_http_json("GET", url, NULL, &st);

    assert_int_equal(st, 200);
    return o;
}

size_t nfulfillments(env_t *e, long long id)
{
    json_t *o = order_state(e, id);
    size_t n = json_array_size(json_object_get(o, "fulfillments"));

    json_decref(o);
    return n;
}

/* Fulfillment \p i of the order (new reference). */
json_t *fulfillment(env_t *e, long long id, size_t i)
{
    json_t *o = order_state(e, id);
    json_t *f = json_incref(json_array_get(json_object_get(o, "fulfillments"), i));

    json_decref(o);
    return f;
}

int fulfilled(void *ud)
{
    wait_ful_t *w = ud;
    json_t *o = order_state(w->e, w->order);
    json_t *fs = json_object_get(o, "fulfillments");
    int ok = json_array_size(fs) >= w->fulfillments &&
             json_array_size(json_object_get(json_array_get(fs, w->which), "events")) >= w->events;

    json_decref(o);
    return ok;
}

void wait_fulfilled(env_t *e, long long order, size_t fulfillments, size_t events)
{
    wait_ful_t w = {e, order, fulfillments, events, 0};

    assert_true(th_wait_for(fulfilled, &w, 20000));
}

/* Shopify requests in the journal for GraphQL root field \p op whose body contains \p what
 * (URL-encoded). */
int journal_count(env_t *e, const char *op, const char *what)
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
int journal_creates(env_t *e, const char *tracking)
{
    return journal_count(e, "fulfillmentCreate", tracking);
}

/* ---- events ---- */

void produce(env_t *e, long long order, const char *value)
{
    char key[256];

    snprintf(key, sizeof(key), "%s|%lld", e->store, order);
    th_produce(e->p, e->topic, -1, key, value, strlen(value));
}

void next_id(env_t *e, char *out, size_t size)
{
    snprintf(out, size, "0190c4a0-0000-7000-8000-%012d", ++e->serial);
}

/* A dispatch of "<line item id>:<quantity>" lines by \p company (\p url NULL: null);
 * returns the JSON (caller frees). */
char *dispatch_json_by(env_t *e, long long order, const char *shipment, const char *company,
                       const char *tracking, const char *url, const char *lines)
{
    char id[40], *out = NULL, *u = url ? fmt("\"%s\"", url) : fmt("null");

    next_id(e, id, sizeof(id));
    out = fmt("{\"schema_version\": 1, \"event_id\": \"%s\", \"event_type\": "
              "\"dispatch\", \"occurred_at\": \"2026-05-02T09:00:00Z\", \"store\": "
              "\"%s\", \"shipment_id\": \"%s\", \"facility\": \"BLR-1\", \"order\": "
              "{\"channel_order_id\": \"%lld\", \"order_name\": \"#%lld\"}, "
              "\"carrier\": {\"company\": \"%s\", \"tracking_number\": \"%s\", "
              "\"tracking_url\": %s}, \"lines\": [%s], \"sequence\": 0}",
              id, e->store, shipment, order, order, company, tracking, u, lines);
    free(u);
    return out;
}

/* The usual dispatch: Delhivery, with the WMS's tracking url https://track.example/<n>. */
char *dispatch_json(env_t *e, long long order, const char *shipment, const char *tracking,
                    const char *lines)
{
    char url[300];

    snprintf(url, sizeof(url), "https://track.example/%s", tracking);
    return dispatch_json_by(e, order, shipment, "Delhivery", tracking, url, lines);
}

void produce_dispatch(env_t *e, long long order, const char *shipment, const char *tracking,
                      const char *lines)
{
    char *v = dispatch_json(e, order, shipment, tracking, lines);

    produce(e, order, v);
    free(v);
}

void produce_status(env_t *e, long long order, const char *shipment, int seq, const char *status,
                    const char *carrier_status)
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

char *line(long long id, int q)
{
    char *s = NULL;

    /* stock_sequence: the units' stock change at BLR-1 (any value: no dh-inventory here),
     * so every dispatch goes through the shipment ledger. */
    s = fmt("{\"sku\": \"TEE\", \"quantity\": %d, \"channel_line_item_id\": "
            "\"%lld\", \"stock_sequence\": %d}",
            q, id, 500 + q);
    return s;
}

/* Sum of the quantities of fulfillment \p f's lines. */
long long units(json_t *f)
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

void assert_tracking(json_t *f, const char *number)
{
    json_t *t = json_array_get(json_object_get(f, "tracking"), 0);
    char url[128];

    snprintf(url, sizeof(url), "https://track.example/%s", number);
    assert_string_equal(json_string_value(json_object_get(t, "company")), "Delhivery");
    assert_string_equal(json_string_value(json_object_get(t, "number")), number);
    assert_string_equal(json_string_value(json_object_get(t, "url")), url);
}

/* The fulfillment order of \p o at \p location_id (new reference). */
json_t *fo_at(env_t *e, long long id, const char *location_id)
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

/* The worker read the order at least w->reads times (each attempt reads it twice). */
int order_read(void *ud)
{
    wait_reads_t *w = ud;
    char what[64];

    snprintf(what, sizeof(what), "Order/%lld%%22", w->order);
    return journal_count(w->e, "order", what) >= w->reads;
}

/* A dispatch for a held fulfillment order is parked (no fulfillmentCreate, no dead letter:
 * scenario_dead_letters counts every class) and applied right after the release, once. */
