/*
 * Model-based test of the stock invariant (issue 13, docs/inventory.md): the real dh-inventory
 * and dh-dispatch, the shared Kafka and Redis, and dh-sandbox as Shopify, against a model of
 * the WMS (per facility and SKU: good_online G, allocated A, picked P, safety S, offline, the
 * stock sequence) and of the orders. A seeded random walk interleaves putaways, moves
 * (online<->offline, online->online), orders placed on Shopify, WMS allocation, pick,
 * dispatch (wms.dispatch with stock_sequence) and fulfilment, cancellations before and after
 * allocation, full-sync slots, kill -9 and restart of a worker and one consumer paused
 * (SIGSTOP) while the other runs ahead. The WMS's two topics lag independently: stock and
 * dispatch events wait in outboxes the walk flushes in part, in order.
 *
 * After every step: never oversold, i.e. for every location L and SKU, Shopify's available is
 * <= 0 or <= the truly sellable units sum_f(G - A - S) - (Shopify units at L the WMS has not
 * allocated). At quiescence (outboxes flushed, consumers resumed, both groups committed their
 * topic, re-push queue empty, no sync running: conditions, never a sleep), within
 * DH_MODEL_SETTLE_MS: exactly equal, i.e. on_hand = max(0, sum_f(G + P - S)) and committed
 * = the model's unfulfilled units (so available = the truly sellable units).
 *
 * Env: DH_MODEL_SEED (one run; else the CI seeds DH_MODEL_SEEDS, default "11 22 33"),
 * DH_MODEL_STEPS (default 40), DH_MODEL_REFUNDS=0 (no dh-orders, no refunds),
 * DH_MODEL_FENCE_MS (dh-inventory's fence lease, default 8000; 0: not set, for a build
 * without fences), DH_MODEL_TRACE=1 (print the trace of a passing run too), DH_MODEL_WMS=picked
 * (default: the WMS reports units picked but not dispatched in stock.picked and dispatch lines
 * carry stock_sequence) or legacy (today's WMS contract: picked units leave good_online at the
 * pick, no picked bucket, no stock_sequence). A failure prints the seed and the trace;
 * DH_MODEL_SEED=<seed> DH_MODEL_STEPS=<failing step> replays it. tests/e2e/model-loop.sh runs
 * thousands of seeds.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <jansson.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "inventory_model.h"

/* ---- the model's quantities ---- */

/* Units of (f, k) ordered on Shopify that the WMS has not allocated. */
static int unallocated(model_t *m, int f, int k)
{
    int u = 0;

    for (int i = 0; i < m->norders; i++) {
        u += (m->o[i].fac == f && m->o[i].sku == k && m->o[i].state == O_PLACED) ? m->o[i].q : 0;
    }
    return u;
}

/* Units of (f, k) Shopify still counts as committed once every dispatch was fulfilled. */
static int unfulfilled(model_t *m, int f, int k)
{
    int u = 0;

    for (int i = 0; i < m->norders; i++) {
        order_t *o = &m->o[i];

        u += (o->fac == f && o->sku == k && o->state <= O_PICKED) ? o->q : 0;
    }
    return u;
}

static int truth(model_t *m, int f, int k)
{
    fstock_t *s = &m->st[f][k];

    return s->g - s->a - s->s - unallocated(m, f, k);
}

/* Record the state of (f, k) after a WMS change. */
static void hist_push(model_t *m, int f, int k)
{
    fstock_t *s = &m->st[f][k];

    if (s->hn == HIST) {
        memmove(s->hseq, s->hseq + 1, (HIST - 1) * sizeof(s->hseq[0]));
        memmove(s->htr, s->htr + 1, (HIST - 1) * sizeof(s->htr[0]));
        s->hn--;
    }
    s->hseq[s->hn] = s->seq;
    s->htr[s->hn++] = truth(m, f, k);
}

/* A Shopify-side change (an order placed or cancelled) moves every state's sellable units. */
static void hist_shift(model_t *m, int f, int k, int delta)
{
    for (int i = 0; i < m->st[f][k].hn; i++) {
        m->st[f][k].htr[i] += delta;
    }
    hist_push(m, f, k);
}

