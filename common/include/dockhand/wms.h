/*
 * Client of the WMS HTTP API described by schemas/wms-api.openapi.yaml, for one lane.
 * Every write carries an Idempotency-Key (derived by the caller from the effect id, so a
 * retry is recognised); every call first takes a token from the shared per-endpoint-group
 * rate limit in Redis (DH_WMS_RATE). Problem-details errors are parsed.
 */
#ifndef DH_WMS_H
#define DH_WMS_H

#include <stddef.h>

#include <jansson.h>
#include <stdint.h>

#include "dockhand/config.h"
#include "dockhand/err.h"
#include "dockhand/http.h"
#include "dockhand/metrics.h"
#include "dockhand/redis.h"

/** DH_WMS_URL, DH_WMS_TOKEN (secret), DH_WMS_RATE: add to a worker's config tables. */
extern const dh_config_var_t dh_wms_config_vars[];

/** @brief The check of DH_WMS_RATE (a dh_config_check_fn; DH_WMS_URL is checked by its
 *  type): the list dh_wms_new() would parse. Does nothing without dh_wms_config_vars. */
void dh_wms_config_check(const dh_config_t *cfg, dh_config_report_t *report);

typedef struct dh_wms_s dh_wms_t;

/** @param http, redis, metrics  Borrowed lane handles (metrics may be NULL).
 *  @returns NULL with errstr on a bad DH_WMS_RATE. */
dh_wms_t *dh_wms_new(const dh_config_t *cfg, dh_http_t *http, dh_redis_t *redis,
                     dh_metrics_t *metrics, char *errstr, size_t errstr_size);
void dh_wms_destroy(dh_wms_t *w);

typedef struct dh_wms_reply {
    long status;            /**< HTTP status. */
    json_t *body;           /**< Parsed JSON body or NULL (owned; dh_wms_reply_clear()). */
    int replayed;           /**< Idempotent-Replayed: true */
    char problem_type[160]; /**< problem+json "type", or "". */
    char detail[512];       /**< problem+json title/detail and field errors, one line. */
} dh_wms_reply_t;

void dh_wms_reply_clear(dh_wms_reply_t *r);

/** @brief 1 if \p r's problem type ends with \p slug (e.g. "/idempotency-key-mismatch"). */
int dh_wms_problem_is(const dh_wms_reply_t *r, const char *slug);

/**
 * @brief Call the WMS.
 * @param group  Rate-limit endpoint group ("orders", "returns", "skus", "inventory").
 * @param path   Path under DH_WMS_URL, e.g. "/wms/v1/sales-orders" (caller URL-encodes).
 * @param idempotency_key  Required for POST/PUT (NULL for GET).
 * @param body   Borrowed JSON body or NULL.
 * @param wait_ms  Out: for DH_ERR_RATE, how long to wait (shared bucket, Retry-After).
 * @returns DH_OK when the WMS answered 2xx or a business 4xx (404, 409, 422, ...: the
 *          caller decides, see dockhand/outcome.h; \p reply->status and problem text),
 *          DH_ERR_RATE (429, 409 idempotency-key-in-use, or our shared bucket is short:
 *          nothing done, retry after \p wait_ms),
 *          DH_ERR_AUTH (401/403: the token is wrong, expired or rotated; \p reply->status),
 *          DH_ERR_TIMEOUT / DH_ERR_IO (no answer: the outcome may be unknown),
 *          DH_ERR_PROTO (5xx, \p reply->status set; or an unparseable 2xx: transient),
 *          DH_ERR_INVALID (a bad call: group, path, or a write without a key),
 *          DH_ERR_NOMEM. Only DH_OK leaves a body in \p reply.
 */
DH_NODISCARD dh_err_t dh_wms_call(dh_wms_t *w, const char *group, const char *method,
                                  const char *path, const char *idempotency_key, json_t *body,
                                  dh_wms_reply_t *reply, int64_t *wait_ms, char *errstr,
                                  size_t errstr_size);

#endif
