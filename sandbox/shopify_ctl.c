/*
 * shopify_ctl: /_control/shops/{shop}/... endpoints that act as the merchant and the
 * storefront (place and cancel orders, release holds, edit products and levels) and
 * emit Shopify's REST-shaped webhooks, signed like Shopify.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "shopify.h"
#include "webhooks.h"

static json_int_t num_id(json_t *s)
{
    return (json_int_t)strtoll(json_string_value(s) ? json_string_value(s) : "0", NULL, 10);
}

void dh_sb_send_webhook(dh_sb_state_t *st, dh_sb_shop_t *shop, const char *topic, json_t *payload,
                        json_t *order, int deliver)
{
    char *body = json_dumps(payload, JSON_COMPACT);
    unsigned char mac[32];
    char b64[64], wid[37], eid[37], now[32];

    if (!body) {
        return;
    }
    dh_sb_hmac_sha256(shop->webhook_secret, strlen(shop->webhook_secret), body, strlen(body), mac);
    dh_sb_base64(mac, sizeof mac, b64);
    dh_sb_uuid(wid);
    dh_sb_uuid(eid);
    dh_sb_iso_now(now, sizeof now);
    json_t *h =
        json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "Content-Type", "application/json",
                  "X-Shopify-Topic", topic, "X-Shopify-Hmac-Sha256", b64, "X-Shopify-Shop-Domain",
                  shop->domain, "X-Shopify-API-Version", shop->api_version, "X-Shopify-Webhook-Id",
                  wid, "X-Shopify-Triggered-At", now, "X-Shopify-Event-Id", eid);

    if (order) { /* remembered for /redeliver */
        json_t *sent = json_object_get(order, "_sent");

        json_object_set_new(sent, topic, json_pack("{s:s, s:O}", "body", body, "headers", h));
    }
    if (deliver && shop->webhook_url[0] && st->webhooks) {
        dh_sb_webhooks_enqueue(st->webhooks, shop->webhook_url, h, body, topic, shop->domain);
    } else {
        json_decref(h);
    }
    free(body);
}

static json_t *find_variant_by_sku(dh_sb_shop_t *shop, const char *sku)
{
    size_t i;
    json_t *vid;

    json_array_foreach(shop->variant_ids, i, vid)
    {
        json_t *v = json_object_get(shop->variants, json_string_value(vid));

        if (sku && json_is_string(json_object_get(v, "sku")) &&
            strcmp(json_string_value(json_object_get(v, "sku")), sku) == 0) {
            return v;
        }
    }
    return NULL;
}

void dh_sb_order_touch(json_t *o)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    json_object_set_new(o, "_updated_epoch",
                        json_real((double)ts.tv_sec + (double)ts.tv_nsec / 1e9));
}

/* A line spec the store can sell: a variant's SKU, or a custom item (title and price, an
 * optional SKU, no variant; a gift card is one that never ships). */
int dh_sb_line_spec_ok(dh_sb_shop_t *shop, json_t *spec)
{
    const char *sku = json_string_value(json_object_get(spec, "sku"));
    int custom = json_is_string(json_object_get(spec, "title")) &&
                 json_is_string(json_object_get(spec, "price"));

    return json_integer_value(json_object_get(spec, "quantity")) > 0 &&
           (custom || find_variant_by_sku(shop, sku));
}

/* The REST line item of \p spec (variant \p v, or a custom item when NULL). Shopify reports
 * the original quantity in "quantity" and what edits and refunds left in "current_quantity";
 * a gift card never requires shipping. */
