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

#include "buf.h"
#include "dockhand/log.h"
#include "log_internal.h"
#include "redis_internal.h"
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

/* The calls noted for \p ev: its own, and those made for the whole batch; NULL when none
 * (the common case of a worker with no far side, which then allocates nothing). */
static json_t *calls_of(const dh_rt_ev_t *ev)
{
    json_t *out = NULL, *x;
    size_t i;

    json_array_foreach(tl_calls, i, x)
    {
        json_int_t tag = json_integer_value(json_object_get(x, "ev"));

        if (!tag || tag == (json_int_t)(uintptr_t)ev) {
            if (!out) {
                out = json_array();
            }
            json_array_append(out, json_object_get(x, "call"));
        }
    }
    return out;
}

/* The headers a record carries, named without their "dh-" prefix. */
enum { H_WEBHOOK, H_EVENT, H_SHOP, H_STORE, H_REDRIVEN, H_CORRELATION, NHDRS };
static const char *const trace_headers[NHDRS] = {"dh-webhook-id",    "dh-event-id",
                                                 "dh-shop-domain",   "dh-store",
                                                 "dh-redriven-from", "dh-correlation-id"};

/* A borrowed string that need not end in NUL. */
struct str {
    const char *p;
    size_t n;
};

/* One applied effect as its record and INFO line tell it. The ids are borrowed from the
 * event's headers or from doc, its payload parsed for them (NULL when it has none); the
 * record is formatted by hand (below): building it as a jansson tree and dumping it was
 * half of a no-op worker's time. */
struct fx {
    const dh_rt_traced_t *t;
    struct str hdr[NHDRS];
    struct str event_id, correlation_id, store; /* from the payload */
    json_t *doc, *calls;
};

static struct str json_str(json_t *doc, const char *name)
{
    json_t *f = json_object_get(doc, name);

    return json_is_string(f) ? (struct str){json_string_value(f), json_string_length(f)}
                             : (struct str){NULL, 0};
}

static void fx_init(struct fx *f, const dh_rt_traced_t *t)
{
    const dh_rt_ev_t *ev = t->ev;

    memset(f, 0, sizeof(*f));
    f->t = t;
    for (int i = 0; i < NHDRS && ev->hdrs; i++) {
        const void *v;
        size_t len;

        if (!rd_kafka_header_get_last(ev->hdrs, trace_headers[i], &v, &len) && v) {
            f->hdr[i] = (struct str){v, len};
        }
    }
    /* event_id and correlation_id of a WMS event's payload (the ids producers know). */
    if (ev->payload && strstr(ev->payload, "_id\"")) {
        f->doc = json_loadb(ev->payload, ev->len, 0, NULL);
        f->event_id = json_str(f->doc, "event_id");
        f->correlation_id = json_str(f->doc, "correlation_id");
        f->store = json_str(f->doc, "store");
    }
    f->calls = calls_of(ev);
}

static void fx_free(struct fx *f)
{
    json_decref(f->doc);
    json_decref(f->calls);
}

/* The store the effect was for: the gateway's shop domain, else the event's store. */
static struct str fx_store(const struct fx *f)
{
    return f->hdr[H_SHOP].p ? f->hdr[H_SHOP] : f->hdr[H_STORE].p ? f->hdr[H_STORE] : f->store;
}

/* ---- a JSON text built by hand (buf.h) ----------------------------------------------- */

/* ,"<name>": */
static void add_name(dh_buf_t *b, const char *name)
{
    dh_buf_add(b, ",\"", 2);
    dh_buf_adds(b, name);
    dh_buf_add(b, "\":", 2);
}

/* ,"<name>":"<s>" (nothing when s is absent). */
static void add_field(dh_buf_t *b, const char *name, struct str s)
{
    if (s.p) {
        add_name(b, name);
        dh_buf_add_json(b, s.p, s.n);
    }
}

/* ,"<name>":<v> */
static void add_int(dh_buf_t *b, const char *name, long long v)
{
    add_name(b, name);
    dh_buf_add_i64(b, v);
}

