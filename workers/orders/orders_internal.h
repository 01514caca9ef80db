/*
 * State shared by handler.c and reconcile.c (private to dh-orders).
 */
#ifndef DH_ORDERS_INTERNAL_H
#define DH_ORDERS_INTERNAL_H

#include <pthread.h>
#include <stdint.h>

#include "dockhand/metrics.h"
#include "dockhand/shopify.h"
#include "dockhand/stores.h"
#include "dockhand/wms.h"
#include "orders.h"

/** A lane's clients (owned by the runtime's lane) and the process's metric series. */
typedef struct orders_lane {
    dh_wms_t *wms;
    dh_shopify_t *shopify;
    dh_counter_t *m_created, *m_cancelled, *m_released, *m_cancel_first, *m_ignored;
    dh_counter_t *m_test, *m_nothing; /**< dh_orders_not_sent_total by reason */
    dh_counter_t *m_updated;          /**< dh_orders_wms_total{op="update"} */
    dh_counter_t *m_held;             /**< dh_orders_wms_total{op="hold"} */
    dh_counter_t **m_edit_refused;    /**< per store (dh_stores_at order), owned by shared */
    dh_counter_t *m_published, *m_pages, *m_skipped;
    dh_counter_t *m_repush; /**< dh_orders_restock_repush_total */
    dh_histogram_t *m_latency;
} orders_lane_t;

/** Reconciliation bookkeeping of one store in this process. */
typedef struct orders_recon {
    int64_t next_check_ms;    /**< Do not look at this store before (local back-off). */
    dh_gauge_t *last_success; /**< dh_orders_reconcile_last_success_seconds{store} */
} orders_recon_t;

struct orders_shared {
    const dh_config_t *cfg;
    const dh_stores_t *stores; /* the runtime's (dh_worker_ctx_t) */
    char hold_tags[512];
    char test_policy[1024];    /**< DH_ORDERS_TEST_ORDERS */
    char pending_policy[1024]; /**< DH_ORDERS_PENDING_PAYMENT */
    char recon_topic[256];
    int64_t interval_s, lookback_s, overlap_s, marker_ttl_s;
    int page;
    orders_lane_t metrics;    /**< The series, created at init; clients unused here. */
    pthread_mutex_t recon_mu; /**< tick() may run on any lane: one pass step at a time. */
    orders_recon_t *recon;    /**< One per store (dh_stores_count()), made at init. */
};

/** One decoded shopify.orders record. */
typedef struct oev {
    orders_kind_t kind;
    const dh_store_t *store;
    char id[32];    /* order id, digits */
    json_t *order;  /* the REST order (NULL for fulfillment_holds/released) */
    json_t *create; /* createSalesOrder body, or NULL (create_err says why) */
    int held;       /* create is ON_HOLD */
    int nothing;    /* no line left to ship: nothing goes to the WMS */
    int skip_test;  /* a test order under the store's "skip" policy */
    char create_err[300];
    int64_t received_ms;   /* dh-received-at, or -1 */
    uint64_t payload_hash; /* FNV-1a of the record's value */
    char hold_reason[64];  /* fulfillment_holds topics: Shopify's reason (lower case) */
    char hold_notes[200];  /* and its notes */
    char hold_id[160];     /* the hold's id (or w:<webhook id>): one WMS call per hold */
    char fo_id[32];        /* the fulfillment order (digits) of a hold or fulfillment_orders
                              event, "" when the payload names none */
    json_t *restocks;      /* refunds/create: [{"location": digits, "sku": ...}] restocked */
} oev_t;

/** @brief This lane's clients and the metric series (the lane state, made at start). */
orders_lane_t *orders_lane(dh_lane_t *lane);

/** @brief An RFC 3339 time with milliseconds to Unix ms, or -1. */
int64_t orders_time_ms(const char *iso);

/* handler.c: the WMS effects, for edits.c */
dh_result_t orders_do_create(orders_shared_t *s, orders_lane_t *l, dh_lane_t *lane, const oev_t *e);
dh_result_t orders_do_cancel(orders_shared_t *s, orders_lane_t *l, dh_lane_t *lane, const oev_t *e);
dh_result_t orders_do_release(orders_lane_t *l, dh_lane_t *lane, const oev_t *e);
/** @brief POST …/cancel with \p body (key cancel:…, or cancel-after-create:…); *not_found
 *  is set on 404 (the WMS does not know the order). */
dh_result_t orders_post_cancel(orders_shared_t *s, orders_lane_t *l, dh_lane_t *lane,
                               const oev_t *e, json_t *body, int after_create, int *not_found);
