/*
 * Reconciliation: catches what a lost webhook never delivered. Per store, every
 * DH_ORDERS_RECONCILE_INTERVAL_S, one replica at a time (Redis lock) pages through the
 * Shopify orders updated since the store's watermark (DH_GQL_ORDERS_UPDATED_SINCE, sorted
 * by UPDATED_AT, through the store's shared cost bucket), one page per tick, and publishes
 * to shopify.orders what the worker has no record of: an "orders/create" message (and an
 * "orders/cancelled" one for a cancelled order) shaped like the webhook, and an
 * "orders/updated" one for an order Shopify changed after the last change the worker
 * handled (the "seen" marker: a lost orders/updated, e.g. an edit or a hold released). The page
 * selects only what that decision needs (~1 cost point per order); the full order (lines, address)
 * is read with DH_GQL_ORDER_FOR_RECONCILE only for an order found missing, since almost
 * none are and a page of full orders would exceed Shopify's single-query cap. The worker then
 * handles them exactly like webhooks, with the same effect ids, so anything that was not
 * missing after all is absorbed by the idempotency records and the WMS Idempotency-Key.
 *
 * Redis keys (per store):
 *   dh:orders:reconcile:lock:<store>  SET NX PX: the replica running a page
 *   dh:orders:reconcile:wm:<store>    watermark: updatedAt of the last published page
 *   dh:orders:reconcile:pass:<store>  hash {since, cursor}: a pass in progress
 *   dh:orders:reconcile:next:<store>  Unix ms when the next pass may start
 * The watermark moves only after every message of the page was acknowledged by Kafka.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dockhand/idem.h"
#include "dockhand/lock.h"
#include "dockhand/log.h"
#include "orders_internal.h"

#define LOCK_TTL_MS 60000

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

typedef struct page_ctx {
    orders_shared_t *s;
    orders_lane_t *l;
    dh_lane_t *lane;
    dh_redis_t *r;
    const dh_store_t *store;
    size_t idx; /* the store's index in the stores file */
    char owner[96];
    char since[32];
    char cursor[512];
    char wm[64];
} page_ctx_t;

static int lock_take(page_ctx_t *c)
{
    char key[320];

    snprintf(key, sizeof(key), "dh:orders:reconcile:lock:%s", c->store->domain);
    return dh_lock_take(c->r, key, c->owner, LOCK_TTL_MS);
}

static void lock_drop(page_ctx_t *c)
{
    char key[320];

    snprintf(key, sizeof(key), "dh:orders:reconcile:lock:%s", c->store->domain);
    dh_lock_drop(c->r, key, c->owner);
}

/* Loads the pass in progress, or starts one if due. 1 = a page to read, 0 = not due
 * (*next_ms set), -1 = Redis failure. */
static int pass_load(page_ctx_t *c, int64_t now, int64_t *next_ms)
{
    redisReply *rep = NULL;
    int64_t since;

    if (dh_redis_commandf(c->r, &rep, "HMGET dh:orders:reconcile:pass:%s since cursor",
                          c->store->domain)) {
        return -1;
    }
    if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 2 &&
        rep->element[0]->type == REDIS_REPLY_STRING) {
        snprintf(c->since, sizeof(c->since), "%s", rep->element[0]->str);
        snprintf(c->cursor, sizeof(c->cursor), "%s",
                 rep->element[1]->type == REDIS_REPLY_STRING ? rep->element[1]->str : "");
        freeReplyObject(rep);
        return 1;
    }
    freeReplyObject(rep);
    if (dh_redis_commandf(c->r, &rep, "MGET dh:orders:reconcile:next:%s dh:orders:reconcile:wm:%s",
                          c->store->domain, c->store->domain)) {
        return -1;
    }
    int64_t next = rep->type == REDIS_REPLY_ARRAY && rep->element[0]->type == REDIS_REPLY_STRING
                       ? strtoll(rep->element[0]->str, NULL, 10)
                       : 0;
    const char *wm = rep->type == REDIS_REPLY_ARRAY && rep->element[1]->type == REDIS_REPLY_STRING
                         ? rep->element[1]->str
                         : NULL;

    if (next > now) {
        *next_ms = next;
        freeReplyObject(rep);
        return 0;
    }
    if (!wm || orders_time_parse(wm, &since)) {
        since = now / 1000 - c->s->lookback_s;
    }
    freeReplyObject(rep);
    orders_time_format(since - c->s->overlap_s, c->since, sizeof(c->since));
    c->cursor[0] = '\0';
    return 1;
}

