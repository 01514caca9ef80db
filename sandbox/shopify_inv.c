/*
 * shopify_inv: catalogue, location and inventory operations of the GraphQL double:
 * productVariants, products, locations, inventoryItems/inventoryItem, inventoryActivate,
 * inventorySetQuantities and inventoryAdjustQuantities (Shopify's 2026-04 rules).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gql.h"
#include "shopify.h"

#define MAX_INPUT_ARRAY 250
#define MAX_QUANTITY    1000000000LL

static const char *const quantity_names[] = {"available",   "committed",    "on_hand",
                                             "unavailable", "incoming",     "reserved",
                                             "damaged",     "safety_stock", "quality_control"};

static const char *const reasons[] = {"correction",
                                      "cycle_count_available",
                                      "damaged",
                                      "movement_created",
                                      "movement_updated",
                                      "movement_received",
                                      "movement_canceled",
                                      "other",
                                      "promotion",
                                      "quality_control",
                                      "received",
                                      "reservation_created",
                                      "reservation_deleted",
                                      "reservation_updated",
                                      "restock",
                                      "safety_stock",
                                      "shrinkage"};

json_t *dh_sb_connection(json_t *all, json_t *args)
{
    long first = json_is_integer(json_object_get(args, "first"))
                     ? (long)json_integer_value(json_object_get(args, "first"))
                     : 50;
    const char *after = json_string_value(json_object_get(args, "after"));
    size_t start = after ? (size_t)strtoul(after, NULL, 10) : 0;
    size_t total = json_array_size(all);
    json_t *nodes = json_array(), *edges = json_array();
    char cur[32] = "";

    if (json_is_true(json_object_get(args, "reverse"))) {
        json_t *rev = json_array();

        for (size_t i = total; i > 0; i--) {
            json_array_append(rev, json_array_get(all, i - 1));
        }
        json_decref(all);
        all = rev;
    }
    size_t i = start;

    for (; i < total && (long)(i - start) < first; i++) {
        snprintf(cur, sizeof cur, "%zu", i + 1);
        json_array_append(nodes, json_array_get(all, i));
        json_array_append_new(
            edges, json_pack("{s:O, s:s}", "node", json_array_get(all, i), "cursor", cur));
    }
    json_t *conn =
        json_pack("{s:o, s:o, s:{s:b, s:b, s:s?, s:s?}}", "nodes", nodes, "edges", edges,
                  "pageInfo", "hasNextPage", i<total, "hasPreviousPage", start> 0, "endCursor",
                  cur[0] ? cur : NULL, "startCursor",
                  json_array_size(nodes)
                      ? json_string_value(json_object_get(json_array_get(edges, 0), "cursor"))
                      : NULL);

    json_decref(all);
    return conn;
}

static json_t *level_obj(dh_sb_shop_t *shop, const char *iid, const char *lid, json_t *node)
{
    json_t *lvl = dh_sb_level(shop, iid, lid);
    json_t *qnode = dh_sb_gql_child(node, "quantities");
    json_t *names = json_object_get(json_object_get(qnode, "args"), "names");
    json_t *qs = json_array();
    char id[128];
    size_t i;
    json_t *n;

    if (!lvl) {
        json_decref(qs);
        return json_null();
    }
    json_array_foreach(names, i, n)
    {
        const char *name = json_string_value(n);
        long long q = 0;

        if (!name) {
            continue;
        }
        q = strcmp(name, "on_hand") == 0 ? dh_sb_level_on_hand(lvl) : dh_sb_level_get(lvl, name);
        json_array_append_new(qs, json_pack("{s:s, s:I}", "name", name, "quantity", (json_int_t)q));
    }
    snprintf(id, sizeof id, "gid://shopify/InventoryLevel/%s?inventory_item_id=%s", lid, iid);
    return json_pack("{s:s, s:o, s:{s:o, s:O}, s:{s:o}, s:b}", "id", id, "quantities", qs,
                     "location", "id", dh_sb_gid_s("Location", lid), "name",
                     json_object_get(json_object_get(shop->locations, lid), "name"), "item", "id",
                     dh_sb_gid_s("InventoryItem", iid), "isActive", 1);
}

static json_t *item_obj(dh_sb_shop_t *shop, const char *iid, json_t *node)
{
    const char *vid = json_string_value(json_object_get(shop->items, iid));
    json_t *var = json_object_get(shop->variants, vid ? vid : "");
    json_t *lnode = dh_sb_gql_child(node, "inventoryLevel");
    json_t *o = json_pack("{s:o, s:O?, s:b, s:b, s:s, s:{s:o, s:O?}}", "id",
                          dh_sb_gid_s("InventoryItem", iid), "sku", json_object_get(var, "sku"),
                          "tracked", 1, "requiresShipping", 1, "legacyResourceId", iid, "variant",
                          "id", dh_sb_gid_s("ProductVariant", vid ? vid : "0"), "sku",
                          json_object_get(var, "sku"));
    char lid[32];

    if (lnode && dh_sb_gid_parse(json_object_get(json_object_get(lnode, "args"), "locationId"),
                                 "Location", lid, sizeof lid) == 0) {
        json_object_set_new(o, "inventoryLevel", level_obj(shop, iid, lid, lnode));
    }
    json_t *lsnode = dh_sb_gql_child(node, "inventoryLevels");

    if (lsnode) {
        json_t *all = json_array(), *nodes = dh_sb_gql_child(lsnode, "nodes");
        size_t i;
        json_t *l;

        json_array_foreach(shop->location_ids, i, l)
        {
            if (dh_sb_level(shop, iid, json_string_value(l))) {
                json_array_append_new(all, level_obj(shop, iid, json_string_value(l), nodes));
            }
        }
        json_object_set_new(o, "inventoryLevels",
                            dh_sb_connection(all, json_object_get(lsnode, "args")));
    }
    return o;
}

static json_t *variant_obj(dh_sb_shop_t *shop, json_t *var, json_t *node)
{
    const char *vid = json_string_value(json_object_get(var, "id"));
    const char *pid = json_string_value(json_object_get(var, "product_id"));
    json_t *prod = json_object_get(shop->products, pid ? pid : "");
    json_t *o =
        json_pack("{s:o, s:O?, s:O?, s:O?, s:O?, s:s, s:o, s:{s:o, s:O?}, s:[]}", "id",
                  dh_sb_gid_s("ProductVariant", vid), "sku", json_object_get(var, "sku"), "barcode",
                  json_object_get(var, "barcode"), "price", json_object_get(var, "price"), "title",
                  json_object_get(var, "title"), "legacyResourceId", vid, "inventoryItem",
                  item_obj(shop, json_string_value(json_object_get(var, "inventory_item_id")),
                           dh_sb_gql_child(node, "inventoryItem")),
                  "product", "id", dh_sb_gid_s("Product", pid ? pid : "0"), "title",
                  json_object_get(prod, "title"), "selectedOptions");

    dh_sb_catalog_variant_fields(prod, var, o);
    return o;
}

/* Shopify-like fuzzy search: each "field:value" term (OR-separated) matches as a
 * case-insensitive substring, so sku:200 also finds 2001. */