/* dh-inventory consumed every stock event produced so far (\p upto_current: a full sync read
 * the current state): the states before the newest one it saw are history. */
static void hist_ack(model_t *m, int upto_current)
{
    for (int f = 0; f < NFAC; f++) {
        for (int k = 0; k < NSKU; k++) {
            fstock_t *s = &m->st[f][k];
            long long c = upto_current ? s->seq : s->flushed;
            int j = 0;

            for (int i = 0; i < s->hn; i++) {
                if (s->hseq[i] >= c || i == s->hn - 1) {
                    s->hseq[j] = s->hseq[i];
                    s->htr[j++] = s->htr[i];
                }
            }
            s->hn = j;
        }
    }
}

/* The most Shopify may show for (f, k) without overselling: the sellable units of the WMS
 * states it may still be reflecting (a change the WMS has not reported cannot be known). */
static int bound(model_t *m, int f, int k)
{
    int b = truth(m, f, k);

    for (int i = 0; i < m->st[f][k].hn; i++) {
        b = m->st[f][k].htr[i] > b ? m->st[f][k].htr[i] : b;
    }
    return b;
}

static int expected_on_hand(model_t *m, int f, int k)
{
    fstock_t *s = &m->st[f][k];
    int b = s->g + s->p - s->s;

    return b < 0 ? 0 : b;
}

static int mfail(model_t *m, char *why, size_t size, const char *f, ...)
    __attribute__((format(printf, 4, 5)));
static int mfail(model_t *m, char *why, size_t size, const char *f, ...)
{
    va_list ap;

    (void)m;
    va_start(ap, f);
    vsnprintf(why, size, f, ap);
    va_end(ap);
    return -1;
}

/* Never oversold: every (location, SKU) now. */
static int check_oversell(model_t *m, char *why, size_t size)
{
    for (int k = 0; k < NSKU; k++) {
        json_t *lv = level(m, k);

        for (int f = 0; f < NFAC; f++) {
            long long av = qty(lv, f, "available"), oh = qty(lv, f, "on_hand"),
                      cm = qty(lv, f, "committed");
            int t = bound(m, f, k);

            if (av > 0 && av > t) {
                fstock_t *s = &m->st[f][k];

                json_decref(lv);
                return mfail(m, why, size,
                             "OVERSOLD %s MK-%d: Shopify available %lld > truly sellable %d "
                             "(now %d: G %d A %d P %d S %d unallocated %d; Shopify on_hand %lld "
                             "committed %lld)",
                             loc_name[f], k, av, t, truth(m, f, k), s->g, s->a, s->p, s->s,
                             unallocated(m, f, k), oh, cm);
            }
        }
        json_decref(lv);
    }
    return 0;
}

typedef struct eqctx {
    model_t *m;
    char *why;
    size_t size;
} eqctx_t;

/* Exactly equal: on_hand and committed as the model says, everywhere. */
static int all_equal(void *ud)
{
    eqctx_t *c = ud;
    model_t *m = c->m;
    int ok = 1;

    for (int k = 0; k < NSKU && ok; k++) {
        json_t *lv = level(m, k);

        for (int f = 0; f < NFAC && ok; f++) {
            long long oh = qty(lv, f, "on_hand"), cm = qty(lv, f, "committed");
            int eoh = expected_on_hand(m, f, k), ecm = unfulfilled(m, f, k);

            if (oh != eoh || cm != ecm) {
                ok = 0;
                snprintf(c->why, c->size,
                         "NOT EQUAL at quiescence %s MK-%d: on_hand %lld (want %d), committed "
                         "%lld (want %d), available %lld (want %d; G %d A %d P %d S %d)",
                         loc_name[f], k, oh, eoh, cm, ecm, qty(lv, f, "available"), eoh - ecm,
                         m->st[f][k].g, m->st[f][k].a, m->st[f][k].p, m->st[f][k].s);
            }
        }
        json_decref(lv);
    }
    return ok;
}

/* ---- waits (conditions, never sleeps) ---- */

typedef struct wctx {
    model_t *m;
    int w;
} wctx_t;

/* Worker \p w's group committed every message of its topic. */
static int caught_up(void *ud)
{
    wctx_t *c = ud;
    long long end = th_topic_size(c->m->topic[c->w]);

    return end >= 0 && th_group_committed(c->m->group[c->w], c->m->topic[c->w]) >= end;
}

