/*
 * dh-console's pure parts: the metrics it sums, the form it parses, the CSRF token it
 * binds to a session, and the escaping of what Kafka and Redis hand it (a dead letter's
 * class or payload is text anyone who can produce to a topic controls).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "console.h"

static void test_metric_sum(void **state)
{
    const char *text = "# HELP dh_inflight_events Events fetched, unfinished.\n"
                       "# TYPE dh_inflight_events gauge\n"
                       "dh_inflight_events{worker=\"a\",topic=\"x\"} 3\n"
                       "dh_inflight_events{worker=\"a\",topic=\"y\"} 4\n"
                       "dh_inflight_events_total 100\n"
                       "dh_paused_partitions 2\n";

    (void)state;
    assert_true(console_metric_sum(text, "dh_inflight_events") == 7.0);
    assert_true(console_metric_sum(text, "dh_paused_partitions") == 2.0);
    assert_true(console_metric_sum(text, "dh_dead_letters_total") == 0.0);
}

static void test_form(void **state)
{
    const char *body = "xtopic=no&topic=a.dlq&class=needs+review%2Fx&token=t%26k&empty=";
    char out[64];

    (void)state;
    console_form_get(body, "topic", out, sizeof(out));
    assert_string_equal(out, "a.dlq");
    console_form_get(body, "class", out, sizeof(out));
    assert_string_equal(out, "needs review/x");
    console_form_get(body, "token", out, sizeof(out));
    assert_string_equal(out, "t&k");
    console_form_get(body, "empty", out, sizeof(out));
    assert_string_equal(out, "");
    console_form_get(body, "csrf", out, sizeof(out));
    assert_string_equal(out, "");
    console_form_get(body, "class", out, 5); /* truncated, never overrun */
    assert_string_equal(out, "need");
}

static void test_csrf(void **state)
{
    console_t a = {.o = {.prog = "t"}}, b = {.o = {.prog = "t"}};
    char t1[80], t2[80], t3[80], t4[80];

    (void)state;
    memset(a.secret, 1, sizeof(a.secret));
    memset(b.secret, 2, sizeof(b.secret));
    console_csrf(&a, "0123456789abcdef0123456789abcdef", t1, sizeof(t1));
    console_csrf(&a, "0123456789abcdef0123456789abcdef", t2, sizeof(t2));
    console_csrf(&a, "fedcba9876543210fedcba9876543210", t3, sizeof(t3));
    console_csrf(&b, "0123456789abcdef0123456789abcdef", t4, sizeof(t4));
    assert_int_equal(strlen(t1), 64);
    assert_true(console_same(t1, t2));
    assert_false(console_same(t1, t3)); /* another session */
    assert_false(console_same(t1, t4)); /* another process (a restart) */
    console_csrf(&a, "", t3, sizeof(t3));
    assert_string_equal(t3, ""); /* no session, no token */
    assert_false(console_same("", ""));
    assert_false(console_same(t1, NULL));
    assert_false(console_same("abc", "abcd"));
}

static char *render(const char *page, json_t *data)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    assert_non_null(f);
    console_html_page(f, page, data, 0, "c5rf");
    fclose(f);
    json_decref(data);
    return buf;
}

static void test_escaped(void **state)
{
    json_t *letter = json_pack("{s:i, s:I, s:s, s:s, s:s}", "partition", 0, "offset", (json_int_t)7,
                               "error-class", "<script>x()</script>", "key", "k\"><img>", "time",
                               "2026-12-02T00:00:00.000Z");
    json_t *d =
        json_pack("{s:[{s:s, s:b, s:I, s:{s:i}, s:[o]}]}", "topics", "topic", "t'.dlq", "ok", 1,
                  "total", (json_int_t)1, "classes", "<script>x()</script>", 1, "rows", letter);
    char *html = render("dlq", d);

    (void)state;
    assert_null(strstr(html, "<script>"));
    assert_null(strstr(html, "<img>"));
    assert_non_null(strstr(html, "&lt;script&gt;x()&lt;/script&gt;"));
    assert_non_null(strstr(html, "data-k=\"dlq:t&#39;.dlq:&lt;script&gt;x()&lt;/script&gt;\">1<"));
    assert_non_null(strstr(html, "/letter?topic=t%27.dlq&amp;p=0&amp;o=7"));
    assert_non_null(strstr(html, "name=csrf value=\"c5rf\""));
    free(html);
    html = render("letter", json_pack("{s:s, s:i, s:I, s:s}", "topic", "a.dlq", "partition", 0,
                                      "offset", (json_int_t)1, "payload", "</pre><b>x</b>"));
    assert_null(strstr(html, "<b>x</b>"));
    assert_non_null(strstr(html, "&lt;/pre&gt;&lt;b&gt;x&lt;/b&gt;"));
    free(html);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_metric_sum),
        cmocka_unit_test(test_form),
        cmocka_unit_test(test_csrf),
        cmocka_unit_test(test_escaped),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
