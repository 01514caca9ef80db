/*
 * The outcome table against the real clients: for every answer of the table (200,
 * THROTTLED, 401, 403, 404, 409, 422, 5xx, timeout, connection refused), the real Shopify
 * and WMS clients call a loopback HTTP far side (libmicrohttpd, in this process) that gives
 * exactly that answer, and dh_far_outcome() must come out as the table's row: the same
 * answer, business answers handed to the caller, and otherwise the row's result and error
 * class. Store domains and the WMS group are unique per run, so the rate-limit keys on the
 * shared Redis never collide with other runs.
 */
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dockhand/http.h"
#include "dockhand/outcome.h"
#include "dockhand/redis.h"
#include "dockhand/shopify.h"
#include "dockhand/stores.h"
#include "dockhand/wms.h"
#include "harness.h"

/* cmocka.h needs these three first; keep clang-format from sorting it above them. */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
/* clang-format on */

#define CLIENT_TIMEOUT_MS 400
#define SLOW_MS           1500 /* the "timeout" case answers after this */

/* One case: the first path segment names it, the far side answers with status and body. */
typedef struct fcase {
    const char *name;
    dh_answer_t answer;
    long status; /* 0: sleep past the client's timeout; -1: nobody listens */
    const char *shopify_body;
    const char *wms_body;
} fcase_t;

#define PROBLEM(slug) "{\"type\":\"https://wms.example/problems/" slug "\",\"title\":\"" slug "\"}"
#define GQL_OK        "{\"data\":{\"locations\":{\"nodes\":[]}},\"extensions\":{\"cost\":{}}}"
#define GQL_ERR       "{\"errors\":[{\"message\":\"nope\"}]}"

static const fcase_t cases[] = {
    {"ok", DH_ANSWER_OK, 200, GQL_OK, "{\"id\":\"x\"}"},
    {"throttled", DH_ANSWER_THROTTLED, 200,
     "{\"errors\":[{\"message\":\"Throttled\",\"extensions\":{\"code\":\"THROTTLED\"}}]}", NULL},
    {"429", DH_ANSWER_THROTTLED, 429, GQL_ERR, PROBLEM("rate-limited")},
    {"401", DH_ANSWER_401, 401, GQL_ERR, PROBLEM("unauthorized")},
    {"403", DH_ANSWER_403, 403, GQL_ERR, PROBLEM("forbidden")},
    {"404", DH_ANSWER_404, 404, GQL_ERR, PROBLEM("not-found")},
    {"409", DH_ANSWER_409, 409, GQL_ERR, PROBLEM("conflict")},
    {"422", DH_ANSWER_422, 422, GQL_ERR, PROBLEM("validation")},
    {"5xx", DH_ANSWER_5XX, 503, GQL_ERR, PROBLEM("unavailable")},
    {"timeout", DH_ANSWER_TIMEOUT, 0, GQL_OK, "{}"},
    {"refused", DH_ANSWER_REFUSED, -1, NULL, NULL},
};
#define NCASES (sizeof(cases) / sizeof(cases[0]))

typedef struct fixture {
    struct MHD_Daemon *d;
    int port, dead_port;
    char run[64]; /* unique per run */
    dh_http_t *http;
    dh_redis_t *redis;
    dh_stores_t *stores;
    int requests; /* answered by the far side */
} fixture_t;

static fixture_t fx;