static int settled(void *ud)
{
    model_t *m = ud;
    redisContext *c = th_redis();
    long long q = th_redis_int(c, "ZCARD dh:inv:repush:%s", m->store);
    long long a = th_redis_int(c, "EXISTS dh:inv:sync:active:%s", m->store);

    redisFree(c);
    return q == 0 && a == 0;
}

static int wait_worker(model_t *m, int w, char *why, size_t size)
{
    wctx_t c = {m, w};

    if (m->paused == w) {
        return 0;
    }
    if (!th_wait_for(caught_up, &c, 40000)) {
        return mfail(m, why, size, "%s did not catch up with %s in 40 s", m->bin[w], m->topic[w]);
    }
    return 0;
}

static int flush(model_t *m, int b, int n, char *why, size_t size)
{
    outbox_t *o = &m->out[b];

    for (int i = 0; i < n && o->head < o->tail; i++, o->head++) {
        th_produce(m->p, m->topic[b], -1, o->m[o->head].key, o->m[o->head].val,
                   strlen(o->m[o->head].val));
        if (o->m[o->head].f >= 0) {
            m->st[o->m[o->head].f][o->m[o->head].k].flushed = o->m[o->head].seq;
        } else {
            m->o[o->m[o->head].k].sent = 1;
        }
        free(o->m[o->head].val);
        o->m[o->head].val = NULL;
    }
    th_producer_destroy(m->p); /* delivered before anything waits on it */
    m->p = th_producer_new();
    if (wait_worker(m, b, why, size)) {
        return -1;
    }
    if (b == W_INV && m->paused != W_INV) {
        hist_ack(m, 0);
    }
    return 0;
}

static void resume(model_t *m)
{
    if (m->paused >= 0) {
        kill(m->pid[m->paused], SIGCONT);
        note(m, "resume %s", m->bin[m->paused]);
        m->paused = -1;
    }
}

static int quiesce(model_t *m, char *why, size_t size)
{
    eqctx_t c = {m, why, size};
    int settle = atoi(th_env_or("DH_MODEL_SETTLE_MS", "5000"));

    resume(m);
    if (flush(m, W_INV, MAXOUT, why, size) || flush(m, W_DSP, MAXOUT, why, size) ||
        wait_worker(m, W_INV, why, size) || (m->refunds && wait_worker(m, W_ORD, why, size))) {
        return -1;
    }
    if (!th_wait_for(settled, m, 40000)) {
        return mfail(m, why, size, "re-push queue or sync not settled in 40 s");
    }
    if (!th_wait_for(all_equal, &c, settle)) {
        return -1;
    }
    return 0;
}

/* ---- the walk's actions: 1 done, 0 not applicable now, -1 failed (why) ---- */

#define WHY char *why, size_t size

static int act_putaway(model_t *m, WHY)
{
    int f = pick(m, NFAC), k = pick(m, NSKU), q = 1 + pick(m, 4);

    (void)why, (void)size;
    m->st[f][k].g += q;
    stock_event(m, f, k, NULL, NULL, q);
    hist_push(m, f, k);
    note(m, "putaway F%d MK-%d +%d (seq %lld, G %d)", f + 1, k, q, m->st[f][k].seq, m->st[f][k].g);
    return 1;
}

/* dir 0: online -> offline, 1: offline -> online, 2: online -> online (nothing changes). */
static int act_move(model_t *m, WHY)
{
    int f = pick(m, NFAC), k = pick(m, NSKU), dir = pick(m, 3);
    fstock_t *s = &m->st[f][k];
    int room = dir == 0 ? s->g - s->a : dir == 1 ? s->off : s->g, q;

    (void)why, (void)size;
    if (room <= 0) {
        return 0;
    }
    q = 1 + pick(m, room);
    s->g += dir == 0 ? -q : dir == 1 ? q : 0;
    s->off += dir == 0 ? q : dir == 1 ? -q : 0;
    stock_event(m, f, k, dir == 1 ? "offline" : "online", dir == 0 ? "offline" : "online", q);
    hist_push(m, f, k);
    note(m, "move F%d MK-%d %s %d (seq %lld, G %d)", f + 1, k,
         dir == 0   ? "online->offline"
         : dir == 1 ? "offline->online"
                    : "online->online",
         q, s->seq, s->g);
    return 1;
}

