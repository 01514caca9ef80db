/*
 * dh-ops: the on-call tool. One binary, one sub-command per task (lag, dlq, replay), the
 * workers' own configuration (DH_KAFKA_BROKERS, DH_REDIS_*, the KAFKA_* security
 * settings), a dry run by default for anything that writes, --json everywhere.
 * Exit codes: 0 done, 1 failed (Kafka or Redis said no, or something could not be done),
 * 2 bad arguments or configuration, 3 refused (a replay of a group that is missing or
 * has members, a filtered replay matching more than --max events).
 */
#ifndef DH_OPS_H
#define DH_OPS_H

#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <stdint.h>

#include "dockhand/config.h"
#include "dockhand/redis.h"

#define OPS_OK      0
#define OPS_FAIL    1
#define OPS_USAGE   2
#define OPS_REFUSED 3

typedef struct ops {
    const char *prog;       /**< "dh-ops" (or "dh-dlq"), prefix of our own messages. */
    const dh_config_t *cfg; /**< The workers' variables that concern the tool. */
    int json;               /**< --json: one JSON document per result line on stdout. */
    int timeout_ms;         /**< DH_OPS_TIMEOUT_MS: every Kafka request. */
    json_t *sink;           /**< When set (an array), JSON results are appended here instead
                                 of printed (dh-console renders them). */
} ops_t;

/** DH_OPS_TIMEOUT_MS and DH_OPS_LEDGER_TTL_S: every user of these sub-commands needs them. */
extern const dh_config_var_t ops_config_vars[];

/** Load \p tables from the variables the tables name, KAFKA_* and \p own_prefix*; sets
 *  o->cfg and o->timeout_ms. OPS_OK, or OPS_USAGE/OPS_FAIL after printing why. */
int ops_load_config(ops_t *o, const dh_config_var_t *const *tables,
                    const dh_config_check_fn *checks, const char *own_prefix, dh_config_t **cfg);

/** "prog: message" on stderr; when the broker refused our credentials or TLS, a second
 *  line says so (the request itself only timed out). */