static json_t *rest_line(dh_sb_shop_t *shop, json_t *spec, json_t *v, const char *li, json_int_t q)
{
    json_t *prod =
        json_object_get(shop->products, json_string_value(json_object_get(v, "product_id")));
    json_t *price = json_object_get(spec, "price") ? json_object_get(spec, "price")
                                                   : json_object_get(v, "price");
    json_t *title = v ? json_object_get(prod, "title") : json_object_get(spec, "title");
    int gift = json_is_true(json_object_get(spec, "gift_card"));
    int ship = !gift && !json_is_false(json_object_get(spec, "requires_shipping"));
    json_t *out = json_pack(
        "{s:I, s:o, s:O?, s:I, s:I, s:I, s:O?, s:O?, s:O?, s:O?, s:b, s:b}", "id",
        (json_int_t)strtoll(li, NULL, 10), "admin_graphql_api_id", dh_sb_gid_s("LineItem", li),
        "sku", v ? json_object_get(v, "sku") : json_object_get(spec, "sku"), "quantity", q,
        "current_quantity", q, "fulfillable_quantity", ship ? q : 0, "title", title, "name", title,
        "price", price, "variant_title", json_object_get(v, "title"), "requires_shipping", ship,
        "gift_card", gift);

    json_object_set_new(out, "variant_id",
                        v ? json_integer(num_id(json_object_get(v, "id"))) : json_null());
    json_object_set_new(out, "product_id",
                        v ? json_integer(num_id(json_object_get(v, "product_id"))) : json_null());
    return out;
}

/* One REST line item plus, when it requires shipping, its fulfillment-order line. Stock is
 * committed for variants only (a custom item has no inventory item). */
void dh_sb_order_add_line(dh_sb_shop_t *shop, json_t *spec, const char *lid, json_t *order,
                          json_t *fo)
{
    json_t *v = find_variant_by_sku(shop, json_string_value(json_object_get(spec, "sku")));
    json_int_t q = json_integer_value(json_object_get(spec, "quantity"));
    const char *iid = v ? json_string_value(json_object_get(v, "inventory_item_id")) : NULL;
    char li[32], foli[32];

    if (json_is_string(json_object_get(spec, "title")) && json_object_get(spec, "price")) {
        v = NULL, iid = NULL; /* a custom item, even when its SKU names a variant */
    }
    if (iid) {
        json_t *lvl = dh_sb_level_activate(shop, iid, lid);

        dh_sb_level_add(lvl, "available", -q); /* Shopify: available -= q, committed += q */
        dh_sb_level_add(lvl, "committed", q);
    }
    snprintf(li, sizeof li, "%lld", dh_sb_shop_next_id(shop));
    json_t *line = rest_line(shop, spec, v, li, q);

    json_array_append_new(json_object_get(order, "line_items"), line);
    if (!json_is_true(json_object_get(line, "requires_shipping"))) {
        return;
    }
    snprintf(foli, sizeof foli, "%lld", dh_sb_shop_next_id(shop));
    json_object_set_new(shop->folis, foli,
                        json_pack("{s:s, s:O, s:s, s:s?, s:O?, s:O?, s:O?, s:I, s:I}", "id", foli,
                                  "fo_id", json_object_get(fo, "id"), "line_item_id", li,
                                  "inventory_item_id", iid, "variant_id", json_object_get(v, "id"),
                                  "sku", json_object_get(line, "sku"), "title",
                                  json_object_get(line, "title"), "total", q, "remaining", q));
    json_array_append_new(json_object_get(fo, "foli_ids"), json_string(foli));
}

/* An order's tags as Shopify keeps them: the REST "tags" string ("a, b") and the list
 * GraphQL returns. Return Prime tags exchange orders; tests place such orders this way. */
static void set_tags(json_t *o, const char *tags)
{
    json_t *list = json_object_get(o, "_tags");
    char buf[512], *save = NULL;

    if (!tags || !*tags) {
        return;
    }
    json_object_set_new(o, "tags", json_string(tags));
    snprintf(buf, sizeof buf, "%s", tags);
    for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        while (*t == ' ') {
            t++;
        }
        if (*t) {
            json_array_append_new(list, json_string(t));
        }
    }
}

