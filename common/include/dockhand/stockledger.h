/*
 * The shipment ledger and the SKU fences (docs/inventory.md §1-§2): the Redis state that
 * keeps Shopify's available stock at or below what the WMS can truly sell while shipments
 * and stock snapshots reach Shopify through different consumers.
 *
 * Keys, per store (the store's domain), facility f and SKU k:
 *   dh:inv:ledger:<store>:<f>|<k>   hash  "<shipment>#<i>" -> "<stock_seq> <qty> <state>",
 *                                         state open | inflight | done
 *   dh:inv:shipped:<store>:<f>|<k>  zset  line ids pruned from the ledger (score: ms), kept
 *                                         DH_SL_PRUNED_KEEP_MS so a redelivered dispatch
 *                                         event cannot re-create a pruned entry
 *   dh:inv:fence:<store>:<f>|<k>    string owner token, PX lease
 *   dh:inv:seq:<store>              hash  "<f>|<k>" -> "<seq> <base> <pushed>" (the record;
 *                                         old "<seq> <qty>" records read as base=pushed=qty)
 *   dh:inv:repush:<store>           zset  "<f>|<k>", score = ms when due
 *
 * Adjustment of facility f's snapshot at sequence s:
 *   adj = + sum(qty: open, stock_seq <= s) - sum(qty: inflight or done, stock_seq > s)
 *   on_hand(location, k) = max(0, sum over the location's facilities of (base + adj))
 * Every script reads the Redis server's clock (TIME), so replicas' clocks do not matter.
 */
#ifndef DH_STOCKLEDGER_H
#define DH_STOCKLEDGER_H

#include <stddef.h>

#include <stdint.h>

#include "dockhand/err.h"
#include "dockhand/redis.h"

/** Default fence lease (DH_INVENTORY_FENCE_MS). */
#define DH_SL_FENCE_MS_DEFAULT 30000
/** How long a pruned line id is remembered (longer than any redelivery of its event). */
#define DH_SL_PRUNED_KEEP_MS (7LL * 24 * 3600 * 1000)

/* ---- dispatch side (dh-dispatch, dh-orders) ---------------------------------------- */

/** One shipment line at one facility. */
typedef struct dh_sl_line {
    const char *facility;
    const char *sku;
    const char *line_id; /**< "<shipment>#<i>" */
    int64_t stock_seq;   /**< -1: none (no ledger entry; finish only enqueues a re-push) */
    int64_t qty;
} dh_sl_line_t;

/** @brief The event of a shipment arrived: record each line as `open` unless it already
 *  has an entry (never moves inflight/done back) or was pruned; enqueue a re-push of every
 *  (facility, sku), due now. Lines without stock_seq are skipped entirely. */
DH_NODISCARD dh_err_t dh_sl_dispatch_open(dh_redis_t *r, const char *store, const dh_sl_line_t *l,
                                          size_t n);

/** @brief Before fulfillmentCreate: if a fence of any line is held, *busy = 1 and nothing
 *  changes (WAIT and try again, not an attempt); else *busy = 0 and every line becomes
 *  `inflight` (created if absent; a `done` entry stays done). Lines without stock_seq are
 *  ignored. */
DH_NODISCARD dh_err_t dh_sl_dispatch_begin(dh_redis_t *r, const char *store, const dh_sl_line_t *l,
                                           size_t n, int *busy);

/** @brief After the fulfilment call: \p fulfilled = 1 → `done`; 0 (definitely not created)
 *  → `open` (a `done` entry stays done). Enqueues a re-push of every line's (facility,
 *  sku), due now, including lines without stock_seq. */
DH_NODISCARD dh_err_t dh_sl_dispatch_finish(dh_redis_t *r, const char *store, const dh_sl_line_t *l,
                                            size_t n, int fulfilled);

/** @brief Enqueue a re-push of (facility, sku), due now (an earlier due time is kept). */
DH_NODISCARD dh_err_t dh_sl_repush_add(dh_redis_t *r, const char *store, const char *facility,
                                       const char *sku);

/* ---- inventory side (dh-inventory) ------------------------------------------------- */

/** One facility of a fenced (location, sku). */
typedef struct dh_sl_fac {
    const char *facility; /**< in */
    int64_t cand_seq;     /**< in: sequence of a new snapshot, -1: none (use the record) */
    int64_t cand_base;    /**< in: its base = max(0, good_online + picked - safety_stock) */
    int64_t rec_seq, rec_base, rec_pushed; /**< out: the record, -1 each when none */
    int64_t seq, base; /**< out: the snapshot used: the candidate when cand_seq >= rec_seq,
                            else the record; -1 when neither (contributes 0) */
    int64_t adj;       /**< out: the ledger's adjustment at seq */
} dh_sl_fac_t;

/** One (location, sku): every facility mapped to the location. */
typedef struct dh_sl_item {
    const char *sku; /**< in */
    dh_sl_fac_t *fac;
    size_t nfac;
    int busy;       /**< out of dh_sl_fence_take: another owner holds a fence; none taken */
    int applied;    /**< in for dh_sl_commit: Shopify has on_hand = pushed */
    int64_t pushed; /**< in for dh_sl_commit */
} dh_sl_item_t;

/**
 * @brief Take the fences of every item's facilities (per item all or none, lease
 *        \p lease_ms, re-entrant for \p owner) and, in the same script, read the records
 *        and the ledger: fills busy and each facility's out fields. One round trip.
 */
DH_NODISCARD dh_err_t dh_sl_fence_take(dh_redis_t *r, const char *store, const char *owner,
                                       long long lease_ms, dh_sl_item_t *items, size_t n);

/** @brief max(0, sum of base + adj over the item's facilities that have a snapshot), or
 *  -1 when none has one (nothing to set). */
int64_t dh_sl_item_on_hand(const dh_sl_item_t *it);

/**
 * @brief For every item not busy: when applied, record "<seq> <base> <pushed>" per
 *        facility with a snapshot (kept only if seq >= the stored one) and prune `done`
 *        entries with stock_seq <= the recorded seq; then release the fences \p owner still
 *        holds (compare-and-delete). With applied = 0 it only releases.
 */
DH_NODISCARD dh_err_t dh_sl_commit(dh_redis_t *r, const char *store, const char *owner,
                                   const dh_sl_item_t *items, size_t n);

/** One claimed re-push. */
typedef struct dh_sl_repush {
    char facility[128];
    char sku[256];
    int64_t claim; /**< the score it was claimed with (ms) */
} dh_sl_repush_t;

/** @brief Claim up to \p max due re-pushes: each is re-scored to now + \p lease_ms, so a
 *  crashed claimer's come back after the lease. Members too long for dh_sl_repush_t or
 *  without '|' are removed. */
DH_NODISCARD dh_err_t dh_sl_repush_claim(dh_redis_t *r, const char *store, long long lease_ms,
                                         dh_sl_repush_t *out, size_t max, size_t *n);

/** @brief Remove a claimed re-push if its score is still the claim (an enqueue since then
 *  made it due again, and it stays). */
DH_NODISCARD dh_err_t dh_sl_repush_done(dh_redis_t *r, const char *store, const dh_sl_repush_t *c);

/** @brief Make a claimed re-push due again in \p delay_ms, if its score is still the claim
 *  (e.g. its fence was busy). */
DH_NODISCARD dh_err_t dh_sl_repush_later(dh_redis_t *r, const char *store, const dh_sl_repush_t *c,
                                         long long delay_ms);

#endif
