/*
 * Checks of WMS event JSON against the contracts in schemas/ (draft 2020-12), shared by
 * the workers that consume WMS topics. Hand-written rather than a schema engine: each
 * worker checks exactly the fields it relies on, and the messages follow ajv's
 * "<instance path> <message>" style so a dead letter names the offending field the way
 * tests/contracts does. Also the numeric conversions that must never overflow (JSON reals)
 * and the Shopify id rules the gateway and the Shopify consumers share. Pure: no I/O, no
 * configuration.
 */
#ifndef DH_VALIDATE_H
#define DH_VALIDATE_H

#include <stddef.h>

#include <jansson.h>
#include <stdint.h>

#include "dockhand/err.h"

/** Validation context: the first failure wins (later checks keep running harmlessly). */
typedef struct dh_vctx {
    char *err; /**< Caller's buffer for the first failure. */
    size_t size;
    int failed;
} dh_vctx_t;

/** @brief Record a failure unless one is recorded already. */
void dh_v_fail(dh_vctx_t *v, const char *fmt, ...) DH_PRINTF(2, 3);

/** @brief Code points of a UTF-8 string (JSON Schema lengths count code points). */
size_t dh_v_u8len(const char *s);
/** @brief ^[A-Za-z0-9][A-Za-z0-9_.-]*$ (tenant, facility). */
int dh_v_code_ok(const char *s);
/** @brief ^[a-z0-9][a-z0-9-]*\.myshopify\.com$ */
int dh_v_domain_ok(const char *s);
/** @brief ^\S(.*\S)?$ with JavaScript semantics (sku). */
int dh_v_sku_ok(const char *s);
/** @brief JSON Schema format "uuid". */
int dh_v_uuid_ok(const char *s);
/** @brief JSON Schema format "date-time" (RFC 3339 with an offset). */
int dh_v_rfc3339_ok(const char *s);
/** @brief ^[1-9][0-9]{0,19}$ (common.v1 shopify_id_string). */
int dh_v_shopify_id_ok(const char *s);

/** @brief A finite double with no fractional part. */
int dh_v_real_is_integral(double d);
/** @brief Convert \p d to int64_t when it is integral and within range, without ever
 *  performing an out-of-range (undefined) conversion. @returns 1 on success. */
int dh_v_real_to_i64(double d, int64_t *out);
/** @brief \p d truncated and clamped to [lo, hi] (NaN gives lo); the range check comes
 *  before the conversion. For numbers from the network that feed durations or counts. */
int64_t dh_v_real_clamp_i64(double d, int64_t lo, int64_t hi);

/**
 * @brief A Shopify REST id (common.v1 $defs/shopify_id: a JSON integer >= 1) as digits.
 * @returns 1 when \p v is one (digits in \p out), else 0. The gateway (400) and the
 *          Shopify consumers (dead letter) apply this one rule to a webhook's "id".
 */
int dh_v_shopify_id(json_t *v, char *out, size_t size);
/**
 * @brief A reference to a Shopify resource as digits: a JSON integer >= 1, a string
 *        ^[1-9][0-9]{0,19}$, or a GID "gid://shopify/<Type>/<such digits>".
 * @returns 1 when \p v is one (digits in \p out), else 0.
 */
int dh_v_shopify_ref(json_t *v, char *out, size_t size);
/**
 * @brief The order id of a fulfillment_holds/... webhook body: the first of "order_id",
 *        "fulfillment_order"."order_id" and "fulfillment_hold"."order_id" that is a
 *        dh_v_shopify_ref(). The gateway keys the message by it and dh-orders reads it.
 * @returns 1 when found (digits in \p out), else 0.
 */
int dh_v_shopify_hold_order_id(json_t *root, char *out, size_t size);
/**
 * @brief The fulfillment order id of a fulfillment_orders/... webhook body (these carry no
 *        order id): the first of "fulfillment_order"."id" (scheduled_fulfillment_order_ready)
 *        and "original_fulfillment_order"."id" (moved) that is a dh_v_shopify_ref(). The
 *        gateway keys the message "<shop>|fo:<id>" by it and dh-orders reads it.
 * @returns 1 when found (digits in \p out), else 0.
 */
int dh_v_shopify_fo_id(json_t *root, char *out, size_t size);

/**
 * @brief A string member of \p obj at \p path with length bounds in code points.
 * @returns The value (borrowed from \p obj), or NULL when absent or invalid (invalid, or
 *          absent and \p required, records a failure).
 */
const char *dh_v_str(dh_vctx_t *v, json_t *obj, const char *path, const char *name, int required,
                     size_t minlen, size_t maxlen);
/** @brief A required integer member within [min, max] (an integral real counts, as in
 *  JSON Schema). @returns 1 when present and valid. */
int dh_v_int(dh_vctx_t *v, json_t *obj, const char *path, const char *name, int64_t min,
             int64_t max, int64_t *out);
/** @brief A required string member equal to one of \p allowed (NULL-terminated).
 *  @returns 1 when valid (\p out borrowed from \p obj). */
int dh_v_enum(dh_vctx_t *v, json_t *obj, const char *path, const char *name,
              const char *const *allowed, const char **out);

/** The WMS event envelope (schemas/common.v1.schema.json#/$defs/wms_envelope). */
typedef struct dh_wms_envelope {
    char event_id[40];
    char event_type[24];
    char tenant[72];
    char store[264];
    char scope[264]; /**< store if present, else tenant: the message key's first part. */
} dh_wms_envelope_t;

/**
 * @brief Check the envelope of \p root: schema_version 1, event_id, event_type,
 *        occurred_at, tenant and/or store, producer, correlation_id.
 * @param accepted  The event types this consumer takes (NULL-terminated, at least one);
 *                  any other type fails as "/event_type must be equal to constant
 *                  \"<accepted[0]>\"".
 */
void dh_v_wms_envelope(dh_vctx_t *v, json_t *root, const char *const *accepted,
                       dh_wms_envelope_t *out);

#endif
