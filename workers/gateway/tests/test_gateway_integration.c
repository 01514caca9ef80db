/*
 * dh-gateway against the local stack (Kafka 127.0.0.1:39092, Redis 127.0.0.1:36379 or
 * DH_TEST_KAFKA / DH_TEST_REDIS_URL): starts the binary on free ports with a stores file
 * holding one store with two webhook secrets, sends Shopify- and Return-Prime-signed
 * webhooks over HTTP and checks the status codes and, by reading the topics from their
 * end, exactly what reached Kafka (raw bytes, key, dh-* headers) or that nothing did.
 * Signatures are computed here with OpenSSL directly, not with the gateway's own code.
 * Ends with 50 sequential webhooks, each answered 200 and found in Kafka once (latency
 * figures: bench/gateway/run.sh).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <librdkafka/rdkafka.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define SHOP       "gw-test.myshopify.com"
#define SECRET_OLD "old_secret"
#define SECRET_NEW "new_secret"
#define RP_SECRET  "rp_secret"
#define MAX_BODY   65536

typedef struct gateway {
    pid_t pid;
    int port, admin_port;
    char log[256];
} gateway_t;

typedef struct fixture {
    gateway_t gw; /* healthy: the stack's broker */
    char stores[256];
    long long run_id; /* makes ids unique per run */
} fixture_t;

static const char *env_or(const char *name, const char *def)
{
    const char *v = getenv(name);

    return (v && *v) ? v : def;
}

static long long now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void sleep_ms(int ms)
{
    nanosleep(&(struct timespec){ms / 1000, (long)(ms % 1000) * 1000000L}, NULL);
}

static int free_port(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int port;

    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    port = ntohs(a.sin_port);
    close(fd);
    return port;
}

/* ---- HTTP ---- */

static size_t sink(char *p, size_t size, size_t n, void *ud)
{
    (void)p;
    (void)ud;
    return size * n;
}

/* POST \p body to \p path; returns the status (0 on a transport error); *ms = latency. */
static long post(int port, const char *path, const char *const *headers, const char *body,
                 size_t len, double *ms)
{
    CURL *c = curl_easy_init();
    struct curl_slist *h = NULL;
    char url[256];
    long status = 0;
    long long t0;

    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
    for (size_t i = 0; headers && headers[i]; i++) {
        h = curl_slist_append(h, headers[i]);
    }
    h = curl_slist_append(h, "Content-Type: application/json");
    h = curl_slist_append(h, "Expect:");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
    t0 = now_us();
    if (curl_easy_perform(c) == CURLE_OK) {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    }
    if (ms) {
        *ms = (double)(now_us() - t0) / 1000.0;
    }
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return status;
}

static long get_status(int port, const char *path)
{
    CURL *c = curl_easy_init();
    char url[256];
    long status = 0;

    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 2000L);
    if (curl_easy_perform(c) == CURLE_OK) {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    }
    curl_easy_cleanup(c);
    return status;
}

static size_t grow(char *p, size_t size, size_t n, void *ud)
{
    char *buf = ud;
    size_t have = strlen(buf), add = size * n;

    if (have + add < 65536) {
        memcpy(buf + have, p, add);
        buf[have + add] = '\0';
    }
    return add;
}

/* The value of an unlabelled series on /metrics, or -1. */
static long long metric_value(int admin_port, const char *name)
{
    CURL *c = curl_easy_init();
    char url[256], *buf = calloc(1, 65536), *line;
    long long v = -1;

    snprintf(url, sizeof(url), "http://127.0.0.1:%d/metrics", admin_port);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, grow);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, buf);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 2000L);
    if (curl_easy_perform(c) == CURLE_OK) {
        for (line = strstr(buf, name); line; line = strstr(line + 1, name)) {
            if ((line == buf || line[-1] == '\n') && line[strlen(name)] == ' ') {
                v = strtoll(line + strlen(name) + 1, NULL, 10);
                break;
            }
        }
    }
    curl_easy_cleanup(c);
    free(buf);
    return v;
}

/* ---- Signing, like Shopify and Return Prime ---- */

static void shopify_sign(const char *secret, const char *body, size_t len, char out[64])
{
    unsigned char mac[32];
    unsigned int n = 0;

    HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)body, len, mac, &n);
    EVP_EncodeBlock((unsigned char *)out, mac, (int)n);
}

