/*
 * dh-inventory internals shared by its modules: the process-wide state, per-lane
 * clients, metrics, and the three I/O steps (SKU resolution, the inventorySetQuantities
 * call, the full sync). The pure parts live in shareable.h, event.h and batch.h.
 */
#ifndef DH_INV_INVENTORY_H
#define DH_INV_INVENTORY_H

#include <stddef.h>

#include <pthread.h>
#include <stdint.h>

#include "batch.h"
#include "check.h"
#include "dockhand/metrics.h"
#include "dockhand/outcome.h"
#include "dockhand/shopify.h"
#include "dockhand/stores.h"
#include "dockhand/wms.h"
#include "dockhand/worker.h"
#include "event.h"

extern const dh_handler_t inv_handler;

/** What dh-inventory does with Shopify's business answers, per call (outcomes.c). */
extern const dh_outcome_rules_t inv_outcomes;

/** Follow-ups of its rules (dh_outcome_rule_t.action). */
enum {
    INV_ACT_ALL = 1, /**< The userError decides the whole call, not one quantity. */
    INV_ACT_NEW_KEY, /**< Call again at once with the next idempotency key. */
};

/* The names of its calls in the rules. */
#define INV_CALL_SET      "inventorySetQuantities"
#define INV_CALL_UNPLACED "inventorySetQuantities, no quantity named"
#define INV_CALL_VARIANTS "productVariants"

#define INV_BATCH_MAX 250

/** Why a full-sync row is rejected: inv_row_parse()'s labels. */
#define INV_ROW_REASONS 5
extern const char *const inv_row_reasons[INV_ROW_REASONS];

typedef struct inv_metrics {
    dh_counter_t *calls_ok, *calls_failed, *quantities, *moves_without_call, *stale;
    dh_counter_t *sync_pages, *sync_items, *lookup_catalog, *lookup_cache;
    dh_counter_t *lookup_shopify, *fence_waits, *repushes;
    dh_histogram_t *batch_size;
    dh_gauge_t *sync_running;
    dh_counter_t *rows_rejected[INV_ROW_REASONS]; /**< by inv_row_reasons[] */
} inv_metrics_t;

/** Per configured store (one series each, dh_stores_at index): the full sync's progress. */
typedef struct inv_sync_series {
    dh_gauge_t *rows;         /**< dh_inventory_sync_rows_done{store}: of the running slot */
    dh_gauge_t *pages;        /**< dh_inventory_sync_pages_done{store} */
    dh_gauge_t *last_success; /**< dh_inventory_sync_last_success_seconds{store} */
} inv_sync_series_t;

typedef struct inv_lane {
    dh_shopify_t *shopify;
    dh_wms_t *wms;
} inv_lane_t;

/** Per store: this replica's lanes' calls combined (combine.c). */
typedef struct inv_combine_s inv_combine_t;

/** Newest decoded event per message key (see newest.c). */
typedef struct inv_newest_s inv_newest_t;

typedef struct inv_shared {
    const dh_config_t *cfg;
    const dh_stores_t *stores; /* the runtime's (dh_worker_ctx_t) */
    char reason[64];
    char uri_prefix[128];
    long long item_ttl_s, page_size, lease_ms, grace_s, lookup_wait_max_s;
    long long fence_ms, http_ms; /**< DH_INVENTORY_FENCE_MS, DH_HTTP_TIMEOUT_MS */
    char owner[128];
    int64_t **slots; /**< per store (dh_stores_at index): sync slot instants */
    size_t *nslots;
    inv_metrics_t m; /**< Created at init. */
    dh_metrics_t *metrics;
    inv_sync_series_t *sync_series; /**< per store, made by inv_sync_init() */
    inv_newest_t *newest;
    inv_combine_t *combine; /**< per store; NULL: every lane calls on its own */
    long long hold_ms;      /**< DH_INVENTORY_CALL_HOLD_MS */
} inv_shared_t;

/** What decode() leaves in ev->data. */

/** This lane's clients: the lane state, made when the lane starts. */
inv_lane_t *inv_lane(dh_lane_t *lane);
/** The series, created at init. */
const inv_metrics_t *inv_metrics(const inv_shared_t *sh);

/* ---- newest decoded snapshot per key (newest.c) ---- */
inv_newest_t *inv_newest_new(void);
void inv_newest_destroy(inv_newest_t *t);
/** decode(): remember \p ev if its sequence is the highest seen for its key. */
void inv_newest_offer(inv_newest_t *t, const inv_event_t *ev);
/** handle: replace \p ev by the highest-sequence snapshot seen for its key, if newer.
 *  @returns 1 if replaced. */
int inv_newest_take(inv_newest_t *t, inv_event_t *ev);
/** After \p ev was applied (or found stale): forget the key unless a newer one came. */
void inv_newest_done(inv_newest_t *t, const inv_event_t *ev);

/* ---- SKU -> inventory item (catalog.c) ---- */
typedef enum inv_sku_status {
    INV_SKU_OK = 0,
    INV_SKU_UNKNOWN,
    INV_SKU_AMBIGUOUS,
    INV_SKU_FAILED, /**< the lookup call failed: see the resolve's outcome */
    INV_SKU_STUCK,  /**< throttled without progress for DH_INVENTORY_LOOKUP_WAIT_MAX_S */
} inv_sku_status_t;

