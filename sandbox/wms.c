/*
 * wms: WMS API double (see wms.h).
 */
#include "wms.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void problem(dh_sb_resp_t *resp, int status, const char *slug, const char *title,
                    const char *detail, json_t *errors)
{
    char type[160];

    snprintf(type, sizeof type, DH_SB_PROBLEM_BASE "%s", slug);
    dh_sb_resp_problem(resp, status, type, title, detail, errors);
}

void dh_sb_wms_problem(dh_sb_resp_t *resp, int status, const char *slug, const char *title,
                       const char *detail, json_t *errors)
{
    problem(resp, status, slug, title, detail, errors);
}

static void field_err(json_t *errors, const char *field, const char *message)
{
    json_array_append_new(errors, json_pack("{s:s, s:s}", "field", field, "message", message));
}

static int all_digits(const char *s)
{
    if (!s || !*s) {
        return 0;
    }
    for (; *s; s++) {
        if (!isdigit((unsigned char)*s)) {
            return 0;
        }
    }
    return 1;
}

static int is_decimal(const char *s)
{
    int dot = 0, digits = 0;

    for (; s && *s; s++) {
        if (*s == '.' && !dot) {
            dot = 1;
        } else if (isdigit((unsigned char)*s)) {
            digits++;
        } else {
            return 0;
        }
    }
    return digits > 0;
}

static const char *str(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));

    return s && *s ? s : NULL;
}

/* Holds with a code, lines without a SKU only on a missing-sku hold, payment fields. */
static void validate_order_lifecycle(json_t *body, json_t *errors)
{
    static const char *const codes[] = {"exchange",
                                        "missing-sku",
                                        "awaiting-payment",
                                        "awaiting-return-items",
                                        "high-risk-of-fraud",
                                        "incorrect-address",
                                        "inventory-out-of-stock",
                                        "online-store-post-purchase-cross-sell",
                                        "unknown-delivery-date",
                                        "other",
                                        "scheduled"};
    const char *code = str(body, "hold_code"), *status = str(body, "status");
    json_t *pay = json_object_get(body, "payment");
    int known = 0;

    for (size_t i = 0; code && i < sizeof codes / sizeof codes[0]; i++) {
        known |= strcmp(code, codes[i]) == 0;
    }
    if (status && strcmp(status, "ON_HOLD") == 0 && (!str(body, "hold_reason") || !known)) {
        field_err(errors, "hold_code", "an ON_HOLD order needs hold_reason and a known hold_code");
    }
    if (json_object_get(body, "unmapped_lines") &&
        (!status || strcmp(status, "ON_HOLD") || !code || strcmp(code, "missing-sku"))) {
        field_err(errors, "unmapped_lines", "only on an ON_HOLD order with hold_code missing-sku");
    }
    if (pay && (!str(pay, "financial_status") ||
                !json_is_boolean(json_object_get(pay, "cash_on_delivery")) ||
                !is_decimal(str(pay, "amount_to_collect")) || !str(pay, "currency") ||
                !json_is_array(json_object_get(pay, "gateways")))) {
        field_err(errors, "payment",
                  "needs financial_status, gateways, cash_on_delivery, a decimal amount_to_collect "
                  "and currency");
    }
}