static int fuzzy_match(const char *query, const char *field, const char *value)
{
    char term[256];
    size_t fl = strlen(field);

    if (!query || !*query) {
        return 1;
    }
    for (const char *p = query; *p;) {
        size_t len = strcspn(p, " ");

        snprintf(term, sizeof term, "%.*s", (int)len, p);
        p += len;
        while (*p == ' ') {
            p++;
        }
        if (strncmp(term, field, fl) != 0 || term[fl] != ':') {
            continue;
        }
        char *v = term + fl + 1;

        if (*v == '"' || *v == '\'') {
            v++;
            v[strcspn(v, "\"'")] = '\0';
        }
        for (char *c = v; *c; c++) {
            *c = (char)tolower((unsigned char)*c);
        }
        char low[256];

        snprintf(low, sizeof low, "%s", value ? value : "");
        for (char *c = low; *c; c++) {
            *c = (char)tolower((unsigned char)*c);
        }
        if (*v && strstr(low, v)) {
            return 1;
        }
    }
    return 0;
}

json_t *dh_sb_op_product_variants(dh_sb_state_t *st, dh_sb_shop_t *shop, json_t *node,
                                  json_t *errors)
{
    json_t *args = json_object_get(node, "args");
    const char *q = json_string_value(json_object_get(args, "query"));
    json_t *nodes = dh_sb_gql_child(node, "nodes");
    json_t *all = json_array();
    size_t i;
    json_t *vid;

    (void)st;
    (void)errors;
    if (!nodes) {
        nodes = dh_sb_gql_child(dh_sb_gql_child(node, "edges"), "node");
    }
    json_array_foreach(shop->variant_ids, i, vid)
    {
        json_t *var = json_object_get(shop->variants, json_string_value(vid));
        const char *sku = json_string_value(json_object_get(var, "sku"));

        if (!q || fuzzy_match(q, "sku", sku) || fuzzy_match(q, "id", json_string_value(vid))) {
            json_array_append_new(all, variant_obj(shop, var, nodes));
        }
    }
    return dh_sb_connection(all, args);
}

