/*
 * The full sync (docs/inventory.md §7): at 00:00 and 12:00 in each store's time zone,
 * and on demand (Redis key dh:inv:sync:request:<store>), page through the WMS's sellable
 * inventory and set every row whose sequence is >= the applied one. Runs from tick():
 * pages back to back while the store's shared Shopify bucket has the points for the next
 * page's calls, for at most SYNC_TICK_MS per tick (lane 0 runs the tick between its
 * batches), one replica per slot (a lease refreshed per page), the cursor saved after each
 * page so a crash resumes where it stopped.
 *
 * Time zones: the slot instants are computed once in init(), while the process is still
 * single-threaded, with setenv("TZ") + mktime() for ~2 years ahead (DST included), and TZ
 * is restored; nothing calls localtime afterwards.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "dockhand/log.h"
#include "dockhand/ratelimit.h"
#include "dockhand/stockledger.h"
#include "inventory.h"
#include "shareable.h"

#define SLOT_DAYS        800
#define SYNC_BUSY_ROUNDS 3  /* retries of a row whose fence is held */
#define SYNC_BUSY_MAX    32 /* rows retried per call; more stay busy (page read again) */
#define DONE_TTL_S       "259200"
#define SYNC_TICK_MS     2000 /* pages of one tick: lane 0 holds its batches meanwhile */

