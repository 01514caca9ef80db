/*
 * Parsing and validation of wms.putaway / wms.zone_move events (schema_version 1) into
 * a fixed-size struct. Pure: no I/O and no configuration; the store and location are
 * resolved by the handler afterwards. The checks mirror the JSON Schemas in schemas/
 * (required fields, types, bounds, patterns, closed `stock`), and error messages use the
 * ajv style "<instance path> <message>" so a dead letter names the offending field.
 */
#ifndef DH_INV_EVENT_H
#define DH_INV_EVENT_H

#include <stddef.h>

#include <jansson.h>
#include <stdint.h>

#include "shareable.h"

typedef enum inv_kind {
    INV_ANY = 0, /**< Accept either type (topic name not recognised). */
    INV_PUTAWAY,
    INV_ZONE_MOVE,
} inv_kind_t;

typedef enum inv_parse {
    INV_PARSE_OK = 0,
    INV_PARSE_DECODE, /**< Not JSON or not an object. */
    INV_PARSE_SCHEMA, /**< Violates the contract (including an unknown schema_version). */
} inv_parse_t;

typedef struct inv_event {
    inv_kind_t kind;
    char event_id[40];
    char tenant[72];
    char store[264];
    char scope[264]; /**< store if present, else tenant: the key's first part. */
    char facility[72];
    char sku[1024]; /**< Up to 255 code points of UTF-8. */
    int64_t sequence;
    int crosses; /**< Putaway: 1. Zone move: from_class != to_class. */
    inv_stock_t stock;
} inv_event_t;

/**
 * @brief Parse and validate one event.
 * @param expect  The type the topic carries, or INV_ANY.
 * @param err     On failure: the reason, e.g. "/stock/allocated must be >= 0".
 */
inv_parse_t inv_event_parse(const char *buf, size_t len, inv_kind_t expect, inv_event_t *out,
                            char *err, size_t err_size);

/** @brief The kind a topic name implies ("...putaway" / "...zone_move"), else INV_ANY. */
inv_kind_t inv_kind_of_topic(const char *topic);

/** @brief Non-zero if \p key (not NUL-terminated) is "<scope>|<facility>|<sku>". */
int inv_key_matches(const inv_event_t *ev, const char *key, size_t key_len);

/** One row of the WMS's sellable inventory (GET /wms/v1/inventory/sellable, the full sync). */
typedef struct inv_row {
    char facility[72];
    char sku[1024];
    int64_t sequence;
    inv_stock_t stock;
} inv_row_t;

/**
 * @brief Validate one sellable-inventory row like an event's fields: facility, sku,
 *        sequence and the closed `stock` with every bucket required (never read as 0).
 * @param err  On failure: the ajv-style reason, e.g. "/stock must have required property
 *             'safety_stock'".
 * @returns NULL when valid, else the reason's label for
 *          dh_inventory_sync_rows_rejected_total{reason}: "missing", "type", "range",
 *          "pattern" or "additional_property".
 */
const char *inv_row_parse(json_t *row, inv_row_t *out, char *err, size_t err_size);

#endif
