/*
 * dh-orders handler: one shopify.orders record -> at most a few WMS calls.
 *
 *   orders/create              POST /sales-orders (OPEN, or ON_HOLD for a Return Prime
 *                              exchange); then cancel if the payload is already cancelled.
 *   orders/cancelled           POST .../cancel; on 404 the order is created from this payload
 *                              (it is the full order) with the create key, then cancelled.
 *   orders/updated             acknowledged, except: cancelled_at set and no cancel seen ->
 *                              cancel; the hold tag gone from an order we created ON_HOLD ->
 *                              release-hold.
 *   orders/paid                as orders/updated (edits.c): the payment the WMS keeps.
 *   fulfillment_holds/released POST .../release-hold, unless the WMS's part is still held.
 *   fulfillment_holds/added    POST .../hold with Shopify's reason (holds.c).
 *   fulfillment_orders/moved,  the order read from Shopify, routed, then as orders/updated
 *   .../scheduled_fulfillment_order_ready                                   (fo_events.c).
 *   refunds/create             no WMS call: a re-push of each SKU Shopify restocked at a
 *                              WMS location (refunds.c).
 *
 * Every write carries a deterministic Idempotency-Key (dh_idem_far_key of
 * "create:<store>:<id>" / "cancel:<store>:<id>" / "release:<store>:<id>"), so a retry after
 * an unknown outcome is recognised by the WMS; duplicates of one webhook topic are skipped
 * before any call by the runtime's idempotency record (effect id "<topic>:<store>:<id>").
 * See docs/orders.md.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dockhand/idem.h"
#include "dockhand/log.h"
#include "dockhand/stores.h"
#include "dockhand/validate.h"
#include "dockhand/wms.h"
#include "orders.h"
#include "orders_internal.h"

/* ---- configuration and process-wide state ---- */

static const dh_config_var_t orders_vars[] = {
    {"DH_ORDERS_HOLD_TAGS", DH_CFG_STRING, "returnprime,exchange", 0, 0, NULL,
     "Comma-separated order tags that mark a Return Prime exchange: created ON_HOLD."},
    {"DH_ORDERS_TEST_ORDERS", DH_CFG_STRING, "skip", 0, 0, NULL,
     "Shopify test orders (\"test\": true): skip (not sent, counted) or send; per store: "
     "\"skip,<store>=send\"."},
    {"DH_ORDERS_PENDING_PAYMENT", DH_CFG_STRING, "hold", 0, 0, NULL,
     "Orders whose payment is pending (not cash on delivery): hold (created ON_HOLD "
     "awaiting-payment, released when paid) or send; per store: \"hold,<store>=send\"."},
    {"DH_ORDERS_RECONCILE_INTERVAL_S", DH_CFG_INT, "300", 0, 86400, NULL,
     "Seconds between reconciliation passes per store (0: off)."},
    {"DH_ORDERS_RECONCILE_LOOKBACK_S", DH_CFG_INT, "3600", 1, 5184000, NULL,
     "First pass of a store (no watermark yet) looks back this far."},
    {"DH_ORDERS_RECONCILE_OVERLAP_S", DH_CFG_INT, "5", 0, 3600, NULL,
     "Each pass re-reads this much before the watermark (clock skew, same-second updates)."},
    {"DH_ORDERS_RECONCILE_PAGE", DH_CFG_INT, "50", 1, 250, NULL,
     "Orders per reconciliation page (one page per tick)."},
    {"DH_ORDERS_RECONCILE_TOPIC", DH_CFG_STRING, "shopify.orders", 0, 0, NULL,
     "Topic the reconciliation publishes missed orders to."},
    {"DH_ORDERS_MARKER_TTL_S", DH_CFG_INT, "691200", 60, 31536000, NULL,
     "Retention of the held/cancelled markers in Redis (>= the replay horizon)."},
    DH_CONFIG_END,
};

static const char *const orders_topics[] = {"shopify.orders", NULL};

static const dh_config_var_t *const orders_tables[] = {orders_vars, dh_stores_config_vars,
                                                       dh_wms_config_vars, NULL};

static void check_policy(const dh_config_t *cfg, dh_config_report_t *report, const char *name,
                         const char *v0, const char *v1)
{
    char why[256];
    const char *v = dh_config_get(cfg, name);

    if (strlen(v) >= sizeof(((orders_shared_t *)0)->test_policy)) {
        dh_config_report(report, name, "longer than %zu bytes",
                         sizeof(((orders_shared_t *)0)->test_policy) - 1);
    } else if (orders_policy(v, NULL, v0, v1, why, sizeof(why)) < 0) {
        dh_config_report(report, name, "%s", why);
    }
}

