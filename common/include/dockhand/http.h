/*
 * HTTP client on a reused libcurl easy handle (keep-alive), with connect and total
 * timeouts and a response size cap. One dh_http_t per thread. Request headers are
 * never logged or copied into error text (they carry secrets).
 */
#ifndef DH_HTTP_H
#define DH_HTTP_H

#include <stddef.h>

#include "dockhand/err.h"

typedef struct dh_http_s dh_http_t;

typedef struct dh_http_opts {
    long connect_timeout_ms;
    long timeout_ms;
    size_t max_body; /**< Response bodies larger than this fail with DH_ERR_LIMIT. */
} dh_http_opts_t;

typedef struct dh_http_resp {
    long status; /**< HTTP status, 0 if no response. */
    char *body;  /**< NUL-terminated (owned; freed by dh_http_resp_clear()). */
    size_t body_len;
    long retry_after_s; /**< Parsed Retry-After header in seconds, -1 if absent. */
    char content_type[128];
    int idempotent_replayed; /**< "Idempotent-Replayed: true" was in the response. */
} dh_http_resp_t;

/** @brief Call once before any thread starts (wraps curl_global_init). */
DH_NODISCARD dh_err_t dh_http_global_init(void);
void dh_http_global_cleanup(void);

dh_http_t *dh_http_new(const dh_http_opts_t *opts, char *errstr, size_t errstr_size);
void dh_http_destroy(dh_http_t *h);

/**
 * @brief Perform one request.
 * @param headers  NULL-terminated "Name: value" strings (borrowed).
 * @param resp     Filled on DH_OK (any HTTP status counts as DH_OK); clear it after use.
 * @returns DH_OK, DH_ERR_TIMEOUT, DH_ERR_IO (connect/transfer failure), DH_ERR_LIMIT
 *          (body over cap) or DH_ERR_NOMEM. See dh_http_errstr().
 */
DH_NODISCARD dh_err_t dh_http_request(dh_http_t *h, const char *method, const char *url,
                                      const char *const *headers, const char *body, size_t body_len,
                                      dh_http_resp_t *resp);

void dh_http_resp_clear(dh_http_resp_t *resp);
const char *dh_http_errstr(const dh_http_t *h);

#endif
