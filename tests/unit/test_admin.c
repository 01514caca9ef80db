/*
 * Unit tests for the admin HTTP port: a real server on 127.0.0.1 with an ephemeral port,
 * spoken to over a raw socket so the test does not depend on an HTTP client's behaviour.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "dockhand/admin.h"
#include "dockhand/metrics.h"
#include "dockhand/procmetrics.h"

/* cmocka.h needs these three first; keep clang-format from sorting it above them. */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
/* clang-format on */

typedef struct fixture {
    dh_metrics_t *m;
    dh_admin_t *admin;
    atomic_int healthy;
    atomic_int ready;
    atomic_int probes; /* times a probe ran */
} fixture_t;

typedef struct response {
    int status;
    char head[2048];
    char body[8192];
} response_t;

static int probe_healthy(void *ud, char *buf, size_t size)
{
    fixture_t *f = ud;

    atomic_fetch_add(&f->probes, 1);
    if (!atomic_load(&f->healthy)) {
        snprintf(buf, size, "poll loop stalled for 31s");
        return 0;
    }
    return 1;
}

static int probe_ready(void *ud, char *buf, size_t size)
{
    fixture_t *f = ud;

    atomic_fetch_add(&f->probes, 1);
    if (!atomic_load(&f->ready)) {
        snprintf(buf, size, "waiting for partition assignment");
        return 0;
    }
    return 1;
}

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof(*f));
    dh_admin_opts_t opts = {0};
    char err[256] = "";

    if (!f) {
        return -1;
    }
    atomic_init(&f->healthy, 1);
    atomic_init(&f->ready, 0);
    atomic_init(&f->probes, 0);
    f->m = dh_metrics_new();
    dh_counter_add(dh_metrics_counter(f->m, "dh_events_total", "Events.", "topic=\"t\""), 5);
    opts.bind_addr = "127.0.0.1";
    opts.port = 0;
    opts.metrics = f->m;
    opts.healthy = probe_healthy;
    opts.ready = probe_ready;
    opts.ud = f;
    if (dh_admin_start(&opts, &f->admin, err, sizeof(err)) != DH_OK) {
        fprintf(stderr, "start: %s\n", err);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;

    dh_admin_stop(f->admin);
    dh_metrics_destroy(f->m);
    free(f);
    return 0;
}

/* Send `req` verbatim and read until the server closes. */
static void http(int port, const char *req, response_t *r)
{
    struct sockaddr_in sa;
    char raw[16384];
    size_t len = 0;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    char *sep;

    assert_true(fd >= 0);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(send(fd, req, strlen(req), 0), (ssize_t)strlen(req));
    for (;;) {
        ssize_t n = recv(fd, raw + len, sizeof(raw) - 1 - len, 0);

        if (n <= 0) {
            break;
        }
        len += (size_t)n;
    }
    close(fd);
    raw[len] = '\0';
    assert_int_equal(sscanf(raw, "HTTP/1.%*d %d", &r->status), 1);
    sep = strstr(raw, "\r\n\r\n");
    assert_non_null(sep);
    snprintf(r->head, sizeof(r->head), "%.*s", (int)(sep - raw), raw);
    snprintf(r->body, sizeof(r->body), "%s", sep + 4);
}

static void get(int port, const char *path, response_t *r)
{
    char req[256];

    snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", path);
    http(port, req, r);
}

/* The value of the series line starting with \p prefix in \p body, or -1. */
static double series(const char *body, const char *prefix)
{
    const char *l = strstr(body, prefix);

    while (l && l != body && l[-1] != '\n') {
        l = strstr(l + 1, prefix);
    }
    return l ? strtod(l + strlen(prefix), NULL) : -1;
}

/* The process's own series, sampled at the scrape: this test process's numbers. */
static void test_process_metrics(void **state)
{
    fixture_t *f = *state;
    response_t r;
    double now = (double)time(NULL), start, fds;

    get(dh_admin_port(f->admin), "/metrics", &r);
    assert_int_equal(r.status, 200);
    start = series(r.body, "process_start_time_seconds ");
    assert_true(start > now - 3600 && start <= now + 1); /* started in this hour */
    fds = series(r.body, "process_open_fds ");
    assert_true(fds >= 3 && fds <= series(r.body, "process_max_fds "));
    assert_true(series(r.body, "process_resident_memory_bytes ") > 1e5);
    assert_true(series(r.body, "process_cpu_seconds_total ") >= 0);
    assert_non_null(strstr(r.body, "dh_build_info{version=\""));
    assert_non_null(strstr(r.body, dh_build_version()));
}

