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
 * thousands of seeds. A failure also writes its actions file (inventory/model_actions.c: one
 * action per line with all its parameters, the failing one last); DH_MODEL_REPLAY=<file>
 * performs exactly those actions, with the same checks, skipping (and reporting) the ones
 * whose preconditions no longer hold, and tests/e2e/model-shrink.sh shrinks it.
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

/* ---- the walk's actions ----
 * Each is chosen (the seeded walk's draws, in the order they always were: a seed means the
 * same walk) or read from an actions file (DH_MODEL_REPLAY), then done: 1 done, 0 not
 * applicable now (skipped), -1 failed (why). Doing one never draws from the seed. */

#define WHY char *why, size_t size

static int do_putaway(model_t *m, const act_t *a, WHY)
{
    fstock_t *s = &m->st[a->f][a->k];

    (void)why, (void)size;
    s->g += a->q;
    stock_event(m, a->f, a->k, NULL, NULL, a->q);
    hist_push(m, a->f, a->k);
    note(m, "putaway F%d MK-%d +%d (seq %lld, G %d)", a->f + 1, a->k, a->q, s->seq, s->g);
    return 1;
}

/* dir 0: online -> offline, 1: offline -> online, 2: online -> online (nothing changes). */
static int do_move(model_t *m, const act_t *a, WHY)
{
    fstock_t *s = &m->st[a->f][a->k];
    int q = a->q, dir = a->dir;

    (void)why, (void)size;
    if (q > move_room(m, a->f, a->k, dir)) {
        return 0;
    }
    s->g += dir == 0 ? -q : dir == 1 ? q : 0;
    s->off += dir == 0 ? q : dir == 1 ? -q : 0;
    stock_event(m, a->f, a->k, dir == 1 ? "offline" : "online", dir == 0 ? "offline" : "online", q);
    hist_push(m, a->f, a->k);
    note(m, "move F%d MK-%d %s %d (seq %lld, G %d)", a->f + 1, a->k,
         dir == 0   ? "online->offline"
         : dir == 1 ? "offline->online"
                    : "online->online",
         q, s->seq, s->g);
    return 1;
}

static int do_order(model_t *m, const act_t *a, WHY)
{
    int f = a->f, k = a->k, q = a->q;
    char body[300];
    json_t *j = NULL;
    order_t *o = &m->o[m->norders];

    if (truth(m, f, k) < q || m->norders >= MAXORD || order_of(m, a->o)) {
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
                   .label = a->o,
                   .fac = f,
                   .sku = k,
                   .q = q,
                   .state = O_PLACED};
    json_decref(j);
    m->norders++;
    hist_shift(m, f, k, -q);
    note(m, "order #%d (%lld) %s MK-%d x%d", o->label, o->id, loc_name[f], k, q);
    return 1;
}

static int do_allocate(model_t *m, const act_t *a, WHY)
{
    order_t *o = order_at(m, a->o, O_PLACED, -1);
    fstock_t *s = o ? &m->st[o->fac][o->sku] : NULL;

    (void)why, (void)size;
    if (!o || s->g - s->a < o->q) {
        return 0;
    }
    s->a += o->q; /* the WMS emits no stock event for an allocation */
    o->state = O_ALLOC;
    hist_push(m, o->fac, o->sku);
    note(m, "allocate #%d F%d MK-%d x%d (A %d)", o->label, o->fac + 1, o->sku, o->q, s->a);
    return 1;
}

static int do_pick(model_t *m, const act_t *a, WHY)
{
    order_t *o = order_at(m, a->o, O_ALLOC, -1);
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
    note(m, "pick #%d F%d MK-%d x%d (seq %lld, G %d A %d P %d)", o->label, o->fac + 1, o->sku, o->q,
         s->seq, s->g, s->a, s->p);
    return 1;
}

static int do_dispatch(model_t *m, const act_t *a, WHY)
{
    order_t *o = order_at(m, a->o, O_PICKED, -1);
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
    note(m, "dispatch #%d F%d MK-%d x%d SH-%lld (stock_sequence %lld, P %d)", o->label, o->fac + 1,
         o->sku, o->q, o->id, o->stock_seq, s->p);
    return 1;
}

static int do_cancel(model_t *m, const act_t *a, WHY)
{
    order_t *o = order_at(m, a->o, O_PLACED, O_ALLOC);

    if (!o) {
        return 0;
    }
    if (order_post(m, o->id, "cancel", "{\"deliver\":false}", NULL) != 200) {
        return mfail(m, why, size, "cancelling order %lld failed", o->id);
    }
    if (o->state == O_ALLOC) {
        m->st[o->fac][o->sku].a -= o->q; /* the WMS releases the allocation */
    }
    note(m, "cancel #%d F%d MK-%d x%d (%s allocation)", o->label, o->fac + 1, o->sku, o->q,
         o->state == O_ALLOC ? "after" : "before");
    o->state = O_CANCELLED;
    hist_shift(m, o->fac, o->sku, o->q);
    return 1;
}

