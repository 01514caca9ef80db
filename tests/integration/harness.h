/*
 * Integration-test harness: talks to the local stack (deploy/stack.sh up) — a real
 * Kafka broker and a real Redis — and runs worker processes. Addresses come from
 * DH_TEST_KAFKA (default 127.0.0.1:39092) and DH_TEST_REDIS_URL
 * (default redis://127.0.0.1:36379); binaries from DH_TEST_BUILD_DIR.
 */
#ifndef DH_TEST_HARNESS_H
#define DH_TEST_HARNESS_H

#include <stdarg.h>
#include <stddef.h>

#include <hiredis/hiredis.h>
#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <stdint.h>
#include <sys/types.h>

const char *th_kafka(void);
const char *th_redis_url(void);
/** A name unique to this test run: "<prefix>-<pid>-<time>". Static buffer per call site. */
void th_unique(const char *prefix, char *buf, size_t size);

/** Create \p topic and \p topic.dlq with \p partitions each; fails the test on error. */
void th_create_topic(const char *topic, int partitions);

typedef struct th_producer th_producer_t;
th_producer_t *th_producer_new(void);
/** Produce to an explicit \p partition (or -1 for the key's partition). */
void th_produce(th_producer_t *p, const char *topic, int32_t partition, const char *key,
                const char *value, size_t len);
/** Like th_produce, with one header \p hname: \p hval (none when \p hname is NULL). */
void th_produce_hdr(th_producer_t *p, const char *topic, int32_t partition, const char *key,
                    const char *value, size_t len, const char *hname, const char *hval);
void th_producer_destroy(th_producer_t *p); /* flushes; fails the test on undelivered */

/** Consume every message of \p topic from the beginning until \p expect arrived or
 *  \p timeout_ms passed. Returns the messages (caller destroys each, frees the array). */
rd_kafka_message_t **th_consume(const char *topic, size_t expect, int timeout_ms, size_t *n);

/** A dead letter as the runtime writes it (dh-error-class \p cls, dh-error, dh-original-*
 *  naming \p topic, dh-attempts; dh-shop-domain when \p shop is not NULL) to \p dlq
 *  [\p part]; the caller flushes \p p. */
void th_produce_letter(rd_kafka_t *p, const char *dlq, int part, const char *key, const char *cls,
                       const char *topic, const char *shop, const char *payload);
/** Redriven copies on \p topic (dh-redriven-from, none of the diagnostics), read until
 *  \p expect messages arrived; fails the test when one letter was written back twice. */
int th_redriven_copies(const char *topic, size_t expect);

/** \p group's committed offset of \p topic [\p partition], or -1 when none. */
int64_t th_committed(const char *group, const char *topic, int32_t partition);

/** The end (high watermark) offset of \p topic [\p partition]: messages written so far. */
int64_t th_end_offset(const char *topic, int32_t partition);

/** A Redis connection for the test (fails the test if unreachable). */
redisContext *th_redis(void);
long long th_redis_int(redisContext *c, const char *fmt, ...);

/** Spawn a build-tree binary with extra "NAME=value" environment entries (NULL-ended).
 *  stderr goes to \p log_path (appended). */
pid_t th_spawn(const char *binary, const char *const *env, const char *log_path);
/** Wait up to \p timeout_ms for \p pid to exit; returns its exit status or -1 (still
 *  running; then it is killed with SIGKILL). */
int th_wait_exit(pid_t pid, int timeout_ms);
int th_alive(pid_t pid);

/** Poll \p cond every 50 ms for up to \p timeout_ms; returns 1 when it held. */
int th_wait_for(int (*cond)(void *), void *ud, int timeout_ms);
void th_sleep_ms(int ms);
/** Monotonic milliseconds, for durations and deadlines. */
int64_t th_now_ms(void);
/** Wall-clock (Unix) milliseconds, for times compared with what a far side stamps. */
int64_t th_wall_ms(void);

/** `dh-ops --json trace <id> --no-dlq` against the stack: its lines parsed, one JSON
 *  object each (caller decrefs the array). Fails the test unless it exits 0. */
json_t *th_ops_trace(const char *id);

/** Runs `dh-ops <args>` (\p fmt, \p ap) from DH_TEST_BUILD_DIR, its stderr appended to
 *  \p log; its stdout in *\p out (caller frees; NULL drops it). Fails the test unless the
 *  tool exited; returns its exit status. */
int th_ops_vrun(const char *log, char **out, const char *fmt, va_list ap);

/** The record of \p trace whose "effect" starts with \p prefix (borrowed), or NULL. */
json_t *th_trace_effect(json_t *trace, const char *prefix);

/** The admin port a process logged ("admin endpoints on <addr>:<port>") in \p log,
 *  waiting up to \p timeout_ms; 0 when it did not. */
int th_admin_port(const char *log, int timeout_ms);

/** The value of the first series of \p name whose labels contain \p labels (may be NULL)
 *  on \p port's /metrics; -1 when absent or unreachable. */
double th_metric(int port, const char *name, const char *labels);

#endif