static void rp_sign(const char *secret, const char *ts, const char *body, char out[65])
{
    size_t n = strlen(ts) + 1 + strlen(body);
    char *msg = malloc(n + 1);
    unsigned char mac[32];
    unsigned int ml = 0;

    snprintf(msg, n + 1, "%s.%s", ts, body);
    HMAC(EVP_sha256(), secret, (int)strlen(secret), (unsigned char *)msg, n, mac, &ml);
    for (unsigned int i = 0; i < ml; i++) {
        snprintf(out + 2 * i, 3, "%02x", mac[i]);
    }
    free(msg);
}

/* The X-Shopify-* headers of one delivery, in a caller buffer (hdr[8][300]). */
typedef struct shopify_req {
    char h[8][300];
    const char *v[9];
} shopify_req_t;

static void shopify_headers(shopify_req_t *r, const char *topic, const char *sig,
                            const char *webhook_id)
{
    int n = 0;

    snprintf(r->h[n++], 300, "X-Shopify-Topic: %s", topic);
    snprintf(r->h[n++], 300, "X-Shopify-Shop-Domain: %s", SHOP);
    snprintf(r->h[n++], 300, "X-Shopify-API-Version: 2026-04");
    snprintf(r->h[n++], 300, "X-Shopify-Webhook-Id: %s", webhook_id);
    snprintf(r->h[n++], 300, "X-Shopify-Event-Id: ev-%s", webhook_id);
    snprintf(r->h[n++], 300, "X-Shopify-Triggered-At: 2026-05-01T10:15:30.123456789Z");
    if (sig) {
        snprintf(r->h[n++], 300, "X-Shopify-Hmac-Sha256: %s", sig);
    }
    for (int i = 0; i < n; i++) {
        r->v[i] = r->h[i];
    }
    r->v[n] = NULL;
}

/* A Shopify-shaped order; spacing and a non-ASCII name prove nothing re-serialises it. */
static int order_body(char *buf, size_t size, long long id)
{
    return snprintf(
        buf, size,
        "{\"id\":%lld,  \"admin_graphql_api_id\":\"gid://shopify/Order/%lld\","
        "\"name\":\"#1021\",\"created_at\":\"2026-05-01T10:15:30+05:30\","
        "\"updated_at\":\"2026-05-01T10:15:30+05:30\",\"cancelled_at\":null,"
        "\"customer\":{\"first_name\":\"Ren\xc3\xa9\\u00e9\"},\n\"line_items\":[{\"id\":1,"
        "\"sku\":\"TSHIRT-BLK-M\",\"quantity\":2,\"variant_id\":2}]}",
        id, id);
}

/* ---- Kafka: read a topic from its end ---- */

typedef struct tail {
    rd_kafka_t *rk;
} tail_t;

static tail_t *tail_new(const char *topic)
{
    char errstr[512], group[64];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_partition_list_t *parts;
    tail_t *t = calloc(1, sizeof(*t));

    snprintf(group, sizeof(group), "dh-gw-test-%d", (int)getpid());
    rd_kafka_conf_set(conf, "bootstrap.servers", env_or("DH_TEST_KAFKA", "127.0.0.1:39092"), errstr,
                      sizeof(errstr));
    rd_kafka_conf_set(conf, "group.id", group, errstr, sizeof(errstr));
    rd_kafka_conf_set(conf, "enable.auto.commit", "false", errstr, sizeof(errstr));
    t->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
    assert_non_null(t->rk);
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(t->rk, topic, NULL);
    assert_int_equal(rd_kafka_metadata(t->rk, 0, rkt, &md, 5000), 0);
    assert_int_equal(md->topic_cnt, 1);
    assert_true(md->topics[0].partition_cnt > 0);
    parts = rd_kafka_topic_partition_list_new(md->topics[0].partition_cnt);
    for (int i = 0; i < md->topics[0].partition_cnt; i++) {
        int64_t lo = 0, hi = 0;

        assert_int_equal(rd_kafka_query_watermark_offsets(t->rk, topic, i, &lo, &hi, 5000), 0);
        rd_kafka_topic_partition_list_add(parts, topic, i)->offset = hi;
    }
    assert_int_equal(rd_kafka_assign(t->rk, parts), 0);
    rd_kafka_topic_partition_list_destroy(parts);
    rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    return t;
}

