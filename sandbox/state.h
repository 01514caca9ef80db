/*
 * state: everything the sandbox remembers: the Shopify stores (catalogue, locations,
 * inventory levels, orders, fulfillment orders, fulfillments, idempotency records,
 * rate-limit buckets), the WMS and Return Prime config, and the shared services
 * (journal, faults, webhook queue). One mutex guards the store data; the journal,
 * faults and webhook queue lock themselves.
 *
 * Store data is kept as jansson objects used as hash maps keyed by numeric id strings.
 */
#ifndef DH_SB_STATE_H
#define DH_SB_STATE_H

#include <jansson.h>
#include <pthread.h>

#include "bucket.h"
#include "faults.h"
#include "journal.h"
#include "util.h"

typedef struct dh_sb_webhooks_s dh_sb_webhooks_t;

typedef struct dh_sb_shop {
    char domain[256];
    char access_token[256];
    char client_id[256];
    char client_secret[256];
    char webhook_url[512];
    char webhook_secret[256];
    char api_version[16];
    char req_version[16]; /**< {version} of the GraphQL request being served ("" unknown) */
    dh_sb_bucket_t bucket;
    long throttled;
    json_t *calls;        /**< op -> count */
    json_t *tokens;       /**< issued token -> expiry (monotonic seconds) */
    json_t *locations;    /**< id -> {id, name} */
    json_t *location_ids; /**< ids in order */
    json_t *products;     /**< id -> {id, title, handle, status, updated_at, variant_ids[]} */
    json_t *product_ids;
    json_t *variants; /**< id -> {id, sku, price, barcode, product_id, inventory_item_id} */
    json_t *variant_ids;
    json_t *items;  /**< inventory item id -> variant id */
    json_t *levels; /**< "item:location" -> {available, committed, unavailable} */
    json_t *orders; /**< id -> REST-shaped order plus "_" internal keys */
    json_t *order_ids;
    json_t *fos;          /**< fulfillment order id -> {...} */
    json_t *folis;        /**< fulfillment order line item id -> {...} */
    json_t *fulfillments; /**< id -> {...} */
    json_t *idem;         /**< idempotency key -> {op, vars, response} */
    long long next_id;
    long order_number;
    json_t *bulk;     /**< the latest bulk query operation {id, status, ...} or NULL */
    char *bulk_jsonl; /**< its result file (malloc()ed) */
    size_t bulk_len;
    double bulk_ready_at; /**< monotonic seconds when it completes */
    long bulk_ms;         /**< seed "bulk_ms": how long an operation runs (default 500) */
} dh_sb_shop_t;

typedef struct dh_sb_state {
    pthread_mutex_t lock; /**< guards shops[] contents and wms */
    dh_sb_shop_t *shops;
    size_t n_shops;
    double token_ttl_s;
    json_t *wms; /**< WMS data: see wms.c */
    char wms_token[256];
    char rp_url[512];
    char rp_secret[256];
    char rp_token[256];  /**< x-rp-token the Return Prime API accepts */
    json_t *rp_requests; /**< Return Prime request id -> request (returnprime_api.c) */
    json_t *rp_tokens;   /**< per-store API token -> store domain (seed api_tokens) */
    dh_sb_journal_t *journal;
    dh_sb_faults_t *faults;
    dh_sb_webhooks_t *webhooks;
    volatile int stopping;
    char base_url[160]; /**< "http://host:port", for URLs the sandbox hands out */
} dh_sb_state_t;

/**
 * @brief Build the state from a seed document (may be NULL: one default store).
 * @returns DH_SB_OK, DH_SB_ERR_CONFIG or DH_SB_ERR_NOMEM (errstr says why).
 */
dh_sb_err_t dh_sb_state_init(dh_sb_state_t *st, json_t *seed, char *errstr, size_t errstr_size);

/** @brief Free everything owned by \p st (not the webhooks thread: stop it first). */
void dh_sb_state_fini(dh_sb_state_t *st);

/** @brief The store with this domain (borrowed, lock held by caller), or NULL. */
dh_sb_shop_t *dh_sb_state_shop(dh_sb_state_t *st, const char *domain);

/** @brief A fresh numeric id for \p shop (lock held). */
long long dh_sb_shop_next_id(dh_sb_shop_t *shop);

/** @brief "gid://shopify/<type>/<id>" as a new JSON string. */
json_t *dh_sb_gid(const char *type, long long id);

/** @brief "gid://shopify/<type>/<id>" for an id given as a string; JSON null for a NULL id. */
json_t *dh_sb_gid_s(const char *type, const char *id);

/**
 * @brief The numeric id of a GID of \p type (or a bare number / numeric JSON).
 * @returns The id as a decimal string in \p out, 0 on success, -1 if it is not such a GID.
 */
int dh_sb_gid_parse(json_t *v, const char *type, char *out, size_t out_size);

/** @brief The level record for item+location (borrowed) or NULL if not stocked there (or
 *  \p item_id is NULL: a custom line item). */
json_t *dh_sb_level(dh_sb_shop_t *shop, const char *item_id, const char *loc_id);

/** @brief Create (or return) the level for item+location with zero quantities. */
json_t *dh_sb_level_activate(dh_sb_shop_t *shop, const char *item_id, const char *loc_id);

/** @brief Integer field of a level (0 if absent). */
long long dh_sb_level_get(json_t *level, const char *name);

/** @brief Add \p delta to a level field. */
void dh_sb_level_add(json_t *level, const char *name, long long delta);

/** @brief on_hand = available + committed + unavailable. */
long long dh_sb_level_on_hand(json_t *level);

/** @brief Seconds since the epoch for an ISO-8601 time ("...Z" or "+hh:mm"); -1 if invalid. */
double dh_sb_parse_iso(const char *s);

/** @brief Add or update a product from JSON {id?, title, variants:[{id?, sku, ...}]} (lock held).
 */
json_t *dh_sb_shop_upsert_product(dh_sb_shop_t *shop, json_t *spec, int *created);

/** @brief Remove a product and its variants (lock held); unknown ids do nothing. */
void dh_sb_shop_delete_product(dh_sb_shop_t *shop, const char *pid);

#endif
