/*
 * dh-orders, pure: a create body routed by the order's fulfillment orders (which lines a
 * WMS facility ships, which Shopify assigned elsewhere, which are scheduled). No I/O;
 * route.c reads the fulfillment orders, test_orders_mapping.c tests this.
 */
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

static void hold_scheduled(json_t *body)
{
    if (strcmp(json_string_value(json_object_get(body, "status")), "ON_HOLD") == 0) {
        return;
    }
    json_object_set_new(body, "status", json_string("ON_HOLD"));
    json_object_set_new(body, "hold_code", json_string("scheduled"));
    json_object_set_new(body, "hold_reason",
                        json_string("scheduled: Shopify fulfils it later (fulfillment order "
                                    "SCHEDULED)"));
}

int orders_route_lines(json_t *body, json_t *fo_nodes, orders_facility_fn facility, void *ud)
{
    json_t *lines = json_object_get(body, "lines"), *kept = json_array(), *other = json_array();
    json_t *l;
    size_t i;
    int scheduled = 0;

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
        scheduled |= fo && !strcmp(json_string_value(json_object_get(fo, "status")), "SCHEDULED");
        json_array_append_new(kept, k);
    }
    json_object_set_new(body, "lines", kept);
    if (json_array_size(other)) {
        json_object_set_new(body, "other_location_lines", other);
    } else {
        json_decref(other);
    }
    if (scheduled) {
        hold_scheduled(body);
    }
    return (int)json_array_size(kept) +
           (int)json_array_size(json_object_get(body, "unmapped_lines"));
}
