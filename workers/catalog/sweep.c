/*
 * dh-catalog's reconciliation after an import: products the WMS still holds that the
 * import did not see are gone from Shopify (a products/delete webhook was lost), so their
 * SKUs are deactivated like a products/delete.
 *
 * Each applied product of an import is added to dh:catalog:<store>:import:seen; once the
 * whole result is applied the import's state is "sweeping": a slice per tick walks the
 * store's live products (SSCAN dh:catalog:<store>:products, cursor saved in the import's
 * state) and deactivates each one that was not seen and was last changed before the import
 * started (a product created or changed by a webhook since is newer than the snapshot and
 * is left alone). Then the seen set is dropped and the import is done.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apply.h"
#include "dockhand/log.h"

#define SCAN_COUNT "500"

static void seen_key(char *buf, size_t size, const char *store)
{
    cat_key(buf, size, store, "import:seen", NULL);
}

void cat_sweep_reset(dh_redis_t *r, const char *store)
{
    char k[300];
    redisReply *rep = NULL;

    seen_key(k, sizeof(k), store);
    const char *argv[] = {"DEL", k};

    if (dh_redis_command(r, 2, argv, NULL, &rep) == DH_OK) {
        freeReplyObject(rep);
    }
}

int cat_sweep_seen(dh_redis_t *r, const char *store, const char *product_id)
{
    char k[300];
    redisReply *rep = NULL;

    seen_key(k, sizeof(k), store);
    const char *argv[] = {"SADD", k, product_id};

    if (dh_redis_command(r, 3, argv, NULL, &rep) != DH_OK) {
        return -1;
    }
    freeReplyObject(rep);
    return 0;
}

/* Is product \p pid (record \p rec) gone: live, unseen, older than the import? 1 yes,
 * 0 no, -1 Redis failed. */
static int gone(dh_redis_t *r, const char *store, const char *pid, const redisReply *rec,
                long long started_ms)
{
    json_t *j = json_loadb(rec->str, rec->len, 0, NULL);
    int live = json_is_object(j) && !json_is_true(json_object_get(j, "deleted")) &&
               json_integer_value(json_object_get(j, "u")) < started_ms;
    char k[300];
    redisReply *rep = NULL;
    int res = 0;

    json_decref(j);
    if (!live) {
        return 0;
    }
    seen_key(k, sizeof(k), store);
    const char *argv[] = {"SISMEMBER", k, pid};

    if (dh_redis_command(r, 3, argv, NULL, &rep) != DH_OK) {
        return -1;
    }
    res = rep->type == REDIS_REPLY_INTEGER && rep->integer == 0;
    freeReplyObject(rep);
    return res;
}

/* Deactivate product \p pid as a products/delete would. 0, or -1 to try again. */
static int deactivate_product(cat_shared_t *s, dh_lane_t *lane, const char *store, const char *pid)
{
    cat_product_t p = {.deleted = 1, .updated_ms = -1};
    cat_ctx_t c = {.lane = lane, .redis = dh_lane_redis(lane), .store = store};
    dh_result_t res;

    snprintf(p.id, sizeof(p.id), "%s", pid);
    res = cat_apply(&c, &p);
    cat_count(s, &c);
    if (res != DH_RESULT_DONE && res != DH_RESULT_DEAD_LETTER) {
        DH_LOG(DH_LOG_WARN, "catalog", "import %s: sweep: product %s: %s (next tick)", store, pid,
               c.why);
        return -1;
    }
    DH_LOG(DH_LOG_INFO, "catalog",
           "import %s: product %s is gone from Shopify: %ld SKU(s) deactivated", store, pid,
           c.deactivated);
    return 0;
}

/* One SSCAN page of the store's live products from \p cursor; the next cursor in \p next.
 * -1 stops the slice. */
static int sweep_page(cat_shared_t *s, dh_lane_t *lane, const char *store, const char *cursor,
                      long long started_ms, char *next, size_t next_size)
{
    dh_redis_t *r = dh_lane_redis(lane);
    char set[300];
    redisReply *rep = NULL;
    int rc = 0;

    cat_key(set, sizeof(set), store, "products", NULL);
    const char *argv[] = {"SSCAN", set, cursor, "COUNT", SCAN_COUNT};

    if (dh_redis_command(r, 5, argv, NULL, &rep) != DH_OK || rep->type != REDIS_REPLY_ARRAY ||
        rep->elements != 2) {
        if (rep) {
            freeReplyObject(rep);
        }
        return -1;
    }
    snprintf(next, next_size, "%s", rep->element[0]->str);
    for (size_t i = 0; rc == 0 && i < rep->element[1]->elements; i++) {
        const char *pid = rep->element[1]->element[i]->str;
        char key[400];
        redisReply *rec = NULL;

        cat_key(key, sizeof(key), store, "p", pid);
        const char *argv2[] = {"GET", key};

        if (dh_redis_command(r, 2, argv2, NULL, &rec) != DH_OK) {
            rc = -1;
            break;
        }
        int g = rec->type == REDIS_REPLY_STRING ? gone(r, store, pid, rec, started_ms) : 0;

        freeReplyObject(rec);
        if (g < 0 || (g > 0 && deactivate_product(s, lane, store, pid))) {
            rc = -1;
        }
    }
    freeReplyObject(rep);
    return rc;
}

int cat_sweep_slice(cat_shared_t *s, dh_lane_t *lane, const char *store, const char *cursor,
                    long long started_ms, int64_t deadline, char *next, size_t next_size)
{
    char cur[64];

    snprintf(cur, sizeof(cur), "%s", cursor[0] ? cursor : "0");
    do {
        if (sweep_page(s, lane, store, cur, started_ms, next, next_size)) {
            snprintf(next, next_size, "%s", cur); /* this page again next tick */
            return 0;
        }
        if (strcmp(next, "0") == 0) {
            cat_sweep_reset(dh_lane_redis(lane), store);
            return 1;
        }
        snprintf(cur, sizeof(cur), "%s", next);
    } while (cat_now_ms() < deadline);
    return 0;
}
