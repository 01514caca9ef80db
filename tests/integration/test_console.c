/*
 * dh-console in a real browser: headless Chromium (Debian's chromium, installed by
 * deploy/setup.sh; missing, the test fails) loads its pages against the stack, and the
 * numbers in the DOM are checked against the state the test made: lag per partition of
 * a group whose offsets it committed, dead letters per class it produced, a store's sync
 * progress and Shopify bucket it wrote, a running worker's /metrics and a dead one. Then
 * the redrive: refused (403) without the operator token, without the CSRF field or
 * without the session cookie; with them a dry run writes nothing, the confirm writes
 * each shown letter back exactly once, and the ledger never offers them again.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

#define TOKEN "console-test-token"

struct console_run {
    char topic[128], dlq[140], group[128], store[160], log[256], jar[256];
    int port;
    pid_t pid;
    int64_t bucket_wall_ms; /**< when the bucket was written (it refills 1 point/s) */
};

/* `cmd` 's stdout (caller frees); its exit status in *rc. */
static char *run_cmd(const char *cmd, int *rc)
{
    FILE *p = popen(cmd, "r");
    char *out = NULL;
    size_t len = 0, n;
    char buf[8192];

    assert_non_null(p);
    while ((n = fread(buf, 1, sizeof(buf), p)) > 0) {
        out = realloc(out, len + n + 1);
        assert_non_null(out);
        memcpy(out + len, buf, n);
        len += n;
        out[len] = '\0';
    }
    *rc = pclose(p);
    return out ? out : strdup("");
}

static const char *chromium(void)
{
    static const char *const names[] = {"chromium", "chromium-browser", NULL};
    const char *env = getenv("DH_TEST_CHROMIUM");
    static char found[256];
    int rc;

    if (env && *env) {
        return env;
    }
    for (int i = 0; names[i]; i++) {
        char cmd[128], *out;

        snprintf(cmd, sizeof(cmd), "command -v %s", names[i]);
        out = run_cmd(cmd, &rc);
        if (rc == 0 && *out) {
            out[strcspn(out, "\n")] = '\0';
            snprintf(found, sizeof(found), "%s", out);
            free(out);
            return found;
        }
        free(out);
    }
    fail_msg("no chromium binary: deploy/setup.sh installs Debian's chromium package");
    return NULL;
}

/* The DOM of \p path as headless Chromium built it. */
static char *dom(const struct console_run *c, const char *path)
{
    char cmd[1024], dir[] = "/tmp/dh-console-chromium-XXXXXX", *out;
    int rc;

    assert_non_null(mkdtemp(dir));
    snprintf(cmd, sizeof(cmd),
             "'%s' --headless --disable-gpu %s --user-data-dir=%s --dump-dom "
             "'http://127.0.0.1:%d%s' 2>/dev/null; rm -rf '%s'",
             chromium(), geteuid() == 0 ? "--no-sandbox" : "", dir, c->port, path, dir);
    out = run_cmd(cmd, &rc);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "dockhand console"));
    return out;
}

/* The text of the element whose data-k is \p key, as a number; fails when absent. */
static long long shown(const char *page, const char *fmt, ...)
{
    char key[512], needle[600];
    const char *at;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(key, sizeof(key), fmt, ap);
    va_end(ap);
    snprintf(needle, sizeof(needle), "data-k=\"%s\">", key);
    at = strstr(page, needle);
    if (!at) {
        fail_msg("%s not on the page", key);
    }
    return strtoll(at + strlen(needle), NULL, 10);
}

static int has_key(const char *page, const char *key)
{
    char needle[600];

    snprintf(needle, sizeof(needle), "data-k=\"%s\"", key);
    return strstr(page, needle) != NULL;
}

