/*
 * wms.putaway / wms.zone_move v1 validation (see event.h). Only what the schemas say is
 * checked; unknown top-level and nested fields are allowed except inside `stock`.
 */
#include "event.h"

#include <stdarg.h>

#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "dockhand/err.h"

typedef struct vctx {
    char *err;
    size_t size;
    int failed;
} vctx_t;

static void DH_PRINTF(2, 3) fail(vctx_t *v, const char *fmt, ...)
{
    va_list ap;

    if (v->failed) {
        return;
    }
    v->failed = 1;
    va_start(ap, fmt);
    vsnprintf(v->err, v->size, fmt, ap);
    va_end(ap);
}

/* Number of code points of a UTF-8 string (JSON Schema lengths count code points). */
static size_t u8len(const char *s)
{
    size_t n = 0;

    for (; *s; s++) {
        if (((unsigned char)*s & 0xC0) != 0x80) {
            n++;
        }
    }
    return n;
}

static int is_code_start(char c)
{
    return isalnum((unsigned char)c);
}

static int is_code_char(char c)
{
    return isalnum((unsigned char)c) || c == '_' || c == '.' || c == '-';
}

/* ^[A-Za-z0-9][A-Za-z0-9_.-]*$ */
static int code_ok(const char *s)
{
    if (!is_code_start(s[0])) {
        return 0;
    }
    for (const char *p = s + 1; *p; p++) {
        if (!is_code_char(*p)) {
            return 0;
        }
    }
    return 1;
}

/* ^[a-z0-9][a-z0-9-]*\.myshopify\.com$ */
static int domain_ok(const char *s)
{
    static const char suffix[] = ".myshopify.com";
    size_t n = strlen(s), sl = sizeof(suffix) - 1;

    if (n <= sl || strcmp(s + n - sl, suffix) != 0) {
        return 0;
    }
    if (!(islower((unsigned char)s[0]) || isdigit((unsigned char)s[0]))) {
        return 0;
    }
    for (size_t i = 1; i < n - sl; i++) {
        if (!(islower((unsigned char)s[i]) || isdigit((unsigned char)s[i]) || s[i] == '-')) {
            return 0;
        }
    }
    return 1;
}

/* ^\S(.*\S)?$ with JavaScript semantics: no whitespace at either end, and `.` matches
 * no line terminator anywhere. */
static int sku_ok(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || isspace((unsigned char)s[0]) || isspace((unsigned char)s[n - 1])) {
        return 0;
    }
    /* U+00A0 (C2 A0) at either end is whitespace too. */
    if ((n >= 2 && (unsigned char)s[0] == 0xC2 && (unsigned char)s[1] == 0xA0) ||
        (n >= 2 && (unsigned char)s[n - 2] == 0xC2 && (unsigned char)s[n - 1] == 0xA0)) {
        return 0;
    }
    return strpbrk(s, "\r\n") == NULL && strstr(s, "\xE2\x80\xA8") == NULL &&
           strstr(s, "\xE2\x80\xA9") == NULL;
}

/* 8-4-4-4-12 hex digits (JSON Schema "uuid" format). */
static int uuid_ok(const char *s)
{
    if (strlen(s) != 36) {
        return 0;
    }
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-') {
                return 0;
            }
        } else if (!isxdigit((unsigned char)s[i])) {
            return 0;
        }
    }
    return 1;
}

static int digits(const char *s, int n, int *out)
{
    int v = 0;

    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i])) {
            return 0;
        }
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 1;
}

/* RFC 3339 date-time: YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM). */
static int rfc3339_ok(const char *s)
{
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int y, mo, d, h, mi, sec, oh, om;

    if (strlen(s) < 20 || !digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &mo) ||
        s[7] != '-' || !digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't') ||
        !digits(s + 11, 2, &h) || s[13] != ':' || !digits(s + 14, 2, &mi) || s[16] != ':' ||
        !digits(s + 17, 2, &sec)) {
        return 0;
    }
    if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 || mi > 59 || sec > 60) {
        return 0;
    }
    if (mo == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)) {
        return 0;
    }
    const char *p = s + 19;

    if (*p == '.') {
        p++;
        if (!isdigit((unsigned char)*p)) {
            return 0;
        }
        while (isdigit((unsigned char)*p)) {
            p++;
        }
    }
    if ((*p == 'Z' || *p == 'z') && p[1] == '\0') {
        return 1;
    }
    return (*p == '+' || *p == '-') && digits(p + 1, 2, &oh) && p[3] == ':' &&
           digits(p + 4, 2, &om) && p[6] == '\0' && oh <= 23 && om <= 59;
}