/* Which of the page's effects the worker has no record of: miss[3*i] for the create (the
 * runtime's idempotency record), miss[3*i+1] for the cancellation (the cancelled marker),
 * miss[3*i+2] for a later change (the order's updatedAt is after its "seen" marker, the
 * updated_at of the last order event the worker handled; no marker: not judged). */
static int find_missing(page_ctx_t *c, json_t **orders, size_t n, int *miss)
{
    char(*keys)[DH_IDEM_KEY_MAX] = calloc(2 * n, sizeof(*keys));
    char(*ids)[DH_IDEM_KEY_MAX] = calloc(n, sizeof(*ids));
    const char **argv = calloc(2 * n + 1, sizeof(*argv)), **idp = calloc(n, sizeof(*idp));
    dh_idem_state_t *created = calloc(n, sizeof(*created));
    redisReply *rep = NULL;
    int rc = -1;

    if (!keys || !ids || !argv || !idp || !created) {
        goto out;
    }
    argv[0] = "MGET";
    for (size_t i = 0; i < n; i++) {
        char id[32];

        if (orders_order_id(orders[i], id, sizeof(id))) {
            id[0] = '\0';
        }
        snprintf(ids[i], DH_IDEM_KEY_MAX, "orders/create:%s:%s", c->store->domain, id);
        idp[i] = ids[i];
        /* Set by every successful cancel, whichever message caused it. */
        snprintf(keys[2 * i], DH_IDEM_KEY_MAX, "dh:orders:cancelled:%s:%s", c->store->domain, id);
        snprintf(keys[2 * i + 1], DH_IDEM_KEY_MAX, "dh:orders:seen:%s:%s", c->store->domain, id);
        argv[2 * i + 1] = keys[2 * i];
        argv[2 * i + 2] = keys[2 * i + 1];
    }
    /* The creation's record: done, or claimed by a live attempt, counts as present (a
     * claim whose owner crashed does not: that order is missing). */
    if (dh_idem_lookup(c->r, orders_handler.name, n, idp, created, NULL) ||
        dh_redis_command(c->r, (int)(2 * n + 1), argv, NULL, &rep) ||
        rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 * n) {
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        redisReply *seen = rep->element[2 * i + 1];
        int64_t upd = orders_time_ms(json_string_value(json_object_get(orders[i], "updated_at")));

        miss[3 * i] = created[i] == DH_IDEM_ABSENT;
        miss[3 * i + 1] = rep->element[2 * i]->type != REDIS_REPLY_STRING;
        miss[3 * i + 2] = seen->type == REDIS_REPLY_STRING && upd > strtoll(seen->str, NULL, 10);
        DH_LOG(DH_LOG_DEBUG, "reconcile", "%s: updated %lld, seen %s, create %s", keys[2 * i + 1],
               (long long)upd, seen->type == REDIS_REPLY_STRING ? seen->str : "-",
               miss[3 * i] ? "missing" : "done");
    }
    rc = 0;
out:
    if (rep) {
        freeReplyObject(rep);
    }
    free(keys);
    free(ids);
    free(argv);
    free(idp);
    free(created);
    return rc;
}

