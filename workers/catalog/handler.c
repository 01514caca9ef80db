/*
 * dh-catalog handler: one shopify.products record (a products/create, products/update or
 * products/delete webhook) -> the WMS SKUs of that product (apply.c).
 *
 * Events of one product share a Kafka key, so they arrive in order and never run
 * concurrently; they are snapshots, so only the newest queued one is applied
 * (coalesce). The handler keeps its own records (a fingerprint per variant) instead of
 * the runtime's idempotency record: a duplicate delivery finds nothing changed and makes
 * no call. See docs/catalogue.md.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "apply.h"
#include "catalog.h"
#include "dockhand/log.h"
#include "dockhand/stores.h"
#include "dockhand/wms.h"

#define GAUGE_EVERY_MS 10000

static const dh_config_var_t catalog_vars[] = {
    {"DH_CATALOG_STYLE_METAFIELD", DH_CFG_STRING, "", 0, 0, NULL,
     "Metafield \"namespace.key\" holding the Style Code when a product has no option named "
     "\"Style Code\" (empty: the option only)."},
    {"DH_CATALOG_IMPORT_EVERY_H", DH_CFG_INT, "24", 0, 8760, NULL,
     "Hours between two full imports of a store's catalogue (bulk operation); a store never "
     "imported is imported at start. 0: only on demand (dh-catalog import <store>)."},
    {"DH_CATALOG_IMPORT_MODE", DH_CFG_ENUM, "bulk", 0, 0, "bulk|paginated",
     "How an import reads the catalogue: Shopify bulk operations (JSONL streamed), or paginated "
     "products queries (the fallback, and the benchmark's comparison)."},
    {"DH_CATALOG_IMPORT_CHUNK_MS", DH_CFG_INT, "1000", 50, 60000, NULL,
     "Import work per tick (about once a second) before the lane takes events again."},
    {"DH_CATALOG_IMPORT_LEASE_MS", DH_CFG_INT, "30000", 1000, 600000, NULL,
     "Lease of a store's import lock: one replica imports a store; if it dies another resumes "
     "after this long."},
    {"DH_CATALOG_IMPORT_POLL_MS", DH_CFG_INT, "2000", 100, 600000, NULL,
     "How often a running bulk operation's status is polled."},
    {"DH_CATALOG_SWEEP_MARGIN_S", DH_CFG_INT, "300", 0, 86400, NULL,
     "After an import, a product the import did not see is deactivated only if it last "
     "changed this long before the import started (clock differences with Shopify)."},
    DH_CONFIG_END,
};

static const char *const catalog_topics[] = {"shopify.products", NULL};

static const dh_config_var_t *const catalog_tables[] = {catalog_vars, dh_stores_config_vars,
                                                        dh_wms_config_vars, NULL};

static void c_check_config(const dh_config_t *cfg, dh_config_report_t *report)
{
    const char *mf = dh_config_get(cfg, "DH_CATALOG_STYLE_METAFIELD");
    const char *dot = strchr(mf, '.');

    if (mf[0] && (!dot || dot == mf || !dot[1] || strlen(mf) > 255)) {
        dh_config_report(report, "DH_CATALOG_STYLE_METAFIELD",
                         "must be namespace.key (got \"%.60s\")", mf);
    }
}

static dh_gauge_t *gauge(dh_metrics_t *metrics, const char *name, const char *help,
                         const char *labels)
{
    return dh_metrics_gauge(metrics, name, help, labels);
}

static void store_gauges(cat_shared_t *s, dh_metrics_t *metrics)
{
    size_t n = dh_stores_count(s->stores);

    for (size_t i = 0; i < n; i++) {
        char labels[340];

        dh_metrics_store_label(dh_stores_at(s->stores, i)->domain, labels, sizeof(labels));
        s->m.dups[i] = dh_metrics_gauge(
            metrics, "dh_catalog_duplicate_skus",
            "SKUs shared by two or more variants of the store (none of the later ones is sent).",
            labels);
        s->m.nosku[i] = dh_metrics_gauge(metrics, "dh_catalog_variants_without_sku",
                                         "Variants of the store without a SKU (not sent).", labels);
        s->m.imp_done[i] = gauge(metrics, "dh_catalog_import_variants_done",
                                 "Variants of the store's current (or last) import done.", labels);
        s->m.imp_total[i] = gauge(metrics, "dh_catalog_import_variants_total",
                                  "Variants of the store's current (or last) import in all "
                                  "(from the bulk operation's object counts).",
                                  labels);
        s->m.imp_running[i] = gauge(metrics, "dh_catalog_import_running",
                                    "1 while this replica imports the store.", labels);
    }
}

static int alloc_store_arrays(cat_shared_t *s)
{
    size_t n = dh_stores_count(s->stores) + 1;

    s->m.dups = calloc(n, sizeof(*s->m.dups));
    s->m.nosku = calloc(n, sizeof(*s->m.nosku));
    s->m.imp_done = calloc(n, sizeof(*s->m.imp_done));
    s->m.imp_total = calloc(n, sizeof(*s->m.imp_total));
    s->m.imp_running = calloc(n, sizeof(*s->m.imp_running));
    s->next_poll_ms = calloc(n, sizeof(*s->next_poll_ms));
    return s->m.dups && s->m.nosku && s->m.imp_done && s->m.imp_total && s->m.imp_running &&
                   s->next_poll_ms
               ? 0
               : -1;
}

static void free_store_arrays(cat_shared_t *s)
{
    free(s->m.dups);
    free(s->m.nosku);
    free(s->m.imp_done);
    free(s->m.imp_total);
    free(s->m.imp_running);
    free(s->next_poll_ms);
}

static void import_cfg(cat_shared_t *s, const dh_config_t *cfg)
{
    s->imp.every_h = dh_config_int(cfg, "DH_CATALOG_IMPORT_EVERY_H");
    s->imp.chunk_ms = dh_config_int(cfg, "DH_CATALOG_IMPORT_CHUNK_MS");
    s->imp.lease_ms = dh_config_int(cfg, "DH_CATALOG_IMPORT_LEASE_MS");
    s->imp.poll_ms = dh_config_int(cfg, "DH_CATALOG_IMPORT_POLL_MS");
    s->imp.sweep_margin_ms = dh_config_int(cfg, "DH_CATALOG_SWEEP_MARGIN_S") * 1000;
    s->imp.paginated = strcmp(dh_config_get(cfg, "DH_CATALOG_IMPORT_MODE"), "paginated") == 0;
    /* the lock's owner: this replica (a restarted one is a new owner: it waits the lease) */
    snprintf(s->owner, sizeof(s->owner), "%.80s-%ld-%lld", dh_config_get(cfg, "DH_INSTANCE_NAME"),
             (long)getpid(), (long long)cat_now_ms());
}

