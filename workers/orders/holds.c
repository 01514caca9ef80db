/*
 * dh-orders: fulfillment_holds/added. Shopify placed a fulfillment hold (high risk of
 * fraud, incorrect address, awaiting payment, ...) on one of the order's fulfillment
 * orders: the WMS order goes ON_HOLD with Shopify's reason as hold_code, until
 * fulfillment_holds/released releases it (handler.c). A hold the WMS refuses because it
 * already picked or dispatched the order is a dead letter "hold-refused": a person must
 * stop the parcel. See docs/orders.md "Lifecycle".
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "dockhand/idem.h"
#include "dockhand/log.h"
#include "dockhand/validate.h"
#include "orders_internal.h"

/* Shopify's FulfillmentHoldReason (any case) -> the WMS hold_code; unknown -> "other". */
static const char *hold_code(const char *reason, char *buf, size_t size)
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

dh_result_t orders_do_hold(orders_lane_t *l, dh_lane_t *lane, const oev_t *e)
{
    char key[37], eid[320], path[512], code[64], reason[300];
    dh_wms_reply_t rep;
    dh_result_t res = DH_RESULT_DONE;
    const dh_outcome_rule_t *rule;

    snprintf(reason, sizeof(reason), "Shopify fulfillment hold: %.60s%s%.180s%s",
             e->hold_reason[0] ? e->hold_reason : "unknown", e->hold_notes[0] ? " (" : "",
             e->hold_notes, e->hold_notes[0] ? ")" : "");
    json_t *body = json_pack("{s:s, s:s}", "hold_code",
                             hold_code(e->hold_reason, code, sizeof(code)), "hold_reason", reason);

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
    if (dh_event_set_effect(ev, "%s:%s:%s:%s", topic, e->store->domain, e->id, hold)) {
        return DH_RESULT_FATAL;
    }
    return DH_RESULT_DONE;
}
