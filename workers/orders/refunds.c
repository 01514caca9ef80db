/*
 * dh-orders: refunds/create. A refund with restock makes Shopify put the units back on
 * sale at once (Return Prime restocks at pickup, long before the parcel reaches the
 * warehouse). dh-orders makes no WMS call: it enqueues a stock re-push
 * (dockhand/stockledger.h) of every restocked SKU at every WMS facility mapped to the
 * restock location, and dh-inventory sets Shopify's stock again from the WMS's truth.
 * See docs/orders.md "Refunds" and docs/inventory.md.
 */
#include <stdio.h>
#include <string.h>

#include "dockhand/log.h"
#include "dockhand/stockledger.h"
#include "dockhand/validate.h"
#include "orders_internal.h"

/* Facilities of one location: a handful per store. */
#define REFUND_MAX_FACILITIES 32

dh_result_t orders_decode_refund(oev_t *e, json_t *root, dh_event_t *ev, dh_lane_t *lane)
{
    char rid[32];
    size_t skipped = 0;

    if (!dh_v_shopify_ref(json_object_get(root, "order_id"), e->id, sizeof(e->id))) {
        dh_lane_fail(lane, "schema", "refunds/create: /order_id must be an integer >= 1");
        return DH_RESULT_DEAD_LETTER;
    }
    if (!dh_v_shopify_id(json_object_get(root, "id"), rid, sizeof(rid))) {
        dh_lane_fail(lane, "schema", "refunds/create: /id must be an integer >= 1");
        return DH_RESULT_DEAD_LETTER;
    }
    e->restocks = orders_refund_restocks(root, &skipped);
    if (skipped) {
        DH_LOG(DH_LOG_WARN, "orders",
               "refund %s of order %s/%s: %zu restocked line(s) without location or SKU: not "
               "re-pushed",
               rid, e->store->domain, e->id, skipped);
    }
    return dh_event_set_effect(ev, "refunds/create:%s:%s:%s", e->store->domain, e->id, rid)
               ? DH_RESULT_FATAL
               : DH_RESULT_DONE;
}

dh_result_t orders_do_refund(orders_shared_t *s, dh_lane_t *lane, const oev_t *e)
{
    orders_lane_t *l = orders_lane(lane);
    size_t i;
    json_t *p;

    json_array_foreach(e->restocks, i, p)
    {
        char gid[64];
        const char *fac[REFUND_MAX_FACILITIES], *sku = json_string_value(json_object_get(p, "sku"));
        size_t nfac;

        snprintf(gid, sizeof(gid), "gid://shopify/Location/%s",
                 json_string_value(json_object_get(p, "location")));
        nfac = dh_stores_facilities(s->stores, e->store, gid, fac, REFUND_MAX_FACILITIES);
        if (nfac == 0) {
            DH_LOG(DH_LOG_INFO, "orders",
                   "refund of order %s/%s restocked %s at %s: not a WMS "
                   "location",
                   e->store->domain, e->id, sku, gid);
        }
        for (size_t k = 0; k < nfac && k < REFUND_MAX_FACILITIES; k++) {
            if (dh_sl_repush_add(dh_lane_redis(lane), e->store->domain, fac[k], sku)) {
                dh_lane_fail(lane, "redis", "re-push %s|%s: %s", fac[k], sku,
                             dh_redis_errstr(dh_lane_redis(lane)));
                return DH_RESULT_RETRY; /* enqueuing again is harmless */
            }
            if (l && l->m_repush) {
                dh_counter_add(l->m_repush, 1);
            }
        }
    }
    return DH_RESULT_DONE;
}
