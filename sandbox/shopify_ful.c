/*
 * shopify_ful: order, fulfillment-order, fulfillment and tag operations of the
 * GraphQL double (order, orders, fulfillmentCreate, fulfillmentEventCreate,
 * fulfillmentTrackingInfoUpdate, tagsAdd).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gql.h"
#include "shopify.h"

static const char *const event_statuses[] = {
    "ATTEMPTED_DELIVERY", "CARRIER_PICKED_UP", "CONFIRMED",       "DELAYED",
    "DELIVERED",          "FAILURE",           "IN_TRANSIT",      "LABEL_PRINTED",
    "LABEL_PURCHASED",    "OUT_FOR_DELIVERY",  "READY_FOR_PICKUP"};

json_t *dh_sb_order_rest(json_t *order)
{
    json_t *out = json_object();
    const char *k;
    json_t *v;

    json_object_foreach(order, k, v)
    {
        if (k[0] != '_') {
            json_object_set(out, k, v);
        }
    }
    return out;
}

static json_t *foli_obj(json_t *foli)
{
    return json_pack(
        "{s:o, s:O, s:O, s:o, s:O, s:{s:o, s:O, s:O, s:O}, s:{s:o}}", "id",
        dh_sb_gid_s("FulfillmentOrderLineItem", json_string_value(json_object_get(foli, "id"))),
        "remainingQuantity", json_object_get(foli, "remaining"), "totalQuantity",
        json_object_get(foli, "total"), "inventoryItemId",
        dh_sb_gid_s("InventoryItem", json_string_value(json_object_get(foli, "inventory_item_id"))),
        "sku", json_object_get(foli, "sku"), "lineItem", "id",
        dh_sb_gid_s("LineItem", json_string_value(json_object_get(foli, "line_item_id"))), "sku",
        json_object_get(foli, "sku"), "quantity", json_object_get(foli, "total"), "name",
        json_object_get(foli, "title"), "variant", "id",
        dh_sb_gid_s("ProductVariant", json_string_value(json_object_get(foli, "variant_id"))));
}

/* What a fulfillment order in \p st can do (FulfillmentOrderAction): only an OPEN or
 * IN_PROGRESS one can be fulfilled; a held one can be released, a scheduled one opened. */
static json_t *fo_actions(const char *st)
{
    if (!strcmp(st, "OPEN") || !strcmp(st, "IN_PROGRESS")) {
        return json_pack("[{s:s}]", "action", "CREATE_FULFILLMENT");
    }
    if (!strcmp(st, "ON_HOLD")) {
        return json_pack("[{s:s}]", "action", "RELEASE_HOLD");
    }
    return !strcmp(st, "SCHEDULED") ? json_pack("[{s:s}]", "action", "MARK_AS_OPEN") : json_array();
}

/* FulfillmentHold objects {id, reason (enum), reasonNotes} of a fulfillment order. */
static json_t *fo_holds(json_t *fo)
{
    json_t *out = json_array(), *h;
    size_t i;

    json_array_foreach(json_object_get(fo, "holds"), i, h)
    {
        char id[32], reason[64];
        const char *r = json_string_value(json_object_get(h, "reason"));
        size_t k;

        snprintf(id, sizeof id, "%lld", (long long)json_integer_value(json_object_get(h, "id")));
        for (k = 0; r && r[k] && k < sizeof reason - 1; k++) {
            reason[k] = (char)toupper((unsigned char)r[k]);
        }
        reason[k] = '\0';
        json_array_append_new(out, json_pack("{s:o, s:s, s:O?}", "id",
                                             dh_sb_gid_s("FulfillmentHold", id), "reason", reason,
                                             "reasonNotes", json_object_get(h, "reason_notes")));
    }
    return out;
}

