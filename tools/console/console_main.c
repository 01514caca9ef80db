/*
 * dh-console entry point: configuration (the workers' variables plus DH_CONSOLE_*), the
 * HTTP server (libmicrohttpd, one internal polling thread: requests run one at a time,
 * which the shared ops_t and HTTP client rely on) and the routes.
 */
#include <microhttpd.h>
#include <openssl/rand.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "console.h"
#include "dockhand/admin.h"
#include "dockhand/log.h"
#include "dockhand/stores.h"
#include "dockhand/worker.h"

#define BODY_MAX 16384
#define COOKIE   "dhc_session"

static const dh_config_var_t console_vars[] = {
    {"DH_CONSOLE_BIND", DH_CFG_STRING, "127.0.0.1", 0, 0, NULL,
     "dh-console: address to listen on (numeric IPv4 or IPv6)."},
    {"DH_CONSOLE_PORT", DH_CFG_INT, "9480", 0, 65535, NULL,
     "dh-console: HTTP port (0 picks a free one, logged at start)."},
    {"DH_CONSOLE_WORKERS", DH_CFG_STRING, "", 0, 0, NULL,
     "dh-console: the workers' admin ports, name=http://host:port,... (pool health)."},
    {"DH_CONSOLE_GROUPS", DH_CFG_STRING,
     "dockhand-orders,dockhand-inventory,dockhand-dispatch,dockhand-returns,dockhand-catalog", 0, 0,
     NULL, "dh-console: consumer groups whose lag is shown, comma-separated."},
    {"DH_CONSOLE_DLQ_TOPICS", DH_CFG_STRING,
     "wms.putaway.dlq,wms.zone_move.dlq,wms.dispatch.dlq,shopify.orders.dlq,"
     "shopify.products.dlq,returnprime.cir.dlq",
     0, 0, NULL, "dh-console: dead-letter topics shown, comma-separated."},
    {"DH_CONSOLE_MAX_LETTERS", DH_CFG_INT, "1000", 1, 100000, NULL,
     "dh-console: at most this many dead letters read per topic and page."},
    {"DH_CONSOLE_REFRESH_S", DH_CFG_INT, "30", 0, 3600, NULL,
     "dh-console: pages reload every this many seconds (0: never)."},
    {"DH_CONSOLE_TOKEN", DH_CFG_SECRET, "", 0, 0, NULL,
     "dh-console: operator token a redrive must carry; empty refuses every redrive."},
    DH_CONFIG_END,
};

static const dh_config_var_t *const tables[] = {dh_process_config_vars, dh_stores_config_vars,
                                                ops_config_vars, console_vars, NULL};
static const dh_config_check_fn checks[] = {dh_process_check_config, NULL};

/* A POST's form, gathered across the upload calls. */
struct post {
    char body[BODY_MAX + 1];
    size_t len;
    int too_big;
};

static enum MHD_Result send_buf(struct MHD_Connection *conn, unsigned int status, const char *type,
                                char *body, size_t len, const char *cookie)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    enum MHD_Result ret;

    if (!r) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header(r, "X-Frame-Options", "DENY");
    MHD_add_response_header(r, "Content-Security-Policy",
                            "default-src 'none'; "
                            "style-src 'unsafe-inline'; "
                            "form-action 'self'");
    if (cookie) {
        MHD_add_response_header(r, MHD_HTTP_HEADER_SET_COOKIE, cookie);
    }
    ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result send_text(struct MHD_Connection *conn, unsigned int status, const char *text)
{
    char *b = strdup(text);

    return b ? send_buf(conn, status, "text/plain; charset=utf-8", b, strlen(b), NULL) : MHD_NO;
}

