/*
 * The runtime's trace records of applied effects (dockhand/trace.h) and the one INFO line
 * per applied effect. One record per batch with its index, written after the batch is
 * done, in one pipelined round trip; best effort: a failure is logged at debug and never
 * holds an event (the done record, which guards the effects, is already written).
 */
#include "dockhand/trace.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dockhand/log.h"
#include "runtime.h"

#define MAX_TOKENS 6 /* key, its last part, event_id, correlation_id, webhook-id, event-id */

#define MAX_CALLS 32 /* noted per batch; more are counted, not kept */
#define MAX_IDS   4

/* The lane thread's far-side calls since the last reset: {"ev": tag, "call": {...}}. */
static _Thread_local json_t *tl_calls;
static _Thread_local const dh_rt_ev_t *tl_cur;

void dh_rt_trace_reset(void)
{
    json_decref(tl_calls);
    tl_calls = NULL;
    tl_cur = NULL;
}

static _Thread_local char tl_corr[256];

void dh_rt_ev_correlation(const dh_rt_ev_t *ev, char *buf, size_t size)
{
    const void *v;
    size_t len;
    json_t *doc, *f;

    buf[0] = '\0';
    if (ev->hdrs && !rd_kafka_header_get_last(ev->hdrs, "dh-correlation-id", &v, &len) && v) {
        snprintf(buf, size, "%.*s", (int)len, (const char *)v); /* redriven or re-published */
        return;
    }
    if (ev->payload && strstr(ev->payload, "\"correlation_id\"")) {
        doc = json_loadb(ev->payload, ev->len, 0, NULL);
        f = json_object_get(doc, "correlation_id");
        if (json_is_string(f) && json_string_length(f)) {
            snprintf(buf, size, "%s", json_string_value(f));
        }
        json_decref(doc);
        if (buf[0]) {
            return;
        }
    }
    if (ev->hdrs && !rd_kafka_header_get_last(ev->hdrs, "dh-webhook-id", &v, &len) && v) {
        snprintf(buf, size, "%.*s", (int)len, (const char *)v); /* the gateway's delivery */
    }
}

void dh_rt_trace_current(const dh_rt_ev_t *ev)
{
    tl_cur = ev;
    tl_corr[0] = '\0';
    if (ev) {
        dh_rt_ev_correlation(ev, tl_corr, sizeof(tl_corr));
    }
}

const char *dh_rt_trace_request_id(void)
{
    return tl_corr[0] ? tl_corr : NULL;
}

static void note(json_t *call)
{
    if (!tl_calls) {
        tl_calls = json_array();
    }
    if (!call || json_array_size(tl_calls) >= MAX_CALLS) {
        json_decref(call);
        return;
    }
    json_array_append_new(
        tl_calls, json_pack("{s:I, s:o}", "ev", (json_int_t)(uintptr_t)tl_cur, "call", call));
}

/* Up to MAX_IDS Shopify GIDs in \p v (depth-first, a few levels): the objects it touched. */
static void gids(json_t *v, json_t *out, int depth)
{
    const char *k;
    json_t *x;
    size_t i;

    if (json_is_string(v) && !strncmp(json_string_value(v), "gid://shopify/", 14) &&
        json_array_size(out) < MAX_IDS) {
        json_array_append(out, v);
    } else if (json_is_object(v) && depth < 6) {
        json_object_foreach(v, k, x)
        {
            gids(x, out, depth + 1);
        }
    } else if (json_is_array(v) && depth < 6) {
        json_array_foreach(v, i, x)
        {
            gids(x, out, depth + 1);
        }
    }
}

void dh_rt_trace_shopify_call(const char *shop, const char *doc, json_t *vars,
                              const dh_gql_reply_t *rep)
{
    json_t *ids = json_array(), *key = json_object_get(vars, "idempotencyKey");
    json_t *c = json_pack("{s:s, s:s, s:s, s:i}", "far", "shopify", "store", shop, "call", doc,
                          "status", (int)rep->status);

    gids(rep->data, ids, 0);
    json_object_set_new(c, "ids", ids);
    if (json_is_string(key)) {
        json_object_set(c, "idempotency_key", key);
    }
    note(c);
}

