/*
 * dh-returns' handler (workers/returns/handler.c) in the real runtime (th_rt.h) against a
 * scripted WMS (th_far.h): for each answer of the far side, the event's outcome (done,
 * retried, waited, dead-lettered with its class) and exactly the requests the WMS saw
 * (how many, each a POST /wms/v1/returns carrying the return's one Idempotency-Key).
 * The event is the contract's example return-approved.json with a request id per case.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dockhand/idem.h"
#include "returns.h"
#include "th_far.h"
#include "th_rt.h"

/* cmocka.h needs these three first; keep clang-format from sorting it above them. */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
/* clang-format on */

#define TOPIC   "returnprime.cir"
#define WAIT_MS 20000
#define PROBLEM(slug)                                                                              \
    "{\"type\":\"https://dockhand.example/problems/" slug "\",\"title\":\"" slug "\"}"
#define CREATED "{\"id\":\"RET-1\",\"status\":\"open\"}"

enum expect { EXPECT_DONE, EXPECT_DEAD };

typedef struct rcase {
    const char *name;
    th_far_reply_t replies[4];
    size_t nreplies;
    const char *env; /* one extra variable, or NULL */
    enum expect expect;
    const char *dead_class; /* EXPECT_DEAD */
    size_t requests;        /* the WMS saw exactly this many */
    int waits;              /* at least this many resource waits */
} rcase_t;

/* Cases whose last request is updateReturn (PUT): the return existed with other items. */
static size_t puts_of(const rcase_t *c)
{
    return !strcmp(c->name, "existed_other_items") || !strcmp(c->name, "key_mismatch_existed");
}

static th_far_fx_t g_fx;

static int setup(void **state)
{
    (void)state;
    th_far_fx_start(&g_fx, "rt", 1);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    th_far_fx_stop(&g_fx);
    return 0;
}

/* The example with its request id replaced by \p id. */
static char *example(const char *id)
{
    char path[512], quoted[160];
    char *text, *out;

    snprintf(path, sizeof(path), "%s/return-approved.json", DH_RETURNS_EXAMPLES);
    snprintf(quoted, sizeof(quoted), "\"%s\"", id);
    text = th_text_file(path);
    out = th_text_replace(text, "\"rp_8841\"", quoted);
    free(text);
    return out;
}

static void run_case(void **state)
{
    const rcase_t *c = *state;
    char env_url[200], env_stores[300], id[128], effect[300], key[37];
    const char *env[] = {env_url,
                         env_stores,
                         "DH_WMS_TOKEN=wms-test",
                         "DH_WMS_RATE=default=1000",
                         "DH_HTTP_TIMEOUT_MS=400",
                         c->env,
                         NULL};
    char store[128];
    const char *hdrs[] = {"dh-topic", "request/approved", "dh-store", store, NULL};
    th_rt_t *t;
    dh_rt_t *rt;
    char *payload;

    snprintf(store, sizeof(store), "%s0.myshopify.com", g_fx.prefix);
    snprintf(env_url, sizeof(env_url), "DH_WMS_URL=%s", th_far_url(g_fx.far));
    snprintf(env_stores, sizeof(env_stores), "DH_STORES_FILE=%s", g_fx.stores);
    t = th_rt_new(&returns_handler, TOPIC, 1, env);
    rt = th_rt_runtime(t);
    snprintf(id, sizeof(id), "rp_%s_%s", c->name, th_rt_run_id(t));
    snprintf(effect, sizeof(effect), "returns:%s:%s", store, id);
    dh_idem_far_key(RETURNS_IDEM_NS, effect, key);
    payload = example(id);
    th_far_script(g_fx.far, c->replies, c->nreplies);
    th_rt_start(t);
    th_rt_expect_outcome(t, id, payload, hdrs, c->expect == EXPECT_DONE ? NULL : c->dead_class);
    assert_int_equal(th_far_count(g_fx.far), c->requests);
    for (size_t i = 0; i < c->requests - puts_of(c); i++) {
        th_far_req_t q, q0;

        th_far_request(g_fx.far, i, &q);
        th_far_request(g_fx.far, 0, &q0);
        assert_string_equal(q.method, "POST");
        assert_string_equal(q.path, "/wms/v1/returns");
        assert_string_equal(q.idem_key, key);
        assert_string_equal(q.body, q0.body); /* a retry repeats the same request */
        assert_non_null(strstr(q.body, id));
        free(q.body);
        free(q0.body);
    }
    for (size_t i = c->requests - puts_of(c); i < c->requests; i++) {
        th_far_req_t q;
        char path[400];

        /* The return existed with other items: they are replaced, under a key of its own. */
        snprintf(path, sizeof(path), "/wms/v1/returns/%s/%s", store, id);
        th_far_request(g_fx.far, i, &q);
        assert_string_equal(q.method, "PUT");
        assert_string_equal(q.path, path);
        assert_true(q.idem_key[0] != '\0' && strcmp(q.idem_key, key) != 0);
        assert_non_null(strstr(q.body, "\"lines\""));
        free(q.body);
    }
    assert_true(dh_counter_value(rt->m.waits) >= (uint64_t)c->waits);
    assert_int_equal(th_rt_stop(t), 0);
    th_rt_destroy(t);
    free(payload);
}

