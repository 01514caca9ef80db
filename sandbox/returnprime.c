/*
 * returnprime: Return Prime webhook double (see returnprime.h).
 */
#include "returnprime.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "returnprime_api.h"
#include "webhooks.h"

static json_t *rp_line(json_t *l, size_t i)
{
    json_t *lid = json_object_get(l, "line_item_id");
    json_t *fallback = json_integer((json_int_t)i + 1);
    json_t *out;

    lid = lid ? lid : fallback;
    out = json_pack(
        "{s:O, s:I, s:s, s:s, s:s, s:{s:O?, s:O?, s:O?, s:O?}, s:O?, s:[{s:O?, s:O?, s:O?}]}", "id",
        lid, "quantity",
        json_object_get(l, "quantity") ? json_integer_value(json_object_get(l, "quantity")) : 1,
        "reason",
        json_string_value(json_object_get(l, "reason"))
            ? json_string_value(json_object_get(l, "reason"))
            : "Others",
        "reason_detail", "", "customer_comment", "", "original_product", "sku",
        json_object_get(l, "sku"), "price", json_object_get(l, "price"), "product_id",
        json_object_get(l, "product_id"), "variant_id", json_object_get(l, "variant_id"),
        "exchange_product", json_object_get(l, "exchange_product"), "shipping", "awb",
        json_object_get(l, "awb"), "shipping_company", json_object_get(l, "carrier"),
        "tracking_url", json_object_get(l, "tracking_url"));
    if (json_object_get(l, "shipping_status")) {
        /* The reverse pickup's courier status (assumed field, docs/sandbox.md). */
        json_object_set(json_array_get(json_object_get(out, "shipping"), 0), "status",
                        json_object_get(l, "shipping_status"));
    }
    json_decref(fallback);
    return out;
}

json_t *dh_sb_rp_payload(json_t *spec, const char *now)
{
    const char *topic = json_string_value(json_object_get(spec, "topic"));
    const char *type = json_string_value(json_object_get(spec, "type"));
    const char *status = json_string_value(json_object_get(spec, "status"))
                             ? json_string_value(json_object_get(spec, "status"))
                         : topic && strchr(topic, '/') ? strchr(topic, '/') + 1
                                                       : "created";
    json_t *lines = json_array();
    size_t i;
    json_t *l;

    json_array_foreach(json_object_get(spec, "lines"), i, l)
    {
        json_array_append_new(lines, rp_line(l, i));
    }
    json_t *req =
        json_pack("{s:O?, s:O?, s:s, s:s, s:s, s:s, s:b, s:s, s:{s:O?, s:O?}, s:o}", "id",
                  json_object_get(spec, "request_id"), "request_number",
                  json_object_get(spec, "request_number"), "request_type", type ? type : "return",
                  "status", strcmp(status, "created") == 0 ? "pending" : status, "created_at", now,
                  "updated_at", now, "manual_request", 0, "channel", "customer_portal", "order",
                  "id", json_object_get(spec, "order_id"), "name",
                  json_object_get(spec, "order_name"), "line_items", lines);

    if (json_object_get(spec, "exchange_order")) {
        json_object_set_new(req, "exchange",
                            json_pack("{s:O}", "order", json_object_get(spec, "exchange_order")));
    }
    json_object_set_new(req, "approved",
                        json_pack("{s:b, s:s, s:s}", "status", strcmp(status, "approved") == 0,
                                  "comment", "", "created_at", now));
    json_object_set_new(req, "customer",
                        json_object_get(spec, "customer")
                            ? json_incref(json_object_get(spec, "customer"))
                            : json_object());
    return json_pack("{s:o}", "request", req);
}

void dh_sb_rp_sign(const char *secret, const char *timestamp, const char *body, char out[65])
{
    size_t n = strlen(timestamp) + 1 + strlen(body);
    char *msg = malloc(n + 1);
    unsigned char mac[32];

    out[0] = '\0';
    if (!msg) {
        return;
    }
    snprintf(msg, n + 1, "%s.%s", timestamp, body);
    if (dh_sb_hmac_sha256(secret, strlen(secret), msg, n, mac) == DH_SB_OK) {
        dh_sb_hex(mac, sizeof mac, out);
    }
    free(msg);
}

void dh_sb_rp_control(dh_sb_state_t *st, const dh_sb_req_t *req, dh_sb_resp_t *resp)
{
    json_t *spec = json_loadb(req->body, req->body_len, 0, NULL);
    char now[32], ts[32], wid[37], sig[65];
    const char *url = json_string_value(json_object_get(spec, "webhook_url"));

    if (!json_is_object(spec)) {
        dh_sb_resp_json(resp, 400, json_pack("{s:s}", "error", "expected a JSON object"));
        goto out;
    }
    if (!json_object_get(spec, "request_id")) {
        char id[40];

        dh_sb_uuid(wid);
        snprintf(id, sizeof id, "%.24s", wid);
        json_object_set_new(spec, "request_id", json_string(id));
    }
    dh_sb_iso_now(now, sizeof now);
    json_t *payload = dh_sb_rp_payload(spec, now);

    dh_sb_rp_remember(st, json_object_get(payload, "request"),
                      json_string_value(json_object_get(spec, "store")));
    char *body = json_dumps(payload, JSON_COMPACT);
    const char *topic = json_string_value(json_object_get(spec, "topic"));

    snprintf(ts, sizeof ts, "%lld", (long long)time(NULL));
    dh_sb_rp_sign(st->rp_secret, ts, body, sig);
    dh_sb_uuid(wid);
    json_t *h = json_pack("{s:s, s:s, s:s, s:s, s:s}", "Content-Type", "application/json",
                          "X-RP-Topic", topic ? topic : "request/created", "X-RP-Webhook-Id", wid,
                          "X-RP-Timestamp", ts, "X-RP-Signature", sig);

    url = url ? url : st->rp_url;
    if (url && *url && !json_is_false(json_object_get(spec, "deliver"))) {
        dh_sb_webhooks_enqueue(st->webhooks, url, json_incref(h), body,
                               topic ? topic : "request/created",
                               json_string_value(json_object_get(spec, "store")));
    }
    dh_sb_resp_json(
        resp, 202,
        json_pack("{s:o, s:o, s:s}", "payload", payload, "headers", h, "url", url ? url : ""));
    free(body);
out:
    json_decref(spec);
}