static int publish(page_ctx_t *c, json_t *order, const char *topic)
{
    char id[32], key[320], recv[32], wid[160];
    char *value = json_dumps(order, JSON_COMPACT);
    const char *upd = json_string_value(json_object_get(order, "updated_at"));
    dh_err_t err;

    if (!value || orders_order_id(order, id, sizeof(id))) {
        free(value);
        return -1;
    }
    orders_time_format(now_ms() / 1000, recv, sizeof(recv));
    snprintf(key, sizeof(key), "%s|%s", c->store->domain, id);
    snprintf(wid, sizeof(wid), "reconcile:%s:%s:%s", topic, id, upd ? upd : "");
    const char *headers[] = {"dh-topic",
                             topic,
                             "dh-shop-domain",
                             c->store->domain,
                             "dh-source",
                             "reconcile",
                             "dh-webhook-id",
                             wid,
                             "dh-api-version",
                             c->store->api_version ? c->store->api_version : "",
                             "dh-received-at",
                             recv,
                             NULL};

    err = dh_lane_produce(c->lane, c->s->recon_topic, key, strlen(key), value, strlen(value),
                          headers, 15000);
    free(value);
    if (err) {
        DH_LOG(DH_LOG_WARN, "reconcile", "produce %s %s to %s: %s", topic, key, c->s->recon_topic,
               dh_err_str(err));
        return -1;
    }
    if (c->l->m_published) {
        dh_counter_add(c->l->m_published, 1);
    }
    DH_LOG(DH_LOG_INFO, "reconcile", "%s: order %s: published %s (updated_at %s)", c->store->domain,
           id, topic, upd ? upd : "-");
    return 0;
}

/* Fetches one order the page found missing (DH_GQL_ORDER_FOR_RECONCILE: the page itself
 * selects only what the decision needs, so the full order is paid for only when missing)
 * and converts it. *out is a new reference, or NULL when the order cannot be published
 * (gone, unconvertible, or more lines than one call reads: a truncated order must never
 * reach the WMS, so it is skipped, logged as an ERROR and counted for on-call).
 * Returns DH_OK (also when skipped), DH_ERR_RATE when the outcome table says wait
 * (*wait_ms), or DH_ERR_IO for any other failure (logged). */
static dh_err_t fetch_order(page_ctx_t *c, json_t *light, json_t **out, int64_t *wait_ms)
{
    char id[32], errstr[256];
    dh_gql_reply_t reply;
    dh_outcome_t o;
    json_t *vars = NULL, *node;
    dh_err_t err = DH_OK;

    *out = NULL;
    memset(&reply, 0, sizeof(reply));
    if (orders_order_id(light, id, sizeof(id))) {
        id[0] = '\0';
    }
    vars = json_pack("{s:O}", "id", json_object_get(light, "admin_graphql_api_id"));
    if (!vars) {
        DH_LOG(DH_LOG_WARN, "reconcile", "%s: order %s without a GID: skipped", c->store->domain,
               id);
        goto out;
    }
    if (dh_lane_shopify_try(c->lane, c->store, DH_GQL_ORDER_FOR_RECONCILE, vars, &reply, &o)) {
        if (o.result != DH_RESULT_WAIT) {
            DH_LOG(DH_LOG_WARN, "reconcile", "%s: order %s query: %s", c->store->domain, id,
                   o.error);
        }
        *wait_ms = o.retry_after_ms;
        err = o.result == DH_RESULT_WAIT ? DH_ERR_RATE : DH_ERR_IO;
        goto out;
    }
    node = json_object_get(reply.data, "order");
    if (!json_is_object(node)) {
        DH_LOG(DH_LOG_WARN, "reconcile", "%s: order %s no longer exists: skipped", c->store->domain,
               id);
    } else if (json_is_true(
                   json_object_get(json_object_get(json_object_get(node, "lineItems"), "pageInfo"),
                                   "hasNextPage"))) {
        DH_LOG(DH_LOG_ERROR, "reconcile",
               "%s: order %s has more than 100 line items: not published (it would be created "
               "truncated); create it in the WMS by hand or replay its webhook",
               c->store->domain, id);
        if (c->l->m_skipped) {
            dh_counter_add(c->l->m_skipped, 1);
        }
    } else {
        *out = orders_from_gql_node(node, errstr, sizeof(errstr));
        if (!*out) {
            DH_LOG(DH_LOG_WARN, "reconcile", "%s: order %s: %s: skipped", c->store->domain, id,
                   errstr);
        }
    }
out:
    json_decref(vars);
    dh_gql_reply_clear(&reply);
    return err;
}

/* Converts the page's (decision-only) nodes into REST orders for find_missing(), and
 * remembers the last updatedAt as the watermark candidate. */
