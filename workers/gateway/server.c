/*
 * libmicrohttpd plumbing for the webhook endpoints: per-request state, the body cap,
 * header extraction, and a graceful stop (quiesce, let in-flight requests answer, then
 * close). The decisions themselves are in webhook.c.
 */
#include "server.h"

#include <stdarg.h>

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "deadline.h"
#include "dockhand/admin.h"
#include "dockhand/log.h"

struct dh_gw_server_s {
    struct MHD_Daemon *daemon;
    dh_gw_deadline_t *deadline;
    dh_gw_t *gw;
    int port;
    atomic_int inflight;
};

/* One per request, from its headers until libmicrohttpd reports it completed. */
typedef struct req_state {
    char *body;
    size_t len, cap;
    int too_large;
    long long t0_us;
    char received_at[40];
} req_state_t;

static void rfc3339_now(char *buf, size_t size)
{
    struct timespec ts;
    struct tm tm;
    char base[32];

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, size, "%.19s.%03dZ", base, (int)(ts.tv_nsec / 1000000) % 1000);
}

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned int status, const char *text)
{
    char body[300];
    int n = snprintf(body, sizeof(body), "%s\n", text);
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        (size_t)(n < (int)sizeof(body) ? n : (int)sizeof(body) - 1), body, MHD_RESPMEM_MUST_COPY);
    enum MHD_Result ret;

    if (!resp) {
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED) {
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "POST");
    }
    if (status == MHD_HTTP_SERVICE_UNAVAILABLE) {
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, "5");
    }
    ret = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static const char *hdr(struct MHD_Connection *conn, const char *name)
{
    const char *v = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, name);

    return (v && *v) ? v : NULL; /* an empty header is treated as absent */
}

/* Append upload bytes under the cap; past it, drop the buffer and only remember that. */
static void append_body(req_state_t *st, size_t max, const char *data, size_t n)
{
    if (st->too_large) {
        return;
    }
    if (st->len + n > max) {
        st->too_large = 1;
        free(st->body);
        st->body = NULL;
        st->len = st->cap = 0;
        return;
    }
    if (st->len + n > st->cap) {
        size_t cap = st->cap ? st->cap : 4096;

        while (cap < st->len + n) {
            cap *= 2;
        }
        char *nb = realloc(st->body, cap > max ? max : cap);

        if (!nb) {
            st->too_large = 1; /* out of memory: answered like an oversized body */
            return;
        }
        st->body = nb;
        st->cap = cap > max ? max : cap;
    }
    memcpy(st->body + st->len, data, n);
    st->len += n;
}

/* The connection's deadline handle (set by on_connection), or NULL. */
static dh_gw_conn_t *conn_of(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

    return ci ? ci->socket_context : NULL;
}

static enum MHD_Result first_call(dh_gw_server_t *s, struct MHD_Connection *conn, const char *url,
                                  void **con_cls)
{
    req_state_t *st = calloc(1, sizeof(*st));
    const char *cl = hdr(conn, MHD_HTTP_HEADER_CONTENT_LENGTH);

    if (!st) {
        return MHD_NO;
    }
    dh_gw_deadline_source(s->deadline, conn_of(conn), dh_gw_source_of(url));
    st->t0_us = dh_gw_now_us();
    rfc3339_now(st->received_at, sizeof(st->received_at));
    *con_cls = st;
    atomic_fetch_add(&s->inflight, 1);
    /* Refuse a declared oversized body before reading a byte of it. */
    if (cl && strtoull(cl, NULL, 10) > s->gw->max_body) {
        st->too_large = 1;
        if (!dh_gw_deadline_begin(s->deadline, conn_of(conn), dh_gw_source_of(url))) {
            return MHD_NO; /* already answered 408 */
        }
        dh_gw_count(s->gw, dh_gw_source_of(url), 413);
        return reply(conn, MHD_HTTP_CONTENT_TOO_LARGE, "body too large");
    }
    return MHD_YES;
}

