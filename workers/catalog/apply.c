/*
 * dh-catalog's effect: make the WMS hold what one product snapshot says, with the fewest
 * calls. Shared by the webhook path (handler.c) and the bulk import (import.c).
 *
 * Redis, per store S (docs/catalogue.md "Redis keys"):
 *   dh:catalog:S:v:<variant>   what the WMS holds for the variant: {sku, fp, body}
 *   dh:catalog:S:p:<product>   {u: updated_at ms, v: [variant ids], deleted?}
 *   dh:catalog:S:products      set of the live product ids (the import's reconciliation)
 *   dh:catalog:S:sku:<sku>     the SKU's owner {variant_id, product_id, inventory_item_id,
 *                              duplicate?}: read by dh-inventory (SKU -> inventory item)
 *   dh:catalog:S:dups          hash sku -> [{product_id, variant_id}]   (the report)
 *   dh:catalog:S:nosku         hash variant -> {product_id, variant_id, title}
 *
 * A variant is sent only when its body's fingerprint differs from what the WMS holds, so
 * a product update that changes nothing the WMS holds makes no call, and a replay or a
 * resumed import makes none either. The Idempotency-Key is the far key of
 * "<store>:<variant>:<fingerprint>": a retry of the same body is replayed by the WMS.
 */
#include "apply.h"

#include <stdarg.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dockhand/idem.h"
#include "dockhand/log.h"

/* Claim a SKU for a variant, atomically across lanes and replicas. Returns "" when the
 * variant owns the SKU (and drops dh-inventory's own cached mapping), else the owner's
 * variant id, after recording both in the report. ARGV[5] = "1": never take ownership
 * (two variants of one product share the SKU: neither is sent, both are reported). */
static const char claim_lua[] =
    "local cur = redis.call('GET', KEYS[1])\n"
    "local function report(o)\n"
    "  local l = redis.call('HGET', KEYS[2], ARGV[4])\n"
    "  local arr = l and cjson.decode(l) or {}\n"
    "  local function add(p, v)\n"
    "    for _, e in ipairs(arr) do if e.variant_id == v then return end end\n"
    "    table.insert(arr, {product_id = p, variant_id = v})\n"
    "  end\n"
    "  if o then add(o.product_id, o.variant_id) end\n"
    "  add(ARGV[3], ARGV[1])\n"
    "  redis.call('HSET', KEYS[2], ARGV[4], cjson.encode(arr))\n"
    "end\n"
    "if cur then\n"
    "  local o = cjson.decode(cur)\n"
    "  if o.variant_id ~= ARGV[1] then\n"
    "    if not o.duplicate then o.duplicate = true; redis.call('SET', KEYS[1], cjson.encode(o)) "
    "end\n"
    "    report(o)\n"
    "    return o.variant_id\n"
    "  end\n"
    "  if o.duplicate then\n"
    "    local n = cjson.decode(ARGV[2]); n.duplicate = true\n"
    "    redis.call('SET', KEYS[1], cjson.encode(n)); return ''\n"
    "  end\n"
    "end\n"
    "if ARGV[5] == '1' then report(nil); return '-' end\n"
    "redis.call('SET', KEYS[1], ARGV[2])\n"
    "redis.call('DEL', KEYS[3])\n"
    "return ''\n";

/* Release a variant's SKU: drop it from the report (a duplicate resolved), and the
 * owner record if it owned it. */
