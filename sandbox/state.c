/*
 * state: seed loading, generation and lookups for the sandbox's stores (see state.h).
 */
#include "state.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void copy_str(char *dst, size_t n, json_t *obj, const char *key, const char *dflt)
{
    const char *v = json_string_value(json_object_get(obj, key));

    snprintf(dst, n, "%s", v ? v : dflt);
}

long long dh_sb_shop_next_id(dh_sb_shop_t *shop)
{
    return ++shop->next_id;
}

json_t *dh_sb_gid(const char *type, long long id)
{
    char buf[128];

    snprintf(buf, sizeof buf, "gid://shopify/%s/%lld", type, id);
    return json_string(buf);
}

json_t *dh_sb_gid_s(const char *type, const char *id)
{
    char buf[160];

    if (!id) { /* a custom line item has no variant, product or inventory item */
        return json_null();
    }
    snprintf(buf, sizeof buf, "gid://shopify/%s/%s", type, id);
    return json_string(buf);
}

int dh_sb_gid_parse(json_t *v, const char *type, char *out, size_t out_size)
{
    char prefix[96];
    const char *s = json_string_value(v);

    if (json_is_integer(v)) {
        snprintf(out, out_size, "%lld", (long long)json_integer_value(v));
        return 0;
    }
    if (!s) {
        return -1;
    }
    snprintf(prefix, sizeof prefix, "gid://shopify/%s/", type);
    if (strncmp(s, prefix, strlen(prefix)) == 0) {
        s += strlen(prefix);
    } else if (strncmp(s, "gid://", 6) == 0) {
        return -1;
    }
    if (!*s || strlen(s) >= out_size) {
        return -1;
    }
    for (const char *p = s; *p; p++) {
        if (!isdigit((unsigned char)*p)) {
            return -1;
        }
    }
    snprintf(out, out_size, "%s", s);
    return 0;
}

json_t *dh_sb_level(dh_sb_shop_t *shop, const char *item_id, const char *loc_id)
{
    char key[96];

    if (!item_id) { /* a custom line item stocks nowhere */
        return NULL;
    }
    snprintf(key, sizeof key, "%s:%s", item_id, loc_id);
    return json_object_get(shop->levels, key);
}

json_t *dh_sb_level_activate(dh_sb_shop_t *shop, const char *item_id, const char *loc_id)
{
    char key[96];
    json_t *lvl = dh_sb_level(shop, item_id, loc_id);

    if (lvl) {
        return lvl;
    }
    snprintf(key, sizeof key, "%s:%s", item_id, loc_id);
    lvl = json_pack("{s:I, s:I, s:I}", "available", (json_int_t)0, "committed", (json_int_t)0,
                    "unavailable", (json_int_t)0);
    json_object_set_new(shop->levels, key, lvl);
    return lvl;
}

long long dh_sb_level_get(json_t *level, const char *name)
{
    return (long long)json_integer_value(json_object_get(level, name));
}

void dh_sb_level_add(json_t *level, const char *name, long long delta)
{
    json_object_set_new(level, name,
                        json_integer((json_int_t)(dh_sb_level_get(level, name) + delta)));
}

long long dh_sb_level_on_hand(json_t *level)
{
    return dh_sb_level_get(level, "available") + dh_sb_level_get(level, "committed") +
           dh_sb_level_get(level, "unavailable");
}

static long long days_from_civil(long long y, unsigned m, unsigned d)
{
    y -= m <= 2;
    long long era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

    return era * 146097 + (long long)doe - 719468;
}

double dh_sb_parse_iso(const char *s)
{
    int y, mo, d, h = 0, mi = 0, n = 0;
    double sec = 0;
    const char *p;

    if (!s || sscanf(s, "%4d-%2d-%2d%n", &y, &mo, &d, &n) != 3) {
        return -1;
    }
    p = s + n;
    if (*p == 'T' || *p == ' ') {
        int m2 = 0;

        if (sscanf(p + 1, "%2d:%2d:%lf%n", &h, &mi, &sec, &m2) < 2) {
            return -1;
        }
        p += 1 + m2;
    }
    double t =
        (double)days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400.0 + h * 3600 + mi * 60 + sec;

    if (*p == '+' || *p == '-') {
        int oh = 0, om = 0;

        sscanf(p + 1, "%2d:%2d", &oh, &om);
        t -= (*p == '+' ? 1 : -1) * (oh * 3600 + om * 60);
    }
    return t;
}

