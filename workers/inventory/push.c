/*
 * One inventorySetQuantities call per store and batch (on_hand, changeFromQuantity
 * null, @idempotent key from the batch content), its userErrors, and the Redis records of
 * applied sequences. docs/inventory.md §4-§6.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* Record "seq qty" where seq >= the stored sequence; return, per field, the stored qty
 * where a higher sequence was already recorded (else -1). */
static const char seq_lua[] =
    "local out = {}\n"
    "for i = 1, #ARGV, 3 do\n"
    "  local cur = redis.call('HGET', KEYS[1], ARGV[i])\n"
    "  local cs, cq = -1, -1\n"
    "  if cur then\n"
    "    local a, b = string.match(cur, '^(%d+) (%d+)$')\n"
    "    if a then cs = tonumber(a); cq = tonumber(b) end\n"
    "  end\n"
    "  if tonumber(ARGV[i + 1]) >= cs then\n"
    "    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1] .. ' ' .. ARGV[i + 2])\n"
    "    out[#out + 1] = -1\n"
    "  else\n"
    "    out[#out + 1] = cq\n"
    "  end\n"
    "end\n"
    "return out\n";

dh_err_t inv_seq_write(dh_redis_t *r, const char *store, const char *const *fields,
                       const int64_t *seq, const int64_t *qty, size_t n, int64_t *conflict)
{
    const char **argv = calloc(3 * n + 1, sizeof(*argv));
    char(*nums)[24] = calloc(2 * n + 1, sizeof(*nums));
    char key[400];
    redisReply *rep = NULL;
    dh_err_t err = DH_ERR_NOMEM;

    if (n == 0) {
        free(argv);
        free(nums);
        return DH_OK;
    }
    if (!argv || !nums) {
        goto out;
    }
    inv_seq_key(store, key, sizeof(key));
    argv[0] = key;
    for (size_t i = 0; i < n; i++) {
        snprintf(nums[2 * i], sizeof(nums[0]), "%lld", (long long)seq[i]);
        snprintf(nums[2 * i + 1], sizeof(nums[0]), "%lld", (long long)qty[i]);
        argv[1 + 3 * i] = fields[i];
        argv[2 + 3 * i] = nums[2 * i];
        argv[3 + 3 * i] = nums[2 * i + 1];
    }
    err = dh_redis_eval(r, seq_lua, 1, (int)(3 * n + 1), argv, NULL, &rep);
    if (err != DH_OK) {
        goto out;
    }
    for (size_t i = 0; conflict && i < n; i++) {
        conflict[i] = -1;
        if (rep->type == REDIS_REPLY_ARRAY && i < rep->elements &&
            rep->element[i]->type == REDIS_REPLY_INTEGER) {
            conflict[i] = rep->element[i]->integer;
        }
    }
    freeReplyObject(rep);
out:
    free(argv);
    free(nums);
    return err;
}

static void set_all(inv_qres_t *res, const size_t *act, size_t na, inv_qout_t out, int64_t wait_ms,
                    const char *cls, const char *msg)
{
    for (size_t i = 0; i < na; i++) {
        inv_qres_t *r = &res[act[i]];

        r->out = out;
        r->wait_ms = wait_ms;
        snprintf(r->cls, sizeof(r->cls), "%s", cls);
        snprintf(r->msg, sizeof(r->msg), "%.*s", (int)sizeof(r->msg) - 1, msg);
    }
}

