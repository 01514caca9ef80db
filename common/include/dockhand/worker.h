/*
 * The worker runtime: what a worker binary is made of. A worker supplies a
 * dh_handler_t (decode an event, perform its effect through the lane's Redis and HTTP
 * handles, return a result) and a main() of one line:
 *
 *     int main(int argc, char **argv) { return dh_worker_main(argc, argv, &my_handler); }
 *
 * The worker context: check_config() validates the worker's own variables (run by
 * --check-config and by every start, before anything connects), init() gets the
 * configuration and the metrics registry (every metric is created there), and
 * lane_init()/lane_fini() make and free per-lane state (dh_lane_state()) next to the
 * lane's own Redis, HTTP, Shopify and WMS handles.
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

/** @brief What the worker's lane_init() made for this lane (NULL without lane_init()). */
void *dh_lane_state(dh_lane_t *lane);

dh_redis_t *dh_lane_redis(dh_lane_t *lane); /**< This lane's connection. */
dh_http_t *dh_lane_http(dh_lane_t *lane);   /**< This lane's HTTP handle. */
const dh_config_t *dh_lane_config(const dh_lane_t *lane);
dh_metrics_t *dh_lane_metrics(dh_lane_t *lane);
int dh_lane_index(const dh_lane_t *lane); /**< 0..lanes-1 */

/** @brief This lane's Shopify client on the lane's Redis and HTTP handles, made when the
 *  lane starts and owned by it. Never NULL once the lane runs. */
dh_shopify_t *dh_lane_shopify(dh_lane_t *lane);

/** @brief This lane's WMS client from DH_WMS_*, made when the lane starts (a bad DH_WMS_*
 *  stops the worker at start, exit 2) and owned by it. NULL only when the worker does
 *  not list dh_wms_config_vars among its tables. */
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

/** Header of a copy re-published by `dh-ops replay`: "<topic>/<partition>/<offset>" of the
 *  original. Informational: the runtime treats the copy like any other event. */
#define DH_REPLAY_OF_HEADER "dh-replay-of"
/** Header of a deliberate re-apply (`dh-ops replay --reapply`): a nonce of 1 to
 *  DH_REAPPLY_NONCE_MAX characters [A-Za-z0-9._-]. The runtime treats the copy as a NEW
 *  event: its effect id gets "#reapply:<nonce>" appended (so its idempotency record is
 *  not the original's), and far keys made through the lane while it is handled mix the
 *  nonce in (dh_lane_far_key(), dh_lane_wms_call()). A malformed nonce dead-letters the
 *  copy. Handlers' own rules (sequence per key, recorded fulfillments) still apply. */
#define DH_REAPPLY_HEADER    "dh-reapply"
#define DH_REAPPLY_NONCE_MAX 64

/**
 * @brief The dh-reapply nonce of the event this lane is decoding or handling alone
 *        (handle(), not handle_batch()), or NULL when it is not a re-apply.
 * @returns Borrowed until the handler returns.
 */
const char *dh_lane_reapply(dh_lane_t *lane);

/**
 * @brief The far-side idempotency key of \p effect_id: dh_idem_far_key(\p ns, \p effect_id),
 *        except while the lane handles a re-apply (dh_lane_reapply()), whose nonce is then
 *        mixed in, so Shopify or the WMS sees a new request rather than a repeat. Use it
 *        for keys that do not go through dh_lane_wms_call() (which mixes on its own).
 */
void dh_lane_far_key(dh_lane_t *lane, const char *ns, const char *effect_id, char out[37]);

/** A decoded event: filled by the handler's decode(). */
typedef struct dh_event {
    /** Effect id for the runtime's idempotency record (e.g. the event id), set with
     *  dh_event_set_effect(). Empty means "no record": the handler does its own
     *  idempotency (dh_idem.h). */
    char effect_id[256];
    void *data; /**< The handler's decoded form, freed by handler->release(). */
    /** The store whose Shopify the event acts on (from the stores file), or NULL. Set it in
     *  decode(): while that store is in trouble (throttled, credentials refused, 5xx) the
     *  runtime parks the event instead of running it (docs/ARCHITECTURE.md, "Store gates"). */
    const dh_store_t *store;
} dh_event_t;

