/*
 * dh-orders' handler (workers/orders/handler.c) in the real runtime (th_rt.h) against a
 * scripted WMS (th_far.h), for an orders/create webhook (the contract's example): for each
 * answer, the event's outcome and exactly the requests the WMS saw, in order (a create is
 * one POST with the order's one Idempotency-Key, repeated as is on a retry; a key mismatch
 * is settled by one GET of the order). Every case has its own store, so its own records.
 * A refunds/create with restocks makes no WMS call and enqueues exactly the stock re-pushes
 * of the restocked SKUs at the WMS facilities of their location (dockhand/stockledger.h).
 * A re-apply copy of a done create (dh-reapply) POSTs once more with a new Idempotency-Key.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dockhand/idem.h"
#include "dockhand/redis.h"
#include "orders.h"
#include "orders_internal.h"
#include "th_far.h"
#include "th_rt.h"

/* cmocka.h needs these three first; keep clang-format from sorting it above them. */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
/* clang-format on */

#define TOPIC    "shopify.orders"
#define ORDER_ID "5802154000001" /* the example's */
#define WAIT_MS  20000
#define PROBLEM(slug)                                                                              \
    "{\"type\":\"https://dockhand.example/problems/" slug "\",\"title\":\"" slug "\"}"
#define CREATED "{\"id\":\"SO-1\",\"status\":\"OPEN\"}"
#define NCASES  7

enum expect { EXPECT_DONE, EXPECT_DEAD };

typedef struct ocase {
    int store; /* index of its store */
    const char *name;
    th_far_reply_t replies[4];
    size_t nreplies;
    const char *env;
    enum expect expect;
    const char *dead_class;
    const char *reqs[4]; /* "POST" (the create) or "GET" (the lookup), in order */
} ocase_t;

static th_far_fx_t g_fx;

static int setup(void **state)
{
    (void)state;
    th_far_fx_start(&g_fx, "ot", NCASES + 1); /* the last store: reapply_create */
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    th_far_fx_stop(&g_fx);
    return 0;
}

/* Request \p i is the create (POST with the order's key) or the lookup (GET, no key). */
static void assert_request(size_t i, const char *what, const char *store, const char *key,
                           const char *first_body)
{
    char path[300];
    th_far_req_t q;

    th_far_request(g_fx.far, i, &q);
    assert_string_equal(q.method, what);
    if (strcmp(what, "POST") == 0) {
        assert_string_equal(q.path, "/wms/v1/sales-orders");
        assert_string_equal(q.idem_key, key);
        assert_string_equal(q.body, first_body); /* a retry repeats the same request */
    } else {
        snprintf(path, sizeof(path), "/wms/v1/sales-orders/%s/%s", store, ORDER_ID);
        assert_string_equal(q.path, path);
        assert_string_equal(q.idem_key, "");
    }
    free(q.body);
}

static void run_case(void **state)
{
    const ocase_t *c = *state;
    char env_url[200], env_stores[300], store[128], eid[300], key[37];
    const char *env[] = {env_url,
                         env_stores,
                         "DH_WMS_TOKEN=wms-test",
                         "DH_WMS_RATE=default=1000",
                         "DH_HTTP_TIMEOUT_MS=400",
                         "DH_ORDERS_RECONCILE_INTERVAL_S=0",
                         c->env,
                         NULL};
    const char *hdrs[] = {"dh-topic", "orders/create", "dh-shop-domain", store, NULL};
    char path[512], *payload;
    th_far_req_t first;
    size_t n = 0;

    snprintf(store, sizeof(store), "%s%d.myshopify.com", g_fx.prefix, c->store);
    snprintf(env_url, sizeof(env_url), "DH_WMS_URL=%s", th_far_url(g_fx.far));
    snprintf(env_stores, sizeof(env_stores), "DH_STORES_FILE=%s", g_fx.stores);
    snprintf(eid, sizeof(eid), "create:%s:%s", store, ORDER_ID);
    dh_idem_far_key(ORDERS_IDEM_NS, eid, key);
    snprintf(path, sizeof(path), "%s/orders-create.json", DH_ORDERS_EXAMPLES);
    payload = th_text_file(path);
    th_rt_t *t = th_rt_new(&orders_handler, TOPIC, 1, env);

    th_far_script(g_fx.far, c->replies, c->nreplies);
    th_rt_start(t);
    th_rt_expect_outcome(t, ORDER_ID, payload, hdrs,
                         c->expect == EXPECT_DONE ? NULL : c->dead_class);
    while (n < 4 && c->reqs[n]) {
        n++;
    }
    assert_int_equal(th_far_count(g_fx.far), n);
    th_far_request(g_fx.far, 0, &first);
    for (size_t i = 0; i < n; i++) {
        assert_request(i, c->reqs[i], store, key, first.body);
    }
    free(first.body);
    assert_int_equal(th_rt_stop(t), 0);
    th_rt_destroy(t);
    free(payload);
}

