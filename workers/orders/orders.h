/*
 * dh-orders: Shopify orders -> WMS sales orders (docs/orders.md).
 *
 * This header is private to workers/orders/. mapping.c holds the pure core (no I/O):
 * validating a REST order, building the WMS request bodies, detecting a Return Prime
 * exchange by its tags, and turning a GraphQL order node (reconciliation) into the REST
 * shape the handler consumes. handler.c performs the effects; reconcile.c is the scheduled
 * pass.
 */
#ifndef DH_ORDERS_H
#define DH_ORDERS_H

#include <stddef.h>

#include <jansson.h>
#include <stdint.h>

#include "dockhand/config.h"
#include "dockhand/err.h"
#include "dockhand/outcome.h"
#include "dockhand/worker.h"

/** Rate-limit group and idempotency namespace of every WMS call. */
#define ORDERS_WMS_GROUP "orders"
#define ORDERS_IDEM_NS   "orders"

/** Follow-ups of dh-orders' rules (dh_outcome_rule_t.action). */
enum { ORDERS_ACT_LOOKUP = 1, ORDERS_ACT_CREATE_FIRST, ORDERS_ACT_CHECK_UNSENT };

/** What dh-orders does with each WMS business answer, per call (outcomes.c). */
extern const dh_outcome_rules_t orders_outcomes;

/** What an event asks of the WMS (from its dh-topic). */
typedef enum orders_kind {
    ORDERS_CREATE = 0,     /**< orders/create */
    ORDERS_CANCELLED,      /**< orders/cancelled */
    ORDERS_UPDATED,        /**< orders/updated */
    ORDERS_HOLD_RELEASED,  /**< fulfillment_holds/released */
    ORDERS_HOLD_ADDED,     /**< fulfillment_holds/added */
    ORDERS_REFUND_CREATED, /**< refunds/create */
} orders_kind_t;

/**
 * @brief Map a dh-topic header value to a kind.
 * @returns 0, or -1 for a topic this worker does not handle.
 */
int orders_kind_parse(const char *topic, size_t len, orders_kind_t *out);

/** @brief 1 if the comma-separated \p tags contain one of the comma-separated
 *  \p hold_tags (whole tags, trimmed, case-insensitive); the matching tag is copied to
 *  \p which (may be NULL). */
int orders_hold_tag(const char *tags, const char *hold_tags, char *which, size_t which_size);

/** @brief "499.0" / "499" / "499.000" -> "499.00": trailing zeros dropped, at least two
 *  decimals. @returns 0, or -1 if \p in is not a decimal string. */
int orders_decimal(const char *in, char *out, size_t size);

/** @brief Parse an RFC 3339 time ("...Z" or "...+05:30", optional fraction) to Unix
 *  seconds. @returns 0 or -1. */
int orders_time_parse(const char *in, int64_t *out);
/** @brief Format Unix seconds as "YYYY-MM-DDTHH:MM:SSZ" (21 bytes incl. NUL). */
void orders_time_format(int64_t t, char *out, size_t size);
/** @brief Normalise an RFC 3339 time to UTC "...Z" (fraction dropped). @returns 0 or -1. */
int orders_time_utc(const char *in, char *out, size_t size);

/** How one store's orders map (its policies, resolved by the handler). */
typedef struct orders_map_opts {
    const char *hold_tags; /**< DH_ORDERS_HOLD_TAGS: a Return Prime exchange is held. */
    int hold_pending;      /**< 1: a pending payment other than cash on delivery is held. */
} orders_map_opts_t;

/** The lines of an order by where they go (arrays, owned by the caller). */
typedef struct orders_lines {
    json_t *lines;        /**< to pick and ship */
    json_t *non_shipping; /**< gift cards, digital goods: recorded, never picked */
    json_t *unmapped;     /**< must ship but carry no SKU: the order is held missing-sku */
} orders_lines_t;

