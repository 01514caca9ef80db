/*
 * dh-catalog's import: a store's whole catalogue through Shopify's bulk operations
 * (docs/catalogue.md "Import").
 *
 * Runs from the tick of every replica, a bounded slice per tick, as a small state machine
 * kept in Redis (hash dh:catalog:<store>:import) so any replica can resume it:
 *   idle/done/failed --(due: requested, or DH_CATALOG_IMPORT_EVERY_H since the last)-->
 *   running (bulkOperationRunQuery sent; bulkOperation(id:) polled) -->
 *   downloading (the JSONL result read from "offset" with an HTTP Range request, one
 *   product group at a time, each applied with cat_apply(); the offset after the last
 *   applied group is saved) --> done.
 * One replica imports a store at a time: the lock dh:catalog:<store>:import:lock (owner,
 * lease DH_CATALOG_IMPORT_LEASE_MS) is renewed every tick; after a crash it expires and
 * another replica (or the restarted one) resumes from the saved offset. Products applied
 * after the last saved offset are applied again, and their fingerprints make that free:
 * the WMS sees every SKU once. The JSONL is streamed: memory holds one line and one
 * product group (groupObjects: true keeps a product's variants right after it).
 */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "apply.h"
#include "dockhand/lock.h"
#include "dockhand/log.h"
#include "dockhand/stores.h"

#define LINE_MAX_BYTES (4u << 20) /* a product line with its options; far above Shopify's */
#define PAGE_FIRST     5
#define PAGE_VARIANTS  25

static int64_t wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *str_or(json_t *v, const char *def)
{
    return json_is_string(v) ? json_string_value(v) : def;
}

/* ---- the state hash and the lock ---- */

typedef struct imp {
    char state[16]; /* idle | running | downloading | done | failed */
    char op[160];
    char url[1024];
    char cursor[512]; /* paginated mode: the next page's cursor */
    char sweep[64];   /* sweeping: the SCAN cursor of the reconciliation */
    long long offset, done, total, finished_ms, requested, started_ms;
} imp_t;

static void imp_load(dh_redis_t *r, const char *store, imp_t *st)
{
    char k[300];
    redisReply *rep = NULL;

    memset(st, 0, sizeof(*st));
    snprintf(st->state, sizeof(st->state), "idle");
    st->finished_ms = -1;
    cat_key(k, sizeof(k), store, "import", NULL);
    const char *argv[] = {"HGETALL", k};

    if (dh_redis_command(r, 2, argv, NULL, &rep) != DH_OK) {
        snprintf(st->state, sizeof(st->state), "?");
        return;
    }
    for (size_t i = 0; i + 1 < rep->elements; i += 2) {
        const char *f = rep->element[i]->str, *v = rep->element[i + 1]->str;

        if (!strcmp(f, "state")) {
            snprintf(st->state, sizeof(st->state), "%s", v);
        } else if (!strcmp(f, "op")) {
            snprintf(st->op, sizeof(st->op), "%s", v);
        } else if (!strcmp(f, "url")) {
            snprintf(st->url, sizeof(st->url), "%s", v);
        } else if (!strcmp(f, "cursor")) {
            snprintf(st->cursor, sizeof(st->cursor), "%s", v);
        } else if (!strcmp(f, "offset")) {
            st->offset = strtoll(v, NULL, 10);
        } else if (!strcmp(f, "done")) {
            st->done = strtoll(v, NULL, 10);
        } else if (!strcmp(f, "total")) {
            st->total = strtoll(v, NULL, 10);
        } else if (!strcmp(f, "finished_ms")) {
            st->finished_ms = strtoll(v, NULL, 10);
        } else if (!strcmp(f, "requested")) {
            st->requested = strtoll(v, NULL, 10);
        } else if (!strcmp(f, "started_ms")) {
            st->started_ms = strtoll(v, NULL, 10);
        } else if (!strcmp(f, "sweep")) {
            snprintf(st->sweep, sizeof(st->sweep), "%s", v);
        }
    }
    freeReplyObject(rep);
}

