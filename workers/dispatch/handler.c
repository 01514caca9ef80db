/*
 * dh-dispatch handler: one wms.dispatch record -> a few Shopify calls.
 *
 *   dispatch         fulfillmentCreate per location of the shipment's lines, made safe to
 *                    repeat (Shopify's is not idempotent): the fulfillment recorded for the
 *                    shipment in Redis, else one on the order with the shipment's tracking
 *                    number (created before a crash let us record it), else create.
 *   delivery_status  fulfillmentEventCreate on the shipment's fulfillment(s), unless its
 *                    sequence is not above the last one applied for the shipment.
 *
 * The runtime's idempotency record (effect id "dispatch:<store>:<shipment>" or
 * "status:<store>:<shipment>:<sequence>") skips exact duplicates before any call.
 * See docs/dispatch.md.
 */
#include <stdarg.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dispatch.h"
#include "dockhand/idem.h"
#include "dockhand/log.h"
#include "dockhand/shopify.h"
#include "dockhand/stores.h"
#include "dockhand/worker.h"

/* ---- configuration and process-wide state ---- */

static const dh_config_var_t dispatch_vars[] = {
    {"DH_DISPATCH_NOTIFY_CUSTOMER", DH_CFG_STRING, "true", 0, 0, NULL,
     "fulfillmentCreate notifyCustomer (Shopify emails the buyer the shipping confirmation): "
     "true or false; per store: \"true,<store>=false\"."},
    {"DH_DISPATCH_TRACKING_URLS", DH_CFG_STRING, "", 0, 0, NULL,
     "Tracking links of couriers Shopify does not list, used when the WMS sends none: "
     "\"<carrier>=https://...{number}...,...\"."},
    {"DH_DISPATCH_RTO_TAG", DH_CFG_STRING, "rto", 0, 0, NULL,
     "Order tag added once when a shipment starts returning to origin (RTO_*); empty: none."},
    {"DH_DISPATCH_LOST_TAG", DH_CFG_STRING, "lost-in-transit", 0, 0, NULL,
     "Order tag added once when the courier reports a shipment LOST; empty: none."},
    {"DH_DISPATCH_HOLD_RECHECK_MS", DH_CFG_INT, "15000", 100, 3600000, NULL,
     "How often a dispatch parked on a held or scheduled fulfillment order looks again (the "
     "wait ends at DH_RETRY_MAX_AGE_MS)."},
    {"DH_DISPATCH_RECORD_TTL_S", DH_CFG_INT, "691200", 60, 31536000, NULL,
     "Retention of the shipment -> fulfillment and last-status records in Redis (>= the "
     "replay horizon, like DH_IDEM_RETENTION_S)."},
    DH_CONFIG_END,
};

static const char *const dispatch_topics[] = {"wms.dispatch", NULL};

static const dh_config_var_t *const dispatch_tables[] = {dispatch_vars, dh_stores_config_vars,
                                                         NULL};

static void d_check_config(const dh_config_t *cfg, dh_config_report_t *report)
{
    char why[256];

    if (dh_config_policy(dh_config_get(cfg, "DH_DISPATCH_NOTIFY_CUSTOMER"), NULL, "false", "true",
                         why, sizeof(why)) < 0) {
        dh_config_report(report, "DH_DISPATCH_NOTIFY_CUSTOMER", "%s", why);
    }
    static const char *const tags[] = {"DH_DISPATCH_RTO_TAG", "DH_DISPATCH_LOST_TAG"};

    for (size_t i = 0; i < 2; i++) {
        const char *t = dh_config_get(cfg, tags[i]);

        /* tagsAdd reads a comma as a separator between tags. */
        if (strchr(t, ',') || strlen(t) > 255) {
            dh_config_report(report, tags[i], "one tag: no comma, at most 255 bytes");
        }
    }
    if (dispatch_url_templates_check(dh_config_get(cfg, "DH_DISPATCH_TRACKING_URLS"), why,
                                     sizeof(why)) < 0) {
        dh_config_report(report, "DH_DISPATCH_TRACKING_URLS", "%s", why);
    }
}

/* Advances the shipment's last applied sequence only upwards: 1 = advanced, 0 = not. */
static const char seq_lua[] = "local cur = tonumber(redis.call('GET', KEYS[1]) or '-1')\n"
                              "if tonumber(ARGV[1]) <= cur then return 0 end\n"
                              "redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])\n"
                              "return 1\n";

