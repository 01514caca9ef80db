/*
 * One inventorySetQuantities call per store and batch (on_hand, changeFromQuantity
 * null, @idempotent key from the batch content), its userErrors, and the read of the
 * applied-sequence records (written by the fenced commit, apply.c). docs/inventory.md §4-§6.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dockhand/idem.h"
#include "dockhand/log.h"
#include "inventory.h"

#define MAX_ROUNDS 4

void inv_seq_key(const char *store, char *buf, size_t size)
{
    snprintf(buf, size, "dh:inv:seq:%s", store);
}

dh_err_t inv_seq_read(dh_redis_t *r, const char *store, const char *const *fields, size_t n,
                      int64_t *seq, int64_t *qty)
{
    const char **argv = calloc(n + 2, sizeof(*argv));
    char key[400];
    redisReply *rep = NULL;
    dh_err_t err;

    if (!argv) {
        return DH_ERR_NOMEM;
    }
    inv_seq_key(store, key, sizeof(key));
    argv[0] = "HMGET";
    argv[1] = key;
    for (size_t i = 0; i < n; i++) {
        argv[i + 2] = fields[i];
        seq[i] = qty[i] = -1;
    }
    err = dh_redis_command(r, (int)(n + 2), argv, NULL, &rep);
    free(argv);
    if (err != DH_OK) {
        return err;
    }
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements != n) {
        freeReplyObject(rep);
        return DH_ERR_PROTO;
    }
    for (size_t i = 0; i < n; i++) {
        redisReply *e = rep->element[i];
        long long s, q;

        if (e->type == REDIS_REPLY_STRING && sscanf(e->str, "%lld %lld", &s, &q) == 2) {
            seq[i] = s;
            qty[i] = q;
        }
    }
    freeReplyObject(rep);
    return DH_OK;
}

static void set_all(inv_qres_t *res, const size_t *act, size_t na, const dh_outcome_t *o)
{
    for (size_t i = 0; i < na; i++) {
        res[act[i]].pending = 0;
        res[act[i]].o = *o;
    }
}

static json_t *build_input(inv_shared_t *sh, const char *idem_key, const inv_qty_t *q,
                           const size_t *act, size_t na)
{
    json_t *quantities = json_array();
    char uri[256];

    for (size_t i = 0; i < na; i++) {
        const inv_qty_t *x = &q[act[i]];

        json_array_append_new(quantities,
                              json_pack("{s:s, s:s, s:I, s:o}", "inventoryItemId", x->item,
                                        "locationId", x->location, "quantity", (json_int_t)x->qty,
                                        "changeFromQuantity", json_null()));
    }
    snprintf(uri, sizeof(uri), "%s%s", sh->uri_prefix, idem_key);
    return json_pack("{s:s, s:s, s:s, s:o}", "name", "on_hand", "reason", sh->reason,
                     "referenceDocumentUri", uri, "quantities", quantities);
}

/* One call's context: the quantities it sends (act: indices into q and res). */
typedef struct round {
    dh_lane_t *lane;
    const dh_store_t *store;
    const inv_metrics_t *m;
    inv_qty_t *q;
    inv_qres_t *res;
    size_t act[INV_BATCH_MAX], na;
} round_t;

/* The idempotency key of a call: the batch content and the salt. */
static void call_key(inv_shared_t *sh, const round_t *r, const char *tag, int salt, char key[37])
{
    inv_qty_t tmp[INV_BATCH_MAX];
    char hash[65], salted[128];

    for (size_t i = 0; i < r->na; i++) {
        tmp[i] = r->q[r->act[i]];
    }
    inv_batch_hash(r->store->domain, tag, "on_hand", sh->reason, tmp, r->na, hash);
    snprintf(salted, sizeof(salted), "%s:%s:%d", r->store->domain, hash, salt);
    dh_idem_far_key("inventory", salted, key);
}

/* One userError by inv_outcomes. Returns 1 when it decided the whole call (*again: 2 for a
 * new key, else 0), 0 when it concerned one quantity. */
