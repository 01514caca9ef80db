/*
 * dh_http against a tiny in-test HTTP/1.1 server (raw sockets, one thread per
 * connection, 127.0.0.1 on an ephemeral port). The server counts accepted connections
 * so keep-alive reuse is observable.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "dockhand/http.h"

/* cmocka.h needs these three first; keep clang-format from sorting it above them. */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
/* clang-format on */

#define MAX_CONNS 64

typedef struct server {
    int lfd;
    int port;
    pthread_t acceptor;
    pthread_t conns[MAX_CONNS];
    int conn_fds[MAX_CONNS];
    int nconns;
    int accepted;
    int stop;
    pthread_mutex_t mu;
} server_t;

typedef struct conn_arg {
    server_t *srv;
    int fd;
} conn_arg_t;

static server_t g_srv;

static int stopping(server_t *s)
{
    int v;
    pthread_mutex_lock(&s->mu);
    v = s->stop;
    pthread_mutex_unlock(&s->mu);
    return v;
}

static int accepted_count(server_t *s)
{
    int v;
    pthread_mutex_lock(&s->mu);
    v = s->accepted;
    pthread_mutex_unlock(&s->mu);
    return v;
}

static void send_all(int fd, const char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n <= 0) {
            return;
        }
        p += n;
        len -= (size_t)n;
    }
}

static void respond(int fd, int status, const char *extra_headers, const char *body,
                    size_t body_len)
{
    char head[512];
    int n = snprintf(head, sizeof(head), "HTTP/1.1 %d X\r\nContent-Length: %zu\r\n%s\r\n", status,
                     body_len, extra_headers);
    send_all(fd, head, (size_t)n);
    send_all(fd, body, body_len);
}

/* Waits up to ms for the client to send or close; 1 if the connection is gone. */
static int client_gone(int fd, int ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    char b;
    return poll(&p, 1, ms) > 0 && recv(fd, &b, 1, MSG_PEEK) <= 0;
}

static void serve_chunked(int fd)
{
    char chunk[1000];
    char size_line[16];
    const char *head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";

    memset(chunk, 'c', sizeof(chunk));
    send_all(fd, head, strlen(head));
    for (int i = 0; i < 100; i++) {
        int n = snprintf(size_line, sizeof(size_line), "%zx\r\n", sizeof(chunk));
        send_all(fd, size_line, (size_t)n);
        send_all(fd, chunk, sizeof(chunk));
        send_all(fd, "\r\n", 2);
    }
    send_all(fd, "0\r\n\r\n", 5);
}

static void route(int fd, const char *method, const char *path, const char *body, size_t body_len)
{
    char path_only[256];
    snprintf(path_only, sizeof(path_only), "%.*s", (int)strcspn(path, "?"), path);
    if (strcmp(path_only, "/hello") == 0) {
        respond(fd, 200, "Content-Type: text/plain; charset=utf-8\r\n", "hello world", 11);
    } else if (strcmp(path_only, "/echo") == 0) {
        char *out = malloc(strlen(method) + 1 + body_len);
        size_t n = strlen(method);
        memcpy(out, method, n);
        out[n] = ' ';
        if (body_len > 0) {
            memcpy(out + n + 1, body, body_len);
        }
        respond(fd, 200, "", out, n + 1 + body_len);
        free(out);
    } else if (strcmp(path_only, "/slow") == 0) {
        if (!client_gone(fd, 3000)) {
            respond(fd, 200, "", "late", 4);
        }
    } else if (strcmp(path_only, "/big") == 0) {
        char *big = malloc(100000);
        memset(big, 'b', 100000);
        respond(fd, 200, "", big, 100000);
        free(big);
    } else if (strcmp(path_only, "/bigchunked") == 0) {
        serve_chunked(fd);
    } else if (strcmp(path_only, "/retry") == 0) {
        respond(fd, 429, "Retry-After: 7\r\n", "slow down", 9);
    } else if (strcmp(path_only, "/retrydate") == 0) {
        char hdr[128];
        struct tm tm;
        time_t when = time(NULL) + 30;
        gmtime_r(&when, &tm);
        strftime(hdr, sizeof(hdr), "Retry-After: %a, %d %b %Y %H:%M:%S GMT\r\n", &tm);
        respond(fd, 503, hdr, "", 0);
    } else {
        respond(fd, 404, "", "", 0);
    }
}

