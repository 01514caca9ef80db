/*
 * Private to the runtime: the key-ordered executor shared by the consumer (poll thread),
 * the lanes (worker threads) and the dead-letter producer. One mutex guards it all; the
 * poll thread never runs handlers.
 */
#ifndef DH_RUNTIME_H
#define DH_RUNTIME_H

#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>

#include "dockhand/stores.h"
#include "dockhand/tokens.h"
#include "dockhand/worker.h"
#include "wm.h"

struct dh_rt_part;
struct dh_rt_keyq;

/** Why an event's last attempt failed. Allocated on its first failure and freed with the
 *  event: most events never fail, and in-flight events are many. */
typedef struct dh_rt_fail {
    char err_class[32];
    char err[480];
} dh_rt_fail_t;

/** One consumed message on its way through the runtime. Its key, payload and headers are
 *  copied out of librdkafka at dispatch, so an event waiting (or retrying for minutes)
 *  never pins a whole fetch response; the copy is charged to the in-flight byte budget. */
typedef struct dh_rt_ev {
    struct dh_rt_part *part;
    uint64_t seq; /* watermark handle */
    struct dh_rt_keyq *kq;
    struct dh_rt_ev *knext;  /* next event of the same key */
    struct dh_rt_ev *folded; /* coalesce: older snapshots of the key this one replaced */
    struct dh_rt_ev *fnext;  /* next in the survivor's folded list */
    struct dh_rt_ev *dnext;  /* next dead letter waiting to be produced again (dlq.c) */
    int attempts;
    int decoded;
    int from_park; /* taken back from the store's set-aside list (park.c), not from Kafka */
    int64_t first_seen_ms;
    int64_t last_failed_ms;
    int64_t retry_after_ms; /* handler's hint for the next attempt */
    dh_event_t *dev;        /* allocated by the first decode: most queued events wait undecoded */
    dh_rt_fail_t *fail;     /* NULL until an attempt fails; see dh_rt_ev_fail() */
    int64_t offset;
    int64_t timestamp_ms;     /* -1 when the message has none */
    rd_kafka_headers_t *hdrs; /* detached from the message; NULL when it had none */
    const char *key;          /* into data[]; NULL when the message has no key */
    size_t key_len;
    const char *payload; /* into data[]; NULL for a null value */
    size_t len;
    size_t bytes; /* allocation size, charged to the byte budget */
    char data[];  /* key then payload, each NUL-terminated */
} dh_rt_ev_t;

typedef struct dh_rt_part {
    struct dh_rt_part *next;
    char *topic;
    int32_t partition;
    dh_wm_t *wm;
    int refs;     /* events alive that point here */
    int running;  /* events taken by a lane or awaiting a dead-letter ack */
    int assigned; /* 0 once revoked */
    /* Set (under mu) when a revoke begins; read by lanes without the lock: a lane starts no
     * more of its events, so the revoke waits for one handler call, not a whole batch. */
    atomic_int revoking;
    int paused;     /* paused by the runtime */
    size_t bytes;   /* in-flight bytes of its events (dh_rt_ev_t.bytes) */
    int64_t stored; /* last offset handed to rd_kafka_offsets_store */
} dh_rt_part_t;

typedef struct dh_rt_keyq {
    struct dh_rt_keyq *hnext; /* hash chain */
    struct dh_rt_keyq *lnext, *lprev;
    int listed; /* 0 no, 1 ready list, 2 delayed list, 3 parked on a store gate */
    int running;
    struct dh_rt_gate *gate; /* listed == 3: the gate it is parked on */
    size_t n;                /* events queued on the key (head included) */

    int64_t not_before_ms;
    int64_t ready_since_ms;
    uint64_t hash;
    dh_rt_ev_t *head, *tail;
    size_t key_len;
    char key[];
} dh_rt_keyq_t;

