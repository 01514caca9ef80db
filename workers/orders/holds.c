/*
 * dh-orders: Shopify's fulfillment holds, per fulfillment order.
 *
 *   fulfillment_holds/added     Shopify placed a hold (high risk of fraud, incorrect address,
 *                               awaiting payment, ...) on one fulfillment order: the WMS order
 *                               goes ON_HOLD with Shopify's reason as hold_code, unless that
 *                               fulfillment order is at a location the WMS does not ship from
 *                               (a store that maps locations): the WMS's part is not held.
 *   fulfillment_holds/released  release-hold, unless another fulfillment order the WMS ships is
 *                               still ON_HOLD (or SCHEDULED, for a store that maps locations):
 *                               the WMS order stays held until the last one is released.
 *
 * A hold event that names no fulfillment order is the whole order's, as before.
 *
 * A hold the WMS refuses because it already picked or dispatched the order is a dead letter
 * "hold-refused": a person must stop the parcel. See docs/orders.md "Lifecycle".
 */
#include <stdio.h>
#include <string.h>

#include "dockhand/idem.h"
#include "dockhand/log.h"
#include "dockhand/validate.h"
#include "orders_internal.h"

/* Order id of a fulfillment_holds/released payload: order_id, fulfillment_order.order_id
 * (integer or GID), or the message key's tail. */
static int hold_order_id(json_t *root, const dh_msg_t *msg, char *out, size_t size)
{
    /* The gateway keys the message by the same function (validate.h). */
    if (dh_v_shopify_hold_order_id(root, out, size)) {
        return 0;
    }
    const char *bar = msg->key ? memchr(msg->key, '|', msg->key_len) : NULL;
    size_t n = bar ? msg->key_len - (size_t)(bar + 1 - msg->key) : 0;

    if (!bar || n == 0 || n >= size) {
        return -1;
    }
    for (size_t i = 0; i < n; i++) { /* the key is not NUL-terminated: bounded by n */
        if (bar[1 + i] < '0' || bar[1 + i] > '9') {
            return -1;
        }
    }
    memcpy(out, bar + 1, n);
    out[n] = '\0';
    return 0;
}

dh_result_t orders_decode_hold(oev_t *e, json_t *root, const dh_msg_t *msg, dh_event_t *ev,
                               dh_lane_t *lane)
{
    char hold[160] = "", wid[128] = "";
    json_t *h = json_object_get(root, "fulfillment_hold");
    json_t *hid = json_object_get(h ? h : root, "id");
    const char *topic =
        e->kind == ORDERS_HOLD_ADDED ? "fulfillment_holds/added" : "fulfillment_holds/released";
    const char *reason = json_string_value(json_object_get(h ? h : root, "reason"));
    const char *notes = json_string_value(json_object_get(h ? h : root, "reason_notes"));

    if (hold_order_id(root, msg, e->id, sizeof(e->id))) {
        dh_lane_fail(lane, "schema", "%s: no order id in payload or key", topic);
        return DH_RESULT_DEAD_LETTER;
    }
    snprintf(e->hold_reason, sizeof(e->hold_reason), "%s", reason ? reason : "");
    snprintf(e->hold_notes, sizeof(e->hold_notes), "%s", notes ? notes : "");
    if (json_is_integer(hid)) {
        snprintf(hold, sizeof(hold), "%lld", (long long)json_integer_value(hid));
    } else if (json_is_string(hid)) {
        snprintf(hold, sizeof(hold), "%s", json_string_value(hid));
    } else if (dh_msg_header_copy(msg, "dh-webhook-id", wid, sizeof(wid)) == 0) {
        snprintf(hold, sizeof(hold), "w:%s", wid);
    }
    snprintf(e->hold_id, sizeof(e->hold_id), "%s", hold);
    if (!dh_v_shopify_ref(json_object_get(h ? h : root, "fulfillment_order_id"), e->fo_id,
                          sizeof(e->fo_id))) {
        e->fo_id[0] = '\0'; /* no fulfillment order named: the hold is the whole order's */
    }
    if (dh_event_set_effect(ev, "%s:%s:%s:%s", topic, e->store->domain, e->id, hold)) {
        return DH_RESULT_FATAL;
    }
    return DH_RESULT_DONE;
}

/* The node of fulfillment order \p foid (digits) among \p nodes, or NULL. */
static json_t *fo_node(json_t *nodes, const char *foid)
{
    char id[32];
    size_t i;
    json_t *fo;

    json_array_foreach(nodes, i, fo)
    {
        if (dh_v_shopify_ref(json_object_get(fo, "id"), id, sizeof(id)) && !strcmp(id, foid)) {
            return fo;
        }
    }
    return NULL;
}

/* Does the WMS ship fulfillment order e->fo_id? 1: yes, or not knowable (no fulfillment
 * order named, a store without locations, the order gone): the hold is the whole order's;
 * 0: it is at another location; -1: *res says why Shopify could not tell. */
