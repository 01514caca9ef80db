/*
 * Where a verified webhook goes: the Kafka topic for a Shopify webhook topic, and the
 * resource id that makes up the message key (docs/events.md: "<shop-domain>|<id>" so
 * that every event of one order, product or return request lands on one partition, in
 * order). Pure: no I/O, safe from any thread.
 */
#ifndef DH_GW_ROUTE_H
#define DH_GW_ROUTE_H

#include <stddef.h>

#include "dockhand/err.h"

#define DH_GW_TOPIC_ORDERS      "shopify.orders"
#define DH_GW_TOPIC_PRODUCTS    "shopify.products"
#define DH_GW_TOPIC_RETURNPRIME "returnprime.cir"

/** Longest resource id accepted in a key (Shopify ids are <= 20 digits). */
#define DH_GW_ID_MAX 128

/**
 * @brief The Kafka topic for Shopify webhook topic \p topic (e.g. "orders/create").
 * @returns A static string, or NULL when dockhand does not consume that topic (the
 *          webhook is then acknowledged and counted, never retried by Shopify).
 */
const char *dh_gw_route_shopify(const char *topic);

typedef enum dh_gw_id_path {
    DH_GW_ID_TOP,     /**< Shopify: the body's top-level "id" (an integer >= 1). */
    DH_GW_ID_REQUEST, /**< Return Prime: "request"."id". */
    DH_GW_ID_ORDER,   /**< Shopify fulfillment holds and refunds: the order's id ("order_id",
                           "fulfillment_order"."order_id" or "fulfillment_hold"."order_id",
                           numeric or a GID), so hold events share the order's key and stay
                           in order with it. */
} dh_gw_id_path_t;

/** @brief Where the resource id of Shopify webhook \p topic is found. */
dh_gw_id_path_t dh_gw_id_path(const char *topic);

/**
 * @brief Parse the raw JSON body and copy the resource id as text into \p out, by the
 *        rule its consumer applies: Shopify "id" is a JSON integer >= 1
 *        (dh_v_shopify_id(), as dh-orders and the schemas require); a hold's order id is
 *        dh_v_shopify_hold_order_id(); Return Prime's "request"."id" is an integer >= 0 or
 *        a string.
 * @returns DH_OK; DH_ERR_PROTO when the body is not a JSON object; DH_ERR_INVALID when
 *          the id is missing or breaks that rule, or (a string) is empty, too long or
 *          contains '|' or a control character (it would make the key ambiguous).
 *          \p errstr says which.
 */
DH_NODISCARD dh_err_t dh_gw_extract_id(const char *body, size_t len, dh_gw_id_path_t path,
                                       char *out, size_t out_size, char *errstr,
                                       size_t errstr_size);

#endif
