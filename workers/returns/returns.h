/*
 * dh-returns: Return Prime requests -> WMS returns (docs/returns.md).
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
    RETURNS_CANCEL,     /**< Cancel the WMS return (rejected/archived before receipt). */
    RETURNS_RECEIVE,    /**< wms.return_received: mark the Return Prime request received. */
    RETURNS_COURIER,    /**< wms.return_received of an RTO: no Return Prime request. */
} returns_action_t;

/**
 * @brief What a webhook asks for (the table in docs/returns.md): any topic of the contract
 *        (request/created ... request/updated) creates the return when the request's
 *        current status is in \p create_mask (default: approved, received, inspected);
 *        status rejected, or archived before Return Prime recorded a receipt, cancels it
 *        (returns_cancels()); anything else is skipped; the topic is only the trigger.
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

/** @brief RETURNS_CANCEL or RETURNS_SKIP for a request \p action left at RETURNS_SKIP:
 *  rejected cancels; archived cancels unless the request says it was received (an
 *  archive after a completed return is routine). */
returns_action_t returns_cancels(const returns_request_t *r);

/** @brief The updateReturn body of a createReturn body: its lines, awb and carrier. */
json_t *returns_update_body(json_t *wms_body);
/** @brief 12 hex characters naming the content (lines, awb, carrier) of a createReturn
 *  body: part of the effect id, so a request whose items change is a new effect.
 *  @returns 0, or -1 (out of memory). */
int returns_content_tag(json_t *wms_body, char out[13]);
/** @brief 1 when two return bodies have the same lines, awb and carrier. */
int returns_same_content(json_t *a, json_t *b);

/** @brief The cancelReturn body: {"reason": "Return Prime request <status>"}. */
json_t *returns_cancel_body(const returns_request_t *r);

/* ---- received.c: wms.return_received -> Return Prime ---- */

#include "dockhand/validate.h"

/** A parsed wms.return_received event; strings borrowed from root (owned here). */
typedef struct returns_receipt {
    json_t *root;
    dh_wms_envelope_t env;
    const char *return_id;
    const char *request_id; /**< NULL for a courier return */
    const char *received_at;
    json_t *lines; /**< borrowed from root */
    int courier;   /**< return_type COURIER_RETURN (RTO): not a Return Prime request */
} returns_receipt_t;

/** @brief Parse and validate one wms.return_received value (ajv-style reasons). */
returns_parse_t returns_receipt_parse(const char *buf, size_t len, returns_receipt_t *out,
                                      char *err, size_t err_size);
void returns_receipt_clear(returns_receipt_t *r);

/** @brief Return Prime's receive body: {received_at, line_items: [{id, quantity,
 *  qc_status: passed|failed, inspection_notes}]} (docs/returns.md). New reference. */
json_t *returns_rp_receipt_body(const returns_receipt_t *r);

/** @brief \p s percent-encoded but for RFC 3986 unreserved characters (a path segment). */
void returns_url_encode(const char *s, char *out, size_t size);

/** @brief 1 when \p topic is a wms.return_received topic (its name ends so). */
int returns_is_receipt_topic(const char *topic);

/* ---- exchange.c: when an exchange's replacement ships ---- */

typedef enum returns_release {
    RETURNS_RELEASE_NONE = 0, /**< dh-returns releases nothing (dh-orders follows Shopify). */
    RETURNS_RELEASE_APPROVAL, /**< the request is approved (and names its exchange order) */
    RETURNS_RELEASE_PICKUP,   /**< the reverse pickup is done (a shipping status "picked") */
    RETURNS_RELEASE_RECEIPT,  /**< the WMS received the return (wms.return_received) */
    RETURNS_RELEASE_QC_PASS,  /**< ... and every received line passed QC */
} returns_release_t;

/** DH_RETURNS_EXCHANGE_RELEASE: a default policy and per-store ones. */
typedef struct returns_policy {
    returns_release_t dflt;
    struct {
        char name[256]; /**< store domain */
        returns_release_t policy;
    } stores[32];
    size_t n;
} returns_policy_t;

/** @brief Parse "policy,<store>=policy,...". @returns 0, or -1 with the reason. */
int returns_release_parse(const char *spec, returns_policy_t *out, char *err, size_t err_size);
/** @brief The policy of store \p domain (its own, else the default). */
returns_release_t returns_release_for(const returns_policy_t *p, const char *domain);
const char *returns_release_name(returns_release_t p);
/** @brief 1 when a webhook of \p r (a creating status) is \p policy's moment: always for
 *  on_approval; for on_pickup a shipping status containing "picked" (assumed field
 *  line_items[].shipping[].status) or a status received/inspected. */
int returns_release_now(returns_release_t policy, const returns_request_t *r);
int returns_picked_up(const returns_request_t *r);
/** @brief 1 when every line of \p r passed QC. */
int returns_receipt_all_pass(const returns_receipt_t *r);
/** @brief request.exchange.order.id as digits into \p out. @returns 0, or -1 if none. */
int returns_exchange_order(const returns_request_t *r, char *out, size_t size);

/* ---- handler.c ---- */

extern const dh_handler_t returns_handler;

#endif