static void upsert_variant(dh_sb_shop_t *shop, json_t *product, json_t *vspec)
{
    char vid[32], iid[32];
    json_t *id = json_object_get(vspec, "id");

    if (!id || dh_sb_gid_parse(id, "ProductVariant", vid, sizeof vid) < 0) {
        snprintf(vid, sizeof vid, "%lld", dh_sb_shop_next_id(shop));
    }
    json_t *v = json_object_get(shop->variants, vid);

    if (!v) {
        json_t *iv = json_object_get(vspec, "inventory_item_id");

        if (!iv || dh_sb_gid_parse(iv, "InventoryItem", iid, sizeof iid) < 0) {
            snprintf(iid, sizeof iid, "%lld", dh_sb_shop_next_id(shop));
        }
        v = json_pack("{s:s, s:s, s:s, s:s}", "id", vid, "inventory_item_id", iid, "price", "0.00",
                      "title", "Default Title");
        json_object_set_new(shop->variants, vid, v);
        json_array_append_new(shop->variant_ids, json_string(vid));
        json_object_set_new(shop->items, iid, json_string(vid));
        json_array_append_new(json_object_get(product, "variant_ids"), json_string(vid));
    }
    json_object_set(v, "product_id", json_object_get(product, "id"));
    const char *keys[] = {"sku",     "price",   "barcode", "title", "option1",
                          "option2", "option3", "image",   "weight"};

    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        json_t *x = json_object_get(vspec, keys[i]);

        if (json_is_number(x) && strcmp(keys[i], "price") == 0) {
            char buf[32];

            snprintf(buf, sizeof buf, "%.2f", json_number_value(x));
            json_object_set_new(v, keys[i], json_string(buf));
        } else if (x) {
            json_object_set(v, keys[i], x);
        }
    }
    if (!json_object_get(vspec, "title") && json_is_string(json_object_get(v, "option1"))) {
        char title[512] = "";

        for (int o = 1; o <= 3; o++) {
            char k[16];
            const char *val;

            snprintf(k, sizeof k, "option%d", o);
            val = json_string_value(json_object_get(v, k));
            if (val) {
                size_t len = strlen(title);

                snprintf(title + len, sizeof title - len, "%s%s", len ? " / " : "", val);
            }
        }
        json_object_set_new(v, "title", json_string(title));
    }
}

/* A removed variant leaves the catalogue (its inventory levels stay, unreachable). */
static void drop_variant(dh_sb_shop_t *shop, const char *vid)
{
    size_t i;
    json_t *x;

    json_array_foreach(shop->variant_ids, i, x)
    {
        if (strcmp(json_string_value(x), vid) == 0) {
            json_array_remove(shop->variant_ids, i);
            break;
        }
    }
    json_object_del(shop->variants, vid);
}

/* Shopify's product update with a variants list: variants not listed (by id) are deleted,
 * variants without id are created. */
static void remove_unlisted(dh_sb_shop_t *shop, json_t *product, json_t *vspecs)
{
    json_t *ids = json_object_get(product, "variant_ids");
    json_t *keep = json_array();
    size_t i, k;
    json_t *vid, *vs;

    json_array_foreach(ids, i, vid)
    {
        int listed = 0;

        json_array_foreach(vspecs, k, vs)
        {
            char id[32];

            if (json_object_get(vs, "id") &&
                dh_sb_gid_parse(json_object_get(vs, "id"), "ProductVariant", id, sizeof id) == 0 &&
                strcmp(id, json_string_value(vid)) == 0) {
                listed = 1;
            }
        }
        if (listed) {
            json_array_append(keep, vid);
        } else {
            drop_variant(shop, json_string_value(vid));
        }
    }
    json_object_set_new(product, "variant_ids", keep);
}

