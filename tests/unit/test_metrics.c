/*
 * Unit tests for metrics: exact exposition text for a small registry, histogram
 * bucket semantics, registry rules, label escaping, and lock-free updates under threads.
 */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dockhand/metrics.h"

/* cmocka.h needs these three first; keep clang-format from sorting it above them. */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
/* clang-format on */

/* noinline: GCC 12 -O3 reports a false -Wdangling-pointer when this is inlined into callers. */
__attribute__((noinline)) static char *render(dh_metrics_t *m)
{
    char *text = NULL;
    size_t len = 99;

    assert_int_equal(dh_metrics_render(m, &text, &len), DH_OK);
    assert_non_null(text);
    assert_int_equal(len, strlen(text));
    return text;
}

static void test_render_exact(void **state)
{
    (void)state;
    static const double bounds[] = {0.25, 1, 4};
    dh_metrics_t *m = dh_metrics_new();
    dh_counter_t *a =
        dh_metrics_counter(m, "dh_events_total", "Events handled.", "topic=\"a\",outcome=\"done\"");
    dh_counter_t *b = dh_metrics_counter(m, "dh_events_total", "ignored", "topic=\"b\"");
    dh_gauge_t *g = dh_metrics_gauge(m, "dh_lag", "Consumer lag.\nSecond \\ line.", NULL);
    dh_histogram_t *h =
        dh_metrics_histogram(m, "dh_latency_seconds", "Handling time.", "topic=\"a\"", bounds, 3);
    dh_histogram_t *plain = dh_metrics_histogram(m, "dh_latency_seconds", NULL, "", bounds, 3);
    char *text;

    dh_counter_add(a, 3);
    dh_counter_add(b, 1);
    dh_gauge_set(g, 1.5);
    dh_gauge_add(g, -0.25);
    dh_histogram_observe(h, 0.125);
    dh_histogram_observe(h, 0.25); /* le is inclusive */
    dh_histogram_observe(h, 0.5);
    dh_histogram_observe(h, 8);
    dh_histogram_observe(plain, 0.1);
    text = render(m);
    assert_string_equal(text, "# HELP dh_events_total Events handled.\n"
                              "# TYPE dh_events_total counter\n"
                              "dh_events_total{topic=\"a\",outcome=\"done\"} 3\n"
                              "dh_events_total{topic=\"b\"} 1\n"
                              "# HELP dh_lag Consumer lag.\\nSecond \\\\ line.\n"
                              "# TYPE dh_lag gauge\n"
                              "dh_lag 1.25\n"
                              "# HELP dh_latency_seconds Handling time.\n"
                              "# TYPE dh_latency_seconds histogram\n"
                              "dh_latency_seconds_bucket{topic=\"a\",le=\"0.25\"} 2\n"
                              "dh_latency_seconds_bucket{topic=\"a\",le=\"1\"} 3\n"
                              "dh_latency_seconds_bucket{topic=\"a\",le=\"4\"} 3\n"
                              "dh_latency_seconds_bucket{topic=\"a\",le=\"+Inf\"} 4\n"
                              "dh_latency_seconds_sum{topic=\"a\"} 8.875\n"
                              "dh_latency_seconds_count{topic=\"a\"} 4\n"
                              "dh_latency_seconds_bucket{le=\"0.25\"} 1\n"
                              "dh_latency_seconds_bucket{le=\"1\"} 1\n"
                              "dh_latency_seconds_bucket{le=\"4\"} 1\n"
                              "dh_latency_seconds_bucket{le=\"+Inf\"} 1\n"
                              "dh_latency_seconds_sum 0.1\n"
                              "dh_latency_seconds_count 1\n");
    free(text);
    dh_metrics_destroy(m);
}

static void test_empty_registry(void **state)
{
    (void)state;
    dh_metrics_t *m = dh_metrics_new();
    char *text = render(m);

    assert_string_equal(text, "");
    free(text);
    dh_metrics_destroy(m);
    dh_metrics_destroy(NULL);
}

/* The cumulative count of h_bucket{le="<le>"} in \p text. */
static unsigned long bucket(const char *text, const char *le)
{
    char want[64];
    const char *at;
    unsigned long n = 0;

    snprintf(want, sizeof(want), "h_bucket{le=\"%s\"} ", le);
    at = strstr(text, want);
    assert_non_null(at);
    assert_int_equal(sscanf(at + strlen(want), "%lu", &n), 1);
    return n;
}

static void test_histogram_buckets(void **state)
{
    (void)state;
    /* Unsorted, duplicated and infinite bounds are normalised to 1, 2, 5. */
    static const double bounds[] = {5, 1, 2, 1, INFINITY};
    static const struct {
        double v;
        const char *expect; /* cumulative counts for le=1,2,5,+Inf after this observation */
    } steps[] = {
        {0.5, "1 1 1 1"}, {1, "2 2 2 2"}, {1.5, "2 3 3 3"},
        {5, "2 3 4 4"},   {6, "2 3 4 5"}, {-3, "3 4 5 6"},
    };
    dh_metrics_t *m = dh_metrics_new();
    dh_histogram_t *h = dh_metrics_histogram(m, "h", "h", NULL, bounds, 5);

    assert_non_null(h);
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        char *text;
        char got[64];

        dh_histogram_observe(h, steps[i].v);
        text = render(m);
        snprintf(got, sizeof(got), "%lu %lu %lu %lu", bucket(text, "1"), bucket(text, "2"),
                 bucket(text, "5"), bucket(text, "+Inf"));
        assert_string_equal(got, steps[i].expect);
        free(text);
    }
    dh_metrics_destroy(m);
}

