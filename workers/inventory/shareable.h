/*
 * The quantities dockhand derives from one WMS stock snapshot (docs/inventory.md §2).
 * Pure functions: no I/O, no allocation, defined for every input (negative or huge
 * values from a buggy producer are clamped, never overflow).
 */
#ifndef DH_INV_SHAREABLE_H
#define DH_INV_SHAREABLE_H

#include <stdint.h>

/** One SKU's stock at one facility after an event (schemas/common.v1 "stock"). */
typedef struct inv_stock {
    int64_t good_online;
    int64_t allocated;
    int64_t safety_stock;
    int64_t damaged;
    int64_t quarantined;
    int64_t good_offline;
    int64_t picked; /**< Optional in the contract (0 when absent): picked, not yet dispatched. */
} inv_stock_t;

/** Largest quantity Shopify accepts (INVALID_QUANTITY_TOO_HIGH above it). */
#define INV_QTY_MAX 1000000000LL

/**
 * @brief What Shopify may sell: max(0, good_online - allocated - safety_stock), capped at
 *        INV_QTY_MAX. Damaged, quarantined and good_offline never count. Negative inputs
 *        count as 0.
 */
int64_t inv_shareable(const inv_stock_t *s);

/**
 * @brief A facility's base, its share of Shopify's on_hand before the shipment ledger's
 *        adjustment: max(0, good_online + picked - safety_stock), capped at INV_QTY_MAX.
 *        Units allocated or picked for undispatched orders stay in it because Shopify
 *        holds them as `committed` and subtracts them itself (docs/inventory.md §1).
 */
int64_t inv_target_on_hand(const inv_stock_t *s);

#endif