json_t *dh_sb_shop_upsert_product(dh_sb_shop_t *shop, json_t *spec, int *created)
{
    char pid[32], now[32];
    json_t *id = json_object_get(spec, "id");
    size_t i;
    json_t *vs;

    dh_sb_iso_now(now, sizeof now);
    if (!id || dh_sb_gid_parse(id, "Product", pid, sizeof pid) < 0) {
        snprintf(pid, sizeof pid, "%lld", dh_sb_shop_next_id(shop));
    }
    json_t *p = json_object_get(shop->products, pid);

    *created = p == NULL;
    if (!p) {
        p = json_pack("{s:s, s:s, s:s, s:s, s:[]}", "id", pid, "title", "Product", "status",
                      "ACTIVE", "created_at", now, "variant_ids");
        json_object_set_new(shop->products, pid, p);
        json_array_append_new(shop->product_ids, json_string(pid));
    }
    const char *keys[] = {"title",     "handle",     "status",  "vendor", "product_type",
                          "image_url", "style_code", "options", "images", "metafields"};

    for (i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        if (json_object_get(spec, keys[i])) {
            json_object_set(p, keys[i], json_object_get(spec, keys[i]));
        }
    }
    json_object_set_new(p, "updated_at", json_string(now));
    if (!*created && json_is_array(json_object_get(spec, "variants"))) {
        remove_unlisted(shop, p, json_object_get(spec, "variants"));
    }
    json_array_foreach(json_object_get(spec, "variants"), i, vs)
    {
        upsert_variant(shop, p, vs);
    }
    return p;
}

void dh_sb_shop_delete_product(dh_sb_shop_t *shop, const char *pid)
{
    json_t *p = json_object_get(shop->products, pid);
    size_t i;
    json_t *vid;

    if (!p) {
        return;
    }
    json_array_foreach(json_object_get(p, "variant_ids"), i, vid)
    {
        drop_variant(shop, json_string_value(vid));
    }
    json_array_foreach(shop->product_ids, i, vid)
    {
        if (strcmp(json_string_value(vid), pid) == 0) {
            json_array_remove(shop->product_ids, i);
            break;
        }
    }
    json_object_del(shop->products, pid);
}

static void seed_levels(dh_sb_shop_t *shop, json_t *levels)
{
    size_t i;
    json_t *l;

    json_array_foreach(levels, i, l)
    {
        char iid[32], lid[32];

        if (dh_sb_gid_parse(json_object_get(l, "inventory_item_id"), "InventoryItem", iid,
                            sizeof iid) < 0 ||
            dh_sb_gid_parse(json_object_get(l, "location_id"), "Location", lid, sizeof lid) < 0) {
            continue;
        }
        json_t *lvl = dh_sb_level_activate(shop, iid, lid);

        json_object_set_new(lvl, "available",
                            json_integer(json_integer_value(json_object_get(l, "available"))));
        json_object_set_new(lvl, "committed",
                            json_integer(json_integer_value(json_object_get(l, "committed"))));
        json_object_set_new(lvl, "unavailable",
                            json_integer(json_integer_value(json_object_get(l, "unavailable"))));
    }
}

static void add_location(dh_sb_shop_t *shop, const char *id, const char *name)
{
    json_object_set_new(shop->locations, id, json_pack("{s:s, s:s}", "id", id, "name", name));
    json_array_append_new(shop->location_ids, json_string(id));
}

