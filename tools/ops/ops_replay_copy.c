/*
 * dh-ops replay, filtered mode: read a topic from a time (to a time, or to the end seen
 * at the start), select events by store, key or SKU, and re-publish copies of them to the
 * same topic and partition with the original key, value and headers plus
 * dh-replay-of: <topic>/<partition>/<offset>. The workers' groups keep running.
 *
 *   --recheck  the copies go through the normal idempotency path: what is recorded done is
 *              skipped, anything not done is done now.
 *   --reapply  each copy also carries dh-reapply: <nonce>: the runtime treats it as a NEW
 *              effect (record and far keys get the nonce, common/src/reapply.c), so the
 *              effect is performed again at Shopify or the WMS.
 *
 * A dry run unless --execute. Copies of earlier replays (dh-replay-of) are never selected.
 * More than --max matching events is refused (exit 3). Not the offset reset of a stopped
 * group: that is `replay --group` (ops_replay.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dockhand/worker.h"
#include "ops.h"

#define MAX_SKUS  16
#define SHOW_IDS  5
#define ID_SIZE   128
#define NONCE_MAX DH_REAPPLY_NONCE_MAX

struct copy_args {
    const char *topic, *store, *key, *skus[MAX_SKUS];
    int nskus;
    int64_t from_ms, to_ms; /* to_ms -1: the end seen at the start */
    int reapply, recheck, execute;
    long long max;
    char nonce[NONCE_MAX + 1];
};

/* One selected event: its message, kept until published. */
struct sel {
    rd_kafka_message_t *m;
    uint64_t khash;
    int newer; /* a later event of the same key was read: it may supersede the copy */
    char id[ID_SIZE];
};

struct copy_run {
    int n; /* partitions */
    int64_t *start, *end, *pos, *read, *picked;
    struct sel *sel;
    size_t nsel;
    long long matched, copies_seen, newer;
};

static int nonce_ok(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > NONCE_MAX) {
        return 0;
    }
    return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == n;
}

static int copy_opt(const ops_t *o, struct copy_args *a, char **argv, int *i, int argc)
{
    const char *opt = argv[*i], *v = *i + 1 < argc ? argv[*i + 1] : NULL;

    if (!v) {
        ops_err(o, "replay: unexpected argument '%s'", opt);
        return -1;
    }
    (*i)++;
    if (!strcmp(opt, "--topic")) {
        a->topic = v;
    } else if (!strcmp(opt, "--from")) {
        return ops_parse_time(o, "--from", v, &a->from_ms);
    } else if (!strcmp(opt, "--to")) {
        return ops_parse_time(o, "--to", v, &a->to_ms);
    } else if (!strcmp(opt, "--store") && *v) {
        a->store = v;
    } else if (!strcmp(opt, "--key") && *v) {
        a->key = v;
    } else if (!strcmp(opt, "--sku") && *v && a->nskus < MAX_SKUS) {
        a->skus[a->nskus++] = v;
    } else if (!strcmp(opt, "--max")) {
        return ops_parse_long(o, "--max", v, 1, 1000000, &a->max);
    } else if (!strcmp(opt, "--nonce") && nonce_ok(v)) {
        snprintf(a->nonce, sizeof(a->nonce), "%s", v);
    } else {
        ops_err(o, "replay: bad %s '%s' (%s)", opt, v,
                !strcmp(opt, "--nonce") ? "1-64 of [A-Za-z0-9._-]"
                : !strcmp(opt, "--sku") ? "non-empty, at most 16 --sku"
                                        : "must not be empty");
        return -1;
    }
    return 0;
}

