/*
 * The pure core of dh-orders: Shopify REST order -> WMS sales-order bodies, hold-tag
 * detection, time and decimal normalisation, and GraphQL node -> REST order. No I/O, so
 * every rule here is unit-tested from fixtures (test_orders_mapping.c). The mapping is
 * documented field by field in docs/orders.md.
 *
 * Both paths (webhook payload and reconciliation node) go through the same normalisation
 * (UTC times, canonical decimals), so they build byte-identical WMS bodies for the same
 * order and the WMS's Idempotency-Key check sees the same request.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dockhand/config.h"
#include "dockhand/validate.h"
#include "orders.h"

int orders_kind_parse(const char *topic, size_t len, orders_kind_t *out)
{
    static const struct {
        const char *name;
        orders_kind_t kind;
    } map[] = {
        {"orders/create", ORDERS_CREATE},
        {"orders/cancelled", ORDERS_CANCELLED},
        {"orders/updated", ORDERS_UPDATED},
        {"fulfillment_holds/released", ORDERS_HOLD_RELEASED},
        {"fulfillment_holds/added", ORDERS_HOLD_ADDED},
        {"refunds/create", ORDERS_REFUND_CREATED},
    };

    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        if (strlen(map[i].name) == len && memcmp(map[i].name, topic, len) == 0) {
            *out = map[i].kind;
            return 0;
        }
    }
    return -1;
}

int orders_hold_tag(const char *tags, const char *hold_tags, char *which, size_t which_size)
{
    const char *p = tags ? tags : "", *t;
    long n;

    while ((n = dh_config_list_next(&p, &t)) >= 0) {
        const char *h = hold_tags ? hold_tags : "", *ht;
        long m;

        if (n == 0) {
            continue;
        }
        while ((m = dh_config_list_next(&h, &ht)) >= 0) {
            if (m == n && strncasecmp(t, ht, (size_t)n) == 0) {
                if (which) {
                    snprintf(which, which_size, "%.*s", (int)n, t);
                }
                return 1;
            }
        }
    }
    return 0;
}

int orders_policy(const char *spec, const char *store, const char *v0, const char *v1, char *errstr,
                  size_t errstr_size)
{
    return dh_config_policy(spec, store, v0, v1, errstr, errstr_size);
}

int orders_decimal(const char *in, char *out, size_t size)
{
    const char *p = in, *dot;
    size_t ilen, flen;

    if (!in) {
        return -1;
    }
    p += (*p == '-');
    if (!isdigit((unsigned char)*p)) {
        return -1;
    }
    while (isdigit((unsigned char)*p)) {
        p++;
    }
    ilen = (size_t)(p - in);
    dot = p;
    flen = 0;
    if (*p == '.') {
        p++;
        if (!isdigit((unsigned char)*p)) {
            return -1;
        }
        while (isdigit((unsigned char)*p)) {
            p++;
        }
        flen = (size_t)(p - dot - 1);
        while (flen > 0 && dot[flen] == '0') { /* drop trailing zeros */
            flen--;
        }
    }
    if (*p) {
        return -1;
    }
    int n = snprintf(out, size, "%.*s.%.*s%s", (int)ilen, in, (int)flen, dot + 1,
                     flen == 0   ? "00"
                     : flen == 1 ? "0"
                                 : "");

    return n < 0 || (size_t)n >= size ? -1 : 0;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, int64_t m, int64_t d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

    return era * 146097 + doe - 719468;
}

static int digits(const char *s, int n, int *out)
{
    int v = 0;

    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i])) {
            return -1;
        }
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

int orders_time_parse(const char *in, int64_t *out)
{
    int y, mo, d, h, mi, s, oh = 0, om = 0, sign = 0;
    const char *p;

    if (!in || strlen(in) < 20 || digits(in, 4, &y) || in[4] != '-' || digits(in + 5, 2, &mo) ||
        in[7] != '-' || digits(in + 8, 2, &d) ||
        (in[10] != 'T' && in[10] != 't' && in[10] != ' ') || digits(in + 11, 2, &h) ||
        in[13] != ':' || digits(in + 14, 2, &mi) || in[16] != ':' || digits(in + 17, 2, &s)) {
        return -1;
    }
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60) {
        return -1;
    }
    p = in + 19;
    if (*p == '.') {
        p++;
        while (isdigit((unsigned char)*p)) {
            p++;
        }
    }
    if ((*p == 'Z' || *p == 'z') && p[1] == '\0') {
        sign = 0;
    } else if ((*p == '+' || *p == '-') && strlen(p) == 6 && !digits(p + 1, 2, &oh) &&
               p[3] == ':' && !digits(p + 4, 2, &om)) {
        sign = *p == '+' ? 1 : -1;
    } else {
        return -1;
    }
    *out =
        days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s - sign * (oh * 3600 + om * 60);
    return 0;
}

