/*
 * Idempotency records in Redis: a two-phase record per effect.
 *
 *   claim:  absent -> "lease:<owner>" with a TTL (the lease); the caller performs the effect.
 *   done:   "lease:<owner>" -> "done" with the retention TTL (longer than the replay horizon).
 *   release: drop our lease after a failed attempt so a retry need not wait for it.
 *
 * A duplicate that finds "done" skips the effect; one that finds a live lease of another
 * owner waits (DH_IDEM_LEASED, with the lease's remaining time). A crash mid-effect leaves
 * the lease, which expires: the effect is then retried, never assumed done. Batches are
 * pipelined: n records cost one round trip, and Redis one plain SET per record (a claim
 * that meets a lease other than a fresh or done record costs one more round trip, a
 * script over those keys). Needs Redis 7.0 or later (SET with NX and GET).
 */
#ifndef DH_IDEM_H
#define DH_IDEM_H

#include <stddef.h>

#include <stdint.h>

#include "dockhand/err.h"
#include "dockhand/redis.h"

typedef enum dh_idem_state {
    DH_IDEM_CLAIMED = 0, /**< We hold the lease: perform the effect. */
    DH_IDEM_DONE,        /**< Already done: skip. */
    DH_IDEM_LEASED,      /**< Another owner holds a live lease: wait and try again. */
} dh_idem_state_t;

/** Redis key of an effect: "<ns>:idem:<effect_id>". */
#define DH_IDEM_KEY_MAX 512

/**
 * @brief Claim \p n effects in one round trip.
 * @param ns        Namespace (normally the worker name).
 * @param owner     Unique id of this attempt's owner (replica + thread).
 * @param states    Out: one state per effect.
 * @param wait_ms   Out (may be NULL): for DH_IDEM_LEASED, the lease's remaining ms.
 * @returns DH_OK, or DH_ERR_IO/DH_ERR_TIMEOUT when Redis is unreachable (nothing claimed).
 */
DH_NODISCARD dh_err_t dh_idem_claim(dh_redis_t *r, const char *ns, const char *owner,
                                    int64_t lease_ms, size_t n, const char *const *effect_ids,
                                    dh_idem_state_t *states, int64_t *wait_ms);

/**
 * @brief Mark \p n claimed effects done with a TTL of \p retention_s seconds.
 * @param still_owned  Out (may be NULL): 0 where our lease had expired or been taken
 *                     (the record is set to done anyway: the effect did happen).
 */
DH_NODISCARD dh_err_t dh_idem_done(dh_redis_t *r, const char *ns, const char *owner,
                                   int64_t retention_s, size_t n, const char *const *effect_ids,
                                   int *still_owned);

/** @brief Release our leases (only where we still own them). */
DH_NODISCARD dh_err_t dh_idem_release(dh_redis_t *r, const char *ns, const char *owner, size_t n,
                                      const char *const *effect_ids);

/**
 * @brief Deterministic far-side idempotency key for an effect: a UUIDv5 (SHA-1, dockhand
 *        namespace) of "<ns>:<effect_id>", as 36 chars + NUL in \p out. The same effect
 *        always yields the same key, so retries are recognised by Shopify or the WMS.
 */
void dh_idem_far_key(const char *ns, const char *effect_id, char out[37]);

#endif