/* The session id from the cookie, or a new one (then *set_cookie gets the header). */
static void session_of(struct MHD_Connection *conn, char *sid, size_t size, char *set_cookie,
                       size_t csize)
{
    const char *have = MHD_lookup_connection_value(conn, MHD_COOKIE_KIND, COOKIE);
    unsigned char rnd[16];

    set_cookie[0] = '\0';
    if (have && strlen(have) == 32 && strspn(have, "0123456789abcdef") == 32) {
        snprintf(sid, size, "%s", have);
        return;
    }
    if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
        sid[0] = '\0';
        return;
    }
    for (size_t i = 0; i < sizeof(rnd); i++) {
        snprintf(sid + 2 * i, 3, "%02x", rnd[i]);
    }
    snprintf(set_cookie, csize, COOKIE "=%s; Path=/; HttpOnly; SameSite=Strict", sid);
}

/* Render \p data (stolen) as \p page's HTML, or as JSON for an /api/ route. */
static enum MHD_Result send_page(console_t *c, struct MHD_Connection *conn, const char *page,
                                 json_t *data, int api, unsigned int status)
{
    char sid[40], cookie[128], csrf[80], *buf = NULL;
    size_t len = 0;
    FILE *f;

    if (api) {
        buf = json_dumps(data, JSON_INDENT(1));
        json_decref(data);
        return buf ? send_buf(conn, status, "application/json", buf, strlen(buf), NULL) : MHD_NO;
    }
    session_of(conn, sid, sizeof(sid), cookie, sizeof(cookie));
    console_csrf(c, sid, csrf, sizeof(csrf));
    f = open_memstream(&buf, &len);
    if (!f) {
        json_decref(data);
        return MHD_NO;
    }
    console_html_page(f, page, data, (int)dh_config_int(c->o.cfg, "DH_CONSOLE_REFRESH_S"), csrf);
    fclose(f);
    json_decref(data);
    return send_buf(conn, status, "text/html; charset=utf-8", buf, len, *cookie ? cookie : NULL);
}

/* "/lag" or "/api/lag.json" -> "lag", *api set for the latter; "/" is the overview. */
static const char *page_name(const char *url, int *api, char *buf, size_t size)
{
    size_t n;

    *api = !strncmp(url, "/api/", 5);
    if (*api) {
        url += 4;
        n = strlen(url);
        if (n < 6 || strcmp(url + n - 5, ".json")) {
            return "";
        }
        snprintf(buf, size, "%.*s", (int)(n - 6), url + 1);
        return buf;
    }
    snprintf(buf, size, "%s", url[1] ? url + 1 : "overview");
    return buf;
}

static enum MHD_Result serve_get(console_t *c, struct MHD_Connection *conn, const char *url)
{
    char name[64];
    int api;
    const char *page = page_name(url, &api, name, sizeof(name));
    json_t *d = NULL;

    if (!strcmp(page, "overview")) {
        d = console_overview(c);
    } else if (!strcmp(page, "lag")) {
        d = console_lag(c);
    } else if (!strcmp(page, "dlq")) {
        d = console_dlq(c);
    } else if (!strcmp(page, "stores")) {
        d = console_stores(c);
    } else if (!strcmp(page, "failures")) {
        d = console_failures(c);
    } else if (!strcmp(page, "letter")) {
        const char *t = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "topic");
        const char *p = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "p");
        const char *o = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "o");

        d = t && p && o ? console_letter(c, t, p, o) : NULL;
        if (!d) {
            return send_text(conn, MHD_HTTP_NOT_FOUND, "no such dead letter\n");
        }
    } else {
        return send_text(conn, MHD_HTTP_NOT_FOUND, "not found\n");
    }
    return send_page(c, conn, page, d, api, MHD_HTTP_OK);
}

/* 1 when \p topic is one of the configured dead-letter topics: nothing else is redriven. */
static int known_dlq(const console_t *c, const char *topic)
{
    const char *p = dh_config_get(c->o.cfg, "DH_CONSOLE_DLQ_TOPICS"), *s;
    long len;

    while ((len = dh_config_list_next(&p, &s)) >= 0) {
        if ((size_t)len == strlen(topic) && !strncmp(s, topic, (size_t)len)) {
            return 1;
        }
    }
    return 0;
}

