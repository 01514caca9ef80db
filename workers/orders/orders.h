/*
 * dh-orders: Shopify orders -> WMS sales orders (flow 2 of docs/brief.md; docs/orders.md).
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
enum { ORDERS_ACT_LOOKUP = 1, ORDERS_ACT_CREATE_FIRST };

/** What dh-orders does with each WMS business answer, per call (outcomes.c). */
extern const dh_outcome_rules_t orders_outcomes;

/** What an event asks of the WMS (from its dh-topic). */
typedef enum orders_kind {
    ORDERS_CREATE = 0,    /**< orders/create */
    ORDERS_CANCELLED,     /**< orders/cancelled */
    ORDERS_UPDATED,       /**< orders/updated */
    ORDERS_HOLD_RELEASED, /**< fulfillment_holds/released */
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

/**
 * @brief Check what the mapping needs of a REST order and build the WMS createSalesOrder
 *        body (schemas/wms-api.openapi.yaml SalesOrderCreate).
 * @param store      The store's domain.
 * @param order      Borrowed REST order.
 * @param hold_tags  DH_ORDERS_HOLD_TAGS.
 * @param body       Out: new reference, or NULL on error.
 * @param held       Out: 1 when the order is created ON_HOLD.
 * @returns 0, or -1 with a reason naming the offending field in \p errstr.
 */
int orders_wms_create_body(const char *store, json_t *order, const char *hold_tags, json_t **body,
                           int *held, char *errstr, size_t errstr_size);

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

/* ---- handler.c / reconcile.c ---- */

/** Process-wide state of the worker. */
typedef struct orders_shared orders_shared_t;

/** @brief The reconciliation pass; called from the handler's tick(). */
void orders_reconcile_tick(orders_shared_t *s, dh_lane_t *lane);

#endif
