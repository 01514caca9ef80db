/*
 * dh-dispatch's side of the shipment ledger (dockhand/stockledger.h, docs/inventory.md):
 * a shipment's lines are `open` from the moment its event arrives, `inflight` from just
 * before fulfillmentCreate, `done` once Shopify has the fulfillment, and back to `open`
 * when the fulfillment definitely was not created. dh-inventory counts them in every
 * absolute stock it sets, so a snapshot older or newer than the shipment never puts
 * shipped units back on sale.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dispatch.h"
#include "dockhand/log.h"

/* "<shipment>#<i>": a shipment id is at most 128 code points (512 bytes of UTF-8). */
#define LINE_ID_MAX 540

int dispatch_ledger_init(dispatch_ledger_t *l, const dispatch_event_t *ev)
{
    memset(l, 0, sizeof(*l));
    if (ev->kind != DISPATCH_SHIPMENT || !ev->facility || ev->nlines == 0) {
        return 0;
    }
    l->lines = calloc(ev->nlines, sizeof(*l->lines));
    l->ids = calloc(ev->nlines, LINE_ID_MAX);
    if (!l->lines || !l->ids) {
        dispatch_ledger_clear(l);
        return -1;
    }
    for (size_t i = 0; i < ev->nlines; i++) {
        char *id = l->ids + i * LINE_ID_MAX;

        snprintf(id, LINE_ID_MAX, "%s#%zu", ev->shipment_id, i);
        l->lines[i] = (dh_sl_line_t){ev->facility, ev->lines[i].sku, id, ev->lines[i].stock_seq,
                                     ev->lines[i].quantity};
    }
    l->n = ev->nlines;
    return 0;
}

void dispatch_ledger_clear(dispatch_ledger_t *l)
{
    free(l->lines);
    free(l->ids);
    memset(l, 0, sizeof(*l));
}

dh_result_t dispatch_ledger_open(dispatch_ledger_t *l, dh_lane_t *lane, const char *store)
{
    l->began = 0; /* a new attempt */
    if (!l->n || l->opened) {
        return DH_RESULT_DONE;
    }
    if (dh_sl_dispatch_open(dh_lane_redis(lane), store, l->lines, l->n)) {
        dh_lane_fail(lane, "redis", "ledger open %s: %s", l->lines[0].line_id,
                     dh_redis_errstr(dh_lane_redis(lane)));
        return DH_RESULT_RETRY;
    }
    l->opened = 1; /* once per delivery: a hold parks the event for minutes */
    return DH_RESULT_DONE;
}

dh_result_t dispatch_ledger_begin(dispatch_ledger_t *l, dh_lane_t *lane, const char *store,
                                  dh_counter_t *waits)
{
    int busy = 0;

    if (!l->n) {
        return DH_RESULT_DONE;
    }
    if (dh_sl_dispatch_begin(dh_lane_redis(lane), store, l->lines, l->n, &busy)) {
        dh_lane_fail(lane, "redis", "ledger begin %s: %s", l->lines[0].line_id,
                     dh_redis_errstr(dh_lane_redis(lane)));
        return DH_RESULT_RETRY;
    }
    if (busy) {
        /* dh-inventory is computing or setting one of these SKUs' stock: the fulfillment
         * must not land in between (a wait, never an attempt). */
        if (waits) {
            dh_counter_add(waits, 1);
        }
        dh_lane_retry_after(lane, DISPATCH_FENCE_WAIT_MS);
        dh_lane_fail(lane, "stock-fence", "shipment line %s: a stock fence is held",
                     l->lines[0].line_id);
        return DH_RESULT_WAIT;
    }
    l->began = 1;
    return DH_RESULT_DONE;
}

dh_result_t dispatch_ledger_settle(dispatch_ledger_t *l, dh_lane_t *lane, const char *store,
                                   dh_result_t res, int fulfilled)
{
    if (!l->n) {
        return res;
    }
    if (!fulfilled && res != DH_RESULT_DEAD_LETTER && !(res == DH_RESULT_WAIT && l->began)) {
        /* An unknown outcome (retry) stays inflight. A wait before this attempt's begin (a
         * held fence or fulfillment order) changes nothing: an earlier attempt's timed-out
         * create may still land. */
        return res;
    }
    if (dh_sl_dispatch_finish(dh_lane_redis(lane), store, l->lines, l->n, fulfilled)) {
        if (res == DH_RESULT_DONE) {
            /* Shopify has it: the next attempt adopts it and finishes again. */
            dh_lane_fail(lane, "redis", "ledger finish %s: %s", l->lines[0].line_id,
                         dh_redis_errstr(dh_lane_redis(lane)));
            return DH_RESULT_RETRY;
        }
        DH_LOG(DH_LOG_WARN, "dispatch", "ledger finish %s: %s (left %s)", l->lines[0].line_id,
               dh_redis_errstr(dh_lane_redis(lane)), l->began ? "inflight" : "as it was");
        return res;
    }
    l->began = 0;
    return res;
}
