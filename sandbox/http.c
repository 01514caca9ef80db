/*
 * http: libmicrohttpd server, routing, faults and journaling (see http.h).
 */
#include "http.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "returnprime.h"
#include "returnprime_api.h"
#include "shopify.h"
#include "wms.h"

struct dh_sb_server_s {
    struct MHD_Daemon *daemon;
    dh_sb_state_t *st;
};

typedef struct conn_ctx {
    char *buf;
    size_t len, cap;
    int too_big;
} conn_ctx_t;

const char *dh_sb_req_header(const dh_sb_req_t *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

const char *dh_sb_req_query(const dh_sb_req_t *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
}

void dh_sb_resp_json(dh_sb_resp_t *resp, int status, json_t *body)
{
    free(resp->body);
    resp->status = status;
    resp->body = json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY);
    snprintf(resp->content_type, sizeof resp->content_type, "application/json; charset=utf-8");
    json_decref(body);
}

void dh_sb_resp_problem(dh_sb_resp_t *resp, int status, const char *type, const char *title,
                        const char *detail, json_t *errors)
{
    json_t *p = json_pack("{s:s, s:s, s:i, s:s}", "type", type, "title", title, "status", status,
                          "detail", detail);

    if (errors) {
        json_object_set_new(p, "errors", errors);
    }
    dh_sb_resp_json(resp, status, p);
    snprintf(resp->content_type, sizeof resp->content_type, "application/problem+json");
}

static enum MHD_Result collect_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                      const char *value)
{
    (void)kind;
    int secret = strcasecmp(key, "X-Shopify-Access-Token") == 0 ||
                 strcasecmp(key, "Authorization") == 0 || strcasecmp(key, "x-rp-token") == 0;

    json_object_set_new(cls, key, json_string(secret ? "[redacted]" : (value ? value : "")));
    return MHD_YES;
}

/* "/shops/{shop}/admin/..." -> shop and the rest; plain "/admin/..." uses X-Dh-Shop or Host. */
static const char *shopify_target(const dh_sb_req_t *req, char *shop, size_t n)
{
    const char *p = req->path;

    if (strncmp(p, "/shops/", 7) == 0) {
        size_t len = strcspn(p + 7, "/");

        snprintf(shop, n, "%.*s", (int)len, p + 7);
        return p + 7 + len;
    }
    const char *h = dh_sb_req_header(req, "X-Dh-Shop");

    if (!h) {
        h = dh_sb_req_header(req, "Host");
    }
    snprintf(shop, n, "%.*s", (int)strcspn(h ? h : "", ":"), h ? h : "");
    return p;
}

static void route_shopify(dh_sb_state_t *st, const dh_sb_req_t *req, dh_sb_resp_t *resp)
{
    char shop[256];
    const char *rest = shopify_target(req, shop, sizeof shop);

    json_object_set_new(req->note, "shop", json_string(shop));
    if (strcmp(req->method, "POST") == 0 && strncmp(rest, "/admin/api/", 11) == 0 &&
        strstr(rest, "/graphql.json")) {
        dh_sb_shopify_graphql(st, shop, req, resp);
    } else if (strcmp(req->method, "POST") == 0 && strcmp(rest, "/admin/oauth/access_token") == 0) {
        json_object_set_new(req->note, "op", json_string("oauth/access_token"));
        dh_sb_shopify_oauth(st, shop, req, resp);
    } else {
        dh_sb_resp_json(resp, 404, json_pack("{s:s}", "errors", "Not Found"));
    }
}

