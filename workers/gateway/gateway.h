/*
 * The gateway's request handling, independent of the HTTP library: server.c extracts
 * the method, path, headers and raw body of a request into a dh_gw_req_t, and
 * dh_gw_handle() decides the status (verify the signature, route, produce and wait for
 * the acknowledgement, optionally suppress a duplicate). Everything in dh_gw_t is
 * shared by all request threads and is either immutable or thread-safe.
 */
#ifndef DH_GW_GATEWAY_H
#define DH_GW_GATEWAY_H

#include <stddef.h>

#include "dedup.h"
#include "dockhand/metrics.h"
#include "dockhand/stores.h"
#include "produce.h"

typedef enum dh_gw_source {
    DH_GW_SRC_SHOPIFY = 0,
    DH_GW_SRC_RETURNPRIME,
    DH_GW_SRC_OTHER,
    DH_GW_SRC_COUNT,
} dh_gw_source_t;

/* Statuses the gateway answers; one request counter per (source, status). */
#define DH_GW_NSTATUS 10

typedef struct dh_gw_metrics {
    dh_counter_t *requests[DH_GW_SRC_COUNT][DH_GW_NSTATUS];
    dh_counter_t *ignored;    /**< Verified Shopify webhooks of topics we do not route. */
    dh_counter_t *duplicates; /**< Answered from the dedup set without producing. */
    dh_counter_t *unknown;    /**< Produce deadline passed: outcome unknown, answered 503. */
    dh_histogram_t *latency[DH_GW_SRC_COUNT];
    dh_histogram_t *ack_latency;
} dh_gw_metrics_t;

typedef struct dh_gw {
    const dh_stores_t *stores;  /**< Borrowed. */
    dh_gw_producer_t *producer; /**< Borrowed. */
    dh_gw_dedup_t *dedup;       /**< Borrowed; NULL when suppression is off. */
    dh_metrics_t *registry;     /**< Borrowed. */
    size_t max_body;
    /* Kafka topics (DH_GATEWAY_TOPIC_*): the routes' defaults unless configured. */
    const char *topic_orders, *topic_products, *topic_returnprime;
    dh_gw_metrics_t m;
} dh_gw_t;

/** A request as server.c saw it; every pointer is borrowed for the call. */
typedef struct dh_gw_req {
    const char *method;
    const char *path;
    const char *body; /**< Raw bytes as received (may contain NULs). */
    size_t body_len;
    char received_at[40]; /**< RFC 3339 UTC, set when the headers arrived. */
    long long t0_us;      /**< Monotonic time the headers arrived (latency metric). */
    /* Header values (NULL when absent). */
    const char *sh_topic, *sh_hmac, *sh_shop, *sh_api_version, *sh_webhook_id, *sh_event_id,
        *sh_triggered_at;
    const char *rp_topic, *rp_signature, *rp_timestamp, *rp_webhook_id;
} dh_gw_req_t;

typedef struct dh_gw_reply {
    unsigned int status;
    char text[256]; /**< Short reason for the response body and the log. */
} dh_gw_reply_t;

/** @brief Create the metric series in \p gw->registry. @returns DH_OK or DH_ERR_NOMEM. */
DH_NODISCARD dh_err_t dh_gw_metrics_init(dh_gw_t *gw);

/** @brief Which endpoint \p path belongs to (for metrics). */
dh_gw_source_t dh_gw_source_of(const char *path);

/** @brief Handle one complete request. Blocks up to the producer's acknowledgement
 *  deadline. Counts the request and its latency. */
void dh_gw_handle(dh_gw_t *gw, const dh_gw_req_t *req, dh_gw_reply_t *reply);

/** @brief Count a request answered by server.c itself (413, 405, ...). */
void dh_gw_count(dh_gw_t *gw, dh_gw_source_t src, unsigned int status);

/** @brief Monotonic clock in microseconds. */
long long dh_gw_now_us(void);

#endif