static enum MHD_Result complete(dh_gw_server_t *s, struct MHD_Connection *conn, const char *url,
                                const char *method, req_state_t *st)
{
    dh_gw_req_t req = {.method = method,
                       .path = url,
                       .body = st->body ? st->body : "",
                       .body_len = st->len,
                       .t0_us = st->t0_us};
    dh_gw_reply_t rep = {0};

    /* Complete in time, or the watchdog has answered 408 already: then never produce it. */
    if (!dh_gw_deadline_begin(s->deadline, conn_of(conn), dh_gw_source_of(url))) {
        return MHD_NO;
    }
    if (st->too_large) {
        dh_gw_count(s->gw, dh_gw_source_of(url), 413);
        return reply(conn, MHD_HTTP_CONTENT_TOO_LARGE, "body too large");
    }
    memcpy(req.received_at, st->received_at, sizeof(req.received_at));
    req.sh_topic = hdr(conn, "X-Shopify-Topic");
    req.sh_hmac = hdr(conn, "X-Shopify-Hmac-Sha256");
    req.sh_shop = hdr(conn, "X-Shopify-Shop-Domain");
    req.sh_api_version = hdr(conn, "X-Shopify-API-Version");
    req.sh_webhook_id = hdr(conn, "X-Shopify-Webhook-Id");
    req.sh_event_id = hdr(conn, "X-Shopify-Event-Id");
    req.sh_triggered_at = hdr(conn, "X-Shopify-Triggered-At");
    req.rp_topic = hdr(conn, "X-RP-Topic");
    req.rp_signature = hdr(conn, "X-RP-Signature");
    req.rp_timestamp = hdr(conn, "X-RP-Timestamp");
    req.rp_webhook_id = hdr(conn, "X-RP-Webhook-Id");
    dh_gw_handle(s->gw, &req, &rep);
    return reply(conn, rep.status, rep.text);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    dh_gw_server_t *s = cls;
    req_state_t *st = *con_cls;

    (void)version;
    if (!st) {
        return first_call(s, conn, url, con_cls);
    }
    if (*upload_data_size) {
        append_body(st, s->gw->max_body, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }
    return complete(s, conn, url, method, st);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    dh_gw_server_t *s = cls;
    req_state_t *st = *con_cls;

    (void)toe;
    /* The answer is out (or the request died): the next one gets a fresh deadline. */
    dh_gw_deadline_end(s->deadline, conn_of(conn));
    if (!st) {
        return;
    }
    free(st->body);
    free(st);
    *con_cls = NULL;
    atomic_fetch_sub(&s->inflight, 1);
}

/* Every accepted connection is under the deadline until libmicrohttpd closes its socket
 * (it notifies CLOSED before close(2), so the watchdog never touches a reused fd). */
static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    dh_gw_server_t *s = cls;
    const union MHD_ConnectionInfo *ci;

    if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
        dh_gw_deadline_close(s->deadline, *socket_context);
        *socket_context = NULL;
        return;
    }
    ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    *socket_context = ci ? dh_gw_deadline_open(s->deadline, ci->connect_fd) : NULL;
}

dh_err_t dh_gw_server_start(const dh_gw_server_opts_t *o, dh_gw_server_t **out, char *errstr,
                            size_t errstr_size)
{
    /* Thread per connection: handlers block on the Kafka acknowledgement. ITC makes
     * MHD_quiesce_daemon() possible. */
    unsigned int flags = MHD_USE_AUTO | MHD_USE_INTERNAL_POLLING_THREAD |
                         MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ITC | MHD_USE_ERROR_LOG;
    struct sockaddr_storage ss;
    dh_gw_server_t *s = NULL;
    dh_err_t err = DH_ERR_CONFIG;
    int ipv6 = 0;

    *out = NULL;
    if (!dh_admin_sockaddr(o->bind_addr, o->port, &ss, &ipv6)) {
        snprintf(errstr, errstr_size, "invalid bind address '%s'", o->bind_addr);
        goto out;
    }
    if (ipv6) {
        flags |= MHD_USE_IPv6;
    }
    err = DH_ERR_NOMEM;
    s = calloc(1, sizeof(*s));
    if (!s) {
        goto out;
    }
    s->gw = o->gw;
    err = dh_gw_deadline_new(o->request_timeout_ms, o->gw, &s->deadline);
    if (err) {
        snprintf(errstr, errstr_size, "cannot start the request deadline watchdog");
        goto out;
    }
    errno = 0;
    s->daemon = MHD_start_daemon(
        flags, (uint16_t)o->port, NULL, NULL, on_request, s, MHD_OPTION_EXTERNAL_LOGGER,
        dh_admin_mhd_log, "http", MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
        MHD_OPTION_CONNECTION_LIMIT, o->max_conns, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
        o->max_conns_per_ip, MHD_OPTION_CONNECTION_TIMEOUT, o->idle_timeout_s,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_NOTIFY_CONNECTION, on_connection,
        s, MHD_OPTION_END);
    if (!s->daemon) {
        err = DH_ERR_IO;
        snprintf(errstr, errstr_size, "cannot listen on %s:%d: %s", o->bind_addr, o->port,
                 errno ? strerror(errno) : "libmicrohttpd failed to start");
        goto out;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info ? info->port : o->port;
    *out = s;
    s = NULL;
    err = DH_OK;
out:
    dh_gw_server_stop(s, 0);
    return err;
}

int dh_gw_server_port(const dh_gw_server_t *s)
{
    return s->port;
}

int dh_gw_server_inflight(const dh_gw_server_t *s)
{
    return atomic_load(&((dh_gw_server_t *)s)->inflight);
}

void dh_gw_server_quiesce(dh_gw_server_t *s)
{
    MHD_socket fd = MHD_quiesce_daemon(s->daemon);

    if (fd != MHD_INVALID_SOCKET) {
        close(fd); /* quiesce hands the listening socket to us */
    }
}

void dh_gw_server_stop(dh_gw_server_t *s, int timeout_ms)
{
    if (!s) {
        return;
    }
    for (int waited = 0; s->daemon && waited < timeout_ms && dh_gw_server_inflight(s) > 0;
         waited += 10) {
        nanosleep(&(struct timespec){0, 10000000L}, NULL);
    }
    if (s->daemon) {
        MHD_stop_daemon(s->daemon); /* closes idle keep-alive connections, joins threads */
    }
    dh_gw_deadline_destroy(s->deadline); /* after every connection is closed */
    free(s);
}