static int tz_valid(const char *tz)
{
    char path[512];
    struct stat st;

    if (!strcmp(tz, "UTC") || !strcmp(tz, "GMT") || strpbrk(tz, "0123456789")) {
        return 1; /* UTC or a POSIX TZ string such as IST-5:30 */
    }
    snprintf(path, sizeof(path), "/usr/share/zoneinfo/%s", tz[0] == ':' ? tz + 1 : tz);
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* One series per configured store (bounded by the stores file, like the per-store
 * Shopify series), so dashboards see every store, also one that never synced. */
static void series_create(inv_shared_t *sh, size_t i)
{
    char label[320];

    if (!sh->metrics) {
        return;
    }
    dh_metrics_store_label(dh_stores_at(sh->stores, i)->domain, label, sizeof(label));
    sh->sync_series[i].rows = dh_metrics_gauge(
        sh->metrics, "dh_inventory_sync_rows_done",
        "WMS rows read by the store's running (or last) full sync; the total is unknown.", label);
    sh->sync_series[i].pages = dh_metrics_gauge(
        sh->metrics, "dh_inventory_sync_pages_done",
        "WMS pages read by the store's running (or last) full sync; the total is unknown.", label);
    sh->sync_series[i].last_success = dh_metrics_gauge(
        sh->metrics, "dh_inventory_sync_last_success_seconds",
        "Unix time the store's last full sync finished (seen by this replica; take the max).",
        label);
}

/* The first store before \p i whose time zone is \p tz (\p def when it names none), or \p i. */
static size_t shared_tz(const inv_shared_t *sh, size_t i, const char *tz, const char *def)
{
    for (size_t j = 0; j < i; j++) {
        const dh_store_t *st = dh_stores_at(sh->stores, j);
        const char *other = st->timezone && *st->timezone ? st->timezone : def;

        if (strcmp(other, tz) == 0) {
            return j;
        }
    }
    return i;
}

dh_err_t inv_sync_init(inv_shared_t *sh, char *errstr, size_t errstr_size)
{
    size_t ns = dh_stores_count(sh->stores);
    const char *def = dh_config_get(sh->cfg, "DH_INVENTORY_SYNC_TZ");
    const char *old = getenv("TZ");
    char *saved = old ? strdup(old) : NULL;
    int64_t now = (int64_t)time(NULL);
    dh_err_t err = DH_OK;

    sh->slots = calloc(ns ? ns : 1, sizeof(*sh->slots));
    sh->nslots = calloc(ns ? ns : 1, sizeof(*sh->nslots));
    sh->sync_series = calloc(ns ? ns : 1, sizeof(*sh->sync_series));
    if (!sh->slots || !sh->nslots || !sh->sync_series) {
        snprintf(errstr, errstr_size, "out of memory");
        free(saved);
        return DH_ERR_NOMEM;
    }
    for (size_t i = 0; i < ns; i++) {
        const dh_store_t *st = dh_stores_at(sh->stores, i);
        const char *tz = st->timezone && *st->timezone ? st->timezone : def;

        if (!tz_valid(tz)) {
            snprintf(errstr, errstr_size, "store %s: unknown time zone '%s'", st->domain, tz);
            err = DH_ERR_CONFIG;
            break;
        }
        series_create(sh, i);
        /* Stores in one time zone share its table (13 KB each: 1,000 stores would hold
         * 13 MB of identical copies). */
        size_t j = shared_tz(sh, i, tz, def);

        if (j < i) {
            sh->slots[i] = sh->slots[j];
            sh->nslots[i] = sh->nslots[j];
            continue;
        }
        sh->slots[i] = calloc(2 * SLOT_DAYS, sizeof(int64_t));
        if (!sh->slots[i]) {
            err = DH_ERR_NOMEM;
            break;
        }
        setenv("TZ", tz, 1);
        tzset();
        sh->nslots[i] = inv_slots_compute(now - 86400, SLOT_DAYS, sh->slots[i], 2 * SLOT_DAYS);
    }
    if (saved) {
        setenv("TZ", saved, 1);
    } else {
        unsetenv("TZ");
    }
    tzset();
    free(saved);
    return err;
}

void inv_sync_fini(inv_shared_t *sh)
{
    for (size_t i = 0; sh->slots && i < dh_stores_count(sh->stores); i++) {
        size_t j = 0;

        while (j < i && sh->slots[j] != sh->slots[i]) {
            j++;
        }
        if (j == i) { /* the first store that uses this table owns it */
            free(sh->slots[i]);
        }
    }
    free(sh->slots);
    free(sh->nslots);
    free(sh->sync_series);
}

static redisReply *cmd(dh_lane_t *lane, int argc, const char **argv)
{
    redisReply *r = NULL;

    if (dh_redis_command(dh_lane_redis(lane), argc, argv, NULL, &r) != DH_OK) {
        return NULL;
    }
    return r;
}

static int get_str(dh_lane_t *lane, const char *key, char *out, size_t size)
{
    const char *argv[] = {"GET", key};
    redisReply *r = cmd(lane, 2, argv);
    int ok = r && r->type == REDIS_REPLY_STRING;

    if (ok) {
        snprintf(out, size, "%s", r->str);
    }
    if (r) {
        freeReplyObject(r);
    }
    return ok;
}

static int simple(dh_lane_t *lane, int argc, const char **argv)
{
    redisReply *r = cmd(lane, argc, argv);
    int ok = r && (r->type == REDIS_REPLY_STATUS || r->type == REDIS_REPLY_INTEGER ||
                   r->type == REDIS_REPLY_STRING);

    if (r) {
        freeReplyObject(r);
    }
    return ok;
}

/* Take or refresh the lease on a slot, only while that slot is still the store's active
 * sync: a replica that read "active" just before another finished (and deleted the lock
 * and cursor) must not take the free lock and start the whole sync again. */
static const char lease_lua[] =
    "if redis.call('GET', KEYS[2]) ~= ARGV[3] then return 0 end\n"
    "local v = redis.call('GET', KEYS[1])\n"
    "if v == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end\n"
    "if not v then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1 end\n"
    "return 0\n";

static int lease(inv_shared_t *sh, dh_lane_t *lane, const char *key, const char *active_key,
                 const char *slot)
{
    char ms[24];
    const char *argv[] = {key, active_key, sh->owner, ms, slot};
    redisReply *r = NULL;
    int ok;

    snprintf(ms, sizeof(ms), "%lld", sh->lease_ms);
    if (dh_redis_eval(dh_lane_redis(lane), lease_lua, 2, 5, argv, NULL, &r) != DH_OK) {
        return 0;
    }
    ok = r->type == REDIS_REPLY_INTEGER && r->integer == 1;
    freeReplyObject(r);
    return ok;
}

/* Which slot should run now for store i ("" if none). */
static void pick_slot(inv_shared_t *sh, dh_lane_t *lane, size_t i, char *slot, size_t size)
{
    const dh_store_t *st = dh_stores_at(sh->stores, i);
    char key[400], val[64];
    int64_t now = (int64_t)time(NULL), cur;

    slot[0] = '\0';
    snprintf(key, sizeof(key), "dh:inv:sync:active:%s", st->domain);
    if (get_str(lane, key, slot, size)) {
        return;
    }
    char rkey[400], label[64] = "";

    snprintf(rkey, sizeof(rkey), "dh:inv:sync:request:%s", st->domain);
    const char *getdel[] = {"GETDEL", rkey};
    redisReply *r = cmd(lane, 2, getdel);

    if (r && r->type == REDIS_REPLY_STRING) {
        snprintf(label, sizeof(label), "req-%lld", (long long)now);
    }
    if (r) {
        freeReplyObject(r);
    }
    cur = inv_slot_current(sh->slots[i], sh->nslots[i], now);
    if (!label[0] && cur >= 0 && now - cur < sh->grace_s) {
        char dkey[400];

        snprintf(label, sizeof(label), "at-%lld", (long long)cur);
        snprintf(dkey, sizeof(dkey), "dh:inv:sync:done:%s:%s", st->domain, label);
        if (get_str(lane, dkey, val, sizeof(val))) {
            label[0] = '\0';
        }
    }
    if (!label[0]) {
        return;
    }
    const char *setnx[] = {"SET", key, label, "NX"};
    if (simple(lane, 4, setnx)) {
        DH_LOG(DH_LOG_INFO, "inventory", "full sync %s of %s starts", label, st->domain);
    }
    get_str(lane, key, slot, size);
}

/* Percent-encode \p in (RFC 3986 unreserved kept). */
static void urlenc(const char *in, char *out, size_t size)
{
    size_t o = 0;

    for (; *in && o + 4 < size; in++) {
        unsigned char c = (unsigned char)*in;

        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~') {
            out[o++] = (char)c;
        } else {
            o += (size_t)snprintf(out + o, size - o, "%%%02X", c);
        }
    }
    out[o] = '\0';
}

