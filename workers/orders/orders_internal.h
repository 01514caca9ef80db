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
    dh_counter_t *m_published, *m_pages, *m_skipped;
    dh_histogram_t *m_latency;
} orders_lane_t;

/** Reconciliation bookkeeping of one store in this process. */
typedef struct orders_recon {
    int64_t next_check_ms; /**< Do not look at this store before (local back-off). */
} orders_recon_t;

struct orders_shared {
    const dh_config_t *cfg;
    const dh_stores_t *stores; /* the runtime's (dh_worker_ctx_t) */
    char hold_tags[512];
    char recon_topic[256];
    int64_t interval_s, lookback_s, overlap_s, marker_ttl_s;
    int page;
    orders_lane_t metrics;    /**< The series, created at init; clients unused here. */
    pthread_mutex_t recon_mu; /**< tick() may run on any lane: one pass step at a time. */
    orders_recon_t *recon;    /**< One per store (dh_stores_count()), made at init. */
};

/** @brief This lane's clients and the metric series (the lane state, made at start). */
orders_lane_t *orders_lane(dh_lane_t *lane);

/** @brief An RFC 3339 time with milliseconds to Unix ms, or -1. */
int64_t orders_time_ms(const char *iso);

extern const dh_handler_t orders_handler;

#endif
