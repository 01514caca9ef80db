/*
 * webhooks: outbound webhook delivery (Shopify and Return Prime) from one thread with
 * a bounded queue and libcurl; each attempt is journaled (group "webhook-delivery")
 * with the receiver's HTTP status. Retries a configurable number of times.
 */
#ifndef DH_SB_WEBHOOKS_H
#define DH_SB_WEBHOOKS_H

#include <jansson.h>

#include "faults.h"
#include "journal.h"
#include "state.h"
#include "util.h"

typedef struct dh_sb_webhooks_opts {
    int retries;         /**< extra attempts after the first failure */
    long retry_delay_ms; /**< delay before each retry (doubles) */
    long timeout_ms;     /**< per attempt (Shopify: 5 s) */
    size_t queue_capacity;
} dh_sb_webhooks_opts_t;

/** @brief Start the delivery thread; NULL on failure. */
dh_sb_webhooks_t *dh_sb_webhooks_start(dh_sb_journal_t *journal, dh_sb_faults_t *faults,
                                       const dh_sb_webhooks_opts_t *opts);

/** @brief Deliver what is queued (bounded wait), stop the thread, free; NULL does nothing. */
void dh_sb_webhooks_stop(dh_sb_webhooks_t *w);

/**
 * @brief Queue one delivery. \p headers (name -> string) is stolen, \p body is copied.
 * @returns 0, or -1 when the queue is full (journaled as dropped).
 */
int dh_sb_webhooks_enqueue(dh_sb_webhooks_t *w, const char *url, json_t *headers, const char *body,
                           const char *topic, const char *shop);

/** @brief Number of deliveries queued or in flight. */
size_t dh_sb_webhooks_pending(dh_sb_webhooks_t *w);

#endif
