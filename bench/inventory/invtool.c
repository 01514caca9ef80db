/*
 * dh-bench-inv: the parts of the inventory benches (bench/inventory/) bash cannot do.
 *
 *   dh-bench-inv produce BROKERS TOPIC STORE SKUS RATE SECS OUT
 *       Produces putaways of STORE/F1 at RATE/s for SECS s, each for a SKU drawn uniformly
 *       (fixed seed) from SKU-1..SKU-SKUS, with the SKU's sequence rising from 1 and
 *       good_online = sequence (safety stock 0), so Shopify's on_hand for the SKU reaches v
 *       exactly when an event with sequence >= v was applied. Writes "n seq t_ms" per event
 *       to OUT, t_ms = wall clock (ms) when it was handed to the producer.
 *   dh-bench-inv freshness JOURNAL PRODUCED ITEM_BASE ITEM_STEP GOAL_MS SKIP_S
 *       JOURNAL: the sandbox's inventorySetQuantities journal (JSON lines); item id of
 *       SKU-n = ITEM_BASE + ITEM_STEP × n. An event's latency is the journal `time_ms` of
 *       the first applied call that set its SKU to >= its sequence, minus its t_ms. Events of
 *       the first SKIP_S s are left out (warm-up). Prints a markdown table.
 *   dh-bench-inv sync JOURNAL T0_MS T1_MS ROWS BUCKET RESTORE
 *       Points, calls and THROTTLED answers of a full sync against the minimum possible
 *       (ceil(ROWS / 250) calls at the cost of one full call), and its duration against
 *       points / restore rate. Prints a markdown table.
 *
 * Exit 1 on an I/O or Kafka error, 2 on bad usage.
 */
#include <errno.h>
#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../common/benchlib.h"

#define MAX_PER_CALL 250 /* Shopify's input array limit */
#define PROG         "dh-bench-inv"

static int produce_one(rd_kafka_t *rk, const char *topic, const char *store, long n, long seq)
{
    return dh_bench_produce_putaway(PROG, rk, topic, store, n, seq, 0,
                                    (unsigned long)(n * 1000000 + seq));
}

static int produce(int argc, char **argv)
{
    double skus, rate, secs, t0;
    long *seq = NULL, i, total;
    uint64_t rng = 0x9e3779b97f4a7c15ULL;
    rd_kafka_t *rk = NULL;
    FILE *out = NULL;
    int rc = 1;

    if (argc != 7 || dh_bench_num(argv[3], &skus) || dh_bench_num(argv[4], &rate) ||
        dh_bench_num(argv[5], &secs) || skus < 1 || rate <= 0) {
        fprintf(stderr, "usage: dh-bench-inv produce BROKERS TOPIC STORE SKUS RATE SECS OUT\n");
        return 2;
    }
    total = (long)(rate * secs);
    seq = calloc((size_t)skus + 1, sizeof *seq);
    out = fopen(argv[6], "w");
    rk = dh_bench_producer_new(PROG, argv[0], NULL);
    if (!seq || !out || !rk) {
        goto out;
    }
    t0 = dh_bench_wall_ms();
    /* Event i is due at t0 + i / RATE: a late one is caught up on, never dropped. */
    for (i = 0; i < total; i++) {
        long n = (long)(dh_bench_rng_next(&rng) % (uint64_t)skus) + 1;
        double t;

        dh_bench_sleep_until_ms(t0 + (double)i * 1e3 / rate);
        t = dh_bench_wall_ms();
        if (produce_one(rk, argv[1], argv[2], n, ++seq[n]) != 0) {
            goto out;
        }
        fprintf(out, "%ld %ld %.3f\n", n, seq[n], t);
        rd_kafka_poll(rk, 0);
    }
    fprintf(stderr, "produced %ld events in %.1f s\n", total, (dh_bench_wall_ms() - t0) / 1e3);
    rc = rd_kafka_flush(rk, 30000) == RD_KAFKA_RESP_ERR_NO_ERROR ? 0 : 1;
out:
    if (rk) {
        rd_kafka_destroy(rk);
    }
    if (out) {
        fclose(out);
    }
    free(seq);
    return rc;
}

typedef struct inv_logs {
    long base, step, nsku;
    dh_bench_sku_log_t *logs;
} inv_logs_t;

static int add_qty(void *ctx, const char *shop, long item, double t, long qty)
{
    inv_logs_t *il = ctx;
    long n = (item - il->base) / il->step;

    (void)shop;
    return n >= 1 && n <= il->nsku ? dh_bench_log_add(&il->logs[n], t, qty) : 0;
}

