/*
 * One inventorySetQuantities per store for the lanes of this replica (docs/inventory.md §4):
 * a lane's call joins the store's queue and waits for its result; one waiting lane at a
 * time (the leader) sends the queue's head (whole requests, at most 250 quantities) as
 * one call. While the store's shared bucket cannot pay for a call yet, the leader holds
 * it (at most DH_INVENTORY_CALL_HOLD_MS, never past a request's deadline) so the other
 * lanes' quantities join it instead of each lane spending 15 points on a few.
 *
 * The fence rules are unchanged: every lane computed its quantities under its own fences
 * and keeps them until its result is back, then commits or releases itself. Two lanes
 * never hold the same (location, sku) (the fences are exclusive), so a combined call has
 * no duplicate of another lane's quantity.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dockhand/ratelimit.h"
#include "inventory.h"

#define HOLD_STEP_MS 20  /* the hold's sleep between two looks at the bucket */
#define LOW_CALLS    10  /* the bucket is low below this many calls' points */
#define GATHER_MS    500 /* while it is low, a call waits for its oldest request this long */

typedef struct req {
    inv_qty_t *q;
    inv_qres_t *res;
    size_t n;
    int64_t deadline_ms; /* 0: none */
    int64_t since;       /* queued at (CLOCK_MONOTONIC ms) */
    const char *tag;
    int done;
    struct req *next;
} req_t;

typedef struct comb {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    req_t *head, **tail;
    size_t queued; /* quantities in the queue */
    int leader;    /* a lane is sending (or holding) this store's calls */
} comb_t;

struct inv_combine_s {
    size_t n;
    comb_t c[];
};

/* The leader's scratch: one combined call. */
typedef struct call {
    req_t *r[INV_BATCH_MAX];
    size_t nr;
    inv_qty_t q[INV_BATCH_MAX];
    inv_qres_t res[INV_BATCH_MAX];
    size_t n;
} call_t;

static int64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

inv_combine_t *inv_combine_new(size_t nstores)
{
    inv_combine_t *cb = calloc(1, sizeof(*cb) + (nstores ? nstores : 1) * sizeof(comb_t));

    if (!cb) {
        return NULL;
    }
    cb->n = nstores;
    for (size_t i = 0; i < nstores; i++) {
        pthread_mutex_init(&cb->c[i].mu, NULL);
        pthread_cond_init(&cb->c[i].cv, NULL);
        cb->c[i].tail = &cb->c[i].head;
    }
    return cb;
}

void inv_combine_destroy(inv_combine_t *cb)
{
    for (size_t i = 0; cb && i < cb->n; i++) {
        pthread_mutex_destroy(&cb->c[i].mu);
        pthread_cond_destroy(&cb->c[i].cv);
    }
    free(cb);
}

static comb_t *comb_of(inv_shared_t *sh, const dh_store_t *store)
{
    for (size_t i = 0; sh->combine && i < sh->combine->n; i++) {
        if (dh_stores_at(sh->stores, i) == store) {
            return &sh->combine->c[i];
        }
    }
    return NULL;
}

/* Holds the call (mutex not held) while the bucket cannot pay for it, within the bounds:
 * 1 when it can (or that is unknown: acquire decides), 0 when a bound ended the hold.
 * While the bucket is low (rate-bound: calls are worth their fill) a call that is not full
 * also waits until its oldest request is GATHER_MS old, so the calls the restore rate
 * allows carry more (and the replica with the older queue wins the points). */
static int hold(dh_lane_t *lane, const dh_store_t *store, comb_t *c, int64_t end)
{
    double cost = dh_gql_expected_cost(DH_GQL_INVENTORY_SET_QUANTITIES);

    for (;;) {
        int64_t wait_ms = 0, now = mono_ms(), deadline, since;
        size_t queued;

        pthread_mutex_lock(&c->mu);
        deadline = c->head ? c->head->deadline_ms : 0;
        since = c->head ? c->head->since : now;
        queued = c->queued;
        pthread_mutex_unlock(&c->mu);
        int ripe = queued >= INV_BATCH_MAX || now - since >= GATHER_MS;
        double need = ripe ? cost : cost * LOW_CALLS;

        need = need > store->bucket.capacity ? store->bucket.capacity : need;
        if (dh_ratelimit_shopify_peek(dh_lane_redis(lane), store->domain, &store->bucket, need,
                                      &wait_ms) != DH_OK ||
            wait_ms == 0) {
            return 1;
        }
        int64_t step = wait_ms < HOLD_STEP_MS ? wait_ms : HOLD_STEP_MS;

        if (now + step > end || (deadline > 0 && now + step >= deadline)) {
            return 0;
        }
        struct timespec ts = {0, (long)step * 1000000L};

        nanosleep(&ts, NULL);
    }
}

static void expire(req_t *r)
{
    for (size_t i = 0; i < r->n; i++) {
        dh_outcome_t *o = &r->res[i].o;

        memset(&r->res[i], 0, sizeof(r->res[i]));
        o->result = DH_RESULT_WAIT;
        o->retry_after_ms = 50;
        snprintf(o->error_class, sizeof(o->error_class), "retry");
        snprintf(o->error, sizeof(o->error), "the fences' lease could end before the call");
    }
    r->done = 1;
}

