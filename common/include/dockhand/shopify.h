/*
 * Shopify Admin GraphQL client for one lane: every call goes through the store's shared
 * cost bucket in Redis (charged up front with the expected cost, settled with the actual
 * cost and re-synced from throttleStatus), and a THROTTLED answer (HTTP 200) or a 429
 * (DH_ERR_RATE) starts a pool-wide cooldown that every replica honours. The GraphQL documents are
 * the .graphql files under common/graphql/, embedded at build time, so what is sent is exactly what
 * the contract test validated against Shopify's schema.
 */
#ifndef DH_SHOPIFY_H
#define DH_SHOPIFY_H

#include <stddef.h>

#include <jansson.h>
#include <stdint.h>

#include "dockhand/err.h"
#include "dockhand/http.h"
#include "dockhand/metrics.h"
#include "dockhand/redis.h"
#include "dockhand/stores.h"
#include "dockhand/tokens.h"

/** The embedded documents, one per line of dockhand/gql_docs.def (the single list:
 *  file, root field, users, cost model). */
typedef enum dh_gql_doc {
#define DH_GQL_DOC(e, ...) DH_GQL_##e,
#include "dockhand/gql_docs.def"
#undef DH_GQL_DOC
    DH_GQL__COUNT
} dh_gql_doc_t;

/** @brief The text of \p doc (static storage); "" for an unknown document. */
const char *dh_gql_text(dh_gql_doc_t doc);
/** @brief The name of \p doc (its file's base name, as in logs and metrics); "" if unknown. */
const char *dh_gql_name(dh_gql_doc_t doc);
/** @brief The root field \p doc selects (from gql_docs.def); "" for an unknown document. */
const char *dh_gql_root(dh_gql_doc_t doc);
/** @brief Our cost estimate for \p doc, charged to the bucket before sending. */
double dh_gql_expected_cost(dh_gql_doc_t doc);

typedef struct dh_shopify_s dh_shopify_t;

/** @param http, redis, metrics  Borrowed; the lane's handles (metrics may be NULL). */
dh_shopify_t *dh_shopify_new(dh_http_t *http, dh_redis_t *redis, dh_metrics_t *metrics);
void dh_shopify_destroy(dh_shopify_t *s);
/** @brief Use \p tokens (borrowed; outlives \p s), the worker's cache shared by its lanes,
 *  instead of the handle's own; NULL goes back to the own one. */
void dh_shopify_share_tokens(dh_shopify_t *s, dh_tokens_t *tokens);

typedef struct dh_gql_reply {
    json_t *root; /**< Whole response (owned: json_decref via dh_gql_reply_clear()). */
    json_t *data; /**< Borrowed from root: the "data" object, or NULL. */
    long status;  /**< HTTP status of Shopify's answer (also on errors), 0 if none came. */
    double requested_cost, actual_cost;
    double currently_available; /**< From throttleStatus, -1 if absent. */
} dh_gql_reply_t;

void dh_gql_reply_clear(dh_gql_reply_t *r);

/**
 * @brief Send \p doc with \p variables (borrowed) to \p store.
 * @param wait_ms  Out: when DH_ERR_RATE, how long to wait (bucket short or cooldown).
 * @returns DH_OK (reply filled; the caller still checks userErrors and missing objects:
 *          business answers, see dockhand/outcome.h),
 *          DH_ERR_RATE (rate limited: nothing sent, or 429 / THROTTLED: retry after wait_ms),
 *          DH_ERR_AUTH (401/403 or a refused token grant: credentials; retry after fixing
 *          them; \p reply->status is 0 for a refused grant),
 *          DH_ERR_TIMEOUT / DH_ERR_IO (transient: retry; the outcome may be unknown),
 *          DH_ERR_PROTO (5xx or an unparseable reply: transient),
 *          DH_ERR_INVALID (top-level GraphQL errors other than THROTTLED, or a 4xx other
 *          than 401/403/429: the request is refused as such; the message is in errstr),
 *          DH_ERR_NOMEM. \p reply->status is set whenever Shopify answered.
 */
DH_NODISCARD dh_err_t dh_shopify_graphql(dh_shopify_t *s, const dh_store_t *store, dh_gql_doc_t doc,
                                         json_t *variables, dh_gql_reply_t *reply, int64_t *wait_ms,
                                         char *errstr, size_t errstr_size);

/**
 * @brief Collect userErrors at data.<root_field>.userErrors into one line in \p buf.
 * @returns The number of userErrors (0 if none). \p code_out (may be NULL) gets the
 *          first error's code, or "" if none or uncoded.
 */
size_t dh_gql_user_errors(const dh_gql_reply_t *r, const char *root_field, char *buf, size_t size,
                          char *code_out, size_t code_size);

/** @brief Numeric id from a GID ("gid://shopify/Order/42" -> "42") into \p buf. */
const char *dh_gid_tail(const char *gid, char *buf, size_t size);

#endif
