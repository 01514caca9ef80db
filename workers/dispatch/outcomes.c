/*
 * dh-dispatch's decisions for Shopify's business answers (missing orders, userErrors), per
 * GraphQL call, as data (dockhand/outcome.h). Throttles, credentials, 5xx, timeouts and
 * requests Shopify refuses as such are the common table's. Printed by tools/dh-outcomes;
 * docs/dispatch.md.
 */
#include "dispatch.h"

#define RULE(call, ans, res, cls, note)                                                            \
    {                                                                                              \
        DH_FAR_SHOPIFY, call, DH_ANSWER_##ans, NULL, 0, DH_RESULT_##res, 0, cls, note              \
    }

static const dh_outcome_rule_t rules[] = {
    RULE("orderFulfillments", OK, DONE, NULL, "adopt fulfillments with our tracking number"),
    RULE("orderFulfillments", MISSING, DEAD_LETTER, "order-not-found",
         "no such order in the store"),
    RULE("orderFulfillmentOrders", OK, DONE, NULL, "plan the fulfillment"),
    RULE("orderFulfillmentOrders", MISSING, DEAD_LETTER, "order-not-found",
         "no such order in the store"),
    RULE("fulfillmentCreate", OK, DONE, NULL, "created"),
    RULE("fulfillmentCreate", USER_ERRORS, DEAD_LETTER, "rejected",
         "userErrors, or no fulfillment returned"),
    RULE("fulfillmentEventCreate", OK, DONE, NULL, "posted"),
    RULE("fulfillmentEventCreate", USER_ERRORS, DEAD_LETTER, "rejected", "userErrors"),
    RULE("fulfillmentTrackingInfoUpdate", OK, DONE, NULL, "new AWB on the shipment's fulfillment"),
    RULE("fulfillmentTrackingInfoUpdate", USER_ERRORS, DEAD_LETTER, "rejected",
         "userErrors (e.g. the fulfillment is gone)"),
    RULE("tagsAdd", OK, DONE, NULL, "order tagged (RTO, loss)"),
    RULE("tagsAdd", USER_ERRORS, DEAD_LETTER, "rejected", "userErrors (e.g. the order is gone)"),
};

const dh_outcome_rules_t dispatch_outcomes = {"dispatch", rules, sizeof(rules) / sizeof(rules[0])};
