/*
 * Rate limits shared by every replica, kept in Redis; each decision is one atomic Lua
 * script. Two kinds:
 *  - Shopify's cost-based leaky bucket per store: acquire charges the requested cost up
 *    front (or says how long to wait), settle refunds the unused part and re-syncs the
 *    level from the response's throttleStatus, and cooldown makes every replica hold off
 *    after a THROTTLED or 429.
 *  - A plain token bucket (rate per second, burst) per named resource, e.g. a WMS
 *    endpoint group.
 * Time comes from Redis (TIME) so replicas with skewed clocks agree.
 */
#ifndef DH_RATELIMIT_H
#define DH_RATELIMIT_H

#include <stdint.h>

#include "dockhand/err.h"
#include "dockhand/redis.h"

typedef struct dh_bucket_spec {
    double capacity;     /**< Shopify maximumAvailable, e.g. 2000. */
    double restore_rate; /**< Points per second, e.g. 100. */
} dh_bucket_spec_t;

/**
 * @brief Try to charge \p cost points from \p store's bucket.
 * @param wait_ms  Out: 0 if charged; otherwise how long to wait before trying again
 *                 (nothing charged), including any pool-wide cooldown. A refused request
 *                 reserves its cost: smaller ones leave it in the bucket until it is
 *                 granted (or its wait plus 5 s passes), so small ones cannot starve it.
 */
DH_NODISCARD dh_err_t dh_ratelimit_shopify_acquire(dh_redis_t *r, const char *store,
                                                   const dh_bucket_spec_t *spec, double cost,
                                                   int64_t *wait_ms);

/**
 * @brief Settle a call: refund requested − actual, and when \p currently_available >= 0
 *        re-sync the level to what Shopify reported (taking the lower of ours and theirs).
 * @param actual  Actual cost, or a negative value if unknown (e.g. THROTTLED: full refund).
 */
DH_NODISCARD dh_err_t dh_ratelimit_shopify_settle(dh_redis_t *r, const char *store,
                                                  const dh_bucket_spec_t *spec, double requested,
                                                  double actual, double currently_available);

/**
 * @brief How long until \p store's bucket holds \p cost points (0: now), a pool-wide
 *        cooldown included, charging nothing: for pacing work that would spend them
 *        (another caller may still take them first; acquire stays the only gate).
 */
DH_NODISCARD dh_err_t dh_ratelimit_shopify_peek(dh_redis_t *r, const char *store,
                                                const dh_bucket_spec_t *spec, double cost,
                                                int64_t *wait_ms);

/** @brief Pool-wide pause for \p store of \p ms milliseconds (max of existing and new). */
DH_NODISCARD dh_err_t dh_ratelimit_shopify_cooldown(dh_redis_t *r, const char *store, int64_t ms);

/** @brief Take \p n tokens from the named token bucket; \p wait_ms as for acquire. */
DH_NODISCARD dh_err_t dh_ratelimit_take(dh_redis_t *r, const char *name, double rate_per_s,
                                        double burst, double n, int64_t *wait_ms);

#endif