/* Reads every applied quantity of the journal into logs[sku]. */
static int read_journal(const char *path, long base, long step, long nsku, dh_bench_sku_log_t *logs)
{
    inv_logs_t il = {base, step, nsku, logs};

    return dh_bench_read_journal(PROG, path, add_qty, &il);
}

static void print_freshness(double *lat, size_t n, long missing, long skipped, double goal)
{
    double p50, p99;

    qsort(lat, n, sizeof *lat, dh_bench_cmp_double);
    p50 = dh_bench_pct(lat, n, 0.50), p99 = dh_bench_pct(lat, n, 0.99);
    printf("| metric | measured | goal | ratio | met? |\n|---|---|---|---|---|\n");
    printf("| events measured (warm-up left out) | %zu (%ld) | | | |\n", n, skipped);
    printf("| events never visible | %ld | 0 | | %s |\n", missing, missing ? "no" : "yes");
    printf("| freshness p50 | %.0f ms | | | |\n", p50);
    printf("| freshness p90 | %.0f ms | | | |\n", dh_bench_pct(lat, n, 0.90));
    printf("| freshness p99 | %.0f ms | ≤ %.0f ms | %.2f | %s |\n", p99, goal, p99 / goal,
           p99 <= goal ? "yes" : "no");
    printf("| freshness max | %.0f ms | | | |\n", n ? lat[n - 1] : NAN);
}

static int freshness(int argc, char **argv)
{
    double base, step, goal, skip, t, t0 = -1;
    long n, seq, nsku = 0, missing = 0, skipped = 0;
    dh_bench_sku_log_t *logs = NULL;
    double *lat = NULL;
    size_t nlat = 0, cap = 0;
    FILE *f = NULL;
    int rc = 1;

    if (argc != 6 || dh_bench_num(argv[2], &base) || dh_bench_num(argv[3], &step) ||
        dh_bench_num(argv[4], &goal) || dh_bench_num(argv[5], &skip) || step <= 0) {
        fprintf(stderr, "usage: dh-bench-inv freshness JOURNAL PRODUCED ITEM_BASE ITEM_STEP "
                        "GOAL_MS SKIP_S\n");
        return 2;
    }
    if (!(f = fopen(argv[1], "r"))) {
        fprintf(stderr, "dh-bench-inv: %s: %s\n", argv[1], strerror(errno));
        return 1;
    }
    while (fscanf(f, "%ld %ld %lf", &n, &seq, &t) == 3) {
        nsku = n > nsku ? n : nsku;
    }
    logs = calloc((size_t)nsku + 1, sizeof *logs);
    if (!logs || read_journal(argv[0], (long)base, (long)step, nsku, logs) != 0) {
        goto out;
    }
    rewind(f);
    while (fscanf(f, "%ld %ld %lf", &n, &seq, &t) == 3) {
        double l = dh_bench_latency(&logs[n], seq, t);

        t0 = t0 < 0 ? t : t0;
        if (t - t0 < skip * 1e3) {
            skipped++;
        } else if (l < 0) {
            missing++;
        } else {
            if (nlat == cap) {
                double *v = realloc(lat, (cap = cap ? 2 * cap : 4096) * sizeof *v);

                if (!v) {
                    goto out;
                }
                lat = v;
            }
            lat[nlat++] = l;
        }
    }
    print_freshness(lat, nlat, missing, skipped, goal);
    rc = 0;
out:
    for (n = 0; logs && n <= nsku; n++) {
        free(logs[n].v);
    }
    free(logs);
    free(lat);
    fclose(f);
    return rc;
}

typedef struct sync_sum {
    long calls, throttled, qty, refused;
    double points, full_cost, t_first, t_last;
} sync_sum_t;

/* Adds one journal entry of the sync's calls (T0..T1) to \p s. */
static void sync_add(sync_sum_t *s, const json_t *j)
{
    json_t *resp = dh_bench_embedded(j, "response"), *body = NULL, *qs;
    json_t *cost = json_object_get(json_object_get(resp, "extensions"), "cost");
    double t = json_number_value(json_object_get(j, "time_ms"));

    s->t_first = s->t_first > 0 && s->t_first < t ? s->t_first : t;
    s->t_last = t > s->t_last ? t : s->t_last;
    if (json_is_true(json_object_get(j, "throttled"))) {
        s->throttled++;
        goto out;
    }
    s->calls++;
    s->points += json_number_value(json_object_get(cost, "actualQueryCost"));
    json_decref(resp);
    qs = dh_bench_applied_quantities(j, &body, &resp);
    if (!qs) {
        s->refused++;
        goto out;
    }
    s->qty += (long)json_array_size(qs);
    if (json_array_size(qs) == MAX_PER_CALL) {
        double c = json_number_value(json_object_get(
            json_object_get(json_object_get(resp, "extensions"), "cost"), "actualQueryCost"));

        s->full_cost = s->full_cost > 0 && s->full_cost < c ? s->full_cost : c;
    }
out:
    json_decref(body);
    json_decref(resp);
}

