/*
 * The inventory worker's handler: decode (validate, resolve store and location) and
 * handle_batch (stale filter, zone-move rule, SKU resolution, one inventorySetQuantities
 * call per store, applied-sequence records). docs/inventory.md.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dockhand/log.h"
#include "inventory.h"
#include "shareable.h"

static const dh_config_var_t inv_vars[] = {
    {"DH_INVENTORY_SYNC_TZ", DH_CFG_STRING, "UTC", 0, 0, NULL,
     "Time zone of the 00:00/12:00 full syncs for stores without \"timezone\" (IANA name)."},
    {"DH_INVENTORY_SYNC_PAGE_SIZE", DH_CFG_INT, "250", 250, 500, NULL,
     "Rows per WMS sellable-inventory page (pages run back to back while the bucket has room)."},
    {"DH_INVENTORY_SYNC_LEASE_MS", DH_CFG_INT, "30000", 1000, 600000, NULL,
     "Lease of a running sync, refreshed per page; after a crash another replica resumes."},
    {"DH_INVENTORY_SYNC_GRACE_S", DH_CFG_INT, "21600", 60, 43200, NULL,
     "A scheduled sync slot still starts up to this long after its time (e.g. after a restart)."},
    {"DH_INVENTORY_REASON", DH_CFG_STRING, "correction", 0, 0, NULL,
     "inventorySetQuantities reason."},
    {"DH_INVENTORY_REFERENCE_URI_PREFIX", DH_CFG_STRING, "gid://dockhand/InventoryBatch/", 0, 0,
     NULL, "referenceDocumentUri prefix; the call's idempotency key is appended."},
    {"DH_INVENTORY_FENCE_MS", DH_CFG_INT, "30000", 1000, 600000, NULL,
     "Lease of a SKU's stock fence, held while its on_hand is computed and sent; must exceed "
     "DH_HTTP_TIMEOUT_MS so a crashed pusher's call cannot land after it."},
    {"DH_INVENTORY_ITEM_CACHE_TTL_S", DH_CFG_INT, "86400", 60, 2592000, NULL,
     "TTL of the SKU -> inventory item cache in Redis."},
    {"DH_INVENTORY_LOOKUP_WAIT_MAX_S", DH_CFG_INT, "600", 1, 43200, NULL,
     "A SKU lookup throttled this long without fetching a page is given up: its events are "
     "dead-lettered \"lookup-throttled\" (a rate-limit wait is never an attempt)."},
    {"DH_INVENTORY_CALL_HOLD_MS", DH_CFG_INT, "1000", 0, 5000, NULL,
     "While the store's shared bucket cannot pay for an inventorySetQuantities, hold it up to "
     "this long so more lanes' quantities join it (0: send at once)."},
    DH_CONFIG_END,
};

static const dh_config_var_t *const inv_tables[] = {inv_vars, dh_stores_config_vars,
                                                    dh_wms_config_vars, NULL};
static const char *const inv_topics[] = {"wms.putaway", "wms.zone_move", NULL};

/* The lane's Shopify and WMS clients (the runtime's lane owns them), made at start. */
static dh_err_t inv_lane_init(void *shared, dh_lane_t *lane, void **state, char *errstr,
                              size_t errstr_size)
{
    inv_lane_t *il = malloc(sizeof(*il));

    (void)shared;
    if (!il) {
        snprintf(errstr, errstr_size, "out of memory");
        return DH_ERR_NOMEM;
    }
    il->shopify = dh_lane_shopify(lane);
    il->wms = dh_lane_wms(lane);
    *state = il;
    return DH_OK;
}

static void inv_lane_fini(void *shared, void *state)
{
    (void)shared;
    free(state);
}

inv_lane_t *inv_lane(dh_lane_t *lane)
{
    return dh_lane_state(lane);
}

const inv_metrics_t *inv_metrics(const inv_shared_t *sh)
{
    return &sh->m;
}

