/*
 * dh-returns pure core: returnprime.cir parsing and validation, the create/skip decision
 * and the WMS createReturn body. No I/O. See docs/returns.md.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dockhand/idem.h"
#include "dockhand/validate.h"
#include "returns.h"

static const char *const rp_statuses[] = {"pending",  "approved", "received", "inspected",
                                          "refunded", "rejected", "archived", NULL};

/* ---- schema checks (schemas/events/returnprime.cir.v1.schema.json) ---- */

enum { T_STRING = 1, T_NULL = 2, T_INTEGER = 4, T_BOOL = 8, T_ARRAY = 16, T_OBJECT = 32 };

static int type_ok(json_t *j, int mask)
{
    return ((mask & T_STRING) && json_is_string(j)) || ((mask & T_NULL) && json_is_null(j)) ||
           ((mask & T_INTEGER) && json_is_integer(j)) || ((mask & T_BOOL) && json_is_boolean(j)) ||
           ((mask & T_ARRAY) && json_is_array(j)) || ((mask & T_OBJECT) && json_is_object(j));
}

static const char *type_names(int mask)
{
    switch (mask) {
    case T_STRING | T_NULL:
        return "string,null";
    case T_STRING | T_INTEGER | T_NULL:
        return "string,integer,null";
    case T_BOOL:
        return "boolean";
    case T_ARRAY:
        return "array";
    default:
        return "object";
    }
}

/* An optional member of one of the types in \p mask; returns it (borrowed) or NULL. */
static json_t *opt(dh_vctx_t *v, json_t *obj, const char *path, const char *name, int mask)
{
    json_t *j = json_object_get(obj, name);

    if (j && !type_ok(j, mask)) {
        dh_v_fail(v, "%s/%s must be %s", path, name, type_names(mask));
        return NULL;
    }
    return j;
}

/* A required object member. */
static json_t *req_obj(dh_vctx_t *v, json_t *obj, const char *path, const char *name)
{
    json_t *j = json_object_get(obj, name);

    if (!j) {
        dh_v_fail(v, "%s must have required property '%s'", path, name);
        return NULL;
    }
    if (!json_is_object(j)) {
        dh_v_fail(v, "%s/%s must be object", path, name);
        return NULL;
    }
    return j;
}

/* $defs/id_like (integer >= 0 or a 1..255 character string) as text in \p out. */
static int id_like(dh_vctx_t *v, json_t *obj, const char *path, const char *name, char *out,
                   size_t size)
{
    json_t *j = json_object_get(obj, name);

    if (!j) {
        dh_v_fail(v, "%s must have required property '%s'", path, name);
        return 0;
    }
    if (json_is_integer(j) && json_integer_value(j) >= 0) {
        snprintf(out, size, "%lld", (long long)json_integer_value(j));
        return 1;
    }
    if (json_is_string(j) && json_string_length(j) > 0 && dh_v_u8len(json_string_value(j)) <= 255 &&
        json_string_length(j) < size) {
        snprintf(out, size, "%s", json_string_value(j));
        return 1;
    }
    dh_v_fail(v, "%s/%s must match a schema in anyOf", path, name);
    return 0;
}

/* $defs/shopify_id_like (integer >= 1 or ^[1-9][0-9]{0,19}$) as digits in \p out (may be
 * NULL); absent is a failure only when \p required. Returns 1 when present and valid. */
static int shopify_id(dh_vctx_t *v, json_t *obj, const char *path, const char *name, int required,
                      char *out, size_t size)
{
    json_t *j = json_object_get(obj, name);
    char buf[24];

    if (!j) {
        if (required) {
            dh_v_fail(v, "%s must have required property '%s'", path, name);
        }
        return 0;
    }
    if (json_is_integer(j) && json_integer_value(j) >= 1) {
        snprintf(buf, sizeof(buf), "%lld", (long long)json_integer_value(j));
    } else if (json_is_string(j) && dh_v_shopify_id_ok(json_string_value(j))) {
        snprintf(buf, sizeof(buf), "%s", json_string_value(j));
    } else {
        dh_v_fail(v, "%s/%s must match a schema in anyOf", path, name);
        return 0;
    }
    if (out) {
        snprintf(out, size, "%s", buf);
    }
    return 1;
}

