/*
 * Lanes: the runtime's worker threads. A lane takes a batch of runnable events (heads
 * of distinct keys), claims their idempotency records in one Redis round trip, runs the
 * handler for those it claimed, records the results in one more round trip, and hands
 * the outcome back to the executor. Each lane owns its Redis, HTTP, Shopify and WMS
 * handles and the worker's per-lane state (handler->lane_init), all made at start.
 */
#include <stdarg.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dockhand/idem.h"
#include "dockhand/log.h"
#include "dockhand/outcome.h"
#include "runtime.h"

struct dh_lane_s {
    dh_rt_t *rt;
    int index;
    dh_redis_t *redis;
    dh_http_t *http;
    char owner[160];
    char batch[DH_IDEM_BATCH_LEN + 1];      /* the current batch's id (idem.h), new per claim */
    int64_t leased_ms;                      /* when the batch's lease was last taken or renewed */
    int lapsed;                             /* the batch's lease was found lapsed (counted) */
    dh_rt_ev_t *cur;                        /* event being decoded or handled, for dh_lane_fail() */
    char reapply[DH_REAPPLY_NONCE_MAX + 1]; /* cur's dh-reapply nonce (dh_lane_reapply) */
    unsigned int rng;
    /* Scratch arrays sized to the batch, allocated once per lane. */
    struct item *items;
    dh_rt_ev_t **evs;
    const char **ids;
    dh_idem_state_t *st;
    int64_t *wait;
    size_t *map;
    int *aside; /* route_gated(): per store of the batch, 1 when it has events set aside */
    dh_batch_item_t *bitems;
    dh_shopify_t *shopify;
    dh_wms_t *wms; /* NULL when the worker has no DH_WMS_* */
    void *state;   /* handler->lane_init's */
    int state_made;
    dh_msg_t *msgs;
    int64_t next_tick_ms;
    int64_t next_probe_ms; /* lane 0: next Redis probe while intake is paused */
    int64_t next_park_ms;  /* lane 0: next look at the set-aside stores (park.c) */
};

dh_redis_t *dh_lane_redis(dh_lane_t *lane)
{
    return lane->redis;
}

dh_http_t *dh_lane_http(dh_lane_t *lane)
{
    return lane->http;
}

const dh_config_t *dh_lane_config(const dh_lane_t *lane)
{
    return lane->rt->cfg;
}

dh_metrics_t *dh_lane_metrics(dh_lane_t *lane)
{
    return lane->rt->metrics;
}

dh_rt_t *dh_lane_runtime(dh_lane_t *lane)
{
    return lane->rt;
}

void *dh_lane_state(dh_lane_t *lane)
{
    return lane->state;
}

dh_shopify_t *dh_lane_shopify(dh_lane_t *lane)
{
    return lane->shopify;
}

dh_wms_t *dh_lane_wms(dh_lane_t *lane)
{
    return lane->wms;
}

int dh_lane_index(const dh_lane_t *lane)
{
    return lane->index;
}

void dh_lane_fail(dh_lane_t *lane, const char *error_class, const char *fmt, ...)
{
    va_list ap;
    dh_rt_ev_t *ev = lane->cur;
    dh_rt_fail_t *f = ev ? dh_rt_ev_fail(ev) : NULL;

    if (!f) {
        return;
    }
    snprintf(f->err_class, sizeof(f->err_class), "%s", error_class);
    va_start(ap, fmt);
    vsnprintf(f->err, sizeof(f->err), fmt, ap);
    va_end(ap);
}

void dh_lane_retry_after(dh_lane_t *lane, int64_t ms)
{
    if (lane->cur && ms > lane->cur->retry_after_ms) {
        lane->cur->retry_after_ms = ms;
    }
}

const char *dh_msg_header(const dh_msg_t *msg, const char *name, size_t *len)
{
    const dh_rt_ev_t *ev = msg->priv;
    const void *val = NULL;

    if (!ev || !ev->hdrs) {
        return NULL;
    }
    if (rd_kafka_header_get_last(ev->hdrs, name, &val, len)) {
        return NULL;
    }
    return val;
}

const char *dh_lane_reapply(dh_lane_t *lane)
{
    if (!lane->cur || dh_rt_reapply_nonce(lane->cur, lane->reapply, sizeof(lane->reapply)) != 1) {
        return NULL;
    }
    return lane->reapply;
}

static void msg_view(const dh_rt_ev_t *ev, dh_msg_t *m)
{
    m->topic = ev->part->topic;
    m->partition = ev->part->partition;
    m->offset = ev->offset;
    m->timestamp_ms = ev->timestamp_ms;
    m->key = ev->key;
    m->key_len = ev->key_len;
    m->payload = ev->payload;
    m->len = ev->len;
    m->attempt = ev->attempts + 1;
    m->priv = ev;
}

static int64_t backoff_ms(dh_lane_t *lane, int attempts)
{
    return dh_rt_backoff_ms(&lane->rt->opts, attempts, &lane->rng);
}

/* 250-500 ms: an event put back through no fault of its own (Redis unreachable, a lapsed
 * lease, its store not set aside) tries again soon, the lanes' retries spread apart. */
static int64_t retry_soon_ms(dh_lane_t *lane)
{
    return 250 + (int64_t)(rand_r(&lane->rng) % 250);
}

