/*
 * Absolute request deadlines for the gateway's connections. libmicrohttpd's connection
 * timeout is an idle timeout that every received byte resets, so a client trickling one
 * byte a second could hold a connection (and its thread) for ever. Here each connection
 * must deliver a complete request within the deadline of being accepted or of its
 * previous answer; a watchdog thread answers 408 on the socket of one that does not and
 * shuts the socket down, which makes libmicrohttpd close the connection. While a request
 * is being answered (waiting for Kafka) the deadline does not apply. Thread-safe.
 */
#ifndef DH_GW_DEADLINE_H
#define DH_GW_DEADLINE_H

#include "dockhand/err.h"
#include "gateway.h"

typedef struct dh_gw_deadline_s dh_gw_deadline_t;
/** One connection under watch (opaque). */
typedef struct dh_gw_conn_s dh_gw_conn_t;

/**
 * @brief Start the watchdog.
 * @param timeout_ms  The deadline (> 0).
 * @param gw          Counts 408s (dh_gw_count); borrowed, may be NULL.
 * @returns DH_OK, DH_ERR_NOMEM or DH_ERR_IO (no thread).
 */
DH_NODISCARD dh_err_t dh_gw_deadline_new(int timeout_ms, dh_gw_t *gw, dh_gw_deadline_t **out);

/** @brief Stop the watchdog and free. Every connection must be closed first. NULL: no-op. */
void dh_gw_deadline_destroy(dh_gw_deadline_t *d);

/**
 * @brief Watch the connection on socket \p fd from now on.
 * @returns The connection's handle, or NULL when out of memory (then it is not watched).
 * @remark The socket must stay open until dh_gw_deadline_close(): the watchdog writes to
 *         it and shuts it down, so it must never be a reused descriptor.
 */
dh_gw_conn_t *dh_gw_deadline_open(dh_gw_deadline_t *d, int fd);

/** @brief Stop watching and free \p c (before its socket is closed). NULL: no-op. */
void dh_gw_deadline_close(dh_gw_deadline_t *d, dh_gw_conn_t *c);

/**
 * @brief The request on \p c is complete and about to be answered: suspend the deadline.
 * @returns 1 to go on, 0 when the deadline already passed (408 sent: do not handle it).
 *          A NULL \p c always goes on.
 */
int dh_gw_deadline_begin(dh_gw_deadline_t *d, dh_gw_conn_t *c, dh_gw_source_t src);

/** @brief The answer is sent: the next request on \p c gets a new deadline from now. */
void dh_gw_deadline_end(dh_gw_deadline_t *d, dh_gw_conn_t *c);

/** @brief Remember which endpoint \p c's request is for (for the 408 counter). */
void dh_gw_deadline_source(dh_gw_deadline_t *d, dh_gw_conn_t *c, dh_gw_source_t src);

#endif