void dh_sb_wms_validate_order(json_t *body, json_t *errors)
{
    json_t *lines = json_object_get(body, "lines");
    const char *status = str(body, "status");
    size_t i;
    json_t *l;
    char f[64];

    if (!str(body, "store")) {
        field_err(errors, "store", "required");
    }
    if (!all_digits(str(body, "channel_order_id"))) {
        field_err(errors, "channel_order_id", "must be a string of digits");
    }
    if (!str(body, "order_name")) {
        field_err(errors, "order_name", "required");
    }
    if (!status || (strcmp(status, "OPEN") && strcmp(status, "ON_HOLD"))) {
        field_err(errors, "status", "must be OPEN or ON_HOLD");
    }
    if (!str(body, "currency")) {
        field_err(errors, "currency", "required");
    }
    if (!str(body, "created_at")) {
        field_err(errors, "created_at", "required");
    }
    if (!json_is_array(lines) || (json_array_size(lines) == 0 &&
                                  !json_array_size(json_object_get(body, "unmapped_lines")))) {
        field_err(errors, "lines", "at least one line (or unmapped line) is required");
    }
    json_array_foreach(lines, i, l)
    {
        if (!str(l, "channel_line_item_id")) {
            snprintf(f, sizeof f, "lines[%zu].channel_line_item_id", i);
            field_err(errors, f, "required");
        }
        if (!str(l, "sku")) {
            snprintf(f, sizeof f, "lines[%zu].sku", i);
            field_err(errors, f, "required");
        }
        if (!json_is_integer(json_object_get(l, "quantity")) ||
            json_integer_value(json_object_get(l, "quantity")) < 1) {
            snprintf(f, sizeof f, "lines[%zu].quantity", i);
            field_err(errors, f, "must be an integer >= 1");
        }
        if (!is_decimal(str(l, "unit_price"))) {
            snprintf(f, sizeof f, "lines[%zu].unit_price", i);
            field_err(errors, f, "must be a decimal string");
        }
    }
    validate_order_lifecycle(body, errors);
}

static void validate_return(json_t *body, json_t *errors)
{
    const char *type = str(body, "type");
    size_t i;
    json_t *l;
    char f[64];

    if (!str(body, "store")) {
        field_err(errors, "store", "required");
    }
    if (!str(body, "return_request_id")) {
        field_err(errors, "return_request_id", "required");
    }
    if (!str(body, "request_number")) {
        field_err(errors, "request_number", "required");
    }
    if (!type || (strcmp(type, "RETURN") && strcmp(type, "EXCHANGE"))) {
        field_err(errors, "type", "must be RETURN or EXCHANGE");
    }
    if (!all_digits(str(body, "channel_order_id"))) {
        field_err(errors, "channel_order_id", "must be a string of digits");
    }
    if (json_array_size(json_object_get(body, "lines")) == 0) {
        field_err(errors, "lines", "at least one line is required");
    }
    json_array_foreach(json_object_get(body, "lines"), i, l)
    {
        if (!str(l, "sku") || !json_is_integer(json_object_get(l, "quantity")) ||
            json_integer_value(json_object_get(l, "quantity")) < 1) {
            snprintf(f, sizeof f, "lines[%zu]", i);
            field_err(errors, f, "sku and quantity >= 1 are required");
        }
    }
}

static void validate_sku(json_t *body, const char *path_sku, json_t *errors)
{
    const char *status = str(body, "status");

    if (!str(body, "sku") || strcmp(str(body, "sku"), path_sku) != 0) {
        field_err(errors, "sku", "required and must equal the path's sku");
    }
    if (!str(body, "title")) {
        field_err(errors, "title", "required");
    }
    if (!json_object_get(body, "shopify_product_id")) {
        field_err(errors, "shopify_product_id", "required");
    }
    if (!json_object_get(body, "shopify_variant_id")) {
        field_err(errors, "shopify_variant_id", "required");
    }
    if (!status || (strcmp(status, "ACTIVE") && strcmp(status, "ARCHIVED"))) {
        field_err(errors, "status", "must be ACTIVE or ARCHIVED");
    }
}

static void order_create(dh_sb_state_t *st, json_t *body, dh_sb_resp_t *resp)
{
    json_t *errors = json_array();
    char key[300], id[40];

    dh_sb_wms_validate_order(body, errors);
    if (json_array_size(errors)) {
        problem(resp, 422, "validation", "Validation failed", "The sales order is invalid.",
                errors);
        return;
    }
    json_decref(errors);
    snprintf(key, sizeof key, "%s/%s", str(body, "store"), str(body, "channel_order_id"));
    json_t *orders = json_object_get(st->wms, "orders");
    json_t *existing = json_object_get(orders, key);

    if (existing) {
        dh_sb_resp_json(resp, 200, json_incref(existing));
        return;
    }
    snprintf(id, sizeof id, "SO-%zu", json_object_size(orders) + 1);
    json_t *so = json_deep_copy(body);

    json_object_set_new(so, "id", json_string(id));
    json_object_set_new(so, "cancelled_at", json_null());
    json_object_set_new(orders, key, so);
    dh_sb_resp_json(resp, 201, json_incref(so));
}

