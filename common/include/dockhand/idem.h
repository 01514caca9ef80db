/*
 * Idempotency records in Redis: a record per effect that points at a record per batch.
 *
 *   claim:   each effect's record "<ns>:idem:<effect>" is set, only if absent, to
 *            "b:<batch>" (retention TTL); the batch's record "<ns>:idem-batch:<batch>" is
 *            set to "lease:<owner>" with the lease TTL. The caller performs the effects.
 *   finish:  the batch's record becomes "done" (retention TTL): every effect record that
 *            points at it is done at once. Effects of the batch that did not happen are
 *            released first, in the same atomic step, so they never read as done.
 *
 * An effect is therefore done when its record says "done" (the layout before batches) or
 * points at a batch whose record says "done"; leased while that batch's lease lives; free
 * when it has no record or points at a batch with none (the batch's owner crashed and its
 * lease expired: the effect is retried, never assumed done). A duplicate that finds done
 * skips the effect; one that finds another owner's live lease waits (DH_IDEM_LEASED, with
 * the lease's remaining time).
 *
 * Cost: one plain SET per effect plus one per batch to claim, one SET per batch to finish
 * (a script over the batch only when some of its effects failed), each pipelined in one
 * round trip. Needs Redis 7.0 or later (SET with NX and GET).
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
    DH_IDEM_ABSENT,      /**< dh_idem_lookup() only: no record, or its claim lapsed. */
} dh_idem_state_t;

/** Redis key of an effect: "<ns>:idem:<effect_id>". */
#define DH_IDEM_KEY_MAX 512
/** A batch id: 16 lowercase hex digits (64 random bits). */
#define DH_IDEM_BATCH_LEN 16
/** Redis key of a batch's record: ns, batch id. */
#define DH_IDEM_BATCH_KEY_FMT "%s:idem-batch:%s"

/** @brief A fresh random batch id (\p out: DH_IDEM_BATCH_LEN digits + NUL). */
void dh_idem_batch_id(char out[DH_IDEM_BATCH_LEN + 1]);

/**
 * @brief Claim \p n effects for batch \p batch in one round trip.
 * @param ns          Namespace (normally the worker name).
 * @param owner       Unique id of this attempt's owner (replica + thread).
 * @param batch       From dh_idem_batch_id(), new for every claim.
 * @param lease_ms    How long the batch's lease lives unless finished.
 * @param retention_s How long the records outlive the effects (longer than replays reach).
 * @param states      Out: one state per effect (never DH_IDEM_ABSENT).
 * @param wait_ms     Out (may be NULL): for DH_IDEM_LEASED, the lease's remaining ms.
 * @returns DH_OK, or DH_ERR_IO/DH_ERR_TIMEOUT when Redis is unreachable (nothing may be
 *          assumed claimed: what was written expires with the lease).
 */
DH_NODISCARD dh_err_t dh_idem_claim(dh_redis_t *r, const char *ns, const char *owner,
                                    const char *batch, int64_t lease_ms, int64_t retention_s,
                                    size_t n, const char *const *effect_ids,
                                    dh_idem_state_t *states, int64_t *wait_ms);

/**
 * @brief Finish batch \p batch: its \p nfailed effects (claimed, not performed) are
 *        released and, when \p ndone > 0 effects were performed, the batch is done.
 * @param lease_held Out (may be NULL): 0 when the batch's lease had lapsed before this
 *                   (another owner may have taken its effects meanwhile).
 * @returns DH_OK, or an error with nothing changed (the step is atomic): call it again.
 */
DH_NODISCARD dh_err_t dh_idem_finish(dh_redis_t *r, const char *ns, const char *owner,
                                     const char *batch, int64_t retention_s, size_t ndone,
                                     size_t nfailed, const char *const *failed_ids,
                                     int *lease_held);

/**
 * @brief Extend batch \p batch's lease to \p lease_ms from now, only while it is still
 *        \p owner's: a batch that takes longer than one lease keeps its effects from
 *        another owner by renewing between effects.
 * @param lease_held Out: 1 when renewed; 0 when the lease had lapsed (or was never ours),
 *                   in which case another owner may have taken the batch's effects and the
 *                   caller must not perform any more of them.
 * @returns DH_OK, or an error (*lease_held is then 0: nothing is known).
 */
DH_NODISCARD dh_err_t dh_idem_renew(dh_redis_t *r, const char *ns, const char *owner,
                                    const char *batch, int64_t lease_ms, int *lease_held);

/**
 * @brief Read the state of \p n effects without changing anything (for reconcilers and
 *        dh-ops): DH_IDEM_DONE, DH_IDEM_LEASED (a live claim) or DH_IDEM_ABSENT.
 * @param batches Out (may be NULL): the batch an effect's record points at, or "" (no
 *                record, or one from before batches).
 */
DH_NODISCARD dh_err_t dh_idem_lookup(dh_redis_t *r, const char *ns, size_t n,
                                     const char *const *effect_ids, dh_idem_state_t *states,
                                     char (*batches)[DH_IDEM_BATCH_LEN + 1]);

/**
 * @brief Deterministic far-side idempotency key for an effect: a UUIDv5 (SHA-1, dockhand
 *        namespace) of "<ns>:<effect_id>", as 36 chars + NUL in \p out. The same effect
 *        always yields the same key, so retries are recognised by Shopify or the WMS.
 */
void dh_idem_far_key(const char *ns, const char *effect_id, char out[37]);

#endif
