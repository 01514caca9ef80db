/*
 * dh-ops validate / publish: for WMS teams producing events. `validate` runs the consuming
 * worker's own checks (the same function its decode() calls: contract, key, store, tenant
 * and facility against the stores file) and prints the dead-letter class and reason the
 * worker would give, or that it would apply the event. `publish` does the same, then
 * writes the event with the key the worker expects (derived from the event unless --key)
 * and any --header; a dry run unless --execute, and an invalid event is never written.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "dispatch.h"
#include "ops.h"

#define MAX_HEADERS 16

struct pub_args {
    const char *cmd, *topic, *key, *stores_file;
    const char *files[64];
    int nfiles;
    const char *headers[MAX_HEADERS];
    int nheaders, execute;
};

/* One event under test: the message the worker would get and what it would do. */
struct pub_event {
    dh_msg_t msg;
    char *payload;
    size_t len;
    char key[1400];
    const char *klass; /* NULL: the worker would apply it */
    char reason[700];
    char event_id[40], store[264];
};

static int pub_parse(const ops_t *o, int argc, char **argv, struct pub_args *a)
{
    memset(a, 0, sizeof(*a));
    a->cmd = argv[0];
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--execute") && !strcmp(a->cmd, "publish")) {
            a->execute = 1;
        } else if (i + 1 < argc && !strcmp(argv[i], "--topic")) {
            a->topic = argv[++i];
        } else if (i + 1 < argc && !strcmp(argv[i], "--key")) {
            a->key = argv[++i];
        } else if (i + 1 < argc && !strcmp(argv[i], "--stores")) {
            a->stores_file = argv[++i];
        } else if (i + 1 < argc && !strcmp(argv[i], "--header") && a->nheaders < MAX_HEADERS &&
                   strchr(argv[i + 1], '=') && argv[i + 1][0] != '=') {
            a->headers[a->nheaders++] = argv[++i];
        } else if (argv[i][0] != '-' && a->nfiles < 64) {
            a->files[a->nfiles++] = argv[i];
        } else {
            ops_err(o, "%s: unexpected argument '%s'", a->cmd, argv[i]);
            return -1;
        }
    }
    if (!a->topic || !a->nfiles || (!strcmp(a->cmd, "publish") && a->nfiles != 1)) {
        ops_err(o, "usage: %s --topic T [--key K] [--stores FILE]%s FILE%s", a->cmd,
                !strcmp(a->cmd, "publish") ? " [--header NAME=VALUE]... [--execute]" : "",
                !strcmp(a->cmd, "publish") ? "" : "...");
        return -1;
    }
    if (!strstr(a->topic, "putaway") && !strstr(a->topic, "zone_move") &&
        !strstr(a->topic, "dispatch")) {
        ops_err(o, "%s: no worker checks for topic %s (wms.putaway, wms.zone_move, wms.dispatch)",
                a->cmd, a->topic);
        return -1;
    }
    return 0;
}

static char *read_file(const ops_t *o, const char *path, size_t *len)
{
    FILE *fp = strcmp(path, "-") ? fopen(path, "rb") : stdin;
    char *buf = NULL;
    size_t cap = 0, n;

    *len = 0;
    if (!fp) {
        ops_err(o, "%s: cannot open", path);
        return NULL;
    }
    do {
        if (*len + 4096 > cap) {
            char *nb = realloc(buf, cap = cap * 2 + 8192);

            if (!nb) {
                break;
            }
            buf = nb;
        }
        n = fread(buf + *len, 1, cap - *len - 1, fp);
        *len += n;
    } while (n > 0 && *len < 4 * 1024 * 1024);
    if (fp != stdin) {
        fclose(fp);
    }
    if (buf) {
        buf[*len] = '\0';
    }
    return buf;
}

/* The key the worker expects, derived the way the worker checks it; "" if unparseable. */
static void derive_key(struct pub_event *e, int inventory)
{
    char err[64];

    e->key[0] = '\0';
    if (inventory) {
        inv_event_t ev;

        if (inv_event_parse(e->payload, e->len, inv_kind_of_topic(e->msg.topic), &ev, err,
                            sizeof(err)) == INV_PARSE_OK) {
            snprintf(e->key, sizeof(e->key), "%s|%s|%s", ev.scope, ev.facility, ev.sku);
        }
        return;
    }
    dispatch_event_t dv;

    memset(&dv, 0, sizeof(dv));
    if (dispatch_event_parse(e->payload, e->len, &dv, err, sizeof(err)) == DISPATCH_PARSE_OK) {
        snprintf(e->key, sizeof(e->key), "%s|%s", dv.env.scope, dv.order_id);
    }
    dispatch_event_clear(&dv);
}

/* The worker's own checks. */
static void check_event(const dh_stores_t *stores, struct pub_event *e, int inventory)
{
    if (inventory) {
        inv_item_t *it = calloc(1, sizeof(*it));

        e->klass =
            it ? inv_event_check(stores, &e->msg, it, e->reason, sizeof(e->reason)) : "internal";
        if (it && !e->klass) {
            snprintf(e->event_id, sizeof(e->event_id), "%s", it->ev.event_id);
            snprintf(e->store, sizeof(e->store), "%s", it->store->domain);
        }
        free(it);
        return;
    }
    dispatch_event_t dv;
    const dh_store_t *st = NULL;

    memset(&dv, 0, sizeof(dv));
    e->klass = dispatch_event_check(stores, &e->msg, &dv, &st, e->reason, sizeof(e->reason));
    if (!e->klass) {
        snprintf(e->event_id, sizeof(e->event_id), "%s", dv.env.event_id);
        snprintf(e->store, sizeof(e->store), "%s", st->domain);
    }
    dispatch_event_clear(&dv);
}