/* Values copied into fixed buffers of orders_shared_t must fit them whole. */
static void o_check_config(const dh_config_t *cfg, dh_config_report_t *report)
{
    const char *tags = dh_config_get(cfg, "DH_ORDERS_HOLD_TAGS");
    const char *topic = dh_config_get(cfg, "DH_ORDERS_RECONCILE_TOPIC");

    if (strlen(tags) >= sizeof(((orders_shared_t *)0)->hold_tags)) {
        dh_config_report(report, "DH_ORDERS_HOLD_TAGS", "longer than %zu bytes",
                         sizeof(((orders_shared_t *)0)->hold_tags) - 1);
    }
    if (strlen(topic) >= sizeof(((orders_shared_t *)0)->recon_topic)) {
        dh_config_report(report, "DH_ORDERS_RECONCILE_TOPIC", "longer than %zu bytes",
                         sizeof(((orders_shared_t *)0)->recon_topic) - 1);
    } else if (!*topic && dh_config_int(cfg, "DH_ORDERS_RECONCILE_INTERVAL_S") > 0) {
        dh_config_report(report, "DH_ORDERS_RECONCILE_TOPIC",
                         "required while DH_ORDERS_RECONCILE_INTERVAL_S is not 0");
    }
    check_policy(cfg, report, "DH_ORDERS_TEST_ORDERS", "skip", "send");
    check_policy(cfg, report, "DH_ORDERS_PENDING_PAYMENT", "hold", "send");
}

static void metrics_create(orders_lane_t *l, dh_metrics_t *m);
static void o_fini(void *shared);

/* The per-store series, one per configured store, at init:
 * dh_orders_edits_refused_total and dh_orders_reconcile_last_success_seconds. */
static dh_err_t store_series_create(orders_shared_t *s, dh_metrics_t *m)
{
    size_t n = dh_stores_count(s->stores);
    char label[300];

    s->metrics.m_edit_refused = calloc(n + 1, sizeof(*s->metrics.m_edit_refused));
    if (!s->metrics.m_edit_refused) {
        return DH_ERR_NOMEM;
    }
    for (size_t i = 0; m && i < n; i++) {
        dh_metrics_store_label(dh_stores_at(s->stores, i)->domain, label, sizeof(label));
        s->metrics.m_edit_refused[i] = dh_metrics_counter(
            m, "dh_orders_edits_refused_total",
            "Order edits the WMS refused (picked or dispatched): dead-lettered, act by hand.",
            label);
        s->recon[i].last_success = dh_metrics_gauge(
            m, "dh_orders_reconcile_last_success_seconds",
            "Unix time the store's last reconciliation pass finished (this replica's; take the "
            "max).",
            label);
    }
    return DH_OK;
}

static dh_err_t o_init(const dh_worker_ctx_t *ctx, void **out, char *errstr, size_t errstr_size)
{
    const dh_config_t *cfg = ctx->cfg;
    orders_shared_t *s = calloc(1, sizeof(*s));
    dh_err_t err;

    if (!s) {
        snprintf(errstr, errstr_size, "out of memory");
        return DH_ERR_NOMEM;
    }
    s->cfg = cfg;
    pthread_mutex_init(&s->recon_mu, NULL);
    s->stores = ctx->stores;
    s->recon = calloc(dh_stores_count(s->stores) + 1, sizeof(*s->recon));
    err = s->recon ? DH_OK : DH_ERR_NOMEM;
    if (err) {
        pthread_mutex_destroy(&s->recon_mu);
        free(s);
        return err;
    }
    metrics_create(&s->metrics, ctx->metrics);
    err = store_series_create(s, ctx->metrics);
    if (err) {
        snprintf(errstr, errstr_size, "out of memory");
        o_fini(s);
        return err;
    }
    snprintf(s->hold_tags, sizeof(s->hold_tags), "%s", dh_config_get(cfg, "DH_ORDERS_HOLD_TAGS"));
    snprintf(s->test_policy, sizeof(s->test_policy), "%s",
             dh_config_get(cfg, "DH_ORDERS_TEST_ORDERS"));
    snprintf(s->pending_policy, sizeof(s->pending_policy), "%s",
             dh_config_get(cfg, "DH_ORDERS_PENDING_PAYMENT"));
    snprintf(s->recon_topic, sizeof(s->recon_topic), "%s",
             dh_config_get(cfg, "DH_ORDERS_RECONCILE_TOPIC"));
    s->interval_s = dh_config_int(cfg, "DH_ORDERS_RECONCILE_INTERVAL_S");
    s->lookback_s = dh_config_int(cfg, "DH_ORDERS_RECONCILE_LOOKBACK_S");
    s->overlap_s = dh_config_int(cfg, "DH_ORDERS_RECONCILE_OVERLAP_S");
    s->page = (int)dh_config_int(cfg, "DH_ORDERS_RECONCILE_PAGE");
    s->marker_ttl_s = dh_config_int(cfg, "DH_ORDERS_MARKER_TTL_S");
    *out = s;
    return DH_OK;
}