static int do_flush(model_t *m, const act_t *a, WHY)
{
    outbox_t *o = &m->out[a->b];
    int n = a->q < o->tail - o->head ? a->q : o->tail - o->head;

    if (o->head == o->tail) {
        return 0;
    }
    note(m, "flush %d of %d %s events%s", n, o->tail - o->head, a->b ? "dispatch" : "stock",
         m->paused == a->b ? " (consumer paused)" : "");
    return flush(m, a->b, n, why, size) ? -1 : 1;
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
static int do_sync(model_t *m, const act_t *a, WHY)
{
    char url[512], *body;
    long st;

    (void)a;
    if (m->paused == W_INV) {
        return 0;
    }
    body = wms_rows(m);
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
/* A fulfilled order refunded with restock (Return Prime restocks at pickup): Shopify raises
 * on_hand at once, before any unit reaches the WMS. dh-orders enqueues a re-push and
 * dh-inventory sets the WMS's truth again: the check after this step runs once that is
 * done (the window in between is Shopify's own, see docs/inventory.md). */
static int do_refund(model_t *m, const act_t *a, WHY)
{
    order_t *o = order_at(m, a->o, O_DISPATCHED, -1);
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
    note(m, "refund #%d %s MK-%d x%d with restock (Shopify on_hand +%d)", o->label,
         loc_name[o->fac], o->sku, o->q, o->q);
    if (!th_wait_for(caught_up, &c, 40000) || !th_wait_for(settled, m, 40000)) {
        return mfail(m, why, size, "the refund's re-push did not settle in 40 s");
    }
    return 1;
}

static int do_kill(model_t *m, const act_t *a, WHY)
{
    int w = a->b;

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

static int do_pause(model_t *m, const act_t *a, WHY)
{
    (void)why, (void)size;
    if (m->paused >= 0) {
        return 0;
    }
    kill(m->pid[a->b], SIGSTOP);
    m->paused = a->b;
    m->pauses++;
    note(m, "pause %s (SIGSTOP)", m->bin[a->b]);
    return 1;
}

static int do_resume(model_t *m, const act_t *a, WHY)
{
    (void)why, (void)size;
    if (m->paused != a->b) {
        return 0;
    }
    resume(m);
    return 1;
}

static int do_quiesce(model_t *m, const act_t *a, WHY)
{
    (void)a;
    note(m, "quiesce");
    return quiesce(m, why, size) ? -1 : 1;
}

/* ---- the seeded walk's choices: 0 when the draw finds nothing to do ---- */

static int choose_place(model_t *m, act_t *a)
{
    a->f = pick(m, NFAC);
    a->k = pick(m, NSKU);
    if (a->kind == A_PUTAWAY) {
        a->q = 1 + pick(m, 4);
        return 1;
    }
    if (a->kind == A_ORDER) {
        a->q = 1 + pick(m, 2);
        a->o = m->norders;
        return 1;
    }
    a->dir = pick(m, 3);
    if (move_room(m, a->f, a->k, a->dir) <= 0) {
        return 0;
    }
    a->q = 1 + pick(m, move_room(m, a->f, a->k, a->dir));
    return 1;
}

static int choose_order(model_t *m, act_t *a)
{
    static const int state[A_COUNT][2] = {
        [A_ALLOCATE] = {O_PLACED, -1},   [A_PICK] = {O_ALLOC, -1},
        [A_DISPATCH] = {O_PICKED, -1},   [A_CANCEL] = {O_PLACED, O_ALLOC},
        [A_REFUND] = {O_DISPATCHED, -1},
    };
    order_t *o = order_in(m, state[a->kind][0], state[a->kind][1]);

    a->o = o ? o->label : -1;
    return o != NULL;
}

static int choose_other(model_t *m, act_t *a)
{
    if (a->kind == A_FLUSH) {
        outbox_t *o;

        a->b = pick(m, 2);
        o = &m->out[a->b];
        /* Often one event only: the finest interleaving of the two topics. */
        a->q = pick(m, 2) ? 1 : 1 + pick(m, o->tail - o->head);
        return o->head != o->tail;
    }
    if (a->kind == A_KILL || a->kind == A_PAUSE) {
        a->b = pick(m, 2);
        if (a->kind == A_PAUSE && m->paused >= 0) { /* a pause draw resumes the paused one */
            a->kind = A_RESUME;
            a->b = m->paused;
        }
    }
    return 1;
}

typedef int (*do_fn)(model_t *, const act_t *, char *, size_t);
typedef int (*choose_fn)(model_t *, act_t *);

/* The walk's weights (by kind) and how each kind is chosen and done. */
static const struct {
    int weight;
    choose_fn choose;
    do_fn fn;
} kinds[A_COUNT] = {
    [A_PUTAWAY] = {10, choose_place, do_putaway}, [A_MOVE] = {8, choose_place, do_move},
    [A_ORDER] = {14, choose_place, do_order},     [A_ALLOCATE] = {10, choose_order, do_allocate},
    [A_PICK] = {9, choose_order, do_pick},        [A_DISPATCH] = {9, choose_order, do_dispatch},
    [A_CANCEL] = {3, choose_order, do_cancel},    [A_FLUSH] = {18, choose_other, do_flush},
    [A_SYNC] = {2, choose_other, do_sync},        [A_KILL] = {1, choose_other, do_kill},
    [A_PAUSE] = {3, choose_other, do_pause},      [A_QUIESCE] = {1, choose_other, do_quiesce},
    [A_REFUND] = {3, choose_order, do_refund},    [A_RESUME] = {0, NULL, do_resume},
};

/* ---- one run ---- */

/* One step of the seeded walk: \p a is what it did (kind -1: nothing applicable). */
static int step(model_t *m, act_t *a, WHY)
{
    int total = 0;

    for (int i = 0; i < A_COUNT; i++) {
        total += kinds[i].weight;
    }
    for (int tries = 0; tries < 50; tries++) {
        int r = pick(m, total), i = 0, rc;

        while (r >= kinds[i].weight) {
            r -= kinds[i].weight;
            i++;
        }
        *a = (act_t){.kind = i};
        if (!kinds[i].choose(m, a)) {
            continue;
        }
        rc = kinds[a->kind].fn(m, a, why, size);
        if (rc != 0) {
            return rc < 0 ? -1 : 0;
        }
    }
    a->kind = -1;
    return 0;
}

static void print_trace(model_t *m, const char *origin, const char *why)
{
    int from = m->ntrace > TRACE ? m->ntrace - TRACE : 0;

    fprintf(stderr, "\n=== inventory model FAILED: %s, WMS %s ===\n%s\nfailed check: %s\n", origin,
            m->picked_mode ? "picked" : "legacy", why, failed_check(why));
    if (strncmp(origin, "seed", 4) == 0) {
        unsigned long long seed = 0;
        int at = 0;

        sscanf(origin, "seed %llu, step %d", &seed, &at);
        fprintf(stderr,
                "replay: DH_MODEL_SEED=%llu DH_MODEL_STEPS=%d DH_MODEL_WMS=%s "
                "ctest -R test_inventory_model --output-on-failure\n",
                seed, at, m->picked_mode ? "picked" : "legacy");
    }
    fprintf(stderr, "trace (%d actions%s):\n", m->ntrace, from ? ", the last ones" : "");
    for (int i = from; i < m->ntrace; i++) {
        fprintf(stderr, "  %3d %s\n", i + 1, m->trace[i % TRACE]);
    }
    char path[300];

    snprintf(path, sizeof(path), "%s.journal", m->log[0]);
    save_journal(m, path);
    fprintf(stderr, "logs: %s %s, Shopify journal %s\n", m->log[0], m->log[1], path);
    write_actions(m, origin, why);
}

/* The initial stock: every (facility, SKU) put away and pushed; from the seed, or the
 * actions file's leading "initial" lines (a pair without one starts empty). */
static int initial(model_t *m, const act_t *plan, int nplan, WHY)
{
    for (int i = 0; plan ? i < nplan && plan[i].kind == A_INITIAL : i < NFAC * NSKU; i++) {
        act_t a = plan ? plan[i] : (act_t){.kind = A_INITIAL, .f = i / NSKU, .k = i % NSKU};
        fstock_t *s = &m->st[a.f][a.k];

        if (!plan) {
            a.q = 2 + pick(m, 7);
            a.s = pick(m, 2);
        }
        s->g = a.q;
        s->s = a.s;
        stock_event(m, a.f, a.k, NULL, NULL, s->g);
        hist_push(m, a.f, a.k);
        acts_add(m, &a);
        note(m, "initial F%d MK-%d G %d S %d", a.f + 1, a.k, s->g, s->s);
    }
    return flush(m, W_INV, MAXOUT, why, size);
}

/* The actions of the file, after its initial lines, each followed by the check: an action
 * whose preconditions do not hold (its order was never placed, nothing to pick) is skipped. */
static int replay(model_t *m, const char *path, const act_t *plan, const int *lines, int n, WHY)
{
    int skipped = 0, rc = 0, i = 0, first;

    while (i < n && plan[i].kind == A_INITIAL) {
        i++;
    }
    first = i;
    for (; rc == 0 && i < n; i++) {
        char line[128];

        act_format(&plan[i], line, sizeof(line));
        if (plan[i].kind == A_INITIAL) {
            rc = mfail(m, why, size, "%s line %d: initial after other actions", path, lines[i]);
            break;
        }
        rc = kinds[plan[i].kind].fn(m, &plan[i], why, size);
        if (rc == 0) {
            skipped++;
            note(m, "skipped line %d: %s (not applicable)", lines[i], line);
            fprintf(stderr, "skipped line %d: %s (not applicable now)\n", lines[i], line);
            continue;
        }
        acts_add(m, &plan[i]);
        rc = rc < 0 ? -1 : check_oversell(m, why, size);
    }
    fprintf(stderr, "replay %s: %d actions, %d skipped\n", path, n - first, skipped);
    return rc;
}

/* The seeded walk: \p steps steps, each followed by the check. */
static int walk(model_t *m, int steps, WHY)
{
    int rc = 0;

    for (int at = 1; rc == 0 && at <= steps; at++) {
        act_t a;

        rc = step(m, &a, why, size);
        if (a.kind >= 0) {
            acts_add(m, &a);
        }
        if (rc == 0) {
            rc = check_oversell(m, why, size);
        }
        m->step = at;
    }
    return rc;
}

/* One run: the seeded walk (\p path NULL) or the replay of an actions file. */
static int run(unsigned long long seed, int steps, const char *path)
{
    model_t *m = calloc(1, sizeof(*m));
    char why[1024] = "", origin[400];
    act_t *plan = NULL;
    int *lines = NULL, nplan = 0, rc = 0;
    long long t0 = th_now_ms();

    assert_non_null(m);
    if (path) {
        snprintf(origin, sizeof(origin), "replay %.380s", path);
        if (acts_read(path, &plan, &lines, &nplan, why, sizeof(why))) {
            fail_msg("%s", why);
        }
    } else {
        snprintf(origin, sizeof(origin), "seed %llu", seed);
    }
    m->rng = seed;
    m->t0 = th_now_ms();
    m->idp = ((unsigned long long)th_now_ms() ^ (unsigned long long)getpid() << 16) & 0xffffffffULL;
    m->picked_mode = strcmp(th_env_or("DH_MODEL_WMS", "picked"), "legacy") != 0;
    m->refunds = strcmp(th_env_or("DH_MODEL_REFUNDS", "1"), "0") != 0;
    start_stack(m, seed);
    rc = initial(m, plan, nplan, why, sizeof(why));
    if (rc == 0) {
        rc = check_oversell(m, why, sizeof(why));
    }
    if (rc == 0) {
        rc = path ? replay(m, path, plan, lines, nplan, why, sizeof(why))
                  : walk(m, steps, why, sizeof(why));
    }
    if (rc == 0) {
        note(m, "final quiesce");
        rc = quiesce(m, why, sizeof(why));
        if (rc) { /* the failing action: a replay of the file fails there too */
            acts_add(m, &(act_t){.kind = A_QUIESCE});
        }
    }
    if (rc) {
        if (!path) { /* the step a seeded replay must run to */
            snprintf(origin, sizeof(origin), "seed %llu, step %d", seed, m->step ? m->step : steps);
        }
        print_trace(m, origin, why);
    } else {
        for (int i = 0; *th_env_or("DH_MODEL_TRACE", "") && i < m->ntrace && i < TRACE; i++) {
            fprintf(stderr, "  %3d %s\n", i + 1, m->trace[i]);
        }
        fprintf(stderr,
                "%s: %d %s, %d orders, %d refunds, %d syncs, %d kills, %d pauses: never "
                "oversold, equal at quiescence (%lld ms)\n",
                origin, path ? m->nacts : steps, path ? "actions" : "steps", m->norders,
                m->refunded, m->syncs, m->kills, m->pauses, th_now_ms() - t0);
    }
    stop_stack(m);
    free(plan);
    free(lines);
    free(m->acts);
    free(m);
    return rc;
}

static void test_inventory_model(void **state)
{
    const char *one = getenv("DH_MODEL_SEED"), *path = getenv("DH_MODEL_REPLAY");
    char seeds[256];
    int steps = atoi(th_env_or("DH_MODEL_STEPS", "40")), failed = 0;

    (void)state;
    if (path && *path) {
        assert_int_equal(run(0, 0, path), 0);
        return;
    }
    snprintf(seeds, sizeof(seeds), "%s",
             one && *one ? one : th_env_or("DH_MODEL_SEEDS", "11 22 33"));
    for (char *save = NULL, *s = strtok_r(seeds, " ,", &save); s; s = strtok_r(NULL, " ,", &save)) {
        failed |= run(strtoull(s, NULL, 10), steps, NULL) != 0;
    }
    assert_int_equal(failed, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_inventory_model)};

    return cmocka_run_group_tests(tests, NULL, NULL);
}
