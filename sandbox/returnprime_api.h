/*
 * returnprime_api: the Return Prime REST API calls dockhand makes, under
 * /returnprime/return-exchange/v2 with header x-rp-token (docs/sandbox.md):
 *   GET  /request/{id}            -> {status, data: {request}}
 *   GET  /request?updated_at_min=&page=  -> {status, data: {list[], hasNextPage, ...}}
 *   POST /request/{id}/receive    -> marks the request received and inspected with each
 *                                    line's QC result (assumed endpoint, docs/returns.md)
 * Requests are the ones the webhook control endpoint built (dh_sb_rp_remember()). A
 * store's token (seed returnprime.api_tokens {domain: token}) sees that store's requests
 * only; the one token returnprime.api_token sees every one.
 */
#ifndef DH_SB_RETURNPRIME_API_H
#define DH_SB_RETURNPRIME_API_H

#include "http.h"
#include "state.h"

/** @brief Record \p request (borrowed) of \p store (may be NULL) as Return Prime's current
 *  state of it (takes the lock); a receipt already recorded on it is kept. */
void dh_sb_rp_remember(dh_sb_state_t *st, json_t *request, const char *store);

/** @brief The API (takes the lock). */
void dh_sb_rp_api(dh_sb_state_t *st, const dh_sb_req_t *req, dh_sb_resp_t *resp);

#endif
