/*
 * Every absolute set of on_hand (event, full-sync row, re-push) goes through inv_apply()
 * (docs/inventory.md §1-§2): the fences of every facility mapped to the location are
 * taken and, in the same script, the records and the shipment ledger read; on_hand =
 * max(0, sum of base + adj) is sent while the fences are held (no call starts after the
 * lease minus the HTTP timeout), then recorded and the fences released (commit).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dockhand/log.h"
#include "dockhand/stockledger.h"
#include "inventory.h"

#define MAX_FAC       16  /* facilities of one location considered */
#define FENCE_WAIT_MS 200 /* a held fence: WAIT this long (not an attempt) */

typedef struct apply {
    dh_sl_item_t it[INV_BATCH_MAX];
    dh_sl_fac_t fac[INV_BATCH_MAX][MAX_FAC];
    const char *loc[INV_BATCH_MAX], *gid[INV_BATCH_MAX];
    size_t ni;
    size_t of[INV_BATCH_MAX]; /* set -> item */
    int fidx[INV_BATCH_MAX];  /* set -> facility of its item, -1: none */
    int live[INV_BATCH_MAX];  /* per item: some set of it is not stale */
    inv_qty_t q[INV_BATCH_MAX];
    inv_qres_t res[INV_BATCH_MAX];
    size_t qitem[INV_BATCH_MAX], nq;
    char owner[200];
} apply_t;

static int64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The item of (location, sku), made with every facility mapped to the location. */
static size_t item_of(const inv_shared_t *sh, const dh_store_t *store, apply_t *a,
                      const inv_set_t *s)
{
    const char *names[MAX_FAC];
    size_t n, k;

    for (k = 0; k < a->ni; k++) {
        if (!strcmp(a->loc[k], s->location) && !strcmp(a->it[k].sku, s->sku)) {
            return k;
        }
    }
    n = dh_stores_facilities(sh->stores, store, s->location, names, MAX_FAC);
    n = n > MAX_FAC ? MAX_FAC : n;
    a->loc[k] = s->location;
    a->gid[k] = s->item;
    a->it[k] = (dh_sl_item_t){.sku = s->sku, .fac = a->fac[k], .nfac = n};
    for (size_t j = 0; j < n; j++) {
        a->fac[k][j] = (dh_sl_fac_t){.facility = names[j], .cand_seq = -1, .cand_base = -1};
    }
    a->ni++;
    return k;
}

/* Groups the sets by (location, sku); the newest candidate per facility wins. */
static void group(const inv_shared_t *sh, const dh_store_t *store, apply_t *a, inv_set_t *s,
                  size_t n)
{
    a->ni = 0;
    for (size_t i = 0; i < n; i++) {
        size_t k = item_of(sh, store, a, &s[i]);
        dh_sl_item_t *it = &a->it[k];

        a->of[i] = k;
        a->fidx[i] = -1;
        for (size_t j = 0; s[i].facility && j < it->nfac; j++) {
            if (!strcmp(it->fac[j].facility, s[i].facility)) {
                a->fidx[i] = (int)j;
            }
        }
        if (a->fidx[i] < 0 && s[i].facility && it->nfac < MAX_FAC) {
            /* Not mapped to this location (cannot happen with the caller's mapping). */
            it->fac[it->nfac] = (dh_sl_fac_t){.facility = s[i].facility, .cand_seq = -1};
            a->fidx[i] = (int)it->nfac++;
        }
        if (a->fidx[i] >= 0 && s[i].seq > it->fac[a->fidx[i]].cand_seq) {
            it->fac[a->fidx[i]].cand_seq = s[i].seq;
            it->fac[a->fidx[i]].cand_base = s[i].base;
        }
    }
}

static void set_outcome(inv_set_t *s, inv_set_what_t what, dh_result_t r, int64_t after,
                        const char *cls, const char *why)
{
    s->what = what;
    memset(&s->o, 0, sizeof(s->o));
    s->o.result = r;
    s->o.retry_after_ms = after;
    snprintf(s->o.error_class, sizeof(s->o.error_class), "%s", cls);
    snprintf(s->o.error, sizeof(s->o.error), "%s", why);
}

/* A set is stale when its facility's snapshot used is not its own (an older sequence than
 * the record, or a newer one in the same call), or equal to the record where not allowed. */
static int stale(const apply_t *a, size_t i, const inv_set_t *s)
{
    const dh_sl_fac_t *f;

    if (s->seq < 0 || a->fidx[i] < 0) {
        return s->seq >= 0; /* a re-push is never stale */
    }
    f = &a->it[a->of[i]].fac[a->fidx[i]];
    return f->seq != s->seq || (f->rec_seq == s->seq && !s->equal_ok);
}