static json_t *new_order(dh_sb_shop_t *shop, json_t *spec, const char *lid, const char *now)
{
    char oid[32], name[32];

    snprintf(oid, sizeof oid, "%lld", dh_sb_shop_next_id(shop));
    shop->order_number++;
    snprintf(name, sizeof name, "#%ld", shop->order_number);
    json_t *o = json_pack(
        "{s:I, s:o, s:s, s:I, s:s, s:s, s:n, s:n, s:s, s:n, s:s, s:s, s:s, s:[], s:O?,"
        " s:s, s:[], s:[], s:[], s:{}, s:s, s:s}",
        "id", (json_int_t)strtoll(oid, NULL, 10), "admin_graphql_api_id", dh_sb_gid_s("Order", oid),
        "name", name, "order_number", (json_int_t)shop->order_number, "created_at", now,
        "updated_at", now, "cancelled_at", "cancel_reason", "financial_status", "paid",
        "fulfillment_status", "currency",
        json_string_value(json_object_get(spec, "currency"))
            ? json_string_value(json_object_get(spec, "currency"))
            : "INR",
        "email",
        json_string_value(json_object_get(spec, "email"))
            ? json_string_value(json_object_get(spec, "email"))
            : "buyer@example.com",
        "tags", "", "line_items", "shipping_address", json_object_get(spec, "shipping_address"),
        "_id", oid, "_fo_ids", "_fulfillment_ids", "_tags", "_sent", "_location_id", lid,
        "_cancel_reason_enum", "");

    json_object_del(o, "_cancel_reason_enum");
    set_tags(o, json_string_value(json_object_get(spec, "tags")));
    if (json_is_null(json_object_get(o, "shipping_address"))) {
        json_object_set_new(o, "shipping_address",
                            json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "first_name",
                                      "Asha", "last_name", "Rao", "address1", "12 MG Road", "city",
                                      "Bengaluru", "zip", "560001", "country_code", "IN",
                                      "province_code", "KA", "phone", "+919800000000"));
    }
    dh_sb_order_touch(o);
    return o;
}

/* Money as Shopify's REST resources write it: a string with two decimals. */
static json_t *money(double v)
{
    return json_sprintf("%.2f", v + (v >= 0 ? 0.0000001 : -0.0000001));
}

void dh_sb_order_totals(json_t *o)
{
    const char *fs = json_string_value(json_object_get(o, "financial_status"));
    double total = 0;
    size_t i;
    json_t *li;

    json_array_foreach(json_object_get(o, "line_items"), i, li)
    {
        const char *p = json_string_value(json_object_get(li, "price"));

        total += (p ? strtod(p, NULL) : 0) *
                 (double)json_integer_value(json_object_get(li, "current_quantity"));
    }
    fs = fs ? fs : "paid";
    if (!json_object_get(o, "total_price")) {
        json_object_set_new(o, "total_price", money(total));
    }
    json_object_set_new(o, "current_total_price", money(total));
    /* Outstanding while unpaid; a paid (or refunded) order owes nothing. */
    json_object_set_new(o, "total_outstanding",
                        money(strcmp(fs, "pending") == 0 || strcmp(fs, "authorized") == 0 ||
                                      strcmp(fs, "partially_paid") == 0
                                  ? total
                                  : 0));
}

/* Test flag, gateway and totals. A manual payment method such as "Cash on Delivery (COD)"
 * leaves the order pending (unpaid) with the whole total outstanding until the merchant
 * marks it paid; a checkout gateway leaves it paid. */
static void set_payment(json_t *o, json_t *spec)
{
    const char *gw = json_string_value(json_object_get(spec, "gateway"));
    const char *fs = json_string_value(json_object_get(spec, "financial_status"));

    gw = gw ? gw : "shopify_payments";
    if (!fs) {
        fs = strcmp(gw, "Cash on Delivery (COD)") == 0 || strcmp(gw, "manual") == 0 ? "pending"
                                                                                    : "paid";
    }
    json_object_set_new(o, "test", json_boolean(json_is_true(json_object_get(spec, "test"))));
    json_object_set_new(o, "gateway", json_string(gw));
    json_object_set_new(o, "payment_gateway_names", json_pack("[s]", gw));
    json_object_set_new(o, "financial_status", json_string(fs));
    dh_sb_order_totals(o);
}

/* The location a line is assigned to: its own location_id, else the order's. */
static const char *line_location(json_t *spec, json_t *line, const char *def, char *buf,
                                 size_t size)
{
    (void)spec;
    if (json_object_get(line, "location_id") &&
        dh_sb_gid_parse(json_object_get(line, "location_id"), "Location", buf, size) == 0) {
        return buf;
    }
    return def;
}

