/*
 * WMS event checks (see validate.h), moved here from workers/inventory/event.c so that
 * every WMS consumer rejects the same envelope with the same words.
 */
#include "dockhand/validate.h"

#include <stdarg.h>

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

void dh_v_fail(dh_vctx_t *v, const char *fmt, ...)
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
size_t dh_v_u8len(const char *s)
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
int dh_v_code_ok(const char *s)
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
int dh_v_domain_ok(const char *s)
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
int dh_v_sku_ok(const char *s)
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
int dh_v_uuid_ok(const char *s)
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
int dh_v_rfc3339_ok(const char *s)
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
const char *dh_v_str(dh_vctx_t *v, json_t *obj, const char *path, const char *name, int required,
                     size_t minlen, size_t maxlen)
{
    json_t *j = json_object_get(obj, name);
    size_t n;

    if (!j) {
        if (required) {
            dh_v_fail(v, "%s must have required property '%s'", path, name);
        }
        return NULL;
    }
    if (!json_is_string(j)) {
        dh_v_fail(v, "%s/%s must be string", path, name);
        return NULL;
    }
    n = dh_v_u8len(json_string_value(j));
    if (n < minlen) {
        dh_v_fail(v, "%s/%s must NOT have fewer than %zu characters", path, name, minlen);
        return NULL;
    }
    if (n > maxlen) {
        dh_v_fail(v, "%s/%s must NOT have more than %zu characters", path, name, maxlen);
        return NULL;
    }
    return json_string_value(j);
}

int dh_v_real_is_integral(double d)
{
    return isfinite(d) && d == trunc(d);
}

int dh_v_real_to_i64(double d, int64_t *out)
{
    /* Compare as doubles first: converting a double outside int64_t's range is undefined
     * behaviour (UBSan float-cast-overflow). -2^63 and 2^63 are exact doubles. */
    if (!dh_v_real_is_integral(d) || d < -9223372036854775808.0 || d >= 9223372036854775808.0) {
        return 0;
    }
    *out = (int64_t)d;
    return 1;
}

int64_t dh_v_real_clamp_i64(double d, int64_t lo, int64_t hi)
{
    int64_t v;

    /* Outside int64_t as a double first (NaN goes low); then compare exactly as integers. */
    if (isnan(d) || d <= -9223372036854775808.0) {
        return lo;
    }
    if (d >= 9223372036854775808.0) {
        return hi;
    }
    v = (int64_t)d;
    return v < lo ? lo : v > hi ? hi : v;
}

/* An integer member within [min, max] (a JSON number with an integral value counts, as
 * in JSON Schema). Returns 1 when present and valid. */
int dh_v_int(dh_vctx_t *v, json_t *obj, const char *path, const char *name, int64_t min,
             int64_t max, int64_t *out)
{
    json_t *j = json_object_get(obj, name);
    int64_t val;

    if (!j) {
        dh_v_fail(v, "%s must have required property '%s'", path, name);
        return 0;
    }
    if (json_is_integer(j)) {
        val = (int64_t)json_integer_value(j);
    } else if (!json_is_real(j) || !dh_v_real_is_integral(json_real_value(j))) {
        dh_v_fail(v, "%s/%s must be integer", path, name);
        return 0;
    } else if (!dh_v_real_to_i64(json_real_value(j), &val)) {
        /* Integral but beyond int64_t: outside every range a caller can ask for. */
        val = json_real_value(j) < 0 ? INT64_MIN : INT64_MAX;
        dh_v_fail(v, "%s/%s must be %s %lld", path, name,
                  val < 0 ? ">=" : "<=", (long long)(val < 0 ? min : max));
        return 0;
    }
    if (val < min) {
        dh_v_fail(v, "%s/%s must be >= %lld", path, name, (long long)min);
        return 0;
    }
    if (val > max) {
        dh_v_fail(v, "%s/%s must be <= %lld", path, name, (long long)max);
        return 0;
    }
    *out = val;
    return 1;
}

int dh_v_enum(dh_vctx_t *v, json_t *obj, const char *path, const char *name,
              const char *const *allowed, const char **out)
{
    const char *s = dh_v_str(v, obj, path, name, 1, 0, 1024);

    if (!s) {
        return 0;
    }
    for (size_t i = 0; allowed[i]; i++) {
        if (strcmp(s, allowed[i]) == 0) {
            *out = s;
            return 1;
        }
    }
    dh_v_fail(v, "%s/%s must be equal to one of the allowed values", path, name);
    return 0;
}

/* ^[1-9][0-9]{0,19}$ */
int dh_v_shopify_id_ok(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > 20 || s[0] < '1' || s[0] > '9') {
        return 0;
    }
    for (size_t i = 1; i < n; i++) {
        if (!isdigit((unsigned char)s[i])) {
            return 0;
        }
    }
    return 1;
}