json_t *dh_sb_product_node(dh_sb_shop_t *shop, const char *pid, json_t *pnode)
{
    json_t *p = json_object_get(shop->products, pid);
    json_t *vconn = dh_sb_gql_child(pnode, "variants");
    json_t *vars = json_array();
    size_t k;
    json_t *vid;

    json_array_foreach(json_object_get(p, "variant_ids"), k, vid)
    {
        json_array_append_new(
            vars, variant_obj(shop, json_object_get(shop->variants, json_string_value(vid)),
                              dh_sb_gql_child(vconn, "nodes")
                                  ? dh_sb_gql_child(vconn, "nodes")
                                  : dh_sb_gql_child(dh_sb_gql_child(vconn, "edges"), "node")));
    }
    json_t *o =
        json_pack("{s:o, s:O?, s:O?, s:O?, s:O?, s:O?, s:o}", "id", dh_sb_gid_s("Product", pid),
                  "title", json_object_get(p, "title"), "handle", json_object_get(p, "handle"),
                  "status", json_object_get(p, "status"), "updatedAt",
                  json_object_get(p, "updated_at"), "createdAt", json_object_get(p, "created_at"),
                  "variants", dh_sb_connection(vars, json_object_get(vconn, "args")));

    dh_sb_catalog_product_fields(p, o);
    return o;
}

json_t *dh_sb_op_products(dh_sb_state_t *st, dh_sb_shop_t *shop, json_t *node, json_t *errors)
{
    json_t *args = json_object_get(node, "args");
    const char *q = json_string_value(json_object_get(args, "query"));
    const char *since = q ? strstr(q, "updated_at:>") : NULL;
    double since_t = since ? dh_sb_parse_iso(since + 12 + (since[12] == '=') +
                                             (since[12 + (since[12] == '=')] == '\''))
                           : -1;
    json_t *pnode = dh_sb_gql_child(node, "nodes");
    json_t *all = json_array();
    size_t i;
    json_t *pid;

    (void)st;
    (void)errors;
    if (!pnode) {
        pnode = dh_sb_gql_child(dh_sb_gql_child(node, "edges"), "node");
    }
    json_array_foreach(shop->product_ids, i, pid)
    {
        json_t *p = json_object_get(shop->products, json_string_value(pid));
        const char *upd = json_string_value(json_object_get(p, "updated_at"));

        if (since_t >= 0 && dh_sb_parse_iso(upd) <= since_t) {
            continue;
        }
        json_array_append_new(all, dh_sb_product_node(shop, json_string_value(pid), pnode));
    }
    return dh_sb_connection(all, args);
}

