/*
 * Unit tests for the log module: every line is parsed back with jansson, so escaping,
 * truncation and the thread-local context are checked as JSON, not as text.
 */
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dockhand/log.h"
#include "log_internal.h"

/* cmocka.h needs these three first; keep clang-format from sorting it above them. */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
/* clang-format on */

#define MAX_LINES 16

typedef struct capture {
    int rd;
    int wr;
    int old_fd;
    char buf[256 * 1024];
    size_t len;
} capture_t;

static int setup(void **state)
{
    capture_t *c = calloc(1, sizeof(*c));
    int fds[2];

    assert_non_null(c);
    assert_int_equal(pipe(fds), 0);
    c->rd = fds[0];
    c->wr = fds[1];
    assert_int_equal(fcntl(c->rd, F_SETFL, O_NONBLOCK), 0);
    c->old_fd = dh_log_set_fd(c->wr);
    dh_log_init("inventory", DH_LOG_DEBUG);
    dh_log_ctx_set(NULL);
    *state = c;
    return 0;
}

static int teardown(void **state)
{
    capture_t *c = *state;

    dh_log_set_fd(c->old_fd);
    dh_log_ctx_set(NULL);
    close(c->rd);
    close(c->wr);
    free(c);
    return 0;
}

/* Drain the pipe and split it into lines (NUL-terminated in place). */
static size_t read_lines(capture_t *c, char **lines)
{
    ssize_t n;
    size_t count = 0;
    char *p;

    c->len = 0;
    for (;;) {
        n = read(c->rd, c->buf + c->len, sizeof(c->buf) - 1 - c->len);
        if (n <= 0) {
            break;
        }
        c->len += (size_t)n;
    }
    c->buf[c->len] = '\0';
    p = c->buf;
    while (*p && count < MAX_LINES) {
        char *nl = strchr(p, '\n');

        assert_non_null(nl); /* every line ends with a newline */
        *nl = '\0';
        lines[count++] = p;
        p = nl + 1;
    }
    return count;
}

/* Parse the single line written since the last read. Caller json_decref()s. */
static json_t *one_line(capture_t *c)
{
    char *lines[MAX_LINES];
    json_error_t jerr;
    json_t *j;

    assert_int_equal(read_lines(c, lines), 1);
    assert_true(strlen(lines[0]) + 1 <= DH_LOG_LINE_MAX);
    j = json_loads(lines[0], JSON_ALLOW_NUL, &jerr);
    if (!j) {
        fail_msg("invalid JSON (%s): %s", jerr.text, lines[0]);
    }
    return j;
}

static const char *jstr(json_t *j, const char *key)
{
    return json_string_value(json_object_get(j, key));
}

/* "YYYY-MM-DDTHH:MM:SS" of the clock now, in \p out (32 bytes); returns \p out. */
static const char *utc_now(char *out)
{
    struct timespec ts;
    struct tm tm;

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
    return out;
}

static void test_basic_line(void **state)
{
    capture_t *c = *state;
    json_t *j;
    const char *ts;

    char before[32], after[32];

    utc_now(before);
    dh_log_write(DH_LOG_INFO, "consumer", "hello %d", 42);
    j = one_line(c);
    ts = jstr(j, "ts");
    assert_non_null(ts);
    assert_int_equal(strlen(ts), strlen("2026-11-27T10:00:00.123Z"));
    assert_int_equal(ts[10], 'T');
    assert_int_equal(ts[19], '.');
    assert_int_equal(ts[23], 'Z');
    /* The clock's second (formatted once per second per thread) is the one the line was
     * written in: the second read before it or the one after. */
    assert_true(strncmp(ts, before, 19) == 0 || strncmp(ts, utc_now(after), 19) == 0);
    assert_true(ts[20] >= '0' && ts[20] <= '9' && ts[22] >= '0' && ts[22] <= '9');
    assert_string_equal(jstr(j, "level"), "info");
    assert_string_equal(jstr(j, "worker"), "inventory");
    assert_string_equal(jstr(j, "component"), "consumer");
    assert_string_equal(jstr(j, "msg"), "hello 42");
    assert_null(json_object_get(j, "topic"));
    assert_null(json_object_get(j, "key"));
    assert_int_equal(json_object_size(j), 5);
    json_decref(j);
}

