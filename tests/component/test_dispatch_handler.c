/*
 * dh-dispatch's handler (workers/dispatch/handler.c) in the real runtime (th_rt.h) against a
 * scripted Shopify GraphQL endpoint (th_far.h), for the contract's dispatch example: a
 * dispatch looks for a fulfillment with its tracking number (OrderFulfillments), plans from
 * the fulfillment orders (OrderFulfillmentOrders), then creates (FulfillmentCreate). Each
 * document has its own scripted sequence; every case asserts the event's outcome and how
 * often each document reached Shopify. Every case has its own store (own tenant, records).
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dispatch.h"
#include "th_far.h"
#include "th_rt.h"

/* cmocka.h needs these three first; keep clang-format from sorting it above them. */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
/* clang-format on */

#define TOPIC    "wms.dispatch"
#define ORDER_ID "5802154000001" /* the example's */
#define AWB      "1490812345678"
#define LOCATION "gid://shopify/Location/11"
#define NCASES   7

#define Q_FOUND  "OrderFulfillments("
#define Q_PLAN   "OrderFulfillmentOrders("
#define Q_CREATE "FulfillmentCreate("

/* What Shopify charges in the end (its requested cost is the client's own estimate): without
 * it the client keeps the estimate charged. */
#define COST ",\"extensions\":{\"cost\":{\"actualQueryCost\":3}}}"
#define NONE_YET                                                                                   \
    "{\"data\":{\"order\":{\"id\":\"gid://shopify/Order/" ORDER_ID "\",\"fulfillments\":[]}}" COST
#define NO_ORDER "{\"data\":{\"order\":null}" COST
#define FO_LINE(n, q)                                                                              \
    "{\"id\":\"gid://shopify/FulfillmentOrderLineItem/" n "\",\"remainingQuantity\":" q            \
    ",\"totalQuantity\":" q ",\"lineItem\":{\"id\":\"gid://shopify/LineItem/1420215400001" n       \
    "\",\"sku\":\"x\"}}"
#define PLAN                                                                                       \
    "{\"data\":{\"order\":{\"id\":\"gid://shopify/Order/" ORDER_ID "\",\"name\":\"#1021\","        \
    "\"fulfillmentOrders\":{\"nodes\":[{\"id\":\"gid://shopify/FulfillmentOrder/7\","              \
    "\"status\":\"OPEN\",\"assignedLocation\":{\"location\":{\"id\":\"" LOCATION "\"}},"           \
    "\"lineItems\":{\"nodes\":[" FO_LINE("1", "2") "," FO_LINE("2", "1") "]}}]}}}" COST
#define CREATED                                                                                    \
    "{\"data\":{\"fulfillmentCreate\":{\"fulfillment\":{\"id\":\"gid://shopify/Fulfillment/900\"," \
    "\"status\":\"SUCCESS\"},\"userErrors\":[]}}" COST
#define USER_ERRORS                                                                                \
    "{\"data\":{\"fulfillmentCreate\":{\"fulfillment\":null,\"userErrors\":[{\"field\":"           \
    "[\"fulfillment\"],\"message\":\"Invalid fulfillment order line item quantity\"}]}}" COST
#define THROTTLED                                                                                  \
    "{\"errors\":[{\"message\":\"Throttled\",\"extensions\":{\"code\":\"THROTTLED\"}}],"           \
    "\"extensions\":{\"cost\":{\"requestedQueryCost\":13,\"actualQueryCost\":null,"                \
    "\"throttleStatus\":{\"maximumAvailable\":2000,\"currentlyAvailable\":0,"                      \
    "\"restoreRate\":100}}}}"
#define UNAVAILABLE "{\"errors\":\"unavailable\"}"
#define UNAUTH      "{\"errors\":\"[API] Invalid API key or access token\"}"

