/*
 * SKU -> Shopify inventory item: the catalogue worker's record in Redis
 * ("dh:catalog:<store>:sku:<sku>", JSON with inventory_item_id; "duplicate": true makes
 * the SKU ambiguous at once: it is never mapped to one variant), else our own cache
 * ("dh:inv:item:<store>:<sku>"), else productVariants(query: sku:"…") with an EXACT
 * client-side match (Shopify's search is fuzzy). Lookups of one batch are pipelined, and
 * the SKUs Shopify must resolve share OR-queries. A query's paging survives a failed page
 * (its state in Redis, see lookup_t), a throttled page waits for the rest of the lookup,
 * and a lookup throttled without progress for DH_INVENTORY_LOOKUP_WAIT_MAX_S is given up
 * (INV_SKU_STUCK: dead-lettered "lookup-throttled"). docs/inventory.md §7.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dockhand/idem.h"
#include "dockhand/log.h"
#include "inventory.h"

#define OR_TERMS     20 /* SKUs per productVariants query */
#define PAGE_FIRST   100
#define MAX_PAGES    20    /* per query; a SKU whose fuzzy search is broader is dead-lettered */
#define LOOKUP_TTL_S 86400 /* a paused lookup's state (> DH_INVENTORY_LOOKUP_WAIT_MAX_S) */

/* "gid://shopify/InventoryItem/N" from a number, a digit string or a GID. */
static int item_gid(json_t *v, char *out, size_t size)
{
    if (json_is_integer(v) && json_integer_value(v) > 0) {
        snprintf(out, size, "gid://shopify/InventoryItem/%lld", (long long)json_integer_value(v));
        return 1;
    }
    const char *s = json_string_value(v);

    if (!s || !*s) {
        return 0;
    }
    if (strncmp(s, "gid://shopify/InventoryItem/", 28) == 0) {
        snprintf(out, size, "%s", s);
        return 1;
    }
    if (strspn(s, "0123456789") == strlen(s)) {
        snprintf(out, size, "gid://shopify/InventoryItem/%s", s);
        return 1;
    }
    return 0;
}

/* A SKU's paused lookup: "dh:inv:lookup:<store>:sku:<sku>" -> the lookup's id. */
static void pointer_key(const dh_store_t *store, const char *sku, char *out, size_t size)
{
    snprintf(out, size, "dh:inv:lookup:%s:sku:%s", store->domain, sku);
}

/* Step 1 and 2, and each SKU's paused lookup (\p paused: its id, "" when none): one
 * pipelined round trip of 3n GETs. */
