/*
 * dh-returns' decisions for the WMS's business answers to POST /wms/v1/returns, as data
 * (dockhand/outcome.h). Throttles, credentials, 5xx and timeouts are the common table's.
 * Printed by tools/dh-outcomes; docs/returns.md.
 */
#include "returns.h"

#define CREATE(ans, problem, res, cls, note)                                                       \
    {                                                                                              \
        DH_FAR_WMS, "create-return", DH_ANSWER_##ans, problem, 0, DH_RESULT_##res, 0, cls, note    \
    }

static const dh_outcome_rule_t rules[] = {
    CREATE(OK, NULL, DONE, NULL, "201: created; 200 or a replayed 201: it existed"),
    CREATE(409, "/idempotency-key-mismatch", DONE, NULL,
           "our key (one per return) was first used with an earlier body: it exists"),
    CREATE(409, NULL, DEAD_LETTER, "rejected", "another conflict"),
    CREATE(404, NULL, DEAD_LETTER, "rejected", "the WMS does not know the order"),
    CREATE(422, NULL, DEAD_LETTER, "rejected", "the WMS's validation refused the body"),
    CREATE(4XX, NULL, DEAD_LETTER, "rejected", "any other 4xx"),
};

const dh_outcome_rules_t returns_outcomes = {"returns", rules, sizeof(rules) / sizeof(rules[0])};