typedef struct dispatch_metrics {
    dh_counter_t *created, *adopted, *recorded, *nothing, *retracked, *posted, *stale,
        *skipped_units, *fence_waits;
} dispatch_metrics_t;

typedef struct dispatch_shared {
    const dh_stores_t *stores;      /* the runtime's (dh_worker_ctx_t) */
    const char *notify;             /* DH_DISPATCH_NOTIFY_CUSTOMER, borrowed from the config */
    const char *url_templates;      /* DH_DISPATCH_TRACKING_URLS, borrowed from the config */
    const char *rto_tag, *lost_tag; /* "" = no tag */
    long long ttl_s;
    long long hold_recheck_ms;
    dispatch_metrics_t m;  /* created at init */
    dh_metrics_t *metrics; /* the runtime's, for per-store series */
} dispatch_shared_t;

/* Every series, once, at init. */
static void metrics_create(dispatch_metrics_t *x, dh_metrics_t *m)
{
    static const char fh[] = "Shipments by how their fulfillment was obtained.";
    static const char eh[] = "Delivery statuses by outcome.";

    x->created = dh_metrics_counter(m, "dh_dispatch_fulfillments_total", fh, "outcome=\"created\"");
    x->adopted = dh_metrics_counter(m, "dh_dispatch_fulfillments_total", fh, "outcome=\"adopted\"");
    x->recorded =
        dh_metrics_counter(m, "dh_dispatch_fulfillments_total", fh, "outcome=\"recorded\"");
    x->nothing =
        dh_metrics_counter(m, "dh_dispatch_fulfillments_total", fh, "outcome=\"nothing_left\"");
    x->retracked =
        dh_metrics_counter(m, "dh_dispatch_fulfillments_total", fh, "outcome=\"retracked\"");
    x->posted = dh_metrics_counter(m, "dh_dispatch_events_total", eh, "outcome=\"posted\"");
    x->stale = dh_metrics_counter(m, "dh_dispatch_events_total", eh, "outcome=\"stale\"");
    x->skipped_units = dh_metrics_counter(
        m, "dh_dispatch_units_skipped_total",
        "Dispatched units not fulfilled because nothing of their line was left.", NULL);
    x->fence_waits = dh_metrics_counter(
        m, "dh_dispatch_fence_waits_total",
        "Fulfillments that waited for dh-inventory's stock fence of one of their SKUs.", NULL);
}

static dh_err_t d_init(const dh_worker_ctx_t *ctx, void **out, char *errstr, size_t errstr_size)
{
    const dh_config_t *cfg = ctx->cfg;
    dispatch_shared_t *s = calloc(1, sizeof(*s));

    if (!s) {
        snprintf(errstr, errstr_size, "out of memory");
        return DH_ERR_NOMEM;
    }
    s->stores = ctx->stores;
    metrics_create(&s->m, ctx->metrics);
    s->metrics = ctx->metrics;
    s->notify = dh_config_get(cfg, "DH_DISPATCH_NOTIFY_CUSTOMER");
    s->url_templates = dh_config_get(cfg, "DH_DISPATCH_TRACKING_URLS");
    s->rto_tag = dh_config_get(cfg, "DH_DISPATCH_RTO_TAG");
    s->lost_tag = dh_config_get(cfg, "DH_DISPATCH_LOST_TAG");
    s->ttl_s = dh_config_int(cfg, "DH_DISPATCH_RECORD_TTL_S");
    s->hold_recheck_ms = dh_config_int(cfg, "DH_DISPATCH_HOLD_RECHECK_MS");
    *out = s;
    return DH_OK;
}

static void d_fini(void *shared)
{
    dispatch_shared_t *s = shared;

    free(s);
}

static void count(dh_counter_t *c, uint64_t n)
{
    if (c) {
        dh_counter_add(c, n);
    }
}

/* A per-store series, found (or created) at first use: stores are few and fixed. */
static void count_store(dispatch_shared_t *s, const char *name, const char *help,
                        const dh_store_t *store)
{
    char labels[300];

    dh_metrics_store_label(store->domain, labels, sizeof(labels));
    count(dh_metrics_counter(s->metrics, name, help, labels), 1);
}

static const dispatch_metrics_t *metrics(const dispatch_shared_t *s)
{
    return &s->m;
}

/* ---- decode ---- */