static void print_sync(const sync_sum_t *s, double t0, double t1, double rows, double bucket,
                       double restore)
{
    double calls_min = ceil(rows / MAX_PER_CALL), opt = calls_min * s->full_cost;
    double dur = (t1 - t0) / 1e3, floor_s = s->points / restore;

    printf("| metric | measured | baseline | ratio | goal | met? |\n|---|---|---|---|---|---|\n");
    printf("| rows / quantities set | %.0f / %ld | | | | |\n", rows, s->qty);
    printf("| inventorySetQuantities calls (refused) | %ld (%ld) | %.0f = ceil(%.0f / 250) | "
           "%.3f | | |\n",
           s->calls, s->refused, calls_min, rows, s->calls ? calls_min / (double)s->calls : 0);
    printf("| points spent vs minimum (optimal / spent) | %.0f | %.0f = %.0f × %.0f | %.3f | ≥ "
           "0.95 | %s |\n",
           s->points, opt, calls_min, s->full_cost, s->points ? opt / s->points : 0,
           s->points && opt / s->points >= 0.95 ? "yes" : "no");
    printf("| THROTTLED answers | %ld | | | 0 | %s |\n", s->throttled, s->throttled ? "no" : "yes");
    printf("| duration (request → sync done) vs points ÷ restore | %.1f s | %.1f s = %.0f ÷ "
           "%.0f/s | %.2f | | |\n",
           dur, floor_s, s->points, restore, dur / floor_s);
    /* The bucket starts full: spending beyond it is what the restore rate must pay for. */
    double beyond = fmax(0, s->points - bucket) / restore, span = (s->t_last - s->t_first) / 1e3;

    if (beyond > 0) {
        printf("| first → last call vs (points − bucket) ÷ restore | %.1f s | %.1f s = (%.0f − "
               "%.0f) ÷ %.0f/s | %.2f | | |\n",
               span, beyond, s->points, bucket, restore, span / beyond);
    } else {
        printf("| first → last call | %.1f s | (all within the bucket of %.0f) | | | |\n", span,
               bucket);
    }
}

static int sync_summary(int argc, char **argv)
{
    double t0, t1, rows, bucket, restore;
    sync_sum_t s = {0};
    char *line = NULL;
    size_t cap = 0;
    FILE *f;

    if (argc != 6 || dh_bench_num(argv[1], &t0) || dh_bench_num(argv[2], &t1) ||
        dh_bench_num(argv[3], &rows) || dh_bench_num(argv[4], &bucket) ||
        dh_bench_num(argv[5], &restore) || restore <= 0) {
        fprintf(stderr, "usage: dh-bench-inv sync JOURNAL T0_MS T1_MS ROWS BUCKET RESTORE\n");
        return 2;
    }
    if (!(f = fopen(argv[0], "r"))) {
        fprintf(stderr, "dh-bench-inv: %s: %s\n", argv[0], strerror(errno));
        return 1;
    }
    while (getline(&line, &cap, f) != -1) {
        json_t *j = json_loads(line, 0, NULL);
        double t = json_number_value(json_object_get(j, "time_ms"));

        if (json_is_object(j) && t >= t0 && t <= t1) {
            sync_add(&s, j);
        }
        json_decref(j);
    }
    free(line);
    fclose(f);
    print_sync(&s, t0, t1, rows, bucket, restore);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "produce") == 0) {
        return produce(argc - 2, argv + 2);
    }
    if (argc >= 2 && strcmp(argv[1], "freshness") == 0) {
        return freshness(argc - 2, argv + 2);
    }
    if (argc >= 2 && strcmp(argv[1], "sync") == 0) {
        return sync_summary(argc - 2, argv + 2);
    }
    fprintf(stderr, "usage: dh-bench-inv produce|freshness|sync ... (see the source's header)\n");
    return 2;
}