static void tail_destroy(tail_t *t)
{
    rd_kafka_consumer_close(t->rk);
    rd_kafka_destroy(t->rk);
    free(t);
}

/* Collect messages with \p key for \p ms (or until the first, when \p first_only). */
static size_t tail_collect(tail_t *t, const char *key, int ms, int first_only,
                           rd_kafka_message_t **first)
{
    long long deadline = now_us() + (long long)ms * 1000;
    size_t n = 0;

    if (first) {
        *first = NULL;
    }
    while (now_us() < deadline && !(first_only && n > 0)) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(t->rk, 100);

        if (!m) {
            continue;
        }
        if (!m->err && m->key_len == strlen(key) && !memcmp(m->key, key, m->key_len)) {
            n++;
            if (first && !*first) {
                *first = m;
                continue;
            }
        }
        rd_kafka_message_destroy(m);
    }
    return n;
}

static void assert_header(const rd_kafka_message_t *m, const char *name, const char *want)
{
    rd_kafka_headers_t *h = NULL;
    const void *v = NULL;
    size_t len = 0;

    assert_int_equal(rd_kafka_message_headers(m, &h), 0);
    if (rd_kafka_header_get_last(h, name, &v, &len)) {
        fail_msg("header %s missing", name);
    }
    if (want) {
        if (len != strlen(want) || memcmp(v, want, len)) {
            fail_msg("header %s = '%.*s', want '%s'", name, (int)len, (const char *)v, want);
        }
    }
}

/* dh-received-at: RFC 3339 UTC, e.g. 2026-05-01T10:15:30.123Z. */
static void assert_received_at(const rd_kafka_message_t *m)
{
    rd_kafka_headers_t *h = NULL;
    const void *v = NULL;
    size_t len = 0;

    assert_int_equal(rd_kafka_message_headers(m, &h), 0);
    assert_int_equal(rd_kafka_header_get_last(h, "dh-received-at", &v, &len), 0);
    assert_int_equal(len, 24);
    assert_true(((const char *)v)[10] == 'T' && ((const char *)v)[23] == 'Z');
}

/* ---- The gateway process ---- */

static pid_t spawn(const char *const *env, const char *log)
{
    char path[1024];
    pid_t pid, parent;

    snprintf(path, sizeof(path), "%s/dh-gateway", env_or("DH_TEST_BUILD_DIR", "."));
    parent = getpid();
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);

        /* It dies with the test, even one that failed half-way or was killed outright. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) {
            _exit(127);
        }
        char *cleanenv[512];
        size_t k = 0;

        if (fd >= 0) {
            dup2(fd, 2);
            dup2(fd, 1);
            close(fd);
        }
        for (size_t i = 0; environ[i] && k < 400; i++) {
            if (strncmp(environ[i], "DH_", 3) && strncmp(environ[i], "KAFKA_", 6)) {
                cleanenv[k++] = environ[i];
            }
        }
        for (size_t i = 0; env[i] && k < 510; i++) {
            cleanenv[k++] = (char *)env[i];
        }
        cleanenv[k] = NULL;
        execve(path, (char *const[]){path, NULL}, cleanenv);
        _exit(127);
    }
    return pid;
}

static void gateway_start(gateway_t *g, const char *stores, const char *brokers, int ack_ms)
{
    char e[8][300];
    const char *env[9];

    g->port = free_port();
    g->admin_port = free_port();
    snprintf(g->log, sizeof(g->log), "/tmp/dh-gateway-test-%d-%d.log", (int)getpid(), g->port);
    snprintf(e[0], 300, "DH_STORES_FILE=%s", stores);
    snprintf(e[1], 300, "DH_GATEWAY_PORT=%d", g->port);
    snprintf(e[2], 300, "DH_ADMIN_PORT=%d", g->admin_port);
    snprintf(e[3], 300, "DH_GATEWAY_ADDR=127.0.0.1");
    snprintf(e[4], 300, "DH_KAFKA_BROKERS=%s", brokers);
    snprintf(e[5], 300, "DH_GATEWAY_ACK_TIMEOUT_MS=%d", ack_ms);
    snprintf(e[6], 300, "DH_REDIS_URL=%s", env_or("DH_TEST_REDIS_URL", "redis://127.0.0.1:36379"));
    snprintf(e[7], 300, "DH_GATEWAY_MAX_BODY=%d", MAX_BODY);
    for (int i = 0; i < 8; i++) {
        env[i] = e[i];
    }
    env[8] = NULL;
    g->pid = spawn(env, g->log);
    /* Up when the admin port answers /healthz. */
    for (int i = 0; i < 200 && get_status(g->admin_port, "/healthz") != 200; i++) {
        sleep_ms(50);
    }
    assert_int_equal(get_status(g->admin_port, "/healthz"), 200);
}