static const ocase_t cases[NCASES] = {
    {0, "created", {{201, CREATED, NULL, 0}}, 1, NULL, EXPECT_DONE, NULL, {"POST"}},
    {1, "existed", {{200, CREATED, NULL, 0}}, 1, NULL, EXPECT_DONE, NULL, {"POST"}},
    {2,
     "mismatch_found",
     {{409, PROBLEM("idempotency-key-mismatch"), NULL, 0}, {200, CREATED, NULL, 0}},
     2,
     NULL,
     EXPECT_DONE,
     NULL,
     {"POST", "GET"}},
    {3,
     "mismatch_missing",
     {{409, PROBLEM("idempotency-key-mismatch"), NULL, 0}, {404, PROBLEM("not-found"), NULL, 0}},
     2,
     NULL,
     EXPECT_DEAD,
     "rejected",
     {"POST", "GET"}},
    {4,
     "422_validation",
     {{422, PROBLEM("validation"), NULL, 0}},
     1,
     NULL,
     EXPECT_DEAD,
     "rejected",
     {"POST"}},
    {5,
     "5xx_then_created",
     {{503, PROBLEM("unavailable"), NULL, 0}, {201, CREATED, NULL, 0}},
     2,
     NULL,
     EXPECT_DONE,
     NULL,
     {"POST", "POST"}},
    {6,
     "401_never_exhausts",
     {{401, PROBLEM("unauthorized"), NULL, 0},
      {403, PROBLEM("forbidden"), NULL, 0},
      {201, CREATED, NULL, 0}},
     3,
     "DH_RETRY_MAX_ATTEMPTS=1",
     EXPECT_DONE,
     NULL,
     {"POST", "POST", "POST"}},
};

/* A REST refund (Shopify's Refund resource shape): TEE-M returned and CAP cancelled at
 * location 11 (BLR-1 and BLR-2), BAG returned at 12 (not a WMS location), SOCK not restocked. */
#define REFUND                                                                                     \
    "{\"id\":929361464,\"order_id\":" ORDER_ID ",\"created_at\":\"2026-05-04T10:34:55+05:30\","    \
    "\"restock\":true,\"refund_line_items\":["                                                     \
    "{\"id\":1,\"quantity\":1,\"line_item_id\":11,\"location_id\":11,\"restock_type\":"            \
    "\"return\",\"line_item\":{\"id\":11,\"sku\":\"TEE-M\"}},"                                     \
    "{\"id\":2,\"quantity\":2,\"line_item_id\":12,\"location_id\":11,\"restock_type\":"            \
    "\"cancel\",\"line_item\":{\"id\":12,\"sku\":\"CAP\"}},"                                       \
    "{\"id\":3,\"quantity\":1,\"line_item_id\":13,\"location_id\":12,\"restock_type\":"            \
    "\"return\",\"line_item\":{\"id\":13,\"sku\":\"BAG\"}},"                                       \
    "{\"id\":4,\"quantity\":1,\"line_item_id\":14,\"location_id\":null,\"restock_type\":"          \
    "\"no_restock\",\"line_item\":{\"id\":14,\"sku\":\"SOCK\"}}]}"

/* The members of \p key (a sorted set), sorted and joined by spaces. */
static void zset_members(const char *key, char *out, size_t size)
{
    dh_redis_t *r = th_rt_redis_new();
    redisReply *rep = NULL;

    assert_int_equal(dh_redis_commandf(r, &rep, "SORT %s ALPHA", key), DH_OK);
    out[0] = '\0';
    for (size_t i = 0; i < rep->elements; i++) {
        size_t n = strlen(out);

        snprintf(out + n, size - n, "%s%s", n ? " " : "", rep->element[i]->str);
    }
    freeReplyObject(rep);
    dh_redis_destroy(r);
}

static void refund_restocks(void **state)
{
    char env_url[200], env_stores[340], store[128], stores[300], key[300], got[512];
    const char *env[] = {env_url, env_stores, "DH_WMS_TOKEN=wms-test",
                         "DH_ORDERS_RECONCILE_INTERVAL_S=0", NULL};
    const char *hdrs[] = {"dh-topic", "refunds/create", "dh-shop-domain", store, NULL};
    th_far_reply_t none = {500, NULL, NULL, 0};
    FILE *f;

    (void)state;
    snprintf(store, sizeof(store), "%srefund.myshopify.com", g_fx.prefix);
    snprintf(stores, sizeof(stores), "%s.refund", g_fx.stores);
    f = fopen(stores, "w");
    assert_non_null(f);
    fprintf(f,
            "{\"stores\":[{\"domain\":\"%s\",\"admin_url\":\"http://127.0.0.1:9\","
            "\"api_version\":\"2026-10\",\"access_token\":\"shpat_test\","
            "\"webhook_secrets\":[\"s\"],\"locations\":{\"BLR-1\":\"gid://shopify/Location/11\","
            "\"BLR-2\":\"gid://shopify/Location/11\","
            "\"DEL-1\":\"gid://shopify/Location/13\"}}]}",
            store);
    assert_int_equal(fclose(f), 0);
    snprintf(env_url, sizeof(env_url), "DH_WMS_URL=%s", th_far_url(g_fx.far));
    snprintf(env_stores, sizeof(env_stores), "DH_STORES_FILE=%s", stores);
    snprintf(key, sizeof(key), "dh:inv:repush:%s", store);
    zset_members(key, got, sizeof(got));
    assert_string_equal(got, ""); /* a store of this run only */
    th_rt_t *t = th_rt_new(&orders_handler, TOPIC, 1, env);

    th_far_script(g_fx.far, &none, 1);
    th_rt_start(t);
    /* done once, then the same delivery again is a duplicate */
    th_rt_expect_outcome(t, store, REFUND, hdrs, NULL);
    zset_members(key, got, sizeof(got));
    /* both facilities of location 11 (their quantities are summed into it) */
    assert_string_equal(got, "BLR-1|CAP BLR-1|TEE-M BLR-2|CAP BLR-2|TEE-M");
    assert_int_equal(th_far_count(g_fx.far), 0); /* nothing for the WMS */
    assert_int_equal(th_rt_stop(t), 0);
    th_rt_destroy(t);
    unlink(stores);
}

