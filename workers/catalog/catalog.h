/*
 * dh-catalog: Shopify products -> WMS SKUs, one per variant (docs/catalogue.md).
 *
 * This header is private to workers/catalog/. mapping.c is the pure core (no I/O): it
 * reads a product, from a products webhook (REST shape) or from Shopify's GraphQL
 * (a bulk operation's JSONL lines or a paginated products page), into one upsertSku body
 * per variant with its fingerprint, and reports what cannot be sent (a variant without
 * SKU, two variants of the product sharing one). apply.c performs the effect against
 * Redis and the WMS; handler.c is the Kafka side; import.c the bulk import.
 */
#ifndef DH_CATALOG_H
#define DH_CATALOG_H

#include <stddef.h>

#include <jansson.h>
#include <stdint.h>

#include "dockhand/outcome.h"
#include "dockhand/worker.h"

/** Rate-limit group and idempotency namespace of the WMS calls. */
#define CATALOG_WMS_GROUP "skus"
#define CATALOG_IDEM_NS   "catalog"

/** Where the Style Code comes from: a product option of this name (case-insensitive),
 *  else the metafield "namespace.key" configured (DH_CATALOG_STYLE_METAFIELD). */
#define CATALOG_STYLE_OPTION "Style Code"

/** One variant as the WMS should hold it. */
typedef struct cat_variant {
    char id[24];        /**< Shopify variant id, digits. */
    char item_id[24];   /**< Inventory item id, digits ("" if unknown). */
    char sku[256];      /**< "" when the merchant set none (never invented). */
    char title[160];    /**< For the report. */
    int dup_in_product; /**< Another variant of this product has the same SKU. */
    json_t *body;       /**< upsertSku body (owned); NULL without SKU. */
    char fp[65];        /**< SHA-256 hex of the canonical body ("" without body). */
} cat_variant_t;

/** One product snapshot. */
typedef struct cat_product {
    char id[24];        /**< Shopify product id, digits. */
    int64_t updated_ms; /**< updated_at in ms since the epoch, -1 if absent. */
    int deleted;        /**< products/delete: only the id is known. */
    int archived;       /**< status archived: every SKU is sent ARCHIVED. */
    cat_variant_t *v;
    size_t nv;
} cat_product_t;

/** Mapping options (from the configuration). */
typedef struct cat_opts {
    const char *style_metafield; /**< "namespace.key" or "" (option only). */
} cat_opts_t;

/**
 * @brief Parse a products/create|update|delete webhook body (REST product) into \p out.
 * @param topic  The dh-topic header value ("products/delete" yields a deleted product).
 * @returns 0, or -1 with an ajv-style reason in \p err ("/variants/0/id is required").
 */
int cat_product_from_rest(const char *buf, size_t len, const char *topic, const cat_opts_t *o,
                          cat_product_t *out, char *err, size_t err_size);

/**
 * @brief Build a product from Shopify GraphQL nodes: \p product (a products node, or a
 *        bulk JSONL product line), its \p variants (array of ProductVariant nodes) and
 *        \p metafields (array of Metafield nodes; may be NULL).
 * @returns 0, or -1 with a reason in \p err.
 */
int cat_product_from_gql(json_t *product, json_t *variants, json_t *metafields, const cat_opts_t *o,
                         cat_product_t *out, char *err, size_t err_size);

void cat_product_clear(cat_product_t *p);

/** @brief \p body with "status" set to ARCHIVED (a new reference), for a deactivation. */
json_t *cat_body_archived(json_t *body);

/** @brief SHA-256 hex of \p body's canonical form (compact, sorted keys) into \p out. */
int cat_fingerprint(json_t *body, char out[65]);

/** @brief Milliseconds since the epoch of an RFC 3339 time, -1 if invalid. */
int64_t cat_time_ms(const char *s);

/** @brief Digits of a numeric id given as a JSON integer, digit string or GID. */
int cat_id(json_t *v, char *out, size_t size);

/* ---- outcomes.c: the business answers of each call, as data ---- */

#define CAT_CALL_UPSERT      "upsert-sku"
#define CAT_CALL_BULK_RUN    "bulkOperationRunQuery"
#define CAT_CALL_BULK_STATUS "bulkOperation"
#define CAT_CALL_PRODUCTS    "products (paginated)"
#define CAT_ACT_REPORT       1 /**< record the refusal in the store's report, go on */

extern const dh_outcome_rules_t catalog_outcomes;

/* ---- handler.c ---- */

extern const dh_handler_t catalog_handler;

/** @brief CLOCK_MONOTONIC in ms. */
int64_t cat_now_ms(void);

/** @brief The per-store report (duplicates, variants without SKU) as text, for the
 *  "dh-catalog report" command (main.c). @returns the exit code. */
int catalog_report_main(int argc, char **argv);

#endif