/* SIGTERM; returns the exit status (or -1 if it did not exit within 10 s). */
static int gateway_stop(gateway_t *g)
{
    int status = 0;

    kill(g->pid, SIGTERM);
    for (int i = 0; i < 1000; i++) {
        if (waitpid(g->pid, &status, WNOHANG) == g->pid) {
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        }
        sleep_ms(10);
    }
    kill(g->pid, SIGKILL);
    waitpid(g->pid, &status, 0);
    return -1;
}

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof(*f));
    FILE *fp;

    curl_global_init(CURL_GLOBAL_ALL);
    f->run_id = (long long)time(NULL) * 1000 + getpid() % 1000;
    snprintf(f->stores, sizeof(f->stores), "/tmp/dh-gateway-test-%d-stores.json", (int)getpid());
    fp = fopen(f->stores, "w");
    assert_non_null(fp);
    fprintf(fp,
            "{\"stores\": [{\"domain\": \"%s\", \"tenants\": [\"gwtest\"], "
            "\"access_token\": \"shpat_test\", \"webhook_secrets\": [\"%s\", \"%s\"], "
            "\"returnprime_secret\": \"%s\"}]}\n",
            SHOP, SECRET_OLD, SECRET_NEW, RP_SECRET);
    fclose(fp);
    gateway_start(&f->gw, f->stores, env_or("DH_TEST_KAFKA", "127.0.0.1:39092"), 4000);
    for (int i = 0; i < 100 && get_status(f->gw.admin_port, "/readyz") != 200; i++) {
        sleep_ms(100);
    }
    assert_int_equal(get_status(f->gw.admin_port, "/readyz"), 200);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;

    /* SIGTERM: stop accepting, finish, flush, exit 0. */
    assert_int_equal(gateway_stop(&f->gw), 0);
    unlink(f->gw.log);
    unlink(f->stores);
    free(f);
    curl_global_cleanup();
    return 0;
}

static long long next_id(fixture_t *f)
{
    static int counter;

    return f->run_id * 1000 + ++counter;
}

/* Send a signed orders/create for \p id; returns the status. */
static long send_order(int port, long long id, const char *secret, const char *webhook_id,
                       char *body, size_t size, double *ms)
{
    shopify_req_t r;
    char sig[64];
    int len = order_body(body, size, id);

    shopify_sign(secret, body, (size_t)len, sig);
    shopify_headers(&r, "orders/create", sig, webhook_id);
    return post(port, "/webhooks/shopify", r.v, body, (size_t)len, ms);
}

static void test_orders_create_bytes_key_headers(void **state)
{
    fixture_t *f = *state;
    tail_t *t = tail_new("shopify.orders");
    long long id = next_id(f);
    char body[2048], key[128], wid[64];
    rd_kafka_message_t *m = NULL;

    snprintf(wid, sizeof(wid), "wh-%lld", id);
    snprintf(key, sizeof(key), "%s|%lld", SHOP, id);
    assert_int_equal(send_order(f->gw.port, id, SECRET_OLD, wid, body, sizeof(body), NULL), 200);
    assert_int_equal(tail_collect(t, key, 10000, 1, &m), 1);
    assert_int_equal(m->len, strlen(body));
    assert_memory_equal(m->payload, body, m->len); /* the raw bytes, unchanged */
    assert_header(m, "dh-topic", "orders/create");
    assert_header(m, "dh-shop-domain", SHOP);
    assert_header(m, "dh-webhook-id", wid);
    char ev[80];
    snprintf(ev, sizeof(ev), "ev-%s", wid);
    assert_header(m, "dh-event-id", ev);
    assert_header(m, "dh-triggered-at", "2026-05-01T10:15:30.123456789Z");
    assert_header(m, "dh-api-version", "2026-04");
    assert_received_at(m);
    rd_kafka_message_destroy(m);
    tail_destroy(t);
}