static void o_fini(void *shared)
{
    orders_shared_t *s = shared;

    if (!s) {
        return;
    }
    pthread_mutex_destroy(&s->recon_mu);
    free(s->recon);
    free(s->metrics.m_edit_refused);
    free(s);
}

/* Every series, once, at init. */
static void metrics_create(orders_lane_t *l, dh_metrics_t *m)
{
    static const double bounds[] = {0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.02,
                                    0.03,  0.05,  0.075, 0.1,   0.15,   0.2,  0.3,   0.5,
                                    1,     2,     5,     10,    30,     60};

    if (!m) {
        return;
    }
    l->m_created = dh_metrics_counter(m, "dh_orders_wms_total", "Sales-order calls by outcome.",
                                      "op=\"create\"");
    l->m_cancelled = dh_metrics_counter(m, "dh_orders_wms_total", "Sales-order calls by outcome.",
                                        "op=\"cancel\"");
    l->m_released = dh_metrics_counter(m, "dh_orders_wms_total", "Sales-order calls by outcome.",
                                       "op=\"release_hold\"");
    l->m_held = dh_metrics_counter(m, "dh_orders_wms_total", "Sales-order calls by outcome.",
                                   "op=\"hold\"");
    l->m_updated = dh_metrics_counter(m, "dh_orders_wms_total", "Sales-order calls by outcome.",
                                      "op=\"update\"");
    l->m_cancel_first = dh_metrics_counter(
        m, "dh_orders_cancel_before_create_total",
        "Cancellations that found no WMS order and created it from their own payload.", NULL);
    l->m_ignored = dh_metrics_counter(m, "dh_orders_updates_ignored_total",
                                      "orders/updated acknowledged without a WMS call.", NULL);
    l->m_test =
        dh_metrics_counter(m, "dh_orders_not_sent_total", "Orders not sent to the WMS, by reason.",
                           "reason=\"test-order\"");
    l->m_nothing =
        dh_metrics_counter(m, "dh_orders_not_sent_total", "Orders not sent to the WMS, by reason.",
                           "reason=\"nothing-to-ship\"");
    l->m_latency = dh_metrics_histogram(
        m, "dh_orders_receipt_to_wms_seconds",
        "Gateway receipt (dh-received-at) to the WMS 2xx of the event's effect.", NULL, bounds,
        sizeof(bounds) / sizeof(bounds[0]));
    l->m_published = dh_metrics_counter(m, "dh_orders_reconcile_published_total",
                                        "Messages the reconciliation published.", NULL);
    l->m_pages = dh_metrics_counter(m, "dh_orders_reconcile_pages_total",
                                    "Reconciliation pages read from Shopify.", NULL);
    l->m_skipped = dh_metrics_counter(
        m, "dh_orders_reconcile_skipped_total",
        "Missing orders reconciliation could not publish whole (more than 100 line items).", NULL);
    l->m_repush = dh_metrics_counter(
        m, "dh_orders_restock_repush_total",
        "Stock re-pushes enqueued for refunded units Shopify restocked at a WMS location.", NULL);
}

/* A lane's state: its clients (owned by the runtime's lane) next to the series. */
static dh_err_t o_lane_init(void *shared, dh_lane_t *lane, void **state, char *errstr,
                            size_t errstr_size)
{
    orders_shared_t *s = shared;
    orders_lane_t *l = malloc(sizeof(*l));

    if (!l) {
        snprintf(errstr, errstr_size, "out of memory");
        return DH_ERR_NOMEM;
    }
    *l = s->metrics;
    l->wms = dh_lane_wms(lane);
    l->shopify = dh_lane_shopify(lane);
    *state = l;
    return DH_OK;
}

