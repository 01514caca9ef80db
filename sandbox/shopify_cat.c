/*
 * shopify_cat: the catalogue's shapes and Shopify's bulk query operations.
 *
 * A stored product is {title, status, options: ["Size", ...], images: [src, ...] (the
 * first is the featured image), metafields: [{namespace, key, value}], variant_ids};
 * a variant {sku, price, barcode, title, option1..3, image: src, weight: {value, unit}}.
 * The seed's older "image_url" and "style_code" keys still work (one image; a
 * custom.style_code metafield).
 *
 * Bulk operations (docs/sandbox.md): bulkOperationRunQuery runs the inner query over a
 * snapshot of the store and writes a JSONL file, one line per node, nested connection
 * nodes on their own lines after their parent with "__parentId"; bulkOperation(id:)
 * reports status, objectCount, rootObjectCount and the file's url, served by
 * GET /_bulk/{shop}/{id}.jsonl with Range support. One bulk query runs at a time.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gql.h"
#include "shopify.h"

static json_int_t num(const char *s)
{
    return (json_int_t)strtoll(s ? s : "0", NULL, 10);
}

/* The product's images as src strings (new reference). */
static json_t *images_of(json_t *p)
{
    json_t *imgs = json_object_get(p, "images");
    json_t *one = json_object_get(p, "image_url");

    if (json_is_array(imgs)) {
        return json_incref(imgs);
    }
    return json_is_string(one) ? json_pack("[O]", one) : json_array();
}

static json_t *metafields_of(json_t *p)
{
    json_t *mfs = json_object_get(p, "metafields");
    json_t *style = json_object_get(p, "style_code");

    if (json_is_array(mfs)) {
        return json_incref(mfs);
    }
    if (json_is_string(style)) {
        return json_pack("[{s:s, s:s, s:s, s:O}]", "namespace", "custom", "key", "style_code",
                         "type", "single_line_text_field", "value", style);
    }
    return json_array();
}

/* Image id: product id x 100 + position (stable across webhooks). */
static json_int_t image_id(json_t *p, size_t pos)
{
    return num(json_string_value(json_object_get(p, "id"))) * 100 + (json_int_t)pos + 1;
}

void dh_sb_catalog_product_fields(json_t *p, json_t *o)
{
    json_t *imgs = images_of(p), *opts = json_array();
    const char *first = json_string_value(json_array_get(imgs, 0));
    size_t i;
    json_t *name;

    json_array_foreach(json_object_get(p, "options"), i, name)
    {
        json_array_append_new(opts, json_pack("{s:O, s:i}", "name", name, "position", (int)i + 1));
    }
    json_object_set_new(o, "options", opts);
    json_object_set_new(o, "featuredMedia",
                        first ? json_pack("{s:{s:s, s:n}}", "image", "url", first, "altText")
                              : json_null());
    json_object_set_new(o, "metafields", dh_sb_connection(metafields_of(p), NULL));
    json_decref(imgs);
}

void dh_sb_catalog_variant_fields(json_t *p, json_t *var, json_t *o)
{
    json_t *sel = json_array();
    size_t i;
    json_t *name;

    json_array_foreach(json_object_get(p, "options"), i, name)
    {
        char key[32];

        snprintf(key, sizeof key, "option%zu", i + 1);
        if (json_is_string(json_object_get(var, key))) {
            json_array_append_new(
                sel, json_pack("{s:O, s:O}", "name", name, "value", json_object_get(var, key)));
        }
    }
    if (json_array_size(sel) == 0) {
        json_array_append_new(sel,
                              json_pack("{s:s, s:s}", "name", "Title", "value", "Default Title"));
    }
    json_object_set_new(o, "selectedOptions", sel);
    json_t *img = json_object_get(var, "image");

    json_object_set_new(o, "image",
                        json_is_string(img) ? json_pack("{s:O}", "url", img) : json_null());
    json_t *item = json_object_get(o, "inventoryItem");
    json_t *w = json_object_get(var, "weight");

    if (json_is_object(item)) {
        json_object_set_new(item, "measurement",
                            json_pack("{s:O?}", "weight", json_is_object(w) ? w : NULL));
    }
}

