/*
 * returnprime_api: the part of Return Prime's REST API dockhand calls (see
 * returnprime_api.h and docs/sandbox.md, "Return Prime API"). Return Prime publishes no
 * API reference; the shapes here are the assumption stated in docs/returns.md.
 */
#include "returnprime_api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RP_PREFIX "/returnprime/return-exchange/v2"

static void rp_refuse(dh_sb_resp_t *resp, int status, const char *message)
{
    dh_sb_resp_json(resp, status, json_pack("{s:b, s:s}", "status", 0, "message", message));
}

/* The request as Return Prime shows it: without the sandbox's own notes. */
static json_t *public_copy(json_t *request)
{
    json_t *copy = json_deep_copy(request);

    json_object_del(copy, "_receipt");
    json_object_del(copy, "_store");
    return copy;
}

static void rp_ok(dh_sb_resp_t *resp, json_t *request)
{
    dh_sb_resp_json(
        resp, 200,
        json_pack("{s:b, s:{s:o}}", "status", 1, "data", "request", public_copy(request)));
}

/* A JSON id (number or string) as text, for comparing line ids however they are sent. */
static void id_text(json_t *v, char *out, size_t size)
{
    if (json_is_integer(v)) {
        snprintf(out, size, "%lld", (long long)json_integer_value(v));
    } else {
        snprintf(out, size, "%s", json_string_value(v) ? json_string_value(v) : "");
    }
}

void dh_sb_rp_remember(dh_sb_state_t *st, json_t *request, const char *store)
{
    char id[128];
    json_t *old, *copy;

    id_text(json_object_get(request, "id"), id, sizeof id);
    pthread_mutex_lock(&st->lock);
    old = json_object_get(st->rp_requests, id);
    /* A later webhook of the request keeps what the API already recorded on it (and shows
     * it, as Return Prime's webhook would). */
    if (old && json_is_true(json_object_get(json_object_get(old, "received"), "status"))) {
        json_object_set(request, "received", json_object_get(old, "received"));
        json_object_set(request, "inspected", json_object_get(old, "inspected"));
        json_object_set(request, "line_items", json_object_get(old, "line_items"));
    }
    copy = json_deep_copy(request);
    if (old && json_object_get(old, "_receipt")) {
        json_object_set(copy, "_receipt", json_object_get(old, "_receipt"));
    }
    if (store) {
        json_object_set_new(copy, "_store", json_string(store));
    }
    json_object_set_new(st->rp_requests, id, copy);
    pthread_mutex_unlock(&st->lock);
}

static json_t *find_line(json_t *request, json_t *id)
{
    char want[128], have[128];
    size_t i;
    json_t *l;

    id_text(id, want, sizeof want);
    json_array_foreach(json_object_get(request, "line_items"), i, l)
    {
        id_text(json_object_get(l, "id"), have, sizeof have);
        if (want[0] && strcmp(want, have) == 0) {
            return l;
        }
    }
    return NULL;
}

/* The reason a receipt body cannot apply to \p request, or NULL. */
static const char *receipt_refusal(json_t *request, json_t *body)
{
    const char *status = json_string_value(json_object_get(request, "status"));
    json_t *items = json_object_get(body, "line_items"), *it;
    size_t i;

    if (!status ||
        (strcmp(status, "approved") && strcmp(status, "received") && strcmp(status, "inspected"))) {
        return "request is not approved";
    }
    if (!json_is_array(items) || json_array_size(items) == 0) {
        return "line_items are required";
    }
    json_array_foreach(items, i, it)
    {
        json_t *line = find_line(request, json_object_get(it, "id"));
        const char *qc = json_string_value(json_object_get(it, "qc_status"));
        json_int_t q = json_integer_value(json_object_get(it, "quantity"));

        if (!line) {
            return "line item not in the request";
        }
        if (!qc || (strcmp(qc, "passed") && strcmp(qc, "failed"))) {
            return "qc_status must be passed or failed";
        }
        if (q < 1 || q > json_integer_value(json_object_get(line, "quantity"))) {
            return "quantity must be 1..the requested quantity";
        }
    }
    return NULL;
}

