/*
 * dh-catalog's pure core: a Shopify product (webhook REST shape or GraphQL nodes) ->
 * one WMS upsertSku body per variant (schemas/wms-api.openapi.yaml SkuUpsert).
 *
 * Rules (docs/catalogue.md): the Style Code is the value of the option named "Style
 * Code", else the configured metafield; the one image is the variant's own image, else
 * the product's featured image; a variant without SKU gets no body (reported, never
 * invented); two variants of one product with the same SKU are both marked (neither is
 * sent). No I/O here.
 */
#include <ctype.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "catalog.h"

int cat_id(json_t *v, char *out, size_t size)
{
    const char *s = json_string_value(v);

    if (json_is_integer(v) && json_integer_value(v) > 0) {
        snprintf(out, size, "%lld", (long long)json_integer_value(v));
        return 0;
    }
    if (!s) {
        return -1;
    }
    if (strncmp(s, "gid://shopify/", 14) == 0) {
        const char *slash = strrchr(s, '/');

        s = slash + 1;
    }
    size_t n = strspn(s, "0123456789");

    if (n == 0 || n >= size || (s[n] != '\0' && s[n] != '?')) {
        return -1;
    }
    snprintf(out, size, "%.*s", (int)n, s);
    return 0;
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar (timegm() is not
 * POSIX 2008). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

    return era * 146097 + doe - 719468;
}

int64_t cat_time_ms(const char *s)
{
    int y, mo, d, h, mi, n = 0;
    double sec;

    if (!s || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%lf%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6) {
        return -1;
    }
    if (mo < 1 || mo > 12 || d < 1 || d > 31) {
        return -1;
    }
    int64_t t = (days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60) * 1000 +
                (int64_t)(sec * 1000.0 + 0.5);
    const char *z = s + n;

    if (*z == '+' || *z == '-') {
        int oh = 0, om = 0;

        if (sscanf(z + 1, "%2d:%2d", &oh, &om) != 2) {
            return -1;
        }
        t -= (*z == '+' ? 1 : -1) * (int64_t)(oh * 3600 + om * 60) * 1000;
    } else if (*z != 'Z' && *z != 'z') {
        return -1;
    }
    return t;
}

int cat_fingerprint(json_t *body, char out[65])
{
    char *text = json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    int rc = -1;

    out[0] = '\0';
    if (!text) {
        return -1;
    }
    if (EVP_Digest(text, strlen(text), md, &mdlen, EVP_sha256(), NULL) && mdlen == 32) {
        for (unsigned i = 0; i < mdlen; i++) {
            snprintf(out + 2 * i, 3, "%02x", md[i]);
        }
        rc = 0;
    }
    free(text);
    return rc;
}

json_t *cat_body_archived(json_t *body)
{
    json_t *b = json_deep_copy(body);

    if (b) {
        json_object_set_new(b, "status", json_string("ARCHIVED"));
    }
    return b;
}

void cat_product_clear(cat_product_t *p)
{
    for (size_t i = 0; p && i < p->nv; i++) {
        json_decref(p->v[i].body);
    }
    if (p) {
        free(p->v);
        memset(p, 0, sizeof(*p));
    }
}

/* ---- the body ---- */

/* What one variant contributes, borrowed from the parsed JSON. */
typedef struct fields {
    const char *sku, *ptitle, *vtitle, *style, *image, *barcode, *price;
    json_t *options; /* [{name, value}] (owned) */
    json_t *weight;  /* {value, unit} or NULL (owned) */
} fields_t;

static int text_ok(const char *s, size_t max)
{
    return s && *s && strlen(s) <= max;
}

static void set_str(json_t *o, const char *k, const char *v, size_t max)
{
    if (text_ok(v, max)) {
        json_object_set_new(o, k, json_string(v));
    }
}

/* "Classic Tee - Black / M", or the product title alone for a single default variant. */
static void title_of(const fields_t *f, char *buf, size_t size)
{
    const char *p = f->ptitle && *f->ptitle ? f->ptitle : "Untitled product";

    if (f->vtitle && *f->vtitle && strcmp(f->vtitle, "Default Title") != 0) {
        snprintf(buf, size, "%s - %s", p, f->vtitle);
    } else {
        snprintf(buf, size, "%s", p);
    }
}

