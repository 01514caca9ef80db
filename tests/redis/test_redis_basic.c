/*
 * dh_redis against a real redis-server (address from DH_TEST_REDIS_URL, default the local
 * stack's redis://127.0.0.1:36379): commands, error replies, pipelines, EVALSHA with the
 * NOSCRIPT fallback, the reply size cap, timeouts, URL handling and unreachable servers.
 * Keys are prefixed with the pid so runs against a shared server do not collide.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "dockhand/redis.h"
#include "harness.h"
#include "redis_internal.h"

/* cmocka.h needs these three first; keep clang-format from sorting it above them. */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
/* clang-format on */

static char g_url[256];
static char g_hostport[256]; /* "host:port" of g_url, for URLs built by tests */
static char g_prefix[64];

static dh_redis_t *conn(const char *url, int timeout_ms)
{
    dh_redis_opts_t o = {.url = url, .password = NULL, .timeout_ms = timeout_ms};
    char err[256];
    dh_redis_t *r = dh_redis_new(&o, err, sizeof(err));
    if (r == NULL) {
        fail_msg("dh_redis_new(%s): %s", url, err);
    }
    return r;
}

static int setup(void **state)
{
    const char *hp;
    dh_redis_t *r;
    dh_err_t err;
    (void)state;

    snprintf(g_url, sizeof(g_url), "%s", th_redis_url());
    hp = strncmp(g_url, "redis://", 8) == 0 ? g_url + 8 : g_url;
    snprintf(g_hostport, sizeof(g_hostport), "%.*s", (int)strcspn(hp, "/"), hp);
    snprintf(g_prefix, sizeof(g_prefix), "dhtest:%ld", (long)getpid());
    r = conn(g_url, 2000);
    err = dh_redis_connect(r);
    if (err != DH_OK) {
        fprintf(stderr, "no Redis at %s: %s\n", g_url, dh_redis_errstr(r));
    }
    dh_redis_destroy(r);
    return err == DH_OK ? 0 : -1;
}

static void key(char *out, size_t size, const char *name)
{
    snprintf(out, size, "%s:%s", g_prefix, name);
}

static void test_command_and_binary_values(void **state)
{
    dh_redis_t *r = conn(g_url, 2000);
    char k[128];
    const char *set[] = {"SET", k, "a\0b"};
    const size_t setlen[] = {3, 0, 3};
    const char *get[] = {"GET", k};
    size_t lens[3];
    redisReply *reply = NULL;
    (void)state;

    key(k, sizeof(k), "bin");
    memcpy(lens, setlen, sizeof(lens));
    lens[1] = strlen(k);
    assert_int_equal(dh_redis_command(r, 3, set, lens, NULL), DH_OK);
    assert_int_equal(dh_redis_command(r, 2, get, NULL, &reply), DH_OK);
    assert_int_equal(reply->type, REDIS_REPLY_STRING);
    assert_int_equal(reply->len, 3);
    assert_memory_equal(reply->str, "a\0b", 3);
    freeReplyObject(reply);

    key(k, sizeof(k), "missing");
    assert_int_equal(dh_redis_command(r, 2, get, NULL, &reply), DH_OK);
    assert_int_equal(reply->type, REDIS_REPLY_NIL);
    freeReplyObject(reply);

    assert_int_equal(dh_redis_commandf(r, &reply, "INCRBY %s:n %d", g_prefix, 41), DH_OK);
    assert_int_equal(reply->integer, 41);
    freeReplyObject(reply);
    assert_int_equal(dh_redis_commandf(r, NULL, "DEL %s:n %s:bin", g_prefix, g_prefix), DH_OK);
    dh_redis_destroy(r);
}

static void test_error_reply(void **state)
{
    dh_redis_t *r = conn(g_url, 2000);
    redisReply *reply = (redisReply *)1;
    (void)state;

    assert_int_equal(dh_redis_commandf(r, NULL, "SET %s:str x", g_prefix), DH_OK);
    assert_int_equal(dh_redis_commandf(r, &reply, "LPUSH %s:str y", g_prefix), DH_ERR_PROTO);
    assert_null(reply);
    assert_non_null(strstr(dh_redis_errstr(r), "WRONGTYPE"));
    /* An error reply does not break the connection. */
    assert_true(dh_redis_is_connected(r));
    assert_int_equal(dh_redis_commandf(r, NULL, "DEL %s:str", g_prefix), DH_OK);
    dh_redis_destroy(r);
}