static void o_lane_fini(void *shared, void *state)
{
    (void)shared;
    free(state);
}

orders_lane_t *orders_lane(dh_lane_t *lane)
{
    return dh_lane_state(lane);
}

/* ---- decode ---- */

static void o_release(void *data)
{
    oev_t *e = data;

    if (e) {
        json_decref(e->order);
        json_decref(e->create);
        json_decref(e->restocks);
        free(e);
    }
}

int64_t orders_time_ms(const char *iso)
{
    int64_t t, ms = 0;
    const char *dot;

    if (orders_time_parse(iso, &t)) {
        return -1;
    }
    dot = strchr(iso, '.');
    if (dot && dot < iso + 20 + 1) {
        int scale = 100;

        for (const char *p = dot + 1; *p >= '0' && *p <= '9' && scale > 0; p++, scale /= 10) {
            ms += (*p - '0') * scale;
        }
    }
    return t * 1000 + ms;
}

int orders_prepare(orders_shared_t *s, oev_t *e, json_t *root)
{
    orders_map_opts_t opts = {s->hold_tags, orders_policy(s->pending_policy, e->store->domain,
                                                          "send", "hold", NULL, 0) == 1};
    int rc = orders_wms_create_body(e->store->domain, root, &opts, &e->create, &e->held,
                                    e->create_err, sizeof(e->create_err));

    e->nothing = rc == 1;
    e->skip_test = json_is_true(json_object_get(root, "test")) &&
                   orders_policy(s->test_policy, e->store->domain, "send", "skip", NULL, 0) == 1;
    e->order = json_incref(root);
    return rc;
}

static dh_result_t decode_order(orders_shared_t *s, oev_t *e, json_t *root, dh_event_t *ev,
                                dh_lane_t *lane)
{
    static const char *const topic[] = {"orders/create", "orders/cancelled", "orders/updated"};
    const char *updated = json_string_value(json_object_get(root, "updated_at"));

    if (orders_order_id(root, e->id, sizeof(e->id))) {
        dh_lane_fail(lane, "schema", "/id must be an integer >= 1");
        return DH_RESULT_DEAD_LETTER;
    }
    int rc = orders_prepare(s, e, root);

    if (rc < 0) {
        if (e->kind == ORDERS_CREATE) {
            dh_lane_fail(lane, "invalid-order", "order %s: %s", e->id, e->create_err);
            return DH_RESULT_DEAD_LETTER;
        }
        /* cancel/updated: only needed if the WMS lacks the order; reported then. */
    }
    if (e->kind == ORDERS_UPDATED || e->kind == ORDERS_PAID) {
        if (!updated) {
            dh_lane_fail(lane, "schema", "order %s: /updated_at must be a date-time", e->id);
            return DH_RESULT_DEAD_LETTER;
        }
        /* updated_at has whole seconds: two changes in one second differ by their bytes. */
        return dh_event_set_effect(ev, "%s:%s:%s:%s:%016" PRIx64,
                                   e->kind == ORDERS_PAID ? "orders/paid" : "orders/updated",
                                   e->store->domain, e->id, updated, e->payload_hash)
                   ? DH_RESULT_FATAL
                   : DH_RESULT_DONE;
    }
    return dh_event_set_effect(ev, "%s:%s:%s", topic[e->kind], e->store->domain, e->id)
               ? DH_RESULT_FATAL
               : DH_RESULT_DONE;
}

