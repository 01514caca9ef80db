/*
 * The worker runtime: what a worker binary is made of. A worker supplies a
 * dh_handler_t (decode an event, perform its effect through the lane's Redis and HTTP
 * handles, return a result) and a main() of one line:
 *
 *     int main(int argc, char **argv) { return dh_worker_main(argc, argv, &my_handler); }
 *
 * The runtime owns configuration, signals, the Kafka consumer, key-ordered lanes,
 * idempotency records, retries with backoff, the dead-letter producer, offsets,
 * metrics, health endpoints and shutdown. See docs/ARCHITECTURE.md.
 */
#ifndef DH_WORKER_H
#define DH_WORKER_H

#include <stddef.h>

#include <stdint.h>

#include "dockhand/config.h"
#include "dockhand/err.h"
#include "dockhand/http.h"
#include "dockhand/metrics.h"
#include "dockhand/redis.h"
#include "dockhand/shopify.h"
#include "dockhand/wms.h"

/** What a handler decided about one event. */
typedef enum dh_result {
    DH_RESULT_DONE = 0,    /**< Effect performed (or nothing to do): store the offset. */
    DH_RESULT_RETRY,       /**< Transient failure: retry this key later with backoff. */
    DH_RESULT_DEAD_LETTER, /**< Permanent failure: write to <topic>.dlq, then move on. */
    DH_RESULT_FATAL,       /**< A bug or broken environment: stop the worker (exit 1). */
    DH_RESULT_WAIT,        /**< A resource is not available yet (rate limit, cooldown): try
                                again after dh_lane_retry_after() ms. Not counted as a failed
                                attempt, but the retry age limit still applies. */
} dh_result_t;

/** One Kafka message as a handler sees it. Everything is borrowed for the call. */
typedef struct dh_msg {
    const char *topic;
    int32_t partition;
    int64_t offset;
    int64_t timestamp_ms; /**< Message timestamp (CreateTime), -1 if none. */
    const char *key;      /**< May be NULL; not NUL-terminated. */
    size_t key_len;
    const char *payload; /**< May be NULL (tombstone); not NUL-terminated. */
    size_t len;
    int attempt;      /**< 1 on the first attempt. */
    const void *priv; /**< Runtime's; use dh_msg_header(). */
} dh_msg_t;

/**
 * @brief Find the last header \p name of \p msg.
 * @returns The value (borrowed, not NUL-terminated, length in \p len) or NULL.
 */
const char *dh_msg_header(const dh_msg_t *msg, const char *name, size_t *len);

/** A lane is one worker thread of the runtime, with its own connections. */
typedef struct dh_lane_s dh_lane_t;

dh_redis_t *dh_lane_redis(dh_lane_t *lane); /**< This lane's connection. */
dh_http_t *dh_lane_http(dh_lane_t *lane);   /**< This lane's HTTP handle. */
const dh_config_t *dh_lane_config(const dh_lane_t *lane);
dh_metrics_t *dh_lane_metrics(dh_lane_t *lane);
int dh_lane_index(const dh_lane_t *lane); /**< 0..lanes-1 */

/** @brief This lane's Shopify client, created on first use on the lane's Redis and HTTP
 *  handles and owned by the lane. NULL only if out of memory. */
dh_shopify_t *dh_lane_shopify(dh_lane_t *lane);

/** @brief This lane's WMS client, created on first use from DH_WMS_* (the worker lists
 *  dh_wms_config_vars among its tables) and owned by the lane. NULL if that configuration
 *  is invalid (logged once per lane). */
dh_wms_t *dh_lane_wms(dh_lane_t *lane);

/**
 * @brief Record why the current event failed; used in logs, metrics and dead-letter
 *        headers. Call before returning RETRY or DEAD_LETTER.
 * @param error_class  Short stable word: "decode", "schema", "rejected", "http", ...
 *                     A RETRY with class "auth" (refused credentials, set by the outcome
 *                     table) is never dead-lettered by the retry budget.
 */
void dh_lane_fail(dh_lane_t *lane, const char *error_class, const char *fmt, ...) DH_PRINTF(3, 4);

/** @brief Ask that the next attempt wait at least \p ms (e.g. from Retry-After). */
void dh_lane_retry_after(dh_lane_t *lane, int64_t ms);

/**
 * @brief Produce one message and wait until the broker acknowledged it (idempotent
 *        producer, acks=all), e.g. for a reconciliation pass that republishes events.
 * @param headers  NULL-terminated list of name, value, name, value, ... (borrowed).
 * @param timeout_ms  Unused beyond the producer's delivery timeout (15 s): the call always
 *                    returns once librdkafka reported the delivery's fate.
 * @returns DH_OK once acked, DH_ERR_IO if the delivery failed (not written; retry later).
 */
DH_NODISCARD dh_err_t dh_lane_produce(dh_lane_t *lane, const char *topic, const char *key,
                                      size_t key_len, const void *value, size_t len,
                                      const char *const *headers, int timeout_ms);

/** @brief Copy header \p name of \p msg NUL-terminated into \p buf.
 *  @returns 0, or -1 when absent, empty or too long for \p size. */
int dh_msg_header_copy(const dh_msg_t *msg, const char *name, char *buf, size_t size);