/** Why a store's gate is closed (gate.c); DH_GATE_OPEN reports a store that answers. */
enum { DH_GATE_OPEN = 0, DH_GATE_THROTTLED, DH_GATE_AUTH, DH_GATE_UNAVAILABLE, DH_GATE__COUNT };

/** A store in trouble and the keys parked on it (gate.c). */
typedef struct dh_rt_gate {
    struct dh_rt_gate *next;
    const dh_store_t *store;
    int closed;                /* its events park */
    int spill;                 /* over DH_PARK_MEMORY_*: its events are set aside (park.c) */
    int64_t closed_since_ms;   /* when it last closed (dh_rt_now_ms) */
    int reason;                /* DH_GATE_* */
    int failures;              /* reports of trouble since it last answered: the backoff */
    unsigned int rng;          /* the backoff's jitter */
    int64_t until_ms;          /* closed: when to reopen or probe (dh_rt_now_ms) */
    int64_t trouble_ms;        /* the latest report of trouble (dh_rt_now_ms) */
    dh_rt_keyq_t *probe;       /* the key let through to try the store again */
    dh_rt_keyq_t *head, *tail; /* parked keys, in the order they parked */
    size_t keys, events;       /* parked */
    dh_gauge_t *parked_gauge;  /* dh_store_parked_events{store} */
} dh_rt_gate_t;

typedef struct dh_rt_opts {
    int lanes;
    int batch_max;
    int max_inflight_per_partition;
    int64_t max_inflight_bytes; /* all partitions together; each gets an equal share */
    int64_t lease_ms;
    int64_t retention_s;
    int64_t trace_retention_s; /* trace records of applied effects; 0: none (trace.c) */
    int retry_max_attempts;
    int64_t retry_max_age_ms;
    int64_t retry_base_ms;
    int64_t retry_max_ms;
    int64_t revoke_timeout_ms;
    int64_t drain_timeout_ms;
    int64_t linger_ms;
    size_t park_memory_max;  /* events of a store parked in memory before they are set aside */
    int64_t park_memory_ms;  /* how long a gate keeps them in memory before that */
    size_t park_drain_chunk; /* set-aside events taken back at a time */
} dh_rt_opts_t;

typedef struct dh_lane_s dh_lane_t;

/** Runtime metrics, created once. */
typedef struct dh_rt_metrics {
    dh_counter_t *done, *skipped, *retried, *dead, *lease_waits, *leases_lapsed, *redis_errors,
        *superseded;
    dh_counter_t *waits, *nudges;
    dh_counter_t *parks, *gate_closes[DH_GATE__COUNT];
    dh_counter_t *spilled, *unspilled;
    dh_histogram_t *latency;
    dh_gauge_t *inflight, *inflight_bytes, *lag, *assigned, *paused, *redis_up, *parked, *gated,
        *park_stores;
} dh_rt_metrics_t;

