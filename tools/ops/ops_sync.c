/*
 * dh-ops sync: a full stock sync of a store (dh-inventory's on-demand request, the Redis
 * key dh:inv:sync:request:<store>, taken with GETDEL by the first replica that sees it;
 * docs/inventory.md). Without --execute it only shows the store's sync state: a pending
 * request, the running slot and its cursor. The store must be in the stores file when one
 * is configured (DH_STORES_FILE), so a misspelt domain is refused, not silently queued.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dockhand/stores.h"
#include "ops.h"

static int sync_parse(const ops_t *o, int argc, char **argv, const char **store, int *execute)
{
    *store = NULL;
    *execute = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--execute")) {
            *execute = 1;
        } else if (i + 1 < argc && !strcmp(argv[i], "--store")) {
            *store = argv[++i];
        } else {
            ops_err(o, "sync: unexpected argument '%s'", argv[i]);
            return -1;
        }
    }
    if (!*store) {
        ops_err(o, "usage: sync --store DOMAIN [--execute]");
        return -1;
    }
    return 0;
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

int ops_sync(const ops_t *o, int argc, char **argv)
{
    const char *store;
    int execute, rc;
    dh_redis_t *r;
    redisReply *rep = NULL;

    if (sync_parse(o, argc, argv, &store, &execute)) {
        return OPS_USAGE;
    }
    rc = known_store(o, store);
    r = rc == OPS_OK ? ops_redis_new(o) : NULL;
    if (!r) {
        return rc == OPS_OK ? OPS_FAIL : rc;
    }
    if (execute && dh_redis_commandf(r, &rep, "SET dh:inv:sync:request:%s 1", store)) {
        ops_err(o, "redis: %s", dh_redis_errstr(r));
        rc = OPS_FAIL;
    }
    if (rep) {
        freeReplyObject(rep);
    }
    if (rc == OPS_OK) {
        rc = show_state(o, r, store, execute ? "requested" : "state");
        fprintf(stderr, "%s: %s\n", o->prog,
                execute ? "full sync requested: the first dh-inventory replica to see it starts "
                          "it (logs: \"full sync req-...\")"
                        : "nothing requested (add --execute)");
    }
    dh_redis_destroy(r);
    return rc;
}