static json_t *fo_obj(dh_sb_shop_t *shop, json_t *fo, json_t *node)
{
    json_t *lines = json_array();
    json_t *lnode = dh_sb_gql_child(node, "lineItems");
    const char *lid = json_string_value(json_object_get(fo, "location_id"));
    size_t i;
    json_t *id;

    json_array_foreach(json_object_get(fo, "foli_ids"), i, id)
    {
        json_array_append_new(lines, foli_obj(json_object_get(shop->folis, json_string_value(id))));
    }
    const char *st = json_string_value(json_object_get(fo, "status"));
    json_t *out = json_pack(
        "{s:o, s:O, s:O, s:{s:O, s:{s:o, s:O}}, s:o, s:{s:o}, s:o, s:O?, s:o}", "id",
        dh_sb_gid_s("FulfillmentOrder", json_string_value(json_object_get(fo, "id"))), "status",
        json_object_get(fo, "status"), "updatedAt", json_object_get(fo, "updated_at"),
        "assignedLocation", "name", json_object_get(json_object_get(shop->locations, lid), "name"),
        "location", "id", dh_sb_gid_s("Location", lid), "name",
        json_object_get(json_object_get(shop->locations, lid), "name"), "lineItems",
        dh_sb_connection(lines, json_object_get(lnode, "args")), "order", "id",
        dh_sb_gid_s("Order", json_string_value(json_object_get(fo, "order_id"))),
        "supportedActions", fo_actions(st), "fulfillAt", json_object_get(fo, "fulfill_at"),
        "fulfillmentHolds", fo_holds(fo));

    return out;
}

static json_t *fulfillment_obj(json_t *f)
{
    const char *lid = json_string_value(json_object_get(f, "location_id"));

    return json_pack("{s:o, s:O, s:O, s:O, s:O, s:O, s:s, s:o}", "id",
                     dh_sb_gid_s("Fulfillment", json_string_value(json_object_get(f, "id"))),
                     "status", json_object_get(f, "status"), "displayStatus",
                     json_object_get(f, "display_status"), "trackingInfo",
                     json_object_get(f, "tracking"), "createdAt", json_object_get(f, "created_at"),
                     "updatedAt", json_object_get(f, "updated_at"), "name", "#F1", "location",
                     lid ? json_pack("{s:o}", "id", dh_sb_gid_s("Location", lid)) : json_null());
}

/* A GraphQL LineItem from a REST line item (the orders reconciliation reads these). */
static json_t *line_item_obj(json_t *li)
{
    char vid[32];
    json_t *price = json_object_get(li, "price");
    json_t *v = json_object_get(li, "variant_id");
    json_t *cq = json_object_get(li, "current_quantity");

    snprintf(vid, sizeof vid, "%lld", (long long)json_integer_value(v));
    json_t *out =
        json_pack("{s:O, s:O?, s:O, s:O, s:o, s:{s:{s:o}}}", "id",
                  json_object_get(li, "admin_graphql_api_id"), "sku", json_object_get(li, "sku"),
                  "quantity", json_object_get(li, "quantity"), "currentQuantity",
                  cq ? cq : json_object_get(li, "quantity"), "variant",
                  json_is_integer(v) ? json_pack("{s:o}", "id", dh_sb_gid_s("ProductVariant", vid))
                                     : json_null(),
                  "originalUnitPriceSet", "shopMoney", "amount",
                  json_is_string(price)   ? json_incref(price)
                  : json_is_number(price) ? json_sprintf("%.2f", json_number_value(price))
                                          : json_string("0.00"));

    json_object_set_new(out, "requiresShipping",
                        json_boolean(!json_is_false(json_object_get(li, "requires_shipping"))));
    json_object_set_new(out, "isGiftCard",
                        json_boolean(json_is_true(json_object_get(li, "gift_card"))));
    json_object_set(out, "title", json_object_get(li, "title"));
    json_object_set(out, "name", json_object_get(li, "name"));
    return out;
}

/* REST financial_status (partially_paid) -> GraphQL OrderDisplayFinancialStatus. */
static json_t *financial_enum(json_t *o)
{
    char buf[32];
    const char *fs = json_string_value(json_object_get(o, "financial_status"));
    size_t i;

    fs = fs ? fs : "paid";
    for (i = 0; fs[i] && i < sizeof buf - 1; i++) {
        buf[i] = (char)toupper((unsigned char)fs[i]);
    }
    buf[i] = '\0';
    return json_string(buf);
}

/* A GraphQL MailingAddress from a REST shipping_address (null stays null). */
static json_t *address_obj(json_t *a)
{
    if (!json_is_object(a)) {
        return json_null();
    }
    return json_pack("{s:O?, s:O?, s:O?, s:O?, s:O?, s:O?, s:O?, s:O?, s:O?}", "firstName",
                     json_object_get(a, "first_name"), "lastName", json_object_get(a, "last_name"),
                     "address1", json_object_get(a, "address1"), "address2",
                     json_object_get(a, "address2"), "city", json_object_get(a, "city"),
                     "provinceCode", json_object_get(a, "province_code"), "zip",
                     json_object_get(a, "zip"), "countryCodeV2", json_object_get(a, "country_code"),
                     "phone", json_object_get(a, "phone"));
}