typedef struct dh_rt {
    pthread_mutex_t mu;
    pthread_cond_t work_cv; /* lanes wait for ready keys */
    pthread_cond_t idle_cv; /* poll thread waits for running events to finish */

    const dh_handler_t *handler;
    void *shared;        /* handler->init's state */
    dh_stores_t *stores; /* DH_STORES_FILE, when the worker lists it; outlives fini */
    const dh_config_t *cfg;
    dh_rt_opts_t opts;
    dh_metrics_t *metrics;
    dh_tokens_t *tokens; /* Shopify client-credentials tokens, shared by the lanes */
    dh_rt_metrics_t m;
    char owner[128]; /* lease owner prefix: instance name */

    rd_kafka_t *consumer;
    rd_kafka_t *dlq;
    rd_kafka_t *out;       /* dh_lane_produce(), created on first use */
    dh_rt_ev_t *dlq_retry; /* dead letters to produce again (dlq.c), under mu */
    int64_t dlq_retry_ms;  /* when: dh_rt_now_ms() */

    dh_rt_part_t *parts;
    dh_rt_keyq_t **buckets;
    size_t nbuckets;
    size_t nkeys;
    size_t nready;
    dh_rt_keyq_t *ready_head, *ready_tail;
    dh_rt_keyq_t *delayed_head; /* sorted by not_before_ms */
    size_t inflight;            /* events dispatched and not finished */
    size_t inflight_bytes;      /* their copies' bytes */
    dh_rt_gate_t *gates;        /* stores in trouble (gate.c) */
    atomic_int ngates;          /* how many: read without mu by dh_rt_gate_report() */
    size_t parked_events;       /* events on parked keys */
    atomic_int park_check;      /* some store may have events set aside: lanes ask Redis */
    int drain_active;           /* lane 0 took a chunk of a store's set-aside events back */
    char drain_store[256];
    size_t drain_dispatched;  /* that chunk's events */
    size_t drain_finished;    /* of which finished (done, skipped or dead-lettered) */
    int64_t drain_next_ms;    /* next look at the set-aside stores */
    int64_t drain_refresh_ms; /* next refresh of the chunk's lock */
    int wakeups;              /* dispatch signals pending for lanes */
    int resumed;              /* poll thread only: flow control resumed partitions */

    dh_lane_t **lanes;
    pthread_t *threads;
    int nlanes;
    int stopping;           /* lanes exit after their current batch */
    int fatal;              /* a handler returned FATAL or librdkafka failed fatally */
    atomic_int dlq_closing; /* shutdown: failed dead-letter writes are abandoned */
    atomic_int redis_down;
    atomic_llong last_loop_ms; /* /healthz: the poll loop is alive */
    atomic_int ready_flag;     /* /readyz */
} dh_rt_t;

/* executor.c: all of these expect rt->mu held unless noted. */
DH_NODISCARD dh_err_t dh_rt_init(dh_rt_t *rt);
void dh_rt_fini(dh_rt_t *rt);
dh_rt_part_t *dh_rt_part_find(dh_rt_t *rt, const char *topic, int32_t partition);
dh_rt_part_t *dh_rt_part_add(dh_rt_t *rt, const char *topic, int32_t partition);
void dh_rt_part_unref(dh_rt_t *rt, dh_rt_part_t *p);
/** Queue a copy of \p rkm (its headers are detached from it); the caller still owns and
 *  destroys \p rkm. DH_ERR_STATE: its partition is no longer ours. */
DH_NODISCARD dh_err_t dh_rt_dispatch(dh_rt_t *rt, rd_kafka_message_t *rkm);
/** What an event copied from \p rkm costs: its allocation, charged to the byte bound. */
size_t dh_rt_ev_bytes(const rd_kafka_message_t *rkm);
/** Take up to \p max runnable events (heads of distinct keys) for a lane. */
size_t dh_rt_take(dh_rt_t *rt, dh_rt_ev_t **evs, size_t max, int64_t *next_due_ms);
/** The event finished (done, skipped or dead-lettered and acked): mark the watermark,
 *  free it, let its key's next event run. */
void dh_rt_finish(dh_rt_t *rt, dh_rt_ev_t *ev);
/** The event must be tried again after \p delay_ms; its key waits, others flow. */
void dh_rt_delay(dh_rt_t *rt, dh_rt_ev_t *ev, int64_t delay_ms);
/** The event was handed to the dead-letter producer: its key moves on now, the
 *  watermark waits for the ack (dh_rt_dlq_acked). */
void dh_rt_detach(dh_rt_t *rt, dh_rt_ev_t *ev);
void dh_rt_dlq_acked(dh_rt_t *rt, dh_rt_ev_t *ev);
/** Take folded event \p f off \p survivor's list (it is dead-lettered on its own). */
void dh_rt_unfold(dh_rt_t *rt, dh_rt_ev_t *survivor, dh_rt_ev_t *f);
/** Give up on a detached event at shutdown without finishing it: it is read again. */
void dh_rt_abandon(dh_rt_t *rt, dh_rt_ev_t *ev);
/** Drop queued, unstarted events of \p p (revoked); returns how many. */
size_t dh_rt_purge_part(dh_rt_t *rt, dh_rt_part_t *p);
/** Number of runnable or running events left (delayed ones excluded). */
size_t dh_rt_busy(const dh_rt_t *rt);
/** Delay before retry \p attempts (1 = after the first failure): the exponential step
 *  retry_base_ms * 2^(attempts-1), capped at retry_max_ms, half fixed and half random
 *  from \p rng ("equal jitter"). Pure: no lock needed. */
