/*
 * Key-ordered executor. Consumed messages are queued per message key; a key's events
 * run one at a time in offset order, different keys run in parallel on any lane. A key
 * waiting to retry sits on the delayed list, so only its own later events wait. Each
 * partition keeps a contiguous-offset watermark: an offset is stored only when every
 * earlier event of that partition has finished. The caller holds rt->mu throughout.
 */
#include <stdarg.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dockhand/log.h"
#include "runtime.h"

int64_t dh_rt_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t dh_rt_wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

dh_rt_fail_t *dh_rt_ev_fail(dh_rt_ev_t *ev)
{
    if (!ev->fail) {
        ev->fail = calloc(1, sizeof(*ev->fail));
    }
    return ev->fail;
}

void dh_rt_ev_set_err(dh_rt_ev_t *ev, const char *err_class, const char *fmt, ...)
{
    dh_rt_fail_t *f = dh_rt_ev_fail(ev);
    va_list ap;

    if (!f) {
        return;
    }
    snprintf(f->err_class, sizeof(f->err_class), "%s", err_class);
    va_start(ap, fmt);
    vsnprintf(f->err, sizeof(f->err), fmt, ap);
    va_end(ap);
}

const char *dh_rt_ev_err_class(const dh_rt_ev_t *ev)
{
    return ev->fail ? ev->fail->err_class : "";
}

const char *dh_rt_ev_err(const dh_rt_ev_t *ev)
{
    return ev->fail ? ev->fail->err : "";
}

void dh_rt_ev_clear_err(dh_rt_ev_t *ev)
{
    free(ev->fail);
    ev->fail = NULL;
}

/* Equal jitter: half the exponential step fixed, half random, capped. */
int64_t dh_rt_backoff_ms(const dh_rt_opts_t *o, int attempts, unsigned int *rng)
{
    int64_t step = o->retry_base_ms;

    for (int i = 1; i < attempts && step < o->retry_max_ms; i++) {
        step *= 2;
    }
    if (step > o->retry_max_ms) {
        step = o->retry_max_ms;
    }
    return step / 2 + (int64_t)(rand_r(rng) % (unsigned)(step / 2 + 1));
}

static uint64_t hash_bytes(const char *p, size_t n)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */

    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)p[i];
        h *= 1099511628211ULL;
    }
    return h;
}

dh_err_t dh_rt_init(dh_rt_t *rt)
{
    rt->nbuckets = 1u << 14;
    rt->buckets = calloc(rt->nbuckets, sizeof(*rt->buckets));
    rt->tokens = dh_tokens_new();
    if (!rt->buckets || !rt->tokens) {
        free(rt->buckets);
        rt->buckets = NULL;
        dh_tokens_destroy(rt->tokens);
        rt->tokens = NULL;
        return DH_ERR_NOMEM;
    }
    pthread_mutex_init(&rt->mu, NULL);
    pthread_cond_init(&rt->work_cv, NULL);
    pthread_cond_init(&rt->idle_cv, NULL);
    return DH_OK;
}

void dh_rt_fini(dh_rt_t *rt)
{
    dh_rt_part_t *p = rt->parts;

    while (p) {
        dh_rt_part_t *next = p->next;

        dh_wm_destroy(p->wm);
        free(p->topic);
        free(p);
        p = next;
    }
    rt->parts = NULL;
    dh_rt_gates_free(rt);
    free(rt->buckets);
    rt->buckets = NULL;
    dh_tokens_destroy(rt->tokens);
    rt->tokens = NULL;
    pthread_cond_destroy(&rt->work_cv);
    pthread_cond_destroy(&rt->idle_cv);
    pthread_mutex_destroy(&rt->mu);
}

dh_rt_part_t *dh_rt_part_find(dh_rt_t *rt, const char *topic, int32_t partition)
{
    for (dh_rt_part_t *p = rt->parts; p; p = p->next) {
        if (p->assigned && p->partition == partition && !strcmp(p->topic, topic)) {
            return p;
        }
    }
    return NULL;
}

dh_rt_part_t *dh_rt_part_add(dh_rt_t *rt, const char *topic, int32_t partition)
{
    dh_rt_part_t *p = dh_rt_part_find(rt, topic, partition);

    if (p) {
        return p;
    }
    p = calloc(1, sizeof(*p));
    if (!p) {
        return NULL;
    }
    p->topic = strdup(topic);
    p->wm = dh_wm_new();
    if (!p->topic || !p->wm) {
        free(p->topic);
        dh_wm_destroy(p->wm);
        free(p);
        return NULL;
    }
    p->partition = partition;
    p->assigned = 1;
    p->stored = -1;
    p->next = rt->parts;
    rt->parts = p;
    return p;
}