/* Order fields beyond the fulfillment view: buyer, currency, lines and address. */
static void order_details(json_t *obj, json_t *o, json_t *node)
{
    json_t *lines = json_array();
    json_t *lnode = dh_sb_gql_child(node, "lineItems");
    size_t i;
    json_t *li;

    json_array_foreach(json_object_get(o, "line_items"), i, li)
    {
        json_array_append_new(lines, line_item_obj(li));
    }
    json_object_set(obj, "email", json_object_get(o, "email"));
    json_object_set(obj, "currencyCode", json_object_get(o, "currency"));
    json_object_set_new(obj, "test", json_boolean(json_is_true(json_object_get(o, "test"))));
    json_object_set_new(obj, "displayFinancialStatus", financial_enum(o));
    json_object_set(obj, "paymentGatewayNames", json_object_get(o, "payment_gateway_names"));
    json_object_set_new(obj, "totalOutstandingSet",
                        json_pack("{s:{s:O?, s:O?}}", "shopMoney", "amount",
                                  json_object_get(o, "total_outstanding"), "currencyCode",
                                  json_object_get(o, "currency")));
    json_object_set_new(obj, "lineItems", dh_sb_connection(lines, json_object_get(lnode, "args")));
    json_object_set_new(obj, "shippingAddress",
                        address_obj(json_object_get(o, "shipping_address")));
}

static json_t *order_obj(dh_sb_shop_t *shop, json_t *o, json_t *node)
{
    json_t *fos = json_array(), *fuls = json_array();
    json_t *fnode = dh_sb_gql_child(node, "fulfillmentOrders");
    size_t i;
    json_t *id;

    json_array_foreach(json_object_get(o, "_fo_ids"), i, id)
    {
        json_array_append_new(fos, fo_obj(shop, json_object_get(shop->fos, json_string_value(id)),
                                          dh_sb_gql_child(fnode, "nodes")));
    }
    json_array_foreach(json_object_get(o, "_fulfillment_ids"), i, id)
    {
        json_array_append_new(
            fuls, fulfillment_obj(json_object_get(shop->fulfillments, json_string_value(id))));
    }
    const char *fs = json_string_value(json_object_get(o, "fulfillment_status"));
    json_t *obj = json_pack(
        "{s:O, s:O, s:O, s:O, s:O?, s:O?, s:s, s:s, s:O, s:o, s:o, s:s}", "id",
        json_object_get(o, "admin_graphql_api_id"), "name", json_object_get(o, "name"), "createdAt",
        json_object_get(o, "created_at"), "updatedAt", json_object_get(o, "updated_at"),
        "cancelledAt", json_object_get(o, "cancelled_at"), "cancelReason",
        json_object_get(o, "_cancel_reason_enum"), "displayFinancialStatus", "PAID",
        "displayFulfillmentStatus",
        !fs                            ? "UNFULFILLED"
        : strcmp(fs, "fulfilled") == 0 ? "FULFILLED"
                                       : "PARTIALLY_FULFILLED",
        "tags", json_object_get(o, "_tags"), "fulfillmentOrders",
        dh_sb_connection(fos, json_object_get(fnode, "args")), "fulfillments", fuls,
        "legacyResourceId", json_string_value(json_object_get(o, "_id")));

    order_details(obj, o, node);
    return obj;
}

json_t *dh_sb_op_order(dh_sb_state_t *st, dh_sb_shop_t *shop, json_t *node, json_t *errors)
{
    char oid[32];

    (void)st;
    (void)errors;
    if (dh_sb_gid_parse(json_object_get(json_object_get(node, "args"), "id"), "Order", oid,
                        sizeof oid) < 0 ||
        !json_object_get(shop->orders, oid)) {
        return json_null();
    }
    return order_obj(shop, json_object_get(shop->orders, oid), node);
}