typedef struct dsp_ev {
    dispatch_event_t ev;
    const dh_store_t *store;
    char ful_key[600]; /* dh:dispatch:ful:<store>:<shipment> */
    char seq_key[600]; /* dh:dispatch:seq:<store>:<shipment> */
    char awb_key[600]; /* dh:dispatch:awb:<store>:<shipment>: the AWB recorded with it */
    char order_gid[64];
    dispatch_ledger_t led; /* the shipment's ledger lines (n = 0: none) */
} dsp_ev_t;

static void d_release(void *data)
{
    dsp_ev_t *e = data;

    if (e) {
        dispatch_ledger_clear(&e->led);
        dispatch_event_clear(&e->ev);
        free(e);
    }
}

/* The effect id, one per (store, shipment, AWB) or (store, shipment, sequence);
 * dh_event_set_effect() turns one too long for the record (long store and shipment ids) into its
 * digest form. */
static dh_err_t effect_id(const dsp_ev_t *e, dh_event_t *out)
{
    if (e->ev.kind == DISPATCH_SHIPMENT) {
        /* The AWB is part of it: a courier reassignment is a new effect on the shipment. */
        return dh_event_set_effect(out, "dispatch:%s:%s:%s", e->store->domain, e->ev.shipment_id,
                                   e->ev.tracking_number);
    }
    return dh_event_set_effect(out, "status:%s:%s:%lld", e->store->domain, e->ev.shipment_id,
                               (long long)e->ev.sequence);
}

static dh_result_t d_decode(void *shared, const dh_msg_t *msg, dh_event_t *ev, dh_lane_t *lane)
{
    dispatch_shared_t *s = shared;
    char err[512];
    dsp_ev_t *e = calloc(1, sizeof(*e));
    const char *klass;

    if (!e) {
        return DH_RESULT_FATAL;
    }
    klass = dispatch_event_check(s->stores, msg, &e->ev, &e->store, err, sizeof(err));
    if (klass) {
        dh_lane_fail(lane, klass, "%s", err);
        goto dead;
    }
    snprintf(e->ful_key, sizeof(e->ful_key), "dh:dispatch:ful:%s:%s", e->store->domain,
             e->ev.shipment_id);
    snprintf(e->seq_key, sizeof(e->seq_key), "dh:dispatch:seq:%s:%s", e->store->domain,
             e->ev.shipment_id);
    snprintf(e->awb_key, sizeof(e->awb_key), "dh:dispatch:awb:%s:%s", e->store->domain,
             e->ev.shipment_id);
    snprintf(e->order_gid, sizeof(e->order_gid), "gid://shopify/Order/%s", e->ev.order_id);
    /* A shipment from a facility without a location is dead-lettered: no ledger entry. */
    if ((e->ev.facility && dh_stores_location(s->stores, e->store, e->ev.facility) &&
         dispatch_ledger_init(&e->led, &e->ev)) ||
        effect_id(e, ev)) {
        dh_lane_fail(lane, "internal", "out of memory");
        d_release(e);
        return DH_RESULT_FATAL;
    }
    ev->data = e;
    ev->store = e->store;
    return DH_RESULT_DONE;
dead:
    d_release(e);
    return DH_RESULT_DEAD_LETTER;
}

/* ---- Shopify and Redis ---- */

/* One GraphQL call: 0 = a reply in *rep (userErrors still to check); else *res is set by
 * the outcome table and *rep is empty. */
static int gql(dh_lane_t *lane, const dsp_ev_t *e, dh_gql_doc_t doc, json_t *vars,
               dh_gql_reply_t *rep, dh_result_t *res)
{
    if (dh_lane_shopify_call(lane, e->store, doc, vars, rep, res) == 0) {
        return 0;
    }
    dh_gql_reply_clear(rep);
    return -1;
}

/* Shopify's business answer \p a to \p call, decided by dispatch_outcomes. */
static dh_result_t answer(dh_lane_t *lane, const char *call, dh_answer_t a, const char *fmt, ...)
    DH_PRINTF(4, 5);

static dh_result_t answer(dh_lane_t *lane, const char *call, dh_answer_t a, const char *fmt, ...)
{
    char msg[480];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return dh_lane_answer(lane, dh_outcome_rule(&dispatch_outcomes, DH_FAR_SHOPIFY, call, a, NULL),
                          NULL, "%s: %s", call, msg);
}

