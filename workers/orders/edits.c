/*
 * dh-orders: orders/updated. Shopify sends the whole order after every change (an edit,
 * a payment, a tag, a cancellation); this file decides what the WMS must learn from it:
 *
 *   cancelled_at set, no cancellation seen      -> cancel (handler.c)
 *   lines, address or payment differ from what -> PUT the new lines, address and payment
 *   the WMS has (the "sent" marker: updated_at     (updateSalesOrder); refused because the
 *   + hashes)                                      WMS picked or dispatched it -> dead
 *                                                   letter "edit-refused", counted per store
 *                                                   (a payment change alone after dispatch
 *                                                   is done: nothing for the warehouse)
 *   nothing left to ship, the WMS has the order -> cancel it there
 *   never sent (nothing to ship then), now has  -> create it
 *   lines for the WMS
 *   a hold of ours no longer applies            -> release-hold
 *
 * A snapshot older than the one the WMS has (Shopify does not promise webhook order) is
 * skipped. See docs/orders.md "orders/updated".
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dockhand/idem.h"
#include "dockhand/log.h"
#include "orders_internal.h"

uint64_t orders_fnv1a(const char *p, size_t len)
{
    uint64_t h = 1469598103934665603ULL;

    for (size_t i = 0; i < len; i++) {
        h = (h ^ (unsigned char)p[i]) * 1099511628211ULL;
    }
    return h;
}

/* The hash of \p keys of \p create (absent ones left out). */
static uint64_t keys_hash(json_t *create, const char *const *keys, size_t n)
{
    json_t *c = json_object();
    char *text;
    uint64_t h;

    for (size_t i = 0; i < n; i++) {
        json_t *v = json_object_get(create, keys[i]);

        if (v) {
            json_object_set(c, keys[i], v);
        }
    }
    text = json_dumps(c, JSON_COMPACT | JSON_SORT_KEYS);
    h = orders_fnv1a(text ? text : "", text ? strlen(text) : 0);
    free(text);
    json_decref(c);
    return h;
}

/* The hash of the content the WMS keeps: lines, non-shipping and unmapped lines, address. */
static uint64_t content_hash(json_t *create)
{
    static const char *const keys[] = {"lines", "non_shipping_lines", "unmapped_lines",
                                       "other_location_lines", "shipping_address"};

    return keys_hash(create, keys, sizeof(keys) / sizeof(keys[0]));
}

/* Kept apart: a payment that changes after the WMS dispatched the order (cash on delivery
 * remitted, a capture at fulfilment) is not an edit anyone must apply. */
static uint64_t payment_hash(json_t *create)
{
    static const char *const keys[] = {"payment"};

    return keys_hash(create, keys, 1);
}

static int64_t updated_ms(const oev_t *e)
{
    return orders_time_ms(json_string_value(json_object_get(e->order, "updated_at")));
}

void orders_mark_sent(orders_shared_t *s, dh_lane_t *lane, const oev_t *e)
{
    char value[64];
    redisReply *r = NULL;

    if (!e->create) {
        return;
    }
    snprintf(value, sizeof(value), "%lld:%016" PRIx64 ":%016" PRIx64, (long long)updated_ms(e),
             content_hash(e->create), payment_hash(e->create));
    if (dh_redis_commandf(dh_lane_redis(lane), &r, "SET dh:orders:sent:%s:%s %s EX %lld",
                          e->store->domain, e->id, value, (long long)s->marker_ttl_s) == DH_OK) {
        freeReplyObject(r);
    } else {
        DH_LOG(DH_LOG_WARN, "orders", "sent marker for %s: %s", e->id,
               dh_redis_errstr(dh_lane_redis(lane)));
    }
}

/* The markers of one order, in one round trip. */
typedef struct markers {
    int cancelled, held, unsent;
    int64_t sent_ms; /* -1: no sent marker */
    uint64_t sent_hash;
    uint64_t pay_hash; /* the payment's, when pay_known (markers written before it have none) */
    int pay_known;
} markers_t;

static int markers_get(dh_lane_t *lane, const oev_t *e, markers_t *m)
{
    const char *d = e->store->domain, *id = e->id;
    redisReply *r = NULL;

    if (dh_redis_commandf(dh_lane_redis(lane), &r,
                          "MGET dh:orders:cancelled:%s:%s dh:orders:held:%s:%s "
                          "dh:orders:unsent:%s:%s dh:orders:sent:%s:%s",
                          d, id, d, id, d, id, d, id)) {
        dh_lane_fail(lane, "redis", "%s", dh_redis_errstr(dh_lane_redis(lane)));
        return -1;
    }
    int ok = r->type == REDIS_REPLY_ARRAY && r->elements == 4;

    m->cancelled = ok && r->element[0]->type == REDIS_REPLY_STRING;
    m->held = ok && r->element[1]->type == REDIS_REPLY_STRING;
    m->unsent = ok && r->element[2]->type == REDIS_REPLY_STRING;
    m->sent_ms = -1;
    m->pay_known = 0;
    if (ok && r->element[3]->type == REDIS_REPLY_STRING) {
        char *colon = NULL, *end = NULL;

        m->sent_ms = strtoll(r->element[3]->str, &colon, 10);
        m->sent_hash = colon && *colon == ':' ? strtoull(colon + 1, &end, 16) : 0;
        m->pay_known = end && *end == ':';
        m->pay_hash = m->pay_known ? strtoull(end + 1, NULL, 16) : 0;
    }
    freeReplyObject(r);
    return 0;
}

