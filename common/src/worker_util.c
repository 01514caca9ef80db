/*
 * Small helpers for worker handlers that more than one worker needs (see worker.h):
 * header copies, and the Shopify and WMS calls classified by the outcome table (outcome.c).
 */
#include <stdio.h>
#include <string.h>

#include "dockhand/outcome.h"
#include "dockhand/worker.h"

int dh_msg_header_copy(const dh_msg_t *msg, const char *name, char *buf, size_t size)
{
    size_t len = 0;
    const char *v = dh_msg_header(msg, name, &len);

    if (!v || len == 0 || len >= size) {
        return -1;
    }
    memcpy(buf, v, len);
    buf[len] = '\0';
    return 0;
}

int dh_lane_wms_call(dh_lane_t *lane, const char *group, const char *method, const char *path,
                     const char *idempotency_key, json_t *body, dh_wms_reply_t *rep,
                     dh_result_t *res)
{
    dh_outcome_t o;

    if (dh_lane_wms_try(lane, group, method, path, idempotency_key, body, rep, &o) == 0) {
        return 0;
    }
    *res = dh_lane_outcome(lane, &o);
    return -1;
}

int dh_lane_shopify_call(dh_lane_t *lane, const dh_store_t *store, dh_gql_doc_t doc, json_t *vars,
                         dh_gql_reply_t *rep, dh_result_t *res)
{
    dh_outcome_t o;

    if (dh_lane_shopify_try(lane, store, doc, vars, rep, &o) == 0) {
        return 0;
    }
    *res = dh_lane_outcome(lane, &o);
    return -1;
}