/* data.order of a reply for e's order: borrowed from rep; NULL (with *res) if missing. */
static json_t *order_of(dh_lane_t *lane, const char *call, const dsp_ev_t *e, dh_gql_reply_t *rep,
                        dh_result_t *res)
{
    json_t *o = json_object_get(rep->data, "order");

    if (!json_is_object(o)) {
        *res = answer(lane, call, DH_ANSWER_MISSING, "order %s (%s) not found in %s",
                      e->ev.order_id, e->ev.order_name, e->store->domain);
        return NULL;
    }
    return o;
}

/* GET \p key: 1 = value copied, 0 = missing, -1 = Redis failed (*res set). */
static int redis_get(dh_lane_t *lane, const char *key, char *out, size_t size, dh_result_t *res)
{
    const char *argv[] = {"GET", key};
    redisReply *r = NULL;
    int found;

    if (dh_redis_command(dh_lane_redis(lane), 2, argv, NULL, &r)) {
        dh_lane_fail(lane, "redis", "GET %s: %s", key, dh_redis_errstr(dh_lane_redis(lane)));
        *res = DH_RESULT_RETRY;
        return -1;
    }
    found = r->type == REDIS_REPLY_STRING;
    snprintf(out, size, "%s", found ? r->str : "");
    freeReplyObject(r);
    return found;
}

static int redis_set(dispatch_shared_t *s, dh_lane_t *lane, const char *key, const char *val)
{
    char ttl[24];
    const char *argv[] = {"SET", key, val, "EX", ttl};
    redisReply *r = NULL;

    snprintf(ttl, sizeof(ttl), "%lld", s->ttl_s);
    if (dh_redis_command(dh_lane_redis(lane), 5, argv, NULL, &r)) {
        return -1;
    }
    freeReplyObject(r);
    return 0;
}

/* Fulfillments on the order with the shipment's tracking number (new array), or NULL
 * with *res set. */
static json_t *find_existing(dh_lane_t *lane, const dsp_ev_t *e, dh_result_t *res)
{
    dh_gql_reply_t rep;
    json_t *vars = json_pack("{s:s}", "id", e->order_gid), *order, *found = NULL;

    if (gql(lane, e, DH_GQL_ORDER_FULFILLMENTS, vars, &rep, res) == 0) {
        order = order_of(lane, "orderFulfillments", e, &rep, res);
        if (order) {
            found = dispatch_find_fulfillments(order, e->ev.tracking_number);
        }
        dh_gql_reply_clear(&rep);
    }
    json_decref(vars);
    return found;
}

/* ---- dispatch ---- */

/* notifyCustomer: the store's value of DH_DISPATCH_NOTIFY_CUSTOMER. */
static int notify_of(const dispatch_shared_t *s, const dsp_ev_t *e)
{
    return dh_config_policy(s->notify, e->store->domain, "false", "true", NULL, 0) == 1;
}

static dh_result_t create_one(dispatch_shared_t *s, dh_lane_t *lane, const dsp_ev_t *e,
                              json_t *group, json_t *created)
{
    char errs[512];
    dh_gql_reply_t rep;
    dh_result_t res = DH_RESULT_DONE;
    json_t *vars = dispatch_create_vars_ex(&e->ev, group, notify_of(s, e), s->url_templates);

    if (gql(lane, e, DH_GQL_FULFILLMENT_CREATE, vars, &rep, &res) == 0) {
        const char *id = json_string_value(json_object_get(
            json_object_get(json_object_get(rep.data, "fulfillmentCreate"), "fulfillment"), "id"));

        if (dh_gql_user_errors(&rep, "fulfillmentCreate", errs, sizeof(errs), NULL, 0) > 0 || !id) {
            res = answer(lane, "fulfillmentCreate", DH_ANSWER_USER_ERRORS,
                         "shipment %s of order %s: %s", e->ev.shipment_id, e->ev.order_id,
                         id ? errs : "no fulfillment returned");
        } else {
            json_array_append_new(created, json_pack("{s:s}", "id", id));
            DH_LOG(DH_LOG_INFO, "dispatch", "shipment %s of order %s/%s: created %s",
                   e->ev.shipment_id, e->store->domain, e->ev.order_id, id);
        }
        dh_gql_reply_clear(&rep);
    }
    json_decref(vars);
    return res;
}

/* Right before the first fulfillmentCreate: the shipment's lines become inflight, unless
 * dh-inventory holds a fence of one of their SKUs (WAIT). Nothing to create: nothing. */
