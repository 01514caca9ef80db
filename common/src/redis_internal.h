/*
 * Private helpers of the Redis module for other common/ modules (idem, ratelimit) and
 * for tests. Not part of the public API: nothing outside common/ and tests/ includes it.
 */
#ifndef DH_REDIS_INTERNAL_H
#define DH_REDIS_INTERNAL_H

#include <stddef.h>

#include "dockhand/err.h"
#include "dockhand/redis.h"

/** Default cap on one reply's total size (bulk bytes plus per-element overhead). */
#define DH_REDIS_MAX_REPLY ((size_t)64 * 1024 * 1024)

/**
 * @brief Run the same Lua script \p n times in one round trip (EVALSHA pipelined).
 *
 * Call i uses argv[i * argc .. i * argc + argc - 1] (its first \p nkeys are keys). On
 * NOSCRIPT the script is loaded and only the calls that failed are re-run, in a second
 * round trip.
 * @param argvlen  Same layout as \p argv, or NULL to use strlen().
 * @param replies  Filled on DH_OK with \p n replies (caller frees each); script errors
 *                 are REDIS_REPLY_ERROR elements, not failures.
 * @returns DH_OK, DH_ERR_IO, DH_ERR_TIMEOUT, DH_ERR_LIMIT, DH_ERR_NOMEM or DH_ERR_PROTO
 *          (SCRIPT LOAD refused); on failure no replies are kept.
 */
DH_NODISCARD dh_err_t dh_redis_eval_pipeline(dh_redis_t *r, const char *script, int nkeys, size_t n,
                                             int argc, const char *const *argv,
                                             const size_t *argvlen, redisReply **replies);

/**
 * @brief Like dh_redis_eval_pipeline(), but each call has its own shape: call i passes
 *        argc[i] arguments argv[i][0 .. argc[i] - 1], of which the first nkeys[i] are keys
 *        (e.g. multi-key scripts over a batch cut into chunks of different sizes).
 * @param argvlen  NULL, or per call an array like argv[i] (or NULL to use strlen()).
 */
DH_NODISCARD dh_err_t dh_redis_eval_pipeline_v(dh_redis_t *r, const char *script, size_t n,
                                               const int *nkeys, const int *argc,
                                               const char *const *const *argv,
                                               const size_t *const *argvlen, redisReply **replies);

/**
 * @brief Pipeline of \p n commands already in RESP form (\p len bytes of "*<argc>\r\n$..."
 *        multibulk commands, back to back): one append, one round trip, \p n replies.
 *
 * For hot paths that format many small commands themselves (idem.c): the buffer goes to
 * the socket as it is, without an argv array and a hiredis formatting pass per command.
 * @param replies  Like dh_redis_pipeline(): \p n replies on DH_OK (caller frees each);
 *                 error replies are elements, not failures.
 * @returns DH_OK, DH_ERR_IO, DH_ERR_TIMEOUT, DH_ERR_LIMIT or DH_ERR_NOMEM (no replies kept).
 */
DH_NODISCARD dh_err_t dh_redis_pipeline_raw(dh_redis_t *r, const char *cmds, size_t len, size_t n,
                                            redisReply **replies);

/** @brief Record an error text in \p r (shown by dh_redis_errstr()). */
void dh_redis_set_error(dh_redis_t *r, const char *fmt, ...) DH_PRINTF(2, 3);

/** @brief Change the reply size cap (tests use a small one). 0 restores the default. */
void dh_redis_set_max_reply(dh_redis_t *r, size_t max_bytes);

/** @brief 1 when a connection is currently open (tests check reconnects). */
int dh_redis_is_connected(const dh_redis_t *r);

#endif