/** One test scenario: a fresh topic (+ .dlq), group, Redis namespace and log file. */
typedef struct th_run {
    char topic[128];
    char group[128];
    char ns[128];
    char log[256];
    char journal[256]; /**< dh-testworker's far side (DH_TEST_JOURNAL), see testworker.c */
    int journal_env;   /**< DH_TEST_JOURNAL is in env (th_run_spawn) */
    int markers;       /**< marker rounds produced (th_run_produce_markers) */
    char envbuf[24][300];
    const char *env[25];
    int nenv;
} th_run_t;

/** Create the topic with \p partitions and the base worker environment: the workers reach
 *  the broker at DH_TEST_WORKER_KAFKA (default th_kafka()) with the test process's
 *  KAFKA_SECURITY_PROTOCOL and KAFKA_SASL_* settings, if any. */
void th_run_init(th_run_t *run, const char *prefix, int partitions);
/** Add "NAME=value" to the worker environment (before spawning). */
void th_run_setenv(th_run_t *run, const char *name, const char *value);
/** Start \p binary (dh-testworker or dh-testworker-coalesce) for this run, with the
 *  run's far-side journal; stderr to \p log_path (NULL: the run's log). */
pid_t th_run_spawn(th_run_t *run, const char *binary, const char *log_path);
/** Start dh-testworker for this run. */
pid_t th_run_worker(th_run_t *run);
/** Produce test events: ids "e<i>", keys "k<i % nkeys>", seq = i / nkeys. */
void th_run_produce_events(th_run_t *run, int n, int nkeys, int dup_every);
/** Like th_run_produce_events, each payload carrying a "pad" string of \p pad bytes. */
void th_run_produce_padded(th_run_t *run, int n, int nkeys, int dup_every, size_t pad);

/* ---- What dh-testworker's far side saw: every performance, from the run's journal ---- */

/** One performance of an effect, in the order the far side received them. */
typedef struct th_perf {
    int pid; /**< the worker process that performed it */
    char key[64];
    long long seq;
    char id[128];
    char far[40]; /**< the far-side idempotency key it carried */
} th_perf_t;
/** Every performance so far (caller free()s); \p decoded (may be NULL): decodes so far. */
th_perf_t *th_run_perfs(th_run_t *run, size_t *n, long long *decoded);

typedef struct th_far {
    long long effects;         /**< distinct effect ids performed */
    long long performances;    /**< every performance, repeats included */
    long long repeats;         /**< performances beyond each id's first */
    long long repeated;        /**< ids performed more than once */
    long long far_key_changes; /**< repeats that carried another far key (never allowed) */
    long long decoded;         /**< deliveries decoded (malformed ones included) */
} th_far_t;
void th_run_far(th_run_t *run, th_far_t *far);
void th_run_far_print(th_run_t *run, const char *when);
/** Assert exactly \p effects distinct effects were performed, each exactly once. */
void th_run_assert_once(th_run_t *run, long long effects);
/** Assert exactly \p effects distinct effects, at most \p max_repeated of them performed
 *  more than once (repeats the far side absorbs by the idempotency key: a crash, an
 *  unknown outcome), each repeat with the same far key, and few repeats in all. */
void th_run_assert_applied(th_run_t *run, long long effects, long long max_repeated);
/** Performances by process \p pid; of effect \p id; deliveries decoded. */
long long th_run_far_by(th_run_t *run, pid_t pid);
long long th_run_far_count(th_run_t *run, const char *id);
long long th_run_decoded(th_run_t *run);
/** Distinct effects performed; in \p dups how many were performed more than once. */
long long th_run_performed(th_run_t *run, long long *dups);
/** Effects performed more than once (the same as th_run_performed's \p dups). */
long long th_run_attempt_dups(th_run_t *run);
/** Wait up to \p timeout_ms until at least \p want distinct effects were performed.
 *  Returns 1 when they were. */
int th_run_wait_performed(th_run_t *run, long long want, int timeout_ms);
/** Check every key k0..k<nkeys-1>'s performances have non-decreasing seq (strictly if
 *  \p strict): per-key order at the far side. */
int th_run_order_ok(th_run_t *run, int nkeys, int strict);

/** Markers: one event per key k0..k<nkeys-1>, id "<tag>-k<i>", seq TH_MARKER_SEQ + round, produced
 *  after everything before. Once a key's marker was performed, every earlier event of that
 *  key was handled (per-key order): "nothing more happened" is awaited, never slept. */
#define TH_MARKER_SEQ 1000000000
void th_run_produce_markers(th_run_t *run, const char *tag, int nkeys);
/** Wait until every marker of \p tag was performed; 1 when they were. */
int th_run_wait_markers(th_run_t *run, const char *tag, int nkeys, int timeout_ms);

/* ---- The sandbox (Shopify, WMS, Return Prime) for e2e tests ---- */

/** A running dh-sandbox on a free loopback port, with the seed file written by the test. */
typedef struct th_sandbox {
    pid_t pid;
    int port;
    char base[64]; /**< "http://127.0.0.1:<port>" */
    char log[256];
} th_sandbox_t;

