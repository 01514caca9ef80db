/*
 * Small helpers for worker handlers that more than one worker needs (see worker.h):
 * header copies and the usual mapping of a WMS call's transport outcome to a result.
 */
#include <stdio.h>
#include <string.h>

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
    char errstr[256] = "";
    int64_t wait_ms = 0;
    dh_wms_t *w = dh_lane_wms(lane);
    dh_err_t err;

    memset(rep, 0, sizeof(*rep));
    if (!w) {
        dh_lane_fail(lane, "internal", "cannot set up the lane's WMS client");
        *res = DH_RESULT_FATAL;
        return -1;
    }
    err = dh_wms_call(w, group, method, path, idempotency_key, body, rep, &wait_ms, errstr,
                      sizeof(errstr));
    switch (err) {
    case DH_OK:
        return 0;
    case DH_ERR_LIMIT:
        dh_lane_retry_after(lane, wait_ms > 0 ? wait_ms : 100);
        dh_lane_fail(lane, "rate-limit", "WMS %s %s: %s", method, path, errstr);
        *res = DH_RESULT_WAIT;
        return -1;
    default:
        /* TIMEOUT/IO/PROTO(5xx): the outcome may be unknown; the Idempotency-Key makes the
         * retry safe. */
        dh_lane_fail(lane, "http", "WMS %s %s: %s (%s)", method, path, dh_err_str(err), errstr);
        *res = DH_RESULT_RETRY;
        return -1;
    }
}
