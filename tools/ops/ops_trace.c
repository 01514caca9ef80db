/*
 * dh-ops trace <id>: what happened to an event id, order id, SKU, correlation id, webhook
 * id or effect id. From Redis: every effect the runtime recorded for it (the trace index
 * dh:trace:<id> and each effect's idempotency record and trace record, dockhand/trace.h):
 * outcome, time, worker instance, origin offset, duration, the far-side idempotency key.
 * From Kafka: every dead letter whose key has it as a part or whose payload contains it.
 * Then where to look next. Exit 0 when anything was found, 1 when nothing was.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dockhand/trace.h"
#include "ops_dlq.h"

#define MAX_DLQS 16

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
    int ndlqs, no_dlq;
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
                   "[--no-dlq] [--max N]");
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

/* One effect "<ns> <effect id>": its idempotency record's state and its trace record. */
static int show_effect(const ops_t *o, dh_redis_t *r, const char *member)
{
    const char *sp = strchr(member, ' ');
    char key[700];
    int err = 0;
    json_t *state, *info, *row;

    if (!sp) {
        return 0;
    }
    snprintf(key, sizeof(key), "%.*s:idem:%s", (int)(sp - member), member, sp + 1);
    state = ops_redis_get(r, key, &err);
    snprintf(key, sizeof(key), "%.*s:idem-info:%s", (int)(sp - member), member, sp + 1);
    info = ops_redis_get(r, key, &err);
    row = info ? json_loads(json_string_value(info), 0, NULL) : NULL;
    row = row ? row : json_pack("{s:s}", "effect", sp + 1);
    json_object_set_new(row, "kind", json_string("effect"));
    json_object_set_new(row, "record", state ? state : json_string("absent (expired?)"));
    json_decref(info);
    if (o->json) {
        ops_print_json(row);
    } else {
        print_effect(row);
        json_decref(row);
    }
    return err ? -1 : 1;
}

/* Every effect of the index; the number shown, or -1 on a Redis error. */
static int trace_effects(const ops_t *o, const struct trace_args *a)
{
    dh_redis_t *r = ops_redis_new(o);
    redisReply *rep = NULL;
    int found = 0;

    if (!r) {
        return -1;
    }
    if (dh_redis_commandf(r, &rep, "SMEMBERS " DH_TRACE_INDEX_FMT, a->id) ||
        rep->type != REDIS_REPLY_ARRAY) {
        ops_err(o, "redis: %s", dh_redis_errstr(r));
        found = -1;
    }
    for (size_t i = 0; found >= 0 && i < rep->elements && found < a->max; i++) {
        int n = show_effect(o, r, rep->element[i]->str);

        found = n < 0 ? -1 : found + n;
    }
    if (found >= 0 && rep->elements > (size_t)a->max) {
        fprintf(stderr, "%s: %zu effects, first %lld shown (--max)\n", o->prog, rep->elements,
                a->max);
    }
    if (rep) {
        freeReplyObject(rep);
    }
    dh_redis_destroy(r);
    if (found < 0) {
        ops_err(o, "redis: the trace records could not be read");
    }
    return found;
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
        dlq_reader_close(&rd);
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
    dlq_reader_close(&rd);
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