json_t *dh_sb_op_locations(dh_sb_state_t *st, dh_sb_shop_t *shop, json_t *node, json_t *errors)
{
    json_t *all = json_array();
    size_t i;
    json_t *lid;

    (void)st;
    (void)errors;
    json_array_foreach(shop->location_ids, i, lid)
    {
        json_t *loc = json_object_get(shop->locations, json_string_value(lid));

        json_array_append_new(all, json_pack("{s:o, s:O, s:b, s:b, s:s}", "id",
                                             dh_sb_gid_s("Location", json_string_value(lid)),
                                             "name", json_object_get(loc, "name"), "isActive", 1,
                                             "fulfillsOnlineOrders", 1, "legacyResourceId",
                                             json_string_value(lid)));
    }
    return dh_sb_connection(all, json_object_get(node, "args"));
}

json_t *dh_sb_op_inventory_items(dh_sb_state_t *st, dh_sb_shop_t *shop, json_t *node,
                                 json_t *errors)
{
    json_t *args = json_object_get(node, "args");
    const char *q = json_string_value(json_object_get(args, "query"));
    json_t *nodes = dh_sb_gql_child(node, "nodes");
    json_t *all = json_array();
    const char *iid;
    json_t *vid;

    (void)st;
    (void)errors;
    json_object_foreach(shop->items, iid, vid)
    {
        char term[64];

        snprintf(term, sizeof term, "id:%s", iid);
        if (q && !strstr(q, term)) {
            continue;
        }
        if (q) { /* exact id terms: avoid id:12 matching id:123 */
            const char *hit = strstr(q, term);
            char after = hit[strlen(term)];

            if (after && after != ' ' && after != ')') {
                continue;
            }
        }
        json_array_append_new(all, item_obj(shop, iid, nodes));
    }
    return dh_sb_connection(all, args);
}

json_t *dh_sb_op_inventory_item(dh_sb_state_t *st, dh_sb_shop_t *shop, json_t *node, json_t *errors)
{
    char iid[32];

    (void)st;
    (void)errors;
    if (dh_sb_gid_parse(json_object_get(json_object_get(node, "args"), "id"), "InventoryItem", iid,
                        sizeof iid) < 0 ||
        !json_object_get(shop->items, iid)) {
        return json_null();
    }
    return item_obj(shop, iid, node);
}

json_t *dh_sb_op_inventory_activate(dh_sb_state_t *st, dh_sb_shop_t *shop, json_t *node,
                                    json_t *errors)
{
    json_t *args = json_object_get(node, "args");
    json_t *avail = json_object_get(args, "available");
    char iid[32], lid[32];

    (void)st;
    (void)errors;
    if (dh_sb_gid_parse(json_object_get(args, "inventoryItemId"), "InventoryItem", iid,
                        sizeof iid) < 0 ||
        !json_object_get(shop->items, iid)) {
        return json_pack("{s:n, s:[o]}", "inventoryLevel", "userErrors",
                         dh_sb_user_error(NULL, json_pack("[s]", "inventoryItemId"),
                                          "Inventory item does not exist"));
    }
    if (dh_sb_gid_parse(json_object_get(args, "locationId"), "Location", lid, sizeof lid) < 0 ||
        !json_object_get(shop->locations, lid)) {
        return json_pack(
            "{s:n, s:[o]}", "inventoryLevel", "userErrors",
            dh_sb_user_error(NULL, json_pack("[s]", "locationId"), "Location does not exist"));
    }
    int existed = dh_sb_level(shop, iid, lid) != NULL;
    json_t *lvl = dh_sb_level_activate(shop, iid, lid);

    if (!existed && json_is_integer(avail)) {
        json_object_set(lvl, "available", avail);
    }
    return json_pack("{s:o, s:[]}", "inventoryLevel",
                     level_obj(shop, iid, lid, dh_sb_gql_child(node, "inventoryLevel")),
                     "userErrors");
}