static void place_order(dh_sb_state_t *st, dh_sb_shop_t *shop, json_t *spec, dh_sb_resp_t *resp)
{
    char now[32], lid[32], llid[32];
    json_t *lines = json_object_get(spec, "line_items");
    size_t i;
    json_t *l;

    dh_sb_iso_now(now, sizeof now);
    if (!json_object_get(spec, "location_id") ||
        dh_sb_gid_parse(json_object_get(spec, "location_id"), "Location", lid, sizeof lid) < 0) {
        const char *l0 = json_string_value(json_array_get(shop->location_ids, 0));

        snprintf(lid, sizeof lid, "%s", l0 ? l0 : "0");
    }
    if (json_array_size(lines) == 0 || !json_object_get(shop->locations, lid)) {
        dh_sb_resp_json(resp, 422,
                        json_pack("{s:s}", "error", "line_items required and location must exist"));
        return;
    }
    json_array_foreach(lines, i, l)
    {
        if (!json_object_get(shop->locations, line_location(spec, l, lid, llid, sizeof llid))) {
            dh_sb_resp_json(resp, 422, json_pack("{s:s}", "error", "unknown line location_id"));
            return;
        }
        if (!dh_sb_line_spec_ok(shop, l)) {
            dh_sb_resp_json(resp, 422,
                            json_pack("{s:s, s:O?}", "error", "unknown sku or bad quantity", "sku",
                                      json_object_get(l, "sku")));
            return;
        }
    }
    json_t *o = new_order(shop, spec, lid, now);

    json_array_foreach(lines, i, l)
    {
        json_t *fo =
            dh_sb_order_fo_at(shop, o, line_location(spec, l, lid, llid, sizeof llid), spec, now);

        dh_sb_order_add_line(shop, l, json_string_value(json_object_get(fo, "location_id")), o, fo);
    }
    set_payment(o, spec);
    json_object_set_new(shop->orders, json_string_value(json_object_get(o, "_id")), o);
    json_array_append_new(shop->order_ids,
                          json_string(json_string_value(json_object_get(o, "_id"))));
    json_t *rest = dh_sb_order_rest(o);

    /* "deliver": false simulates a lost webhook; /redeliver sends it later */
    dh_sb_send_webhook(st, shop, "orders/create", rest, o,
                       !json_is_false(json_object_get(spec, "deliver")));
    dh_sb_order_announce_holds(st, shop, o, !json_is_false(json_object_get(spec, "deliver")));
    json_t *foids = json_array();

    json_array_foreach(json_object_get(o, "_fo_ids"), i, l)
    {
        json_array_append_new(foids, dh_sb_gid_s("FulfillmentOrder", json_string_value(l)));
    }
    json_object_set_new(rest, "fulfillment_order_ids", foids);
    dh_sb_resp_json(resp, 201, rest);
}

static json_t *order_by_id(dh_sb_shop_t *shop, const char *id)
{
    char oid[32];
    json_t *s = json_string(id);
    int bad = dh_sb_gid_parse(s, "Order", oid, sizeof oid);

    json_decref(s);
    return bad ? NULL : json_object_get(shop->orders, oid);
}

static void cancel_order(dh_sb_state_t *st, dh_sb_shop_t *shop, json_t *o, json_t *spec,
                         dh_sb_resp_t *resp)
{
    char now[32];
    const char *reason = json_string_value(json_object_get(spec, "reason"));
    size_t i, k;
    json_t *foid, *fid;

    if (!json_is_null(json_object_get(o, "cancelled_at"))) {
        dh_sb_resp_json(resp, 422, json_pack("{s:s}", "error", "order already cancelled"));
        return;
    }
    dh_sb_iso_now(now, sizeof now);
    json_array_foreach(json_object_get(o, "_fo_ids"), i, foid)
    {
        json_t *fo = json_object_get(shop->fos, json_string_value(foid));
        const char *lid = json_string_value(json_object_get(fo, "location_id"));

        json_array_foreach(json_object_get(fo, "foli_ids"), k, fid)
        {
            json_t *foli = json_object_get(shop->folis, json_string_value(fid));
            json_int_t rem = json_integer_value(json_object_get(foli, "remaining"));
            json_t *lvl = dh_sb_level(
                shop, json_string_value(json_object_get(foli, "inventory_item_id")), lid);

            if (lvl && rem > 0) { /* restock what was not shipped */
                dh_sb_level_add(lvl, "committed", -rem);
                dh_sb_level_add(lvl, "available", rem);
            }
            json_object_set_new(foli, "remaining", json_integer(0));
        }
        json_object_set_new(
            fo, "status",
            json_string(strcmp(json_string_value(json_object_get(fo, "status")), "CLOSED")
                            ? "CANCELLED"
                            : "CLOSED"));
        json_object_set_new(fo, "updated_at", json_string(now));
    }
    json_object_set_new(o, "cancelled_at", json_string(now));
    json_object_set_new(o, "cancel_reason", json_string(reason ? reason : "customer"));
    dh_sb_order_changed(st, shop, o, "orders/cancelled", now,
                        !json_is_false(json_object_get(spec, "deliver")), resp);
}

