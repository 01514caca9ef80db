/*
 * dh-ops trace <id>: what happened to an event id, order id, SKU, correlation id, webhook
 * id or effect id. From Redis (dockhand/trace.h): the batches the index dh:trace:<id> names
 * and, in each batch's trace record, the effects that carry the id; and the id as an
 * effect id of each worker's namespace, through its idempotency record (which names its
 * batch). Each effect once, with its idempotency state ("done", "leased", "absent"):
 * outcome, time, worker instance, origin offset, duration, the far-side idempotency key.
 * Index entries and records from before batch records ("<ns> <effect>", idem-info) are
 * read too until they expire. From Kafka: every dead letter whose key has it as a part or
 * whose payload contains it. Then where to look next. Exit 0 when anything was found, 1
 * when nothing was.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dockhand/idem.h"
#include "dockhand/trace.h"
#include "ops_dlq.h"

#define MAX_DLQS    16
#define MAX_WORKERS 16

static const char *const default_dlqs[] = {"wms.putaway.dlq",
                                           "wms.zone_move.dlq",
                                           "wms.dispatch.dlq",
                                           "shopify.orders.dlq",
                                           "shopify.products.dlq",
                                           "returnprime.cir.dlq",
                                           NULL};

struct trace_args {
    const char *id;
    const char *dlqs[MAX_DLQS];
    const char *workers[MAX_WORKERS + 1]; /* --worker: NULL-terminated */
    int ndlqs, nworkers, no_dlq;
    long long max;
};

static int trace_parse(const ops_t *o, int argc, char **argv, struct trace_args *a)
{
    memset(a, 0, sizeof(*a));
    a->max = 50;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--no-dlq")) {
            a->no_dlq = 1;
        } else if (i + 1 < argc && !strcmp(argv[i], "--dlq") && a->ndlqs < MAX_DLQS) {
            a->dlqs[a->ndlqs++] = argv[++i];
        } else if (i + 1 < argc && !strcmp(argv[i], "--worker") && a->nworkers < MAX_WORKERS) {
            a->workers[a->nworkers++] = argv[++i];
        } else if (i + 1 < argc && !strcmp(argv[i], "--max")) {
            if (ops_parse_long(o, "--max", argv[++i], 1, 100000, &a->max)) {
                return -1;
            }
        } else if (argv[i][0] != '-' && !a->id) {
            a->id = argv[i];
        } else {
            ops_err(o, "trace: unexpected argument '%s'", argv[i]);
            return -1;
        }
    }
    if (!a->id || !*a->id || strlen(a->id) > 280) {
        ops_err(o, "usage: trace <event id|order id|SKU|correlation id|effect id> [--dlq T]... "
                   "[--no-dlq] [--worker W]... [--max N]");
        return -1;
    }
    return 0;
}

static const char *field(json_t *o, const char *name)
{
    const char *v = json_string_value(json_object_get(o, name));

    return v ? v : "?";
}

static void print_effect(json_t *row)
{
    json_t *c;
    size_t i;

    printf("effect %s: %s (record: %s) at %s by %s, from %s [%lld] @%lld, %lld ms\n",
           field(row, "effect"), field(row, "outcome"), field(row, "record"), field(row, "at"),
           field(row, "instance"), field(row, "topic"),
           (long long)json_integer_value(json_object_get(row, "partition")),
           (long long)json_integer_value(json_object_get(row, "offset")),
           (long long)json_integer_value(json_object_get(row, "duration_ms")));
    json_array_foreach(json_object_get(row, "calls"), i, c)
    {
        char *ids = json_dumps(json_object_get(c, "ids"), JSON_COMPACT);

        printf("    %s %s -> %lld, ids %s, idempotency key %s\n", field(c, "far"), field(c, "call"),
               (long long)json_integer_value(json_object_get(c, "status")), ids ? ids : "[]",
               field(c, "idempotency_key"));
        free(ids);
    }
    printf("    logs: grep -F '%s'   (the worker's lines of this effect)\n", field(row, "effect"));
}

/* What trace_effects() gathers: the rows to show, each effect once. */
struct found {
    const ops_t *o;
    dh_redis_t *r;
    long long max;
    json_t *rows; /* array of effect rows */
    json_t *seen; /* "<ns> <batch> <effect>" -> true */
    int failed;   /* a Redis error */
};