static dh_result_t o_decode(void *shared, const dh_msg_t *msg, dh_event_t *ev, dh_lane_t *lane)
{
    orders_shared_t *s = shared;
    char topic[64], shop[256], recv[64];
    size_t tlen = 0;
    const char *t = dh_msg_header(msg, "dh-topic", &tlen);
    orders_kind_t kind;
    json_error_t jerr;
    json_t *root = NULL;
    oev_t *e = NULL;
    dh_result_t res = DH_RESULT_DEAD_LETTER;

    if (!t) {
        dh_lane_fail(lane, "schema", "missing header dh-topic");
        return DH_RESULT_DEAD_LETTER;
    }
    if (orders_kind_parse(t, tlen, &kind)) {
        snprintf(topic, sizeof(topic), "%.*s", (int)(tlen < 60 ? tlen : 60), t);
        dh_lane_fail(lane, "schema", "unsupported dh-topic \"%s\"", topic);
        return DH_RESULT_DEAD_LETTER;
    }
    if (dh_msg_header_copy(msg, "dh-shop-domain", shop, sizeof(shop))) {
        dh_lane_fail(lane, "schema", "missing header dh-shop-domain");
        return DH_RESULT_DEAD_LETTER;
    }
    e = calloc(1, sizeof(*e));
    if (!e) {
        return DH_RESULT_FATAL;
    }
    e->kind = kind;
    e->payload_hash = orders_fnv1a(msg->payload ? msg->payload : "", msg->len);
    e->received_ms =
        dh_msg_header_copy(msg, "dh-received-at", recv, sizeof(recv)) ? -1 : orders_time_ms(recv);
    e->store = dh_stores_find(s->stores, shop);
    if (!e->store) {
        dh_lane_fail(lane, "unknown-store", "store \"%s\" is not configured", shop);
        goto out;
    }
    root = json_loadb(msg->payload ? msg->payload : "", msg->len, 0, &jerr);
    if (!json_is_object(root)) {
        dh_lane_fail(lane, "decode", "value is not a JSON object: %s", root ? "" : jerr.text);
        goto out;
    }
    if (kind == ORDERS_HOLD_RELEASED || kind == ORDERS_HOLD_ADDED) {
        res = orders_decode_hold(e, root, msg, ev, lane);
    } else if (kind == ORDERS_FO_MOVED || kind == ORDERS_FO_READY) {
        res = orders_decode_fo(e, root, msg, ev, lane);
    } else if (kind == ORDERS_REFUND_CREATED) {
        res = orders_decode_refund(e, root, ev, lane);
    } else {
        res = decode_order(s, e, root, ev, lane);
    }
out:
    json_decref(root);
    if (res == DH_RESULT_DONE) {
        ev->data = e;
        ev->store = e->store;
    } else {
        o_release(e);
    }
    return res;
}

/* ---- WMS calls ---- */

/* Outcome of one call: 0 = got an HTTP answer in *rep; else the result to return. */
static int wms(orders_lane_t *l, dh_lane_t *lane, const char *method, const char *path,
               const char *key, json_t *body, dh_wms_reply_t *rep, dh_result_t *res)
{
    (void)l; /* the lane owns the client l->wms is */
    return dh_lane_wms_call(lane, ORDERS_WMS_GROUP, method, path, key, body, rep, res);
}

/* The rule's decision on a business answer to \p call (outcomes.c). */
static dh_result_t decide(dh_lane_t *lane, const dh_outcome_rule_t *rule, const char *call,
                          const oev_t *e, const dh_wms_reply_t *rep)
{
    return dh_lane_wms_answer(lane, rule, rep, "WMS: %s of order %s/%s", call, e->store->domain,
                              e->id);
}

void orders_set_marker(orders_shared_t *s, dh_lane_t *lane, const char *kind, const oev_t *e)
{
    redisReply *r = NULL;

    if (dh_redis_commandf(dh_lane_redis(lane), &r, "SET dh:orders:%s:%s:%s 1 EX %lld", kind,
                          e->store->domain, e->id, (long long)s->marker_ttl_s) == DH_OK) {
        freeReplyObject(r);
    } else {
        DH_LOG(DH_LOG_WARN, "orders", "marker %s for %s: %s", kind, e->id,
               dh_redis_errstr(dh_lane_redis(lane)));
    }
}

/* 1 = the marker is set, 0 = not, -1 = Redis failed (treated as not set: the rule's retry
 * asks again). */
int orders_marker_exists(dh_lane_t *lane, const char *kind, const oev_t *e)
{
    redisReply *r = NULL;
    int set;

    if (dh_redis_commandf(dh_lane_redis(lane), &r, "EXISTS dh:orders:%s:%s:%s", kind,
                          e->store->domain, e->id) != DH_OK) {
        return -1;
    }
    set = r->type == REDIS_REPLY_INTEGER && r->integer == 1;
    freeReplyObject(r);
    return set;
}