static void page_orders(page_ctx_t *c, json_t *nodes, json_t **orders)
{
    char errstr[256];
    json_t *node;
    size_t i;

    json_array_foreach(nodes, i, node)
    {
        orders[i] = orders_from_gql_node(node, errstr, sizeof(errstr));
        if (!orders[i]) {
            DH_LOG(DH_LOG_WARN, "reconcile", "%s: skipping node: %s", c->store->domain, errstr);
            orders[i] = json_pack("{s:n}", "id"); /* placeholder: no id, never published */
        }
        const char *u = json_string_value(json_object_get(node, "updatedAt"));

        if (u) {
            snprintf(c->wm, sizeof(c->wm), "%s", u);
        }
    }
}

/* Publishes the missing effects of one page. DH_OK = all acked (or skipped);
 * DH_ERR_RATE = the bucket ran short (*wait_ms): the page is read again later. */
static dh_err_t publish_page(page_ctx_t *c, json_t *nodes, int64_t *wait_ms)
{
    size_t n = json_array_size(nodes), i;
    json_t **orders = calloc(n ? n : 1, sizeof(*orders));
    int *miss = calloc(3 * (n ? n : 1), sizeof(*miss));
    dh_err_t err = DH_ERR_NOMEM;
    json_t *full = NULL;

    if (!orders || !miss) {
        goto out;
    }
    page_orders(c, nodes, orders);
    err = DH_ERR_IO;
    if (n && find_missing(c, orders, n, miss)) {
        goto out;
    }
    err = DH_OK;
    for (i = 0; i < n && err == DH_OK; i++) {
        int cancelled = json_is_string(json_object_get(orders[i], "cancelled_at"));
        /* orders/create of a cancelled order creates then cancels it: one message. */
        const char *topic = miss[3 * i]                    ? "orders/create"
                            : cancelled && miss[3 * i + 1] ? "orders/cancelled"
                            : miss[3 * i + 2]              ? "orders/updated"
                                                           : NULL;

        if (!topic || !json_is_integer(json_object_get(orders[i], "id"))) {
            continue;
        }
        err = fetch_order(c, orders[i], &full, wait_ms);
        if (err == DH_OK && full && publish(c, full, topic)) {
            err = DH_ERR_IO;
        }
        json_decref(full);
        full = NULL;
    }
out:
    for (i = 0; orders && i < n; i++) {
        json_decref(orders[i]);
    }
    free(orders);
    free(miss);
    return err;
}

/* Saves progress after a fully published page. */
static void pass_save(page_ctx_t *c, int more, const char *end_cursor, int64_t now)
{
    redisReply *rep = NULL;
    dh_err_t err = DH_OK;

    if (c->wm[0]) {
        err = dh_redis_commandf(c->r, &rep, "SET dh:orders:reconcile:wm:%s %s", c->store->domain,
                                c->wm);
        if (err == DH_OK) {
            freeReplyObject(rep);
        }
    }
    if (err == DH_OK && more) {
        err = dh_redis_commandf(c->r, &rep, "HSET dh:orders:reconcile:pass:%s since %s cursor %s",
                                c->store->domain, c->since, end_cursor);
    } else if (err == DH_OK) {
        err = dh_redis_commandf(c->r, &rep, "DEL dh:orders:reconcile:pass:%s", c->store->domain);
        if (err == DH_OK) {
            freeReplyObject(rep);
            err = dh_redis_commandf(c->r, &rep, "SET dh:orders:reconcile:next:%s %lld",
                                    c->store->domain, (long long)(now + c->s->interval_s * 1000));
        }
        if (err == DH_OK && c->s->recon[c->idx].last_success) {
            dh_gauge_set(c->s->recon[c->idx].last_success, (double)now / 1000.0);
        }
    }
    if (err == DH_OK) {
        freeReplyObject(rep);
    } else {
        DH_LOG(DH_LOG_WARN, "reconcile", "%s: saving progress: %s", c->store->domain,
               dh_redis_errstr(c->r));
    }
}

