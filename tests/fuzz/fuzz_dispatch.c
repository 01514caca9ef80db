/*
 * libFuzzer harness: dh-dispatch's decode and mapping (workers/dispatch/mapping.c).
 * Input: a wms.dispatch value, optionally followed by a NUL byte and a Shopify order (the
 * data.order of orderFulfillmentOrders / orderFulfillments, also from outside). JSON text
 * never holds a raw NUL, so the split is unambiguous and plain examples are valid seeds.
 * The harness does what d_decode() and the effects do: parse, check the key, map the
 * status, and with an order find fulfillments and plan fulfillmentCreate calls.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "dispatch.h"
#include "fuzz_support.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fz_quiet();
    return 0;
}

/* Units in a plan group's fulfillmentOrderLineItems; each must be >= 1. */
static int64_t planned(json_t *group)
{
    size_t i, k;
    json_t *fo, *item;
    int64_t sum = 0;

    json_array_foreach(json_object_get(group, "lineItemsByFulfillmentOrder"), i, fo)
    {
        json_array_foreach(json_object_get(fo, "fulfillmentOrderLineItems"), k, item)
        {
            json_int_t q = json_integer_value(json_object_get(item, "quantity"));

            fz_check(q >= 1, "a planned quantity is >= 1");
            sum += q;
        }
    }
    return sum;
}

static void plan(const dispatch_event_t *ev, json_t *order, const char *prefer)
{
    char err[512];
    dispatch_plan_t p;
    dispatch_plan_rc_t rc = dispatch_plan_build(ev, order, prefer, &p, err, sizeof(err));
    int64_t units = 0, shipped = 0;
    size_t i;
    json_t *group;

    if (rc == DISPATCH_PLAN_OK) {
        fz_check(json_is_array(p.groups), "a plan is an array of groups");
        fz_check(p.capped >= 0 && p.skipped >= p.capped, "0 <= capped <= skipped");
        json_array_foreach(p.groups, i, group)
        {
            units += planned(group);
            json_decref(dispatch_create_vars(ev, group, (int)(i & 1)));
        }
        for (i = 0; i < ev->nlines; i++) {
            shipped += ev->lines[i].quantity;
        }
        fz_check(units + p.skipped == shipped, "every shipped unit is planned or skipped");
    } else {
        fz_check(err[0] != '\0', "a failed plan has a reason");
    }
    dispatch_plan_clear(&p);
}

static void with_order(const dispatch_event_t *ev, const char *buf, size_t len)
{
    json_error_t jerr;
    json_t *root = json_loadb(buf, len, 0, &jerr);                           /* new reference */
    json_t *order = json_object_get(json_object_get(root, "data"), "order"); /* borrowed */

    if (!order) {
        order = root;
    }
    if (json_is_object(order)) {
        json_decref(dispatch_find_fulfillments(order, ev->tracking_number));
        if (ev->kind == DISPATCH_SHIPMENT) {
            plan(ev, order, NULL);
            plan(ev, order, "gid://shopify/Location/11");
        }
    }
    json_decref(root);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *buf = (const char *)data, *nul = memchr(data, '\0', size);
    size_t elen = nul ? (size_t)(nul - buf) : size;
    char err[512], key[600];
    dispatch_event_t ev;
    int failure = 0;

    if (dispatch_event_parse(buf, elen, &ev, err, sizeof(err)) != DISPATCH_PARSE_OK) {
        fz_check(err[0] != '\0', "a rejected event has a reason");
        dispatch_event_clear(&ev);
        return 0;
    }
    fz_check(ev.env.scope[0] != '\0' && ev.order_id && ev.shipment_id, "a valid event has ids");
    snprintf(key, sizeof(key), "%s|%s", ev.env.scope, ev.order_id);
    fz_check(dispatch_key_matches(&ev, key, strlen(key)), "the canonical key matches");
    fz_check(!dispatch_key_matches(&ev, key, strlen(key) - 1), "a shorter key does not");
    if (ev.kind == DISPATCH_STATUS) {
        fz_check(dispatch_status_map(ev.status, &failure) != NULL, "a valid status maps");
    } else {
        fz_check(ev.nlines > 0 && ev.tracking_number, "a dispatch has lines and tracking");
    }
    json_decref(dispatch_event_vars(&ev, "gid://shopify/Fulfillment/1"));
    if (nul) {
        with_order(&ev, nul + 1, size - elen - 1);
    }
    dispatch_event_clear(&ev);
    return 0;
}
