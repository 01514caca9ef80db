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

static th_far_t *g_far;
static char g_stores[256], g_store[128], g_prefix[64];

static int setup(void **state)
{
    (void)state;
    g_far = th_far_start();
    snprintf(g_store, sizeof(g_store), "rt%d-0.myshopify.com", (int)getpid());
    snprintf(g_stores, sizeof(g_stores), "/tmp/th-returns-stores-%d.json", (int)getpid());
    snprintf(g_prefix, sizeof(g_prefix), "rt%d-", (int)getpid());
    th_stores_file(g_stores, g_prefix, 1);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    th_far_stop(g_far);
    unlink(g_stores);
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
    char env_url[200], env_stores[300], id[128], effect[300], key[37], cls[600];
    const char *env[] = {env_url,
                         env_stores,
                         "DH_WMS_TOKEN=wms-test",
                         "DH_WMS_RATE=default=1000",
                         "DH_HTTP_TIMEOUT_MS=400",
                         c->env,
                         NULL};
    const char *hdrs[] = {"dh-topic", "request/approved", "dh-store", g_store, NULL};
    th_rt_t *t;
    dh_rt_t *rt;
    char *payload;
    th_dlq_msg_t m[2];

    snprintf(env_url, sizeof(env_url), "DH_WMS_URL=%s", th_far_url(g_far));
    snprintf(env_stores, sizeof(env_stores), "DH_STORES_FILE=%s", g_stores);
    t = th_rt_new(&returns_handler, TOPIC, 1, env);
    rt = th_rt_runtime(t);
    snprintf(id, sizeof(id), "rp_%s_%s", c->name, th_rt_run_id(t));
    snprintf(effect, sizeof(effect), "returns:%s:%s", g_store, id);
    dh_idem_far_key(RETURNS_IDEM_NS, effect, key);
    payload = example(id);
    th_far_script(g_far, c->replies, c->nreplies);
    th_rt_start(t);
    th_rt_produce(t, 0, id, payload, hdrs);
    if (c->expect == EXPECT_DONE) {
        assert_true(th_rt_await_count(t, &rt->m.done, 1, WAIT_MS));
        /* The same delivery again is a duplicate: no second call reaches the WMS. */
        th_rt_produce(t, 0, id, payload, hdrs);
        assert_true(th_rt_await_count(t, &rt->m.skipped, 1, WAIT_MS));
    } else {
        assert_int_equal(th_rt_dlq(t, 1, WAIT_MS, m, 2), 1);
        assert_string_equal(th_dlq_hdr(&m[0], "dh-error-class", cls, sizeof(cls)), c->dead_class);
        th_dlq_msg_clear(&m[0]);
        assert_true(th_rt_await_stored(t, 0, 1, WAIT_MS));
    }
    assert_int_equal(th_far_count(g_far), c->requests);
    for (size_t i = 0; i < c->requests; i++) {
        th_far_req_t q, q0;

        th_far_request(g_far, i, &q);
        th_far_request(g_far, 0, &q0);
        assert_string_equal(q.method, "POST");
        assert_string_equal(q.path, "/wms/v1/returns");
        assert_string_equal(q.idem_key, key);
        assert_string_equal(q.body, q0.body); /* a retry repeats the same request */
        assert_non_null(strstr(q.body, id));
        free(q.body);
        free(q0.body);
    }
    assert_true(dh_counter_value(rt->m.waits) >= (uint64_t)c->waits);
    assert_int_equal(th_rt_stop(t), 0);
    th_rt_destroy(t);
    free(payload);
}

static const rcase_t cases[] = {
    {"created", {{201, CREATED, NULL, 0}}, 1, NULL, EXPECT_DONE, NULL, 1, 0},
    {"existed", {{200, CREATED, NULL, 0}}, 1, NULL, EXPECT_DONE, NULL, 1, 0},
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
    {"key_mismatch_existed",
     {{409, PROBLEM("idempotency-key-mismatch"), NULL, 0}},
     1,
     NULL,
     EXPECT_DONE,
     NULL,
     1,
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
