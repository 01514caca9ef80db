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

#endif