/* One effect of the batch record: its origin, duration, the ids it carried, its calls. */
static void fx_json(dh_buf_t *b, const struct fx *f)
{
    const dh_rt_ev_t *ev = f->t->ev;
    const char *topic = ev->part->topic, *effect = ev->dev->effect_id;

    dh_buf_adds(b, "{\"outcome\":\"done\"");
    add_field(b, "topic", (struct str){topic, strlen(topic)});
    add_int(b, "partition", (long long)ev->part->partition);
    add_int(b, "offset", (long long)ev->offset);
    add_field(b, "effect", (struct str){effect, strlen(effect)});
    add_int(b, "duration_ms", (long long)(f->t->seconds * 1000.0));
    add_int(b, "attempts", (long long)ev->attempts + 1);
    if (ev->key) {
        add_field(b, "key", (struct str){ev->key, ev->key_len});
    }
    for (int i = 0; i < NHDRS; i++) {
        add_field(b, trace_headers[i] + 3, f->hdr[i]);
    }
    add_field(b, "event_id", f->event_id);
    add_field(b, "correlation_id", f->correlation_id);
    if (!f->hdr[H_STORE].p) {
        add_field(b, "store", f->store);
    }
    dh_buf_adds(b, ",\"calls\":");
    if (json_array_size(f->calls)) {
        char *calls = json_dumps(f->calls, JSON_COMPACT);

        if (!calls) {
            b->oom = 1;
            return;
        }
        dh_buf_adds(b, calls);
        free(calls);
    } else {
        dh_buf_adds(b, "[]");
    }
    dh_buf_adds(b, "}");
}

/* The index tokens of one effect (borrowed from \p f); returns how many. The effect id is
 * not one: dh-ops finds an effect through its idempotency record. */