void orders_time_format(int64_t t, char *out, size_t size)
{
    int64_t z = (t >= 0 ? t : t - 86399) / 86400, sod = t - z * 86400;
    /* civil_from_days */
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int64_t d = doy - (153 * mp + 2) / 5 + 1;
    int64_t m = mp + (mp < 10 ? 3 : -9);
    int64_t y = yoe + era * 400 + (m <= 2);

    snprintf(out, size, "%04lld-%02lld-%02lldT%02lld:%02lld:%02lldZ", (long long)y, (long long)m,
             (long long)d, (long long)(sod / 3600), (long long)(sod % 3600 / 60),
             (long long)(sod % 60));
}

/* The instants a four-digit UTC year can name. An offset or a leap second can move a valid
 * local time out of them ("9999-12-31T23:59:60Z" is 10000-01-01T00:00:00Z), and the WMS
 * would then get a date-time that is not RFC 3339. */
#define T_MIN (-62167219200LL) /* 0000-01-01T00:00:00Z */
#define T_MAX 253402300799LL   /* 9999-12-31T23:59:59Z */

int orders_time_utc(const char *in, char *out, size_t size)
{
    int64_t t;

    if (orders_time_parse(in, &t) || t < T_MIN || t > T_MAX) {
        return -1;
    }
    orders_time_format(t, out, size);
    return 0;
}

/* A Shopify id (JSON integer >= 1) as digits: the rule the gateway checks too. */
static int id_string(json_t *v, char *out, size_t size)
{
    return dh_v_shopify_id(v, out, size) ? 0 : -1;
}

int orders_order_id(json_t *order, char *out, size_t size)
{
    return id_string(json_object_get(order, "id"), out, size);
}

static const char *nonempty(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));

    return s && *s ? s : NULL;
}

/* WMS Address from a Shopify shipping_address, or NULL when it lacks what the WMS requires
 * (name, address1, city, zip, country_code): the field is optional, so it is omitted. */
static json_t *wms_address(json_t *a)
{
    char name[256];
    const char *first = nonempty(a, "first_name"), *last = nonempty(a, "last_name");
    const char *cc = nonempty(a, "country_code");

    if (!json_is_object(a)) {
        return NULL;
    }
    if (first || last) {
        snprintf(name, sizeof(name), "%s%s%s", first ? first : "", first && last ? " " : "",
                 last ? last : "");
    } else {
        snprintf(name, sizeof(name), "%s", nonempty(a, "name") ? nonempty(a, "name") : "");
    }
    if (!name[0] || !nonempty(a, "address1") || !nonempty(a, "city") || !nonempty(a, "zip") ||
        !cc || strlen(cc) != 2 || !isupper((unsigned char)cc[0]) ||
        !isupper((unsigned char)cc[1])) {
        return NULL;
    }
    json_t *out =
        json_pack("{s:s, s:s, s:s, s:s, s:s}", "name", name, "address1", nonempty(a, "address1"),
                  "city", nonempty(a, "city"), "zip", nonempty(a, "zip"), "country_code", cc);
    static const char *const optional[] = {"address2", "province_code", "phone"};

    for (size_t i = 0; out && i < sizeof(optional) / sizeof(optional[0]); i++) {
        if (nonempty(a, optional[i])) {
            json_object_set_new(out, optional[i], json_string(nonempty(a, optional[i])));
        }
    }
    return out;
}

/* What is left of a line: Shopify keeps the original count in "quantity" and reports what
 * edits and refunds left in "current_quantity" (older payloads lack it). -1 if invalid. */
static json_int_t line_quantity(json_t *li)
{
    json_t *q = json_object_get(li, "current_quantity");

    q = q ? q : json_object_get(li, "quantity");
    return json_is_integer(q) && json_integer_value(q) >= 0 ? json_integer_value(q) : -1;
}