static void test_registry_rules(void **state)
{
    (void)state;
    dh_metrics_t *m = dh_metrics_new();
    dh_counter_t *c = dh_metrics_counter(m, "x_total", "x", "a=\"1\"");

    assert_non_null(c);
    assert_ptr_equal(dh_metrics_counter(m, "x_total", "x", "a=\"1\""), c);
    assert_ptr_not_equal(dh_metrics_counter(m, "x_total", "x", "a=\"2\""), c);
    assert_null(dh_metrics_gauge(m, "x_total", "x", NULL)); /* other type */
    assert_null(dh_metrics_counter(m, "1bad", "x", NULL));
    assert_null(dh_metrics_counter(m, "bad-name", "x", NULL));
    assert_null(dh_metrics_counter(m, "", "x", NULL));
    assert_non_null(dh_metrics_gauge(m, "ns:ok_name", "x", NULL));
    /* NULL series (failed creation) are no-ops, never crashes. */
    dh_counter_add(NULL, 1);
    dh_gauge_set(NULL, 1);
    dh_gauge_add(NULL, 1);
    dh_histogram_observe(NULL, 1);
    assert_int_equal(dh_counter_value(NULL), 0);
    dh_metrics_destroy(m);
}

static void test_escape(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        size_t size;
        const char *out;
    } cases[] = {
        {"plain", 64, "plain"}, {"a\"b\\c\nd", 64, "a\\\"b\\\\c\\nd"},
        {"abcdef", 4, "abc"},   {"ab\"", 4, "ab"}, /* never a lone trailing backslash */
        {"ab\"", 5, "ab\\\""},  {"", 8, ""},
        {NULL, 8, ""},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char buf[64];

        memset(buf, 'Z', sizeof(buf));
        dh_metrics_escape(cases[i].in, buf, cases[i].size);
        assert_string_equal(buf, cases[i].out);
    }
}

/* A per-store series' label: the domain as an escaped label value. */
static void test_store_label(void **state)
{
    char buf[64];

    (void)state;
    dh_metrics_store_label("acme.myshopify.com", buf, sizeof(buf));
    assert_string_equal(buf, "store=\"acme.myshopify.com\"");
    dh_metrics_store_label("a\"b", buf, sizeof(buf));
    assert_string_equal(buf, "store=\"a\\\"b\"");
}

#define THREADS 4
#define ROUNDS  100000

typedef struct shared {
    dh_metrics_t *m;
    dh_counter_t *c;
    dh_gauge_t *g;
    dh_histogram_t *h;
    atomic_int failures; /* cmocka asserts must not run off the main thread */
} shared_t;

static void *hammer(void *arg)
{
    shared_t *s = arg;

    for (int i = 0; i < ROUNDS; i++) {
        dh_counter_add(s->c, 1);
        dh_gauge_add(s->g, 1.0);
        dh_histogram_observe(s->h, (i & 1) ? 0.5 : 2.0);
        if (i % 10000 == 0) {
            /* Creation and rendering race with the updates. */
            char *text = NULL;
            size_t len = 0;

            if (dh_metrics_counter(s->m, "c_total", "c", NULL) != s->c ||
                dh_metrics_render(s->m, &text, &len) != DH_OK) {
                atomic_fetch_add(&s->failures, 1);
            }
            free(text);
        }
    }
    return NULL;
}

static void test_concurrency(void **state)
{
    (void)state;
    static const double bounds[] = {1};
    shared_t s;
    pthread_t t[THREADS];
    char *text;

    atomic_init(&s.failures, 0);
    s.m = dh_metrics_new();
    s.c = dh_metrics_counter(s.m, "c_total", "c", NULL);
    s.g = dh_metrics_gauge(s.m, "g", "g", NULL);
    s.h = dh_metrics_histogram(s.m, "h", "h", NULL, bounds, 1);
    for (int i = 0; i < THREADS; i++) {
        assert_int_equal(pthread_create(&t[i], NULL, hammer, &s), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        assert_int_equal(pthread_join(t[i], NULL), 0);
    }
    assert_int_equal(atomic_load(&s.failures), 0);
    assert_int_equal(dh_counter_value(s.c), (uint64_t)THREADS * ROUNDS);
    assert_true(dh_gauge_value(s.g) == (double)THREADS * ROUNDS);
    text = render(s.m);
    assert_non_null(strstr(text, "c_total 400000\n"));
    assert_non_null(strstr(text, "h_bucket{le=\"1\"} 200000\n"));
    assert_non_null(strstr(text, "h_bucket{le=\"+Inf\"} 400000\n"));
    assert_non_null(strstr(text, "h_sum 500000\n"));
    assert_non_null(strstr(text, "h_count 400000\n"));
    free(text);
    dh_metrics_destroy(s.m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_render_exact),
        cmocka_unit_test(test_empty_registry),
        cmocka_unit_test(test_histogram_buckets),
        cmocka_unit_test(test_registry_rules),
        cmocka_unit_test(test_escape),
        cmocka_unit_test(test_store_label),
        cmocka_unit_test(test_concurrency),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