/* $defs/money_like: a number or a decimal string. */
static void money(dh_vctx_t *v, json_t *obj, const char *path, const char *name)
{
    json_t *j = json_object_get(obj, name);
    const char *s = json_string_value(j);
    const char *p = s;

    if (!j || json_is_number(j)) {
        return;
    }
    if (p && *p == '-') {
        p++;
    }
    if (p && *p >= '0' && *p <= '9') {
        p += strspn(p, "0123456789");
        if (*p == '.' && p[1] >= '0' && p[1] <= '9') {
            p += 1 + strspn(p + 1, "0123456789");
        }
        if (*p == '\0') {
            return;
        }
    }
    dh_v_fail(v, "%s/%s must match a schema in anyOf", path, name);
}

static void product_ref(dh_vctx_t *v, json_t *p, const char *path)
{
    json_t *sku = json_object_get(p, "sku");

    if (!sku) {
        dh_v_fail(v, "%s must have required property 'sku'", path);
    } else if (!json_is_string(sku) && !json_is_null(sku)) {
        dh_v_fail(v, "%s/sku must be string,null", path);
    }
    shopify_id(v, p, path, "variant_id", 1, NULL, 0);
    shopify_id(v, p, path, "product_id", 0, NULL, 0);
    money(v, p, path, "price");
    opt(v, p, path, "title", T_STRING | T_NULL);
}

static void line_item(dh_vctx_t *v, json_t *l, const char *path)
{
    char sub[128];
    int64_t qty;
    size_t i;
    json_t *s, *ex, *ship;

    if (!json_is_object(l)) {
        dh_v_fail(v, "%s must be object", path);
        return;
    }
    shopify_id(v, l, path, "id", 1, NULL, 0);
    dh_v_int(v, l, path, "quantity", 1, INT64_MAX, &qty);
    opt(v, l, path, "reason", T_STRING | T_NULL);
    opt(v, l, path, "reason_detail", T_STRING | T_NULL);
    opt(v, l, path, "customer_comment", T_STRING | T_NULL);
    json_t *orig = req_obj(v, l, path, "original_product");

    if (orig) {
        snprintf(sub, sizeof(sub), "%s/original_product", path);
        product_ref(v, orig, sub);
    }
    ex = opt(v, l, path, "exchange_product", T_OBJECT | T_NULL);
    if (json_is_object(ex)) {
        snprintf(sub, sizeof(sub), "%s/exchange_product", path);
        product_ref(v, ex, sub);
    } else if (ex && !json_is_null(ex)) {
        dh_v_fail(v, "%s/exchange_product must match a schema in anyOf", path);
    }
    ship = opt(v, l, path, "shipping", T_ARRAY);
    json_array_foreach(ship, i, s)
    {
        snprintf(sub, sizeof(sub), "%s/shipping/%zu", path, i);
        if (!json_is_object(s)) {
            dh_v_fail(v, "%s must be object", sub);
            continue;
        }
        opt(v, s, sub, "awb", T_STRING | T_NULL);
        opt(v, s, sub, "shipping_company", T_STRING | T_NULL);
        opt(v, s, sub, "tracking_url", T_STRING | T_NULL);
        opt(v, s, sub, "labels", T_ARRAY);
    }
}

static void status_flag(dh_vctx_t *v, json_t *req, const char *name)
{
    char path[64];
    json_t *f = json_object_get(req, name);

    if (!f || json_is_null(f)) {
        return;
    }
    snprintf(path, sizeof(path), "/request/%s", name);
    if (!json_is_object(f)) {
        dh_v_fail(v, "%s must match a schema in anyOf", path);
        return;
    }
    opt(v, f, path, "status", T_BOOL);
    opt(v, f, path, "comment", T_STRING | T_NULL);
    opt(v, f, path, "created_at", T_STRING | T_NULL);
}

