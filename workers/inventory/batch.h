/*
 * Pure helpers of the inventory worker's batching (docs/inventory.md §4): the quantities
 * of one inventorySetQuantities call, their de-duplication, the call's idempotency key,
 * userError field paths, and the twice-daily sync slots. No I/O.
 */
#ifndef DH_INV_BATCH_H
#define DH_INV_BATCH_H

#include <stddef.h>

#include <jansson.h>
#include <stdint.h>

/** One quantity of a call. */
typedef struct inv_qty {
    const char *item;     /**< gid://shopify/InventoryItem/... (borrowed) */
    const char *location; /**< gid://shopify/Location/... (borrowed) */
    int64_t qty;          /**< on_hand to set */
    int64_t seq;          /**< the WMS sequence it comes from */
    size_t src;           /**< caller's index (batch item or sync row) */
    int dropped;          /**< set by inv_qty_dedupe() for a superseded duplicate */
} inv_qty_t;

/**
 * @brief Keep one quantity per (item, location): the one with the highest sequence (the
 *        earliest on a tie). The others get dropped = 1; order is kept.
 * @returns The number kept.
 */
size_t inv_qty_dedupe(inv_qty_t *q, size_t n);

/**
 * @brief Hash of a call's content: \p store, \p tag ("ev" or "sync:<slot>"), \p name,
 *        \p reason and the sorted item|location|qty|seq list of the kept quantities, as
 *        64 hex chars. The same content always yields the same hash whatever the order.
 */
void inv_batch_hash(const char *store, const char *tag, const char *name, const char *reason,
                    const inv_qty_t *q, size_t n, char out[65]);

/** @brief The quantity index in a userError field path such as
 *         ["input","quantities","3","changeFromQuantity"], or -1. */
long inv_user_error_index(const json_t *field);

/**
 * @brief Sync slots: local 00:00 and 12:00 of each day as UTC epoch seconds, for
 *        \p days days starting at the local day containing \p from, in the zone that
 *        the C library currently uses (TZ). Not thread-safe (mktime); call with the
 *        process single-threaded (handler init).
 * @returns The number of slots written (2 * days, at most \p cap).
 */
size_t inv_slots_compute(int64_t from, int days, int64_t *slots, size_t cap);

/** @brief The latest slot <= \p now in a sorted table, or -1. */
int64_t inv_slot_current(const int64_t *slots, size_t n, int64_t now);

#endif