/* GET the order: 1 = exists (status copied), 0 = 404, -1 = *res set. */
static int get_order(orders_lane_t *l, dh_lane_t *lane, const oev_t *e, char *status, size_t size,
                     dh_result_t *res)
{
    char path[512];
    dh_wms_reply_t rep;
    int found;

    snprintf(path, sizeof(path), "/wms/v1/sales-orders/%s/%s", e->store->domain, e->id);
    if (wms(l, lane, "GET", path, NULL, NULL, &rep, res)) {
        return -1;
    }
    found = rep.status == 200;
    snprintf(status, size, "%s",
             found && json_string_value(json_object_get(rep.body, "status"))
                 ? json_string_value(json_object_get(rep.body, "status"))
                 : "");
    if (!found && rep.status != 404) {
        *res = decide(lane, dh_wms_rule(&orders_outcomes, "lookup", &rep), "lookup", e, &rep);
        found = -1;
    }
    dh_wms_reply_clear(&rep);
    return found;
}

void orders_observe(orders_lane_t *l, const oev_t *e)
{
    struct timespec ts;

    if (e->received_ms < 0 || !l->m_latency) {
        return;
    }
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;

    dh_histogram_observe(l->m_latency, (double)(now - e->received_ms) / 1000.0);
}

dh_result_t orders_do_create(orders_shared_t *s, orders_lane_t *l, dh_lane_t *lane, const oev_t *e)
{
    char key[37], eid[300], status[32];
    dh_wms_reply_t rep;
    dh_result_t res = DH_RESULT_DONE;
    const dh_outcome_rule_t *rule;

    if (!e->create && e->nothing) {
        DH_LOG(DH_LOG_INFO, "orders", "order %s/%s not sent to the WMS: %s", e->store->domain,
               e->id, e->create_err);
        if (l->m_nothing) {
            dh_counter_add(l->m_nothing, 1);
        }
        orders_set_marker(s, lane, "unsent", e);
        return DH_RESULT_DONE;
    }
    if (!e->create) {
        dh_lane_fail(lane, "invalid-order", "order %s: %s", e->id, e->create_err);
        return DH_RESULT_DEAD_LETTER;
    }
    snprintf(eid, sizeof(eid), "create:%s:%s", e->store->domain, e->id);
    dh_idem_far_key(ORDERS_IDEM_NS, eid, key);
    if (wms(l, lane, "POST", "/wms/v1/sales-orders", key, e->create, &rep, &res)) {
        return res;
    }
    rule = dh_wms_rule(&orders_outcomes, "create", &rep);
    if (rule->action == ORDERS_ACT_LOOKUP) {
        /* The key was first used with another body (the order was edited between two
         * deliveries, or created from another snapshot): the order exists; keep it. */
        int found = get_order(l, lane, e, status, sizeof(status), &res);

        if (found == 0) {
            res = decide(lane, rule, "create", e, &rep);
        }
    } else {
        res = decide(lane, rule, "create", e, &rep);
    }
    /* 200: the order already existed (natural key): never touched again here. */
    if (res == DH_RESULT_DONE && rep.status == 201 && e->held) {
        orders_set_marker(s, lane, "held", e);
    }
    if (res == DH_RESULT_DONE && rep.status == 201) {
        orders_mark_sent(s, lane, e); /* what the WMS has: later edits compare with it */
    }
    if (res == DH_RESULT_DONE && rule->action == 0 && l->m_created) {
        dh_counter_add(l->m_created, 1);
    }
    dh_wms_reply_clear(&rep);
    return res;
}

/* \p after_create: the second cancel of a cancellation that arrived first. It needs its own
 * key: the WMS keeps the first key's 404 answer (any answer below 500) for replays. */
dh_result_t orders_post_cancel(orders_shared_t *s, orders_lane_t *l, dh_lane_t *lane,
                               const oev_t *e, json_t *body, int after_create, int *not_found)
{
    char key[37], eid[300], path[512], status[32];
    dh_wms_reply_t rep;
    dh_result_t res = DH_RESULT_DONE;
    const dh_outcome_rule_t *rule;

    *not_found = 0;
    snprintf(eid, sizeof(eid), "%s:%s:%s", after_create ? "cancel-after-create" : "cancel",
             e->store->domain, e->id);
    dh_idem_far_key(ORDERS_IDEM_NS, eid, key);
    snprintf(path, sizeof(path), "/wms/v1/sales-orders/%s/%s/cancel", e->store->domain, e->id);
    if (wms(l, lane, "POST", path, key, body, &rep, &res)) {
        return res;
    }
    rule = dh_wms_rule(&orders_outcomes, "cancel", &rep);
    if (rule->action == ORDERS_ACT_CREATE_FIRST) {
        *not_found = 1;
    } else if (rule->action == ORDERS_ACT_LOOKUP) {
        int found = get_order(l, lane, e, status, sizeof(status), &res);

        if (found == 1 && strcmp(status, "CANCELLED") == 0) {
            orders_set_marker(s, lane, "cancelled", e);
        } else if (found >= 0) {
            res = decide(lane, rule, "cancel", e, &rep);
        }
    } else if (dh_wms_problem_is(&rep, "/order-already-dispatched")) {
        res = dh_lane_wms_answer(lane, rule, &rep,
                                 "order %s/%s (%s) was cancelled in Shopify but the WMS has "
                                 "already dispatched it: stop or recall the shipment by hand",
                                 e->store->domain, e->id,
                                 json_string_value(json_object_get(e->order, "name")));
    } else {
        res = decide(lane, rule, "cancel", e, &rep);
        if (res == DH_RESULT_DONE) {
            orders_set_marker(s, lane, "cancelled", e);
            if (l->m_cancelled) {
                dh_counter_add(l->m_cancelled, 1);
            }
        }
    }
    dh_wms_reply_clear(&rep);
    return res;
}