static void test_pipeline(void **state)
{
    enum { N = 100 };
    dh_redis_t *r = conn(g_url, 2000);
    char k[128];
    char bad[128];
    const char *incr[] = {"INCR", k};
    const char *lpush[] = {"LPUSH", bad, "x"};
    const char **argv[N];
    int argc[N];
    redisReply *replies[N];
    (void)state;

    key(k, sizeof(k), "ctr");
    key(bad, sizeof(bad), "ctr"); /* LPUSH on a string key: an error element */
    for (int i = 0; i < N; i++) {
        argv[i] = i == 50 ? lpush : incr;
        argc[i] = i == 50 ? 3 : 2;
    }
    assert_int_equal(dh_redis_pipeline(r, N, argc, argv, NULL, replies), DH_OK);
    for (int i = 0; i < N; i++) {
        if (i == 50) {
            assert_int_equal(replies[i]->type, REDIS_REPLY_ERROR);
        } else {
            assert_int_equal(replies[i]->type, REDIS_REPLY_INTEGER);
            assert_int_equal(replies[i]->integer, i < 50 ? i + 1 : i);
        }
        freeReplyObject(replies[i]);
    }
    assert_int_equal(dh_redis_commandf(r, NULL, "DEL %s", k), DH_OK);
    dh_redis_destroy(r);
}

static const char SCRIPT[] = "return {KEYS[1], ARGV[1], tonumber(ARGV[2]) * 2}";

static void check_script_reply(const redisReply *reply, const char *k)
{
    assert_int_equal(reply->type, REDIS_REPLY_ARRAY);
    assert_int_equal(reply->elements, 3);
    assert_string_equal(reply->element[0]->str, k);
    assert_string_equal(reply->element[1]->str, "hi");
    assert_int_equal(reply->element[2]->integer, 42);
}

static void test_eval_noscript_fallback(void **state)
{
    dh_redis_t *r = conn(g_url, 2000);
    dh_redis_t *admin = conn(g_url, 2000);
    char k[128];
    const char *argv[] = {k, "hi", "21"};
    const char *flat[6] = {k, "hi", "21", k, "hi", "21"};
    redisReply *reply = NULL;
    redisReply *replies[2];
    (void)state;

    key(k, sizeof(k), "evalkey");
    assert_int_equal(dh_redis_eval(r, SCRIPT, 1, 3, argv, NULL, &reply), DH_OK);
    check_script_reply(reply, k);
    freeReplyObject(reply);

    /* The server forgets every script (as after a restart): EVALSHA gets NOSCRIPT. */
    assert_int_equal(dh_redis_commandf(admin, NULL, "SCRIPT FLUSH"), DH_OK);
    assert_int_equal(dh_redis_eval(r, SCRIPT, 1, 3, argv, NULL, &reply), DH_OK);
    check_script_reply(reply, k);
    freeReplyObject(reply);

    assert_int_equal(dh_redis_commandf(admin, NULL, "SCRIPT FLUSH"), DH_OK);
    assert_int_equal(dh_redis_eval_pipeline(r, SCRIPT, 1, 2, 3, flat, NULL, replies), DH_OK);
    check_script_reply(replies[0], k);
    check_script_reply(replies[1], k);
    freeReplyObject(replies[0]);
    freeReplyObject(replies[1]);

    /* A script error is DH_ERR_PROTO with Redis's text. */
    assert_int_equal(dh_redis_eval(r, "return redis.call('NOPE')", 0, 0, NULL, NULL, &reply),
                     DH_ERR_PROTO);
    assert_null(reply);
    assert_true(strlen(dh_redis_errstr(r)) > 0);
    dh_redis_destroy(admin);
    dh_redis_destroy(r);
}

