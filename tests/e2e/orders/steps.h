/*
 * Shared steps of the orders e2e tests (orders_e2e.c; this header is steps.h): each scenario has
 * its own sandbox, store domain, topic and consumer group, so runs never share idempotency records.
 * What reached the WMS is counted from the sandbox journal; "nothing more happened" is a later
 * event on each order's key, awaited, never a sleep.
 */
#ifndef DH_ORDERS_E2E_STEPS_H
#define DH_ORDERS_E2E_STEPS_H

#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <sys/types.h>

/* harness.h (no include guard) must be included first: env_t holds a th_sandbox_t. */

#define WMS_TOKEN "wms-e2e-token"
#define WH_SECRET "whsec-e2e"

typedef struct env {
    th_sandbox_t sb;
    char store[128];
    char stores_file[256];
    char topic[128];
    char group[128];
    char log[256];
} env_t;

/* A sandbox store (variants TEE-1 10.00 and TEE-2 12.50 at location 11) whose webhooks go
 * to 127.0.0.1:gw_port (none if 0), and its stores file. */
void env_start(env_t *e, const char *prefix, int gw_port);
/* The same with a second location 12 "Shop2", and the stores file mapping WMS facility
 * FAC-1 to location 11 only. */
void env_start_split(env_t *e, const char *prefix, int gw_port);
void env_stop(env_t *e);

/* dh-orders with the scenario's environment plus \p extra ("NAME=value", NULL-ended). */
pid_t start_orders(env_t *e, const char *topic, const char *const *extra);
/* dh-gateway on \p gw_port writing to the scenario's topic, listening when it returns; a
 * missing binary fails the test. */
pid_t start_gateway(env_t *e, int gw_port);

/* Produces \p order as the gateway would (headers dh-topic, dh-shop-domain, ...). */
void produce_webhook(rd_kafka_t *rk, const char *topic, const char *store, json_t *order,
                     const char *wtopic, const char *webhook_id);
void producer_done(rd_kafka_t *rk);

/* Places an order (two lines of TEE-1, one of TEE-2, or \p lines_json) in the sandbox
 * store; returns the REST order (what orders/create carries). */
json_t *place(env_t *e, const char *extra_json, int deliver);
json_t *place_lines(env_t *e, const char *lines_json, const char *extra_json, int deliver);
json_t *cancel_in_shop(env_t *e, json_t *order, int deliver);

/* The WMS sales order (new reference) or NULL; its status ("" if unknown). */
json_t *wms_order(env_t *e, long long id);
void wms_status(env_t *e, long long id, char *out, size_t size);

/* What reached the WMS, from the sandbox journal: every POST of this store, per order id.
 * A create the WMS performed is one it did not replay under a key it had stored: 201, or
 * 200 when the natural key (store + channel_order_id) found the order already there (a
 * duplicate create under another key, invisible to a count of 201s). Replays under the
 * same key are flagged by the sandbox and are not performances. */
typedef struct effects {
    const char *base;
    json_t *creates;         /* id -> creates performed (non-replayed 200/201) */
    json_t *create_keys;     /* id -> {Idempotency-Key: true} over every create POST */
    json_t *cancels;         /* id -> cancels performed (non-replayed 200) */
    json_t *releases;        /* id -> release-hold POSTs (any answer) */
    json_t *updates;         /* id -> updates performed (non-replayed 2xx PUTs) */
    json_t *update_attempts; /* id -> update PUTs (any answer) */
    json_t *holds;           /* id -> hold POSTs (any answer) */
    int unavailable;         /* POSTs answered 503 by the injected WMS outage */
} effects_t;

void wms_effects(env_t *e, effects_t *fx);
void effects_clear(effects_t *fx);
long long id_of(json_t *o);

/* Waits until every order of \p ids has status \p want[i] (th_wait_for callback). */
typedef struct wait_ctx {
    env_t *e;
    long long *ids;
    const char **want;
    int n;
} wait_ctx_t;

int all_in_state(void *ud);
/* Each order created once under one key, cancelled once iff want[i] is "CANCELLED". */
void assert_once(effects_t *fx, long long *ids, const char **want, int n);
/* One fulfillment_holds/released per order, awaited until the WMS saw each. */
void await_markers(env_t *e, const long long *ids, int n);

#endif