/* fulfillmentOrder(id:): the fulfillment order (with its order's id), or null. */
json_t *dh_sb_op_fulfillment_order(dh_sb_state_t *st, dh_sb_shop_t *shop, json_t *node,
                                   json_t *errors)
{
    char foid[32];
    json_t *fo;

    (void)st;
    (void)errors;
    if (dh_sb_gid_parse(json_object_get(json_object_get(node, "args"), "id"), "FulfillmentOrder",
                        foid, sizeof foid) < 0 ||
        !(fo = json_object_get(shop->fos, foid))) {
        return json_null();
    }
    json_t *out = fo_obj(shop, fo, node);

    json_object_set_new(json_object_get(out, "order"), "legacyResourceId",
                        json_string(json_string_value(json_object_get(fo, "order_id"))));
    return out;
}

static int cmp_updated(const void *a, const void *b)
{
    double x = json_number_value(json_object_get(*(json_t *const *)a, "_updated_epoch"));
    double y = json_number_value(json_object_get(*(json_t *const *)b, "_updated_epoch"));

    return x < y ? -1 : x > y;
}

/* "updated_at:>'ISO'" or ">=" ; returns the bound (strict in *strict) or -1. */
static double query_since(const char *q, int *strict)
{
    const char *p = q ? strstr(q, "updated_at:>") : NULL;

    if (!p) {
        return -1;
    }
    p += strlen("updated_at:>");
    *strict = *p != '=';
    p += !*strict;
    p += (*p == '\'' || *p == '"');
    return dh_sb_parse_iso(p);
}

json_t *dh_sb_op_orders(dh_sb_state_t *st, dh_sb_shop_t *shop, json_t *node, json_t *errors)
{
    json_t *args = json_object_get(node, "args");
    const char *sort = json_string_value(json_object_get(args, "sortKey"));
    int strict = 1;
    double since = query_since(json_string_value(json_object_get(args, "query")), &strict);
    size_t n = json_array_size(shop->order_ids), m = 0;
    json_t **sel = calloc(n ? n : 1, sizeof *sel);
    json_t *all = json_array();

    (void)st;
    (void)errors;
    for (size_t i = 0; i < n; i++) {
        json_t *o =
            json_object_get(shop->orders, json_string_value(json_array_get(shop->order_ids, i)));
        double t = json_number_value(json_object_get(o, "_updated_epoch"));

        if (since < 0 || (strict ? t > since : t >= since)) {
            sel[m++] = o;
        }
    }
    if (sort && strcmp(sort, "UPDATED_AT") == 0) {
        qsort(sel, m, sizeof *sel, cmp_updated);
    }
    for (size_t i = 0; i < m; i++) {
        json_array_append_new(all, order_obj(shop, sel[i], dh_sb_gql_child(node, "nodes")));
    }
    free(sel);
    return dh_sb_connection(all, args);
}

static json_t *fc_error(const char *msg, json_t *field)
{
    return json_pack("{s:n, s:[o]}", "fulfillment", "userErrors",
                     dh_sb_user_error(NULL, field, msg));
}

static json_t *lbfo_path(size_t i, const char *field)
{
    char idx[24];

    snprintf(idx, sizeof idx, "%zu", i);
    return json_pack("[s, s, s, s]", "fulfillment", "lineItemsByFulfillmentOrder", idx, field);
}