static void test_rotated_secret_and_products(void **state)
{
    fixture_t *f = *state;
    tail_t *t = tail_new("shopify.products");
    long long id = next_id(f);
    char body[256], key[128], wid[64], sig[64];
    shopify_req_t r;
    rd_kafka_message_t *m = NULL;
    int len = snprintf(body, sizeof(body), "{\"id\":%lld,\"title\":\"Tee\",\"variants\":[]}", id);

    snprintf(wid, sizeof(wid), "wh-%lld", id);
    snprintf(key, sizeof(key), "%s|%lld", SHOP, id);
    shopify_sign(SECRET_NEW, body, (size_t)len, sig); /* the second secret of the rotation */
    shopify_headers(&r, "products/update", sig, wid);
    assert_int_equal(post(f->gw.port, "/webhooks/shopify", r.v, body, (size_t)len, NULL), 200);
    assert_int_equal(tail_collect(t, key, 10000, 1, &m), 1);
    assert_memory_equal(m->payload, body, (size_t)len);
    assert_header(m, "dh-topic", "products/update");
    rd_kafka_message_destroy(m);
    tail_destroy(t);
}

static void test_unauthenticated_is_401_and_not_produced(void **state)
{
    fixture_t *f = *state;
    tail_t *t = tail_new("shopify.orders");
    long long id = next_id(f);
    char body[2048], key[128], wid[64], sig[64];
    shopify_req_t r;
    int len = order_body(body, sizeof(body), id);

    snprintf(wid, sizeof(wid), "wh-%lld", id);
    snprintf(key, sizeof(key), "%s|%lld", SHOP, id);
    /* wrong secret */
    assert_int_equal(send_order(f->gw.port, id, "not-the-secret", wid, body, sizeof(body), NULL),
                     401);
    /* missing signature */
    shopify_headers(&r, "orders/create", NULL, wid);
    assert_int_equal(post(f->gw.port, "/webhooks/shopify", r.v, body, (size_t)len, NULL), 401);
    /* right signature, one byte of the body changed */
    shopify_sign(SECRET_OLD, body, (size_t)len, sig);
    shopify_headers(&r, "orders/create", sig, wid);
    body[len - 2] = ' ';
    assert_int_equal(post(f->gw.port, "/webhooks/shopify", r.v, body, (size_t)len, NULL), 401);
    /* unknown shop: there is no secret to verify with */
    const char *other[] = {"X-Shopify-Topic: orders/create",
                           "X-Shopify-Shop-Domain: evil.myshopify.com", r.h[6], NULL};
    assert_int_equal(post(f->gw.port, "/webhooks/shopify", other, body, (size_t)len, NULL), 401);
    assert_int_equal(tail_collect(t, key, 2000, 0, NULL), 0);
    tail_destroy(t);
}

static void test_oversized_is_413(void **state)
{
    fixture_t *f = *state;
    size_t len = MAX_BODY + 1;
    char *body = malloc(len + 1);
    char sig[64];
    shopify_req_t r;
    const char *chunked[10];

    memset(body, ' ', len);
    body[0] = '{';
    body[len - 1] = '}';
    body[len] = '\0';
    shopify_sign(SECRET_OLD, body, len, sig);
    shopify_headers(&r, "orders/create", sig, "wh-big");
    assert_int_equal(post(f->gw.port, "/webhooks/shopify", r.v, body, len, NULL), 413);
    /* Without Content-Length (chunked) the cap applies to the bytes read. */
    memcpy(chunked, r.v, sizeof(r.v[0]) * 7);
    chunked[7] = "Transfer-Encoding: chunked";
    chunked[8] = NULL;
    assert_int_equal(post(f->gw.port, "/webhooks/shopify", chunked, body, len, NULL), 413);
    /* Exactly at the cap is fine as far as size goes (the body has no id: 400). */
    shopify_sign(SECRET_OLD, body, len - 1, sig);
    body[len - 2] = '}';
    shopify_sign(SECRET_OLD, body, len - 1, sig);
    shopify_headers(&r, "orders/create", sig, "wh-big");
    assert_int_equal(post(f->gw.port, "/webhooks/shopify", r.v, body, len - 1, NULL), 400);
    free(body);
}