/* Takes the queue's head (mutex held): whole requests up to 250 quantities; a request
 * past its deadline is answered WAIT without a call. */
static void take(comb_t *c, call_t *k, int64_t *deadline)
{
    int64_t now = mono_ms();

    k->nr = k->n = 0;
    *deadline = 0;
    while (c->head && k->n + c->head->n <= INV_BATCH_MAX) {
        req_t *r = c->head;

        c->head = r->next;
        if (!c->head) {
            c->tail = &c->head;
        }
        c->queued -= r->n;
        if (r->deadline_ms > 0 && now >= r->deadline_ms) {
            expire(r);
            continue;
        }
        memcpy(k->q + k->n, r->q, r->n * sizeof(*r->q));
        k->n += r->n;
        k->r[k->nr++] = r;
        if (r->deadline_ms > 0 && (*deadline == 0 || r->deadline_ms < *deadline)) {
            *deadline = r->deadline_ms;
        }
    }
}

/* Sends one combined call (mutex not held) and spreads the results back. */
static void send_call(inv_shared_t *sh, dh_lane_t *lane, const dh_store_t *store, call_t *k,
                      int64_t deadline)
{
    size_t off = 0;

    if (k->n == 0) {
        return;
    }
    inv_push_direct(sh, lane, store, k->r[0]->tag, k->q, k->n, k->res, deadline);
    for (size_t j = 0; j < k->nr; j++) {
        req_t *r = k->r[j];

        for (size_t i = 0; i < r->n; i++) {
            r->q[i].dropped = k->q[off + i].dropped;
            r->res[i] = k->res[off + i];
        }
        off += r->n;
    }
}

/* Whether our shared bucket (or a cooldown) refused the whole call before it was sent:
 * nothing reached Shopify, so the same call may go again. A THROTTLED answer from Shopify
 * is left to the runtime's WAIT, as before. */
static int refused(const call_t *k)
{
    size_t sent = 0;

    for (size_t i = 0; i < k->n; i++) {
        if (k->q[i].dropped) {
            continue;
        }
        if (k->res[i].o.result != DH_RESULT_WAIT || !k->res[i].unsent) {
            return 0;
        }
        sent++;
    }
    return sent > 0;
}

/* Holds, then sends the queue's head; a call the bucket refused (another replica took the
 * points first) is held and sent again within the same bounds. */
static void one_call(inv_shared_t *sh, dh_lane_t *lane, const dh_store_t *store, comb_t *c,
                     call_t *k)
{
    int64_t end = mono_ms() + sh->hold_ms, deadline;

    (void)hold(lane, store, c, end); /* bounded out: sent anyway, the bucket refuses (WAIT) */
    pthread_mutex_lock(&c->mu);
    take(c, k, &deadline);
    pthread_mutex_unlock(&c->mu);
    for (;;) {
        int64_t now;

        send_call(sh, lane, store, k, deadline);
        now = mono_ms();
        if (!refused(k) || now >= end || (deadline > 0 && now >= deadline)) {
            return;
        }
        struct timespec ts = {0, HOLD_STEP_MS * 1000000L};

        nanosleep(&ts, NULL);
        if (!hold(lane, store, c, end) || (deadline > 0 && mono_ms() >= deadline)) {
            return; /* the refused call's WAIT stands */
        }
    }
}

/* Leads (mutex held, c->leader set) until \p me is answered, then hands over. */
static void lead(inv_shared_t *sh, dh_lane_t *lane, const dh_store_t *store, comb_t *c, req_t *me)
{
    call_t *k = malloc(sizeof(*k));

    while (!me->done) {
        if (!k) {
            expire(me); /* out of memory: WAIT, the runtime retries */
            break;
        }
        pthread_mutex_unlock(&c->mu);
        one_call(sh, lane, store, c, k);
        pthread_mutex_lock(&c->mu);
        for (size_t j = 0; j < k->nr; j++) {
            k->r[j]->done = 1;
        }
        pthread_cond_broadcast(&c->cv);
    }
    c->leader = 0;
    pthread_cond_broadcast(&c->cv);
    free(k);
}

void inv_push(inv_shared_t *sh, dh_lane_t *lane, const dh_store_t *store, const char *tag,
              inv_qty_t *q, size_t n, inv_qres_t *res, int64_t deadline_ms)
{
    comb_t *c = comb_of(sh, store);
    req_t me = {
        .q = q, .res = res, .n = n, .deadline_ms = deadline_ms, .since = mono_ms(), .tag = tag};

    if (!c || n == 0 || n > INV_BATCH_MAX) {
        inv_push_direct(sh, lane, store, tag, q, n, res, deadline_ms);
        return;
    }
    pthread_mutex_lock(&c->mu);
    *c->tail = &me;
    c->tail = &me.next;
    c->queued += n;
    while (!me.done) {
        if (!c->leader) {
            c->leader = 1;
            lead(sh, lane, store, c, &me);
            break;
        }
        pthread_cond_wait(&c->cv, &c->mu);
    }
    pthread_mutex_unlock(&c->mu);
}