/* Why a redrive POST is refused, or NULL: the operator token and the session's CSRF. */
static const char *refusal(const console_t *c, struct MHD_Connection *conn, const char *body)
{
    const char *auth = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
    const char *sid = MHD_lookup_connection_value(conn, MHD_COOKIE_KIND, COOKIE);
    char token[256], csrf[128], want[80], topic[256];

    console_form_get(body, "token", token, sizeof(token));
    if (auth && !strncmp(auth, "Bearer ", 7)) {
        snprintf(token, sizeof(token), "%s", auth + 7);
    }
    console_form_get(body, "csrf", csrf, sizeof(csrf));
    console_form_get(body, "topic", topic, sizeof(topic));
    console_csrf(c, sid, want, sizeof(want));
    if (!c->token) {
        return "redrive refused: no DH_CONSOLE_TOKEN is configured\n";
    }
    if (!console_same(token, c->token)) {
        return "redrive refused: wrong or missing operator token\n";
    }
    if (!console_same(csrf, want)) {
        return "redrive refused: missing or stale form (CSRF); reload the page\n";
    }
    return known_dlq(c, topic) ? NULL : "redrive refused: not a configured dead-letter topic\n";
}

/* The confirmed letters ("p@o,..."), each redriven exactly as the dry run listed it. */
static json_t *execute(console_t *c, const char *topic, const char *klass, const char *letters)
{
    json_t *all = json_pack("{s:[], s:b, s:s, s:s, s:b}", "rows", "ok", 1, "topic", topic, "class",
                            klass, "execute", 1);
    const char *p = letters, *s;
    long len;

    while ((len = dh_config_list_next(&p, &s)) >= 0) {
        char part[32] = "", off[32] = "";
        json_t *r;

        if (len <= 0 || len > 40 || sscanf(s, "%31[0-9]@%31[0-9]", part, off) != 2) {
            json_object_set_new(all, "ok", json_false());
            continue;
        }
        r = console_redrive(c, topic, klass, part, off, 1);
        json_array_extend(json_object_get(all, "rows"), json_object_get(r, "rows"));
        if (!json_is_true(json_object_get(r, "ok"))) {
            json_object_set_new(all, "ok", json_false());
        }
        json_decref(r);
    }
    return all;
}

static enum MHD_Result serve_post(console_t *c, struct MHD_Connection *conn, const char *url,
                                  struct post *p)
{
    int api = !strcmp(url, "/api/redrive.json");
    char topic[256], klass[256], confirm[8], letters[4096];
    const char *why;

    if (!api && strcmp(url, "/redrive")) {
        return send_text(conn, MHD_HTTP_NOT_FOUND, "not found\n");
    }
    if (p->too_big) {
        return send_text(conn, MHD_HTTP_CONTENT_TOO_LARGE, "form too large\n");
    }
    p->body[p->len] = '\0';
    why = refusal(c, conn, p->body);
    if (why) {
        fprintf(stderr, "%s: %s", c->o.prog, why);
        return send_text(conn, MHD_HTTP_FORBIDDEN, why);
    }
    console_form_get(p->body, "topic", topic, sizeof(topic));
    console_form_get(p->body, "class", klass, sizeof(klass));
    console_form_get(p->body, "confirm", confirm, sizeof(confirm));
    console_form_get(p->body, "letters", letters, sizeof(letters));
    if (!*klass) {
        return send_text(conn, MHD_HTTP_BAD_REQUEST, "class is required\n");
    }
    return send_page(c, conn, "redrive",
                     *confirm ? execute(c, topic, klass, letters)
                              : console_redrive(c, topic, klass, NULL, NULL, 0),
                     api, MHD_HTTP_OK);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *data,
                                  size_t *size, void **con_cls)
{
    console_t *c = cls;
    struct post *p = *con_cls;

    (void)version;
    if (!strcmp(method, MHD_HTTP_METHOD_POST)) {
        if (!p) {
            p = calloc(1, sizeof(*p));
            *con_cls = p;
            return p ? MHD_YES : MHD_NO;
        }
        if (*size) {
            if (p->len + *size > BODY_MAX) {
                p->too_big = 1;
            } else {
                memcpy(p->body + p->len, data, *size);
                p->len += *size;
            }
            *size = 0;
            return MHD_YES;
        }
        return serve_post(c, conn, url, p);
    }
    if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD)) {
        return send_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "GET or POST\n");
    }
    return serve_get(c, conn, url);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    (void)toe;
    free(*con_cls);
    *con_cls = NULL;
}

