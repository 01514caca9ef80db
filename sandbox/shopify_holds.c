/*
 * shopify_holds: fulfillment orders as Shopify keeps them, one per assigned location, with
 * their statuses (OPEN, SCHEDULED, ON_HOLD, IN_PROGRESS, CLOSED, CANCELLED) and fulfillment
 * holds with reasons, added and released through the control API with the
 * fulfillment_holds/added and fulfillment_holds/released webhooks. See docs/sandbox.md
 * "Fulfillment orders and holds".
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "shopify.h"

/* FulfillmentHoldReason, as the REST payloads write it (lower case). */
static const char *const reasons[] = {
    "awaiting_payment",       "awaiting_return_items",
    "high_risk_of_fraud",     "incorrect_address",
    "inventory_out_of_stock", "online_store_post_purchase_cross_sell",
    "unknown_delivery_date",  "other"};

/* "HIGH_RISK_OF_FRAUD" or "high_risk_of_fraud" -> the lower-case form, or NULL. */
/* One fulfillment_holds webhook for hold \p h (the payload is ours to free). */
static void hold_webhook(dh_sb_state_t *st, dh_sb_shop_t *shop, const char *topic, json_t *h,
                         int deliver)
{
    json_t *payload = json_pack("{s:O}", "fulfillment_hold", h);

    dh_sb_send_webhook(st, shop, topic, payload, NULL, deliver);
    json_decref(payload);
}

static const char *reason_of(const char *in, char *buf, size_t size)
{
    size_t i;

    for (i = 0; in && in[i] && i < size - 1; i++) {
        buf[i] = (char)tolower((unsigned char)in[i]);
    }
    buf[i] = '\0';
    for (size_t k = 0; in && k < sizeof reasons / sizeof reasons[0]; k++) {
        if (strcmp(buf, reasons[k]) == 0) {
            return reasons[k];
        }
    }
    return NULL;
}

static json_t *new_hold(dh_sb_shop_t *shop, json_t *fo, const char *reason, json_t *notes)
{
    json_t *h = json_pack("{s:I, s:s, s:O?, s:O, s:O, s:b}", "id",
                          (json_int_t)dh_sb_shop_next_id(shop), "reason", reason, "reason_notes",
                          notes, "fulfillment_order_id", json_object_get(fo, "id"), "order_id",
                          json_object_get(fo, "order_id"), "held_by_requesting_app", 0);

    json_array_append(json_object_get(fo, "holds"), h);
    return h;
}

json_t *dh_sb_order_fo_at(dh_sb_shop_t *shop, json_t *o, const char *lid, json_t *spec,
                          const char *now)
{
    char foid[32], buf[64];
    size_t i;
    json_t *id;
    const char *at = json_string_value(json_object_get(spec, "fulfill_at"));
    const char *reason =
        reason_of(json_string_value(json_object_get(spec, "hold_reason")), buf, sizeof buf);

    json_array_foreach(json_object_get(o, "_fo_ids"), i, id)
    {
        json_t *fo = json_object_get(shop->fos, json_string_value(id));
        const char *l = json_string_value(json_object_get(fo, "location_id"));

        if (l && strcmp(l, lid) == 0) {
            return fo;
        }
    }
    if (!reason && json_is_true(json_object_get(spec, "hold"))) {
        reason = "other";
    }
    snprintf(foid, sizeof foid, "%lld", dh_sb_shop_next_id(shop));
    json_t *fo = json_pack("{s:s, s:O, s:s, s:s, s:s, s:s?, s:[], s:[]}", "id", foid, "order_id",
                           json_object_get(o, "_id"), "location_id", lid, "status",
                           reason                                             ? "ON_HOLD"
                           : at && dh_sb_parse_iso(at) > dh_sb_parse_iso(now) ? "SCHEDULED"
                                                                              : "OPEN",
                           "updated_at", now, "fulfill_at", at, "foli_ids", "holds");

    if (reason) {
        json_decref(new_hold(shop, fo, reason, json_object_get(spec, "hold_notes")));
    }
    json_object_set_new(shop->fos, foid, fo);
    json_array_append_new(json_object_get(o, "_fo_ids"), json_string(foid));
    return fo;
}