/* Commit \p group's offsets of \p topic: partition i at offs[i]. */
static void commit(const char *group, const char *topic, const int64_t *offs, int n)
{
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(n);
    rd_kafka_t *rk;

    assert_int_equal(
        rd_kafka_conf_set(conf, "bootstrap.servers", th_kafka(), errstr, sizeof(errstr)),
        RD_KAFKA_CONF_OK);
    assert_int_equal(rd_kafka_conf_set(conf, "group.id", group, errstr, sizeof(errstr)),
                     RD_KAFKA_CONF_OK);
    rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
    assert_non_null(rk);
    for (int i = 0; i < n; i++) {
        rd_kafka_topic_partition_list_add(l, topic, i)->offset = offs[i];
    }
    assert_int_equal(rd_kafka_commit(rk, l, 0), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_topic_partition_list_destroy(l);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
}

static int console_port(void *ud)
{
    struct console_run *c = ud;
    FILE *f = fopen(c->log, "r");
    char line[1024];

    while (f && fgets(line, sizeof(line), f)) {
        const char *at = strstr(line, "console on 127.0.0.1:");

        if (at) {
            c->port = atoi(at + strlen("console on 127.0.0.1:"));
        }
    }
    if (f) {
        fclose(f);
    }
    return c->port > 0;
}

static int64_t ends(const char *topic, int parts)
{
    int64_t sum = 0;

    for (int p = 0; p < parts; p++) {
        sum += th_end_offset(topic, p);
    }
    return sum;
}

/* The stack's state the pages must show. */
static void make_state(struct console_run *c, redisContext *rc)
{
    static const int per_part[3] = {5, 3, 1};
    static const int64_t committed[3] = {2, 3, 0}; /* lag 3, 0, 1 */
    th_producer_t *tp = th_producer_new();
    rd_kafka_t *p = th_kafka_producer();
    long long now_ms;

    for (int part = 0; part < 3; part++) {
        for (int i = 0; i < per_part[part]; i++) {
            th_produce(tp, c->topic, part, "k", "{}", 2);
        }
    }
    th_producer_destroy(tp);
    commit(c->group, c->topic, committed, 3);
    for (int part = 0; part < 3; part++) {
        char key[32], payload[64];

        snprintf(key, sizeof(key), "perm-%d", part);
        snprintf(payload, sizeof(payload), "{\"id\":\"%s\"}", key);
        th_produce_letter(p, c->dlq, part, key, "permanent", c->topic, NULL, payload);
        if (part < 2) {
            snprintf(key, sizeof(key), "val-%d", part);
            snprintf(payload, sizeof(payload), "{\"id\":\"%s\"}", key);
            th_produce_letter(p, c->dlq, part, key, "validation", c->topic, NULL, payload);
        }
    }
    assert_int_equal(rd_kafka_flush(p, 30000), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_destroy(p);
    th_redis_int(rc, "SET dh:inv:sync:active:%s req-1", c->store);
    th_redis_int(rc, "HSET dh:inv:sync:progress:%s:req-1 pages 4 rows 37", c->store);
    now_ms = th_redis_int(rc, "EVAL %s 0",
                          "local t = redis.call('TIME') return t[1] * 1000 + math.floor(t[2] / "
                          "1000)");
    th_redis_int(rc, "HSET dh:rl:shopify:%s level 100 ts %lld", c->store, now_ms);
    c->bucket_wall_ms = th_wall_ms();
    th_redis_int(rc, "PSETEX dh:rl:shopify:%s:cooldown 600000 1", c->store);
}

static void start_console(struct console_run *c, int worker_port, const char *stores)
{
    char env[10][400];
    const char *envp[11];

    snprintf(env[0], sizeof(env[0]), "DH_KAFKA_BROKERS=%s", th_kafka());
    snprintf(env[1], sizeof(env[1]), "DH_REDIS_URL=%s", th_redis_url());
    snprintf(env[2], sizeof(env[2]), "DH_CONSOLE_PORT=0");
    snprintf(env[3], sizeof(env[3]), "DH_CONSOLE_TOKEN=" TOKEN);
    snprintf(env[4], sizeof(env[4]), "DH_CONSOLE_GROUPS=%s", c->group);
    snprintf(env[5], sizeof(env[5]), "DH_CONSOLE_DLQ_TOPICS=%s", c->dlq);
    snprintf(env[6], sizeof(env[6]), "DH_STORES_FILE=%s", stores);
    snprintf(env[7], sizeof(env[7]),
             "DH_CONSOLE_WORKERS=w=http://127.0.0.1:%d,gone=http://127.0.0.1:1", worker_port);
    snprintf(env[8], sizeof(env[8]), "DH_CONSOLE_REFRESH_S=0");
    for (int i = 0; i < 9; i++) {
        envp[i] = env[i];
    }
    envp[9] = NULL;
    snprintf(c->log, sizeof(c->log), "%s/%s-console.log", th_log_dir(), c->topic);
    c->pid = th_spawn("dh-console", envp, c->log);
    assert_true(th_wait_for(console_port, c, 30000));
}

static void check_pages(const struct console_run *c, int wport)
{
    char *page = dom(c, "/lag"), path[400];

    assert_int_equal(shown(page, "lag:%s:%s:0", c->group, c->topic), 3);
    assert_int_equal(shown(page, "lag:%s:%s:1", c->group, c->topic), 0);
    assert_int_equal(shown(page, "lag:%s:%s:2", c->group, c->topic), 1);
    assert_int_equal(shown(page, "lagtotal:%s", c->group), 4);
    free(page);
    page = dom(c, "/dlq");
    assert_int_equal(shown(page, "dlq:%s:permanent", c->dlq), 3);
    assert_int_equal(shown(page, "dlq:%s:validation", c->dlq), 2);
    assert_int_equal(shown(page, "dlqtotal:%s", c->dlq), 5);
    free(page);
    snprintf(path, sizeof(path), "/letter?topic=%s&p=1&o=1", c->dlq);
    page = dom(c, path);
    assert_non_null(strstr(page, "\"id\": \"val-1\""));
    assert_non_null(strstr(page, "validation"));
    free(page);
    page = dom(c, "/stores");
    assert_int_equal(shown(page, "pages:%s", c->store), 4);
    assert_int_equal(shown(page, "rows:%s", c->store), 37);
    assert_in_range(shown(page, "bucket:%s", c->store), 100,
                    100 + (th_wall_ms() - c->bucket_wall_ms) / 1000 + 2); /* refills 1/s */
    assert_in_range(shown(page, "cooldown:%s", c->store), 1, 600000);
    free(page);
    page = dom(c, "/");
    assert_int_equal(shown(page, "inflight:w"),
                     (long long)th_metric(wport, "dh_inflight_events", NULL));
    assert_int_equal(shown(page, "paused:w"), 0);
    assert_non_null(strstr(page, "data-k=\"inflight:gone\">-<"));
    assert_non_null(strstr(page, "DOWN"));
    free(page);
}

/* POST to /api/redrive.json with curl: the status; the body in *body (may be NULL). */
static int post(const struct console_run *c, int cookie, const char *bearer, const char *form,
                char **body)
{
    char cmd[4096], *out, *nl;
    int rc, status;

    snprintf(cmd, sizeof(cmd),
             "curl -s -w '\\n%%{http_code}' %s%s %s%s%s --data '%s' "
             "http://127.0.0.1:%d/api/redrive.json",
             cookie ? "-b " : "", cookie ? c->jar : "", bearer ? "-H 'Authorization: Bearer " : "",
             bearer ? bearer : "", bearer ? "'" : "", form, c->port);
    out = run_cmd(cmd, &rc);
    assert_int_equal(rc, 0);
    nl = strrchr(out, '\n');
    assert_non_null(nl);
    status = atoi(nl + 1);
    *nl = '\0';
    if (body) {
        *body = out;
    } else {
        free(out);
    }
    return status;
}

/* The CSRF field of the dead-letter page, fetched with a fresh session cookie. */
static void session(struct console_run *c, char *csrf, size_t size)
{
    char cmd[600], *out, *at;
    int rc;

    snprintf(c->jar, sizeof(c->jar), "%s/%s-console.jar", th_log_dir(), c->topic);
    snprintf(cmd, sizeof(cmd), "curl -s -c '%s' http://127.0.0.1:%d/dlq", c->jar, c->port);
    out = run_cmd(cmd, &rc);
    assert_int_equal(rc, 0);
    at = strstr(out, "name=csrf value=\"");
    assert_non_null(at);
    at += strlen("name=csrf value=\"");
    snprintf(csrf, size, "%.*s", (int)strcspn(at, "\""), at);
    assert_int_equal(strlen(csrf), 64);
    free(out);
}

static void check_redrive(struct console_run *c)
{
    char csrf[80], form[1024], letters[512] = "", *body = NULL;
    int64_t before = ends(c->topic, 3);
    json_t *d, *row;
    size_t i;

    session(c, csrf, sizeof(csrf));
    snprintf(form, sizeof(form), "topic=%s&class=permanent&csrf=%s", c->dlq, csrf);
    assert_int_equal(post(c, 1, NULL, form, NULL), 403);          /* no token */
    assert_int_equal(post(c, 1, "wrong-token", form, NULL), 403); /* bad token */
    assert_int_equal(post(c, 0, TOKEN, form, NULL), 403);         /* no session cookie */
    snprintf(form, sizeof(form), "topic=%s&class=permanent", c->dlq);
    assert_int_equal(post(c, 1, TOKEN, form, NULL), 403); /* no CSRF field */
    snprintf(form, sizeof(form), "topic=%s&class=permanent&csrf=%s&token=" TOKEN, c->dlq, csrf);
    assert_int_equal(post(c, 1, NULL, form, &body), 200); /* dry run, token from the form */
    d = json_loads(body, 0, NULL);
    free(body);
    assert_non_null(d);
    assert_true(json_is_true(json_object_get(d, "ok")));
    assert_int_equal(json_array_size(json_object_get(d, "rows")), 3);
    json_array_foreach(json_object_get(d, "rows"), i, row)
    {
        assert_string_equal(json_string_value(json_object_get(row, "action")), "would-redrive");
        snprintf(letters + strlen(letters), sizeof(letters) - strlen(letters), "%s%lld%%40%lld",
                 i ? "%2C" : "", (long long)json_integer_value(json_object_get(row, "partition")),
                 (long long)json_integer_value(json_object_get(row, "offset")));
    }
    json_decref(d);
    assert_int_equal(ends(c->topic, 3), before); /* the dry run wrote nothing */
    snprintf(form, sizeof(form), "topic=%s&class=permanent&csrf=%s&confirm=1&letters=%s", c->dlq,
             csrf, letters);
    assert_int_equal(post(c, 1, TOKEN, form, &body), 200);
    d = json_loads(body, 0, NULL);
    free(body);
    assert_int_equal(json_array_size(json_object_get(d, "rows")), 3);
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(json_object_get(d, "rows"), 0), "action")),
        "redriven");
    json_decref(d);
    assert_int_equal(ends(c->topic, 3), before + 3);
    assert_int_equal(th_redriven_copies(c->topic, (size_t)before + 3), 3);
    /* Confirmed again (a double click): the ledger offers nothing, nothing is written. */
    assert_int_equal(post(c, 1, TOKEN, form, &body), 200);
    d = json_loads(body, 0, NULL);
    free(body);
    assert_int_equal(json_array_size(json_object_get(d, "rows")), 0);
    json_decref(d);
    assert_int_equal(ends(c->topic, 3), before + 3);
}