/* A string member: required or not, length bounds in code points. Returns the value or
 * NULL (absent or invalid; invalid records the error). */
static const char *str_field(vctx_t *v, json_t *obj, const char *path, const char *name,
                             int required, size_t minlen, size_t maxlen)
{
    json_t *j = json_object_get(obj, name);
    size_t n;

    if (!j) {
        if (required) {
            fail(v, "%s must have required property '%s'", path, name);
        }
        return NULL;
    }
    if (!json_is_string(j)) {
        fail(v, "%s/%s must be string", path, name);
        return NULL;
    }
    n = u8len(json_string_value(j));
    if (n < minlen) {
        fail(v, "%s/%s must NOT have fewer than %zu characters", path, name, minlen);
        return NULL;
    }
    if (n > maxlen) {
        fail(v, "%s/%s must NOT have more than %zu characters", path, name, maxlen);
        return NULL;
    }
    return json_string_value(j);
}

/* An integer member within [min, max] (a JSON number with an integral value counts, as
 * in JSON Schema). Returns 1 when present and valid. */
static int int_field(vctx_t *v, json_t *obj, const char *path, const char *name, int64_t min,
                     int64_t max, int64_t *out)
{
    json_t *j = json_object_get(obj, name);
    int64_t val;

    if (!j) {
        fail(v, "%s must have required property '%s'", path, name);
        return 0;
    }
    if (json_is_integer(j)) {
        val = (int64_t)json_integer_value(j);
    } else if (json_is_real(j) && json_real_value(j) == (double)(int64_t)json_real_value(j) &&
               json_real_value(j) < 9.2e18 && json_real_value(j) > -9.2e18) {
        val = (int64_t)json_real_value(j);
    } else {
        fail(v, "%s/%s must be integer", path, name);
        return 0;
    }
    if (val < min) {
        fail(v, "%s/%s must be >= %lld", path, name, (long long)min);
        return 0;
    }
    if (val > max) {
        fail(v, "%s/%s must be <= %lld", path, name, (long long)max);
        return 0;
    }
    *out = val;
    return 1;
}

static int enum_field(vctx_t *v, json_t *obj, const char *path, const char *name,
                      const char *const *allowed, const char **out)
{
    const char *s = str_field(v, obj, path, name, 1, 0, 1024);

    if (!s) {
        return 0;
    }
    for (size_t i = 0; allowed[i]; i++) {
        if (strcmp(s, allowed[i]) == 0) {
            *out = s;
            return 1;
        }
    }
    fail(v, "%s/%s must be equal to one of the allowed values", path, name);
    return 0;
}

static void parse_stock(vctx_t *v, json_t *root, inv_stock_t *st)
{
    static const char *const names[] = {"good_online", "allocated",   "safety_stock",
                                        "damaged",     "quarantined", "good_offline"};
    int64_t *dst[] = {&st->good_online, &st->allocated,   &st->safety_stock,
                      &st->damaged,     &st->quarantined, &st->good_offline};
    json_t *stock = json_object_get(root, "stock");
    const char *k;
    json_t *val;

    if (!stock) {
        fail(v, " must have required property 'stock'");
        return;
    }
    if (!json_is_object(stock)) {
        fail(v, "/stock must be object");
        return;
    }
    json_object_foreach(stock, k, val)
    {
        int known = 0;

        for (size_t i = 0; i < 6; i++) {
            known |= strcmp(k, names[i]) == 0;
        }
        if (!known) {
            fail(v, "/stock must NOT have additional properties ('%s')", k);
            return;
        }
    }
    for (size_t i = 0; i < 6; i++) {
        int_field(v, stock, "/stock", names[i], 0, 2147483647LL, dst[i]);
    }
}

static const char *const zone_classes[] = {"online", "offline", NULL};

static void parse_putaway(vctx_t *v, json_t *root)
{
    static const char *const qc[] = {"GOOD", "BAD", "QC_PENDING", NULL};
    json_t *p = json_object_get(root, "putaway");
    const char *s;
    int64_t q;

    if (!p) {
        fail(v, " must have required property 'putaway'");
        return;
    }
    if (!json_is_object(p)) {
        fail(v, "/putaway must be object");
        return;
    }
    str_field(v, p, "/putaway", "putaway_id", 1, 1, 128);
    str_field(v, p, "/putaway", "zone", 1, 1, 64);
    enum_field(v, p, "/putaway", "zone_class", zone_classes, &s);
    int_field(v, p, "/putaway", "quantity", 1, 2147483647LL, &q);
    enum_field(v, p, "/putaway", "qc_status", qc, &s);
    str_field(v, p, "/putaway", "source", 0, 0, 64);
}

