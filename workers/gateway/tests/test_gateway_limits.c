/*
 * dh-gateway against slow and greedy clients, on loopback: the real binary with a closed
 * port as its Kafka broker (nothing here needs Kafka) and dedup off.
 *  - A client trickling its headers, or its body, one byte a second is answered 408 and
 *    cut off at the request deadline (the idle timeout alone never fires: bytes keep
 *    coming).
 *  - With a per-address cap of 3, a 4th connection from 127.0.0.1 is closed at once while
 *    a client on 127.0.0.2 is still served, and 127.0.0.1 is served again once one of its
 *    connections is gone.
 *  - A signed orders/create whose id dh-orders would dead-letter (0, a string) is a 400
 *    naming the rule, before anything is produced.
 *  - Its stderr is JSON lines only, librdkafka's included (the producer's broker is down).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define DEADLINE_MS 1500
#define PER_IP      3

typedef struct gateway {
    pid_t pid;
    int port, admin_port;
    char log[256], stores[256];
} gateway_t;

static long long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
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

/* A TCP connection from \p src (a loopback address) to 127.0.0.1:\p port. */
static int connect_from(const char *src, int port)
{
    struct sockaddr_in me = {.sin_family = AF_INET};
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    assert_true(fd >= 0);
    assert_int_equal(inet_pton(AF_INET, src, &me.sin_addr), 1);
    assert_int_equal(inet_pton(AF_INET, "127.0.0.1", &to.sin_addr), 1);
    assert_int_equal(bind(fd, (struct sockaddr *)&me, sizeof(me)), 0);
    assert_int_equal(connect(fd, (struct sockaddr *)&to, sizeof(to)), 0);
    return fd;
}

static void send_all(int fd, const char *s)
{
    assert_int_equal(send(fd, s, strlen(s), MSG_NOSIGNAL), (ssize_t)strlen(s));
}

/* Read into \p buf until the peer closes or \p ms pass. Returns 1 if it closed. */
static int read_until_closed(int fd, char *buf, size_t size, int ms)
{
    long long end = now_ms() + ms;
    size_t len = strlen(buf);

    while (now_ms() < end) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        ssize_t n;

        if (poll(&p, 1, (int)(end - now_ms())) <= 0) {
            continue;
        }
        n = recv(fd, buf + len, size - 1 - len, 0);
        if (n <= 0) {
            return 1; /* end of file, or reset */
        }
        len += (size_t)n;
        buf[len] = '\0';
    }
    return 0;
}

/* One whole request on a new connection from \p src; returns the status line's code. */
static int status_from(const char *src, int port)
{
    char buf[4096] = "";
    int fd = connect_from(src, port), code = 0;

    send_all(fd, "GET /webhooks/shopify HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n");
    read_until_closed(fd, buf, sizeof(buf), 5000);
    close(fd);
    sscanf(buf, "HTTP/1.1 %d", &code);
    return code;
}

static long get_admin(int port, const char *path)
{
    char buf[4096] = "", req[256];
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    int fd = socket(AF_INET, SOCK_STREAM, 0), code = 0;

    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&to, sizeof(to)) == 0) {
        snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", path);
        send_all(fd, req);
        read_until_closed(fd, buf, sizeof(buf), 2000);
        sscanf(buf, "HTTP/1.1 %d", &code);
    }
    close(fd);
    return code;
}

static pid_t spawn(const char *const *env, const char *log)
{
    char path[1024];
    const char *dir = getenv("DH_TEST_BUILD_DIR");
    pid_t pid, parent;

    snprintf(path, sizeof(path), "%s/dh-gateway", dir && *dir ? dir : ".");
    assert_int_equal(access(path, X_OK), 0); /* a missing binary fails, never skips */
    parent = getpid();
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);

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