static const fcase_t *case_of(const char *url)
{
    const char *seg = strchr(url + 1, '/');
    size_t len = seg ? (size_t)(seg - url - 1) : strlen(url + 1);

    for (size_t i = 0; i < NCASES; i++) {
        if (strlen(cases[i].name) == len && strncmp(url + 1, cases[i].name, len) == 0) {
            return &cases[i];
        }
    }
    return NULL;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **state)
{
    static int started;
    const fcase_t *fc = case_of(url);
    const char *body;
    struct MHD_Response *r;
    enum MHD_Result rc;

    (void)cls, (void)method, (void)version, (void)upload;
    if (*state == NULL) {
        *state = &started; /* headers only: the body comes next */
        return MHD_YES;
    }
    if (*upload_size > 0) {
        *upload_size = 0;
        return MHD_YES;
    }
    body = fc && strstr(url, "/graphql.json") ? fc->shopify_body : fc ? fc->wms_body : "{}";
    __atomic_add_fetch(&fx.requests, 1, __ATOMIC_SEQ_CST);
    if (fc && fc->status == 0) {
        struct timespec ts = {SLOW_MS / 1000, (SLOW_MS % 1000) * 1000000L};

        nanosleep(&ts, NULL);
    }
    r = MHD_create_response_from_buffer(strlen(body ? body : "{}"), (void *)(body ? body : "{}"),
                                        MHD_RESPMEM_PERSISTENT);
    MHD_add_response_header(r, "Content-Type",
                            fc && fc->status >= 400 && !strstr(url, "/graphql.json")
                                ? "application/problem+json"
                                : "application/json");
    if (fc && fc->status == 429) {
        MHD_add_response_header(r, "Retry-After", "1");
    }
    rc = MHD_queue_response(c, fc && fc->status > 0 ? (unsigned)fc->status : 200, r);
    MHD_destroy_response(r);
    return rc;
}

static int setup(void **state)
{
    dh_http_opts_t ho = {CLIENT_TIMEOUT_MS, CLIENT_TIMEOUT_MS, 1 << 20};
    dh_redis_opts_t ro = {th_redis_url(), NULL, 2000};
    char text[8192], err[1024];
    size_t len = 0;

    (void)state;
    th_unique("outcome", fx.run, sizeof(fx.run));
    fx.port = th_free_port();
    fx.dead_port = th_free_port();
    fx.d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION,
                            (uint16_t)fx.port, NULL, NULL, on_request, NULL, MHD_OPTION_END);
    assert_non_null(fx.d);
    fx.http = dh_http_new(&ho, err, sizeof(err));
    fx.redis = dh_redis_new(&ro, err, sizeof(err));
    assert_non_null(fx.http);
    assert_non_null(fx.redis);
    /* One store per case: a THROTTLED case's cooldown must not reach the next case. */
    len += (size_t)snprintf(text + len, sizeof(text) - len, "{\"stores\": [");
    for (size_t i = 0; i < NCASES; i++) {
        len += (size_t)snprintf(
            text + len, sizeof(text) - len,
            "%s{\"domain\": \"%s-%s.myshopify.com\", \"admin_url\": \"http://127.0.0.1:%d/%s\","
            " \"access_token\": \"tok\"}",
            i ? "," : "", cases[i].name, fx.run, cases[i].status < 0 ? fx.dead_port : fx.port,
            cases[i].name);
    }
    snprintf(text + len, sizeof(text) - len, "]}");
    assert_int_equal(dh_stores_parse(text, strlen(text), &fx.stores, err, sizeof(err)), DH_OK);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    dh_stores_destroy(fx.stores);
    dh_redis_destroy(fx.redis);
    dh_http_destroy(fx.http);
    MHD_stop_daemon(fx.d);
    return 0;
}

/* The outcome equals the table's row for (far, the case's answer). */
static void assert_row(dh_far_t far, const fcase_t *fc, int rc, const dh_outcome_t *o)
{
    const dh_outcome_row_t *row = dh_outcome_row(far, fc->answer);

    fprintf(stderr, "%-8s %-10s -> %s %s (%s)\n", dh_far_str(far), fc->name,
            dh_answer_str(o->answer), row->answered ? "answered" : dh_result_str(o->result),
            o->error_class);
    assert_int_equal(o->answer, fc->answer);
    assert_int_equal(rc == 0, row->answered);
    if (!row->answered) {
        assert_int_equal(o->result, row->result);
        assert_string_equal(o->error_class, row->error_class);
        assert_true(o->error[0] != '\0');
    }
    if (fc->answer == DH_ANSWER_401 || fc->answer == DH_ANSWER_403) {
        /* Refused credentials wait for the fix: never dead-lettered, a delay of >= 1 s. */
        assert_int_equal(o->result, DH_RESULT_RETRY);
        assert_true(dh_outcome_never_exhausts(o->error_class));
        assert_true(o->retry_after_ms >= 1000);
    }
    if (fc->answer == DH_ANSWER_THROTTLED) {
        assert_int_equal(o->result, DH_RESULT_WAIT);
        assert_true(o->retry_after_ms > 0);
    }
}

