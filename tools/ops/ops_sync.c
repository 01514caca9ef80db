/*
 * dh-ops sync: a full stock sync of a store (dh-inventory's on-demand request, the Redis
 * key dh:inv:sync:request:<store>, taken with GETDEL by the first replica that sees it;
 * docs/inventory.md), or, with --sku and --facility, a re-push of just those SKUs at those
 * facilities (dh-inventory's re-push queue, dh:inv:repush:<store>: each pair's on_hand is
 * computed again from the WMS's truth under its fence and set in Shopify). Without
 * --execute it only shows the store's sync state (a pending request, the running slot and
 * its cursor) and the pairs it would queue. The store must be in the stores file when one
 * is configured (DH_STORES_FILE), so a misspelt domain is refused, not silently queued.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dockhand/stockledger.h"
#include "dockhand/stores.h"
#include "ops.h"

#define SYNC_MAX_LIST 1000 /* --sku / --facility values per run */

struct sync_args {
    const char *store;
    int execute;
    const char *skus[SYNC_MAX_LIST], *facilities[SYNC_MAX_LIST];
    int nskus, nfacilities;
};

static int sync_list_add(const ops_t *o, const char *opt, const char **list, int *n, const char *v)
{
    if (*n == SYNC_MAX_LIST || !*v) {
        ops_err(o, "sync: %s: empty, or more than %d", opt, SYNC_MAX_LIST);
        return -1;
    }
    list[(*n)++] = v;
    return 0;
}

static int sync_parse(const ops_t *o, int argc, char **argv, struct sync_args *a)
{
    memset(a, 0, sizeof(*a));
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--execute")) {
            a->execute = 1;
        } else if (i + 1 < argc && !strcmp(argv[i], "--store")) {
            a->store = argv[++i];
        } else if (i + 1 < argc && !strcmp(argv[i], "--sku")) {
            if (sync_list_add(o, "--sku", a->skus, &a->nskus, argv[++i])) {
                return -1;
            }
        } else if (i + 1 < argc && !strcmp(argv[i], "--facility")) {
            if (sync_list_add(o, "--facility", a->facilities, &a->nfacilities, argv[++i])) {
                return -1;
            }
        } else {
            ops_err(o, "sync: unexpected argument '%s'", argv[i]);
            return -1;
        }
    }
    if (!a->store || (a->nskus > 0) != (a->nfacilities > 0)) {
        ops_err(o, "usage: sync --store DOMAIN [--sku SKU... --facility FACILITY...] [--execute]"
                   " (--sku and --facility go together)");
        return -1;
    }
    return 0;
}

/* The re-push of every (facility, sku) pair: listed, and queued with --execute. */
static int repush(const ops_t *o, dh_redis_t *r, const struct sync_args *a)
{
    int queued = 0;

    for (int f = 0; f < a->nfacilities; f++) {
        for (int k = 0; k < a->nskus; k++) {
            if (a->execute &&
                dh_sl_repush_add(r, a->store, a->facilities[f], a->skus[k]) != DH_OK) {
                ops_err(o, "redis: %s", dh_redis_errstr(r));
                return OPS_FAIL;
            }
            queued += a->execute;
            if (o->json) {
                ops_emit(o, json_pack("{s:s, s:s, s:s, s:s}", "action",
                                      a->execute ? "repush-queued" : "repush-planned", "store",
                                      a->store, "facility", a->facilities[f], "sku", a->skus[k]));
            } else {
                printf("%s %s %s|%s\n", a->execute ? "queued" : "would queue", a->store,
                       a->facilities[f], a->skus[k]);
            }
        }
    }
    fprintf(stderr, "%s: %s\n", o->prog,
            queued ? "re-push queued: dh-inventory sets each pair's on_hand from the WMS "
                     "within seconds (logs: \"re-push\")"
                   : "nothing queued (add --execute)");
    return OPS_OK;
}

/* 0 when the store is known (or no stores file is configured), else OPS_USAGE. */
static int known_store(const ops_t *o, const char *store)
{
    const char *path = dh_config_get(o->cfg, "DH_STORES_FILE");
    dh_stores_t *s = NULL;
    char errstr[1024] = "";
    int rc = OPS_OK;

    if (!path || !*path) {
        return OPS_OK;
    }
    if (dh_stores_load(path, &s, errstr, sizeof(errstr))) {
        ops_err(o, "stores file %s: %s", path, errstr);
        return OPS_USAGE;
    }
    if (!dh_stores_find(s, store) || strcmp(dh_stores_find(s, store)->domain, store)) {
        ops_err(o, "sync: %s is not a store domain of %s", store, path);
        rc = OPS_USAGE;
    }
    dh_stores_destroy(s);
    return rc;
}