/* Free a revoked partition once no event points at it any more. */
void dh_rt_part_unref(dh_rt_t *rt, dh_rt_part_t *p)
{
    if (p->assigned || p->refs > 0) {
        return;
    }
    for (dh_rt_part_t **pp = &rt->parts; *pp; pp = &(*pp)->next) {
        if (*pp == p) {
            *pp = p->next;
            break;
        }
    }
    dh_wm_destroy(p->wm);
    free(p->topic);
    free(p);
}

static void list_unlink(dh_rt_t *rt, dh_rt_keyq_t *kq)
{
    if (kq->listed == 3) {
        dh_rt_gate_unlink(rt, kq);
    } else if (kq->listed == 1) {
        rt->nready--;
        if (kq->lprev) {
            kq->lprev->lnext = kq->lnext;
        } else {
            rt->ready_head = kq->lnext;
        }
        if (kq->lnext) {
            kq->lnext->lprev = kq->lprev;
        } else {
            rt->ready_tail = kq->lprev;
        }
    } else if (kq->listed == 2) {
        if (kq->lprev) {
            kq->lprev->lnext = kq->lnext;
        } else {
            rt->delayed_head = kq->lnext;
        }
        if (kq->lnext) {
            kq->lnext->lprev = kq->lprev;
        }
    }
    kq->lnext = kq->lprev = NULL;
    kq->listed = 0;
}

static void ready_push(dh_rt_t *rt, dh_rt_keyq_t *kq)
{
    kq->ready_since_ms = dh_rt_now_ms();
    rt->nready++;
    kq->lnext = NULL;
    kq->lprev = rt->ready_tail;
    if (rt->ready_tail) {
        rt->ready_tail->lnext = kq;
    } else {
        rt->ready_head = kq;
    }
    rt->ready_tail = kq;
    kq->listed = 1;
    pthread_cond_signal(&rt->work_cv);
}

void dh_rt_key_unlist(dh_rt_t *rt, dh_rt_keyq_t *kq)
{
    list_unlink(rt, kq);
}

void dh_rt_ready(dh_rt_t *rt, dh_rt_keyq_t *kq)
{
    ready_push(rt, kq);
}

static void delayed_insert(dh_rt_t *rt, dh_rt_keyq_t *kq)
{
    dh_rt_keyq_t *prev = NULL, *cur = rt->delayed_head;

    while (cur && cur->not_before_ms <= kq->not_before_ms) {
        prev = cur;
        cur = cur->lnext;
    }
    kq->lprev = prev;
    kq->lnext = cur;
    if (prev) {
        prev->lnext = kq;
    } else {
        rt->delayed_head = kq;
    }
    if (cur) {
        cur->lprev = kq;
    }
    kq->listed = 2;
    /* A lane may be sleeping until a later deadline. */
    pthread_cond_signal(&rt->work_cv);
}

static dh_rt_keyq_t **keyq_slot(dh_rt_t *rt, const char *key, size_t len, uint64_t h)
{
    dh_rt_keyq_t **pp = &rt->buckets[h & (rt->nbuckets - 1)];

    while (*pp && !((*pp)->hash == h && (*pp)->key_len == len && !memcmp((*pp)->key, key, len))) {
        pp = &(*pp)->hnext;
    }
    return pp;
}

static void keyq_free(dh_rt_t *rt, dh_rt_keyq_t *kq)
{
    dh_rt_keyq_t **pp = keyq_slot(rt, kq->key, kq->key_len, kq->hash);

    if (*pp == kq) {
        *pp = kq->hnext;
    }
    list_unlink(rt, kq);
    rt->nkeys--;
    free(kq);
}

/* Events without a key are ordered by partition, the only order Kafka gives them. */
/* Events taken back from a store's set-aside list (park.c) queue apart from the same key's
 * new events: while the store waits, a taken-back head must not hold a partition's new
 * events (they join the list behind it instead; its order is the list's). A key too long
 * for the buffer is cut: keys sharing the cut only queue together, which keeps order. */