static dh_err_t c_init(const dh_worker_ctx_t *ctx, void **out, char *errstr, size_t errstr_size)
{
    static const char hv[] = "Variants by what the catalogue worker did with them.";
    static const char hp[] = "Product snapshots by outcome.";
    static const char hi[] = "Catalogue imports (all stores) by outcome.";
    cat_shared_t *s = calloc(1, sizeof(*s));
    dh_metrics_t *m = ctx->metrics;

    if (!s) {
        snprintf(errstr, errstr_size, "out of memory");
        return DH_ERR_NOMEM;
    }
    snprintf(s->style_metafield, sizeof(s->style_metafield), "%s",
             dh_config_get(ctx->cfg, "DH_CATALOG_STYLE_METAFIELD"));
    s->stores = ctx->stores;
    if (!s->stores || alloc_store_arrays(s)) {
        free_store_arrays(s);
        free(s);
        snprintf(errstr, errstr_size, "out of memory");
        return DH_ERR_NOMEM;
    }
    import_cfg(s, ctx->cfg);
    s->m.upserted = dh_metrics_counter(m, "dh_catalog_variants_total", hv, "outcome=\"upserted\"");
    s->m.unchanged =
        dh_metrics_counter(m, "dh_catalog_variants_total", hv, "outcome=\"unchanged\"");
    s->m.deactivated =
        dh_metrics_counter(m, "dh_catalog_variants_total", hv, "outcome=\"deactivated\"");
    s->m.duplicate =
        dh_metrics_counter(m, "dh_catalog_variants_total", hv, "outcome=\"duplicate\"");
    s->m.no_sku = dh_metrics_counter(m, "dh_catalog_variants_total", hv, "outcome=\"no_sku\"");
    s->m.refused = dh_metrics_counter(m, "dh_catalog_variants_total", hv, "outcome=\"refused\"");
    s->m.applied = dh_metrics_counter(m, "dh_catalog_products_total", hp, "outcome=\"applied\"");
    s->m.stale = dh_metrics_counter(m, "dh_catalog_products_total", hp, "outcome=\"stale\"");
    s->m.deleted = dh_metrics_counter(m, "dh_catalog_products_total", hp, "outcome=\"deleted\"");
    s->m.import_started =
        dh_metrics_counter(m, "dh_catalog_imports_total", hi, "outcome=\"started\"");
    s->m.import_done = dh_metrics_counter(m, "dh_catalog_imports_total", hi, "outcome=\"done\"");
    s->m.import_failed =
        dh_metrics_counter(m, "dh_catalog_imports_total", hi, "outcome=\"failed\"");
    s->m.import_cost = dh_metrics_counter(m, "dh_catalog_import_cost_points_total",
                                          "Shopify query cost points the imports spent.", NULL);
    store_gauges(s, m);
    *out = s;
    return DH_OK;
}

static void c_fini(void *shared)
{
    cat_shared_t *s = shared;

    if (s) {
        free_store_arrays(s);
        free(s);
    }
}

static void add(dh_counter_t *c, long n)
{
    if (c && n > 0) {
        dh_counter_add(c, (uint64_t)n);
    }
}

/* ---- decode ---- */

typedef struct cev {
    const dh_store_t *store;
    cat_product_t p;
} cev_t;