static int copy_parse(const ops_t *o, int argc, char **argv, struct copy_args *a)
{
    memset(a, 0, sizeof(*a));
    a->from_ms = a->to_ms = -1;
    a->max = 1000;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--execute")) {
            a->execute = 1;
        } else if (!strcmp(argv[i], "--reapply")) {
            a->reapply = 1;
        } else if (!strcmp(argv[i], "--recheck")) {
            a->recheck = 1;
        } else if (copy_opt(o, a, argv, &i, argc)) {
            return -1;
        }
    }
    if (!a->topic || a->from_ms < 0 || a->reapply == a->recheck) {
        ops_err(o, "usage: replay --topic T --from TIME [--to TIME] [--store DOMAIN] [--key K] "
                   "[--sku SKU]... (--recheck | --reapply) [--nonce N] [--max N] [--execute]");
        return -1;
    }
    if (a->to_ms >= 0 && a->to_ms <= a->from_ms) {
        ops_err(o, "replay: --to must be after --from");
        return -1;
    }
    if (a->nonce[0] && !a->reapply) {
        ops_err(o, "replay: --nonce goes with --reapply");
        return -1;
    }
    if (a->reapply && !a->nonce[0]) {
        /* One nonce per run; --nonce repeats it (a run that failed half-way, again). */
        snprintf(a->nonce, sizeof(a->nonce), "%llx-%x", (long long)time(NULL), (unsigned)getpid());
    }
    return 0;
}

static uint64_t fnv(const void *p, size_t n)
{
    uint64_t h = 1469598103934665603ULL;

    for (size_t i = 0; i < n; i++) {
        h = (h ^ ((const unsigned char *)p)[i]) * 1099511628211ULL;
    }
    return h;
}

static const char *header(const rd_kafka_message_t *m, const char *name, size_t *len)
{
    rd_kafka_headers_t *h = NULL;
    const void *v = NULL;

    *len = 0;
    if (rd_kafka_message_headers(m, &h) || rd_kafka_header_get_last(h, name, &v, len) || !v) {
        return NULL;
    }
    return v;
}

static int same(const char *v, size_t len, const char *want)
{
    return v && len == strlen(want) && !memcmp(v, want, len);
}

/* The store as the workers read it: the gateway's header, else the WMS envelope's store
 * or tenant, else the key's first part (<store-or-tenant>|...). */
static int store_match(const rd_kafka_message_t *m, json_t *root, const char *store)
{
    size_t len;
    const char *v = header(m, "dh-shop-domain", &len);
    const char *st = json_string_value(json_object_get(root, "store"));
    const char *tn = json_string_value(json_object_get(root, "tenant"));
    const char *bar;

    if (!v) {
        v = header(m, "dh-store", &len);
    }
    if (v) {
        return same(v, len, store);
    }
    if (st || tn) {
        return (st && !strcmp(st, store)) || (tn && !strcmp(tn, store));
    }
    bar = m->key ? memchr(m->key, '|', m->key_len) : NULL;
    return bar && same(m->key, (size_t)(bar - (const char *)m->key), store);
}

static int sku_in(json_t *v, const struct copy_args *a)
{
    const char *s = json_string_value(v);

    for (int i = 0; s && i < a->nskus; i++) {
        if (!strcmp(s, a->skus[i])) {
            return 1;
        }
    }
    return 0;
}

/* SKUs where the contracts carry them: an inventory event's "sku", a dispatch's or return's
 * "lines[].sku", an order's "line_items[].sku", a product's "variants[].sku". */
static int sku_match(json_t *root, const struct copy_args *a)
{
    static const char *const arrays[] = {"lines", "line_items", "variants"};
    size_t i;
    json_t *it;

    if (sku_in(json_object_get(root, "sku"), a)) {
        return 1;
    }
    for (size_t k = 0; k < sizeof(arrays) / sizeof(arrays[0]); k++) {
        json_array_foreach(json_object_get(root, arrays[k]), i, it)
        {
            if (sku_in(json_object_get(it, "sku"), a)) {
                return 1;
            }
        }
    }
    return 0;
}

static int selected(const rd_kafka_message_t *m, const struct copy_args *a, json_t *root)
{
    if (a->key && !(m->key && same(m->key, m->key_len, a->key))) {
        return 0;
    }
    if (a->store && !store_match(m, root, a->store)) {
        return 0;
    }
    return !a->nskus || sku_match(root, a);
}

