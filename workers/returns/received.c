/*
 * wms.return_received -> Return Prime receipt (docs/returns.md, "WMS receipt and QC"):
 * the pure part. Parses and validates the event against
 * schemas/events/wms.return_received.v1.schema.json (ajv-style reasons) and builds the
 * body of Return Prime's receive call (rp_api.h). No I/O.
 */
#include <stdio.h>
#include <string.h>

#include "dockhand/validate.h"
#include "returns.h"

static void parse_line(dh_vctx_t *v, json_t *l, const char *path)
{
    static const char *const qc[] = {"PASS", "FAIL", NULL};
    const char *s, *q;
    int64_t n;

    if (!json_is_object(l)) {
        dh_v_fail(v, "%s must be object", path);
        return;
    }
    s = dh_v_str(v, l, path, "channel_line_item_id", 1, 0, 64);
    if (s && !dh_v_shopify_id_ok(s)) {
        dh_v_fail(v, "%s/channel_line_item_id must match pattern \"^[1-9][0-9]{0,19}$\"", path);
    }
    s = dh_v_str(v, l, path, "sku", 1, 1, 255);
    if (s && !dh_v_sku_ok(s)) {
        dh_v_fail(v, "%s/sku must match pattern \"^\\S(.*\\S)?$\"", path);
    }
    dh_v_int(v, l, path, "quantity", 1, 2147483647LL, &n);
    dh_v_enum(v, l, path, "qc_status", qc, &q);
    dh_v_str(v, l, path, "qc_notes", 0, 0, 1024);
}

static void parse_lines(dh_vctx_t *v, returns_receipt_t *out)
{
    json_t *lines = json_object_get(out->root, "lines"), *l;
    char path[32];
    size_t i;

    if (!lines) {
        dh_v_fail(v, " must have required property 'lines'");
        return;
    }
    if (!json_is_array(lines)) {
        dh_v_fail(v, "/lines must be array");
        return;
    }
    if (json_array_size(lines) < 1) {
        dh_v_fail(v, "/lines must NOT have fewer than 1 items");
    } else if (json_array_size(lines) > 250) {
        dh_v_fail(v, "/lines must NOT have more than 250 items");
    }
    json_array_foreach(lines, i, l)
    {
        snprintf(path, sizeof(path), "/lines/%zu", i);
        parse_line(v, l, path);
    }
    out->lines = lines;
}

returns_parse_t returns_receipt_parse(const char *buf, size_t len, returns_receipt_t *out,
                                      char *err, size_t err_size)
{
    static const char *const accepted[] = {"return_received", NULL};
    static const char *const types[] = {"CUSTOMER_RETURN", "COURIER_RETURN", NULL};
    dh_vctx_t v = {err, err_size, 0};
    json_error_t jerr;
    const char *type = NULL;

    memset(out, 0, sizeof(*out));
    err[0] = '\0';
    out->root = json_loadb(buf ? buf : "", buf ? len : 0, 0, &jerr);
    if (!json_is_object(out->root)) {
        snprintf(err, err_size, "not a JSON object: %s", out->root ? "wrong type" : jerr.text);
        return RETURNS_PARSE_DECODE;
    }
    dh_v_wms_envelope(&v, out->root, accepted, &out->env);
    out->return_id = dh_v_str(&v, out->root, "", "return_id", 1, 1, 128);
    dh_v_enum(&v, out->root, "", "return_type", types, &type);
    out->courier = type && strcmp(type, "COURIER_RETURN") == 0;
    out->request_id = dh_v_str(&v, out->root, "", "return_request_id", 0, 1, 128);
    if (type && !out->courier && !out->request_id && !v.failed) {
        dh_v_fail(&v, " must have required property 'return_request_id'");
    }
    out->received_at = dh_v_str(&v, out->root, "", "received_at", 1, 0, 64);
    if (out->received_at && !dh_v_rfc3339_ok(out->received_at)) {
        dh_v_fail(&v, "/received_at must match format \"date-time\"");
    }
    parse_lines(&v, out);
    return v.failed ? RETURNS_PARSE_SCHEMA : RETURNS_PARSE_OK;
}

void returns_receipt_clear(returns_receipt_t *r)
{
    if (r) {
        json_decref(r->root);
        memset(r, 0, sizeof(*r));
    }
}

json_t *returns_rp_receipt_body(const returns_receipt_t *r)
{
    json_t *items = json_array(), *l;
    size_t i;

    json_array_foreach(r->lines, i, l)
    {
        const char *qc = json_string_value(json_object_get(l, "qc_status"));

        /* Return Prime names the line by the Shopify line item id (its line_items[].id). */
        json_array_append_new(
            items, json_pack("{s:s, s:O, s:s, s:s}", "id",
                             json_string_value(json_object_get(l, "channel_line_item_id")),
                             "quantity", json_object_get(l, "quantity"), "qc_status",
                             strcmp(qc, "PASS") == 0 ? "passed" : "failed", "inspection_notes",
                             json_string_value(json_object_get(l, "qc_notes"))
                                 ? json_string_value(json_object_get(l, "qc_notes"))
                                 : ""));
    }
    return json_pack("{s:s, s:o}", "received_at", r->received_at, "line_items", items);
}