static void release_hold(dh_sb_state_t *st, dh_sb_shop_t *shop, json_t *o, json_t *spec,
                         dh_sb_resp_t *resp)
{
    char now[32];
    int deliver = !json_is_false(json_object_get(spec, "deliver"));

    dh_sb_iso_now(now, sizeof now);
    dh_sb_order_release_holds(st, shop, o,
                              json_string_value(json_object_get(spec, "fulfillment_order_id")),
                              deliver, now);
    dh_sb_order_changed(st, shop, o, "orders/updated", now, deliver, resp);
}

static void redeliver(dh_sb_state_t *st, dh_sb_shop_t *shop, json_t *o, json_t *spec,
                      dh_sb_resp_t *resp)
{
    const char *topic = json_string_value(json_object_get(spec, "topic"));
    json_t *sent = json_object_get(json_object_get(o, "_sent"), topic ? topic : "orders/create");

    if (!sent || !shop->webhook_url[0]) {
        dh_sb_resp_json(resp, 404,
                        json_pack("{s:s}", "error", "nothing to redeliver (or no webhook_url)"));
        return;
    }
    /* A Shopify retry: same body, same X-Shopify-Webhook-Id and Event-Id. */
    dh_sb_webhooks_enqueue(st->webhooks, shop->webhook_url,
                           json_deep_copy(json_object_get(sent, "headers")),
                           json_string_value(json_object_get(sent, "body")),
                           topic ? topic : "orders/create", shop->domain);
    dh_sb_resp_json(resp, 202, json_pack("{s:b}", "queued", 1));
}

static json_t *order_view(dh_sb_shop_t *shop, json_t *o)
{
    json_t *out = dh_sb_order_rest(o), *fos = json_array(), *fuls = json_array();
    size_t i;
    json_t *id;

    json_array_foreach(json_object_get(o, "_fo_ids"), i, id)
    {
        json_t *fo = json_deep_copy(json_object_get(shop->fos, json_string_value(id)));
        json_t *lines = json_array();
        size_t k;
        json_t *fid;

        json_array_foreach(json_object_get(fo, "foli_ids"), k, fid)
        {
            json_array_append(lines, json_object_get(shop->folis, json_string_value(fid)));
        }
        json_object_set_new(fo, "line_items", lines);
        json_array_append_new(fos, fo);
    }
    json_array_foreach(json_object_get(o, "_fulfillment_ids"), i, id)
    {
        json_array_append(fuls, json_object_get(shop->fulfillments, json_string_value(id)));
    }
    json_object_set_new(out, "fulfillment_orders", fos);
    json_object_set_new(out, "fulfillments", fuls);
    json_object_set(out, "tags", json_object_get(o, "_tags"));
    return out;
}

static const char *item_for(dh_sb_shop_t *shop, const char *sku, const char *item, char *buf,
                            size_t n)
{
    if (item) {
        json_t *s = json_string(item);
        int bad = dh_sb_gid_parse(s, "InventoryItem", buf, n);

        json_decref(s);
        return bad || !json_object_get(shop->items, buf) ? NULL : buf;
    }
    json_t *v = find_variant_by_sku(shop, sku);

    if (!v) {
        return NULL;
    }
    snprintf(buf, n, "%s", json_string_value(json_object_get(v, "inventory_item_id")));
    return buf;
}

