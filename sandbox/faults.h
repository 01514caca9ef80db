/*
 * faults: per-endpoint-group fault injection rules (latency, error status, forced
 * throttling, dropped connections, "timeout after effect"), with optional expiry
 * and request counts. Thread-safe.
 */
#ifndef DH_SB_FAULTS_H
#define DH_SB_FAULTS_H

#include <jansson.h>
#include <stdbool.h>

#include "util.h"

typedef enum {
    DH_SB_GROUP_SHOPIFY = 0,
    DH_SB_GROUP_WMS,
    DH_SB_GROUP_WEBHOOK,
    DH_SB_GROUP_RETURNPRIME,
    DH_SB_GROUP_COUNT
} dh_sb_group_t;

typedef struct dh_sb_faults_s dh_sb_faults_t;

/** What to do to one request, decided once when it arrives. */
typedef struct dh_sb_fault_decision {
    long latency_ms;    /**< sleep before handling */
    int error_status;   /**< 0, or answer with this status and no effect */
    bool throttle;      /**< Shopify: answer THROTTLED, no effect */
    bool drop;          /**< close the connection without answering, no effect */
    bool timeout_after; /**< apply the effect, then sleep timeout_ms and drop */
    long timeout_ms;
} dh_sb_fault_decision_t;

/** @brief Group id for "shopify" | "wms" | "webhook-delivery" | "returnprime"; -1 if unknown. */
int dh_sb_group_from_name(const char *name);

/** @brief Name of a group. */
const char *dh_sb_group_name(dh_sb_group_t g);

dh_sb_faults_t *dh_sb_faults_new(void);
void dh_sb_faults_destroy(dh_sb_faults_t *f);

/**
 * @brief Install a rule from JSON {"group":..., "latency_ms", "error_rate", "error_status",
 *        "throttle", "drop_connection_rate", "timeout_after_effect_rate", "timeout_ms",
 *        "for_ms", "count", "contains", "shop"}; an array installs several. "contains"
 *        narrows the rule to requests whose body contains that text (a GraphQL mutation's
 *        name, a tracking number); "shop" to one shop's requests (its own slot: up to 64
 *        shops per group, each replacing only its own rule, applied before the group's).
 * @returns DH_SB_OK or DH_SB_ERR_CONFIG (errstr says why).
 */
dh_sb_err_t dh_sb_faults_set(dh_sb_faults_t *f, json_t *rule, char *errstr, size_t errstr_size);

/** @brief Remove every rule. */
void dh_sb_faults_reset(dh_sb_faults_t *f);

/** @brief Decide the faults for one request of group \p g (consumes one "count" of the rule
 *  that applies). \p shop (NULL: none known): that shop's rule (a rule with "shop") applies
 *  first, else the group's. \p body (may be NULL): a rule with "contains" applies (and
 *  counts) only when the body contains it. */
void dh_sb_faults_decide(dh_sb_faults_t *f, dh_sb_group_t g, const char *shop, const char *body,
                         dh_sb_fault_decision_t *out);

/** @brief The active rules as JSON (new reference). */
json_t *dh_sb_faults_json(dh_sb_faults_t *f);

#endif
