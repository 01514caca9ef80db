/*
 * dh-returns' reconciliation pass (reconcile.c): Return Prime requests updated since a
 * watermark, republished to returnprime.cir like webhooks. Private to workers/returns/.
 */
#ifndef DH_RETURNS_RECONCILE_H
#define DH_RETURNS_RECONCILE_H

#include <stdint.h>

#include "dockhand/metrics.h"
#include "dockhand/stores.h"
#include "dockhand/worker.h"
#include "returns.h"

typedef struct returns_recon {
    const dh_stores_t *stores; /* borrowed */
    const char *rp_url;        /* DH_RETURNPRIME_URL, no trailing slash (borrowed) */
    char topic[256];           /* the returnprime.cir topic the worker consumes */
    unsigned create_mask;
    int64_t interval_s; /* DH_RETURNS_RECONCILE_INTERVAL_S; 0 = off */
    int64_t lookback_s; /* DH_RETURNS_RECONCILE_LOOKBACK_S: a store's first pass */
    int64_t next_s;     /* this process: when the next pass may start (one lane ticks) */
    dh_counter_t *passes, *published; /* store passes completed; requests published */
} returns_recon_t;

/** @brief A pass over every store when due (called from tick()). */
void returns_reconcile_tick(returns_recon_t *cfg, dh_lane_t *lane);

/** @brief Unix seconds of an RFC 3339 time (offset or Z; fraction ignored), or -1. */
int64_t returns_time_parse(const char *s);

#endif