/* Value of the Content-Length header in [buf, end), or NULL. */
static const char *find_content_length(const char *buf, const char *end)
{
    static const char name[] = "\r\ncontent-length:";
    for (const char *p = buf; p + sizeof(name) - 1 <= end; p++) {
        if (strncasecmp(p, name, sizeof(name) - 1) == 0) {
            return p + sizeof(name) - 1;
        }
    }
    return NULL;
}

/* Serves requests on one connection until the client closes it or the server stops. */
static void *conn_main(void *arg)
{
    conn_arg_t *ca = arg;
    static const size_t cap = 1 << 16;
    char *buf = malloc(cap);
    size_t len = 0;

    while (!stopping(ca->srv)) {
        char method[16] = "";
        char path[256] = "";
        char *end = NULL;
        const char *cl;
        size_t body_len = 0;
        size_t head_len;
        struct pollfd p = {.fd = ca->fd, .events = POLLIN};

        buf[len] = '\0';
        end = strstr(buf, "\r\n\r\n");
        if (end == NULL) {
            ssize_t n;
            if (poll(&p, 1, 100) <= 0) {
                continue;
            }
            n = recv(ca->fd, buf + len, cap - 1 - len, 0);
            if (n <= 0) {
                break;
            }
            len += (size_t)n;
            continue;
        }
        head_len = (size_t)(end + 4 - buf);
        if (sscanf(buf, "%15s %255s", method, path) != 2) {
            break;
        }
        cl = find_content_length(buf, end);
        if (cl != NULL) {
            body_len = strtoul(cl, NULL, 10);
        }
        while (len < head_len + body_len) {
            ssize_t n = recv(ca->fd, buf + len, cap - 1 - len, 0);
            if (n <= 0) {
                goto out;
            }
            len += (size_t)n;
        }
        route(ca->fd, method, path, buf + head_len, body_len);
        memmove(buf, buf + head_len + body_len, len - head_len - body_len);
        len -= head_len + body_len;
    }
out:
    close(ca->fd);
    free(buf);
    free(ca);
    return NULL;
}

static void *accept_main(void *arg)
{
    server_t *s = arg;
    while (!stopping(s)) {
        struct pollfd p = {.fd = s->lfd, .events = POLLIN};
        conn_arg_t *ca;
        int fd;
        if (poll(&p, 1, 100) <= 0) {
            continue;
        }
        fd = accept(s->lfd, NULL, NULL);
        if (fd < 0) {
            continue;
        }
        ca = malloc(sizeof(*ca));
        ca->srv = s;
        ca->fd = fd;
        pthread_mutex_lock(&s->mu);
        s->accepted++;
        if (s->nconns < MAX_CONNS &&
            pthread_create(&s->conns[s->nconns], NULL, conn_main, ca) == 0) {
            s->nconns++;
            ca = NULL;
        }
        pthread_mutex_unlock(&s->mu);
        if (ca != NULL) {
            close(ca->fd);
            free(ca);
        }
    }
    return NULL;
}

static int listen_any(int *port)
{
    struct sockaddr_in a;
    socklen_t alen = sizeof(a);
    int one = 1;
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(fd, 16) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &alen) != 0) {
        close(fd);
        return -1;
    }
    *port = ntohs(a.sin_port);
    return fd;
}

static int setup(void **state)
{
    (void)state;
    if (dh_http_global_init() != DH_OK) {
        return -1;
    }
    memset(&g_srv, 0, sizeof(g_srv));
    pthread_mutex_init(&g_srv.mu, NULL);
    g_srv.lfd = listen_any(&g_srv.port);
    if (g_srv.lfd < 0) {
        return -1;
    }
    return pthread_create(&g_srv.acceptor, NULL, accept_main, &g_srv) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    pthread_mutex_lock(&g_srv.mu);
    g_srv.stop = 1;
    pthread_mutex_unlock(&g_srv.mu);
    pthread_join(g_srv.acceptor, NULL);
    for (int i = 0; i < g_srv.nconns; i++) {
        pthread_join(g_srv.conns[i], NULL);
    }
    close(g_srv.lfd);
    pthread_mutex_destroy(&g_srv.mu);
    dh_http_global_cleanup();
    return 0;
}

