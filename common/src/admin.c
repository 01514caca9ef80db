/*
 * The admin HTTP port on libmicrohttpd's internal polling thread: /metrics, /healthz and
 * /readyz, GET only. Probes are callbacks, so this file knows nothing about Kafka or
 * Redis. It serves no other routes, no TLS and no authentication: bind it to a private
 * interface.
 */
#include "dockhand/admin.h"

#include <stdarg.h>

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "dockhand/log.h"
#include "dockhand/procmetrics.h"

#define CONN_LIMIT   32
#define CONN_TIMEOUT 10 /* seconds; a stuck scraper must not hold a slot forever */
#define REASON_MAX   256
#define TEXT_PLAIN   "text/plain; charset=utf-8"
#define PROM_TYPE    "text/plain; version=0.0.4; charset=utf-8"

struct dh_admin_s {
    struct MHD_Daemon *daemon;
    dh_admin_opts_t opts; /**< bind_addr is only used during start. */
    int port;
    dh_procmetrics_t *proc; /**< process_* and dh_build_info in opts.metrics */
};

typedef int (*probe_fn)(void *ud, char *buf, size_t size);

/* Queue `body` (copied unless `owned`, then freed by MHD) with `status` and `type`. */
static enum MHD_Result reply(struct MHD_Connection *conn, unsigned int status, const char *type,
                             char *body, size_t len, int owned)
{
    struct MHD_Response *resp;
    enum MHD_Result ret;

    resp = MHD_create_response_from_buffer(len, body,
                                           owned ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_MUST_COPY);
    if (!resp) {
        if (owned) {
            free(body);
        }
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED) {
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, MHD_HTTP_METHOD_GET);
    }
    ret = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result reply_text(struct MHD_Connection *conn, unsigned int status,
                                  const char *text)
{
    return reply(conn, status, TEXT_PLAIN, (char *)text, strlen(text), 0);
}

static enum MHD_Result serve_metrics(dh_admin_t *a, struct MHD_Connection *conn)
{
    char *text = NULL;
    size_t len = 0;

    if (!a->opts.metrics) {
        return reply(conn, MHD_HTTP_OK, PROM_TYPE, (char *)"", 0, 0);
    }
    dh_procmetrics_sample(a->proc);
    if (dh_metrics_render(a->opts.metrics, &text, &len) != DH_OK) {
        return reply_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot render metrics\n");
    }
    return reply(conn, MHD_HTTP_OK, PROM_TYPE, text, len, 1);
}

/* 200 "ok\n" or 503 with the probe's reason; no probe means healthy/ready. */
static enum MHD_Result serve_probe(dh_admin_t *a, struct MHD_Connection *conn, probe_fn probe,
                                   const char *what)
{
    char reason[REASON_MAX] = "";
    char body[REASON_MAX + 32];

    if (!probe || probe(a->opts.ud, reason, sizeof(reason))) {
        return reply_text(conn, MHD_HTTP_OK, "ok\n");
    }
    reason[sizeof(reason) - 1] = '\0'; /* The probe may have filled the buffer exactly. */
    snprintf(body, sizeof(body), "%s\n", reason[0] ? reason : what);
    return reply_text(conn, MHD_HTTP_SERVICE_UNAVAILABLE, body);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *upload_data,
                              size_t *upload_data_size, void **con_cls)
{
    dh_admin_t *a = cls;
    int known =
        strcmp(url, "/metrics") == 0 || strcmp(url, "/healthz") == 0 || strcmp(url, "/readyz") == 0;

    (void)version;
    (void)upload_data;
    (void)upload_data_size;
    (void)con_cls;
    if (!known) {
        return reply_text(conn, MHD_HTTP_NOT_FOUND, "not found\n");
    }
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0) {
        return reply_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n");
    }
    if (strcmp(url, "/metrics") == 0) {
        return serve_metrics(a, conn);
    }
    if (strcmp(url, "/healthz") == 0) {
        return serve_probe(a, conn, a->opts.healthy, "unhealthy");
    }
    return serve_probe(a, conn, a->opts.ready, "not ready");
}