static int act_order(model_t *m, WHY)
{
    int f = pick(m, NFAC), k = pick(m, NSKU), q = 1 + pick(m, 2);
    char body[300];
    json_t *j = NULL;
    order_t *o = &m->o[m->norders];

    if (truth(m, f, k) < q || m->norders >= MAXORD) {
        return 0; /* a customer cannot buy what is not for sale */
    }
    snprintf(body, sizeof(body),
             "{\"line_items\":[{\"sku\":\"MK-%d\",\"quantity\":%d}],\"location_id\":"
             "\"gid://shopify/Location/%d\",\"deliver\":false}",
             k, q, loc_id[f]);
    if (order_post(m, 0, NULL, body, &j) != 201) {
        json_decref(j);
        return mfail(m, why, size, "placing an order failed");
    }
    *o = (order_t){.id = json_integer_value(json_object_get(j, "id")),
                   .li = json_integer_value(
                       json_object_get(json_array_get(json_object_get(j, "line_items"), 0), "id")),
                   .fac = f,
                   .sku = k,
                   .q = q,
                   .state = O_PLACED};
    json_decref(j);
    m->norders++;
    hist_shift(m, f, k, -q);
    note(m, "order #%d (%lld) %s MK-%d x%d", m->norders - 1, o->id, loc_name[f], k, q);
    return 1;
}

/* A random order in \p state (or in \p state2 when >= 0), or NULL. */
static order_t *order_in(model_t *m, int state, int state2)
{
    int idx[MAXORD], n = 0;

    for (int i = 0; i < m->norders; i++) {
        if (m->o[i].state == state || m->o[i].state == state2) {
            idx[n++] = i;
        }
    }
    return n ? &m->o[idx[pick(m, n)]] : NULL;
}

static int act_allocate(model_t *m, WHY)
{
    order_t *o = order_in(m, O_PLACED, -1);
    fstock_t *s = o ? &m->st[o->fac][o->sku] : NULL;

    (void)why, (void)size;
    if (!o || s->g - s->a < o->q) {
        return 0;
    }
    s->a += o->q; /* the WMS emits no stock event for an allocation */
    o->state = O_ALLOC;
    hist_push(m, o->fac, o->sku);
    note(m, "allocate #%d F%d MK-%d x%d (A %d)", (int)(o - m->o), o->fac + 1, o->sku, o->q, s->a);
    return 1;
}

static int act_pick(model_t *m, WHY)
{
    order_t *o = order_in(m, O_ALLOC, -1);
    fstock_t *s = o ? &m->st[o->fac][o->sku] : NULL;

    (void)why, (void)size;
    if (!o) {
        return 0;
    }
    s->g -= o->q;
    s->a -= o->q;
    s->p += o->q;
    stock_event(m, o->fac, o->sku, "online", "offline", o->q);
    o->stock_seq = s->seq; /* legacy: the units left good_online here */
    o->state = O_PICKED;
    hist_push(m, o->fac, o->sku);
    note(m, "pick #%d F%d MK-%d x%d (seq %lld, G %d A %d P %d)", (int)(o - m->o), o->fac + 1,
         o->sku, o->q, s->seq, s->g, s->a, s->p);
    return 1;
}

static int act_dispatch(model_t *m, WHY)
{
    order_t *o = order_in(m, O_PICKED, -1);
    fstock_t *s = o ? &m->st[o->fac][o->sku] : NULL;

    (void)why, (void)size;
    if (!o) {
        return 0;
    }
    s->p -= o->q;
    if (m->picked_mode) { /* the units leave the picked bucket: a stock change of its own */
        stock_event(m, o->fac, o->sku, "offline", "offline", o->q);
        o->stock_seq = s->seq;
    }
    o->state = O_DISPATCHED;
    dispatch_event(m, o);
    hist_push(m, o->fac, o->sku);
    note(m, "dispatch #%d F%d MK-%d x%d SH-%lld (stock_sequence %lld, P %d)", (int)(o - m->o),
         o->fac + 1, o->sku, o->q, o->id, o->stock_seq, s->p);
    return 1;
}

