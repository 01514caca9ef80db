/*
 * wms.putaway / wms.zone_move v1 validation (see event.h). Only what the schemas say is
 * checked; unknown top-level and nested fields are allowed except inside `stock`.
 */
#include "event.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "dockhand/err.h"
#include "dockhand/validate.h"

/* The six required buckets, then the optional ones (absent: 0). */
#define STOCK_REQUIRED 6
#define STOCK_BUCKETS  7

static void parse_stock(dh_vctx_t *v, json_t *root, inv_stock_t *st)
{
    static const char *const names[] = {"good_online", "allocated",    "safety_stock", "damaged",
                                        "quarantined", "good_offline", "picked"};
    int64_t *dst[] = {&st->good_online, &st->allocated,    &st->safety_stock, &st->damaged,
                      &st->quarantined, &st->good_offline, &st->picked};
    json_t *stock = json_object_get(root, "stock");
    const char *k;
    json_t *val;

    if (!stock) {
        dh_v_fail(v, " must have required property 'stock'");
        return;
    }
    if (!json_is_object(stock)) {
        dh_v_fail(v, "/stock must be object");
        return;
    }
    json_object_foreach(stock, k, val)
    {
        int known = 0;

        for (size_t i = 0; i < STOCK_BUCKETS; i++) {
            known |= strcmp(k, names[i]) == 0;
        }
        if (!known) {
            dh_v_fail(v, "/stock must NOT have additional properties ('%s')", k);
            return;
        }
    }
    for (size_t i = 0; i < STOCK_BUCKETS; i++) {
        *dst[i] = 0;
        if (i < STOCK_REQUIRED || json_object_get(stock, names[i])) {
            dh_v_int(v, stock, "/stock", names[i], 0, 2147483647LL, dst[i]);
        }
    }
}

static const char *const zone_classes[] = {"online", "offline", NULL};

static void parse_putaway(dh_vctx_t *v, json_t *root)
{
    static const char *const qc[] = {"GOOD", "BAD", "QC_PENDING", NULL};
    json_t *p = json_object_get(root, "putaway");
    const char *s;
    int64_t q;

    if (!p) {
        dh_v_fail(v, " must have required property 'putaway'");
        return;
    }
    if (!json_is_object(p)) {
        dh_v_fail(v, "/putaway must be object");
        return;
    }
    dh_v_str(v, p, "/putaway", "putaway_id", 1, 1, 128);
    dh_v_str(v, p, "/putaway", "zone", 1, 1, 64);
    dh_v_enum(v, p, "/putaway", "zone_class", zone_classes, &s);
    dh_v_int(v, p, "/putaway", "quantity", 1, 2147483647LL, &q);
    dh_v_enum(v, p, "/putaway", "qc_status", qc, &s);
    dh_v_str(v, p, "/putaway", "source", 0, 0, 64);
}

static int parse_move(dh_vctx_t *v, json_t *root)
{
    json_t *m = json_object_get(root, "move");
    const char *from = NULL, *to = NULL;
    int64_t q;

    if (!m) {
        dh_v_fail(v, " must have required property 'move'");
        return 0;
    }
    if (!json_is_object(m)) {
        dh_v_fail(v, "/move must be object");
        return 0;
    }
    dh_v_str(v, m, "/move", "move_id", 1, 1, 128);
    dh_v_int(v, m, "/move", "quantity", 1, 2147483647LL, &q);
    dh_v_str(v, m, "/move", "from_zone", 1, 1, 64);
    dh_v_enum(v, m, "/move", "from_class", zone_classes, &from);
    dh_v_str(v, m, "/move", "to_zone", 1, 1, 64);
    dh_v_enum(v, m, "/move", "to_class", zone_classes, &to);
    dh_v_str(v, m, "/move", "reason", 0, 0, 255);
    return from && to && strcmp(from, to) != 0;
}