static void order_action(dh_sb_state_t *st, const char *rest, const char *method, json_t *body,
                         dh_sb_resp_t *resp)
{
    char store[128], coid[64], action[32] = "", key[300];

    if (sscanf(rest, "%127[^/]/%63[^/]/%31s", store, coid, action) < 2) {
        problem(resp, 404, "not-found", "Not found", "No such resource.", NULL);
        return;
    }
    snprintf(key, sizeof key, "%s/%s", store, coid);
    json_t *so = json_object_get(json_object_get(st->wms, "orders"), key);

    if (!so) {
        problem(resp, 404, "not-found", "Not found", "No such sales order.", NULL);
    } else if (!action[0] && strcmp(method, "GET") == 0) {
        dh_sb_resp_json(resp, 200, json_incref(so));
    } else if (!action[0] && strcmp(method, "PUT") == 0) {
        dh_sb_wms_order_update(so, body, resp);
    } else if (strcmp(action, "cancel") == 0 && strcmp(method, "POST") == 0) {
        if (dh_sb_wms_order_refuse_cancel(so, resp)) {
            return;
        }
        if (strcmp(str(so, "status"), "CANCELLED") != 0) {
            json_object_set_new(so, "status", json_string("CANCELLED"));
            json_object_set(so, "cancelled_at", json_object_get(body, "cancelled_at"));
            json_object_set(so, "cancel_reason", json_object_get(body, "reason"));
        }
        dh_sb_resp_json(resp, 200, json_incref(so));
    } else if (strcmp(action, "hold") == 0 && strcmp(method, "POST") == 0) {
        dh_sb_wms_order_hold(so, body, resp);
    } else if (strcmp(action, "release-hold") == 0 && strcmp(method, "POST") == 0) {
        if (strcmp(str(so, "status"), "ON_HOLD") == 0) {
            json_object_set_new(so, "status", json_string("OPEN"));
            json_object_del(so, "hold_reason");
            json_object_del(so, "hold_code");
        }
        dh_sb_resp_json(resp, 200, json_incref(so));
    } else {
        problem(resp, 405, "method-not-allowed", "Method not allowed", "Unsupported action.", NULL);
    }
}

static void return_create(dh_sb_state_t *st, json_t *body, dh_sb_resp_t *resp)
{
    json_t *errors = json_array();
    char key[300], id[40];

    validate_return(body, errors);
    if (json_array_size(errors)) {
        problem(resp, 422, "validation", "Validation failed", "The return is invalid.", errors);
        return;
    }
    json_decref(errors);
    json_t *returns = json_object_get(st->wms, "returns");

    snprintf(key, sizeof key, "%s/%s", str(body, "store"), str(body, "return_request_id"));
    if (json_object_get(returns, key)) {
        dh_sb_resp_json(resp, 200, json_incref(json_object_get(returns, key)));
        return;
    }
    snprintf(id, sizeof id, "RET-%zu", json_object_size(returns) + 1);
    json_t *r = json_deep_copy(body);

    json_object_set_new(r, "id", json_string(id));
    json_object_set_new(r, "status", json_string("EXPECTED"));
    json_object_set_new(returns, key, r);
    dh_sb_resp_json(resp, 201, json_incref(r));
}

/* The path's {sku} is percent-encoded (RFC 3986): decoded in place. */
static void pct_decode(char *s)
{
    char *o = s;

    for (; *s; s++) {
        unsigned v;

        if (*s == '%' && s[1] && s[2] && sscanf(s + 1, "%2x", &v) == 1) {
            *o++ = (char)v;
            s += 2;
        } else {
            *o++ = *s;
        }
    }
    *o = '\0';
}

/* PUT /returns/{store}/{return_request_id}: new lines (and AWB, carrier) for an expectation
 * not yet received; 409 return-received / return-cancelled otherwise. */
