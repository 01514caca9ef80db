/*
 * Setting a store's events aside (docs/ARCHITECTURE.md, "Store gates"). A gate keeps a
 * store's events parked in memory for a while (DH_PARK_MEMORY_MAX events, DH_PARK_MEMORY_MS).
 * Beyond that, holding them would hold their partitions: the watermark cannot pass them, so
 * every later event of the partition stays in memory and the partition is paused for
 * everyone. So the lanes move the store's events, in order, to a Redis list of that store
 * and finish them; their offsets are committed. Redis already keeps our idempotency records
 * and is the one place every replica sees.
 *
 *   <ns>:parked            set of the stores that have events aside
 *   <ns>:park:<store>      list of encoded events, oldest first
 *   <ns>:park-drain:<store> lock of the replica taking a chunk back (PX)
 *
 * Order per key: while a store is in the set, every replica sets aside every event of that
 * store it meets, after the ones already there (one script appends and adds the store). A
 * key's events come from one partition, so they are appended in their order. Lane 0 of some
 * replica takes the list back a chunk at a time under the lock, runs the chunk like any
 * events (claims and all), and only when all of it has finished trims it; the script that
 * trims removes the store from the set when the list is empty. So a store leaves the set
 * only when nothing of it is aside, and no later event can overtake an earlier one. A crash
 * at any point repeats work (an event appended twice, a chunk run twice), never loses it;
 * the idempotency records make the repeat a no-op.
 *
 * Lanes only ask Redis about the set while it may be non-empty (rt->park_check): after a
 * replica set something aside, after an assignment, and while lane 0's look (once a second)
 * finds stores in it. A pool without troubled stores pays one SMEMBERS a second per replica.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "dockhand/log.h"
#include "runtime.h"

#define MAGIC         "DHP1"
#define NONE          0xffffffffu
#define LOOK_MS       1000  /* lane 0 looks at the set this often */
#define LOCK_MS       30000 /* the drain lock; refreshed while the chunk runs */
#define LOCK_REFRESH  5000
#define STORES_LOOKED 64  /* stores of the set tried per look */
#define SPILL_CHUNK   256 /* events appended per script */

/* Append every event (ARGV[2..]) to the store's list and the store to the set. */
static const char SPILL_LUA[] = "redis.call('RPUSH', KEYS[1], unpack(ARGV, 2))\n"
                                "redis.call('SADD', KEYS[2], ARGV[1])\n"
                                "return 1\n";

/* A chunk of ARGV[2] events finished: drop them if the lock (KEYS[3]) is still ours
 * (ARGV[1]); the store leaves the set (KEYS[2]) when its list (KEYS[1]) is empty. */
static const char TRIM_LUA[] = "if redis.call('GET', KEYS[3]) ~= ARGV[1] then return -1 end\n"
                               "redis.call('LTRIM', KEYS[1], tonumber(ARGV[2]), -1)\n"
                               "local left = redis.call('LLEN', KEYS[1])\n"
                               "if left == 0 then redis.call('SREM', KEYS[2], ARGV[3]) end\n"
                               "redis.call('DEL', KEYS[3])\n"
                               "return left\n";

/* Keep the lock while the chunk runs (only our own). */
static const char REFRESH_LUA[] = "if redis.call('GET', KEYS[1]) == ARGV[1] then\n"
                                  "  return redis.call('PEXPIRE', KEYS[1], ARGV[2])\n"
                                  "end\n"
                                  "return 0\n";

/* ---- encoding: one event as one binary-safe Redis string ---- */

static void put_u32(dh_buf_t *b, uint32_t v)
{
    unsigned char x[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 24)};

    dh_buf_add(b, x, 4);
}

static void put_u64(dh_buf_t *b, uint64_t v)
{
    put_u32(b, (uint32_t)v);
    put_u32(b, (uint32_t)(v >> 32));
}

static void put_bytes(dh_buf_t *b, const void *d, size_t n, int present)
{
    put_u32(b, present ? (uint32_t)n : NONE);
    if (present) {
        dh_buf_add(b, d, n);
    }
}

