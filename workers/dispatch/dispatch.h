/*
 * dh-dispatch: WMS dispatches and delivery statuses -> Shopify fulfillments and fulfillment
 * events (docs/dispatch.md).
 *
 * This header is private to workers/dispatch/. mapping.c is the pure core (no I/O):
 * parsing a wms.dispatch event, mapping a courier status to a FulfillmentEventStatus,
 * finding a fulfillment by tracking number in an order, and planning the
 * fulfillmentCreate calls from the order's fulfillment orders. handler.c performs the
 * effects.
 */
#ifndef DH_DISPATCH_H
#define DH_DISPATCH_H

#include <stddef.h>

#include <jansson.h>
#include <stdint.h>

#include "dockhand/outcome.h"
#include "dockhand/stockledger.h"
#include "dockhand/validate.h"
#include "dockhand/worker.h"

typedef enum dispatch_kind {
    DISPATCH_SHIPMENT = 0, /**< event_type "dispatch" */
    DISPATCH_STATUS,       /**< event_type "delivery_status" */
} dispatch_kind_t;

typedef enum dispatch_parse {
    DISPATCH_PARSE_OK = 0,
    DISPATCH_PARSE_DECODE, /**< Not JSON or not an object. */
    DISPATCH_PARSE_SCHEMA, /**< Violates schemas/events/wms.dispatch.v1.schema.json. */
} dispatch_parse_t;

/** One shipped line: strings borrowed from the event's JSON. */
typedef struct dispatch_line {
    const char *sku;
    const char *line_item_id; /**< channel_line_item_id: digits. */
    int64_t quantity;
    int64_t stock_seq; /**< stock_sequence (the SKU's stock sequence at the facility when the
                            units left), -1 when the WMS sent none. */
} dispatch_line_t;

/** A parsed event. Strings are borrowed from \p root (owned here): valid until
 *  dispatch_event_clear(). Optional strings are NULL when absent. */
typedef struct dispatch_event {
    json_t *root;
    dispatch_kind_t kind;
    dh_wms_envelope_t env;
    const char *shipment_id;
    const char *order_id; /**< channel_order_id: digits. */
    const char *order_name;
    int64_t sequence;
    /* carrier: required for a dispatch, optional for a status */
    const char *company, *tracking_number, *tracking_url; /**< tracking_url NULL for null. */
    /* dispatch */
    const char *facility;
    dispatch_line_t *lines;
    size_t nlines;
    /* delivery_status */
    const char *status, *carrier_status, *happened_at;
    const char *city, *province, *country, *zip, *message;
} dispatch_event_t;

/**
 * @brief dh-dispatch's checks of a message before any effect, shared by its decode() and
 *        dh-ops validate: the contract (dispatch_event_parse()), the key and the store.
 * @param store  Out: the event's store (borrowed from \p stores) when it passes.
 * @returns NULL when the worker would apply it; else the dead-letter class ("decode",
 *          "schema", "unknown-store") with the reason in \p err. Clear \p ev either way.
 */
const char *dispatch_event_check(const dh_stores_t *stores, const dh_msg_t *msg,
                                 dispatch_event_t *ev, const dh_store_t **store, char *err,
                                 size_t size);

/**
 * @brief Parse and validate one wms.dispatch value.
 * @param err  On failure: the reason, ajv style ("/lines/1/quantity must be >= 1").
 */
dispatch_parse_t dispatch_event_parse(const char *buf, size_t len, dispatch_event_t *out, char *err,
                                      size_t err_size);
void dispatch_event_clear(dispatch_event_t *ev);

/** @brief Non-zero if \p key (not NUL-terminated) is "<store-or-tenant>|<channel_order_id>". */
int dispatch_key_matches(const dispatch_event_t *ev, const char *key, size_t key_len);

/**
 * @brief The Shopify FulfillmentEventStatus for a WMS status (the table in docs/dispatch.md).
 * @param failure  Out: 1 when Shopify has no equivalent and FAILURE stands for it (RTO_*,
 *                 LOST, DAMAGED, CANCELLED): the message then carries carrier_status.
 * @returns The status, or NULL for a value outside the contract's enum.
 */
const char *dispatch_status_map(const char *wms_status, int *failure);