const char *const inv_row_reasons[INV_ROW_REASONS] = {"missing", "type", "range", "pattern",
                                                      "additional_property"};

static size_t reason_index(const char *reason)
{
    for (size_t i = 0; i < INV_ROW_REASONS; i++) {
        if (!strcmp(inv_row_reasons[i], reason)) {
            return i;
        }
    }
    return 1; /* "type": inv_row_parse() returns nothing else */
}

/* Validate one WMS row like an event (inv_row_parse()) into a quantity. A row that fails
 * is skipped, never read with a missing bucket as 0 (that would share safety stock or
 * zero the stock): 0, logged, and *reason is its label. */
static int row_qty(inv_shared_t *sh, const dh_store_t *st, json_t *row, size_t k, inv_row_t *r,
                   const char **loc, int64_t *target, const char **reason)
{
    char err[300];

    *loc = NULL;
    *reason = inv_row_parse(row, r, err, sizeof(err));
    if (!*reason) {
        *loc = dh_stores_location(sh->stores, st, r->facility);
        if (!*loc) {
            return 0; /* a facility Shopify does not sell from: skipped, not an error */
        }
        *target = inv_target_on_hand(&r->stock);
        return 1;
    }
    DH_LOG(DH_LOG_WARN, "inventory",
           "full sync of %s: row %zu (facility '%.64s', sku '%.100s') rejected (%s): %s",
           st->domain, k, r->facility, r->sku, *reason, err);
    return 0;
}

typedef struct page {
    const char *fields_p[500];
    char fields[500][400];
    int64_t seq[500], applied[500], last[500], target[500], conflict[500];
    const char *loc[500];
    inv_sku_t sku[500], tmp[500];
    int use[500]; /* the row is due */
    size_t n;     /* rows */
    uint64_t rejected[INV_ROW_REASONS];
    inv_set_t set[INV_BATCH_MAX];
    char fac[INV_BATCH_MAX][128];
    size_t srow[INV_BATCH_MAX];
} page_t;

/* Redis keys of one store's running sync. */
typedef struct sync_keys {
    char lock[400], cursor[400], active[400];
} sync_keys_t;