static void test_malformed_with_valid_signature_is_400(void **state)
{
    fixture_t *f = *state;
    static const char *const bodies[] = {"{not json", "[1,2,3]", "{\"name\":\"#1\"}",
                                         "{\"id\":\"1|2\"}", ""};
    shopify_req_t r;
    char sig[64];

    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        shopify_sign(SECRET_OLD, bodies[i], strlen(bodies[i]), sig);
        shopify_headers(&r, "orders/updated", sig, "wh-malformed");
        assert_int_equal(
            post(f->gw.port, "/webhooks/shopify", r.v, bodies[i], strlen(bodies[i]), NULL), 400);
    }
}

static void test_other_topics_and_paths(void **state)
{
    fixture_t *f = *state;
    static const char body[] = "{\"id\":1}";
    shopify_req_t r;
    char sig[64];

    shopify_sign(SECRET_OLD, body, strlen(body), sig);
    shopify_headers(&r, "app/uninstalled", sig, "wh-ignored");
    assert_int_equal(post(f->gw.port, "/webhooks/shopify", r.v, body, strlen(body), NULL), 200);
    assert_int_equal(post(f->gw.port, "/nope", r.v, body, strlen(body), NULL), 404);
    assert_int_equal(get_status(f->gw.port, "/webhooks/shopify"), 405);
}

static void test_duplicate_delivery_suppressed(void **state)
{
    fixture_t *f = *state;
    tail_t *t = tail_new("shopify.orders");
    long long id = next_id(f);
    char body[2048], key[128], wid[64];

    snprintf(wid, sizeof(wid), "wh-dup-%lld", id);
    snprintf(key, sizeof(key), "%s|%lld", SHOP, id);
    assert_int_equal(send_order(f->gw.port, id, SECRET_OLD, wid, body, sizeof(body), NULL), 200);
    assert_int_equal(send_order(f->gw.port, id, SECRET_NEW, wid, body, sizeof(body), NULL), 200);
    /* With Redis up, the retry is answered from the seen-set (best effort, not a contract). */
    assert_int_equal(tail_collect(t, key, 3000, 0, NULL), 1);
    tail_destroy(t);
}

static void test_returnprime(void **state)
{
    fixture_t *f = *state;
    tail_t *t = tail_new("returnprime.cir");
    long long id = next_id(f);
    char body[512], key[128], wid[64], ts[32], sig[65], h[5][200];
    rd_kafka_message_t *m = NULL;
    const char *hv[5];

    snprintf(body, sizeof(body),
             "{\"request\":{\"id\":\"rp%lld\",\"request_number\":\"R-1\",\"request_type\":"
             "\"return\",\"status\":\"approved\",\"order\":{\"id\":1,\"name\":\"#1\"},"
             "\"line_items\":[]}}",
             id);
    snprintf(wid, sizeof(wid), "rpwh-%lld", id);
    snprintf(key, sizeof(key), "%s|rp%lld", SHOP, id);
    snprintf(ts, sizeof(ts), "%lld", (long long)time(NULL));
    rp_sign(RP_SECRET, ts, body, sig);
    snprintf(h[0], 200, "X-RP-Topic: request/approved");
    snprintf(h[1], 200, "X-RP-Webhook-Id: %s", wid);
    snprintf(h[2], 200, "X-RP-Timestamp: %s", ts);
    snprintf(h[3], 200, "X-RP-Signature: %s", sig);
    for (int i = 0; i < 4; i++) {
        hv[i] = h[i];
    }
    hv[4] = NULL;
    /* The store in the path may be its domain or a tenant name. */
    assert_int_equal(post(f->gw.port, "/webhooks/returnprime/gwtest", hv, body, strlen(body), NULL),
                     200);
    assert_int_equal(tail_collect(t, key, 10000, 1, &m), 1);
    assert_memory_equal(m->payload, body, strlen(body));
    assert_header(m, "dh-topic", "request/approved");
    assert_header(m, "dh-store", SHOP);
    assert_header(m, "dh-webhook-id", wid);
    assert_received_at(m);
    rd_kafka_message_destroy(m);
    /* Wrong signature, and a store without a Return Prime secret. */
    snprintf(h[3], 200, "X-RP-Signature: %064d", 0);
    assert_int_equal(post(f->gw.port, "/webhooks/returnprime/" SHOP, hv, body, strlen(body), NULL),
                     401);
    assert_int_equal(
        post(f->gw.port, "/webhooks/returnprime/unknown", hv, body, strlen(body), NULL), 401);
    tail_destroy(t);
}