static int in_list(const char *s, const char *const *list, size_t n)
{
    for (size_t i = 0; s && i < n; i++) {
        if (strcmp(s, list[i]) == 0) {
            return 1;
        }
    }
    return 0;
}

static json_t *path4(const char *arr, size_t i, const char *field)
{
    char idx[24];

    snprintf(idx, sizeof idx, "%zu", i);
    return field ? json_pack("[s, s, s, s]", "input", arr, idx, field)
                 : json_pack("[s, s, s]", "input", arr, idx);
}

typedef struct inv_spec {
    const char *array;  /**< "quantities" | "changes" */
    const char *amount; /**< "quantity" | "delta" */
    int absolute;
} inv_spec_t;

/* The level of item \p iid at \p lid for a quantity change. Before 2026-10 an item not
 * stocked there is refused (NULL: ITEM_NOT_STOCKED_AT_LOCATION). As of 2026-10 Shopify
 * removed that error, "inventory quantities can now be adjusted at any location"
 * (shopify.dev/changelog/removal-of-itemnotstockedatlocation-error): the change stocks
 * the item there. The new level is kept in \p fresh and joins the shop only if the whole
 * call is applied (all or nothing). */
static json_t *level_for_change(dh_sb_shop_t *shop, const char *iid, const char *lid,
                                const char *pair, json_t *fresh)
{
    json_t *lvl = dh_sb_level(shop, iid, lid);

    if (lvl || (shop->req_version[0] && strcmp(shop->req_version, "2026-10") < 0)) {
        return lvl;
    }
    lvl = json_pack("{s:I, s:I, s:I}", "available", (json_int_t)0, "committed", (json_int_t)0,
                    "unavailable", (json_int_t)0);
    json_object_set_new(fresh, pair, lvl);
    return lvl;
}

/* Validates one entry; appends userErrors; returns the level when usable. */
static json_t *check_entry(dh_sb_shop_t *shop, const inv_spec_t *sp, const char *name, json_t *q,
                           size_t i, json_t *seen, json_t *fresh, json_t *uerr)
{
    char iid[32], lid[32], pair[80];
    json_t *cf = json_object_get(q, "changeFromQuantity");
    long long amount = (long long)json_integer_value(json_object_get(q, sp->amount));

    if (dh_sb_gid_parse(json_object_get(q, "inventoryItemId"), "InventoryItem", iid, sizeof iid) <
            0 ||
        !json_object_get(shop->items, iid)) {
        json_array_append_new(
            uerr, dh_sb_user_error("INVALID_INVENTORY_ITEM", path4(sp->array, i, "inventoryItemId"),
                                   "The specified inventory item could not be found."));
        return NULL;
    }
    if (dh_sb_gid_parse(json_object_get(q, "locationId"), "Location", lid, sizeof lid) < 0 ||
        !json_object_get(shop->locations, lid)) {
        json_array_append_new(uerr, dh_sb_user_error("INVALID_LOCATION",
                                                     path4(sp->array, i, "locationId"),
                                                     "The specified location could not be found."));
        return NULL;
    }
    snprintf(pair, sizeof pair, "%s:%s", iid, lid);
    if (json_object_get(seen, pair)) {
        json_array_append_new(
            uerr, dh_sb_user_error(
                      "NO_DUPLICATE_INVENTORY_ITEM_ID_GROUP_ID_PAIR", path4(sp->array, i, NULL),
                      "The combination of inventoryItemId and locationId must be unique."));
        return NULL;
    }
    json_object_set_new(seen, pair, json_true());
    json_t *lvl = level_for_change(shop, iid, lid, pair, fresh);

    if (!lvl) {
        json_array_append_new(
            uerr,
            dh_sb_user_error("ITEM_NOT_STOCKED_AT_LOCATION", path4(sp->array, i, "locationId"),
                             "The specified inventory item is not stocked at the location."));
        return NULL;
    }
    if (!json_is_integer(json_object_get(q, sp->amount))) {
        json_array_append_new(uerr, dh_sb_user_error("INVALID_QUANTITY_TOO_LOW",
                                                     path4(sp->array, i, sp->amount),
                                                     "The quantity must be an integer."));
        return NULL;
    }
    if (!cf) {
        json_array_append_new(
            uerr,
            dh_sb_user_error(
                "COMPARE_QUANTITY_REQUIRED", path4(sp->array, i, "changeFromQuantity"),
                "changeFromQuantity is required; send null to opt out of the compare check."));
        return NULL;
    }
    long long cur =
        strcmp(name, "on_hand") == 0 ? dh_sb_level_on_hand(lvl) : dh_sb_level_get(lvl, name);
    long long target = sp->absolute ? amount : cur + amount;

    if (target < 0 && (sp->absolute || strcmp(name, "available") != 0)) {
        json_array_append_new(uerr, dh_sb_user_error("INVALID_QUANTITY_NEGATIVE",
                                                     path4(sp->array, i, sp->amount),
                                                     "The quantity can't be negative."));
        return NULL;
    }
    if (target > MAX_QUANTITY) {
        json_array_append_new(
            uerr, dh_sb_user_error("INVALID_QUANTITY_TOO_HIGH", path4(sp->array, i, sp->amount),
                                   "The quantity can't be higher than 1,000,000,000."));
        return NULL;
    }
    if (!json_is_null(cf) && (long long)json_integer_value(cf) != cur) {
        json_array_append_new(
            uerr, dh_sb_user_error(
                      "CHANGE_FROM_QUANTITY_STALE", path4(sp->array, i, "changeFromQuantity"),
                      "The changeFromQuantity argument no longer matches the persisted quantity."));
        return NULL;
    }
    return lvl;
}