int64_t dh_rt_backoff_ms(const dh_rt_opts_t *o, int attempts, unsigned int *rng);

/** Unlink \p kq from whichever list holds it (ready, delayed or a gate). */
void dh_rt_key_unlist(dh_rt_t *rt, dh_rt_keyq_t *kq);
/** Append \p kq to the ready list and wake a lane. */
void dh_rt_ready(dh_rt_t *rt, dh_rt_keyq_t *kq);
/** A lane took \p ev and found its store's gate closed: its key parks on the gate (or is
 *  ready again if the gate opened meanwhile). */
void dh_rt_park(dh_rt_t *rt, dh_rt_ev_t *ev);

/** Enqueue an event made elsewhere (ev->part set): as dh_rt_dispatch() after its copy. The
 *  event is freed on failure. */
DH_NODISCARD dh_err_t dh_rt_enqueue(dh_rt_t *rt, dh_rt_ev_t *ev);

/* park.c: events set aside in Redis while their store is in trouble. */
/** A decoded list entry: views into the entry's bytes. */
typedef struct dh_rt_parked {
    const char *topic;
    size_t topic_len;
    int32_t partition;
    int64_t offset, timestamp_ms, first_seen_ms;
    const char *key, *payload; /* NULL when absent */
    size_t key_len, len;
    uint32_t nhdrs;
    size_t hdrs_at;
} dh_rt_parked_t;
/** The entry of \p ev (malloc'd, \p len bytes), NULL when out of memory. */
char *dh_rt_park_encode(const dh_rt_ev_t *ev, size_t *len);
/** Read an entry: 0, or -1 when it is not one. */
int dh_rt_park_decode(const char *data, size_t len, dh_rt_parked_t *out);
/** Which of \p stores have events aside (SMISMEMBER): \p member[i] 0 or 1. No lock needed. */
DH_NODISCARD dh_err_t dh_rt_park_members(dh_rt_t *rt, dh_redis_t *r,
                                         const dh_store_t *const *stores, size_t n, int *member);
/** Append \p evs (in order) to \p store's list and the store to the set, in one script.
 *  No lock needed. */
DH_NODISCARD dh_err_t dh_rt_park_spill(dh_rt_t *rt, dh_redis_t *r, const dh_store_t *store,
                                       dh_rt_ev_t *const *evs, size_t n);
/** Lane 0, without rt->mu: look at the set once a second, take a chunk of a store whose gate
 *  is open back into the executor, trim it once it finished. */
void dh_rt_park_tick(dh_rt_t *rt, dh_redis_t *r, const char *owner);

/* gate.c: under rt->mu unless noted. */
/** What a closed gate says of \p ev (a key's head): run it, park it, or set it aside. */
enum { DH_GATE_RUN = 0, DH_GATE_PARK, DH_GATE_SPILL };
int dh_rt_gate_verdict(dh_rt_t *rt, const dh_rt_ev_t *ev);
/** \p store's gate, or NULL when it has none (it answers). */
dh_rt_gate_t *dh_rt_gate_of(dh_rt_t *rt, const dh_store_t *store);
/** Park unlisted \p kq on its head's closed gate: 1, or 0 when no gate holds it. */
int dh_rt_gate_park_key(dh_rt_t *rt, dh_rt_keyq_t *kq);
/** Take parked \p kq off its gate (dh_rt_key_unlist() does for listed == 3). */
void dh_rt_gate_unlink(dh_rt_t *rt, dh_rt_keyq_t *kq);
/** \p delta events joined (or left) key \p kq: counted when it is parked. */
void dh_rt_gate_add_event(dh_rt_t *rt, dh_rt_keyq_t *kq, long delta);
/** Reopen throttled gates whose wait is over, send probes; lower \p *next_due_ms to the
 *  next gate deadline. */