/* Adds (foli, quantity) pairs for one entry to \p plan; returns an error payload or NULL. */
static json_t *plan_entry(dh_sb_shop_t *shop, json_t *entry, size_t i, json_t *first_fo,
                          json_t *plan)
{
    char foid[32], liid[32];
    json_t *lines = json_object_get(entry, "fulfillmentOrderLineItems");
    size_t k;
    json_t *l;

    if (dh_sb_gid_parse(json_object_get(entry, "fulfillmentOrderId"), "FulfillmentOrder", foid,
                        sizeof foid) < 0 ||
        !json_object_get(shop->fos, foid)) {
        return fc_error("Fulfillment order does not exist.", lbfo_path(i, "fulfillmentOrderId"));
    }
    json_t *fo = json_object_get(shop->fos, foid);
    const char *status = json_string_value(json_object_get(fo, "status"));

    if (first_fo &&
        (!json_equal(json_object_get(fo, "order_id"), json_object_get(first_fo, "order_id")) ||
         !json_equal(json_object_get(fo, "location_id"),
                     json_object_get(first_fo, "location_id")))) {
        return fc_error("All fulfillment orders must belong to the same order and be assigned to "
                        "the same location.",
                        lbfo_path(i, "fulfillmentOrderId"));
    }
    if (strcmp(status, "OPEN") != 0 && strcmp(status, "IN_PROGRESS") != 0) {
        char msg[128];

        snprintf(msg, sizeof msg, "Fulfillment order %s has an unfulfillable status= %s.", foid,
                 status);
        return fc_error(msg, lbfo_path(i, "fulfillmentOrderId"));
    }
    if (!json_is_array(lines)) {
        json_t *id;

        json_array_foreach(json_object_get(fo, "foli_ids"), k, id)
        {
            json_t *foli = json_object_get(shop->folis, json_string_value(id));

            if (json_integer_value(json_object_get(foli, "remaining")) > 0) {
                json_array_append_new(
                    plan, json_pack("[O, O]", foli, json_object_get(foli, "remaining")));
            }
        }
        return NULL;
    }
    json_array_foreach(lines, k, l)
    {
        json_t *foli = NULL;
        json_int_t q = json_integer_value(json_object_get(l, "quantity"));

        if (dh_sb_gid_parse(json_object_get(l, "id"), "FulfillmentOrderLineItem", liid,
                            sizeof liid) == 0) {
            foli = json_object_get(shop->folis, liid);
        }
        if (!foli || strcmp(json_string_value(json_object_get(foli, "fo_id")), foid) != 0) {
            return fc_error("Fulfillment order line item does not exist.",
                            lbfo_path(i, "fulfillmentOrderLineItems"));
        }
        if (q <= 0 || q > json_integer_value(json_object_get(foli, "remaining"))) {
            return fc_error("Invalid fulfillment order line item quantity requested.",
                            lbfo_path(i, "fulfillmentOrderLineItems"));
        }
        json_array_append_new(plan, json_pack("[O, I]", foli, q));
    }
    return NULL;
}

static void close_fo_if_done(dh_sb_shop_t *shop, json_t *fo, const char *now)
{
    size_t k;
    json_t *id;
    int done = 1;

    json_array_foreach(json_object_get(fo, "foli_ids"), k, id)
    {
        done &= json_integer_value(json_object_get(
                    json_object_get(shop->folis, json_string_value(id)), "remaining")) == 0;
    }
    json_object_set_new(fo, "status", json_string(done ? "CLOSED" : "IN_PROGRESS"));
    json_object_set_new(fo, "updated_at", json_string(now));
}

static json_t *tracking_list(json_t *ti)
{
    json_t *numbers = json_object_get(ti, "numbers"), *urls = json_object_get(ti, "urls");
    json_t *out = json_array();

    if (json_is_string(json_object_get(ti, "number"))) {
        json_array_append_new(
            out, json_pack("{s:O?, s:O, s:O?}", "company", json_object_get(ti, "company"), "number",
                           json_object_get(ti, "number"), "url", json_object_get(ti, "url")));
    }
    for (size_t i = 0; i < json_array_size(numbers); i++) {
        json_array_append_new(
            out, json_pack("{s:O?, s:O, s:O?}", "company", json_object_get(ti, "company"), "number",
                           json_array_get(numbers, i), "url", json_array_get(urls, i)));
    }
    return out;
}

static void touch_order(json_t *o, const char *now)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    json_object_set_new(o, "updated_at", json_string(now));
    json_object_set_new(o, "_updated_epoch",
                        json_real((double)ts.tv_sec + (double)ts.tv_nsec / 1e9));
}