/* HSET of NULL-terminated name, value pairs. */
static int imp_set(dh_redis_t *r, const char *store, const char *const *kv)
{
    char k[300];
    const char *argv[24];
    int argc = 2;
    redisReply *rep = NULL;

    cat_key(k, sizeof(k), store, "import", NULL);
    argv[0] = "HSET";
    argv[1] = k;
    for (; *kv && argc < 22; kv++) {
        argv[argc++] = *kv;
    }
    if (dh_redis_command(r, argc, argv, NULL, &rep) != DH_OK) {
        return -1;
    }
    freeReplyObject(rep);
    return 0;
}

/* Take the store's import lock, or renew it when this replica holds it already (an import
 * spans many ticks; dh_lock_take() only takes a free lock). */
static const char lock_lua[] =
    "local cur = redis.call('GET', KEYS[1])\n"
    "if cur == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]); return 1 end\n"
    "if cur then return 0 end\n"
    "redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]); return 1\n";

static int lock_hold(cat_shared_t *s, dh_redis_t *r, const char *store)
{
    char k[300], lease[24];
    redisReply *rep = NULL;
    int held = 0;

    cat_key(k, sizeof(k), store, "import:lock", NULL);
    snprintf(lease, sizeof(lease), "%lld", s->imp.lease_ms);
    const char *argv[] = {k, s->owner, lease};

    if (dh_redis_eval(r, lock_lua, 1, 3, argv, NULL, &rep) == DH_OK) {
        held = rep->type == REDIS_REPLY_INTEGER && rep->integer == 1;
    }
    if (rep) {
        freeReplyObject(rep);
    }
    return held;
}

/* ---- Shopify calls ---- */

/* One GraphQL call, classified by the common table (dh_lane_shopify_try()); the reply in
 * \p rep on 0 (the caller clears it); on -1 the reason is logged and the slice ends. */
static int gql(cat_shared_t *s, dh_lane_t *lane, const dh_store_t *store, dh_gql_doc_t doc,
               json_t *vars, dh_gql_reply_t *rep)
{
    dh_outcome_t o;
    int rc = dh_lane_shopify_try(lane, store, doc, vars, rep, &o);

    if (rep->actual_cost > 0 && s->m.import_cost) {
        dh_counter_add(s->m.import_cost, (uint64_t)(rep->actual_cost + 0.5));
    }
    if (rc) {
        DH_LOG(DH_LOG_WARN, "catalog", "import %s: %s: %s (next tick)", store->domain,
               dh_result_str(o.result), o.error);
        dh_gql_reply_clear(rep);
        return -1;
    }
    return 0;
}

static void finish(cat_shared_t *s, dh_lane_t *lane, const dh_store_t *store, const char *state,
                   const char *why)
{
    char now[24];
    const char *kv[] = {"state", state, "finished_ms", now, NULL};

    snprintf(now, sizeof(now), "%lld", (long long)wall_ms());
    imp_set(dh_lane_redis(lane), store->domain, kv);
    if (strcmp(state, "done") == 0) {
        if (s->m.import_done) {
            dh_counter_add(s->m.import_done, 1);
        }
    } else if (s->m.import_failed) {
        dh_counter_add(s->m.import_failed, 1);
    }
    DH_LOG(strcmp(state, "done") ? DH_LOG_ERROR : DH_LOG_INFO, "catalog", "import %s: %s%s%s",
           store->domain, state, why ? ": " : "", why ? why : "");
    char k[300];

    cat_key(k, sizeof(k), store->domain, "import:lock", NULL);
    dh_lock_drop(dh_lane_redis(lane), k, s->owner);
}

/* Start the bulk operation. Returns how long to wait before trying again (0: started or
 * failed). */