/* What an operator calls the event: its event id, else its id, else the delivery id. */
static void event_id(const rd_kafka_message_t *m, json_t *root, char *buf, size_t size)
{
    json_t *v = json_object_get(root, "event_id");
    size_t len;
    const char *h = header(m, "dh-webhook-id", &len);

    v = v ? v : json_object_get(root, "id");
    if (json_is_string(v)) {
        snprintf(buf, size, "%s", json_string_value(v));
    } else if (json_is_integer(v)) {
        snprintf(buf, size, "%lld", (long long)json_integer_value(v));
    } else if (h) {
        snprintf(buf, size, "%.*s", (int)(len < size ? len : size - 1), h);
    } else {
        snprintf(buf, size, "%d@%lld", (int)m->partition, (long long)m->offset);
    }
}

/* A later event of a selected event's key: that selection may be superseded. */
static void mark_newer(struct copy_run *r, const rd_kafka_message_t *m)
{
    uint64_t h = fnv(m->key, m->key_len);

    for (size_t i = 0; m->key && i < r->nsel; i++) {
        struct sel *s = &r->sel[i];

        if (!s->newer && s->khash == h && s->m->partition == m->partition &&
            s->m->offset < m->offset && s->m->key_len == m->key_len &&
            !memcmp(s->m->key, m->key, m->key_len)) {
            s->newer = 1;
            r->newer++;
        }
    }
}

/* Look at one message read; keeps it (*taken) when selected and within --max. */
static void consider(struct copy_run *r, const struct copy_args *a, rd_kafka_message_t *m,
                     int *taken)
{
    size_t len;
    json_t *root = NULL;

    *taken = 0;
    r->read[m->partition]++;
    if (header(m, DH_REPLAY_OF_HEADER, &len)) {
        r->copies_seen++; /* a copy of an earlier replay: never copied again, nor newer */
        return;
    }
    mark_newer(r, m);
    root = m->payload ? json_loadb(m->payload, m->len, 0, NULL) : NULL;
    if (selected(m, a, root)) {
        r->matched++;
        r->picked[m->partition]++;
        if ((long long)r->nsel < a->max) {
            struct sel *s = &r->sel[r->nsel++];

            s->m = m;
            s->khash = fnv(m->key, m->key_len);
            s->newer = 0;
            event_id(m, root, s->id, sizeof(s->id));
            *taken = 1;
        }
    }
    json_decref(root);
}

/* Per partition: the first offset at or after --from, and the end: the first at or after
 * --to, else the end now (so the copies this run writes are never read back). */
static int copy_range(const ops_t *o, rd_kafka_t *rk, const struct copy_args *a, struct copy_run *r)
{
    rd_kafka_topic_partition_list_t *f = rd_kafka_topic_partition_list_new(r->n);
    rd_kafka_topic_partition_list_t *t = rd_kafka_topic_partition_list_new(r->n);
    rd_kafka_resp_err_t err;
    int rc = -1;

    for (int p = 0; p < r->n; p++) {
        rd_kafka_topic_partition_list_add(f, a->topic, p)->offset = a->from_ms;
        rd_kafka_topic_partition_list_add(t, a->topic, p)->offset = a->to_ms;
    }
    err = rd_kafka_offsets_for_times(rk, f, o->timeout_ms);
    if (!err && a->to_ms >= 0) {
        err = rd_kafka_offsets_for_times(rk, t, o->timeout_ms);
    }
    for (int p = 0; !err && p < r->n; p++) {
        int64_t lo = 0, hi = 0, s = f->elems[p].offset, e = t->elems[p].offset;

        err = f->elems[p].err ? f->elems[p].err : (a->to_ms >= 0 ? t->elems[p].err : 0);
        if (!err && ops_watermarks(o, rk, a->topic, p, &lo, &hi)) {
            goto out;
        }
        r->start[p] = s < 0 ? hi : s;
        r->end[p] = a->to_ms < 0 || e < 0 ? hi : e;
        r->end[p] = r->end[p] < r->start[p] ? r->start[p] : r->end[p];
        r->pos[p] = r->start[p];
    }
    if (err) {
        ops_err(o, "offsets of %s at the times: %s", a->topic, rd_kafka_err2str(err));
        goto out;
    }
    rc = 0;
out:
    rd_kafka_topic_partition_list_destroy(f);
    rd_kafka_topic_partition_list_destroy(t);
    return rc;
}

static int read_done(const struct copy_run *r)
{
    for (int p = 0; p < r->n; p++) {
        if (r->pos[p] < r->end[p]) {
            return 0;
        }
    }
    return 1;
}