static void test_level_filter(void **state)
{
    capture_t *c = *state;
    static const struct {
        dh_log_level_t min;
        int expect[4]; /* debug, info, warn, error written? */
    } cases[] = {
        {DH_LOG_DEBUG, {1, 1, 1, 1}},
        {DH_LOG_INFO, {0, 1, 1, 1}},
        {DH_LOG_WARN, {0, 0, 1, 1}},
        {DH_LOG_ERROR, {0, 0, 0, 1}},
    };
    static const char *const names[] = {"debug", "info", "warn", "error"};

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *lines[MAX_LINES];
        size_t n;
        size_t k = 0;

        dh_log_init("inventory", cases[i].min);
        for (int lvl = DH_LOG_DEBUG; lvl <= DH_LOG_ERROR; lvl++) {
            assert_int_equal(dh_log_enabled((dh_log_level_t)lvl) != 0, cases[i].expect[lvl]);
            DH_LOG((dh_log_level_t)lvl, "t", "level %d", lvl);
        }
        n = read_lines(c, lines);
        for (int lvl = DH_LOG_DEBUG; lvl <= DH_LOG_ERROR; lvl++) {
            json_t *j;

            if (!cases[i].expect[lvl]) {
                continue;
            }
            assert_true(k < n);
            j = json_loads(lines[k++], 0, NULL);
            assert_non_null(j);
            assert_string_equal(jstr(j, "level"), names[lvl]);
            json_decref(j);
        }
        assert_int_equal(k, n);
    }
}