static void return_update(json_t *r, json_t *body, dh_sb_resp_t *resp)
{
    json_t *errors = json_array(), *l;
    size_t i;
    char f[64];

    if (json_array_size(json_object_get(body, "lines")) == 0) {
        field_err(errors, "lines", "at least one line is required");
    }
    json_array_foreach(json_object_get(body, "lines"), i, l)
    {
        if (!str(l, "sku") || !json_is_integer(json_object_get(l, "quantity")) ||
            json_integer_value(json_object_get(l, "quantity")) < 1) {
            snprintf(f, sizeof f, "lines[%zu]", i);
            field_err(errors, f, "sku and quantity >= 1 are required");
        }
    }
    if (json_array_size(errors)) {
        problem(resp, 422, "validation", "Validation failed", "The return update is invalid.",
                errors);
        return;
    }
    json_decref(errors);
    if (strcmp(str(r, "status"), "RECEIVED") == 0 || strcmp(str(r, "status"), "CANCELLED") == 0) {
        int received = strcmp(str(r, "status"), "RECEIVED") == 0;

        problem(resp, 409, received ? "return-received" : "return-cancelled",
                received ? "Return already received" : "Return cancelled",
                "The return can no longer change.", NULL);
        return;
    }
    json_object_set(r, "lines", json_object_get(body, "lines"));
    json_object_set_new(r, "awb",
                        json_object_get(body, "awb") ? json_incref(json_object_get(body, "awb"))
                                                     : json_null());
    json_object_set_new(r, "carrier",
                        json_object_get(body, "carrier")
                            ? json_incref(json_object_get(body, "carrier"))
                            : json_null());
    dh_sb_resp_json(resp, 200, json_incref(r));
}

/* POST /returns/{store}/{return_request_id}/cancel: an expectation not yet received is
 * cancelled (again: unchanged); a received one cannot be, 409 return-received. */
static void return_action(dh_sb_state_t *st, const char *rest, const char *method, json_t *body,
                          dh_sb_resp_t *resp)
{
    char store[128], rid[128], action[32] = "", key[300];

    if (sscanf(rest, "%127[^/]/%127[^/]/%31s", store, rid, action) < 2) {
        problem(resp, 404, "not-found", "Not found", "No such resource.", NULL);
        return;
    }
    snprintf(key, sizeof key, "%s/%s", store, rid);
    json_t *r = json_object_get(json_object_get(st->wms, "returns"), key);

    if (!r) {
        problem(resp, 404, "not-found", "Not found", "No such return.", NULL);
    } else if (!action[0] && strcmp(method, "GET") == 0) {
        dh_sb_resp_json(resp, 200, json_incref(r));
    } else if (!action[0] && strcmp(method, "PUT") == 0) {
        return_update(r, body, resp);
    } else if (strcmp(action, "cancel") == 0 && strcmp(method, "POST") == 0) {
        if (!str(body, "reason")) {
            problem(resp, 422, "validation", "Validation failed", "The cancellation is invalid.",
                    json_pack("[{s:s, s:s}]", "field", "reason", "message", "required"));
            return;
        }
        if (strcmp(str(r, "status"), "RECEIVED") == 0) {
            problem(resp, 409, "return-received", "Return already received",
                    "The return was received; it can no longer be cancelled.", NULL);
            return;
        }
        if (strcmp(str(r, "status"), "CANCELLED") != 0) {
            json_object_set_new(r, "status", json_string("CANCELLED"));
            json_object_set(r, "cancel_reason", json_object_get(body, "reason"));
        }
        dh_sb_resp_json(resp, 200, json_incref(r));
    } else {
        problem(resp, 405, "method-not-allowed", "Method not allowed", "Unsupported action.", NULL);
    }
}

void dh_sb_wms_return_receive(dh_sb_state_t *st, const dh_sb_req_t *req, dh_sb_resp_t *resp)
{
    json_t *body = json_loadb(req->body, req->body_len, 0, NULL);
    char key[300];
    json_t *r;

    snprintf(key, sizeof key, "%s/%s", str(body, "store") ? str(body, "store") : "",
             str(body, "return_request_id") ? str(body, "return_request_id") : "");
    pthread_mutex_lock(&st->lock);
    r = json_object_get(json_object_get(st->wms, "returns"), key);
    if (r) {
        json_object_set_new(r, "status", json_string("RECEIVED"));
        json_object_set(r, "received_lines", json_object_get(body, "lines"));
        dh_sb_resp_json(resp, 200, json_incref(r));
    } else {
        dh_sb_resp_json(resp, 404, json_pack("{s:s}", "error", "no such return"));
    }
    pthread_mutex_unlock(&st->lock);
    json_decref(body);
}

