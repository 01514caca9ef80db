/*
 * dh-returns handler: one record -> at most one call.
 *
 * returnprime.cir (Return Prime -> WMS):
 *   status approved/received/inspected (DH_RETURNS_CREATE_STATUSES)
 *       POST /wms/v1/returns (createReturn): the return, or the return leg of an exchange.
 *   status rejected, or archived before a receipt
 *       POST /wms/v1/returns/{store}/{request id}/cancel (cancelReturn).
 *   anything else (pending, refunded, archived after receipt)
 *       acknowledged without a call, counted as skipped.
 * wms.return_received (WMS -> Return Prime):
 *   a customer return: Return Prime's receive call (rp_api.h), received + per-item QC;
 *   a courier return (RTO): acknowledged without a call.
 *
 * The effect is the return itself, whichever webhook asks for it: the runtime's
 * idempotency record "returns:<store>:<request id>" makes every later delivery, replay or
 * status webhook of the request a duplicate before any call, and the Idempotency-Key
 * (dh_idem_far_key of that id) plus the WMS's natural key (store + return_request_id)
 * make a retry after an unknown outcome harmless. See docs/returns.md.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dockhand/idem.h"
#include "dockhand/log.h"
#include "dockhand/stores.h"
#include "dockhand/wms.h"
#include "reconcile.h"
#include "returns.h"
#include "rp_api.h"

/* ---- configuration and process-wide state ---- */

static const dh_config_var_t returns_vars[] = {
    {"DH_RETURNS_CREATE_STATUSES", DH_CFG_STRING, RETURNS_DEFAULT_STATUSES, 0, 0, NULL,
     "Comma-separated Return Prime request statuses that create the WMS return (any webhook "
     "topic carrying one); other statuses are acknowledged and counted as skipped."},
    {"DH_RETURNPRIME_URL", DH_CFG_URL, RP_DEFAULT_URL, 0, 0, "http|https",
     "Base URL of Return Prime's API (paths /request/... are appended); the token is the "
     "store's returnprime_token in DH_STORES_FILE. Used for wms.return_received."},
    {"DH_RETURNS_EXCHANGE_RELEASE", DH_CFG_STRING, "none", 0, 0, NULL,
     "When an exchange's held replacement order is released in the WMS: none (dh-orders "
     "follows Shopify's hold), on_approval, on_pickup, on_receipt or on_qc_pass; a default "
     "then <store domain>=<policy> entries, comma-separated."},
    {"DH_RETURNS_RECONCILE_INTERVAL_S", DH_CFG_INT, "900", 0, 86400, NULL,
     "Seconds between reconciliation passes over the Return Prime requests updated since "
     "each store's watermark (stores with a returnprime_token); 0 turns them off."},
    {"DH_RETURNS_RECONCILE_LOOKBACK_S", DH_CFG_INT, "604800", 60, 31536000, NULL,
     "How far back a store's first reconciliation pass looks (no watermark yet)."},
    DH_CONFIG_END,
};

static const char *const returns_topics[] = {"returnprime.cir", "wms.return_received", NULL};

static const dh_config_var_t *const returns_tables[] = {returns_vars, dh_stores_config_vars,
                                                        dh_wms_config_vars, NULL};

typedef struct returns_metrics {
    dh_counter_t *created, *existed, *skipped, *cancelled, *not_created, *after_receipt;
    dh_counter_t *updated, *update_late;
    dh_counter_t *rp_received, *rp_courier, *ex_released, *ex_held_qc;
} returns_metrics_t;

typedef struct returns_shared {
    const dh_stores_t *stores; /* the runtime's (dh_worker_ctx_t) */
    unsigned create_mask;
    char rp_url[512]; /* DH_RETURNPRIME_URL without a trailing slash */
    returns_recon_t recon;
    returns_policy_t policy; /* DH_RETURNS_EXCHANGE_RELEASE */
    returns_metrics_t m;     /* created at init */
} returns_shared_t;

/* The status list parses and names at least one status. */
static int statuses(const dh_config_t *cfg, unsigned *mask, char *errstr, size_t errstr_size)
{
    errstr[0] = '\0';
    *mask = 0;
    if (returns_statuses_parse(dh_config_get(cfg, "DH_RETURNS_CREATE_STATUSES"), mask, errstr,
                               errstr_size) ||
        *mask == 0) {
        if (!errstr[0]) {
            snprintf(errstr, errstr_size, "names no status");
        }
        return -1;
    }
    return 0;
}

