/*
 * Routing table and key extraction. The table is deliberately explicit: headers.md lists
 * the dh-topic values consumers accept, and an unlisted topic would be dead-lettered
 * downstream, so anything else is acknowledged here and only counted.
 */
#include "route.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "dockhand/validate.h"

static const struct {
    const char *webhook;
    const char *kafka;
} routes[] = {
    {"orders/create", DH_GW_TOPIC_ORDERS},
    {"orders/updated", DH_GW_TOPIC_ORDERS},
    {"orders/cancelled", DH_GW_TOPIC_ORDERS},
    {"fulfillment_holds/released", DH_GW_TOPIC_ORDERS},
    {"fulfillment_holds/added", DH_GW_TOPIC_ORDERS},
    {"refunds/create", DH_GW_TOPIC_ORDERS},
    {"products/create", DH_GW_TOPIC_PRODUCTS},
    {"products/update", DH_GW_TOPIC_PRODUCTS},
    {"products/delete", DH_GW_TOPIC_PRODUCTS},
};

dh_gw_id_path_t dh_gw_id_path(const char *topic)
{
    /* Keyed by their order so they stay in order with its orders/ events. */
    return topic && (!strncmp(topic, "fulfillment_holds/", 18) || !strcmp(topic, "refunds/create"))
               ? DH_GW_ID_ORDER
               : DH_GW_ID_TOP;
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

/* Return Prime: request.id as dh-returns reads it (integer >= 0 or a non-empty string),
 * minus what would make the key ambiguous. */
static dh_err_t request_id(json_t *root, char *out, size_t out_size, char *errstr,
                           size_t errstr_size)
{
    json_t *obj = json_object_get(root, "request"), *id = json_object_get(obj, "id");

    if (!json_is_object(obj)) {
        snprintf(errstr, errstr_size, "no \"request\" object");
        return DH_ERR_INVALID;
    }
    if (json_is_integer(id) && json_integer_value(id) >= 0) {
        snprintf(out, out_size, "%" JSON_INTEGER_FORMAT, json_integer_value(id));
        return DH_OK;
    }
    if (json_is_string(id) && id_text_ok(json_string_value(id))) {
        snprintf(out, out_size, "%s", json_string_value(id));
        return DH_OK;
    }
    snprintf(errstr, errstr_size, "missing or invalid \"request\".\"id\"");
    return DH_ERR_INVALID;
}

dh_err_t dh_gw_extract_id(const char *body, size_t len, dh_gw_id_path_t path, char *out,
                          size_t out_size, char *errstr, size_t errstr_size)
{
    json_error_t jerr;
    json_t *root = json_loadb(body, len, 0, &jerr); /* new reference */
    dh_err_t err = DH_ERR_PROTO;

    out[0] = '\0';
    if (!json_is_object(root)) {
        snprintf(errstr, errstr_size, "body is not a JSON object%s%s", root ? "" : ": ",
                 root ? "" : jerr.text);
        goto out;
    }
    err = DH_ERR_INVALID;
    /* The consumers' own rules (validate.h), so what passes here is never dead-lettered
     * for its id downstream. */
    if (path == DH_GW_ID_REQUEST) {
        err = request_id(root, out, out_size, errstr, errstr_size);
    } else if (path == DH_GW_ID_ORDER) {
        if (dh_v_shopify_hold_order_id(root, out, out_size)) {
            err = DH_OK;
        } else {
            snprintf(errstr, errstr_size,
                     "no order id: \"order_id\" (or \"fulfillment_order\".\"order_id\") must "
                     "be an integer >= 1 or an Order GID");
        }
    } else if (dh_v_shopify_id(json_object_get(root, "id"), out, out_size)) {
        err = DH_OK;
    } else {
        snprintf(errstr, errstr_size, "\"id\" must be an integer >= 1");
    }
out:
    json_decref(root);
    return err;
}