/* The envelope (schemas/common.v1.schema.json#/$defs/wms_envelope), checked in common. */
static void parse_envelope(dh_vctx_t *v, json_t *root, inv_kind_t expect, inv_event_t *out)
{
    static const char *const any[] = {"putaway", "zone_move", NULL};
    static const char *const putaway[] = {"putaway", NULL};
    static const char *const move[] = {"zone_move", NULL};
    dh_wms_envelope_t env;

    memset(&env, 0, sizeof(env));
    dh_v_wms_envelope(v, root,
                      expect == INV_PUTAWAY     ? putaway
                      : expect == INV_ZONE_MOVE ? move
                                                : any,
                      &env);
    out->kind = !strcmp(env.event_type, "putaway")     ? INV_PUTAWAY
                : !strcmp(env.event_type, "zone_move") ? INV_ZONE_MOVE
                                                       : INV_ANY;
    snprintf(out->event_id, sizeof(out->event_id), "%s", env.event_id);
    snprintf(out->tenant, sizeof(out->tenant), "%s", env.tenant);
    snprintf(out->store, sizeof(out->store), "%s", env.store);
}

inv_parse_t inv_event_parse(const char *buf, size_t len, inv_kind_t expect, inv_event_t *out,
                            char *err, size_t err_size)
{
    dh_vctx_t v = {err, err_size, 0};
    json_error_t jerr;
    json_t *root;
    const char *s;

    memset(out, 0, sizeof(*out));
    err[0] = '\0';
    root = json_loadb(buf ? buf : "", buf ? len : 0, 0, &jerr);
    if (!root || !json_is_object(root)) {
        snprintf(err, err_size, "not a JSON object: %s", root ? "wrong type" : jerr.text);
        json_decref(root);
        return INV_PARSE_DECODE;
    }
    parse_envelope(&v, root, expect, out);
    s = dh_v_str(&v, root, "", "facility", 1, 1, 64);
    if (s && !dh_v_code_ok(s)) {
        dh_v_fail(&v, "/facility must match pattern \"^[A-Za-z0-9][A-Za-z0-9_.-]*$\"");
    } else if (s) {
        snprintf(out->facility, sizeof(out->facility), "%s", s);
    }
    s = dh_v_str(&v, root, "", "sku", 1, 1, 255);
    if (s && !dh_v_sku_ok(s)) {
        dh_v_fail(&v, "/sku must match pattern \"^\\S(.*\\S)?$\"");
    } else if (s) {
        snprintf(out->sku, sizeof(out->sku), "%s", s);
    }
    dh_v_int(&v, root, "", "sequence", 0, 9007199254740991LL, &out->sequence);
    parse_stock(&v, root, &out->stock);
    if (out->kind == INV_PUTAWAY) {
        parse_putaway(&v, root);
        out->crosses = 1;
    } else if (out->kind == INV_ZONE_MOVE) {
        out->crosses = parse_move(&v, root);
    }
    snprintf(out->scope, sizeof(out->scope), "%s", out->store[0] ? out->store : out->tenant);
    json_decref(root);
    return v.failed ? INV_PARSE_SCHEMA : INV_PARSE_OK;
}

inv_kind_t inv_kind_of_topic(const char *topic)
{
    size_t n = topic ? strlen(topic) : 0;

    if (n >= 7 && strcmp(topic + n - 7, "putaway") == 0) {
        return INV_PUTAWAY;
    }
    if (n >= 9 && strcmp(topic + n - 9, "zone_move") == 0) {
        return INV_ZONE_MOVE;
    }
    return INV_ANY;
}

int inv_key_matches(const inv_event_t *ev, const char *key, size_t key_len)
{
    char want[sizeof(ev->scope) + sizeof(ev->facility) + sizeof(ev->sku) + 2];
    int n = snprintf(want, sizeof(want), "%s|%s|%s", ev->scope, ev->facility, ev->sku);

    return key && n >= 0 && (size_t)n == key_len && memcmp(want, key, key_len) == 0;
}