/* Outcome of one event within a batch, applied under the lock afterwards. */
enum outcome {
    OUT_DONE,
    OUT_SKIP,
    OUT_DELAY,
    OUT_DEAD,
    OUT_FATAL,
    OUT_PARK,
    OUT_SPILL,
    OUT_REVOKED /* its partition is being revoked: not performed, read again by the next owner */
};

struct item {
    dh_rt_ev_t *ev;
    enum outcome out;
    int claimed;    /* we hold an idempotency lease */
    int waited;     /* DH_RESULT_WAIT: not a failure */
    int spill_done; /* OUT_SPILL: written (or tried) with its store's group */
    int64_t delay_ms;
    double seconds;
};

/* The decoded form's effect id and data: none before a decode (or without decode()). */
static const char *ev_effect_id(const dh_rt_ev_t *ev)
{
    return ev->dev ? ev->dev->effect_id : "";
}

static void *ev_data(const dh_rt_ev_t *ev)
{
    return ev->dev ? ev->dev->data : NULL;
}

static void log_ctx(const dh_rt_ev_t *ev, dh_log_ctx_t *ctx)
{
    ctx->topic = ev->part->topic;
    ctx->partition = ev->part->partition;
    ctx->offset = ev->offset;
    ctx->key = ev->key;
    ctx->key_len = ev->key_len;
    ctx->event_id = ev_effect_id(ev)[0] ? ev_effect_id(ev) : NULL;
}

/* Decode one event (once; not again on retries). A decode failure is permanent. */
static dh_result_t decode_one(dh_lane_t *lane, dh_rt_ev_t *ev)
{
    const dh_handler_t *h = lane->rt->handler;
    dh_msg_t m;
    dh_result_t r;

    if (ev->decoded) {
        return DH_RESULT_DONE;
    }
    if (h->decode && !ev->dev) {
        ev->dev = calloc(1, sizeof(*ev->dev));
        if (!ev->dev) {
            return DH_RESULT_WAIT; /* out of memory: try again shortly */
        }
    }
    msg_view(ev, &m);
    lane->cur = ev;
    r = h->decode ? h->decode(lane->rt->shared, &m, ev->dev, lane) : DH_RESULT_DONE;
    lane->cur = NULL;
    if (r == DH_RESULT_DONE) {
        r = dh_rt_reapply_decoded(h, ev); /* a dh-reapply copy is a new effect */
    }
    if (r == DH_RESULT_DONE) {
        ev->decoded = 1;
    } else if (r != DH_RESULT_FATAL) {
        dh_rt_fail_t *f = dh_rt_ev_fail(ev);

        if (f && !f->err_class[0]) {
            snprintf(f->err_class, sizeof(f->err_class), "decode");
        }
        r = DH_RESULT_DEAD_LETTER;
    }
    return r;
}

static void decode_batch(dh_lane_t *lane, struct item *it, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        dh_result_t r = decode_one(lane, it[i].ev);

        it[i].out = r == DH_RESULT_DONE          ? OUT_DONE
                    : r == DH_RESULT_FATAL       ? OUT_FATAL
                    : r == DH_RESULT_DEAD_LETTER ? OUT_DEAD
                                                 : OUT_DELAY;
        it[i].delay_ms = 100;
    }
}

/* A folded snapshot's decoded form, once decode() has seen it: nothing reads it again (the
 * handler gets the survivors), and it is several times the event's own bytes, uncharged to
 * the in-flight budget: a backlog of a few keys would otherwise hold thousands of them until
 * their survivors finish. The event stays decoded (it is not decoded again); its raw copy is
 * what a dead letter or a set-aside entry is made of. The lane owns the running survivor's
 * folded list, so no lock. */
static void drop_decoded(const dh_handler_t *h, dh_rt_ev_t *f)
{
    if (!f->decoded || !f->dev) {
        return;
    }
    if (h->release) {
        h->release(f->dev->data);
    }
    free(f->dev);
    f->dev = NULL;
}

/* Coalescing: decode the older snapshots each survivor replaced, so the handler sees all
 * of them; one that does not decode is dead-lettered on its own instead of vanishing. */
static void decode_folded(dh_lane_t *lane, struct item *it, size_t n)
{
    dh_rt_t *rt = lane->rt;

    for (size_t i = 0; i < n; i++) {
        dh_rt_ev_t *next;

        if (it[i].out == OUT_PARK || it[i].out == OUT_SPILL) {
            continue; /* decoded when the key runs, or set aside undecoded with it */
        }
        for (dh_rt_ev_t *f = it[i].ev->folded; f; f = next) {
            dh_result_t r;

            next = f->fnext;
            r = decode_one(lane, f);
            if (r == DH_RESULT_DONE || r == DH_RESULT_WAIT) {
                /* a WAIT here only means its data is not kept: it stays folded */
                drop_decoded(rt->handler, f);
                continue;
            }
            pthread_mutex_lock(&rt->mu);
            dh_rt_unfold(rt, it[i].ev, f);
            f->part->running++;
            rt->fatal |= r == DH_RESULT_FATAL;
            pthread_mutex_unlock(&rt->mu);
            dh_counter_add(rt->m.dead, 1);
            DH_LOG(DH_LOG_WARN, "lane", "dead-lettering a superseded event of %s [%d] at %lld: %s",
                   f->part->topic, (int)f->part->partition, (long long)f->offset,
                   f->fail ? f->fail->err : "decode failed");
            dh_rt_dlq_send(rt, f);
        }
    }
}

