/*
 * returnprime: POST /_control/returnprime/requests builds a Return Prime webhook
 * ({"request": {...}}, the assumed shape stated in docs/returns.md) and delivers it signed with
 * X-RP-Signature = hex(HMAC-SHA256(secret, timestamp + "." + body)).
 */
#ifndef DH_SB_RETURNPRIME_H
#define DH_SB_RETURNPRIME_H

#include "http.h"
#include "state.h"

/** @brief Build the webhook payload (new reference) from a control request body. */
json_t *dh_sb_rp_payload(json_t *spec, const char *now);

/** @brief X-RP-Signature for \p body at \p timestamp into \p out (65 bytes, hex). */
void dh_sb_rp_sign(const char *secret, const char *timestamp, const char *body, char out[65]);

/** @brief The control endpoint. */
void dh_sb_rp_control(dh_sb_state_t *st, const dh_sb_req_t *req, dh_sb_resp_t *resp);

#endif