/* dh:inv:sync:<what>:<store>[:<slot>] */
static json_t *get_key(dh_redis_t *r, const char *what, const char *store, const char *slot,
                       int *err)
{
    char key[600];
    json_t *v;

    snprintf(key, sizeof(key), "dh:inv:sync:%s:%s%s%s", what, store, slot ? ":" : "",
             slot ? slot : "");
    v = ops_redis_get(r, key, err);
    return v ? v : json_null();
}

/* The slot's progress hash (pages and rows pushed so far), null when there is none. */
static json_t *get_progress(dh_redis_t *r, const char *store, json_t *slot, int *err)
{
    redisReply *rep = NULL;
    json_t *v = json_null();

    if (!json_is_string(slot)) {
        return v;
    }
    if (dh_redis_commandf(r, &rep, "HMGET dh:inv:sync:progress:%s:%s pages rows", store,
                          json_string_value(slot))) {
        *err = 1;
    } else if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 2 &&
               rep->element[0]->type == REDIS_REPLY_STRING) {
        json_decref(v);
        v = json_pack("{s:I, s:I}", "pages", (json_int_t)strtoll(rep->element[0]->str, NULL, 10),
                      "rows",
                      (json_int_t)(rep->element[1]->type == REDIS_REPLY_STRING
                                       ? strtoll(rep->element[1]->str, NULL, 10)
                                       : 0));
    }
    if (rep) {
        freeReplyObject(rep);
    }
    return v;
}

json_t *ops_sync_state(dh_redis_t *r, const char *store, int *err)
{
    json_t *slot = get_key(r, "active", store, NULL, err);
    json_t *req = get_key(r, "request", store, NULL, err);
    json_t *cur = json_is_string(slot) ? get_key(r, "cursor", store, json_string_value(slot), err)
                                       : json_null();
    json_t *last = get_key(r, "last_success", store, NULL, err);
    json_t *row =
        json_pack("{s:s, s:o, s:b, s:o, s:o}", "store", store, "running", slot, "requested",
                  !json_is_null(req), "cursor", cur, "progress", get_progress(r, store, slot, err));

    json_object_set_new(row, "last_success",
                        json_is_string(last)
                            ? json_integer(strtoll(json_string_value(last), NULL, 10))
                            : json_null());
    json_decref(last);
    json_decref(req);
    if (*err) {
        json_decref(row);
        return NULL;
    }
    return row;
}

static int show_state(const ops_t *o, dh_redis_t *r, const char *store, const char *action)
{
    int err = 0;
    json_t *row = ops_sync_state(r, store, &err);
    json_t *slot = json_object_get(row, "running");

    if (!row) {
        ops_err(o, "redis: %s", dh_redis_errstr(r));
        return OPS_FAIL;
    }
    json_object_set_new(row, "action", json_string(action));
    if (o->json) {
        ops_emit(o, row);
        return OPS_OK;
    }
    printf("%s %s: running %s, request %s\n", action, store,
           json_is_string(slot) ? json_string_value(slot) : "none",
           json_is_true(json_object_get(row, "requested")) ? "pending" : "none");
    json_decref(row);
    return OPS_OK;
}

/* The store's full sync: its state, and the request with --execute. */
static int request_full(const ops_t *o, dh_redis_t *r, const char *store, int execute)
{
    redisReply *rep = NULL;
    int rc;

    if (execute && dh_redis_commandf(r, &rep, "SET dh:inv:sync:request:%s 1", store)) {
        ops_err(o, "redis: %s", dh_redis_errstr(r));
        return OPS_FAIL;
    }
    if (rep) {
        freeReplyObject(rep);
    }
    rc = show_state(o, r, store, execute ? "requested" : "state");
    fprintf(stderr, "%s: %s\n", o->prog,
            execute ? "full sync requested: the first dh-inventory replica to see it starts "
                      "it (logs: \"full sync req-...\")"
                    : "nothing requested (add --execute)");
    return rc;
}

int ops_sync(const ops_t *o, int argc, char **argv)
{
    struct sync_args *a = calloc(1, sizeof(*a)); /* 16 KB of lists: not on the stack */
    dh_redis_t *r = NULL;
    int rc;

    if (!a) {
        ops_err(o, "out of memory");
        return OPS_FAIL;
    }
    rc = sync_parse(o, argc, argv, a) ? OPS_USAGE : known_store(o, a->store);
    if (rc == OPS_OK) {
        r = ops_redis_new(o);
        rc = r ? OPS_OK : OPS_FAIL;
    }
    if (rc == OPS_OK) {
        rc = a->nskus > 0 ? repush(o, r, a) : request_full(o, r, a->store, a->execute);
    }
    dh_redis_destroy(r);
    free(a);
    return rc;
}