/* ---- REST (webhooks) ---- */

static json_t *rest_images(dh_sb_shop_t *shop, json_t *p, json_t *imgs)
{
    json_t *out = json_array();
    size_t i, k;
    json_t *src, *vid;

    json_array_foreach(imgs, i, src)
    {
        json_t *vids = json_array();

        json_array_foreach(json_object_get(p, "variant_ids"), k, vid)
        {
            json_t *v = json_object_get(shop->variants, json_string_value(vid));

            if (json_equal(json_object_get(v, "image"), src)) {
                json_array_append_new(vids, json_integer(num(json_string_value(vid))));
            }
        }
        json_array_append_new(
            out, json_pack("{s:I, s:I, s:i, s:n, s:O, s:o}", "id", image_id(p, i), "product_id",
                           num(json_string_value(json_object_get(p, "id"))), "position", (int)i + 1,
                           "alt", "src", src, "variant_ids", vids));
    }
    return out;
}

/* The distinct values of option \p n (1-based) over the product's variants. */
static json_t *option_values(dh_sb_shop_t *shop, json_t *p, size_t n)
{
    json_t *vals = json_array();
    char key[32];
    size_t i, k;
    json_t *vid, *x;

    snprintf(key, sizeof key, "option%zu", n);
    json_array_foreach(json_object_get(p, "variant_ids"), i, vid)
    {
        json_t *val = json_object_get(json_object_get(shop->variants, json_string_value(vid)), key);
        int seen = !json_is_string(val);

        json_array_foreach(vals, k, x)
        {
            seen |= json_equal(x, val);
        }
        if (!seen) {
            json_array_append(vals, val);
        }
    }
    return vals;
}

static json_t *rest_variant(dh_sb_shop_t *shop, json_t *p, json_t *imgs, const char *vid)
{
    json_t *v = json_object_get(shop->variants, vid);
    const char *img = json_string_value(json_object_get(v, "image"));
    json_t *image = json_null();
    size_t i;
    json_t *src;

    json_array_foreach(imgs, i, src)
    {
        if (img && strcmp(img, json_string_value(src)) == 0) {
            json_decref(image);
            image = json_integer(image_id(p, i));
        }
    }
    return json_pack("{s:I, s:o, s:I, s:O?, s:O?, s:O?, s:O?, s:I, s:O?, s:O?, s:O?, s:o, s:O?}",
                     "id", num(vid), "admin_graphql_api_id", dh_sb_gid_s("ProductVariant", vid),
                     "product_id", num(json_string_value(json_object_get(p, "id"))), "sku",
                     json_object_get(v, "sku"), "price", json_object_get(v, "price"), "barcode",
                     json_object_get(v, "barcode"), "title", json_object_get(v, "title"),
                     "inventory_item_id",
                     num(json_string_value(json_object_get(v, "inventory_item_id"))), "option1",
                     json_object_get(v, "option1"), "option2", json_object_get(v, "option2"),
                     "option3", json_object_get(v, "option3"), "image_id", image, "updated_at",
                     json_object_get(p, "updated_at"));
}

/* Shopify's default handle: the title in lower case, runs of other characters as '-'. */
static json_t *handle_of(json_t *p)
{
    const char *t = json_string_value(json_object_get(p, "title"));
    char h[256];
    size_t n = 0;

    if (json_is_string(json_object_get(p, "handle"))) {
        return json_incref(json_object_get(p, "handle"));
    }
    for (; t && *t && n + 2 < sizeof h; t++) {
        char c = *t;

        if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
            h[n++] = c;
        } else if (c >= 'A' && c <= 'Z') {
            h[n++] = (char)(c - 'A' + 'a');
        } else if (n > 0 && h[n - 1] != '-') {
            h[n++] = '-';
        }
    }
    while (n > 0 && h[n - 1] == '-') {
        n--;
    }
    h[n] = '\0';
    return json_string(n ? h : "product");
}