/** Digest form of an effect id too long for dh_event_t.effect_id: DH_EFFECT_DIGEST_PREFIX
 *  bytes of the id, '~', then the SHA-256 of the whole id in hex (255 bytes in all). */
#define DH_EFFECT_DIGEST_PREFIX 190

/**
 * @brief Set \p ev's effect id from a printf format. Never truncates: an id that does not
 *        fit is replaced by its digest form (see DH_EFFECT_DIGEST_PREFIX), so two different
 *        effects never share a record, and one effect always gets the same id.
 * @returns DH_OK, or DH_ERR_NOMEM (\p ev's id is then empty: fail the event, FATAL).
 */
DH_NODISCARD dh_err_t dh_event_set_effect(dh_event_t *ev, const char *fmt, ...) DH_PRINTF(2, 3);

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

/** What init() is given; both live until after fini(). */
typedef struct dh_worker_ctx {
    const dh_config_t *cfg; /**< The validated configuration. */
    dh_metrics_t *metrics;  /**< The registry: create every metric series in init(). */
    /** The stores file (DH_STORES_FILE), loaded and checked by the runtime when the worker
     *  lists dh_stores_config_vars, else NULL. Borrowed: valid until after fini(). */
    const dh_stores_t *stores;
} dh_worker_ctx_t;

typedef struct dh_handler {
    const char *name;          /**< Worker name: logs, metrics, group, records. */
    const char *const *topics; /**< Default topics, NULL-terminated. */
    /** The worker's own variable tables (NULL-terminated list), e.g. its own table plus
     *  dh_stores_config_vars and dh_wms_config_vars; NULL for none. The runtime checks
     *  the stores file and DH_WMS_* itself when they are listed. */
    const dh_config_var_t *const *config;
    /** Optional: checks of the worker's own variables beyond their types (a time zone
     *  resolves, a status list names known statuses), with dh_config_report(). Run by
     *  --check-config and by every start before init(): what it reports exits 2. */
    dh_config_check_fn check_config;

    /** Preferred DH_BATCH_MAX and DH_BATCH_LINGER_MS when those are unset (0: runtime
     *  defaults 64 and 0). A batching handler (handle_batch) sets e.g. 250 and 200 ms. */
    int batch_max;
    int linger_ms;
    /** Non-zero: events are state snapshots, so when a key has several events queued only
     *  the newest is handled; the older ones finish as "superseded". */
    int coalesce;

    /** Optional: process-wide state and metrics, before any lane starts. DH_ERR_CONFIG
     *  exits 2 (but prefer check_config, which --check-config runs too), others exit 1. */
    dh_err_t (*init)(const dh_worker_ctx_t *ctx, void **shared, char *errstr, size_t errstr_size);
    void (*fini)(void *shared);

    /** Optional: make one lane's state (\p *state, read back with dh_lane_state()) when
     *  the lane starts, after its handles exist; a failure stops the worker at start. */
    dh_err_t (*lane_init)(void *shared, dh_lane_t *lane, void **state, char *errstr,
                          size_t errstr_size);
    /** Free what lane_init() made, when the lane has stopped (before its handles go). */
    void (*lane_fini)(void *shared, void *state);

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

/** @brief The checks every dockhand process runs with dh_process_config_vars: DH_REDIS_URL
 *  through the Redis client's own parser, every KAFKA_* through librdkafka's
 *  rd_kafka_conf_set() on a scratch configuration, DH_ADMIN_ADDR a numeric address. */
void dh_process_check_config(const dh_config_t *cfg, dh_config_report_t *report);

/** @brief Report \p name unless it is a numeric IPv4 or IPv6 literal (a bind address). */
void dh_process_check_addr(const dh_config_t *cfg, dh_config_report_t *report, const char *name);

/**
 * @brief Run a worker: parse arguments (--help, --check-config, --dump-config), load the
 *        configuration, run until SIGTERM/SIGINT, drain and exit.
 * @returns The process exit code: 0 after a clean shutdown, 2 for bad configuration,
 *          1 for a fatal error.
 */
int dh_worker_main(int argc, char **argv, const dh_handler_t *handler);

#endif