/* Cancel; a cancellation that arrives before its creation creates the order from its own
 * payload (the full order), then cancels it. */
dh_result_t orders_do_cancel(orders_shared_t *s, orders_lane_t *l, dh_lane_t *lane, const oev_t *e)
{
    char errstr[256];
    json_t *body = orders_wms_cancel_body(e->order, errstr, sizeof(errstr));
    dh_result_t res;
    int not_found = 0;

    if (!body) {
        dh_lane_fail(lane, "invalid-order", "order %s: %s", e->id, errstr);
        return DH_RESULT_DEAD_LETTER;
    }
    res = orders_post_cancel(s, l, lane, e, body, 0, &not_found);
    if (res == DH_RESULT_DONE && not_found) {
        if (l->m_cancel_first) {
            dh_counter_add(l->m_cancel_first, 1);
        }
        DH_LOG(DH_LOG_INFO, "orders",
               "cancellation of %s/%s before its creation: creating it "
               "cancelled",
               e->store->domain, e->id);
        res = orders_do_create(s, l, lane, e);
        if (res == DH_RESULT_DONE) {
            res = orders_post_cancel(s, l, lane, e, body, 1, &not_found);
            if (res == DH_RESULT_DONE && not_found) {
                res =
                    dh_lane_answer(lane,
                                   dh_outcome_rule(&orders_outcomes, DH_FAR_WMS,
                                                   "cancel-after-create", DH_ANSWER_404, NULL),
                                   NULL, "order %s still unknown to the WMS after creation", e->id);
            }
        }
    }
    json_decref(body);
    return res;
}

dh_result_t orders_do_release(orders_lane_t *l, dh_lane_t *lane, const oev_t *e)
{
    char key[37], eid[300], path[512];
    dh_wms_reply_t rep;
    dh_result_t res = DH_RESULT_DONE;
    json_t *body = json_object();

    /* A hold released, held again and released again is two releases: one key per hold. */
    snprintf(eid, sizeof(eid), "release:%s:%s%s%s", e->store->domain, e->id,
             e->hold_id[0] ? ":" : "", e->hold_id);
    dh_idem_far_key(ORDERS_IDEM_NS, eid, key);
    snprintf(path, sizeof(path), "/wms/v1/sales-orders/%s/%s/release-hold", e->store->domain,
             e->id);
    if (wms(l, lane, "POST", path, key, body, &rep, &res)) {
        json_decref(body);
        return res;
    }
    /* 409: a cancelled order is not released, nothing left to do. 404: released before we
     * created it; retry so the creation (or reconciliation) lands first, unless the order
     * was never to be sent (a skipped test order, nothing to ship). */
    const dh_outcome_rule_t *rule = dh_wms_rule(&orders_outcomes, "release-hold", &rep);

    if (rule->action == ORDERS_ACT_CHECK_UNSENT && orders_marker_exists(lane, "unsent", e) == 1) {
        DH_LOG(DH_LOG_INFO, "orders", "release-hold of %s/%s: order not sent to the WMS",
               e->store->domain, e->id);
        res = DH_RESULT_DONE;
    } else {
        res = decide(lane, rule, "release-hold", e, &rep);
    }
    if (res == DH_RESULT_DONE && rep.status == 409) {
        DH_LOG(DH_LOG_INFO, "orders", "release-hold of %s/%s refused (%s): order cancelled",
               e->store->domain, e->id, rep.detail);
    } else if (res == DH_RESULT_DONE && l->m_released) {
        dh_counter_add(l->m_released, 1);
    }
    dh_wms_reply_clear(&rep);
    json_decref(body);
    return res;
}

