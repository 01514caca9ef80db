/*
 * libFuzzer harness: dh-inventory's event decode (workers/inventory/event.c and the pure
 * quantity rules of shareable.c). Input: a wms.putaway / wms.zone_move value, parsed as
 * each topic would (putaway, zone move, unrecognised topic), as inv_decode() does; then the
 * key check and the on_hand target. The raw bytes are also a Shopify userErrors field path
 * (batch.c reads those from inventorySetQuantities replies) and a topic name.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "event.h"
#include "fuzz_support.h"
#include "shareable.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fz_quiet();
    return 0;
}

static void decode(const uint8_t *data, size_t size, inv_kind_t expect)
{
    static char key[sizeof(((inv_event_t *)0)->scope) + 80 + sizeof(((inv_event_t *)0)->sku)];
    inv_event_t ev;
    char err[512];
    size_t n;

    if (inv_event_parse((const char *)data, size, expect, &ev, err, sizeof(err)) != INV_PARSE_OK) {
        fz_check(err[0] != '\0', "a rejected event has a reason");
        return;
    }
    fz_check(ev.kind == INV_PUTAWAY || ev.kind == INV_ZONE_MOVE, "a valid event has a kind");
    fz_check(expect == INV_ANY || ev.kind == expect, "the topic's kind is enforced");
    fz_check(ev.scope[0] && ev.facility[0] && ev.sku[0], "a valid event has its key parts");
    n = (size_t)snprintf(key, sizeof(key), "%s|%s|%s", ev.scope, ev.facility, ev.sku);
    fz_check(n < sizeof(key) && inv_key_matches(&ev, key, n), "the canonical key matches");
    fz_check(!inv_key_matches(&ev, key, n - 1), "a shorter key does not");
    fz_check(inv_target_on_hand(&ev.stock) >= 0 && inv_target_on_hand(&ev.stock) <= INV_QTY_MAX,
             "0 <= on_hand target <= INV_QTY_MAX");
    fz_check(inv_shareable(&ev.stock) <= inv_target_on_hand(&ev.stock),
             "shareable <= on_hand target");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_error_t jerr;
    json_t *root = json_loadb((const char *)data, size, 0, &jerr); /* new reference */
    char *s;

    decode(data, size, INV_PUTAWAY);
    decode(data, size, INV_ZONE_MOVE);
    decode(data, size, INV_ANY);
    (void)inv_user_error_index(root);
    (void)inv_user_error_index(json_object_get(root, "field"));
    json_decref(root);
    s = fz_text(data, size);
    (void)inv_kind_of_topic(s);
    free(s);
    return 0;
}