/* Every series, once, at init. */
static void metrics_create(inv_metrics_t *x, dh_metrics_t *m)
{
    static const double bounds[] = {1, 5, 10, 25, 50, 100, 150, 200, 250};

    x->calls_ok = dh_metrics_counter(m, "dh_inventory_calls_total", "inventorySetQuantities calls.",
                                     "outcome=\"ok\"");
    x->calls_failed = dh_metrics_counter(m, "dh_inventory_calls_total",
                                         "inventorySetQuantities calls.", "outcome=\"failed\"");
    x->quantities =
        dh_metrics_counter(m, "dh_inventory_quantities_total", "Quantities set in Shopify.", NULL);
    x->moves_without_call = dh_metrics_counter(
        m, "dh_inventory_moves_without_call_total",
        "Zone moves within one zone class acknowledged without a Shopify call.", NULL);
    x->stale = dh_metrics_counter(m, "dh_inventory_stale_total",
                                  "Events whose sequence was already applied.", NULL);
    x->sync_pages = dh_metrics_counter(m, "dh_inventory_sync_pages_total",
                                       "Full-sync WMS pages processed.", NULL);
    x->sync_items =
        dh_metrics_counter(m, "dh_inventory_sync_items_total", "Full-sync rows pushed.", NULL);
    x->lookup_catalog = dh_metrics_counter(m, "dh_inventory_sku_lookups_total",
                                           "SKU resolutions by source.", "source=\"catalog\"");
    x->lookup_cache = dh_metrics_counter(m, "dh_inventory_sku_lookups_total",
                                         "SKU resolutions by source.", "source=\"cache\"");
    x->lookup_shopify = dh_metrics_counter(m, "dh_inventory_sku_lookups_total",
                                           "SKU resolutions by source.", "source=\"shopify\"");
    x->fence_waits = dh_metrics_counter(
        m, "dh_inventory_fence_waits_total",
        "Sets of a SKU's on_hand that waited because its fence was held elsewhere.", NULL);
    x->repushes = dh_metrics_counter(m, "dh_inventory_repushes_total",
                                     "Re-pushes of a SKU's on_hand from the re-push queue.", NULL);
    x->batch_size = dh_metrics_histogram(m, "dh_inventory_batch_size",
                                         "Quantities per inventorySetQuantities call.", NULL,
                                         bounds, sizeof(bounds) / sizeof(bounds[0]));
    x->sync_running = dh_metrics_gauge(m, "dh_inventory_sync_running",
                                       "Full syncs this replica is running.", NULL);
    for (size_t i = 0; i < INV_ROW_REASONS; i++) {
        char label[64];

        snprintf(label, sizeof(label), "reason=\"%s\"", inv_row_reasons[i]);
        x->rows_rejected[i] =
            dh_metrics_counter(m, "dh_inventory_sync_rows_rejected_total",
                               "Full-sync WMS rows skipped as invalid, by reason.", label);
    }
}

/* The time zones of the scheduled syncs: the default and every store's own. A stores
 * file that does not load is reported by the runtime's own check. */
static void check_time_zones(const dh_config_t *cfg, dh_config_report_t *report)
{
    const char *def = dh_config_get(cfg, "DH_INVENTORY_SYNC_TZ");
    dh_stores_t *stores = NULL;
    char errstr[256];

    if (!dh_config_tz_valid(def)) {
        dh_config_report(report, "DH_INVENTORY_SYNC_TZ", "unknown time zone '%.64s'", def);
    }
    if (dh_stores_load(dh_config_get(cfg, "DH_STORES_FILE"), &stores, errstr, sizeof(errstr))) {
        return;
    }
    for (size_t i = 0; i < dh_stores_count(stores); i++) {
        const dh_store_t *st = dh_stores_at(stores, i);

        if (st->timezone && *st->timezone && !dh_config_tz_valid(st->timezone)) {
            dh_config_report(report, "DH_STORES_FILE", "store %s: unknown time zone '%.64s'",
                             st->domain, st->timezone);
        }
    }
    dh_stores_destroy(stores);
}

static void inv_check_config(const dh_config_t *cfg, dh_config_report_t *report)
{
    const char *linger = dh_config_get(cfg, "DH_BATCH_LINGER_MS");

    if (*linger && dh_config_int(cfg, "DH_BATCH_LINGER_MS") > 1000) {
        dh_config_report(report, "DH_BATCH_LINGER_MS",
                         "at most 1000 for dh-inventory (stock would reach Shopify too late)");
    }
    if (strlen(dh_config_get(cfg, "DH_INVENTORY_REASON")) >= sizeof(((inv_shared_t *)0)->reason)) {
        dh_config_report(report, "DH_INVENTORY_REASON", "longer than %zu bytes",
                         sizeof(((inv_shared_t *)0)->reason) - 1);
    }
    if (strlen(dh_config_get(cfg, "DH_INVENTORY_REFERENCE_URI_PREFIX")) >=
        sizeof(((inv_shared_t *)0)->uri_prefix)) {
        dh_config_report(report, "DH_INVENTORY_REFERENCE_URI_PREFIX", "longer than %zu bytes",
                         sizeof(((inv_shared_t *)0)->uri_prefix) - 1);
    }
    if (dh_config_int(cfg, "DH_INVENTORY_FENCE_MS") <= dh_config_int(cfg, "DH_HTTP_TIMEOUT_MS")) {
        dh_config_report(report, "DH_INVENTORY_FENCE_MS",
                         "must be above DH_HTTP_TIMEOUT_MS (%lld): a set could land after the "
                         "fence expired",
                         (long long)dh_config_int(cfg, "DH_HTTP_TIMEOUT_MS"));
    }
    check_time_zones(cfg, report);
}