static int user_error(round_t *r, json_t *ue, int *again)
{
    const char *code = json_string_value(json_object_get(ue, "code"));
    const char *text = json_string_value(json_object_get(ue, "message"));
    long idx = inv_user_error_index(json_object_get(ue, "field"));
    const dh_outcome_rule_t *rule;
    dh_outcome_t o;

    code = code ? code : "USER_ERROR";
    text = text ? text : "";
    rule =
        dh_outcome_rule(&inv_outcomes, DH_FAR_SHOPIFY, INV_CALL_SET, DH_ANSWER_USER_ERRORS, code);
    if (rule->action == INV_ACT_NEW_KEY) {
        *again = 2; /* same content, next salt */
        return 1;
    }
    if (rule->action != INV_ACT_ALL && (idx < 0 || (size_t)idx >= r->na)) {
        rule = dh_outcome_rule(&inv_outcomes, DH_FAR_SHOPIFY, INV_CALL_UNPLACED,
                               DH_ANSWER_USER_ERRORS, code);
    }
    if (rule->action == INV_ACT_ALL) {
        dh_outcome_of_rule(rule, code, &o, "%s: %s", code, text);
        set_all(r->res, r->act, r->na, &o);
        *again = 0;
        return 1;
    }
    size_t i = r->act[idx];

    dh_outcome_of_rule(rule, code, &o, "%.60s at %.50s: %s: %.100s", r->q[i].item, r->q[i].location,
                       code, text);
    r->res[i].pending = 0;
    r->res[i].o = o;
    return 0;
}

/* Shopify's answer to one call: everything applied, or userErrors (all or nothing). Returns
 * round_once()'s value. */
static int on_answer(round_t *r, const dh_gql_reply_t *rep)
{
    json_t *errs =
        json_object_get(json_object_get(rep->data, "inventorySetQuantities"), "userErrors");
    dh_outcome_t done = {.result = DH_RESULT_DONE};
    int again = 0;
    size_t k;
    json_t *ue;

    if (json_array_size(errs) == 0) {
        set_all(r->res, r->act, r->na, &done);
        dh_counter_add(r->m->quantities, r->na);
        dh_histogram_observe(r->m->batch_size, (double)r->na);
        return 0;
    }
    json_array_foreach(errs, k, ue)
    {
        if (user_error(r, ue, &again)) {
            return again;
        }
    }
    /* The rest goes again without the offenders (other arguments: a key of its own). An
     * item not stocked at the location needs no inventoryActivate: as of 2026-10 a set
     * stocks it there (docs/inventory.md §4). */
    return 1;
}

/* One round: returns 1 to go again (some quantities still pending), 2 to go again with a
 * new idempotency key (next salt), 0 when finished. */
static int round_once(inv_shared_t *sh, dh_lane_t *lane, const dh_store_t *store, const char *tag,
                      inv_qty_t *q, size_t n, inv_qres_t *res, int salt)
{
    round_t r = {.lane = lane, .store = store, .m = inv_metrics(sh), .q = q, .res = res};
    char key[37];
    dh_gql_reply_t rep;
    dh_outcome_t o;
    json_t *vars;
    int again = 0;

    for (size_t i = 0; i < n && r.na < INV_BATCH_MAX; i++) {
        if (res[i].pending) {
            r.act[r.na++] = i;
        }
    }
    if (r.na == 0) {
        return 0;
    }
    call_key(sh, &r, tag, salt, key);
    vars = json_pack("{s:o, s:s}", "input", build_input(sh, key, q, r.act, r.na), "idempotencyKey",
                     key);
    if (dh_lane_shopify_try(lane, store, DH_GQL_INVENTORY_SET_QUANTITIES, vars, &rep, &o) != 0) {
        dh_counter_add(r.m->calls_failed, 1);
        set_all(res, r.act, r.na, &o);
        for (size_t i = 0; i < r.na; i++) {
            res[r.act[i]].unsent = rep.status == 0 && o.answer == DH_ANSWER_THROTTLED;
        }
    } else {
        dh_counter_add(r.m->calls_ok, 1);
        again = on_answer(&r, &rep);
    }
    json_decref(vars);
    dh_gql_reply_clear(&rep);
    return again;
}

static int64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void inv_push_direct(inv_shared_t *sh, dh_lane_t *lane, const dh_store_t *store, const char *tag,
                     inv_qty_t *q, size_t n, inv_qres_t *res, int64_t deadline_ms)
{
    int salt = 0;

    inv_qty_dedupe(q, n);
    for (size_t i = 0; i < n; i++) {
        memset(&res[i], 0, sizeof(res[i]));
        /* A dropped one is superseded by a newer sequence in this call: DONE. */
        res[i].pending = !q[i].dropped;
    }
    for (int round = 0; round < MAX_ROUNDS; round++) {
        if (round > 0 && deadline_ms > 0 && mono_ms() >= deadline_ms) {
            break; /* the fences' lease could end before this call's answer */
        }
        int r = round_once(sh, lane, store, tag, q, n, res, salt);

        if (r == 0) {
            break;
        }
        if (r == 2) {
            salt++;
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (res[i].pending) {
            dh_outcome_t *o = &res[i].o;

            res[i].pending = 0;
            o->result = DH_RESULT_WAIT;
            o->retry_after_ms = 50;
            snprintf(o->error_class, sizeof(o->error_class), "retry");
            snprintf(o->error, sizeof(o->error), "still pending after %d calls", MAX_ROUNDS);
        }
    }
}