static int act_cancel(model_t *m, WHY)
{
    order_t *o = order_in(m, O_PLACED, O_ALLOC);

    if (!o) {
        return 0;
    }
    if (order_post(m, o->id, "cancel", "{\"deliver\":false}", NULL) != 200) {
        return mfail(m, why, size, "cancelling order %lld failed", o->id);
    }
    if (o->state == O_ALLOC) {
        m->st[o->fac][o->sku].a -= o->q; /* the WMS releases the allocation */
    }
    note(m, "cancel #%d F%d MK-%d x%d (%s allocation)", (int)(o - m->o), o->fac + 1, o->sku, o->q,
         o->state == O_ALLOC ? "after" : "before");
    o->state = O_CANCELLED;
    hist_shift(m, o->fac, o->sku, o->q);
    return 1;
}

static int act_flush(model_t *m, WHY)
{
    int b = pick(m, 2);
    outbox_t *o = &m->out[b];
    /* Often one event only: the finest interleaving of the two topics. */
    int n = pick(m, 2) ? 1 : 1 + pick(m, o->tail - o->head);

    if (o->head == o->tail) {
        return 0;
    }
    note(m, "flush %d of %d %s events%s", n, o->tail - o->head, b ? "dispatch" : "stock",
         m->paused == b ? " (consumer paused)" : "");
    return flush(m, b, n, why, size) ? -1 : 1;
}

/* Full syncs dh-inventory finished for the store: its "full sync <slot> of <store> done" log
 * lines (the log survives restarts). Never KEYS: the shared Redis holds millions of keys. */
static int sync_count(model_t *m)
{
    char needle[200];

    snprintf(needle, sizeof(needle), "of %s done", m->store);
    return th_file_count(m->log[W_INV], needle);
}

static int sync_finished(void *ud)
{
    model_t *m = ud;

    return sync_count(m) > m->syncs && settled(m);
}

/* The WMS's sellable rows as they are now, then a full-sync slot. */
static int act_sync(model_t *m, WHY)
{
    json_t *rows = json_array();
    char url[512], *body;
    long st;

    if (m->paused == W_INV) {
        return 0;
    }
    for (int f = 0; f < NFAC; f++) {
        for (int k = 0; k < NSKU; k++) {
            fstock_t *s = &m->st[f][k];
            json_t *stock = json_pack("{s:i, s:i, s:i, s:i, s:i, s:i}", "good_online", s->g,
                                      "allocated", s->a, "safety_stock", s->s, "damaged", 0,
                                      "quarantined", 0, "good_offline", s->off);
            char sku[16], fac[8];

            if (m->picked_mode) {
                json_object_set_new(stock, "picked", json_integer(s->p));
            }
            snprintf(sku, sizeof(sku), "MK-%d", k);
            snprintf(fac, sizeof(fac), "F%d", f + 1);
            json_array_append_new(rows, json_pack("{s:s, s:s, s:s, s:I, s:o}", "store", m->store,
                                                  "sku", sku, "facility", fac, "sequence",
                                                  (json_int_t)s->seq, "stock", stock));
        }
    }
    body = json_dumps(rows, JSON_COMPACT);
    json_decref(rows);
    snprintf(url, sizeof(url), "%s/_control/wms/inventory", m->sb.base);
    st = th_http("PUT", url, NULL, body, NULL);
    free(body);
    if (st != 200) {
        return mfail(m, why, size, "PUT WMS rows: %ld", st);
    }
    redisContext *c = th_redis();

    freeReplyObject(redisCommand(c, "SET dh:inv:sync:request:%s 1", m->store));
    redisFree(c);
    note(m, "full sync #%d", m->syncs + 1);
    if (!th_wait_for(sync_finished, m, 40000)) {
        return mfail(m, why, size, "full sync #%d did not finish in 40 s", m->syncs + 1);
    }
    m->syncs++;
    hist_ack(m, 1);
    return 1;
}

/* A fulfilled order refunded with restock (Return Prime restocks at pickup): Shopify raises
 * on_hand at once, before any unit reaches the WMS. dh-orders enqueues a re-push and
 * dh-inventory sets the WMS's truth again: the check after this step runs once that is
 * done (the window in between is Shopify's own, see docs/inventory.md). */
