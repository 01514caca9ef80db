/*
 * The merchants' stores: which Shopify store an event belongs to, how to reach it, and
 * which Shopify location each WMS facility maps to. Loaded once from a JSON file
 * (DH_STORES_FILE; format in docs/configuration.md) and immutable afterwards, so any
 * thread may read it. Secrets in it (access tokens, client secrets, webhook secrets) are
 * never logged.
 *
 * {"stores": [{
 *    "domain": "acme.myshopify.com",            // the store's identity everywhere
 *    "tenants": ["acme"],                       // WMS tenant names that mean this store
 *    "admin_url": "https://acme.myshopify.com", // base URL; the sandbox uses
 *                                               // http://127.0.0.1:38080/shops/acme.myshopify.com
 *    "api_version": "2026-10",
 *    "access_token": "shpat_..." | "access_token_file": "/run/secrets/acme",
 *    "client_id": "...", "client_secret": "..." // optional: client-credentials grant
 *    "bucket_size": 2000, "restore_rate": 100,  // Shopify plan (default Standard)
 *    "webhook_secrets": ["s1", "s2"],           // HMAC keys; two during a rotation
 *    "returnprime_secret": "...",               // optional
 *    "returnprime_token": "...",                // optional: x-rp-token of its Return Prime API
 *    "locations": {"FAC-1": "gid://shopify/Location/1"}, // WMS facility -> location
 *    "timezone": "Asia/Kolkata"                 // optional, for scheduled syncs
 * }]}
 */
#ifndef DH_STORES_H
#define DH_STORES_H

#include <stddef.h>

#include "dockhand/config.h"
#include "dockhand/err.h"
#include "dockhand/ratelimit.h"

/** DH_STORES_FILE: add to a worker's config tables when it needs the stores. */
extern const dh_config_var_t dh_stores_config_vars[];

/** @brief The check of DH_STORES_FILE (a dh_config_check_fn): the file is loaded with
 *  dh_stores_load(), as a start loads it. Does nothing when the worker's tables lack
 *  dh_stores_config_vars. */
void dh_stores_config_check(const dh_config_t *cfg, dh_config_report_t *report);

typedef struct dh_store {
    const char *domain;
    const char *admin_url;
    const char *api_version;
    const char *access_token; /**< May be empty when client credentials are given. */
    const char *client_id;
    const char *client_secret;
    const char *returnprime_secret;
    const char *returnprime_token; /**< May be empty: dh-returns then cannot call Return Prime. */
    const char *timezone;          /**< May be empty. */
    const char *const *webhook_secrets; /**< NULL-terminated. */
    dh_bucket_spec_t bucket;
} dh_store_t;

typedef struct dh_stores_s dh_stores_t;

/** @brief Load and validate \p path. Every problem is reported in \p errstr. */
DH_NODISCARD dh_err_t dh_stores_load(const char *path, dh_stores_t **out, char *errstr,
                                     size_t errstr_size);
/** @brief Parse from a JSON text (tests). */
DH_NODISCARD dh_err_t dh_stores_parse(const char *json, size_t len, dh_stores_t **out, char *errstr,
                                      size_t errstr_size);
void dh_stores_destroy(dh_stores_t *s);

size_t dh_stores_count(const dh_stores_t *s);
const dh_store_t *dh_stores_at(const dh_stores_t *s, size_t i);
/** @brief The store named \p name: a domain or one of its tenants. NULL if unknown. */
const dh_store_t *dh_stores_find(const dh_stores_t *s, const char *name);
/** @brief The Shopify location GID for \p facility in \p store, or NULL if unmapped. */
const char *dh_stores_location(const dh_stores_t *s, const dh_store_t *store, const char *facility);
/** @brief How many WMS facilities \p store maps to Shopify locations (0: none configured). */
size_t dh_stores_location_count(const dh_stores_t *s, const dh_store_t *store);
/** @brief Reverse: the WMS facility for a Shopify location GID, or NULL. Several facilities
 *  may map to one location: this is the first of them in the file. */
const char *dh_stores_facility(const dh_stores_t *s, const dh_store_t *store,
                               const char *location_gid);

/** @brief Every WMS facility mapped to \p location_gid, in file order: up to \p max in
 *  \p out. @returns how many there are (may exceed \p max). */
size_t dh_stores_facilities(const dh_stores_t *s, const dh_store_t *store, const char *location_gid,
                            const char **out, size_t max);

#endif