static const char release_lua[] =
    "local l = redis.call('HGET', KEYS[2], ARGV[2])\n"
    "local left = 0\n"
    "if l then\n"
    "  local keep = {}\n"
    "  for _, e in ipairs(cjson.decode(l)) do\n"
    "    if e.variant_id ~= ARGV[1] then table.insert(keep, e) end\n"
    "  end\n"
    "  left = #keep\n"
    "  if left <= 1 then redis.call('HDEL', KEYS[2], ARGV[2])\n"
    "  else redis.call('HSET', KEYS[2], ARGV[2], cjson.encode(keep)) end\n"
    "end\n"
    "local cur = redis.call('GET', KEYS[1])\n"
    "if not cur then return 0 end\n"
    "local o = cjson.decode(cur)\n"
    "if o.variant_id == ARGV[1] then\n"
    "  redis.call('DEL', KEYS[1]); redis.call('DEL', KEYS[3]); return 1\n"
    "end\n"
    "if o.duplicate and left <= 1 then\n"
    "  o.duplicate = nil; redis.call('SET', KEYS[1], cjson.encode(o))\n"
    "end\n"
    "return 0\n";

/* The reason goes to the current event (if any) and to the context (the import logs it). */
static void cat_fail(cat_ctx_t *c, const char *cls, const char *fmt, ...) DH_PRINTF(3, 4);

static void cat_fail(cat_ctx_t *c, const char *cls, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(c->why, sizeof(c->why), fmt, ap);
    va_end(ap);
    dh_lane_fail(c->lane, cls, "%s", c->why);
}

void cat_key(char *buf, size_t size, const char *store, const char *kind, const char *id)
{
    if (id) {
        snprintf(buf, size, "dh:catalog:%s:%s:%s", store, kind, id);
    } else {
        snprintf(buf, size, "dh:catalog:%s:%s", store, kind);
    }
}

/* RFC 3986 unreserved characters pass, everything else is %XX. */
static void path_escape(const char *in, char *out, size_t size)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;

    for (const unsigned char *p = (const unsigned char *)in; *p && o + 4 < size; p++) {
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '.' || *p == '_' || *p == '~') {
            out[o++] = (char)*p;
        } else {
            out[o++] = '%';
            out[o++] = hex[*p >> 4];
            out[o++] = hex[*p & 15];
        }
    }
    out[o] = '\0';
}

static json_t *redis_json(cat_ctx_t *c, const char *key)
{
    redisReply *r = NULL;
    json_t *j = NULL;
    const char *argv[] = {"GET", key};

    if (dh_redis_command(c->redis, 2, argv, NULL, &r) != DH_OK) {
        c->redis_failed = 1;
        return NULL;
    }
    if (r->type == REDIS_REPLY_STRING) {
        j = json_loadb(r->str, r->len, 0, NULL);
    }
    freeReplyObject(r);
    return j;
}

static int redis_do(cat_ctx_t *c, int argc, const char **argv)
{
    redisReply *r = NULL;

    if (dh_redis_command(c->redis, argc, argv, NULL, &r) != DH_OK) {
        c->redis_failed = 1;
        return -1;
    }
    freeReplyObject(r);
    return 0;
}

static int set_json(cat_ctx_t *c, const char *key, json_t *v)
{
    char *text = json_dumps(v, JSON_COMPACT);
    int rc;

    if (!text) {
        return -1;
    }
    const char *argv[] = {"SET", key, text};

    rc = redis_do(c, 3, argv);
    free(text);
    return rc;
}

/* Returns the claim's answer ("" owned, "-" reported only, else the owner), or NULL. */
static char *claim(cat_ctx_t *c, const cat_product_t *p, const cat_variant_t *v, int report_only)
{
    char k1[512], k2[300], k3[512];
    json_t *rec = json_pack("{s:s, s:s, s:s}", "variant_id", v->id, "product_id", p->id,
                            "inventory_item_id", v->item_id);
    char *text = json_dumps(rec, JSON_COMPACT);
    redisReply *r = NULL;
    char *out = NULL;

    cat_key(k1, sizeof(k1), c->store, "sku", v->sku);
    cat_key(k2, sizeof(k2), c->store, "dups", NULL);
    snprintf(k3, sizeof(k3), "dh:inv:item:%s:%s", c->store, v->sku);
    const char *argv[] = {
        k1, k2, k3, v->id, text ? text : "{}", p->id, v->sku, report_only ? "1" : "0"};

    if (dh_redis_eval(c->redis, claim_lua, 3, 8, argv, NULL, &r) != DH_OK) {
        c->redis_failed = 1;
    } else if (r->type == REDIS_REPLY_STRING) {
        out = strdup(r->str);
    }
    if (r) {
        freeReplyObject(r);
    }
    free(text);
    json_decref(rec);
    return out;
}