/* The outcome of one row's set: 0 when the page must be read again. */
static int row_result(const dh_store_t *st, const page_t *p, size_t i, const inv_set_t *x,
                      size_t *pushed)
{
    switch (x->what) {
    case INV_SET_PUSHED:
        (*pushed)++;
        return 1;
    case INV_SET_STALE:
    case INV_SET_SAME:
    case INV_SET_NOTHING:
        return 1;
    default:
        break;
    }
    if (x->o.result == DH_RESULT_DEAD_LETTER) {
        DH_LOG(DH_LOG_WARN, "inventory", "full sync: %s %s: %s", st->domain, p->fields_p[i],
               x->o.error);
        return 1;
    }
    return 0; /* a held fence or a failed call: the page goes again */
}

/* Rows whose fence was held elsewhere (an event or a re-push setting the SKU right now):
 * tried again a few times, 200 ms apart; one still busy is left to a re-push of its
 * (facility, sku) instead of reading the whole page again (under a steady event stream
 * some fence of a 250-row page is nearly always held). */
static void busy_rows(inv_shared_t *sh, dh_lane_t *lane, const dh_store_t *st, const char *tag,
                      page_t *p, size_t ns)
{
    inv_set_t tmp[SYNC_BUSY_MAX];
    size_t idx[SYNC_BUSY_MAX], nb = 0;

    for (int round = 0; round <= SYNC_BUSY_ROUNDS; round++) {
        nb = 0;
        for (size_t j = 0; j < ns && nb < SYNC_BUSY_MAX; j++) {
            if (p->set[j].what == INV_SET_BUSY) {
                tmp[nb] = p->set[j];
                idx[nb++] = j;
            }
        }
        if (nb == 0 || round == SYNC_BUSY_ROUNDS) {
            break;
        }
        struct timespec ts = {0, 200 * 1000 * 1000};

        nanosleep(&ts, NULL);
        inv_apply(sh, lane, st, tag, tmp, nb);
        for (size_t k = 0; k < nb; k++) {
            p->set[idx[k]] = tmp[k];
        }
    }
    for (size_t k = 0; k < nb; k++) {
        inv_set_t *x = &p->set[idx[k]];

        if (dh_sl_repush_add(dh_lane_redis(lane), st->domain, x->facility, x->sku) == DH_OK) {
            x->what = INV_SET_NOTHING; /* the re-push sets it from the records */
        }
    }
}

/* Push rows [from, to) of a page that are due, under the SKU fences (a sequence equal to
 * the applied one is set again); returns 0 when something must be retried. */
static int push_rows(inv_shared_t *sh, dh_lane_t *lane, const dh_store_t *st, const char *tag,
                     page_t *p, size_t from, size_t to, size_t *pushed)
{
    size_t ns = 0;
    int ok = 1;

    for (size_t i = from; i < to; i++) {
        const char *bar = strchr(p->fields[i], '|');

        if (!p->use[i] || !bar) {
            continue;
        }
        snprintf(p->fac[ns], sizeof(p->fac[ns]), "%.*s", (int)(bar - p->fields[i]), p->fields[i]);
        p->set[ns] = (inv_set_t){.sku = bar + 1,
                                 .item = p->sku[i].item,
                                 .location = p->loc[i],
                                 .facility = p->fac[ns],
                                 .seq = p->seq[i],
                                 .base = p->target[i],
                                 .equal_ok = 1};
        p->srow[ns++] = i;
    }
    if (ns == 0) {
        return 1;
    }
    inv_apply(sh, lane, st, tag, p->set, ns);
    busy_rows(sh, lane, st, tag, p, ns);
    for (size_t j = 0; j < ns; j++) {
        if (!row_result(st, p, p->srow[j], &p->set[j], pushed) && ok) {
            DH_LOG(DH_LOG_INFO, "inventory", "full sync: %s %s: %s %s: %s", st->domain,
                   p->fields_p[p->srow[j]], dh_result_str(p->set[j].o.result),
                   p->set[j].o.error_class, p->set[j].o.error);
            ok = 0;
        }
    }
    return ok;
}

/* Reads the page at \p cursor: 0 with \p rep (the caller clears it), -1 (logged) when the
 * page is to be read again next tick. */