typedef struct dcase {
    int store; /* index of its store */
    const char *name;
    th_far_reply_t replies[6];
    const char *when[6]; /* the document each reply is for */
    size_t nreplies;
    const char *env;
    const char *dead_class;     /* NULL: done */
    size_t found, plan, create; /* requests of each document */
    int waited;                 /* the runtime counted a WAIT */
} dcase_t;

static th_far_fx_t g_fx;

/* Stores "<prefix><i>.myshopify.com", tenant "<prefix><i>", at the far side, with the
 * example's facility at LOCATION. The bucket refills fast: after THROTTLED (the bucket then
 * empty) a dispatch re-runs from its first call, and each re-run spends that call's actual
 * cost before the plan's larger one; only a refill faster than that spending converges. */
static void stores_file(const char *path, const char *prefix, const char *url, int n)
{
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    fputs("{\"stores\":[", f);
    for (int i = 0; i < n; i++) {
        fprintf(f,
                "%s{\"domain\":\"%s%d.myshopify.com\",\"tenants\":[\"%s%d\"],"
                "\"admin_url\":\"%s\",\"api_version\":\"2026-10\","
                "\"access_token\":\"shpat_test\",\"webhook_secrets\":[\"s\"],"
                "\"bucket_size\":2000,\"restore_rate\":5000,"
                "\"locations\":{\"BLR-1\":\"" LOCATION "\"}}",
                i ? "," : "", prefix, i, prefix, i, url);
    }
    fputs("]}", f);
    assert_int_equal(fclose(f), 0);
}

static int setup(void **state)
{
    (void)state;
    th_far_fx_start(&g_fx, "dt", NCASES);
    stores_file(g_fx.stores, g_fx.prefix, th_far_url(g_fx.far), NCASES);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    th_far_fx_stop(&g_fx);
    return 0;
}

/* Requests for \p doc; every one at the GraphQL endpoint; the creates all equal \p *create
 * (the first one's body, kept: a retry repeats the same request). */
static size_t count_doc(const char *doc, char **create)
{
    size_t n = 0, all = th_far_count(g_fx.far);
    th_far_req_t q;

    for (size_t i = 0; i < all; i++) {
        th_far_request(g_fx.far, i, &q);
        assert_string_equal(q.method, "POST");
        assert_string_equal(q.path, "/admin/api/2026-10/graphql.json");
        if (strstr(q.body, doc)) {
            n++;
            if (create && !*create) {
                *create = strdup(q.body);
            } else if (create) {
                assert_string_equal(q.body, *create);
            }
        }
        free(q.body);
    }
    return n;
}

/* The create's variables: the example's tracking number, its lines on fulfillment order 7. */
static void assert_create_vars(const char *body)
{
    json_t *root = json_loads(body, 0, NULL), *ful, *fo, *items;

    assert_non_null(root);
    ful = json_object_get(json_object_get(root, "variables"), "fulfillment");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(ful, "trackingInfo"), "number")), AWB);
    fo = json_array_get(json_object_get(ful, "lineItemsByFulfillmentOrder"), 0);
    assert_string_equal(json_string_value(json_object_get(fo, "fulfillmentOrderId")),
                        "gid://shopify/FulfillmentOrder/7");
    items = json_object_get(fo, "fulfillmentOrderLineItems");
    assert_int_equal(json_array_size(items), 2);
    json_decref(root);
}