/* Applies one entry; appends the changes (name, delta, quantityAfterChange). */
static void apply_entry(const inv_spec_t *sp, const char *name, json_t *q, json_t *lvl,
                        json_t *changes)
{
    long long amount = (long long)json_integer_value(json_object_get(q, sp->amount));
    int on_hand = strcmp(name, "on_hand") == 0;
    long long cur = on_hand ? dh_sb_level_on_hand(lvl) : dh_sb_level_get(lvl, name);
    long long delta = sp->absolute ? amount - cur : amount;
    json_t *item = json_pack("{s:O}", "id", json_object_get(q, "inventoryItemId"));
    json_t *loc = json_pack("{s:O}", "id", json_object_get(q, "locationId"));

    /* on_hand = available + committed + unavailable: setting either moves both. */
    dh_sb_level_add(lvl, on_hand ? "available" : name, delta);
    json_array_append_new(
        changes, json_pack("{s:s, s:I, s:I, s:O, s:O}", "name", on_hand ? "available" : name,
                           "delta", (json_int_t)delta, "quantityAfterChange",
                           (json_int_t)dh_sb_level_get(lvl, on_hand ? "available" : name), "item",
                           item, "location", loc));
    json_array_append_new(changes, json_pack("{s:s, s:I, s:I, s:o, s:o}", "name", "on_hand",
                                             "delta", (json_int_t)delta, "quantityAfterChange",
                                             (json_int_t)dh_sb_level_on_hand(lvl), "item", item,
                                             "location", loc));
}

static json_t *filter_changes(json_t *changes, json_t *node)
{
    json_t *cnode = dh_sb_gql_child(dh_sb_gql_child(node, "inventoryAdjustmentGroup"), "changes");
    json_t *names = json_object_get(json_object_get(cnode, "args"), "quantityNames");
    json_t *out = json_array();
    size_t i, k;
    json_t *c, *n;

    json_array_foreach(changes, i, c)
    {
        int keep = !json_is_array(names);

        json_array_foreach(names, k, n)
        {
            keep |= json_equal(n, json_object_get(c, "name"));
        }
        if (keep) {
            json_array_append(out, c);
        }
    }
    return out;
}