static void check_request(dh_vctx_t *v, returns_request_t *r)
{
    static const char *const types[] = {"return", "exchange", NULL};
    static const char *const flags[] = {"approved", "received", "inspected", "rejected",
                                        "archived"};
    json_t *q = r->request, *num, *order, *lines, *ex, *cust;
    const char *created, *updated;
    char path[64];
    size_t i;
    json_t *l;

    id_like(v, q, "/request", "id", r->id, sizeof(r->id));
    num = json_object_get(q, "request_number");
    if (!num) {
        dh_v_fail(v, "/request must have required property 'request_number'");
    } else if (json_is_integer(num) && json_integer_value(num) >= 0) {
        snprintf(r->number, sizeof(r->number), "%lld", (long long)json_integer_value(num));
    } else if (json_is_string(num) && json_string_length(num) > 0) {
        if (json_string_length(num) < sizeof(r->number)) {
            snprintf(r->number, sizeof(r->number), "%s", json_string_value(num));
        }
    } else {
        dh_v_fail(v, "/request/request_number must match a schema in anyOf");
    }
    dh_v_enum(v, q, "/request", "request_type", types, &r->type);
    dh_v_enum(v, q, "/request", "status", rp_statuses, &r->status);
    created = dh_v_str(v, q, "/request", "created_at", 1, 0, 1024);
    if (created && !dh_v_rfc3339_ok(created)) {
        dh_v_fail(v, "/request/created_at must match format \"date-time\"");
    }
    updated = json_string_value(opt(v, q, "/request", "updated_at", T_STRING | T_NULL));
    if (updated && !dh_v_rfc3339_ok(updated)) {
        dh_v_fail(v, "/request/updated_at must match format \"date-time\"");
    }
    opt(v, q, "/request", "manual_request", T_BOOL);
    opt(v, q, "/request", "channel", T_STRING | T_INTEGER | T_NULL);
    order = req_obj(v, q, "/request", "order");
    if (order) {
        shopify_id(v, order, "/request/order", "id", 1, r->order_id, sizeof(r->order_id));
        dh_v_str(v, order, "/request/order", "name", 1, 1, SIZE_MAX);
    }
    cust = opt(v, q, "/request", "customer", T_OBJECT);
    if (cust) {
        opt(v, cust, "/request/customer", "name", T_STRING | T_NULL);
        opt(v, cust, "/request/customer", "email", T_STRING | T_NULL);
        opt(v, cust, "/request/customer", "phone", T_STRING | T_NULL);
    }
    lines = json_object_get(q, "line_items");
    if (!lines) {
        dh_v_fail(v, "/request must have required property 'line_items'");
    } else if (!json_is_array(lines)) {
        dh_v_fail(v, "/request/line_items must be array");
    } else if (json_array_size(lines) == 0) {
        dh_v_fail(v, "/request/line_items must NOT have fewer than 1 items");
    }
    json_array_foreach(json_is_array(lines) ? lines : NULL, i, l)
    {
        snprintf(path, sizeof(path), "/request/line_items/%zu", i);
        line_item(v, l, path);
    }
    ex = json_object_get(q, "exchange");
    if (ex && !json_is_null(ex)) {
        json_t *eo = json_object_get(ex, "order");

        if (!json_is_object(ex) || (eo && !json_is_null(eo) && !json_is_object(eo))) {
            dh_v_fail(v, "/request/exchange must match a schema in anyOf");
        } else if (json_is_object(eo)) {
            shopify_id(v, eo, "/request/exchange/order", "id", 1, NULL, 0);
            opt(v, eo, "/request/exchange/order", "name", T_STRING);
            money(v, eo, "/request/exchange/order", "total_price");
        }
    }
    for (i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
        status_flag(v, q, flags[i]);
    }
}