static size_t order_key(const dh_rt_ev_t *ev, char *buf, size_t size, const char **key)
{
    if (ev->from_park) {
        int n =
            snprintf(buf, size, "\x02%.*s", ev->key ? (int)ev->key_len : 0, ev->key ? ev->key : "");

        *key = buf;
        return (size_t)n < size ? (size_t)n : size - 1;
    }
    if (ev->key && ev->key_len > 0) {
        *key = ev->key;
        return ev->key_len;
    }
    int n = snprintf(buf, size, "\x01%s/%d", ev->part->topic, (int)ev->part->partition);
    *key = buf;
    return (size_t)n < size ? (size_t)n : size - 1;
}

size_t dh_rt_ev_bytes(const rd_kafka_message_t *rkm)
{
    return sizeof(dh_rt_ev_t) + (rkm->key ? rkm->key_len : 0) + 1 + (rkm->payload ? rkm->len : 0) +
           1;
}

/* The event with its own copy of the message's key, payload and headers. */
static dh_rt_ev_t *ev_copy(rd_kafka_message_t *rkm, dh_rt_part_t *p)
{
    size_t klen = rkm->key ? rkm->key_len : 0, vlen = rkm->payload ? rkm->len : 0;
    size_t bytes = dh_rt_ev_bytes(rkm);
    dh_rt_ev_t *ev = malloc(bytes);
    rd_kafka_timestamp_type_t tstype;

    if (!ev) {
        return NULL;
    }
    memset(ev, 0, sizeof(*ev));
    ev->part = p;
    ev->offset = rkm->offset;
    ev->timestamp_ms = rd_kafka_message_timestamp(rkm, &tstype);
    ev->bytes = bytes;
    if (rd_kafka_message_detach_headers(rkm, &ev->hdrs)) {
        ev->hdrs = NULL; /* none */
    }
    if (rkm->key) {
        memcpy(ev->data, rkm->key, klen);
        ev->key = ev->data;
        ev->key_len = klen;
    }
    ev->data[klen] = '\0';
    if (rkm->payload) {
        memcpy(ev->data + klen + 1, rkm->payload, vlen);
        ev->payload = ev->data + klen + 1;
        ev->len = vlen;
    }
    ev->data[klen + 1 + vlen] = '\0';
    return ev;
}

static void ev_discard(dh_rt_ev_t *ev)
{
    if (ev->hdrs) {
        rd_kafka_headers_destroy(ev->hdrs);
    }
    free(ev);
}

dh_err_t dh_rt_dispatch(dh_rt_t *rt, rd_kafka_message_t *rkm)
{
    dh_rt_part_t *p = dh_rt_part_find(rt, rd_kafka_topic_name(rkm->rkt), rkm->partition);
    dh_rt_ev_t *ev;

    if (!p) {
        return DH_ERR_STATE; /* fetched just before its partition was revoked */
    }
    ev = ev_copy(rkm, p);
    if (!ev) {
        return DH_ERR_NOMEM;
    }
    return dh_rt_enqueue(rt, ev);
}

dh_err_t dh_rt_enqueue(dh_rt_t *rt, dh_rt_ev_t *ev)
{
    char kbuf[300];
    const char *key;
    dh_rt_part_t *p = ev->part;
    dh_err_t err;
    size_t klen = order_key(ev, kbuf, sizeof(kbuf), &key);
    err = dh_wm_push(p->wm, ev->offset, &ev->seq);
    if (err) {
        ev_discard(ev);
        return err;
    }
    uint64_t h = hash_bytes(key, klen);
    dh_rt_keyq_t **slot = keyq_slot(rt, key, klen, h);
    dh_rt_keyq_t *kq = *slot;
    if (!kq) {
        kq = calloc(1, sizeof(*kq) + klen);
        if (!kq) {
            dh_wm_done(p->wm, ev->seq); /* cannot happen twice: the offset is re-read */
            ev_discard(ev);
            return DH_ERR_NOMEM;
        }
        memcpy(kq->key, key, klen);
        kq->key_len = klen;
        kq->hash = h;
        *slot = kq;
        rt->nkeys++;
    }
    ev->kq = kq;
    ev->first_seen_ms = dh_rt_wall_ms();
    p->refs++;
    p->bytes += ev->bytes;
    if (kq->tail) {
        kq->tail->knext = ev;
    } else {
        kq->head = ev;
    }
    kq->tail = ev;
    kq->n++;
    dh_rt_gate_add_event(rt, kq, 1);
    rt->inflight++;
    rt->inflight_bytes += ev->bytes;
    if (!kq->running && !kq->listed) {
        ready_push(rt, kq);
    }
    return DH_OK;
}

static void ev_free(dh_rt_t *rt, dh_rt_ev_t *ev);
static void key_pop(dh_rt_keyq_t *kq, dh_rt_ev_t *ev);

