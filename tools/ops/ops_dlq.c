/*
 * dh-ops dlq: dead letters. `list` prints one line per letter (why, where from, store,
 * key, whether it was redriven), `show` one letter with its payload and every header,
 * `redrive` writes the selected letters back to their original topic (a dry run unless
 * --execute). Filters: --class, --store, --key, --since/--until (the letter's time),
 * --partition/--offset. Reading uses plain assignments from each partition's start to the
 * end seen at the start: the tool never joins or commits a group.
 * The ledger is a Redis hash per dead-letter topic (dh:ops:redriven:<topic>.dlq, field
 * "<partition>@<offset>"): a letter redriven once is marked there after the broker acked
 * the copy, hidden by `list` (unless --all) and never offered to `redrive` again.
 */
#include "ops_dlq.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int dlq_opt(const ops_t *o, struct dlq_args *a, const char *opt, const char *val)
{
    long long v;
    int64_t *t = !strcmp(opt, "--since") ? &a->since_ms : &a->until_ms;

    if (!strcmp(opt, "--class")) {
        a->klass = val;
    } else if (!strcmp(opt, "--store")) {
        a->store = val;
    } else if (!strcmp(opt, "--key")) {
        a->key = val;
    } else if (!strcmp(opt, "--since") || !strcmp(opt, "--until")) {
        return ops_parse_time(o, opt, val, t);
    } else if (!strcmp(opt, "--partition") || !strcmp(opt, "--offset") || !strcmp(opt, "--max")) {
        if (ops_parse_long(o, opt, val, 0, INT64_MAX, &v)) {
            return -1;
        }
        *(!strcmp(opt, "--partition") ? &a->partition
          : !strcmp(opt, "--offset")  ? &a->offset
                                      : &a->max) = v;
    } else {
        ops_err(o, "dlq: unknown option '%s'", opt);
        return -1;
    }
    return 0;
}

static int dlq_parse(const ops_t *o, int argc, char **argv, struct dlq_args *a)
{
    size_t len;

    memset(a, 0, sizeof(*a));
    a->partition = a->offset = a->max = -1;
    a->until_ms = INT64_MAX;
    if (argc < 3 ||
        (strcmp(argv[1], "list") && strcmp(argv[1], "show") && strcmp(argv[1], "redrive"))) {
        ops_err(o, "usage: dlq list|show|redrive <topic>.dlq [--class C] [--store S] [--key K] "
                   "[--since T] [--until T] [--partition P] [--offset O] [--max N] [--all] "
                   "[--execute]");
        return -1;
    }
    a->cmd = argv[1];
    a->topic = argv[2];
    for (int i = 3; i < argc; i++) {
        if (!strcmp(argv[i], "--execute") || !strcmp(argv[i], "--all")) {
            *(argv[i][2] == 'e' ? &a->execute : &a->all) = 1;
        } else if (i + 1 >= argc) {
            ops_err(o, "dlq: %s needs a value", argv[i]);
            return -1;
        } else if (dlq_opt(o, a, argv[i], argv[i + 1])) {
            return -1;
        } else {
            i++;
        }
    }
    len = strlen(a->topic);
    if (len < 5 || strcmp(a->topic + len - 4, ".dlq")) {
        ops_err(o, "%s is not a dead-letter topic (<topic>.dlq)", a->topic);
        return -1;
    }
    if (a->execute && strcmp(a->cmd, "redrive")) {
        ops_err(o, "--execute is for redrive only");
        return -1;
    }
    if (!strcmp(a->cmd, "show") && (a->partition < 0 || a->offset < 0)) {
        ops_err(o, "show needs --partition P --offset O (from list)");
        return -1;
    }
    return 0;
}

/* Header \p name's last value, or NULL. */
static json_t *hstr(rd_kafka_headers_t *h, const char *name)
{
    const void *v;
    size_t len;

    if (!h || rd_kafka_header_get_last(h, name, &v, &len)) {
        return NULL;
    }
    return json_stringn(v ? v : "", v ? len : 0);
}

/* The store of a letter: the gateway's header, else the WMS event's "store" field. */
static json_t *letter_store(const rd_kafka_message_t *m, rd_kafka_headers_t *h)
{
    json_t *s = hstr(h, "dh-shop-domain"), *doc, *f;

    if (!s) {
        s = hstr(h, "dh-store");
    }
    if (s || !m->payload) {
        return s;
    }
    doc = json_loadb(m->payload, m->len, 0, NULL);
    f = json_object_get(doc, "store");
    s = json_is_string(f) ? json_string(json_string_value(f)) : NULL;
    json_decref(doc);
    return s;
}

json_t *dlq_letter_json(const rd_kafka_message_t *m)
{
    static const char *const names[] = {
        "dh-error-class",     "dh-error",         "dh-original-topic", "dh-original-partition",
        "dh-original-offset", "dh-attempts",      "dh-worker",         "dh-first-seen",
        "dh-last-failed",     "dh-redriven-from", "dh-correlation-id"};
    rd_kafka_headers_t *h = NULL;
    rd_kafka_timestamp_type_t tstype;
    int64_t ts = rd_kafka_message_timestamp(m, &tstype);
    char when[40];
    json_t *o;

    rd_kafka_message_headers(m, &h);
    ops_time_text(ts > 0 ? ts : 0, when, sizeof(when));
    o = json_pack("{s:i, s:I, s:s}", "partition", (int)m->partition, "offset",
                  (json_int_t)m->offset, "time", when);
    json_object_set_new(o, "key", m->key ? json_stringn(m->key, m->key_len) : json_null());
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        json_t *v = hstr(h, names[i]);

        json_object_set_new(o, names[i] + 3, v ? v : json_null());
    }
    json_object_set_new(o, "store", letter_store(m, h));
    if (json_is_null(json_object_get(o, "store"))) {
        json_object_set_new(o, "store", json_null());
    }
    return o;
}