static dh_err_t inv_init(const dh_worker_ctx_t *ctx, void **out, char *errstr, size_t errstr_size)
{
    const dh_config_t *cfg = ctx->cfg;
    inv_shared_t *sh = calloc(1, sizeof(*sh));
    char host[64] = "host";
    dh_err_t err;

    if (!sh) {
        snprintf(errstr, errstr_size, "out of memory");
        return DH_ERR_NOMEM;
    }
    metrics_create(&sh->m, ctx->metrics);
    sh->metrics = ctx->metrics;
    sh->cfg = cfg;
    snprintf(sh->reason, sizeof(sh->reason), "%s", dh_config_get(cfg, "DH_INVENTORY_REASON"));
    snprintf(sh->uri_prefix, sizeof(sh->uri_prefix), "%s",
             dh_config_get(cfg, "DH_INVENTORY_REFERENCE_URI_PREFIX"));
    sh->item_ttl_s = dh_config_int(cfg, "DH_INVENTORY_ITEM_CACHE_TTL_S");
    sh->lookup_wait_max_s = dh_config_int(cfg, "DH_INVENTORY_LOOKUP_WAIT_MAX_S");
    sh->page_size = dh_config_int(cfg, "DH_INVENTORY_SYNC_PAGE_SIZE");
    sh->lease_ms = dh_config_int(cfg, "DH_INVENTORY_SYNC_LEASE_MS");
    sh->grace_s = dh_config_int(cfg, "DH_INVENTORY_SYNC_GRACE_S");
    sh->fence_ms = dh_config_int(cfg, "DH_INVENTORY_FENCE_MS");
    sh->http_ms = dh_config_int(cfg, "DH_HTTP_TIMEOUT_MS");
    sh->hold_ms = dh_config_int(cfg, "DH_INVENTORY_CALL_HOLD_MS");
    gethostname(host, sizeof(host) - 1);
    snprintf(sh->owner, sizeof(sh->owner), "%s:%ld:%lld", host, (long)getpid(),
             (long long)time(NULL));
    sh->stores = ctx->stores;
    err = inv_sync_init(sh, errstr, errstr_size);
    if (err == DH_OK && !(sh->newest = inv_newest_new())) {
        err = DH_ERR_NOMEM;
    }
    if (err == DH_OK && !(sh->combine = inv_combine_new(dh_stores_count(sh->stores)))) {
        err = DH_ERR_NOMEM;
    }
    if (err != DH_OK) {
        inv_newest_destroy(sh->newest);
        inv_combine_destroy(sh->combine);
        free(sh);
        return err;
    }
    *out = sh;
    return DH_OK;
}

static void inv_fini(void *shared)
{
    inv_shared_t *sh = shared;

    if (!sh) {
        return;
    }
    inv_sync_fini(sh);
    inv_newest_destroy(sh->newest);
    inv_combine_destroy(sh->combine);
    free(sh);
}

static dh_result_t inv_decode(void *shared, const dh_msg_t *msg, dh_event_t *ev, dh_lane_t *lane)
{
    inv_shared_t *sh = shared;
    inv_item_t *it = calloc(1, sizeof(*it));
    char err[700];
    const char *klass;

    if (!it) {
        dh_lane_fail(lane, "internal", "out of memory");
        return DH_RESULT_RETRY;
    }
    klass = inv_event_check(sh->stores, msg, it, err, sizeof(err));
    if (klass) {
        dh_lane_fail(lane, klass, "%s", err);
        goto dead;
    }
    if (dh_event_set_effect(ev, "inv:%s", it->ev.event_id)) {
        dh_lane_fail(lane, "internal", "out of memory");
        free(it);
        return DH_RESULT_FATAL;
    }
    inv_newest_offer(sh->newest, &it->ev);
    ev->data = it;
    ev->store = it->store; /* parked while its store is in trouble */
    return DH_RESULT_DONE;
dead:
    free(it);
    return DH_RESULT_DEAD_LETTER;
}

