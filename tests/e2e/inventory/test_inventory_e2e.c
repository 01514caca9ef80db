/*
 * dh-inventory end to end: dh-sandbox (Shopify + WMS), the shared Kafka and Redis, and
 * the real binary. Checks final Shopify levels, the journal (calls, THROTTLED) and the
 * dead-letter topic. Scenarios: bulk with duplicates and a stale replay (+ unknown SKU),
 * kill -9 mid-run, the oversell race, the on-demand full sync, items not stocked at the
 * location (2026-10: one applied set stocks them, no inventoryActivate), a full sync killed
 * and resumed from its cursor, and one sync run by exactly one of two replicas. "Nothing more
 * happened" is awaited, never slept: the worker's group committed the whole topic (every event
 * done), a later event on the same key (where nothing else is queued for it: coalescing), the
 * move's own push, or a later sync.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <jansson.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define NSKU 1000

typedef struct env {
    th_sandbox_t sb;
    th_run_t run;
    char domain[96];
    char uuid_prefix[16];
    char loc1[64], loc2[64];
    int64_t expect[NSKU + 1]; /* expected on_hand per SKU, -1 unknown */
    int64_t eid;
    pid_t w[2]; /* workers the teardown kills if a test failed before stopping them */
} env_t;

/* The default store: NSKU generated SKUs, two locations, nothing stocked. */
#define GENERATED_STORE                                                                            \
    "\"generate\":{\"products\":1000,\"variants_per_product\":1,\"sku_prefix\":\"SKU-\","          \
    "\"locations\":2,\"available\":0}"

/* A sandbox whose store is \p store_seed (seed members after api_version), F1/F2 mapped to
 * \p loc1/\p loc2, and the worker environment. */
static void start_env_ex(env_t *e, const char *prefix, const char *store_seed, const char *loc1,
                         const char *loc2)
{
    char seed[4096], stores[2048], buf[64];

    memset(e, 0, sizeof(*e));
    th_unique(prefix, buf, sizeof(buf));
    for (char *p = buf; *p; p++) {
        *p = (*p == '.' || *p == '_') ? '-' : *p;
    }
    snprintf(e->domain, sizeof(e->domain), "%s.myshopify.com", buf);
    snprintf(e->uuid_prefix, sizeof(e->uuid_prefix), "%08x", (unsigned)(th_now_ms() ^ getpid()));
    snprintf(seed, sizeof(seed),
             "{\"stores\":[{\"domain\":\"%s\",\"access_token\":\"shpat_x\",\"bucket_size\":2000,"
             "\"restore_rate\":100,\"api_version\":\"2026-10\",%s}],"
             "\"wms\":{\"token\":\"wms-token\",\"inventory\":[]}}",
             e->domain, store_seed);
    th_sandbox_start(&e->sb, seed);
    snprintf(e->loc1, sizeof(e->loc1), "%s", loc1);
    snprintf(e->loc2, sizeof(e->loc2), "%s", loc2);
    snprintf(stores, sizeof(stores),
             "{\"stores\":[{\"domain\":\"%s\",\"tenants\":[\"T1\"],\"admin_url\":\"%s/shops/%s\","
             "\"api_version\":\"2026-10\",\"access_token\":\"shpat_x\",\"bucket_size\":2000,"
             "\"restore_rate\":100,\"webhook_secrets\":[\"s\"],"
             "\"locations\":{\"F1\":\"%s\",\"F2\":\"%s\"}}]}",
             e->domain, e->sb.base, e->domain, e->loc1, e->loc2);
    th_run_init(&e->run, prefix, 6);
    th_run_setenv(&e->run, "DH_STORES_FILE", th_write_temp("dh-inv-stores", stores));
    th_run_setenv(&e->run, "DH_WMS_URL", e->sb.base);
    th_run_setenv(&e->run, "DH_WMS_TOKEN", "wms-token");
    /* Short leases, like the harness's DH_IDEM_LEASE_MS: a killed worker's SKU fences hold
     * its successor back this long (the lease must stay above the HTTP timeout). */
    th_run_setenv(&e->run, "DH_INVENTORY_FENCE_MS", "5000");
    th_run_setenv(&e->run, "DH_HTTP_TIMEOUT_MS", "4000");
    for (int i = 0; i <= NSKU; i++) {
        e->expect[i] = -1;
    }
}

static void start_env(env_t *e, const char *prefix)
{
    /* generate: locations get ids 1000001.., then product, variant, item per SKU. */
    start_env_ex(e, prefix, GENERATED_STORE, "gid://shopify/Location/1000001",
                 "gid://shopify/Location/1000002");
}

static void stop_env(env_t *e)
{
    th_sandbox_stop(&e->sb);
}

static int64_t item_of(int sku)
{
    return 1000002 + 3LL * sku;
}

/* Catalogue records (what the catalogue worker writes) for SKUs 1..upto. */
static void seed_catalog(env_t *e, int upto)
{
    redisContext *c = th_redis();

    for (int i = 1; i <= upto; i++) {
        redisAppendCommand(c, "SET dh:catalog:%s:sku:SKU-%d {\"inventory_item_id\":%lld}",
                           e->domain, i, (long long)item_of(i));
    }
    for (int i = 1; i <= upto; i++) {
        redisReply *r = NULL;

        assert_int_equal(redisGetReply(c, (void **)&r), REDIS_OK);
        freeReplyObject(r);
    }
    redisFree(c);
}

typedef struct stock {
    int good_online, allocated, safety;
} stock_t;

static int64_t target_of(stock_t s)
{
    int64_t t = (int64_t)s.good_online - s.safety;

    return t < 0 ? 0 : t;
}