static void release(cat_ctx_t *c, const char *vid, const char *sku)
{
    char k1[512], k2[300], k3[512];
    redisReply *r = NULL;

    cat_key(k1, sizeof(k1), c->store, "sku", sku);
    cat_key(k2, sizeof(k2), c->store, "dups", NULL);
    snprintf(k3, sizeof(k3), "dh:inv:item:%s:%s", c->store, sku);
    const char *argv[] = {k1, k2, k3, vid, sku};

    if (dh_redis_eval(c->redis, release_lua, 3, 5, argv, NULL, &r) != DH_OK) {
        c->redis_failed = 1;
    }
    if (r) {
        freeReplyObject(r);
    }
}

/* One PUT /wms/v1/skus/{store}/{sku}. 0 when the WMS holds the body; 1 when it refused it
 * as a duplicate SKU (recorded in the report); -1 with c->res set otherwise. */
/* The WMS refused the SKU as another variant's: into the report. */
static void report_refusal(cat_ctx_t *c, const char *sku, const char *pid, const char *vid,
                           const dh_wms_reply_t *rep)
{
    char k[300], val[200];

    cat_key(k, sizeof(k), c->store, "dups", NULL);
    snprintf(val, sizeof(val), "[{\"product_id\":\"%s\",\"variant_id\":\"%s\",\"wms\":true}]", pid,
             vid);
    const char *argv[] = {"HSETNX", k, sku, val};

    redis_do(c, 4, argv);
    snprintf(c->dup_detail, sizeof(c->dup_detail), "WMS refused SKU %.200s of variant %s: %.150s",
             sku, vid, rep->detail);
}

/* Set the result of a failed call from \p o (the event's reason too, when there is one). */
static void failed(cat_ctx_t *c, const dh_outcome_t *o)
{
    snprintf(c->why, sizeof(c->why), "%s", o->error);
    c->res = dh_lane_outcome(c->lane, o);
}

/* One PUT /wms/v1/skus/{store}/{sku}, decided by catalog_outcomes. 0 when the WMS holds the
 * body; 1 when it refused it as a duplicate SKU (recorded in the report); -1 with c->res
 * set otherwise. */
static int put_sku(cat_ctx_t *c, const char *vid, const char *pid, json_t *body, const char *fp)
{
    char esc_store[400], esc_sku[800], path[1300], effect[400], key[37];
    const char *sku = json_string_value(json_object_get(body, "sku"));
    dh_wms_reply_t rep;
    dh_outcome_t o;
    int rc = -1;

    path_escape(c->store, esc_store, sizeof(esc_store));
    path_escape(sku, esc_sku, sizeof(esc_sku));
    snprintf(path, sizeof(path), "/wms/v1/skus/%s/%s", esc_store, esc_sku);
    snprintf(effect, sizeof(effect), "%s:%s:%s", c->store, vid, fp);
    dh_idem_far_key(CATALOG_IDEM_NS, effect, key);
    c->calls++;
    if (dh_lane_wms_try(c->lane, CATALOG_WMS_GROUP, "PUT", path, key, body, &rep, &o)) {
        failed(c, &o);
        return -1;
    }
    const dh_outcome_rule_t *rule = dh_wms_rule(&catalog_outcomes, CAT_CALL_UPSERT, &rep);

    if (rule->action == CAT_ACT_REPORT) {
        report_refusal(c, sku, pid, vid, &rep);
        rc = 1;
    } else if (rule->result == DH_RESULT_DONE) {
        rc = 0;
    } else {
        dh_outcome_of_rule(rule, rep.problem_type, &o,
                           "WMS refused SKU %.200s of variant %s: HTTP %ld %s %.200s", sku, vid,
                           rep.status, rep.problem_type, rep.detail);
        failed(c, &o);
    }
    dh_wms_reply_clear(&rep);
    return rc;
}

