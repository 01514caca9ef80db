/*
 * dh-dispatch's handler (workers/dispatch/handler.c) in the real runtime (th_rt.h) against a
 * scripted Shopify GraphQL endpoint (th_far.h), for the contract's dispatch example: a
 * dispatch looks for a fulfillment with its tracking number (OrderFulfillments), plans from
 * the fulfillment orders (OrderFulfillmentOrders), then creates (FulfillmentCreate). Each
 * document has its own scripted sequence; every case asserts the event's outcome and how
 * often each document reached Shopify. Every case has its own store (own tenant, records).
 *
 * The shipment ledger (dockhand/stockledger.h), read in Redis while the far side holds its
 * answers: lines with stock_sequence are open from the event's arrival, inflight while
 * fulfillmentCreate is outstanding, done after it; a held stock fence makes the fulfillment
 * wait (not an attempt) with nothing changed; a refused fulfillment (dead letter) reopens
 * them; a timeout leaves them inflight until the retry settles. Lines without
 * stock_sequence get no entry, only a re-push.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dispatch.h"
#include "dockhand/redis.h"
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
#define NSTORES  (NCASES + 4) /* the table's, then the ledger tests' */

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
static int setup(void **state)
{
    (void)state;
    th_far_fx_start(&g_fx, "dt", NSTORES);
    th_far_fx_stores(&g_fx, NSTORES, 1, "{\"BLR-1\":\"" LOCATION "\"}");
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

/* Redis's reply to the command \p argv (NULL-terminated) as text: a string, "" for nil,
 * an array's members joined by spaces. */
static void redis_text(char *out, size_t size, const char *const *argv)
{
    dh_redis_t *r = th_rt_redis_new();
    redisReply *rep = NULL;
    int argc = 0;

    while (argv[argc]) {
        argc++;
    }
    assert_int_equal(dh_redis_command(r, argc, (const char **)argv, NULL, &rep), DH_OK);
    out[0] = '\0';
    if (rep->type == REDIS_REPLY_STRING) {
        snprintf(out, size, "%s", rep->str);
    }
    for (size_t i = 0; rep->type == REDIS_REPLY_ARRAY && i < rep->elements; i++) {
        size_t n = strlen(out);

        snprintf(out + n, size - n, "%s%s", n ? " " : "", rep->element[i]->str);
    }
    freeReplyObject(rep);
    dh_redis_destroy(r);
}

/* The ledger entry of line \p i of shipment SHP-55120 for \p sku at BLR-1 in \p store. */
static void ledger(const char *store, const char *sku, int i, char *out, size_t size)
{
    char key[300], field[40];

    snprintf(key, sizeof(key), "dh:inv:ledger:%s:BLR-1|%s", store, sku);
    snprintf(field, sizeof(field), "SHP-55120#%d", i);
    redis_text(out, size, (const char *const[]){"HGET", key, field, NULL});
}

/* The store's re-push queue, members sorted. */
static void repushes(const char *store, char *out, size_t size)
{
    char key[300];

    snprintf(key, sizeof(key), "dh:inv:repush:%s", store);
    redis_text(out, size, (const char *const[]){"SORT", key, "ALPHA", NULL});
}

static void assert_ledger(const char *store, const char *tee, const char *cap)
{
    char got[100];

    ledger(store, "TSHIRT-BLK-M", 0, got, sizeof(got));
    assert_string_equal(got, tee);
    ledger(store, "CAP-RED", 1, got, sizeof(got));
    assert_string_equal(got, cap);
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
    /* The example has no stock_sequence: no ledger entry, both SKUs re-pushed (a fulfilment
     * settled either way) */
    char store[128], got[200];

    snprintf(store, sizeof(store), "%s.myshopify.com", tenant);
    assert_ledger(store, "", "");
    repushes(store, got, sizeof(got));
    assert_string_equal(got, "BLR-1|CAP-RED BLR-1|TSHIRT-BLK-M");
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

/* ---- the shipment ledger ---- */

typedef struct lrun {
    th_rt_t *t;
    char store[128];
    char key[200];
    char *payload;
} lrun_t;

/* Start a run on store \p idx with the example that carries stock_sequence (TSHIRT-BLK-M:
 * 1047 x 2, CAP-RED: 89 x 1) and Shopify's answers scripted per document. */
static void lrun_start(lrun_t *r, int idx, const th_far_reply_t *replies, const char *const *when,
                       size_t n, const char *env_extra)
{
    char env_stores[300], tq[100], *text;
    const char *env[] = {env_stores, "DH_HTTP_TIMEOUT_MS=1000", env_extra, NULL};

    snprintf(env_stores, sizeof(env_stores), "DH_STORES_FILE=%s", g_fx.stores);
    snprintf(r->store, sizeof(r->store), "%s%d.myshopify.com", g_fx.prefix, idx);
    snprintf(r->key, sizeof(r->key), "%s%d|%s", g_fx.prefix, idx, ORDER_ID);
    snprintf(tq, sizeof(tq), "\"%s%d\"", g_fx.prefix, idx);
    text = th_text_file(DH_DISPATCH_EXAMPLES "/dispatch-with-stock-sequence.json");
    r->payload = th_text_replace(text, "\"ACME\"", tq);
    free(text);
    r->t = th_rt_new(&dispatch_handler, TOPIC, 1, env);
    th_far_script_when(g_fx.far, replies, when, n);
    th_rt_start(r->t);
}

static void lrun_stop(lrun_t *r)
{
    assert_int_equal(th_rt_stop(r->t), 0);
    th_rt_destroy(r->t);
    free(r->payload);
}

/* open on arrival (Shopify's first answer held), inflight while fulfillmentCreate is
 * outstanding (its answer held), done after it: once, both SKUs re-pushed. */
static void ledger_open_inflight_done(void **state)
{
    static const th_far_reply_t replies[] = {
        {200, NONE_YET, NULL, 700}, {200, PLAN, NULL, 0}, {200, CREATED, NULL, 700}};
    static const char *const when[] = {Q_FOUND, Q_PLAN, Q_CREATE};
    lrun_t r;
    char got[200];

    (void)state;
    lrun_start(&r, NCASES, replies, when, 3, NULL);
    assert_ledger(r.store, "", "");
    th_rt_produce(r.t, 0, r.key, r.payload, NULL);
    assert_true(th_far_await(g_fx.far, 1, 10000)); /* the lookup, answer held */
    assert_ledger(r.store, "1047 2 open", "89 1 open");
    assert_true(th_far_await(g_fx.far, 3, 10000)); /* fulfillmentCreate, answer held */
    assert_ledger(r.store, "1047 2 inflight", "89 1 inflight");
    assert_true(th_rt_await_count(r.t, &th_rt_runtime(r.t)->m.done, 1, 10000));
    assert_ledger(r.store, "1047 2 done", "89 1 done");
    assert_int_equal(count_doc(Q_CREATE, NULL), 1);
    repushes(r.store, got, sizeof(got));
    assert_string_equal(got, "BLR-1|CAP-RED BLR-1|TSHIRT-BLK-M");
    lrun_stop(&r);
}

/* dh-inventory holds CAP-RED's fence: the dispatch waits (200 ms each, never an attempt:
 * with one attempt allowed it is still not dead-lettered), creates nothing and changes
 * nothing; once the fence is gone it creates exactly once. */
static void ledger_fence_busy_waits(void **state)
{
    static const th_far_reply_t replies[] = {
        {200, NONE_YET, NULL, 0}, {200, PLAN, NULL, 0}, {200, CREATED, NULL, 0}};
    static const char *const when[] = {Q_FOUND, Q_PLAN, Q_CREATE};
    dh_counter_t *const *waits;
    char fence[300], got[100];
    lrun_t r;

    (void)state;
    lrun_start(&r, NCASES + 1, replies, when, 3, "DH_RETRY_MAX_ATTEMPTS=1");
    waits = &th_rt_runtime(r.t)->m.waits;
    snprintf(fence, sizeof(fence), "dh:inv:fence:%s:BLR-1|CAP-RED", r.store);
    redis_text(got, sizeof(got),
               (const char *const[]){"SET", fence, "other-owner", "PX", "60000", NULL});
    th_rt_produce(r.t, 0, r.key, r.payload, NULL);
    assert_true(th_rt_await_count(r.t, waits, 3, 10000));
    assert_int_equal(count_doc(Q_CREATE, NULL), 0);
    assert_ledger(r.store, "1047 2 open", "89 1 open");
    redis_text(got, sizeof(got), (const char *const[]){"DEL", fence, NULL});
    assert_true(th_rt_await_count(r.t, &th_rt_runtime(r.t)->m.done, 1, 10000));
    assert_int_equal(count_doc(Q_CREATE, NULL), 1);
    assert_ledger(r.store, "1047 2 done", "89 1 done");
    assert_int_equal(dh_counter_value(th_rt_runtime(r.t)->m.dead), 0);
    lrun_stop(&r);
}

/* Shopify refuses the fulfillment (userErrors): inflight while it is asked, open again once
 * the event is dead-lettered (the units are still committed in Shopify). */
static void ledger_dead_letter_reopens(void **state)
{
    static const th_far_reply_t replies[] = {
        {200, NONE_YET, NULL, 0}, {200, PLAN, NULL, 0}, {200, USER_ERRORS, NULL, 700}};
    static const char *const when[] = {Q_FOUND, Q_PLAN, Q_CREATE};
    th_dlq_msg_t m[2];
    char cls[100];
    lrun_t r;

    (void)state;
    lrun_start(&r, NCASES + 2, replies, when, 3, NULL);
    th_rt_produce(r.t, 0, r.key, r.payload, NULL);
    assert_true(th_far_await(g_fx.far, 3, 10000));
    assert_ledger(r.store, "1047 2 inflight", "89 1 inflight");
    assert_int_equal(th_rt_dlq(r.t, 1, 20000, m, 2), 1);
    assert_string_equal(th_dlq_hdr(&m[0], "dh-error-class", cls, sizeof(cls)), "rejected");
    th_dlq_msg_clear(&m[0]);
    assert_true(th_rt_await_stored(r.t, 0, 1, 20000));
    assert_ledger(r.store, "1047 2 open", "89 1 open");
    assert_int_equal(count_doc(Q_CREATE, NULL), 1);
    lrun_stop(&r);
}

/* fulfillmentCreate times out (unknown outcome): the lines stay inflight into the retry
 * (seen while its lookup is held), which creates and marks them done. */
static void ledger_timeout_stays_inflight(void **state)
{
    static const th_far_reply_t replies[] = {{200, NONE_YET, NULL, 0},
                                             {200, NONE_YET, NULL, 700},
                                             {200, PLAN, NULL, 0},
                                             {0, CREATED, NULL, 2500},
                                             {200, CREATED, NULL, 0}};
    static const char *const when[] = {Q_FOUND, Q_FOUND, Q_PLAN, Q_CREATE, Q_CREATE};
    lrun_t r;

    (void)state;
    lrun_start(&r, NCASES + 3, replies, when, 5, NULL);
    th_rt_produce(r.t, 0, r.key, r.payload, NULL);
    assert_true(th_far_await(g_fx.far, 4, 10000)); /* the retry's lookup, answer held */
    assert_ledger(r.store, "1047 2 inflight", "89 1 inflight");
    assert_true(th_rt_await_count(r.t, &th_rt_runtime(r.t)->m.done, 1, 20000));
    assert_ledger(r.store, "1047 2 done", "89 1 done");
    assert_int_equal(count_doc(Q_CREATE, NULL), 2);
    lrun_stop(&r);
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
        cmocka_unit_test(ledger_open_inflight_done),
        cmocka_unit_test(ledger_fence_busy_waits),
        cmocka_unit_test(ledger_dead_letter_reopens),
        cmocka_unit_test(ledger_timeout_stays_inflight),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