static void generate(dh_sb_shop_t *shop, json_t *gen)
{
    long n_products = (long)json_integer_value(json_object_get(gen, "products"));
    long per = json_object_get(gen, "variants_per_product")
                   ? (long)json_integer_value(json_object_get(gen, "variants_per_product"))
                   : 1;
    long n_loc = (long)json_integer_value(json_object_get(gen, "locations"));
    long long avail = (long long)json_integer_value(json_object_get(gen, "available"));
    const char *prefix = json_string_value(json_object_get(gen, "sku_prefix"));
    long seq = 0;
    size_t i;
    json_t *lid;

    for (long l = 0; l < n_loc; l++) {
        char id[32], name[64];

        snprintf(id, sizeof id, "%lld", dh_sb_shop_next_id(shop));
        snprintf(name, sizeof name, "Location %ld", l + 1);
        add_location(shop, id, name);
    }
    for (long p = 0; p < n_products; p++) {
        json_t *spec = json_pack("{s:s, s:[]}", "title", "Generated product", "variants");
        int created;

        for (long v = 0; v < per; v++) {
            char sku[128];

            snprintf(sku, sizeof sku, "%s%ld", prefix ? prefix : "SKU-", ++seq);
            json_array_append_new(json_object_get(spec, "variants"),
                                  json_pack("{s:s, s:s}", "sku", sku, "price", "10.00"));
        }
        json_t *prod = dh_sb_shop_upsert_product(shop, spec, &created);

        json_decref(spec);
        json_t *vid;
        size_t k;

        json_array_foreach(json_object_get(prod, "variant_ids"), k, vid)
        {
            json_t *var = json_object_get(shop->variants, json_string_value(vid));
            const char *iid = json_string_value(json_object_get(var, "inventory_item_id"));

            json_array_foreach(shop->location_ids, i, lid)
            {
                json_object_set_new(dh_sb_level_activate(shop, iid, json_string_value(lid)),
                                    "available", json_integer((json_int_t)avail));
            }
        }
    }
}

static void shop_alloc(dh_sb_shop_t *s)
{
    s->calls = json_object();
    s->tokens = json_object();
    s->locations = json_object();
    s->location_ids = json_array();
    s->products = json_object();
    s->product_ids = json_array();
    s->variants = json_object();
    s->variant_ids = json_array();
    s->items = json_object();
    s->levels = json_object();
    s->orders = json_object();
    s->order_ids = json_array();
    s->fos = json_object();
    s->folis = json_object();
    s->fulfillments = json_object();
    s->idem = json_object();
    s->next_id = 1000000;
    s->order_number = 1000;
}

static void shop_free(dh_sb_shop_t *s)
{
    json_t *all[] = {s->calls,    s->tokens,      s->locations,    s->location_ids,
                     s->products, s->product_ids, s->variants,     s->variant_ids,
                     s->items,    s->levels,      s->orders,       s->order_ids,
                     s->fos,      s->folis,       s->fulfillments, s->idem};

    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        json_decref(all[i]);
    }
    json_decref(s->bulk);
    free(s->bulk_jsonl);
}

static dh_sb_err_t shop_from_seed(dh_sb_shop_t *s, json_t *spec, char *errstr, size_t errstr_size)
{
    size_t i;
    json_t *x;
    int created;

    shop_alloc(s);
    copy_str(s->domain, sizeof s->domain, spec, "domain", "");
    if (!s->domain[0]) {
        snprintf(errstr, errstr_size, "a store needs a \"domain\"");
        return DH_SB_ERR_CONFIG;
    }
    copy_str(s->access_token, sizeof s->access_token, spec, "access_token", "shpat_sandbox");
    copy_str(s->client_id, sizeof s->client_id, spec, "client_id", "");
    copy_str(s->client_secret, sizeof s->client_secret, spec, "client_secret", "");
    copy_str(s->webhook_url, sizeof s->webhook_url, spec, "webhook_url", "");
    copy_str(s->webhook_secret, sizeof s->webhook_secret, spec, "webhook_secret", "");
    copy_str(s->api_version, sizeof s->api_version, spec, "api_version", "2026-04");
    s->bulk_ms = json_is_integer(json_object_get(spec, "bulk_ms"))
                     ? (long)json_integer_value(json_object_get(spec, "bulk_ms"))
                     : 500;
    double size = json_is_number(json_object_get(spec, "bucket_size"))
                      ? json_number_value(json_object_get(spec, "bucket_size"))
                      : 2000;
    double rate = json_is_number(json_object_get(spec, "restore_rate"))
                      ? json_number_value(json_object_get(spec, "restore_rate"))
                      : 100;

    dh_sb_bucket_init(&s->bucket, size, rate, dh_sb_bucket_now());
    json_array_foreach(json_object_get(spec, "locations"), i, x)
    {
        char lid[32];

        if (dh_sb_gid_parse(json_object_get(x, "id"), "Location", lid, sizeof lid) < 0) {
            snprintf(lid, sizeof lid, "%lld", dh_sb_shop_next_id(s));
        }
        const char *name = json_string_value(json_object_get(x, "name"));

        add_location(s, lid, name ? name : lid);
    }
    json_array_foreach(json_object_get(spec, "products"), i, x)
    {
        dh_sb_shop_upsert_product(s, x, &created);
    }
    if (json_is_object(json_object_get(spec, "generate"))) {
        generate(s, json_object_get(spec, "generate"));
    }
    seed_levels(s, json_object_get(spec, "levels"));
    return DH_SB_OK;
}