/* The WMS stops using what \p rec says it holds (status ARCHIVED, never a delete), the
 * SKU is released and the record dropped. */
static int deactivate(cat_ctx_t *c, const char *vid, json_t *rec)
{
    json_t *body = json_object_get(rec, "body");
    const char *sku = json_string_value(json_object_get(rec, "sku"));
    const char *status = json_string_value(json_object_get(body, "status"));
    char k[512];
    int rc = 0;

    if (body && sku && (!status || strcmp(status, "ARCHIVED") != 0)) {
        json_t *off = cat_body_archived(body);
        char fp[65];

        cat_fingerprint(off, fp);
        rc = put_sku(c, vid, json_string_value(json_object_get(body, "shopify_product_id")), off,
                     fp);
        json_decref(off);
        if (rc < 0) {
            return -1;
        }
        c->deactivated++;
    }
    if (sku) {
        release(c, vid, sku);
    }
    cat_key(k, sizeof(k), c->store, "v", vid);
    const char *argv[] = {"DEL", k};

    redis_do(c, 2, argv);
    return 0;
}

static void nosku(cat_ctx_t *c, const cat_product_t *p, const cat_variant_t *v, int missing)
{
    char k[300];

    cat_key(k, sizeof(k), c->store, "nosku", NULL);
    if (missing) {
        json_t *e = json_pack("{s:s, s:s, s:s}", "product_id", p->id, "variant_id", v->id, "title",
                              v->title);
        char *text = json_dumps(e, JSON_COMPACT);
        const char *argv[] = {"HSET", k, v->id, text ? text : "{}"};

        redis_do(c, 4, argv);
        free(text);
        json_decref(e);
        c->no_sku++;
    } else {
        const char *argv[] = {"HDEL", k, v->id};

        redis_do(c, 3, argv);
    }
}

/* One variant of a live product. 0 done, -1 stop (c->res). */
/* What the WMS now holds for the variant. */
static void store_rec(cat_ctx_t *c, const char *key, const cat_variant_t *v)
{
    json_t *rec = json_pack("{s:s, s:s, s:O}", "sku", v->sku, "fp", v->fp, "body", v->body);

    set_json(c, key, rec);
    json_decref(rec);
}

/* One variant of a live product. 0 done, -1 stop (c->res). */
static int apply_variant(cat_ctx_t *c, const cat_product_t *p, const cat_variant_t *v)
{
    char k[512];
    json_t *rec;
    const char *had, *fp;
    char *owner = NULL;
    int rc = 0;

    cat_key(k, sizeof(k), c->store, "v", v->id);
    rec = redis_json(c, k);
    had = json_string_value(json_object_get(rec, "sku"));
    fp = json_string_value(json_object_get(rec, "fp"));
    if (c->redis_failed) {
        goto out;
    }
    nosku(c, p, v, !v->body);
    if (!v->body) {
        rc = rec ? deactivate(c, v->id, rec) : 0;
        goto out;
    }
    owner = claim(c, p, v, v->dup_in_product);
    if (!owner || owner[0]) {
        c->duplicates += owner != NULL;
        /* Held back; if the variant had another SKU before, that one goes. */
        rc = owner && had && strcmp(had, v->sku) != 0 ? deactivate(c, v->id, rec) : 0;
        goto out;
    }
    if (had && strcmp(had, v->sku) != 0) {
        /* The SKU changed: the old one is archived and released first, so that a retry
         * after a failure below starts from a clean record. */
        rc = deactivate(c, v->id, rec);
    } else if (fp && strcmp(fp, v->fp) == 0) {
        c->unchanged++;
        goto out;
    }
    rc = rc ? rc : put_sku(c, v->id, p->id, v->body, v->fp);
    if (rc == 0) {
        c->upserted++;
        store_rec(c, k, v);
    }
    c->refused += rc > 0;
    rc = rc < 0 ? -1 : 0;
out:
    free(owner);
    json_decref(rec);
    return c->redis_failed ? -1 : rc;
}