/* A line that is recorded but never picked: {channel_line_item_id, title, quantity}. */
static json_t *recorded_line(const char *lid, json_t *li, json_int_t q)
{
    const char *title = json_string_value(json_object_get(li, "title"));
    json_t *out = json_pack("{s:s, s:s%, s:I}", "channel_line_item_id", lid, "title",
                            title ? title : "", title ? strnlen(title, 255) : 0, "quantity", q);

    if (out && json_is_true(json_object_get(li, "gift_card"))) {
        json_object_set_new(out, "gift_card", json_true());
    }
    return out;
}

/* One Shopify line item into out->lines (to ship), out->non_shipping (gift cards, digital
 * goods: recorded) or out->unmapped (must ship but has no SKU). 0, or -1 with errstr. */
static int wms_line(json_t *li, size_t i, orders_lines_t *out, char *errstr, size_t errstr_size)
{
    char lid[32], price[64];
    const char *sku = json_string_value(json_object_get(li, "sku"));
    json_int_t q = line_quantity(li);

    if (!json_is_object(li) || id_string(json_object_get(li, "id"), lid, sizeof(lid))) {
        snprintf(errstr, errstr_size, "line_items[%zu].id must be an integer >= 1", i);
        return -1;
    }
    if (q < 0) {
        snprintf(errstr, errstr_size,
                 "line_items[%zu] (id %s): current_quantity (or quantity) must be an integer >= 0",
                 i, lid);
        return -1;
    }
    if (q == 0) {
        return 0; /* removed by an order edit or refunded: nothing to ship */
    }
    if (json_is_false(json_object_get(li, "requires_shipping")) ||
        json_is_true(json_object_get(li, "gift_card"))) {
        json_array_append_new(out->non_shipping, recorded_line(lid, li, q));
        return 0;
    }
    if (!sku || !*sku) {
        json_array_append_new(out->unmapped, recorded_line(lid, li, q));
        return 0;
    }
    if (orders_decimal(json_string_value(json_object_get(li, "price")), price, sizeof(price))) {
        snprintf(errstr, errstr_size, "line_items[%zu] (id %s): price must be a decimal string", i,
                 lid);
        return -1;
    }
    json_array_append_new(out->lines, json_pack("{s:s, s:s, s:I, s:s}", "channel_line_item_id", lid,
                                                "sku", sku, "quantity", q, "unit_price", price));
    return 0;
}

static int check_currency(const char *c)
{
    return c && strlen(c) == 3 && isupper((unsigned char)c[0]) && isupper((unsigned char)c[1]) &&
           isupper((unsigned char)c[2]);
}

int orders_is_cod_gateway(const char *name)
{
    static const char needle[] = "cash on delivery";
    size_t n = name ? strlen(name) : 0;

    if (n == 3 && strncasecmp(name, "cod", 3) == 0) {
        return 1;
    }
    for (size_t i = 0; n >= sizeof(needle) - 1 && i <= n - (sizeof(needle) - 1); i++) {
        if (strncasecmp(name + i, needle, sizeof(needle) - 1) == 0) {
            return 1;
        }
    }
    return 0;
}

/* The WMS payment object, or NULL when the order carries no financial_status. *cod and
 * *pending say how the order was paid (for the hold policy). */
static json_t *wms_payment(json_t *order, const char *currency, int *cod, int *pending)
{
    static const char *const known[] = {
        "pending",  "authorized", "partially_paid", "paid", "partially_refunded",
        "refunded", "voided",     "expired"};
    const char *fs = json_string_value(json_object_get(order, "financial_status"));
    json_t *names = json_object_get(order, "payment_gateway_names"), *g, *gateways;
    char amount[64] = "0.00";
    size_t i, k;

    *cod = 0;
    *pending = 0;
    for (k = 0; fs && k < sizeof(known) / sizeof(known[0]) && strcmp(fs, known[k]); k++) {
    }
    if (!fs || k == sizeof(known) / sizeof(known[0])) {
        return NULL;
    }
    gateways = json_array();
    json_array_foreach(names, i, g)
    {
        const char *n = json_string_value(g);

        if (n && *n && strlen(n) <= 255) {
            json_array_append_new(gateways, json_string(n));
            *cod |= orders_is_cod_gateway(n);
        }
    }
    /* What the carrier collects is what Shopify still has outstanding. */
    if (*cod && orders_decimal(json_string_value(json_object_get(order, "total_outstanding")),
                               amount, sizeof(amount))) {
        snprintf(amount, sizeof(amount), "0.00");
    }
    *pending = strcmp(fs, "pending") == 0 || strcmp(fs, "partially_paid") == 0;
    return json_pack("{s:s, s:o, s:b, s:s, s:s}", "financial_status", fs, "gateways", gateways,
                     "cash_on_delivery", *cod, "amount_to_collect", amount, "currency", currency);
}