static void c_release(void *data)
{
    cev_t *e = data;

    if (e) {
        cat_product_clear(&e->p);
        free(e);
    }
}

static dh_result_t c_decode(void *shared, const dh_msg_t *msg, dh_event_t *ev, dh_lane_t *lane)
{
    cat_shared_t *s = shared;
    cat_opts_t o = {.style_metafield = s->style_metafield};
    char topic[64], store[300], err[512];
    cev_t *e;

    if (dh_msg_header_copy(msg, "dh-topic", topic, sizeof(topic)) ||
        strncmp(topic, "products/", 9) != 0) {
        dh_lane_fail(lane, "schema", "missing or unsupported header dh-topic");
        return DH_RESULT_DEAD_LETTER;
    }
    if (dh_msg_header_copy(msg, "dh-shop-domain", store, sizeof(store))) {
        dh_lane_fail(lane, "schema", "missing header dh-shop-domain");
        return DH_RESULT_DEAD_LETTER;
    }
    e = calloc(1, sizeof(*e));
    if (!e) {
        return DH_RESULT_FATAL;
    }
    e->store = dh_stores_find(s->stores, store);
    if (!e->store) {
        dh_lane_fail(lane, "unknown-store", "store \"%.200s\" is not configured", store);
        free(e);
        return DH_RESULT_DEAD_LETTER;
    }
    if (cat_product_from_rest(msg->payload, msg->len, topic, &o, &e->p, err, sizeof(err))) {
        dh_lane_fail(lane, msg->payload && msg->len && msg->payload[0] == '{' ? "schema" : "decode",
                     "%s", err);
        free(e);
        return DH_RESULT_DEAD_LETTER;
    }
    /* No runtime record: the per-variant fingerprints are the idempotency (apply.c). */
    ev->effect_id[0] = '\0';
    ev->data = e;
    ev->store = e->store;
    return DH_RESULT_DONE;
}

/* ---- handle ---- */

void cat_count(const cat_shared_t *s, const cat_ctx_t *c)
{
    add(s->m.upserted, c->upserted);
    add(s->m.unchanged, c->unchanged);
    add(s->m.deactivated, c->deactivated);
    add(s->m.duplicate, c->duplicates);
    add(s->m.no_sku, c->no_sku);
    add(s->m.refused, c->refused);
}

static dh_result_t c_handle(void *shared, const dh_msg_t *msg, void *data, dh_lane_t *lane)
{
    cat_shared_t *s = shared;
    cev_t *e = data;
    cat_ctx_t c = {.lane = lane, .redis = dh_lane_redis(lane), .store = e->store->domain};
    dh_result_t res;

    (void)msg;
    res = cat_apply(&c, &e->p);
    cat_count(s, &c);
    if (res == DH_RESULT_DONE) {
        add(c.stale ? s->m.stale : e->p.deleted ? s->m.deleted : s->m.applied, 1);
        DH_LOG(DH_LOG_INFO, "catalog",
               "product %s/%s%s: %ld upserted, %ld unchanged, %ld deactivated, %ld duplicate, "
               "%ld without SKU",
               e->store->domain, e->p.id, c.stale ? " (stale snapshot)" : "", c.upserted,
               c.unchanged, c.deactivated, c.duplicates, c.no_sku);
    }
    return res;
}

/* ---- tick: the report's gauges ---- */

static long long hlen(dh_redis_t *r, const char *store, const char *kind)
{
    char k[300];
    redisReply *rep = NULL;
    long long n = -1;

    cat_key(k, sizeof(k), store, kind, NULL);
    const char *argv[] = {"HLEN", k};

    if (dh_redis_command(r, 2, argv, NULL, &rep) == DH_OK && rep->type == REDIS_REPLY_INTEGER) {
        n = rep->integer;
    }
    if (rep) {
        freeReplyObject(rep);
    }
    return n;
}

static void c_tick(void *shared, dh_lane_t *lane)
{
    cat_shared_t *s = shared;
    int64_t now = cat_now_ms();

    if (now >= s->next_gauges_ms) {
        s->next_gauges_ms = now + GAUGE_EVERY_MS;
        for (size_t i = 0; i < dh_stores_count(s->stores); i++) {
            const char *d = dh_stores_at(s->stores, i)->domain;
            long long nd = hlen(dh_lane_redis(lane), d, "dups");
            long long nn = hlen(dh_lane_redis(lane), d, "nosku");

            if (nd >= 0 && s->m.dups[i]) {
                dh_gauge_set(s->m.dups[i], (double)nd);
            }
            if (nn >= 0 && s->m.nosku[i]) {
                dh_gauge_set(s->m.nosku[i], (double)nn);
            }
        }
    }
    cat_import_tick(s, lane);
}

const dh_handler_t catalog_handler = {
    .name = "catalog",
    .topics = catalog_topics,
    .config = catalog_tables,
    .check_config = c_check_config,
    .coalesce = 1,
    .init = c_init,
    .fini = c_fini,
    .decode = c_decode,
    .handle = c_handle,
    .release = c_release,
    .tick = c_tick,
};
