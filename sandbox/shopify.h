/*
 * shopify: the Shopify Admin API double. shopify_gql.c handles the GraphQL endpoint
 * (auth, cost and throttling, idempotency, dispatch), shopify_inv.c the catalogue and
 * inventory operations, shopify_ful.c orders and fulfillment, shopify_ctl.c the
 * /_control/shops endpoints and webhooks. The op functions run with the state lock held.
 */
#ifndef DH_SB_SHOPIFY_H
#define DH_SB_SHOPIFY_H

#include <jansson.h>

#include "http.h"
#include "state.h"

/**
 * An operation: returns the full value of the root field (new reference) or NULL with
 * a top-level GraphQL error appended to \p errors.
 */
typedef json_t *(*dh_sb_op_fn)(dh_sb_state_t *st, dh_sb_shop_t *shop, json_t *node, json_t *errors);

/** @brief POST .../admin/api/{version}/graphql.json for \p shop_domain. */
void dh_sb_shopify_graphql(dh_sb_state_t *st, const char *shop_domain, const dh_sb_req_t *req,
                           dh_sb_resp_t *resp);

/** @brief POST .../admin/oauth/access_token (client credentials grant). */
void dh_sb_shopify_oauth(dh_sb_state_t *st, const char *shop_domain, const dh_sb_req_t *req,
                         dh_sb_resp_t *resp);

/** @brief /_control/shops/{shop}/... ; \p rest is the path after the shop. */
void dh_sb_shopify_control(dh_sb_state_t *st, const char *shop_domain, const char *rest,
                           const dh_sb_req_t *req, dh_sb_resp_t *resp);

/** @brief GET /_control/stats body (new reference). */
json_t *dh_sb_shopify_stats(dh_sb_state_t *st);

/** @brief A top-level GraphQL error {message, extensions:{code}} appended to \p errors. */
void dh_sb_gql_error(json_t *errors, const char *code, const char *message);

/** @brief A userError {code?, field, message}; \p field is a JSON array (stolen) or NULL. */
json_t *dh_sb_user_error(const char *code, json_t *field, const char *message);

/** @brief A connection {nodes, edges, pageInfo} over \p all (stolen) honouring first/after. */
json_t *dh_sb_connection(json_t *all, json_t *args);

/* Operations (shopify_inv.c) */
json_t *dh_sb_op_product_variants(dh_sb_state_t *st, dh_sb_shop_t *shop, json_t *node,
                                  json_t *errors);
json_t *dh_sb_op_products(dh_sb_state_t *st, dh_sb_shop_t *shop, json_t *node, json_t *errors);

/* ---- the catalogue (shopify_cat.c): product shapes, bulk operations ---- */

/** @brief Product \p pid as a GraphQL Product node, variants selected by \p pnode. */
json_t *dh_sb_product_node(dh_sb_shop_t *shop, const char *pid, json_t *pnode);
/** @brief Add options, featuredMedia and metafields of stored product \p p to node \p o. */
void dh_sb_catalog_product_fields(json_t *p, json_t *o);
/** @brief Add selectedOptions, image and inventoryItem.measurement to variant node \p o. */
void dh_sb_catalog_variant_fields(json_t *p, json_t *var, json_t *o);
/** @brief Product \p p as Shopify's REST product (webhook payload), new reference. */
json_t *dh_sb_product_rest(dh_sb_shop_t *shop, json_t *p);
json_t *dh_sb_op_bulk_run_query(dh_sb_state_t *st, dh_sb_shop_t *shop, json_t *node,
                                json_t *errors);
json_t *dh_sb_op_bulk_operation(dh_sb_state_t *st, dh_sb_shop_t *shop, json_t *node,
                                json_t *errors);
/** @brief GET /_bulk/{shop}/{id}.jsonl (Range: bytes=N- honoured). */
void dh_sb_bulk_download(dh_sb_state_t *st, const dh_sb_req_t *req, dh_sb_resp_t *resp);
json_t *dh_sb_op_locations(dh_sb_state_t *st, dh_sb_shop_t *shop, json_t *node, json_t *errors);
json_t *dh_sb_op_inventory_items(dh_sb_state_t *st, dh_sb_shop_t *shop, json_t *node,
                                 json_t *errors);
json_t *dh_sb_op_inventory_item(dh_sb_state_t *st, dh_sb_shop_t *shop, json_t *node,
                                json_t *errors);
json_t *dh_sb_op_inventory_activate(dh_sb_state_t *st, dh_sb_shop_t *shop, json_t *node,
                                    json_t *errors);
json_t *dh_sb_op_inventory_set(dh_sb_state_t *st, dh_sb_shop_t *shop, json_t *node, json_t *errors);
json_t *dh_sb_op_inventory_adjust(dh_sb_state_t *st, dh_sb_shop_t *shop, json_t *node,
                                  json_t *errors);

/* Operations (shopify_ful.c) */
json_t *dh_sb_op_order(dh_sb_state_t *st, dh_sb_shop_t *shop, json_t *node, json_t *errors);
json_t *dh_sb_op_orders(dh_sb_state_t *st, dh_sb_shop_t *shop, json_t *node, json_t *errors);
json_t *dh_sb_op_fulfillment_create(dh_sb_state_t *st, dh_sb_shop_t *shop, json_t *node,
                                    json_t *errors);
json_t *dh_sb_op_fulfillment_event_create(dh_sb_state_t *st, dh_sb_shop_t *shop, json_t *node,
                                          json_t *errors);
json_t *dh_sb_op_tags_add(dh_sb_state_t *st, dh_sb_shop_t *shop, json_t *node, json_t *errors);

/** @brief The REST-shaped order without internal "_" keys (new reference), for webhooks. */
json_t *dh_sb_order_rest(json_t *order);

#endif