static void r_check_config(const dh_config_t *cfg, dh_config_report_t *report)
{
    char errstr[256];
    unsigned mask;

    returns_policy_t *policy = malloc(sizeof(*policy));

    if (statuses(cfg, &mask, errstr, sizeof(errstr))) {
        dh_config_report(report, "DH_RETURNS_CREATE_STATUSES", "%s", errstr);
    }
    if (policy && returns_release_parse(dh_config_get(cfg, "DH_RETURNS_EXCHANGE_RELEASE"), policy,
                                        errstr, sizeof(errstr))) {
        dh_config_report(report, "DH_RETURNS_EXCHANGE_RELEASE", "%s", errstr);
    }
    free(policy);
}

static void trim_slash(char *url)
{
    size_t n = strlen(url);

    while (n > 0 && url[n - 1] == '/') {
        url[--n] = '\0';
    }
}

/* The reconciliation's settings; it publishes to the returnprime.cir topic consumed here
 * (the first of DH_TOPICS that is not a wms.return_received topic). */
static void recon_init(returns_shared_t *s, const dh_config_t *cfg)
{
    const char *t = dh_config_get(cfg, "DH_TOPICS");
    char list[1024], *tok, *save = NULL;

    s->recon.stores = s->stores;
    s->recon.rp_url = s->rp_url;
    s->recon.create_mask = s->create_mask;
    s->recon.interval_s = dh_config_int(cfg, "DH_RETURNS_RECONCILE_INTERVAL_S");
    s->recon.lookback_s = dh_config_int(cfg, "DH_RETURNS_RECONCILE_LOOKBACK_S");
    snprintf(s->recon.topic, sizeof(s->recon.topic), "%s", returns_topics[0]);
    snprintf(list, sizeof(list), "%s", t ? t : "");
    for (tok = strtok_r(list, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
        if (!returns_is_receipt_topic(tok)) {
            snprintf(s->recon.topic, sizeof(s->recon.topic), "%s", tok);
            break;
        }
    }
}

/* Every metric series of the worker, at init. */
static void make_metrics(returns_shared_t *s, dh_metrics_t *m)
{
    static const char h[] = "Return Prime requests by outcome.";
    static const char hr[] = "WMS return receipts by outcome (received: sent to Return Prime).";

    s->m.created = dh_metrics_counter(m, "dh_returns_requests_total", h, "outcome=\"created\"");
    s->m.existed = dh_metrics_counter(m, "dh_returns_requests_total", h, "outcome=\"existed\"");
    s->m.skipped = dh_metrics_counter(m, "dh_returns_requests_total", h, "outcome=\"skipped\"");
    s->m.cancelled = dh_metrics_counter(m, "dh_returns_requests_total", h, "outcome=\"cancelled\"");
    s->m.not_created =
        dh_metrics_counter(m, "dh_returns_requests_total", h, "outcome=\"cancel-not-created\"");
    s->m.updated = dh_metrics_counter(m, "dh_returns_requests_total", h, "outcome=\"updated\"");
    s->m.update_late =
        dh_metrics_counter(m, "dh_returns_requests_total", h, "outcome=\"update-after-receipt\"");
    s->m.after_receipt =
        dh_metrics_counter(m, "dh_returns_requests_total", h, "outcome=\"cancel-after-receipt\"");
    s->m.rp_received =
        dh_metrics_counter(m, "dh_returns_receipts_total", hr, "outcome=\"received\"");
    s->m.rp_courier = dh_metrics_counter(m, "dh_returns_receipts_total", hr, "outcome=\"courier\"");
    s->m.ex_released = dh_metrics_counter(m, "dh_returns_exchange_releases_total",
                                          "Exchange orders released by the exchange policy.",
                                          "outcome=\"released\"");
    s->m.ex_held_qc = dh_metrics_counter(m, "dh_returns_exchange_releases_total",
                                         "Exchange orders released by the exchange policy.",
                                         "outcome=\"held-qc-fail\"");
    s->recon.passes = dh_metrics_counter(m, "dh_returns_reconcile_passes_total",
                                         "Reconciliation passes completed, per store.", NULL);
    s->recon.published =
        dh_metrics_counter(m, "dh_returns_reconcile_published_total",
                           "Return Prime requests the reconciliation published (missed).", NULL);
}

static dh_err_t r_init(const dh_worker_ctx_t *ctx, void **out, char *errstr, size_t errstr_size)
{
    const dh_config_t *cfg = ctx->cfg;
    returns_shared_t *s = calloc(1, sizeof(*s));

    if (!s) {
        snprintf(errstr, errstr_size, "out of memory");
        return DH_ERR_NOMEM;
    }
    if (statuses(cfg, &s->create_mask, errstr, errstr_size)) {
        free(s);
        return DH_ERR_CONFIG;
    }
    s->stores = ctx->stores;
    make_metrics(s, ctx->metrics);
    snprintf(s->rp_url, sizeof(s->rp_url), "%s", dh_config_get(cfg, "DH_RETURNPRIME_URL"));
    trim_slash(s->rp_url);
    recon_init(s, cfg);
    if (returns_release_parse(dh_config_get(cfg, "DH_RETURNS_EXCHANGE_RELEASE"), &s->policy, errstr,
                              errstr_size)) {
        free(s);
        return DH_ERR_CONFIG;
    }
    *out = s;
    return DH_OK;
}

static void r_fini(void *shared)
{
    returns_shared_t *s = shared;

    free(s);
}

static void count(dh_counter_t *c)
{
    if (c) {
        dh_counter_add(c, 1);
    }
}

static const returns_metrics_t *metrics(const returns_shared_t *s)
{
    return &s->m;
}

/* ---- decode ---- */

typedef struct rev {
    returns_action_t action;
    const dh_store_t *store;
    char id[256];     /* request id */
    char effect[700]; /* returns:[cancel:|received:]<store>:<request id>: the record and the
                         Idempotency-Key's source */
    char status[16];  /* for the skip log */
    json_t *body;     /* createReturn, cancelReturn or Return Prime receive body */
    char idem[560];   /* createReturn's Idempotency-Key source: returns:<store>:<request id> */
    char exchange_order[32]; /* the exchange order to release (CIR), "" if none */
    int release;             /* release the exchange order after the call succeeded */
    int held_qc;             /* on_qc_pass and a line failed QC: the exchange stays held */
} rev_t;

static void r_release(void *data)
{
    rev_t *e = data;

    if (e) {
        json_decref(e->body);
        free(e);
    }
}

/* A wms.return_received event: the Return Prime receipt of a customer return (one record
 * per request), or nothing for a courier return. */
static dh_result_t decode_receipt(returns_shared_t *s, const dh_msg_t *msg, dh_event_t *ev,
                                  dh_lane_t *lane)
{
    char err[512];
    returns_receipt_t rc;
    returns_parse_t pr = returns_receipt_parse(msg->payload, msg->len, &rc, err, sizeof(err));
    rev_t *e = calloc(1, sizeof(*e));
    dh_result_t res = DH_RESULT_DEAD_LETTER;

    if (!e) {
        res = DH_RESULT_FATAL;
    } else if (pr != RETURNS_PARSE_OK) {
        dh_lane_fail(lane, pr == RETURNS_PARSE_DECODE ? "decode" : "schema", "%s", err);
    } else if (!(e->store = dh_stores_find(s->stores, rc.env.scope))) {
        dh_lane_fail(lane, "unknown-store", "store \"%s\" is not configured", rc.env.scope);
    } else if (rc.courier) {
        e->action = RETURNS_COURIER;
        snprintf(e->id, sizeof(e->id), "%s", rc.return_id);
        res = DH_RESULT_DONE;
    } else if (!e->store->returnprime_token[0]) {
        dh_lane_fail(lane, "returnprime-not-configured", "store %s has no returnprime_token",
                     e->store->domain);
    } else {
        returns_release_t p = returns_release_for(&s->policy, e->store->domain);

        e->action = RETURNS_RECEIVE;
        e->release = p == RETURNS_RELEASE_RECEIPT ||
                     (p == RETURNS_RELEASE_QC_PASS && returns_receipt_all_pass(&rc));
        e->held_qc = p == RETURNS_RELEASE_QC_PASS && !e->release;
        snprintf(e->id, sizeof(e->id), "%s", rc.request_id);
        snprintf(e->effect, sizeof(e->effect), "returns:received:%s:%s", e->store->domain,
                 rc.request_id);
        e->body = returns_rp_receipt_body(&rc);
        res =
            !e->body || dh_event_set_effect(ev, "%s", e->effect) ? DH_RESULT_FATAL : DH_RESULT_DONE;
    }
    returns_receipt_clear(&rc);
    if (res == DH_RESULT_DONE) {
        ev->data = e;
        ev->store = e->store;
    } else {
        r_release(e);
    }
    return res;
}

/* An exchange whose policy's moment this webhook is (on_approval, on_pickup): the create
 * also releases its exchange order, a separate effect ("...:release:<order>") so that a
 * webhook naming the order after the return exists still releases it, once. */
static void exchange_moment(const returns_shared_t *s, rev_t *e, const returns_request_t *rq)
{
    returns_release_t p = returns_release_for(&s->policy, e->store->domain);

    if (e->action == RETURNS_CREATE && strcmp(rq->type, "exchange") == 0 &&
        !returns_exchange_order(rq, e->exchange_order, sizeof(e->exchange_order)) &&
        returns_release_now(p, rq)) {
        e->release = 1;
    }
}

/* The effect of a webhook that creates or cancels: one record per content of the return
 * ("returns:<store>:<id>:v<tag>", so changed items are a new effect: an update) and one
 * per cancellation, whichever webhook asks (a long store + id takes the digest form). */
static int cir_effect(rev_t *e, const returns_request_t *rq, dh_event_t *ev, const char **cls,
                      char *err, size_t err_size)
{
    char tag[13];

    if (e->action == RETURNS_CANCEL) {
        snprintf(e->effect, sizeof(e->effect), "returns:cancel:%s:%s", e->store->domain, rq->id);
        e->body = returns_cancel_body(rq);
    } else {
        e->body = returns_wms_body(rq, e->store->domain, cls, err, err_size);
        if (!e->body) {
            return -1;
        }
        if (returns_content_tag(e->body, tag)) {
            tag[0] = '\0'; /* out of memory: reported below */
            json_decref(e->body);
            e->body = NULL;
        }
        snprintf(e->effect, sizeof(e->effect), "%s:v%s%s%s", e->idem, tag,
                 e->release ? ":release:" : "", e->release ? e->exchange_order : "");
    }
    if (!e->body || dh_event_set_effect(ev, "%s", e->effect)) {
        *cls = "internal";
        snprintf(err, err_size, "out of memory");
        return -2;
    }
    return 0;
}

static dh_result_t r_decode(void *shared, const dh_msg_t *msg, dh_event_t *ev, dh_lane_t *lane)
{
    returns_shared_t *s = shared;
    char err[512], store[300], topic[64];
    size_t tlen = 0;
    const char *t = dh_msg_header(msg, "dh-topic", &tlen);
    const char *cls = NULL;
    returns_request_t rq;
    returns_parse_t pr;
    rev_t *e;
    int rc;

    if (returns_is_receipt_topic(msg->topic)) {
        return decode_receipt(s, msg, ev, lane);
    }
    if (!t) {
        dh_lane_fail(lane, "schema", "missing header dh-topic");
        return DH_RESULT_DEAD_LETTER;
    }
    if (dh_msg_header_copy(msg, "dh-store", store, sizeof(store))) {
        dh_lane_fail(lane, "schema", "missing header dh-store");
        return DH_RESULT_DEAD_LETTER;
    }
    e = calloc(1, sizeof(*e));
    if (!e) {
        return DH_RESULT_FATAL;
    }
    pr = returns_request_parse(msg->payload, msg->len, &rq, err, sizeof(err));
    if (pr != RETURNS_PARSE_OK) {
        dh_lane_fail(lane, pr == RETURNS_PARSE_DECODE ? "decode" : "schema", "%s", err);
        goto dead;
    }
    e->action = returns_action(t, tlen, rq.status, s->create_mask);
    if (e->action == RETURNS_BAD_TOPIC) {
        snprintf(topic, sizeof(topic), "%.*s", (int)(tlen < 60 ? tlen : 60), t);
        dh_lane_fail(lane, "schema", "unsupported dh-topic \"%s\"", topic);
        goto dead;
    }
    e->store = dh_stores_find(s->stores, store);
    if (!e->store) {
        dh_lane_fail(lane, "unknown-store", "store \"%s\" is not configured", store);
        goto dead;
    }
    snprintf(e->id, sizeof(e->id), "%s", rq.id);
    snprintf(e->status, sizeof(e->status), "%s", rq.status);
    snprintf(e->idem, sizeof(e->idem), "returns:%s:%s", e->store->domain, rq.id);
    snprintf(e->effect, sizeof(e->effect), "%s", e->idem);
    if (e->action == RETURNS_SKIP) {
        e->action = returns_cancels(&rq);
    }
    exchange_moment(s, e, &rq);
    if (e->action == RETURNS_CREATE || e->action == RETURNS_CANCEL) {
        rc = cir_effect(e, &rq, ev, &cls, err, sizeof(err));
        if (rc) {
            dh_lane_fail(lane, cls, "request %s (%s): %s", rq.id, rq.number, err);
            returns_request_clear(&rq);
            r_release(e);
            return rc == -1 ? DH_RESULT_DEAD_LETTER : DH_RESULT_FATAL;
        }
    }
    /* A skipped event has no effect, hence no record: it must not mark the return done. */
    returns_request_clear(&rq);
    ev->data = e;
    ev->store = e->store;
    return DH_RESULT_DONE;
dead:
    returns_request_clear(&rq);
    r_release(e);
    return DH_RESULT_DEAD_LETTER;
}

/* ---- the WMS call ---- */

/* cancelReturn: an expectation not yet received is closed; a received one is a dead
 * letter "return-received" (the parcel is in the warehouse: a person decides). */
static dh_result_t handle_cancel(returns_shared_t *s, rev_t *e, dh_lane_t *lane)
{
    char key[37], store[800], id[800], path[1700];
    dh_wms_reply_t rep;
    dh_result_t res = DH_RESULT_DONE;

    returns_url_encode(e->store->domain, store, sizeof(store));
    returns_url_encode(e->id, id, sizeof(id));
    snprintf(path, sizeof(path), "/wms/v1/returns/%s/%s/cancel", store, id);
    dh_idem_far_key(RETURNS_IDEM_NS, e->effect, key);
    if (dh_lane_wms_call(lane, RETURNS_WMS_GROUP, "POST", path, key, e->body, &rep, &res)) {
        return res;
    }
    res = dh_lane_wms_answer(lane, dh_wms_rule(&returns_outcomes, "cancel-return", &rep), &rep,
                             "WMS did not cancel return %s/%s", e->store->domain, e->id);
    if (res == DH_RESULT_DONE) {
        count(rep.status == 404 ? s->m.not_created : s->m.cancelled);
        DH_LOG(DH_LOG_INFO, "returns", "request %s/%s (%s): %s", e->store->domain, e->id, e->status,
               rep.status == 404 ? "never created, nothing to cancel" : "cancelled");
    } else if (dh_wms_problem_is(&rep, "/return-received")) {
        count(s->m.after_receipt);
    }
    dh_wms_reply_clear(&rep);
    return res;
}

/* The exchange's release, through the WMS release-hold dh-orders uses. Releasing an order
 * that is already OPEN is a 200 no-op in the WMS contract, so whichever of dh-returns (this
 * policy) and dh-orders (Return Prime lifting the Shopify hold; its key is per hold) comes
 * second changes nothing; this key is stable per order, so our own retries are replays. */
static dh_result_t release_exchange(returns_shared_t *s, const dh_store_t *store, const char *order,
                                    const char *request, dh_lane_t *lane)
{
    char key[37], eid[400], sd[800], path[1000];
    json_t *body = json_object();
    dh_wms_reply_t rep;
    dh_result_t res = DH_RESULT_DONE;

    snprintf(eid, sizeof(eid), "release:%s:%s", store->domain, order);
    dh_idem_far_key("orders", eid, key);
    returns_url_encode(store->domain, sd, sizeof(sd));
    snprintf(path, sizeof(path), "/wms/v1/sales-orders/%s/%s/release-hold", sd, order);
    if (dh_lane_wms_call(lane, RETURNS_WMS_GROUP, "POST", path, key, body, &rep, &res)) {
        json_decref(body);
        return res;
    }
    res = dh_lane_wms_answer(lane, dh_wms_rule(&returns_outcomes, "release-exchange", &rep), &rep,
                             "WMS did not release exchange order %s/%s of request %s",
                             store->domain, order, request);
    if (res == DH_RESULT_DONE && !rep.replayed) { /* a replay: released before */
        count(s->m.ex_released);
        DH_LOG(DH_LOG_INFO, "returns", "request %s/%s: exchange order %s released (%s)",
               store->domain, request, order,
               returns_release_name(returns_release_for(&s->policy, store->domain)));
    }
    dh_wms_reply_clear(&rep);
    json_decref(body);
    return res;
}

/* After a receipt: the exchange order Return Prime's answer names is released under
 * on_receipt, and under on_qc_pass when every line passed (else it stays held). */
static dh_result_t receipt_exchange(returns_shared_t *s, const rev_t *e, json_t *request,
                                    dh_lane_t *lane)
{
    returns_request_t rq = {.request = request};
    char order[32];

    if ((!e->release && !e->held_qc) || !json_is_string(json_object_get(request, "request_type")) ||
        strcmp(json_string_value(json_object_get(request, "request_type")), "exchange") != 0 ||
        returns_exchange_order(&rq, order, sizeof(order))) {
        return DH_RESULT_DONE;
    }
    if (e->held_qc) {
        count(s->m.ex_held_qc);
        DH_LOG(DH_LOG_WARN, "returns",
               "request %s/%s: a line failed QC, exchange order %s stays on hold (on_qc_pass)",
               e->store->domain, e->id, order);
        return DH_RESULT_DONE;
    }
    return release_exchange(s, e->store, order, e->id, lane);
}

/* Return Prime's receive call: the request received and inspected, per-item QC. */
static dh_result_t handle_receive(returns_shared_t *s, rev_t *e, dh_lane_t *lane)
{
    char path[800];
    dh_wms_reply_t rep;
    dh_outcome_t o;
    dh_result_t res;

    rp_receive_path(e->id, path, sizeof(path));
    if (rp_call(lane, s->rp_url, e->store, "POST", path, e->body, &rep, &o)) {
        dh_wms_reply_clear(&rep);
        return dh_lane_outcome(lane, &o);
    }
    res = dh_lane_answer(lane,
                         dh_outcome_rule(&returns_outcomes, DH_FAR_RETURNPRIME, "mark-received",
                                         dh_wms_answer(&rep), NULL),
                         NULL, "Return Prime refused the receipt of %s/%s: HTTP %ld %s",
                         e->store->domain, e->id, rep.status, rep.detail);
    if (res == DH_RESULT_DONE) {
        count(s->m.rp_received);
        DH_LOG(DH_LOG_INFO, "returns", "request %s/%s: marked received in Return Prime",
               e->store->domain, e->id);
        res = receipt_exchange(s, e, json_object_get(json_object_get(rep.body, "data"), "request"),
                               lane);
    }
    dh_wms_reply_clear(&rep);
    return res;
}

/* updateReturn: the request's items (or AWB) changed after the return was created. Once
 * received the WMS keeps what arrived (409 return-received): counted, not a dead letter. */
static dh_result_t update_return(returns_shared_t *s, rev_t *e, dh_lane_t *lane)
{
    char key[37], sd[800], id[800], path[1700];
    json_t *body = returns_update_body(e->body);
    dh_wms_reply_t rep;
    dh_result_t res = DH_RESULT_DONE;

    if (!body) {
        return DH_RESULT_FATAL;
    }
    returns_url_encode(e->store->domain, sd, sizeof(sd));
    returns_url_encode(e->id, id, sizeof(id));
    snprintf(path, sizeof(path), "/wms/v1/returns/%s/%s", sd, id);
    dh_idem_far_key(RETURNS_IDEM_NS, e->effect, key);
    if (dh_lane_wms_call(lane, RETURNS_WMS_GROUP, "PUT", path, key, body, &rep, &res)) {
        json_decref(body);
        return res;
    }
    res = dh_lane_wms_answer(lane, dh_wms_rule(&returns_outcomes, "update-return", &rep), &rep,
                             "WMS did not update return %s/%s", e->store->domain, e->id);
    if (res == DH_RESULT_DONE && rep.status == 409 &&
        !dh_wms_problem_is(&rep, "/idempotency-key-mismatch")) {
        count(s->m.update_late);
        DH_LOG(DH_LOG_WARN, "returns", "request %s/%s: items changed after the return was %s",
               e->store->domain, e->id,
               dh_wms_problem_is(&rep, "/return-received") ? "received" : "closed");
    } else if (res == DH_RESULT_DONE) {
        count(s->m.updated);
        DH_LOG(DH_LOG_INFO, "returns", "request %s/%s: return updated", e->store->domain, e->id);
    }
    dh_wms_reply_clear(&rep);
    json_decref(body);
    return res;
}

static dh_result_t handle_create(returns_shared_t *s, rev_t *e, dh_lane_t *lane)
{
    const returns_metrics_t *m = metrics(s);
    char key[37];
    dh_wms_reply_t rep;
    dh_result_t res = DH_RESULT_DONE;

    dh_idem_far_key(RETURNS_IDEM_NS, e->idem, key);
    if (dh_lane_wms_call(lane, RETURNS_WMS_GROUP, "POST", "/wms/v1/returns", key, e->body, &rep,
                         &res)) {
        return res;
    }
    res = dh_lane_wms_answer(lane, dh_wms_rule(&returns_outcomes, "create-return", &rep), &rep,
                             "WMS refused return %s/%s", e->store->domain, e->id);
    if (res == DH_RESULT_DONE && rep.status == 201 && !rep.replayed) {
        count(m->created);
        DH_LOG(DH_LOG_INFO, "returns", "request %s/%s: return %s created", e->store->domain, e->id,
               json_string_value(json_object_get(rep.body, "id")));
    } else if (res == DH_RESULT_DONE &&
               (rep.status == 201 ||
                (rep.status == 200 && returns_same_content(rep.body, e->body)))) {
        /* A replay of our own creation (same key, so the same body), or the same items. */
        count(m->existed);
    } else if (res == DH_RESULT_DONE) {
        /* It existed with other items (or a key first used with an earlier body). */
        dh_wms_reply_clear(&rep);
        res = update_return(s, e, lane);
        memset(&rep, 0, sizeof(rep));
    }
    dh_wms_reply_clear(&rep);
    if (res == DH_RESULT_DONE && e->release) {
        res = release_exchange(s, e->store, e->exchange_order, e->id, lane);
    }
    return res;
}

static dh_result_t r_handle(void *shared, const dh_msg_t *msg, void *data, dh_lane_t *lane)
{
    returns_shared_t *s = shared;
    rev_t *e = data;

    (void)msg;
    switch (e->action) {
    case RETURNS_SKIP:
        count(s->m.skipped);
        DH_LOG(DH_LOG_DEBUG, "returns", "request %s/%s (%s): nothing to do", e->store->domain,
               e->id, e->status);
        return DH_RESULT_DONE;
    case RETURNS_COURIER:
        count(s->m.rp_courier);
        DH_LOG(DH_LOG_DEBUG, "returns", "courier return %s/%s: not a Return Prime request",
               e->store->domain, e->id);
        return DH_RESULT_DONE;
    case RETURNS_CANCEL:
        return handle_cancel(s, e, lane);
    case RETURNS_RECEIVE:
        return handle_receive(s, e, lane);
    default:
        return handle_create(s, e, lane);
    }
}

static void r_tick(void *shared, dh_lane_t *lane)
{
    returns_shared_t *s = shared;

    returns_reconcile_tick(&s->recon, lane);
}

const dh_handler_t returns_handler = {
    .name = "returns",
    .topics = returns_topics,
    .config = returns_tables,
    .check_config = r_check_config,
    .init = r_init,
    .fini = r_fini,
    .decode = r_decode,
    .handle = r_handle,
    .release = r_release,
    .tick = r_tick,
};