/* inventoryActivate(item, location); 0 on success (or already active). */
static dh_err_t activate(inv_lane_t *il, const dh_store_t *store, const inv_qty_t *q,
                         int64_t *wait_ms)
{
    json_t *vars = json_pack("{s:s, s:s}", "inventoryItemId", q->item, "locationId", q->location);
    dh_gql_reply_t rep = {0};
    char errstr[256];
    dh_err_t e = dh_shopify_graphql(il->shopify, store, DH_GQL_INVENTORY_ACTIVATE, vars, &rep,
                                    wait_ms, errstr, sizeof(errstr));

    if (e != DH_OK) {
        DH_LOG(DH_LOG_WARN, "inventory", "inventoryActivate %s at %s: %s: %s", q->item, q->location,
               dh_err_str(e), errstr);
    }
    json_decref(vars);
    dh_gql_reply_clear(&rep);
    return e;
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

/* One round: returns 1 to go again (some quantities still pending), 2 to go again with a
 * new idempotency key (next salt), 0 when finished. */
static int round_once(inv_shared_t *sh, dh_lane_t *lane, const dh_store_t *store, const char *tag,
                      inv_qty_t *q, size_t n, inv_qres_t *res, int salt)
{
    inv_lane_t *il = inv_lane(lane);
    const inv_metrics_t *m = inv_metrics(sh);
    size_t act[INV_BATCH_MAX], na = 0;
    char hash[65], salted[128], key[37], errstr[256] = "", msg[480];
    dh_gql_reply_t rep = {0};
    int64_t wait_ms = 0;
    int again = 0;

    for (size_t i = 0; i < n && na < INV_BATCH_MAX; i++) {
        if (res[i].out == INV_Q_PENDING && !q[i].dropped) {
            act[na++] = i;
        }
    }
    if (na == 0 || !il) {
        if (!il) {
            set_all(res, act, na, INV_Q_RETRY, 0, "internal", "no Shopify client for lane");
        }
        return 0;
    }
    inv_qty_t tmp[INV_BATCH_MAX];

    for (size_t i = 0; i < na; i++) {
        tmp[i] = q[act[i]];
    }
    inv_batch_hash(store->domain, tag, "on_hand", sh->reason, tmp, na, hash);
    snprintf(salted, sizeof(salted), "%s:%s:%d", store->domain, hash, salt);
    dh_idem_far_key("inventory", salted, key);
    json_t *vars =
        json_pack("{s:o, s:s}", "input", build_input(sh, key, q, act, na), "idempotencyKey", key);
    dh_err_t e = dh_shopify_graphql(il->shopify, store, DH_GQL_INVENTORY_SET_QUANTITIES, vars, &rep,
                                    &wait_ms, errstr, sizeof(errstr));

    json_decref(vars);
    if (e != DH_OK) {
        dh_counter_add(m->calls_failed, 1);
        snprintf(msg, sizeof(msg), "inventorySetQuantities: %s: %s", dh_err_str(e), errstr);
        if (e == DH_ERR_LIMIT) {
            set_all(res, act, na, INV_Q_WAIT, wait_ms, "rate-limit", msg);
        } else if (e == DH_ERR_INVALID) {
            set_all(res, act, na, INV_Q_DEAD, 0, "rejected", msg);
        } else if (e == DH_ERR_STATE) {
            set_all(res, act, na, INV_Q_RETRY, 0, "credentials", msg);
        } else {
            set_all(res, act, na, INV_Q_RETRY, 0, "http", msg);
        }
        dh_gql_reply_clear(&rep);
        return 0;
    }
    dh_counter_add(m->calls_ok, 1);
    json_t *errs =
        json_object_get(json_object_get(rep.data, "inventorySetQuantities"), "userErrors");

    if (json_array_size(errs) == 0) {
        set_all(res, act, na, INV_Q_APPLIED, 0, "", "");
        dh_counter_add(m->quantities, na);
        dh_histogram_observe(m->batch_size, (double)na);
        dh_gql_reply_clear(&rep);
        return 0;
    }
    size_t k;
    json_t *ue;
    int whole = 0;     /* an error about the whole call */
    int activated = 0; /* an item was activated: the next call needs a new key */

    json_array_foreach(errs, k, ue)
    {
        const char *code = json_string_value(json_object_get(ue, "code"));
        const char *text = json_string_value(json_object_get(ue, "message"));
        long idx = inv_user_error_index(json_object_get(ue, "field"));

        code = code ? code : "USER_ERROR";
        snprintf(msg, sizeof(msg), "%s: %s", code, text ? text : "");
        if (!strcmp(code, "IDEMPOTENCY_CONCURRENT_REQUEST") ||
            !strcmp(code, "IDEMPOTENCY_KEY_PARAMETER_MISMATCH")) {
            set_all(res, act, na, INV_Q_WAIT, 200, "idempotency", msg);
            whole = 1;
            break;
        }
        if (!strcmp(code, "IDEMPOTENCY_PREVIOUS_ATTEMPT_FAILED")) {
            again = 2; /* a new key: same content, next salt */
            whole = 1;
            break;
        }
        if (idx < 0 || (size_t)idx >= na) {
            set_all(res, act, na, INV_Q_RETRY, 0, "rejected", msg);
            whole = 1;
            break;
        }
        inv_qres_t *r = &res[act[idx]];

        if (!strcmp(code, "ITEM_NOT_STOCKED_AT_LOCATION")) {
            int64_t w = 0;
            dh_err_t ae = activate(il, store, &q[act[idx]], &w);

            dh_counter_add(m->activations, 1);
            if (ae == DH_ERR_LIMIT) {
                r->out = INV_Q_WAIT;
                r->wait_ms = w;
                snprintf(r->cls, sizeof(r->cls), "rate-limit");
            } else if (ae != DH_OK) {
                r->out = INV_Q_RETRY;
                snprintf(r->cls, sizeof(r->cls), "activate");
                snprintf(r->msg, sizeof(r->msg), "inventoryActivate failed: %s", dh_err_str(ae));
            } else {
                activated = 1;
            }
            continue; /* stays PENDING: retried in the next round */
        }
        r->out = INV_Q_DEAD;
        snprintf(r->cls, sizeof(r->cls), "%.31s", code);
        snprintf(r->msg, sizeof(r->msg), "%.60s at %.50s: %.100s", q[act[idx]].item,
                 q[act[idx]].location, msg);
    }
    dh_gql_reply_clear(&rep);
    if (whole) {
        return again;
    }
    /* All-or-nothing: the rest goes again without the offenders. If only activations
     * changed, the arguments are the same as this call's, and reusing its key would make
     * Shopify replay the stored ITEM_NOT_STOCKED_AT_LOCATION answer forever: salt it. */
    return activated ? 2 : 1;
}

void inv_push(inv_shared_t *sh, dh_lane_t *lane, const dh_store_t *store, const char *tag,
              inv_qty_t *q, size_t n, inv_qres_t *res)
{
    int salt = 0;

    for (size_t i = 0; i < n; i++) {
        memset(&res[i], 0, sizeof(res[i]));
    }
    inv_qty_dedupe(q, n);
    for (size_t i = 0; i < n; i++) {
        if (q[i].dropped) {
            res[i].out = INV_Q_APPLIED; /* superseded by a newer sequence in this call */
        }
    }
    for (int round = 0; round < MAX_ROUNDS; round++) {
        int r = round_once(sh, lane, store, tag, q, n, res, salt);

        if (r == 0) {
            break;
        }
        if (r == 2) {
            salt++;
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (res[i].out == INV_Q_PENDING) {
            res[i].out = INV_Q_WAIT;
            res[i].wait_ms = 50;
            snprintf(res[i].cls, sizeof(res[i].cls), "retry");
            snprintf(res[i].msg, sizeof(res[i].msg), "still pending after %d calls", MAX_ROUNDS);
        }
    }
}