static void sku_put(dh_sb_state_t *st, const char *rest, json_t *body, dh_sb_resp_t *resp)
{
    char store[128], sku[256], key[400];
    json_t *errors = json_array();

    if (sscanf(rest, "%127[^/]/%255s", store, sku) != 2) {
        json_decref(errors);
        problem(resp, 404, "not-found", "Not found", "No such resource.", NULL);
        return;
    }
    pct_decode(sku);
    pct_decode(store);
    validate_sku(body, sku, errors);
    if (json_array_size(errors)) {
        problem(resp, 422, "validation", "Validation failed", "The SKU is invalid.", errors);
        return;
    }
    json_decref(errors);
    snprintf(key, sizeof key, "%s/%s", store, sku);
    json_t *skus = json_object_get(st->wms, "skus");
    json_t *old = json_object_get(skus, key);

    if (old && !json_equal(json_object_get(old, "shopify_variant_id"),
                           json_object_get(body, "shopify_variant_id"))) {
        problem(resp, 409, "duplicate-sku", "Duplicate SKU",
                "The SKU already belongs to another Shopify variant.", NULL);
        return;
    }
    json_t *rec = json_deep_copy(body);

    json_object_set_new(rec, "store", json_string(store));
    json_object_set_new(skus, key, rec);
    dh_sb_resp_json(resp, old ? 200 : 201, json_incref(rec));
}

static void sellable(dh_sb_state_t *st, const dh_sb_req_t *req, dh_sb_resp_t *resp)
{
    const char *store = dh_sb_req_query(req, "store"), *fac = dh_sb_req_query(req, "facility");
    const char *cur = dh_sb_req_query(req, "cursor"), *lim = dh_sb_req_query(req, "limit");
    long limit = lim ? strtol(lim, NULL, 10) : 100;
    size_t start = cur ? strtoul(cur, NULL, 10) : 0, i;
    json_t *items = json_array(), *inv = json_object_get(st->wms, "inventory");
    char next[32] = "";

    if (limit < 1 || limit > 1000) {
        problem(resp, 422, "validation", "Validation failed", "limit must be 1..1000",
                json_pack("[{s:s, s:s}]", "field", "limit", "message", "must be 1..1000"));
        json_decref(items);
        return;
    }
    for (i = start; i < json_array_size(inv); i++) {
        json_t *row = json_array_get(inv, i);

        if ((store && str(row, "store") && strcmp(store, str(row, "store"))) ||
            (fac && str(row, "facility") && strcmp(fac, str(row, "facility")))) {
            continue;
        }
        if ((long)json_array_size(items) == limit) {
            snprintf(next, sizeof next, "%zu", i);
            break;
        }
        json_array_append(items, row);
    }
    dh_sb_resp_json(resp, 200,
                    json_pack("{s:o, s:s?}", "items", items, "next_cursor", next[0] ? next : NULL));
}

static void route(dh_sb_state_t *st, const dh_sb_req_t *req, json_t *body, dh_sb_resp_t *resp)
{
    const char *p = req->path + strlen("/wms/v1");
    const char *m = req->method;

    if (strcmp(p, "/sales-orders") == 0 && strcmp(m, "POST") == 0) {
        order_create(st, body, resp);
    } else if (strncmp(p, "/sales-orders/", 14) == 0) {
        order_action(st, p + 14, m, body, resp);
    } else if (strcmp(p, "/returns") == 0 && strcmp(m, "POST") == 0) {
        return_create(st, body, resp);
    } else if (strncmp(p, "/returns/", 9) == 0) {
        return_action(st, p + 9, m, body, resp);
    } else if (strncmp(p, "/skus/", 6) == 0 && strcmp(m, "PUT") == 0) {
        sku_put(st, p + 6, body, resp);
    } else if (strcmp(p, "/inventory/sellable") == 0 && strcmp(m, "GET") == 0) {
        sellable(st, req, resp);
    } else {
        problem(resp, 404, "not-found", "Not found", "No such endpoint.", NULL);
    }
}