/** @brief SET dh:orders:<kind>:<store>:<id> for DH_ORDERS_MARKER_TTL_S (a failure is logged). */
void orders_set_marker(orders_shared_t *s, dh_lane_t *lane, const char *kind, const oev_t *e);
/** @brief 1 if dh:orders:<kind>:<store>:<id> is set, 0 if not, -1 if Redis failed. */
int orders_marker_exists(dh_lane_t *lane, const char *kind, const oev_t *e);
/** @brief The receipt-to-WMS latency of a handled event. */
void orders_observe(orders_lane_t *l, const oev_t *e);

/** @brief The create body and the store's policies of REST order \p root (e->order takes a
 *  reference). @returns orders_wms_create_body()'s answer (0, 1: nothing to ship, -1). */
int orders_prepare(orders_shared_t *s, oev_t *e, json_t *root);

/* route.c */
/** @brief Lines by location for a store that maps locations: reads the order's fulfillment
 *  orders and routes e->create (may leave it NULL with e->nothing set). */
dh_result_t orders_route(orders_shared_t *s, dh_lane_t *lane, oev_t *e);

/** @brief The order's fulfillment orders (DH_GQL_ORDER_FULFILLMENT_ORDERS "nodes", new
 *  reference in *nodes; NULL when the order is gone). @returns DONE, or the failed call's
 *  result. */
dh_result_t orders_fo_nodes(dh_lane_t *lane, const oev_t *e, json_t **nodes);
/** @brief The WMS facility of a fulfillment order node's location, or NULL. */
const char *orders_fo_facility(orders_shared_t *s, const oev_t *e, json_t *fo);

/* holds.c */
/** @brief Decode fulfillment_holds/added and /released: the order (payload or key), the
 *  hold's id, reason, notes and fulfillment order; the effect id. */
dh_result_t orders_decode_hold(oev_t *e, json_t *root, const dh_msg_t *msg, dh_event_t *ev,
                               dh_lane_t *lane);
/** @brief fulfillment_holds/added: POST …/hold with Shopify's reason as hold_code; a hold on
 *  a fulfillment order the WMS does not ship (another location) holds nothing there. */
dh_result_t orders_do_hold(orders_shared_t *s, orders_lane_t *l, dh_lane_t *lane, const oev_t *e);
/** @brief fulfillment_holds/released: release-hold, unless another fulfillment order the WMS
 *  ships is still on hold or scheduled (the WMS order stays held for it). */
dh_result_t orders_do_hold_released(orders_shared_t *s, orders_lane_t *l, dh_lane_t *lane,
                                    const oev_t *e);

/* fo_events.c */
/** @brief Decode fulfillment_orders/moved and .../scheduled_fulfillment_order_ready: the
 *  fulfillment order id and the effect id (the order is found when handled). */
dh_result_t orders_decode_fo(oev_t *e, json_t *root, const dh_msg_t *msg, dh_event_t *ev,
                             dh_lane_t *lane);
/** @brief A fulfillment order moved or ready: the order as Shopify has it now, routed, then
 *  what orders/updated does (lines added or cancelled, the scheduled hold released). */
dh_result_t orders_do_fo_event(orders_shared_t *s, orders_lane_t *l, dh_lane_t *lane, oev_t *e);

/* refunds.c */
/** @brief Decode a refunds/create payload: order id, refund id (the effect id) and the
 *  restocked (location, SKU) pairs. */
dh_result_t orders_decode_refund(oev_t *e, json_t *root, dh_event_t *ev, dh_lane_t *lane);
/** @brief refunds/create: a stock re-push (dockhand/stockledger.h) of each restocked SKU at
 *  every WMS facility of its location, so Shopify's restock is overwritten by WMS truth. */
dh_result_t orders_do_refund(orders_shared_t *s, dh_lane_t *lane, const oev_t *e);

/* edits.c */
/** @brief FNV-1a 64 of \p len bytes. */
uint64_t orders_fnv1a(const char *p, size_t len);
/** @brief orders/updated: a cancellation never seen, an edit (lines, address) the WMS lacks,
 *  a hold of ours lifted. */
dh_result_t orders_do_updated(orders_shared_t *s, orders_lane_t *l, dh_lane_t *lane,
                              const oev_t *e);
/** @brief Remember the content the WMS now has (\p e's create body and updated_at). */
void orders_mark_sent(orders_shared_t *s, dh_lane_t *lane, const oev_t *e);

extern const dh_handler_t orders_handler;

#endif
