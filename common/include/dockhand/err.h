/*
 * Error codes shared by every dockhand module. Functions that can fail return a
 * dh_err_t; the detail lives in an errstr buffer or in the handle (dh_x_errstr()).
 */
#ifndef DH_ERR_H
#define DH_ERR_H

#define DH_NODISCARD    __attribute__((warn_unused_result))
#define DH_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define DH_UNUSED       __attribute__((unused))

/* DH_STATIC is `static` except in unit-test builds, where pure helpers are tested directly. */
#ifdef DH_UNIT_TEST
#define DH_STATIC
#else
#define DH_STATIC static
#endif

typedef enum dh_err {
    DH_OK = 0,
    DH_ERR_IO,      /**< Connection or I/O failure (retryable). */
    DH_ERR_TIMEOUT, /**< Deadline passed (retryable). */
    DH_ERR_PROTO,   /**< Malformed data from a peer or an unexpected reply. */
    DH_ERR_NOMEM,   /**< Allocation failed. */
    DH_ERR_CONFIG,  /**< Invalid configuration. */
    DH_ERR_INVALID, /**< Invalid argument or input (permanent). */
    DH_ERR_STATE,   /**< Operation not valid in the current state. */
    DH_ERR_LIMIT,   /**< A size or count cap was hit (not a rate limit: see DH_ERR_RATE). */
    DH_ERR_AUTH,    /**< A far side refused our credentials (HTTP 401/403, a refused token
                         grant): expired, rotated or revoked. Retry after they are fixed. */
    DH_ERR_RATE,    /**< Throttled or rate limited (HTTP 429, GraphQL THROTTLED, a shared
                         bucket short): nothing done, come back after the given wait. */
} dh_err_t;

/** @brief Short constant name of \p err ("io", "timeout", ...). Never NULL. */
const char *dh_err_str(dh_err_t err);

#endif