static int setup(void **state)
{
    gateway_t *g = calloc(1, sizeof(*g));
    char e[10][300];
    const char *env[11];
    FILE *fp;

    assert_non_null(g);
    g->port = free_port();
    g->admin_port = free_port();
    snprintf(g->stores, sizeof(g->stores), "/tmp/dh-gw-limits-%d-stores.json", (int)getpid());
    snprintf(g->log, sizeof(g->log), "/tmp/dh-gw-limits-%d.log", (int)getpid());
    fp = fopen(g->stores, "w");
    assert_non_null(fp);
    fprintf(fp, "{\"stores\": [{\"domain\": \"gw-limits.myshopify.com\", \"tenants\": [\"gwl\"], "
                "\"access_token\": \"shpat_test\", \"webhook_secrets\": [\"s\"]}]}\n");
    fclose(fp);
    snprintf(e[0], 300, "DH_STORES_FILE=%s", g->stores);
    snprintf(e[1], 300, "DH_GATEWAY_PORT=%d", g->port);
    snprintf(e[2], 300, "DH_ADMIN_PORT=%d", g->admin_port);
    snprintf(e[3], 300, "DH_GATEWAY_ADDR=127.0.0.1");
    snprintf(e[4], 300, "DH_KAFKA_BROKERS=127.0.0.1:%d", free_port()); /* nothing listens */
    snprintf(e[5], 300, "DH_REDIS_URL=");
    snprintf(e[6], 300, "DH_GATEWAY_REQUEST_TIMEOUT_MS=%d", DEADLINE_MS);
    snprintf(e[7], 300, "DH_GATEWAY_MAX_CONNECTIONS_PER_IP=%d", PER_IP);
    snprintf(e[8], 300, "DH_LOG_LEVEL=info");
    for (int i = 0; i < 9; i++) {
        env[i] = e[i];
    }
    env[9] = NULL;
    g->pid = spawn(env, g->log);
    for (int i = 0; i < 200 && get_admin(g->admin_port, "/healthz") != 200; i++) {
        nanosleep(&(struct timespec){0, 50000000L}, NULL);
    }
    assert_int_equal(get_admin(g->admin_port, "/healthz"), 200);
    *state = g;
    return 0;
}

/* Every line of the gateway's log is a JSON object; librdkafka's lines are among them. */
static void assert_json_log(const char *path)
{
    FILE *fp = fopen(path, "r");
    char line[16384];
    int lines = 0, kafka = 0;

    assert_non_null(fp);
    while (fgets(line, sizeof(line), fp)) {
        json_error_t jerr;
        json_t *j = json_loads(line, 0, &jerr);
        const char *comp = json_string_value(json_object_get(j, "component"));
        const char *msg = json_string_value(json_object_get(j, "msg"));

        if (!json_is_object(j) || !json_is_string(json_object_get(j, "level"))) {
            fail_msg("not a JSON log line: %s", line);
        }
        kafka += comp && msg && !strcmp(comp, "librdkafka") && !strncmp(msg, "dh-gateway#", 11);
        lines++;
        json_decref(j);
    }
    fclose(fp);
    printf("gateway log: %d JSON lines, %d from librdkafka\n", lines, kafka);
    assert_true(kafka > 0);
}

static int teardown(void **state)
{
    gateway_t *g = *state;
    int status = 0;

    kill(g->pid, SIGTERM);
    assert_int_equal(waitpid(g->pid, &status, 0), g->pid); /* the log is complete */
    assert_true(WIFEXITED(status));
    assert_json_log(g->log);
    unlink(g->log);
    unlink(g->stores);
    free(g);
    return 0;
}

/* Trickle \p prefix then one byte of \p drip a second until the server closes (or 10 s).
 * Returns how long after connecting it closed, -1 if it never did; \p got: its answer. */
static long long trickle(int port, const char *prefix, char drip, char *got, size_t size)
{
    int fd = connect_from("127.0.0.1", port);
    long long t0 = now_ms(), closed_at = -1;

    got[0] = '\0';
    send_all(fd, prefix);
    while (now_ms() - t0 < 10000) {
        char one[2] = {drip, '\0'};

        if (read_until_closed(fd, got, size, 1000)) {
            closed_at = now_ms() - t0;
            break;
        }
        if (send(fd, one, 1, MSG_NOSIGNAL) != 1) { /* reset: closed */
            closed_at = now_ms() - t0;
            break;
        }
    }
    close(fd);
    return closed_at;
}

static void test_slow_headers_cut_at_deadline(void **state)
{
    gateway_t *g = *state;
    char got[4096];
    long long ms = trickle(g->port, "POST /webhooks/shopify HTTP/1.1\r\nHost: gw\r\nX-Slow: ", 'a',
                           got, sizeof(got));

    printf("slow headers: closed after %lld ms, answer '%.40s'\n", ms, got);
    assert_true(ms >= DEADLINE_MS - 100);
    assert_true(ms <= DEADLINE_MS + 1500);
    assert_true(!strncmp(got, "HTTP/1.1 408", 12) || !got[0]); /* 408, or cut before reading */
    assert_int_equal(status_from("127.0.0.1", g->port), 405);  /* the server itself is fine */
}

static void test_slow_body_cut_at_deadline(void **state)
{
    gateway_t *g = *state;
    char got[4096];
    long long ms = trickle(g->port,
                           "POST /webhooks/shopify HTTP/1.1\r\nHost: gw\r\n"
                           "Content-Type: application/json\r\nContent-Length: 60\r\n\r\n{",
                           ' ', got, sizeof(got));

    printf("slow body: closed after %lld ms, answer '%.40s'\n", ms, got);
    assert_true(ms >= DEADLINE_MS - 100);
    assert_true(ms <= DEADLINE_MS + 1500);
    assert_true(!strncmp(got, "HTTP/1.1 408", 12));
}

