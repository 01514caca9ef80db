/*
 * Cheap duplicate suppression of webhook deliveries by their delivery id, in Redis:
 * `dh:gw:seen:<source>:<id>` is written (SET .. EX ttl) only after Kafka acknowledged the
 * event, and a delivery whose id is already there is answered 200 without producing.
 *
 * Best effort by design: correctness never depends on it (consumers are idempotent).
 * Every Redis failure means "not seen" / "not recorded", never a failed webhook; after
 * a failure Redis is left alone for a few seconds so a dead Redis costs no latency.
 * Thread-safe: one connection behind a mutex (each call is one short round trip).
 */
#ifndef DH_GW_DEDUP_H
#define DH_GW_DEDUP_H

#include <stddef.h>

#include "dockhand/err.h"

typedef struct dh_gw_dedup_s dh_gw_dedup_t;

typedef struct dh_gw_dedup_opts {
    const char *redis_url; /**< Empty or NULL: suppression is off. */
    const char *password;
    int timeout_ms;  /**< Per command; keep it small, it is on the request path. */
    long long ttl_s; /**< 0: suppression is off. */
} dh_gw_dedup_opts_t;

/** @brief Create (does not connect). *out is NULL (suppression off) when disabled. */
DH_NODISCARD dh_err_t dh_gw_dedup_new(const dh_gw_dedup_opts_t *opts, dh_gw_dedup_t **out,
                                      char *errstr, size_t errstr_size);
void dh_gw_dedup_destroy(dh_gw_dedup_t *d);

/** @brief 1 if \p source:\p id was recorded before; 0 if not, or unknown (Redis failed). */
int dh_gw_dedup_seen(dh_gw_dedup_t *d, const char *source, const char *id);

/** @brief Record \p source:\p id after a successful acknowledgement (failures ignored). */
void dh_gw_dedup_record(dh_gw_dedup_t *d, const char *source, const char *id);

#endif