char *dh_rt_park_encode(const dh_rt_ev_t *ev, size_t *len)
{
    dh_buf_t b = DH_BUF_INIT;
    size_t nh = ev->hdrs ? rd_kafka_header_cnt(ev->hdrs) : 0;

    dh_buf_add(&b, MAGIC, 4);
    put_bytes(&b, ev->part->topic, strlen(ev->part->topic), 1);
    put_u32(&b, (uint32_t)ev->part->partition);
    put_u64(&b, (uint64_t)ev->offset);
    put_u64(&b, (uint64_t)ev->timestamp_ms);
    put_u64(&b, (uint64_t)ev->first_seen_ms);
    put_bytes(&b, ev->key, ev->key_len, ev->key != NULL);
    put_bytes(&b, ev->payload, ev->len, ev->payload != NULL);
    put_u32(&b, (uint32_t)nh);
    for (size_t i = 0; i < nh; i++) {
        const char *name;
        const void *val;
        size_t vlen;

        if (rd_kafka_header_get_all(ev->hdrs, i, &name, &val, &vlen)) {
            b.oom = 1; /* not memory: the headers cannot be read, so no encoding */
            break;
        }
        put_bytes(&b, name, strlen(name), 1);
        put_bytes(&b, val, vlen, val != NULL);
    }
    size_t n = b.len;
    char *enc = dh_buf_take(&b); /* NULL when something failed */

    if (enc != NULL) {
        *len = n;
    }
    return enc;
}

typedef struct rd {
    const unsigned char *p;
    size_t len, off;
    int bad;
} rd_t;

static uint32_t get_u32(rd_t *r)
{
    const unsigned char *x = r->p + r->off;

    if (r->bad || r->len - r->off < 4) {
        r->bad = 1;
        return 0;
    }
    r->off += 4;
    return (uint32_t)x[0] | (uint32_t)x[1] << 8 | (uint32_t)x[2] << 16 | (uint32_t)x[3] << 24;
}

static uint64_t get_u64(rd_t *r)
{
    uint64_t lo = get_u32(r);

    return lo | (uint64_t)get_u32(r) << 32;
}

/* A length-prefixed field: its bytes (in place) and length; NULL for an absent one. */
static const char *get_bytes(rd_t *r, size_t *n)
{
    uint32_t l = get_u32(r);
    const char *at = (const char *)r->p + r->off;

    *n = 0;
    if (r->bad || l == NONE) {
        return NULL;
    }
    if (r->len - r->off < l) {
        r->bad = 1;
        return NULL;
    }
    r->off += l;
    *n = l;
    return at;
}

int dh_rt_park_decode(const char *data, size_t len, dh_rt_parked_t *out)
{
    rd_t r = {(const unsigned char *)data, len, 0, 0};
    size_t n;

    memset(out, 0, sizeof(*out));
    if (len < 4 || memcmp(data, MAGIC, 4)) {
        return -1;
    }
    r.off = 4;
    out->topic = get_bytes(&r, &out->topic_len);
    out->partition = (int32_t)get_u32(&r);
    out->offset = (int64_t)get_u64(&r);
    out->timestamp_ms = (int64_t)get_u64(&r);
    out->first_seen_ms = (int64_t)get_u64(&r);
    out->key = get_bytes(&r, &out->key_len);
    out->payload = get_bytes(&r, &out->len);
    out->nhdrs = get_u32(&r);
    out->hdrs_at = r.off;
    for (uint32_t i = 0; i < out->nhdrs && !r.bad; i++) {
        get_bytes(&r, &n);
        get_bytes(&r, &n);
    }
    if (r.bad || !out->topic || out->topic_len == 0 || r.off != len) {
        return -1;
    }
    return 0;
}

/* The headers of a decoded entry, rebuilt for the event (NULL when it had none). */
static rd_kafka_headers_t *entry_headers(const char *data, size_t len, const dh_rt_parked_t *e)
{
    rd_t r = {(const unsigned char *)data, len, e->hdrs_at, 0};
    rd_kafka_headers_t *h;

    if (e->nhdrs == 0) {
        return NULL;
    }
    h = rd_kafka_headers_new(e->nhdrs);
    for (uint32_t i = 0; h && i < e->nhdrs; i++) {
        size_t nlen, vlen;
        const char *name = get_bytes(&r, &nlen), *val = get_bytes(&r, &vlen);

        rd_kafka_header_add(h, name, (ssize_t)nlen, val, val ? (ssize_t)vlen : 0);
    }
    return h;
}

/* The event of a decoded entry, on a pseudo-partition of its topic (partition -1, never
 * assigned: no offset is stored for it). Under rt->mu. */