/* Read every partition from start to end; a poll without progress for the request
 * timeout is a failure. */
static int copy_read(const ops_t *o, rd_kafka_t *c, const struct copy_args *a, struct copy_run *r)
{
    rd_kafka_topic_partition_list_t *tpl = rd_kafka_topic_partition_list_new(r->n);
    int64_t deadline = (int64_t)time(NULL) + o->timeout_ms / 1000 + 1;
    int rc = -1, taken;

    for (int p = 0; p < r->n; p++) {
        if (r->start[p] < r->end[p]) {
            rd_kafka_topic_partition_list_add(tpl, a->topic, p)->offset = r->start[p];
        }
    }
    if (tpl->cnt && rd_kafka_assign(c, tpl)) {
        ops_err(o, "cannot read %s", a->topic);
        goto out;
    }
    while (!read_done(r) && (int64_t)time(NULL) <= deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 200);

        if (!m) {
            continue;
        }
        taken = 0;
        if (m->partition < 0 || m->partition >= r->n) {
            /* not ours */
        } else if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            r->pos[m->partition] = r->end[m->partition];
        } else if (m->err) {
            ops_err(o, "reading %s: %s", a->topic, rd_kafka_message_errstr(m));
            rd_kafka_message_destroy(m);
            goto out;
        } else if (m->offset >= r->end[m->partition]) {
            r->pos[m->partition] = r->end[m->partition];
        } else {
            r->pos[m->partition] = m->offset + 1;
            deadline = (int64_t)time(NULL) + o->timeout_ms / 1000 + 1;
            consider(r, a, m, &taken);
        }
        if (!taken) {
            rd_kafka_message_destroy(m);
        }
    }
    rc = read_done(r) ? 0 : -1;
    if (rc) {
        ops_err(o, "reading %s: no progress in %d ms", a->topic, o->timeout_ms);
    }
out:
    rd_kafka_topic_partition_list_destroy(tpl);
    return rc;
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    (void)opaque;
    *(rd_kafka_resp_err_t *)m->_private = m->err;
}

/* The original headers (the gateway's envelope included) minus an earlier replay's marks,
 * plus this replay's. */
static rd_kafka_headers_t *copy_headers(const struct copy_args *a, const rd_kafka_message_t *m)
{
    rd_kafka_headers_t *h = NULL, *out = rd_kafka_headers_new(8);
    const char *name;
    const void *val;
    size_t len, idx = 0;
    char of[400];

    rd_kafka_message_headers(m, &h);
    while (h && !rd_kafka_header_get_all(h, idx++, &name, &val, &len)) {
        if (strcmp(name, DH_REPLAY_OF_HEADER) && strcmp(name, DH_REAPPLY_HEADER)) {
            rd_kafka_header_add(out, name, -1, val, (ssize_t)len);
        }
    }
    snprintf(of, sizeof(of), "%s/%d/%lld", a->topic, (int)m->partition, (long long)m->offset);
    rd_kafka_header_add(out, DH_REPLAY_OF_HEADER, -1, of, -1);
    if (a->reapply) {
        rd_kafka_header_add(out, DH_REAPPLY_HEADER, -1, a->nonce, -1);
    }
    return out;
}

/* Write every copy to its original partition (per-key order kept), then wait for every
 * ack. Returns the number acknowledged; each failure is printed. */