/* One event; kind 0 putaway, 1 crossing move, 2 same-class move. */
static void produce(env_t *e, th_producer_t *p, const char *sku, const char *facility, int kind,
                    long long seq, stock_t s, int64_t event_no)
{
    char val[1400], key[256], eid[64];

    snprintf(eid, sizeof(eid), "%s-0000-4000-8000-%012llx", e->uuid_prefix,
             (unsigned long long)event_no & 0xffffffffffffULL);
    const char *body =
        kind == 0   ? "\"event_type\":\"putaway\",\"putaway\":{\"putaway_id\":\"P\",\"zone\":"
                      "\"GOOD\",\"zone_class\":\"online\",\"quantity\":1,\"qc_status\":"
                      "\"GOOD\"}"
        : kind == 1 ? "\"event_type\":\"zone_move\",\"move\":{\"move_id\":\"M\",\"quantity\":1,"
                      "\"from_zone\":\"GOOD\",\"from_class\":\"online\",\"to_zone\":\"QC\","
                      "\"to_class\":\"offline\"}"
                    : "\"event_type\":\"zone_move\",\"move\":{\"move_id\":\"M\",\"quantity\":1,"
                      "\"from_zone\":\"A\",\"from_class\":\"online\",\"to_zone\":\"B\","
                      "\"to_class\":\"online\"}";
    int n =
        snprintf(val, sizeof(val),
                 "{\"schema_version\":1,\"event_id\":\"%s\",\"occurred_at\":"
                 "\"2026-05-01T10:00:00Z\",\"store\":\"%s\",\"facility\":\"%s\",\"sku\":\"%s\","
                 "\"sequence\":%lld,\"stock\":{\"good_online\":%d,\"allocated\":%d,"
                 "\"safety_stock\":%d,\"damaged\":1,\"quarantined\":2,\"good_offline\":3},%s}",
                 eid, e->domain, facility, sku, seq, s.good_online, s.allocated, s.safety, body);

    snprintf(key, sizeof(key), "%s|%s|%s", e->domain, facility, sku);
    th_produce(p, e->run.topic, -1, key, val, (size_t)n);
}

static json_t *levels(env_t *e, const char *sku)
{
    char url[512];
    long st = 0;
    json_t *j;

    snprintf(url, sizeof(url), "%s/_control/shops/%s/levels?sku=%s", e->sb.base, e->domain, sku);
    j = th_http_json("GET", url, NULL, &st);
    return st == 200 ? j : (json_decref(j), NULL);
}

/* A quantity at "Location 1" (F1). -1 if unknown. */
static int64_t level_q(env_t *e, const char *sku, const char *name)
{
    json_t *j = levels(e, sku), *loc = NULL;
    const char *k;
    json_t *v;
    int64_t q = -1;

    json_object_foreach(j, k, v)
    {
        if (json_is_object(v) && json_object_get(v, "Location 1")) {
            loc = json_object_get(v, "Location 1");
        }
    }
    if (loc && json_is_integer(json_object_get(loc, name))) {
        q = json_integer_value(json_object_get(loc, name));
    }
    json_decref(j);
    return q;
}

static int all_match(void *ud)
{
    env_t *e = ud;
    char sku[32];

    for (int i = 1; i <= NSKU; i++) {
        if (e->expect[i] < 0) {
            continue;
        }
        snprintf(sku, sizeof(sku), "SKU-%d", i);
        if (level_q(e, sku, "on_hand") != e->expect[i]) {
            return 0;
        }
    }
    return 1;
}

/* Journal lines for op at the store: count, throttled ones. */
static long journal(env_t *e, const char *op, long *throttled)
{
    char url[512], *text = NULL, *line, *save = NULL;
    long n = 0;

    snprintf(url, sizeof(url), "%s/_journal?group=shopify&op=%s&shop=%s", e->sb.base, op,
             e->domain);
    assert_int_equal(th_http("GET", url, NULL, NULL, &text), 200);
    *throttled = 0;
    if (!text) {
        return 0;
    }
    for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        json_t *j = json_loads(line, 0, NULL);

        if (j) {
            n++;
            *throttled += json_is_true(json_object_get(j, "throttled"));
        }
        json_decref(j);
    }
    free(text);
    return n;
}

/* ---- "nothing more happened": every produced event handled, awaited ---- */

/* The worker's group has committed every partition of the scenario's topic to its end.
 * The runtime commits an event's offset only once it is done (applied, stale, superseded
 * by coalescing or dead-lettered), so from then on no event of the topic can push again.
 * (A later event on the same key is no barrier here: coalescing may supersede a queued
 * event by it, hiding what that event would have done.) */
typedef struct handled_ctx {
    rd_kafka_t *rk;
    const char *topic;
} handled_ctx_t;