/* The store of a decoded event from Kafka that joins its store's set-aside events when it
 * has any, else NULL (a taken-back event is one of them already). */
static const dh_store_t *aside_store(const struct item *x)
{
    const dh_rt_ev_t *ev = x->ev;

    return x->out == OUT_DONE && !ev->from_park && ev->dev ? ev->dev->store : NULL;
}

/* Events of stores with events set aside join them (asked of Redis only while some store may
 * have any); events meeting a closed gate park, or are set aside once it holds too many. */
static dh_err_t route_gated(dh_lane_t *lane, struct item *it, size_t n)
{
    dh_rt_t *rt = lane->rt;
    const dh_store_t **stores = (const dh_store_t **)lane->ids;
    int *member = lane->aside;
    size_t k = 0;

    if (atomic_load(&rt->park_check)) {
        for (size_t i = 0; i < n; i++) {
            const dh_store_t *st = aside_store(&it[i]);
            size_t j = 0;

            while (st && j < k && stores[j] != st) {
                j++;
            }
            if (st && j == k) {
                stores[k++] = st;
            }
        }
        if (k > 0 && dh_rt_park_members(rt, lane->redis, stores, k, member) != DH_OK) {
            return DH_ERR_IO;
        }
        for (size_t i = 0; i < n; i++) {
            for (size_t j = 0; j < k; j++) {
                if (member[j] && aside_store(&it[i]) == stores[j]) {
                    it[i].out = OUT_SPILL;
                }
            }
        }
    }
    if (atomic_load(&rt->ngates) == 0) {
        return DH_OK;
    }
    pthread_mutex_lock(&rt->mu);
    for (size_t i = 0; i < n; i++) {
        int v = it[i].out == OUT_DONE ? dh_rt_gate_verdict(rt, it[i].ev) : DH_GATE_RUN;

        it[i].out = v == DH_GATE_PARK ? OUT_PARK : v == DH_GATE_SPILL ? OUT_SPILL : it[i].out;
    }
    pthread_mutex_unlock(&rt->mu);
    return DH_OK;
}

static int by_offset(const void *a, const void *b)
{
    int64_t x = (*(dh_rt_ev_t *const *)a)->offset, y = (*(dh_rt_ev_t *const *)b)->offset;

    return (x > y) - (x < y);
}

/* \p survivor's folded snapshots (oldest first, all of one partition), then itself, appended
 * to \p evs from \p k; the new count, or 0 when out of memory. */
static size_t spill_order(dh_rt_ev_t *survivor, dh_rt_ev_t ***evs, size_t *cap, size_t k)
{
    size_t first = k;

    for (dh_rt_ev_t *f = survivor->folded;; f = f->fnext) {
        if (k == *cap) {
            size_t ncap = *cap ? *cap * 2 : 64;
            dh_rt_ev_t **n = realloc(*evs, ncap * sizeof(**evs));

            if (!n) {
                return 0;
            }
            *evs = n;
            *cap = ncap;
        }
        if (!f) {
            break;
        }
        (*evs)[k++] = f;
    }
    qsort(*evs + first, k - first, sizeof(**evs), by_offset);
    (*evs)[k++] = survivor;
    return k;
}

/* Set aside the batch's OUT_SPILL events, one script per store, each with the older snapshots
 * folded into it (undecoded: they are decoded when taken back), in key order. What cannot
 * be written waits like any Redis failure. */
static void spill_batch(dh_lane_t *lane, struct item *it, size_t n)
{
    dh_rt_ev_t **evs = NULL;
    size_t cap = 0;

    for (size_t i = 0; i < n; i++) {
        const dh_store_t *st;
        size_t k = 0;
        int ok = 1;

        if (it[i].out != OUT_SPILL || it[i].spill_done) {
            continue;
        }
        st = it[i].ev->dev->store;
        for (size_t j = i; j < n && ok; j++) {
            if (it[j].out == OUT_SPILL && !it[j].spill_done && it[j].ev->dev->store == st) {
                k = spill_order(it[j].ev, &evs, &cap, k);
                ok = k > 0;
                it[j].spill_done = 1;
            }
        }
        if (!ok || dh_rt_park_spill(lane->rt, lane->redis, st, evs, k) != DH_OK) {
            DH_LOG(DH_LOG_WARN, "park", "store %s: cannot set %zu event(s) aside: %s", st->domain,
                   k, ok ? dh_redis_errstr(lane->redis) : "out of memory");
            for (size_t j = i; j < n; j++) {
                if (it[j].out == OUT_SPILL && it[j].ev->dev->store == st) {
                    it[j].out = OUT_DELAY;
                    it[j].delay_ms = retry_soon_ms(lane);
                }
            }
        }
    }
    free(evs);
}