static void report(const ops_t *o, const char *file, const struct pub_event *e, const char *action)
{
    json_t *r = json_pack("{s:s, s:s, s:s, s:s, s:b}", "action", action, "file", file, "topic",
                          e->msg.topic, "key", e->key, "valid", !e->klass);

    json_object_set_new(r, "class", e->klass ? json_string(e->klass) : json_null());
    json_object_set_new(r, "reason", e->klass ? json_string(e->reason) : json_null());
    json_object_set_new(r, "event_id", e->klass ? json_null() : json_string(e->event_id));
    json_object_set_new(r, "store", e->klass ? json_null() : json_string(e->store));
    if (o->json) {
        ops_print_json(r);
        return;
    }
    if (e->klass) {
        printf("%s: INVALID: the worker would dead-letter it: %s: %s\n", file, e->klass, e->reason);
    } else {
        printf("%s: %s: key %s, event %s, store %s\n", file, action, e->key, e->event_id, e->store);
    }
    json_decref(r);
}

static int load_stores(const ops_t *o, const struct pub_args *a, dh_stores_t **stores)
{
    const char *path = a->stores_file ? a->stores_file : dh_config_get(o->cfg, "DH_STORES_FILE");
    char errstr[2048] = "";

    if (!path || !*path) {
        ops_err(o, "%s needs the workers' stores file: DH_STORES_FILE or --stores FILE", a->cmd);
        return OPS_USAGE;
    }
    if (dh_stores_load(path, stores, errstr, sizeof(errstr))) {
        ops_err(o, "stores file %s: %s", path, errstr);
        return OPS_USAGE;
    }
    return OPS_OK;
}

static int prepare(const ops_t *o, const struct pub_args *a, const dh_stores_t *stores,
                   const char *file, struct pub_event *e)
{
    int inventory = !strstr(a->topic, "dispatch");

    memset(e, 0, sizeof(*e));
    e->payload = read_file(o, file, &e->len);
    if (!e->payload) {
        return -1;
    }
    e->msg.topic = a->topic;
    e->msg.payload = e->payload;
    e->msg.len = e->len;
    if (a->key) {
        snprintf(e->key, sizeof(e->key), "%s", a->key);
    } else {
        derive_key(e, inventory);
    }
    e->msg.key = e->key;
    e->msg.key_len = strlen(e->key);
    check_event(stores, e, inventory);
    return 0;
}

/* The write's delivery report: partition and offset, or the broker's error. */
struct delivery {
    rd_kafka_resp_err_t err;
    int32_t partition;
    int64_t offset;
};

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    struct delivery *d = m->_private;

    (void)rk;
    (void)opaque;
    d->err = m->err;
    d->partition = m->partition;
    d->offset = m->offset;
}

static int write_event(const ops_t *o, const struct pub_args *a, const struct pub_event *e)
{
    rd_kafka_t *p = ops_producer_new(o, on_delivery);
    rd_kafka_headers_t *hs = rd_kafka_headers_new(MAX_HEADERS);
    struct delivery d = {RD_KAFKA_RESP_ERR__IN_PROGRESS, -1, -1};
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR__FAIL;

    for (int i = 0; i < a->nheaders; i++) {
        const char *eq = strchr(a->headers[i], '=');

        rd_kafka_header_add(hs, a->headers[i], eq - a->headers[i], eq + 1, -1);
    }
    if (p) {
        err = rd_kafka_producev(
            p, RD_KAFKA_V_TOPIC(a->topic), RD_KAFKA_V_KEY(e->key, strlen(e->key)),
            RD_KAFKA_V_VALUE(e->payload, e->len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_HEADERS(hs), RD_KAFKA_V_OPAQUE(&d), RD_KAFKA_V_END);
    }
    if (err) {
        rd_kafka_headers_destroy(hs);
    } else {
        rd_kafka_flush(p, o->timeout_ms);
        err = d.err;
    }
    if (p) {
        rd_kafka_destroy(p);
    }
    if (err) {
        ops_err(o, "publish to %s: %s", a->topic,
                err == RD_KAFKA_RESP_ERR__IN_PROGRESS ? "not acknowledged in time"
                                                      : rd_kafka_err2str(err));
        return OPS_FAIL;
    }
    fprintf(stderr, "%s: published to %s [%d] at offset %lld\n", o->prog, a->topic,
            (int)d.partition, (long long)d.offset);
    return OPS_OK;
}

int ops_publish(const ops_t *o, int argc, char **argv)
{
    struct pub_args a;
    struct pub_event e;
    dh_stores_t *stores = NULL;
    int rc;

    if (pub_parse(o, argc, argv, &a)) {
        return OPS_USAGE;
    }
    rc = load_stores(o, &a, &stores);
    for (int i = 0; rc == OPS_OK && i < a.nfiles; i++) {
        if (prepare(o, &a, stores, a.files[i], &e)) {
            rc = OPS_FAIL;
            break;
        }
        if (!strcmp(a.cmd, "validate")) {
            report(o, a.files[i], &e, "validate");
            rc = e.klass ? OPS_FAIL : OPS_OK;
        } else if (e.klass) {
            report(o, a.files[i], &e, "refused");
            ops_err(o, "not published: the worker would dead-letter it");
            rc = OPS_FAIL;
        } else {
            report(o, a.files[i], &e, a.execute ? "published" : "would-publish");
            rc = a.execute ? write_event(o, &a, &e) : OPS_OK;
            if (!a.execute) {
                fprintf(stderr, "%s: dry run: nothing written (add --execute)\n", o->prog);
            }
        }
        free(e.payload);
    }
    dh_stores_destroy(stores);
    return rc;
}