void ops_err(const ops_t *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/** Non-zero when librdkafka reported the broker refusing authentication (SASL) or the
 *  TLS handshake; its message in \p buf. */
int ops_kafka_refused(char *buf, size_t size);

/** Print \p obj (stolen) as one compact JSON line on stdout. */
void ops_print_json(json_t *obj);
/** One JSON result (stolen): appended to o->sink when set, else printed. */
void ops_emit(const ops_t *o, json_t *obj);

/** Strict integer option: the whole of \p s is a decimal within [min, max]; else a
 *  clear message and -1 (the caller exits OPS_USAGE). */
int ops_parse_long(const ops_t *o, const char *opt, const char *s, long long min, long long max,
                   long long *out);

/** A time option: epoch milliseconds, or an ISO 8601 UTC time "YYYY-MM-DDTHH:MM[:SS]Z". */
int ops_parse_time(const ops_t *o, const char *opt, const char *s, int64_t *out_ms);

/** Format epoch ms as "YYYY-MM-DDTHH:MM:SS.mmmZ". */
void ops_time_text(int64_t ms, char *buf, size_t size);

/**
 * @brief Run \p fn(\p arg) on a thread of its own and wait at most \p timeout_ms for it.
 * @returns 0 when it finished (on its thread, or here if no thread could be started); -1
 * when it did not in time: it keeps running, detached, and \p arg stays its own. For
 * teardown that must not hold a one-shot command forever.
 */
int ops_run_bounded(void (*fn)(void *arg), void *arg, int timeout_ms);

/* librdkafka clients with the workers' connection and security settings (only those:
 * the workers' group, instance id or client id never apply to the tool, so it can never
 * fence or join a worker's group by accident). NULL after printing why. */
typedef void ops_dr_cb_t(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque);
/** A consumer for assignments and offset lookups (never subscribed, never commits). */
rd_kafka_t *ops_consumer_new(const ops_t *o, const char *group);
/** An idempotent acks=all producer; \p dr_cb (may be NULL) gets each delivery report. */
rd_kafka_t *ops_producer_new(const ops_t *o, ops_dr_cb_t *dr_cb);
/** A handle for metadata and admin requests. */
rd_kafka_t *ops_admin_new(const ops_t *o);
/**
 * @brief Destroys a handle made above, waiting at most DH_OPS_TIMEOUT_MS (at least 5 s).
 * librdkafka 2.0 (Debian 12's) can hang in rd_kafka_destroy() (its issue 4519; seen here
 * once in a CI run, dh-ops dlq show stuck for minutes after printing its answer). By then
 * the command's work is done and checked (producers flushed), so a destroy that does not
 * finish is logged and left to the process exit instead of holding the command. NULL: no-op.
 */
void ops_kafka_destroy(const ops_t *o, rd_kafka_t *rk);

/** Partition count of \p topic, or -1 after printing why (missing topic, no broker). */
int ops_partitions(const ops_t *o, rd_kafka_t *rk, const char *topic);

/** Low and high watermarks of one partition; -1 after printing Kafka's error. */
int ops_watermarks(const ops_t *o, rd_kafka_t *rk, const char *topic, int32_t p, int64_t *lo,
                   int64_t *hi);

/** The answer to an admin request on \p q, or NULL after printing Kafka's error. */
rd_kafka_event_t *ops_admin_wait(const ops_t *o, rd_kafka_queue_t *q, const char *what);

/** Admin options with the request timeout DH_OPS_TIMEOUT_MS. */
rd_kafka_AdminOptions_t *ops_admin_options(const ops_t *o, rd_kafka_t *rk, rd_kafka_admin_op_t op);

/** Sends one admin request (\p ud: its arguments) with \p opts to \p q. */
typedef void ops_admin_send_fn(rd_kafka_t *rk, const rd_kafka_AdminOptions_t *opts,
                               rd_kafka_queue_t *q, void *ud);
/** One admin request, its options (DH_OPS_TIMEOUT_MS) and its answer: the result event
 *  (caller destroys it), or NULL after printing Kafka's error. */
rd_kafka_event_t *ops_admin_run(const ops_t *o, rd_kafka_t *rk, rd_kafka_admin_op_t op,
                                const char *what, ops_admin_send_fn *send, void *ud);
/** The partitions of a one-group result, or NULL after printing the group's error. */
const rd_kafka_topic_partition_list_t *
ops_group_result(const ops_t *o, const rd_kafka_group_result_t **res, size_t n, const char *group);

/** \p group's committed offsets (of \p only's partitions, or of all when NULL); offset
 *  RD_KAFKA_OFFSET_INVALID where nothing is committed. NULL after printing the error. */
rd_kafka_topic_partition_list_t *ops_group_offsets(const ops_t *o, rd_kafka_t *rk,
                                                   const char *group,
                                                   const rd_kafka_topic_partition_list_t *only);

/** A Redis connection from DH_REDIS_URL / DH_REDIS_PASSWORD, connected; NULL after
 *  printing why. */
dh_redis_t *ops_redis_new(const ops_t *o);

/** GET \p key as a JSON string; NULL when absent (or on error: *err set to 1). */

/** The workers' names, which are their Redis namespaces (each handler's .name), NULL-ended. */
extern const char *const ops_workers[];
json_t *ops_redis_get(dh_redis_t *r, const char *key, int *err);

/** A store's full-sync state in Redis (running slot, pending request, cursor, progress
 *  pages/rows, last success), or NULL on a Redis error (*err set). */
json_t *ops_sync_state(dh_redis_t *r, const char *store, int *err);

/* Sub-commands: argv[0] is the sub-command's name. Each returns an exit code. */
int ops_lag(const ops_t *o, int argc, char **argv);
int ops_dlq(const ops_t *o, int argc, char **argv);
int ops_replay(const ops_t *o, int argc, char **argv);
/** replay without --group: filtered copies re-published (ops_replay_copy.c). */
int ops_replay_copy(const ops_t *o, int argc, char **argv);
/* validate and publish */
int ops_publish(const ops_t *o, int argc, char **argv);
int ops_sync(const ops_t *o, int argc, char **argv);
int ops_trace(const ops_t *o, int argc, char **argv);
/* parked: stores with events set aside in Redis (common/src/park.c) */
int ops_parked(const ops_t *o, int argc, char **argv);

#endif