static void test_console(void **state)
{
    struct console_run c = {0};
    char uniq[100], stores[600], key[200], *page;
    redisContext *rc = th_redis();
    th_run_t run;
    pid_t w;
    int wport;

    (void)state;
    chromium(); /* fails first when the browser is missing */
    th_unique("console", uniq, sizeof(uniq));
    snprintf(c.topic, sizeof(c.topic), "%s", uniq);
    snprintf(c.dlq, sizeof(c.dlq), "%s.dlq", uniq);
    snprintf(c.group, sizeof(c.group), "%s-group", uniq);
    snprintf(c.store, sizeof(c.store), "%s.myshopify.com", uniq);
    th_create_topic(c.topic, 3);
    make_state(&c, rc);
    snprintf(stores, sizeof(stores),
             "{\"stores\":[{\"domain\":\"%s\",\"admin_url\":\"http://127.0.0.1:1/x\","
             "\"api_version\":\"2026-10\",\"access_token\":\"t\",\"bucket_size\":1000,"
             "\"restore_rate\":1}]}",
             c.store);
    th_run_init(&run, "console-w", 1);
    w = th_run_worker(&run);
    wport = th_admin_port(run.log, 30000);
    assert_true(wport > 0);
    start_console(&c, wport, th_write_temp("console-stores", stores));
    check_pages(&c, wport);
    check_redrive(&c);
    page = dom(&c, "/dlq"); /* redriven letters are gone, the others stay */
    snprintf(key, sizeof(key), "dlq:%s:permanent", c.dlq);
    assert_false(has_key(page, key));
    assert_int_equal(shown(page, "dlq:%s:validation", c.dlq), 2);
    free(page);
    th_stop(c.pid);
    th_stop(w);
    th_redis_int(rc,
                 "DEL dh:inv:sync:active:%s dh:inv:sync:progress:%s:req-1 dh:rl:shopify:%s "
                 "dh:rl:shopify:%s:cooldown",
                 c.store, c.store, c.store, c.store);
    redisFree(rc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_console),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
