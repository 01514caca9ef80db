/*
 * dh_wms against dh-sandbox's WMS API and the stack's Redis: creation, idempotent
 * replay, key reuse with another body, validation problems, a 5xx fault, and the shared
 * per-group rate limit. Group names are unique per run, so the Redis token buckets
 * (dh:rl:tb:wms:<group>) never collide with other runs on the shared Redis.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dockhand/config.h"
#include "dockhand/http.h"
#include "dockhand/redis.h"
#include "dockhand/wms.h"
#include "harness.h"

/* cmocka.h needs these three first; keep clang-format from sorting it above them. */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
/* clang-format on */

#define SLOW_RATE 5

typedef struct fixture {
    th_sandbox_t sb;
    char uniq[64];
    char group[96];      /**< Fast group for the functional cases. */
    char slow_group[96]; /**< SLOW_RATE/s group for the rate-limit case. */
    dh_config_t *cfg;
    dh_http_t *http;
    dh_redis_t *redis;
    dh_wms_t *wms;
} fixture_t;

static fixture_t fx;

static dh_config_t *config_with(const char *url, const char *token, const char *rate)
{
    static const dh_config_var_t *const tables[] = {dh_wms_config_vars, NULL};
    char e_url[300], e_tok[300], e_rate[300];
    char *envp[] = {e_url, e_tok, e_rate, NULL};
    dh_config_t *cfg = NULL;
    char *problems = NULL;

    snprintf(e_url, sizeof(e_url), "DH_WMS_URL=%s", url);
    snprintf(e_tok, sizeof(e_tok), "DH_WMS_TOKEN=%s", token);
    snprintf(e_rate, sizeof(e_rate), "DH_WMS_RATE=%s", rate);
    if (dh_config_load(tables, envp, &cfg, &problems) != DH_OK) {
        fail_msg("config: %s", problems != NULL ? problems : "?");
    }
    return cfg;
}