typedef struct inv_sku {
    const char *sku;         /**< in (borrowed) */
    inv_sku_status_t status; /**< out */
    char item[96];           /**< out: gid://shopify/InventoryItem/N */
    char detail[160];        /**< out: why, when not OK */
} inv_sku_t;

/** Resolve \p n SKUs of \p store (catalogue record, cache, then Shopify). \p fail: why
 *  the INV_SKU_FAILED ones failed (the outcome table's; the longest wait of several). */
void inv_resolve_skus(inv_shared_t *sh, dh_lane_t *lane, const dh_store_t *store, inv_sku_t *s,
                      size_t n, dh_outcome_t *fail);

/* ---- inventorySetQuantities (push.c) ---- */
typedef struct inv_qres {
    int pending;    /**< Still to be pushed (inside inv_push() only). */
    int unsent;     /**< WAIT because the shared bucket (or a cooldown) refused the call
                         before it was sent: nothing reached Shopify. */
    dh_outcome_t o; /**< DONE: applied (or superseded); else why, for dh_batch_outcome(). */
} inv_qres_t;

/** Set on_hand for \p n quantities of one store (n <= 250) in one call (a few more on
 *  userErrors). One result per quantity, by the outcome table and inv_outcomes; duplicates
 *  of an item+location are DONE as superseded (q[i].dropped). No further call starts at or
 *  after \p deadline_ms (CLOCK_MONOTONIC ms; 0: none): those still pending WAIT.
 *  Through the store's combiner (combine.c): the quantities may travel in one call with
 *  other lanes' (the caller keeps its fences until this returns). */
void inv_push(inv_shared_t *sh, dh_lane_t *lane, const dh_store_t *store, const char *tag,
              inv_qty_t *q, size_t n, inv_qres_t *res, int64_t deadline_ms);
/** inv_push() of this lane alone (push.c). */
void inv_push_direct(inv_shared_t *sh, dh_lane_t *lane, const dh_store_t *store, const char *tag,
                     inv_qty_t *q, size_t n, inv_qres_t *res, int64_t deadline_ms);

/* ---- one call per store for the replica's lanes (combine.c) ---- */
inv_combine_t *inv_combine_new(size_t nstores);
void inv_combine_destroy(inv_combine_t *cb);

/* ---- fenced sets (apply.c) ---- */
typedef enum inv_set_what {
    INV_SET_NONE = 0,
    INV_SET_PUSHED,  /**< on_hand set in Shopify and recorded */
    INV_SET_SAME,    /**< unchanged zone move: recorded, no call */
    INV_SET_STALE,   /**< an equal or newer sequence was already recorded */
    INV_SET_NOTHING, /**< a re-push without any record: nothing to set */
    INV_SET_BUSY,    /**< a fence is held elsewhere: WAIT */
    INV_SET_FAILED,  /**< see o */
} inv_set_what_t;

/** One snapshot (or re-push) of a (location, sku) to set. */
typedef struct inv_set {
    const char *sku, *item, *location; /**< in (item: the inventory item GID) */
    const char *facility;              /**< in: whose snapshot (NULL for a re-push) */
    int64_t seq, base;                 /**< in: the snapshot; seq -1: none (re-push) */
    int equal_ok;                      /**< in: a snapshot at the recorded sequence applies */
    int same_no_call;                  /**< in: no call when on_hand is the last pushed */
    inv_set_what_t what;               /**< out */
    int64_t qty;                       /**< out: on_hand set (or found unchanged), else -1 */
    dh_outcome_t o;                    /**< out: DONE, WAIT (fence), or why */
} inv_set_t;

/** Set on_hand for \p n (<= 250) snapshots of one store under the SKU fences: per
 *  (location, sku) max(0, sum over the location's facilities of base + ledger adj). */
void inv_apply(inv_shared_t *sh, dh_lane_t *lane, const dh_store_t *store, const char *tag,
               inv_set_t *s, size_t n);

/* ---- the applied-sequence records (push.c) ---- */
/** Redis hash of one store's applied sequences: field "<facility>|<sku>" ->
 *  "<seq> <base> <pushed>" (stockledger.h; old records "<seq> <qty>"). */
void inv_seq_key(const char *store, char *buf, size_t size);
/** Read the records of \p n fields: seq (-1 if none) and base (-1 if none). */
dh_err_t inv_seq_read(dh_redis_t *r, const char *store, const char *const *fields, size_t n,
                      int64_t *seq, int64_t *qty);

/* ---- the re-push queue (repush.c) ---- */
/** From tick(): per store, claim due re-pushes (a bounded number) and set each (facility,
 *  sku)'s location from the records under the fences. */
void inv_repush_tick(inv_shared_t *sh, dh_lane_t *lane);

/* ---- full sync (sync.c) ---- */
void inv_tick(void *shared, dh_lane_t *lane);
dh_err_t inv_sync_init(inv_shared_t *sh, char *errstr, size_t errstr_size);
void inv_sync_fini(inv_shared_t *sh);

#endif