/* Status, hold code and reason: a line without a SKU first (nothing can ship until a person
 * maps it), then a Return Prime exchange, then a pending non-COD payment under the hold
 * policy. Returns 1 when held. */
static int hold_decision(json_t *order, const orders_map_opts_t *opts, const orders_lines_t *l,
                         int cod, int pending, json_t *body)
{
    char tag[128], reason[256];
    json_t *u = json_array_get(l->unmapped, 0);
    const char *code = NULL;

    if (u) {
        code = "missing-sku";
        snprintf(reason, sizeof(reason),
                 "missing-sku: line %s (\"%.120s\") must ship but has no SKU",
                 json_string_value(json_object_get(u, "channel_line_item_id")),
                 json_string_value(json_object_get(u, "title")));
    } else if (orders_hold_tag(json_string_value(json_object_get(order, "tags")), opts->hold_tags,
                               tag, sizeof(tag))) {
        code = "exchange";
        snprintf(reason, sizeof(reason), "Return Prime exchange (tag \"%s\"): awaiting release",
                 tag);
    } else if (pending && !cod && opts->hold_pending) {
        code = "awaiting-payment";
        snprintf(reason, sizeof(reason), "awaiting-payment: payment %s in Shopify",
                 json_string_value(json_object_get(order, "financial_status")));
    }
    json_object_set_new(body, "status", json_string(code ? "ON_HOLD" : "OPEN"));
    if (code) {
        json_object_set_new(body, "hold_code", json_string(code));
        json_object_set_new(body, "hold_reason", json_string(reason));
    }
    return code != NULL;
}

/* Header checks: id, name, currency, created_at (UTC), line_items. 0 or -1 with errstr. */
static int check_order(json_t *order, char *id, size_t id_size, char *created, size_t cr_size,
                       char *errstr, size_t errstr_size)
{
    const char *name = nonempty(order, "name");

    if (!json_is_object(order) || orders_order_id(order, id, id_size)) {
        snprintf(errstr, errstr_size, "id must be an integer >= 1");
        return -1;
    }
    if (!name || strlen(name) > 64) {
        snprintf(errstr, errstr_size, "name must be a string of 1..64 characters");
        return -1;
    }
    if (!check_currency(json_string_value(json_object_get(order, "currency")))) {
        snprintf(errstr, errstr_size, "currency must be an ISO 4217 code");
        return -1;
    }
    if (orders_time_utc(json_string_value(json_object_get(order, "created_at")), created,
                        cr_size)) {
        snprintf(errstr, errstr_size, "created_at must be an RFC 3339 date-time");
        return -1;
    }
    if (!json_is_array(json_object_get(order, "line_items"))) {
        snprintf(errstr, errstr_size, "line_items must be an array");
        return -1;
    }
    return 0;
}

static void set_if_nonempty(json_t *body, const char *key, json_t *arr)
{
    if (json_array_size(arr)) {
        json_object_set(body, key, arr);
    }
}