returns_parse_t returns_request_parse(const char *buf, size_t len, returns_request_t *out,
                                      char *err, size_t err_size)
{
    json_error_t jerr;
    dh_vctx_t v = {err, err_size, 0};

    memset(out, 0, sizeof(*out));
    err[0] = '\0';
    out->root = json_loadb(buf ? buf : "", buf ? len : 0, 0, &jerr);
    if (!json_is_object(out->root)) {
        snprintf(err, err_size, "value is not a JSON object%s%s", out->root ? "" : ": ",
                 out->root ? "" : jerr.text);
        return RETURNS_PARSE_DECODE;
    }
    out->request = req_obj(&v, out->root, "", "request");
    if (out->request) {
        check_request(&v, out);
    }
    return v.failed ? RETURNS_PARSE_SCHEMA : RETURNS_PARSE_OK;
}

void returns_request_clear(returns_request_t *r)
{
    json_decref(r->root);
    memset(r, 0, sizeof(*r));
}

/* ---- create or skip ---- */

static int status_bit(const char *s, size_t n)
{
    for (int i = 0; rp_statuses[i]; i++) {
        if (strlen(rp_statuses[i]) == n && memcmp(rp_statuses[i], s, n) == 0) {
            return i;
        }
    }
    return -1;
}

int returns_statuses_parse(const char *list, unsigned *mask, char *err, size_t err_size)
{
    const char *p = list ? list : "";

    *mask = 0;
    while (*p) {
        size_t n;
        int bit;

        p += strspn(p, " ,");
        n = strcspn(p, ",");
        while (n > 0 && p[n - 1] == ' ') {
            n--;
        }
        if (n == 0) {
            break;
        }
        bit = status_bit(p, n);
        if (bit < 0) {
            snprintf(err, err_size,
                     "unknown Return Prime status \"%.*s\" (pending, approved, received, "
                     "inspected, refunded, rejected, archived)",
                     (int)(n > 40 ? 40 : n), p);
            return -1;
        }
        *mask |= 1u << bit;
        p += n;
        p += strcspn(p, ",");
    }
    return 0;
}

returns_action_t returns_action(const char *topic, size_t len, const char *status,
                                unsigned create_mask)
{
    static const char *const topics[] = {
        "request/created",  "request/approved", "request/received", "request/inspected",
        "request/refunded", "request/rejected", "request/archived", "request/updated"};
    int known = 0, bit = status ? status_bit(status, strlen(status)) : -1;

    for (size_t i = 0; i < sizeof(topics) / sizeof(topics[0]); i++) {
        known |= topic && strlen(topics[i]) == len && memcmp(topic, topics[i], len) == 0;
    }
    if (!known) {
        return RETURNS_BAD_TOPIC;
    }
    /* The status decides, not the topic: an "approved" delivery that arrives after the
     * request was rejected carries status rejected and creates nothing, and a later
     * received/inspected/updated delivery heals a lost "approved" one. */
    return bit >= 0 && (create_mask & (1u << bit)) ? RETURNS_CREATE : RETURNS_SKIP;
}

returns_action_t returns_cancels(const returns_request_t *r)
{
    json_t *received = json_object_get(json_object_get(r->request, "received"), "status");

    if (strcmp(r->status, "rejected") == 0) {
        return RETURNS_CANCEL;
    }
    if (strcmp(r->status, "archived") == 0 && !json_is_true(received)) {
        return RETURNS_CANCEL;
    }
    return RETURNS_SKIP;
}

json_t *returns_cancel_body(const returns_request_t *r)
{
    char reason[64];

    /* No timestamp: a retry must send the same body under the same Idempotency-Key. */
    snprintf(reason, sizeof(reason), "Return Prime request %s", r->status);
    return json_pack("{s:s}", "reason", reason);
}