json_t *dh_sb_product_rest(dh_sb_shop_t *shop, json_t *p)
{
    json_t *imgs = images_of(p), *vars = json_array(), *opts = json_array();
    const char *pid = json_string_value(json_object_get(p, "id"));
    const char *status = json_string_value(json_object_get(p, "status"));
    char low[16];
    size_t i;
    json_t *x;

    json_array_foreach(json_object_get(p, "variant_ids"), i, x)
    {
        json_array_append_new(vars, rest_variant(shop, p, imgs, json_string_value(x)));
    }
    json_array_foreach(json_object_get(p, "options"), i, x)
    {
        json_array_append_new(opts, json_pack("{s:I, s:O, s:i, s:o}", "product_id", num(pid),
                                              "name", x, "position", (int)i + 1, "values",
                                              option_values(shop, p, i + 1)));
    }
    if (json_array_size(opts) == 0) {
        json_array_append_new(opts, json_pack("{s:I, s:s, s:i}", "product_id", num(pid), "name",
                                              "Title", "position", 1));
    }
    snprintf(low, sizeof low, "%s", status ? status : "active");
    for (char *c = low; *c; c++) {
        *c = (char)(*c >= 'A' && *c <= 'Z' ? *c - 'A' + 'a' : *c);
    }
    json_t *rimgs = rest_images(shop, p, imgs);
    json_t *o =
        json_pack("{s:I, s:o, s:O?, s:o, s:s, s:O?, s:O?, s:o, s:o, s:o, s:o}", "id", num(pid),
                  "admin_graphql_api_id", dh_sb_gid_s("Product", pid), "title",
                  json_object_get(p, "title"), "handle", handle_of(p), "status", low, "created_at",
                  json_object_get(p, "created_at"), "updated_at", json_object_get(p, "updated_at"),
                  "variants", vars, "options", opts, "images", rimgs, "image",
                  json_array_size(rimgs) ? json_incref(json_array_get(rimgs, 0)) : json_null());

    if (json_object_get(p, "metafields") || json_object_get(p, "style_code")) {
        /* as a subscription with metafieldNamespaces delivers them */
        json_object_set_new(o, "metafields", metafields_of(p));
    }
    json_decref(imgs);
    return o;
}

/* ---- bulk query operations ---- */

typedef struct jsonl {
    char *buf;
    size_t len, cap;
    long objects, roots;
} jsonl_t;

static void jsonl_add(jsonl_t *j, const char *line)
{
    size_t n = strlen(line);

    if (j->len + n + 2 > j->cap) {
        size_t cap = j->cap ? j->cap * 2 : 1 << 16;

        while (cap < j->len + n + 2) {
            cap *= 2;
        }
        char *nb = realloc(j->buf, cap);

        if (!nb) {
            return;
        }
        j->buf = nb;
        j->cap = cap;
    }
    memcpy(j->buf + j->len, line, n);
    j->len += n;
    j->buf[j->len++] = '\n';
    j->buf[j->len] = '\0';
}

static int is_connection(json_t *v)
{
    return json_is_object(v) && (json_object_get(v, "edges") || json_object_get(v, "nodes"));
}

/* One node per line; its connections' nodes follow on their own lines with __parentId
 * (grouped under their parent, as with groupObjects: true). */
