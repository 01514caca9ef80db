/*
 * The runtime's trace records of applied effects (dockhand/trace.h) and the one INFO line
 * per applied effect. Written after the done records, in one pipelined round trip per
 * batch; best effort: a failure is logged at debug and never holds an event (the done
 * record, which guards the effect, is already written).
 */
#include "dockhand/trace.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dockhand/log.h"
#include "runtime.h"

#define MAX_TOKENS 7
#define CMDS_PER   (2 + 2 * MAX_TOKENS) /* SET info; SADD + EXPIRE per token */

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

static json_t *info_json(const dh_rt_t *rt, const char *owner, const dh_rt_traced_t *t)
{
    const dh_rt_ev_t *ev = t->ev;
    char at[40];
    struct timespec ts;
    struct tm tm;
    json_t *o;

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(at, sizeof(at), "%Y-%m-%dT%H:%M:%SZ", &tm);
    o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:i, s:I, s:s, s:I, s:i}", "outcome", "done", "at", at,
                  "worker", rt->handler->name, "instance", owner, "topic", ev->part->topic,
                  "partition", (int)ev->part->partition, "offset", (json_int_t)ev->offset, "effect",
                  ev->dev->effect_id, "duration_ms", (json_int_t)(t->seconds * 1000.0), "attempts",
                  ev->attempts + 1);
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

/* The index tokens of one record (borrowed from \p o or \p ev); returns how many. */
static size_t tokens(json_t *o, const dh_rt_ev_t *ev, const char **tok, size_t *len)
{
    static const char *const fields[] = {"effect", "event_id", "correlation_id", "webhook-id",
                                         "event-id"};
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

/* The commands of one record: SET info, then SADD + EXPIRE per token. */
struct cmds {
    int argc[CMDS_PER];
    const char *argv[CMDS_PER][5];
    size_t len[CMDS_PER][5];
    const char **pargv[CMDS_PER];
    const size_t *plen[CMDS_PER];
    char keys[MAX_TOKENS + 1][300], member[400], ttl[24];
    char *text;
    size_t n;
};

static void cmd(struct cmds *c, int argc, const char *const *argv, const size_t *len)
{
    c->argc[c->n] = argc;
    for (int i = 0; i < argc; i++) {
        c->argv[c->n][i] = argv[i];
        c->len[c->n][i] = len ? len[i] : strlen(argv[i]);
    }
    c->pargv[c->n] = c->argv[c->n];
    c->plen[c->n] = c->len[c->n];
    c->n++;
}

static void build(struct cmds *c, const dh_rt_t *rt, json_t *o, const dh_rt_ev_t *ev)
{
    const char *tok[MAX_TOKENS];
    size_t tlen[MAX_TOKENS], nt = tokens(o, ev, tok, tlen);

    c->n = 0;
    snprintf(c->keys[0], sizeof(c->keys[0]), DH_TRACE_INFO_FMT, rt->handler->name,
             ev->dev->effect_id);
    snprintf(c->member, sizeof(c->member), "%s %s", rt->handler->name, ev->dev->effect_id);
    cmd(c, 5, (const char *[]){"SET", c->keys[0], c->text, "EX", c->ttl}, NULL);
    for (size_t i = 0; i < nt; i++) {
        int kl = snprintf(c->keys[i + 1], sizeof(c->keys[i + 1]), "dh:trace:%.*s",
                          (int)(tlen[i] > 280 ? 280 : tlen[i]), tok[i]);

        cmd(c, 3, (const char *[]){"SADD", c->keys[i + 1], c->member},
            (const size_t[]){4, (size_t)kl, strlen(c->member)});
        cmd(c, 3, (const char *[]){"EXPIRE", c->keys[i + 1], c->ttl},
            (const size_t[]){6, (size_t)kl, strlen(c->ttl)});
    }
}

/* Every command of the batch in one pipeline: one round trip. */
static void write_all(dh_rt_t *rt, dh_redis_t *r, struct cmds *c, size_t n)
{
    size_t total = 0, k = 0;
    int *argc;
    const char ***argv;
    const size_t **len;
    redisReply **rep;

    for (size_t i = 0; i < n; i++) {
        total += c[i].n;
    }
    argc = calloc(total + 1, sizeof(*argc));
    argv = calloc(total + 1, sizeof(*argv));
    len = calloc(total + 1, sizeof(*len));
    rep = calloc(total + 1, sizeof(*rep));
    for (size_t i = 0; argc && argv && len && rep && i < n; i++) {
        for (size_t j = 0; j < c[i].n; j++, k++) {
            argc[k] = c[i].argc[j];
            argv[k] = c[i].pargv[j];
            len[k] = c[i].plen[j];
        }
    }
    if (k && k == total && dh_redis_pipeline(r, total, argc, argv, len, rep) == DH_OK) {
        for (size_t i = 0; i < total; i++) {
            freeReplyObject(rep[i]);
        }
    } else if (k) {
        DH_LOG(DH_LOG_DEBUG, "trace", "trace records not written: %s", dh_redis_errstr(r));
    }
    (void)rt;
    free(argc);
    free(argv);
    free(len);
    free(rep);
}

void dh_rt_trace_applied(dh_rt_t *rt, dh_redis_t *r, const char *owner, const dh_rt_traced_t *t,
                         size_t n)
{
    struct cmds *c = calloc(n ? n : 1, sizeof(*c));
    size_t m = 0;

    for (size_t i = 0; c && i < n; i++) {
        json_t *o = t[i].ev->dev && t[i].ev->dev->effect_id[0] ? info_json(rt, owner, &t[i]) : NULL;

        if (!o) {
            continue;
        }
        log_applied(t[i].ev, o);
        snprintf(c[m].ttl, sizeof(c[m].ttl), "%lld", (long long)rt->opts.trace_retention_s);
        c[m].text = rt->opts.trace_retention_s > 0 ? json_dumps(o, JSON_COMPACT) : NULL;
        if (c[m].text) {
            build(&c[m++], rt, o, t[i].ev); /* borrows only c's own buffers and ev */
        }
        json_decref(o);
    }
    if (c && m) {
        write_all(rt, r, c, m);
    }
    for (size_t i = 0; c && i < m; i++) {
        free(c[i].text);
    }
    free(c);
}
