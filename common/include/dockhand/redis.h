/*
 * A synchronous Redis connection (hiredis) with reconnect, command timeouts and a
 * reply size cap. One dh_redis_t per thread: it is not thread-safe. After an I/O
 * error the next call reconnects, so callers simply retry later.
 */
#ifndef DH_REDIS_H
#define DH_REDIS_H

#include <stddef.h>

#include <hiredis/hiredis.h>

#include "dockhand/err.h"

typedef struct dh_redis_s dh_redis_t;

typedef struct dh_redis_opts {
    const char *url;      /**< redis://[:password@]host:port[/db] */
    const char *password; /**< Overrides the URL's password when non-empty. */
    int timeout_ms;       /**< Connect and per-command timeout. */
} dh_redis_opts_t;

/** @brief Parse options and allocate; does not connect (the first command does).
 *  @returns NULL with \p errstr set on a bad URL or allocation failure. */
dh_redis_t *dh_redis_new(const dh_redis_opts_t *opts, char *errstr, size_t errstr_size);
void dh_redis_destroy(dh_redis_t *r);

/** @brief Connect now if not connected. @returns DH_OK, DH_ERR_IO or DH_ERR_TIMEOUT. */
DH_NODISCARD dh_err_t dh_redis_connect(dh_redis_t *r);

/** @brief Last error text (never contains the password). Borrowed until the next call. */
const char *dh_redis_errstr(const dh_redis_t *r);

/**
 * @brief Run one command given as argv.
 * @param out  The reply (caller frees with freeReplyObject()), or NULL if \p out is NULL.
 *             A Redis error reply is returned as DH_ERR_PROTO with the text in errstr.
 */
DH_NODISCARD dh_err_t dh_redis_command(dh_redis_t *r, int argc, const char **argv,
                                       const size_t *argvlen, redisReply **out);

/** @brief printf-style convenience for tests and tools (hiredis format rules). */
DH_NODISCARD dh_err_t dh_redis_commandf(dh_redis_t *r, redisReply **out, const char *fmt, ...);

/**
 * @brief Pipeline: append \p n commands, then read \p n replies in one round trip.
 * @param replies  Array of \p n reply pointers filled on DH_OK (caller frees each).
 *                 Error replies are returned as REDIS_REPLY_ERROR elements, not as failures.
 * @returns DH_OK, or DH_ERR_IO/DH_ERR_TIMEOUT if the connection failed (no replies kept).
 */
DH_NODISCARD dh_err_t dh_redis_pipeline(dh_redis_t *r, size_t n, const int *argc,
                                        const char **const *argv, const size_t *const *argvlen,
                                        redisReply **replies);

/**
 * @brief Run a Lua script by SHA (EVALSHA), loading it on NOSCRIPT.
 * @param script  The script text; its SHA1 is cached in \p r.
 */
DH_NODISCARD dh_err_t dh_redis_eval(dh_redis_t *r, const char *script, int nkeys, int argc,
                                    const char **argv, const size_t *argvlen, redisReply **out);

#endif