/** Start dh-sandbox with \p seed_json (the seed text; see docs/sandbox.md), waiting until
 *  it answers. Fails the test if it cannot start. */
void th_sandbox_start(th_sandbox_t *sb, const char *seed_json);
void th_sandbox_stop(th_sandbox_t *sb);

/** HTTP to the sandbox (or anything): returns the status, body in *out (caller free()s,
 *  may be NULL). \p body may be NULL. \p headers NULL-terminated "Name: value" or NULL. */
long th_http(const char *method, const char *url, const char *const *headers, const char *body,
             char **out);
/** Like th_http, parsing the JSON reply (json_t *; caller json_decref()s; NULL if not JSON). */
void *th_http_json(const char *method, const char *url, const char *body, long *status);

/** A loopback TCP port that was free a moment ago (bind to port 0, read it, close). */
int th_free_port(void);
/** Non-zero once something accepts TCP connections on 127.0.0.1:\p port. */
int th_port_open(int port);
/** A private redis-server on 127.0.0.1:\p port, for tests that count its commands or stop
 *  and restart it. \p aof_dir: append-only, fsynced on every write, in that directory (its
 *  records survive a SIGKILL); NULL: no persistence. Returns once it answers PING (fails
 *  the test after 15 s); its output goes to /dev/null. */
pid_t th_redis_private(int port, const char *aof_dir);

/** Write \p text to a new temp file; returns its path in a static buffer per call (copy it). */
const char *th_write_temp(const char *prefix, const char *text);

/* ---- Shared by the workers' e2e tests ---- */

/** getenv(\p name), or \p def when it is unset or empty. */
const char *th_env_or(const char *name, const char *def);
/** Where worker logs go: DH_TEST_LOG_DIR, else DH_TEST_BUILD_DIR, else /tmp. */
const char *th_log_dir(void);
/** SIGTERM \p pid (when > 0) and assert it exits with status 0 within 30 s. */
void th_stop(pid_t pid);
/** A plain idempotent producer on th_kafka() (caller flushes and destroys it). */
rd_kafka_t *th_kafka_producer(void);
/** A dead letter's dh-error-class and dh-error headers, copied NUL-terminated (truncated to
 *  fit) into \p cls and \p why, and printed; fails the test when either is missing. */
void th_dead_letter(const rd_kafka_message_t *m, char *cls, size_t csize, char *why, size_t wsize);

/* ---- A private stack for fault tests (deploy/stack.sh on ports of its own) ---- */

/** A Kafka broker and a Redis of the test's own, which it may kill. Never the shared stack. */
typedef struct th_stack {
    char dir[256];    /**< DH_STACK_DIR: data, logs and pid files */
    char script[512]; /**< deploy/stack.sh of the source tree (DH_TEST_SOURCE_DIR) */
    int kafka_port, ctrl_port, redis_port;
    char kafka[64];     /**< "127.0.0.1:<kafka_port>" */
    char redis_url[64]; /**< "redis://127.0.0.1:<redis_port>" */
    int started;
} th_stack_t;

/** Pick free ports (outside the kernel's ephemeral range when possible), start Kafka and Redis in a
 * new temp DH_STACK_DIR and point th_kafka() / th_redis_url() at them (DH_TEST_KAFKA,
 * DH_TEST_REDIS_URL). Fails the test when deploy/stack.sh, java, kcat, redis-server or the Kafka
 * jars are missing. */
void th_stack_start(th_stack_t *s);
/** The first of \p n consecutive loopback ports that are bindable now, outside the kernel's
 *  ephemeral range when there is room, so a service killed and restarted on them finds
 *  them free again (no client takes them as its source port meanwhile). */
int th_stable_ports(int n);
/** Lines of the file at \p path containing \p needle (0 if it cannot be read). */
int th_file_count(const char *path, const char *needle);
/** Print the last \p n lines of the file at \p path to stderr, leaving out lines that
 *  contain \p skip (if not NULL): what a failed test shows of a worker's log. */
void th_log_tail(const char *path, int n, const char *skip);
/** Start "deploy/stack.sh \p cmd" with the private environment; returns its pid. */
pid_t th_stack_cmd_async(th_stack_t *s, const char *cmd);
/** Run "deploy/stack.sh \p cmd" and wait up to \p timeout_ms; returns its exit status. */
int th_stack_cmd(th_stack_t *s, const char *cmd, int timeout_ms);
/** SIGKILL the stack's "kafka" or "redis" process (from its pid file) and wait until it is
 *  gone. Returns the pid killed. */
pid_t th_stack_kill9(th_stack_t *s, const char *service);
/** "down", then delete the directory. Safe to call twice or after a failed start. */
void th_stack_destroy(th_stack_t *s);

/** Committed offsets of consumer group \p group summed over \p topic's partitions (0 for a
 *  partition without a commit); -1 if the broker did not answer. */
long long th_group_committed(const char *group, const char *topic);
/** Messages in \p topic (high watermarks summed); -1 if the broker did not answer. */
long long th_topic_size(const char *topic);