int orders_wms_create_body(const char *store, json_t *order, const orders_map_opts_t *opts,
                           json_t **body, int *held, char *errstr, size_t errstr_size)
{
    char id[32], created[32];
    const char *currency = json_string_value(json_object_get(order, "currency"));
    const char *email = nonempty(order, "email");
    orders_lines_t l = {json_array(), json_array(), json_array()};
    json_t *li, *addr, *pay;
    int cod = 0, pending = 0, rc = -1;
    size_t i;

    *body = NULL;
    *held = 0;
    if (check_order(order, id, sizeof(id), created, sizeof(created), errstr, errstr_size)) {
        goto out;
    }
    json_array_foreach(json_object_get(order, "line_items"), i, li)
    {
        if (wms_line(li, i, &l, errstr, errstr_size) < 0) {
            goto out;
        }
    }
    if (json_array_size(l.lines) == 0 && json_array_size(l.unmapped) == 0) {
        snprintf(errstr, errstr_size,
                 "nothing to ship: no line that requires shipping has a "
                 "current quantity >= 1");
        rc = 1;
        goto out;
    }
    *body = json_pack("{s:s, s:s, s:s, s:s, s:s, s:O}", "store", store, "channel_order_id", id,
                      "order_name", nonempty(order, "name"), "currency", currency, "created_at",
                      created, "lines", l.lines);
    if (!*body) {
        snprintf(errstr, errstr_size, "out of memory");
        goto out;
    }
    set_if_nonempty(*body, "non_shipping_lines", l.non_shipping);
    set_if_nonempty(*body, "unmapped_lines", l.unmapped);
    pay = wms_payment(order, currency, &cod, &pending);
    if (pay) {
        json_object_set_new(*body, "payment", pay);
    }
    *held = hold_decision(order, opts, &l, cod, pending, *body);
    addr = wms_address(json_object_get(order, "shipping_address"));
    if (addr) {
        json_object_set_new(*body, "shipping_address", addr);
    }
    if (email && strchr(email, '@') && strlen(email) <= 254) {
        json_object_set_new(*body, "customer_email", json_string(email));
    }
    rc = 0;
out:
    json_decref(l.lines);
    json_decref(l.non_shipping);
    json_decref(l.unmapped);
    return rc;
}

json_t *orders_wms_cancel_body(json_t *order, char *errstr, size_t errstr_size)
{
    char at[32];
    const char *reason = nonempty(order, "cancel_reason");
    const char *when = nonempty(order, "cancelled_at");

    if (orders_time_utc(when ? when : json_string_value(json_object_get(order, "updated_at")), at,
                        sizeof(at))) {
        snprintf(errstr, errstr_size, "cancelled_at (or updated_at) must be an RFC 3339 date-time");
        return NULL;
    }
    json_t *b = json_pack("{s:s}", "cancelled_at", at);

    if (b && reason) {
        json_object_set_new(b, "reason", json_stringn(reason, strnlen(reason, 255)));
    }
    return b;
}

/* ---- GraphQL node -> REST order ---- */

json_t *orders_gid_int(json_t *gid)
{
    const char *s = json_string_value(gid), *slash;
    char *end;

    if (!s || !(slash = strrchr(s, '/'))) {
        return NULL;
    }
    long long v = strtoll(slash + 1, &end, 10);

    return *end || end == slash + 1 || v < 1 ? NULL : json_integer(v);
}

/* What is left of the line and whether it ships, under the webhook's names. */
static void gql_line_extras(json_t *li, json_t *n)
{
    static const char *const map[][2] = {
        {"currentQuantity", "current_quantity"},
        {"requiresShipping", "requires_shipping"},
        {"isGiftCard", "gift_card"},
    };

    for (size_t i = 0; li && i < sizeof(map) / sizeof(map[0]); i++) {
        json_t *v = json_object_get(n, map[i][0]);

        if (v) {
            json_object_set(li, map[i][1], v);
        }
    }
}

static json_t *gql_lines(json_t *node, char *errstr, size_t errstr_size)
{
    json_t *out = json_array(), *n;
    json_t *nodes = json_object_get(json_object_get(node, "lineItems"), "nodes");
    size_t i;

    json_array_foreach(nodes, i, n)
    {
        json_t *id = orders_gid_int(json_object_get(n, "id"));
        json_t *vid = orders_gid_int(json_object_get(json_object_get(n, "variant"), "id"));
        json_t *amount = json_object_get(
            json_object_get(json_object_get(n, "originalUnitPriceSet"), "shopMoney"), "amount");
        json_t *sku = json_object_get(n, "sku");

        if (!id) {
            snprintf(errstr, errstr_size, "lineItems[%zu].id is not a LineItem GID", i);
            json_decref(vid);
            json_decref(out);
            return NULL;
        }
        json_t *li = json_pack(
            "{s:o, s:O, s:O?, s:o, s:O?, s:O?, s:O?}", "id", id, "admin_graphql_api_id",
            json_object_get(n, "id"), "sku", sku, "variant_id", vid ? vid : json_null(), "quantity",
            json_object_get(n, "quantity"), "price", amount, "title", json_object_get(n, "title"));

        gql_line_extras(li, n);
        json_array_append_new(out, li);
    }
    return out;
}

