/*
 * End to end, the outcome table's rule for refused credentials (docs/ARCHITECTURE.md,
 * "Outcome mapping"): dh-returns with a wrong WMS token against dh-sandbox, Kafka and
 * Redis. The return request is retried past DH_RETRY_MAX_ATTEMPTS (2) without being
 * dead-lettered, each refusal counted in dh_far_auth_failures_total{far="wms"}; a later
 * undecodable marker is the first and only dead letter of the (one-partition) topic; once
 * the worker restarts with the right token the return is created exactly once.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define WMS_TOKEN "wms-auth-token"

typedef struct env {
    th_sandbox_t sb;
    int admin_port;
    char store[128], stores_file[256], topic[128], group[128], log[256];
} env_t;

static env_t env;

static void env_start(env_t *e)
{
    char buf[100], seed[1024], stores[1024], dlq[160];

    th_unique("rauth", buf, sizeof(buf));
    snprintf(e->store, sizeof(e->store), "%s.myshopify.com", buf);
    snprintf(e->topic, sizeof(e->topic), "t.%s", buf);
    snprintf(e->group, sizeof(e->group), "g.%s", buf);
    snprintf(e->log, sizeof(e->log), "%s/%s-returns.log", th_log_dir(), buf);
    snprintf(seed, sizeof(seed),
             "{\"stores\": [{\"domain\": \"%s\", \"access_token\": \"shpat_x\"}], "
             "\"wms\": {\"token\": \"" WMS_TOKEN "\"}}",
             e->store);
    th_sandbox_start(&e->sb, seed);
    snprintf(stores, sizeof(stores),
             "{\"stores\": [{\"domain\": \"%s\", \"admin_url\": \"%s/shops/%s\", "
             "\"access_token\": \"shpat_x\", \"webhook_secrets\": [\"unused\"], "
             "\"returnprime_secret\": \"unused\"}]}",
             e->store, e->sb.base, e->store);
    snprintf(e->stores_file, sizeof(e->stores_file), "%s",
             th_write_temp("dh-returns-auth-stores", stores));
    /* One partition each: the dead-letter topic keeps the order the worker wrote in. */
    snprintf(dlq, sizeof(dlq), "%s.dlq", e->topic);
    th_create_topic(e->topic, 1);
    th_create_topic(dlq, 1);
}

static pid_t start_returns(env_t *e, const char *token)
{
    static char buf[16][300];
    const char *envv[17];
    int n = 0;

#define ADD(...) (snprintf(buf[n], sizeof(buf[n]), __VA_ARGS__), envv[n] = buf[n], n++)
    ADD("DH_KAFKA_BROKERS=%s", th_kafka());
    ADD("DH_REDIS_URL=%s", th_redis_url());
    ADD("DH_TOPICS=%s", e->topic);
    ADD("DH_GROUP_ID=%s", e->group);
    ADD("DH_STORES_FILE=%s", e->stores_file);
    ADD("DH_WMS_URL=%s", e->sb.base);
    ADD("DH_WMS_TOKEN=%s", token);
    ADD("DH_ADMIN_ADDR=127.0.0.1");
    ADD("DH_ADMIN_PORT=%d", e->admin_port);
    ADD("DH_RETRY_BASE_MS=50");
    ADD("DH_RETRY_MAX_MS=200");
    ADD("DH_RETRY_MAX_ATTEMPTS=2");
    ADD("KAFKA_SESSION_TIMEOUT_MS=6000");
    ADD("KAFKA_HEARTBEAT_INTERVAL_MS=1000");
#undef ADD
    envv[n] = NULL;
    return th_spawn("dh-returns", envv, e->log);
}

static void produce(rd_kafka_t *rk, const char *id, const char *value)
{
    char key[300];

    snprintf(key, sizeof(key), "%s|%s", env.store, id);
    assert_int_equal(
        rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(env.topic), RD_KAFKA_V_KEY(key, strlen(key)),
                          RD_KAFKA_V_VALUE((void *)value, strlen(value)),
                          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                          RD_KAFKA_V_HEADER("dh-topic", "request/approved", -1),
                          RD_KAFKA_V_HEADER("dh-store", env.store, -1),
                          RD_KAFKA_V_HEADER("dh-webhook-id", id, -1),
                          RD_KAFKA_V_HEADER("dh-received-at", "2026-05-10T12:00:00.000Z", -1),
                          RD_KAFKA_V_END),
        RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(rd_kafka_flush(rk, 15000), RD_KAFKA_RESP_ERR_NO_ERROR);
}