static int served_again(int port)
{
    for (long long end = now_ms() + 5000; now_ms() < end;) {
        if (status_from("127.0.0.1", port) == 405) {
            return 1;
        }
        nanosleep(&(struct timespec){0, 50000000L}, NULL);
    }
    return 0;
}

/* A connection from 127.0.0.1 that the gateway accepted and keeps waiting for the rest of
 * its request. Connections of earlier tests may still count for a moment after they were
 * closed (libmicrohttpd forgets them once their thread ends): retry while refused. */
static int hold_one(int port)
{
    for (long long end = now_ms() + 5000; now_ms() < end;) {
        int fd = connect_from("127.0.0.1", port);
        char buf[64] = "";

        send_all(fd, "POST /webhooks/shopify HTTP/1.1\r\n"); /* and nothing more */
        if (!read_until_closed(fd, buf, sizeof(buf), 300)) {
            return fd; /* still open: accepted */
        }
        close(fd);
    }
    fail_msg("no connection from 127.0.0.1 was accepted within 5 s");
    return -1;
}

static void test_per_ip_cap(void **state)
{
    gateway_t *g = *state;
    int held[PER_IP], extra;
    char buf[256] = "";

    for (int i = 0; i < PER_IP; i++) {
        held[i] = hold_one(g->port);
    }
    /* The (PER_IP+1)-th from the same address: closed without an answer. */
    extra = connect_from("127.0.0.1", g->port);
    assert_true(read_until_closed(extra, buf, sizeof(buf), 1000));
    assert_string_equal(buf, "");
    close(extra);
    /* Another address is served meanwhile. */
    assert_int_equal(status_from("127.0.0.2", g->port), 405);
    /* One of the three goes away: 127.0.0.1 is served again. */
    close(held[0]);
    assert_true(served_again(g->port));
    for (int i = 1; i < PER_IP; i++) {
        close(held[i]);
    }
}

/* POST a Shopify-signed orders/create with \p body; returns the whole answer in \p got. */
static void post_signed(int port, const char *body, char *got, size_t size)
{
    unsigned char mac[32];
    unsigned int n = 0;
    char sig[64], req[2048];
    int fd = connect_from("127.0.0.1", port);

    HMAC(EVP_sha256(), "s", 1, (const unsigned char *)body, strlen(body), mac, &n);
    EVP_EncodeBlock((unsigned char *)sig, mac, (int)n);
    snprintf(req, sizeof(req),
             "POST /webhooks/shopify HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n"
             "Content-Type: application/json\r\nX-Shopify-Topic: orders/create\r\n"
             "X-Shopify-Shop-Domain: gw-limits.myshopify.com\r\nX-Shopify-API-Version: 2026-04\r\n"
             "X-Shopify-Webhook-Id: wh-ids\r\nX-Shopify-Hmac-Sha256: %s\r\n"
             "Content-Length: %zu\r\n\r\n%s",
             sig, strlen(body), body);
    send_all(fd, req);
    got[0] = '\0';
    assert_true(read_until_closed(fd, got, size, 5000));
    close(fd);
}

/* post_signed(), again while refused by the per-address cap (earlier tests' connections
 * may count for a moment after closing). */
static void post_signed_served(int port, const char *body, char *got, size_t size)
{
    for (int i = 0; i < 50; i++) {
        post_signed(port, body, got, size);
        if (got[0]) {
            return;
        }
        nanosleep(&(struct timespec){0, 100000000L}, NULL);
    }
}

static void test_dead_letter_ids_are_400(void **state)
{
    static const char *const bodies[] = {"{\"id\":0,\"name\":\"#1\"}",
                                         "{\"id\":\"5802154000001\",\"name\":\"#1\"}",
                                         "{\"id\":-3}", "{\"id\":1.0}"};
    gateway_t *g = *state;
    char got[4096];

    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        post_signed_served(g->port, bodies[i], got, sizeof(got));
        if (strncmp(got, "HTTP/1.1 400", 12) || !strstr(got, "\"id\" must be an integer >= 1")) {
            fail_msg("%s: answered %.200s", bodies[i], got);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_slow_headers_cut_at_deadline),
        cmocka_unit_test(test_slow_body_cut_at_deadline),
        cmocka_unit_test(test_dead_letter_ids_are_400),
        cmocka_unit_test(test_per_ip_cap),
    };
    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, setup, teardown);
}