static void from_redis(inv_shared_t *sh, dh_lane_t *lane, const dh_store_t *store, inv_sku_t *s,
                       size_t n, char (*paused)[37])
{
    const inv_metrics_t *m = inv_metrics(sh);
    size_t nc = 3 * n;
    int *argc = calloc(nc, sizeof(*argc));
    const char ***argv = calloc(nc, sizeof(*argv));
    const char **args = calloc(2 * nc, sizeof(*args));
    char **keys = calloc(nc, sizeof(*keys));
    redisReply **rep = calloc(nc, sizeof(*rep));

    if (!argc || !argv || !args || !keys || !rep) {
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        size_t ksz = strlen(store->domain) + strlen(s[i].sku) + 40;

        for (size_t k = 0; k < 3; k++) {
            keys[3 * i + k] = malloc(ksz);
            if (!keys[3 * i + k]) {
                goto out;
            }
        }
        snprintf(keys[3 * i], ksz, "dh:catalog:%s:sku:%s", store->domain, s[i].sku);
        snprintf(keys[3 * i + 1], ksz, "dh:inv:item:%s:%s", store->domain, s[i].sku);
        pointer_key(store, s[i].sku, keys[3 * i + 2], ksz);
    }
    for (size_t c = 0; c < nc; c++) {
        args[2 * c] = "GET";
        args[2 * c + 1] = keys[c];
        argv[c] = &args[2 * c];
        argc[c] = 2;
    }
    if (dh_redis_pipeline(dh_lane_redis(lane), nc, argc, argv, NULL, rep) != DH_OK) {
        goto out; /* everything goes to Shopify (or fails there) */
    }
    for (size_t i = 0; i < n; i++) {
        redisReply *cat = rep[3 * i], *cache = rep[3 * i + 1], *ptr = rep[3 * i + 2];

        if (ptr && ptr->type == REDIS_REPLY_STRING && ptr->len == 36) {
            memcpy(paused[i], ptr->str, 36);
            paused[i][36] = '\0';
        }

        if (cat && cat->type == REDIS_REPLY_STRING) {
            json_t *js = json_loadb(cat->str, cat->len, 0, NULL);

            if (json_is_true(json_object_get(js, "duplicate"))) {
                /* dh-catalog found the SKU on several variants: never map it to one */
                s[i].status = INV_SKU_AMBIGUOUS;
                snprintf(s[i].detail, sizeof(s[i].detail),
                         "SKU %.40s is on several variants of %.40s (dh-catalog report)", s[i].sku,
                         store->domain);
            } else if (item_gid(json_object_get(js, "inventory_item_id"), s[i].item,
                                sizeof(s[i].item))) {
                s[i].status = INV_SKU_OK;
                dh_counter_add(m->lookup_catalog, 1);
            }
            json_decref(js);
        }
        if (s[i].status == INV_SKU_UNKNOWN && cache && cache->type == REDIS_REPLY_STRING &&
            cache->len > 0 && cache->len < sizeof(s[i].item)) {
            snprintf(s[i].item, sizeof(s[i].item), "%.*s", (int)cache->len, cache->str);
            s[i].status = INV_SKU_OK;
            dh_counter_add(m->lookup_cache, 1);
        }
    }
out:
    for (size_t c = 0; rep && c < nc; c++) {
        if (rep[c]) {
            freeReplyObject(rep[c]);
        }
    }
    for (size_t c = 0; keys && c < nc; c++) {
        free(keys[c]);
    }
    free(rep);
    free(keys);
    free(args);
    free(argv);
    free(argc);
}

/* sku:"<sku>" with quotes and backslashes escaped. */
static void append_term(char *q, size_t size, const char *sku)
{
    size_t len = strlen(q);

    if (len > 0) {
        len += (size_t)snprintf(q + len, size - len, " OR ");
    }
    len += (size_t)snprintf(q + len, size - len, "sku:\"");
    for (const char *p = sku; *p && len + 3 < size; p++) {
        if (*p == '"' || *p == '\\') {
            q[len++] = '\\';
        }
        q[len++] = *p;
    }
    snprintf(q + len, size - len, "\"");
}

/* One productVariants query of up to OR_TERMS SKUs, resumable: when a page fails, what
 * the fetched pages found and the next cursor are kept in Redis (lookup_store()), and
 * every SKU of the query points at that state, so the next try of ANY event with one of
 * these SKUs continues at the page that failed instead of page 1. */
typedef struct lookup {
    char qid[37]; /* UUIDv5 of the query text */
    char query[OR_TERMS * 600];
    const char *sku[OR_TERMS]; /* borrowed: the caller's, or state's */
    size_t n;
    int count[OR_TERMS];     /* exact matches */
    char item[OR_TERMS][96]; /* the last matching inventory item */
    char after[512];         /* "" before the first page */
    int pages;               /* fetched so far */
    long long since;         /* Unix s of the start or of the last page fetched */
    json_t *state;           /* owns sku[] when resumed */
} lookup_t;

static void lookup_key(const dh_store_t *store, const char *qid, char *out, size_t size)
{
    snprintf(out, size, "dh:inv:lookup:%s:%s", store->domain, qid);
}

static void lookup_fresh(lookup_t *lk, inv_sku_t *const *s, size_t n)
{
    memset(lk, 0, sizeof(*lk));
    for (size_t i = 0; i < n; i++) {
        lk->sku[i] = s[i]->sku;
        append_term(lk->query, sizeof(lk->query), s[i]->sku);
    }
    lk->n = n;
    lk->since = (long long)time(NULL);
    dh_idem_far_key("inventory-sku-lookup", lk->query, lk->qid);
}