static int setup(void **state)
{
    dh_http_opts_t ho = {2000, 10000, 1 << 20};
    dh_redis_opts_t ro = {th_redis_url(), NULL, 2000};
    char err[512], rate[300];

    (void)state;
    th_unique("wms", fx.uniq, sizeof(fx.uniq));
    snprintf(fx.group, sizeof(fx.group), "orders-%s", fx.uniq);
    snprintf(fx.slow_group, sizeof(fx.slow_group), "slow-%s", fx.uniq);
    th_sandbox_start(&fx.sb, "{\"wms\": {\"token\": \"wms-tok\"}}");
    snprintf(rate, sizeof(rate), "default=1000,%s=%d", fx.slow_group, SLOW_RATE);
    fx.cfg = config_with(fx.sb.base, "wms-tok", rate);
    fx.http = dh_http_new(&ho, err, sizeof(err));
    fx.redis = dh_redis_new(&ro, err, sizeof(err));
    assert_non_null(fx.http);
    assert_non_null(fx.redis);
    fx.wms = dh_wms_new(fx.cfg, fx.http, fx.redis, NULL, err, sizeof(err));
    if (fx.wms == NULL) {
        fail_msg("dh_wms_new: %s", err);
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    th_sandbox_stop(&fx.sb);
    dh_wms_destroy(fx.wms);
    dh_redis_destroy(fx.redis);
    dh_http_destroy(fx.http);
    dh_config_destroy(fx.cfg);
    return 0;
}

static json_t *order_body(const char *channel_order_id, int with_currency)
{
    json_t *b =
        json_pack("{s:s, s:s, s:s, s:s, s:s, s:[{s:s, s:s, s:i, s:s}]}", "store", "a.myshopify.com",
                  "channel_order_id", channel_order_id, "order_name", "#1001", "status", "OPEN",
                  "created_at", "2026-05-01T10:00:00Z", "lines", "channel_line_item_id", "1", "sku",
                  "A-1", "quantity", 2, "unit_price", "10.00");

    if (with_currency) {
        json_object_set_new(b, "currency", json_string("INR"));
    }
    return b;
}

/* One call, retrying on the local rate limit (as a lane would, after waiting). */
static dh_err_t call(const char *method, const char *path, const char *key, json_t *body,
                     dh_wms_reply_t *r)
{
    char err[512];
    int64_t wait = 0;
    dh_err_t e;

    for (;;) {
        e = dh_wms_call(fx.wms, fx.group, method, path, key, body, r, &wait, err, sizeof(err));
        if (e != DH_ERR_RATE || r->status != 0) {
            return e;
        }
        th_sleep_ms((int)wait);
    }
}

static void test_create_replay_and_conflict(void **state)
{
    char key[128], cid[32];
    json_t *body, *other;
    dh_wms_reply_t r1, r2, r3;

    (void)state;
    snprintf(key, sizeof(key), "so-%s", fx.uniq);
    snprintf(cid, sizeof(cid), "%lld", (long long)th_now_ms());
    body = order_body(cid, 1);
    assert_int_equal(call("POST", "/wms/v1/sales-orders", key, body, &r1), DH_OK);
    assert_int_equal(r1.status, 201);
    assert_int_equal(r1.replayed, 0);
    assert_non_null(r1.body);
    assert_string_equal(r1.problem_type, "");
    /* Same key, same body: the first answer again, marked replayed. */
    assert_int_equal(call("POST", "/wms/v1/sales-orders", key, body, &r2), DH_OK);
    assert_int_equal(r2.status, 201);
    assert_int_equal(r2.replayed, 1);
    assert_true(json_equal(r1.body, r2.body));
    /* Same key, another body: a permanent 409 for the caller. */
    other = order_body(cid, 1);
    json_object_set_new(other, "order_name", json_string("#9999"));
    assert_int_equal(call("POST", "/wms/v1/sales-orders", key, other, &r3), DH_OK);
    assert_int_equal(r3.status, 409);
    assert_non_null(strstr(r3.problem_type, "idempotency-key-mismatch"));
    assert_true(r3.detail[0] != '\0');
    json_decref(body);
    json_decref(other);
    dh_wms_reply_clear(&r1);
    dh_wms_reply_clear(&r2);
    dh_wms_reply_clear(&r3);
}

static void test_validation_problem(void **state)
{
    char key[128];
    json_t *body = order_body("12345", 0);
    dh_wms_reply_t r;

    (void)state;
    snprintf(key, sizeof(key), "bad-%s", fx.uniq);
    assert_int_equal(call("POST", "/wms/v1/sales-orders", key, body, &r), DH_OK);
    assert_int_equal(r.status, 422);
    assert_non_null(strstr(r.problem_type, "validation"));
    if (strstr(r.detail, "currency") == NULL) {
        fail_msg("detail does not name the field: %s", r.detail);
    }
    json_decref(body);
    dh_wms_reply_clear(&r);
}

static void test_5xx_is_transient(void **state)
{
    char url[256], key[128], err[512];
    json_t *body = order_body("777", 1);
    dh_wms_reply_t r;
    int64_t wait = 0;
    long st;

    (void)state;
    snprintf(url, sizeof(url), "%s/_control/faults", fx.sb.base);
    json_decref(th_http_json("POST", url,
                             "{\"group\":\"wms\",\"error_rate\":1.0,\"error_status\":503,"
                             "\"count\":1}",
                             &st));
    assert_true(st >= 200 && st < 300);
    snprintf(key, sizeof(key), "f-%s", fx.uniq);
    assert_int_equal(dh_wms_call(fx.wms, fx.group, "POST", "/wms/v1/sales-orders", key, body, &r,
                                 &wait, err, sizeof(err)),
                     DH_ERR_PROTO);
    assert_int_equal(r.status, 503);
    assert_null(r.body);
    assert_non_null(strstr(err, "503"));
    assert_null(strstr(err, "wms-tok"));
    /* The fault was for one request: the retry with the same key succeeds. */
    assert_int_equal(call("POST", "/wms/v1/sales-orders", key, body, &r), DH_OK);
    assert_int_equal(r.status, 201);
    json_decref(body);
    dh_wms_reply_clear(&r);
}

/* The outcome is unknown: the WMS applied the create, then the answer never came. The
 * retry with the same Idempotency-Key gets the first result, and the order exists once. */
static void test_timeout_after_effect(void **state)
{
    char url[256], key[128], err[512], id[64];
    dh_http_opts_t quick = {2000, 800, 1 << 20};
    dh_http_t *h = dh_http_new(&quick, err, sizeof(err));
    dh_wms_t *w;
    json_t *body;
    dh_wms_reply_t r;
    int64_t wait = 0;
    long st;

    (void)state;
    assert_non_null(h);
    w = dh_wms_new(fx.cfg, h, fx.redis, NULL, err, sizeof(err));
    assert_non_null(w);
    snprintf(id, sizeof(id), "9%ld", (long)(th_now_ms() % 100000000));
    body = order_body(id, 1);
    snprintf(url, sizeof(url), "%s/_control/faults", fx.sb.base);
    json_decref(th_http_json("POST", url,
                             "{\"group\":\"wms\",\"timeout_after_effect_rate\":1.0,"
                             "\"timeout_ms\":1500,\"count\":1}",
                             &st));
    assert_true(st >= 200 && st < 300);
    snprintf(key, sizeof(key), "t-%s", fx.uniq);
    assert_int_equal(dh_wms_call(w, fx.group, "POST", "/wms/v1/sales-orders", key, body, &r, &wait,
                                 err, sizeof(err)),
                     DH_ERR_TIMEOUT);
    dh_wms_reply_clear(&r);
    /* The retry, as the runtime would make it: same key, same body. */
    assert_int_equal(call("POST", "/wms/v1/sales-orders", key, body, &r), DH_OK);
    assert_int_equal(r.status, 201);
    assert_true(r.replayed); /* the first attempt's effect, not a second order */
    dh_wms_reply_clear(&r);
    /* The journal holds exactly one applied create for this order: the first attempt's
     * (journaled once its hold-up ends), and the retry marked as a replay. */
    int applied = 0;
    for (int tries = 0; tries < 50 && applied == 0; tries++) {
        char *text = NULL;

        th_sleep_ms(100);
        snprintf(url, sizeof(url), "%s/_journal?group=wms", fx.sb.base);
        assert_int_equal(th_http("GET", url, NULL, NULL, &text), 200);
        for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
            json_t *j = json_loads(line, 0, NULL);
            const char *path = json_string_value(json_object_get(j, "path"));
            const char *reqbody = json_string_value(json_object_get(j, "body"));

            if (path && !strcmp(path, "/wms/v1/sales-orders") && reqbody && strstr(reqbody, id) &&
                json_integer_value(json_object_get(j, "status")) == 201 &&
                !json_is_true(json_object_get(j, "idempotent_replay"))) {
                applied++;
            }
            json_decref(j);
        }
        free(text);
    }
    json_decref(body);
    dh_wms_destroy(w);
    dh_http_destroy(h);
    fprintf(stderr, "creates applied for order %s: %d\n", id, applied);
    assert_int_equal(applied, 1);
}