static void make_body(const cat_product_t *p, cat_variant_t *v, fields_t *f)
{
    char title[513];
    json_t *b;

    title_of(f, title, sizeof(title));
    snprintf(v->title, sizeof(v->title), "%.159s", title);
    snprintf(v->sku, sizeof(v->sku), "%s", f->sku && strlen(f->sku) < sizeof(v->sku) ? f->sku : "");
    if (!v->sku[0]) {
        json_decref(f->options);
        json_decref(f->weight);
        return;
    }
    b = json_pack("{s:s, s:s, s:s, s:s, s:s}", "sku", v->sku, "title", title, "shopify_product_id",
                  p->id, "shopify_variant_id", v->id, "status",
                  p->archived ? "ARCHIVED" : "ACTIVE");
    if (!b) {
        return;
    }
    set_str(b, "style_code", f->style, 128);
    set_str(b, "image_url", f->image, 2048);
    set_str(b, "barcode", f->barcode, 64);
    set_str(b, "price", f->price, 32);
    if (v->item_id[0]) {
        json_object_set_new(b, "inventory_item_id", json_string(v->item_id));
    }
    if (json_array_size(f->options) > 0) {
        json_object_set(b, "options", f->options);
    }
    if (f->weight) {
        json_object_set(b, "weight", f->weight);
    }
    json_decref(f->options);
    json_decref(f->weight);
    v->body = b;
    cat_fingerprint(b, v->fp);
}

/* Both variants of a repeated SKU within the product are marked, and neither is sent. */
static void mark_dups(cat_product_t *p)
{
    for (size_t i = 0; i < p->nv; i++) {
        for (size_t k = i + 1; k < p->nv; k++) {
            if (p->v[i].sku[0] && strcmp(p->v[i].sku, p->v[k].sku) == 0) {
                p->v[i].dup_in_product = p->v[k].dup_in_product = 1;
            }
        }
    }
}

static const char *style_from_metafields(json_t *mfs, const char *want)
{
    const char *dot = want ? strchr(want, '.') : NULL;
    size_t i;
    json_t *m;

    if (!dot) {
        return NULL;
    }
    json_array_foreach(mfs, i, m)
    {
        const char *ns = json_string_value(json_object_get(m, "namespace"));
        const char *key = json_string_value(json_object_get(m, "key"));

        if (ns && key && strlen(ns) == (size_t)(dot - want) &&
            strncmp(ns, want, (size_t)(dot - want)) == 0 && strcmp(key, dot + 1) == 0) {
            return json_string_value(json_object_get(m, "value"));
        }
    }
    return NULL;
}

static int is_style_option(const char *name)
{
    size_t n;

    if (!name) {
        return 0;
    }
    while (isspace((unsigned char)*name)) {
        name++;
    }
    n = strlen(name);
    while (n > 0 && isspace((unsigned char)name[n - 1])) {
        n--;
    }
    return n == strlen(CATALOG_STYLE_OPTION) && strncasecmp(name, CATALOG_STYLE_OPTION, n) == 0;
}

/* A product without options has one option "Title" = "Default Title": not an option. */
static int default_option(const char *name, const char *val)
{
    return strcmp(name, "Title") == 0 && strcmp(val, "Default Title") == 0;
}

/* ---- REST (webhooks) ---- */

/* REST weight units -> the WMS's (Shopify's GraphQL WeightUnit names). */
static json_t *rest_weight(json_t *v)
{
    static const char *const units[][2] = {
        {"g", "GRAMS"}, {"kg", "KILOGRAMS"}, {"oz", "OUNCES"}, {"lb", "POUNDS"}};
    json_t *w = json_object_get(v, "weight");
    const char *u = json_string_value(json_object_get(v, "weight_unit"));

    if (!json_is_number(w) || !u) {
        return NULL; /* removed from product webhooks in recent API versions */
    }
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcmp(u, units[i][0]) == 0) {
            return json_pack("{s:f, s:s}", "value", json_number_value(w), "unit", units[i][1]);
        }
    }
    return NULL;
}