static const char *str_or(json_t *v, const char *def)
{
    return json_string_value(v) ? json_string_value(v) : def;
}

/* The paused lookup \p qid; 0 when there is none (expired, or finished by another). */
static int lookup_load(inv_shared_t *sh, dh_lane_t *lane, const dh_store_t *store, const char *qid,
                       lookup_t *lk)
{
    char key[400];
    const char *argv[] = {"GET", key};
    redisReply *r = NULL;
    json_t *js, *skus, *found, *v;
    size_t k;

    memset(lk, 0, sizeof(*lk));
    lookup_key(store, qid, key, sizeof(key));
    if (dh_redis_command(dh_lane_redis(lane), 2, argv, NULL, &r) != DH_OK) {
        return 0;
    }
    js = r->type == REDIS_REPLY_STRING ? json_loadb(r->str, r->len, 0, NULL) : NULL;
    freeReplyObject(r);
    skus = json_object_get(js, "skus");
    found = json_object_get(js, "found");
    if (!json_is_array(skus) || json_array_size(skus) == 0 || json_array_size(skus) > OR_TERMS ||
        !json_is_object(found)) {
        json_decref(js);
        return 0;
    }
    json_array_foreach(skus, k, v)
    {
        json_t *f = json_object_get(found, str_or(v, ""));

        lk->sku[k] = str_or(v, "");
        append_term(lk->query, sizeof(lk->query), lk->sku[k]);
        lk->count[k] = (int)json_integer_value(json_array_get(f, 0));
        snprintf(lk->item[k], sizeof(lk->item[k]), "%s", str_or(json_array_get(f, 1), ""));
    }
    lk->n = json_array_size(skus);
    snprintf(lk->after, sizeof(lk->after), "%s", str_or(json_object_get(js, "after"), ""));
    lk->pages = (int)json_integer_value(json_object_get(js, "pages"));
    lk->since = (long long)json_integer_value(json_object_get(js, "since"));
    /* Left alone longer than the bound (its events went elsewhere, e.g. dead-lettered by
     * the retry budget): nobody was waiting on it, so its wait starts now. */
    if ((long long)time(NULL) - (long long)json_integer_value(json_object_get(js, "saved")) >
        sh->lookup_wait_max_s) {
        lk->since = (long long)time(NULL);
    }
    snprintf(lk->qid, sizeof(lk->qid), "%s", qid);
    lk->state = js;
    return 1;
}

/* KEYS: the state, then each SKU's pointer. ARGV: state, TTL, qid, save (1) or drop (0).
 * Dropping deletes only the pointers still naming this lookup. */
static const char lookup_lua[] =
    "if ARGV[4] == '1' then\n"
    "  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])\n"
    "  for i = 2, #KEYS do redis.call('SET', KEYS[i], ARGV[3], 'EX', ARGV[2]) end\n"
    "  return 1\n"
    "end\n"
    "redis.call('DEL', KEYS[1])\n"
    "for i = 2, #KEYS do\n"
    "  if redis.call('GET', KEYS[i]) == ARGV[3] then redis.call('DEL', KEYS[i]) end\n"
    "end\n"
    "return 1\n";

static char *lookup_json(const lookup_t *lk)
{
    json_t *js =
        json_pack("{s:[], s:{}, s:s, s:i, s:I, s:I}", "skus", "found", "after", lk->after, "pages",
                  lk->pages, "since", (json_int_t)lk->since, "saved", (json_int_t)time(NULL));
    char *text;

    for (size_t i = 0; js && i < lk->n; i++) {
        json_array_append_new(json_object_get(js, "skus"), json_string(lk->sku[i]));
        json_object_set_new(json_object_get(js, "found"), lk->sku[i],
                            json_pack("[i, s]", lk->count[i], lk->item[i]));
    }
    text = js ? json_dumps(js, JSON_COMPACT) : NULL;
    json_decref(js);
    return text;
}

/* Save (\p save 1) or drop the lookup's state and pointers. A failed save only means the
 * next try starts again at page 1: slower, not wrong. */