static json_t *gql_address(json_t *a)
{
    static const char *const map[][2] = {
        {"firstName", "first_name"},
        {"lastName", "last_name"},
        {"address1", "address1"},
        {"address2", "address2"},
        {"city", "city"},
        {"provinceCode", "province_code"},
        {"zip", "zip"},
        {"countryCodeV2", "country_code"},
        {"phone", "phone"},
    };
    json_t *out;

    if (!json_is_object(a)) {
        return json_null();
    }
    out = json_object();
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        json_t *v = json_object_get(a, map[i][0]);

        json_object_set_new(out, map[i][1], v ? json_incref(v) : json_null());
    }
    return out;
}

/* Shopify GraphQL enum (CUSTOMER, PARTIALLY_PAID) -> REST word (customer, partially_paid). */
static json_t *lower_enum(json_t *v)
{
    char buf[64];
    const char *s = json_string_value(v);
    size_t i;

    if (!s) {
        return json_null();
    }
    for (i = 0; s[i] && i < sizeof(buf) - 1; i++) {
        buf[i] = (char)tolower((unsigned char)s[i]);
    }
    buf[i] = '\0';
    return json_string(buf);
}

/* GraphQL tags (array of strings) -> REST tags ("a, b"). */
static json_t *gql_tags(json_t *tags)
{
    char buf[4096];
    size_t i, off = 0;
    json_t *t;

    buf[0] = '\0';
    json_array_foreach(tags, i, t)
    {
        int n = snprintf(buf + off, sizeof(buf) - off, "%s%s", off ? ", " : "",
                         json_string_value(t) ? json_string_value(t) : "");

        if (n < 0 || (size_t)n >= sizeof(buf) - off) {
            break;
        }
        off += (size_t)n;
    }
    return json_string(buf);
}

/* Test flag and payment under the webhook's names (absent stays absent). */
static void gql_order_extras(json_t *o, json_t *node)
{
    json_t *out = json_object_get(
        json_object_get(json_object_get(node, "totalOutstandingSet"), "shopMoney"), "amount");

    if (json_is_boolean(json_object_get(node, "test"))) {
        json_object_set(o, "test", json_object_get(node, "test"));
    }
    if (json_is_array(json_object_get(node, "paymentGatewayNames"))) {
        json_object_set(o, "payment_gateway_names", json_object_get(node, "paymentGatewayNames"));
    }
    if (json_is_string(out)) {
        json_object_set(o, "total_outstanding", out);
    }
}

json_t *orders_from_gql_node(json_t *node, char *errstr, size_t errstr_size)
{
    const char *legacy = json_string_value(json_object_get(node, "legacyResourceId"));
    json_t *id = NULL, *lines, *o;
    char *end = NULL;

    if (legacy) {
        long long v = strtoll(legacy, &end, 10);

        id = *end || end == legacy || v < 1 ? NULL : json_integer(v);
    } else {
        id = orders_gid_int(json_object_get(node, "id"));
    }
    if (!id) {
        snprintf(errstr, errstr_size, "order node without a usable id/legacyResourceId");
        return NULL;
    }
    lines = gql_lines(node, errstr, errstr_size);
    if (!lines) {
        json_decref(id);
        return NULL;
    }
    o = json_pack(
        "{s:o, s:O?, s:O?, s:O?, s:O?, s:O?, s:O?, s:O?, s:o, s:o, s:o, s:o}", "id", id,
        "admin_graphql_api_id", json_object_get(node, "id"), "name", json_object_get(node, "name"),
        "email", json_object_get(node, "email"), "created_at", json_object_get(node, "createdAt"),
        "updated_at", json_object_get(node, "updatedAt"), "cancelled_at",
        json_object_get(node, "cancelledAt"), "currency", json_object_get(node, "currencyCode"),
        "cancel_reason", lower_enum(json_object_get(node, "cancelReason")), "financial_status",
        lower_enum(json_object_get(node, "displayFinancialStatus")), "line_items", lines,
        "shipping_address", gql_address(json_object_get(node, "shippingAddress")));
    if (!o) {
        snprintf(errstr, errstr_size, "order node has a missing or malformed field");
        return NULL;
    }
    if (json_is_array(json_object_get(node, "tags"))) {
        json_object_set_new(o, "tags", gql_tags(json_object_get(node, "tags")));
    }
    gql_order_extras(o, node);
    return o;
}