static const rcase_t cases[] = {
    {"created", {{201, CREATED, NULL, 0}}, 1, NULL, EXPECT_DONE, NULL, 1, 0},
    /* 200: it existed, here with other items than the request's (the canned body has
     * none), so the handler replaces them with updateReturn. */
    {"existed_other_items",
     {{200, CREATED, NULL, 0}, {200, CREATED, NULL, 0}},
     2,
     NULL,
     EXPECT_DONE,
     NULL,
     2,
     0},
    {"5xx_then_created",
     {{503, PROBLEM("unavailable"), NULL, 0}, {502, "", NULL, 0}, {201, CREATED, NULL, 0}},
     3,
     NULL,
     EXPECT_DONE,
     NULL,
     3,
     0},
    {"timeout_then_created",
     {{0, CREATED, NULL, 900}, {201, CREATED, NULL, 0}},
     2,
     NULL,
     EXPECT_DONE,
     NULL,
     2,
     0},
    {"throttled_then_created",
     {{429, PROBLEM("rate-limited"), "1", 0}, {201, CREATED, NULL, 0}},
     2,
     "DH_RETRY_MAX_ATTEMPTS=1",
     EXPECT_DONE,
     NULL,
     2,
     1},
    {"401_never_exhausts",
     {{401, PROBLEM("unauthorized"), NULL, 0},
      {401, PROBLEM("unauthorized"), NULL, 0},
      {401, PROBLEM("unauthorized"), NULL, 0},
      {201, CREATED, NULL, 0}},
     4,
     "DH_RETRY_MAX_ATTEMPTS=2",
     EXPECT_DONE,
     NULL,
     4,
     0},
    {"5xx_exhausts",
     {{503, PROBLEM("unavailable"), NULL, 0}},
     1,
     "DH_RETRY_MAX_ATTEMPTS=2",
     EXPECT_DEAD,
     "retry-exhausted",
     2,
     0},
    /* The key was first used with an earlier body: the return exists; update it. */
    {"key_mismatch_existed",
     {{409, PROBLEM("idempotency-key-mismatch"), NULL, 0}, {200, CREATED, NULL, 0}},
     2,
     NULL,
     EXPECT_DONE,
     NULL,
     2,
     0},
    {"409_conflict", {{409, PROBLEM("conflict"), NULL, 0}}, 1, NULL, EXPECT_DEAD, "rejected", 1, 0},
    {"404_unknown_order",
     {{404, PROBLEM("not-found"), NULL, 0}},
     1,
     NULL,
     EXPECT_DEAD,
     "rejected",
     1,
     0},
    {"422_validation",
     {{422, PROBLEM("validation"), NULL, 0}},
     1,
     NULL,
     EXPECT_DEAD,
     "rejected",
     1,
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
        CASE(0), CASE(1), CASE(2), CASE(3), CASE(4),  CASE(5),
        CASE(6), CASE(7), CASE(8), CASE(9), CASE(10),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