static int all_handled(void *ud)
{
    handled_ctx_t *h = ud;
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(6);
    int ok = 1;

    for (int32_t p = 0; p < 6; p++) {
        rd_kafka_topic_partition_list_add(parts, h->topic, p);
    }
    if (rd_kafka_committed(h->rk, parts, 5000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        ok = 0;
    }
    for (int i = 0; ok && i < parts->cnt; i++) {
        int64_t lo = 0, hi = 0;

        ok = rd_kafka_query_watermark_offsets(h->rk, h->topic, parts->elems[i].partition, &lo, &hi,
                                              5000) == RD_KAFKA_RESP_ERR_NO_ERROR &&
             (hi == 0 || parts->elems[i].offset >= hi);
    }
    rd_kafka_topic_partition_list_destroy(parts);
    return ok;
}

static void check_last_pushes(env_t *e);

/* Waits until every event of the scenario's topic was handled, then checks the levels and
 * that the last value pushed for each SKU was the expected one (no stale or late push
 * after the expected state was reached). */
static void await_all_handled(env_t *e)
{
    char errstr[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    handled_ctx_t h = {NULL, e->run.topic};

    /* The worker's group id, to read its committed offsets; this handle never joins. */
    assert_int_equal(
        rd_kafka_conf_set(conf, "bootstrap.servers", th_kafka(), errstr, sizeof(errstr)),
        RD_KAFKA_CONF_OK);
    assert_int_equal(rd_kafka_conf_set(conf, "group.id", e->run.group, errstr, sizeof(errstr)),
                     RD_KAFKA_CONF_OK);
    assert_int_equal(rd_kafka_conf_set(conf, "enable.auto.commit", "false", errstr, sizeof(errstr)),
                     RD_KAFKA_CONF_OK);
    h.rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
    assert_non_null(h.rk);
    int ok = th_wait_for(all_handled, &h, 120000);

    rd_kafka_destroy(h.rk);
    assert_true(ok);
    assert_true(all_match(e));
    check_last_pushes(e);
}

/* Produce a workload: rounds x NSKU events with random stock; dup_every duplicates. */
static long produce_workload(env_t *e, int rounds, int nsku, int dup_every, unsigned seed,
                             stock_t *last)
{
    th_producer_t *p = th_producer_new();
    long produced = 0;

    srand(seed);
    for (int r = 0; r < rounds; r++) {
        for (int i = 1; i <= nsku; i++) {
            char sku[32];
            int kind = rand() % 10 < 7 ? 0 : (rand() % 3 ? 1 : 2);
            stock_t s = {rand() % 100, rand() % 6, rand() % 4};

            if (kind == 2 && r > 0) {
                s = last[i]; /* a move inside the online zones changes no bucket */
            } else if (kind == 2) {
                kind = 0;
            }
            last[i] = s;
            snprintf(sku, sizeof(sku), "SKU-%d", i);
            e->eid++;
            produce(e, p, sku, "F1", kind, (long long)(r + 1) * 10, s, e->eid);
            produced++;
            if (dup_every && e->eid % dup_every == 0) {
                produce(e, p, sku, "F1", kind, (long long)(r + 1) * 10, s, e->eid);
                produced++;
            }
            e->expect[i] = target_of(s);
        }
    }
    th_producer_destroy(p);
    return produced;
}

/* (1) 10,000 events + duplicates + a shuffled stale replay, (5) unknown SKU. */
static void test_bulk(void **state)
{
    env_t *e = calloc(1, sizeof(*e));
    stock_t *last = calloc(NSKU + 1, sizeof(*last));
    long throttled = 0, calls, events;

    (void)state;
    start_env(e, "invbulk");
    seed_catalog(e, NSKU - 10); /* the last 10 SKUs are resolved through Shopify */
    pid_t w = th_spawn("dh-inventory", e->run.env, e->run.log);

    events = produce_workload(e, 10, NSKU, 10, 42, last);
    /* A shuffled replay of rounds 3-4 with new event ids and wrong stock: all stale. */
    th_producer_t *p = th_producer_new();
    int order[2 * NSKU];

    for (int i = 0; i < 2 * NSKU; i++) {
        order[i] = i;
    }
    for (int i = 2 * NSKU - 1; i > 0; i--) {
        int j = rand() % (i + 1), t = order[i];

        order[i] = order[j];
        order[j] = t;
    }
    for (int i = 0; i < 2 * NSKU; i++) {
        char sku[32];
        stock_t bogus = {5000 + i, 0, 0};

        snprintf(sku, sizeof(sku), "SKU-%d", order[i] % NSKU + 1);
        e->eid++;
        produce(e, p, sku, "F1", 0, 30 + 10 * (order[i] / NSKU), bogus, e->eid);
        events++;
    }
    /* (5) an unknown SKU */
    e->eid++;
    produce(e, p, "NO-SUCH-SKU-77", "F1", 0, 1, (stock_t){3, 0, 0}, e->eid);
    th_producer_destroy(p);
    fprintf(stderr, "produced %ld events\n", events + 1);

    int ok = th_wait_for(all_match, e, 180000);
    int64_t t_done = th_now_ms();

    assert_true(ok);
    await_all_handled(e); /* the stale replay included: nothing changed the levels after */
    calls = journal(e, "inventorySetQuantities", &throttled);
    fprintf(stderr, "bulk: %ld events, %ld inventorySetQuantities calls, %ld throttled (%lld)\n",
            events, calls, throttled, (long long)t_done);
    assert_int_equal(throttled, 0);
    assert_true(calls > 0);
    assert_true(calls < events / 20);

    /* (5) the unknown SKU is dead-lettered with its reason. */
    char dlq[200];
    size_t n = 0;

    snprintf(dlq, sizeof(dlq), "%s.dlq", e->run.topic);
    rd_kafka_message_t **msgs = th_consume(dlq, 1, 30000, &n);

    assert_int_equal(n, 1);
    rd_kafka_headers_t *h = NULL;
    const void *v = NULL;
    size_t vlen = 0;

    assert_int_equal(rd_kafka_message_headers(msgs[0], &h), RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(rd_kafka_header_get_last(h, "dh-error-class", &v, &vlen),
                     RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_memory_equal(v, "unknown-sku", 11);
    assert_int_equal(rd_kafka_header_get_last(h, "dh-error", &v, &vlen),
                     RD_KAFKA_RESP_ERR_NO_ERROR);
    char why[600];

    snprintf(why, sizeof(why), "%.*s", (int)vlen, (const char *)v);
    fprintf(stderr, "dead letter: %s\n", why);
    assert_non_null(strstr(why, "NO-SUCH-SKU-77"));
    assert_non_null(strstr(why, e->domain));
    for (size_t i = 0; i < n; i++) {
        rd_kafka_message_destroy(msgs[i]);
    }
    free(msgs);
    kill(w, SIGTERM);
    assert_int_equal(th_wait_exit(w, 30000), 0);
    stop_env(e);
    free(last);
    free(e);
}

static int some_calls(void *ud)
{
    long t;

    return journal(ud, "inventorySetQuantities", &t) >= 3;
}

/* (2) kill -9 mid-run, restart: the same final state. */
static void test_kill9(void **state)
{
    env_t *e = calloc(1, sizeof(*e));
    stock_t *last = calloc(NSKU + 1, sizeof(*last));
    long throttled = 0;

    (void)state;
    start_env(e, "invkill");
    seed_catalog(e, NSKU);
    th_run_setenv(&e->run, "DH_BATCH_LINGER_MS", "50");
    pid_t w = th_spawn("dh-inventory", e->run.env, e->run.log);

    produce_workload(e, 8, NSKU, 0, 7, last);
    assert_true(th_wait_for(some_calls, e, 60000));
    kill(w, SIGKILL);
    th_wait_exit(w, 5000);
    fprintf(stderr, "killed after %ld calls\n", journal(e, "inventorySetQuantities", &throttled));
    w = th_spawn("dh-inventory", e->run.env, e->run.log);
    assert_true(th_wait_for(all_match, e, 180000));
    await_all_handled(e); /* nothing older was applied after the expected state */
    journal(e, "inventorySetQuantities", &throttled);
    assert_int_equal(throttled, 0);
    kill(w, SIGTERM);
    assert_int_equal(th_wait_exit(w, 30000), 0);
    stop_env(e);
    free(last);
    free(e);
}

typedef struct qwait {
    env_t *e;
    const char *sku, *name;
    int64_t want;
} qwait_t;

static int q_is(void *ud)
{
    qwait_t *q = ud;

    return level_q(q->e, q->sku, q->name) == q->want;
}

/* Pushes of SKU-5 in the journal: how many, and the last value. */
typedef struct sku5 {
    env_t *e;
    int n;
    int64_t last;
} sku5_t;

static int sku5_pushed_thrice(void *ud)
{
    sku5_t *s5 = ud;
    char url[512], gid[64], *text = NULL, *line, *save = NULL;

    s5->n = 0;
    snprintf(gid, sizeof(gid), "gid://shopify/InventoryItem/%lld", (long long)item_of(5));
    snprintf(url, sizeof(url), "%s/_journal?group=shopify&op=inventorySetQuantities&shop=%s",
             s5->e->sb.base, s5->e->domain);
    if (th_http("GET", url, NULL, NULL, &text) != 200) {
        free(text);
        return 0;
    }
    for (line = text ? strtok_r(text, "\n", &save) : NULL; line;
         line = strtok_r(NULL, "\n", &save)) {
        json_t *j = json_loads(line, 0, NULL);
        const char *body = json_string_value(json_object_get(j, "body"));
        json_t *req = body ? json_loads(body, 0, NULL) : NULL;
        json_t *qs = json_object_get(json_object_get(json_object_get(req, "variables"), "input"),
                                     "quantities");
        size_t i;
        json_t *x;

        json_array_foreach(qs, i, x)
        {
            const char *item = json_string_value(json_object_get(x, "inventoryItemId"));

            if (item && !strcmp(item, gid)) {
                s5->n++;
                s5->last = json_integer_value(json_object_get(x, "quantity"));
            }
        }
        json_decref(req);
        json_decref(j);
    }
    free(text);
    return s5->n >= 3;
}

/* (3) the oversell race and (4) the on-demand full sync. */
static void test_oversell_and_sync(void **state)
{
    env_t *e = calloc(1, sizeof(*e));
    char url[512], body[8192];
    long st;

    (void)state;
    start_env(e, "invrace");
    seed_catalog(e, NSKU);
    pid_t w = th_spawn("dh-inventory", e->run.env, e->run.log);
    th_producer_t *p = th_producer_new();

    /* WMS: 10 good online, 1 safety, nothing allocated -> on_hand 9, available 9. */
    produce(e, p, "SKU-5", "F1", 0, 1, (stock_t){10, 0, 1}, ++e->eid);
    th_producer_destroy(p);
    qwait_t q = {e, "SKU-5", "available", 9};
    assert_true(th_wait_for(q_is, &q, 30000));

    /* A customer buys 3 in Shopify; the WMS does not know the order yet. */
    snprintf(url, sizeof(url), "%s/_control/shops/%s/orders", e->sb.base, e->domain);
    json_decref(th_http_json("POST", url,
                             "{\"line_items\":[{\"sku\":\"SKU-5\",\"quantity\":3}],"
                             "\"deliver\":false}",
                             &st));
    assert_int_equal(st, 201);
    assert_int_equal(level_q(e, "SKU-5", "available"), 6);
    assert_int_equal(level_q(e, "SKU-5", "committed"), 3);

    /* A putaway of 2 computed before the WMS has the order: allocated still 0. */
    p = th_producer_new();
    produce(e, p, "SKU-5", "F1", 0, 2, (stock_t){12, 0, 1}, ++e->eid);
    th_producer_destroy(p);
    q = (qwait_t){e, "SKU-5", "on_hand", 11};
    assert_true(th_wait_for(q_is, &q, 30000));
    /* truly sellable: 12 - 1 safety - 0 allocated - 3 ordered = 8 */
    assert_int_equal(level_q(e, "SKU-5", "available"), 8);
    assert_true(level_q(e, "SKU-5", "available") <= 12 - 1 - 0 - 3);

    /* The WMS ingests the order (allocated 3): available stays the shareable 8. */
    p = th_producer_new();
    produce(e, p, "SKU-5", "F1", 1, 3, (stock_t){12, 3, 1}, ++e->eid);
    th_producer_destroy(p);
    /* A crossing move always pushes: its push (the third for SKU-5) is the positive event
     * awaited, and it must carry the shareable 11 (the allocation is not taken twice). */
    sku5_t s5 = {e, 0, -1};

    assert_true(th_wait_for(sku5_pushed_thrice, &s5, 30000));
    assert_int_equal(s5.last, 11);
    assert_int_equal(level_q(e, "SKU-5", "on_hand"), 11);
    assert_int_equal(level_q(e, "SKU-5", "available"), 8);

    /* (4) Full sync: drift behind dockhand's back + 300 WMS rows (two pages of 250). */
    snprintf(url, sizeof(url), "%s/_control/shops/%s/levels", e->sb.base, e->domain);
    snprintf(body, sizeof(body), "{\"sku\":\"SKU-7\",\"location_id\":\"%s\",\"available\":999}",
             e->loc1);
    th_http("PUT", url, NULL, body, NULL);
    assert_int_equal(level_q(e, "SKU-7", "on_hand"), 999);
    json_t *rows = json_array();

    for (int i = 1; i <= 300; i++) {
        int seq = i == 5 ? 2 : 100; /* SKU-5: older than the applied 3: must not apply */

        json_array_append_new(
            rows, json_pack("{s:s, s:s, s:s, s:i, s:{s:i, s:i, s:i, s:i, s:i, s:i}}", "store",
                            e->domain, "sku", "", "facility", "F1", "sequence", seq, "stock",
                            "good_online", 20 + i, "allocated", 1, "safety_stock", 2, "damaged", 0,
                            "quarantined", 0, "good_offline", 0));
        char sku[32];

        snprintf(sku, sizeof(sku), "SKU-%d", i);
        json_object_set_new(json_array_get(rows, (size_t)i - 1), "sku", json_string(sku));
        if (i % 10 == 0) { /* picked, not dispatched: still on hand (committed in Shopify) */
            json_object_set_new(json_object_get(json_array_get(rows, (size_t)i - 1), "stock"),
                                "picked", json_integer(3));
        }
        if (i != 5) {
            e->expect[i] = 20 + i - 2 + (i % 10 == 0 ? 3 : 0);
        }
    }
    char *rtext = json_dumps(rows, 0);

    snprintf(url, sizeof(url), "%s/_control/wms/inventory", e->sb.base);
    assert_int_equal(th_http("PUT", url, NULL, rtext, NULL) / 100, 2);
    free(rtext);
    json_decref(rows);
    redisContext *c = th_redis();
    redisReply *r = redisCommand(c, "SET dh:inv:sync:request:%s 1", e->domain);

    freeReplyObject(r);
    redisFree(c);
    assert_true(th_wait_for(all_match, e, 60000));
    assert_int_equal(level_q(e, "SKU-7", "on_hand"), 25);
    assert_int_equal(level_q(e, "SKU-5", "on_hand"), 11); /* not regressed by seq 2 */
    long throttled = 0;

    journal(e, "inventorySetQuantities", &throttled);
    assert_int_equal(throttled, 0);
    kill(w, SIGTERM);
    assert_int_equal(th_wait_exit(w, 30000), 0);
    stop_env(e);
    free(e);
}

/* ---- Fixture for the scenarios below: the teardown cleans up after a failed assert ---- */

static int env_setup(void **state)
{
    *state = calloc(1, sizeof(env_t));
    return *state ? 0 : -1;
}

static int env_teardown(void **state)
{
    env_t *e = *state;

    for (int i = 0; e && i < 2; i++) {
        if (e->w[i] > 0) {
            kill(e->w[i], SIGKILL);
            th_wait_exit(e->w[i], 5000);
            e->w[i] = 0;
        }
    }
    if (e) {
        stop_env(e);
    }
    free(e);
    return 0;
}

static void stop_worker(env_t *e, int i)
{
    kill(e->w[i], SIGTERM);
    assert_int_equal(th_wait_exit(e->w[i], 30000), 0);
    e->w[i] = 0;
}

/* Settings of the sync scenarios; the scheduled 00:00/12:00 slot must not interfere. */
static void sync_env(env_t *e)
{
    redisContext *c = th_redis();
    long long slot = (long long)(time(NULL) / 43200 * 43200); /* UTC slots */
    redisReply *r;

    th_run_setenv(&e->run, "DH_INVENTORY_SYNC_PAGE_SIZE", "250");
    th_run_setenv(&e->run, "DH_INVENTORY_SYNC_GRACE_S", "60");
    for (long long s = slot - 43200; s <= slot + 43200; s += 43200) {
        r = redisCommand(c, "SET dh:inv:sync:done:%s:at-%lld 1 EX 3600", e->domain, s);
        freeReplyObject(r);
    }
    redisFree(c);
}

/* Journal entries matching \p query (e.g. "group=wms"), as a JSON array (caller decrefs). */
static json_t *jlist(env_t *e, const char *query)
{
    char url[768], *text = NULL, *line, *save = NULL;
    json_t *out = json_array();

    snprintf(url, sizeof(url), "%s/_journal?%s", e->sb.base, query);
    assert_int_equal(th_http("GET", url, NULL, NULL, &text), 200);
    for (line = text ? strtok_r(text, "\n", &save) : NULL; line;
         line = strtok_r(NULL, "\n", &save)) {
        json_t *j = json_loads(line, 0, NULL);

        if (j) {
            json_array_append_new(out, j);
        }
    }
    free(text);
    return out;
}

static long long jmax_seq(env_t *e)
{
    json_t *all = jlist(e, "");
    long long m = 0;
    size_t i;
    json_t *x;

    json_array_foreach(all, i, x)
    {
        long long s = (long long)json_integer_value(json_object_get(x, "seq"));

        m = s > m ? s : m;
    }
    json_decref(all);
    return m;
}

/* The request body's variables.input.quantities of an inventorySetQuantities entry. */
static json_t *jquantities(json_t *entry)
{
    const char *body = json_string_value(json_object_get(entry, "body"));
    json_t *req = body ? json_loads(body, 0, NULL) : NULL;
    json_t *q =
        json_object_get(json_object_get(json_object_get(req, "variables"), "input"), "quantities");

    json_incref(q);
    json_decref(req);
    return q;
}

static int has_item(json_t *quantities, const char *gid)
{
    size_t i;
    json_t *x;

    json_array_foreach(quantities, i, x)
    {
        const char *v = json_string_value(json_object_get(x, "inventoryItemId"));

        if (v && !strcmp(v, gid)) {
            return 1;
        }
    }
    return 0;
}

/* Some quantity in \p quantities is at least \p min. */
static int has_quantity_over(json_t *quantities, int64_t min)
{
    size_t i;
    json_t *x;

    json_array_foreach(quantities, i, x)
    {
        if (json_integer_value(json_object_get(x, "quantity")) >= min) {
            return 1;
        }
    }
    return 0;
}

/* SKU number of an inventory item GID of the generated store (0 if none). */
static int sku_of_item(const char *gid)
{
    const char *slash = gid ? strrchr(gid, '/') : NULL;
    long long item = slash ? strtoll(slash + 1, NULL, 10) : 0;

    return item > 1000002 && (item - 1000002) % 3 == 0 && (item - 1000002) / 3 <= NSKU
               ? (int)((item - 1000002) / 3)
               : 0;
}

/* Walks every inventorySetQuantities at F1 in journal order: per SKU with an expected level,
 * the last quantity pushed must be that level (when anything was pushed). */
static void check_last_pushes(env_t *e)
{
    char query[256];
    int64_t *last = malloc((NSKU + 1) * sizeof(*last));
    size_t i, k;
    json_t *x, *q;

    assert_non_null(last);
    for (int s = 0; s <= NSKU; s++) {
        last[s] = -1;
    }
    snprintf(query, sizeof(query), "group=shopify&op=inventorySetQuantities&shop=%s", e->domain);
    json_t *calls = jlist(e, query);

    json_array_foreach(calls, i, x)
    {
        json_t *qs = jquantities(x);

        json_array_foreach(qs, k, q)
        {
            int s = sku_of_item(json_string_value(json_object_get(q, "inventoryItemId")));
            const char *loc = json_string_value(json_object_get(q, "locationId"));

            if (s && loc && !strcmp(loc, e->loc1)) {
                last[s] = json_integer_value(json_object_get(q, "quantity"));
            }
        }
        json_decref(qs);
    }
    for (int s = 1; s <= NSKU; s++) {
        if (e->expect[s] >= 0 && last[s] >= 0 && last[s] != e->expect[s]) {
            fail_msg("SKU-%d: last push %lld, expected %lld", s, (long long)last[s],
                     (long long)e->expect[s]);
        }
    }
    json_decref(calls);
    free(last);
}

/* (6) Two items not stocked at the mapped location and a stocked one in one batch: as of
 * 2026-10 one set stocks them (no ITEM_NOT_STOCKED_AT_LOCATION, no inventoryActivate). */
/* dh-ops trace of putaway number \p event_no (its WMS event_id), one command: the effect
 * the runtime recorded, with its Shopify calls; the applied inventorySetQuantities is in
 * the sandbox's journal under the idempotency key the trace names. */
static void trace_putaway(env_t *e, int64_t event_no)
{
    char eid[64], *journal_text = NULL, url[512];
    json_t *trace, *rec, *c, *by_effect;
    size_t i;
    int applied = 0;

    snprintf(eid, sizeof(eid), "%s-0000-4000-8000-%012llx", e->uuid_prefix,
             (unsigned long long)event_no);
    trace = th_ops_trace(eid);
    assert_int_equal(json_array_size(trace), 1); /* one effect */
    rec = json_array_get(trace, 0);
    assert_string_equal(json_string_value(json_object_get(rec, "event_id")), eid);
    assert_string_equal(json_string_value(json_object_get(rec, "record")), "done");
    /* by its effect id too: dh-inventory's idempotency record names the same batch */
    by_effect = th_ops_trace(json_string_value(json_object_get(rec, "effect")));
    assert_int_equal(json_array_size(by_effect), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(by_effect, 0), "batch")),
                        json_string_value(json_object_get(rec, "batch")));
    assert_string_equal(json_string_value(json_object_get(json_array_get(by_effect, 0), "worker")),
                        "inventory");
    json_decref(by_effect);
    snprintf(url, sizeof(url), "%s/_journal?group=shopify&op=inventorySetQuantities&shop=%s",
             e->sb.base, e->domain);
    assert_int_equal(th_http("GET", url, NULL, NULL, &journal_text), 200);
    json_array_foreach(json_object_get(rec, "calls"), i, c)
    {
        const char *key = json_string_value(json_object_get(c, "idempotency_key"));
        char *ids = json_dumps(json_object_get(c, "ids"), JSON_COMPACT);

        if (!strcmp(json_string_value(json_object_get(c, "call")), "inventorySetQuantities") &&
            ids && strstr(ids, "gid://shopify/InventoryAdjustmentGroup/")) {
            assert_non_null(key);
            assert_non_null(strstr(journal_text, key)); /* the far side saw this call */
            applied++;
        }
        free(ids);
    }
    assert_int_equal(applied, 1);
    free(journal_text);
    json_decref(trace);
}

static void test_not_stocked(void **state)
{
    env_t *e = *state;
    static const char store[] =
        "\"locations\":[{\"id\":11,\"name\":\"Location 1\"},{\"id\":12,\"name\":\"Location 2\"}],"
        "\"products\":[{\"id\":100,\"title\":\"T\",\"variants\":["
        "{\"id\":200,\"sku\":\"NS-A\",\"inventory_item_id\":300,\"price\":\"1.00\"},"
        "{\"id\":201,\"sku\":\"NS-B\",\"inventory_item_id\":301,\"price\":\"1.00\"},"
        "{\"id\":202,\"sku\":\"NS-C\",\"inventory_item_id\":302,\"price\":\"1.00\"}]}],"
        "\"levels\":[{\"inventory_item_id\":300,\"location_id\":11,\"available\":4},"
        "{\"inventory_item_id\":301,\"location_id\":12,\"available\":4}]";
    const char *skus[] = {"NS-A", "NS-B", "NS-C"};
    const char *gids[] = {"gid://shopify/InventoryItem/300", "gid://shopify/InventoryItem/301",
                          "gid://shopify/InventoryItem/302"};
    const stock_t st[] = {{17, 0, 2}, {9, 1, 0}, {30, 5, 5}};

    start_env_ex(e, "invnostock", store, "gid://shopify/Location/11", "gid://shopify/Location/12");
    th_run_setenv(&e->run, "DH_LANES", "1"); /* one lane: the three keys share a batch */
    sync_env(e);                             /* no scheduled sync in the journal */
    assert_int_equal(level_q(e, "NS-A", "on_hand"), 4);
    assert_int_equal(level_q(e, "NS-B", "on_hand"), -1); /* stocked at Location 2 only */
    assert_int_equal(level_q(e, "NS-C", "on_hand"), -1); /* stocked nowhere */
    /* Produced before the worker starts, so one poll and one batch hold all three. */
    th_producer_t *p = th_producer_new();

    for (int i = 0; i < 3; i++) {
        produce(e, p, skus[i], "F1", 0, 5, st[i], ++e->eid);
    }
    th_producer_destroy(p);
    e->w[0] = th_spawn("dh-inventory", e->run.env, e->run.log);
    for (int i = 0; i < 3; i++) {
        qwait_t q = {e, skus[i], "on_hand", target_of(st[i])};

        assert_true(th_wait_for(q_is, &q, 20000));
    }
    /* The barrier: a later putaway of each key (on_hand + 100), awaited; it must activate
     * nothing, and the calls before it are the ones counted below. */
    p = th_producer_new();
    for (int i = 0; i < 3; i++) {
        stock_t later = {st[i].good_online + 100, st[i].allocated, st[i].safety};

        produce(e, p, skus[i], "F1", 0, 6, later, ++e->eid);
    }
    th_producer_destroy(p);
    for (int i = 0; i < 3; i++) {
        qwait_t q = {e, skus[i], "on_hand", target_of(st[i]) + 100};

        assert_true(th_wait_for(q_is, &q, 20000));
    }

    /* 2026-10 has no ITEM_NOT_STOCKED_AT_LOCATION: the set stocks the items at the mapped
     * location, so dh-inventory sends no inventoryActivate at all. */
    char query[512];

    snprintf(query, sizeof(query), "group=shopify&op=inventoryActivate&shop=%s", e->domain);
    json_t *acts = jlist(e, query);
    size_t i;
    json_t *x;

    assert_int_equal(json_array_size(acts), 0);
    json_decref(acts);

    /* One call held all three and was applied at once; nothing was refused. */
    snprintf(query, sizeof(query), "group=shopify&op=inventorySetQuantities&shop=%s", e->domain);
    json_t *calls = jlist(e, query);
    int refused = 0, applied = 0, barrier = 0;

    json_array_foreach(calls, i, x)
    {
        const char *resp = json_string_value(json_object_get(x, "response"));
        json_t *qs = jquantities(x);
        int all3 = has_item(qs, gids[0]) && has_item(qs, gids[1]) && has_item(qs, gids[2]);

        if (has_quantity_over(qs, 100)) { /* the barrier's call(s) */
            barrier++;
            json_decref(qs);
            continue;
        }

        fprintf(stderr, "call %zu: %zu quantities, replay %d: %.200s\n", i, json_array_size(qs),
                json_is_true(json_object_get(x, "idempotent_replay")), resp ? resp : "");
        if (resp && strstr(resp, "userErrors\":[{")) {
            refused++;
        } else if (resp && strstr(resp, "InventoryAdjustmentGroup/")) {
            applied += all3;
        }
        json_decref(qs);
    }
    assert_int_equal(refused, 0);
    assert_int_equal(applied, 1);
    assert_true(barrier >= 1);
    assert_int_equal(json_array_size(calls) - (size_t)barrier, 1);
    json_decref(calls);
    for (int k = 0; k < 3; k++) {
        assert_int_equal(level_q(e, skus[k], "on_hand"), target_of(st[k]) + 100);
    }
    stop_worker(e, 0);
    trace_putaway(e, 1);
}

/* WMS sellable rows for SKU-1..n at F1 (sequence 100), values from \p base; sets expect. */
static void put_wms_rows(env_t *e, int n, int base)
{
    json_t *rows = json_array();
    char url[512], sku[32];

    for (int i = 1; i <= n; i++) {
        int good = base + i % 97, safety = i % 3;

        snprintf(sku, sizeof(sku), "SKU-%d", i);
        json_array_append_new(
            rows, json_pack("{s:s, s:s, s:s, s:i, s:{s:i, s:i, s:i, s:i, s:i, s:i}}", "store",
                            e->domain, "sku", sku, "facility", "F1", "sequence", 100, "stock",
                            "good_online", good, "allocated", i % 4, "safety_stock", safety,
                            "damaged", 1, "quarantined", 0, "good_offline", 2));
        e->expect[i] = good - safety;
    }
    char *text = json_dumps(rows, 0);

    snprintf(url, sizeof(url), "%s/_control/wms/inventory", e->sb.base);
    assert_int_equal(th_http("PUT", url, NULL, text, NULL) / 100, 2);
    free(text);
    json_decref(rows);
}

static void request_sync(env_t *e)
{
    redisContext *c = th_redis();
    redisReply *r = redisCommand(c, "SET dh:inv:sync:request:%s 1", e->domain);

    freeReplyObject(r);
    redisFree(c);
}

typedef struct cursor_wait {
    env_t *e;
    char slot[64], cursor[64];
} cursor_wait_t;

/* The running slot has a saved cursor (at least one page pushed). */
static int cursor_saved(void *ud)
{
    cursor_wait_t *cw = ud;
    redisContext *c = th_redis();
    redisReply *r = redisCommand(c, "GET dh:inv:sync:active:%s", cw->e->domain);
    int ok = 0;

    if (r && r->type == REDIS_REPLY_STRING) {
        snprintf(cw->slot, sizeof(cw->slot), "%s", r->str);
        freeReplyObject(r);
        r = redisCommand(c, "GET dh:inv:sync:cursor:%s:%s", cw->e->domain, cw->slot);
        if (r && r->type == REDIS_REPLY_STRING) {
            snprintf(cw->cursor, sizeof(cw->cursor), "%s", r->str);
            ok = 1;
        }
    }
    freeReplyObject(r);
    redisFree(c);
    return ok;
}

static int sync_done(void *ud)
{
    cursor_wait_t *cw = ud;
    redisContext *c = th_redis();
    long long d = th_redis_int(c, "EXISTS dh:inv:sync:done:%s:%s", cw->e->domain, cw->slot);
    long long a = th_redis_int(c, "EXISTS dh:inv:sync:active:%s", cw->e->domain);

    redisFree(c);
    return d == 1 && a == 0;
}

/* WMS sellable fetches in \p list: count per page (by the response's next_cursor). */
static void count_pages(json_t *list, int pages[5])
{
    size_t i;
    json_t *x;

    memset(pages, 0, 5 * sizeof(int));
    json_array_foreach(list, i, x)
    {
        const char *path = json_string_value(json_object_get(x, "path"));
        const char *rtext = json_string_value(json_object_get(x, "response"));
        json_t *resp = rtext ? json_loads(rtext, 0, NULL) : NULL;
        json_t *next = json_object_get(resp, "next_cursor");

        if (path && !strcmp(path, "/wms/v1/inventory/sellable") &&
            json_integer_value(json_object_get(x, "status")) == 200) {
            /* next_cursor "250" -> page 0 ... null -> the last page (3) */
            pages[json_is_string(next) ? atoi(json_string_value(next)) / 250 - 1 : 3]++;
        }
        json_decref(resp);
    }
}

/* (7) kill -9 during an on-demand full sync of 1,000 rows (4 pages): resume at the cursor. */
static void test_sync_resume(void **state)
{
    env_t *e = *state;
    cursor_wait_t cw = {e, "", ""};
    int pages[5];
    char query[512], gid[64], url[256];

    start_env(e, "invresume");
    seed_catalog(e, NSKU);
    sync_env(e);
    th_run_setenv(&e->run, "DH_INVENTORY_SYNC_LEASE_MS", "2000"); /* the restart waits this */
    /* and the SKU fences the killed process held on the page it was setting */
    th_run_setenv(&e->run, "DH_INVENTORY_FENCE_MS", "5000");
    th_run_setenv(&e->run, "DH_HTTP_TIMEOUT_MS", "4000");
    put_wms_rows(e, NSKU, 40);
    /* Each WMS page takes 400 ms to come, so the kill lands while pages are left: on a loaded
     * machine the first cursor seen could otherwise be the last page's, already sent. (A
     * fetch cut by the kill has no effect; only page counts after the restart could see it,
     * and the first and last pages' are what is checked.) */
    snprintf(query, sizeof(query), "{\"group\":\"wms\",\"latency_ms\":400}");
    snprintf(url, sizeof(url), "%s/_control/faults", e->sb.base);
    assert_int_equal(th_http("POST", url, NULL, query, NULL) / 100, 2);
    e->w[0] = th_spawn("dh-inventory", e->run.env, e->run.log);
    request_sync(e);
    assert_true(th_wait_for(cursor_saved, &cw, 20000));
    kill(e->w[0], SIGKILL);
    th_wait_exit(e->w[0], 5000);
    e->w[0] = 0;
    long long mark = jmax_seq(e);
    int at = atoi(cw.cursor);

    fprintf(stderr, "killed in sync %s at cursor %s (journal seq %lld)\n", cw.slot, cw.cursor,
            mark);
    assert_true(at >= 250 && at < NSKU);
    assert_false(all_match(e)); /* the later pages are not there yet */
    e->w[0] = th_spawn("dh-inventory", e->run.env, e->run.log);
    assert_true(th_wait_for(sync_done, &cw, 25000));
    assert_true(th_wait_for(all_match, e, 5000));

    /* After the restart: the first page was neither fetched nor pushed again. */
    snprintf(query, sizeof(query), "group=wms&since_seq=%lld", mark);
    json_t *wms = jlist(e, query);

    count_pages(wms, pages);
    fprintf(stderr, "pages fetched after restart: %d %d %d %d\n", pages[0], pages[1], pages[2],
            pages[3]);
    assert_int_equal(pages[0], 0);
    assert_int_equal(pages[3], 1);
    json_decref(wms);
    snprintf(query, sizeof(query), "group=shopify&op=inventorySetQuantities&shop=%s&since_seq=%lld",
             e->domain, mark);
    json_t *calls = jlist(e, query);
    size_t i, nq = 0;
    json_t *x;

    json_array_foreach(calls, i, x)
    {
        json_t *qs = jquantities(x);

        nq += json_array_size(qs);
        for (int k = 1; k <= at; k++) {
            snprintf(gid, sizeof(gid), "gid://shopify/InventoryItem/%lld", (long long)item_of(k));
            assert_false(has_item(qs, gid)); /* rows before the saved cursor */
        }
        json_decref(qs);
    }
    fprintf(stderr, "after restart: %zu calls, %zu quantities (from scratch: %d)\n",
            json_array_size(calls), nq, NSKU);
    assert_true(nq >= (size_t)(NSKU - at) && nq < NSKU);
    json_decref(calls);
    stop_worker(e, 0);
}

/* A replica with its own admin port (the run's environment has DH_ADMIN_PORT=0). */
static pid_t spawn_replica(env_t *e, int k, int admin_port)
{
    static char port[2][40];
    const char *env[26];
    int n = 0;

    snprintf(port[k], sizeof(port[k]), "DH_ADMIN_PORT=%d", admin_port);
    for (int i = 0; e->run.env[i] && n < 24; i++) {
        env[n++] = strncmp(e->run.env[i], "DH_ADMIN_PORT=", 14) ? e->run.env[i] : port[k];
    }
    env[n] = NULL;
    return th_spawn("dh-inventory", env, e->run.log);
}

typedef struct replica {
    env_t *e;
    int port;
    int partitions;
} replica_t;

/* The replica's dh_assigned_partitions gauge (its /metrics) is at least 1. */
static int has_partitions(void *ud)
{
    replica_t *r = ud;
    char url[128], *text = NULL;

    snprintf(url, sizeof(url), "http://127.0.0.1:%d/metrics", r->port);
    r->partitions = 0;
    if (th_http("GET", url, NULL, NULL, &text) == 200 && text) {
        for (char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
            if (!strncmp(l, "dh_assigned_partitions", 22) && strchr(l, ' ')) {
                r->partitions += atoi(strchr(l, ' ') + 1); /* name{labels} value */
            }
        }
    }
    free(text);
    return r->partitions >= 1;
}

/* Two on-demand slots done, none active. */
static int second_sync_done(void *ud)
{
    env_t *e = ud;
    redisContext *c = th_redis();
    redisReply *r = redisCommand(c, "KEYS dh:inv:sync:done:%s:req-*", e->domain);
    int done = r && r->type == REDIS_REPLY_ARRAY && r->elements == 2;
    long long a = th_redis_int(c, "EXISTS dh:inv:sync:active:%s", e->domain);

    freeReplyObject(r);
    redisFree(c);
    return done && a == 0;
}

/* (8) two replicas in one group, one on-demand sync: each WMS page is fetched once. */
static void test_sync_one_replica(void **state)
{
    env_t *e = *state;
    cursor_wait_t cw = {e, "", ""};
    int pages[5];
    char query[512];

    start_env(e, "invreplica");
    seed_catalog(e, NSKU);
    sync_env(e);
    put_wms_rows(e, NSKU, 60);
    replica_t rep[2] = {{e, th_free_port(), 0}, {e, th_free_port(), 0}};

    for (int k = 0; k < 2; k++) {
        e->w[k] = spawn_replica(e, k, rep[k].port);
    }
    /* Both joined the group and own partitions (their admin /metrics say so) before the
     * request, so either could take the slot. */
    for (int k = 0; k < 2; k++) {
        assert_true(th_wait_for(has_partitions, &rep[k], 60000));
        fprintf(stderr, "replica %d: %d partitions\n", k, rep[k].partitions);
    }
    assert_true(th_alive(e->w[0]) && th_alive(e->w[1]));
    request_sync(e);
    assert_true(th_wait_for(all_match, e, 20000));
    /* The slot name for sync_done(). */
    redisContext *c = th_redis();
    redisReply *r = redisCommand(c, "KEYS dh:inv:sync:done:%s:req-*", e->domain);

    assert_true(r && r->type == REDIS_REPLY_ARRAY && r->elements == 1);
    snprintf(cw.slot, sizeof(cw.slot), "%s", strrchr(r->element[0]->str, ':') + 1);
    freeReplyObject(r);
    redisFree(c);
    assert_true(th_wait_for(sync_done, &cw, 5000));
    /* The barrier: a second request, run to its end (several ticks of both replicas).
     * Everything before it belongs to the first sync, and the second ran once too. */
    long long mark = jmax_seq(e);

    request_sync(e);
    assert_true(th_wait_for(second_sync_done, e, 30000));
    snprintf(query, sizeof(query), "group=wms&since_seq=%lld", mark);
    json_t *after = jlist(e, query);

    count_pages(after, pages);
    fprintf(stderr, "second sync: pages fetched %d %d %d %d\n", pages[0], pages[1], pages[2],
            pages[3]);
    for (int k = 0; k < 4; k++) {
        assert_int_equal(pages[k], 1);
    }
    assert_int_equal(json_array_size(after), 4);
    json_decref(after);
    json_t *all = jlist(e, "group=wms"), *wms = json_array();
    size_t ix;
    json_t *ent;

    json_array_foreach(all, ix, ent)
    {
        if (json_integer_value(json_object_get(ent, "seq")) <= mark) {
            json_array_append(wms, ent);
        }
    }
    json_decref(all);

    count_pages(wms, pages);
    fprintf(stderr, "pages fetched: %d %d %d %d (of %zu WMS requests)\n", pages[0], pages[1],
            pages[2], pages[3], json_array_size(wms));
    for (int k = 0; k < 4; k++) {
        assert_int_equal(pages[k], 1);
    }
    assert_int_equal(json_array_size(wms), 4);
    json_decref(wms);
    snprintf(query, sizeof(query), "group=shopify&op=inventorySetQuantities&shop=%s", e->domain);
    json_t *calls = jlist(e, query);
    size_t first = 0;

    json_array_foreach(calls, ix, ent)
    {
        first += json_integer_value(json_object_get(ent, "seq")) <= mark;
    }
    assert_int_equal(first, 4); /* one call of 250 per page */
    json_decref(calls);
    assert_true(all_match(e));
    stop_worker(e, 0);
    stop_worker(e, 1);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_oversell_and_sync),
        cmocka_unit_test(test_bulk),
        cmocka_unit_test(test_kill9),
        cmocka_unit_test_setup_teardown(test_not_stocked, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_sync_resume, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_sync_one_replica, env_setup, env_teardown),
    };

    if (argc > 1) {
        cmocka_set_test_filter(argv[1]); /* e.g. test_bulk */
    }
    return cmocka_run_group_tests(tests, NULL, NULL);
}
