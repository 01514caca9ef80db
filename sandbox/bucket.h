/*
 * bucket: Shopify's cost-based leaky bucket, pure arithmetic (no clock, no locks).
 * The caller passes the current time; the caller owns the struct and its locking.
 */
#ifndef DH_SB_BUCKET_H
#define DH_SB_BUCKET_H

#include <stdbool.h>

typedef struct dh_sb_bucket {
    double maximum;      /**< maximumAvailable */
    double restore_rate; /**< points per second */
    double available;    /**< currentlyAvailable as of \p last */
    double last;         /**< time of the last refill, seconds */
} dh_sb_bucket_t;

/** @brief A full bucket of \p maximum points restoring \p rate points/s, as of time \p now. */
void dh_sb_bucket_init(dh_sb_bucket_t *b, double maximum, double rate, double now);

/** @brief Leak back points for the time elapsed up to \p now (capped at maximum). */
void dh_sb_bucket_refill(dh_sb_bucket_t *b, double now);

/**
 * @brief Charge \p cost up front, after a refill.
 * @returns true when charged; false (and nothing charged) when fewer points are available.
 */
bool dh_sb_bucket_charge(dh_sb_bucket_t *b, double cost, double now);

/** @brief Give back \p points (requested minus actual), capped at maximum. */
void dh_sb_bucket_refund(dh_sb_bucket_t *b, double points);

/**
 * @brief Set the points available as of \p now (clamped to 0..maximum); the bucket restores
 *        from there at its rate (the control endpoint that drains a store's bucket).
 */
void dh_sb_bucket_set(dh_sb_bucket_t *b, double available, double now);

/** @brief Seconds until \p cost points will be available (0 when they already are). */
double dh_sb_bucket_wait_for(const dh_sb_bucket_t *b, double cost, double now);

#endif
