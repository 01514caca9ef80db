/*
 * The scripted far side (th_far.h). One thread per connection, so a reply held back
 * past the client's timeout never delays the next request.
 */
#include "th_far.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "th_rt.h"

/* cmocka.h needs these three first; keep clang-format from sorting it above them. */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
/* clang-format on */

#define TH_FAR_MAX_REQS 256

struct th_far {
    struct MHD_Daemon *d;
    char url[64];
    pthread_mutex_t mu;
    pthread_cond_t cv;
    th_far_reply_t *script;
    const char **when;    /* per reply of the script: NULL, or what its request's body has */
    unsigned char *taken; /* per reply of the script */
    size_t nscript;
    th_far_req_t reqs[TH_FAR_MAX_REQS];
    size_t nreqs;
};

/* A request's body, gathered over the access handler's calls. */
typedef struct upload {
    char *buf;
    size_t len;
} upload_t;

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

static int gather(upload_t *u, const char *data, size_t n)
{
    char *nb = realloc(u->buf, u->len + n + 1);

    if (!nb) {
        return -1;
    }
    memcpy(nb + u->len, data, n);
    u->buf = nb;
    u->len += n;
    u->buf[u->len] = '\0';
    return 0;
}

static int matches(const th_far_t *f, size_t i, const char *body)
{
    return !f->when[i] || (body && strstr(body, f->when[i]));
}

/* The first matching reply not taken yet, else the last matching one; NULL if none. */
static const th_far_reply_t *pick(th_far_t *f, const char *body)
{
    const th_far_reply_t *last = NULL;

    for (size_t i = 0; i < f->nscript; i++) {
        if (!matches(f, i, body)) {
            continue;
        }
        if (!f->taken[i]) {
            f->taken[i] = 1;
            return &f->script[i];
        }
        last = &f->script[i];
    }
    return last;
}

/* Record the request and pick its reply, under the lock. */
static th_far_reply_t record(th_far_t *f, struct MHD_Connection *c, const char *url,
                             const char *method, upload_t *u)
{
    th_far_reply_t r = {500, "{\"error\":\"unscripted\"}", NULL, 0};
    const char *key = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Idempotency-Key");

    pthread_mutex_lock(&f->mu);
    const th_far_reply_t *p = pick(f, u->buf);

    if (p) {
        r = *p;
    }
    if (f->nreqs < TH_FAR_MAX_REQS) {
        th_far_req_t *q = &f->reqs[f->nreqs];

        snprintf(q->method, sizeof(q->method), "%s", method);
        snprintf(q->path, sizeof(q->path), "%s", url);
        snprintf(q->idem_key, sizeof(q->idem_key), "%s", key ? key : "");
        q->body = u->buf ? u->buf : strdup("");
        u->buf = NULL;
    }
    f->nreqs++;
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mu);
    return r;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *data,
                                  size_t *size, void **state)
{
    th_far_t *f = cls;
    upload_t *u = *state;
    struct MHD_Response *resp;
    enum MHD_Result rc;

    (void)version;
    if (!u) {
        *state = calloc(1, sizeof(upload_t));
        return *state ? MHD_YES : MHD_NO;
    }
    if (*size > 0) {
        rc = gather(u, data, *size) ? MHD_NO : MHD_YES;
        *size = 0;
        return rc;
    }
    th_far_reply_t r = record(f, c, url, method, u);
    const char *body = r.body ? r.body : "{}";

    if (r.delay_ms > 0) {
        sleep_ms(r.delay_ms);
    }
    resp = MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
    MHD_add_response_header(resp, "Content-Type",
                            strstr(body, "\"type\"") && r.status >= 400 ? "application/problem+json"
                                                                        : "application/json");
    if (r.retry_after) {
        MHD_add_response_header(resp, "Retry-After", r.retry_after);
    }
    rc = MHD_queue_response(c, r.status > 0 ? (unsigned)r.status : 200, resp);
    MHD_destroy_response(resp);
    return rc;
}

static void on_done(void *cls, struct MHD_Connection *c, void **state,
                    enum MHD_RequestTerminationCode toe)
{
    upload_t *u = *state;

    (void)cls, (void)c, (void)toe;
    if (u) {
        free(u->buf);
        free(u);
        *state = NULL;
    }
}

th_far_t *th_far_start(void)
{
    th_far_t *f = calloc(1, sizeof(*f));
    const union MHD_DaemonInfo *di;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};

    assert_non_null(f);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    pthread_mutex_init(&f->mu, NULL);
    pthread_cond_init(&f->cv, NULL);
    f->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION, 0,
                            NULL, NULL, on_request, f, MHD_OPTION_SOCK_ADDR, &sa,
                            MHD_OPTION_NOTIFY_COMPLETED, on_done, f, MHD_OPTION_END);
    assert_non_null(f->d);
    di = MHD_get_daemon_info(f->d, MHD_DAEMON_INFO_BIND_PORT);
    assert_non_null(di);
    snprintf(f->url, sizeof(f->url), "http://127.0.0.1:%u", (unsigned)di->port);
    return f;
}

