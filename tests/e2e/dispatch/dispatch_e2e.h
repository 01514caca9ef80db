/*
 * The dispatch end-to-end tests' common part (dispatch_e2e.c): one sandbox store with two
 * locations (WH1 = facility BLR-1, WH2 = DEL-1), one topic, one dh-dispatch, and helpers to
 * place orders, produce wms.dispatch events and read the sandbox's state and journal.
 */
#ifndef DISPATCH_E2E_H
#define DISPATCH_E2E_H

#include <stddef.h>

#include <jansson.h>
#include <sys/types.h>

#include "harness.h"

#define DH_TEST_PRINTF __attribute__((format(printf, 1, 2)))

typedef struct env {
    th_sandbox_t sb;
    char store[128];
    char stores_file[256];
    char topic[128];
    char group[128];
    char log[256];
    th_producer_t *p;
    pid_t worker;
    int serial; /* event_id counter */
} env_t;

typedef struct wait_ful {
    env_t *e;
    long long order;
    size_t fulfillments; /* at least this many */
    size_t events;       /* and fulfillment \p which has at least this many events */
    size_t which;
} wait_ful_t;

typedef struct wait_reads {
    env_t *e;
    long long order;
    int reads;
} wait_reads_t;

char *fmt(const char *f, ...) DH_TEST_PRINTF;
void env_start(env_t *e);
void start_worker(env_t *e, const char *const *extra);
void env_stop(env_t *e);
json_t *place_with(env_t *e, const char *lines, const char *extra);
json_t *place(env_t *e, const char *lines);
long long id_of(json_t *o);
long long line_id(json_t *o, size_t i);
json_t *order_state(env_t *e, long long id);
size_t nfulfillments(env_t *e, long long id);
json_t *fulfillment(env_t *e, long long id, size_t i);
int fulfilled(void *ud);
void wait_fulfilled(env_t *e, long long order, size_t fulfillments, size_t events);
int journal_count(env_t *e, const char *op, const char *what);
int journal_creates(env_t *e, const char *tracking);
void produce(env_t *e, long long order, const char *value);
void next_id(env_t *e, char *out, size_t size);
char *dispatch_json_by(env_t *e, long long order, const char *shipment, const char *company,
                       const char *tracking, const char *url, const char *lines);
char *dispatch_json(env_t *e, long long order, const char *shipment, const char *tracking,
                    const char *lines);
void produce_dispatch(env_t *e, long long order, const char *shipment, const char *tracking,
                      const char *lines);
void produce_status(env_t *e, long long order, const char *shipment, int seq, const char *status,
                    const char *carrier_status);
char *line(long long id, int q);
long long units(json_t *f);
void assert_tracking(json_t *f, const char *number);
json_t *fo_at(env_t *e, long long id, const char *location_id);
int order_read(void *ud);

#endif
