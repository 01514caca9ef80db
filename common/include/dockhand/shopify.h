/*
 * Shopify Admin GraphQL client for one lane: every call goes through the store's shared
 * cost bucket in Redis (charged up front with the expected cost, settled with the actual
 * cost and re-synced from throttleStatus), and a THROTTLED answer (HTTP 200) or a 429
 * starts a pool-wide cooldown that every replica honours. The GraphQL documents are the
 * .graphql files under common/graphql/, embedded at build time, so what is sent is
 * exactly what the contract test validated against Shopify's schema.
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

/** The embedded documents (see common/graphql/<name>.graphql). */
typedef enum dh_gql_doc {
    DH_GQL_INVENTORY_SET_QUANTITIES,
    DH_GQL_INVENTORY_ACTIVATE,
    DH_GQL_INVENTORY_LEVELS,
    DH_GQL_PRODUCT_VARIANTS_BY_SKU,
    DH_GQL_LOCATIONS,
    DH_GQL_ORDER_FULFILLMENT_ORDERS,
    DH_GQL_ORDERS_UPDATED_SINCE,
    DH_GQL_FULFILLMENT_CREATE,
    DH_GQL_FULFILLMENT_EVENT_CREATE,
    DH_GQL_TAGS_ADD,
    DH_GQL_PRODUCTS,
    DH_GQL_ORDER_FOR_RECONCILE,
    DH_GQL_ORDER_FULFILLMENTS,
    DH_GQL_CATALOG_BULK_RUN,
    DH_GQL_CATALOG_BULK_STATUS,
    DH_GQL_CATALOG_BULK_PRODUCTS,            /**< inner query of a bulk operation (text only) */
    DH_GQL_CATALOG_BULK_PRODUCTS_METAFIELDS, /**< the same with metafields (text only) */
    DH_GQL__COUNT
} dh_gql_doc_t;

/** @brief The text of \p doc (static storage). */
const char *dh_gql_text(dh_gql_doc_t doc);
/** @brief Our cost estimate for \p doc, charged to the bucket before sending. */
double dh_gql_expected_cost(dh_gql_doc_t doc);

typedef struct dh_shopify_s dh_shopify_t;

/** @param http, redis, metrics  Borrowed; the lane's handles (metrics may be NULL). */
dh_shopify_t *dh_shopify_new(dh_http_t *http, dh_redis_t *redis, dh_metrics_t *metrics);
void dh_shopify_destroy(dh_shopify_t *s);

typedef struct dh_gql_reply {
    json_t *root; /**< Whole response (owned: json_decref via dh_gql_reply_clear()). */
    json_t *data; /**< Borrowed from root: the "data" object, or NULL. */
    double requested_cost, actual_cost;
    double currently_available; /**< From throttleStatus, -1 if absent. */
} dh_gql_reply_t;

void dh_gql_reply_clear(dh_gql_reply_t *r);

/**
 * @brief Send \p doc with \p variables (borrowed) to \p store.
 * @param wait_ms  Out: when DH_ERR_LIMIT, how long to wait (bucket short or cooldown).
 * @returns DH_OK (reply filled; the caller still checks userErrors),
 *          DH_ERR_LIMIT (rate limited: nothing sent, or THROTTLED — retry after wait_ms),
 *          DH_ERR_TIMEOUT / DH_ERR_IO (transient: retry; the outcome may be unknown),
 *          DH_ERR_PROTO (5xx or an unparseable reply: transient),
 *          DH_ERR_INVALID (top-level GraphQL errors other than THROTTLED, or 4xx other
 *          than 429: permanent; the message is in errstr),
 *          DH_ERR_STATE (401/403: credentials; retry after fixing them).
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
