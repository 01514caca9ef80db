/*
 * The gateway's webhook HTTP server (libmicrohttpd, one thread per connection because
 * every request blocks until Kafka acknowledges). It reads the raw body under a size cap
 * (413 as soon as Content-Length says it is too big, or once the bytes exceed it) and
 * hands complete requests to dh_gw_handle(). Slow clients are bounded by an absolute
 * request deadline (deadline.h) and a per-address connection cap. Admin endpoints live on
 * the admin port.
 */
#ifndef DH_GW_SERVER_H
#define DH_GW_SERVER_H

#include <stddef.h>

#include "dockhand/err.h"
#include "gateway.h"

typedef struct dh_gw_server_s dh_gw_server_t;

typedef struct dh_gw_server_opts {
    const char *bind_addr;         /**< IPv4 or IPv6 literal. */
    int port;                      /**< 0 picks a free port (see dh_gw_server_port()). */
    unsigned int max_conns;        /**< Concurrent connections (= threads) accepted. */
    unsigned int idle_timeout_s;   /**< Idle keep-alive connections are closed after this. */
    unsigned int max_conns_per_ip; /**< Concurrent connections from one address; 0 = no cap. */
    int request_timeout_ms;        /**< A request must be complete this long after its connection
                                        was accepted or its previous answer sent (else 408). */
    dh_gw_t *gw;                   /**< Borrowed; must outlive the server. */
} dh_gw_server_opts_t;

DH_NODISCARD dh_err_t dh_gw_server_start(const dh_gw_server_opts_t *opts, dh_gw_server_t **out,
                                         char *errstr, size_t errstr_size);
int dh_gw_server_port(const dh_gw_server_t *s);

/** @brief Requests currently being handled (headers received, response not yet sent). */
int dh_gw_server_inflight(const dh_gw_server_t *s);

/** @brief Stop accepting connections; requests already received keep running. */
void dh_gw_server_quiesce(dh_gw_server_t *s);

/** @brief Wait up to \p timeout_ms for in-flight requests, then close everything and free.
 *  NULL does nothing. */
void dh_gw_server_stop(dh_gw_server_t *s, int timeout_ms);

#endif