/* A re-apply copy (dh-reapply, dh-ops replay --reapply) of a create that was done: a new
 * effect, so one more POST, whose Idempotency-Key has the nonce mixed in (the WMS must not
 * answer it from its key cache); the same copy again is a duplicate of the re-apply. */
static void reapply_create(void **state)
{
    char env_url[200], env_stores[300], store[128], eid[300], key[37], mixed[400], rekey[37];
    const char *env[] = {env_url,
                         env_stores,
                         "DH_WMS_TOKEN=wms-test",
                         "DH_WMS_RATE=default=1000",
                         "DH_ORDERS_RECONCILE_INTERVAL_S=0",
                         NULL};
    const char *hdrs[] = {"dh-topic", "orders/create", "dh-shop-domain", store, NULL};
    const char *copy[] = {"dh-topic",
                          "orders/create",
                          "dh-shop-domain",
                          store,
                          "dh-replay-of",
                          "shopify.orders/0/0",
                          "dh-reapply",
                          "n1",
                          NULL};
    const th_far_reply_t replies[] = {{201, CREATED, NULL, 0}, {200, CREATED, NULL, 0}};
    char path[512], *payload;
    th_far_req_t q;

    (void)state;
    snprintf(store, sizeof(store), "%s%d.myshopify.com", g_fx.prefix, NCASES);
    snprintf(env_url, sizeof(env_url), "DH_WMS_URL=%s", th_far_url(g_fx.far));
    snprintf(env_stores, sizeof(env_stores), "DH_STORES_FILE=%s", g_fx.stores);
    snprintf(eid, sizeof(eid), "create:%s:%s", store, ORDER_ID);
    dh_idem_far_key(ORDERS_IDEM_NS, eid, key);
    snprintf(mixed, sizeof(mixed), "%s#reapply:n1", key);
    dh_idem_far_key("wms-reapply", mixed, rekey);
    snprintf(path, sizeof(path), "%s/orders-create.json", DH_ORDERS_EXAMPLES);
    payload = th_text_file(path);
    th_rt_t *t = th_rt_new(&orders_handler, TOPIC, 1, env);
    dh_rt_t *rt = th_rt_runtime(t);

    th_far_script(g_fx.far, replies, 2);
    th_rt_start(t);
    th_rt_expect_outcome(t, ORDER_ID, payload, hdrs, NULL); /* done, then a duplicate */
    assert_int_equal(th_far_count(g_fx.far), 1);
    th_rt_produce(t, 0, ORDER_ID, payload, copy);
    assert_true(th_rt_await_count(t, &rt->m.done, 2, WAIT_MS));
    assert_int_equal(th_far_count(g_fx.far), 2);
    th_far_request(g_fx.far, 1, &q);
    assert_string_equal(q.method, "POST");
    assert_string_equal(q.idem_key, rekey);
    assert_string_not_equal(q.idem_key, key);
    free(q.body);
    th_rt_produce(t, 0, ORDER_ID, payload, copy); /* the same re-apply again */
    assert_true(th_rt_await_count(t, &rt->m.skipped, 2, WAIT_MS));
    assert_int_equal(th_far_count(g_fx.far), 2);
    assert_int_equal(th_rt_stop(t), 0);
    th_rt_destroy(t);
    free(payload);
}

/* Each case runs under its own name. */
#define CASE(i)                                                                                    \
    {                                                                                              \
        cases[i].name, run_case, NULL, NULL, (void *)&cases[i]                                     \
    }

int main(void)
{
    const struct CMUnitTest tests[] = {
        CASE(0),
        CASE(1),
        CASE(2),
        CASE(3),
        CASE(4),
        CASE(5),
        CASE(6),
        cmocka_unit_test(refund_restocks),
        cmocka_unit_test(reapply_create),
    };

    th_cases_filter();
    return cmocka_run_group_tests(tests, setup, teardown);
}