/* Broker unreachable: 503 within Shopify's 5 s, then Shopify's retry to a healthy
 * gateway succeeds. */
static void test_broker_down_503_then_retry(void **state)
{
    fixture_t *f = *state;
    gateway_t dead;
    tail_t *t = tail_new("shopify.orders");
    long long id = next_id(f);
    char body[2048], key[128], wid[64];
    rd_kafka_message_t *m = NULL;
    double ms = 0;

    gateway_start(&dead, f->stores, "127.0.0.1:1", 3000);
    assert_int_equal(get_status(dead.admin_port, "/readyz"), 503);
    snprintf(wid, sizeof(wid), "wh-%lld", id);
    snprintf(key, sizeof(key), "%s|%lld", SHOP, id);
    assert_int_equal(send_order(dead.port, id, SECRET_OLD, wid, body, sizeof(body), &ms), 503);
    print_message("broker down: 503 after %.0f ms\n", ms);
    assert_true(ms < 5000);
    /* librdkafka failed the message itself (definitely not written), not our deadline. */
    assert_int_equal(metric_value(dead.admin_port, "dh_gateway_ack_timeouts_total"), 0);
    assert_int_equal(gateway_stop(&dead), 0);
    unlink(dead.log);
    assert_int_equal(send_order(f->gw.port, id, SECRET_OLD, wid, body, sizeof(body), NULL), 200);
    assert_int_equal(tail_collect(t, key, 10000, 1, &m), 1);
    assert_memory_equal(m->payload, body, m->len);
    rd_kafka_message_destroy(m);
    tail_destroy(t);
}

/* Sequential webhooks (what a Shopify store sends one after another): every 200 is a record
 * that reached Kafka, once, with its own key. Latency figures live in bench/gateway/run.sh. */
static void test_sequential_webhooks_each_in_kafka_once(void **state)
{
    fixture_t *f = *state;
    enum { N = 50 };
    tail_t *t = tail_new("shopify.orders");
    char keys[N][128], wid[64], body[2048];
    int seen[N] = {0}, got = 0;
    long long deadline;

    for (int i = 0; i < N; i++) {
        long long id = next_id(f);

        snprintf(wid, sizeof(wid), "wh-seq-%lld", id);
        snprintf(keys[i], sizeof(keys[i]), "%s|%lld", SHOP, id);
        assert_int_equal(send_order(f->gw.port, id, SECRET_OLD, wid, body, sizeof(body), NULL),
                         200);
    }
    deadline = now_us() + 20000000LL;
    while (got < N && now_us() < deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(t->rk, 100);

        for (int i = 0; m && !m->err && i < N; i++) {
            if (m->key_len == strlen(keys[i]) && !memcmp(m->key, keys[i], m->key_len)) {
                got += seen[i]++ == 0;
            }
        }
        if (m) {
            rd_kafka_message_destroy(m);
        }
    }
    for (int i = 0; i < N; i++) {
        if (seen[i] != 1) {
            fail_msg("webhook %d (%s) answered 200 reached Kafka %d times", i, keys[i], seen[i]);
        }
    }
    tail_destroy(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_orders_create_bytes_key_headers),
        cmocka_unit_test(test_rotated_secret_and_products),
        cmocka_unit_test(test_unauthenticated_is_401_and_not_produced),
        cmocka_unit_test(test_oversized_is_413),
        cmocka_unit_test(test_malformed_with_valid_signature_is_400),
        cmocka_unit_test(test_other_topics_and_paths),
        cmocka_unit_test(test_duplicate_delivery_suppressed),
        cmocka_unit_test(test_returnprime),
        cmocka_unit_test(test_broker_down_503_then_retry),
        cmocka_unit_test(test_sequential_webhooks_each_in_kafka_once),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