static const char *rest_image(json_t *prod, json_t *var)
{
    json_t *img_id = json_object_get(var, "image_id");
    size_t i;
    json_t *img;

    if (json_is_integer(img_id)) {
        json_array_foreach(json_object_get(prod, "images"), i, img)
        {
            if (json_equal(json_object_get(img, "id"), img_id)) {
                return json_string_value(json_object_get(img, "src"));
            }
        }
    }
    img = json_object_get(prod, "image");
    if (json_is_object(img)) {
        return json_string_value(json_object_get(img, "src"));
    }
    /* images[] is in position order: the first is the featured image */
    return json_string_value(
        json_object_get(json_array_get(json_object_get(prod, "images"), 0), "src"));
}

static int rest_variant(json_t *prod, json_t *var, size_t idx, const cat_opts_t *o,
                        cat_product_t *p, char *err, size_t err_size)
{
    cat_variant_t *v = &p->v[idx];
    json_t *opts = json_object_get(prod, "options");
    fields_t f = {0};
    size_t i;
    json_t *opt;

    if (cat_id(json_object_get(var, "id"), v->id, sizeof(v->id))) {
        snprintf(err, err_size, "/variants/%zu/id must be a Shopify id", idx);
        return -1;
    }
    cat_id(json_object_get(var, "inventory_item_id"), v->item_id, sizeof(v->item_id));
    f.sku = json_string_value(json_object_get(var, "sku"));
    f.ptitle = json_string_value(json_object_get(prod, "title"));
    f.vtitle = json_string_value(json_object_get(var, "title"));
    f.barcode = json_string_value(json_object_get(var, "barcode"));
    f.price = json_string_value(json_object_get(var, "price"));
    f.image = rest_image(prod, var);
    f.options = json_array();
    f.weight = rest_weight(var);
    json_array_foreach(opts, i, opt)
    {
        json_t *pos = json_object_get(opt, "position");
        char field[16];

        snprintf(field, sizeof(field), "option%lld",
                 json_is_integer(pos) ? (long long)json_integer_value(pos) : (long long)i + 1);
        const char *name = json_string_value(json_object_get(opt, "name"));
        const char *val = json_string_value(json_object_get(var, field));

        if (!name || !val || default_option(name, val)) {
            continue;
        }
        json_array_append_new(f.options, json_pack("{s:s, s:s}", "name", name, "value", val));
        if (is_style_option(name)) {
            f.style = val;
        }
    }
    if (!f.style) {
        f.style = style_from_metafields(json_object_get(prod, "metafields"), o->style_metafield);
    }
    make_body(p, v, &f);
    return 0;
}

int cat_product_from_rest(const char *buf, size_t len, const char *topic, const cat_opts_t *o,
                          cat_product_t *out, char *err, size_t err_size)
{
    json_error_t je;
    json_t *root = json_loadb(buf, len, 0, &je);
    json_t *vars, *var;
    size_t i;
    int rc = -1;

    memset(out, 0, sizeof(*out));
    out->updated_ms = -1;
    if (!json_is_object(root)) {
        snprintf(err, err_size, "not a JSON object: %s", root ? "" : je.text);
        goto out;
    }
    if (cat_id(json_object_get(root, "id"), out->id, sizeof(out->id))) {
        snprintf(err, err_size, "/id must be a Shopify id");
        goto out;
    }
    if (topic && strcmp(topic, "products/delete") == 0) {
        out->deleted = 1;
        rc = 0;
        goto out;
    }
    vars = json_object_get(root, "variants");
    if (!json_is_array(vars)) {
        snprintf(err, err_size, "/variants must be an array");
        goto out;
    }
    out->updated_ms = cat_time_ms(json_string_value(json_object_get(root, "updated_at")));
    out->archived = json_string_value(json_object_get(root, "status")) &&
                    strcmp(json_string_value(json_object_get(root, "status")), "archived") == 0;
    out->v = calloc(json_array_size(vars) + 1, sizeof(*out->v));
    if (!out->v) {
        snprintf(err, err_size, "out of memory");
        goto out;
    }
    json_array_foreach(vars, i, var)
    {
        if (rest_variant(root, var, i, o, out, err, err_size)) {
            goto out;
        }
        out->nv++;
    }
    mark_dups(out);
    rc = 0;
out:
    if (rc) {
        cat_product_clear(out);
    }
    json_decref(root);
    return rc;
}