void dh_sb_order_hold(dh_sb_state_t *st, dh_sb_shop_t *shop, json_t *o, json_t *spec,
                      dh_sb_resp_t *resp)
{
    char buf[64], now[32];
    const char *reason =
        reason_of(json_string_value(json_object_get(spec, "reason")), buf, sizeof buf);
    const char *only = json_string_value(json_object_get(spec, "fulfillment_order_id"));
    json_t *held = json_array(), *id;
    size_t i;

    if (!reason) {
        dh_sb_resp_json(resp, 422,
                        json_pack("{s:s}", "error", "reason must be a FulfillmentHoldReason"));
        json_decref(held);
        return;
    }
    dh_sb_iso_now(now, sizeof now);
    json_array_foreach(json_object_get(o, "_fo_ids"), i, id)
    {
        json_t *fo = json_object_get(shop->fos, json_string_value(id));
        const char *st_ = json_string_value(json_object_get(fo, "status"));

        if ((only && strcmp(only, json_string_value(id))) ||
            (strcmp(st_, "OPEN") && strcmp(st_, "SCHEDULED") && strcmp(st_, "ON_HOLD"))) {
            continue;
        }
        json_t *h = new_hold(shop, fo, reason, json_object_get(spec, "reason_notes"));

        json_object_set_new(fo, "status", json_string("ON_HOLD"));
        json_object_set_new(fo, "updated_at", json_string(now));
        hold_webhook(st, shop, "fulfillment_holds/added", h,
                     !json_is_false(json_object_get(spec, "deliver")));
        json_array_append_new(held, h);
    }
    if (json_array_size(held) == 0) {
        dh_sb_resp_json(resp, 422, json_pack("{s:s}", "error", "no fulfillment order can be held"));
        json_decref(held);
        return;
    }
    dh_sb_resp_json(resp, 200, json_pack("{s:o}", "fulfillment_holds", held));
}

void dh_sb_order_release_holds(dh_sb_state_t *st, dh_sb_shop_t *shop, json_t *o, const char *foid,
                               int deliver, const char *now)
{
    size_t i, k;
    json_t *id, *h;

    json_array_foreach(json_object_get(o, "_fo_ids"), i, id)
    {
        json_t *fo = json_object_get(shop->fos, json_string_value(id));

        if ((foid && strcmp(foid, json_string_value(id))) ||
            strcmp(json_string_value(json_object_get(fo, "status")), "ON_HOLD")) {
            continue;
        }
        json_array_foreach(json_object_get(fo, "holds"), k, h)
        {
            hold_webhook(st, shop, "fulfillment_holds/released", h, deliver);
        }
        const char *at = json_string_value(json_object_get(fo, "fulfill_at"));

        json_array_clear(json_object_get(fo, "holds"));
        /* * back to SCHEDULED while its fulfill_at is ahead (the docs do not say) */
        json_object_set_new(
            fo, "status",
            json_string(at && dh_sb_parse_iso(at) > dh_sb_parse_iso(now) ? "SCHEDULED" : "OPEN"));
        json_object_set_new(fo, "updated_at", json_string(now));
    }
}

void dh_sb_order_announce_holds(dh_sb_state_t *st, dh_sb_shop_t *shop, json_t *o, int deliver)
{
    size_t i, k;
    json_t *id, *h;

    json_array_foreach(json_object_get(o, "_fo_ids"), i, id)
    {
        json_t *fo = json_object_get(shop->fos, json_string_value(id));

        json_array_foreach(json_object_get(fo, "holds"), k, h)
        {
            hold_webhook(st, shop, "fulfillment_holds/added", h, deliver);
        }
    }
}