static int64_t start_bulk(cat_shared_t *s, dh_lane_t *lane, const dh_store_t *store)
{
    int64_t again = 0;

    dh_gql_doc_t text = s->style_metafield[0] ? DH_GQL_CATALOG_BULK_PRODUCTS_METAFIELDS
                                              : DH_GQL_CATALOG_BULK_PRODUCTS;
    json_t *vars = json_pack("{s:s}", "query", dh_gql_text(text));
    dh_gql_reply_t rep = {0};
    char now[24];

    if (gql(s, lane, store, DH_GQL_CATALOG_BULK_RUN, vars, &rep) == 0) {
        json_t *run = json_object_get(rep.data, "bulkOperationRunQuery");
        const char *id =
            json_string_value(json_object_get(json_object_get(run, "bulkOperation"), "id"));
        json_t *ue = json_array_get(json_object_get(run, "userErrors"), 0);

        if (id) {
            snprintf(now, sizeof(now), "%lld", (long long)wall_ms());
            const char *kv[] = {"state", "running", "op",    id,  "requested",  "0", "offset", "0",
                                "done",  "0",       "total", "0", "started_ms", now, NULL};

            imp_set(dh_lane_redis(lane), store->domain, kv);
            if (s->m.import_started) {
                dh_counter_add(s->m.import_started, 1);
            }
            DH_LOG(DH_LOG_INFO, "catalog", "import %s: bulk operation %s started", store->domain,
                   id);
        } else {
            const char *code = str_or(json_object_get(ue, "code"), "");
            const dh_outcome_rule_t *rule = dh_outcome_rule(
                &catalog_outcomes, DH_FAR_SHOPIFY, CAT_CALL_BULK_RUN, DH_ANSWER_USER_ERRORS, code);
            char why[300];

            snprintf(why, sizeof(why), "bulkOperationRunQuery refused: %s %.200s", code,
                     str_or(json_object_get(ue, "message"), ""));
            if (rule->result == DH_RESULT_WAIT) { /* OPERATION_IN_PROGRESS: later */
                DH_LOG(DH_LOG_WARN, "catalog", "import %s: %s", store->domain, why);
                again = rule->retry_after_ms;
            } else {
                finish(s, lane, store, "failed", why);
            }
        }
        dh_gql_reply_clear(&rep);
    }
    json_decref(vars);
    return again;
}

/* The whole result is applied: reconcile (sweep.c), then done. */
static void to_sweep(dh_lane_t *lane, const dh_store_t *store, const char *why)
{
    const char *kv[] = {"state", "sweeping", "sweep", "", NULL};

    imp_set(dh_lane_redis(lane), store->domain, kv);
    DH_LOG(DH_LOG_INFO, "catalog", "import %s: result applied (%s); looking for products gone",
           store->domain, why);
}

static void poll_bulk(cat_shared_t *s, dh_lane_t *lane, const dh_store_t *store, imp_t *st)
{
    json_t *vars = json_pack("{s:s}", "id", st->op);
    dh_gql_reply_t rep = {0};

    if (gql(s, lane, store, DH_GQL_CATALOG_BULK_STATUS, vars, &rep) == 0) {
        json_t *op = json_object_get(rep.data, "bulkOperation");
        const char *status = json_string_value(json_object_get(op, "status"));
        const char *url = json_string_value(json_object_get(op, "url"));
        long long objects = strtoll(str_or(json_object_get(op, "objectCount"), "0"), NULL, 10);
        long long roots = strtoll(str_or(json_object_get(op, "rootObjectCount"), "0"), NULL, 10);
        char total[24];

        if (status && strcmp(status, "COMPLETED") == 0) {
            /* every non-root object is a variant, unless metafields are read too */
            snprintf(total, sizeof(total), "%lld", objects - roots);
            const char *kv[] = {"state", "downloading", "url", url ? url : "",
                                "total", total,         NULL};

            imp_set(dh_lane_redis(lane), store->domain, kv);
            DH_LOG(DH_LOG_INFO, "catalog", "import %s: bulk operation done, %lld products, %s",
                   store->domain, roots, url ? "reading the result" : "no result file");
        } else if (!status || !strcmp(status, "FAILED") || !strcmp(status, "CANCELED") ||
                   !strcmp(status, "EXPIRED")) {
            char why[200];

            snprintf(why, sizeof(why), "bulk operation %s %s %s", st->op,
                     status ? status : "unknown", str_or(json_object_get(op, "errorCode"), ""));
            finish(s, lane, store, "failed", why);
        }
        dh_gql_reply_clear(&rep);
    }
    json_decref(vars);
}