/**
 * @brief dh_wms_call() on this lane's WMS client, classified by the outcome table
 *        (dockhand/outcome.h) the same way for every worker: throttled -> WAIT, 401/403
 *        -> RETRY without a retry budget (never dead-lettered), timeout / I/O / 5xx ->
 *        RETRY (the caller's Idempotency-Key makes the retry safe), no client -> FATAL;
 *        each with dh_lane_fail().
 * @returns 0 when the WMS gave a business answer (2xx or 404/409/422/... in \p rep: the
 *          caller decides with its rules, dh_lane_answer(); clear it with
 *          dh_wms_reply_clear()), else -1 with \p res set.
 */
DH_NODISCARD int dh_lane_wms_call(dh_lane_t *lane, const char *group, const char *method,
                                  const char *path, const char *idempotency_key, json_t *body,
                                  dh_wms_reply_t *rep, dh_result_t *res);

/**
 * @brief dh_shopify_graphql() on this lane's Shopify client, classified by the same table:
 *        throttled -> WAIT (after the cooldown), 401/403 -> RETRY without a retry budget,
 *        timeout / I/O / 5xx -> RETRY, a request Shopify refuses (4xx, top-level errors)
 *        -> DEAD_LETTER "rejected", no client -> FATAL; each with dh_lane_fail().
 * @returns 0 when Shopify answered with data in \p rep (userErrors and missing objects
 *          are the caller's: dh_lane_answer()), else -1 with \p res set. Clear \p rep
 *          with dh_gql_reply_clear() in both cases.
 */
DH_NODISCARD int dh_lane_shopify_call(dh_lane_t *lane, const dh_store_t *store, dh_gql_doc_t doc,
                                      json_t *vars, dh_gql_reply_t *rep, dh_result_t *res);

/** A decoded event: filled by the handler's decode(). */
typedef struct dh_event {
    /** Effect id for the runtime's idempotency record (e.g. the event id). Empty means
     *  "no record": the handler does its own idempotency (dh_idem.h). */
    char effect_id[256];
    void *data; /**< The handler's decoded form, freed by handler->release(). */
} dh_event_t;

/** One event of a batch given to handle_batch(). */
typedef struct dh_batch_item {
    const dh_msg_t *msg;    /**< Borrowed for the call. */
    void *data;             /**< What decode() produced. */
    dh_result_t result;     /**< Set by the handler; DONE on entry. */
    int64_t retry_after_ms; /**< For RETRY/WAIT: the least delay before the next attempt. */
    char error_class[32];   /**< For RETRY/DEAD_LETTER: see dh_batch_fail(). */
    char error[480];
} dh_batch_item_t;

/** @brief Set \p item's result and reason in one call. */
void dh_batch_fail(dh_batch_item_t *item, dh_result_t result, const char *error_class,
                   const char *fmt, ...) DH_PRINTF(4, 5);

typedef struct dh_handler {
    const char *name;          /**< Worker name: logs, metrics, group, records. */
    const char *const *topics; /**< Default topics, NULL-terminated. */
    /** The worker's own variable tables (NULL-terminated list), e.g. its own table plus
     *  dh_stores_config_vars and dh_wms_config_vars; NULL for none. */
    const dh_config_var_t *const *config;

    /** Preferred DH_BATCH_MAX and DH_BATCH_LINGER_MS when those are unset (0: runtime
     *  defaults 64 and 0). A batching handler (handle_batch) sets e.g. 250 and 200 ms. */
    int batch_max;
    int linger_ms;
    /** Non-zero: events are state snapshots, so when a key has several events queued only
     *  the newest is handled; the older ones finish as "superseded". */
    int coalesce;

    /** Optional: process-wide state from the configuration, before any lane starts. */
    dh_err_t (*init)(const dh_config_t *cfg, void **shared, char *errstr, size_t errstr_size);
    void (*fini)(void *shared);

    /** Parse and validate \p msg. DONE with \p ev filled, or DEAD_LETTER with a reason
     *  (dh_lane_fail()) for undecodable or contract-violating events. Called once per
     *  event, not again on retries. */
    dh_result_t (*decode)(void *shared, const dh_msg_t *msg, dh_event_t *ev, dh_lane_t *lane);

    /** Perform the effect of one decoded event. Events of one key arrive in order and
     *  never concurrently; events of different keys run in parallel on other lanes. */
    dh_result_t (*handle)(void *shared, const dh_msg_t *msg, void *data, dh_lane_t *lane);

    /** Optional instead of handle(): perform the effects of up to batch_max decoded events
     *  of distinct keys at once (e.g. one Shopify call for many SKUs). Set each item's
     *  result; events of one key still never run concurrently or out of order. */
    void (*handle_batch)(void *shared, dh_batch_item_t *items, size_t n, dh_lane_t *lane);

    /** Free what decode() put in ev->data (may be NULL). */
    void (*release)(void *data);

    /** Optional: called about once a second on one lane with its Redis and HTTP handles,
     *  for scheduled work such as a full sync or a reconciliation pass (take a Redis lock
     *  so only one replica runs each slot). Runs between batches; keep each call short or
     *  resumable. */
    void (*tick)(void *shared, dh_lane_t *lane);
} dh_handler_t;

/** Variables every dockhand process has (Kafka brokers, Redis, admin port, log level);
 *  the gateway uses them too. The consumer runtime adds its own table. */
extern const dh_config_var_t dh_process_config_vars[];

/**
 * @brief Run a worker: parse arguments (--help, --check-config, --dump-config), load the
 *        configuration, run until SIGTERM/SIGINT, drain and exit.
 * @returns The process exit code: 0 after a clean shutdown, 2 for bad configuration,
 *          1 for a fatal error.
 */
int dh_worker_main(int argc, char **argv, const dh_handler_t *handler);

#endif