static dh_rt_ev_t *entry_event(dh_rt_t *rt, const char *data, size_t len, const dh_rt_parked_t *e)
{
    size_t bytes = sizeof(dh_rt_ev_t) + e->key_len + 1 + e->len + 1;
    dh_rt_ev_t *ev = calloc(1, bytes);
    dh_rt_part_t *p = NULL;
    char topic[256];

    if (!ev || e->topic_len >= sizeof(topic)) {
        free(ev);
        return NULL;
    }
    memcpy(topic, e->topic, e->topic_len);
    topic[e->topic_len] = '\0';
    for (p = rt->parts; p && !(p->partition == -1 && !strcmp(p->topic, topic)); p = p->next) {
    }
    if (!p && (p = calloc(1, sizeof(*p))) != NULL) {
        p->topic = strdup(topic);
        p->wm = dh_wm_new();
        p->partition = -1;
        p->stored = -1;
        if (!p->topic || !p->wm) {
            free(p->topic);
            dh_wm_destroy(p->wm);
            free(p);
            p = NULL;
        } else {
            p->next = rt->parts;
            rt->parts = p;
        }
    }
    if (!p) {
        free(ev);
        return NULL;
    }
    ev->part = p;
    ev->offset = e->offset;
    ev->timestamp_ms = e->timestamp_ms;
    ev->bytes = bytes;
    ev->from_park = 1;
    ev->hdrs = entry_headers(data, len, e);
    if (e->key) {
        memcpy(ev->data, e->key, e->key_len);
        ev->key = ev->data;
        ev->key_len = e->key_len;
    }
    if (e->payload) {
        memcpy(ev->data + e->key_len + 1, e->payload, e->len);
        ev->payload = ev->data + e->key_len + 1;
        ev->len = e->len;
    }
    return ev;
}

/* ---- the lanes' side ---- */

static void keys_of(const dh_rt_t *rt, const char *store, char *list, char *set, size_t size)
{
    snprintf(list, size, "%s:park:%s", rt->handler->name, store);
    snprintf(set, size, "%s:parked", rt->handler->name);
}

dh_err_t dh_rt_park_members(dh_rt_t *rt, dh_redis_t *r, const dh_store_t *const *stores, size_t n,
                            int *member)
{
    const char **argv = calloc(n + 2, sizeof(*argv));
    size_t *lens = calloc(n + 2, sizeof(*lens));
    char set[300];
    redisReply *rep = NULL;
    dh_err_t err = DH_ERR_NOMEM;

    if (argv && lens) {
        snprintf(set, sizeof(set), "%s:parked", rt->handler->name);
        argv[0] = "SMISMEMBER";
        argv[1] = set;
        for (size_t i = 0; i < n; i++) {
            argv[i + 2] = stores[i]->domain;
        }
        for (size_t i = 0; i < n + 2; i++) {
            lens[i] = strlen(argv[i]);
        }
        err = dh_redis_command(r, (int)(n + 2), argv, lens, &rep);
    }
    if (err == DH_OK && (rep->type != REDIS_REPLY_ARRAY || rep->elements != n)) {
        err = DH_ERR_PROTO;
    }
    for (size_t i = 0; err == DH_OK && i < n; i++) {
        member[i] = rep->element[i]->type == REDIS_REPLY_INTEGER && rep->element[i]->integer == 1;
    }
    if (rep) {
        freeReplyObject(rep);
    }
    free(argv);
    free(lens);
    return err;
}

/* Append \p n events (n <= SPILL_CHUNK) in one script. */
static dh_err_t spill_chunk(dh_rt_t *rt, dh_redis_t *r, const dh_store_t *store,
                            dh_rt_ev_t *const *evs, size_t n)
{
    const char *argv[3 + SPILL_CHUNK];
    size_t lens[3 + SPILL_CHUNK];
    char *enc[SPILL_CHUNK];
    char list[600], set[300];
    dh_err_t err = DH_ERR_NOMEM;
    redisReply *rep = NULL;
    size_t i, made = 0;

    keys_of(rt, store->domain, list, set, sizeof(set));
    argv[0] = list;
    argv[1] = set;
    argv[2] = store->domain;
    for (i = 0; i < 3; i++) {
        lens[i] = strlen(argv[i]);
    }
    for (made = 0; made < n; made++) {
        enc[made] = dh_rt_park_encode(evs[made], &lens[3 + made]);
        if (!enc[made]) {
            goto out;
        }
        argv[3 + made] = enc[made];
    }
    err = dh_redis_eval(r, SPILL_LUA, 2, (int)(3 + n), argv, lens, &rep);
out:
    if (rep) {
        freeReplyObject(rep);
    }
    for (i = 0; i < made; i++) {
        free(enc[i]);
    }
    return err;
}

