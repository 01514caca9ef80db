/*
 * dh-ops parked: which stores have events set aside in Redis while their Shopify was in
 * trouble (common/src/park.c), how many, and which replica is taking them back. Read only:
 * the workers take the events back themselves once the store answers.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops.h"

static long long llen(dh_redis_t *r, const char *worker, const char *store, int *err)
{
    redisReply *rep = NULL;
    long long n = -1;

    if (dh_redis_commandf(r, &rep, "LLEN %s:park:%s", worker, store) == DH_OK &&
        rep->type == REDIS_REPLY_INTEGER) {
        n = rep->integer;
    } else {
        *err = 1;
    }
    if (rep) {
        freeReplyObject(rep);
    }
    return n;
}

/* One worker's set-aside stores: a row each. */
static int show_worker(const ops_t *o, dh_redis_t *r, const char *worker, size_t *rows)
{
    redisReply *rep = NULL;
    int err = 0;

    if (dh_redis_commandf(r, &rep, "SMEMBERS %s:parked", worker) != DH_OK ||
        rep->type != REDIS_REPLY_ARRAY) {
        ops_err(o, "redis: %s", dh_redis_errstr(r));
        if (rep) {
            freeReplyObject(rep);
        }
        return OPS_FAIL;
    }
    for (size_t i = 0; i < rep->elements && !err; i++) {
        const char *store = rep->element[i]->str;
        char key[600];
        json_t *lock, *row;
        long long n;

        if (rep->element[i]->type != REDIS_REPLY_STRING) {
            continue;
        }
        n = llen(r, worker, store, &err);
        snprintf(key, sizeof(key), "%s:park-drain:%s", worker, store);
        lock = ops_redis_get(r, key, &err);
        row = json_pack("{s:s, s:s, s:I, s:O}", "worker", worker, "store", store, "events",
                        (json_int_t)n, "taken_back_by", lock ? lock : json_null());
        if (o->json) {
            ops_emit(o, row);
        } else {
            printf("%-10s %-40s %10lld  %s\n", worker, store, n,
                   json_is_string(lock) ? json_string_value(lock) : "-");
            json_decref(row);
        }
        json_decref(lock);
        (*rows)++;
    }
    freeReplyObject(rep);
    if (err) {
        ops_err(o, "redis: %s", dh_redis_errstr(r));
        return OPS_FAIL;
    }
    return OPS_OK;
}

int ops_parked(const ops_t *o, int argc, char **argv)
{
    const char *only = NULL;
    dh_redis_t *r;
    size_t rows = 0;
    int rc = OPS_OK;

    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--worker") && i + 1 < argc) {
            only = argv[++i];
        } else {
            ops_err(o, "parked: unknown argument '%s' (usage: parked [--worker W])", argv[i]);
            return OPS_USAGE;
        }
    }
    r = ops_redis_new(o);
    if (!r) {
        return OPS_FAIL;
    }
    if (!o->json) {
        printf("%-10s %-40s %10s  %s\n", "worker", "store", "events", "taken back by");
    }
    for (size_t w = 0; ops_workers[w] && rc == OPS_OK; w++) {
        if (!only || !strcmp(only, ops_workers[w])) {
            rc = show_worker(o, r, ops_workers[w], &rows);
        }
    }
    dh_redis_destroy(r);
    if (rc == OPS_OK && !o->json) {
        fprintf(stderr, "%s: %zu store(s) with events set aside\n", o->prog, rows);
    }
    return rc;
}
