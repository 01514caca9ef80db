/*
 * dh-returns handler: one returnprime.cir record -> at most one WMS call.
 *
 *   status approved/received/inspected (DH_RETURNS_CREATE_STATUSES)
 *       POST /wms/v1/returns (createReturn): the return, or the return leg of an exchange.
 *   anything else (pending, refunded, rejected, archived)
 *       acknowledged without a call, counted as skipped.
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
#include "returns.h"

/* ---- configuration and process-wide state ---- */

static const dh_config_var_t returns_vars[] = {
    {"DH_RETURNS_CREATE_STATUSES", DH_CFG_STRING, RETURNS_DEFAULT_STATUSES, 0, 0, NULL,
     "Comma-separated Return Prime request statuses that create the WMS return (any webhook "
     "topic carrying one); other statuses are acknowledged and counted as skipped."},
    DH_CONFIG_END,
};

static const char *const returns_topics[] = {"returnprime.cir", NULL};

static const dh_config_var_t *const returns_tables[] = {returns_vars, dh_stores_config_vars,
                                                        dh_wms_config_vars, NULL};

typedef struct returns_metrics {
    dh_counter_t *created, *existed, *skipped;
} returns_metrics_t;

typedef struct returns_shared {
    const dh_stores_t *stores; /* the runtime's (dh_worker_ctx_t) */
    unsigned create_mask;
    returns_metrics_t m; /* created at init */
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

    if (statuses(cfg, &mask, errstr, sizeof(errstr))) {
        dh_config_report(report, "DH_RETURNS_CREATE_STATUSES", "%s", errstr);
    }
}

static dh_err_t r_init(const dh_worker_ctx_t *ctx, void **out, char *errstr, size_t errstr_size)
{
    static const char h[] = "Return Prime requests by outcome.";
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
    s->m.created =
        dh_metrics_counter(ctx->metrics, "dh_returns_requests_total", h, "outcome=\"created\"");
    s->m.existed =
        dh_metrics_counter(ctx->metrics, "dh_returns_requests_total", h, "outcome=\"existed\"");
    s->m.skipped =
        dh_metrics_counter(ctx->metrics, "dh_returns_requests_total", h, "outcome=\"skipped\"");
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
    char effect[600]; /* returns:<store>:<request id>, the Idempotency-Key's source */
    char status[16];  /* for the skip log */
    json_t *body;     /* createReturn body (RETURNS_CREATE) */
} rev_t;

static void r_release(void *data)
{
    rev_t *e = data;

    if (e) {
        json_decref(e->body);
        free(e);
    }
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
    snprintf(e->effect, sizeof(e->effect), "returns:%s:%s", e->store->domain, rq.id);
    if (e->action == RETURNS_CREATE) {
        e->body = returns_wms_body(&rq, e->store->domain, &cls, err, sizeof(err));
        if (!e->body) {
            dh_lane_fail(lane, cls, "request %s (%s): %s", rq.id, rq.number, err);
            goto dead;
        }
        /* One record per return, whichever webhook asks for it; a long store + id takes
         * the digest form, still one per return. */
        if (dh_event_set_effect(ev, "%s", e->effect)) {
            dh_lane_fail(lane, "internal", "out of memory");
            returns_request_clear(&rq);
            r_release(e);
            return DH_RESULT_FATAL;
        }
    }
    /* A skipped event has no effect, hence no record: it must not mark the return done. */
    returns_request_clear(&rq);
    ev->data = e;
    return DH_RESULT_DONE;
dead:
    returns_request_clear(&rq);
    r_release(e);
    return DH_RESULT_DEAD_LETTER;
}

/* ---- the WMS call ---- */

static dh_result_t r_handle(void *shared, const dh_msg_t *msg, void *data, dh_lane_t *lane)
{
    returns_shared_t *s = shared;
    rev_t *e = data;
    const returns_metrics_t *m = metrics(s);
    char key[37];
    dh_wms_reply_t rep;
    dh_result_t res = DH_RESULT_DONE;

    (void)msg;
    if (e->action == RETURNS_SKIP) {
        count(m->skipped);
        DH_LOG(DH_LOG_DEBUG, "returns", "request %s/%s (%s): nothing to create", e->store->domain,
               e->id, e->status);
        return DH_RESULT_DONE;
    }
    dh_idem_far_key(RETURNS_IDEM_NS, e->effect, key);
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
    } else if (res == DH_RESULT_DONE) {
        count(m->existed);
    }
    dh_wms_reply_clear(&rep);
    return res;
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
};