/* ---- the JSONL result, streamed ---- */

typedef struct dl {
    cat_shared_t *s;
    dh_lane_t *lane;
    const dh_store_t *store;
    cat_opts_t opts;
    long long pos;     /* absolute offset of the next byte received */
    long long skip_to; /* a server that ignored Range: bytes before this are skipped */
    char *line;        /* the current partial line */
    size_t len, cap;
    json_t *prod, *vars, *mfs; /* the current product group */
    long long group_off;       /* where the current group starts */
    long long offset;          /* checkpoint: everything before is applied */
    long long done;
    int64_t deadline;
    int stop, failed, eof;
    cat_ctx_t sum;
} dl_t;

static void group_clear(dl_t *d)
{
    json_decref(d->prod);
    json_decref(d->vars);
    json_decref(d->mfs);
    d->prod = d->vars = d->mfs = NULL;
}

/* Apply the current group; -1 when it must be tried again (the checkpoint stays). */
static int flush(dl_t *d)
{
    cat_product_t p;
    cat_ctx_t c = {.lane = d->lane, .redis = dh_lane_redis(d->lane), .store = d->store->domain};
    char err[256];
    dh_result_t res;

    if (!d->prod) {
        return 0;
    }
    if (cat_id(json_object_get(d->prod, "id"), err, sizeof(err)) == 0 &&
        cat_sweep_seen(dh_lane_redis(d->lane), d->store->domain, err)) {
        return -1; /* not recorded as seen: the sweep would take it for gone */
    }
    if (cat_product_from_gql(d->prod, d->vars, d->mfs, &d->opts, &p, err, sizeof(err))) {
        DH_LOG(DH_LOG_WARN, "catalog", "import %s: product line at byte %lld skipped: %s",
               d->store->domain, d->group_off, err);
        group_clear(d);
        return 0;
    }
    res = cat_apply(&c, &p);
    cat_count(d->s, &c);
    d->sum.calls += c.calls;
    d->sum.upserted += c.upserted;
    d->sum.unchanged += c.unchanged;
    if (res == DH_RESULT_DEAD_LETTER) {
        DH_LOG(DH_LOG_WARN, "catalog", "import %s: product %s: %s (see the report)",
               d->store->domain, p.id, c.why);
    } else if (res != DH_RESULT_DONE) {
        DH_LOG(DH_LOG_WARN, "catalog", "import %s: product %s: %s (resumes next tick)",
               d->store->domain, p.id, c.why[0] ? c.why : "transient failure");
        cat_product_clear(&p);
        return -1;
    }
    d->done += (long long)p.nv;
    cat_product_clear(&p);
    group_clear(d);
    return 0;
}

/* Save the checkpoint: the bytes before \p off are applied. */
static void checkpoint(dl_t *d, long long off)
{
    char o[24], n[24];
    const char *kv[] = {"offset", o, "done", n, NULL};

    d->offset = off;
    snprintf(o, sizeof(o), "%lld", off);
    snprintf(n, sizeof(n), "%lld", d->done);
    imp_set(dh_lane_redis(d->lane), d->store->domain, kv);
}