static void run_case(void **state)
{
    const dcase_t *c = *state;
    char env_stores[300], tenant[96], key[200], tq[100], *payload, *text, *create = NULL;
    const char *env[] = {env_stores, "DH_HTTP_TIMEOUT_MS=400", c->env, NULL};

    snprintf(tenant, sizeof(tenant), "%s%d", g_fx.prefix, c->store);
    snprintf(env_stores, sizeof(env_stores), "DH_STORES_FILE=%s", g_fx.stores);
    snprintf(key, sizeof(key), "%s|%s", tenant, ORDER_ID);
    snprintf(tq, sizeof(tq), "\"%s\"", tenant);
    text = th_text_file(DH_DISPATCH_EXAMPLES "/dispatch-full.json");
    payload = th_text_replace(text, "\"ACME\"", tq);
    th_rt_t *t = th_rt_new(&dispatch_handler, TOPIC, 1, env);

    th_far_script_when(g_fx.far, c->replies, c->when, c->nreplies);
    th_rt_start(t);
    th_rt_expect_outcome(t, key, payload, NULL, c->dead_class);
    assert_int_equal(count_doc(Q_FOUND, NULL), c->found);
    assert_int_equal(count_doc(Q_PLAN, NULL), c->plan);
    assert_int_equal(count_doc(Q_CREATE, &create), c->create);
    if (create) {
        assert_create_vars(create);
    }
    assert_int_equal(dh_counter_value(th_rt_runtime(t)->m.waits) > 0, c->waited);
    assert_int_equal(th_rt_stop(t), 0);
    th_rt_destroy(t);
    free(create);
    free(payload);
    free(text);
}

static const dcase_t cases[NCASES] = {
    {0,
     "created",
     {{200, NONE_YET, NULL, 0}, {200, PLAN, NULL, 0}, {200, CREATED, NULL, 0}},
     {Q_FOUND, Q_PLAN, Q_CREATE},
     3,
     NULL,
     NULL,
     1,
     1,
     1,
     0},
    {1,
     "throttled_then_created",
     {{200, NONE_YET, NULL, 0},
      {200, PLAN, NULL, 0},
      {200, THROTTLED, NULL, 0},
      {200, CREATED, NULL, 0}},
     {Q_FOUND, Q_PLAN, Q_CREATE, Q_CREATE},
     4,
     NULL,
     NULL,
     2,
     2,
     2,
     1},
    {2,
     "401_never_exhausts",
     {{401, UNAUTH, NULL, 0},
      {401, UNAUTH, NULL, 0},
      {401, UNAUTH, NULL, 0},
      {200, NONE_YET, NULL, 0},
      {200, PLAN, NULL, 0},
      {200, CREATED, NULL, 0}},
     {Q_FOUND, Q_FOUND, Q_FOUND, Q_FOUND, Q_PLAN, Q_CREATE},
     6,
     "DH_RETRY_MAX_ATTEMPTS=1",
     NULL,
     4,
     1,
     1,
     0},
    {3,
     "5xx_then_created",
     {{200, NONE_YET, NULL, 0},
      {200, PLAN, NULL, 0},
      {503, UNAVAILABLE, NULL, 0},
      {200, CREATED, NULL, 0}},
     {Q_FOUND, Q_PLAN, Q_CREATE, Q_CREATE},
     4,
     NULL,
     NULL,
     2,
     2,
     2,
     0},
    {4,
     "timeout_then_created",
     {{200, NONE_YET, NULL, 0},
      {200, PLAN, NULL, 0},
      {0, CREATED, NULL, 1500},
      {200, CREATED, NULL, 0}},
     {Q_FOUND, Q_PLAN, Q_CREATE, Q_CREATE},
     4,
     NULL,
     NULL,
     2,
     2,
     2,
     0},
    {5,
     "user_errors",
     {{200, NONE_YET, NULL, 0}, {200, PLAN, NULL, 0}, {200, USER_ERRORS, NULL, 0}},
     {Q_FOUND, Q_PLAN, Q_CREATE},
     3,
     NULL,
     "rejected",
     1,
     1,
     1,
     0},
    {6,
     "order_not_found",
     {{200, NO_ORDER, NULL, 0}, {200, NO_ORDER, NULL, 0}},
     {Q_FOUND, Q_PLAN},
     2,
     NULL,
     "order-not-found",
     1,
     0,
     0,
     0},
};

/* Each case runs under its own name. */
#define CASE(i)                                                                                    \
    {                                                                                              \
        cases[i].name, run_case, NULL, NULL, (void *)&cases[i]                                     \
    }

int main(void)
{
    const struct CMUnitTest tests[] = {
        CASE(0), CASE(1), CASE(2), CASE(3), CASE(4), CASE(5), CASE(6),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