/** Which order tag a delivery status adds (docs/dispatch.md, the status table). */
typedef enum dispatch_tag {
    DISPATCH_TAG_NONE = 0,
    DISPATCH_TAG_RTO,  /**< RTO_INITIATED, RTO_IN_TRANSIT, RTO_DELIVERED: DH_DISPATCH_RTO_TAG */
    DISPATCH_TAG_LOST, /**< LOST: DH_DISPATCH_LOST_TAG */
} dispatch_tag_t;

/** @brief The order tag \p wms_status adds (DISPATCH_TAG_NONE for most). */
dispatch_tag_t dispatch_status_tag(const char *wms_status);

/** @brief The fulfillmentEventCreate variables for \p fulfillment_gid.
 *  @returns A new reference. */
json_t *dispatch_event_vars(const dispatch_event_t *ev, const char *fulfillment_gid);

/**
 * @brief The fulfillments of \p order (data.order of DH_GQL_ORDER_FULFILLMENTS, borrowed)
 *        that carry \p tracking_number and are not cancelled or failed: what a dispatch
 *        created before a crash let it record them.
 * @returns A new array of {"id": gid, "location": gid or null}.
 */
json_t *dispatch_find_fulfillments(json_t *order, const char *tracking_number);

/** @brief Space-separated gids of \p list ({"id": ...} objects) appended to \p buf. */
void dispatch_join_ids(json_t *list, char *buf, size_t size);
/** @brief 1 if a fulfillment of \p adopted covers plan group \p group: it is at the
 *  group's location, or Shopify did not say where it is. */
int dispatch_covered(json_t *adopted, json_t *group);
/** @brief 1 if \p list ({"id": ...} objects) holds \p gid. */
int dispatch_listed(json_t *list, const char *gid);

typedef enum dispatch_plan_rc {
    DISPATCH_PLAN_OK = 0,    /**< groups filled (maybe empty: everything already fulfilled). */
    DISPATCH_PLAN_UNKNOWN,   /**< A line item id is not on the order: dead letter. */
    DISPATCH_PLAN_CLOSED,    /**< A line is left only on cancelled fulfillment orders: dead
                                  letter (the order was cancelled in Shopify). */
    DISPATCH_PLAN_BLOCKED,   /**< A line is left at the location only on fulfillment orders
                                  that cannot be fulfilled yet (ON_HOLD, SCHEDULED...): wait. */
    DISPATCH_PLAN_ELSEWHERE, /**< Units of a line are left only on fulfillment orders at other
                                  locations: dead letter, never fulfilled from there. */
} dispatch_plan_rc_t;

typedef struct dispatch_plan {
    /** [{"location": gid, "lineItemsByFulfillmentOrder": [{"fulfillmentOrderId": gid,
     *  "fulfillmentOrderLineItems": [{"id": gid, "quantity": n}]}]}]: one entry per
     *  location, hence one fulfillmentCreate call each (Shopify requires one order and one
     *  location per call). New reference. */
    json_t *groups;
    int64_t skipped; /**< Units not planned because nothing remains to fulfil. */
    int64_t capped;  /**< Of those, units of lines only partly left (capped). */
} dispatch_plan_t;

/**
 * @brief Plan the fulfillments of a dispatch from \p order (data.order of
 *        DH_GQL_ORDER_FULFILLMENT_ORDERS, borrowed): each line goes to the fulfillment order
 *        line items of its line item with remainingQuantity > 0 on OPEN or IN_PROGRESS
 *        fulfillment orders at \p location (the dispatching facility's; NULL = none), capped
 *        at what remains; lines fully fulfilled already are skipped. Units left only at other
 *        locations are DISPATCH_PLAN_ELSEWHERE: a location never ships another's stock.
 * @param err  The reason for a non-OK result.
 */
dispatch_plan_rc_t dispatch_plan_build(const dispatch_event_t *ev, json_t *order,
                                       const char *location, dispatch_plan_t *plan, char *err,
                                       size_t err_size);
void dispatch_plan_clear(dispatch_plan_t *plan);

/** @brief The fulfillmentCreate variables for one plan group: tracking company (Shopify's
 *  name for a known carrier, dispatch_carrier_name()) and number, url when the event has
 *  one, else for a carrier Shopify does not know from \p url_templates (may be NULL).
 *  @returns A new reference. */