void dh_rt_trace_wms_call(const char *method, const char *path, const char *idempotency_key,
                          const dh_wms_reply_t *rep)
{
    json_t *ids = json_array(), *x;
    const char *k;
    json_t *c = json_pack("{s:s, s:s++, s:i}", "far", "wms", "call", method, " ", path, "status",
                          (int)rep->status);

    /* The WMS's ids for what it made: "id" and "<thing>_id" fields of its answer. */
    json_object_foreach(rep->body, k, x)
    {
        size_t kl = strlen(k);

        if ((json_is_string(x) || json_is_integer(x)) && json_array_size(ids) < MAX_IDS &&
            (!strcmp(k, "id") || (kl > 3 && !strcmp(k + kl - 3, "_id")))) {
            json_array_append_new(ids, json_pack("{s:O}", k, x));
        }
    }
    json_object_set_new(c, "ids", ids);
    if (idempotency_key) {
        json_object_set_new(c, "idempotency_key", json_string(idempotency_key));
    }
    if (rep->replayed) {
        json_object_set_new(c, "replayed", json_true());
    }
    note(c);
}

/* The calls noted for \p ev: its own, and those made for the whole batch. */
static json_t *calls_of(const dh_rt_ev_t *ev)
{
    json_t *out = json_array(), *x;
    size_t i;

    json_array_foreach(tl_calls, i, x)
    {
        json_int_t tag = json_integer_value(json_object_get(x, "ev"));

        if (!tag || tag == (json_int_t)(uintptr_t)ev) {
            json_array_append(out, json_object_get(x, "call"));
        }
    }
    return out;
}

static const char *const trace_headers[] = {
    "dh-webhook-id",     "dh-event-id", "dh-shop-domain", "dh-store", "dh-redriven-from",
    "dh-correlation-id", NULL};

static void add_header(json_t *o, const dh_rt_ev_t *ev, const char *name)
{
    const void *v;
    size_t len;

    if (ev->hdrs && !rd_kafka_header_get_last(ev->hdrs, name, &v, &len) && v) {
        json_object_set_new(o, name + 3, json_stringn(v, len));
    }
}

/* event_id and correlation_id of a WMS event's payload (the ids producers know). */
static void add_payload_ids(json_t *o, const dh_rt_ev_t *ev)
{
    json_t *doc, *f;

    if (!ev->payload || !strstr(ev->payload, "_id\"")) {
        return; /* no id to take: skip the parse */
    }
    doc = json_loadb(ev->payload, ev->len, 0, NULL);
    f = json_object_get(doc, "event_id");
    if (json_is_string(f)) {
        json_object_set(o, "event_id", f);
    }
    f = json_object_get(doc, "correlation_id");
    if (json_is_string(f)) {
        json_object_set(o, "correlation_id", f);
    }
    f = json_object_get(doc, "store");
    if (json_is_string(f) && !json_object_get(o, "store")) {
        json_object_set(o, "store", f);
    }
    json_decref(doc);
}

/* One effect of the batch record: its origin, duration, the ids it carried, its calls. */
static json_t *info_json(const dh_rt_traced_t *t)
{
    const dh_rt_ev_t *ev = t->ev;
    json_t *o;

    o = json_pack("{s:s, s:s, s:i, s:I, s:s, s:I, s:i}", "outcome", "done", "topic",
                  ev->part->topic, "partition", (int)ev->part->partition, "offset",
                  (json_int_t)ev->offset, "effect", ev->dev->effect_id, "duration_ms",
                  (json_int_t)(t->seconds * 1000.0), "attempts", ev->attempts + 1);
    if (o && ev->key) {
        json_object_set_new(o, "key", json_stringn(ev->key, ev->key_len));
    }
    for (size_t i = 0; o && trace_headers[i]; i++) {
        add_header(o, ev, trace_headers[i]);
    }
    if (o) {
        add_payload_ids(o, ev);
        json_object_set_new(o, "calls", calls_of(ev));
    }
    return o;
}

/* The index tokens of one effect (borrowed from \p o or \p ev); returns how many. The
 * effect id is not one: dh-ops finds an effect through its idempotency record. */
