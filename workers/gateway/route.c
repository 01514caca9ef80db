/*
 * Routing table and key extraction. The table is deliberately explicit: headers.md lists
 * the dh-topic values consumers accept, and an unlisted topic would be dead-lettered
 * downstream, so anything else is acknowledged here and only counted.
 */
#include "route.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

static const struct {
    const char *webhook;
    const char *kafka;
} routes[] = {
    {"orders/create", DH_GW_TOPIC_ORDERS},     {"orders/updated", DH_GW_TOPIC_ORDERS},
    {"orders/cancelled", DH_GW_TOPIC_ORDERS},  {"fulfillment_holds/released", DH_GW_TOPIC_ORDERS},
    {"products/create", DH_GW_TOPIC_PRODUCTS}, {"products/update", DH_GW_TOPIC_PRODUCTS},
    {"products/delete", DH_GW_TOPIC_PRODUCTS},
};

dh_gw_id_path_t dh_gw_id_path(const char *topic)
{
    return topic && !strncmp(topic, "fulfillment_holds/", 18) ? DH_GW_ID_ORDER : DH_GW_ID_TOP;
}

const char *dh_gw_route_shopify(const char *topic)
{
    if (!topic) {
        return NULL;
    }
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        if (!strcmp(topic, routes[i].webhook)) {
            return routes[i].kafka;
        }
    }
    return NULL;
}

static int id_text_ok(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n >= DH_GW_ID_MAX) {
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        if ((unsigned char)s[i] < 0x20 || s[i] == '|' || s[i] == 0x7f) {
            return 0;
        }
    }
    return 1;
}

dh_err_t dh_gw_extract_id(const char *body, size_t len, dh_gw_id_path_t path, char *out,
                          size_t out_size, char *errstr, size_t errstr_size)
{
    json_error_t jerr;
    json_t *root = json_loadb(body, len, 0, &jerr); /* new reference */
    json_t *obj = root, *id;                        /* borrowed */
    dh_err_t err = DH_ERR_PROTO;

    out[0] = '\0';
    if (!json_is_object(root)) {
        snprintf(errstr, errstr_size, "body is not a JSON object%s%s", root ? "" : ": ",
                 root ? "" : jerr.text);
        goto out;
    }
    err = DH_ERR_INVALID;
    if (path == DH_GW_ID_REQUEST) {
        obj = json_object_get(root, "request");
        if (!json_is_object(obj)) {
            snprintf(errstr, errstr_size, "no \"request\" object");
            goto out;
        }
    }
    if (path == DH_GW_ID_ORDER) {
        json_t *fo = json_object_get(root, "fulfillment_order");

        id = json_object_get(root, "order_id");
        if (!id && json_is_object(fo)) {
            id = json_object_get(fo, "order_id");
        }
        /* "gid://shopify/Order/123" -> "123", as the order's own webhooks are keyed. */
        if (json_is_string(id) && strrchr(json_string_value(id), '/')) {
            snprintf(out, out_size, "%s", strrchr(json_string_value(id), '/') + 1);
            err = id_text_ok(out) ? DH_OK : DH_ERR_INVALID;
            if (err) {
                snprintf(errstr, errstr_size, "invalid order id");
            }
            goto out;
        }
    } else {
        id = json_object_get(obj, "id");
    }
    if (json_is_integer(id) && json_integer_value(id) >= 0) {
        snprintf(out, out_size, "%" JSON_INTEGER_FORMAT, json_integer_value(id));
    } else if (json_is_string(id) && id_text_ok(json_string_value(id))) {
        snprintf(out, out_size, "%s", json_string_value(id));
    } else {
        snprintf(errstr, errstr_size, "missing or invalid \"id\"");
        goto out;
    }
    err = DH_OK;
out:
    json_decref(root);
    return err;
}