/* One complete line starting at absolute offset \p at. 0 goes on, -1 stops the transfer. */
static int on_line(dl_t *d, const char *text, size_t len, long long at)
{
    json_t *j = json_loadb(text, len, 0, NULL);
    const char *parent = json_string_value(json_object_get(j, "__parentId"));
    const char *id = json_string_value(json_object_get(j, "id"));

    if (!json_is_object(j)) {
        DH_LOG(DH_LOG_ERROR, "catalog", "import %s: byte %lld is not a JSON line", d->store->domain,
               at);
        json_decref(j);
        d->failed = 1;
        return -1;
    }
    if (!parent) { /* a product: the previous group is complete */
        if (flush(d)) {
            json_decref(j);
            d->failed = 1;
            return -1;
        }
        checkpoint(d, at);
        if (cat_now_ms() >= d->deadline) {
            json_decref(j);
            d->stop = 1;
            return -1;
        }
        d->prod = j;
        d->vars = json_array();
        d->mfs = json_array();
        d->group_off = at;
        return 0;
    }
    if (d->prod && id && strncmp(id, "gid://shopify/ProductVariant/", 29) == 0) {
        json_array_append_new(d->vars, j);
    } else if (d->prod && json_object_get(j, "namespace")) {
        json_array_append_new(d->mfs, j);
    } else {
        json_decref(j);
    }
    return 0;
}

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *ud)
{
    dl_t *d = ud;
    size_t n = size * nmemb;

    for (size_t i = 0; i < n; i++, d->pos++) {
        if (d->pos < d->skip_to) {
            continue;
        }
        if (ptr[i] != '\n') {
            if (d->len + 1 >= d->cap) {
                size_t cap = d->cap ? d->cap * 2 : 65536;
                char *nl = cap <= LINE_MAX_BYTES ? realloc(d->line, cap) : NULL;

                if (!nl) {
                    d->failed = 1;
                    return 0;
                }
                d->line = nl;
                d->cap = cap;
            }
            d->line[d->len++] = ptr[i];
            continue;
        }
        long long at = d->pos - (long long)d->len;

        if (d->len > 0 && on_line(d, d->line, d->len, at)) {
            return 0; /* stops the transfer: the rest is read from the checkpoint */
        }
        d->len = 0;
    }
    return n;
}

static size_t on_header(char *buf, size_t size, size_t nitems, void *ud)
{
    dl_t *d = ud;
    size_t n = size * nitems;

    /* a 200 to a Range request: the whole file comes, skip to the checkpoint */
    if (n > 12 && strncmp(buf, "HTTP/", 5) == 0 && strstr(buf, " 200")) {
        d->pos = 0;
        d->skip_to = d->offset;
    }
    return n;
}

static void download(cat_shared_t *s, dh_lane_t *lane, const dh_store_t *store, imp_t *st)
{
    dl_t d = {.s = s,
              .lane = lane,
              .store = store,
              .pos = st->offset,
              .offset = st->offset,
              .done = st->done};
    CURL *c = curl_easy_init();
    char range[48];
    CURLcode rc;
    long status = 0;

    d.opts.style_metafield = s->style_metafield;
    d.deadline = cat_now_ms() + s->imp.chunk_ms;
    if (!c) {
        return;
    }
    snprintf(range, sizeof(range), "%lld-", st->offset);
    curl_easy_setopt(c, CURLOPT_URL, st->url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 30L);
    curl_easy_setopt(c, CURLOPT_RANGE, range);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &d);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &d);
    d.pos = st->offset; /* a 206 starts at the offset */
    rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    if (rc == CURLE_OK && (status == 200 || status == 206)) {
        if (d.len > 0) { /* a last line without newline */
            on_line(&d, d.line, d.len, d.pos - (long long)d.len);
        }
        if (!d.failed && !d.stop && flush(&d) == 0) {
            checkpoint(&d, d.pos);
            char why[160];

            snprintf(why, sizeof(why), "%lld variants, %ld WMS calls in the last slice", d.done,
                     d.sum.calls);
            to_sweep(lane, store, why);
        }
    } else if (rc == CURLE_OK) {
        finish(s, lane, store, "failed", "the result file is gone (expired?)");
    } else if (!d.stop && !d.failed) {
        DH_LOG(DH_LOG_WARN, "catalog", "import %s: result download: %s (resumes next tick)",
               store->domain, curl_easy_strerror(rc));
    }
    if (d.stop || d.failed) {
        DH_LOG(DH_LOG_INFO, "catalog", "import %s: %lld of %lld variants", store->domain, d.done,
               st->total);
    }
    group_clear(&d);
    free(d.line);
}