/* Claim the records of every decoded event with an effect id, in one round trip. */
static dh_err_t claim_batch(dh_lane_t *lane, struct item *it, size_t n)
{
    const char **ids = lane->ids;
    dh_idem_state_t *st = lane->st;
    int64_t *wait = lane->wait;
    size_t *map = lane->map, k = 0;
    dh_err_t err;

    for (size_t i = 0; i < n; i++) {
        if (it[i].out == OUT_DONE && ev_effect_id(it[i].ev)[0]) {
            map[k] = i;
            ids[k++] = ev_effect_id(it[i].ev);
        }
    }
    if (k == 0) {
        return DH_OK;
    }
    dh_idem_batch_id(lane->batch);
    lane->leased_ms = dh_rt_now_ms(); /* the lease runs from before the claim was sent */
    lane->lapsed = 0;
    err = dh_idem_claim(lane->redis, lane->rt->handler->name, lane->owner, lane->batch,
                        lane->rt->opts.lease_ms, lane->rt->opts.retention_s, k, ids, st, wait);
    if (err) {
        return err;
    }
    for (size_t j = 0; j < k; j++) {
        struct item *x = &it[map[j]];

        if (st[j] == DH_IDEM_CLAIMED) {
            x->claimed = 1;
        } else if (st[j] == DH_IDEM_DONE) {
            x->out = OUT_SKIP;
        } else {
            x->out = OUT_DELAY; /* someone else is mid-effect: wait for its lease */
            x->delay_ms = wait[j] > 1000 ? 1000 : (wait[j] > 10 ? wait[j] : 10);
        }
    }
    return DH_OK;
}

/* Turn a handler's result into the event's outcome (retry budget, backoff, DLQ). */
static void apply_result(dh_lane_t *lane, struct item *x, dh_result_t r)
{
    dh_rt_t *rt = lane->rt;
    dh_rt_ev_t *ev = x->ev;
    int64_t now = dh_rt_wall_ms();

    switch (r) {
    case DH_RESULT_DONE:
        x->out = OUT_DONE;
        return;
    case DH_RESULT_WAIT:
        x->out = OUT_DELAY;
        x->waited = 1;
        x->delay_ms = ev->retry_after_ms > 0 ? ev->retry_after_ms : rt->opts.retry_base_ms;
        if (now - ev->first_seen_ms < rt->opts.retry_max_age_ms) {
            return;
        }
        ev->last_failed_ms = now;
        dh_rt_ev_set_err(ev, "retry-exhausted", "still waiting for a resource after %lld ms",
                         (long long)(now - ev->first_seen_ms));
        x->out = OUT_DEAD;
        return;
    case DH_RESULT_RETRY:
        x->out = OUT_DELAY;
        ev->attempts++;
        ev->last_failed_ms = now;
        /* Refused credentials fail every event alike: they wait for the fix, they are
         * not dead-lettered (outcome.h). */
        if (!dh_outcome_never_exhausts(dh_rt_ev_err_class(ev)) &&
            (ev->attempts >= rt->opts.retry_max_attempts ||
             now - ev->first_seen_ms >= rt->opts.retry_max_age_ms)) {
            char why[sizeof(ev->fail->err) + 128];

            snprintf(why, sizeof(why), "retry budget exhausted after %d attempts: %s: %s",
                     ev->attempts, dh_rt_ev_err_class(ev)[0] ? dh_rt_ev_err_class(ev) : "transient",
                     dh_rt_ev_err(ev));
            dh_rt_ev_set_err(ev, "retry-exhausted", "%.*s", (int)sizeof(ev->fail->err) - 1, why);
            x->out = OUT_DEAD;
            return;
        }
        x->delay_ms = backoff_ms(lane, ev->attempts);
        if (ev->retry_after_ms > x->delay_ms) {
            x->delay_ms = ev->retry_after_ms;
        }
        return;
    case DH_RESULT_DEAD_LETTER:
        ev->attempts++;
        ev->last_failed_ms = now;
        if (dh_rt_ev_fail(ev) && !ev->fail->err_class[0]) {
            snprintf(ev->fail->err_class, sizeof(ev->fail->err_class), "rejected");
        }
        x->out = OUT_DEAD;
        return;
    default:
        x->out = OUT_FATAL;
        return;
    }
}

static void handle_one(dh_lane_t *lane, struct item *x)
{
    dh_rt_t *rt = lane->rt;
    dh_rt_ev_t *ev = x->ev;
    dh_msg_t m;
    int64_t t0 = dh_rt_now_ms();
    dh_result_t r;

    msg_view(ev, &m);
    dh_rt_ev_clear_err(ev);
    ev->retry_after_ms = 0;
    lane->cur = ev;
    dh_rt_trace_current(ev); /* its far-side calls are its own (trace.c) */
    r = rt->handler->handle(rt->shared, &m, ev_data(ev), lane);
    dh_rt_trace_current(NULL);
    lane->cur = NULL;
    x->seconds = (double)(dh_rt_now_ms() - t0) / 1000.0;
    apply_result(lane, x, r);
}

void dh_batch_fail(dh_batch_item_t *item, dh_result_t result, const char *error_class,
                   const char *fmt, ...)
{
    va_list ap;

    item->result = result;
    snprintf(item->error_class, sizeof(item->error_class), "%s", error_class);
    va_start(ap, fmt);
    vsnprintf(item->error, sizeof(item->error), fmt, ap);
    va_end(ap);
}

/* A batch whose effects take longer than a third of the lease renews it between effects.
 * Once it cannot (the lease lapsed, or Redis is unreachable), none of its remaining effects
 * is performed: another replica may hold them now. They are claimed again later and found
 * done or free. Returns 1 when the next effect may go ahead. */