static int fetch_page(inv_shared_t *sh, dh_lane_t *lane, const dh_store_t *st, const char *slot,
                      const char *cursor, dh_wms_reply_t *rep)
{
    char enc[6400], path[6600];
    dh_outcome_t o;

    urlenc(cursor, enc, sizeof(enc));
    snprintf(path, sizeof(path), "/wms/v1/inventory/sellable?store=%s&limit=%lld%s%s", st->domain,
             sh->page_size, cursor[0] ? "&cursor=" : "", enc);
    if (dh_lane_wms_try(lane, "inventory", "GET", path, NULL, NULL, rep, &o) != 0 ||
        rep->status != 200) {
        DH_LOG(DH_LOG_WARN, "inventory", "full sync %s of %s: WMS page: %s (status %ld)", slot,
               st->domain, o.error[0] ? o.error : rep->detail, rep->status);
        dh_wms_reply_clear(rep);
        return -1;
    }
    return 0;
}

/* Parses the page's rows into \p p and keeps due those not older than the applied
 * sequence (>= wins). -1 when the applied sequences cannot be read. */
static int parse_rows(inv_shared_t *sh, dh_lane_t *lane, const dh_store_t *st, json_t *items,
                      page_t *p)
{
    inv_row_t *r = malloc(sizeof(*r));

    if (!r) {
        return -1;
    }
    memset(p->rejected, 0, sizeof(p->rejected));
    p->n = json_array_size(items) > 500 ? 500 : json_array_size(items);
    for (size_t k = 0; k < p->n; k++) {
        const char *reason = NULL;

        p->fields_p[k] = p->fields[k];
        p->fields[k][0] = '\0';
        p->use[k] =
            row_qty(sh, st, json_array_get(items, k), k, r, &p->loc[k], &p->target[k], &reason);
        if (p->use[k]) {
            p->seq[k] = r->sequence;
            snprintf(p->fields[k], sizeof(p->fields[k]), "%.100s|%.200s", r->facility,
                     r->sku); /* as the handler's records (handler.c field_of()) */
        } else if (reason) {
            p->rejected[reason_index(reason)]++;
        }
    }
    free(r);
    /* An empty page (a store without rows, or an empty last page): no HMGET without
     * fields, which Redis refuses (the slot would never finish). */
    if (p->n > 0 && inv_seq_read(dh_lane_redis(lane), st->domain, p->fields_p, p->n, p->applied,
                                 p->last) != DH_OK) {
        return -1;
    }
    for (size_t k = 0; k < p->n; k++) {
        if (p->use[k] && p->seq[k] < p->applied[k]) {
            p->use[k] = 0;
        }
    }
    return 0;
}

/* Resolves the due rows' SKUs (compacted in p->tmp, then spread back by row). 0 when a
 * lookup failed: the page goes again next tick. */
static int resolve_rows(inv_shared_t *sh, dh_lane_t *lane, const dh_store_t *st, page_t *p)
{
    dh_outcome_t fail;
    size_t t = 0;
    int ok = 1;

    for (size_t k = 0; k < p->n; k++) {
        if (p->use[k]) {
            p->tmp[t++].sku = strchr(p->fields[k], '|') + 1;
        }
    }
    for (size_t from = 0; from < t; from += INV_BATCH_MAX) {
        size_t cnt = t - from < INV_BATCH_MAX ? t - from : INV_BATCH_MAX;

        inv_resolve_skus(sh, lane, st, p->tmp + from, cnt, &fail);
    }
    t = 0;
    for (size_t k = 0; k < p->n; k++) {
        if (p->use[k]) {
            p->sku[k] = p->tmp[t++];
            if (p->sku[k].status != INV_SKU_OK) {
                p->use[k] = 0;
                ok &= p->sku[k].status != INV_SKU_FAILED;
            }
        }
    }
    return ok;
}