static void lookup_store(dh_lane_t *lane, const dh_store_t *store, const lookup_t *lk, int save)
{
    char keys[OR_TERMS + 1][1400], ttl[24];
    const char *argv[OR_TERMS + 5];
    char *text = save ? lookup_json(lk) : NULL;
    redisReply *r = NULL;

    if (save && !text) {
        return;
    }
    snprintf(ttl, sizeof(ttl), "%d", LOOKUP_TTL_S);
    lookup_key(store, lk->qid, keys[0], sizeof(keys[0]));
    argv[0] = keys[0];
    for (size_t i = 0; i < lk->n; i++) {
        pointer_key(store, lk->sku[i], keys[i + 1], sizeof(keys[i + 1]));
        argv[i + 1] = keys[i + 1];
    }
    argv[lk->n + 1] = text ? text : "";
    argv[lk->n + 2] = ttl;
    argv[lk->n + 3] = lk->qid;
    argv[lk->n + 4] = save ? "1" : "0";
    if (dh_redis_eval(dh_lane_redis(lane), lookup_lua, (int)lk->n + 1, (int)lk->n + 5, argv, NULL,
                      &r) == DH_OK) {
        freeReplyObject(r);
    }
    free(text);
}

/* Count exact matches of each SKU in one page of variants: Shopify's sku: search also
 * returns other SKUs (SKU-1 finds SKU-10 ... SKU-199), which are ignored here. */
static void match_page(json_t *nodes, lookup_t *lk)
{
    size_t k;
    json_t *v;

    json_array_foreach(nodes, k, v)
    {
        const char *sku = json_string_value(json_object_get(v, "sku"));
        char gid[96];

        if (!sku || !item_gid(json_object_get(json_object_get(v, "inventoryItem"), "id"), gid,
                              sizeof(gid))) {
            continue;
        }
        for (size_t i = 0; i < lk->n; i++) {
            if (strcmp(sku, lk->sku[i]) != 0) {
                continue;
            }
            if (lk->count[i] == 0 || strcmp(lk->item[i], gid) != 0) {
                lk->count[i]++;
                snprintf(lk->item[i], sizeof(lk->item[i]), "%s", gid);
            }
        }
    }
}

/* Each SKU's status from its matches: one (on a complete search) is OK, several are
 * ambiguous, none unknown. */
static void settle(const dh_store_t *store, const lookup_t *lk, inv_sku_t *s, int complete)
{
    for (size_t i = 0; i < lk->n; i++) {
        s[i].sku = lk->sku[i];
        snprintf(s[i].item, sizeof(s[i].item), "%s", lk->item[i]);
        if (lk->count[i] == 1 && complete) {
            s[i].status = INV_SKU_OK;
        } else if (lk->count[i] > 1) {
            s[i].status = INV_SKU_AMBIGUOUS;
            snprintf(s[i].detail, sizeof(s[i].detail),
                     "SKU %.40s matches %d inventory items in %.40s", s[i].sku, lk->count[i],
                     store->domain);
        } else {
            s[i].status = INV_SKU_UNKNOWN;
            snprintf(s[i].detail, sizeof(s[i].detail), "SKU %.60s not found in %.60s%s", s[i].sku,
                     store->domain, complete ? "" : " (search too broad)");
        }
    }
}

/* A page failed on a throttle: the wait covers the rest of the lookup, not one page.
 * The pages left are unknown until the last one: assume as many as fetched so far (at
 * least one), at most what the bucket holds; each costs 2 + 3 x PAGE_FIRST points
 * (gql_docs.def). */
static void cover_remaining(const dh_store_t *store, const lookup_t *lk, dh_outcome_t *o)
{
    double cost = 2.0 + 3.0 * PAGE_FIRST, rate = store->bucket.restore_rate;
    int fit = store->bucket.capacity >= cost ? (int)(store->bucket.capacity / cost) : 1;
    int left = lk->pages > 0 ? lk->pages : 1;

    left = left < MAX_PAGES - lk->pages ? left : MAX_PAGES - lk->pages;
    left = left < fit ? left : fit;
    if (left > 1 && rate > 0) {
        o->retry_after_ms += (int64_t)((left - 1) * cost * 1000.0 / rate);
    }
}

