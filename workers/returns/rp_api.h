/*
 * The Return Prime API client of dh-returns: the one module that knows Return Prime's
 * REST API, so the real API replaces this assumption in one place. Return Prime publishes
 * no API reference; what is assumed is stated in docs/returns.md, "Return Prime API
 * (assumed)": base DH_RETURNPRIME_URL (.../return-exchange/v2), header x-rp-token (the
 * store's returnprime_token), JSON bodies, answers {status, data: {...}} or
 * {status: false, message}.
 */
#ifndef DH_RETURNS_RP_API_H
#define DH_RETURNS_RP_API_H

#include <jansson.h>

#include "dockhand/outcome.h"
#include "dockhand/stores.h"
#include "dockhand/wms.h"
#include "dockhand/worker.h"

#define RP_DEFAULT_URL "https://admin.returnprime.com/return-exchange/v2"

/**
 * @brief One call to Return Prime on the lane's HTTP handle, classified by the common
 *        outcome table as far side "returnprime": 2xx and 4xx but 401/403/429 are business
 *        answers (0, \p rep filled: status, parsed body, "message" in detail), 401/403
 *        RETRY "auth", 429 WAIT, 5xx / timeouts / refused connections RETRY.
 * @param base  DH_RETURNPRIME_URL, without a trailing slash.
 * @param path  Path under \p base ("/request/123/receive"), already URL-encoded.
 * @returns 0 for a business answer (clear \p rep), else -1 with \p o filled.
 */
DH_NODISCARD int rp_call(dh_lane_t *lane, const char *base, const dh_store_t *store,
                         const char *method, const char *path, json_t *body, dh_wms_reply_t *rep,
                         dh_outcome_t *o);

/** @brief The receive path of request \p id ("/request/<id>/receive", id URL-encoded). */
void rp_receive_path(const char *id, char *out, size_t size);

#endif
