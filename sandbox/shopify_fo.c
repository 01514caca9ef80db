/*
 * shopify_fo: fulfillment orders changing after the order was placed, as the control API
 * drives them: a fulfillment order moved to another location (fulfillmentOrderMove; the
 * fulfillment_orders/moved webhook, then orders/updated) and a scheduled fulfillment order
 * becoming ready (its fulfill_at reached; fulfillment_orders/scheduled_fulfillment_order_ready).
 * See docs/sandbox.md "Fulfillment orders and holds".
 */
#include <stdio.h>
#include <string.h>

#include "shopify.h"

static void fail(dh_sb_resp_t *resp, const char *why)
{
    dh_sb_resp_json(resp, 422, json_pack("{s:s}", "error", why));
}

/* The order's fulfillment order \p foid (or its first one when NULL), or NULL. */
static json_t *order_fo(dh_sb_shop_t *shop, json_t *o, const char *foid)
{
    size_t i;
    json_t *id;

    json_array_foreach(json_object_get(o, "_fo_ids"), i, id)
    {
        if (!foid || !strcmp(foid, json_string_value(id))) {
            return json_object_get(shop->fos, json_string_value(id));
        }
    }
    return NULL;
}

/* Why \p fo cannot move to \p lid, or NULL: fulfilled units stay at their location (only a
 * fulfillment order nothing of which was fulfilled is modelled), a closed or cancelled one
 * cannot move, and the destination must stock every item. */
static const char *cannot_move(dh_sb_shop_t *shop, json_t *fo, const char *lid)
{
    const char *st = json_string_value(json_object_get(fo, "status"));
    size_t i;
    json_t *fid;

    if (strcmp(st, "OPEN") && strcmp(st, "SCHEDULED") && strcmp(st, "ON_HOLD")) {
        return "the fulfillment order is closed, cancelled or in progress";
    }
    if (!strcmp(json_string_value(json_object_get(fo, "location_id")), lid)) {
        return "the fulfillment order is already at that location";
    }
    json_array_foreach(json_object_get(fo, "foli_ids"), i, fid)
    {
        json_t *foli = json_object_get(shop->folis, json_string_value(fid));
        const char *iid = json_string_value(json_object_get(foli, "inventory_item_id"));

        if (json_integer_value(json_object_get(foli, "remaining")) !=
            json_integer_value(json_object_get(foli, "total"))) {
            return "part of the fulfillment order was fulfilled (not modelled)";
        }
        if (iid && !dh_sb_level(shop, iid, lid)) {
            return "the destination location doesn't stock the requested inventory item";
        }
    }
    return NULL;
}

/* Moves the committed stock and the fulfillment order; returns the lines moved. */
static json_t *move_lines(dh_sb_shop_t *shop, json_t *fo, const char *from, const char *to)
{
    json_t *moved = json_array(), *fid;
    size_t i;

    json_array_foreach(json_object_get(fo, "foli_ids"), i, fid)
    {
        json_t *foli = json_object_get(shop->folis, json_string_value(fid));
        const char *iid = json_string_value(json_object_get(foli, "inventory_item_id"));
        json_int_t q = json_integer_value(json_object_get(foli, "remaining"));

        if (iid) {
            json_t *src = dh_sb_level(shop, iid, from), *dst = dh_sb_level(shop, iid, to);

            dh_sb_level_add(src, "committed", -q);
            dh_sb_level_add(src, "available", q);
            dh_sb_level_add(dst, "committed", q);
            dh_sb_level_add(dst, "available", -q);
        }
        json_array_append_new(
            moved, json_pack("{s:o, s:I}", "id",
                             dh_sb_gid_s("FulfillmentOrderLineItem", json_string_value(fid)),
                             "quantity", q));
    }
    json_object_set_new(fo, "location_id", json_string(to));
    return moved;
}

