/*
 * The console's redrive guard. A POST must carry the operator token (DH_CONSOLE_TOKEN,
 * typed into the form or sent as "Authorization: Bearer") and a CSRF token bound to the
 * session cookie: HMAC-SHA256 of the session id under a secret drawn at start, so a page
 * of another site can neither read nor forge it (the cookie is also SameSite=Strict).
 */
#include <microhttpd.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <string.h>

#include "console.h"

void console_csrf(const console_t *c, const char *session, char *out, size_t size)
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int len = 0;

    out[0] = '\0';
    if (!session || !*session || size < 65 ||
        !HMAC(EVP_sha256(), c->secret, (int)sizeof(c->secret), (const unsigned char *)session,
              strlen(session), mac, &len)) {
        return;
    }
    for (unsigned int i = 0; i < len && i < 32; i++) {
        snprintf(out + 2 * i, 3, "%02x", mac[i]);
    }
}

int console_same(const char *a, const char *b)
{
    size_t la = a ? strlen(a) : 0, lb = b ? strlen(b) : 0;

    return a && b && la == lb && la > 0 && !CRYPTO_memcmp(a, b, la);
}

/* Field \p name of an urlencoded form, decoded into \p out ("" when absent). */
void console_form_get(const char *body, const char *name, char *out, size_t size)
{
    size_t nl = strlen(name);

    out[0] = '\0';
    for (const char *p = body; p && *p; p = strchr(p, '&') ? strchr(p, '&') + 1 : NULL) {
        if (!strncmp(p, name, nl) && p[nl] == '=') {
            const char *v = p + nl + 1, *end = strchr(v, '&');
            size_t len = end ? (size_t)(end - v) : strlen(v);

            snprintf(out, size, "%.*s", (int)(len < size ? len : size - 1), v);
            for (char *q = out; *q; q++) {
                *q = *q == '+' ? ' ' : *q;
            }
            MHD_http_unescape(out);
            return;
        }
    }
}
