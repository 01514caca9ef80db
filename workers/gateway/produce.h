/*
 * The gateway's Kafka producer: idempotent (enable.idempotence=true, hence acks=all)
 * with a synchronous send per HTTP request. A request thread produces and then sleeps
 * on its own completion until the delivery report arrives or its deadline passes; a
 * dedicated poller thread serves the delivery reports. Thread-safe: one producer for
 * all request threads.
 *
 * Unknown outcome: when the deadline passes first, the message may still be delivered
 * later (message.timeout.ms is set just under the deadline, so this is rare). The caller
 * then answers 503, Shopify retries, and the event exists twice in Kafka; consumers are
 * idempotent on the webhook id / resource state, so that is harmless.
 */
#ifndef DH_GW_PRODUCE_H
#define DH_GW_PRODUCE_H

#include <stddef.h>

#include "dockhand/config.h"
#include "dockhand/err.h"

typedef struct dh_gw_producer_s dh_gw_producer_t;

typedef struct dh_gw_header {
    const char *name;
    const char *value; /**< Skipped when NULL. */
} dh_gw_header_t;

typedef struct dh_gw_producer_opts {
    const dh_config_t *cfg; /**< For KAFKA_* passthrough (borrowed, may be NULL). */
    const char *brokers;    /**< bootstrap.servers unless KAFKA_BOOTSTRAP_SERVERS is set. */
    int ack_timeout_ms;     /**< Longest a send waits for the broker's acknowledgement. */
} dh_gw_producer_opts_t;

/** @brief Create the producer and start its poller thread. Does not wait for a broker. */
DH_NODISCARD dh_err_t dh_gw_producer_new(const dh_gw_producer_opts_t *opts, dh_gw_producer_t **out,
                                         char *errstr, size_t errstr_size);

/**
 * @brief Produce one message and wait for its delivery report.
 * @param value    Copied by librdkafka; the caller keeps ownership.
 * @param headers  \p nheaders name/value pairs, copied.
 * @returns DH_OK once the broker acknowledged (all in-sync replicas); DH_ERR_TIMEOUT
 *          when the deadline passed first (outcome unknown); DH_ERR_IO when delivery
 *          failed or the producer could not take the message (queue full, fatal error).
 */
DH_NODISCARD dh_err_t dh_gw_producer_send(dh_gw_producer_t *p, const char *topic, const char *key,
                                          const void *value, size_t len,
                                          const dh_gw_header_t *headers, size_t nheaders,
                                          char *errstr, size_t errstr_size);

/** @brief Ask the cluster for metadata (blocks up to \p timeout_ms) and record whether a
 *  broker answered; dh_gw_producer_ready() returns the last result. Call periodically
 *  from one thread. */
void dh_gw_producer_probe(dh_gw_producer_t *p, int timeout_ms);

/** @brief 1 when the last probe or delivery reached a broker and no fatal error occurred. */
int dh_gw_producer_ready(const dh_gw_producer_t *p);

/** @brief 1 after a fatal (idempotence) error: the process should exit and restart. */
int dh_gw_producer_fatal(const dh_gw_producer_t *p);

/** @brief Flush for up to \p flush_ms, stop the poller and free. NULL does nothing. */
void dh_gw_producer_destroy(dh_gw_producer_t *p, int flush_ms);

#endif
