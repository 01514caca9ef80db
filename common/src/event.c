/*
 * Effect ids, built in one place. The id keys the runtime's idempotency record, so it must
 * be a function of the effect alone: an id that does not fit dh_event_t.effect_id is not
 * cut (two effects sharing a prefix would then share a record, and the second would be
 * skipped as a duplicate) but replaced by a prefix plus the SHA-256 of the whole id.
 */
#include <stdarg.h>

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dockhand/worker.h"

#define DIGEST_HEX (2 * 32)

_Static_assert(DH_EFFECT_DIGEST_PREFIX + 1 + DIGEST_HEX < sizeof(((dh_event_t *)0)->effect_id),
               "the digest form must fit effect_id");

/* "<first DH_EFFECT_DIGEST_PREFIX bytes>~<sha256 hex of id>" into out. */
static dh_err_t digest_form(const char *id, size_t len, char *out, size_t size)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    size_t o = DH_EFFECT_DIGEST_PREFIX;

    if (!EVP_Digest(id, len, md, &mdlen, EVP_sha256(), NULL) || mdlen * 2 != DIGEST_HEX ||
        o + 1 + DIGEST_HEX >= size) {
        return DH_ERR_NOMEM;
    }
    memcpy(out, id, o);
    out[o++] = '~';
    for (unsigned int i = 0; i < mdlen; i++) {
        out[o++] = hex[md[i] >> 4];
        out[o++] = hex[md[i] & 0x0f];
    }
    out[o] = '\0';
    return DH_OK;
}

dh_err_t dh_event_set_effect(dh_event_t *ev, const char *fmt, ...)
{
    va_list ap;
    char *full = NULL;
    int n;
    dh_err_t err = DH_ERR_NOMEM;

    va_start(ap, fmt);
    n = vsnprintf(ev->effect_id, sizeof(ev->effect_id), fmt, ap);
    va_end(ap);
    if (n < 0) {
        goto out;
    }
    if ((size_t)n < sizeof(ev->effect_id)) {
        return DH_OK;
    }
    full = malloc((size_t)n + 1);
    if (!full) {
        goto out;
    }
    va_start(ap, fmt);
    vsnprintf(full, (size_t)n + 1, fmt, ap);
    va_end(ap);
    err = digest_form(full, (size_t)n, ev->effect_id, sizeof(ev->effect_id));
out:
    if (err) {
        ev->effect_id[0] = '\0';
    }
    free(full);
    return err;
}