/* ---- the paginated fallback ---- */

/* Apply one page's products; -1 to stop (retry the page next tick). */
static int apply_page(cat_shared_t *s, dh_lane_t *lane, const dh_store_t *store, json_t *nodes,
                      long long *done)
{
    cat_opts_t o = {.style_metafield = s->style_metafield};
    size_t i;
    json_t *pn;

    json_array_foreach(nodes, i, pn)
    {
        json_t *vconn = json_object_get(pn, "variants");
        cat_product_t p;
        cat_ctx_t c = {.lane = lane, .redis = dh_lane_redis(lane), .store = store->domain};
        char err[256];

        if (json_is_true(json_object_get(json_object_get(vconn, "pageInfo"), "hasNextPage"))) {
            /* a partial variant list would read as removed variants: bulk serves these */
            DH_LOG(DH_LOG_WARN, "catalog",
                   "import %s: %s has more than %d variants: skipped by the paginated import",
                   store->domain, str_or(json_object_get(pn, "id"), "?"), PAGE_VARIANTS);
            continue;
        }
        json_t *mfs = json_object_get(json_object_get(pn, "metafields"), "nodes");

        if (cat_id(json_object_get(pn, "id"), err, sizeof(err)) == 0 &&
            cat_sweep_seen(dh_lane_redis(lane), store->domain, err)) {
            return -1;
        }
        if (cat_product_from_gql(pn, json_object_get(vconn, "nodes"), mfs, &o, &p, err,
                                 sizeof(err))) {
            continue;
        }
        dh_result_t res = cat_apply(&c, &p);

        cat_count(s, &c);
        *done += (long long)p.nv;
        cat_product_clear(&p);
        if (res != DH_RESULT_DONE && res != DH_RESULT_DEAD_LETTER) {
            return -1;
        }
    }
    return 0;
}

static void pages(cat_shared_t *s, dh_lane_t *lane, const dh_store_t *store, imp_t *st)
{
    int64_t deadline = cat_now_ms() + s->imp.chunk_ms;

    while (cat_now_ms() < deadline) {
        json_t *vars = json_pack("{s:i, s:i}", "first", PAGE_FIRST, "variantsFirst", PAGE_VARIANTS);
        dh_gql_reply_t rep = {0};
        long long done = st->done;

        if (st->cursor[0]) {
            json_object_set_new(vars, "after", json_string(st->cursor));
        }
        int rc = gql(s, lane, store, DH_GQL_PRODUCTS, vars, &rep);

        json_decref(vars);
        if (rc) {
            return;
        }
        json_t *conn = json_object_get(rep.data, "products");
        json_t *info = json_object_get(conn, "pageInfo");

        if (apply_page(s, lane, store, json_object_get(conn, "nodes"), &done)) {
            dh_gql_reply_clear(&rep); /* the whole page again next tick: fingerprints */
            return;
        }
        char n[24];

        st->done = done;
        snprintf(n, sizeof(n), "%lld", done);
        snprintf(st->cursor, sizeof(st->cursor), "%s",
                 str_or(json_object_get(info, "endCursor"), ""));
        const char *kv[] = {"cursor", st->cursor, "done", n, "total", n, NULL};

        imp_set(dh_lane_redis(lane), store->domain, kv);
        int more = json_is_true(json_object_get(info, "hasNextPage"));

        dh_gql_reply_clear(&rep);
        if (!more) {
            to_sweep(lane, store, "paginated");
            return;
        }
    }
    DH_LOG(DH_LOG_INFO, "catalog", "import %s: %lld variants (paginated)", store->domain, st->done);
}