static int str_is(json_t *v, const char *want)
{
    return json_is_string(v) && !strcmp(json_string_value(v), want);
}

/* 1 if the letter passes every filter. */
static int dlq_selected(const struct dlq_args *a, const rd_kafka_message_t *m, json_t *letter)
{
    rd_kafka_timestamp_type_t tstype;
    int64_t ts = rd_kafka_message_timestamp(m, &tstype);

    if ((a->klass && !str_is(json_object_get(letter, "error-class"), a->klass)) ||
        (a->store && !str_is(json_object_get(letter, "store"), a->store)) ||
        (a->key && !str_is(json_object_get(letter, "key"), a->key)) ||
        (a->offset >= 0 && m->offset != a->offset)) {
        return 0;
    }
    return ts >= a->since_ms && ts <= a->until_ms;
}

/* Payload as JSON when it parses, else as text; every header in order. */
static void add_detail(json_t *letter, const rd_kafka_message_t *m)
{
    rd_kafka_headers_t *h = NULL;
    json_t *hs = json_array(), *doc;
    const char *name;
    const void *val;
    size_t len, idx = 0;

    rd_kafka_message_headers(m, &h);
    while (h && !rd_kafka_header_get_all(h, idx++, &name, &val, &len)) {
        json_array_append_new(hs, json_pack("{s:s, s:s%}", "name", name, "value",
                                            val ? (const char *)val : "", val ? len : 0));
    }
    json_object_set_new(letter, "headers", hs);
    doc = m->payload ? json_loadb(m->payload, m->len, 0, NULL) : NULL;
    json_object_set_new(letter, "payload",
                        doc ? doc : json_stringn(m->payload ? m->payload : "", m->len));
}

static void print_text(const json_t *l, const char *action)
{
    const char *k = json_string_value(json_object_get(l, "key"));
    const char *c = json_string_value(json_object_get(l, "error-class"));
    const char *s = json_string_value(json_object_get(l, "store"));
    const char *e = json_string_value(json_object_get(l, "error"));
    const char *r = json_string_value(json_object_get(l, "redriven"));

    printf("%-13s %3d@%-8lld %s class=%s store=%s key=%s%s%s\n    %s\n", action,
           (int)json_integer_value(json_object_get(l, "partition")),
           (long long)json_integer_value(json_object_get(l, "offset")),
           json_string_value(json_object_get(l, "time")), c ? c : "-", s ? s : "-", k ? k : "-",
           r ? " redriven=" : "", r ? r : "", e ? e : "");
}

void dlq_print(const ops_t *o, json_t *letter, const char *action, const rd_kafka_message_t *m)
{
    json_object_set_new(letter, "action", json_string(action));
    if (m) {
        add_detail(letter, m);
    }
    if (o->json || !strcmp(o->prog, "dh-dlq")) {
        ops_emit(o, json_incref(letter));
        return;
    }
    print_text(letter, action);
    if (m) {
        char *text = json_dumps(json_object_get(letter, "headers"), JSON_COMPACT);
        char *body =
            json_dumps(json_object_get(letter, "payload"), JSON_INDENT(2) | JSON_ENCODE_ANY);

        printf("    headers: %s\n    payload:\n%s\n", text ? text : "", body ? body : "");
        free(text);
        free(body);
    }
}

static int run_read(const ops_t *o, struct dlq_reader *rd, const struct dlq_args *a,
                    struct dlq_stats *st)
{
    rd_kafka_message_t *m;
    int rc = 0;

    while (rc == 0 && (a->max < 0 || st->selected < a->max) && dlq_reader_next(o, rd, &m) > 0) {
        json_t *letter = dlq_letter_json(m);

        st->seen++;
        if (dlq_selected(a, m, letter)) {
            rc = dlq_handle(o, a, st, m, letter);
        }
        json_decref(letter);
        rd_kafka_message_destroy(m);
    }
    return rc ? rc : rd->failed ? OPS_FAIL : OPS_OK;
}

int ops_dlq(const ops_t *o, int argc, char **argv)
{
    struct dlq_args a;
    struct dlq_stats st;
    struct dlq_reader rd;
    int rc = OPS_FAIL;

    if (dlq_parse(o, argc, argv, &a)) {
        return OPS_USAGE;
    }
    memset(&st, 0, sizeof(st));
    if (dlq_reader_open(o, &rd, a.topic, (int)a.partition, a.offset)) {
        return OPS_FAIL;
    }
    if (dlq_ledger_open(o, &a, &st)) {
        goto out;
    }
    rc = run_read(o, &rd, &a, &st);
    rc = dlq_finish(o, &a, &st, rc);
out:
    dlq_ledger_close(&st);
    dlq_reader_close(o, &rd);
    return rc;
}