static json_t *apply_plan(dh_sb_shop_t *shop, json_t *plan, json_t *fo0, json_t *input)
{
    char now[32], fid[32];
    const char *lid = json_string_value(json_object_get(fo0, "location_id"));
    json_t *lines = json_array(), *fos = json_object();
    size_t i;
    json_t *p;

    dh_sb_iso_now(now, sizeof now);
    json_array_foreach(plan, i, p)
    {
        json_t *foli = json_array_get(p, 0);
        json_int_t q = json_integer_value(json_array_get(p, 1));
        json_t *lvl =
            dh_sb_level(shop, json_string_value(json_object_get(foli, "inventory_item_id")), lid);

        json_object_set_new(
            foli, "remaining",
            json_integer(json_integer_value(json_object_get(foli, "remaining")) - q));
        if (lvl) { /* shipped: committed (and so on_hand) goes down */
            dh_sb_level_add(lvl, "committed", -q);
        }
        json_object_set(fos, json_string_value(json_object_get(foli, "fo_id")), json_true());
        json_array_append_new(
            lines, json_pack("{s:O, s:I}", "foli_id", json_object_get(foli, "id"), "quantity", q));
    }
    const char *foid;
    json_t *unused;

    json_object_foreach(fos, foid, unused)
    {
        close_fo_if_done(shop, json_object_get(shop->fos, foid), now);
    }
    json_decref(fos);
    snprintf(fid, sizeof fid, "%lld", dh_sb_shop_next_id(shop));
    json_t *f = json_pack("{s:s, s:O, s:s, s:s, s:o, s:s, s:s, s:o, s:[], s:s}", "id", fid,
                          "order_id", json_object_get(fo0, "order_id"), "status", "SUCCESS",
                          "display_status", "FULFILLED", "tracking",
                          tracking_list(json_object_get(input, "trackingInfo")), "created_at", now,
                          "updated_at", now, "lines", lines, "events", "location_id", lid);

    /* FulfillmentInput.notifyCustomer: absent means false (Shopify's default). */
    json_object_set_new(f, "notify_customer",
                        json_boolean(json_is_true(json_object_get(input, "notifyCustomer"))));
    json_object_set_new(shop->fulfillments, fid, f);
    json_t *o = json_object_get(shop->orders, json_string_value(json_object_get(fo0, "order_id")));
    int all_closed = 1;

    json_array_foreach(json_object_get(o, "_fo_ids"), i, p)
    {
        all_closed &= strcmp(json_string_value(json_object_get(
                                 json_object_get(shop->fos, json_string_value(p)), "status")),
                             "CLOSED") == 0;
    }
    json_array_append_new(json_object_get(o, "_fulfillment_ids"), json_string(fid));
    json_object_set_new(o, "fulfillment_status", json_string(all_closed ? "fulfilled" : "partial"));
    touch_order(o, now);
    return json_pack("{s:o, s:[]}", "fulfillment", fulfillment_obj(f), "userErrors");
}

json_t *dh_sb_op_fulfillment_create(dh_sb_state_t *st, dh_sb_shop_t *shop, json_t *node,
                                    json_t *errors)
{
    json_t *input = json_object_get(json_object_get(node, "args"), "fulfillment");
    json_t *entries = json_object_get(input, "lineItemsByFulfillmentOrder");
    json_t *plan = json_array(), *out = NULL, *fo0 = NULL;
    char foid[32];
    size_t i;
    json_t *e;

    (void)st;
    (void)errors;
    if (json_array_size(entries) == 0) {
        out = fc_error("lineItemsByFulfillmentOrder must not be empty.",
                       json_pack("[s, s]", "fulfillment", "lineItemsByFulfillmentOrder"));
        goto out;
    }
    json_array_foreach(entries, i, e)
    {
        out = plan_entry(shop, e, i, fo0, plan);
        if (out) {
            goto out;
        }
        if (!fo0 && dh_sb_gid_parse(json_object_get(e, "fulfillmentOrderId"), "FulfillmentOrder",
                                    foid, sizeof foid) == 0) {
            fo0 = json_object_get(shop->fos, foid);
        }
    }
    if (json_array_size(plan) == 0) {
        out = fc_error("Fulfillment order has no remaining quantity to fulfill.",
                       json_pack("[s, s]", "fulfillment", "lineItemsByFulfillmentOrder"));
        goto out;
    }
    out = apply_plan(shop, plan, fo0, input);
out:
    json_decref(plan);
    return out;
}