/* One failed page: keep what was fetched for the next try, or, when a throttle has kept
 * the lookup from any progress for the bound or longer, give it up (INV_SKU_STUCK). */
static void lookup_failed(inv_shared_t *sh, dh_lane_t *lane, const dh_store_t *store, lookup_t *lk,
                          inv_sku_t *s, dh_outcome_t *o)
{
    long long stuck = (long long)time(NULL) - lk->since;
    int throttled = o->answer == DH_ANSWER_THROTTLED;

    for (size_t i = 0; i < lk->n; i++) {
        s[i].sku = lk->sku[i];
        s[i].status = INV_SKU_FAILED;
        snprintf(s[i].detail, sizeof(s[i].detail), "productVariants (page %d): %.120s",
                 lk->pages + 1, o->error);
    }
    if (throttled && stuck >= sh->lookup_wait_max_s) {
        lookup_store(lane, store, lk, 0); /* the next event of these SKUs starts afresh */
        for (size_t i = 0; i < lk->n; i++) {
            s[i].status = INV_SKU_STUCK;
            snprintf(s[i].detail, sizeof(s[i].detail),
                     "SKU %.50s: productVariants throttled %llds without a page (bound %llds)",
                     lk->sku[i], stuck, sh->lookup_wait_max_s);
        }
        DH_LOG(DH_LOG_WARN, "inventory",
               "SKU lookup in %s given up: throttled for %llds without progress at page %d",
               store->domain, stuck, lk->pages + 1);
        return;
    }
    if (throttled) {
        cover_remaining(store, lk, o);
    }
    lookup_store(lane, store, lk, 1);
}

/* Runs (or continues) \p lk into \p s (lk->n entries, SKUs borrowed from lk). 0 when the
 * lookup finished (statuses settled), -1 when a page failed (\p o: why). */
static int lookup_run(inv_shared_t *sh, dh_lane_t *lane, const dh_store_t *store, lookup_t *lk,
                      inv_sku_t *s, dh_outcome_t *o)
{
    int complete = 0, resumed = lk->state != NULL;

    while (lk->pages < MAX_PAGES) {
        json_t *vars = json_pack("{s:s, s:i}", "query", lk->query, "first", PAGE_FIRST);
        dh_gql_reply_t rep;
        int rc;

        if (lk->after[0]) {
            json_object_set_new(vars, "after", json_string(lk->after));
        }
        rc = dh_lane_shopify_try(lane, store, DH_GQL_PRODUCT_VARIANTS_BY_SKU, vars, &rep, o);
        json_decref(vars);
        if (rc != 0) {
            dh_gql_reply_clear(&rep);
            lookup_failed(sh, lane, store, lk, s, o);
            return -1;
        }
        json_t *conn = json_object_get(rep.data, "productVariants");
        json_t *info = json_object_get(conn, "pageInfo");
        const char *cur = json_string_value(json_object_get(info, "endCursor"));

        match_page(json_object_get(conn, "nodes"), lk);
        lk->pages++;
        lk->since = (long long)time(NULL);
        if (!json_is_true(json_object_get(info, "hasNextPage")) || !cur) {
            complete = 1;
            dh_gql_reply_clear(&rep);
            break;
        }
        snprintf(lk->after, sizeof(lk->after), "%s", cur);
        dh_gql_reply_clear(&rep);
    }
    if (resumed || lk->pages > 1) {
        lookup_store(lane, store, lk, 0);
    }
    settle(store, lk, s, complete);
    return 0;
}

static void cache_results(inv_shared_t *sh, dh_lane_t *lane, const dh_store_t *store, inv_sku_t *s,
                          size_t n)
{
    char ttl[32];

    snprintf(ttl, sizeof(ttl), "%lld", sh->item_ttl_s);
    for (size_t i = 0; i < n; i++) {
        char key[1400];
        redisReply *r = NULL;

        if (s[i].status != INV_SKU_OK) {
            continue;
        }
        snprintf(key, sizeof(key), "dh:inv:item:%s:%s", store->domain, s[i].sku);
        const char *argv[] = {"SET", key, s[i].item, "EX", ttl};

        if (dh_redis_command(dh_lane_redis(lane), 5, argv, NULL, &r) == DH_OK) {
            freeReplyObject(r);
        }
    }
}

