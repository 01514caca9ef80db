/*
 * SKU -> Shopify inventory item: the catalogue worker's record in Redis
 * ("dh:catalog:<store>:sku:<sku>", JSON with inventory_item_id; "duplicate": true makes
 * the SKU ambiguous at once: it is never mapped to one variant), else our own cache
 * ("dh:inv:item:<store>:<sku>"), else productVariants(query: sku:"…") with an EXACT
 * client-side match (Shopify's search is fuzzy). Lookups of one batch are pipelined, and
 * the SKUs Shopify must resolve share OR-queries.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dockhand/log.h"
#include "inventory.h"

#define OR_TERMS   20 /* SKUs per productVariants query */
#define PAGE_FIRST 100
#define MAX_PAGES  20 /* per query; a SKU whose fuzzy search is broader is dead-lettered */

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

/* Step 1 and 2: one pipelined round trip of 2n GETs. */
static void from_redis(inv_shared_t *sh, dh_lane_t *lane, const dh_store_t *store, inv_sku_t *s,
                       size_t n)
{
    const inv_metrics_t *m = inv_metrics(sh);
    size_t nc = 2 * n;
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

        keys[2 * i] = malloc(ksz);
        keys[2 * i + 1] = malloc(ksz);
        if (!keys[2 * i] || !keys[2 * i + 1]) {
            goto out;
        }
        snprintf(keys[2 * i], ksz, "dh:catalog:%s:sku:%s", store->domain, s[i].sku);
        snprintf(keys[2 * i + 1], ksz, "dh:inv:item:%s:%s", store->domain, s[i].sku);
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
        redisReply *cat = rep[2 * i], *cache = rep[2 * i + 1];

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

/* Count exact matches of each SKU in one page of variants. */
static void match_page(json_t *nodes, inv_sku_t *s, size_t n, int *count)
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
        for (size_t i = 0; i < n; i++) {
            if (strcmp(sku, s[i].sku) != 0) {
                continue;
            }
            if (count[i] == 0 || strcmp(s[i].item, gid) != 0) {
                count[i]++;
                snprintf(s[i].item, sizeof(s[i].item), "%s", gid);
            }
        }
    }
}

/* Each SKU's status from its matches: one (on a complete search) is OK, several are
 * ambiguous, none unknown. */
static void settle(const dh_store_t *store, inv_sku_t *s, size_t n, const int *count, int complete)
{
    for (size_t i = 0; i < n; i++) {
        if (count[i] == 1 && complete) {
            s[i].status = INV_SKU_OK;
        } else if (count[i] > 1) {
            s[i].status = INV_SKU_AMBIGUOUS;
            snprintf(s[i].detail, sizeof(s[i].detail),
                     "SKU %.40s matches %d inventory items in %.40s", s[i].sku, count[i],
                     store->domain);
        } else {
            s[i].status = INV_SKU_UNKNOWN;
            snprintf(s[i].detail, sizeof(s[i].detail), "SKU %.60s not found in %.60s%s", s[i].sku,
                     store->domain, complete ? "" : " (search too broad)");
        }
    }
}

/* Resolve up to OR_TERMS SKUs with one (paginated) query. */
static void from_shopify(inv_shared_t *sh, dh_lane_t *lane, const dh_store_t *store, inv_sku_t *s,
                         size_t n, dh_outcome_t *fail)
{
    char query[OR_TERMS * 600];
    int count[OR_TERMS] = {0};
    char after[512] = "";
    int page = 0, complete = 0;

    query[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        append_term(query, sizeof(query), s[i].sku);
    }
    dh_counter_add(inv_metrics(sh)->lookup_shopify, n);
    while (page < MAX_PAGES) {
        json_t *vars = json_pack("{s:s, s:i}", "query", query, "first", PAGE_FIRST);
        dh_gql_reply_t rep;
        dh_outcome_t o;
        int rc;

        if (after[0]) {
            json_object_set_new(vars, "after", json_string(after));
        }
        rc = dh_lane_shopify_try(lane, store, DH_GQL_PRODUCT_VARIANTS_BY_SKU, vars, &rep, &o);
        json_decref(vars);
        if (rc != 0) {
            for (size_t i = 0; i < n; i++) {
                s[i].status = INV_SKU_FAILED;
                snprintf(s[i].detail, sizeof(s[i].detail), "productVariants: %.140s", o.error);
            }
            if (fail->result == DH_RESULT_DONE || o.retry_after_ms > fail->retry_after_ms) {
                *fail = o; /* the longest wait of the failed lookups */
            }
            dh_gql_reply_clear(&rep);
            return;
        }
        json_t *conn = json_object_get(rep.data, "productVariants");
        json_t *info = json_object_get(conn, "pageInfo");
        const char *cur = json_string_value(json_object_get(info, "endCursor"));

        match_page(json_object_get(conn, "nodes"), s, n, count);
        page++;
        if (!json_is_true(json_object_get(info, "hasNextPage")) || !cur) {
            complete = 1;
            dh_gql_reply_clear(&rep);
            break;
        }
        snprintf(after, sizeof(after), "%s", cur);
        dh_gql_reply_clear(&rep);
    }
    settle(store, s, n, count, complete);
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

void inv_resolve_skus(inv_shared_t *sh, dh_lane_t *lane, const dh_store_t *store, inv_sku_t *s,
                      size_t n, dh_outcome_t *fail)
{
    inv_sku_t *miss[OR_TERMS];
    inv_sku_t tmp[OR_TERMS];
    size_t nm = 0;

    memset(fail, 0, sizeof(*fail));
    for (size_t i = 0; i < n; i++) {
        s[i].status = INV_SKU_UNKNOWN;
        s[i].item[0] = s[i].detail[0] = '\0';
    }
    if (n == 0) {
        return;
    }
    from_redis(sh, lane, store, s, n);
    for (size_t i = 0; i <= n; i++) {
        if (i < n && s[i].status == INV_SKU_UNKNOWN) {
            miss[nm] = &s[i];
            tmp[nm] = s[i];
            nm++;
        }
        if (nm == OR_TERMS || (i == n && nm > 0)) {
            from_shopify(sh, lane, store, tmp, nm, fail);
            cache_results(sh, lane, store, tmp, nm);
            for (size_t k = 0; k < nm; k++) {
                *miss[k] = tmp[k];
            }
            nm = 0;
        }
    }
}
