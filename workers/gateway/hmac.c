/*
 * Signature verification for incoming webhooks. The body is always the raw bytes as
 * received: Shopify signs exactly those, so nothing here may parse or re-serialise it.
 */
#include "hmac.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdlib.h>
#include <string.h>

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

dh_err_t dh_gw_hmac_sha256(const void *key, size_t key_len, const void *data, size_t data_len,
                           unsigned char out[DH_GW_MAC_LEN])
{
    unsigned int out_len = 0;
    static const unsigned char empty = 0;

    if (key_len > 0x7fffffff) {
        return DH_ERR_INVALID;
    }
    /* OpenSSL rejects a NULL data pointer even with length 0; an empty body is legal. */
    if (!HMAC(EVP_sha256(), key, (int)key_len, data ? data : &empty, data_len, out, &out_len) ||
        out_len != DH_GW_MAC_LEN) {
        return DH_ERR_INVALID;
    }
    return DH_OK;
}

dh_err_t dh_gw_sha256(const void *data, size_t len, unsigned char out[DH_GW_MAC_LEN])
{
    unsigned int out_len = 0;
    static const unsigned char empty = 0;

    if (!EVP_Digest(data ? data : &empty, len, out, &out_len, EVP_sha256(), NULL) ||
        out_len != DH_GW_MAC_LEN) {
        return DH_ERR_INVALID;
    }
    return DH_OK;
}

static int b64_value(char c)
{
    const char *p = c ? strchr(b64_alphabet, c) : NULL;

    return p ? (int)(p - b64_alphabet) : -1;
}

dh_err_t dh_gw_base64_decode(const char *in, size_t in_len, unsigned char *out, size_t out_size,
                             size_t *out_len)
{
    size_t n = 0;

    *out_len = 0;
    if (in_len % 4 != 0) {
        return DH_ERR_INVALID;
    }
    for (size_t i = 0; i < in_len; i += 4) {
        int v[4];
        int pad = 0;

        for (int k = 0; k < 4; k++) {
            /* '=' only in the last two positions of the last quantum. */
            if (in[i + k] == '=' && i + 4 == in_len && k >= 2) {
                v[k] = 0;
                pad++;
                continue;
            }
            v[k] = pad ? -1 : b64_value(in[i + k]);
            if (v[k] < 0) {
                return DH_ERR_INVALID;
            }
        }
        unsigned long triple = ((unsigned long)v[0] << 18) | ((unsigned long)v[1] << 12) |
                               ((unsigned long)v[2] << 6) | (unsigned long)v[3];
        size_t take = 3 - (size_t)pad;

        if (n + take > out_size) {
            return DH_ERR_LIMIT;
        }
        for (size_t k = 0; k < take; k++) {
            out[n++] = (unsigned char)(triple >> (16 - 8 * k));
        }
    }
    *out_len = n;
    return DH_OK;
}

void dh_gw_base64_encode(const unsigned char *in, size_t n, char *out)
{
    size_t o = 0;

    for (size_t i = 0; i < n; i += 3) {
        unsigned long t = (unsigned long)in[i] << 16;
        size_t left = n - i;

        if (left > 1) {
            t |= (unsigned long)in[i + 1] << 8;
        }
        if (left > 2) {
            t |= in[i + 2];
        }
        out[o++] = b64_alphabet[(t >> 18) & 63];
        out[o++] = b64_alphabet[(t >> 12) & 63];
        out[o++] = left > 1 ? b64_alphabet[(t >> 6) & 63] : '=';
        out[o++] = left > 2 ? b64_alphabet[t & 63] : '=';
    }
    out[o] = '\0';
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

dh_err_t dh_gw_hex_decode(const char *in, size_t in_len, unsigned char *out, size_t out_size)
{
    if (in_len != 2 * out_size) {
        return DH_ERR_INVALID;
    }
    for (size_t i = 0; i < out_size; i++) {
        int hi = hex_value(in[2 * i]);
        int lo = hex_value(in[2 * i + 1]);

        if (hi < 0 || lo < 0) {
            return DH_ERR_INVALID;
        }
        out[i] = (unsigned char)(hi << 4 | lo);
    }
    return DH_OK;
}

int dh_gw_shopify_verify(const char *const *secrets, const void *body, size_t body_len,
                         const char *header_b64)
{
    unsigned char given[DH_GW_MAC_LEN + 3], mac[DH_GW_MAC_LEN];
    size_t given_len = 0;
    int ok = 0;

    if (!secrets || !header_b64 ||
        dh_gw_base64_decode(header_b64, strlen(header_b64), given, sizeof(given), &given_len) ||
        given_len != DH_GW_MAC_LEN) {
        return 0;
    }
    /* Try every secret (no early exit) so timing does not reveal which one matched. */
    for (size_t i = 0; secrets[i]; i++) {
        if (!*secrets[i] ||
            dh_gw_hmac_sha256(secrets[i], strlen(secrets[i]), body, body_len, mac)) {
            continue;
        }
        ok |= CRYPTO_memcmp(mac, given, DH_GW_MAC_LEN) == 0;
    }
    OPENSSL_cleanse(mac, sizeof(mac));
    return ok;
}

int dh_gw_returnprime_verify(const char *secret, const char *timestamp, const void *body,
                             size_t body_len, const char *header_hex)
{
    unsigned char given[DH_GW_MAC_LEN], mac[DH_GW_MAC_LEN];
    size_t ts_len = timestamp ? strlen(timestamp) : 0;
    char *msg = NULL;
    int ok = 0;

    if (!secret || !*secret || !ts_len || !header_hex ||
        dh_gw_hex_decode(header_hex, strlen(header_hex), given, sizeof(given))) {
        goto out;
    }
    msg = malloc(ts_len + 1 + body_len + 1);
    if (!msg) {
        goto out;
    }
    memcpy(msg, timestamp, ts_len);
    msg[ts_len] = '.';
    if (body_len) {
        memcpy(msg + ts_len + 1, body, body_len);
    }
    if (dh_gw_hmac_sha256(secret, strlen(secret), msg, ts_len + 1 + body_len, mac)) {
        goto out;
    }
    ok = CRYPTO_memcmp(mac, given, DH_GW_MAC_LEN) == 0;
out:
    OPENSSL_cleanse(mac, sizeof(mac));
    free(msg);
    return ok;
}