/* After a fully pushed page: save the next cursor, or mark the slot done. */
static void page_done(inv_shared_t *sh, dh_lane_t *lane, size_t i, const char *slot,
                      const sync_keys_t *k, const char *next)
{
    const dh_store_t *st = dh_stores_at(sh->stores, i);
    char dkey[400], lkey[400], now[24];

    if (next && *next) {
        const char *set[] = {"SET", k->cursor, next, "EX", DONE_TTL_S};

        simple(lane, 5, set);
        return;
    }
    snprintf(dkey, sizeof(dkey), "dh:inv:sync:done:%s:%s", st->domain, slot);
    const char *done[] = {"SET", dkey, "1", "EX", DONE_TTL_S};
    const char *del[] = {"DEL", k->active, k->cursor, k->lock};

    simple(lane, 5, done);
    simple(lane, 4, del);
    snprintf(now, sizeof(now), "%lld", (long long)time(NULL));
    snprintf(lkey, sizeof(lkey), "dh:inv:sync:last_success:%s", st->domain);
    const char *last[] = {"SET", lkey, now};

    simple(lane, 3, last);
    if (sh->sync_series) {
        dh_gauge_set(sh->sync_series[i].last_success, (double)time(NULL));
    }
    dh_gauge_set(inv_metrics(sh)->sync_running, 0);
    DH_LOG(DH_LOG_INFO, "inventory", "full sync %s of %s done", slot, st->domain);
}

/* The slot's progress, shared by the replicas that run its pages: HINCRBY pages and rows
 * in dh:inv:sync:progress:<store>:<slot> (a page redone after a crash counts twice). */
static const char progress_lua[] = "local p = redis.call('HINCRBY', KEYS[1], 'pages', 1)\n"
                                   "local r = redis.call('HINCRBY', KEYS[1], 'rows', ARGV[1])\n"
                                   "redis.call('EXPIRE', KEYS[1], ARGV[2])\n"
                                   "return {p, r}\n";

/* After a page: the store's gauges and the progress log line. The WMS API gives no total
 * (SellableInventoryPage has items and next_cursor only): "of unknown". */
static void progress(inv_shared_t *sh, dh_lane_t *lane, size_t i, const char *slot,
                     const char *cursor, const page_t *p, size_t pushed)
{
    const dh_store_t *st = dh_stores_at(sh->stores, i);
    const inv_metrics_t *m = inv_metrics(sh);
    char key[400], rows[24];
    const char *argv[] = {key, rows, DONE_TTL_S};
    redisReply *r = NULL;
    long long pages = -1, total = -1;
    uint64_t rejected = 0;

    for (size_t k = 0; k < INV_ROW_REASONS; k++) {
        dh_counter_add(m->rows_rejected[k], p->rejected[k]);
        rejected += p->rejected[k];
    }
    dh_counter_add(m->sync_pages, 1);
    dh_counter_add(m->sync_items, pushed);
    snprintf(key, sizeof(key), "dh:inv:sync:progress:%s:%s", st->domain, slot);
    snprintf(rows, sizeof(rows), "%zu", p->n);
    if (dh_redis_eval(dh_lane_redis(lane), progress_lua, 1, 3, argv, NULL, &r) == DH_OK) {
        if (r->type == REDIS_REPLY_ARRAY && r->elements == 2) {
            pages = r->element[0]->integer;
            total = r->element[1]->integer;
        }
        freeReplyObject(r);
    }
    if (pages >= 0 && sh->sync_series) {
        dh_gauge_set(sh->sync_series[i].pages, (double)pages);
        dh_gauge_set(sh->sync_series[i].rows, (double)total);
    }
    DH_LOG(DH_LOG_INFO, "inventory",
           "full sync %s of %s: page at '%s': %zu rows, %zu set, %llu rejected; done %lld pages "
           "of unknown, %lld rows of unknown",
           slot, st->domain, cursor, p->n, pushed, (unsigned long long)rejected, pages, total);
}

/* Process one page of store i's running sync: 1 when it was done and the sync has a next
 * page, else 0 (another replica runs it, it failed and goes again next tick, or finished). */
