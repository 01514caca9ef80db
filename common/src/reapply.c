/*
 * Deliberate re-applies (dh-ops replay --reapply): a copy of an event carrying the
 * header "dh-reapply: <nonce>" is a NEW event for the runtime. Its idempotency record is
 * "<effect id>#reapply:<nonce>" (so it is not a duplicate of the original), and the far
 * keys made through the lane while it is handled alone (dh_lane_far_key(), every
 * dh_lane_wms_call()) mix the nonce in, so Shopify or the WMS does not absorb the repeat
 * by its key. Nothing here decides whether the effect is still wanted: handlers' own
 * rules (sequences, recorded fulfillments) still apply to the copy.
 */
#include <stdio.h>
#include <string.h>

#include "dockhand/idem.h"
#include "dockhand/log.h"
#include "runtime.h"

int dh_rt_reapply_nonce(const dh_rt_ev_t *ev, char *buf, size_t size)
{
    const void *v = NULL;
    size_t len = 0;

    buf[0] = '\0';
    if (!ev->hdrs || rd_kafka_header_get_last(ev->hdrs, DH_REAPPLY_HEADER, &v, &len)) {
        return 0;
    }
    if (!v || len == 0 || len > DH_REAPPLY_NONCE_MAX || len >= size) {
        return -1;
    }
    for (size_t i = 0; i < len; i++) {
        char c = ((const char *)v)[i];

        /* Printable and unambiguous in a record key and a log line. */
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.')) {
            return -1;
        }
    }
    memcpy(buf, v, len);
    buf[len] = '\0';
    return 1;
}

dh_err_t dh_rt_reapply_effect(dh_event_t *dev, const char *nonce)
{
    char id[sizeof(dev->effect_id)];

    snprintf(id, sizeof(id), "%s", dev->effect_id);
    return dh_event_set_effect(dev, "%s#reapply:%s", id, nonce);
}

dh_result_t dh_rt_reapply_decoded(const dh_handler_t *h, dh_rt_ev_t *ev)
{
    char nonce[DH_REAPPLY_NONCE_MAX + 1];
    int rc = dh_rt_reapply_nonce(ev, nonce, sizeof(nonce));

    if (rc == 0 || (rc > 0 && (!ev->dev || !ev->dev->effect_id[0]))) {
        return DH_RESULT_DONE; /* no record of ours: only the far keys change */
    }
    if (rc > 0 && !dh_rt_reapply_effect(ev->dev, nonce)) {
        DH_LOG(DH_LOG_WARN, "lane", "re-apply %s of %s [%d] at %lld: a new effect %s", nonce,
               ev->part->topic, (int)ev->part->partition, (long long)ev->offset,
               ev->dev->effect_id);
        return DH_RESULT_DONE;
    }
    /* Not decoded after all: what decode() made is released here, not with the event. */
    if (ev->dev && h->release) {
        h->release(ev->dev->data);
        ev->dev->data = NULL;
    }
    if (rc > 0) {
        return DH_RESULT_FATAL; /* out of memory for the digest */
    }
    dh_rt_ev_set_err(ev, "reapply", "malformed %s header (1-%d of [A-Za-z0-9._-])",
                     DH_REAPPLY_HEADER, DH_REAPPLY_NONCE_MAX);
    return DH_RESULT_DEAD_LETTER;
}

void dh_reapply_far_key(const char *nonce, const char *ns, const char *effect_id, char out[37])
{
    char mixed[1024];

    if (!nonce) {
        dh_idem_far_key(ns, effect_id, out);
        return;
    }
    /* An id too long for the buffer still yields one key per (id, nonce): its prefix, the
     * nonce and the full id's own far key. */
    if (snprintf(mixed, sizeof(mixed), "%s#reapply:%s", effect_id, nonce) >= (int)sizeof(mixed)) {
        char whole[37];

        dh_idem_far_key(ns, effect_id, whole);
        snprintf(mixed, sizeof(mixed), "%.900s~%s#reapply:%s", effect_id, whole, nonce);
    }
    dh_idem_far_key(ns, mixed, out);
}

void dh_lane_far_key(dh_lane_t *lane, const char *ns, const char *effect_id, char out[37])
{
    dh_reapply_far_key(dh_lane_reapply(lane), ns, effect_id, out);
}
