/*
 * dh-orders: lines by location. For a store that maps WMS facilities to Shopify locations
 * (DH_STORES_FILE "locations"), the order's fulfillment orders are read
 * (DH_GQL_ORDER_FULFILLMENT_ORDERS) before the WMS hears of its lines: a line whose
 * fulfillment order is at a WMS location carries that facility, a line Shopify assigned
 * elsewhere is recorded in other_location_lines, a SCHEDULED or ON_HOLD fulfillment order
 * holds the order (orders_route_lines()). A store without locations is not routed (no call).
 */
#include <stdio.h>
#include <string.h>

#include "dockhand/log.h"
#include "orders_internal.h"

typedef struct facility_ctx {
    orders_shared_t *s;
    const dh_store_t *store;
} facility_ctx_t;

static const char *facility_of(void *ud, const char *location_gid)
{
    facility_ctx_t *c = ud;

    return dh_stores_facility(c->s->stores, c->store, location_gid);
}

const char *orders_fo_facility(orders_shared_t *s, const oev_t *e, json_t *fo)
{
    const char *loc = json_string_value(json_object_get(
        json_object_get(json_object_get(fo, "assignedLocation"), "location"), "id"));

    return loc ? dh_stores_facility(s->stores, e->store, loc) : NULL;
}

dh_result_t orders_fo_nodes(dh_lane_t *lane, const oev_t *e, json_t **nodes)
{
    char gid[64];
    dh_gql_reply_t rep;
    dh_result_t res = DH_RESULT_DONE;

    *nodes = NULL;
    snprintf(gid, sizeof(gid), "gid://shopify/Order/%s", e->id);
    json_t *vars = json_pack("{s:s}", "id", gid);

    memset(&rep, 0, sizeof(rep));
    if (dh_lane_shopify_call(lane, e->store, DH_GQL_ORDER_FULFILLMENT_ORDERS, vars, &rep, &res)) {
        json_decref(vars);
        dh_gql_reply_clear(&rep);
        return res;
    }
    json_decref(vars);
    json_t *fos = json_object_get(json_object_get(rep.data, "order"), "fulfillmentOrders");
    json_t *n = json_object_get(fos, "nodes");

    *nodes = json_is_array(n) ? json_incref(n) : NULL;
    dh_gql_reply_clear(&rep);
    return DH_RESULT_DONE;
}

dh_result_t orders_route(orders_shared_t *s, dh_lane_t *lane, oev_t *e)
{
    json_t *nodes = NULL;
    dh_result_t res;
    facility_ctx_t ctx = {s, e->store};

    if (!e->create || dh_stores_location_count(s->stores, e->store) == 0) {
        return DH_RESULT_DONE;
    }
    res = orders_fo_nodes(lane, e, &nodes);
    if (res != DH_RESULT_DONE) {
        return res;
    }
    int left = nodes ? orders_route_lines(e->create, nodes, facility_of, &ctx) : 1;

    if (left == 0) {
        snprintf(e->create_err, sizeof(e->create_err),
                 "nothing to ship: every line is at a location that is not a WMS facility");
        json_decref(e->create);
        e->create = NULL;
        e->nothing = 1;
    } else {
        e->held = !strcmp(json_string_value(json_object_get(e->create, "status")), "ON_HOLD");
    }
    json_decref(nodes);
    return DH_RESULT_DONE;
}