static dh_result_t begin_creates(dispatch_shared_t *s, dh_lane_t *lane, dsp_ev_t *e,
                                 json_t *adopted, json_t *groups)
{
    size_t i;
    json_t *g;

    json_array_foreach(groups, i, g)
    {
        if (!dispatch_covered(adopted, g)) {
            return dispatch_ledger_begin(&e->led, lane, e->store->domain, metrics(s)->fence_waits);
        }
    }
    return DH_RESULT_DONE;
}

/* Plan from the fulfillment orders and create what the adopted fulfillments do not cover. */
static dh_result_t create_missing(dispatch_shared_t *s, dh_lane_t *lane, dsp_ev_t *e,
                                  json_t *adopted, json_t *created)
{
    static const dh_result_t by_rc[] = {
        [DISPATCH_PLAN_OK] = DH_RESULT_DONE,
        [DISPATCH_PLAN_UNKNOWN] = DH_RESULT_DEAD_LETTER,
        [DISPATCH_PLAN_CLOSED] = DH_RESULT_DEAD_LETTER,
        [DISPATCH_PLAN_BLOCKED] = DH_RESULT_WAIT,
        [DISPATCH_PLAN_ELSEWHERE] = DH_RESULT_DEAD_LETTER,
    };
    static const char *const cls[] = {"", "unknown-line-item", "order-closed", "not-fulfillable",
                                      "wrong-location"};
    char err[400];
    dh_gql_reply_t rep;
    dh_result_t res = DH_RESULT_DONE;
    dispatch_plan_t plan = {0};
    json_t *vars, *order;
    const char *loc =
        e->ev.facility ? dh_stores_location(s->stores, e->store, e->ev.facility) : NULL;

    if (!loc) {
        /* Without the facility's location any fulfillment order could be the wrong one. */
        dh_lane_fail(lane, "unmapped-facility",
                     "shipment %s of order %s/%s: facility '%s' has no Shopify location in "
                     "DH_STORES_FILE",
                     e->ev.shipment_id, e->store->domain, e->ev.order_id,
                     e->ev.facility ? e->ev.facility : "(none)");
        return DH_RESULT_DEAD_LETTER;
    }
    vars = json_pack("{s:s}", "id", e->order_gid);
    if (gql(lane, e, DH_GQL_ORDER_FULFILLMENT_ORDERS, vars, &rep, &res)) {
        json_decref(vars);
        return res;
    }
    json_decref(vars);
    order = order_of(lane, "orderFulfillmentOrders", e, &rep, &res);
    if (order) {
        dispatch_plan_rc_t rc = dispatch_plan_build(&e->ev, order, loc, &plan, err, sizeof(err));

        if (rc == DISPATCH_PLAN_BLOCKED) {
            /* Held (or scheduled) until a person or app releases it: look again later
             * without spending the retry budget; DH_RETRY_MAX_AGE_MS bounds the wait. */
            count_store(s, "dh_dispatch_hold_waits_total",
                        "Dispatches parked on a held or scheduled fulfillment order.", e->store);
            dh_lane_retry_after(lane, s->hold_recheck_ms);
            DH_LOG(DH_LOG_INFO, "dispatch", "shipment %s of order %s/%s parked: %s",
                   e->ev.shipment_id, e->store->domain, e->ev.order_id, err);
        }
        if (rc == DISPATCH_PLAN_ELSEWHERE) {
            count_store(s, "dh_dispatch_wrong_location_total",
                        "Dispatches dead-lettered: their lines are open only at other locations.",
                        e->store);
        }
        if (rc != DISPATCH_PLAN_OK) {
            dh_lane_fail(lane, cls[rc], "shipment %s of order %s/%s: %s", e->ev.shipment_id,
                         e->store->domain, e->ev.order_id, err);
            res = by_rc[rc];
        } else {
            size_t i;
            json_t *g;

            count(metrics(s)->skipped_units, (uint64_t)plan.skipped);
            res = begin_creates(s, lane, e, adopted, plan.groups);
            json_array_foreach(plan.groups, i, g)
            {
                if (res != DH_RESULT_DONE) {
                    break;
                }
                if (!dispatch_covered(adopted, g)) {
                    res = create_one(s, lane, e, g, created);
                }
            }
        }
    }
    dispatch_plan_clear(&plan);
    dh_gql_reply_clear(&rep);
    return res;
}

