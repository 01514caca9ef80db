/*
 * The highest-sequence snapshot decoded per key. The runtime coalesces by offset (the
 * newest QUEUED event of a key survives), but a replayed or re-published older event can
 * be the last one in the queue; the events it superseded never reach the handler. decode()
 * sees every event, so it records the highest sequence per key here, and handle_batch()
 * applies that snapshot instead of an older survivor. Entries live only while a key has
 * work in flight (removed once applied), so the table stays small. Thread-safe.
 */
#include <stdlib.h>
#include <string.h>

#include "inventory.h"

#define NBUCKETS 4096

typedef struct ent {
    struct ent *next;
    inv_event_t ev;
} ent_t;

struct inv_newest_s {
    pthread_mutex_t mu;
    ent_t *b[NBUCKETS];
};

static size_t hash(const inv_event_t *ev)
{
    const char *parts[] = {ev->scope, ev->facility, ev->sku};
    size_t h = 1469598103934665603ULL;

    for (size_t i = 0; i < 3; i++) {
        for (const char *p = parts[i]; *p; p++) {
            h = (h ^ (unsigned char)*p) * 1099511628211ULL;
        }
        h = (h ^ '|') * 1099511628211ULL;
    }
    return h % NBUCKETS;
}

static int same_key(const inv_event_t *a, const inv_event_t *b)
{
    return !strcmp(a->scope, b->scope) && !strcmp(a->facility, b->facility) &&
           !strcmp(a->sku, b->sku);
}

inv_newest_t *inv_newest_new(void)
{
    inv_newest_t *t = calloc(1, sizeof(*t));

    if (t) {
        pthread_mutex_init(&t->mu, NULL);
    }
    return t;
}

void inv_newest_destroy(inv_newest_t *t)
{
    if (!t) {
        return;
    }
    for (size_t i = 0; i < NBUCKETS; i++) {
        while (t->b[i]) {
            ent_t *e = t->b[i];

            t->b[i] = e->next;
            free(e);
        }
    }
    pthread_mutex_destroy(&t->mu);
    free(t);
}

static ent_t **find(inv_newest_t *t, const inv_event_t *ev)
{
    ent_t **pp = &t->b[hash(ev)];

    while (*pp && !same_key(&(*pp)->ev, ev)) {
        pp = &(*pp)->next;
    }
    return pp;
}

void inv_newest_offer(inv_newest_t *t, const inv_event_t *ev)
{
    pthread_mutex_lock(&t->mu);
    ent_t **pp = find(t, ev);

    if (!*pp) {
        ent_t *e = malloc(sizeof(*e));

        if (e) {
            e->next = NULL;
            e->ev = *ev;
            *pp = e;
        }
    } else if (ev->sequence > (*pp)->ev.sequence) {
        (*pp)->ev = *ev;
    }
    pthread_mutex_unlock(&t->mu);
}

int inv_newest_take(inv_newest_t *t, inv_event_t *ev)
{
    int replaced = 0;

    pthread_mutex_lock(&t->mu);
    ent_t **pp = find(t, ev);

    if (*pp && (*pp)->ev.sequence > ev->sequence) {
        *ev = (*pp)->ev;
        replaced = 1;
    }
    pthread_mutex_unlock(&t->mu);
    return replaced;
}

void inv_newest_done(inv_newest_t *t, const inv_event_t *ev)
{
    pthread_mutex_lock(&t->mu);
    ent_t **pp = find(t, ev);

    if (*pp && (*pp)->ev.sequence <= ev->sequence) {
        ent_t *e = *pp;

        *pp = e->next;
        free(e);
    }
    pthread_mutex_unlock(&t->mu);
}