static long long copy_publish(const ops_t *o, const struct copy_args *a, const struct copy_run *r)
{
    rd_kafka_t *pr = ops_producer_new(o, on_delivery);
    rd_kafka_resp_err_t *st = calloc(r->nsel ? r->nsel : 1, sizeof(*st));
    long long ok = 0;
    size_t sent = 0;

    for (size_t i = 0; pr && st && i < r->nsel; i++, sent++) {
        const rd_kafka_message_t *m = r->sel[i].m;
        rd_kafka_headers_t *hs = copy_headers(a, m);
        rd_kafka_resp_err_t err;

        st[i] = RD_KAFKA_RESP_ERR__IN_PROGRESS;
        err = rd_kafka_producev(pr, RD_KAFKA_V_TOPIC(a->topic), RD_KAFKA_V_PARTITION(m->partition),
                                RD_KAFKA_V_KEY(m->key, m->key_len),
                                RD_KAFKA_V_VALUE(m->payload, m->len),
                                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(hs),
                                RD_KAFKA_V_OPAQUE(&st[i]), RD_KAFKA_V_END);
        if (err) {
            rd_kafka_headers_destroy(hs);
            ops_err(o, "copy of %s [%d] at %lld: %s", a->topic, (int)m->partition,
                    (long long)m->offset, rd_kafka_err2str(err));
            break; /* later copies of a key must not overtake this one */
        }
    }
    if (pr) {
        rd_kafka_flush(pr, o->timeout_ms + 15000);
    }
    for (size_t i = 0; st && i < sent; i++) {
        if (st[i] == RD_KAFKA_RESP_ERR_NO_ERROR) {
            ok++;
        } else {
            ops_err(o, "copy of %s [%d] at %lld: %s", a->topic, (int)r->sel[i].m->partition,
                    (long long)r->sel[i].m->offset,
                    st[i] == RD_KAFKA_RESP_ERR__IN_PROGRESS ? "not acknowledged in time"
                                                            : rd_kafka_err2str(st[i]));
        }
    }
    free(st);
    if (pr) {
        rd_kafka_destroy(pr);
    }
    return ok;
}

static json_t *partition_row(const struct copy_args *a, const struct copy_run *r, int p)
{
    json_t *ids = json_array();
    long long newer = 0;

    for (size_t i = 0; i < r->nsel; i++) {
        if (r->sel[i].m->partition != p) {
            continue;
        }
        newer += r->sel[i].newer;
        if (json_array_size(ids) < SHOW_IDS) {
            json_array_append_new(ids, json_string(r->sel[i].id));
        }
    }
    return json_pack("{s:s, s:s, s:s, s:i, s:I, s:I, s:I, s:I, s:o, s:I}", "action",
                     a->execute ? "republished" : "would-republish", "mode",
                     a->reapply ? "reapply" : "recheck", "topic", a->topic, "partition", p, "from",
                     (json_int_t)r->start[p], "to", (json_int_t)r->end[p], "read",
                     (json_int_t)r->read[p], "selected", (json_int_t)r->picked[p], "first_ids", ids,
                     "newer_later", (json_int_t)newer);
}

static void copy_print(const ops_t *o, const struct copy_args *a, const struct copy_run *r)
{
    for (int p = 0; p < r->n; p++) {
        json_t *row = partition_row(a, r, p);
        json_t *ids = json_object_get(row, "first_ids");
        size_t i;
        json_t *v;

        if (o->json) {
            ops_print_json(row);
            continue;
        }
        printf("%-15s %s [%d] offsets %lld..%lld: %lld of %lld read",
               a->execute ? "republished" : "would-republish", a->topic, p, (long long)r->start[p],
               (long long)r->end[p], (long long)r->picked[p], (long long)r->read[p]);
        json_array_foreach(ids, i, v)
        {
            printf("%s%s", i ? " " : ", first ids: ", json_string_value(v));
        }
        putchar('\n');
        json_decref(row);
    }
}

/* Said before anything is written, and in the dry run: what the copies will do. */
static void copy_warn(const ops_t *o, const struct copy_args *a, const struct copy_run *r)
{
    if (a->reapply && r->nsel) {
        fprintf(stderr,
                "%s: WARNING: --reapply: the %zu selected event(s) %s performed AGAIN at "
                "Shopify / the WMS: the workers treat each copy as a NEW event (idempotency "
                "records and far-side idempotency keys get the nonce %s). Use --recheck to "
                "only complete what is not done.\n",
                o->prog, r->nsel, a->execute ? "will be" : "would be", a->nonce);
    }
    if (r->newer) {
        fprintf(stderr,
                "%s: WARNING: %lld selected event(s) have a newer event of the same key later "
                "in what was read%s: their copies may be SUPERSEDED: a worker that keeps a "
                "sequence per key (inventory; a dispatch's delivery status) ignores a copy "
                "whose sequence is not above the last applied. That is correct: the newer "
                "state stays.\n",
                o->prog, r->newer, a->to_ms >= 0 ? " (events after --to were not read)" : "");
    }
    if (r->copies_seen) {
        fprintf(stderr, "%s: %lld copies of earlier replays (%s) were read and not selected\n",
                o->prog, r->copies_seen, DH_REPLAY_OF_HEADER);
    }
}