static int full(const struct found *f)
{
    return (long long)json_array_size(f->rows) > f->max; /* one more tells "more than max" */
}

static const char *state_text(dh_idem_state_t st)
{
    return st == DH_IDEM_DONE ? "done" : st == DH_IDEM_LEASED ? "leased" : "absent (expired?)";
}

/* \p row (stolen) for effect \p eff of \p ns, batch \p batch ("": a record from before
 * batches), unless it was found already. */
static void add_row(struct found *f, const char *ns, const char *batch, const char *eff,
                    json_t *row)
{
    char key[1200];

    snprintf(key, sizeof(key), "%s %s %s", ns, batch, eff);
    if (!row || json_object_get(f->seen, key) || full(f)) {
        json_decref(row);
        return;
    }
    json_object_set_new(f->seen, key, json_true());
    json_object_set_new(row, "kind", json_string("effect"));
    json_array_append_new(f->rows, row);
}

/* The state of \p n effects of \p ns into each row's "record"; 0, or -1 on a Redis error. */
static int set_states(struct found *f, const char *ns, json_t **rows, const char **ids, size_t n)
{
    dh_idem_state_t *st = calloc(n ? n : 1, sizeof(*st));
    dh_err_t err = st ? dh_idem_lookup(f->r, ns, n, ids, st, NULL) : DH_ERR_NOMEM;

    for (size_t i = 0; i < n; i++) {
        json_object_set_new(rows[i], "record",
                            json_string(err == DH_OK ? state_text(st[i]) : "unknown"));
    }
    free(st);
    if (err != DH_OK && err != DH_ERR_INVALID) { /* an overlong effect id is no Redis error */
        ops_err(f->o, "redis: %s", dh_redis_errstr(f->r));
        return -1;
    }
    return 0;
}

/* \p n rows (stolen) of batch \p batch, their states set; 0, or -1 on a Redis error. */
static int add_rows(struct found *f, const char *ns, const char *batch, json_t **rows,
                    const char **ids, size_t n)
{
    int rc = set_states(f, ns, rows, ids, n);

    for (size_t j = 0; j < n; j++) {
        add_row(f, ns, batch, ids[j], rows[j]);
    }
    return rc;
}

/* The key's last '|' part equals \p id. */
static int last_part_is(const char *key, const char *id)
{
    const char *bar = key ? strrchr(key, '|') : NULL;

    return bar && !strcmp(bar + 1, id);
}

/* Does effect \p e of a batch record carry \p id (any token, or as its effect id)? */
static int effect_matches(json_t *e, const char *id)
{
    static const char *const fields[] = {"key",        "effect",   "event_id", "correlation_id",
                                         "webhook-id", "event-id", NULL};

    for (size_t i = 0; fields[i]; i++) {
        const char *v = json_string_value(json_object_get(e, fields[i]));

        if (v && !strcmp(v, id)) {
            return 1;
        }
    }
    return last_part_is(json_string_value(json_object_get(e, "key")), id);
}

/* The effects of batch record "<ns>:trace:<batch>" that carry \p id, each with the batch's
 * worker, instance and time and its idempotency state. Returns how many matched, -1 on a
 * Redis error (0 when the record has expired). */
static int show_batch(struct found *f, const char *ns, const char *batch, const char *id)
{
    char key[700];
    int err = 0, matched = 0;
    json_t *text, *rec, *e;
    json_t *rows[64];
    const char *ids[64];
    size_t i, n = 0;

    snprintf(key, sizeof(key), DH_TRACE_BATCH_FMT, ns, batch);
    text = ops_redis_get(f->r, key, &err);
    rec = text ? json_loads(json_string_value(text), 0, NULL) : NULL;
    json_decref(text);
    json_array_foreach(json_object_get(rec, "effects"), i, e)
    {
        if (!effect_matches(e, id) || !json_is_string(json_object_get(e, "effect"))) {
            continue;
        }
        json_t *row = json_copy(e);
        const char *eff = json_string_value(json_object_get(e, "effect"));

        matched++;
        json_object_set(row, "worker", json_object_get(rec, "worker"));
        json_object_set(row, "instance", json_object_get(rec, "instance"));
        json_object_set(row, "at", json_object_get(rec, "at"));
        json_object_set_new(row, "batch", json_string(batch));
        rows[n] = row;
        ids[n++] = eff;
        if (n == sizeof(rows) / sizeof(rows[0])) { /* states looked up 64 at a time */
            err |= add_rows(f, ns, batch, rows, ids, n) < 0;
            n = 0;
        }
    }
    err |= n && add_rows(f, ns, batch, rows, ids, n) < 0;
    json_decref(rec);
    return err ? -1 : matched;
}