static int sync_page(inv_shared_t *sh, dh_lane_t *lane, size_t i, const char *slot, page_t *p)
{
    const dh_store_t *st = dh_stores_at(sh->stores, i);
    const inv_metrics_t *m = inv_metrics(sh);
    char cursor[2100] = "", tag[200];
    sync_keys_t k;
    dh_wms_reply_t rep;
    size_t pushed = 0;
    const char *next;
    int ok, more = 0;

    snprintf(k.lock, sizeof(k.lock), "dh:inv:sync:lock:%s:%s", st->domain, slot);
    snprintf(k.cursor, sizeof(k.cursor), "dh:inv:sync:cursor:%s:%s", st->domain, slot);
    snprintf(k.active, sizeof(k.active), "dh:inv:sync:active:%s", st->domain);
    if (!lease(sh, lane, k.lock, k.active, slot)) {
        return 0; /* another replica runs it */
    }
    dh_gauge_set(m->sync_running, 1);
    get_str(lane, k.cursor, cursor, sizeof(cursor));
    if (!strcmp(cursor, "-")) {
        cursor[0] = '\0';
    }
    if (fetch_page(sh, lane, st, slot, cursor, &rep) != 0) {
        return 0;
    }
    ok = parse_rows(sh, lane, st, json_object_get(rep.body, "items"), p) == 0 &&
         resolve_rows(sh, lane, st, p);
    snprintf(tag, sizeof(tag), "sync:%.60s:%.120s", slot, cursor);
    for (size_t from = 0; ok && from < p->n; from += INV_BATCH_MAX) {
        ok = push_rows(sh, lane, st, tag, p, from,
                       from + INV_BATCH_MAX < p->n ? from + INV_BATCH_MAX : p->n, &pushed);
    }
    if (!ok) {
        DH_LOG(DH_LOG_INFO, "inventory", "full sync %s of %s: page at '%s' retried next tick", slot,
               st->domain, cursor);
        goto out;
    }
    progress(sh, lane, i, slot, cursor, p, pushed);
    next = json_string_value(json_object_get(rep.body, "next_cursor"));
    more = next && *next;
    page_done(sh, lane, i, slot, &k, next);
out:
    dh_wms_reply_clear(&rep);
    return more;
}

static int64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Whether the store's shared bucket (all replicas, all lanes) has the points for one page
 * of calls now. Only pacing: acquire still gates every call, and a page whose call is
 * refused is read again, so a wrong guess costs a WMS read, never a THROTTLED. */
static int bucket_room(inv_shared_t *sh, dh_lane_t *lane, const dh_store_t *st)
{
    long long calls = (sh->page_size + INV_BATCH_MAX - 1) / INV_BATCH_MAX;
    double cost = dh_gql_expected_cost(DH_GQL_INVENTORY_SET_QUANTITIES) * (double)calls;
    int64_t wait_ms = 0;

    if (cost > st->bucket.capacity) {
        cost = st->bucket.capacity;
    }
    if (dh_ratelimit_shopify_peek(dh_lane_redis(lane), st->domain, &st->bucket, cost, &wait_ms) !=
        DH_OK) {
        return 1; /* unknown: try the page, acquire decides */
    }
    return wait_ms == 0;
}

/* Store i's running sync for at most SYNC_TICK_MS: pages back to back while the bucket
 * has room (the restore rate, not the tick, bounds a long sync). */
static void sync_pages(inv_shared_t *sh, dh_lane_t *lane, size_t i, const char *slot, page_t *p)
{
    const dh_store_t *st = dh_stores_at(sh->stores, i);
    int64_t end = mono_ms() + SYNC_TICK_MS;

    do {
        if (!bucket_room(sh, lane, st)) {
            return;
        }
    } while (sync_page(sh, lane, i, slot, p) && mono_ms() < end);
}

/* After a restart the gauge shows the store's last success recorded by any replica. */
static void last_success_load(inv_shared_t *sh, dh_lane_t *lane, size_t i)
{
    char key[400], val[32];

    if (!sh->sync_series || dh_gauge_value(sh->sync_series[i].last_success) > 0) {
        return;
    }
    snprintf(key, sizeof(key), "dh:inv:sync:last_success:%s", dh_stores_at(sh->stores, i)->domain);
    if (get_str(lane, key, val, sizeof(val))) {
        dh_gauge_set(sh->sync_series[i].last_success, atof(val));
    }
}

void inv_tick(void *shared, dh_lane_t *lane)
{
    inv_shared_t *sh = shared;
    page_t *p = NULL;

    for (size_t i = 0; i < dh_stores_count(sh->stores); i++) {
        char slot[64];

        last_success_load(sh, lane, i);
        pick_slot(sh, lane, i, slot, sizeof(slot));
        if (!slot[0]) {
            continue;
        }
        if (!p) {
            p = malloc(sizeof(*p));
            if (!p) {
                return;
            }
        }
        sync_pages(sh, lane, i, slot, p);
    }
    free(p);
}