static json_t *inventory_change(dh_sb_shop_t *shop, json_t *node, json_t *errors,
                                const inv_spec_t *sp)
{
    json_t *input = json_object_get(json_object_get(node, "args"), "input");
    json_t *list = json_object_get(input, sp->array);
    const char *name = json_string_value(json_object_get(input, "name"));
    const char *reason = json_string_value(json_object_get(input, "reason"));
    json_t *uerr = json_array(), *seen = json_object(), *lvls = json_array(), *out = NULL;
    json_t *fresh = json_object(); /* levels the call stocks (2026-10), "item:location" */
    char msg[160], now[32], gid[80];
    size_t i;
    json_t *q;

    if (json_array_size(list) > MAX_INPUT_ARRAY) {
        snprintf(msg, sizeof msg,
                 "The input array size of %zu is greater than the maximum allowed of %d.",
                 json_array_size(list), MAX_INPUT_ARRAY);
        dh_sb_gql_error(errors, "MAX_INPUT_SIZE_EXCEEDED", msg);
        goto out;
    }
    if (!in_list(name, quantity_names, 3) || strcmp(name, "committed") == 0) {
        json_array_append_new(uerr,
                              dh_sb_user_error("INVALID_NAME", json_pack("[s, s]", "input", "name"),
                                               "The quantity name must be available or on_hand."));
    } else if (!in_list(reason, reasons, sizeof reasons / sizeof reasons[0])) {
        json_array_append_new(uerr, dh_sb_user_error("INVALID_REASON",
                                                     json_pack("[s, s]", "input", "reason"),
                                                     "The reason is not valid."));
    } else {
        json_array_foreach(list, i, q)
        {
            json_t *lvl = check_entry(shop, sp, name, q, i, seen, fresh, uerr);

            json_array_append(lvls, lvl ? lvl : json_null());
        }
    }
    if (json_array_size(uerr) > 0) { /* all or nothing */
        out = json_pack("{s:n, s:O}", "inventoryAdjustmentGroup", "userErrors", uerr);
        goto out;
    }
    json_t *changes = json_array();
    const char *key;
    json_t *lvl;

    json_object_foreach(fresh, key, lvl)
    {
        json_object_set(shop->levels, key, lvl);
    }
    json_array_foreach(list, i, q)
    {
        apply_entry(sp, name, q, json_array_get(lvls, i), changes);
    }
    dh_sb_iso_now(now, sizeof now);
    snprintf(gid, sizeof gid, "gid://shopify/InventoryAdjustmentGroup/%lld",
             dh_sb_shop_next_id(shop));
    out = json_pack("{s:{s:s, s:s, s:s?, s:O?, s:o, s:O?}, s:[]}", "inventoryAdjustmentGroup", "id",
                    gid, "createdAt", now, "reason", reason, "referenceDocumentUri",
                    json_object_get(input, "referenceDocumentUri"), "changes",
                    filter_changes(changes, node), "app", NULL, "userErrors");
    json_decref(changes);
out:
    json_decref(uerr);
    json_decref(seen);
    json_decref(lvls);
    json_decref(fresh);
    return out;
}

json_t *dh_sb_op_inventory_set(dh_sb_state_t *st, dh_sb_shop_t *shop, json_t *node, json_t *errors)
{
    static const inv_spec_t sp = {"quantities", "quantity", 1};

    (void)st;
    return inventory_change(shop, node, errors, &sp);
}

json_t *dh_sb_op_inventory_adjust(dh_sb_state_t *st, dh_sb_shop_t *shop, json_t *node,
                                  json_t *errors)
{
    static const inv_spec_t sp = {"changes", "delta", 0};

    (void)st;
    return inventory_change(shop, node, errors, &sp);
}
