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
json_t *dh_sb_op_fulfillment_order(dh_sb_state_t *st, dh_sb_shop_t *shop, json_t *node,
                                   json_t *errors);
json_t *dh_sb_op_fulfillment_create(dh_sb_state_t *st, dh_sb_shop_t *shop, json_t *node,
                                    json_t *errors);
json_t *dh_sb_op_fulfillment_event_create(dh_sb_state_t *st, dh_sb_shop_t *shop, json_t *node,
                                          json_t *errors);
json_t *dh_sb_op_fulfillment_tracking_update(dh_sb_state_t *st, dh_sb_shop_t *shop, json_t *node,
                                             json_t *errors);
json_t *dh_sb_op_tags_add(dh_sb_state_t *st, dh_sb_shop_t *shop, json_t *node, json_t *errors);

/* Orders of the control API (shopify_ctl.c, shopify_edit.c; state lock held) */

/** @brief Sign and queue a webhook (deliver=0: a lost one); \p order (may be NULL)
 *  remembers it for /redeliver. */
void dh_sb_send_webhook(dh_sb_state_t *st, dh_sb_shop_t *shop, const char *topic, json_t *payload,
                        json_t *order, int deliver);
/** @brief 1 if \p spec is a line the store can sell (a variant's SKU or a custom item). */
int dh_sb_line_spec_ok(dh_sb_shop_t *shop, json_t *spec);
/** @brief Append the REST line of \p spec to \p order and, when it ships, a line to \p fo
 *  (stock committed at location \p lid). */
void dh_sb_order_add_line(dh_sb_shop_t *shop, json_t *spec, const char *lid, json_t *order,
                          json_t *fo);
/** @brief An order changed at \p now: updated_at, then \p topic with the REST order, which
 *  is also the 200 answer when \p resp is not NULL. */
void dh_sb_order_changed(dh_sb_state_t *st, dh_sb_shop_t *shop, json_t *o, const char *topic,
                         const char *now, int deliver, dh_sb_resp_t *resp);
/** @brief Stamp the order's internal update time (orders query ordering). */
void dh_sb_order_touch(json_t *o);
/** @brief current_total_price and total_outstanding from the current quantities. */
void dh_sb_order_totals(json_t *o);
/* shopify_holds.c */

/** @brief The order's fulfillment order at location \p lid, made when missing: one per
 *  assigned location; OPEN, SCHEDULED (spec "fulfill_at" in the future) or ON_HOLD (spec
 *  "hold": true or "hold_reason", with a hold: dh_sb_order_announce_holds() sends it). */
json_t *dh_sb_order_fo_at(dh_sb_shop_t *shop, json_t *o, const char *lid, json_t *spec,
                          const char *now);
/** @brief fulfillment_holds/added for every hold the order's fulfillment orders carry
 *  (after orders/create of an order placed on hold). */
void dh_sb_order_announce_holds(dh_sb_state_t *st, dh_sb_shop_t *shop, json_t *o, int deliver);
/** @brief POST …/orders/{id}/holds {fulfillment_order_id?, reason, reason_notes?, deliver?}:
 *  holds the order's open/scheduled fulfillment orders (or the one given), sends
 *  fulfillment_holds/added per hold. */
void dh_sb_order_hold(dh_sb_state_t *st, dh_sb_shop_t *shop, json_t *o, json_t *spec,
                      dh_sb_resp_t *resp);
/** @brief Releases the holds of the order's ON_HOLD fulfillment orders (or of \p foid):
 *  OPEN again (SCHEDULED while fulfill_at is ahead), fulfillment_holds/released per hold. */
void dh_sb_order_release_holds(dh_sb_state_t *st, dh_sb_shop_t *shop, json_t *o, const char *foid,
                               int deliver, const char *now);
/** @brief POST …/orders/{id}/move {location_id, fulfillment_order_id?, deliver?}
 *  (shopify_fo.c): the fulfillment order (default: the first) and its committed stock move;
 *  fulfillment_orders/moved, then orders/updated. */
void dh_sb_order_fo_move(dh_sb_state_t *st, dh_sb_shop_t *shop, json_t *o, json_t *spec,
                         dh_sb_resp_t *resp);
/** @brief POST …/orders/{id}/ready {fulfillment_order_id?, deliver?} (shopify_fo.c): the
 *  SCHEDULED fulfillment orders (or the one given) reach their fulfill_at: OPEN,
 *  fulfillment_orders/scheduled_fulfillment_order_ready each. */
void dh_sb_order_fo_ready(dh_sb_state_t *st, dh_sb_shop_t *shop, json_t *o, json_t *spec,
                          dh_sb_resp_t *resp);
/** @brief POST …/orders/{id}/mark-paid (shopify_edit.c): financial_status paid,
 *  orders/paid then orders/updated. */
void dh_sb_order_mark_paid(dh_sb_state_t *st, dh_sb_shop_t *shop, json_t *o, json_t *spec,
                           dh_sb_resp_t *resp);
/** @brief POST …/orders/{id}/refund {refund_line_items: [{line_item_id, quantity,
 *  restock_type: cancel|return|no_restock}], note?, deliver?} (shopify_edit.c). */
void dh_sb_order_refund(dh_sb_state_t *st, dh_sb_shop_t *shop, json_t *o, json_t *spec,
                        dh_sb_resp_t *resp);
/** @brief POST …/orders/{id}/edit (shopify_edit.c). */
void dh_sb_order_edit(dh_sb_state_t *st, dh_sb_shop_t *shop, json_t *o, json_t *spec,
                      dh_sb_resp_t *resp);

/** @brief The REST-shaped order without internal "_" keys (new reference), for webhooks. */
json_t *dh_sb_order_rest(json_t *order);

#endif