static void clear_log(th_far_t *f)
{
    size_t n = f->nreqs < TH_FAR_MAX_REQS ? f->nreqs : TH_FAR_MAX_REQS;

    for (size_t i = 0; i < n; i++) {
        free(f->reqs[i].body);
        f->reqs[i].body = NULL;
    }
    f->nreqs = 0;
}

void th_far_stop(th_far_t *f)
{
    if (!f) {
        return;
    }
    MHD_stop_daemon(f->d);
    clear_log(f);
    free(f->script);
    free(f->taken);
    free(f->when);
    pthread_cond_destroy(&f->cv);
    pthread_mutex_destroy(&f->mu);
    free(f);
}

const char *th_far_url(const th_far_t *f)
{
    return f->url;
}

void th_far_script(th_far_t *f, const th_far_reply_t *replies, size_t n)
{
    th_far_script_when(f, replies, NULL, n);
}

void th_far_script_when(th_far_t *f, const th_far_reply_t *replies, const char *const *when,
                        size_t n)
{
    th_far_reply_t *copy = calloc(n ? n : 1, sizeof(*copy));
    unsigned char *taken = calloc(n ? n : 1, 1);
    const char **w = calloc(n ? n : 1, sizeof(*w));

    assert_non_null(copy);
    assert_non_null(taken);
    assert_non_null(w);
    memcpy(copy, replies, n * sizeof(*copy));
    for (size_t i = 0; when && i < n; i++) {
        w[i] = when[i];
    }
    pthread_mutex_lock(&f->mu);
    free(f->script);
    free(f->taken);
    free(f->when);
    f->script = copy;
    f->taken = taken;
    f->when = w;
    f->nscript = n;
    clear_log(f);
    pthread_mutex_unlock(&f->mu);
}

size_t th_far_count(th_far_t *f)
{
    pthread_mutex_lock(&f->mu);
    size_t n = f->nreqs;
    pthread_mutex_unlock(&f->mu);
    return n;
}

void th_far_request(th_far_t *f, size_t i, th_far_req_t *out)
{
    pthread_mutex_lock(&f->mu);
    if (i >= f->nreqs || i >= TH_FAR_MAX_REQS) {
        pthread_mutex_unlock(&f->mu);
        fail_msg("far side: no request %zu (saw %zu)", i, f->nreqs);
        return;
    }
    *out = f->reqs[i];
    out->body = strdup(f->reqs[i].body ? f->reqs[i].body : "");
    pthread_mutex_unlock(&f->mu);
    assert_non_null(out->body);
}

void th_far_print(th_far_t *f)
{
    pthread_mutex_lock(&f->mu);
    fprintf(stderr, "far side: %zu request(s) since the script was set\n", f->nreqs);
    for (size_t i = 0; i < f->nreqs && i < TH_FAR_MAX_REQS; i++) {
        const char *b = f->reqs[i].body ? f->reqs[i].body : "";

        fprintf(stderr, "  %zu: %s %s %.160s%s\n", i, f->reqs[i].method, f->reqs[i].path, b,
                strlen(b) > 160 ? "..." : "");
    }
    pthread_mutex_unlock(&f->mu);
}

void th_abstime(int timeout_ms, struct timespec *ts)
{
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += timeout_ms / 1000;
    ts->tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    ts->tv_sec += ts->tv_nsec / 1000000000L;
    ts->tv_nsec %= 1000000000L;
}

int th_far_await(th_far_t *f, size_t n, int timeout_ms)
{
    struct timespec ts;
    int ok;

    th_abstime(timeout_ms, &ts);
    pthread_mutex_lock(&f->mu);
    while (f->nreqs < n) {
        if (pthread_cond_timedwait(&f->cv, &f->mu, &ts)) {
            break;
        }
    }
    ok = f->nreqs >= n;
    pthread_mutex_unlock(&f->mu);
    return ok;
}

void th_far_fx_start(th_far_fx_t *fx, const char *name, int nstores)
{
    fx->far = th_far_start();
    snprintf(fx->prefix, sizeof(fx->prefix), "%s%d-", name, (int)getpid());
    snprintf(fx->stores, sizeof(fx->stores), "/tmp/th-%s-stores-%d.json", name, (int)getpid());
    th_stores_file(fx->stores, fx->prefix, nstores);
}

void th_far_fx_stores(const th_far_fx_t *fx, int n, int tenants, const char *locations)
{
    FILE *f = fopen(fx->stores, "w");

    assert_non_null(f);
    fputs("{\"stores\":[", f);
    for (int i = 0; i < n; i++) {
        fprintf(f, "%s{\"domain\":\"%s%d.myshopify.com\",", i ? "," : "", fx->prefix, i);
        if (tenants) {
            fprintf(f, "\"tenants\":[\"%s%d\"],", fx->prefix, i);
        }
        fprintf(f,
                "\"admin_url\":\"%s\",\"api_version\":\"2026-10\","
                "\"access_token\":\"shpat_test\",\"webhook_secrets\":[\"s\"],"
                "\"bucket_size\":2000,\"restore_rate\":5000,\"locations\":%s}",
                th_far_url(fx->far), locations);
    }
    fputs("]}", f);
    assert_int_equal(fclose(f), 0);
}

void th_far_fx_stop(th_far_fx_t *fx)
{
    th_far_stop(fx->far);
    unlink(fx->stores);
}
