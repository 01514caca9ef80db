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

#endif