static json_t *levels_view(dh_sb_shop_t *shop, const char *iid)
{
    json_t *locs = json_object();
    size_t i;
    json_t *lid;
    const char *vid = json_string_value(json_object_get(shop->items, iid));

    json_array_foreach(shop->location_ids, i, lid)
    {
        json_t *lvl = dh_sb_level(shop, iid, json_string_value(lid));

        if (!lvl) {
            continue;
        }
        json_object_set_new(locs,
                            json_string_value(json_object_get(
                                json_object_get(shop->locations, json_string_value(lid)), "name")),
                            json_pack("{s:O, s:I, s:I, s:I, s:I}", "location_id", lid, "available",
                                      (json_int_t)dh_sb_level_get(lvl, "available"), "committed",
                                      (json_int_t)dh_sb_level_get(lvl, "committed"), "unavailable",
                                      (json_int_t)dh_sb_level_get(lvl, "unavailable"), "on_hand",
                                      (json_int_t)dh_sb_level_on_hand(lvl)));
    }
    return json_pack("{s:s, s:O?, s:o}", "inventory_item_id", iid, "sku",
                     json_object_get(json_object_get(shop->variants, vid ? vid : ""), "sku"),
                     "locations", locs);
}

static void put_level(dh_sb_shop_t *shop, json_t *spec, dh_sb_resp_t *resp)
{
    char buf[32], lid[32];
    const char *iid =
        item_for(shop, json_string_value(json_object_get(spec, "sku")),
                 json_string_value(json_object_get(spec, "inventory_item_id")), buf, sizeof buf);
    const char *names[] = {"available", "committed", "unavailable"};

    if (!iid ||
        dh_sb_gid_parse(json_object_get(spec, "location_id"), "Location", lid, sizeof lid) < 0 ||
        !json_object_get(shop->locations, lid)) {
        dh_sb_resp_json(resp, 404, json_pack("{s:s}", "error", "unknown sku/item or location"));
        return;
    }
    json_t *lvl = dh_sb_level_activate(shop, iid, lid);

    for (size_t i = 0; i < 3; i++) {
        if (json_is_integer(json_object_get(spec, names[i]))) {
            json_object_set(lvl, names[i], json_object_get(spec, names[i]));
        }
    }
    dh_sb_resp_json(resp, 200, levels_view(shop, iid));
}

/* GET or PUT {"available": n} of the store's bucket (a drained bucket restores at its rate). */
static void bucket_control(dh_sb_shop_t *shop, json_t *body, int put, dh_sb_resp_t *resp)
{
    json_t *avail = json_object_get(body, "available");
    double now = dh_sb_bucket_now();

    if (put && !json_is_number(avail)) {
        dh_sb_resp_json(resp, 400, json_pack("{s:s}", "error", "\"available\" must be a number"));
        return;
    }
    if (put) {
        dh_sb_bucket_set(&shop->bucket, json_number_value(avail), now);
    } else {
        dh_sb_bucket_refill(&shop->bucket, now);
    }
    dh_sb_resp_json(resp, 200,
                    json_pack("{s:f, s:f, s:f}", "maximumAvailable", shop->bucket.maximum,
                              "currentlyAvailable", shop->bucket.available, "restoreRate",
                              shop->bucket.restore_rate));
}

/* products/delete carries only the id (docs/sandbox.md). */
static void delete_product(dh_sb_state_t *st, dh_sb_shop_t *shop, const char *id, json_t *body,
                           dh_sb_resp_t *resp)
{
    if (!json_object_get(shop->products, id)) {
        dh_sb_resp_json(resp, 404, json_pack("{s:s}", "error", "unknown product"));
        return;
    }
    dh_sb_shop_delete_product(shop, id);
    json_t *payload = json_pack("{s:I}", "id", (json_int_t)strtoll(id, NULL, 10));

    dh_sb_send_webhook(st, shop, "products/delete", payload, NULL,
                       !json_is_false(json_object_get(body, "deliver")));
    dh_sb_resp_json(resp, 200, payload);
}