static void receive(dh_sb_state_t *st, json_t *request, json_t *body, dh_sb_resp_t *resp)
{
    const char *why = receipt_refusal(request, body);
    json_t *items = json_object_get(body, "line_items"), *it;
    char now[32];
    size_t i;

    if (why) {
        rp_refuse(resp, 422, why);
        return;
    }
    if (json_is_true(json_object_get(json_object_get(request, "inspected"), "status"))) {
        /* The same receipt again changes nothing; a different one is refused. */
        if (json_equal(json_object_get(request, "_receipt"), body)) {
            rp_ok(resp, request);
        } else {
            rp_refuse(resp, 409, "request already inspected with other results");
        }
        return;
    }
    (void)st;
    dh_sb_iso_now(now, sizeof now);
    json_array_foreach(items, i, it)
    {
        json_t *line = find_line(request, json_object_get(it, "id"));

        json_object_set(line, "qc_status", json_object_get(it, "qc_status"));
        json_object_set(line, "received_quantity", json_object_get(it, "quantity"));
        json_object_set(line, "inspection_notes", json_object_get(it, "inspection_notes"));
    }
    json_object_set_new(request, "status", json_string("inspected"));
    json_object_set_new(request, "received",
                        json_pack("{s:b, s:s, s:O?}", "status", 1, "comment", "", "created_at",
                                  json_object_get(body, "received_at")));
    json_object_set_new(
        request, "inspected",
        json_pack("{s:b, s:s, s:s}", "status", 1, "comment", "", "created_at", now));
    json_object_set_new(request, "updated_at", json_string(now));
    json_object_set(request, "_receipt", body);
    rp_ok(resp, request);
}

/* A store's token sees only its store's requests; the one-store token sees every one. */
static int visible(json_t *request, const char *store)
{
    const char *owner = json_string_value(json_object_get(request, "_store"));

    return !store || (owner && strcmp(owner, store) == 0);
}

/* GET /request?updated_at_min=...&page=N: requests updated at or after the time, oldest
 * first, 50 per page. */
static void list(dh_sb_state_t *st, const dh_sb_req_t *req, const char *store, dh_sb_resp_t *resp)
{
    const char *since = dh_sb_req_query(req, "updated_at_min");
    const char *pg = dh_sb_req_query(req, "page");
    long page = pg ? strtol(pg, NULL, 10) : 1;
    double from = since ? dh_sb_parse_iso(since) : 0;
    json_t *all = json_array(), *out = json_array(), *r;
    const char *k;
    size_t i;

    json_object_foreach(st->rp_requests, k, r)
    {
        if (dh_sb_parse_iso(json_string_value(json_object_get(r, "updated_at"))) >= from &&
            visible(r, store)) {
            json_array_append_new(all, public_copy(r));
        }
    }
    page = page < 1 ? 1 : page;
    for (i = (size_t)(page - 1) * 50; i < json_array_size(all) && json_array_size(out) < 50; i++) {
        json_array_append(out, json_array_get(all, i));
    }
    dh_sb_resp_json(resp, 200,
                    json_pack("{s:b, s:{s:o, s:b, s:b}}", "status", 1, "data", "list", out,
                              "hasNextPage", (size_t)page * 50 < json_array_size(all),
                              "hasPreviousPage", page > 1));
    json_decref(all);
}

static void route(dh_sb_state_t *st, const dh_sb_req_t *req, json_t *body, const char *store,
                  dh_sb_resp_t *resp)
{
    const char *p = req->path + strlen(RP_PREFIX);
    char id[128] = "", action[32] = "";
    json_t *request;

    if (strcmp(p, "/request") == 0 && strcmp(req->method, "GET") == 0) {
        list(st, req, store, resp);
        return;
    }
    if (strncmp(p, "/request/", 9) != 0 || sscanf(p + 9, "%127[^/]/%31s", id, action) < 1) {
        rp_refuse(resp, 404, "not found");
        return;
    }
    request = json_object_get(st->rp_requests, id);
    if (!request || !visible(request, store)) {
        rp_refuse(resp, 404, "request not found");
    } else if (!action[0] && strcmp(req->method, "GET") == 0) {
        rp_ok(resp, request);
    } else if (strcmp(action, "receive") == 0 && strcmp(req->method, "POST") == 0) {
        if (!json_is_object(body)) {
            rp_refuse(resp, 400, "body must be a JSON object");
        } else {
            receive(st, request, body, resp);
        }
    } else {
        rp_refuse(resp, 405, "method not allowed");
    }
}

void dh_sb_rp_api(dh_sb_state_t *st, const dh_sb_req_t *req, dh_sb_resp_t *resp)
{
    const char *token = dh_sb_req_header(req, "x-rp-token");
    const char *store = NULL;
    json_t *body = NULL;

    if (strncmp(req->path, RP_PREFIX "/", strlen(RP_PREFIX) + 1) != 0) {
        rp_refuse(resp, 404, "not found");
        return;
    }
    if (token && strcmp(token, st->rp_token) != 0) {
        store = json_string_value(json_object_get(st->rp_tokens, token));
    }
    if (!token || (strcmp(token, st->rp_token) != 0 && !store)) {
        rp_refuse(resp, 401, "invalid or missing x-rp-token");
        return;
    }
    if (strcmp(req->method, "GET") != 0) {
        body = json_loadb(req->body, req->body_len, 0, NULL);
    }
    pthread_mutex_lock(&st->lock);
    route(st, req, body, store, resp);
    pthread_mutex_unlock(&st->lock);
    json_decref(body);
}
