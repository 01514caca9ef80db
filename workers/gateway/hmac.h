/*
 * Webhook signature checks for the gateway: HMAC-SHA256, base64 and hex codecs, and
 * the two verifiers (Shopify: base64 of HMAC(raw body); Return Prime: hex of
 * HMAC("<timestamp>.<raw body>")). Pure functions: no I/O, no allocation except the
 * Return Prime message buffer, safe from any thread. Comparisons are constant-time
 * (CRYPTO_memcmp) so the response time does not leak how many bytes matched.
 */
#ifndef DH_GW_HMAC_H
#define DH_GW_HMAC_H

#include <stddef.h>

#include "dockhand/err.h"

#define DH_GW_MAC_LEN 32

/** @brief HMAC-SHA256 of \p data with \p key into \p out. @returns DH_OK or DH_ERR_INVALID. */
DH_NODISCARD dh_err_t dh_gw_hmac_sha256(const void *key, size_t key_len, const void *data,
                                        size_t data_len, unsigned char out[DH_GW_MAC_LEN]);

/** @brief Plain SHA-256 of \p data. @returns DH_OK or DH_ERR_INVALID. */
DH_NODISCARD dh_err_t dh_gw_sha256(const void *data, size_t len, unsigned char out[DH_GW_MAC_LEN]);

/**
 * @brief Decode standard base64 (padding required, no whitespace) into \p out.
 * @param out_len  Bytes written.
 * @returns DH_OK, DH_ERR_INVALID (not base64) or DH_ERR_LIMIT (does not fit \p out_size).
 */
DH_NODISCARD dh_err_t dh_gw_base64_decode(const char *in, size_t in_len, unsigned char *out,
                                          size_t out_size, size_t *out_len);

/** @brief Standard base64 of \p in into \p out (NUL-terminated; needs 4*ceil(n/3)+1 bytes). */
void dh_gw_base64_encode(const unsigned char *in, size_t n, char *out);

/** @brief Decode exactly \p out_size bytes of hex (either case). @returns DH_OK or DH_ERR_INVALID.
 */
DH_NODISCARD dh_err_t dh_gw_hex_decode(const char *in, size_t in_len, unsigned char *out,
                                       size_t out_size);

/**
 * @brief Check a Shopify X-Shopify-Hmac-Sha256 value against every secret.
 * @param secrets  NULL-terminated; two during a rotation (Shopify may sign with either
 *                 for up to an hour). Empty secrets are skipped.
 * @returns 1 if \p header_b64 is the base64 HMAC of \p body under one of them, else 0
 *          (also for a missing/undecodable header).
 */
int dh_gw_shopify_verify(const char *const *secrets, const void *body, size_t body_len,
                         const char *header_b64);

/**
 * @brief Check a Return Prime X-RP-Signature: hex(HMAC-SHA256(secret, timestamp "." body)).
 * @returns 1 when it matches, else 0 (also when any argument is missing or empty).
 */
int dh_gw_returnprime_verify(const char *secret, const char *timestamp, const void *body,
                             size_t body_len, const char *header_hex);

#endif