static dh_result_t update_tracking(dispatch_shared_t *s, dh_lane_t *lane, const dsp_ev_t *e,
                                   const char *gid)
{
    char errs[512];
    dh_gql_reply_t rep;
    dh_result_t res = DH_RESULT_DONE;
    json_t *vars = dispatch_retrack_vars(&e->ev, gid, notify_of(s, e), s->url_templates);

    if (gql(lane, e, DH_GQL_FULFILLMENT_TRACKING_UPDATE, vars, &rep, &res) == 0) {
        if (dh_gql_user_errors(&rep, "fulfillmentTrackingInfoUpdate", errs, sizeof(errs), NULL, 0) >
            0) {
            res = answer(lane, "fulfillmentTrackingInfoUpdate", DH_ANSWER_USER_ERRORS,
                         "shipment %s, %s: %s", e->ev.shipment_id, gid, errs);
        } else {
            DH_LOG(DH_LOG_INFO, "dispatch", "shipment %s of order %s/%s: %s now tracks %s",
                   e->ev.shipment_id, e->store->domain, e->ev.order_id, gid, e->ev.tracking_number);
        }
        dh_gql_reply_clear(&rep);
    }
    json_decref(vars);
    return res;
}

/* A recorded shipment (fulfillments \p ids) dispatched again: the same AWB is done; a new
 * one (the courier reassigned) replaces the tracking of its fulfillments, once: those that
 * already carry the number (an update whose AWB record was lost, or a shipment recorded
 * before AWBs were) are skipped, then the AWB is recorded. */
static dh_result_t retrack(dispatch_shared_t *s, dh_lane_t *lane, const dsp_ev_t *e, char *ids)
{
    char awb[300], *save = NULL;
    dh_result_t res = DH_RESULT_DONE;
    int got = redis_get(lane, e->awb_key, awb, sizeof(awb), &res), updated = 0;
    json_t *done;

    if (got < 0) {
        return res;
    }
    if (got > 0 && strcmp(awb, e->ev.tracking_number) == 0) {
        count(metrics(s)->recorded, 1); /* done before; the runtime record had expired */
        return DH_RESULT_DONE;
    }
    done = find_existing(lane, e, &res);
    if (!done) {
        return res;
    }
    for (char *gid = strtok_r(ids, " ", &save); gid && res == DH_RESULT_DONE;
         gid = strtok_r(NULL, " ", &save)) {
        if (!dispatch_listed(done, gid)) {
            res = update_tracking(s, lane, e, gid);
            updated = 1;
        }
    }
    json_decref(done);
    if (res == DH_RESULT_DONE) {
        count(updated ? metrics(s)->retracked : metrics(s)->recorded, 1);
        if (redis_set(s, lane, e->awb_key, e->ev.tracking_number)) {
            /* A retry finds the fulfillments carrying the new number and skips them. */
            dh_lane_fail(lane, "redis", "recording %s: %s", e->awb_key,
                         dh_redis_errstr(dh_lane_redis(lane)));
            res = DH_RESULT_RETRY;
        }
    }
    return res;
}

/* The shipment's fulfillment: *fulfilled = 1 once Shopify has it (recorded, adopted,
 * created, or nothing left to fulfil), whatever the result. */
static dh_result_t fulfil(dispatch_shared_t *s, dh_lane_t *lane, dsp_ev_t *e, int *fulfilled)
{
    const dispatch_metrics_t *m = metrics(s);
    char ids[2048] = "";
    dh_result_t res = DH_RESULT_DONE;
    json_t *adopted, *created;
    int got = redis_get(lane, e->ful_key, ids, sizeof(ids), &res);

    if (got != 0) {
        *fulfilled = got > 0;
        return got > 0 ? retrack(s, lane, e, ids) : res;
    }
    /* A fulfillment with our tracking number is ours from an attempt that crashed or timed
     * out before recording it: adopt it rather than create a second one. */
    adopted = find_existing(lane, e, &res);
    if (!adopted) {
        return res;
    }
    created = json_array();
    res = create_missing(s, lane, e, adopted, created);
    *fulfilled = res == DH_RESULT_DONE || json_array_size(adopted) || json_array_size(created);
    if (res == DH_RESULT_DONE) {
        dispatch_join_ids(adopted, ids, sizeof(ids));
        dispatch_join_ids(created, ids, sizeof(ids));
        count(m->adopted, json_array_size(adopted) ? 1 : 0);
        count(m->created, json_array_size(created));
        if (!ids[0]) {
            count(m->nothing, 1);
            DH_LOG(DH_LOG_WARN, "dispatch",
                   "shipment %s of order %s/%s: nothing left to fulfil (already fulfilled)",
                   e->ev.shipment_id, e->store->domain, e->ev.order_id);
        } else if (redis_set(s, lane, e->awb_key, e->ev.tracking_number) ||
                   redis_set(s, lane, e->ful_key, ids)) {
            /* Retrying is safe: the next attempt adopts what was just created. The AWB goes
             * first, so a recorded shipment always has its AWB. */
            dh_lane_fail(lane, "redis", "recording %s: %s", e->ful_key,
                         dh_redis_errstr(dh_lane_redis(lane)));
            res = DH_RESULT_RETRY;
        } else if (json_array_size(adopted)) {
            DH_LOG(DH_LOG_INFO, "dispatch", "shipment %s of order %s/%s: adopted %s",
                   e->ev.shipment_id, e->store->domain, e->ev.order_id, ids);
        }
    }
    json_decref(adopted);
    json_decref(created);
    return res;
}

