/*
 * Return Prime API client (rp_api.h). Assumed shapes: docs/returns.md.
 */
#include "rp_api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "returns.h"

void rp_receive_path(const char *id, char *out, size_t size)
{
    char enc[400];

    returns_url_encode(id, enc, sizeof(enc));
    snprintf(out, size, "/request/%s/receive", enc);
}

/* The HTTP answer as the WMS client would report it: the outcome table's input. */
static dh_err_t classify(const dh_http_resp_t *hr, dh_wms_reply_t *rep, int64_t *wait_ms)
{
    json_t *msg;

    rep->status = hr->status;
    if (hr->status == 401 || hr->status == 403) {
        return DH_ERR_AUTH;
    }
    if (hr->status == 429) {
        *wait_ms = hr->retry_after_s > 0 ? hr->retry_after_s * 1000 : 1000;
        return DH_ERR_RATE;
    }
    if (hr->status >= 500 || hr->status < 200) {
        return DH_ERR_PROTO;
    }
    rep->body = json_loadb(hr->body ? hr->body : "", hr->body_len, 0, NULL);
    if (hr->status < 300 && !json_is_object(rep->body)) {
        json_decref(rep->body);
        rep->body = NULL;
        return DH_ERR_PROTO;
    }
    msg = json_object_get(rep->body, "message");
    snprintf(rep->detail, sizeof(rep->detail), "%s",
             json_string_value(msg) ? json_string_value(msg) : "");
    return DH_OK;
}

int rp_call(dh_lane_t *lane, const char *base, const dh_store_t *store, const char *method,
            const char *path, json_t *body, dh_wms_reply_t *rep, dh_outcome_t *o)
{
    char url[1200], auth[600], what[300], errstr[256] = "";
    const char *headers[] = {auth, "Content-Type: application/json", "Accept: application/json",
                             NULL};
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    dh_http_resp_t hr;
    int64_t wait_ms = 0;
    dh_err_t err;

    memset(rep, 0, sizeof(*rep));
    memset(&hr, 0, sizeof(hr));
    snprintf(url, sizeof(url), "%s%s", base, path);
    snprintf(auth, sizeof(auth), "x-rp-token: %s", store->returnprime_token);
    snprintf(what, sizeof(what), "Return Prime %s %s %.200s", store->domain, method, path);
    if (body && !text) {
        err = DH_ERR_NOMEM;
    } else {
        err = dh_http_request(dh_lane_http(lane), method, url, headers, text,
                              text ? strlen(text) : 0, &hr);
    }
    if (err == DH_OK) {
        err = classify(&hr, rep, &wait_ms);
    } else if (err == DH_ERR_LIMIT) {
        err = DH_ERR_PROTO; /* an answer over the cap: unreadable */
    }
    if (err != DH_OK && err != DH_ERR_NOMEM) {
        snprintf(errstr, sizeof(errstr), "%s",
                 hr.status ? "HTTP error" : dh_http_errstr(dh_lane_http(lane)));
    }
    dh_http_resp_clear(&hr);
    free(text);
    return dh_far_outcome(lane, DH_FAR_RETURNPRIME, err, rep->status, wait_ms, what, errstr, o);
}