/* After the fence take: busy, stale, unchanged or due; due items go to a->q. */
static void decide(inv_shared_t *sh, apply_t *a, inv_set_t *s, size_t n)
{
    int same[INV_BATCH_MAX];

    a->nq = 0;
    for (size_t k = 0; k < a->ni; k++) {
        a->live[k] = 0;
        same[k] = 1;
        a->it[k].applied = 0;
        a->it[k].pushed = -1;
    }
    for (size_t i = 0; i < n; i++) {
        dh_sl_item_t *it = &a->it[a->of[i]];

        if (it->busy) {
            dh_counter_add(inv_metrics(sh)->fence_waits, 1);
            set_outcome(&s[i], INV_SET_BUSY, DH_RESULT_WAIT, FENCE_WAIT_MS, "fence",
                        "the SKU's stock is being set or fulfilled elsewhere (fence held)");
        } else if (stale(a, i, &s[i])) {
            set_outcome(&s[i], INV_SET_STALE, DH_RESULT_DONE, 0, "", "");
        } else {
            a->live[a->of[i]] = 1;
            same[a->of[i]] &= s[i].same_no_call && a->fidx[i] >= 0 &&
                              dh_sl_item_on_hand(it) == it->fac[a->fidx[i]].rec_pushed;
        }
    }
    for (size_t k = 0; k < a->ni; k++) {
        int64_t v = dh_sl_item_on_hand(&a->it[k]);

        if (!a->live[k] || a->it[k].busy || v < 0) {
            continue;
        }
        a->it[k].pushed = v;
        if (same[k]) {
            a->it[k].applied = 1; /* Shopify already has it: record, no call */
            continue;
        }
        a->q[a->nq] = (inv_qty_t){a->gid[k], a->loc[k], v, -1, k, 0};
        for (size_t j = 0; j < a->it[k].nfac; j++) {
            if (a->it[k].fac[j].seq > a->q[a->nq].seq) {
                a->q[a->nq].seq = a->it[k].fac[j].seq;
            }
        }
        a->qitem[a->nq++] = k;
    }
}

/* The call's results onto the items (applied) and the sets (outcome). */
static void spread(apply_t *a, inv_set_t *s, size_t n)
{
    const inv_qres_t *r[INV_BATCH_MAX] = {NULL};

    for (size_t j = 0; j < a->nq; j++) {
        size_t k = a->qitem[j];

        r[k] = &a->res[j];
        a->it[k].applied = a->res[j].o.result == DH_RESULT_DONE && !a->q[j].dropped;
    }
    for (size_t i = 0; i < n; i++) {
        size_t k = a->of[i];

        if (s[i].what != INV_SET_NONE) {
            continue; /* busy or stale */
        }
        s[i].qty = a->it[k].pushed;
        if (!a->live[k] || dh_sl_item_on_hand(&a->it[k]) < 0) {
            set_outcome(&s[i], INV_SET_NOTHING, DH_RESULT_DONE, 0, "", "");
        } else if (!r[k]) {
            set_outcome(&s[i], INV_SET_SAME, DH_RESULT_DONE, 0, "", "");
        } else {
            s[i].what = r[k]->o.result == DH_RESULT_DONE ? INV_SET_PUSHED : INV_SET_FAILED;
            s[i].o = r[k]->o;
        }
    }
}

/* Records the applied items and releases every fence; a failed record retries the sets
 * (Shopify has the value, a replay without the record could regress it). */
static void commit(dh_lane_t *lane, const dh_store_t *store, apply_t *a, inv_set_t *s, size_t n)
{
    dh_redis_t *r = dh_lane_redis(lane);

    if (dh_sl_commit(r, store->domain, a->owner, a->it, a->ni) == DH_OK) {
        return;
    }
    DH_LOG(DH_LOG_WARN, "inventory", "%s: recording the applied stock failed: %s", store->domain,
           dh_redis_errstr(r));
    for (size_t i = 0; i < n; i++) {
        if (a->it[a->of[i]].applied) {
            set_outcome(&s[i], INV_SET_FAILED, DH_RESULT_RETRY, 0, "redis",
                        "recording the applied stock failed");
        }
    }
}

void inv_apply(inv_shared_t *sh, dh_lane_t *lane, const dh_store_t *store, const char *tag,
               inv_set_t *s, size_t n)
{
    static unsigned long long calls;
    apply_t *a = n ? malloc(sizeof(*a)) : NULL;
    int64_t t0 = mono_ms();

    for (size_t i = 0; i < n; i++) {
        s[i].what = INV_SET_NONE;
        s[i].qty = -1;
    }
    if (!a) {
        for (size_t i = 0; i < n; i++) {
            set_outcome(&s[i], INV_SET_FAILED, DH_RESULT_RETRY, 0, "internal", "out of memory");
        }
        return;
    }
    snprintf(a->owner, sizeof(a->owner), "%s:%p:%llu", sh->owner, (void *)lane,
             __atomic_fetch_add(&calls, 1, __ATOMIC_RELAXED));
    group(sh, store, a, s, n);
    if (dh_sl_fence_take(dh_lane_redis(lane), store->domain, a->owner, sh->fence_ms, a->it,
                         a->ni) != DH_OK) {
        DH_LOG(DH_LOG_WARN, "inventory", "%s: taking the stock fences failed: %s", store->domain,
               dh_redis_errstr(dh_lane_redis(lane)));
        for (size_t i = 0; i < n; i++) {
            set_outcome(&s[i], INV_SET_FAILED, DH_RESULT_RETRY, 0, "redis",
                        "taking the stock fences failed");
        }
        goto out;
    }
    decide(sh, a, s, n);
    if (a->nq > 0) {
        inv_push(sh, lane, store, tag, a->q, a->nq, a->res, t0 + sh->fence_ms - sh->http_ms);
    }
    spread(a, s, n);
    commit(lane, store, a, s, n);
out:
    free(a);
}