/* The ledger around the fulfillment (docs/inventory.md): open before anything (a hold may
 * park the event for long), inflight right before fulfillmentCreate, then done, or open
 * again when the fulfillment definitely was not created. */
static dh_result_t do_dispatch(dispatch_shared_t *s, dh_lane_t *lane, dsp_ev_t *e)
{
    int fulfilled = 0;
    dh_result_t res = dispatch_ledger_open(&e->led, lane, e->store->domain);

    if (res != DH_RESULT_DONE) {
        return res;
    }
    res = fulfil(s, lane, e, &fulfilled);
    return dispatch_ledger_settle(&e->led, lane, e->store->domain, res, fulfilled);
}

/* ---- delivery_status ---- */

/* The shipment's fulfillment gids (space-separated) into \p ids: 1 = found, 0 = none yet,
 * -1 = *res set. */
static int shipment_fulfillments(dispatch_shared_t *s, dh_lane_t *lane, const dsp_ev_t *e,
                                 char *ids, size_t size, dh_result_t *res)
{
    int got = redis_get(lane, e->ful_key, ids, size, res);
    json_t *found;

    if (got != 0 || !e->ev.tracking_number) {
        return got;
    }
    found = find_existing(lane, e, res);
    if (!found) {
        return -1;
    }
    dispatch_join_ids(found, ids, size);
    json_decref(found);
    if (ids[0] && redis_set(s, lane, e->ful_key, ids)) {
        DH_LOG(DH_LOG_WARN, "dispatch", "recording %s: %s", e->ful_key,
               dh_redis_errstr(dh_lane_redis(lane)));
    }
    return ids[0] ? 1 : 0;
}

static dh_result_t post_event(dh_lane_t *lane, const dsp_ev_t *e, const char *gid)
{
    char errs[512];
    dh_gql_reply_t rep;
    dh_result_t res = DH_RESULT_DONE;
    json_t *vars = dispatch_event_vars(&e->ev, gid);

    if (gql(lane, e, DH_GQL_FULFILLMENT_EVENT_CREATE, vars, &rep, &res) == 0) {
        if (dh_gql_user_errors(&rep, "fulfillmentEventCreate", errs, sizeof(errs), NULL, 0) > 0) {
            res = answer(lane, "fulfillmentEventCreate", DH_ANSWER_USER_ERRORS,
                         "%s on %s (shipment %s): %s", e->ev.status, gid, e->ev.shipment_id, errs);
        }
        dh_gql_reply_clear(&rep);
    }
    json_decref(vars);
    return res;
}

/* RTO and loss tag the order (docs/dispatch.md, the status table), once per order and tag:
 * a Redis marker after the call. tagsAdd leaves a tag the order has as it is, so a crash
 * before the marker only repeats a call that changes nothing. */
