/*
 * The re-push queue (docs/inventory.md §2): dh-dispatch (after a fulfilment or when a
 * shipment leaves the WMS), dh-orders (a refund with restock) and the ledger enqueue a
 * (facility, sku) whose Shopify on_hand may be off; each tick claims a bounded number per
 * store and sets their locations again from the records, under the fences, through the
 * same path as events. A claim not settled (crash) comes back after the fence lease.
 */
#include <stdio.h>
#include <stdlib.h>

#include "dockhand/log.h"
#include "dockhand/stockledger.h"
#include "inventory.h"

#define REPUSH_PER_TICK 64 /* per store and tick: bounded work */
#define REPUSH_RETRY_MS 1000

typedef struct rp {
    dh_sl_repush_t c[REPUSH_PER_TICK];
    inv_sku_t sku[REPUSH_PER_TICK];
    inv_set_t set[REPUSH_PER_TICK];
    size_t map[REPUSH_PER_TICK]; /* set -> claim */
} rp_t;

/* Settles claim \p c: done (removed unless enqueued again since) or due again later. */
static void settle(dh_lane_t *lane, const dh_store_t *st, const dh_sl_repush_t *c, int done,
                   int64_t later_ms)
{
    dh_redis_t *r = dh_lane_redis(lane);
    dh_err_t err =
        done ? dh_sl_repush_done(r, st->domain, c) : dh_sl_repush_later(r, st->domain, c, later_ms);

    if (err != DH_OK) {
        /* The claim's lease brings it back. */
        DH_LOG(DH_LOG_WARN, "inventory", "re-push %s %s|%s: settling failed: %s", st->domain,
               c->facility, c->sku, dh_redis_errstr(r));
    }
}

/* Claims resolved into sets (x->set); the others settled. @returns the number of sets. */
static size_t to_sets(inv_shared_t *sh, dh_lane_t *lane, const dh_store_t *st, rp_t *x, size_t n)
{
    dh_outcome_t fail;
    size_t ns = 0;

    for (size_t j = 0; j < n; j++) {
        x->sku[j] = (inv_sku_t){.sku = x->c[j].sku};
    }
    inv_resolve_skus(sh, lane, st, x->sku, n, &fail);
    for (size_t j = 0; j < n; j++) {
        const char *loc = dh_stores_location(sh->stores, st, x->c[j].facility);

        if (x->sku[j].status == INV_SKU_FAILED) {
            settle(lane, st, &x->c[j], 0,
                   fail.retry_after_ms > 0 ? fail.retry_after_ms : REPUSH_RETRY_MS);
        } else if (!loc || x->sku[j].status != INV_SKU_OK) {
            DH_LOG(DH_LOG_INFO, "inventory", "re-push %s %s|%s dropped: %s", st->domain,
                   x->c[j].facility, x->c[j].sku, loc ? x->sku[j].detail : "facility not mapped");
            settle(lane, st, &x->c[j], 1, 0);
        } else {
            x->set[ns] = (inv_set_t){.sku = x->c[j].sku,
                                     .item = x->sku[j].item,
                                     .location = loc,
                                     .facility = x->c[j].facility,
                                     .seq = -1,
                                     .base = -1};
            x->map[ns++] = j;
        }
    }
    return ns;
}

static void repush_store(inv_shared_t *sh, dh_lane_t *lane, const dh_store_t *st, rp_t *x)
{
    size_t n = 0, ns;
    char tag[64];

    if (dh_sl_repush_claim(dh_lane_redis(lane), st->domain, sh->fence_ms, x->c, REPUSH_PER_TICK,
                           &n) != DH_OK ||
        n == 0) {
        return;
    }
    ns = to_sets(sh, lane, st, x, n);
    if (ns == 0) {
        return;
    }
    /* Its own idempotency key: the same value as an earlier call must still be set again
     * (a fulfilment may have lowered Shopify's on_hand since). */
    snprintf(tag, sizeof(tag), "repush:%lld", (long long)x->c[0].claim);
    inv_apply(sh, lane, st, tag, x->set, ns);
    for (size_t k = 0; k < ns; k++) {
        const inv_set_t *s = &x->set[k];
        const dh_sl_repush_t *c = &x->c[x->map[k]];

        if (s->what == INV_SET_PUSHED) {
            dh_counter_add(inv_metrics(sh)->repushes, 1);
        }
        if (s->o.result == DH_RESULT_DONE || s->o.result == DH_RESULT_DEAD_LETTER) {
            if (s->o.result == DH_RESULT_DEAD_LETTER) {
                DH_LOG(DH_LOG_WARN, "inventory", "re-push %s %s|%s: %s", st->domain, c->facility,
                       c->sku, s->o.error);
            }
            settle(lane, st, c, 1, 0);
        } else {
            settle(lane, st, c, 0, s->o.retry_after_ms > 0 ? s->o.retry_after_ms : REPUSH_RETRY_MS);
        }
    }
}

void inv_repush_tick(inv_shared_t *sh, dh_lane_t *lane)
{
    rp_t *x = malloc(sizeof(*x));

    if (!x) {
        return;
    }
    for (size_t i = 0; i < dh_stores_count(sh->stores); i++) {
        repush_store(sh, lane, dh_stores_at(sh->stores, i), x);
    }
    free(x);
}