static int act_refund(model_t *m, WHY)
{
    order_t *o = order_in(m, O_DISPATCHED, -1);
    fwait_t fw = {m, o ? o->id : 0};
    char body[200];
    json_t *r = NULL;
    wctx_t c = {m, W_ORD};

    if (!m->refunds || !o || !o->sent || m->paused >= 0) {
        return 0;
    }
    if (!th_wait_for(has_fulfillment, &fw, 40000)) {
        return mfail(m, why, size, "order %lld was not fulfilled in 40 s", o->id);
    }
    snprintf(body, sizeof(body),
             "{\"refund_line_items\":[{\"line_item_id\":%lld,\"quantity\":%d,"
             "\"restock_type\":\"return\"}],\"deliver\":false}",
             o->li, o->q);
    if (order_post(m, o->id, "refund", body, &r) != 200) {
        json_decref(r);
        return mfail(m, why, size, "refunding order %lld failed", o->id);
    }
    char *text = json_dumps(r, JSON_COMPACT);

    json_decref(r);
    produce_refund(m, o->id, text);
    free(text);
    o->state = O_REFUNDED;
    m->refunded++;
    note(m, "refund #%d %s MK-%d x%d with restock (Shopify on_hand +%d)", (int)(o - m->o),
         loc_name[o->fac], o->sku, o->q, o->q);
    if (!th_wait_for(caught_up, &c, 40000) || !th_wait_for(settled, m, 40000)) {
        return mfail(m, why, size, "the refund's re-push did not settle in 40 s");
    }
    return 1;
}

static int act_kill(model_t *m, WHY)
{
    int w = pick(m, 2);

    (void)why, (void)size;
    kill(m->pid[w], SIGKILL);
    th_wait_exit(m->pid[w], 10000);
    if (m->paused == w) {
        m->paused = -1;
    }
    start_worker(m, w);
    m->kills++;
    note(m, "kill -9 %s, restarted (pid %d)", m->bin[w], (int)m->pid[w]);
    return 1;
}

static int act_pause(model_t *m, WHY)
{
    int w = pick(m, 2);

    (void)why, (void)size;
    if (m->paused >= 0) {
        resume(m);
        return 1;
    }
    kill(m->pid[w], SIGSTOP);
    m->paused = w;
    m->pauses++;
    note(m, "pause %s (SIGSTOP)", m->bin[w]);
    return 1;
}

static int act_quiesce(model_t *m, WHY)
{
    note(m, "quiesce");
    return quiesce(m, why, size) ? -1 : 1;
}

typedef int (*act_fn)(model_t *, char *, size_t);

static const struct {
    act_fn fn;
    int weight;
} actions[] = {
    {act_putaway, 10}, {act_move, 8},    {act_order, 14}, {act_allocate, 10}, {act_pick, 9},
    {act_dispatch, 9}, {act_cancel, 3},  {act_flush, 18}, {act_sync, 2},      {act_kill, 1},
    {act_pause, 3},    {act_quiesce, 1}, {act_refund, 3},
};

/* ---- one run ---- */

static int step(model_t *m, WHY)
{
    int total = 0;

    for (size_t i = 0; i < sizeof(actions) / sizeof(actions[0]); i++) {
        total += actions[i].weight;
    }
    for (int tries = 0; tries < 50; tries++) {
        int r = pick(m, total), rc;
        size_t i = 0;

        while (r >= actions[i].weight) {
            r -= actions[i].weight;
            i++;
        }
        rc = actions[i].fn(m, why, size);
        if (rc != 0) {
            return rc < 0 ? -1 : 0;
        }
    }
    return 0;
}