static dh_result_t tag_order(dispatch_shared_t *s, dh_lane_t *lane, const dsp_ev_t *e)
{
    dispatch_tag_t t = dispatch_status_tag(e->ev.status);
    const char *tag = t == DISPATCH_TAG_RTO    ? s->rto_tag
                      : t == DISPATCH_TAG_LOST ? s->lost_tag
                                               : "";
    char key[900], have[8], errs[512];
    dh_result_t res = DH_RESULT_DONE;
    dh_gql_reply_t rep;
    json_t *vars;

    if (!tag[0]) {
        return DH_RESULT_DONE;
    }
    snprintf(key, sizeof(key), "dh:dispatch:tag:%s:%s:%s", e->store->domain, e->ev.order_id, tag);
    if (redis_get(lane, key, have, sizeof(have), &res) != 0) {
        return res; /* tagged already (DONE), or Redis failed (RETRY) */
    }
    vars = json_pack("{s:s, s:[s]}", "id", e->order_gid, "tags", tag);
    if (gql(lane, e, DH_GQL_TAGS_ADD, vars, &rep, &res) == 0) {
        if (dh_gql_user_errors(&rep, "tagsAdd", errs, sizeof(errs), NULL, 0) > 0) {
            res = answer(lane, "tagsAdd", DH_ANSWER_USER_ERRORS, "tag %s on order %s: %s", tag,
                         e->ev.order_id, errs);
        } else {
            count_store(s, "dh_dispatch_order_tags_total",
                        "Orders tagged for a return to origin or a loss.", e->store);
            if (redis_set(s, lane, key, tag)) {
                DH_LOG(DH_LOG_WARN, "dispatch", "recording %s: %s", key,
                       dh_redis_errstr(dh_lane_redis(lane)));
            }
        }
        dh_gql_reply_clear(&rep);
    }
    json_decref(vars);
    return res;
}

static dh_result_t do_status(dispatch_shared_t *s, dh_lane_t *lane, const dsp_ev_t *e)
{
    const dispatch_metrics_t *m = metrics(s);
    char cur[32], ids[2048] = "", seq[24], ttl[24], *save = NULL;
    dh_result_t res = DH_RESULT_DONE;
    int got = redis_get(lane, e->seq_key, cur, sizeof(cur), &res);

    if (got < 0) {
        return res;
    }
    if (got > 0 && e->ev.sequence <= strtoll(cur, NULL, 10)) {
        count(m->stale, 1);
        DH_LOG(DH_LOG_INFO, "dispatch",
               "shipment %s: status %s sequence %lld <= %s applied: ignored", e->ev.shipment_id,
               e->ev.status, (long long)e->ev.sequence, cur);
        return DH_RESULT_DONE;
    }
    got = shipment_fulfillments(s, lane, e, ids, sizeof(ids), &res);
    if (got <= 0) {
        if (got == 0) {
            /* Its dispatch is not applied yet (or failed): wait; the retry budget ends in the
             * dead-letter topic. */
            dh_lane_fail(lane, "no-fulfillment",
                         "shipment %s of order %s/%s has no fulfillment yet", e->ev.shipment_id,
                         e->store->domain, e->ev.order_id);
            res = DH_RESULT_RETRY;
        }
        return res;
    }
    res = tag_order(s, lane, e); /* before posting: a failed tag must not re-post */
    for (char *gid = strtok_r(ids, " ", &save); gid && res == DH_RESULT_DONE;
         gid = strtok_r(NULL, " ", &save)) {
        res = post_event(lane, e, gid);
    }
    if (res != DH_RESULT_DONE) {
        return res;
    }
    count(m->posted, 1);
    snprintf(seq, sizeof(seq), "%lld", (long long)e->ev.sequence);
    snprintf(ttl, sizeof(ttl), "%lld", s->ttl_s);
    const char *argv[] = {e->seq_key, seq, ttl};
    redisReply *r = NULL;

    if (dh_redis_eval(dh_lane_redis(lane), seq_lua, 1, 3, argv, NULL, &r) == DH_OK) {
        freeReplyObject(r);
    } else {
        /* Posted: a retry would post twice. A stale event may then slip through later. */
        DH_LOG(DH_LOG_WARN, "dispatch", "advancing %s: %s", e->seq_key,
               dh_redis_errstr(dh_lane_redis(lane)));
    }
    return DH_RESULT_DONE;
}

static dh_result_t d_handle(void *shared, const dh_msg_t *msg, void *data, dh_lane_t *lane)
{
    dsp_ev_t *e = data;

    (void)msg;
    return e->ev.kind == DISPATCH_SHIPMENT ? do_dispatch(shared, lane, e)
                                           : do_status(shared, lane, e);
}

const dh_handler_t dispatch_handler = {
    .name = "dispatch",
    .topics = dispatch_topics,
    .config = dispatch_tables,
    .check_config = d_check_config,
    .init = d_init,
    .fini = d_fini,
    .decode = d_decode,
    .handle = d_handle,
    .release = d_release,
};
