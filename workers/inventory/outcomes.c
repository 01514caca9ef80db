/*
 * dh-inventory's decisions for Shopify's business answers (userErrors by code, SKUs that
 * match no or several items), per call, as data (dockhand/outcome.h). Throttles,
 * credentials, 5xx, timeouts and refused requests are the common table's, per event of
 * the batch. Printed by tools/dh-outcomes; docs/inventory.md.
 */
#include "inventory.h"

#define RULE(call, ans, code, act, res, wait, cls, note)                                           \
    {                                                                                              \
        DH_FAR_SHOPIFY, call, DH_ANSWER_##ans, code, act, DH_RESULT_##res, wait, cls, note         \
    }

static const dh_outcome_rule_t rules[] = {
    RULE(INV_CALL_SET, OK, NULL, 0, DONE, 0, NULL, "applied (all or nothing)"),
    RULE(INV_CALL_SET, USER_ERRORS, "IDEMPOTENCY_CONCURRENT_REQUEST", INV_ACT_ALL, WAIT, 200,
         "idempotency", "the same key is in flight: the whole call waits"),
    RULE(INV_CALL_SET, USER_ERRORS, "IDEMPOTENCY_KEY_PARAMETER_MISMATCH", INV_ACT_ALL, WAIT, 200,
         "idempotency", "the whole call waits"),
    RULE(INV_CALL_SET, USER_ERRORS, "IDEMPOTENCY_PREVIOUS_ATTEMPT_FAILED", INV_ACT_NEW_KEY, WAIT, 0,
         "idempotency", "again at once with the next key"),
    RULE(INV_CALL_SET, USER_ERRORS, "ITEM_NOT_STOCKED_AT_LOCATION", 0, DEAD_LETTER, 0, NULL,
         "API versions before 2026-10 only (a store pinned to one): stock the item there, replay"),
    RULE(INV_CALL_SET, USER_ERRORS, NULL, 0, DEAD_LETTER, 0, NULL,
         "that quantity only; the rest goes again without it"),
    RULE(INV_CALL_UNPLACED, USER_ERRORS, NULL, INV_ACT_ALL, RETRY, 0, "rejected",
         "a userError naming no quantity: the whole call retries"),
    RULE(INV_CALL_VARIANTS, OK, NULL, 0, DONE, 0, NULL, "one inventory item for the SKU"),
    RULE(INV_CALL_VARIANTS, THROTTLED, NULL, 0, DEAD_LETTER, 0, "lookup-throttled",
         "throttled without a page for DH_INVENTORY_LOOKUP_WAIT_MAX_S (before: WAIT, resumed)"),
    RULE(INV_CALL_VARIANTS, MISSING, "ambiguous", 0, DEAD_LETTER, 0, "ambiguous-sku",
         "the SKU matches several inventory items"),
    RULE(INV_CALL_VARIANTS, MISSING, NULL, 0, DEAD_LETTER, 0, "unknown-sku",
         "the SKU matches no inventory item"),
    {DH_FAR_WMS, "inventory/sellable (full sync)", DH_ANSWER_4XX, NULL, 0, DH_RESULT_RETRY, 0,
     "http", "scheduled pass: any failure reads the page again next tick"},
};

const dh_outcome_rules_t inv_outcomes = {"inventory", rules, sizeof(rules) / sizeof(rules[0])};