static void journal_dump(dh_sb_state_t *st, const dh_sb_req_t *req, dh_sb_resp_t *resp)
{
    const char *since = dh_sb_req_query(req, "since_seq");
    dh_sb_journal_filter_t f = {dh_sb_req_query(req, "group"), dh_sb_req_query(req, "op"),
                                dh_sb_req_query(req, "shop"), dh_sb_req_query(req, "contains"),
                                since ? strtoull(since, NULL, 10) : 0};

    if (strcmp(req->method, "DELETE") == 0) {
        dh_sb_journal_clear(st->journal);
        dh_sb_resp_json(resp, 200, json_pack("{s:b}", "cleared", 1));
        return;
    }
    resp->status = 200;
    resp->body = dh_sb_journal_dump(st->journal, &f);
    snprintf(resp->content_type, sizeof resp->content_type, "application/x-ndjson");
}

static void route_faults(dh_sb_state_t *st, const dh_sb_req_t *req, dh_sb_resp_t *resp)
{
    char err[256];

    if (strcmp(req->method, "DELETE") == 0) {
        dh_sb_faults_reset(st->faults);
        dh_sb_resp_json(resp, 200, json_pack("{s:b}", "reset", 1));
    } else if (strcmp(req->method, "POST") == 0) {
        json_t *rule = json_loadb(req->body, req->body_len, 0, NULL);

        if (dh_sb_faults_set(st->faults, rule, err, sizeof err) != DH_SB_OK) {
            dh_sb_resp_json(resp, 400, json_pack("{s:s}", "error", err));
        } else {
            dh_sb_resp_json(resp, 200, json_pack("{s:o}", "faults", dh_sb_faults_json(st->faults)));
        }
        json_decref(rule);
    } else {
        dh_sb_resp_json(resp, 200, json_pack("{s:o}", "faults", dh_sb_faults_json(st->faults)));
    }
}

static void route_control(dh_sb_state_t *st, const dh_sb_req_t *req, dh_sb_resp_t *resp)
{
    const char *p = req->path;

    if (strcmp(p, "/_journal") == 0) {
        journal_dump(st, req, resp);
    } else if (strcmp(p, "/_control/faults") == 0) {
        route_faults(st, req, resp);
    } else if (strncmp(p, "/_bulk/", 7) == 0 && strcmp(req->method, "GET") == 0) {
        dh_sb_bulk_download(st, req, resp);
    } else if (strcmp(p, "/_control/stats") == 0) {
        dh_sb_resp_json(resp, 200, dh_sb_shopify_stats(st));
    } else if (strcmp(p, "/_control/health") == 0) {
        dh_sb_resp_json(resp, 200, json_pack("{s:s}", "status", "ok"));
    } else if (strcmp(p, "/_control/wms/inventory") == 0 && strcmp(req->method, "PUT") == 0) {
        dh_sb_wms_set_inventory(st, req, resp);
    } else if (strncmp(p, "/_control/wms/sales-orders/", 27) == 0 &&
               strcmp(req->method, "POST") == 0) {
        pthread_mutex_lock(&st->lock);
        dh_sb_wms_order_progress(st, p + 27, resp);
        pthread_mutex_unlock(&st->lock);
    } else if (strcmp(p, "/_control/returnprime/requests") == 0 &&
               strcmp(req->method, "POST") == 0) {
        dh_sb_rp_control(st, req, resp);
    } else if (strcmp(p, "/_control/wms/returns/receive") == 0 &&
               strcmp(req->method, "POST") == 0) {
        dh_sb_wms_return_receive(st, req, resp);
    } else if (strncmp(p, "/_control/shops/", 16) == 0) {
        char shop[256];
        size_t len = strcspn(p + 16, "/");

        snprintf(shop, sizeof shop, "%.*s", (int)len, p + 16);
        json_object_set_new(req->note, "shop", json_string(shop));
        dh_sb_shopify_control(st, shop, p + 16 + len, req, resp);
    } else {
        dh_sb_resp_json(resp, 404, json_pack("{s:s}", "error", "not found"));
    }
}