static int lease_alive(dh_lane_t *lane)
{
    dh_rt_t *rt = lane->rt;
    int64_t now = dh_rt_now_ms();
    int held = 0;

    if (now - lane->leased_ms < rt->opts.lease_ms / 3) {
        return 1;
    }
    if (dh_idem_renew(lane->redis, rt->handler->name, lane->owner, lane->batch, rt->opts.lease_ms,
                      &held) != DH_OK) {
        DH_LOG(DH_LOG_WARN, "lane", "batch %s: cannot renew its lease, its other effects wait: %s",
               lane->batch, dh_redis_errstr(lane->redis));
        return 0;
    }
    if (!held) {
        lane->lapsed = 1;
        dh_counter_add(rt->m.leases_lapsed, 1);
        DH_LOG(DH_LOG_WARN, "lane",
               "batch %s: its lease lapsed after %lld ms (DH_IDEM_LEASE_MS=%lld), its other "
               "effects wait",
               lane->batch, (long long)(now - lane->leased_ms), (long long)rt->opts.lease_ms);
        return 0;
    }
    lane->leased_ms = now;
    return 1;
}

/* The event's partition is being revoked (consumer.c): the lane leaves it to the next owner
 * instead of performing it. Its claim is released with the batch (record_batch), so the
 * next owner claims it at once rather than waiting for this lane's lease. */
static int leave_revoked(struct item *x)
{
    if (x->out == OUT_DONE && atomic_load_explicit(&x->ev->part->revoking, memory_order_relaxed)) {
        x->out = OUT_REVOKED;
        return 1;
    }
    return 0;
}

/* Hand every claimed event of the batch to handle_batch() in one call. */
static void handle_many(dh_lane_t *lane, struct item *it, size_t n)
{
    dh_rt_t *rt = lane->rt;
    dh_batch_item_t *bi = lane->bitems;
    dh_msg_t *msgs = lane->msgs;
    size_t k = 0;
    int64_t t0 = dh_rt_now_ms();

    for (size_t i = 0; i < n; i++) {
        if (it[i].out != OUT_DONE || leave_revoked(&it[i])) {
            continue;
        }
        msg_view(it[i].ev, &msgs[k]);
        memset(&bi[k], 0, sizeof(bi[k]));
        bi[k].msg = &msgs[k];
        bi[k].data = ev_data(it[i].ev);
        bi[k].result = DH_RESULT_DONE;
        lane->map[k++] = i;
    }
    if (k == 0) {
        return;
    }
    rt->handler->handle_batch(rt->shared, bi, k, lane);
    double secs = (double)(dh_rt_now_ms() - t0) / 1000.0;
    for (size_t j = 0; j < k; j++) {
        struct item *x = &it[lane->map[j]];
        dh_rt_ev_t *ev = x->ev;

        dh_rt_ev_clear_err(ev);
        if (bi[j].error_class[0] || bi[j].error[0]) {
            dh_rt_ev_set_err(ev, bi[j].error_class, "%s", bi[j].error);
        }
        ev->retry_after_ms = bi[j].retry_after_ms;
        x->seconds = secs;
        apply_result(lane, x, bi[j].result);
    }
}

/* The INFO line and trace record of each applied effect (trace.c). */
static void trace_batch(dh_lane_t *lane, struct item *it, size_t n)
{
    dh_rt_traced_t *t = calloc(n, sizeof(*t));
    size_t k = 0;

    for (size_t i = 0; t && i < n; i++) {
        if (it[i].claimed && it[i].out == OUT_DONE) {
            t[k++] = (dh_rt_traced_t){it[i].ev, it[i].seconds};
        }
    }
    dh_rt_trace_applied(lane->rt, lane->redis, lane->owner, lane->batch, t, k);
    free(t);
}

/* Finish the batch's records in one atomic step: done for what succeeded, released for
 * what was claimed and did not happen (idem.h). A record that cannot be written keeps the
 * events running until it can: the effects happened, and finishing without the record
 * would let a replay repeat them. */
static dh_err_t record_batch(dh_lane_t *lane, struct item *it, size_t n)
{
    const char **failed = lane->ids;
    size_t nd = 0, nf = 0;
    int held = 1;
    dh_err_t err;

    for (size_t i = 0; i < n; i++) {
        if (it[i].claimed && it[i].out == OUT_DONE) {
            nd++;
        } else if (it[i].claimed) {
            failed[nf++] = ev_effect_id(it[i].ev);
        }
    }
    err = dh_idem_finish(lane->redis, lane->rt->handler->name, lane->owner, lane->batch,
                         lane->rt->opts.retention_s, nd, nf, failed, &held);
    if (err) {
        return err;
    }
    if (!held && !lane->lapsed) {
        /* An effect outlasted the lease (DH_IDEM_LEASE_MS) before a renewal: another replica
         * may have run it too (the far side's idempotency key is what still guards it). */
        dh_counter_add(lane->rt->m.leases_lapsed, 1);
        DH_LOG(DH_LOG_WARN, "lane", "batch %s: its lease lapsed before it finished (%zu done)",
               lane->batch, nd);
    }
    if (nd > 0) {
        dh_log_hold_begin(); /* an INFO line per effect: written a few per write(2) */
        trace_batch(lane, it, n);
        dh_log_hold_end();
    }
    return DH_OK;
}

