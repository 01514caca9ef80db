/*
 * shopify_edit: order edits of the control API, as Shopify's order editing does them: a
 * line's quantity reduced or removed (current_quantity falls, quantity stays, the unshipped
 * units are restocked unless "restock": false), a line added (to the order's first open
 * fulfillment order), the shipping address changed. A change of lines sends orders/edited
 * (what changed) and then orders/updated (the whole order); an address change alone sends
 * orders/updated. A refund lowers current_quantity too (restocked unless "no_restock"; a
 * "return" restocks shipped units first, raising on_hand) and sends refunds/create then
 * orders/updated. Marking an order paid (a manual payment received) sends orders/paid and
 * orders/updated. See docs/sandbox.md "Order edits".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shopify.h"

void dh_sb_order_changed(dh_sb_state_t *st, dh_sb_shop_t *shop, json_t *o, const char *topic,
                         const char *now, int deliver, dh_sb_resp_t *resp)
{
    json_object_set_new(o, "updated_at", json_string(now));
    dh_sb_order_touch(o);
    json_t *rest = dh_sb_order_rest(o);

    dh_sb_send_webhook(st, shop, topic, rest, o, deliver);
    if (resp) {
        dh_sb_resp_json(resp, 200, rest);
    } else {
        json_decref(rest);
    }
}

static json_t *edit_error(const char *msg)
{
    return json_pack("{s:s}", "error", msg);
}

static json_t *line_by_id(json_t *o, json_t *id)
{
    size_t i;
    json_t *li;

    json_array_foreach(json_object_get(o, "line_items"), i, li)
    {
        if (json_is_integer(id) &&
            json_integer_value(json_object_get(li, "id")) == json_integer_value(id)) {
            return li;
        }
    }
    return NULL;
}

/* The fulfillment-order line of REST line \p li, and its fulfillment order (*fo_out). */
static json_t *foli_of(dh_sb_shop_t *shop, json_t *o, json_t *li, json_t **fo_out)
{
    char lid[32];
    size_t i, k;
    json_t *foid, *fid;

    snprintf(lid, sizeof lid, "%lld", (long long)json_integer_value(json_object_get(li, "id")));
    json_array_foreach(json_object_get(o, "_fo_ids"), i, foid)
    {
        json_t *fo = json_object_get(shop->fos, json_string_value(foid));

        json_array_foreach(json_object_get(fo, "foli_ids"), k, fid)
        {
            json_t *foli = json_object_get(shop->folis, json_string_value(fid));
            const char *l = json_string_value(json_object_get(foli, "line_item_id"));

            if (l && strcmp(l, lid) == 0) {
                *fo_out = fo;
                return foli;
            }
        }
    }
    return NULL;
}

static void add_int(json_t *obj, const char *k, json_int_t delta)
{
    json_object_set_new(obj, k, json_integer(json_integer_value(json_object_get(obj, k)) + delta));
}

/* Lowers one line to \p q; the units taken from the unshipped remainder are restocked at
 * the fulfillment order's location unless \p restock is 0. Appends {id, delta}. */
static void set_quantity(dh_sb_shop_t *shop, json_t *o, json_t *li, json_int_t q, int restock,
                         json_t *removals)
{
    json_int_t cur = json_integer_value(json_object_get(li, "current_quantity"));
    json_int_t delta = cur - q,
               fq = json_integer_value(json_object_get(li, "fulfillable_quantity"));
    json_t *fo = NULL, *foli = foli_of(shop, o, li, &fo);

    if (delta <= 0) {
        return;
    }
    json_object_set_new(li, "current_quantity", json_integer(q));
    json_object_set_new(li, "fulfillable_quantity", json_integer(fq > delta ? fq - delta : 0));
    if (foli) {
        json_int_t rem = json_integer_value(json_object_get(foli, "remaining"));
        json_int_t off = rem < delta ? rem : delta;
        json_t *lvl =
            dh_sb_level(shop, json_string_value(json_object_get(foli, "inventory_item_id")),
                        json_string_value(json_object_get(fo, "location_id")));

        add_int(foli, "remaining", -off);
        add_int(foli, "total", -delta);
        if (lvl && restock && off > 0) { /* committed units go back to available */
            dh_sb_level_add(lvl, "committed", -off);
            dh_sb_level_add(lvl, "available", off);
        }
    }
    json_array_append_new(removals,
                          json_pack("{s:O, s:I}", "id", json_object_get(li, "id"), "delta", delta));
}