static int fo_is_wms(orders_shared_t *s, dh_lane_t *lane, const oev_t *e, dh_result_t *res)
{
    json_t *nodes = NULL, *fo;
    int wms = 1;

    if (!e->fo_id[0] || dh_stores_location_count(s->stores, e->store) == 0) {
        return 1;
    }
    *res = orders_fo_nodes(lane, e, &nodes);
    if (*res != DH_RESULT_DONE) {
        return -1;
    }
    fo = fo_node(nodes, e->fo_id);
    wms = !fo || orders_fo_facility(s, e, fo) != NULL;
    json_decref(nodes);
    return wms;
}

dh_result_t orders_do_hold(orders_shared_t *s, orders_lane_t *l, dh_lane_t *lane, const oev_t *e)
{
    char key[37], eid[320], path[512], code[64], reason[300];
    dh_wms_reply_t rep;
    dh_result_t res = DH_RESULT_DONE;
    const dh_outcome_rule_t *rule;
    int wms = fo_is_wms(s, lane, e, &res);

    if (wms <= 0) {
        if (wms == 0) {
            DH_LOG(DH_LOG_INFO, "orders",
                   "hold on fulfillment order %s of %s/%s: another location ships it, the WMS's "
                   "part is not held",
                   e->fo_id, e->store->domain, e->id);
        }
        return res;
    }
    snprintf(reason, sizeof(reason), "Shopify fulfillment hold: %.60s%s%.180s%s",
             e->hold_reason[0] ? e->hold_reason : "unknown", e->hold_notes[0] ? " (" : "",
             e->hold_notes, e->hold_notes[0] ? ")" : "");
    json_t *body =
        json_pack("{s:s, s:s}", "hold_code", orders_hold_code(e->hold_reason, code, sizeof(code)),
                  "hold_reason", reason);

    snprintf(eid, sizeof(eid), "hold:%s:%s:%s", e->store->domain, e->id, e->hold_id);
    dh_idem_far_key(ORDERS_IDEM_NS, eid, key);
    snprintf(path, sizeof(path), "/wms/v1/sales-orders/%s/%s/hold", e->store->domain, e->id);
    if (dh_lane_wms_call(lane, ORDERS_WMS_GROUP, "POST", path, key, body, &rep, &res)) {
        json_decref(body);
        return res;
    }
    rule = dh_wms_rule(&orders_outcomes, "hold", &rep);
    if (rule->action == ORDERS_ACT_CHECK_UNSENT && orders_marker_exists(lane, "unsent", e) == 1) {
        res = DH_RESULT_DONE; /* a skipped test order, nothing to ship */
    } else {
        if (rule->error_class && strcmp(rule->error_class, "hold-refused") == 0) {
            DH_LOG(DH_LOG_ERROR, "orders",
                   "Shopify put order %s/%s on hold (%s) but the WMS has started it (%s): stop "
                   "the shipment by hand",
                   e->store->domain, e->id, e->hold_reason, rep.detail);
        }
        res = dh_lane_wms_answer(lane, rule, &rep, "WMS: hold of order %s/%s", e->store->domain,
                                 e->id);
        if (res == DH_RESULT_DONE && rep.status == 200 && l->m_held) {
            dh_counter_add(l->m_held, 1);
        }
    }
    dh_wms_reply_clear(&rep);
    json_decref(body);
    return res;
}

/* After a release: the fulfillment order the WMS ships that still holds the WMS order
 * (ON_HOLD; SCHEDULED too for a store that maps locations, as route.c held it), or NULL. */
static json_t *still_held(orders_shared_t *s, const oev_t *e, json_t *nodes)
{
    int routed = dh_stores_location_count(s->stores, e->store) > 0;
    size_t i;
    json_t *fo;

    json_array_foreach(nodes, i, fo)
    {
        const char *st = json_string_value(json_object_get(fo, "status"));

        if (st && (!routed || orders_fo_facility(s, e, fo)) &&
            (!strcmp(st, "ON_HOLD") || (routed && !strcmp(st, "SCHEDULED")))) {
            return fo;
        }
    }
    return NULL;
}

dh_result_t orders_do_hold_released(orders_shared_t *s, orders_lane_t *l, dh_lane_t *lane,
                                    const oev_t *e)
{
    json_t *nodes = NULL, *held, *fo;
    dh_result_t res;

    if (!e->fo_id[0]) {
        return orders_do_release(l, lane, e); /* no fulfillment order named: the order's */
    }
    res = orders_fo_nodes(lane, e, &nodes);
    if (res != DH_RESULT_DONE) {
        return res;
    }
    fo = fo_node(nodes, e->fo_id);
    held = still_held(s, e, nodes);
    if (fo && dh_stores_location_count(s->stores, e->store) > 0 && !orders_fo_facility(s, e, fo)) {
        DH_LOG(DH_LOG_INFO, "orders",
               "hold released on fulfillment order %s of %s/%s: another location ships it",
               e->fo_id, e->store->domain, e->id);
    } else if (held) {
        DH_LOG(DH_LOG_INFO, "orders",
               "hold released on %s/%s, but fulfillment order %s the WMS ships is still %s: the "
               "WMS order stays held",
               e->store->domain, e->id, json_string_value(json_object_get(held, "id")),
               json_string_value(json_object_get(held, "status")));
    } else {
        res = orders_do_release(l, lane, e);
    }
    json_decref(nodes);
    return res;
}
