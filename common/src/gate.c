/*
 * Store gates: one store's trouble must not become every store's. When a store's Shopify
 * refuses our calls (throttled, credentials refused, 5xx or no answer), the lane that saw it
 * closes the store's gate; from then on the store's events are parked on the gate, keys and
 * all, instead of being claimed, tried and put back one by one. Parked events take no lane,
 * no Redis round trip and no retry attempt. Other stores' keys run as before.
 *
 * A gate reopens by itself: a throttled store when its bucket has refilled (the wait Shopify
 * or our shared bucket gave), releasing every parked key; a refused or failing store after a
 * backoff that grows with each failure, releasing one key as a probe. The probe's call tells:
 * a success opens the gate and releases the rest, a failure closes it again and the probe's
 * key goes back to the end of the parked list (so no one event collects every attempt).
 *
 * All of it runs under rt->mu, except dh_rt_gate_report(), which takes it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dockhand/log.h"
#include "runtime.h"

/* While probing, another probe goes out if the first gave no verdict (e.g. its event made no
 * Shopify call) within this long. */
#define PROBE_TIMEOUT_MS 5000

static const char *reason_str(int reason)
{
    switch (reason) {
    case DH_GATE_THROTTLED:
        return "throttled";
    case DH_GATE_AUTH:
        return "credentials refused";
    case DH_GATE_UNAVAILABLE:
        return "unavailable";
    default:
        return "open";
    }
}

dh_rt_gate_t *dh_rt_gate_of(dh_rt_t *rt, const dh_store_t *store)
{
    for (dh_rt_gate_t *g = rt->gates; g; g = g->next) {
        if (g->store == store) {
            return g;
        }
    }
    return NULL;
}

static void gauges(dh_rt_t *rt, dh_rt_gate_t *g)
{
    dh_gauge_set(rt->m.parked, (double)rt->parked_events);
    if (g && g->parked_gauge) {
        dh_gauge_set(g->parked_gauge, (double)g->events);
    }
}

static dh_rt_gate_t *gate_new(dh_rt_t *rt, const dh_store_t *store)
{
    dh_rt_gate_t *g = calloc(1, sizeof(*g));
    char lbl[400], store_lbl[300];

    if (!g) {
        return NULL;
    }
    g->store = store;
    g->rng = (unsigned)(dh_rt_wall_ms() ^ (uintptr_t)store);
    /* Bounded: one series per store of the stores file, made when it is first in trouble. */
    dh_metrics_store_label(store->domain, store_lbl, sizeof(store_lbl));
    snprintf(lbl, sizeof(lbl), "worker=\"%s\",%s", rt->handler->name, store_lbl);
    g->parked_gauge = dh_metrics_gauge(
        rt->metrics, "dh_store_parked_events",
        "Events parked while their store's gate is closed (throttled, refused, failing).", lbl);
    g->next = rt->gates;
    rt->gates = g;
    atomic_fetch_add(&rt->ngates, 1);
    return g;
}

static void gate_free(dh_rt_t *rt, dh_rt_gate_t *g)
{
    for (dh_rt_gate_t **pp = &rt->gates; *pp; pp = &(*pp)->next) {
        if (*pp == g) {
            *pp = g->next;
            break;
        }
    }
    if (g->parked_gauge) {
        dh_gauge_set(g->parked_gauge, 0);
    }
    atomic_fetch_sub(&rt->ngates, 1);
    free(g);
}

static void set_closed(dh_rt_t *rt, dh_rt_gate_t *g, int closed)
{
    if (g->closed != closed) {
        dh_gauge_add(rt->m.gated, closed ? 1 : -1);
    }
    g->closed = closed;
}

void dh_rt_gate_unlink(dh_rt_t *rt, dh_rt_keyq_t *kq)
{
    dh_rt_gate_t *g = kq->gate;

    if (kq->lprev) {
        kq->lprev->lnext = kq->lnext;
    } else {
        g->head = kq->lnext;
    }
    if (kq->lnext) {
        kq->lnext->lprev = kq->lprev;
    } else {
        g->tail = kq->lprev;
    }
    g->keys--;
    g->events -= kq->n;
    rt->parked_events -= kq->n;
    kq->gate = NULL;
    gauges(rt, g);
}

/* Every parked key back to the ready list; the gate itself goes once it is open. */
static void release_all(dh_rt_t *rt, dh_rt_gate_t *g)
{
    while (g->head) {
        dh_rt_keyq_t *kq = g->head;

        dh_rt_key_unlist(rt, kq);
        dh_rt_ready(rt, kq);
    }
    g->probe = NULL;
    if (!g->closed) {
        gate_free(rt, g);
    }
}

/* The closed gate \p ev meets, or NULL. The probe's key passes. */
static dh_rt_gate_t *closed_gate(dh_rt_t *rt, const dh_rt_ev_t *ev)
{
    dh_rt_gate_t *g;

    if (!rt->gates || !ev || !ev->decoded || !ev->dev || !ev->dev->store) {
        return NULL;
    }
    g = dh_rt_gate_of(rt, ev->dev->store);
    return g && g->closed && g->probe != ev->kq ? g : NULL;
}

/* Too much of the store in memory, or for too long: from now on its events are set aside
 * (the keys parked so far go back to the lanes, which set them aside). 0 means no bound. */
static void check_memory_bound(dh_rt_t *rt, dh_rt_gate_t *g, size_t more, int64_t now)
{
    const dh_rt_opts_t *o = &rt->opts;

    if (g->spill || !g->closed) {
        return;
    }
    if ((o->park_memory_max > 0 && g->events + more > o->park_memory_max) ||
        (o->park_memory_ms > 0 && now - g->closed_since_ms >= o->park_memory_ms)) {
        DH_LOG(DH_LOG_WARN, "gate",
               "store %s: %zu event(s) parked for %lld ms: setting its events aside in Redis "
               "until it answers",
               g->store->domain, g->events + more, (long long)(now - g->closed_since_ms));
        g->spill = 1;
        release_all(rt, g);
    }
}