static void inv_release(void *data)
{
    free(data);
}

static void field_of(const inv_item_t *it, char *buf, size_t size)
{
    snprintf(buf, size, "%.100s|%.200s", it->ev.facility, it->ev.sku);
}

/* Per-batch scratch for one store group. */
typedef struct grp {
    size_t idx[INV_BATCH_MAX]; /* batch item indices */
    char fields[INV_BATCH_MAX][400];
    const char *fp[INV_BATCH_MAX];
    int64_t seq[INV_BATCH_MAX], last[INV_BATCH_MAX];
    inv_sku_t sku[INV_BATCH_MAX];
    inv_set_t set[INV_BATCH_MAX];
    size_t ssrc[INV_BATCH_MAX];     /* set -> group index */
    size_t need[INV_BATCH_MAX], nn; /* group indices whose SKU is to resolve */
    size_t ns;                      /* sets to apply */
    const dh_store_t *store;
} grp_t;

static void fail_all(dh_batch_item_t *items, const grp_t *g, size_t n, dh_result_t r,
                     const char *cls, const char *why)
{
    for (size_t i = 0; i < n; i++) {
        dh_batch_fail(&items[g->idx[i]], r, cls, "%s", why);
    }
}

/* Reads the applied sequences and sorts the group: stale (DONE) or due (its SKU to resolve,
 * in g->need). The fenced apply checks again; this only saves lookups. -1 when Redis
 * failed (all RETRY). */
static int sort_group(inv_shared_t *sh, dh_batch_item_t *items, grp_t *g, size_t n, dh_lane_t *lane)
{
    const inv_metrics_t *m = inv_metrics(sh);

    for (size_t i = 0; i < n; i++) {
        /* A replayed older event may have superseded a newer one in the queue. */
        inv_newest_take(sh->newest, &((inv_item_t *)items[g->idx[i]].data)->ev);
        field_of(items[g->idx[i]].data, g->fields[i], sizeof(g->fields[i]));
        g->fp[i] = g->fields[i];
    }
    if (inv_seq_read(dh_lane_redis(lane), g->store->domain, g->fp, n, g->seq, g->last) != DH_OK) {
        fail_all(items, g, n, DH_RESULT_RETRY, "redis", "reading applied sequences failed");
        return -1;
    }
    g->nn = 0;
    for (size_t i = 0; i < n; i++) {
        const inv_item_t *it = items[g->idx[i]].data;

        if (it->ev.sequence <= g->seq[i]) {
            dh_counter_add(m->stale, 1); /* DONE: nothing changes */
        } else {
            g->need[g->nn] = i;
            g->sku[g->nn].sku = it->ev.sku;
            g->nn++;
        }
    }
    return 0;
}

/* Resolves the due SKUs into sets (g->set, g->ns); a SKU that matches no or several
 * items is decided by inv_outcomes, a failed lookup by the outcome table. */
static void resolve_group(inv_shared_t *sh, dh_batch_item_t *items, grp_t *g, dh_lane_t *lane)
{
    dh_outcome_t fail;

    inv_resolve_skus(sh, lane, g->store, g->sku, g->nn, &fail);
    g->ns = 0;
    for (size_t j = 0; j < g->nn; j++) {
        size_t i = g->need[j];
        dh_batch_item_t *bi = &items[g->idx[i]];
        const inv_item_t *it = bi->data;
        const inv_sku_t *k = &g->sku[j];

        if (k->status == INV_SKU_OK) {
            g->set[g->ns] = (inv_set_t){.sku = it->ev.sku,
                                        .item = k->item,
                                        .location = it->location,
                                        .facility = it->ev.facility,
                                        .seq = it->ev.sequence,
                                        .base = inv_target_on_hand(&it->ev.stock),
                                        .same_no_call = !it->ev.crosses};
            g->ssrc[g->ns++] = i;
        } else if (k->status == INV_SKU_FAILED) {
            dh_batch_outcome(bi, &fail);
        } else if (k->status == INV_SKU_STUCK) {
            dh_outcome_t o;

            dh_outcome_of_rule(dh_outcome_rule(&inv_outcomes, DH_FAR_SHOPIFY, INV_CALL_VARIANTS,
                                               DH_ANSWER_THROTTLED, NULL),
                               "THROTTLED", &o, "%s", k->detail);
            dh_batch_outcome(bi, &o);
        } else {
            const char *what = k->status == INV_SKU_AMBIGUOUS ? "ambiguous" : "";

            dh_outcome_t o;

            dh_outcome_of_rule(dh_outcome_rule(&inv_outcomes, DH_FAR_SHOPIFY, INV_CALL_VARIANTS,
                                               DH_ANSWER_MISSING, what),
                               what, &o, "%s", k->detail);
            dh_batch_outcome(bi, &o);
        }
    }
}