/* The value of series \p prefix (e.g. `dh_far_auth_failures_total{far="wms"}`), summed over
 * its lines; -1 if /metrics does not answer. */
static long long metric(const char *prefix)
{
    char url[128], *text = NULL;
    long long total = 0;
    size_t len = strlen(prefix);

    snprintf(url, sizeof(url), "http://127.0.0.1:%d/metrics", env.admin_port);
    if (th_http("GET", url, NULL, NULL, &text) != 200) {
        free(text);
        return -1;
    }
    for (char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        if (!strncmp(l, prefix, len) && strchr(l, '}')) {
            total += (long long)strtod(strchr(l, '}') + 1, NULL);
        }
    }
    free(text);
    return total;
}

static int refused_past_budget(void *ud)
{
    (void)ud;
    return metric("dh_far_auth_failures_total{far=\"wms\"}") >= 4;
}

/* WMS returns created (201, not replayed) for request \p id, from the sandbox journal. */
static int created(const char *id)
{
    char url[512], *text = NULL, *line, *save = NULL;
    int n = 0;

    snprintf(url, sizeof(url), "%s/_journal?group=wms", env.sb.base);
    assert_int_equal(th_http("GET", url, NULL, NULL, &text), 200);
    for (line = text ? strtok_r(text, "\n", &save) : NULL; line;
         line = strtok_r(NULL, "\n", &save)) {
        json_t *j = json_loads(line, 0, NULL);
        const char *body = json_string_value(json_object_get(j, "body"));

        n += json_integer_value(json_object_get(j, "status")) == 201 &&
             !json_is_true(json_object_get(j, "idempotent_replay")) && body &&
             strstr(body, id) != NULL;
        json_decref(j);
    }
    free(text);
    return n;
}

static int created_once(void *ud)
{
    return created(ud) >= 1;
}

static void test_refused_token_waits_for_the_fix(void **state)
{
    rd_kafka_t *rk = th_kafka_producer();
    char dlq[160], cls[64], why[1024];
    size_t n = 0;
    pid_t w;

    (void)state;
    env_start(&env);
    env.admin_port = th_free_port();
    w = start_returns(&env, "a-rotated-token");
    produce(rk, "ra1",
            "{\"request\": {\"id\": \"ra1\", \"request_number\": \"N-ra1\", \"request_type\": "
            "\"return\", \"status\": \"approved\", \"created_at\": \"2026-05-10T12:00:00Z\", "
            "\"order\": {\"id\": 5002, \"name\": \"#5002\"}, \"line_items\": [{\"id\": 931, "
            "\"quantity\": 1, \"reason\": \"Others\", \"original_product\": {\"sku\": "
            "\"TEE-1\", \"variant_id\": 201}}]}}");
    /* Twice the retry budget of refusals: the old mapping dead-lettered at the second. */
    assert_true(th_wait_for(refused_past_budget, NULL, 30000));
    assert_int_equal(metric("dh_events_total{worker=\"returns\",outcome=\"dead_letter\""), 0);
    /* The marker: undecodable, dead-lettered at once, behind anything written before. */
    produce(rk, "marker", "not json");
    snprintf(dlq, sizeof(dlq), "%s.dlq", env.topic);
    rd_kafka_message_t **msgs = th_consume(dlq, 1, 30000, &n);

    assert_int_equal(n, 1);
    th_dead_letter(msgs[0], cls, sizeof(cls), why, sizeof(why));
    assert_string_equal(cls, "decode");
    rd_kafka_message_destroy(msgs[0]);
    free(msgs);
    assert_int_equal(created("ra1"), 0);
    /* The token is fixed: the same event, still unfinished, is created exactly once. */
    th_stop(w);
    w = start_returns(&env, WMS_TOKEN);
    assert_true(th_wait_for(created_once, "ra1", 60000));
    assert_int_equal(created("ra1"), 1);
    th_stop(w);
    rd_kafka_destroy(rk);
    th_sandbox_stop(&env.sb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_refused_token_waits_for_the_fix),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
