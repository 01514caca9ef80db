/*
 * dh-returns: Return Prime requests -> WMS returns (flow 4 of docs/brief.md;
 * docs/returns.md).
 *
 * This header is private to workers/returns/. mapping.c is the pure core (no I/O):
 * parsing and validating a returnprime.cir value, deciding from the webhook topic and the
 * request's status whether it creates a return, and building the WMS createReturn body.
 * handler.c performs the effect.
 */
#ifndef DH_RETURNS_H
#define DH_RETURNS_H

#include <stddef.h>

#include <jansson.h>

#include "dockhand/outcome.h"
#include "dockhand/worker.h"

/** Rate-limit group and idempotency namespace of the WMS call. */
#define RETURNS_WMS_GROUP "returns"
#define RETURNS_IDEM_NS   "returns"

/** What dh-returns does with each WMS business answer (outcomes.c). */
extern const dh_outcome_rules_t returns_outcomes;

typedef enum returns_parse {
    RETURNS_PARSE_OK = 0,
    RETURNS_PARSE_DECODE, /**< Not JSON or not an object. */
    RETURNS_PARSE_SCHEMA, /**< Violates schemas/events/returnprime.cir.v1.schema.json. */
} returns_parse_t;

/** A parsed request. Strings are borrowed from \p root (owned here) or copied: valid
 *  until returns_request_clear(). */
typedef struct returns_request {
    json_t *root;
    json_t *request;    /**< root.request (borrowed from root). */
    char id[256];       /**< request.id as text (a number in decimal). */
    char number[1024];  /**< request_number as text; "" when too long (see body). */
    char order_id[24];  /**< order.id, digits. */
    const char *type;   /**< "return" | "exchange" */
    const char *status; /**< pending|approved|received|inspected|refunded|rejected|archived */
} returns_request_t;

/**
 * @brief Parse and validate one returnprime.cir value against the fields the contract
 *        requires (ajv-style reasons: "/request/line_items/0/quantity must be >= 1").
 */
returns_parse_t returns_request_parse(const char *buf, size_t len, returns_request_t *out,
                                      char *err, size_t err_size);
void returns_request_clear(returns_request_t *r);

/** Return Prime statuses as bits (returns_statuses_parse()). */
#define RETURNS_DEFAULT_STATUSES "approved,received,inspected"

/**
 * @brief Parse a comma-separated list of Return Prime statuses (DH_RETURNS_CREATE_STATUSES)
 *        into a bit mask.
 * @returns 0, or -1 with the unknown word in \p err.
 */
int returns_statuses_parse(const char *list, unsigned *mask, char *err, size_t err_size);

typedef enum returns_action {
    RETURNS_CREATE = 0, /**< Create the return in the WMS. */
    RETURNS_SKIP,       /**< Acknowledge without a call (counted as skipped). */
    RETURNS_BAD_TOPIC,  /**< dh-topic outside the contract: dead letter. */
} returns_action_t;

/**
 * @brief What a webhook asks for (the table in docs/returns.md): any topic of the contract
 *        (request/created ... request/updated) creates the return when the request's
 *        current status is in \p create_mask (default: approved, received, inspected), and
 *        is skipped otherwise; the topic is only the trigger.
 * @param topic  The dh-topic header (not NUL-terminated, \p len bytes).
 */
returns_action_t returns_action(const char *topic, size_t len, const char *status,
                                unsigned create_mask);

/**
 * @brief The createReturn body (schemas/wms-api.openapi.yaml ReturnCreate) for \p store.
 *        An exchange yields its return leg only (type EXCHANGE; exchange_order_id when
 *        Return Prime already names the replacement order).
 * @param err_class  Out on failure: "missing-sku" (a line without SKU) or "invalid-request"
 *                   (a value the WMS contract cannot carry: too long, not digits...).
 * @returns A new reference, or NULL with the class and a reason naming the field.
 */
json_t *returns_wms_body(const returns_request_t *r, const char *store, const char **err_class,
                         char *err, size_t err_size);

/* ---- handler.c ---- */

extern const dh_handler_t returns_handler;

#endif