/* Reads and publishes one page. Returns the earliest time to look at this store again. */
static int64_t one_page(page_ctx_t *c, int64_t now)
{
    char query[96];
    int64_t wait_ms = 0;
    dh_gql_reply_t reply;
    dh_outcome_t o;
    json_t *vars;
    dh_err_t err;

    memset(&reply, 0, sizeof(reply));
    snprintf(query, sizeof(query), "updated_at:>'%s'", c->since);
    vars = json_pack("{s:s, s:i, s:o}", "query", query, "first", c->s->page, "after",
                     c->cursor[0] ? json_string(c->cursor) : json_null());
    err = dh_lane_shopify_try(c->lane, c->store, DH_GQL_ORDERS_UPDATED_SINCE, vars, &reply, &o)
              ? DH_ERR_IO
              : DH_OK;
    json_decref(vars);
    if (err) {
        dh_gql_reply_clear(&reply);
        if (o.result == DH_RESULT_WAIT) {
            return now + o.retry_after_ms; /* within the budget: next tick */
        }
        DH_LOG(DH_LOG_WARN, "reconcile", "%s: orders query: %s", c->store->domain, o.error);
        return now + 5000;
    }
    json_t *conn = json_object_get(reply.data, "orders");
    json_t *pi = json_object_get(conn, "pageInfo");
    const char *end = json_string_value(json_object_get(pi, "endCursor"));
    int more = json_is_true(json_object_get(pi, "hasNextPage")) && end;
    int64_t next = now;

    if (c->l->m_pages) {
        dh_counter_add(c->l->m_pages, 1);
    }
    if (!json_is_array(json_object_get(conn, "nodes"))) {
        DH_LOG(DH_LOG_WARN, "reconcile", "%s: orders reply without nodes", c->store->domain);
        dh_gql_reply_clear(&reply);
        return now + 5000;
    }
    wait_ms = 0;
    DH_LOG(DH_LOG_DEBUG, "reconcile", "%s: page of %zu order(s) updated after %s%s",
           c->store->domain, json_array_size(json_object_get(conn, "nodes")), c->since,
           c->cursor[0] ? " (next page)" : "");
    err = publish_page(c, json_object_get(conn, "nodes"), &wait_ms);
    if (err == DH_OK) {
        pass_save(c, more, end, now);
        next = more ? now : now + c->s->interval_s * 1000;
    } else {
        /* Not all acked, or the bucket ran short for an order: the watermark and cursor
         * stay and the page is read again (what was published is absorbed by the effect
         * ids; the next pass skips what the worker has done meanwhile). */
        next = now + (err == DH_ERR_RATE && wait_ms > 0 ? wait_ms : 2000);
    }
    dh_gql_reply_clear(&reply);
    return next;
}

static void reconcile_store(orders_shared_t *s, orders_lane_t *l, dh_lane_t *lane, size_t i,
                            int64_t now)
{
    page_ctx_t c;
    int64_t next = now + 1000;

    memset(&c, 0, sizeof(c));
    c.s = s;
    c.l = l;
    c.lane = lane;
    c.r = dh_lane_redis(lane);
    c.store = dh_stores_at(s->stores, i);
    c.idx = i;
    snprintf(c.owner, sizeof(c.owner), "%ld:%d:%lld", (long)getpid(), dh_lane_index(lane),
             (long long)now);
    if (!lock_take(&c)) {
        s->recon[i].next_check_ms = now + 1000; /* another replica is on it */
        return;
    }
    int loaded = pass_load(&c, now, &next);

    if (loaded == 1) {
        next = one_page(&c, now);
    } else if (loaded < 0) {
        DH_LOG(DH_LOG_WARN, "reconcile", "%s: %s", c.store->domain, dh_redis_errstr(c.r));
        next = now + 5000;
    }
    lock_drop(&c);
    s->recon[i].next_check_ms = next;
}

void orders_reconcile_tick(orders_shared_t *s, dh_lane_t *lane)
{
    size_t n = dh_stores_count(s->stores);
    orders_lane_t *l = orders_lane(lane);
    int64_t now = now_ms();

    if (s->interval_s <= 0 || n == 0 || pthread_mutex_trylock(&s->recon_mu) != 0) {
        return;
    }
    for (size_t i = 0; i < n; i++) {
        if (now >= s->recon[i].next_check_ms) {
            reconcile_store(s, l, lane, i, now);
        }
    }
    pthread_mutex_unlock(&s->recon_mu);
}