/* A RETURN refund of \p q units of \p li: the shipped units (current_quantity beyond the
 * unshipped remainder) come back first; they raise on_hand (available += s, committed
 * untouched: shipped units were no longer committed). Returns the units left to refund from
 * the unshipped remainder (those go back like a CANCEL). Appends {id, delta}. */
static json_int_t return_shipped(dh_sb_shop_t *shop, json_t *o, json_t *li, json_int_t q,
                                 json_t *removals)
{
    json_int_t cur = json_integer_value(json_object_get(li, "current_quantity"));
    json_t *fo = NULL, *foli = foli_of(shop, o, li, &fo);
    json_int_t rem = foli ? json_integer_value(json_object_get(foli, "remaining")) : 0;
    json_int_t shipped = foli ? cur - rem : 0, s = q < shipped ? q : shipped;
    json_t *lvl = NULL;

    if (s <= 0) {
        return q;
    }
    lvl = dh_sb_level(shop, json_string_value(json_object_get(foli, "inventory_item_id")),
                      json_string_value(json_object_get(fo, "location_id")));
    json_object_set_new(li, "current_quantity", json_integer(cur - s));
    add_int(foli, "total", -s);
    if (lvl) {
        dh_sb_level_add(lvl, "available", s);
    }
    json_array_append_new(removals,
                          json_pack("{s:O, s:I}", "id", json_object_get(li, "id"), "delta", s));
    return q - s;
}

/* The first fulfillment order still open to new lines, or NULL. */
static json_t *open_fo(dh_sb_shop_t *shop, json_t *o)
{
    size_t i;
    json_t *foid;

    json_array_foreach(json_object_get(o, "_fo_ids"), i, foid)
    {
        json_t *fo = json_object_get(shop->fos, json_string_value(foid));
        const char *st = json_string_value(json_object_get(fo, "status"));

        if (st && strcmp(st, "CLOSED") && strcmp(st, "CANCELLED")) {
            return fo;
        }
    }
    return NULL;
}

/* Checks the whole edit before any change: NULL, or the error body. */
static json_t *check_edit(dh_sb_shop_t *shop, json_t *o, json_t *spec)
{
    size_t i;
    json_t *e;

    if (!json_is_null(json_object_get(o, "cancelled_at"))) {
        return edit_error("a cancelled order cannot be edited");
    }
    json_array_foreach(json_object_get(spec, "set_quantity"), i, e)
    {
        json_t *li = line_by_id(o, json_object_get(e, "line_item_id"));
        json_t *q = json_object_get(e, "quantity");

        if (!li || !json_is_integer(q) || json_integer_value(q) < 0 ||
            json_integer_value(q) > json_integer_value(json_object_get(li, "current_quantity"))) {
            return edit_error("set_quantity: unknown line_item_id, or quantity not 0..current");
        }
    }
    json_array_foreach(json_object_get(spec, "add"), i, e)
    {
        if (!dh_sb_line_spec_ok(shop, e) || !open_fo(shop, o)) {
            return edit_error("add: unknown sku / bad quantity, or no open fulfillment order");
        }
    }
    return NULL;
}

/* The orders/edited payload: {order_edit: {..., line_items: {additions, removals}}}. */
static json_t *edited_payload(dh_sb_shop_t *shop, json_t *o, json_t *adds, json_t *removals,
                              const char *now, int notify)
{
    return json_pack("{s:{s:I, s:n, s:s, s:s, s:b, s:O, s:s, s:n, s:{s:O, s:O},"
                     " s:{s:{s:[], s:[]}}, s:{s:[], s:[]}}}",
                     "order_edit", "id", (json_int_t)dh_sb_shop_next_id(shop), "app_id",
                     "created_at", now, "committed_at", now, "notify_customer", notify, "order_id",
                     json_object_get(o, "id"), "staff_note", "", "user_id", "line_items",
                     "additions", adds, "removals", removals, "discounts", "line_item", "additions",
                     "removals", "shipping_lines", "additions", "removals");
}