/* The updateSalesOrder body: the new lines and address, as the create body has them. */
static json_t *update_body(const oev_t *e)
{
    static const char *const keys[] = {"non_shipping_lines", "unmapped_lines",
                                       "other_location_lines", "shipping_address", "payment"};
    char at[32];
    json_t *b;

    if (orders_time_utc(json_string_value(json_object_get(e->order, "updated_at")), at,
                        sizeof(at))) {
        return NULL;
    }
    b = json_pack("{s:O, s:s}", "lines", json_object_get(e->create, "lines"), "updated_at", at);
    for (size_t i = 0; b && i < sizeof(keys) / sizeof(keys[0]); i++) {
        json_t *v = json_object_get(e->create, keys[i]);

        if (v) {
            json_object_set(b, keys[i], v);
        }
    }
    return b;
}

static void count_refused(orders_shared_t *s, orders_lane_t *l, const oev_t *e)
{
    for (size_t i = 0; l->m_edit_refused && i < dh_stores_count(s->stores); i++) {
        if (dh_stores_at(s->stores, i) == e->store && l->m_edit_refused[i]) {
            dh_counter_add(l->m_edit_refused[i], 1);
        }
    }
}

/* The WMS refused the edit (picked or dispatched). A change of payment alone after dispatch
 * is done (cash on delivery remitted, a capture at fulfilment: nothing for the warehouse);
 * anything else is a dead letter "edit-refused" a person applies by hand. */
static dh_result_t edit_refused(orders_shared_t *s, orders_lane_t *l, dh_lane_t *lane,
                                const oev_t *e, const dh_outcome_rule_t *rule,
                                const dh_wms_reply_t *rep, int payment_only)
{
    if (payment_only && dh_wms_problem_is(rep, "/order-already-dispatched")) {
        DH_LOG(DH_LOG_INFO, "orders",
               "payment of order %s/%s changed after the WMS dispatched it (%s): nothing for the "
               "warehouse",
               e->store->domain, e->id, rep->detail);
        orders_mark_sent(s, lane, e);
        return DH_RESULT_DONE;
    }
    count_refused(s, l, e);
    DH_LOG(DH_LOG_ERROR, "orders",
           "%s of order %s/%s (%s) refused by the WMS (%s): apply it by hand in the warehouse; "
           "the record is in the dead-letter topic",
           payment_only ? "payment change" : "edit", e->store->domain, e->id,
           json_string_value(json_object_get(e->order, "name")), rep->detail);
    return dh_lane_wms_answer(lane, rule, rep, "WMS refused the edit of order %s/%s: %s",
                              e->store->domain, e->id, rep->detail);
}

/* PUT the edit; 404 creates the order from this payload instead. */
static dh_result_t put_edit(orders_shared_t *s, orders_lane_t *l, dh_lane_t *lane, const oev_t *e,
                            uint64_t hash, int payment_only)
{
    char key[37], eid[320], path[512];
    dh_wms_reply_t rep;
    dh_result_t res = DH_RESULT_DONE;
    json_t *body = update_body(e);
    const dh_outcome_rule_t *rule;

    if (!body) {
        dh_lane_fail(lane, "schema", "order %s: /updated_at must be a date-time", e->id);
        return DH_RESULT_DEAD_LETTER;
    }
    snprintf(eid, sizeof(eid), "update:%s:%s:%016" PRIx64 ":%016" PRIx64, e->store->domain, e->id,
             hash, payment_hash(e->create));
    dh_idem_far_key(ORDERS_IDEM_NS, eid, key);
    snprintf(path, sizeof(path), "/wms/v1/sales-orders/%s/%s", e->store->domain, e->id);
    if (dh_lane_wms_call(lane, ORDERS_WMS_GROUP, "PUT", path, key, body, &rep, &res)) {
        json_decref(body);
        return res;
    }
    rule = dh_wms_rule(&orders_outcomes, "update", &rep);
    if (rule->action == ORDERS_ACT_CREATE_FIRST) {
        res = orders_do_create(s, l, lane, e);
    } else if (rule->result == DH_RESULT_DEAD_LETTER && rule->error_class &&
               strcmp(rule->error_class, "edit-refused") == 0) {
        res = edit_refused(s, l, lane, e, rule, &rep, payment_only);
    } else {
        res = dh_lane_wms_answer(lane, rule, &rep, "WMS: update of order %s/%s", e->store->domain,
                                 e->id);
        if (res == DH_RESULT_DONE && rep.status == 200) {
            orders_mark_sent(s, lane, e);
            if (l->m_updated) {
                dh_counter_add(l->m_updated, 1);
            }
        }
    }
    dh_wms_reply_clear(&rep);
    json_decref(body);
    return res;
}

