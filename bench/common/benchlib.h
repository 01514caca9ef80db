/*
 * What the bench tools (dh-bench-inv, dh-bench-fair) share: pacing, a putaway producer and
 * the reading of the sandbox's inventorySetQuantities journal (JSON lines).
 *
 * \p prog, where a function takes it, prefixes its messages on stderr.
 */
#ifndef DH_BENCHLIB_H
#define DH_BENCHLIB_H

#include <stddef.h>

#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <stdint.h>

/* One applied value of a SKU: when the journal saw it, and the quantity set. */
typedef struct dh_bench_applied {
    double t_ms;
    long qty;
} dh_bench_applied_t;

/* A SKU's applied values in journal order. */
typedef struct dh_bench_sku_log {
    dh_bench_applied_t *v;
    size_t n, cap;
} dh_bench_sku_log_t;

/* Wall clock in ms. */
double dh_bench_wall_ms(void);

/* Sleeps until wall clock \p t (ms); returns at once when it has passed. */
void dh_bench_sleep_until_ms(double t);

/* Parses the whole of \p s as a number: 0, or -1 when it is not one. */
int dh_bench_num(const char *s, double *out);

/* xorshift64: the next value of the state \p s (not 0). */
uint64_t dh_bench_rng_next(uint64_t *s);

/* A producer with acks=all and linger.ms=5; \p max_messages sets
 * queue.buffering.max.messages unless NULL. NULL on error (said on stderr). */
rd_kafka_t *dh_bench_producer_new(const char *prog, const char *brokers, const char *max_messages);

/* Produces a putaway of STORE/F1/SKU-\p n with sequence and good_online \p seq (safety stock
 * 0), keyed "STORE|F1|SKU-n", its event id made of the time in s, \p id_mid (16 bits) and
 * \p id_tail (48 bits). Waits while the producer's queue is full. 0, or -1 on error. */
int dh_bench_produce_putaway(const char *prog, rd_kafka_t *rk, const char *topic, const char *store,
                             long n, long seq, unsigned long id_mid, unsigned long id_tail);

/* Called for each quantity an applied call set: the entry's shop (NULL when absent), the
 * number after the last '/' of the inventory item id (-1 when none), the journal time_ms and
 * the quantity. Non-zero stops the reading with that result. */
typedef int (*dh_bench_qty_fn)(void *ctx, const char *shop, long item, double t_ms, long qty);

/* Reads every applied quantity of the journal at \p path into \p fn (a call that was
 * throttled, replayed, a fault, a top-level error or had userErrors applied nothing: Shopify
 * refuses the whole call on any of them). 0, -1 when the file cannot be read, or what \p fn
 * stopped with. */
int dh_bench_read_journal(const char *prog, const char *path, dh_bench_qty_fn fn, void *ctx);

/* The JSON document held in the string field \p key of \p j ("{}" when absent or empty). */
json_t *dh_bench_embedded(const json_t *j, const char *key);

/* The quantities journal entry \p j set, or NULL when the call had no effect. \p body and
 * \p resp receive the decoded documents the result points into (the caller drops them). */
json_t *dh_bench_applied_quantities(const json_t *j, json_t **body, json_t **resp);

/* Appends (t, qty) to \p l: 0, or -1 when out of memory. */
int dh_bench_log_add(dh_bench_sku_log_t *l, double t, long qty);

/* The latency of an event (sequence \p seq, produced at \p t) against its SKU's applied
 * values: the first time a value >= seq was applied, minus t; < 0: never applied. */
double dh_bench_latency(const dh_bench_sku_log_t *l, long seq, double t);

/* qsort comparison of doubles, ascending. */
int dh_bench_cmp_double(const void *a, const void *b);

/* The p-quantile of the sorted v[0..n); NAN when empty. */
double dh_bench_pct(const double *v, size_t n, double p);

#endif