/* RFC 3986 unreserved characters pass, everything else is percent-encoded. */
void returns_url_encode(const char *s, char *out, size_t size)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = 0;

    for (; *s && n + 4 < size; s++) {
        unsigned char c = (unsigned char)*s;

        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~') {
            out[n++] = (char)c;
        } else {
            out[n++] = '%';
            out[n++] = hex[c >> 4];
            out[n++] = hex[c & 15];
        }
    }
    out[n] = '\0';
}

json_t *returns_update_body(json_t *wms_body)
{
    json_t *out = json_pack("{s:O}", "lines", json_object_get(wms_body, "lines"));

    if (out && json_object_get(wms_body, "awb")) {
        json_object_set(out, "awb", json_object_get(wms_body, "awb"));
    }
    if (out && json_object_get(wms_body, "carrier")) {
        json_object_set(out, "carrier", json_object_get(wms_body, "carrier"));
    }
    return out;
}

int returns_content_tag(json_t *wms_body, char out[13])
{
    json_t *c = returns_update_body(wms_body);
    char *text = c ? json_dumps(c, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    char uuid[37];
    size_t n = 0;

    json_decref(c);
    if (!text) {
        out[0] = '\0';
        return -1;
    }
    /* A UUIDv5 of the canonical text: the same lines, AWB and carrier give the same tag. */
    dh_idem_far_key("returns-content", text, uuid);
    free(text);
    for (size_t i = 0; uuid[i] && n < 12; i++) {
        if (uuid[i] != '-') {
            out[n++] = uuid[i];
        }
    }
    out[n] = '\0';
    return 0;
}

int returns_same_content(json_t *a, json_t *b)
{
    json_t *x = returns_update_body(a), *y = returns_update_body(b);
    int same = x && y && json_equal(x, y);

    json_decref(x);
    json_decref(y);
    return same;
}

int returns_is_receipt_topic(const char *topic)
{
    size_t n = topic ? strlen(topic) : 0;

    return n >= 15 && strcmp(topic + n - 15, "return_received") == 0;
}

/* ---- the createReturn body ---- */

/* Copy at most \p max code points of UTF-8 \p s to \p out (whole code points only). */
static void u8_cut(const char *s, size_t max, char *out, size_t size)
{
    size_t i = 0, cps = 0;

    while (s[i] && cps < max) {
        size_t n = 1;

        while ((s[i + n] & 0xC0) == 0x80) {
            n++;
        }
        if (i + n >= size) {
            break;
        }
        i += n;
        cps++;
    }
    memcpy(out, s, i);
    out[i] = '\0';
}

static const char *nonempty(json_t *j)
{
    const char *s = json_string_value(j);

    return s && *s ? s : NULL;
}

/* Checks what the WMS needs of line \p i: its SKU and quantity. -1 with the class and a
 * reason naming the field. */
static int line_check(json_t *l, size_t i, const char **err_class, char *err, size_t err_size)
{
    const char *sku =
        json_string_value(json_object_get(json_object_get(l, "original_product"), "sku"));
    json_int_t qty = json_integer_value(json_object_get(l, "quantity"));

    if (!sku || !*sku) {
        *err_class = "missing-sku";
        snprintf(err, err_size,
                 "/request/line_items/%zu/original_product/sku is %s: the WMS needs the "
                 "SKU of every returned line",
                 i, sku ? "empty" : "null");
        return -1;
    }
    if (!dh_v_sku_ok(sku) || dh_v_u8len(sku) > 255) {
        snprintf(err, err_size,
                 "/request/line_items/%zu/original_product/sku \"%.80s\" is not a WMS SKU "
                 "(1..255 characters, no surrounding spaces)",
                 i, sku);
        return -1;
    }
    if (qty > 100000) {
        snprintf(err, err_size, "/request/line_items/%zu/quantity %lld is over the WMS's 100000", i,
                 (long long)qty);
        return -1;
    }
    return 0;
}

/* The WMS line of a checked Return Prime line (a new reference). */
static json_t *wms_line(json_t *l)
{
    char lid[24], reason[4096], cut[4096];
    const char *sku =
        json_string_value(json_object_get(json_object_get(l, "original_product"), "sku"));
    const char *why = nonempty(json_object_get(l, "reason"));
    const char *detail = nonempty(json_object_get(l, "reason_detail"));
    json_t *id = json_object_get(l, "id"); /* validated as shopify_id_like already */

    if (json_is_integer(id)) {
        snprintf(lid, sizeof(lid), "%lld", (long long)json_integer_value(id));
    } else {
        snprintf(lid, sizeof(lid), "%s", json_string_value(id));
    }
    /* Reason text (Return Prime's is often just "Others"), with the detail when any; the
     * WMS keeps 1024 characters. */
    snprintf(reason, sizeof(reason), "%s%s%s", why ? why : "", why && detail ? ": " : "",
             detail ? detail : "");
    u8_cut(reason, 1024, cut, sizeof(cut));
    return json_pack("{s:s, s:s, s:I, s:s}", "channel_line_item_id", lid, "sku", sku, "quantity",
                     json_integer_value(json_object_get(l, "quantity")), "reason", cut);
}

/* The reverse pickup's AWB and carrier of line \p l, unless an earlier line named one (one
 * request is one pickup). */
static void pickup_of(json_t *l, const char **awb, const char **carrier)
{
    size_t j;
    json_t *s;

    json_array_foreach(json_object_get(l, "shipping"), j, s)
    {
        const char *a = nonempty(json_object_get(s, "awb"));

        if (!*awb && a && dh_v_u8len(a) <= 255) {
            const char *c = nonempty(json_object_get(s, "shipping_company"));

            *awb = a;
            *carrier = c && dh_v_u8len(c) <= 255 ? c : NULL;
        }
    }
}

/* exchange_order_id, when Return Prime already names the replacement order. */
static void add_exchange(json_t *out, json_t *q)
{
    json_t *eid = json_object_get(json_object_get(json_object_get(q, "exchange"), "order"), "id");
    char buf[24] = "";

    if (json_is_integer(eid)) {
        snprintf(buf, sizeof(buf), "%lld", (long long)json_integer_value(eid));
    } else if (json_is_string(eid)) {
        snprintf(buf, sizeof(buf), "%s", json_string_value(eid));
    }
    if (buf[0]) {
        json_object_set_new(out, "exchange_order_id", json_string(buf));
    }
}

json_t *returns_wms_body(const returns_request_t *r, const char *store, const char **err_class,
                         char *err, size_t err_size)
{
    json_t *q = r->request, *lines = json_array(), *l, *out = NULL;
    const char *awb = NULL, *carrier = NULL;
    int exchange = strcmp(r->type, "exchange") == 0;
    size_t i;

    *err_class = "invalid-request";
    if (r->number[0] == '\0' || dh_v_u8len(r->number) > 64) {
        snprintf(err, err_size, "/request/request_number: the WMS takes 1..64 characters");
        goto out;
    }
    json_array_foreach(json_object_get(q, "line_items"), i, l)
    {
        if (line_check(l, i, err_class, err, err_size) != 0) {
            goto out;
        }
        json_array_append_new(lines, wms_line(l));
        pickup_of(l, &awb, &carrier);
    }
    out = json_pack("{s:s, s:s, s:s, s:s, s:s, s:O}", "store", store, "return_request_id", r->id,
                    "request_number", r->number, "type", exchange ? "EXCHANGE" : "RETURN",
                    "channel_order_id", r->order_id, "lines", lines);
    if (out && exchange) {
        add_exchange(out, q);
    }
    if (out && awb) {
        json_object_set_new(out, "awb", json_string(awb));
        if (carrier) {
            json_object_set_new(out, "carrier", json_string(carrier));
        }
    }
out:
    json_decref(lines);
    return out;
}
