/*
 * dh-catalog's decisions for the business answers of its calls, as data
 * (dockhand/outcome.h): the WMS's answers to PUT /wms/v1/skus/{store}/{sku}, and
 * Shopify's to the import's bulk operation calls. Throttles, credentials, 5xx and timeouts
 * are the common table's. Printed by tools/dh-outcomes; docs/catalogue.md.
 */
#include "catalog.h"

#define SKU(ans, problem, act, res, cls, note)                                                     \
    {                                                                                              \
        DH_FAR_WMS, CAT_CALL_UPSERT, DH_ANSWER_##ans, problem, act, DH_RESULT_##res, 0, cls, note  \
    }
#define GQL(call, ans, code, res, wait, cls, note)                                                 \
    {                                                                                              \
        DH_FAR_SHOPIFY, call, DH_ANSWER_##ans, code, 0, DH_RESULT_##res, wait, cls, note           \
    }

static const dh_outcome_rule_t rules[] = {
    SKU(OK, NULL, 0, DONE, NULL, "201 created, 200 updated or unchanged (a replay: our own)"),
    SKU(409, "/duplicate-sku", CAT_ACT_REPORT, DEAD_LETTER, "duplicate-sku",
        "the SKU is another variant's in the WMS: in the report; the product's other variants "
        "are applied, then the event is dead-lettered"),
    SKU(409, NULL, 0, DEAD_LETTER, "rejected", "another conflict (our key is one per body)"),
    SKU(422, NULL, 0, DEAD_LETTER, "rejected", "the WMS's validation refused the body"),
    SKU(4XX, NULL, 0, DEAD_LETTER, "rejected", "404, any other 4xx"),
    GQL(CAT_CALL_BULK_RUN, OK, NULL, DONE, 0, NULL, "the bulk operation runs: polled"),
    GQL(CAT_CALL_BULK_RUN, USER_ERRORS, "OPERATION_IN_PROGRESS", WAIT, 60000, "bulk-busy",
        "scheduled pass: another bulk query of the app runs; tried again later"),
    GQL(CAT_CALL_BULK_RUN, USER_ERRORS, NULL, DEAD_LETTER, 0, "rejected",
        "scheduled pass: the import ends as failed (logged)"),
    GQL(CAT_CALL_BULK_STATUS, OK, NULL, DONE, 0, NULL,
        "COMPLETED: the result is read; FAILED, CANCELED, EXPIRED: the import ends as failed"),
    GQL(CAT_CALL_BULK_STATUS, MISSING, NULL, DEAD_LETTER, 0, "rejected",
        "scheduled pass: the operation is unknown: the import ends as failed"),
    GQL(CAT_CALL_PRODUCTS, OK, NULL, DONE, 0, NULL, "paginated import: the page is applied"),
};

const dh_outcome_rules_t catalog_outcomes = {"catalog", rules, sizeof(rules) / sizeof(rules[0])};