static void jsonl_node(jsonl_t *j, json_t *node, const char *parent)
{
    json_t *line = json_object(), *conns = json_array();
    const char *k;
    json_t *v;

    json_object_foreach(node, k, v)
    {
        if (is_connection(v)) {
            json_array_append(conns, v);
        } else {
            json_object_set(line, k, v);
        }
    }
    if (parent) {
        json_object_set_new(line, "__parentId", json_string(parent));
    }
    char *text = json_dumps(line, JSON_COMPACT);

    if (text) {
        jsonl_add(j, text);
        free(text);
    }
    j->objects++;
    j->roots += parent == NULL;
    const char *id = json_string_value(json_object_get(node, "id"));
    size_t i, n;
    json_t *c, *item;

    json_array_foreach(conns, i, c)
    {
        json_t *nodes = json_object_get(c, "nodes");

        json_array_foreach(nodes ? nodes : json_object_get(c, "edges"), n, item)
        {
            jsonl_node(j, nodes ? item : json_object_get(item, "node"), id);
        }
    }
    json_decref(line);
    json_decref(conns);
}

/* Bulk queries are not paginated: every connection in the inner query returns all. */
static void unpaginate(json_t *node)
{
    size_t i;
    json_t *c;

    if (dh_sb_gql_child(node, "edges") || dh_sb_gql_child(node, "nodes")) {
        json_t *args = json_object_get(node, "args");

        if (!json_is_object(args)) {
            json_object_set_new(node, "args", args = json_object());
        }
        json_object_set_new(args, "first", json_integer(1000000000));
    }
    json_array_foreach(json_object_get(node, "sel"), i, c)
    {
        unpaginate(c);
    }
}

static json_t *bulk_view(dh_sb_state_t *st, dh_sb_shop_t *shop)
{
    json_t *b = json_deep_copy(shop->bulk);
    char url[512];

    if (!b) {
        return json_null();
    }
    if (dh_sb_mono_now() < shop->bulk_ready_at) {
        json_object_set_new(b, "status", json_string("RUNNING"));
        json_object_set_new(b, "objectCount", json_string("0"));
        json_object_set_new(b, "rootObjectCount", json_string("0"));
        json_object_set_new(b, "url", json_null());
        json_object_set_new(b, "fileSize", json_null());
        json_object_set_new(b, "completedAt", json_null());
        return b;
    }
    snprintf(url, sizeof url, "%s/_bulk/%s/%s.jsonl", st->base_url, shop->domain,
             json_string_value(json_object_get(b, "_n")));
    json_object_set_new(b, "url", json_string(url));
    json_object_del(b, "_n");
    return b;
}