/* An effect of the layout before batch records: "<ns>:idem-info:<effect>". */
static int show_old_effect(struct found *f, const char *ns, const char *eff)
{
    char key[700];
    int err = 0;
    json_t *info, *row;

    snprintf(key, sizeof(key), DH_TRACE_INFO_FMT, ns, eff);
    info = ops_redis_get(f->r, key, &err);
    row = info ? json_loads(json_string_value(info), 0, NULL) : NULL;
    row = row ? row : json_pack("{s:s, s:s}", "effect", eff, "worker", ns);
    json_decref(info);
    err |= set_states(f, ns, &row, &eff, 1) < 0;
    add_row(f, ns, "", eff, row);
    return err ? -1 : 0;
}

/* 16 lowercase hex digits: a batch id (an index member from before batches names an effect). */
static int is_batch_id(const char *s)
{
    size_t n = strspn(s, "0123456789abcdef");

    return n == DH_IDEM_BATCH_LEN && !s[n];
}

/* \p id as an effect id of \p ns: its idempotency record names its batch (or, from before
 * batches, is "done" beside an idem-info record). 0, or -1 on a Redis error. */
static int probe_effect(struct found *f, const char *ns, const char *id)
{
    char bat[1][DH_IDEM_BATCH_LEN + 1];
    dh_idem_state_t st;
    dh_err_t err = dh_idem_lookup(f->r, ns, 1, &id, &st, bat);
    int n;

    if (err == DH_ERR_INVALID) {
        return 0; /* too long to be an effect id of ns */
    }
    if (err != DH_OK) {
        ops_err(f->o, "redis: %s", dh_redis_errstr(f->r));
        return -1;
    }
    if (bat[0][0]) {
        n = show_batch(f, ns, bat[0], id);
        if (n != 0) {
            return n < 0 ? -1 : 0;
        }
        /* claimed, its batch not (yet, or any longer) recorded: the state alone */
        add_row(f, ns, bat[0], id,
                json_pack("{s:s, s:s, s:s, s:s}", "effect", id, "worker", ns, "batch", bat[0],
                          "record", state_text(st)));
        return 0;
    }
    return st == DH_IDEM_ABSENT ? 0 : show_old_effect(f, ns, id);
}

/* Every effect recorded for the id: through the index, then as an effect id. The number
 * shown, or -1 on a Redis error. */
static int trace_effects(const ops_t *o, const struct trace_args *a)
{
    struct found f = {o, ops_redis_new(o), a->max, json_array(), json_object(), 0};
    const char *ns[MAX_WORKERS + 2]; /* where the id is also looked up as an effect id */
    size_t nns = 0;
    redisReply *rep = NULL;
    size_t shown, more;

    /* --worker's, else every worker's namespace and dh-testworker's */
    for (const char *const *w = a->nworkers ? a->workers : ops_workers; *w; w++) {
        ns[nns++] = *w;
    }
    if (!a->nworkers) {
        ns[nns++] = "testworker";
    }
    ns[nns] = NULL;
    if (!f.r) {
        json_decref(f.rows);
        json_decref(f.seen);
        return -1;
    }
    if (dh_redis_commandf(f.r, &rep, "SMEMBERS " DH_TRACE_INDEX_FMT, a->id) ||
        rep->type != REDIS_REPLY_ARRAY) {
        ops_err(o, "redis: %s", dh_redis_errstr(f.r));
        f.failed = 1;
    }
    for (size_t i = 0; !f.failed && i < rep->elements && !full(&f); i++) {
        const char *m = rep->element[i]->str, *sp = m ? strchr(m, ' ') : NULL;
        char mns[300];

        if (!sp || sp - m >= (long)sizeof(mns)) {
            continue;
        }
        snprintf(mns, sizeof(mns), "%.*s", (int)(sp - m), m);
        f.failed = (is_batch_id(sp + 1) ? show_batch(&f, mns, sp + 1, a->id)
                                        : show_old_effect(&f, mns, sp + 1)) < 0;
    }
    for (size_t i = 0; !f.failed && ns[i] && !full(&f); i++) {
        f.failed = probe_effect(&f, ns[i], a->id) < 0;
    }
    more = json_array_size(f.rows);
    shown = f.failed ? 0 : (more > (size_t)a->max ? (size_t)a->max : more);
    for (size_t i = 0; i < shown; i++) {
        json_t *row = json_array_get(f.rows, i);

        if (o->json) {
            ops_print_json(json_incref(row));
        } else {
            print_effect(row);
        }
    }
    if (!f.failed && more > shown) {
        fprintf(stderr, "%s: more than %lld effects, first %lld shown (--max)\n", o->prog, a->max,
                a->max);
    }
    if (rep) {
        freeReplyObject(rep);
    }
    dh_redis_destroy(f.r);
    json_decref(f.rows);
    json_decref(f.seen);
    if (f.failed) {
        ops_err(o, "redis: the trace records could not be read");
        return -1;
    }
    return (int)shown;
}