dh_err_t dh_rt_park_spill(dh_rt_t *rt, dh_redis_t *r, const dh_store_t *store,
                          dh_rt_ev_t *const *evs, size_t n)
{
    dh_err_t err = DH_OK;

    /* In chunks, in order: a survivor may carry hundreds of folded snapshots, and one
     * command for all would hold them encoded twice at once. If a later chunk fails, the
     * whole group is appended again later: the copies are duplicates, which their records
     * make no-ops when taken back. */
    for (size_t at = 0; at < n && err == DH_OK; at += SPILL_CHUNK) {
        err = spill_chunk(rt, r, store, evs + at, n - at < SPILL_CHUNK ? n - at : SPILL_CHUNK);
    }
    if (err == DH_OK) {
        atomic_store(&rt->park_check, 1);
        dh_counter_add(rt->m.spilled, n);
    }
    return err;
}

/* ---- lane 0: taking set-aside events back ---- */

static void lock_key(const dh_rt_t *rt, const char *store, char *buf, size_t size)
{
    snprintf(buf, size, "%s:park-drain:%s", rt->handler->name, store);
}

/* The chunk finished: trim it (the store leaves the set when nothing is left). */
static void drain_end(dh_rt_t *rt, dh_redis_t *r, const char *owner)
{
    char list[600], set[300], lock[600], n[32];
    const char *argv[6];
    size_t lens[6];
    redisReply *rep = NULL;

    keys_of(rt, rt->drain_store, list, set, sizeof(set));
    lock_key(rt, rt->drain_store, lock, sizeof(lock));
    snprintf(n, sizeof(n), "%zu", rt->drain_dispatched);
    argv[0] = list, argv[1] = set, argv[2] = lock;
    argv[3] = owner, argv[4] = n, argv[5] = rt->drain_store;
    for (int i = 0; i < 6; i++) {
        lens[i] = strlen(argv[i]);
    }
    if (dh_redis_eval(r, TRIM_LUA, 3, 6, argv, lens, &rep) == DH_OK) {
        DH_LOG(DH_LOG_INFO, "park", "store %s: %zu set-aside event(s) taken back, %lld left",
               rt->drain_store, rt->drain_dispatched,
               rep->type == REDIS_REPLY_INTEGER ? rep->integer : -2);
    } else {
        /* The lock expired (or Redis failed): another replica runs the chunk again. */
        DH_LOG(DH_LOG_WARN, "park", "store %s: cannot trim a taken-back chunk: %s", rt->drain_store,
               dh_redis_errstr(r));
    }
    if (rep) {
        freeReplyObject(rep);
    }
}

static void drain_refresh(dh_rt_t *rt, dh_redis_t *r, const char *owner)
{
    char lock[600], ttl[32];
    const char *argv[3];
    size_t lens[3];
    redisReply *rep = NULL;

    lock_key(rt, rt->drain_store, lock, sizeof(lock));
    snprintf(ttl, sizeof(ttl), "%d", LOCK_MS);
    argv[0] = lock, argv[1] = owner, argv[2] = ttl;
    for (int i = 0; i < 3; i++) {
        lens[i] = strlen(argv[i]);
    }
    if (dh_redis_eval(r, REFRESH_LUA, 1, 3, argv, lens, &rep) != DH_OK) {
        DH_LOG(DH_LOG_DEBUG, "park", "lock refresh failed: %s", dh_redis_errstr(r));
    }
    if (rep) {
        freeReplyObject(rep);
    }
}

