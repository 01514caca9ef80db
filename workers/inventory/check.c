/*
 * The checks dh-inventory applies to a message before any effect, in one pure function
 * that the worker's decode() and dh-ops validate both call, so a producer team's
 * validation is exactly the worker's: the contract (inv_event_parse), the key, and the
 * store, tenant and facility mapping of the stores file.
 */
#include "check.h"

#include <stdio.h>

const char *inv_event_check(const dh_stores_t *stores, const dh_msg_t *msg, inv_item_t *it,
                            char *err, size_t size)
{
    char why[400];
    inv_parse_t pr = inv_event_parse(msg->payload, msg->len, inv_kind_of_topic(msg->topic), &it->ev,
                                     why, sizeof(why));

    if (pr != INV_PARSE_OK) {
        snprintf(err, size, "schema: %s", why);
        return pr == INV_PARSE_DECODE ? "decode" : "schema";
    }
    if (!inv_key_matches(&it->ev, msg->key, msg->key_len)) {
        snprintf(err, size, "message key '%.*s' is not '%s|%s|%s'",
                 (int)(msg->key_len > 200 ? 200 : msg->key_len), msg->key ? msg->key : "",
                 it->ev.scope, it->ev.facility, it->ev.sku);
        return "schema";
    }
    it->store = dh_stores_find(stores, it->ev.scope);
    if (!it->store) {
        snprintf(err, size, "no store configured for '%s'", it->ev.scope);
        return "unknown-tenant";
    }
    if (it->ev.tenant[0] && dh_stores_find(stores, it->ev.tenant) != it->store) {
        snprintf(err, size, "tenant '%s' does not map to store '%s'", it->ev.tenant,
                 it->store->domain);
        return "unknown-tenant";
    }
    it->location = dh_stores_location(stores, it->store, it->ev.facility);
    if (!it->location) {
        snprintf(err, size, "facility '%s' has no Shopify location in store '%s'", it->ev.facility,
                 it->store->domain);
        return "unknown-facility";
    }
    for (size_t i = 0; i < dh_stores_count(stores); i++) {
        if (dh_stores_at(stores, i) == it->store) {
            it->store_index = i;
        }
    }
    return NULL;
}
