/*
 * libFuzzer harness: dh-orders' decode and mapping (workers/orders/mapping.c). The input
 * is a shopify.orders value as the gateway forwards it: the harness does what o_decode()
 * and the effects do with it (order id, createSalesOrder and cancelSalesOrder bodies),
 * reads it as a GraphQL order node too (reconciliation replies come from Shopify), and
 * feeds the raw bytes to the string helpers (dh-topic, tags, decimals, times).
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_support.h"
#include "orders.h"

#define STORE "acme-apparel.myshopify.com"
#define HOLD  "returnprime,exchange"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fz_quiet();
    return 0;
}

/* What decode_order() and the effects ask of a REST order. */
static void map_order(json_t *order)
{
    char id[32], err[300];
    json_t *body = NULL, *cancel;
    int held = -1, rc;

    (void)orders_order_id(order, id, sizeof(id));
    for (int pending = 0; pending < 2; pending++) {
        orders_map_opts_t opts = {.hold_tags = HOLD, .hold_pending = pending};

        err[0] = '\0';
        rc = orders_wms_create_body(STORE, order, &opts, &body, &held, err, sizeof(err));
        if (rc == 0) {
            fz_check(body != NULL && (held == 0 || held == 1), "create body on success");
        } else {
            /* 1: nothing left to ship; -1: a field is wrong. Either way a reason, no body. */
            fz_check((rc == 1 || rc == -1) && body == NULL && err[0] != '\0',
                     "no body and a reason otherwise");
        }
        json_decref(body);
        body = NULL;
    }
    cancel = orders_wms_cancel_body(order, err, sizeof(err));
    json_decref(cancel);
}

/* The string helpers on the raw bytes: they see header values and JSON strings. */
static void strings(const uint8_t *data, size_t size)
{
    char *s = fz_text(data, size), out[64], back[64];
    orders_kind_t kind;
    int64_t t, t2;

    (void)orders_kind_parse((const char *)data, size, &kind);
    (void)orders_hold_tag(s, HOLD, out, sizeof(out));
    (void)orders_hold_tag(HOLD ",vip", s, out, sizeof(out));
    if (orders_decimal(s, out, sizeof(out)) == 0) {
        /* Normalised once, it must be a fixed point. */
        fz_check(orders_decimal(out, back, sizeof(back)) == 0 && strcmp(out, back) == 0,
                 "orders_decimal is idempotent");
    }
    if (orders_time_utc(s, out, sizeof(out)) == 0) {
        /* The WMS gets it: a 20-character RFC 3339 UTC time of the same instant. */
        fz_check(strlen(out) == 20 && orders_time_parse(s, &t) == 0 &&
                     orders_time_parse(out, &t2) == 0 && t2 == t,
                 "orders_time_utc gives YYYY-MM-DDTHH:MM:SSZ of the same instant");
    }
    free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_error_t jerr;
    json_t *root = json_loadb((const char *)data, size, 0, &jerr); /* new reference */
    char err[300];

    if (json_is_object(root)) {
        json_t *rest;

        map_order(root);
        /* The same bytes as a GraphQL order node (orderForReconcile / ordersUpdatedSince). */
        rest = orders_from_gql_node(root, err, sizeof(err));
        if (rest) {
            fz_check(json_is_object(rest), "a converted node is an object");
            map_order(rest);
        }
        json_decref(rest);
    }
    json_decref(root);
    strings(data, size);
    return 0;
}