static void test_port_assigned(void **state)
{
    fixture_t *f = *state;

    assert_true(dh_admin_port(f->admin) > 0);
    assert_true(dh_admin_port(f->admin) < 65536);
    assert_int_equal(dh_admin_port(NULL), -1);
}

static void test_routes(void **state)
{
    fixture_t *f = *state;
    static const struct {
        const char *request;
        int status;
        const char *body_has;
        const char *head_has;
    } cases[] = {
        {"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 200,
         "dh_events_total{topic=\"t\"} 5\n", "text/plain; version=0.0.4"},
        {"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 200, "ok\n", NULL},
        {"GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 503,
         "waiting for partition assignment\n", NULL},
        {"GET /metrics?x=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 200,
         "# TYPE dh_events_total counter", NULL},
        {"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 404, "not found", NULL},
        {"GET /metricsx HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 404, "", NULL},
        {"POST /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 3\r\n\r\nabc",
         405, "method not allowed", "Allow: GET"},
        {"DELETE /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 405, "", NULL},
        {"GET /healthz HTTP/1.0\r\n\r\n", 200, "ok\n", NULL},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        response_t r;

        http(dh_admin_port(f->admin), cases[i].request, &r);
        if (r.status != cases[i].status || !strstr(r.body, cases[i].body_has) ||
            (cases[i].head_has && !strstr(r.head, cases[i].head_has))) {
            fail_msg("case %zu: %d\n%s\n\n%s", i, r.status, r.head, r.body);
        }
    }
}

static void test_probe_toggling(void **state)
{
    fixture_t *f = *state;
    int port = dh_admin_port(f->admin);
    response_t r;

    get(port, "/readyz", &r);
    assert_int_equal(r.status, 503);
    atomic_store(&f->ready, 1);
    get(port, "/readyz", &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "ok\n");
    atomic_store(&f->healthy, 0);
    get(port, "/healthz", &r);
    assert_int_equal(r.status, 503);
    assert_string_equal(r.body, "poll loop stalled for 31s\n");
    atomic_store(&f->healthy, 1);
    get(port, "/healthz", &r);
    assert_int_equal(r.status, 200);
    assert_true(atomic_load(&f->probes) >= 4);
}

static void test_metrics_live(void **state)
{
    fixture_t *f = *state;
    response_t r;

    dh_counter_add(dh_metrics_counter(f->m, "dh_events_total", "Events.", "topic=\"t\""), 2);
    get(dh_admin_port(f->admin), "/metrics", &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "dh_events_total{topic=\"t\"} 7\n"));
}

static void test_no_probes_no_metrics(void **state)
{
    (void)state;
    dh_admin_opts_t opts = {"127.0.0.1", 0, NULL, NULL, NULL, NULL};
    dh_admin_t *a = NULL;
    char err[256];
    response_t r;

    assert_int_equal(dh_admin_start(&opts, &a, err, sizeof(err)), DH_OK);
    get(dh_admin_port(a), "/readyz", &r);
    assert_int_equal(r.status, 200);
    get(dh_admin_port(a), "/metrics", &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "");
    dh_admin_stop(a);
}

static void test_start_errors(void **state)
{
    fixture_t *f = *state;
    dh_admin_opts_t opts = {"127.0.0.1", 0, NULL, NULL, NULL, NULL};
    dh_admin_t *a = (dh_admin_t *)1;
    char err[256];

    opts.bind_addr = "not-an-ip";
    assert_int_equal(dh_admin_start(&opts, &a, err, sizeof(err)), DH_ERR_INVALID);
    assert_null(a);
    assert_non_null(strstr(err, "not-an-ip"));
    opts.bind_addr = "127.0.0.1";
    opts.port = 70000;
    assert_int_equal(dh_admin_start(&opts, &a, err, sizeof(err)), DH_ERR_INVALID);
    opts.port = dh_admin_port(f->admin); /* already taken */
    assert_int_equal(dh_admin_start(&opts, &a, err, sizeof(err)), DH_ERR_IO);
    assert_null(a);
    assert_non_null(strstr(err, "cannot listen"));
    assert_non_null(strstr(err, "in use"));
    dh_admin_stop(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_port_assigned, setup, teardown),
        cmocka_unit_test_setup_teardown(test_process_metrics, setup, teardown),
        cmocka_unit_test_setup_teardown(test_routes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_probe_toggling, setup, teardown),
        cmocka_unit_test_setup_teardown(test_metrics_live, setup, teardown),
        cmocka_unit_test(test_no_probes_no_metrics),
        cmocka_unit_test_setup_teardown(test_start_errors, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