static size_t tokens(const struct fx *f, const char **tok, size_t *len)
{
    const dh_rt_ev_t *ev = f->t->ev;
    const struct str ids[] = {f->event_id, f->correlation_id, f->hdr[H_WEBHOOK], f->hdr[H_EVENT]};
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
    for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]) && n < MAX_TOKENS; i++) {
        if (ids[i].p && ids[i].n) {
            tok[n] = ids[i].p;
            len[n++] = ids[i].n;
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

static void log_applied(const struct fx *f)
{
    const dh_rt_ev_t *ev = f->t->ev;
    dh_log_ctx_t ctx = {ev->part->topic, ev->part->partition, ev->offset,
                        ev->key,         ev->key_len,         ev->dev->effect_id};
    struct str store = fx_store(f), eid = f->event_id, cid = f->correlation_id;
    char far[600];

    far_text(f->calls, far, sizeof(far));
    dh_log_ctx_set(&ctx);
    DH_LOG(DH_LOG_INFO, "effect",
           "applied: store=%.*s source_event_id=%.*s correlation_id=%.*s duration_ms=%lld "
           "far=[%s]",
           store.p ? (int)store.n : 1, store.p ? store.p : "-", eid.p ? (int)eid.n : 1,
           eid.p ? eid.p : "-", cid.p ? (int)cid.n : 1, cid.p ? cid.p : "-",
           (long long)(f->t->seconds * 1000.0), far);
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

/* Write the batch's record and its index in one pipelined round trip, formatted straight
 * into one RESP buffer: SET record, then per distinct token (\p tk) SADD and maybe EXPIRE.
 * A slot of the TTL cache is taken only once its EXPIRE is known to have run. */
static void write_batch(dh_rt_t *rt, dh_redis_t *r, const char *batch, const char *text,
                        const struct tok *tk, size_t ntk)
{
    int64_t ttl = rt->opts.trace_retention_s, now = mono_ms(), window = ttl * 1000 / 8;
    size_t ncmds = 1, nexp = 0, text_len = strlen(text), member_len, ttl_len;
    dh_buf_t cmds = DH_BUF_INIT;
    char rkey[300], member[300], ttl_text[24];
    size_t *exp = NULL; /* per EXPIRE sent: its token, then its command's index */
    redisReply **rep = NULL;

    if (!tl_ttl) {
        tl_ttl = calloc(TTL_SLOTS, sizeof(*tl_ttl)); /* none: every set gets its EXPIRE */
    }
    snprintf(rkey, sizeof(rkey), DH_TRACE_BATCH_FMT, rt->handler->name, batch);
    member_len = (size_t)snprintf(member, sizeof(member), "%s %s", rt->handler->name, batch);
    ttl_len = (size_t)snprintf(ttl_text, sizeof(ttl_text), "%lld", (long long)ttl);
    exp = malloc(2 * (ntk + 1) * sizeof(*exp));
    rep = calloc(1 + 2 * ntk, sizeof(*rep));
    (void)dh_buf_reserve(&cmds, text_len + 128 + ntk * (member_len + 96)); /* one allocation */
    dh_buf_add_resp_cmd(&cmds, 5);
    dh_buf_add_resp_arg(&cmds, "SET", 3);
    dh_buf_add_resp_arg(&cmds, rkey, strlen(rkey));
    dh_buf_add_resp_arg(&cmds, text, text_len);
    dh_buf_add_resp_arg(&cmds, "EX", 2);
    dh_buf_add_resp_arg(&cmds, ttl_text, ttl_len);
    for (size_t i = 0; i < ntk; i++) {
        struct ttl_slot *s = tl_ttl ? &tl_ttl[tk[i].hash & (TTL_SLOTS - 1)] : NULL;
        int expire = !s || s->hash != tk[i].hash || !s->at_ms || now - s->at_ms >= window;

        for (int c = 0; c < 1 + expire; c++) { /* SADD dh:trace:<token> <member>, EXPIRE */
            dh_buf_add_resp_cmd(&cmds, 3);
            dh_buf_add_resp_arg(&cmds, c ? "EXPIRE" : "SADD", c ? 6 : 4);
            dh_buf_add_resp_len(&cmds, 9 + tk[i].len);
            dh_buf_add(&cmds, "dh:trace:", 9);
            dh_buf_add(&cmds, tk[i].p, tk[i].len);
            dh_buf_add(&cmds, "\r\n", 2);
            dh_buf_add_resp_arg(&cmds, c ? ttl_text : member, c ? ttl_len : member_len);
            ncmds++;
        }
        if (expire && exp) {
            exp[2 * nexp] = i;
            exp[2 * nexp++ + 1] = ncmds - 1;
        }
    }
    if (!exp || !rep || cmds.oom) {
        DH_LOG(DH_LOG_DEBUG, "trace", "trace record of batch %s not written: out of memory", batch);
        goto out;
    }
    if (dh_redis_pipeline_raw(r, cmds.p, cmds.len, ncmds, rep) != DH_OK) {
        DH_LOG(DH_LOG_DEBUG, "trace", "trace record of batch %s not written: %s", batch,
               dh_redis_errstr(r));
        goto out;
    }
    for (size_t j = 0; j < nexp && tl_ttl; j++) {
        const redisReply *x = rep[exp[2 * j + 1]];
        const struct tok *t = &tk[exp[2 * j]];

        if (x && x->type == REDIS_REPLY_INTEGER && x->integer == 1) {
            tl_ttl[t->hash & (TTL_SLOTS - 1)] = (struct ttl_slot){t->hash, now};
        }
    }
    for (size_t i = 0; i < ncmds; i++) {
        freeReplyObject(rep[i]);
    }
out:
    dh_buf_free(&cmds);
    free(exp);
    free(rep);
}

void dh_rt_trace_applied(dh_rt_t *rt, dh_redis_t *r, const char *owner, const char *batch,
                         const dh_rt_traced_t *t, size_t n)
{
    int write = rt->opts.trace_retention_s > 0 && batch && batch[0];
    struct tok *tk = write ? calloc(n * MAX_TOKENS + 1, sizeof(*tk)) : NULL;
    struct fx *fx = calloc(n ? n : 1, sizeof(*fx));
    size_t ntk = 0, m = 0;
    dh_buf_t rec = DH_BUF_INIT;
    char at[40];
    struct timespec ts;
    struct tm tm;

    if (!fx) {
        free(tk);
        return;
    }
    if (write && tk) {
        clock_gettime(CLOCK_REALTIME, &ts);
        gmtime_r(&ts.tv_sec, &tm);
        strftime(at, sizeof(at), "%Y-%m-%dT%H:%M:%SZ", &tm);
        dh_buf_adds(&rec, "{\"worker\":");
        dh_buf_add_json(&rec, rt->handler->name, strlen(rt->handler->name));
        dh_buf_adds(&rec, ",\"instance\":");
        dh_buf_add_json(&rec, owner, strlen(owner));
        dh_buf_adds(&rec, ",\"at\":\"");
        dh_buf_adds(&rec, at);
        dh_buf_adds(&rec, "\",\"effects\":[");
    }
    for (size_t i = 0; i < n; i++) {
        const char *tp[MAX_TOKENS];
        size_t tl[MAX_TOKENS], nt;
        struct fx *f = &fx[m];

        if (!t[i].ev->dev || !t[i].ev->dev->effect_id[0]) {
            continue;
        }
        fx_init(f, &t[i]);
        m++;
        log_applied(f);
        if (!write || !tk) {
            continue;
        }
        nt = tokens(f, tp, tl);
        for (size_t j = 0; j < nt; j++) { /* the strings stay in ev or f->doc until the end */
            size_t len = tl[j] > DH_TRACE_TOKEN_MAX ? DH_TRACE_TOKEN_MAX : tl[j];

            tk[ntk++] = (struct tok){tp[j], len, fnv1a(tp[j], len)};
        }
        if (m > 1) {
            dh_buf_adds(&rec, ",");
        }
        fx_json(&rec, f);
    }
    if (write && tk && m) {
        dh_buf_adds(&rec, "]}");
    }
    if (write && tk && m && !rec.oom) {
        write_batch(rt, r, batch, rec.p, tk, tok_unique(tk, ntk));
    } else if (write && m) {
        DH_LOG(DH_LOG_DEBUG, "trace", "trace record of batch %s not written: out of memory", batch);
    }
    for (size_t i = 0; i < m; i++) {
        fx_free(&fx[i]);
    }
    dh_buf_free(&rec);
    free(fx);
    free(tk);
}