/* A test order under the "skip" policy: no WMS call; the marker lets a later hold release
 * of it (which carries no order) end instead of waiting for a creation that never comes. */
static dh_result_t skip_test_order(orders_shared_t *s, orders_lane_t *l, dh_lane_t *lane,
                                   const oev_t *e)
{
    if (e->kind == ORDERS_CREATE) {
        DH_LOG(DH_LOG_INFO, "orders",
               "test order %s/%s not sent to the WMS (DH_ORDERS_TEST_ORDERS)", e->store->domain,
               e->id);
        if (l->m_test) {
            dh_counter_add(l->m_test, 1);
        }
    }
    orders_set_marker(s, lane, "unsent", e);
    return DH_RESULT_DONE;
}

static dh_result_t handle_kind(void *shared, const dh_msg_t *msg, void *data, dh_lane_t *lane)
{
    orders_shared_t *s = shared;
    oev_t *e = data;
    orders_lane_t *l = orders_lane(lane);
    dh_result_t res;

    (void)msg;
    if (e->kind == ORDERS_REFUND_CREATED) {
        return orders_do_refund(s, lane, e); /* stock only: nothing for the WMS */
    }
    if (e->skip_test) { /* hold events carry no order: never skip_test */
        return skip_test_order(s, l, lane, e);
    }
    if (e->kind == ORDERS_FO_MOVED || e->kind == ORDERS_FO_READY) {
        return orders_do_fo_event(s, l, lane, e); /* finds, routes and syncs the order */
    }
    if (e->kind != ORDERS_HOLD_RELEASED && e->kind != ORDERS_HOLD_ADDED) {
        res = orders_route(s, lane, e); /* lines by location (stores that map locations) */
        if (res != DH_RESULT_DONE) {
            return res;
        }
    }
    switch (e->kind) {
    case ORDERS_CREATE:
        res = orders_do_create(s, l, lane, e);
        if (res == DH_RESULT_DONE && !json_is_null(json_object_get(e->order, "cancelled_at")) &&
            json_object_get(e->order, "cancelled_at")) {
            res = orders_do_cancel(s, l, lane, e);
        }
        break;
    case ORDERS_CANCELLED:
        res = orders_do_cancel(s, l, lane, e);
        break;
    case ORDERS_UPDATED:
    case ORDERS_PAID: /* the whole order too: its payment is part of what the WMS keeps */
        return orders_do_updated(s, l, lane, e);
    case ORDERS_HOLD_RELEASED:
        res = orders_do_hold_released(s, l, lane, e);
        break;
    case ORDERS_HOLD_ADDED:
        res = orders_do_hold(s, l, lane, e);
        break;
    default:
        return DH_RESULT_FATAL;
    }
    if (res == DH_RESULT_DONE) {
        orders_observe(l, e);
    }
    return res;
}

/* The last order event handled, for the reconciliation ("seen" marker: updated_at ms). */
static dh_result_t o_handle(void *shared, const dh_msg_t *msg, void *data, dh_lane_t *lane)
{
    orders_shared_t *s = shared;
    oev_t *e = data;
    dh_result_t res = handle_kind(shared, msg, data, lane);
    int64_t upd =
        e->order ? orders_time_ms(json_string_value(json_object_get(e->order, "updated_at"))) : -1;
    redisReply *r = NULL;

    if (res == DH_RESULT_DONE && upd >= 0 &&
        dh_redis_commandf(dh_lane_redis(lane), &r, "SET dh:orders:seen:%s:%s %lld EX %lld",
                          e->store->domain, e->id, (long long)upd,
                          (long long)s->marker_ttl_s) == DH_OK) {
        freeReplyObject(r);
    }
    return res;
}

static void o_tick(void *shared, dh_lane_t *lane)
{
    orders_reconcile_tick(shared, lane);
}

const dh_handler_t orders_handler = {
    .name = "orders",
    .topics = orders_topics,
    .config = orders_tables,
    .check_config = o_check_config,
    .init = o_init,
    .fini = o_fini,
    .lane_init = o_lane_init,
    .lane_fini = o_lane_fini,
    .decode = o_decode,
    .handle = o_handle,
    .release = o_release,
    .tick = o_tick,
};
