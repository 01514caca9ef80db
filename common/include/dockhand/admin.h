/*
 * The worker's small admin HTTP port (libmicrohttpd, its own thread):
 * GET /metrics (Prometheus text), /healthz (the loop is alive) and /readyz
 * (assigned and connected). Probes are callbacks so this module knows nothing
 * about Kafka or Redis.
 */
#ifndef DH_ADMIN_H
#define DH_ADMIN_H

#include <stdarg.h>

#include <sys/socket.h>

#include "dockhand/err.h"
#include "dockhand/metrics.h"

typedef struct dh_admin_s dh_admin_t;

typedef struct dh_admin_opts {
    const char *bind_addr; /**< e.g. "0.0.0.0" or "127.0.0.1". */
    int port;              /**< 0 picks a free port (see dh_admin_port()). */
    dh_metrics_t *metrics; /**< Borrowed; must outlive the server. */
    /** Return non-zero when healthy/ready; may write a short reason into buf. Called on the
     *  server thread: must be thread-safe and quick. */
    int (*healthy)(void *ud, char *buf, size_t size);
    int (*ready)(void *ud, char *buf, size_t size);
    void *ud;
} dh_admin_opts_t;

DH_NODISCARD dh_err_t dh_admin_start(const dh_admin_opts_t *opts, dh_admin_t **out, char *errstr,
                                     size_t errstr_size);
int dh_admin_port(const dh_admin_t *a);
void dh_admin_stop(dh_admin_t *a);

/* Shared with the gateway's libmicrohttpd server. */

/** @brief Fill \p ss from a numeric IPv4 or IPv6 literal and a port (for
 *  MHD_OPTION_SOCK_ADDR). @returns the address length, or 0 if \p host is not a literal;
 *  \p ipv6 is set non-zero for IPv6 (the daemon then needs MHD_USE_IPv6). */
socklen_t dh_admin_sockaddr(const char *host, int port, struct sockaddr_storage *ss, int *ipv6);

/** @brief libmicrohttpd external logger (MHD_OPTION_EXTERNAL_LOGGER) writing through
 *  DH_LOG at warn level; \p cls is the log component name (a static string). */
void dh_admin_mhd_log(void *cls, const char *fmt, va_list ap);

#endif