/* ---- GraphQL (bulk JSONL, paginated products) ---- */

static const char *gql_image(json_t *var, json_t *prod)
{
    const char *own = json_string_value(json_object_get(json_object_get(var, "image"), "url"));

    if (own && *own) {
        return own;
    }
    return json_string_value(
        json_object_get(json_object_get(json_object_get(prod, "featuredMedia"), "image"), "url"));
}

static json_t *gql_weight(json_t *var)
{
    json_t *w = json_object_get(
        json_object_get(json_object_get(json_object_get(var, "inventoryItem"), "measurement"),
                        "weight"),
        "value");
    json_t *u = json_object_get(
        json_object_get(json_object_get(json_object_get(var, "inventoryItem"), "measurement"),
                        "weight"),
        "unit");

    if (!json_is_number(w) || !json_is_string(u) || json_number_value(w) <= 0) {
        return NULL;
    }
    return json_pack("{s:f, s:O}", "value", json_number_value(w), "unit", u);
}

static void gql_variant(json_t *prod, json_t *var, json_t *mfs, const cat_opts_t *o,
                        cat_variant_t *v, cat_product_t *p)
{
    fields_t f = {0};
    size_t i;
    json_t *so;

    cat_id(json_object_get(json_object_get(var, "inventoryItem"), "id"), v->item_id,
           sizeof(v->item_id));
    f.sku = json_string_value(json_object_get(var, "sku"));
    f.ptitle = json_string_value(json_object_get(prod, "title"));
    f.vtitle = json_string_value(json_object_get(var, "title"));
    f.barcode = json_string_value(json_object_get(var, "barcode"));
    f.price = json_string_value(json_object_get(var, "price"));
    f.image = gql_image(var, prod);
    f.options = json_array();
    f.weight = gql_weight(var);
    json_array_foreach(json_object_get(var, "selectedOptions"), i, so)
    {
        const char *name = json_string_value(json_object_get(so, "name"));
        const char *val = json_string_value(json_object_get(so, "value"));

        if (!name || !val || default_option(name, val)) {
            continue;
        }
        json_array_append_new(f.options, json_pack("{s:s, s:s}", "name", name, "value", val));
        if (is_style_option(name)) {
            f.style = val;
        }
    }
    if (!f.style) {
        f.style = style_from_metafields(mfs, o->style_metafield);
    }
    make_body(p, v, &f);
}

int cat_product_from_gql(json_t *product, json_t *variants, json_t *metafields, const cat_opts_t *o,
                         cat_product_t *out, char *err, size_t err_size)
{
    const char *status = json_string_value(json_object_get(product, "status"));
    size_t i;
    json_t *var;

    memset(out, 0, sizeof(*out));
    if (cat_id(json_object_get(product, "id"), out->id, sizeof(out->id))) {
        snprintf(err, err_size, "product id is not a Product GID");
        return -1;
    }
    out->updated_ms = cat_time_ms(json_string_value(json_object_get(product, "updatedAt")));
    out->archived = status && strcmp(status, "ARCHIVED") == 0;
    out->v = calloc(json_array_size(variants) + 1, sizeof(*out->v));
    if (!out->v) {
        snprintf(err, err_size, "out of memory");
        return -1;
    }
    json_array_foreach(variants, i, var)
    {
        cat_variant_t *v = &out->v[out->nv];

        if (cat_id(json_object_get(var, "id"), v->id, sizeof(v->id))) {
            continue; /* not a variant line */
        }
        gql_variant(product, var, metafields, o, v, out);
        out->nv++;
    }
    mark_dups(out);
    return 0;
}