static void log_outcome(const struct item *x)
{
    dh_log_ctx_t ctx;

    if (x->out != OUT_DELAY && x->out != OUT_DEAD) {
        return;
    }
    log_ctx(x->ev, &ctx);
    dh_log_ctx_set(&ctx);
    if (x->out == OUT_DEAD) {
        DH_LOG(DH_LOG_WARN, "lane", "dead-lettering after %d attempt(s): %s: %s", x->ev->attempts,
               dh_rt_ev_err_class(x->ev), dh_rt_ev_err(x->ev));
    } else if (x->waited) {
        DH_LOG(DH_LOG_DEBUG, "lane", "waiting %lld ms for a resource: %s", (long long)x->delay_ms,
               dh_rt_ev_err(x->ev)[0] ? dh_rt_ev_err(x->ev) : "(no detail)");
    } else if (dh_rt_ev_err_class(x->ev)[0]) {
        DH_LOG(DH_LOG_INFO, "lane", "attempt %d failed, retrying in %lld ms: %s: %s",
               x->ev->attempts, (long long)x->delay_ms, dh_rt_ev_err_class(x->ev),
               dh_rt_ev_err(x->ev));
    }
    dh_log_ctx_set(NULL);
}

/* Apply outcomes under the lock. */
static void apply_batch(dh_lane_t *lane, struct item *it, size_t n)
{
    dh_rt_t *rt = lane->rt;
    size_t nrevoked = 0;

    for (size_t i = 0; i < n; i++) {
        log_outcome(&it[i]);
    }
    pthread_mutex_lock(&rt->mu);
    for (size_t i = 0; i < n; i++) {
        struct item *x = &it[i];

        switch (x->out) {
        case OUT_DONE:
            dh_counter_add(rt->m.done, 1);
            dh_histogram_observe(rt->m.latency, x->seconds);
            dh_rt_finish(rt, x->ev);
            break;
        case OUT_SKIP:
            dh_counter_add(rt->m.skipped, 1);
            dh_rt_finish(rt, x->ev);
            break;
        case OUT_DELAY:
            dh_counter_add(x->waited                      ? rt->m.waits
                           : dh_rt_ev_err_class(x->ev)[0] ? rt->m.retried
                                                          : rt->m.lease_waits,
                           1);
            if (rt->gates && dh_rt_gate_verdict(rt, x->ev) != DH_GATE_RUN) {
                /* Its store failed it: it waits on the gate, or (over the gate's bound) is
                 * ready again at once for a lane to set it aside. */
                dh_rt_park(rt, x->ev);
            } else {
                dh_rt_delay(rt, x->ev, x->delay_ms);
            }
            break;
        case OUT_PARK:
            dh_rt_park(rt, x->ev);
            break;
        case OUT_SPILL:
            dh_rt_finish(rt, x->ev); /* it is in its store's list: the offset may go */
            break;
        case OUT_DEAD:
            dh_counter_add(rt->m.dead, 1);
            dh_rt_detach(rt, x->ev);
            break;
        case OUT_REVOKED:
            nrevoked++;
            dh_rt_detach(rt, x->ev);
            dh_rt_abandon(rt, x->ev); /* no watermark: its offset is never committed here */
            break;
        case OUT_FATAL:
            rt->fatal = 1;
            dh_rt_delay(rt, x->ev, 3600 * 1000);
            break;
        }
    }
    pthread_mutex_unlock(&rt->mu);
    if (nrevoked > 0) {
        DH_LOG(DH_LOG_INFO, "lane",
               "%zu event(s) of partitions being revoked left for their next owner", nrevoked);
    }
    /* Produced outside the lock; the ack comes back on the poll thread. */
    for (size_t i = 0; i < n; i++) {
        if (it[i].out == OUT_DEAD) {
            dh_rt_dlq_send(rt, it[i].ev);
        }
    }
}

/* Redis is unreachable: perform nothing, put the batch back, and say so. */
static void redis_unavailable(dh_lane_t *lane, struct item *it, size_t n)
{
    dh_rt_t *rt = lane->rt;

    if (!atomic_exchange(&rt->redis_down, 1)) {
        DH_LOG(DH_LOG_ERROR, "redis", "redis unavailable, pausing intake: %s",
               dh_redis_errstr(lane->redis));
        dh_gauge_set(rt->m.redis_up, 0);
    }
    dh_counter_add(rt->m.redis_errors, 1);
    for (size_t i = 0; i < n; i++) {
        it[i].out = OUT_DELAY;
        if (it[i].ev->fail) {
            it[i].ev->fail->err_class[0] = '\0';
        }
        it[i].delay_ms = retry_soon_ms(lane);
    }
}

static void redis_available(dh_lane_t *lane)
{
    if (atomic_load(&lane->rt->redis_down) && atomic_exchange(&lane->rt->redis_down, 0)) {
        DH_LOG(DH_LOG_INFO, "redis", "redis reachable again, resuming intake");
        dh_gauge_set(lane->rt->m.redis_up, 1);
    }
}

/* Only a successful claim clears redis_down. A replica whose put-back batch went to another
 * member in a rebalance has nothing left to claim, so its partitions would stay paused for
 * good after Redis returned: lane 0 pings Redis instead, at most twice a second. */
static void redis_probe(dh_lane_t *lane)
{
    redisReply *r = NULL;

    if (dh_redis_commandf(lane->redis, &r, "PING") == DH_OK) {
        redis_available(lane);
    }
    if (r) {
        freeReplyObject(r);
    }
}