/* Idempotency-Key: replay, mismatch, or run and record. Lock held. */
static void write_with_key(dh_sb_state_t *st, const dh_sb_req_t *req, json_t *body, const char *key,
                           dh_sb_resp_t *resp)
{
    json_t *idem = json_object_get(st->wms, "idem");
    json_t *rec = json_object_get(idem, key);

    if (rec) {
        if (strcmp(str(rec, "method"), req->method) || strcmp(str(rec, "path"), req->path) ||
            !json_equal(json_object_get(rec, "body"), body)) {
            problem(resp, 409, "idempotency-key-mismatch", "Idempotency key reused",
                    "The Idempotency-Key was already used with a different request.", NULL);
            return;
        }
        resp->status = (int)json_integer_value(json_object_get(rec, "status"));
        resp->body = strdup(str(rec, "response"));
        snprintf(resp->content_type, sizeof resp->content_type, "%s", str(rec, "content_type"));
        json_object_set_new(resp->headers, "Idempotent-Replayed", json_string("true"));
        json_object_set_new(req->note, "idempotent_replay", json_true()); /* for the journal */
        return;
    }
    route(st, req, body, resp);
    if (resp->status < 500) {
        json_object_set_new(idem, key,
                            json_pack("{s:s, s:s, s:O, s:i, s:s, s:s}", "method", req->method,
                                      "path", req->path, "body", body, "status", resp->status,
                                      "response", resp->body ? resp->body : "", "content_type",
                                      resp->content_type));
    }
}

void dh_sb_wms_handle(dh_sb_state_t *st, const dh_sb_req_t *req, dh_sb_resp_t *resp)
{
    const char *auth = dh_sb_req_header(req, "Authorization");
    const char *key = dh_sb_req_header(req, "Idempotency-Key");
    int write = strcmp(req->method, "GET") != 0;
    char want[300];
    json_t *body = NULL;

    snprintf(want, sizeof want, "Bearer %s", st->wms_token);
    if (!auth || strcmp(auth, want) != 0) {
        problem(resp, 401, "unauthorized", "Unauthorized", "A valid bearer token is required.",
                NULL);
        return;
    }
    if (key) {
        json_object_set_new(req->note, "idempotency_key", json_string(key));
    }
    if (write && (!key || !*key)) {
        problem(resp, 400, "idempotency-key-required", "Idempotency-Key required",
                "Every write needs an Idempotency-Key header.", NULL);
        return;
    }
    if (write) {
        body = json_loadb(req->body, req->body_len, 0, NULL);
        if (!json_is_object(body)) {
            json_decref(body);
            problem(resp, 400, "malformed-json", "Malformed body", "The body is not a JSON object.",
                    NULL);
            return;
        }
    }
    pthread_mutex_lock(&st->lock);
    if (write) {
        write_with_key(st, req, body, key, resp);
    } else {
        route(st, req, NULL, resp);
    }
    pthread_mutex_unlock(&st->lock);
    json_decref(body);
}

void dh_sb_wms_set_inventory(dh_sb_state_t *st, const dh_sb_req_t *req, dh_sb_resp_t *resp)
{
    json_t *body = json_loadb(req->body, req->body_len, 0, NULL);
    json_t *rows = json_is_array(body) ? body : json_object_get(body, "inventory");

    if (!json_is_array(rows)) {
        json_decref(body);
        dh_sb_resp_json(resp, 400,
                        json_pack("{s:s}", "error", "expected an array or {inventory:[...]}"));
        return;
    }
    pthread_mutex_lock(&st->lock);
    json_object_set(st->wms, "inventory", rows);
    pthread_mutex_unlock(&st->lock);
    dh_sb_resp_json(resp, 200, json_pack("{s:I}", "rows", (json_int_t)json_array_size(rows)));
    json_decref(body);
}