static int group_of(const char *path)
{
    if (strncmp(path, "/shops/", 7) == 0 || strncmp(path, "/admin/", 7) == 0) {
        return DH_SB_GROUP_SHOPIFY;
    }
    if (strncmp(path, "/wms/", 5) == 0) {
        return DH_SB_GROUP_WMS;
    }
    if (strncmp(path, "/returnprime/", 13) == 0) {
        return DH_SB_GROUP_RETURNPRIME;
    }
    return -1;
}

/* The shop of a Shopify request (/shops/<domain>/...) into \p out; "" for others. */
static const char *shop_of(const char *path, char *out, size_t size)
{
    size_t n;

    out[0] = '\0';
    if (strncmp(path, "/shops/", 7) == 0) {
        n = strcspn(path + 7, "/");
        if (n < size) {
            memcpy(out, path + 7, n);
            out[n] = '\0';
        }
    }
    return out;
}

static void fault_response(int group, int status, dh_sb_resp_t *resp)
{
    if (group == DH_SB_GROUP_WMS) {
        dh_sb_resp_problem(resp, status, DH_SB_PROBLEM_BASE "injected-fault", "Injected fault",
                           "The sandbox injected this error.", NULL);
    } else {
        dh_sb_resp_json(resp, status, json_pack("{s:s}", "errors", "Internal Server Error"));
    }
}

static void journal_request(dh_sb_state_t *st, const dh_sb_req_t *req, int group,
                            const dh_sb_resp_t *resp, const char *outcome)
{
    json_t *headers = json_object();
    char ts[32];

    if (strcmp(req->path, "/_journal") == 0 || strncmp(req->path, "/_bulk/", 7) == 0) {
        json_decref(headers); /* a bulk result file is too big to journal */
        return;
    }
    MHD_get_connection_values(req->conn, MHD_HEADER_KIND, collect_header, headers);
    dh_sb_iso_now(ts, sizeof ts);
    json_t *e = json_pack("{s:s, s:f, s:s, s:s, s:s, s:o, s:s, s:i, s:s?, s:s?}", "time", ts,
                          "time_ms", dh_sb_wall_ms(), "group",
                          group < 0 ? "control" : dh_sb_group_name((dh_sb_group_t)group), "method",
                          req->method, "path", req->path, "headers", headers, "body", req->body,
                          "status", resp->status, "response", resp->body, "fault", outcome);

    json_object_update(e, req->note);
    json_object_del(e, "fault_throttle");
    dh_sb_journal_add(st->journal, e);
}

static void dispatch(dh_sb_state_t *st, int group, const dh_sb_req_t *req, dh_sb_resp_t *resp)
{
    if (group == DH_SB_GROUP_SHOPIFY) {
        route_shopify(st, req, resp);
    } else if (group == DH_SB_GROUP_WMS) {
        if (strncmp(req->path, "/wms/v1/", 8) == 0) {
            dh_sb_wms_handle(st, req, resp);
        } else {
            dh_sb_resp_problem(resp, 404, DH_SB_PROBLEM_BASE "not-found", "Not found",
                               "No such endpoint.", NULL);
        }
    } else if (group == DH_SB_GROUP_RETURNPRIME) {
        dh_sb_rp_api(st, req, resp);
    } else {
        route_control(st, req, resp);
    }
}

static enum MHD_Result send_resp(struct MHD_Connection *c, dh_sb_resp_t *resp)
{
    const char *body = resp->body ? resp->body : "";
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
    const char *k;
    json_t *v;

    if (!r) {
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type",
                            resp->content_type[0] ? resp->content_type : "text/plain");
    json_object_foreach(resp->headers, k, v)
    {
        MHD_add_response_header(r, k, json_string_value(v));
    }
    enum MHD_Result rc = MHD_queue_response(c, (unsigned)resp->status, r);

    MHD_destroy_response(r);
    return rc;
}

