/*
 * tokens: the shared token cache (see dockhand/tokens.h). A chained hash table keyed by
 * store domain (FNV-1a), doubled when it holds more entries than buckets.
 */
#include "dockhand/tokens.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct entry {
    char *domain;
    char *token;
    int64_t refresh_ms;
    uint32_t hash;
    struct entry *next;
} entry_t;

struct dh_tokens_s {
    pthread_mutex_t mu;
    entry_t **buckets;
    size_t nbuckets; /* a power of two */
    size_t count;
};

static uint32_t fnv1a(const char *s)
{
    uint32_t h = 2166136261u;

    for (; *s; s++) {
        h = (h ^ (unsigned char)*s) * 16777619u;
    }
    return h;
}

static void entry_free(entry_t *e)
{
    if (e->token) {
        /* Not a hard guarantee (the allocator may keep copies), just good hygiene. */
        memset(e->token, 0, strlen(e->token));
        free(e->token);
    }
    free(e->domain);
    free(e);
}

dh_tokens_t *dh_tokens_new(void)
{
    dh_tokens_t *t = calloc(1, sizeof(*t));

    if (!t) {
        return NULL;
    }
    t->nbuckets = 64;
    t->buckets = calloc(t->nbuckets, sizeof(*t->buckets));
    if (!t->buckets) {
        free(t);
        return NULL;
    }
    pthread_mutex_init(&t->mu, NULL);
    return t;
}

void dh_tokens_destroy(dh_tokens_t *t)
{
    if (!t) {
        return;
    }
    for (size_t i = 0; i < t->nbuckets; i++) {
        while (t->buckets[i]) {
            entry_t *e = t->buckets[i];

            t->buckets[i] = e->next;
            entry_free(e);
        }
    }
    free(t->buckets);
    pthread_mutex_destroy(&t->mu);
    free(t);
}

/* The link that points at \p domain's entry (or at the chain's end). Caller holds mu. */
static entry_t **find(dh_tokens_t *t, const char *domain, uint32_t hash)
{
    entry_t **pp = &t->buckets[hash & (t->nbuckets - 1)];

    while (*pp && ((*pp)->hash != hash || strcmp((*pp)->domain, domain) != 0)) {
        pp = &(*pp)->next;
    }
    return pp;
}

static void unlink_free(dh_tokens_t *t, entry_t **pp)
{
    entry_t *e = *pp;

    *pp = e->next;
    entry_free(e);
    t->count--;
}

/* Doubles the table; on allocation failure the old one simply stays (longer chains). */
static void grow(dh_tokens_t *t)
{
    size_t n = t->nbuckets * 2;
    entry_t **b = calloc(n, sizeof(*b));

    if (!b) {
        return;
    }
    for (size_t i = 0; i < t->nbuckets; i++) {
        while (t->buckets[i]) {
            entry_t *e = t->buckets[i];

            t->buckets[i] = e->next;
            e->next = b[e->hash & (n - 1)];
            b[e->hash & (n - 1)] = e;
        }
    }
    free(t->buckets);
    t->buckets = b;
    t->nbuckets = n;
}

int dh_tokens_copy(dh_tokens_t *t, const char *domain, int64_t now_ms, char *out, size_t size)
{
    uint32_t hash = fnv1a(domain);
    int found = 0;

    pthread_mutex_lock(&t->mu);
    entry_t **pp = find(t, domain, hash);

    if (*pp && (*pp)->refresh_ms <= now_ms) {
        unlink_free(t, pp);
    } else if (*pp && strlen((*pp)->token) < size) {
        memcpy(out, (*pp)->token, strlen((*pp)->token) + 1);
        found = 1;
    }
    pthread_mutex_unlock(&t->mu);
    return found;
}

dh_err_t dh_tokens_put(dh_tokens_t *t, const char *domain, const char *token, int64_t refresh_ms)
{
    uint32_t hash = fnv1a(domain);
    entry_t *e = calloc(1, sizeof(*e));
    dh_err_t err = DH_ERR_NOMEM;

    if (!e) {
        goto out;
    }
    e->domain = strdup(domain);
    e->token = strdup(token);
    if (!e->domain || !e->token) {
        goto out;
    }
    e->refresh_ms = refresh_ms;
    e->hash = hash;
    pthread_mutex_lock(&t->mu);
    entry_t **pp = find(t, domain, hash);

    if (*pp) {
        unlink_free(t, pp);
    }
    if (t->count >= t->nbuckets) {
        grow(t);
    }
    pp = &t->buckets[hash & (t->nbuckets - 1)];
    e->next = *pp;
    *pp = e;
    t->count++;
    pthread_mutex_unlock(&t->mu);
    e = NULL;
    err = DH_OK;
out:
    if (e) {
        entry_free(e);
    }
    return err;
}

void dh_tokens_drop(dh_tokens_t *t, const char *domain)
{
    uint32_t hash = fnv1a(domain);

    pthread_mutex_lock(&t->mu);
    entry_t **pp = find(t, domain, hash);

    if (*pp) {
        unlink_free(t, pp);
    }
    pthread_mutex_unlock(&t->mu);
}

size_t dh_tokens_count(dh_tokens_t *t)
{
    pthread_mutex_lock(&t->mu);
    size_t n = t->count;

    pthread_mutex_unlock(&t->mu);
    return n;
}