static void test_escaping(void **state)
{
    capture_t *c = *state;
    static const struct {
        const char *in;
        const char *decoded;
    } cases[] = {
        {"plain", "plain"},
        {"quote \" and backslash \\", "quote \" and backslash \\"},
        {"nl\ncr\rtab\t", "nl\ncr\rtab\t"},
        {"ctl \x01\x1f bell\a", "ctl \x01\x1f bell\a"},
        {"utf8 \xc3\xa9 \xe2\x82\xac \xf0\x9f\x93\xa6",
         "utf8 \xc3\xa9 \xe2\x82\xac \xf0\x9f\x93\xa6"},
        {"bad \xff end", "bad \xef\xbf\xbd end"},
        {"overlong \xc0\xaf", "overlong \xef\xbf\xbd\xef\xbf\xbd"},
        {"surrogate \xed\xa0\x80", "surrogate \xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},
        {"cut \xe2\x82", "cut \xef\xbf\xbd\xef\xbf\xbd"},
        {"del \x7f", "del \x7f"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *j;

        dh_log_write(DH_LOG_INFO, "esc\"comp", "%s", cases[i].in);
        j = one_line(c);
        assert_string_equal(jstr(j, "msg"), cases[i].decoded);
        assert_string_equal(jstr(j, "component"), "esc\"comp");
        json_decref(j);
    }
}

static void test_context_fields(void **state)
{
    capture_t *c = *state;
    static const char key[] = {'s', 'k', 'u', '\0', '"', '\xff'};
    dh_log_ctx_t ctx = {"wms.putaway", 3, 42, key, sizeof(key), "evt-1"};
    json_t *j;
    json_t *k;

    dh_log_ctx_set(&ctx);
    dh_log_write(DH_LOG_WARN, "consumer", "retrying");
    j = one_line(c);
    assert_string_equal(jstr(j, "topic"), "wms.putaway");
    assert_int_equal(json_integer_value(json_object_get(j, "partition")), 3);
    assert_int_equal(json_integer_value(json_object_get(j, "offset")), 42);
    assert_string_equal(jstr(j, "event_id"), "evt-1");
    k = json_object_get(j, "key");
    assert_int_equal(json_string_length(k), 8);
    assert_memory_equal(json_string_value(k), "sku\0\"\xef\xbf\xbd", 8);
    json_decref(j);

    /* No topic: no topic/partition/offset; no key or event id: those are absent too. */
    ctx.topic = NULL;
    ctx.key = NULL;
    ctx.event_id = NULL;
    dh_log_write(DH_LOG_INFO, "consumer", "x");
    j = one_line(c);
    assert_int_equal(json_object_size(j), 5);
    json_decref(j);

    dh_log_ctx_set(NULL);
    dh_log_write(DH_LOG_INFO, "consumer", "cleared");
    j = one_line(c);
    assert_null(json_object_get(j, "topic"));
    json_decref(j);
}

static void *other_thread(void *arg)
{
    dh_log_write(DH_LOG_INFO, "other", "from another thread");
    return arg;
}

static void test_context_is_per_thread(void **state)
{
    capture_t *c = *state;
    dh_log_ctx_t ctx = {"wms.putaway", 1, 7, NULL, 0, NULL};
    pthread_t t;
    json_t *j;

    dh_log_ctx_set(&ctx);
    assert_int_equal(pthread_create(&t, NULL, other_thread, NULL), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    j = one_line(c);
    assert_string_equal(jstr(j, "component"), "other");
    assert_null(json_object_get(j, "topic"));
    json_decref(j);
    dh_log_ctx_set(NULL);
}

static void test_truncation(void **state)
{
    capture_t *c = *state;
    static const char fill[] = {'x', '\x01', '"', '\xe2'}; /* 1, 6, 2 and 6 bytes escaped */
    static char big_key[4096];
    dh_log_ctx_t ctx = {"wms.putaway", 0, 1, big_key, sizeof(big_key), "evt-9"};
    char *msg = malloc(20001);

    assert_non_null(msg);
    memset(big_key, '\x02', sizeof(big_key));
    for (size_t f = 0; f < sizeof(fill); f++) {
        for (int with_ctx = 0; with_ctx <= 1; with_ctx++) {
            json_t *j;
            const char *m;
            size_t mlen;

            memset(msg, fill[f], 20000);
            msg[20000] = '\0';
            dh_log_ctx_set(with_ctx ? &ctx : NULL);
            dh_log_write(DH_LOG_ERROR, "big", "%s", msg);
            j = one_line(c); /* also asserts the line fits DH_LOG_LINE_MAX */
            m = jstr(j, "msg");
            mlen = strlen(m);
            assert_true(mlen > 1000);
            assert_string_equal(m + mlen - 3, "\xe2\x80\xa6");
            if (with_ctx) {
                assert_string_equal(jstr(j, "event_id"), "evt-9");
                assert_non_null(jstr(j, "key"));
            }
            json_decref(j);
        }
    }
    dh_log_ctx_set(NULL);
    free(msg);
}

/* A hold gathers INFO lines and writes them whole, in order, at its end; a WARN line
 * writes what was gathered first. Nothing reaches the pipe while the hold has room. */
static void test_hold(void **state)
{
    capture_t *c = *state;
    char *lines[MAX_LINES];
    char probe;

    dh_log_hold_begin();
    for (int i = 0; i < 5; i++) {
        dh_log_write(DH_LOG_INFO, "effect", "applied %d", i);
    }
    dh_log_write(DH_LOG_DEBUG, "effect", "detail");
    assert_int_equal(read(c->rd, &probe, 1), -1); /* held: nothing written yet */
    dh_log_hold_end();
    assert_int_equal(read_lines(c, lines), 6);
    for (int i = 0; i < 5; i++) {
        char want[32];

        snprintf(want, sizeof(want), "\"msg\":\"applied %d\"", i);
        assert_non_null(strstr(lines[i], want));
    }
    assert_non_null(strstr(lines[5], "\"msg\":\"detail\""));

    /* A warning writes the held lines, then itself, at once. */
    dh_log_hold_begin();
    dh_log_write(DH_LOG_INFO, "effect", "before");
    dh_log_write(DH_LOG_WARN, "lane", "trouble");
    assert_int_equal(read_lines(c, lines), 2);
    assert_non_null(strstr(lines[0], "\"msg\":\"before\""));
    assert_non_null(strstr(lines[1], "\"msg\":\"trouble\""));
    dh_log_write(DH_LOG_INFO, "effect", "after");
    assert_int_equal(read(c->rd, &probe, 1), -1);
    dh_log_hold_end();
    assert_int_equal(read_lines(c, lines), 1);

    /* Past PIPE_BUF bytes the gathered lines are written, whole, during the hold. */
    dh_log_hold_begin();
    for (int i = 0; i < 25; i++) { /* about 5 KB: one write of whole lines, the rest held */
        dh_log_write(DH_LOG_INFO, "effect", "line %02d %0100d", i, 0);
    }
    c->len = 0;
    {
        ssize_t n = read(c->rd, c->buf, sizeof(c->buf) - 1);

        assert_true(n > 0 && n <= 4096);
        assert_int_equal(c->buf[n - 1], '\n');
    }
    dh_log_hold_end();
    /* After the hold, lines are written one by one again. */
    while (read(c->rd, c->buf, sizeof(c->buf)) > 0) {
    }
    dh_log_write(DH_LOG_INFO, "effect", "free");
    assert_int_equal(read_lines(c, lines), 1);
}

static void test_level_parse(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        dh_err_t err;
        dh_log_level_t level;
    } cases[] = {
        {"debug", DH_OK, DH_LOG_DEBUG},
        {"info", DH_OK, DH_LOG_INFO},
        {"warn", DH_OK, DH_LOG_WARN},
        {"error", DH_OK, DH_LOG_ERROR},
        {"verbose", DH_ERR_INVALID, DH_LOG_INFO},
        {"", DH_ERR_INVALID, DH_LOG_INFO},
        {NULL, DH_ERR_INVALID, DH_LOG_INFO},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        dh_log_level_t lvl = DH_LOG_INFO;

        assert_int_equal(dh_log_level_parse(cases[i].in, &lvl), cases[i].err);
        assert_int_equal(lvl, cases[i].level);
    }
}

static void test_escape_never_splits(void **state)
{
    (void)state;
    char out[16];
    size_t used = 0;
    size_t n;

    /* "ab" + \u0001 needs 8 bytes: with 7 only "ab" fits, and nothing half-written. */
    n = dh_log_json_escape(out, 7, "ab\x01", 3, &used);
    assert_int_equal(n, 2);
    assert_int_equal(used, 2);
    n = dh_log_json_escape(out, 3, "\xc3\xa9\xc3\xa9", 4, &used);
    assert_int_equal(n, 2);
    assert_int_equal(used, 2);
    n = dh_log_json_escape(out, sizeof(out), "a\"\\", 3, &used);
    assert_int_equal(n, 5);
    assert_memory_equal(out, "a\\\"\\\\", 5);
    /* A plain run is copied as far as it fits, and escaping resumes after it. */
    n = dh_log_json_escape(out, 4, "abcdefgh", 8, &used);
    assert_int_equal(n, 4);
    assert_int_equal(used, 4);
    assert_memory_equal(out, "abcd", 4);
    n = dh_log_json_escape(out, sizeof(out), "ab\ncd\x7f\xe2\x80\xa6", 9, &used);
    assert_int_equal(n, 10);
    assert_int_equal(used, 9);
    assert_memory_equal(out, "ab\\ncd\x7f\xe2\x80\xa6", 10);
}

/* librdkafka's callback: syslog levels mapped, client name and facility in the message. */
static void test_rdkafka_callback(void **state)
{
    capture_t *c = *state;
    json_t *j;

    dh_log_rdkafka(NULL, 3, "FAIL", "Connect to ipv4#127.0.0.1:1 failed: \"refused\"");
    j = one_line(c);
    assert_string_equal(jstr(j, "level"), "error");
    assert_string_equal(jstr(j, "component"), "librdkafka");
    assert_string_equal(jstr(j, "msg"), "- FAIL: Connect to ipv4#127.0.0.1:1 failed: \"refused\"");
    json_decref(j);
    dh_log_rdkafka(NULL, 4, "WARN", "w");
    j = one_line(c);
    assert_string_equal(jstr(j, "level"), "warn");
    json_decref(j);
    dh_log_rdkafka(NULL, 6, "STATE", "s");
    j = one_line(c);
    assert_string_equal(jstr(j, "level"), "debug");
    json_decref(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_basic_line, setup, teardown),
        cmocka_unit_test_setup_teardown(test_level_filter, setup, teardown),
        cmocka_unit_test_setup_teardown(test_escaping, setup, teardown),
        cmocka_unit_test_setup_teardown(test_context_fields, setup, teardown),
        cmocka_unit_test_setup_teardown(test_context_is_per_thread, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rdkafka_callback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hold, setup, teardown),
        cmocka_unit_test(test_level_parse),
        cmocka_unit_test(test_escape_never_splits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
