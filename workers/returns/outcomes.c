/*
 * dh-returns' decisions for the business answers of its calls (WMS createReturn,
 * updateReturn, cancelReturn and release-hold, Return Prime's receive), as data
 * (dockhand/outcome.h). Throttles, credentials, 5xx and timeouts are the common table's.
 * Printed by tools/dh-outcomes; docs/returns.md.
 */
#include "returns.h"

#define CREATE(ans, problem, res, cls, note)                                                       \
    {                                                                                              \
        DH_FAR_WMS, "create-return", DH_ANSWER_##ans, problem, 0, DH_RESULT_##res, 0, cls, note    \
    }

#define CANCEL(ans, problem, res, cls, note)                                                       \
    {                                                                                              \
        DH_FAR_WMS, "cancel-return", DH_ANSWER_##ans, problem, 0, DH_RESULT_##res, 0, cls, note    \
    }
#define UPDATE(ans, problem, res, cls, note)                                                       \
    {                                                                                              \
        DH_FAR_WMS, "update-return", DH_ANSWER_##ans, problem, 0, DH_RESULT_##res, 0, cls, note    \
    }
#define RECEIVE(ans, res, cls, note)                                                               \
    {                                                                                              \
        DH_FAR_RETURNPRIME, "mark-received", DH_ANSWER_##ans, NULL, 0, DH_RESULT_##res, 0, cls,    \
            note                                                                                   \
    }

#define RELEASE(ans, problem, res, cls, note)                                                      \
    {                                                                                              \
        DH_FAR_WMS, "release-exchange", DH_ANSWER_##ans, problem, 0, DH_RESULT_##res, 0, cls, note \
    }

static const dh_outcome_rule_t rules[] = {
    CREATE(OK, NULL, DONE, NULL, "201: created; 200 or a replayed 201: it existed"),
    CREATE(409, "/idempotency-key-mismatch", DONE, NULL,
           "our key (one per return) was first used with an earlier body: it exists"),
    CREATE(409, NULL, DEAD_LETTER, "rejected", "another conflict"),
    CREATE(404, NULL, DEAD_LETTER, "rejected", "the WMS does not know the order"),
    CREATE(422, NULL, DEAD_LETTER, "rejected", "the WMS's validation refused the body"),
    CREATE(4XX, NULL, DEAD_LETTER, "rejected", "any other 4xx"),
    UPDATE(OK, NULL, DONE, NULL, "updated (or unchanged)"),
    UPDATE(409, "/idempotency-key-mismatch", DONE, NULL, "this content was sent before"),
    UPDATE(409, NULL, DONE, NULL,
           "received or cancelled: the WMS keeps what it has (counted, WARN log)"),
    UPDATE(4XX, NULL, DEAD_LETTER, "rejected", "404, 422, any other 4xx"),
    CANCEL(OK, NULL, DONE, NULL, "cancelled (or already cancelled)"),
    CANCEL(404, NULL, DONE, NULL, "never created (rejected before approval): nothing to cancel"),
    CANCEL(409, "/return-received", DEAD_LETTER, "return-received",
           "the parcel was received: the WMS keeps it, a person decides"),
    CANCEL(409, "/idempotency-key-mismatch", DONE, NULL,
           "our key (one per request) cancelled it earlier with another status's reason"),
    CANCEL(4XX, NULL, DEAD_LETTER, "rejected", "any other 4xx"),
    RELEASE(OK, NULL, DONE, NULL, "released (or was not on hold)"),
    RELEASE(404, NULL, RETRY, "exchange-order-missing",
            "dh-orders has not created the exchange order yet: retry"),
    RELEASE(409, "/idempotency-key-mismatch", DONE, NULL, "released before under this key"),
    RELEASE(409, NULL, DONE, NULL, "the exchange order was cancelled: nothing to release"),
    RELEASE(4XX, NULL, DEAD_LETTER, "rejected", "any other 4xx"),
    RECEIVE(OK, DONE, NULL, "received and inspected (or the same receipt again)"),
    RECEIVE(404, DEAD_LETTER, "unknown-request", "Return Prime does not know the request"),
    RECEIVE(409, DEAD_LETTER, "qc-conflict", "already inspected with other results"),
    RECEIVE(422, DEAD_LETTER, "rp-refused", "not approved (e.g. rejected), or lines unknown"),
    RECEIVE(4XX, DEAD_LETTER, "rp-refused", "any other 4xx"),
};

const dh_outcome_rules_t returns_outcomes = {"returns", rules, sizeof(rules) / sizeof(rules[0])};
