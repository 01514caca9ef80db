/*
 * A process-wide cache of Shopify client-credentials access tokens, one per store, shared
 * by every lane of a worker: a pool serving a thousand stores fetches each store's grant
 * once per process and token lifetime, not once per lane, and no lane evicts another's.
 * Thread-safe (one mutex; lookups copy the token out, since another lane may replace it).
 * Tokens are wiped from memory when replaced or dropped; none reaches a log line.
 */
#ifndef DH_TOKENS_H
#define DH_TOKENS_H

#include <stddef.h>

#include <stdint.h>

#include "dockhand/err.h"

typedef struct dh_tokens_s dh_tokens_t;

/** @brief An empty cache, or NULL when out of memory. */
dh_tokens_t *dh_tokens_new(void);
void dh_tokens_destroy(dh_tokens_t *t);

/**
 * @brief Copies \p domain's token into \p out if it is still fresh at \p now_ms
 *        (CLOCK_MONOTONIC ms); a token due for refresh is dropped.
 * @return 1 copied, 0 none (absent, due, or longer than \p size - 1).
 */
int dh_tokens_copy(dh_tokens_t *t, const char *domain, int64_t now_ms, char *out, size_t size);

/** @brief Stores (or replaces) \p domain's \p token, fresh until \p refresh_ms. */
DH_NODISCARD dh_err_t dh_tokens_put(dh_tokens_t *t, const char *domain, const char *token,
                                    int64_t refresh_ms);

/** @brief Forgets \p domain's token (a 401: revoked or expired early). */
void dh_tokens_drop(dh_tokens_t *t, const char *domain);

/** @brief How many stores have a token cached. */
size_t dh_tokens_count(dh_tokens_t *t);

#endif