static enum MHD_Result handle(dh_sb_state_t *st, struct MHD_Connection *c, const char *url,
                              const char *method, conn_ctx_t *ctx)
{
    dh_sb_req_t req = {method, url, ctx->buf ? ctx->buf : "", ctx->len, c, json_object()};
    dh_sb_resp_t resp = {500, NULL, "", json_object()};
    int group = group_of(url);
    dh_sb_fault_decision_t d = {0};
    enum MHD_Result rc = MHD_NO;
    const char *outcome = NULL;

    if (ctx->too_big) {
        dh_sb_resp_json(&resp, 413, json_pack("{s:s}", "error", "request body over 10 MiB"));
        rc = send_resp(c, &resp);
        goto out;
    }
    if (group >= 0) {
        char shop[256];

        dh_sb_faults_decide(st->faults, (dh_sb_group_t)group, shop_of(url, shop, sizeof(shop)),
                            req.body, &d);
    }
    dh_sb_sleep_ms(d.latency_ms, &st->stopping);
    if (d.drop) {
        outcome = "drop_connection";
        resp.status = 0;
        goto journal;
    }
    if (d.error_status) {
        outcome = "error_status";
        fault_response(group, d.error_status, &resp);
    } else {
        if (d.throttle) {
            json_object_set_new(req.note, "fault_throttle", json_true());
        }
        dispatch(st, group, &req, &resp);
    }
    if (d.timeout_after) { /* the effect happened; the client never hears about it */
        outcome = "timeout_after_effect";
        dh_sb_sleep_ms(d.timeout_ms, &st->stopping);
        goto journal;
    }
    rc = send_resp(c, &resp);
journal:
    journal_request(st, &req, group, &resp, outcome);
out:
    free(resp.body);
    json_decref(resp.headers);
    json_decref(req.note);
    return rc;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_size, void **con_cls)
{
    conn_ctx_t *ctx = *con_cls;

    (void)version;
    if (!ctx) {
        ctx = calloc(1, sizeof *ctx);
        *con_cls = ctx;
        return ctx ? MHD_YES : MHD_NO;
    }
    if (*upload_size > 0) {
        if (!ctx->too_big && ctx->len + *upload_size > DH_SB_MAX_BODY) {
            ctx->too_big = 1;
        }
        if (!ctx->too_big) {
            if (ctx->len + *upload_size + 1 > ctx->cap) {
                size_t cap = (ctx->len + *upload_size + 1) * 2;
                char *b = realloc(ctx->buf, cap);

                if (!b) {
                    return MHD_NO;
                }
                ctx->buf = b;
                ctx->cap = cap;
            }
            memcpy(ctx->buf + ctx->len, upload_data, *upload_size);
            ctx->len += *upload_size;
            ctx->buf[ctx->len] = '\0';
        }
        *upload_size = 0;
        return MHD_YES;
    }
    return handle(cls, c, url, method, ctx);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    conn_ctx_t *ctx = *con_cls;

    (void)cls;
    (void)c;
    (void)toe;
    if (ctx) {
        free(ctx->buf);
        free(ctx);
        *con_cls = NULL;
    }
}

dh_sb_server_t *dh_sb_server_start(dh_sb_state_t *st, const char *host, unsigned port, char *errstr,
                                   size_t errstr_size)
{
    struct sockaddr_in addr;
    dh_sb_server_t *srv = calloc(1, sizeof *srv);

    if (!srv) {
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) {
        snprintf(errstr, errstr_size, "bad listen address %s", host);
        free(srv);
        return NULL;
    }
    srv->st = st;
    srv->daemon = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ERROR_LOG,
        (uint16_t)port, NULL, NULL, on_request, st, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)120, MHD_OPTION_CONNECTION_LIMIT, (unsigned)512, MHD_OPTION_END);
    if (!srv->daemon) {
        snprintf(errstr, errstr_size, "cannot listen on %s:%u", host, port);
        free(srv);
        return NULL;
    }
    return srv;
}

void dh_sb_server_stop(dh_sb_server_t *srv)
{
    if (!srv) {
        return;
    }
    MHD_stop_daemon(srv->daemon);
    free(srv);
}