/* Snapshot events: only the newest queued event of a key needs handling. The older ones
 * are folded into it: the lane decodes them (the handler sees every snapshot, and a bad
 * one is dead-lettered), and they finish only when the survivor does, so a crash before
 * the survivor is applied never commits them. Only when every queued event of the key is
 * from one partition: a purge on revoke then drops survivor and folded together. */
/* Put ev, and whatever ev had folded itself (an earlier survivor), on survivor's list. */
static void fold_into(dh_rt_ev_t *survivor, dh_rt_ev_t *ev)
{
    dh_rt_ev_t *sub = ev->folded;

    ev->folded = NULL;
    ev->fnext = survivor->folded;
    survivor->folded = ev;
    while (sub) {
        dh_rt_ev_t *next = sub->fnext;

        sub->fnext = survivor->folded;
        survivor->folded = sub;
        sub = next;
    }
}

static void supersede(dh_rt_keyq_t *kq)
{
    dh_rt_ev_t *last = kq->tail;

    for (dh_rt_ev_t *e = kq->head; e; e = e->knext) {
        if (e->part != last->part) {
            return;
        }
    }
    while (kq->head != last) {
        dh_rt_ev_t *ev = kq->head;

        key_pop(kq, ev);
        fold_into(last, ev);
    }
}

/* The survivor finished (done=1) or was dropped (done=0): so do its folded events. */
static void folded_end(dh_rt_t *rt, dh_rt_ev_t *ev, int done)
{
    dh_rt_ev_t *f = ev->folded;

    ev->folded = NULL;
    while (f) {
        dh_rt_ev_t *next = f->fnext;

        if (done) {
            dh_wm_done(f->part->wm, f->seq);
            dh_counter_add(rt->m.superseded, 1);
            rt->drain_finished += f->from_park;
        }
        ev_free(rt, f);
        f = next;
    }
}

void dh_rt_unfold(dh_rt_t *rt, dh_rt_ev_t *survivor, dh_rt_ev_t *f)
{
    (void)rt;
    for (dh_rt_ev_t **pp = &survivor->folded; *pp; pp = &(*pp)->fnext) {
        if (*pp == f) {
            *pp = f->fnext;
            f->fnext = NULL;
            return;
        }
    }
}

size_t dh_rt_take(dh_rt_t *rt, dh_rt_ev_t **evs, size_t max, int64_t *next_due_ms)
{
    int64_t now = dh_rt_now_ms();
    size_t n = 0;

    /* Keys whose backoff has passed become runnable again. */
    while (rt->delayed_head && rt->delayed_head->not_before_ms <= now) {
        dh_rt_keyq_t *kq = rt->delayed_head;

        list_unlink(rt, kq);
        ready_push(rt, kq);
    }
    *next_due_ms = rt->delayed_head ? rt->delayed_head->not_before_ms : -1;
    if (rt->gates) {
        dh_rt_gates_tick(rt, now, next_due_ms);
    }
    /* Linger: let a batch fill up, but never keep the oldest ready key waiting longer. */
    if (rt->opts.linger_ms > 0 && rt->ready_head && rt->nready < max && !rt->stopping) {
        int64_t due = rt->ready_head->ready_since_ms + rt->opts.linger_ms;

        if (due > now) {
            if (*next_due_ms < 0 || due < *next_due_ms) {
                *next_due_ms = due;
            }
            return 0;
        }
    }
    /* Handlers called one event at a time: a lane takes only its share of the ready keys,
     * so one lane never queues slow calls that idle lanes could be running. The share
     * still batches the Redis round trips when many keys are ready. */
    if (!rt->handler->handle_batch && rt->opts.lanes > 0) {
        size_t share = (rt->nready + (size_t)rt->opts.lanes - 1) / (size_t)rt->opts.lanes;

        max = share < max ? (share > 0 ? share : 1) : max;
    }
    while (n < max && rt->ready_head) {
        dh_rt_keyq_t *kq = rt->ready_head;

        list_unlink(rt, kq);
        if (rt->gates && dh_rt_gate_park_key(rt, kq)) {
            continue; /* its store is in trouble: it waits on the gate, not on a lane */
        }
        if (rt->handler->coalesce) {
            supersede(kq);
        }
        kq->running = 1;
        kq->head->part->running++;
        evs[n++] = kq->head;
    }
    return n;
}