dh_sb_err_t dh_sb_state_init(dh_sb_state_t *st, json_t *seed, char *errstr, size_t errstr_size)
{
    json_t *stores = json_object_get(seed, "stores");
    json_t *dflt = NULL;
    dh_sb_err_t err = DH_SB_OK;
    size_t i;
    json_t *spec;

    pthread_mutex_init(&st->lock, NULL);
    st->token_ttl_s = json_is_number(json_object_get(seed, "token_ttl_s"))
                          ? json_number_value(json_object_get(seed, "token_ttl_s"))
                          : 86399;
    if (json_array_size(stores) == 0) {
        dflt =
            json_pack("[{s:s, s:s, s:[{s:s, s:s}]}]", "domain", "sandbox.myshopify.com",
                      "access_token", "shpat_sandbox", "locations", "id", "1", "name", "Warehouse");
        stores = dflt;
    }
    st->shops = calloc(json_array_size(stores), sizeof *st->shops);
    if (!st->shops) {
        err = DH_SB_ERR_NOMEM;
        goto out;
    }
    json_array_foreach(stores, i, spec)
    {
        st->n_shops++;
        err = shop_from_seed(&st->shops[i], spec, errstr, errstr_size);
        if (err != DH_SB_OK) {
            goto out;
        }
    }
    json_t *wms = json_object_get(seed, "wms");

    copy_str(st->wms_token, sizeof st->wms_token, wms, "token", "wms-sandbox-token");
    st->wms = json_pack("{s:{}, s:{}, s:{}, s:{}, s:O?}", "orders", "returns", "skus", "idem",
                        "inventory", json_object_get(wms, "inventory"));
    if (!json_is_array(json_object_get(st->wms, "inventory"))) {
        json_object_set_new(st->wms, "inventory", json_array());
    }
    json_t *rp = json_object_get(seed, "returnprime");

    copy_str(st->rp_url, sizeof st->rp_url, rp, "webhook_url", "");
    copy_str(st->rp_secret, sizeof st->rp_secret, rp, "webhook_secret", "");
    copy_str(st->rp_token, sizeof st->rp_token, rp, "api_token", "rp-sandbox-token");
    st->rp_requests = json_object();
    st->rp_tokens = json_object();
    {
        const char *domain;
        json_t *tok;

        json_object_foreach(json_object_get(rp, "api_tokens"), domain, tok)
        {
            if (json_is_string(tok)) {
                json_object_set_new(st->rp_tokens, json_string_value(tok), json_string(domain));
            }
        }
    }
out:
    json_decref(dflt);
    return err;
}

void dh_sb_state_fini(dh_sb_state_t *st)
{
    for (size_t i = 0; i < st->n_shops; i++) {
        shop_free(&st->shops[i]);
    }
    free(st->shops);
    st->shops = NULL;
    json_decref(st->wms);
    st->wms = NULL;
    json_decref(st->rp_requests);
    st->rp_requests = NULL;
    json_decref(st->rp_tokens);
    st->rp_tokens = NULL;
    pthread_mutex_destroy(&st->lock);
}

dh_sb_shop_t *dh_sb_state_shop(dh_sb_state_t *st, const char *domain)
{
    for (size_t i = 0; domain && i < st->n_shops; i++) {
        if (strcmp(st->shops[i].domain, domain) == 0) {
            return &st->shops[i];
        }
    }
    return NULL;
}
