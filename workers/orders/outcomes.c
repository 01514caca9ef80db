/*
 * dh-orders' decisions for the WMS's business answers, per call, as data
 * (dockhand/outcome.h). Throttles, credentials, 5xx and timeouts are the common table's.
 * Printed by tools/dh-outcomes; docs/orders.md.
 */
#include "orders.h"

#define RULE(call, ans, problem, act, res, cls, note)                                              \
    {                                                                                              \
        DH_FAR_WMS, call, DH_ANSWER_##ans, problem, act, DH_RESULT_##res, 0, cls, note             \
    }

#define MISMATCH "/idempotency-key-mismatch"

static const dh_outcome_rule_t rules[] = {
    RULE("create", OK, NULL, 0, DONE, NULL, "201: created; 200: it existed (natural key)"),
    RULE("create", 409, MISMATCH, ORDERS_ACT_LOOKUP, DEAD_LETTER, "rejected",
         "key first used with another body: look it up; it exists -> done"),
    RULE("create", 4XX, NULL, 0, DEAD_LETTER, "rejected", "404, 409, 422, any other 4xx"),
    RULE("cancel", OK, NULL, 0, DONE, NULL, "cancelled"),
    RULE("cancel", 404, NULL, ORDERS_ACT_CREATE_FIRST, DONE, NULL,
         "cancel before create: create it from the payload, then cancel with a new key"),
    RULE("cancel", 409, "/order-already-dispatched", 0, DEAD_LETTER, "rejected",
         "dispatched already: stop or recall the shipment by hand"),
    RULE("cancel", 409, MISMATCH, ORDERS_ACT_LOOKUP, DEAD_LETTER, "rejected",
         "look it up; CANCELLED -> done"),
    RULE("cancel", 4XX, NULL, 0, DEAD_LETTER, "rejected", "409 (other), 422, any other 4xx"),
    RULE("cancel-after-create", 404, NULL, 0, RETRY, "http",
         "still unknown right after its creation: look again"),
    RULE("update", OK, NULL, 0, DONE, NULL, "the edit is in the WMS"),
    RULE("update", 404, NULL, ORDERS_ACT_CREATE_FIRST, DONE, NULL,
         "not in the WMS: create it from this payload (the whole order)"),
    RULE("update", 409, "/order-already-picked", 0, DEAD_LETTER, "edit-refused",
         "picked already: apply the edit by hand (counted per store)"),
    RULE("update", 409, "/order-already-dispatched", 0, DEAD_LETTER, "edit-refused",
         "dispatched already: apply the edit by hand (counted per store)"),
    RULE("update", 409, "/order-cancelled", 0, DONE, NULL, "cancelled: nothing to update"),
    RULE("update", 4XX, NULL, 0, DEAD_LETTER, "rejected", "409 (other), 422, any other 4xx"),
    RULE("hold", OK, NULL, 0, DONE, NULL, "on hold with Shopify's reason"),
    RULE("hold", 404, NULL, ORDERS_ACT_CHECK_UNSENT, RETRY, "not-yet",
         "not created yet: retry so the creation lands first; never sent -> done"),
    RULE("hold", 409, "/order-already-picked", 0, DEAD_LETTER, "hold-refused",
         "picked already: stop the shipment by hand (counted per store)"),
    RULE("hold", 409, "/order-already-dispatched", 0, DEAD_LETTER, "hold-refused",
         "dispatched already: recall the shipment by hand (counted per store)"),
    RULE("hold", 409, "/order-cancelled", 0, DONE, NULL, "cancelled: nothing to hold"),
    RULE("hold", 4XX, NULL, 0, DEAD_LETTER, "rejected", "409 (other), 422, any other 4xx"),
    RULE("release-hold", OK, NULL, 0, DONE, NULL, "released"),
    RULE("release-hold", 409, NULL, 0, DONE, NULL, "the order is cancelled: nothing to release"),
    RULE("release-hold", 404, NULL, ORDERS_ACT_CHECK_UNSENT, RETRY, "not-yet",
         "not created yet: retry so the creation lands first; never sent (test order, "
         "nothing to ship) -> done"),
    RULE("release-hold", 4XX, NULL, 0, DEAD_LETTER, "rejected", "422, any other 4xx"),
    RULE("lookup", OK, NULL, 0, DONE, NULL, "exists: its status decides"),
    RULE("lookup", 404, NULL, 0, DONE, NULL, "not in the WMS"),
    RULE("lookup", 4XX, NULL, 0, DEAD_LETTER, "rejected", "any other 4xx"),
    {DH_FAR_SHOPIFY, "reconcile", DH_ANSWER_MISSING, NULL, 0, DH_RESULT_DONE, 0, NULL,
     "scheduled pass: an order gone from Shopify is skipped; failures retry the page"},
};

const dh_outcome_rules_t orders_outcomes = {"orders", rules, sizeof(rules) / sizeof(rules[0])};