void dh_sb_order_edit(dh_sb_state_t *st, dh_sb_shop_t *shop, json_t *o, json_t *spec,
                      dh_sb_resp_t *resp)
{
    char now[32];
    json_t *err = check_edit(shop, o, spec), *adds = json_array(), *removals = json_array(), *e;
    int deliver = !json_is_false(json_object_get(spec, "deliver"));
    size_t i;

    if (err) {
        dh_sb_resp_json(resp, 422, err);
        goto out;
    }
    dh_sb_iso_now(now, sizeof now);
    json_array_foreach(json_object_get(spec, "set_quantity"), i, e)
    {
        set_quantity(shop, o, line_by_id(o, json_object_get(e, "line_item_id")),
                     json_integer_value(json_object_get(e, "quantity")),
                     !json_is_false(json_object_get(e, "restock")), removals);
    }
    json_array_foreach(json_object_get(spec, "add"), i, e)
    {
        json_t *fo = open_fo(shop, o), *lines = json_object_get(o, "line_items"), *li;

        dh_sb_order_add_line(shop, e, json_string_value(json_object_get(fo, "location_id")), o, fo);
        li = json_array_get(lines, json_array_size(lines) - 1);
        json_array_append_new(adds, json_pack("{s:O, s:O}", "id", json_object_get(li, "id"),
                                              "delta", json_object_get(li, "quantity")));
    }
    if (json_is_object(json_object_get(spec, "shipping_address"))) {
        json_object_set(o, "shipping_address", json_object_get(spec, "shipping_address"));
    }
    dh_sb_order_totals(o);
    if (json_array_size(adds) || json_array_size(removals)) {
        json_t *ed = edited_payload(shop, o, adds, removals, now,
                                    json_is_true(json_object_get(spec, "notify_customer")));

        dh_sb_send_webhook(st, shop, "orders/edited", ed, o, deliver);
        json_decref(ed);
    }
    dh_sb_order_changed(st, shop, o, "orders/updated", now, deliver, resp);
out:
    json_decref(adds);
    json_decref(removals);
}

void dh_sb_order_mark_paid(dh_sb_state_t *st, dh_sb_shop_t *shop, json_t *o, json_t *spec,
                           dh_sb_resp_t *resp)
{
    char now[32];

    if (!json_is_null(json_object_get(o, "cancelled_at"))) {
        dh_sb_resp_json(resp, 422, edit_error("a cancelled order cannot be marked as paid"));
        return;
    }
    dh_sb_iso_now(now, sizeof now);
    json_object_set_new(o, "financial_status", json_string("paid"));
    dh_sb_order_totals(o);
    int deliver = !json_is_false(json_object_get(spec, "deliver"));

    /* orders/paid (the whole order, like orders/create), then orders/updated. */
    dh_sb_order_changed(st, shop, o, "orders/paid", now, deliver, NULL);
    dh_sb_order_changed(st, shop, o, "orders/updated", now, deliver, resp);
}

/* The refund_line_items of \p spec, checked: NULL, or the error body. */
static json_t *check_refund(json_t *o, json_t *spec)
{
    size_t i;
    json_t *r;

    if (!json_array_size(json_object_get(spec, "refund_line_items"))) {
        return edit_error("refund_line_items required");
    }
    json_array_foreach(json_object_get(spec, "refund_line_items"), i, r)
    {
        json_t *li = line_by_id(o, json_object_get(r, "line_item_id"));
        json_int_t q = json_integer_value(json_object_get(r, "quantity"));
        const char *t = json_string_value(json_object_get(r, "restock_type"));

        if (!li || q < 1 || q > json_integer_value(json_object_get(li, "current_quantity")) ||
            (t && strcmp(t, "cancel") && strcmp(t, "return") && strcmp(t, "no_restock"))) {
            return edit_error("refund: unknown line, quantity not 1..current, or restock_type not "
                              "cancel|return|no_restock");
        }
    }
    return NULL;
}