void dh_rt_gates_tick(dh_rt_t *rt, int64_t now, int64_t *next_due_ms);
/** A lane's call to \p store's Shopify, started at \p started_ms (dh_rt_now_ms), ended:
 *  DH_GATE_OPEN when it answered, else why it did not and the wait it asked for. An answer
 *  to a call started before the latest trouble was reported says nothing of the store now
 *  and leaves a closed gate closed. Takes rt->mu. */
void dh_rt_gate_report(dh_rt_t *rt, const dh_store_t *store, int reason, int64_t wait_ms,
                       int64_t started_ms);
/** Free every gate (shutdown). */
void dh_rt_gates_free(dh_rt_t *rt);

/* executor.c, failure detail: the lane or producer holding the event calls these
 * (rt->mu not needed). */
/** The event's failure detail, allocated empty on first use; NULL when out of memory. */
dh_rt_fail_t *dh_rt_ev_fail(dh_rt_ev_t *ev);
/** Set class and text (printf-style); dropped when out of memory. */
void dh_rt_ev_set_err(dh_rt_ev_t *ev, const char *err_class, const char *fmt, ...) DH_PRINTF(3, 4);
/** The error class and text, "" when none. */
const char *dh_rt_ev_err_class(const dh_rt_ev_t *ev);
const char *dh_rt_ev_err(const dh_rt_ev_t *ev);
/** Forget the failure detail (a new attempt starts clean). */
void dh_rt_ev_clear_err(dh_rt_ev_t *ev);

/* lane.c */
dh_rt_t *dh_lane_runtime(dh_lane_t *lane);
DH_NODISCARD dh_err_t dh_rt_lanes_start(dh_rt_t *rt, char *errstr, size_t errstr_size);
void dh_rt_lanes_stop(dh_rt_t *rt);

/* reapply.c */
/** \p ev's dh-reapply nonce into \p buf: 1 when present and valid, 0 when absent, -1 when
 *  malformed (empty, longer than DH_REAPPLY_NONCE_MAX, or not [A-Za-z0-9._-]). */
int dh_rt_reapply_nonce(const dh_rt_ev_t *ev, char *buf, size_t size);
/** After \p h's decode() of \p ev succeeded: a copy with a valid dh-reapply nonce gets
 *  "#reapply:<nonce>" appended to its effect id (DONE); a malformed nonce is a DEAD_LETTER
 *  (class "reapply"), out of memory FATAL, both after releasing what decode() made. */
dh_result_t dh_rt_reapply_decoded(const dh_handler_t *h, dh_rt_ev_t *ev);
/** Append "#reapply:<nonce>" to \p dev's effect id (its digest form when too long). */
DH_NODISCARD dh_err_t dh_rt_reapply_effect(dh_event_t *dev, const char *nonce);
/** dh_idem_far_key() of \p effect_id, with \p nonce mixed in when not NULL. */
void dh_reapply_far_key(const char *nonce, const char *ns, const char *effect_id, char out[37]);

/* trace.c */
/** An applied effect to trace: its event and how long the handler took. */
typedef struct dh_rt_traced {
    dh_rt_ev_t *ev;
    double seconds;
} dh_rt_traced_t;
/** One INFO line per applied effect, and the trace record of batch \p batch (the idem.h
 *  batch id the effects' records point at) with its index (dockhand/trace.h), in one
 *  pipelined round trip for all \p n; best effort. */
void dh_rt_trace_applied(dh_rt_t *rt, dh_redis_t *r, const char *owner, const char *batch,
                         const dh_rt_traced_t *t, size_t n);