json_t *dh_sb_op_bulk_run_query(dh_sb_state_t *st, dh_sb_shop_t *shop, json_t *node, json_t *errors)
{
    const char *q = json_string_value(json_object_get(json_object_get(node, "args"), "query"));
    json_t *roots = NULL, *pnode;
    char op[16], err[256], n[32], now[32];
    jsonl_t j = {0};
    size_t i;
    json_t *pid;

    (void)errors;
    if (shop->bulk && dh_sb_mono_now() < shop->bulk_ready_at) {
        return json_pack("{s:n, s:[o]}", "bulkOperation", "userErrors",
                         dh_sb_user_error("OPERATION_IN_PROGRESS", NULL,
                                          "A bulk query operation for this app and shop is "
                                          "already in progress."));
    }
    if (!q || dh_sb_gql_parse(q, NULL, op, &roots, err, sizeof err) != DH_SB_OK ||
        strcmp(op, "query") != 0 || json_array_size(roots) != 1 ||
        strcmp(json_string_value(json_object_get(json_array_get(roots, 0), "name")), "products")) {
        json_decref(roots);
        return json_pack("{s:n, s:[o]}", "bulkOperation", "userErrors",
                         dh_sb_user_error("INVALID", json_pack("[s]", "query"),
                                          "Invalid bulk query: the sandbox runs products queries "
                                          "only."));
    }
    unpaginate(json_array_get(roots, 0));
    pnode = dh_sb_gql_child(json_array_get(roots, 0), "edges");
    pnode =
        pnode ? dh_sb_gql_child(pnode, "node") : dh_sb_gql_child(json_array_get(roots, 0), "nodes");
    json_array_foreach(shop->product_ids, i, pid)
    {
        json_t *full = dh_sb_product_node(shop, json_string_value(pid), pnode);
        json_t *pruned = dh_sb_gql_prune(json_object_get(pnode, "sel"), full);

        jsonl_node(&j, pruned, NULL);
        json_decref(full);
        json_decref(pruned);
    }
    json_decref(roots);
    free(shop->bulk_jsonl);
    shop->bulk_jsonl = j.buf ? j.buf : strdup("");
    shop->bulk_len = j.len;
    shop->bulk_ready_at = dh_sb_mono_now() + (double)shop->bulk_ms / 1000.0;
    snprintf(n, sizeof n, "%lld", dh_sb_shop_next_id(shop));
    dh_sb_iso_now(now, sizeof now);
    json_decref(shop->bulk);
    shop->bulk =
        json_pack("{s:o, s:s, s:s, s:n, s:s, s:s, s:s, s:s, s:s, s:s, s:n, s:s}", "id",
                  dh_sb_gid_s("BulkOperation", n), "_n", n, "status", "COMPLETED", "errorCode",
                  "type", "QUERY", "query", q, "createdAt", now, "completedAt", now, "objectCount",
                  "", "rootObjectCount", "", "partialDataUrl", "fileSize", "");
    snprintf(n, sizeof n, "%ld", j.objects);
    json_object_set_new(shop->bulk, "objectCount", json_string(n));
    snprintf(n, sizeof n, "%ld", j.roots);
    json_object_set_new(shop->bulk, "rootObjectCount", json_string(n));
    snprintf(n, sizeof n, "%zu", j.len);
    json_object_set_new(shop->bulk, "fileSize", json_string(n));
    json_t *view = bulk_view(st, shop);

    json_object_set_new(view, "status", json_string("CREATED"));
    return json_pack("{s:o, s:[]}", "bulkOperation", view, "userErrors");
}

json_t *dh_sb_op_bulk_operation(dh_sb_state_t *st, dh_sb_shop_t *shop, json_t *node, json_t *errors)
{
    json_t *id = json_object_get(json_object_get(node, "args"), "id");

    (void)errors;
    if (!shop->bulk || !json_equal(id, json_object_get(shop->bulk, "id"))) {
        return json_null();
    }
    return bulk_view(st, shop);
}

void dh_sb_bulk_download(dh_sb_state_t *st, const dh_sb_req_t *req, dh_sb_resp_t *resp)
{
    char shop_domain[256], n[32];
    const char *range = dh_sb_req_header(req, "Range");
    size_t from = 0;

    if (sscanf(req->path, "/_bulk/%255[^/]/%31[0-9].jsonl", shop_domain, n) != 2) {
        dh_sb_resp_json(resp, 404, json_pack("{s:s}", "error", "not found"));
        return;
    }
    pthread_mutex_lock(&st->lock);
    dh_sb_shop_t *shop = dh_sb_state_shop(st, shop_domain);

    if (!shop || !shop->bulk || dh_sb_mono_now() < shop->bulk_ready_at ||
        strcmp(json_string_value(json_object_get(shop->bulk, "_n")), n) != 0) {
        pthread_mutex_unlock(&st->lock);
        dh_sb_resp_json(resp, 404, json_pack("{s:s}", "error", "no such result file"));
        return;
    }
    if (range && sscanf(range, "bytes=%zu-", &from) == 1 && from <= shop->bulk_len) {
        char cr[96];

        snprintf(cr, sizeof cr, "bytes %zu-%zu/%zu", from, shop->bulk_len ? shop->bulk_len - 1 : 0,
                 shop->bulk_len);
        json_object_set_new(resp->headers, "Content-Range", json_string(cr));
        resp->status = 206;
    } else {
        from = 0;
        resp->status = 200;
    }
    resp->body = strdup(shop->bulk_jsonl + from);
    pthread_mutex_unlock(&st->lock);
    snprintf(resp->content_type, sizeof resp->content_type, "application/jsonl");
}