json_t *dh_sb_op_fulfillment_event_create(dh_sb_state_t *st, dh_sb_shop_t *shop, json_t *node,
                                          json_t *errors)
{
    json_t *in = json_object_get(json_object_get(node, "args"), "fulfillmentEvent");
    const char *status = json_string_value(json_object_get(in, "status"));
    char fid[32], eid[32], now[32], msg[300];
    int ok = 0;

    (void)st;
    for (size_t i = 0; status && i < sizeof event_statuses / sizeof event_statuses[0]; i++) {
        ok |= strcmp(status, event_statuses[i]) == 0;
    }
    if (!ok) {
        snprintf(
            msg, sizeof msg,
            "Variable $fulfillmentEvent of type FulfillmentEventInput! was provided invalid value "
            "for status (Expected \"%s\" to be one of: ATTEMPTED_DELIVERY, CARRIER_PICKED_UP, "
            "CONFIRMED, DELAYED, DELIVERED, FAILURE, IN_TRANSIT, LABEL_PRINTED, LABEL_PURCHASED, "
            "OUT_FOR_DELIVERY, READY_FOR_PICKUP)",
            status ? status : "null");
        dh_sb_gql_error(errors, "INVALID_VARIABLE", msg);
        return NULL;
    }
    json_t *f = NULL;

    if (dh_sb_gid_parse(json_object_get(in, "fulfillmentId"), "Fulfillment", fid, sizeof fid) ==
        0) {
        f = json_object_get(shop->fulfillments, fid);
    }
    if (!f) {
        return json_pack("{s:n, s:[o]}", "fulfillmentEvent", "userErrors",
                         dh_sb_user_error(NULL,
                                          json_pack("[s, s]", "fulfillmentEvent", "fulfillmentId"),
                                          "Fulfillment does not exist."));
    }
    dh_sb_iso_now(now, sizeof now);
    snprintf(eid, sizeof eid, "%lld", dh_sb_shop_next_id(shop));
    json_t *ev =
        json_pack("{s:o, s:s, s:O?, s:O?, s:O?, s:s}", "id", dh_sb_gid_s("FulfillmentEvent", eid),
                  "status", status, "happenedAt", json_object_get(in, "happenedAt"), "message",
                  json_object_get(in, "message"), "estimatedDeliveryAt",
                  json_object_get(in, "estimatedDeliveryAt"), "createdAt", now);

    json_array_append(json_object_get(f, "events"), ev);
    json_object_set_new(f, "display_status", json_string(status));
    json_object_set_new(f, "updated_at", json_string(now));
    return json_pack("{s:o, s:[]}", "fulfillmentEvent", ev, "userErrors");
}

/* fulfillmentTrackingInfoUpdate: the fulfillment's tracking is replaced by the input's
 * (docs/sandbox.md, "Fulfillments"). */
json_t *dh_sb_op_fulfillment_tracking_update(dh_sb_state_t *st, dh_sb_shop_t *shop, json_t *node,
                                             json_t *errors)
{
    json_t *args = json_object_get(node, "args"), *f = NULL;
    json_t *in = json_object_get(args, "trackingInfoInput");
    char fid[32], now[32];

    (void)st;
    (void)errors;
    if (dh_sb_gid_parse(json_object_get(args, "fulfillmentId"), "Fulfillment", fid, sizeof fid) ==
        0) {
        f = json_object_get(shop->fulfillments, fid);
    }
    if (!f) {
        return json_pack("{s:n, s:[o]}", "fulfillment", "userErrors",
                         dh_sb_user_error(NULL, json_pack("[s]", "fulfillmentId"),
                                          "Fulfillment does not exist."));
    }
    dh_sb_iso_now(now, sizeof now);
    json_object_set_new(f, "tracking", tracking_list(in));
    json_object_set_new(f, "tracking_notify_customer",
                        json_boolean(json_is_true(json_object_get(args, "notifyCustomer"))));
    json_object_set_new(f, "updated_at", json_string(now));
    return json_pack("{s:o, s:[]}", "fulfillment", fulfillment_obj(f), "userErrors");
}

json_t *dh_sb_op_tags_add(dh_sb_state_t *st, dh_sb_shop_t *shop, json_t *node, json_t *errors)
{
    json_t *args = json_object_get(node, "args");
    json_t *tags = json_object_get(args, "tags");
    char oid[32], now[32];
    size_t i;
    json_t *t;

    (void)st;
    (void)errors;
    json_t *o = dh_sb_gid_parse(json_object_get(args, "id"), "Order", oid, sizeof oid) == 0
                    ? json_object_get(shop->orders, oid)
                    : NULL;

    if (!o) {
        return json_pack("{s:n, s:[o]}", "node", "userErrors",
                         dh_sb_user_error(NULL, json_pack("[s]", "id"), "Resource not found"));
    }
    json_t *list = json_object_get(o, "_tags");

    json_t *todo = json_is_array(tags) ? json_incref(tags) : json_pack("[O]", tags);

    json_array_foreach(todo, i, t)
    {
        int dup = 0;
        size_t k;
        json_t *x;

        json_array_foreach(list, k, x)
        {
            dup |= json_equal(x, t);
        }
        if (!dup && json_is_string(t)) {
            json_array_append(list, t);
        }
    }
    json_decref(todo);
    dh_sb_iso_now(now, sizeof now);
    touch_order(o, now);
    return json_pack("{s:{s:O}, s:[]}", "node", "id", json_object_get(o, "admin_graphql_api_id"),
                     "userErrors");
}
