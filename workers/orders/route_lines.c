/*
 * dh-orders, pure: a create body routed by the order's fulfillment orders (which lines a
 * WMS facility ships, which Shopify assigned elsewhere, which are scheduled or held). No I/O;
 * route.c reads the fulfillment orders, test_orders_mapping.c tests this.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "orders.h"

/* The fulfillment order (node) that lists line \p lid (digits), or NULL. */
static json_t *fo_of_line(json_t *fo_nodes, const char *lid)
{
    size_t i, k;
    json_t *fo, *li;

    json_array_foreach(fo_nodes, i, fo)
    {
        json_array_foreach(json_object_get(json_object_get(fo, "lineItems"), "nodes"), k, li)
        {
            json_t *tail = orders_gid_int(json_object_get(json_object_get(li, "lineItem"), "id"));
            char id[32];

            snprintf(id, sizeof(id), "%lld", (long long)json_integer_value(tail));
            json_decref(tail);
            if (strcmp(id, lid) == 0) {
                return fo;
            }
        }
    }
    return NULL;
}

const char *orders_hold_code(const char *reason, char *buf, size_t size)
{
    static const char *const known[] = {
        "awaiting-payment",       "awaiting-return-items",
        "high-risk-of-fraud",     "incorrect-address",
        "inventory-out-of-stock", "online-store-post-purchase-cross-sell",
        "unknown-delivery-date",  "other"};
    size_t i;

    for (i = 0; reason && reason[i] && i < size - 1; i++) {
        buf[i] = reason[i] == '_' ? '-' : (char)tolower((unsigned char)reason[i]);
    }
    buf[i] = '\0';
    for (size_t k = 0; k < sizeof(known) / sizeof(known[0]); k++) {
        if (strcmp(buf, known[k]) == 0) {
            return known[k];
        }
    }
    return "other";
}

/* The body ON_HOLD for the fulfillment order \p fo (SCHEDULED, or ON_HOLD with Shopify's
 * first hold reason), unless it is held already (exchange, missing SKU, payment). */
static void hold_for(json_t *body, json_t *fo)
{
    char code[64], reason[128];
    const char *st = json_string_value(json_object_get(fo, "status"));
    const char *why = json_string_value(
        json_object_get(json_array_get(json_object_get(fo, "fulfillmentHolds"), 0), "reason"));

    if (strcmp(json_string_value(json_object_get(body, "status")), "ON_HOLD") == 0) {
        return;
    }
    json_object_set_new(body, "status", json_string("ON_HOLD"));
    if (!strcmp(st, "SCHEDULED")) {
        json_object_set_new(body, "hold_code", json_string("scheduled"));
        snprintf(reason, sizeof(reason),
                 "scheduled: Shopify fulfils it later (fulfillment order SCHEDULED)");
    } else {
        json_object_set_new(body, "hold_code",
                            json_string(orders_hold_code(why, code, sizeof(code))));
        snprintf(reason, sizeof(reason), "Shopify fulfillment hold: %.60s", why ? why : "unknown");
    }
    json_object_set_new(body, "hold_reason", json_string(reason));
}

int orders_route_lines(json_t *body, json_t *fo_nodes, orders_facility_fn facility, void *ud)
{
    json_t *lines = json_object_get(body, "lines"), *kept = json_array(), *other = json_array();
    json_t *l;
    size_t i;
    json_t *held = NULL; /* a kept line's fulfillment order that is SCHEDULED or ON_HOLD */

    if (!json_is_array(lines)) {
        json_decref(kept);
        json_decref(other);
        return -1;
    }
    json_array_foreach(lines, i, l)
    {
        const char *lid = json_string_value(json_object_get(l, "channel_line_item_id"));
        json_t *fo = fo_of_line(fo_nodes, lid ? lid : "");
        const char *loc = json_string_value(json_object_get(
            json_object_get(json_object_get(fo, "assignedLocation"), "location"), "id"));
        const char *fac = fo ? facility(ud, loc) : NULL;

        if (fo && !fac) {
            json_array_append_new(other, json_pack("{s:O, s:O, s:O}", "channel_line_item_id",
                                                   json_object_get(l, "channel_line_item_id"),
                                                   "title", json_object_get(l, "sku"), "quantity",
                                                   json_object_get(l, "quantity")));
            continue;
        }
        json_t *k = json_deep_copy(l);

        if (fac) {
            json_object_set_new(k, "facility", json_string(fac));
        }
        const char *st = fo ? json_string_value(json_object_get(fo, "status")) : NULL;

        if (st && (!strcmp(st, "SCHEDULED") || !strcmp(st, "ON_HOLD")) &&
            (!held || !strcmp(st, "ON_HOLD"))) {
            held = fo; /* a Shopify hold says more than a date */
        }
        json_array_append_new(kept, k);
    }
    json_object_set_new(body, "lines", kept);
    if (json_array_size(other)) {
        json_object_set_new(body, "other_location_lines", other);
    } else {
        json_decref(other);
    }
    if (held) {
        hold_for(body, held);
    }
    return (int)json_array_size(kept) +
           (int)json_array_size(json_object_get(body, "unmapped_lines"));
}
