/*
 * The outcome table: what a worker does with each answer of Shopify and the WMS, as data.
 *
 * Two layers, one channel:
 *  - The common table (far side x answer -> result + error class) is the same for every
 *    worker: throttles WAIT, 5xx / timeouts / refused connections RETRY, refused credentials
 *    (401/403) RETRY with backoff and no retry budget (never dead-lettered, an ERROR log and
 *    dh_far_auth_failures_total{far}), a request Shopify refuses as such is dead-lettered.
 *  - Business answers (2xx, WMS 404/409/422, Shopify userErrors or a missing object) are
 *    "the far side answered": dh_lane_shopify_call() / dh_lane_wms_call() return 0 with the
 *    reply, and the worker decides with dh_lane_answer() from its own rules (data, one
 *    dh_outcome_rules_t per worker in workers/<name>/outcomes.c).
 * Single events, batches (dh_batch_outcome()) and scheduled passes (ticks) all classify
 * through dh_far_outcome(). tools/dh-outcomes prints every table as markdown
 * (docs/ARCHITECTURE.md, "Outcome mapping").
 */
#ifndef DH_OUTCOME_H
#define DH_OUTCOME_H

#include <stddef.h>

#include <stdint.h>
#include <stdio.h>

#include "dockhand/err.h"
#include "dockhand/shopify.h"
#include "dockhand/stores.h"
#include "dockhand/wms.h"
#include "dockhand/worker.h"

/** The far side of a call. */
typedef enum dh_far {
    DH_FAR_SHOPIFY = 0,
    DH_FAR_WMS,
    DH_FAR_RETURNPRIME, /**< Return Prime's REST API (dh-returns; HTTP answers as the WMS's). */
    DH_FAR__COUNT
} dh_far_t;

/** What the far side answered, as the outcome table sees it. */
typedef enum dh_answer {
    DH_ANSWER_OK = 0,      /**< 2xx (Shopify: a 200 with data). */
    DH_ANSWER_THROTTLED,   /**< 429, GraphQL THROTTLED, our shared bucket short, or the WMS's
                                409 idempotency-key-in-use. */
    DH_ANSWER_401,         /**< Credentials refused (Shopify: also a refused token grant). */
    DH_ANSWER_403,         /**< Credentials lack the right (revoked scope or token). */
    DH_ANSWER_404,         /**< Not found (Shopify: HTTP 404, the request's address). */
    DH_ANSWER_409,         /**< Conflict (WMS problem types tell which). */
    DH_ANSWER_422,         /**< Unprocessable (WMS validation). */
    DH_ANSWER_4XX,         /**< Another 4xx; Shopify: top-level GraphQL errors too. */
    DH_ANSWER_USER_ERRORS, /**< Shopify: userErrors in a 200 (codes tell which). */
    DH_ANSWER_MISSING,     /**< Shopify: a 200 without the object asked for (null). */
    DH_ANSWER_5XX,         /**< Server error. */
    DH_ANSWER_TIMEOUT,     /**< No answer in time: the outcome is unknown. */
    DH_ANSWER_REFUSED,     /**< Connection refused or reset, another I/O failure. */
    DH_ANSWER_BAD_REPLY,   /**< A 2xx we cannot read, or a body over the cap. */
    DH_ANSWER_NOMEM,       /**< Out of memory on our side. */
    DH_ANSWER_INTERNAL,    /**< No client for the lane, or a call our code got wrong. */
    DH_ANSWER__COUNT
} dh_answer_t;

/** One row of the common table. */
typedef struct dh_outcome_row {
    dh_far_t far;
    dh_answer_t answer;
    int answered;            /**< 1: a business answer, the worker's rules decide. */
    dh_result_t result;      /**< When not answered. */
    const char *error_class; /**< When not answered. */
    const char *note;        /**< One line for the printed table. */
} dh_outcome_row_t;

/** How one call ended, ready for dh_lane_outcome() / dh_batch_outcome(). */
typedef struct dh_outcome {
    dh_answer_t answer;
    dh_result_t result;
    int64_t retry_after_ms; /**< For WAIT / RETRY: the least delay, 0 for the backoff. */
    char error_class[32];
    char error[400];
} dh_outcome_t;

/** A worker's decision for a business answer of one of its calls. */
typedef struct dh_outcome_rule {
    dh_far_t far;
    const char *call; /**< The worker's name for the call ("create", "cancel", ...). */
    dh_answer_t answer;
    const char *problem;     /**< WMS problem type suffix or Shopify userErrors code the rule
                                  needs, NULL for any. Rules are tried in order. */
    int action;              /**< Worker-defined follow-up (0: none), e.g. "look it up". */
    dh_result_t result;      /**< When action is 0 (or as the action's fallback). */
    int64_t retry_after_ms;  /**< For WAIT / RETRY: the least delay (0: the backoff). */
    const char *error_class; /**< For RETRY / DEAD_LETTER; NULL: the problem / code. */
    const char *note;        /**< One line for the printed table. */
} dh_outcome_rule_t;

/** A worker's rules; a business answer no rule matches is DONE for DH_ANSWER_OK and a
 *  dead letter "rejected" otherwise. */