static void test_reply_cap(void **state)
{
    dh_redis_t *r = conn(g_url, 5000);
    char k[128];
    char *big = malloc(2 << 20);
    const char *set[] = {"SET", k, big};
    size_t lens[] = {3, 0, 2 << 20};
    redisReply *reply = NULL;
    (void)state;

    memset(big, 'v', 2 << 20);
    key(k, sizeof(k), "big");
    lens[1] = strlen(k);
    assert_int_equal(dh_redis_command(r, 3, set, lens, NULL), DH_OK);
    dh_redis_set_max_reply(r, 1 << 20);
    assert_int_equal(dh_redis_commandf(r, &reply, "GET %s", k), DH_ERR_LIMIT);
    assert_null(reply);
    assert_false(dh_redis_is_connected(r));

    /* Many small elements count too. */
    assert_int_equal(dh_redis_commandf(r, NULL, "DEL %s", k), DH_OK);
    for (int i = 0; i < 30; i++) {
        assert_int_equal(dh_redis_commandf(r, NULL, "EVAL %s 1 %s",
                                           "for i=1,1000 do "
                                           "redis.call('RPUSH', KEYS[1], i) end",
                                           k),
                         DH_OK);
    }
    assert_int_equal(dh_redis_commandf(r, &reply, "LRANGE %s 0 -1", k), DH_ERR_LIMIT);

    /* The next call reconnects; the default cap is back. */
    dh_redis_set_max_reply(r, 0);
    assert_int_equal(dh_redis_commandf(r, &reply, "LRANGE %s 0 -1", k), DH_OK);
    assert_int_equal(reply->elements, 30000);
    freeReplyObject(reply);
    assert_int_equal(dh_redis_commandf(r, NULL, "DEL %s", k), DH_OK);
    free(big);
    dh_redis_destroy(r);
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static void test_timeout_then_reconnect(void **state)
{
    dh_redis_t *r = conn(g_url, 200);
    redisReply *reply = NULL;
    double t0 = now_ms();
    (void)state;

    assert_int_equal(dh_redis_commandf(r, NULL, "BLPOP %s:nothing 2", g_prefix), DH_ERR_TIMEOUT);
    assert_true(now_ms() - t0 < 1500);
    assert_int_equal(dh_redis_commandf(r, &reply, "PING"), DH_OK);
    assert_string_equal(reply->str, "PONG");
    freeReplyObject(reply);
    dh_redis_destroy(r);
}

static void test_unreachable(void **state)
{
    char url[128];
    dh_redis_t *r;
    double t0 = now_ms();
    (void)state;

    snprintf(url, sizeof(url), "redis://:pw-secret@127.0.0.1:%d", th_free_port());
    r = conn(url, 2000);
    assert_int_equal(dh_redis_commandf(r, NULL, "PING"), DH_ERR_IO);
    assert_int_equal(dh_redis_connect(r), DH_ERR_IO);
    assert_true(now_ms() - t0 < 1000);
    assert_null(strstr(dh_redis_errstr(r), "pw-secret"));
    dh_redis_destroy(r);
}

static void test_url_handling(void **state)
{
    static const char *const bad[] = {
        "redis://:hunter2@127.0.0.1:notaport",
        "redis://:hunter2@:6379",
        "rediss://h:1",
        "redis://h:70000",
        "redis://h:1/x",
        "",
    };
    char err[256];
    char url[300];
    dh_redis_opts_t o = {.timeout_ms = 1000};
    dh_redis_t *r;
    dh_redis_t *db0;
    redisReply *reply = NULL;
    (void)state;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        o.url = bad[i];
        err[0] = '\0';
        assert_null(dh_redis_new(&o, err, sizeof(err)));
        assert_true(strlen(err) > 0);
        assert_null(strstr(err, "hunter2"));
    }
    dh_redis_destroy(NULL);

    /* A wrong password: AUTH fails, and the text never carries the password. */
    snprintf(url, sizeof(url), "redis://:wrong-pass-xyz@%s", g_hostport);
    r = conn(url, 1000);
    assert_int_not_equal(dh_redis_connect(r), DH_OK);
    assert_null(strstr(dh_redis_errstr(r), "wrong-pass-xyz"));
    dh_redis_destroy(r);

    /* Bare host:port and a database number. */
    snprintf(url, sizeof(url), "%s/7", g_hostport);
    r = conn(url, 1000);
    db0 = conn(g_hostport, 1000);
    assert_int_equal(dh_redis_commandf(r, NULL, "SET %s:db7 x", g_prefix), DH_OK);
    assert_int_equal(dh_redis_commandf(db0, &reply, "EXISTS %s:db7", g_prefix), DH_OK);
    assert_int_equal(reply->integer, 0);
    freeReplyObject(reply);
    assert_int_equal(dh_redis_commandf(r, NULL, "DEL %s:db7", g_prefix), DH_OK);
    dh_redis_destroy(db0);
    dh_redis_destroy(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_command_and_binary_values),
        cmocka_unit_test(test_error_reply),
        cmocka_unit_test(test_pipeline),
        cmocka_unit_test(test_eval_noscript_fallback),
        cmocka_unit_test(test_reply_cap),
        cmocka_unit_test(test_timeout_then_reconnect),
        cmocka_unit_test(test_unreachable),
        cmocka_unit_test(test_url_handling),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
