/*
 * The full sync (docs/inventory.md §7): at 00:00 and 12:00 in each store's time zone,
 * and on demand (Redis key dh:inv:sync:request:<store>), page through the WMS's sellable
 * inventory and set every row whose sequence is >= the applied one. Runs from tick():
 * one page per store per tick, one replica per slot (a lease refreshed per page), the
 * cursor saved after each page so a crash resumes where it stopped.
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
#include "dockhand/stockledger.h"
#include "inventory.h"
#include "shareable.h"

#define SLOT_DAYS        800
#define SYNC_BUSY_ROUNDS 3  /* retries of a row whose fence is held */
#define SYNC_BUSY_MAX    32 /* rows retried per call; more stay busy (page read again) */
#define DONE_TTL_S       "259200"

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
    if (!sh->slots || !sh->nslots) {
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
        free(sh->slots[i]);
    }
    free(sh->slots);
    free(sh->nslots);
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

/* Parse one WMS row into a quantity; 0 if the row is unusable (logged). */
static int row_qty(inv_shared_t *sh, const dh_store_t *st, json_t *row, const char **sku,
                   const char **loc, const char **fac, int64_t *seq, int64_t *target)
{
    json_t *stock = json_object_get(row, "stock");
    inv_stock_t s = {0};
    json_t *jseq = json_object_get(row, "sequence");

    *sku = json_string_value(json_object_get(row, "sku"));
    *fac = json_string_value(json_object_get(row, "facility"));
    *loc = *fac ? dh_stores_location(sh->stores, st, *fac) : NULL;
    if (!*sku || !*fac || !*loc || !json_is_integer(jseq) || !json_is_object(stock)) {
        return 0;
    }
    s.good_online = json_integer_value(json_object_get(stock, "good_online"));
    s.allocated = json_integer_value(json_object_get(stock, "allocated"));
    s.safety_stock = json_integer_value(json_object_get(stock, "safety_stock"));
    s.picked = json_integer_value(json_object_get(stock, "picked")); /* optional: 0 */
    *seq = json_integer_value(jseq);
    *target = inv_target_on_hand(&s);
    return *seq >= 0;
}

typedef struct page {
    const char *fields_p[500];
    char fields[500][400];
    int64_t seq[500], applied[500], last[500], target[500], conflict[500];
    const char *loc[500];
    inv_sku_t sku[500], tmp[500];
    int use[500]; /* the row is due */
    size_t n;     /* rows */
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
    p->n = json_array_size(items) > 500 ? 500 : json_array_size(items);
    for (size_t k = 0; k < p->n; k++) {
        const char *sku, *fac;

        p->fields_p[k] = p->fields[k];
        p->fields[k][0] = '\0';
        p->use[k] = row_qty(sh, st, json_array_get(items, k), &sku, &p->loc[k], &fac, &p->seq[k],
                            &p->target[k]);
        if (p->use[k]) {
            snprintf(p->fields[k], sizeof(p->fields[k]), "%s|%s", fac, sku);
        }
    }
    if (inv_seq_read(dh_lane_redis(lane), st->domain, p->fields_p, p->n, p->applied, p->last) !=
        DH_OK) {
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
static void page_done(inv_shared_t *sh, dh_lane_t *lane, const dh_store_t *st, const char *slot,
                      const sync_keys_t *k, const char *next)
{
    char dkey[400];

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
    dh_gauge_set(inv_metrics(sh)->sync_running, 0);
    DH_LOG(DH_LOG_INFO, "inventory", "full sync %s of %s done", slot, st->domain);
}

/* Process one page of store i's running sync. */
static void sync_page(inv_shared_t *sh, dh_lane_t *lane, size_t i, const char *slot, page_t *p)
{
    const dh_store_t *st = dh_stores_at(sh->stores, i);
    const inv_metrics_t *m = inv_metrics(sh);
    char cursor[2100] = "", tag[200];
    sync_keys_t k;
    dh_wms_reply_t rep;
    size_t pushed = 0;
    int ok;

    snprintf(k.lock, sizeof(k.lock), "dh:inv:sync:lock:%s:%s", st->domain, slot);
    snprintf(k.cursor, sizeof(k.cursor), "dh:inv:sync:cursor:%s:%s", st->domain, slot);
    snprintf(k.active, sizeof(k.active), "dh:inv:sync:active:%s", st->domain);
    if (!lease(sh, lane, k.lock, k.active, slot)) {
        return; /* another replica runs it */
    }
    dh_gauge_set(m->sync_running, 1);
    get_str(lane, k.cursor, cursor, sizeof(cursor));
    if (!strcmp(cursor, "-")) {
        cursor[0] = '\0';
    }
    if (fetch_page(sh, lane, st, slot, cursor, &rep) != 0) {
        return;
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
    dh_counter_add(m->sync_pages, 1);
    dh_counter_add(m->sync_items, pushed);
    DH_LOG(DH_LOG_INFO, "inventory", "full sync %s of %s: page at '%s': %zu rows, %zu set", slot,
           st->domain, cursor, p->n, pushed);
    page_done(sh, lane, st, slot, &k, json_string_value(json_object_get(rep.body, "next_cursor")));
out:
    dh_wms_reply_clear(&rep);
}

void inv_tick(void *shared, dh_lane_t *lane)
{
    inv_shared_t *sh = shared;
    page_t *p = NULL;

    for (size_t i = 0; i < dh_stores_count(sh->stores); i++) {
        char slot[64];

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
        sync_page(sh, lane, i, slot, p);
    }
    free(p);
}
