/*
 * libFuzzer harness: the WMS event checks of common/src/validate.c. Input: a WMS event
 * value; the envelope is checked for each consumer's accepted types, the typed member
 * checks run on its fields, and the raw bytes go through every format predicate. A
 * passing envelope must hold what the consumers then rely on.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dockhand/validate.h"
#include "fuzz_support.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fz_quiet();
    return 0;
}

static void envelope(json_t *root, const char *const *accepted)
{
    char err[512] = "";
    dh_vctx_t v = {err, sizeof(err), 0};
    dh_wms_envelope_t env;

    memset(&env, 0, sizeof(env));
    dh_v_wms_envelope(&v, root, accepted, &env);
    if (v.failed) {
        fz_check(err[0] != '\0', "a failed envelope has a reason");
        return;
    }
    fz_check(dh_v_uuid_ok(env.event_id), "event_id is a uuid");
    fz_check(env.scope[0] != '\0', "scope is set");
    fz_check(strcmp(env.scope, env.store[0] ? env.store : env.tenant) == 0,
             "scope is the store, else the tenant");
    fz_check(!env.store[0] || dh_v_domain_ok(env.store), "store is a shop domain");
    fz_check(!env.tenant[0] || dh_v_code_ok(env.tenant), "tenant is a code");
}

static void members(json_t *root)
{
    static const char *const allowed[] = {"online", "offline", "dispatch", NULL};
    char err[512] = "";
    dh_vctx_t v = {err, sizeof(err), 0};
    const char *s = NULL;
    int64_t i = -1;

    if (dh_v_int(&v, root, "", "sequence", 0, 9007199254740991LL, &i)) {
        fz_check(i >= 0 && i <= 9007199254740991LL, "dh_v_int keeps its bounds");
    }
    (void)dh_v_int(&v, json_object_get(root, "stock"), "/stock", "allocated", 0, 2147483647LL, &i);
    s = dh_v_str(&v, root, "", "sku", 1, 1, 255);
    fz_check(!s || (dh_v_u8len(s) >= 1 && dh_v_u8len(s) <= 255), "dh_v_str keeps its bounds");
    (void)dh_v_enum(&v, root, "", "zone_class", allowed, &s);
}

static void predicates(const uint8_t *data, size_t size)
{
    char *s = fz_text(data, size);

    fz_check(dh_v_u8len(s) <= strlen(s), "code points <= bytes");
    (void)dh_v_code_ok(s);
    (void)dh_v_domain_ok(s);
    (void)dh_v_sku_ok(s);
    (void)dh_v_uuid_ok(s);
    (void)dh_v_rfc3339_ok(s);
    (void)dh_v_shopify_id_ok(s);
    free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const inventory[] = {"putaway", "zone_move", NULL};
    static const char *const dispatch[] = {"dispatch", "delivery_status", NULL};
    json_error_t jerr;
    json_t *root = json_loadb((const char *)data, size, 0, &jerr); /* new reference */

    if (json_is_object(root)) {
        envelope(root, inventory);
        envelope(root, dispatch);
        members(root);
    }
    json_decref(root);
    predicates(data, size);
    return 0;
}
