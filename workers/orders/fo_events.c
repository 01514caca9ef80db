/*
 * dh-orders: fulfillment_orders/moved and fulfillment_orders/scheduled_fulfillment_order_ready.
 *
 * Both webhooks carry fulfillment order ids only (no order, no lines), so the worker asks
 * Shopify which order the fulfillment order belongs to (DH_GQL_FULFILLMENT_ORDER_ORDER),
 * reads that order as it is now (DH_GQL_ORDER_FOR_RECONCILE, the same conversion as
 * reconciliation), routes its lines by location (route.c) and then does what an
 * orders/updated of it does (edits.c): lines moved to a WMS facility are added (the order is
 * created if the WMS had nothing of it), lines moved away are cancelled (the whole WMS order
 * when none is left), and a "scheduled" hold that no longer holds is released. Reading the
 * state rather than the payload makes a late or repeated delivery harmless. See
 * docs/orders.md "Lifecycle".
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "dockhand/log.h"
#include "dockhand/validate.h"
#include "orders_internal.h"

static const char *fo_topic(orders_kind_t kind)
{
    return kind == ORDERS_FO_MOVED ? "fulfillment_orders/moved"
                                   : "fulfillment_orders/scheduled_fulfillment_order_ready";
}

dh_result_t orders_decode_fo(oev_t *e, json_t *root, const dh_msg_t *msg, dh_event_t *ev,
                             dh_lane_t *lane)
{
    char wid[100] = "", once[110];

    if (!dh_v_shopify_fo_id(root, e->fo_id, sizeof(e->fo_id))) {
        dh_lane_fail(lane, "schema",
                     "%s: no fulfillment order id (fulfillment_order.id or "
                     "original_fulfillment_order.id)",
                     fo_topic(e->kind));
        return DH_RESULT_DEAD_LETTER;
    }
    /* One fulfillment order can move (or be rescheduled and become ready) more than once:
     * the delivery's id (a Shopify retry keeps it), else the payload's bytes. */
    if (dh_msg_header_copy(msg, "dh-webhook-id", wid, sizeof(wid)) == 0 && wid[0]) {
        snprintf(once, sizeof(once), "w:%s", wid);
    } else {
        snprintf(once, sizeof(once), "h:%016" PRIx64, e->payload_hash);
    }
    /* Its release (a scheduled hold lifted) gets its own key: one per event. */
    snprintf(e->hold_id, sizeof(e->hold_id), "fo:%s:%s", e->fo_id, once);
    return dh_event_set_effect(ev, "%s:%s:fo:%s:%s", fo_topic(e->kind), e->store->domain, e->fo_id,
                               once)
               ? DH_RESULT_FATAL
               : DH_RESULT_DONE;
}

/* The order of fulfillment order e->fo_id into e->id: 1 found, 0 gone, -1 *res set. */
static int find_order(dh_lane_t *lane, oev_t *e, dh_result_t *res)
{
    char gid[80];
    dh_gql_reply_t rep;
    int found;

    snprintf(gid, sizeof(gid), "gid://shopify/FulfillmentOrder/%s", e->fo_id);
    json_t *vars = json_pack("{s:s}", "id", gid);

    memset(&rep, 0, sizeof(rep));
    if (dh_lane_shopify_call(lane, e->store, DH_GQL_FULFILLMENT_ORDER_ORDER, vars, &rep, res)) {
        json_decref(vars);
        dh_gql_reply_clear(&rep);
        return -1;
    }
    json_decref(vars);
    json_t *order = json_object_get(json_object_get(rep.data, "fulfillmentOrder"), "order");

    found = dh_v_shopify_ref(json_object_get(order, "legacyResourceId"), e->id, sizeof(e->id)) ||
            dh_v_shopify_ref(json_object_get(order, "id"), e->id, sizeof(e->id));
    dh_gql_reply_clear(&rep);
    return found;
}

/* The order as Shopify has it now, REST-shaped (new reference in *out; NULL when gone).
 * More lines than one read returns is a dead letter: a truncated order must not reach the
 * WMS (the lines it lacks would be cancelled there). */
static dh_result_t read_order(dh_lane_t *lane, const oev_t *e, json_t **out)
{
    char gid[64], errstr[256];
    dh_gql_reply_t rep;
    dh_result_t res = DH_RESULT_DONE;

    *out = NULL;
    snprintf(gid, sizeof(gid), "gid://shopify/Order/%s", e->id);
    json_t *vars = json_pack("{s:s}", "id", gid);

    memset(&rep, 0, sizeof(rep));
    if (dh_lane_shopify_call(lane, e->store, DH_GQL_ORDER_FOR_RECONCILE, vars, &rep, &res)) {
        goto out;
    }
    json_t *node = json_object_get(rep.data, "order");

    if (!json_is_object(node)) {
        goto out;
    }
    if (json_is_true(json_object_get(
            json_object_get(json_object_get(node, "lineItems"), "pageInfo"), "hasNextPage"))) {
        dh_lane_fail(lane, "invalid-order",
                     "order %s/%s has more than 100 line items: its fulfillment order %s changed; "
                     "apply it in the WMS by hand",
                     e->store->domain, e->id, e->fo_id);
        res = DH_RESULT_DEAD_LETTER;
    } else if (!(*out = orders_from_gql_node(node, errstr, sizeof(errstr)))) {
        dh_lane_fail(lane, "invalid-order", "order %s/%s: %s", e->store->domain, e->id, errstr);
        res = DH_RESULT_DEAD_LETTER;
    }
out:
    json_decref(vars);
    dh_gql_reply_clear(&rep);
    return res;
}

dh_result_t orders_do_fo_event(orders_shared_t *s, orders_lane_t *l, dh_lane_t *lane, oev_t *e)
{
    json_t *order = NULL;
    dh_result_t res = DH_RESULT_DONE;
    int found;

    /* A store that maps no locations sends every line wherever Shopify assigned it and never
     * holds an order for a schedule: neither event changes what its WMS has. */
    if (dh_stores_location_count(s->stores, e->store) == 0) {
        return DH_RESULT_DONE;
    }
    found = find_order(lane, e, &res);

    if (found <= 0) {
        if (found == 0) {
            DH_LOG(DH_LOG_WARN, "orders", "%s: fulfillment order %s of %s no longer exists",
                   fo_topic(e->kind), e->fo_id, e->store->domain);
        }
        return res;
    }
    res = read_order(lane, e, &order);
    if (res != DH_RESULT_DONE || !order) {
        return res; /* gone since: nothing to follow */
    }
    int rc = orders_prepare(s, e, order);

    json_decref(order);
    if (rc < 0) {
        dh_lane_fail(lane, "invalid-order", "order %s: %s", e->id, e->create_err);
        return DH_RESULT_DEAD_LETTER;
    }
    if (e->skip_test) {
        return DH_RESULT_DONE; /* a test order the store does not send */
    }
    res = orders_route(s, lane, e);
    if (res != DH_RESULT_DONE) {
        return res;
    }
    DH_LOG(DH_LOG_INFO, "orders", "%s: fulfillment order %s of %s/%s: %s", fo_topic(e->kind),
           e->fo_id, e->store->domain, e->id,
           e->create ? (e->held ? "lines for the WMS, held" : "lines for the WMS")
                     : "nothing for the WMS");
    return orders_do_updated(s, l, lane, e);
}