static dh_http_t *new_client(long timeout_ms, size_t max_body)
{
    dh_http_opts_t o = {.connect_timeout_ms = 1000, .timeout_ms = timeout_ms, .max_body = max_body};
    char err[256];
    dh_http_t *h = dh_http_new(&o, err, sizeof(err));
    assert_non_null(h);
    return h;
}

static void url_of(char *out, size_t size, const char *path)
{
    snprintf(out, size, "http://127.0.0.1:%d%s", g_srv.port, path);
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static void test_status_and_body(void **state)
{
    dh_http_t *h = new_client(2000, 1 << 20);
    dh_http_resp_t resp;
    char url[128];
    (void)state;

    url_of(url, sizeof(url), "/hello");
    assert_int_equal(dh_http_request(h, "GET", url, NULL, NULL, 0, &resp), DH_OK);
    assert_int_equal(resp.status, 200);
    assert_int_equal(resp.body_len, 11);
    assert_string_equal(resp.body, "hello world");
    assert_string_equal(resp.content_type, "text/plain; charset=utf-8");
    assert_int_equal(resp.retry_after_s, -1);
    dh_http_resp_clear(&resp);

    url_of(url, sizeof(url), "/nothing");
    assert_int_equal(dh_http_request(h, "GET", url, NULL, NULL, 0, &resp), DH_OK);
    assert_int_equal(resp.status, 404);
    assert_int_equal(resp.body_len, 0);
    assert_string_equal(resp.body, "");
    dh_http_resp_clear(&resp);
    dh_http_destroy(h);
}

static void test_keepalive_reuse(void **state)
{
    dh_http_t *h = new_client(2000, 1 << 20);
    dh_http_resp_t resp;
    char url[128];
    int before = accepted_count(&g_srv);
    (void)state;

    url_of(url, sizeof(url), "/hello");
    for (int i = 0; i < 5; i++) {
        assert_int_equal(dh_http_request(h, "GET", url, NULL, NULL, 0, &resp), DH_OK);
        assert_int_equal(resp.status, 200);
        dh_http_resp_clear(&resp);
    }
    assert_int_equal(accepted_count(&g_srv) - before, 1);
    dh_http_destroy(h);
}

static void test_methods_binary_bodies(void **state)
{
    static const char bin[] = {'a', '\0', 'b'};
    const char *headers[] = {"X-Api-Key: secret", "Content-Type: application/octet-stream", NULL};
    dh_http_t *h = new_client(2000, 1 << 20);
    dh_http_resp_t resp;
    char url[128];
    (void)state;

    url_of(url, sizeof(url), "/echo");
    assert_int_equal(dh_http_request(h, "POST", url, headers, bin, sizeof(bin), &resp), DH_OK);
    assert_int_equal(resp.body_len, 8);
    assert_memory_equal(resp.body, "POST a\0b", 8);
    dh_http_resp_clear(&resp);

    assert_int_equal(dh_http_request(h, "PUT", url, headers, "xyz", 3, &resp), DH_OK);
    assert_string_equal(resp.body, "PUT xyz");
    dh_http_resp_clear(&resp);

    assert_int_equal(dh_http_request(h, "DELETE", url, NULL, NULL, 0, &resp), DH_OK);
    assert_string_equal(resp.body, "DELETE ");
    dh_http_resp_clear(&resp);

    /* A GET after the others must not inherit their method or body. */
    assert_int_equal(dh_http_request(h, "GET", url, NULL, NULL, 0, &resp), DH_OK);
    assert_string_equal(resp.body, "GET ");
    dh_http_resp_clear(&resp);
    dh_http_destroy(h);
}

static void test_timeout(void **state)
{
    dh_http_t *h = new_client(300, 1 << 20);
    dh_http_resp_t resp;
    char url[128];
    double t0 = now_ms();
    (void)state;

    url_of(url, sizeof(url), "/slow?token=SECRET");
    assert_int_equal(dh_http_request(h, "GET", url, NULL, NULL, 0, &resp), DH_ERR_TIMEOUT);
    assert_true(now_ms() - t0 < 2000);
    assert_int_equal(resp.status, 0);
    assert_null(resp.body);
    assert_null(strstr(dh_http_errstr(h), "SECRET"));
    assert_non_null(strstr(dh_http_errstr(h), "/slow"));

    /* The handle is still usable after a timeout. */
    url_of(url, sizeof(url), "/hello");
    assert_int_equal(dh_http_request(h, "GET", url, NULL, NULL, 0, &resp), DH_OK);
    assert_int_equal(resp.status, 200);
    dh_http_resp_clear(&resp);
    dh_http_destroy(h);
}

static void test_body_over_cap(void **state)
{
    dh_http_t *h = new_client(2000, 1000);
    dh_http_resp_t resp;
    char url[128];
    (void)state;

    url_of(url, sizeof(url), "/big?sig=SECRET");
    assert_int_equal(dh_http_request(h, "GET", url, NULL, NULL, 0, &resp), DH_ERR_LIMIT);
    assert_null(resp.body);
    assert_null(strstr(dh_http_errstr(h), "SECRET"));

    /* No Content-Length: the write callback enforces the cap. */
    url_of(url, sizeof(url), "/bigchunked");
    assert_int_equal(dh_http_request(h, "GET", url, NULL, NULL, 0, &resp), DH_ERR_LIMIT);

    url_of(url, sizeof(url), "/hello");
    assert_int_equal(dh_http_request(h, "GET", url, NULL, NULL, 0, &resp), DH_OK);
    assert_string_equal(resp.body, "hello world");
    dh_http_resp_clear(&resp);
    dh_http_destroy(h);
}

static void test_retry_after(void **state)
{
    dh_http_t *h = new_client(2000, 1 << 20);
    dh_http_resp_t resp;
    char url[128];
    (void)state;

    url_of(url, sizeof(url), "/retry");
    assert_int_equal(dh_http_request(h, "GET", url, NULL, NULL, 0, &resp), DH_OK);
    assert_int_equal(resp.status, 429);
    assert_int_equal(resp.retry_after_s, 7);
    dh_http_resp_clear(&resp);

    url_of(url, sizeof(url), "/retrydate");
    assert_int_equal(dh_http_request(h, "GET", url, NULL, NULL, 0, &resp), DH_OK);
    assert_int_equal(resp.status, 503);
    assert_in_range(resp.retry_after_s, 25, 31);
    dh_http_resp_clear(&resp);

    /* Headers of one response do not leak into the next. */
    url_of(url, sizeof(url), "/hello");
    assert_int_equal(dh_http_request(h, "GET", url, NULL, NULL, 0, &resp), DH_OK);
    assert_int_equal(resp.retry_after_s, -1);
    dh_http_resp_clear(&resp);
    dh_http_destroy(h);
}

static void test_connection_refused(void **state)
{
    dh_http_t *h = new_client(2000, 1 << 20);
    dh_http_resp_t resp;
    char url[128];
    int port = 0;
    int fd = listen_any(&port);
    (void)state;

    assert_true(fd >= 0);
    close(fd); /* nothing listens on that port now */
    snprintf(url, sizeof(url), "http://user:pw@127.0.0.1:%d/x?k=SECRET", port);
    assert_int_equal(dh_http_request(h, "GET", url, NULL, NULL, 0, &resp), DH_ERR_IO);
    assert_int_equal(resp.status, 0);
    assert_null(strstr(dh_http_errstr(h), "SECRET"));
    assert_null(strstr(dh_http_errstr(h), "pw@"));
    dh_http_destroy(h);
    dh_http_destroy(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_and_body),       cmocka_unit_test(test_keepalive_reuse),
        cmocka_unit_test(test_methods_binary_bodies), cmocka_unit_test(test_timeout),
        cmocka_unit_test(test_body_over_cap),         cmocka_unit_test(test_retry_after),
        cmocka_unit_test(test_connection_refused),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