/* MHD's own errors (accept failures, bad requests) go to our JSON log, not raw stderr. */
void dh_admin_mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[512];
    size_t n;

    vsnprintf(msg, sizeof(msg), fmt, ap);
    n = strlen(msg);
    while (n > 0 && msg[n - 1] == '\n') {
        msg[--n] = '\0';
    }
    DH_LOG(DH_LOG_WARN, cls ? (const char *)cls : "httpd", "%s", msg);
}

socklen_t dh_admin_sockaddr(const char *host, int port, struct sockaddr_storage *ss, int *ipv6)
{
    struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

    memset(ss, 0, sizeof(*ss));
    if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        in4->sin_port = htons((uint16_t)port);
        return sizeof(*in4);
    }
    if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
        *ipv6 = 1;
        return sizeof(*in6);
    }
    return 0;
}

/* The bound port (the ephemeral one when port 0 was asked for). */
static int bound_port(struct MHD_Daemon *d)
{
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);

    if (info && info->port != 0) {
        return info->port;
    }
    info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_LISTEN_FD);
    if (!info || getsockname(info->listen_fd, (struct sockaddr *)&ss, &len) != 0) {
        return -1;
    }
    if (ss.ss_family == AF_INET6) {
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    }
    return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

dh_err_t dh_admin_start(const dh_admin_opts_t *opts, dh_admin_t **out, char *errstr,
                        size_t errstr_size)
{
    const char *host = (opts && opts->bind_addr) ? opts->bind_addr : "0.0.0.0";
    /* AUTO picks epoll/poll: select() fails once a busy worker has fds above FD_SETSIZE. */
    unsigned int flags = MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG;
    struct sockaddr_storage ss;
    dh_admin_t *a = NULL;
    dh_err_t err = DH_ERR_INVALID;

    *out = NULL;
    if (!opts || opts->port < 0 || opts->port > 65535) {
        snprintf(errstr, errstr_size, "admin: port must be in [0, 65535]");
        goto out;
    }
    int ipv6 = 0;

    if (dh_admin_sockaddr(host, opts->port, &ss, &ipv6) == 0) {
        snprintf(errstr, errstr_size, "admin: invalid bind address '%s'", host);
        goto out;
    }
    err = DH_ERR_NOMEM;
    a = calloc(1, sizeof(*a));
    if (!a) {
        snprintf(errstr, errstr_size, "admin: out of memory");
        goto out;
    }
    if (ipv6) {
        flags |= MHD_USE_IPv6;
    }
    a->opts = *opts;
    a->opts.bind_addr = NULL;
    /* Made before the server thread starts: every series exists before the first scrape. */
    a->proc = a->opts.metrics ? dh_procmetrics_new(a->opts.metrics) : NULL;
    errno = 0;
    /* MHD binds to SOCK_ADDR and uses the port argument only in its messages. The logger
     * goes first so that MHD routes even option-parsing messages through it. */
    a->daemon = MHD_start_daemon(
        flags, (uint16_t)opts->port, NULL, NULL, handle, a, MHD_OPTION_EXTERNAL_LOGGER,
        dh_admin_mhd_log, "admin", MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned int)CONN_LIMIT, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned int)CONN_TIMEOUT, MHD_OPTION_END);
    if (!a->daemon) {
        err = DH_ERR_IO;
        snprintf(errstr, errstr_size, "admin: cannot listen on %s:%d: %s", host, opts->port,
                 errno ? strerror(errno) : "libmicrohttpd failed to start");
        goto out;
    }
    a->port = bound_port(a->daemon);
    *out = a;
    a = NULL;
    err = DH_OK;
out:
    dh_admin_stop(a);
    return err;
}

int dh_admin_port(const dh_admin_t *a)
{
    return a ? a->port : -1;
}

void dh_admin_stop(dh_admin_t *a)
{
    if (!a) {
        return;
    }
    if (a->daemon) {
        MHD_stop_daemon(a->daemon); /* Joins the server thread. */
    }
    dh_procmetrics_destroy(a->proc);
    free(a);
}
