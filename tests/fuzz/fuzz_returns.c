/*
 * libFuzzer harness: dh-returns' decode and mapping (workers/returns/mapping.c). The input
 * is a returnprime.cir value (a Return Prime webhook body as the gateway forwards it):
 * parse and validate it, decide per dh-topic, build the WMS createReturn body, as
 * r_decode() does. The raw bytes are also a DH_RETURNS_CREATE_STATUSES list and a
 * dh-topic value.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_support.h"
#include "returns.h"

#define STORE "acme-apparel.myshopify.com"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fz_quiet();
    return 0;
}

static void decode(const uint8_t *data, size_t size, unsigned mask)
{
    static const char *const topics[] = {"request/created", "request/approved", "request/updated",
                                         "request/rejected"};
    char err[512];
    returns_request_t rq;
    returns_parse_t pr = returns_request_parse((const char *)data, size, &rq, err, sizeof(err));

    if (pr != RETURNS_PARSE_OK) {
        fz_check(err[0] != '\0', "a rejected request has a reason");
        returns_request_clear(&rq);
        return;
    }
    fz_check(rq.id[0] != '\0' && rq.status != NULL, "a valid request has an id and a status");
    for (size_t i = 0; i < sizeof(topics) / sizeof(topics[0]); i++) {
        returns_action_t a = returns_action(topics[i], strlen(topics[i]), rq.status, mask);

        fz_check(a != RETURNS_BAD_TOPIC, "contract topics are known");
        if (a == RETURNS_CREATE) {
            const char *cls = NULL;
            json_t *body = returns_wms_body(&rq, STORE, &cls, err, sizeof(err));

            fz_check(body != NULL || (cls != NULL && err[0] != '\0'),
                     "a body, or an error class and a reason");
            json_decref(body);
        }
    }
    returns_request_clear(&rq);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fz_text(data, size), err[256];
    unsigned mask = 0;

    if (returns_statuses_parse(s, &mask, err, sizeof(err)) != 0) {
        mask = 0;
    }
    (void)returns_action((const char *)data, size, "approved", mask);
    free(s);
    decode(data, size, 0xffffffffu);
    return 0;
}
