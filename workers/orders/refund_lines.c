/*
 * dh-orders pure core: which (location, SKU) pairs a Shopify refund restocked. The REST
 * Refund resource (refunds/create webhook body) lists refund_line_items, each with
 * restock_type ("no_restock", "cancel", "return", or the deprecated "legacy_restock"),
 * location_id (the restock location, null without restock) and line_item (its sku):
 * https://shopify.dev/docs/api/admin-rest/2024-10/resources/refund
 */
#include <string.h>

#include "dockhand/validate.h"
#include "orders.h"

static int restocks(const char *type)
{
    return type &&
           (!strcmp(type, "return") || !strcmp(type, "cancel") || !strcmp(type, "legacy_restock"));
}

/* 1 when \p list already holds {location, sku}. */
static int listed(json_t *list, const char *loc, const char *sku)
{
    size_t i;
    json_t *p;

    json_array_foreach(list, i, p)
    {
        if (!strcmp(json_string_value(json_object_get(p, "location")), loc) &&
            !strcmp(json_string_value(json_object_get(p, "sku")), sku)) {
            return 1;
        }
    }
    return 0;
}

json_t *orders_refund_restocks(json_t *refund, size_t *skipped)
{
    json_t *out = json_array(), *r;
    size_t i;

    *skipped = 0;
    json_array_foreach(json_object_get(refund, "refund_line_items"), i, r)
    {
        char loc[32];
        const char *sku =
            json_string_value(json_object_get(json_object_get(r, "line_item"), "sku"));

        if (!restocks(json_string_value(json_object_get(r, "restock_type")))) {
            continue;
        }
        if (!dh_v_shopify_ref(json_object_get(r, "location_id"), loc, sizeof(loc)) || !sku ||
            !*sku) {
            (*skipped)++;
            continue;
        }
        if (!listed(out, loc, sku)) {
            json_array_append_new(out, json_pack("{s:s, s:s}", "location", loc, "sku", sku));
        }
    }
    return out;
}