/* The head event of kq left the key queue: run the next one, or free the key. */
static void key_advance(dh_rt_t *rt, dh_rt_keyq_t *kq)
{
    kq->running = 0;
    if (!kq->head) {
        keyq_free(rt, kq);
    } else if (!kq->listed) {
        ready_push(rt, kq);
    }
}

static void ev_free(dh_rt_t *rt, dh_rt_ev_t *ev)
{
    dh_rt_part_t *p = ev->part;

    if (ev->decoded && ev->dev && rt->handler->release) {
        rt->handler->release(ev->dev->data);
    }
    free(ev->dev);
    free(ev->fail);
    p->refs--;
    p->bytes -= ev->bytes;
    rt->inflight--;
    rt->inflight_bytes -= ev->bytes;
    ev_discard(ev);
    dh_rt_part_unref(rt, p);
    pthread_cond_broadcast(&rt->idle_cv);
}

static void key_pop(dh_rt_keyq_t *kq, dh_rt_ev_t *ev)
{
    kq->head = ev->knext;
    kq->n--;
    if (!kq->head) {
        kq->tail = NULL;
    }
    ev->knext = NULL;
    ev->kq = NULL;
}

void dh_rt_finish(dh_rt_t *rt, dh_rt_ev_t *ev)
{
    dh_rt_keyq_t *kq = ev->kq;

    if (kq) {
        key_pop(kq, ev);
        key_advance(rt, kq);
    }
    ev->part->running--;
    dh_wm_done(ev->part->wm, ev->seq);
    rt->drain_finished += ev->from_park;
    folded_end(rt, ev, 1);
    ev_free(rt, ev);
}

void dh_rt_delay(dh_rt_t *rt, dh_rt_ev_t *ev, int64_t delay_ms)
{
    dh_rt_keyq_t *kq = ev->kq;

    ev->part->running--;
    kq->running = 0;
    kq->not_before_ms = dh_rt_now_ms() + delay_ms;
    delayed_insert(rt, kq);
    pthread_cond_broadcast(&rt->idle_cv);
}

void dh_rt_park(dh_rt_t *rt, dh_rt_ev_t *ev)
{
    dh_rt_keyq_t *kq = ev->kq;

    ev->part->running--;
    kq->running = 0;
    if (!dh_rt_gate_park_key(rt, kq)) {
        ready_push(rt, kq); /* the gate opened meanwhile */
    }
    pthread_cond_broadcast(&rt->idle_cv);
}

void dh_rt_detach(dh_rt_t *rt, dh_rt_ev_t *ev)
{
    dh_rt_keyq_t *kq = ev->kq;

    key_pop(kq, ev);
    key_advance(rt, kq);
}

void dh_rt_dlq_acked(dh_rt_t *rt, dh_rt_ev_t *ev)
{
    ev->part->running--;
    dh_wm_done(ev->part->wm, ev->seq);
    rt->drain_finished += ev->from_park;
    folded_end(rt, ev, 1);
    ev_free(rt, ev);
}

size_t dh_rt_purge_part(dh_rt_t *rt, dh_rt_part_t *p)
{
    size_t purged = 0;

    for (size_t b = 0; b < rt->nbuckets; b++) {
        dh_rt_keyq_t *kq = rt->buckets[b];

        while (kq) {
            dh_rt_keyq_t *knext = kq->hnext;
            dh_rt_ev_t **pp = &kq->head, *last = NULL;

            while (*pp) {
                dh_rt_ev_t *ev = *pp;
                int started = kq->running && ev == kq->head;

                if (ev->part == p && !started) {
                    *pp = ev->knext;
                    ev->kq = NULL;
                    kq->n--;
                    dh_rt_gate_add_event(rt, kq, -1);
                    folded_end(rt, ev, 0);
                    ev_free(rt, ev); /* never done: the new owner reads it again */
                    purged++;
                    continue;
                }
                last = ev;
                pp = &ev->knext;
            }
            kq->tail = last;
            if (!kq->head && !kq->running) {
                keyq_free(rt, kq);
            }
            kq = knext;
        }
    }
    return purged;
}

size_t dh_rt_busy(const dh_rt_t *rt)
{
    size_t busy = 0;

    for (const dh_rt_part_t *p = rt->parts; p; p = p->next) {
        busy += (size_t)p->running;
    }
    for (const dh_rt_keyq_t *kq = rt->ready_head; kq; kq = kq->lnext) {
        busy++;
    }
    return busy;
}

void dh_rt_abandon(dh_rt_t *rt, dh_rt_ev_t *ev)
{
    ev->part->running--;
    folded_end(rt, ev, 0);
    ev_free(rt, ev);
}