/* Variants the product had before and no longer has (or all, once deleted). */
static int removed_variants(cat_ctx_t *c, const cat_product_t *p, json_t *prec)
{
    size_t i;
    json_t *id;

    json_array_foreach(json_object_get(prec, "v"), i, id)
    {
        const char *vid = json_string_value(id);
        int still = 0;
        char k[512];

        for (size_t n = 0; vid && !p->deleted && n < p->nv; n++) {
            still |= strcmp(p->v[n].id, vid) == 0;
        }
        if (!vid || still) {
            continue;
        }
        cat_key(k, sizeof(k), c->store, "v", vid);
        json_t *rec = redis_json(c, k);
        cat_variant_t gone = {0};
        int rc = 0;

        snprintf(gone.id, sizeof(gone.id), "%s", vid);
        nosku(c, p, &gone, 0);
        if (rec) {
            rc = deactivate(c, vid, rec);
        }
        json_decref(rec);
        if (rc || c->redis_failed) {
            return -1;
        }
    }
    return 0;
}

static int save_product(cat_ctx_t *c, const cat_product_t *p)
{
    char k[300];
    json_t *ids = json_array();
    json_t *rec;
    int rc;

    for (size_t i = 0; !p->deleted && i < p->nv; i++) {
        json_array_append_new(ids, json_string(p->v[i].id));
    }
    rec = json_pack("{s:I, s:o, s:b}", "u", (json_int_t)p->updated_ms, "v", ids, "deleted",
                    p->deleted);
    cat_key(k, sizeof(k), c->store, "p", p->id);
    rc = set_json(c, k, rec);
    json_decref(rec);
    /* The store's live products: what an import's reconciliation walks (sweep.c). */
    cat_key(k, sizeof(k), c->store, "products", NULL);
    const char *argv[] = {p->deleted ? "SREM" : "SADD", k, p->id};

    return rc || redis_do(c, 3, argv);
}

dh_result_t cat_apply(cat_ctx_t *c, const cat_product_t *p)
{
    char k[300];
    json_t *prec;

    c->res = DH_RESULT_DONE;
    cat_key(k, sizeof(k), c->store, "p", p->id);
    prec = redis_json(c, k);
    if (c->redis_failed) {
        goto redis;
    }
    /* Shopify never reuses a product id: after a delete, a late update is stale. So is
     * a snapshot older than the one applied (webhooks are not ordered). */
    if (json_is_true(json_object_get(prec, "deleted")) ||
        (!p->deleted && p->updated_ms >= 0 &&
         json_integer_value(json_object_get(prec, "u")) > p->updated_ms)) {
        c->stale = 1;
        json_decref(prec);
        return DH_RESULT_DONE;
    }
    for (size_t i = 0; !p->deleted && i < p->nv; i++) {
        if (apply_variant(c, p, &p->v[i])) {
            goto stop;
        }
    }
    if (removed_variants(c, p, prec) || save_product(c, p)) {
        goto stop;
    }
    json_decref(prec);
    if (c->refused > 0) {
        /* Every other variant is applied; the refused one is the merchant's to fix. */
        const dh_outcome_rule_t *rule = dh_outcome_rule(
            &catalog_outcomes, DH_FAR_WMS, CAT_CALL_UPSERT, DH_ANSWER_409, "/duplicate-sku");
        dh_outcome_t o;

        dh_outcome_of_rule(rule, "/duplicate-sku", &o, "%s", c->dup_detail);
        failed(c, &o);
        return c->res;
    }
    return DH_RESULT_DONE;
stop:
    json_decref(prec);
    if (!c->redis_failed) {
        return c->res;
    }
redis:
    cat_fail(c, "redis", "catalogue records: %s", dh_redis_errstr(c->redis));
    return DH_RESULT_RETRY;
}
