/*
 * libFuzzer harness: the stores file parser (common/src/stores.c, dh_stores_parse()). The
 * input is a DH_STORES_FILE. A parsed file must answer its own lookups: every domain and
 * tenant finds its store, and every facility -> location maps back (the parser promises
 * unique names and an unambiguous reverse map). Problem texts are also written into tiny
 * buffers to exercise their truncation.
 *
 * Hermetic: an "access_token_file" in the input would make the parser open any path
 * (a FIFO would hang the fuzzer), so such inputs are parsed with every one of those paths
 * pointing at tests/fuzz/token.txt instead.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dockhand/stores.h"
#include "fuzz_support.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fz_quiet();
    return 0;
}

/* The input as the parser should see it: NULL to use the bytes as they are, else a new
 * text (free()) with every access_token_file replaced by DH_FUZZ_TOKEN_FILE. */
static char *hermetic(const uint8_t *data, size_t size)
{
    json_error_t jerr;
    json_t *doc = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &jerr);
    json_t *js;
    size_t i;
    int rewritten = 0;
    char *text = NULL;

    json_array_foreach(json_object_get(doc, "stores"), i, js)
    {
        if (json_object_get(js, "access_token_file")) {
            json_object_set_new(js, "access_token_file", json_string(DH_FUZZ_TOKEN_FILE));
            rewritten = 1;
        }
    }
    if (rewritten) {
        text = json_dumps(doc, 0);
        fz_check(text != NULL, "json_dumps");
    }
    json_decref(doc);
    return text;
}

static void lookups(const dh_stores_t *s, const uint8_t *data, size_t size)
{
    json_error_t jerr;
    json_t *doc = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &jerr);
    json_t *arr = json_object_get(doc, "stores"), *js, *t, *loc;
    size_t i, k;
    const char *fac;

    fz_check(dh_stores_count(s) > 0 && dh_stores_count(s) == json_array_size(arr),
             "one store per entry");
    for (i = 0; i < dh_stores_count(s); i++) {
        const dh_store_t *st = dh_stores_at(s, i);

        js = json_array_get(arr, i);
        fz_check(st && dh_stores_find(s, st->domain) == st, "a domain finds its store");
        fz_check(st->webhook_secrets != NULL && st->access_token && st->admin_url,
                 "no NULL strings in a store");
        json_array_foreach(json_object_get(js, "tenants"), k, t)
        {
            fz_check(dh_stores_find(s, json_string_value(t)) == st, "a tenant finds its store");
        }
        json_object_foreach(json_object_get(js, "locations"), fac, loc)
        {
            const char *gid = dh_stores_location(s, st, fac), *back;

            fz_check(gid && strcmp(gid, json_string_value(loc)) == 0, "facility -> location");
            back = dh_stores_facility(s, st, gid);
            fz_check(back && strcmp(dh_stores_location(s, st, back), gid) == 0,
                     "location -> facility -> the same location");
        }
    }
    json_decref(doc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = hermetic(data, size), err[2048], tiny[8];
    const char *in = text ? text : (const char *)data;
    size_t len = text ? strlen(text) : size;
    dh_stores_t *s = NULL;

    if (dh_stores_parse(in, len, &s, err, sizeof(err)) == DH_OK) {
        fz_check(s != NULL, "a store set on success");
        lookups(s, (const uint8_t *)in, len);
    } else {
        fz_check(s == NULL && err[0] != '\0', "no store set and a reason on failure");
    }
    dh_stores_destroy(s);
    s = NULL;
    if (dh_stores_parse(in, len, &s, tiny, 1 + size % sizeof(tiny)) != DH_OK) {
        fz_check(memchr(tiny, '\0', 1 + size % sizeof(tiny)) != NULL, "errstr is terminated");
    }
    dh_stores_destroy(s);
    free(text);
    return 0;
}