static void test_shopify_answers(void **state)
{
    dh_shopify_t *s = dh_shopify_new(fx.http, fx.redis, NULL);

    (void)state;
    assert_non_null(s);
    for (size_t i = 0; i < NCASES; i++) {
        char domain[160], err[512] = "";
        const dh_store_t *st;
        dh_gql_reply_t rep;
        dh_outcome_t o;
        int64_t wait = 0;
        int before = __atomic_load_n(&fx.requests, __ATOMIC_SEQ_CST), rc;
        dh_err_t e;

        snprintf(domain, sizeof(domain), "%s-%s.myshopify.com", cases[i].name, fx.run);
        st = dh_stores_find(fx.stores, domain);
        assert_non_null(st);
        e = dh_shopify_graphql(s, st, DH_GQL_PRODUCT_VARIANTS_BY_SKU, NULL, &rep, &wait, err,
                               sizeof(err));
        rc = dh_far_outcome(NULL, DH_FAR_SHOPIFY, e, rep.status, wait, domain, err, &o);
        assert_row(DH_FAR_SHOPIFY, &cases[i], rc, &o);
        /* Every answer but "refused" really came from the far side. */
        assert_int_equal(__atomic_load_n(&fx.requests, __ATOMIC_SEQ_CST) - before,
                         cases[i].status < 0 ? 0 : 1);
        dh_gql_reply_clear(&rep);
    }
    dh_shopify_destroy(s);
}

static dh_config_t *wms_config(const fcase_t *fc)
{
    static const dh_config_var_t *const tables[] = {dh_wms_config_vars, NULL};
    char e_url[160], e_tok[] = "DH_WMS_TOKEN=tok", e_rate[] = "DH_WMS_RATE=default=1000";
    char *envp[] = {e_url, e_tok, e_rate, NULL};
    dh_config_t *cfg = NULL;
    char *problems = NULL;

    snprintf(e_url, sizeof(e_url), "DH_WMS_URL=http://127.0.0.1:%d/%s",
             fc->status < 0 ? fx.dead_port : fx.port, fc->name);
    if (dh_config_load(tables, envp, &cfg, &problems) != DH_OK) {
        fail_msg("config: %s", problems != NULL ? problems : "?");
    }
    return cfg;
}

static void test_wms_answers(void **state)
{
    (void)state;
    for (size_t i = 0; i < NCASES; i++) {
        const fcase_t *fc = &cases[i];
        dh_config_t *cfg;
        dh_wms_t *w;
        char err[512] = "", group[96];
        dh_wms_reply_t rep;
        dh_outcome_t o;
        json_t *body;
        int64_t wait = 0;
        int before, rc;
        dh_err_t e;

        if (!fc->wms_body && fc->status >= 0) {
            continue; /* a GraphQL-only answer (THROTTLED in a 200) */
        }
        body = json_pack("{s:s}", "case", fc->name);
        cfg = wms_config(fc);
        w = dh_wms_new(cfg, fx.http, fx.redis, NULL, err, sizeof(err));
        assert_non_null(w);
        snprintf(group, sizeof(group), "%s-%s", fx.run, fc->name);
        before = __atomic_load_n(&fx.requests, __ATOMIC_SEQ_CST);
        e = dh_wms_call(w, group, "POST", "/wms/v1/returns", "key-1", body, &rep, &wait, err,
                        sizeof(err));
        rc = dh_far_outcome(NULL, DH_FAR_WMS, e, rep.status, wait, "WMS POST", err, &o);
        assert_row(DH_FAR_WMS, fc, rc, &o);
        assert_int_equal(__atomic_load_n(&fx.requests, __ATOMIC_SEQ_CST) - before,
                         fc->status < 0 ? 0 : 1);
        if (rc == 0) {
            assert_int_equal(rep.status, fc->status); /* the caller sees the real status */
        }
        dh_wms_reply_clear(&rep);
        json_decref(body);
        dh_wms_destroy(w);
        dh_config_destroy(cfg);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shopify_answers),
        cmocka_unit_test(test_wms_answers),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