static void test_bad_token_and_missing_key(void **state)
{
    dh_config_t *cfg = config_with(fx.sb.base, "nope", "default=100");
    char err[512];
    dh_wms_t *w = dh_wms_new(cfg, fx.http, fx.redis, NULL, err, sizeof(err));
    dh_wms_reply_t r;
    int64_t wait = 0;

    (void)state;
    assert_non_null(w);
    assert_int_equal(dh_wms_call(w, fx.group, "GET", "/wms/v1/sales-orders/a/1", NULL, NULL, &r,
                                 &wait, err, sizeof(err)),
                     DH_ERR_AUTH);
    assert_int_equal(r.status, 401);
    assert_non_null(strstr(r.problem_type, "unauthorized"));
    dh_wms_reply_clear(&r);
    assert_int_equal(dh_wms_call(w, fx.group, "POST", "/wms/v1/sales-orders", NULL, NULL, &r, &wait,
                                 err, sizeof(err)),
                     DH_ERR_INVALID);
    dh_wms_destroy(w);
    dh_config_destroy(cfg);
    /* A bad DH_WMS_RATE is refused up front. */
    cfg = config_with(fx.sb.base, "x", "orders=fast");
    assert_null(dh_wms_new(cfg, fx.http, fx.redis, NULL, err, sizeof(err)));
    assert_non_null(strstr(err, "DH_WMS_RATE"));
    dh_config_destroy(cfg);
}

static void test_rate_limit(void **state)
{
    char err[512];
    int done = 0, limited = 0;
    int64_t waited = 0, wait = 0;
    dh_wms_reply_t r;

    (void)state;
    while (done < 20) {
        dh_err_t e = dh_wms_call(fx.wms, fx.slow_group, "GET", "/wms/v1/sales-orders/a/1", NULL,
                                 NULL, &r, &wait, err, sizeof(err));
        if (e == DH_ERR_RATE) {
            assert_true(wait > 0 && wait <= 1000 / SLOW_RATE + 5);
            limited++;
            waited += wait;
            th_sleep_ms((int)wait);
            continue;
        }
        assert_int_equal(e, DH_OK);
        assert_int_equal(r.status, 404);
        dh_wms_reply_clear(&r);
        done++;
    }
    /* Burst of SLOW_RATE, then one per 1/SLOW_RATE s: 15 tokens ≈ 3 s of waits. */
    fprintf(stderr, "wms rate limit: 20 calls, %d refusals, %lld ms of waits\n", limited,
            (long long)waited);
    assert_true(limited >= 10);
    assert_true(waited >= 2500);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_replay_and_conflict),
        cmocka_unit_test(test_validation_problem),
        cmocka_unit_test(test_5xx_is_transient),
        cmocka_unit_test(test_timeout_after_effect),
        cmocka_unit_test(test_bad_token_and_missing_key),
        cmocka_unit_test(test_rate_limit),
    };
    int rc;

    if (dh_http_global_init() != DH_OK) {
        return 1;
    }
    rc = cmocka_run_group_tests(tests, setup, teardown);
    dh_http_global_cleanup();
    return rc;
}