static size_t tokens(json_t *o, const dh_rt_ev_t *ev, const char **tok, size_t *len)
{
    static const char *const fields[] = {"event_id", "correlation_id", "webhook-id", "event-id"};
    size_t n = 0;

    if (ev->key && ev->key_len) {
        const char *bar = memchr(ev->key, '|', ev->key_len), *last = bar;

        tok[n] = ev->key;
        len[n++] = ev->key_len;
        while (bar) { /* the last part: SKU, order id, request id */
            last = bar;
            bar = memchr(bar + 1, '|', ev->key_len - (size_t)(bar + 1 - ev->key));
        }
        if (last && last + 1 < ev->key + ev->key_len) {
            tok[n] = last + 1;
            len[n++] = ev->key_len - (size_t)(last + 1 - ev->key);
        }
    }
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]) && n < MAX_TOKENS; i++) {
        json_t *v = json_object_get(o, fields[i]);

        if (json_is_string(v) && json_string_length(v)) {
            tok[n] = json_string_value(v);
            len[n++] = json_string_length(v);
        }
    }
    return n;
}

/* "shopify inventorySetQuantities 200 gid://...; wms POST /v1/x 201 id=7" (first calls). */
static void far_text(json_t *calls, char *buf, size_t size)
{
    size_t i, off = 0;
    json_t *c;

    buf[0] = '\0';
    json_array_foreach(calls, i, c)
    {
        json_t *ids = json_object_get(c, "ids");
        char *idtext = json_array_size(ids) ? json_dumps(ids, JSON_COMPACT) : NULL;
        int w = snprintf(buf + off, size - off, "%s%s %s %lld%s%s", off ? "; " : "",
                         json_string_value(json_object_get(c, "far")),
                         json_string_value(json_object_get(c, "call")),
                         (long long)json_integer_value(json_object_get(c, "status")),
                         idtext ? " " : "", idtext ? idtext : "");

        free(idtext);
        if (w < 0 || (size_t)w >= size - off) {
            break;
        }
        off += (size_t)w;
    }
}

static void log_applied(const dh_rt_ev_t *ev, json_t *o)
{
    dh_log_ctx_t ctx = {ev->part->topic, ev->part->partition, ev->offset,
                        ev->key,         ev->key_len,         ev->dev->effect_id};
    const char *eid = json_string_value(json_object_get(o, "event_id"));
    const char *cid = json_string_value(json_object_get(o, "correlation_id"));
    const char *store = json_string_value(json_object_get(o, "shop-domain"));
    char far[600];

    if (!store) {
        store = json_string_value(json_object_get(o, "store"));
    }
    far_text(json_object_get(o, "calls"), far, sizeof(far));
    dh_log_ctx_set(&ctx);
    DH_LOG(DH_LOG_INFO, "effect",
           "applied: store=%s source_event_id=%s correlation_id=%s duration_ms=%lld far=[%s]",
           store ? store : "-", eid ? eid : "-", cid ? cid : "-",
           (long long)json_integer_value(json_object_get(o, "duration_ms")), far);
    dh_log_ctx_set(NULL);
}

/* The index sets whose TTL this thread set lately (trace.h): a direct-mapped cache of
 * (hash, time) pairs, so a token that recurs in every batch costs its SADD there and an
 * EXPIRE only every ttl/8 seconds. A collision or an evicted slot only costs an EXPIRE. */
#define TTL_SLOTS 4096 /* a power of two; 64 KB per lane thread, allocated on first use */

struct ttl_slot {
    uint64_t hash;
    int64_t at_ms; /* monotonic; 0: empty */
};

static _Thread_local struct ttl_slot *tl_ttl;

void dh_rt_trace_end(void)
{
    dh_rt_trace_reset();
    free(tl_ttl);
    tl_ttl = NULL;
}

static int64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* An index token of the batch: borrowed text, cut to what its key holds. */
struct tok {
    const char *p;
    size_t len;
    uint64_t hash; /* FNV-1a */
};

static uint64_t fnv1a(const char *p, size_t n)
{
    uint64_t h = 1469598103934665603ULL;

    for (size_t i = 0; i < n; i++) {
        h = (h ^ (unsigned char)p[i]) * 1099511628211ULL;
    }
    return h;
}