static void copy_summary(const ops_t *o, const struct copy_args *a, const struct copy_run *r,
                         long long written, int rc)
{
    long long read = 0;

    for (int p = 0; p < r->n; p++) {
        read += r->read[p];
    }
    if (o->json) {
        json_t *row =
            json_pack("{s:s, s:s, s:s, s:s?, s:I, s:I, s:I, s:I, s:b}", "action", "summary", "mode",
                      a->reapply ? "reapply" : "recheck", "topic", a->topic, "nonce",
                      a->reapply ? a->nonce : NULL, "read", (json_int_t)read, "selected",
                      (json_int_t)r->matched, "written", (json_int_t)written, "newer_later",
                      (json_int_t)r->newer, "executed", a->execute);

        json_object_set_new(row, "earlier_copies", json_integer(r->copies_seen));
        json_object_set_new(row, "refused", json_boolean(rc == OPS_REFUSED));
        ops_print_json(row);
    }
    fprintf(stderr, "%s: %lld event(s) read, %lld selected, ", o->prog, read, r->matched);
    if (rc == OPS_REFUSED) {
        fprintf(stderr, "refused: more than --max %lld: narrow the filters or raise --max\n",
                a->max);
    } else if (!a->execute) {
        fprintf(stderr, "dry run: nothing written (add --execute)\n");
    } else {
        fprintf(stderr, "%lld cop%s written%s\n", written, written == 1 ? "y" : "ies",
                rc == OPS_OK ? "" : ": the replay FAILED part-way (run it again with --nonce)");
    }
}

static void run_free(struct copy_run *r)
{
    for (size_t i = 0; r->sel && i < r->nsel; i++) {
        rd_kafka_message_destroy(r->sel[i].m);
    }
    free(r->sel);
    free(r->start);
    free(r->end);
    free(r->pos);
    free(r->read);
    free(r->picked);
}

static int run_alloc(struct copy_run *r, int n, long long max)
{
    memset(r, 0, sizeof(*r));
    r->n = n;
    r->start = calloc((size_t)n, sizeof(int64_t));
    r->end = calloc((size_t)n, sizeof(int64_t));
    r->pos = calloc((size_t)n, sizeof(int64_t));
    r->read = calloc((size_t)n, sizeof(int64_t));
    r->picked = calloc((size_t)n, sizeof(int64_t));
    r->sel = calloc((size_t)max, sizeof(*r->sel));
    return r->start && r->end && r->pos && r->read && r->picked && r->sel ? 0 : -1;
}

int ops_replay_copy(const ops_t *o, int argc, char **argv)
{
    struct copy_args a;
    struct copy_run r;
    rd_kafka_t *c = NULL;
    long long written = 0;
    int n, rc = OPS_FAIL;

    memset(&r, 0, sizeof(r));
    if (copy_parse(o, argc, argv, &a)) {
        return OPS_USAGE;
    }
    c = ops_consumer_new(o, NULL);
    n = c ? ops_partitions(o, c, a.topic) : -1;
    if (n <= 0 || run_alloc(&r, n, a.max) || copy_range(o, c, &a, &r) || copy_read(o, c, &a, &r)) {
        goto out;
    }
    rc = r.matched > a.max ? OPS_REFUSED : OPS_OK;
    if (rc == OPS_OK) {
        copy_warn(o, &a, &r);
    }
    if (rc == OPS_OK && a.execute && r.nsel) {
        written = copy_publish(o, &a, &r);
        rc = written == (long long)r.nsel ? OPS_OK : OPS_FAIL;
    }
    if (rc != OPS_REFUSED) {
        copy_print(o, &a, &r);
    }
    copy_summary(o, &a, &r, written, rc);
out:
    run_free(&r);
    if (c) {
        rd_kafka_consumer_close(c);
        ops_kafka_destroy(o, c);
    }
    return rc;
}