typedef struct dh_outcome_rules {
    const char *worker;
    const dh_outcome_rule_t *rules;
    size_t n;
} dh_outcome_rules_t;

/** @brief Short stable name of \p a ("200", "THROTTLED", "401", ...). Never NULL. */
const char *dh_answer_str(dh_answer_t a);
/** @brief "shopify", "wms" or "returnprime". */
const char *dh_far_str(dh_far_t far);
/** @brief "done", "retry", "dead letter", "fatal" or "wait". */
const char *dh_result_str(dh_result_t r);

/** @brief The answer a client's (\p err, HTTP \p status) stands for (pure). */
dh_answer_t dh_answer_of(dh_far_t far, dh_err_t err, long status);

/** @brief The common table's row for (\p far, \p a): static, never NULL. */
const dh_outcome_row_t *dh_outcome_row(dh_far_t far, dh_answer_t a);

/**
 * @brief Classify one client call with the common table.
 * @param lane  For the auth metric (may be NULL).
 * @param what  "Shopify <store> <document>" or "WMS POST /path": starts \p o->error.
 * @param wait_ms  The client's wait for DH_ERR_RATE.
 * @returns 0 when the far side gave a business answer (\p o->answer; the caller decides),
 *          -1 otherwise with \p o filled. Refused credentials are also logged as an ERROR.
 */
DH_NODISCARD int dh_far_outcome(dh_lane_t *lane, dh_far_t far, dh_err_t err, long status,
                                int64_t wait_ms, const char *what, const char *errstr,
                                dh_outcome_t *o);

/** @brief dh_lane_fail() and dh_lane_retry_after() from \p o. @returns \p o->result. */
dh_result_t dh_lane_outcome(dh_lane_t *lane, const dh_outcome_t *o);

/** @brief The same for one event of a batch: \p item's result, class, reason and delay. */
void dh_batch_outcome(dh_batch_item_t *item, const dh_outcome_t *o);

/** @brief True for an error class the retry budget never dead-letters ("auth"): the far
 *  side refuses every event alike until its credentials are fixed. */
int dh_outcome_never_exhausts(const char *error_class);

/**
 * @brief dh_shopify_graphql() on this lane's client, classified (no dh_lane_fail()):
 *        for batches and scheduled passes. Clear \p rep in every case.
 * @returns 0 when Shopify answered with data (userErrors are the caller's), else -1.
 */
DH_NODISCARD int dh_lane_shopify_try(dh_lane_t *lane, const dh_store_t *store, dh_gql_doc_t doc,
                                     json_t *vars, dh_gql_reply_t *rep, dh_outcome_t *o);

/** @brief dh_wms_call() on this lane's client, classified as dh_lane_shopify_try().
 *  @returns 0 when the WMS gave a business answer (2xx or 4xx in \p rep), else -1. */
DH_NODISCARD int dh_lane_wms_try(dh_lane_t *lane, const char *group, const char *method,
                                 const char *path, const char *idempotency_key, json_t *body,
                                 dh_wms_reply_t *rep, dh_outcome_t *o);

/**
 * @brief The rule of \p rules for (\p far, \p call, \p a, \p problem): the first listed
 *        whose problem is NULL or a suffix of \p problem. A rule for DH_ANSWER_4XX covers
 *        every 4xx answer (404, 409, 422, ...) that no earlier rule took.
 * @returns The rule, or a static default (DONE for OK, dead letter "rejected" else).
 */
const dh_outcome_rule_t *dh_outcome_rule(const dh_outcome_rules_t *rules, dh_far_t far,
                                         const char *call, dh_answer_t a, const char *problem);

/** @brief Fill \p o from \p rule: its result, delay, class (or \p problem) and the
 *  formatted message; for a batch, then dh_batch_outcome(). */
void dh_outcome_of_rule(const dh_outcome_rule_t *rule, const char *problem, dh_outcome_t *o,
                        const char *fmt, ...) DH_PRINTF(4, 5);

/**
 * @brief Decide a business answer by \p rule: dh_outcome_of_rule(), then dh_lane_outcome().
 * @returns The rule's result.
 */
dh_result_t dh_lane_answer(dh_lane_t *lane, const dh_outcome_rule_t *rule, const char *problem,
                           const char *fmt, ...) DH_PRINTF(4, 5);

/** @brief The answer of a WMS reply's HTTP status (2xx, 404, 409, 422 or another 4xx). */
dh_answer_t dh_wms_answer(const dh_wms_reply_t *rep);

/** @brief dh_outcome_rule() for WMS reply \p rep of \p call (its status and problem type). */
const dh_outcome_rule_t *dh_wms_rule(const dh_outcome_rules_t *rules, const char *call,
                                     const dh_wms_reply_t *rep);

/** @brief dh_lane_answer() for WMS reply \p rep: the message is the formatted text, then
 *  ": HTTP <status> <problem type> <detail>". @returns The rule's result. */
dh_result_t dh_lane_wms_answer(dh_lane_t *lane, const dh_outcome_rule_t *rule,
                               const dh_wms_reply_t *rep, const char *fmt, ...) DH_PRINTF(4, 5);

/** @brief Print the common table and then each of \p n workers' rules as markdown. */
void dh_outcome_print(FILE *out, const dh_outcome_rules_t *const *workers, size_t n);

#endif