/* The lookup's results into the caller's SKUs of the same name (\p done: settled here). */
static void apply(const lookup_t *lk, const inv_sku_t *res, inv_sku_t *s, size_t n, char *done)
{
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; !done[i] && k < lk->n; k++) {
            if (!strcmp(s[i].sku, lk->sku[k])) {
                const char *sku = s[i].sku;

                s[i] = res[k];
                s[i].sku = sku;
                done[i] = 1;
            }
        }
    }
}

/* Run \p lk, cache its results and hand them to \p s; \p fail keeps the longest wait. */
static void run_one(inv_shared_t *sh, dh_lane_t *lane, const dh_store_t *store, lookup_t *lk,
                    inv_sku_t *s, size_t n, char *done, dh_outcome_t *fail)
{
    inv_sku_t res[OR_TERMS];
    dh_outcome_t o;

    memset(res, 0, sizeof(res));
    dh_counter_add(inv_metrics(sh)->lookup_shopify, lk->n);
    if (lookup_run(sh, lane, store, lk, res, &o) != 0 && res[0].status == INV_SKU_FAILED &&
        (fail->result == DH_RESULT_DONE || o.retry_after_ms > fail->retry_after_ms)) {
        *fail = o; /* the longest wait of the failed lookups */
    }
    cache_results(sh, lane, store, res, lk->n);
    apply(lk, res, s, n, done);
    json_decref(lk->state);
    lk->state = NULL;
}

static void all_failed(inv_sku_t *s, size_t n, dh_outcome_t *fail)
{
    fail->result = DH_RESULT_RETRY;
    snprintf(fail->error_class, sizeof(fail->error_class), "internal");
    snprintf(fail->error, sizeof(fail->error), "out of memory");
    for (size_t i = 0; i < n; i++) {
        s[i].status = s[i].status == INV_SKU_UNKNOWN ? INV_SKU_FAILED : s[i].status;
    }
}

/* SKUs of a paused lookup continue it (so no page is fetched twice); the others are
 * grouped into new queries of up to OR_TERMS. */
static void from_shopify(inv_shared_t *sh, dh_lane_t *lane, const dh_store_t *store, inv_sku_t *s,
                         size_t n, char (*paused)[37], dh_outcome_t *fail)
{
    lookup_t *lk = malloc(sizeof(*lk));
    char *done = calloc(n, 1);
    inv_sku_t *miss[OR_TERMS];
    size_t nm = 0;

    if (!lk || !done) {
        all_failed(s, n, fail);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        done[i] = s[i].status != INV_SKU_UNKNOWN;
    }
    for (size_t i = 0; i < n; i++) {
        if (!done[i] && paused[i][0] && lookup_load(sh, lane, store, paused[i], lk)) {
            run_one(sh, lane, store, lk, s, n, done, fail);
        }
    }
    for (size_t i = 0; i <= n; i++) {
        if (i < n && !done[i]) {
            miss[nm++] = &s[i];
        }
        if (nm == OR_TERMS || (i == n && nm > 0)) {
            lookup_fresh(lk, miss, nm);
            run_one(sh, lane, store, lk, s, n, done, fail);
            nm = 0;
        }
    }
out:
    free(done);
    free(lk);
}

void inv_resolve_skus(inv_shared_t *sh, dh_lane_t *lane, const dh_store_t *store, inv_sku_t *s,
                      size_t n, dh_outcome_t *fail)
{
    char(*paused)[37] = NULL;

    memset(fail, 0, sizeof(*fail));
    for (size_t i = 0; i < n; i++) {
        s[i].status = INV_SKU_UNKNOWN;
        s[i].item[0] = s[i].detail[0] = '\0';
    }
    if (n == 0) {
        return;
    }
    paused = calloc(n, sizeof(*paused));
    if (!paused) {
        all_failed(s, n, fail);
        return;
    }
    from_redis(sh, lane, store, s, n, paused);
    from_shopify(sh, lane, store, s, n, paused, fail);
    free(paused);
}