/* One REST refund_line_items entry: location_id a number (null without restock) and the
 * refunded line_item with its sku, as Shopify's Refund resource carries them. */
static json_t *refund_line(dh_sb_shop_t *shop, json_t *li, json_t *fo, json_int_t q, const char *t,
                           int restocked)
{
    const char *loc = fo ? json_string_value(json_object_get(fo, "location_id")) : NULL;
    json_t *item =
        json_pack("{s:O, s:O?, s:O?, s:O?, s:O?}", "id", json_object_get(li, "id"), "variant_id",
                  json_object_get(li, "variant_id"), "sku", json_object_get(li, "sku"), "title",
                  json_object_get(li, "title"), "quantity", json_object_get(li, "quantity"));

    return json_pack("{s:I, s:O, s:I, s:s, s:o, s:o}", "id", (json_int_t)dh_sb_shop_next_id(shop),
                     "line_item_id", json_object_get(li, "id"), "quantity", q, "restock_type",
                     t ? t : "no_restock", "location_id",
                     restocked && loc ? json_integer(strtoll(loc, NULL, 10)) : json_null(),
                     "line_item", item);
}

void dh_sb_order_refund(dh_sb_state_t *st, dh_sb_shop_t *shop, json_t *o, json_t *spec,
                        dh_sb_resp_t *resp)
{
    char now[32];
    json_t *err = check_refund(o, spec), *rlis = json_array(), *removals = json_array(), *r;
    int restock = 0, left = 0;
    size_t i;

    if (err) {
        dh_sb_resp_json(resp, 422, err);
        goto out;
    }
    dh_sb_iso_now(now, sizeof now);
    json_array_foreach(json_object_get(spec, "refund_line_items"), i, r)
    {
        json_t *li = line_by_id(o, json_object_get(r, "line_item_id")), *fo = NULL;
        json_int_t q = json_integer_value(json_object_get(r, "quantity"));
        const char *t = json_string_value(json_object_get(r, "restock_type"));
        int rs = t && strcmp(t, "no_restock") != 0;

        json_int_t left_q =
            t && strcmp(t, "return") == 0 ? return_shipped(shop, o, li, q, removals) : q;

        foli_of(shop, o, li, &fo);
        set_quantity(shop, o, li,
                     json_integer_value(json_object_get(li, "current_quantity")) - left_q, rs,
                     removals);
        restock |= rs;
        json_array_append_new(rlis, refund_line(shop, li, fo, q, t, rs));
    }
    json_array_foreach(json_object_get(o, "line_items"), i, r)
    {
        left |= json_integer_value(json_object_get(r, "current_quantity")) > 0;
    }
    if (!strcmp(json_string_value(json_object_get(o, "financial_status")), "paid") ||
        !strcmp(json_string_value(json_object_get(o, "financial_status")), "partially_refunded")) {
        json_object_set_new(o, "financial_status",
                            json_string(left ? "partially_refunded" : "refunded"));
    }
    dh_sb_order_totals(o);
    json_t *refund =
        json_pack("{s:I, s:O, s:s, s:O?, s:b, s:O}", "id", (json_int_t)dh_sb_shop_next_id(shop),
                  "order_id", json_object_get(o, "id"), "created_at", now, "note",
                  json_object_get(spec, "note"), "restock", restock, "refund_line_items", rlis);
    int deliver = !json_is_false(json_object_get(spec, "deliver"));

    dh_sb_send_webhook(st, shop, "refunds/create", refund, o, deliver);
    dh_sb_order_changed(st, shop, o, "orders/updated", now, deliver, NULL);
    dh_sb_resp_json(resp, 200, refund);
out:
    json_decref(rlis);
    json_decref(removals);
}
