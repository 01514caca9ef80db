/*
 * wms: the WMS API double under /wms/v1 (bearer auth, Idempotency-Key on every write,
 * problem+json errors) plus PUT /_control/wms/inventory. Data lives in state->wms.
 */
#ifndef DH_SB_WMS_H
#define DH_SB_WMS_H

#include "http.h"
#include "state.h"

/** Base URI of the problem types the WMS double returns. */
#define DH_SB_PROBLEM_BASE "https://dockhand.dev/problems/"

/** @brief Handle a request whose path starts with /wms/v1. */
void dh_sb_wms_handle(dh_sb_state_t *st, const dh_sb_req_t *req, dh_sb_resp_t *resp);

/** @brief PUT /_control/wms/inventory: replace the sellable inventory rows. */
void dh_sb_wms_set_inventory(dh_sb_state_t *st, const dh_sb_req_t *req, dh_sb_resp_t *resp);

/** @brief POST /_control/wms/returns/receive {store, return_request_id, lines}: the
 *  warehouse received the return (status RECEIVED; it can no longer be cancelled). */
void dh_sb_wms_return_receive(dh_sb_state_t *st, const dh_sb_req_t *req, dh_sb_resp_t *resp);

/** @brief Pure check of a sales-order create body; appends {field, message} to \p errors. */
void dh_sb_wms_validate_order(json_t *body, json_t *errors);

/** @brief A problem+json answer with type DH_SB_PROBLEM_BASE \p slug (\p errors stolen). */
void dh_sb_wms_problem(dh_sb_resp_t *resp, int status, const char *slug, const char *title,
                       const char *detail, json_t *errors);

/* wms_orders.c (state lock held) */

/** @brief PUT /sales-orders/{store}/{id}: replace lines, non-shipping and unmapped lines and
 *  address of \p so; 409 order-already-picked / order-already-dispatched / order-cancelled
 *  once the order started; 422 when the order it makes is invalid. */
void dh_sb_wms_order_update(json_t *so, json_t *body, dh_sb_resp_t *resp);

/** @brief POST /sales-orders/{store}/{id}/hold {hold_code, hold_reason}: ON_HOLD; 409 as
 *  for an update once the order started; 422 for an unknown code or a missing reason. */
void dh_sb_wms_order_hold(json_t *so, json_t *body, dh_sb_resp_t *resp);

/** @brief 1 (and 409 order-already-dispatched answered) if \p so cannot be cancelled. */
int dh_sb_wms_order_refuse_cancel(json_t *so, dh_sb_resp_t *resp);

/** @brief POST /_control/wms/sales-orders/{store}/{id}/pick|dispatch (\p rest after the
 *  prefix): the warehouse picked or dispatched the order. */
void dh_sb_wms_order_progress(dh_sb_state_t *st, const char *rest, dh_sb_resp_t *resp);

#endif