json_t *dispatch_create_vars_ex(const dispatch_event_t *ev, json_t *group, int notify_customer,
                                const char *url_templates);
/** @brief The fulfillmentTrackingInfoUpdate variables: \p fulfillment_gid gets the event's
 *  tracking (as in dispatch_create_vars_ex()). @returns A new reference. */
json_t *dispatch_retrack_vars(const dispatch_event_t *ev, const char *fulfillment_gid,
                              int notify_customer, const char *url_templates);
/** @brief dispatch_create_vars_ex() without URL templates. */
json_t *dispatch_create_vars(const dispatch_event_t *ev, json_t *group, int notify_customer);

/* ---- carriers.c ---- */

/**
 * @brief Shopify's supported tracking-company name for a WMS courier spelling (compared by
 *        letters and digits, any case: "BLUE DART" -> "Bluedart").
 * @param known  Out: 1 when Shopify lists the courier, 0 otherwise.
 * @returns Shopify's name (static), or \p wms_company as given when unknown.
 */
const char *dispatch_carrier_name(const char *wms_company, int *known);

/** @brief Builds \p out from the template of \p company in \p templates
 *  ("<carrier>=<url with {number}>,..."; carriers compared like dispatch_carrier_name()).
 *  @returns 1 if built, 0 if \p company has no template. */
int dispatch_tracking_url(const char *templates, const char *company, const char *number, char *out,
                          size_t size);

/** @brief 0 if \p templates is well formed, else -1 with the reason in \p err. */
int dispatch_url_templates_check(const char *templates, char *err, size_t err_size);

/* ---- ledger.c: the shipment ledger (dockhand/stockledger.h) ---- */

/** How long a fulfillment waits for a held stock fence (a wait, not an attempt). */
#define DISPATCH_FENCE_WAIT_MS 200

/** One shipment's ledger lines, made at decode and kept across its attempts. */
typedef struct dispatch_ledger {
    dh_sl_line_t *lines; /**< One per event line; facility and sku borrowed from the event. */
    char *ids;           /**< Their line ids "<shipment>#<i>". */
    size_t n;            /**< 0: no ledger (not a shipment, no facility, no location). */
    int opened;          /**< dispatch_ledger_open() succeeded for this delivery. */
    int began;           /**< begin succeeded in this attempt (reset by dispatch_ledger_open()). */
} dispatch_ledger_t;

/** @brief The ledger lines of a shipment at its facility (n = 0 for anything else).
 *  @returns 0, or -1 out of memory. Clear with dispatch_ledger_clear() either way. */
int dispatch_ledger_init(dispatch_ledger_t *l, const dispatch_event_t *ev);
void dispatch_ledger_clear(dispatch_ledger_t *l);
/** @brief At the start of every attempt: the lines `open` (the first time in a delivery).
 *  RETRY "redis" on failure. */
dh_result_t dispatch_ledger_open(dispatch_ledger_t *l, dh_lane_t *lane, const char *store);
/** @brief Right before fulfillmentCreate: the lines `inflight`, or WAIT
 *  DISPATCH_FENCE_WAIT_MS when a stock fence is held (\p waits counted). */
dh_result_t dispatch_ledger_begin(dispatch_ledger_t *l, dh_lane_t *lane, const char *store,
                                  dh_counter_t *waits);
/** @brief After the attempt: \p fulfilled (Shopify has the fulfillment) -> `done`; else a
 *  dead letter, or a wait after this attempt's begin (fulfillmentCreate throttled: not
 *  executed), -> `open` (the fulfillment was not created); any other result leaves the
 *  lines as they are (a retry after an unknown outcome stays inflight). @returns \p res,
 *  or RETRY when a fulfilled finish failed. */
dh_result_t dispatch_ledger_settle(dispatch_ledger_t *l, dh_lane_t *lane, const char *store,
                                   dh_result_t res, int fulfilled);

/* ---- handler.c ---- */

extern const dh_handler_t dispatch_handler;

/** What dh-dispatch does with Shopify's business answers, per call (outcomes.c). */
extern const dh_outcome_rules_t dispatch_outcomes;

#endif