static struct MHD_Daemon *start(console_t *c)
{
    struct sockaddr_storage ss;
    int ipv6 = 0;
    socklen_t sl = dh_admin_sockaddr(dh_config_get(c->o.cfg, "DH_CONSOLE_BIND"),
                                     (int)dh_config_int(c->o.cfg, "DH_CONSOLE_PORT"), &ss, &ipv6);
    unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;

    if (!sl) {
        ops_err(&c->o, "DH_CONSOLE_BIND: not a numeric address");
        return NULL;
    }
    return MHD_start_daemon(flags | (ipv6 ? MHD_USE_IPv6 : 0), 0, NULL, NULL, on_request, c,
                            MHD_OPTION_EXTERNAL_LOGGER, dh_admin_mhd_log, "console",
                            MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
                            MHD_OPTION_NOTIFY_COMPLETED, on_completed, c,
                            MHD_OPTION_CONNECTION_TIMEOUT, 30u, MHD_OPTION_END);
}

static int serve(console_t *c)
{
    sigset_t set;
    int sig = 0;
    struct MHD_Daemon *d;

    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL); /* the server thread inherits the mask */
    d = start(c);
    if (!d) {
        ops_err(&c->o, "cannot listen on %s:%lld", dh_config_get(c->o.cfg, "DH_CONSOLE_BIND"),
                dh_config_int(c->o.cfg, "DH_CONSOLE_PORT"));
        return OPS_FAIL;
    }
    fprintf(stderr, "%s: console on %s:%u%s\n", c->o.prog,
            dh_config_get(c->o.cfg, "DH_CONSOLE_BIND"),
            (unsigned)MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT)->port,
            c->token ? "" : " (no DH_CONSOLE_TOKEN: redrive refused)");
    sigwait(&set, &sig);
    MHD_stop_daemon(d);
    return OPS_OK;
}

int main(int argc, char **argv)
{
    console_t c = {.o = {.prog = "dh-console", .json = 1}};
    dh_config_t *cfg = NULL;
    dh_http_opts_t hopts = {.connect_timeout_ms = 1000, .timeout_ms = 3000, .max_body = 8 << 20};
    char errstr[256] = "";
    int rc;

    if (argc > 1 && !strcmp(argv[1], "--config-markdown")) {
        dh_config_print_markdown(stdout, tables);
        return OPS_OK;
    }
    if (argc > 1) {
        printf("usage: dh-console (configured by the environment)\n");
        dh_config_print_help(stdout, "dh-console", tables);
        return strcmp(argv[1], "--help") ? OPS_USAGE : OPS_OK;
    }
    dh_log_init(c.o.prog, DH_LOG_WARN);
    rc = ops_load_config(&c.o, tables, checks, "DH_CONSOLE_", &cfg);
    if (rc != OPS_OK) {
        goto out;
    }
    c.token =
        *dh_config_get(cfg, "DH_CONSOLE_TOKEN") ? dh_config_get(cfg, "DH_CONSOLE_TOKEN") : NULL;
    rc = OPS_FAIL;
    if (RAND_bytes(c.secret, sizeof(c.secret)) != 1 || dh_http_global_init() != DH_OK) {
        goto out;
    }
    c.http = dh_http_new(&hopts, errstr, sizeof(errstr));
    rc = c.http ? serve(&c) : OPS_FAIL;
    dh_http_destroy(c.http);
    dh_http_global_cleanup();
out:
    dh_config_destroy(cfg);
    return rc;
}