static int tok_cmp(const void *a, const void *b)
{
    const struct tok *x = a, *y = b;

    if (x->hash != y->hash) {
        return x->hash < y->hash ? -1 : 1;
    }
    if (x->len != y->len) {
        return x->len < y->len ? -1 : 1;
    }
    return memcmp(x->p, y->p, x->len);
}

/* The batch's tokens, sorted, each once; returns how many are left. */
static size_t tok_unique(struct tok *tk, size_t n)
{
    size_t m = 0;

    qsort(tk, n, sizeof(*tk), tok_cmp);
    for (size_t i = 0; i < n; i++) {
        if (!m || tok_cmp(&tk[m - 1], &tk[i])) {
            tk[m++] = tk[i];
        }
    }
    return m;
}

/* The commands of a batch: SET record, then per distinct token SADD and maybe EXPIRE. */
struct pipe {
    int *argc;
    const char *(*argv)[5];
    size_t (*len)[5];
    const char **pargv;
    size_t n;
};

static void pipe_cmd(struct pipe *p, int argc, const char *const *argv, const size_t *len)
{
    p->argc[p->n] = argc;
    for (int i = 0; i < argc; i++) {
        p->argv[p->n][i] = argv[i];
        p->len[p->n][i] = len[i];
    }
    p->n++;
}

/* Write the batch's record and its index in one pipelined round trip; \p tk: its distinct
 * tokens. A slot of the TTL cache is taken only once its EXPIRE is known to have run. */
static void write_batch(dh_rt_t *rt, dh_redis_t *r, const char *batch, const char *text,
                        const struct tok *tk, size_t ntk)
{
    int64_t ttl = rt->opts.trace_retention_s, now = mono_ms(), window = ttl * 1000 / 8;
    size_t cap = 1 + 2 * ntk, keys_size = 0, off = 0, nexp = 0;
    struct pipe p = {0};
    char rkey[300], member[300], ttl_text[24], *keys = NULL;
    size_t *klen = NULL, *exp_tok = NULL, *exp_cmd = NULL;
    const char ***argv = NULL;
    const size_t **lens = NULL;
    redisReply **rep = NULL;

    for (size_t i = 0; i < ntk; i++) {
        keys_size += sizeof("dh:trace:") + tk[i].len;
    }
    if (!tl_ttl) {
        tl_ttl = calloc(TTL_SLOTS, sizeof(*tl_ttl)); /* none: every set gets its EXPIRE */
    }
    p.argc = calloc(cap, sizeof(*p.argc));
    p.argv = calloc(cap, sizeof(*p.argv));
    p.len = calloc(cap, sizeof(*p.len));
    argv = calloc(cap, sizeof(*argv));
    lens = calloc(cap, sizeof(*lens));
    rep = calloc(cap, sizeof(*rep));
    keys = malloc(keys_size + 1);
    klen = calloc(ntk + 1, sizeof(*klen));
    exp_tok = calloc(ntk + 1, sizeof(*exp_tok));
    exp_cmd = calloc(ntk + 1, sizeof(*exp_cmd));
    if (!p.argc || !p.argv || !p.len || !argv || !lens || !rep || !keys || !klen || !exp_tok ||
        !exp_cmd) {
        DH_LOG(DH_LOG_DEBUG, "trace", "trace record of batch %s not written: out of memory", batch);
        goto out;
    }
    snprintf(rkey, sizeof(rkey), DH_TRACE_BATCH_FMT, rt->handler->name, batch);
    snprintf(member, sizeof(member), "%s %s", rt->handler->name, batch);
    snprintf(ttl_text, sizeof(ttl_text), "%lld", (long long)ttl);
    pipe_cmd(&p, 5, (const char *[]){"SET", rkey, text, "EX", ttl_text},
             (const size_t[]){3, strlen(rkey), strlen(text), 2, strlen(ttl_text)});
    for (size_t i = 0; i < ntk; i++) {
        struct ttl_slot *s = tl_ttl ? &tl_ttl[tk[i].hash & (TTL_SLOTS - 1)] : NULL;
        char *k = keys + off;

        klen[i] =
            (size_t)snprintf(k, keys_size + 1 - off, "dh:trace:%.*s", (int)tk[i].len, tk[i].p);
        off += klen[i] + 1;
        pipe_cmd(&p, 3, (const char *[]){"SADD", k, member},
                 (const size_t[]){4, klen[i], strlen(member)});
        if (!s || s->hash != tk[i].hash || !s->at_ms || now - s->at_ms >= window) {
            exp_tok[nexp] = i;
            exp_cmd[nexp++] = p.n;
            pipe_cmd(&p, 3, (const char *[]){"EXPIRE", k, ttl_text},
                     (const size_t[]){6, klen[i], strlen(ttl_text)});
        }
    }
    for (size_t i = 0; i < p.n; i++) {
        argv[i] = p.argv[i];
        lens[i] = p.len[i];
    }
    if (dh_redis_pipeline(r, p.n, p.argc, argv, lens, rep) != DH_OK) {
        DH_LOG(DH_LOG_DEBUG, "trace", "trace record of batch %s not written: %s", batch,
               dh_redis_errstr(r));
        goto out;
    }
    for (size_t j = 0; j < nexp && tl_ttl; j++) {
        const redisReply *x = rep[exp_cmd[j]];

        if (x && x->type == REDIS_REPLY_INTEGER && x->integer == 1) {
            tl_ttl[tk[exp_tok[j]].hash & (TTL_SLOTS - 1)] =
                (struct ttl_slot){tk[exp_tok[j]].hash, now};
        }
    }
    for (size_t i = 0; i < p.n; i++) {
        freeReplyObject(rep[i]);
    }
out:
    free(p.argc);
    free(p.argv);
    free(p.len);
    free(argv);
    free(lens);
    free(rep);
    free(keys);
    free(klen);
    free(exp_tok);
    free(exp_cmd);
}