int dh_v_shopify_id(json_t *v, char *out, size_t size)
{
    if (!json_is_integer(v) || json_integer_value(v) < 1) {
        return 0;
    }
    snprintf(out, size, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    return 1;
}

int dh_v_shopify_ref(json_t *v, char *out, size_t size)
{
    static const char gid[] = "gid://shopify/";
    const char *s = json_string_value(v), *slash;

    if (dh_v_shopify_id(v, out, size)) {
        return 1;
    }
    if (!s) {
        return 0;
    }
    /* "gid://shopify/Order/123": exactly one more '/', then the digits. */
    if (!strncmp(s, gid, sizeof(gid) - 1)) {
        slash = strchr(s + sizeof(gid) - 1, '/');
        if (!slash || slash == s + sizeof(gid) - 1 || strchr(slash + 1, '/')) {
            return 0;
        }
        s = slash + 1;
    }
    if (!dh_v_shopify_id_ok(s)) {
        return 0;
    }
    snprintf(out, size, "%s", s);
    return 1;
}

int dh_v_shopify_hold_order_id(json_t *root, char *out, size_t size)
{
    json_t *cands[] = {json_object_get(root, "order_id"),
                       json_object_get(json_object_get(root, "fulfillment_order"), "order_id"),
                       json_object_get(json_object_get(root, "fulfillment_hold"), "order_id")};

    for (size_t i = 0; i < sizeof(cands) / sizeof(cands[0]); i++) {
        if (dh_v_shopify_ref(cands[i], out, size)) {
            return 1;
        }
    }
    return 0;
}

int dh_v_shopify_fo_id(json_t *root, char *out, size_t size)
{
    json_t *cands[] = {json_object_get(json_object_get(root, "fulfillment_order"), "id"),
                       json_object_get(json_object_get(root, "original_fulfillment_order"), "id")};

    for (size_t i = 0; i < sizeof(cands) / sizeof(cands[0]); i++) {
        if (dh_v_shopify_ref(cands[i], out, size)) {
            return 1;
        }
    }
    return 0;
}

void dh_v_wms_envelope(dh_vctx_t *v, json_t *root, const char *const *accepted,
                       dh_wms_envelope_t *out)
{
    static const char *const types[] = {"putaway",         "zone_move",       "dispatch",
                                        "delivery_status", "return_received", NULL};
    const char *s, *type = NULL;
    int64_t ver;

    if (!dh_v_int(v, root, "", "schema_version", 1, INT64_MAX, &ver)) {
        return;
    }
    if (ver != 1) {
        dh_v_fail(v, "unsupported schema_version %lld (accepted: 1)", (long long)ver);
        return;
    }
    s = dh_v_str(v, root, "", "event_id", 1, 0, 64);
    if (s && !dh_v_uuid_ok(s)) {
        dh_v_fail(v, "/event_id must match format \"uuid\"");
    } else if (s) {
        snprintf(out->event_id, sizeof(out->event_id), "%s", s);
    }
    if (dh_v_enum(v, root, "", "event_type", types, &type)) {
        int ok = 0;

        for (size_t i = 0; accepted[i]; i++) {
            ok |= strcmp(type, accepted[i]) == 0;
        }
        if (!ok) {
            dh_v_fail(v, "/event_type must be equal to constant \"%s\"", accepted[0]);
        }
        snprintf(out->event_type, sizeof(out->event_type), "%s", type);
    }
    s = dh_v_str(v, root, "", "occurred_at", 1, 0, 64);
    if (s && !dh_v_rfc3339_ok(s)) {
        dh_v_fail(v, "/occurred_at must match format \"date-time\"");
    }
    s = dh_v_str(v, root, "", "tenant", 0, 1, 64);
    if (s && !dh_v_code_ok(s)) {
        dh_v_fail(v, "/tenant must match pattern \"^[A-Za-z0-9][A-Za-z0-9_.-]*$\"");
    } else if (s) {
        snprintf(out->tenant, sizeof(out->tenant), "%s", s);
    }
    s = dh_v_str(v, root, "", "store", 0, 16, 255);
    if (s && !dh_v_domain_ok(s)) {
        dh_v_fail(v, "/store must match pattern \"^[a-z0-9][a-z0-9-]*\\.myshopify\\.com$\"");
    } else if (s) {
        snprintf(out->store, sizeof(out->store), "%s", s);
    }
    if (!v->failed && !out->tenant[0] && !out->store[0]) {
        dh_v_fail(v, " must have required property 'tenant' (or 'store')");
    }
    dh_v_str(v, root, "", "producer", 0, 0, 255);
    dh_v_str(v, root, "", "correlation_id", 0, 0, 255);
    snprintf(out->scope, sizeof(out->scope), "%s", out->store[0] ? out->store : out->tenant);
}
