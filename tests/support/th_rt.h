/*
 * The worker runtime in the test process: the real consumer, lanes and dead-letter
 * producer (set up as dh_worker_main() does) around a given handler, on librdkafka's
 * in-process mock cluster and the shared test Redis (DH_TEST_REDIS_URL). Tests produce
 * events, await outcomes on the runtime's own counters, watermarks and dead letters, and
 * stop it like SIGTERM would. Consumer group, instance and lease owner are unique per run.
 */
#ifndef TH_RT_H
#define TH_RT_H

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdint.h>

#include "dockhand/worker.h"
#include "runtime.h"

typedef struct th_rt th_rt_t;

/** The mock cluster has brokers 1 and 2: the topic's partitions are led by 1 and the
 *  dead-letter topic by 2, so errors pushed on broker 2 refuse dead letters alone. */
#define TH_RT_DLQ_BROKER 2

/** A mock cluster with \p topic (\p partitions) and \p topic.dlq, and the configuration of
 *  \p h from the harness's defaults overridden by \p env ("NAME=value", NULL-terminated,
 *  may be NULL). Nothing runs yet. */
th_rt_t *th_rt_new(const dh_handler_t *h, const char *topic, int partitions,
                   const char *const *env);
/** Start the runtime: handler init, dead-letter producer, lanes, consumer thread. */
void th_rt_start(th_rt_t *t);
/** Stop it (drain, as on SIGTERM) and free everything the run made. Returns what
 *  dh_rt_consumer_run() returned (0 clean, 1 fatal). */
int th_rt_stop(th_rt_t *t);
/** Free the mock cluster (after th_rt_stop(), or when never started). */
void th_rt_destroy(th_rt_t *t);

dh_rt_t *th_rt_runtime(th_rt_t *t);
const char *th_rt_bootstraps(const th_rt_t *t);
rd_kafka_mock_cluster_t *th_rt_mock(th_rt_t *t);
const char *th_rt_group(const th_rt_t *t);
/** A string unique to this run, for effect ids and payloads ("<pid>-<ms>-<n>"). */
const char *th_rt_run_id(const th_rt_t *t);

/** The test Redis: DH_TEST_REDIS_URL, else the shared stack's. */
const char *th_rt_redis_url(void);
/** A connection to it, for reading what a handler wrote (dh_redis_destroy() it); fails the
 *  test if it cannot be made. */
dh_redis_t *th_rt_redis_new(void);
/** A plain hiredis connection to it (redisFree() it); fails the test if it cannot be made. */
redisContext *th_rt_hiredis(void);

/** Produce (and wait for the ack) one event; \p hdrs is name, value, ..., NULL or NULL. */
void th_rt_produce(th_rt_t *t, int32_t partition, const char *key, const char *value,
                   const char *const *hdrs);

/** Evaluate \p cond under the runtime's lock every few ms until it holds or \p timeout_ms
 *  passed; returns 1 when it held. */
int th_rt_await(th_rt_t *t, int (*cond)(dh_rt_t *rt, void *ud), void *ud, int timeout_ms);
/** One line on stderr of what the runtime is doing (partitions, in flight, parked, its
 *  counters): what a timed-out await prints, so a failure elsewhere can be read. */
void th_rt_print_state(th_rt_t *t, const char *why);
/** Await counter \p c reaching at least \p n; returns 1 when it did. */
int th_rt_await_count(th_rt_t *t, dh_counter_t *const *c, uint64_t n, int timeout_ms);
/** Await the stored offset of \p partition reaching at least \p off; 1 when it did. */
int th_rt_await_stored(th_rt_t *t, int32_t partition, int64_t off, int timeout_ms);
/** The offset last stored for \p partition of the topic (-1: none yet). Takes the lock. */
int64_t th_rt_stored(th_rt_t *t, int32_t partition);

/** The offset \p group committed for \p partition of the topic, -1 when none. */
int64_t th_rt_committed(th_rt_t *t, const char *group, int32_t partition);

/** A dead letter, copied out of the reading consumer. */
typedef struct th_dlq_msg {
    char key[256];
    char *value;
    rd_kafka_headers_t *hdrs; /* NULL when none */
} th_dlq_msg_t;

/** Read \p topic.dlq from its beginning until \p want messages arrived or \p timeout_ms
 *  passed; returns how many were read into \p out (clear each with th_dlq_msg_clear()). */
size_t th_rt_dlq(th_rt_t *t, size_t want, int timeout_ms, th_dlq_msg_t *out, size_t max);
/** The same for partition 0 of any \p topic of the mock cluster. */
size_t th_rt_read(th_rt_t *t, const char *topic, size_t want, int timeout_ms, th_dlq_msg_t *out,
                  size_t max);
void th_dlq_msg_clear(th_dlq_msg_t *m);
/** Header \p name of \p m NUL-terminated into \p buf ("" when absent). */
const char *th_dlq_hdr(const th_dlq_msg_t *m, const char *name, char *buf, size_t size);

/** The whole file at \p path, NUL-terminated (caller frees); fails the test if unreadable. */
char *th_text_file(const char *path);
/** \p text with its first \p old replaced by \p repl (caller frees); fails if absent. */
char *th_text_replace(const char *text, const char *old, const char *repl);
/** Write a stores file (dockhand/stores.h) to \p path with stores "<prefix><i>.myshopify.com"
 *  for i in 0..n-1, their Shopify admin URL unreachable (no handler test calls Shopify). */
void th_stores_file(const char *path, const char *prefix, int n);

/** Run only the cases named by DH_TEST_CASES (a cmocka pattern: '*', '?'), when set:
 *  tests/breakage/run.sh sets it from a variant's CASES. Call before running the group. */
void th_cases_filter(void);

/** Produce \p payload with \p hdrs as the started runtime's first event (key \p key) and
 *  await its outcome: with \p dead_class NULL it must be done, and the same delivery
 *  again a duplicate; else it must be one dead letter of that class, then finished. */
void th_rt_expect_outcome(th_rt_t *t, const char *key, const char *payload, const char *const *hdrs,
                          const char *dead_class);

#endif
