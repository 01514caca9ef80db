/*
 * Large events under a small DH_MAX_INFLIGHT_BYTES: the bytes of fetched, unfinished events
 * (sampled from /metrics while the worker runs) never pass the bound by more than one
 * event, every effect is still performed exactly once (every performance counted at the
 * test far side, the run's journal), and since the backlog is larger
 * than librdkafka's own queue bound, its fetcher stops with a full queue and the runtime
 * has to wake it (dh_fetch_nudges_total).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "harness.h"

#define N         600
#define KEYS      60
#define PAD       16384
#define MAX_BYTES 262144
/* One event's cost: its payload plus the key, the event struct and JSON (well under this). */
#define EVENT_MAX (PAD + 512)

struct sampler {
    pthread_t thread;
    int running;
    char url[128];
    atomic_int stop;
    double max_bytes; /* largest dh_inflight_bytes seen */
    int samples, failures;
};

/* For the teardown, should an assertion end the test early. */
static pid_t g_worker;
static struct sampler g_s;

static void sampler_stop(struct sampler *s)
{
    if (s->running) {
        atomic_store(&s->stop, 1);
        pthread_join(s->thread, NULL);
        s->running = 0;
    }
}

/* The value of the first sample of \p name in a Prometheus text page, or -1. */
static double metric(const char *page, const char *name)
{
    size_t len = strlen(name);
    const char *line = page;

    while (line && *line) {
        if (!strncmp(line, name, len) && (line[len] == '{' || line[len] == ' ')) {
            const char *v = strchr(line + len, ' ');

            return v ? strtod(v, NULL) : -1;
        }
        line = strchr(line, '\n');
        line = line ? line + 1 : NULL;
    }
    return -1;
}

static double scrape(const char *url, const char *name)
{
    char *page = NULL;
    double v = -1;

    if (th_http("GET", url, NULL, NULL, &page) == 200 && page) {
        v = metric(page, name);
    }
    free(page);
    return v;
}

/* Its own thread, so the 20 ms cadence does not depend on the harness's waits; it must
 * not assert (cmocka's failures unwind the test thread only), so it only counts. */
static void *sample_main(void *arg)
{
    struct sampler *s = arg;

    while (!atomic_load(&s->stop)) {
        double v = scrape(s->url, "dh_inflight_bytes");

        if (v < 0) {
            s->failures++;
        } else {
            s->samples++;
            s->max_bytes = v > s->max_bytes ? v : s->max_bytes;
        }
        th_sleep_ms(20);
    }
    return NULL;
}

struct admin {
    const char *log;
    int port;
};

static int admin_logged(void *ud)
{
    struct admin *a = ud;
    const char *mark = "admin endpoints on ";
    char line[1024];
    FILE *f = fopen(a->log, "r");

    while (f && fgets(line, sizeof(line), f)) {
        const char *at = strstr(line, mark), *colon;

        /* "<bind address>:<port>"; the address may be 0.0.0.0, loopback reaches it either way. */
        if (at && (colon = strchr(at + strlen(mark), ':'))) {
            a->port = atoi(colon + 1);
        }
    }
    if (f) {
        fclose(f);
    }
    return a->port > 0;
}

static void test_inflight_bytes_bounded(void **state)
{
    th_run_t run;
    struct admin adm = {NULL, 0};
    struct sampler *s = &g_s;
    int64_t t0;

    (void)state;
    th_run_init(&run, "bytes", 3);
    th_run_setenv(&run, "DH_MAX_INFLIGHT_BYTES", "262144");
    th_run_setenv(&run, "DH_TEST_SLEEP_MS", "3");
    th_run_setenv(&run, "DH_LANES", "4");
    /* 600 x 16 KiB = 9.6 MB: more than librdkafka's queue holds (8 MiB). */
    th_run_produce_padded(&run, N, KEYS, 0, PAD);
    t0 = th_now_ms();
    g_worker = th_run_worker(&run);
    adm.log = run.log;
    assert_true(th_wait_for(admin_logged, &adm, 30000));
    snprintf(s->url, sizeof(s->url), "http://127.0.0.1:%d/metrics", adm.port);
    assert_int_equal(pthread_create(&s->thread, NULL, sample_main, s), 0);
    s->running = 1;

    int done = th_run_wait_performed(&run, N, 120000);
    int64_t took = th_now_ms() - t0;
    sampler_stop(s);
    double nudges = scrape(s->url, "dh_fetch_nudges_total");
    /* Stopped before the checks, so a failed one still shows how the worker exits. */
    kill(g_worker, SIGTERM);
    int status = th_wait_exit(g_worker, 30000);
    g_worker = 0;
    fprintf(stderr,
            "%d events in %lld ms from the worker's start; largest dh_inflight_bytes %.0f "
            "(bound %d + %d) over %d samples (%d failed); dh_fetch_nudges_total %.0f\n",
            N, (long long)took, s->max_bytes, MAX_BYTES, EVENT_MAX, s->samples, s->failures,
            nudges);

    assert_true(done);
    th_run_assert_once(&run, N); /* every performance counted at the far side */
    assert_int_equal(status, 0);
    assert_true(s->samples > 0);
    assert_true(s->max_bytes > 0);
    assert_true(s->max_bytes <= MAX_BYTES + EVENT_MAX);
    /* librdkafka stopped fetching with a full queue while the worker held back: only a
     * nudge restarts it before its broker thread's own once-a-second look. */
    assert_true(nudges >= 1);
}

static int teardown(void **state)
{
    (void)state;
    sampler_stop(&g_s);
    if (g_worker > 0 && th_alive(g_worker)) {
        kill(g_worker, SIGKILL);
        waitpid(g_worker, NULL, 0);
    }
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_inflight_bytes_bounded, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