int dh_rt_gate_verdict(dh_rt_t *rt, const dh_rt_ev_t *ev)
{
    dh_rt_gate_t *g = closed_gate(rt, ev);

    if (!g) {
        return DH_GATE_RUN;
    }
    return g->spill && !ev->from_park ? DH_GATE_SPILL : DH_GATE_PARK;
}

int dh_rt_gate_park_key(dh_rt_t *rt, dh_rt_keyq_t *kq)
{
    dh_rt_gate_t *g = closed_gate(rt, kq->head);

    if (!g || (g->spill && !kq->head->from_park)) {
        return 0;
    }
    if (!kq->head->from_park) {
        check_memory_bound(rt, g, kq->n, dh_rt_now_ms());
        if (g->spill) {
            return 0; /* a lane sets it aside */
        }
    }
    kq->gate = g;
    kq->listed = 3;
    kq->lnext = NULL;
    kq->lprev = g->tail;
    if (g->tail) {
        g->tail->lnext = kq;
    } else {
        g->head = kq;
    }
    g->tail = kq;
    g->keys++;
    g->events += kq->n;
    rt->parked_events += kq->n;
    dh_counter_add(rt->m.parks, 1);
    gauges(rt, g);
    return 1;
}

void dh_rt_gate_add_event(dh_rt_t *rt, dh_rt_keyq_t *kq, long delta)
{
    if (kq->listed == 3 && kq->gate) {
        kq->gate->events = (size_t)((long)kq->gate->events + delta);
        rt->parked_events = (size_t)((long)rt->parked_events + delta);
        gauges(rt, kq->gate);
    }
}

void dh_rt_gates_tick(dh_rt_t *rt, int64_t now, int64_t *next_due_ms)
{
    dh_rt_gate_t *g = rt->gates;

    while (g) {
        dh_rt_gate_t *next = g->next;

        check_memory_bound(rt, g, 0, now);
        if (g->closed && g->until_ms <= now) {
            if (g->reason == DH_GATE_THROTTLED || !g->head) {
                /* The bucket has refilled (or nothing waits): everything may go. */
                set_closed(rt, g, 0);
                release_all(rt, g);
                g = next;
                continue;
            }
            g->probe = g->head;
            dh_rt_key_unlist(rt, g->probe);
            dh_rt_ready(rt, g->probe);
            g->until_ms = now + PROBE_TIMEOUT_MS;
        }
        if (g->closed && (*next_due_ms < 0 || g->until_ms < *next_due_ms)) {
            *next_due_ms = g->until_ms;
        }
        g = next;
    }
}

void dh_rt_gate_report(dh_rt_t *rt, const dh_store_t *store, int reason, int64_t wait_ms,
                       int64_t started_ms)
{
    dh_rt_gate_t *g;

    if (!store || (reason == DH_GATE_OPEN && atomic_load(&rt->ngates) == 0)) {
        return; /* the common case: a store that answers, no gate anywhere */
    }
    pthread_mutex_lock(&rt->mu);
    g = dh_rt_gate_of(rt, store);
    if (reason == DH_GATE_OPEN) {
        /* A call that was already under way when another lane met the trouble: its
         * success predates the trouble (a throttled bucket, a failing shop) and would only
         * release every parked key into the same trouble again. */
        if (g && g->closed && started_ms <= g->trouble_ms) {
            pthread_mutex_unlock(&rt->mu);
            return;
        }
        if (g) {
            if (g->closed) {
                DH_LOG(DH_LOG_INFO, "gate", "store %s answers again: %zu parked event(s) released",
                       store->domain, g->events);
            }
            set_closed(rt, g, 0);
            release_all(rt, g);
        }
        pthread_mutex_unlock(&rt->mu);
        return;
    }
    if (!g) {
        g = gate_new(rt, store);
    }
    if (g) {
        int64_t delay = wait_ms > 0 ? wait_ms : 1, now = dh_rt_now_ms();

        g->failures++;
        if (reason != DH_GATE_THROTTLED) {
            int64_t b = dh_rt_backoff_ms(&rt->opts, g->failures, &g->rng);

            delay = b > delay ? b : delay;
        }
        if (!g->closed || g->reason != reason) {
            DH_LOG(DH_LOG_WARN, "gate", "store %s %s: its events park for %lld ms, then %s",
                   store->domain, reason_str(reason), (long long)delay,
                   reason == DH_GATE_THROTTLED ? "all go" : "one probes");
            dh_counter_add(rt->m.gate_closes[reason], 1);
        }
        g->reason = reason;
        g->until_ms = now + delay;
        g->trouble_ms = now;
        g->probe = NULL; /* the probe's key parks when its batch is applied */
        if (!g->closed) {
            g->closed_since_ms = now;
            g->spill = 0;
        }
        set_closed(rt, g, 1);
        pthread_cond_broadcast(&rt->work_cv); /* a sleeping lane must see the new deadline */
    }
    pthread_mutex_unlock(&rt->mu);
}

void dh_rt_gates_free(dh_rt_t *rt)
{
    /* At the end, when the metrics may be gone already: no gauge is touched. */
    while (rt->gates) {
        dh_rt_gate_t *g = rt->gates;

        for (dh_rt_keyq_t *kq = g->head; kq; kq = kq->lnext) {
            kq->gate = NULL;
            kq->listed = 0;
        }
        rt->gates = g->next;
        free(g);
    }
    atomic_store(&rt->ngates, 0);
    rt->parked_events = 0;
}