/* Applies the sets under the fences; each event gets its set's outcome. */
static void push_group(inv_shared_t *sh, dh_batch_item_t *items, grp_t *g, dh_lane_t *lane)
{
    const inv_metrics_t *m = inv_metrics(sh);

    if (g->ns == 0) {
        return;
    }
    inv_apply(sh, lane, g->store, "ev", g->set, g->ns);
    for (size_t j = 0; j < g->ns; j++) {
        dh_batch_item_t *bi = &items[g->idx[g->ssrc[j]]];

        if (g->set[j].what == INV_SET_STALE) {
            dh_counter_add(m->stale, 1);
        } else if (g->set[j].what == INV_SET_SAME) {
            dh_counter_add(m->moves_without_call, 1);
        }
        if (g->set[j].o.result != DH_RESULT_DONE) {
            dh_batch_outcome(bi, &g->set[j].o);
        }
    }
}

static void handle_group(inv_shared_t *sh, dh_batch_item_t *items, grp_t *g, size_t n,
                         dh_lane_t *lane)
{
    g->store = ((inv_item_t *)items[g->idx[0]].data)->store;
    if (sort_group(sh, items, g, n, lane) != 0) {
        return;
    }
    resolve_group(sh, items, g, lane);
    push_group(sh, items, g, lane);
    for (size_t i = 0; i < n; i++) {
        const dh_batch_item_t *bi = &items[g->idx[i]];

        if (bi->result == DH_RESULT_DONE || bi->result == DH_RESULT_DEAD_LETTER) {
            inv_newest_done(sh->newest, &((const inv_item_t *)bi->data)->ev);
        }
    }
}

static void inv_handle_batch(void *shared, dh_batch_item_t *items, size_t n, dh_lane_t *lane)
{
    inv_shared_t *sh = shared;
    grp_t *g = malloc(sizeof(*g));
    char *taken = calloc(n ? n : 1, 1);

    if (!g || !taken) {
        for (size_t i = 0; i < n; i++) {
            dh_batch_fail(&items[i], DH_RESULT_RETRY, "internal", "out of memory");
        }
        goto out;
    }
    /* Group by store (a batch rarely spans many), at most 250 per call. */
    for (size_t i = 0; i < n; i++) {
        size_t k = 0;

        if (taken[i]) {
            continue;
        }
        const dh_store_t *st = ((inv_item_t *)items[i].data)->store;

        for (size_t j = i; j < n; j++) {
            if (!taken[j] && ((inv_item_t *)items[j].data)->store == st) {
                taken[j] = 1;
                g->idx[k++] = j;
                if (k == INV_BATCH_MAX) {
                    handle_group(sh, items, g, k, lane);
                    k = 0;
                }
            }
        }
        if (k > 0) {
            handle_group(sh, items, g, k, lane);
        }
    }
out:
    free(taken);
    free(g);
}

/* The re-push queue first: it is small and bounded, the full sync does one page. */
static void inv_tick_all(void *shared, dh_lane_t *lane)
{
    inv_repush_tick(shared, lane);
    inv_tick(shared, lane);
}

const dh_handler_t inv_handler = {
    .name = "inventory",
    .topics = inv_topics,
    .config = inv_tables,
    .batch_max = INV_BATCH_MAX,
    .linger_ms = 200,
    .coalesce = 1,
    .check_config = inv_check_config,
    .init = inv_init,
    .fini = inv_fini,
    .lane_init = inv_lane_init,
    .lane_fini = inv_lane_fini,
    .decode = inv_decode,
    .handle_batch = inv_handle_batch,
    .release = inv_release,
    .tick = inv_tick_all,
};