/** At a lane thread's end: dh_rt_trace_reset() and its cache of index TTLs freed. */
void dh_rt_trace_end(void);
/** The far-side calls a lane thread makes are noted (thread-local) until the next reset,
 *  each with the event handled alone at the time (or none: every event of the batch). */
void dh_rt_trace_reset(void);
void dh_rt_trace_current(const dh_rt_ev_t *ev);
/** The correlation id of the event handled alone on this thread (NULL in a batch or
 *  none): the X-Request-Id of its WMS calls. */
const char *dh_rt_trace_request_id(void);
/** \p ev's correlation id: its dh-correlation-id header, else a WMS event's
 *  "correlation_id", else the gateway's dh-webhook-id; "" when none. */
void dh_rt_ev_correlation(const dh_rt_ev_t *ev, char *buf, size_t size);
void dh_rt_trace_shopify_call(const char *shop, const char *doc, json_t *vars,
                              const dh_gql_reply_t *rep);
void dh_rt_trace_wms_call(const char *method, const char *path, const char *idempotency_key,
                          const dh_wms_reply_t *rep);

/* dlq.c */
/** A producer configuration: brokers and KAFKA_* passthrough, idempotent, acks=all.
 *  NULL with errstr on a bad property. */
rd_kafka_conf_t *dh_rt_producer_conf(dh_rt_t *rt, const char *client_id, char *errstr,
                                     size_t errstr_size);
DH_NODISCARD dh_err_t dh_rt_dlq_new(dh_rt_t *rt, char *errstr, size_t errstr_size);
/** Produce \p ev to <topic>.dlq; thread-safe, call without rt->mu. A letter librdkafka
 *  refuses to enqueue or fails to deliver is produced again by dh_rt_dlq_poll(). */
void dh_rt_dlq_send(dh_rt_t *rt, dh_rt_ev_t *ev);
/** Serve the producer's delivery reports (up to \p timeout_ms) and produce again the dead
 *  letters that are due; the poll thread, without rt->mu. */
void dh_rt_dlq_poll(dh_rt_t *rt, int timeout_ms);
void dh_rt_dlq_destroy(dh_rt_t *rt, int flush_ms);

/* consumer.c */
DH_NODISCARD dh_err_t dh_rt_consumer_new(dh_rt_t *rt, const char *const *topics, char *errstr,
                                         size_t errstr_size);
/** Poll, dispatch and store offsets until *run becomes 0 or a fatal error; then drain
 *  and close. Returns 0 on a clean stop, 1 on fatal. */
int dh_rt_consumer_run(dh_rt_t *rt, volatile sig_atomic_t *run);

/* worker.c: what dh_worker_main() sets up, shared with the in-process runtime of the
 * component tests (tests/support/th_rt.c), so they run the runtime as a worker does. */
extern const dh_config_var_t dh_rt_config_vars[];
/** Create rt->m's series in rt->metrics (set, with rt->handler, before the call). */
void dh_rt_metrics_setup(dh_rt_t *rt);
/** rt->opts and rt->owner from rt->cfg (and rt->handler's batch preferences). */
void dh_rt_opts_from_config(dh_rt_t *rt);
/** After the consumer is gone: stop the lanes, flush and free the producers, the handler's
 *  state, the metrics and the executor (rt itself stays the caller's). */
void dh_rt_release(dh_rt_t *rt);
/** @brief Make the worker context as a start does: load the stores file when the worker
 *  lists it (rt->stores, freed by dh_rt_release() after fini) and run handler->init().
 *  On failure \p errstr says why and \p code is the exit code (2 for configuration). */
dh_err_t dh_rt_handler_init(dh_rt_t *rt, char *errstr, size_t errstr_size, int *code);

/* Monotonic and wall clocks in ms. */
int64_t dh_rt_now_ms(void);
int64_t dh_rt_wall_ms(void);

#endif