/* Nothing left to ship (every line removed, refunded or moved to a location the WMS does not
 * ship from): the WMS order is cancelled (it cannot hold an order without lines). */
static dh_result_t cancel_nothing_left(orders_shared_t *s, orders_lane_t *l, dh_lane_t *lane,
                                       const oev_t *e)
{
    char errstr[256];
    json_t *order = json_deep_copy(e->order), *body;
    int not_found = 0;
    dh_result_t res = DH_RESULT_DONE;

    json_object_set_new(order, "cancel_reason",
                        json_string("nothing left to ship: every line was removed, refunded or "
                                    "assigned to a location the WMS does not ship from"));
    body = orders_wms_cancel_body(order, errstr, sizeof(errstr));
    json_decref(order);
    if (!body) {
        dh_lane_fail(lane, "schema", "order %s: %s", e->id, errstr);
        return DH_RESULT_DEAD_LETTER;
    }
    DH_LOG(DH_LOG_INFO, "orders", "order %s/%s has nothing left to ship: cancelling it in the WMS",
           e->store->domain, e->id);
    res = orders_post_cancel(s, l, lane, e, body, 0, &not_found);
    json_decref(body);
    return res; /* 404: the WMS has nothing of it, nothing to cancel */
}

/* The order was never sent (nothing to ship when it came): now it has lines for the WMS. */
static dh_result_t create_now(orders_shared_t *s, orders_lane_t *l, dh_lane_t *lane, const oev_t *e)
{
    redisReply *r = NULL;
    dh_result_t res = orders_do_create(s, l, lane, e);

    if (res == DH_RESULT_DONE &&
        dh_redis_commandf(dh_lane_redis(lane), &r, "DEL dh:orders:unsent:%s:%s", e->store->domain,
                          e->id) == DH_OK) {
        freeReplyObject(r);
    }
    return res;
}

/* What the WMS lacks on a newer snapshot: an edit or a payment change (PUT), the order
 * itself (never sent, now with lines), or its cancellation (nothing left to ship). */
static dh_result_t sync_edit(orders_shared_t *s, orders_lane_t *l, dh_lane_t *lane, const oev_t *e,
                             const markers_t *m, int *acted)
{
    uint64_t hash;
    int newer = m->sent_ms >= 0 && m->sent_ms <= updated_ms(e);

    *acted = 0;
    if (!e->create) { /* nothing left to ship, or not mappable (reported if it matters) */
        *acted = e->nothing && !m->unsent && !m->cancelled && newer;
        return *acted ? cancel_nothing_left(s, l, lane, e) : DH_RESULT_DONE;
    }
    if (m->unsent) {
        *acted = 1;
        return create_now(s, l, lane, e);
    }
    hash = content_hash(e->create);
    /* Whole seconds: a snapshot of the same second as the WMS's is not older. */
    if (m->sent_ms >= 0 &&
        (m->sent_ms > updated_ms(e) ||
         (m->sent_hash == hash && (!m->pay_known || m->pay_hash == payment_hash(e->create))))) {
        return DH_RESULT_DONE; /* an older snapshot, or the same content */
    }
    *acted = 1;
    return put_edit(s, l, lane, e, hash, m->sent_ms >= 0 && m->sent_hash == hash);
}

dh_result_t orders_do_updated(orders_shared_t *s, orders_lane_t *l, dh_lane_t *lane, const oev_t *e)
{
    int cancelled = json_is_string(json_object_get(e->order, "cancelled_at"));
    dh_result_t res = DH_RESULT_DONE;
    markers_t m;
    int acted = 0;
    redisReply *r = NULL;

    if (markers_get(lane, e, &m)) {
        return DH_RESULT_RETRY;
    }
    if (cancelled) {
        if (m.cancelled) {
            goto ignored;
        }
        res = orders_do_cancel(s, l, lane, e);
        goto out;
    }
    res = sync_edit(s, l, lane, e, &m, &acted);
    /* Still held by today's payload (exchange tag, missing SKU, pending payment), or not
     * mappable: nothing to release. */
    if (res != DH_RESULT_DONE || !m.held || !e->create || e->held) {
        goto out;
    }
    acted = 1;
    res = orders_do_release(l, lane, e);
    if (res == DH_RESULT_DONE &&
        dh_redis_commandf(dh_lane_redis(lane), &r, "DEL dh:orders:held:%s:%s", e->store->domain,
                          e->id) == DH_OK) {
        freeReplyObject(r);
    }
out:
    if (res == DH_RESULT_DONE && (acted || cancelled)) {
        orders_observe(l, e);
        return res;
    }
    if (res != DH_RESULT_DONE) {
        return res;
    }
ignored:
    if (l->m_ignored) {
        dh_counter_add(l->m_ignored, 1);
    }
    return DH_RESULT_DONE;
}