void dh_rt_trace_applied(dh_rt_t *rt, dh_redis_t *r, const char *owner, const char *batch,
                         const dh_rt_traced_t *t, size_t n)
{
    int write = rt->opts.trace_retention_s > 0 && batch && batch[0];
    struct tok *tk = write ? calloc(n * MAX_TOKENS + 1, sizeof(*tk)) : NULL;
    json_t *effects = json_array(), *rec = NULL;
    size_t ntk = 0;
    char at[40], *text = NULL;
    struct timespec ts;
    struct tm tm;

    for (size_t i = 0; effects && i < n; i++) {
        json_t *o = t[i].ev->dev && t[i].ev->dev->effect_id[0] ? info_json(&t[i]) : NULL;
        const char *tp[MAX_TOKENS];
        size_t tl[MAX_TOKENS], nt;

        if (!o) {
            continue;
        }
        log_applied(t[i].ev, o);
        nt = tokens(o, t[i].ev, tp, tl);
        for (size_t j = 0; tk && j < nt; j++) { /* the strings stay in o, kept by effects */
            size_t len = tl[j] > DH_TRACE_TOKEN_MAX ? DH_TRACE_TOKEN_MAX : tl[j];

            tk[ntk++] = (struct tok){tp[j], len, fnv1a(tp[j], len)};
        }
        json_array_append_new(effects, o);
    }
    if (write && tk && json_array_size(effects)) {
        clock_gettime(CLOCK_REALTIME, &ts);
        gmtime_r(&ts.tv_sec, &tm);
        strftime(at, sizeof(at), "%Y-%m-%dT%H:%M:%SZ", &tm);
        rec = json_pack("{s:s, s:s, s:s, s:O}", "worker", rt->handler->name, "instance", owner,
                        "at", at, "effects", effects);
        text = rec ? json_dumps(rec, JSON_COMPACT) : NULL;
    }
    if (text) {
        write_batch(rt, r, batch, text, tk, tok_unique(tk, ntk));
    } else if (write && json_array_size(effects)) {
        DH_LOG(DH_LOG_DEBUG, "trace", "trace record of batch %s not written: out of memory", batch);
    }
    free(text);
    json_decref(rec);
    json_decref(effects);
    free(tk);
}
