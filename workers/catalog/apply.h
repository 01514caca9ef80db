/*
 * dh-catalog's effect for one product snapshot (apply.c): the Redis records and the WMS
 * calls, shared by the webhook handler and the bulk import. Private to workers/catalog/.
 */
#ifndef DH_CATALOG_APPLY_H
#define DH_CATALOG_APPLY_H

#include <stddef.h>

#include "catalog.h"
#include "dockhand/redis.h"

/** One application's context and what it did. Zero it, set the inputs, call cat_apply(). */
typedef struct cat_ctx {
    dh_lane_t *lane;   /**< in: the lane (its WMS client and Redis) */
    dh_redis_t *redis; /**< in: dh_lane_redis(lane) */
    const char *store; /**< in: the store's domain */
    /* out: */
    dh_result_t res;
    int redis_failed;
    int stale; /**< the snapshot was older: nothing done */
    long calls, upserted, unchanged, deactivated, duplicates, no_sku, refused;
    char dup_detail[400];
    char why[480]; /**< the last failure's reason */
} cat_ctx_t;

/**
 * @brief Make the WMS hold \p p: upsert changed variants, deactivate removed ones (all of
 *        them for a deleted product), keep the SKU owners and the report.
 * @returns DONE, RETRY/WAIT (a transient failure: a new attempt redoes only what is not
 *          recorded yet), DEAD_LETTER (the WMS refused a SKU: class duplicate-sku or
 *          rejected, after every other variant was applied) or FATAL.
 */
dh_result_t cat_apply(cat_ctx_t *c, const cat_product_t *p);

/** @brief "dh:catalog:<store>:<kind>[:<id>]" into \p buf. */
void cat_key(char *buf, size_t size, const char *store, const char *kind, const char *id);

/* ---- process-wide state (handler.c) and the import (import.c) ---- */

typedef struct cat_metrics {
    dh_counter_t *upserted, *unchanged, *deactivated, *duplicate, *no_sku, *refused;
    dh_counter_t *applied, *stale, *deleted;
    dh_counter_t *import_started, *import_done, *import_failed, *import_cost;
    dh_gauge_t **dups, **nosku;         /**< per store (dh_stores_at order) */
    dh_gauge_t **imp_done, **imp_total; /**< per store: variants imported of total */
    dh_gauge_t **imp_running;           /**< per store: 1 while this replica imports it */
} cat_metrics_t;

typedef struct cat_import_cfg {
    long long every_h;         /**< DH_CATALOG_IMPORT_EVERY_H: 0 = on demand only */
    long long chunk_ms;        /**< work per tick */
    long long lease_ms;        /**< the per-store import lock */
    long long poll_ms;         /**< bulk operation status polls */
    long long sweep_margin_ms; /**< DH_CATALOG_SWEEP_MARGIN_S */
    int paginated;             /**< DH_CATALOG_IMPORT_MODE=paginated (comparison, fallback) */
} cat_import_cfg_t;

typedef struct cat_shared {
    const dh_stores_t *stores; /**< the runtime's (dh_worker_ctx_t), borrowed */
    char style_metafield[256];
    cat_metrics_t m;
    cat_import_cfg_t imp;
    char owner[128]; /**< this replica, for the import lock */
    int64_t next_gauges_ms;
    int64_t *next_poll_ms; /**< per store */
} cat_shared_t;

/** @brief Add what one application did to the counters. */
void cat_count(const cat_shared_t *s, const cat_ctx_t *c);

/** @brief One tick's share of every store's import (tick, lane 0 of each replica). */
void cat_import_tick(cat_shared_t *s, dh_lane_t *lane);

/* ---- the reconciliation after an import (sweep.c) ---- */

/** @brief Forget the products an earlier import saw (a new import starts). */
void cat_sweep_reset(dh_redis_t *r, const char *store);
/** @brief The import saw (and applied) product \p product_id. @returns 0 or -1. */
int cat_sweep_seen(dh_redis_t *r, const char *store, const char *product_id);
/**
 * @brief Deactivate, from \p cursor (a SCAN cursor, "" to begin) until \p deadline, every
 *        live product record the import did not see and that is older than \p started_ms.
 * @param next  Where to go on next tick.
 * @returns 1 when the walk is complete (the seen set is dropped), else 0.
 */
int cat_sweep_slice(cat_shared_t *s, dh_lane_t *lane, const char *store, const char *cursor,
                    long long started_ms, int64_t deadline, char *next, size_t next_size);

/** @brief "dh-catalog import <store>": ask for an import now (exit code). */
int catalog_import_main(int argc, char **argv);

#endif
