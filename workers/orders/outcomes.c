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
    RULE("release-hold", OK, NULL, 0, DONE, NULL, "released"),
    RULE("release-hold", 409, NULL, 0, DONE, NULL, "the order is cancelled: nothing to release"),
    RULE("release-hold", 404, NULL, 0, RETRY, "not-yet",
         "not created yet: retry so the creation lands first"),
    RULE("release-hold", 4XX, NULL, 0, DEAD_LETTER, "rejected", "422, any other 4xx"),
    RULE("lookup", OK, NULL, 0, DONE, NULL, "exists: its status decides"),
    RULE("lookup", 404, NULL, 0, DONE, NULL, "not in the WMS"),
    RULE("lookup", 4XX, NULL, 0, DEAD_LETTER, "rejected", "any other 4xx"),
    {DH_FAR_SHOPIFY, "reconcile", DH_ANSWER_MISSING, NULL, 0, DH_RESULT_DONE, 0, NULL,
     "scheduled pass: an order gone from Shopify is skipped; failures retry the page"},
};

const dh_outcome_rules_t orders_outcomes = {"orders", rules, sizeof(rules) / sizeof(rules[0])};