static void order_action(dh_sb_state_t *st, dh_sb_shop_t *shop, const char *rest, json_t *body,
                         const dh_sb_req_t *req, dh_sb_resp_t *resp)
{
    char id[32], action[32] = "";

    if (sscanf(rest, "/orders/%31[^/]/%31s", id, action) < 1) {
        dh_sb_resp_json(resp, 404, json_pack("{s:s}", "error", "not found"));
        return;
    }
    json_t *o = order_by_id(shop, id);

    if (!o) {
        dh_sb_resp_json(resp, 404, json_pack("{s:s}", "error", "unknown order"));
    } else if (!action[0] && strcmp(req->method, "GET") == 0) {
        dh_sb_resp_json(resp, 200, order_view(shop, o));
    } else if (strcmp(action, "cancel") == 0) {
        cancel_order(st, shop, o, body, resp);
    } else if (strcmp(action, "release-hold") == 0) {
        release_hold(st, shop, o, body, resp);
    } else if (strcmp(action, "holds") == 0) {
        dh_sb_order_hold(st, shop, o, body, resp);
    } else if (strcmp(action, "refund") == 0) {
        dh_sb_order_refund(st, shop, o, body, resp);
    } else if (strcmp(action, "mark-paid") == 0) {
        dh_sb_order_mark_paid(st, shop, o, body, resp);
    } else if (strcmp(action, "move") == 0) {
        dh_sb_order_fo_move(st, shop, o, body, resp);
    } else if (strcmp(action, "ready") == 0) {
        dh_sb_order_fo_ready(st, shop, o, body, resp);
    } else if (strcmp(action, "edit") == 0) {
        dh_sb_order_edit(st, shop, o, body, resp);
    } else if (strcmp(action, "redeliver") == 0) {
        redeliver(st, shop, o, body, resp);
    } else {
        dh_sb_resp_json(resp, 404, json_pack("{s:s}", "error", "not found"));
    }
}

void dh_sb_shopify_control(dh_sb_state_t *st, const char *shop_domain, const char *rest,
                           const dh_sb_req_t *req, dh_sb_resp_t *resp)
{
    json_t *body = json_loadb(req->body, req->body_len, 0, NULL);
    int post = strcmp(req->method, "POST") == 0;
    char buf[32];
    int created;

    if (!body) {
        body = json_object();
    }
    pthread_mutex_lock(&st->lock);
    dh_sb_shop_t *shop = dh_sb_state_shop(st, shop_domain);

    if (!shop) {
        dh_sb_resp_json(resp, 404, json_pack("{s:s}", "error", "unknown shop"));
    } else if (strcmp(rest, "/orders") == 0 && post) {
        place_order(st, shop, body, resp);
    } else if (strncmp(rest, "/orders/", 8) == 0) {
        order_action(st, shop, rest, body, req, resp);
    } else if (strcmp(rest, "/products") == 0 && post) {
        json_t *p = dh_sb_shop_upsert_product(shop, body, &created);
        json_t *payload = dh_sb_product_rest(shop, p);

        dh_sb_send_webhook(st, shop, created ? "products/create" : "products/update", payload, NULL,
                           !json_is_false(json_object_get(body, "deliver")));
        dh_sb_resp_json(resp, created ? 201 : 200, payload);
    } else if (strncmp(rest, "/products/", 10) == 0 && strcmp(req->method, "DELETE") == 0) {
        delete_product(st, shop, rest + 10, body, resp);
    } else if (strcmp(rest, "/levels") == 0 && strcmp(req->method, "GET") == 0) {
        const char *iid = item_for(shop, dh_sb_req_query(req, "sku"), dh_sb_req_query(req, "item"),
                                   buf, sizeof buf);

        if (iid) {
            dh_sb_resp_json(resp, 200, levels_view(shop, iid));
        } else {
            dh_sb_resp_json(resp, 404, json_pack("{s:s}", "error", "unknown sku or item"));
        }
    } else if (strcmp(rest, "/levels") == 0 && strcmp(req->method, "PUT") == 0) {
        put_level(shop, body, resp);
    } else if (strcmp(rest, "/bucket") == 0 &&
               (strcmp(req->method, "GET") == 0 || strcmp(req->method, "PUT") == 0)) {
        bucket_control(shop, body, strcmp(req->method, "PUT") == 0, resp);
    } else {
        dh_sb_resp_json(resp, 404, json_pack("{s:s}", "error", "not found"));
    }
    pthread_mutex_unlock(&st->lock);
    json_decref(body);
}