static void print_trace(model_t *m, unsigned long long seed, int at, const char *why)
{
    int from = m->ntrace > TRACE ? m->ntrace - TRACE : 0;

    fprintf(stderr,
            "\n=== inventory model FAILED: seed %llu, step %d, WMS %s ===\n%s\n"
            "replay: DH_MODEL_SEED=%llu DH_MODEL_STEPS=%d DH_MODEL_WMS=%s "
            "ctest -R test_inventory_model --output-on-failure\ntrace (%d actions%s):\n",
            seed, at, m->picked_mode ? "picked" : "legacy", why, seed, at,
            m->picked_mode ? "picked" : "legacy", m->ntrace, from ? ", the last ones" : "");
    for (int i = from; i < m->ntrace; i++) {
        fprintf(stderr, "  %3d %s\n", i + 1, m->trace[i % TRACE]);
    }
    /* The sandbox's journal of Shopify calls, for the post-mortem. */
    char url[512], path[300], *text = NULL;

    snprintf(url, sizeof(url), "%s/_journal?group=shopify", m->sb.base);
    snprintf(path, sizeof(path), "%s.journal", m->log[0]);
    if (th_http("GET", url, NULL, NULL, &text) == 200 && text) {
        FILE *fp = fopen(path, "w");

        if (fp) {
            fputs(text, fp);
            fclose(fp);
        }
    }
    free(text);
    fprintf(stderr, "logs: %s %s, Shopify journal %s\n", m->log[0], m->log[1], path);
}

/* The initial stock: every (facility, SKU) put away and pushed. */
static int initial(model_t *m, WHY)
{
    for (int f = 0; f < NFAC; f++) {
        for (int k = 0; k < NSKU; k++) {
            m->st[f][k].g = 2 + pick(m, 7);
            m->st[f][k].s = pick(m, 2);
            stock_event(m, f, k, NULL, NULL, m->st[f][k].g);
            hist_push(m, f, k);
            note(m, "initial F%d MK-%d G %d S %d", f + 1, k, m->st[f][k].g, m->st[f][k].s);
        }
    }
    return flush(m, W_INV, MAXOUT, why, size);
}

static int run_seed(unsigned long long seed, int steps)
{
    model_t *m = calloc(1, sizeof(*m));
    char why[1024] = "";
    int at = 0, rc = 0;
    long long t0 = th_now_ms();

    assert_non_null(m);
    m->rng = seed;
    m->t0 = th_now_ms();
    m->idp = ((unsigned long long)th_now_ms() ^ (unsigned long long)getpid() << 16) & 0xffffffffULL;
    m->picked_mode = strcmp(th_env_or("DH_MODEL_WMS", "picked"), "legacy") != 0;
    m->refunds = strcmp(th_env_or("DH_MODEL_REFUNDS", "1"), "0") != 0;
    start_stack(m, seed);
    rc = initial(m, why, sizeof(why));
    if (rc == 0) {
        rc = check_oversell(m, why, sizeof(why));
    }
    for (at = 1; rc == 0 && at <= steps; at++) {
        rc = step(m, why, sizeof(why));
        if (rc == 0) {
            rc = check_oversell(m, why, sizeof(why));
        }
    }
    if (rc == 0) {
        note(m, "final quiesce");
        rc = quiesce(m, why, sizeof(why));
    }
    if (rc) {
        print_trace(m, seed, at > steps ? steps : at, why);
    } else {
        for (int i = 0; *th_env_or("DH_MODEL_TRACE", "") && i < m->ntrace && i < TRACE; i++) {
            fprintf(stderr, "  %3d %s\n", i + 1, m->trace[i]);
        }
        fprintf(stderr,
                "seed %llu: %d steps, %d orders, %d refunds, %d syncs, %d kills, %d pauses: never "
                "oversold, equal at quiescence (%lld ms)\n",
                seed, steps, m->norders, m->refunded, m->syncs, m->kills, m->pauses,
                th_now_ms() - t0);
    }
    stop_stack(m);
    free(m);
    return rc;
}

static void test_inventory_model(void **state)
{
    const char *one = getenv("DH_MODEL_SEED");
    char seeds[256];
    int steps = atoi(th_env_or("DH_MODEL_STEPS", "40")), failed = 0;

    (void)state;
    snprintf(seeds, sizeof(seeds), "%s",
             one && *one ? one : th_env_or("DH_MODEL_SEEDS", "11 22 33"));
    for (char *save = NULL, *s = strtok_r(seeds, " ,", &save); s; s = strtok_r(NULL, " ,", &save)) {
        failed |= run_seed(strtoull(s, NULL, 10), steps) != 0;
    }
    assert_int_equal(failed, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_inventory_model)};

    return cmocka_run_group_tests(tests, NULL, NULL);
}