static void process_batch(dh_lane_t *lane, dh_rt_ev_t **evs, size_t n)
{
    struct item *it = lane->items;
    int fatal_seen = 0, lease_lost = 0;

    for (size_t i = 0; i < n; i++) {
        memset(&it[i], 0, sizeof(it[i]));
        it[i].ev = evs[i];
    }
    decode_batch(lane, it, n);
    if (route_gated(lane, it, n) != DH_OK) {
        redis_unavailable(lane, it, n);
        apply_batch(lane, it, n);
        return;
    }
    spill_batch(lane, it, n);
    decode_folded(lane, it, n);
    if (claim_batch(lane, it, n) != DH_OK) {
        redis_unavailable(lane, it, n);
        apply_batch(lane, it, n);
        return;
    }
    redis_available(lane);
    dh_rt_trace_reset();
    if (lane->rt->handler->handle_batch) {
        handle_many(lane, it, n);
    }
    for (size_t i = 0; i < n && !lane->rt->handler->handle_batch; i++) {
        if (leave_revoked(&it[i])) {
            continue;
        }
        if (it[i].out == OUT_DONE && it[i].claimed && !lease_lost && !lease_alive(lane)) {
            lease_lost = 1;
        }
        if (it[i].out == OUT_DONE && it[i].claimed && lease_lost) {
            it[i].out = OUT_DELAY; /* claimed again later: done by the new owner, or free */
            it[i].delay_ms = retry_soon_ms(lane);
        } else if (it[i].out == OUT_DONE && !fatal_seen) {
            dh_log_ctx_t ctx;

            log_ctx(it[i].ev, &ctx);
            dh_log_ctx_set(&ctx);
            handle_one(lane, &it[i]);
            dh_log_ctx_set(NULL);
            fatal_seen = it[i].out == OUT_FATAL;
        } else if (fatal_seen && it[i].out == OUT_DONE) {
            it[i].out = OUT_DELAY; /* not attempted: the worker is stopping */
            it[i].delay_ms = 3600 * 1000;
        }
    }
    while (record_batch(lane, it, n) != DH_OK) {
        redis_unavailable(lane, it, 0);
        if (lane->rt->stopping) {
            /* Leave the leases to expire: the effects will be retried, never assumed. */
            for (size_t i = 0; i < n; i++) {
                if (it[i].claimed && it[i].out == OUT_DONE) {
                    it[i].out = OUT_DELAY;
                    it[i].delay_ms = 3600 * 1000;
                }
            }
            break;
        }
        struct timespec ts = {0, 200 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    redis_available(lane);
    apply_batch(lane, it, n);
}

static void *lane_main(void *arg)
{
    dh_lane_t *lane = arg;
    dh_rt_t *rt = lane->rt;

    pthread_mutex_lock(&rt->mu);
    while (!rt->stopping) {
        int64_t due = -1;

        if (lane->index == 0 && rt->handler->tick && dh_rt_now_ms() >= lane->next_tick_ms) {
            lane->next_tick_ms = dh_rt_now_ms() + 1000;
            pthread_mutex_unlock(&rt->mu);
            rt->handler->tick(rt->shared, lane);
            pthread_mutex_lock(&rt->mu);
            continue;
        }
        if (lane->index == 0 && rt->stores && dh_rt_now_ms() >= lane->next_park_ms) {
            lane->next_park_ms = dh_rt_now_ms() + 100;
            pthread_mutex_unlock(&rt->mu);
            dh_rt_park_tick(rt, lane->redis, lane->owner);
            pthread_mutex_lock(&rt->mu);
        }
        size_t n = dh_rt_take(rt, lane->evs, (size_t)rt->opts.batch_max, &due);

        if (n == 0 && lane->index == 0 && atomic_load(&rt->redis_down) &&
            dh_rt_now_ms() >= lane->next_probe_ms) {
            lane->next_probe_ms = dh_rt_now_ms() + 500;
            pthread_mutex_unlock(&rt->mu);
            redis_probe(lane);
            pthread_mutex_lock(&rt->mu);
            continue;
        }
        if (n == 0) {
            struct timespec ts;
            int64_t wait = due < 0 ? 200 : due - dh_rt_now_ms();

            if (wait > 200) {
                wait = 200;
            }
            if (wait < 1) {
                wait = 1;
            }
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += (wait > 0 ? wait : 1) * 1000000;
            ts.tv_sec += ts.tv_nsec / 1000000000;
            ts.tv_nsec %= 1000000000;
            pthread_cond_timedwait(&rt->work_cv, &rt->mu, &ts);
            continue;
        }
        pthread_mutex_unlock(&rt->mu);
        process_batch(lane, lane->evs, n);
        pthread_mutex_lock(&rt->mu);
    }
    pthread_mutex_unlock(&rt->mu);
    dh_rt_trace_end(); /* this thread's noted calls and index TTL cache */
    return NULL;
}

static void lane_destroy(dh_lane_t *lane)
{
    if (!lane) {
        return;
    }
    if (lane->state_made && lane->rt->handler->lane_fini) {
        lane->rt->handler->lane_fini(lane->rt->shared, lane->state);
    }
    dh_shopify_destroy(lane->shopify);
    dh_wms_destroy(lane->wms);
    dh_redis_destroy(lane->redis);
    dh_http_destroy(lane->http);
    free(lane->items);
    free(lane->evs);
    free(lane->ids);
    free(lane->st);
    free(lane->wait);
    free(lane->map);
    free(lane->aside);
    free(lane->bitems);
    free(lane->msgs);
    free(lane);
}

/* The lane's Shopify and WMS clients and the worker's lane state, at start: a worker never
 * discovers at its first event that it cannot work. */
static int lane_clients(dh_lane_t *lane, char *errstr, size_t errstr_size)
{
    const dh_handler_t *h = lane->rt->handler;

    lane->shopify = dh_shopify_new(lane->http, lane->redis, lane->rt->metrics);
    if (!lane->shopify) {
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    dh_shopify_share_tokens(lane->shopify, lane->rt->tokens);
    if (dh_config_get(lane->rt->cfg, "DH_WMS_URL")) { /* the worker lists DH_WMS_* */
        lane->wms = dh_wms_new(lane->rt->cfg, lane->http, lane->redis, lane->rt->metrics, errstr,
                               errstr_size);
        if (!lane->wms) {
            return -1;
        }
    }
    if (h->lane_init) {
        if (h->lane_init(lane->rt->shared, lane, &lane->state, errstr, errstr_size)) {
            return -1;
        }
        lane->state_made = 1;
    }
    return 0;
}

static dh_lane_t *lane_new(dh_rt_t *rt, int index, char *errstr, size_t errstr_size)
{
    const dh_config_t *cfg = rt->cfg;
    size_t b = (size_t)rt->opts.batch_max;
    dh_redis_opts_t ro = {
        .url = dh_config_get(cfg, "DH_REDIS_URL"),
        .password = dh_config_get(cfg, "DH_REDIS_PASSWORD"),
        .timeout_ms = (int)dh_config_int(cfg, "DH_REDIS_TIMEOUT_MS"),
    };
    dh_http_opts_t ho = {
        .connect_timeout_ms = (long)dh_config_int(cfg, "DH_HTTP_CONNECT_TIMEOUT_MS"),
        .timeout_ms = (long)dh_config_int(cfg, "DH_HTTP_TIMEOUT_MS"),
        .max_body = (size_t)dh_config_int(cfg, "DH_HTTP_MAX_BODY"),
    };
    dh_lane_t *lane = calloc(1, sizeof(*lane));

    if (!lane) {
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    lane->rt = rt;
    lane->index = index;
    lane->rng = (unsigned)(dh_rt_wall_ms() ^ (index * 2654435761u));
    snprintf(lane->owner, sizeof(lane->owner), "%s/%d", rt->owner, index);
    lane->items = calloc(b, sizeof(*lane->items));
    lane->evs = calloc(b, sizeof(*lane->evs));
    lane->ids = calloc(b, sizeof(*lane->ids));
    lane->st = calloc(b, sizeof(*lane->st));
    lane->wait = calloc(b, sizeof(*lane->wait));
    lane->map = calloc(b, sizeof(*lane->map));
    lane->aside = calloc(b, sizeof(*lane->aside));
    lane->bitems = calloc(b, sizeof(*lane->bitems));
    lane->msgs = calloc(b, sizeof(*lane->msgs));
    if (!lane->items || !lane->evs || !lane->ids || !lane->st || !lane->wait || !lane->map ||
        !lane->aside || !lane->bitems || !lane->msgs) {
        snprintf(errstr, errstr_size, "out of memory");
        goto fail;
    }
    lane->redis = dh_redis_new(&ro, errstr, errstr_size);
    if (!lane->redis) {
        goto fail;
    }
    lane->http = dh_http_new(&ho, errstr, errstr_size);
    if (!lane->http || lane_clients(lane, errstr, errstr_size)) {
        goto fail;
    }
    return lane;
fail:
    lane_destroy(lane);
    return NULL;
}

dh_err_t dh_rt_lanes_start(dh_rt_t *rt, char *errstr, size_t errstr_size)
{
    rt->lanes = calloc((size_t)rt->opts.lanes, sizeof(*rt->lanes));
    rt->threads = calloc((size_t)rt->opts.lanes, sizeof(*rt->threads));
    if (!rt->lanes || !rt->threads) {
        snprintf(errstr, errstr_size, "out of memory");
        return DH_ERR_NOMEM;
    }
    for (int i = 0; i < rt->opts.lanes; i++) {
        rt->lanes[i] = lane_new(rt, i, errstr, errstr_size);
        if (!rt->lanes[i]) {
            return DH_ERR_CONFIG;
        }
        if (pthread_create(&rt->threads[i], NULL, lane_main, rt->lanes[i])) {
            lane_destroy(rt->lanes[i]);
            rt->lanes[i] = NULL;
            snprintf(errstr, errstr_size, "cannot start lane thread %d", i);
            return DH_ERR_IO;
        }
        rt->nlanes++;
    }
    return DH_OK;
}

void dh_rt_lanes_stop(dh_rt_t *rt)
{
    pthread_mutex_lock(&rt->mu);
    rt->stopping = 1;
    pthread_cond_broadcast(&rt->work_cv);
    pthread_mutex_unlock(&rt->mu);
    for (int i = 0; i < rt->nlanes; i++) {
        pthread_join(rt->threads[i], NULL);
        lane_destroy(rt->lanes[i]);
    }
    free(rt->lanes);
    free(rt->threads);
    rt->lanes = NULL;
    rt->threads = NULL;
    rt->nlanes = 0;
}