/* Take the lock of \p store and its first chunk into the executor: how many, -1 if none. */
static long drain_start(dh_rt_t *rt, dh_redis_t *r, const char *owner, const char *store)
{
    char lock[600], list[600], set[300];
    redisReply *rep = NULL;
    long taken = -1;

    lock_key(rt, store, lock, sizeof(lock));
    if (dh_redis_commandf(r, &rep, "SET %s %s NX PX %d", lock, owner, LOCK_MS) != DH_OK ||
        rep->type != REDIS_REPLY_STATUS) {
        goto out; /* another replica has it */
    }
    freeReplyObject(rep);
    rep = NULL;
    keys_of(rt, store, list, set, sizeof(set));
    if (dh_redis_commandf(r, &rep, "LRANGE %s 0 %lld", list,
                          (long long)rt->opts.park_drain_chunk - 1) != DH_OK ||
        rep->type != REDIS_REPLY_ARRAY) {
        goto out;
    }
    taken = 0;
    pthread_mutex_lock(&rt->mu);
    snprintf(rt->drain_store, sizeof(rt->drain_store), "%s", store);
    rt->drain_finished = 0;
    for (size_t i = 0; i < rep->elements; i++) {
        const redisReply *el = rep->element[i];
        dh_rt_parked_t e;
        dh_rt_ev_t *ev;

        if (el->type != REDIS_REPLY_STRING || dh_rt_park_decode(el->str, el->len, &e)) {
            /* Only a foreign writer can put this here; it is trimmed with the chunk, so the
             * log line is all that is left of it. */
            DH_LOG(DH_LOG_ERROR, "park",
                   "store %s: entry %zu of its list is not an event (%zu "
                   "bytes): dropped",
                   store, i, el->type == REDIS_REPLY_STRING ? el->len : 0);
            taken++;
            rt->drain_finished++;
            continue;
        }
        ev = entry_event(rt, el->str, el->len, &e);
        if (!ev || dh_rt_enqueue(rt, ev) != DH_OK) {
            break; /* out of memory: the rest stays aside; the chunk is what was queued */
        }
        taken++;
    }
    rt->drain_active = 1;
    rt->drain_dispatched = (size_t)taken;
    rt->drain_refresh_ms = dh_rt_now_ms() + LOCK_REFRESH;
    pthread_mutex_unlock(&rt->mu);
    dh_counter_add(rt->m.unspilled, (uint64_t)taken);
out:
    if (rep) {
        freeReplyObject(rep);
    }
    return taken;
}

/* Is \p domain a store of ours whose gate here is open (worth taking back now)? */
static int drainable(dh_rt_t *rt, const char *domain)
{
    const dh_store_t *st = rt->stores ? dh_stores_find(rt->stores, domain) : NULL;
    int ok = st != NULL;

    if (ok) {
        pthread_mutex_lock(&rt->mu);
        const dh_rt_gate_t *g = dh_rt_gate_of(rt, st);

        ok = !g || !g->closed;
        pthread_mutex_unlock(&rt->mu);
    }
    return ok;
}

void dh_rt_park_tick(dh_rt_t *rt, dh_redis_t *r, const char *owner)
{
    int64_t now = dh_rt_now_ms();
    redisReply *rep = NULL;
    char set[300];
    int active;
    size_t dispatched, finished;

    pthread_mutex_lock(&rt->mu);
    active = rt->drain_active;
    dispatched = rt->drain_dispatched;
    finished = rt->drain_finished;
    pthread_mutex_unlock(&rt->mu);
    if (active) {
        if (finished >= dispatched) {
            drain_end(rt, r, owner);
            pthread_mutex_lock(&rt->mu);
            rt->drain_active = 0;
            rt->drain_next_ms = 0; /* look again at once: the rest of the list */
            pthread_mutex_unlock(&rt->mu);
        } else if (now >= rt->drain_refresh_ms) {
            rt->drain_refresh_ms = now + LOCK_REFRESH;
            drain_refresh(rt, r, owner);
        }
        return;
    }
    if (now < rt->drain_next_ms) {
        return;
    }
    rt->drain_next_ms = now + LOOK_MS;
    snprintf(set, sizeof(set), "%s:parked", rt->handler->name);
    if (dh_redis_commandf(r, &rep, "SRANDMEMBER %s %d", set, STORES_LOOKED) != DH_OK ||
        rep->type != REDIS_REPLY_ARRAY) {
        if (rep) {
            freeReplyObject(rep);
        }
        return;
    }
    /* Lanes keep asking while something is aside; an assignment sets it again. */
    atomic_store(&rt->park_check, rep->elements > 0);
    dh_gauge_set(rt->m.park_stores, (double)rep->elements);
    for (size_t i = 0; i < rep->elements; i++) {
        const redisReply *el = rep->element[i];

        if (el->type == REDIS_REPLY_STRING && drainable(rt, el->str) &&
            drain_start(rt, r, owner, el->str) >= 0) {
            break;
        }
    }
    freeReplyObject(rep);
}