/**
 * @brief Check what the mapping needs of a REST order and build the WMS createSalesOrder
 *        body (schemas/wms-api.openapi.yaml SalesOrderCreate) from the lines' current
 *        quantities.
 * @param store      The store's domain.
 * @param order      Borrowed REST order.
 * @param opts       The store's policies.
 * @param body       Out: new reference, or NULL unless 0 is returned.
 * @param held       Out: 1 when the order is created ON_HOLD (body's hold_code says why).
 * @returns 0; 1 when nothing is left to ship (no body; \p errstr says why); or -1 with a
 *          reason naming the offending field in \p errstr.
 */
int orders_wms_create_body(const char *store, json_t *order, const orders_map_opts_t *opts,
                           json_t **body, int *held, char *errstr, size_t errstr_size);

/** @brief 1 if a payment gateway name means cash on delivery: Shopify's manual method
 *  "Cash on Delivery (COD)", a COD app's name containing "cash on delivery", or "cod". */
int orders_is_cod_gateway(const char *name);

/** @brief The numeric tail of a GID ("gid://shopify/LineItem/7" -> 7) as a new JSON
 *  integer, or NULL. */
json_t *orders_gid_int(json_t *gid);

/** @brief The WMS facility of a Shopify location GID, or NULL when it is not one. */
typedef const char *(*orders_facility_fn)(void *ud, const char *location_gid);

/**
 * @brief Route a create body by the order's fulfillment orders (the "nodes" of
 *        order.fulfillmentOrders, DH_GQL_ORDER_FULFILLMENT_ORDERS): each line to ship keeps
 *        "facility" when its fulfillment order is at a WMS location, else it moves to
 *        other_location_lines; a kept line of a SCHEDULED fulfillment order holds the order
 *        ("scheduled") unless it is held already. A line no fulfillment order lists stays.
 * @returns The lines left to ship (0: nothing for the WMS), or -1 if \p body is unusable.
 */
int orders_route_lines(json_t *body, json_t *fo_nodes, orders_facility_fn facility, void *ud);

/**
 * @brief A per-store policy: \p spec is "<default>[,<store>=<value>...]" and each value is
 *        \p v0 or \p v1 (e.g. "skip,dev.myshopify.com=send").
 * @returns 0 for \p v0, 1 for \p v1 (the store's value, else the default), -1 if \p spec
 *          is malformed (the reason in \p errstr, may be NULL).
 */
int orders_policy(const char *spec, const char *store, const char *v0, const char *v1, char *errstr,
                  size_t errstr_size);

/** @brief The cancelSalesOrder body {reason?, cancelled_at} (cancelled_at, else updated_at).
 *  @returns A new reference, or NULL with \p errstr. */
json_t *orders_wms_cancel_body(json_t *order, char *errstr, size_t errstr_size);

/** @brief The order id of a REST order as a string of digits. @returns 0 or -1. */
int orders_order_id(json_t *order, char *out, size_t size);

/**
 * @brief Convert an order node (DH_GQL_ORDER_FOR_RECONCILE, or the decision-only nodes of
 *        DH_GQL_ORDERS_UPDATED_SINCE: then without lines) into the REST order shape (what
 *        a webhook would carry, as far as the mapping reads it).
 * @returns A new reference, or NULL with \p errstr.
 */
json_t *orders_from_gql_node(json_t *node, char *errstr, size_t errstr_size);

/**
 * @brief The (location, SKU) pairs a REST refund (refunds/create payload) restocked:
 *        refund_line_items whose restock_type is "return", "cancel" or "legacy_restock",
 *        with a location_id (integer, digits or Location GID) and line_item.sku; each pair
 *        once. Shopify's REST Refund resource.
 * @param skipped  Out: restocked lines left out for lack of a location or a SKU.
 * @returns A new array of {"location": "<digits>", "sku": "<sku>"}.
 */
json_t *orders_refund_restocks(json_t *refund, size_t *skipped);

/* ---- handler.c / reconcile.c ---- */

/** Process-wide state of the worker. */
typedef struct orders_shared orders_shared_t;

/** @brief The reconciliation pass; called from the handler's tick(). */
void orders_reconcile_tick(orders_shared_t *s, dh_lane_t *lane);

#endif