/* The webhook's view of a fulfillment order: GID, status in lower case, location GID. */
static json_t *fo_brief(json_t *fo)
{
    char st[32];
    const char *s = json_string_value(json_object_get(fo, "status"));
    size_t k;

    for (k = 0; s[k] && k < sizeof st - 1; k++) {
        st[k] = (char)(s[k] >= 'A' && s[k] <= 'Z' ? s[k] - 'A' + 'a' : s[k]);
    }
    st[k] = '\0';
    return json_pack(
        "{s:o, s:s, s:o}", "id",
        dh_sb_gid_s("FulfillmentOrder", json_string_value(json_object_get(fo, "id"))), "status", st,
        "assigned_location_id",
        dh_sb_gid_s("Location", json_string_value(json_object_get(fo, "location_id"))));
}

void dh_sb_order_fo_move(dh_sb_state_t *st, dh_sb_shop_t *shop, json_t *o, json_t *spec,
                         dh_sb_resp_t *resp)
{
    char lid[32], from[32], now[32];
    json_t *fo =
        order_fo(shop, o, json_string_value(json_object_get(spec, "fulfillment_order_id")));
    const char *why = NULL;
    int deliver = !json_is_false(json_object_get(spec, "deliver"));

    if (!fo ||
        dh_sb_gid_parse(json_object_get(spec, "location_id"), "Location", lid, sizeof lid) < 0 ||
        !json_object_get(shop->locations, lid)) {
        fail(resp, "unknown fulfillment order or location");
        return;
    }
    why = cannot_move(shop, fo, lid);
    if (why) {
        fail(resp, why);
        return;
    }
    dh_sb_iso_now(now, sizeof now);
    snprintf(from, sizeof from, "%s", json_string_value(json_object_get(fo, "location_id")));
    json_t *lines = move_lines(shop, fo, from, lid);

    json_object_set_new(fo, "updated_at", json_string(now));
    /* Nothing of it fulfilled: the original fulfillment order itself moves (it is also the
     * moved one); source_location names where it was. */
    json_t *payload =
        json_pack("{s:o, s:o, s:o, s:o, s:{s:o}}", "original_fulfillment_order", fo_brief(fo),
                  "moved_fulfillment_order", fo_brief(fo), "destination_location_id",
                  dh_sb_gid_s("Location", lid), "fulfillment_order_line_items_requested", lines,
                  "source_location", "id", dh_sb_gid_s("Location", from));

    dh_sb_send_webhook(st, shop, "fulfillment_orders/moved", payload, o, deliver);
    json_decref(payload);
    dh_sb_order_changed(st, shop, o, "orders/updated", now, deliver, resp);
}

void dh_sb_order_fo_ready(dh_sb_state_t *st, dh_sb_shop_t *shop, json_t *o, json_t *spec,
                          dh_sb_resp_t *resp)
{
    char now[32];
    const char *only = json_string_value(json_object_get(spec, "fulfillment_order_id"));
    json_t *ready = json_array(), *id;
    size_t i;

    dh_sb_iso_now(now, sizeof now);
    json_array_foreach(json_object_get(o, "_fo_ids"), i, id)
    {
        json_t *fo = json_object_get(shop->fos, json_string_value(id));

        if ((only && strcmp(only, json_string_value(id))) ||
            strcmp(json_string_value(json_object_get(fo, "status")), "SCHEDULED")) {
            continue;
        }
        /* Its fulfill_at is reached: OPEN, and a later hold release leaves it OPEN. */
        json_object_set_new(fo, "status", json_string("OPEN"));
        json_object_set_new(fo, "fulfill_at", json_string(now));
        json_object_set_new(fo, "updated_at", json_string(now));
        json_t *payload = json_pack("{s:o}", "fulfillment_order", fo_brief(fo));

        json_object_del(json_object_get(payload, "fulfillment_order"), "assigned_location_id");
        dh_sb_send_webhook(st, shop, "fulfillment_orders/scheduled_fulfillment_order_ready",
                           payload, o, !json_is_false(json_object_get(spec, "deliver")));
        json_array_append_new(ready, payload);
    }
    if (json_array_size(ready) == 0) {
        json_decref(ready);
        fail(resp, "no scheduled fulfillment order");
        return;
    }
    dh_sb_resp_json(resp, 200, json_pack("{s:o}", "ready", ready));
}