static int contains(const char *hay, size_t hlen, const char *needle)
{
    size_t nl = strlen(needle);

    for (size_t i = 0; hay && nl && i + nl <= hlen; i++) {
        if (!memcmp(hay + i, needle, nl)) {
            return 1;
        }
    }
    return 0;
}

/* The key has the id as a '|'-separated part, or the payload contains it. */
static int letter_matches(const rd_kafka_message_t *m, const char *id)
{
    size_t il = strlen(id), start = 0;
    const char *k = m->key;

    for (size_t i = 0; k && i <= m->key_len; i++) {
        if (i == m->key_len || k[i] == '|') {
            if (i - start == il && !memcmp(k + start, id, il)) {
                return 1;
            }
            start = i + 1;
        }
    }
    return contains(m->payload, m->len, id);
}

/* Dead letters of one topic that mention the id; -1 when Kafka failed. */
static int trace_dlq(const ops_t *o, const char *topic, const char *id, int missing_ok)
{
    struct dlq_reader rd;
    rd_kafka_message_t *m;
    int found = 0;

    if (dlq_reader_open(o, &rd, topic, -1, -1)) {
        dlq_reader_close(o, &rd);
        return missing_ok ? 0 : -1;
    }
    while (dlq_reader_next(o, &rd, &m) > 0) {
        if (letter_matches(m, id)) {
            json_t *l = dlq_letter_json(m);

            json_object_set_new(l, "kind", json_string("dead-letter"));
            json_object_set_new(l, "topic", json_string(topic));
            dlq_print(o, l, "dead-letter", NULL);
            if (!o->json) {
                printf("    next: dh-ops dlq show %s --partition %d --offset %lld\n", topic,
                       (int)m->partition, (long long)m->offset);
            }
            json_decref(l);
            found++;
        }
        rd_kafka_message_destroy(m);
    }
    found = rd.failed ? -1 : found;
    dlq_reader_close(o, &rd);
    return found;
}

int ops_trace(const ops_t *o, int argc, char **argv)
{
    struct trace_args a;
    int effects, letters = 0, failed = 0;

    if (trace_parse(o, argc, argv, &a)) {
        return OPS_USAGE;
    }
    effects = trace_effects(o, &a);
    failed = effects < 0;
    for (int i = 0; !a.no_dlq && i < (a.ndlqs ? a.ndlqs : 6); i++) {
        /* The standard topics may not all exist in a cluster: a missing one is skipped. */
        int n = trace_dlq(o, a.ndlqs ? a.dlqs[i] : default_dlqs[i], a.id, !a.ndlqs);

        failed |= n < 0;
        letters += n > 0 ? n : 0;
    }
    fprintf(stderr, "%s: %s: %d effect(s) recorded, %d dead letter(s)%s\n", o->prog, a.id,
            effects > 0 ? effects : 0, letters,
            effects > 0 || letters ? ""
                                   : " (nothing: records live DH_TRACE_RETENTION_S; the id may be "
                                     "older, misspelt, or not yet consumed: dh-ops lag)");
    if (failed) {
        return OPS_FAIL;
    }
    return effects > 0 || letters ? OPS_OK : OPS_FAIL;
}