/* ---- the tick ---- */

static void sweep(cat_shared_t *s, dh_lane_t *lane, const dh_store_t *store, const imp_t *st)
{
    char next[64];

    if (cat_sweep_slice(s, lane, store->domain, st->sweep, st->started_ms - s->imp.sweep_margin_ms,
                        cat_now_ms() + s->imp.chunk_ms, next, sizeof(next))) {
        char why[96];

        snprintf(why, sizeof(why), "%lld variants", st->done);
        finish(s, lane, store, "done", why);
        return;
    }
    const char *kv[] = {"sweep", next, NULL};

    imp_set(dh_lane_redis(lane), store->domain, kv);
}

static int due(const cat_shared_t *s, const imp_t *st)
{
    if (st->requested) {
        return 1;
    }
    return s->imp.every_h > 0 &&
           (st->finished_ms < 0 || wall_ms() - st->finished_ms >= s->imp.every_h * 3600000LL);
}

static void gauges(cat_shared_t *s, size_t i, const imp_t *st, int running)
{
    if (s->m.imp_done[i]) {
        dh_gauge_set(s->m.imp_done[i], (double)st->done);
        dh_gauge_set(s->m.imp_total[i], (double)st->total);
        dh_gauge_set(s->m.imp_running[i], running);
    }
}

static int64_t start(cat_shared_t *s, dh_lane_t *lane, const dh_store_t *store)
{
    char now[24];

    cat_sweep_reset(dh_lane_redis(lane), store->domain);
    if (!s->imp.paginated) {
        return start_bulk(s, lane, store);
    }
    snprintf(now, sizeof(now), "%lld", (long long)wall_ms());
    const char *kv[] = {"state", "downloading", "op",         "paginated", "cursor",
                        "",      "requested",   "0",          "done",      "0",
                        "total", "0",           "started_ms", now,         NULL};

    imp_set(dh_lane_redis(lane), store->domain, kv);
    if (s->m.import_started) {
        dh_counter_add(s->m.import_started, 1);
    }
    return 0;
}

void cat_import_tick(cat_shared_t *s, dh_lane_t *lane)
{
    dh_redis_t *r = dh_lane_redis(lane);

    for (size_t i = 0; i < dh_stores_count(s->stores); i++) {
        const dh_store_t *store = dh_stores_at(s->stores, i);
        imp_t st;

        imp_load(r, store->domain, &st);
        int active = !strcmp(st.state, "running") || !strcmp(st.state, "downloading") ||
                     !strcmp(st.state, "sweeping");

        if (!strcmp(st.state, "?") || (!active && !due(s, &st)) ||
            !lock_hold(s, r, store->domain)) {
            gauges(s, i, &st, 0);
            continue;
        }
        gauges(s, i, &st, 1);
        if (!active) {
            if (cat_now_ms() >= s->next_poll_ms[i]) {
                s->next_poll_ms[i] = cat_now_ms() + start(s, lane, store);
            }
        } else if (!strcmp(st.state, "running") && cat_now_ms() >= s->next_poll_ms[i]) {
            s->next_poll_ms[i] = cat_now_ms() + s->imp.poll_ms;
            poll_bulk(s, lane, store, &st);
        } else if (!strcmp(st.state, "sweeping")) {
            sweep(s, lane, store, &st);
        } else if (!strcmp(st.state, "downloading")) {
            if (!strcmp(st.op, "paginated")) {
                pages(s, lane, store, &st);
            } else {
                download(s, lane, store, &st);
            }
        }
    }
}