static int parse_move(vctx_t *v, json_t *root)
{
    json_t *m = json_object_get(root, "move");
    const char *from = NULL, *to = NULL;
    int64_t q;

    if (!m) {
        fail(v, " must have required property 'move'");
        return 0;
    }
    if (!json_is_object(m)) {
        fail(v, "/move must be object");
        return 0;
    }
    str_field(v, m, "/move", "move_id", 1, 1, 128);
    int_field(v, m, "/move", "quantity", 1, 2147483647LL, &q);
    str_field(v, m, "/move", "from_zone", 1, 1, 64);
    enum_field(v, m, "/move", "from_class", zone_classes, &from);
    str_field(v, m, "/move", "to_zone", 1, 1, 64);
    enum_field(v, m, "/move", "to_class", zone_classes, &to);
    str_field(v, m, "/move", "reason", 0, 0, 255);
    return from && to && strcmp(from, to) != 0;
}

/* The envelope (schemas/common.v1.schema.json#/$defs/wms_envelope). */
static void parse_envelope(vctx_t *v, json_t *root, inv_kind_t expect, inv_event_t *out)
{
    static const char *const types[] = {"putaway", "zone_move", "dispatch", "delivery_status",
                                        NULL};
    const char *s, *type = NULL;
    int64_t ver;

    if (!int_field(v, root, "", "schema_version", 1, INT64_MAX, &ver)) {
        return;
    }
    if (ver != 1) {
        fail(v, "unsupported schema_version %lld (accepted: 1)", (long long)ver);
        return;
    }
    s = str_field(v, root, "", "event_id", 1, 0, 64);
    if (s && !uuid_ok(s)) {
        fail(v, "/event_id must match format \"uuid\"");
    } else if (s) {
        snprintf(out->event_id, sizeof(out->event_id), "%s", s);
    }
    if (enum_field(v, root, "", "event_type", types, &type)) {
        inv_kind_t k = !strcmp(type, "putaway")     ? INV_PUTAWAY
                       : !strcmp(type, "zone_move") ? INV_ZONE_MOVE
                                                    : INV_ANY;

        if (k == INV_ANY || (expect != INV_ANY && k != expect)) {
            fail(v, "/event_type must be equal to constant \"%s\"",
                 expect == INV_ZONE_MOVE ? "zone_move" : "putaway");
        }
        out->kind = k;
    }
    s = str_field(v, root, "", "occurred_at", 1, 0, 64);
    if (s && !rfc3339_ok(s)) {
        fail(v, "/occurred_at must match format \"date-time\"");
    }
    s = str_field(v, root, "", "tenant", 0, 1, 64);
    if (s && !code_ok(s)) {
        fail(v, "/tenant must match pattern \"^[A-Za-z0-9][A-Za-z0-9_.-]*$\"");
    } else if (s) {
        snprintf(out->tenant, sizeof(out->tenant), "%s", s);
    }
    s = str_field(v, root, "", "store", 0, 16, 255);
    if (s && !domain_ok(s)) {
        fail(v, "/store must match pattern \"^[a-z0-9][a-z0-9-]*\\.myshopify\\.com$\"");
    } else if (s) {
        snprintf(out->store, sizeof(out->store), "%s", s);
    }
    if (!v->failed && !out->tenant[0] && !out->store[0]) {
        fail(v, " must have required property 'tenant' (or 'store')");
    }
    str_field(v, root, "", "producer", 0, 0, 255);
    str_field(v, root, "", "correlation_id", 0, 0, 255);
}

inv_parse_t inv_event_parse(const char *buf, size_t len, inv_kind_t expect, inv_event_t *out,
                            char *err, size_t err_size)
{
    vctx_t v = {err, err_size, 0};
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
    s = str_field(&v, root, "", "facility", 1, 1, 64);
    if (s && !code_ok(s)) {
        fail(&v, "/facility must match pattern \"^[A-Za-z0-9][A-Za-z0-9_.-]*$\"");
    } else if (s) {
        snprintf(out->facility, sizeof(out->facility), "%s", s);
    }
    s = str_field(&v, root, "", "sku", 1, 1, 255);
    if (s && !sku_ok(s)) {
        fail(&v, "/sku must match pattern \"^\\S(.*\\S)?$\"");
    } else if (s) {
        snprintf(out->sku, sizeof(out->sku), "%s", s);
    }
    int_field(&v, root, "", "sequence", 0, 9007199254740991LL, &out->sequence);
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
