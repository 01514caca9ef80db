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

#define MAX_PER_CALL 250 /* Shopify's input array limit */

typedef struct applied {
    double t_ms;
    long qty;
} applied_t;

typedef struct sku_log {
    applied_t *v;
    size_t n, cap;
} sku_log_t;

static double wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void sleep_until_ms(double t)
{
    double d = t - wall_ms();
    struct timespec ts;

    if (d <= 0) {
        return;
    }
    ts.tv_sec = (time_t)(d / 1e3);
    ts.tv_nsec = (long)((d - (double)ts.tv_sec * 1e3) * 1e6);
    nanosleep(&ts, NULL);
}

static int num(const char *s, double *out)
{
    char *end;

    errno = 0;
    *out = strtod(s, &end);
    return errno == 0 && end != s && *end == '\0' ? 0 : -1;
}

static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static rd_kafka_t *producer_new(const char *brokers)
{
    char err[512];
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    rd_kafka_t *rk;

    /* A WMS bridge would batch a little too; 5 ms keeps the producer out of the figure. */
    if (rd_kafka_conf_set(c, "bootstrap.servers", brokers, err, sizeof err) ||
        rd_kafka_conf_set(c, "linger.ms", "5", err, sizeof err) ||
        rd_kafka_conf_set(c, "acks", "all", err, sizeof err)) {
        fprintf(stderr, "dh-bench-inv: %s\n", err);
        rd_kafka_conf_destroy(c);
        return NULL;
    }
    rk = rd_kafka_new(RD_KAFKA_PRODUCER, c, err, sizeof err);
    if (!rk) {
        fprintf(stderr, "dh-bench-inv: %s\n", err);
        rd_kafka_conf_destroy(c);
    }
    return rk;
}

static int produce_one(rd_kafka_t *rk, const char *topic, const char *store, long n, long seq)
{
    char key[256], val[1024];
    int kl, vl;

    kl = snprintf(key, sizeof key, "%s|F1|SKU-%ld", store, n);
    vl =
        snprintf(val, sizeof val,
                 "{\"schema_version\":1,\"event_id\":\"%08lx-0000-4000-8000-%012lx\","
                 "\"event_type\":\"putaway\",\"occurred_at\":\"2026-05-01T10:00:00Z\","
                 "\"store\":\"%s\",\"facility\":\"F1\",\"sku\":\"SKU-%ld\",\"sequence\":%ld,"
                 "\"putaway\":{\"putaway_id\":\"P\",\"zone\":\"G\",\"zone_class\":\"online\","
                 "\"quantity\":1,\"qc_status\":\"GOOD\"},\"stock\":{\"good_online\":%ld,"
                 "\"allocated\":0,\"safety_stock\":0,\"damaged\":0,\"quarantined\":0,"
                 "\"good_offline\":0}}",
                 (unsigned long)time(NULL), (unsigned long)(n * 1000000 + seq), store, n, seq, seq);
    for (;;) {
        rd_kafka_resp_err_t e =
            rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, (size_t)kl),
                              RD_KAFKA_V_VALUE(val, (size_t)vl),
                              RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);

        if (e == RD_KAFKA_RESP_ERR_NO_ERROR) {
            return 0;
        }
        if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            fprintf(stderr, "dh-bench-inv: produce: %s\n", rd_kafka_err2str(e));
            return -1;
        }
        rd_kafka_poll(rk, 10);
    }
}

static int produce(int argc, char **argv)
{
    double skus, rate, secs, t0;
    long *seq = NULL, i, total;
    uint64_t rng = 0x9e3779b97f4a7c15ULL;
    rd_kafka_t *rk = NULL;
    FILE *out = NULL;
    int rc = 1;

    if (argc != 7 || num(argv[3], &skus) || num(argv[4], &rate) || num(argv[5], &secs) ||
        skus < 1 || rate <= 0) {
        fprintf(stderr, "usage: dh-bench-inv produce BROKERS TOPIC STORE SKUS RATE SECS OUT\n");
        return 2;
    }
    total = (long)(rate * secs);
    seq = calloc((size_t)skus + 1, sizeof *seq);
    out = fopen(argv[6], "w");
    rk = producer_new(argv[0]);
    if (!seq || !out || !rk) {
        goto out;
    }
    t0 = wall_ms();
    /* Event i is due at t0 + i / RATE: a late one is caught up on, never dropped. */
    for (i = 0; i < total; i++) {
        long n = (long)(rng_next(&rng) % (uint64_t)skus) + 1;
        double t;

        sleep_until_ms(t0 + (double)i * 1e3 / rate);
        t = wall_ms();
        if (produce_one(rk, argv[1], argv[2], n, ++seq[n]) != 0) {
            goto out;
        }
        fprintf(out, "%ld %ld %.3f\n", n, seq[n], t);
        rd_kafka_poll(rk, 0);
    }
    fprintf(stderr, "produced %ld events in %.1f s\n", total, (wall_ms() - t0) / 1e3);
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

/* The JSON document held in the string field KEY of J ("{}" when absent or empty). */
static json_t *embedded(const json_t *j, const char *key)
{
    const char *s = json_string_value(json_object_get(j, key));

    return json_loads(s && *s ? s : "{}", JSON_DECODE_ANY, NULL);
}

/* The quantities an entry set, or NULL when the call had no effect (throttled, replayed, a
 * top-level error or userErrors: Shopify refuses the whole call on any of them). */
static json_t *applied_quantities(const json_t *j, json_t **body, json_t **resp)
{
    json_t *data, *ue;

    *body = *resp = NULL;
    if (json_is_true(json_object_get(j, "throttled")) ||
        json_is_true(json_object_get(j, "idempotent_replay")) ||
        json_integer_value(json_object_get(j, "status")) != 200) {
        return NULL;
    }
    *resp = embedded(j, "response");
    data = json_object_get(json_object_get(*resp, "data"), "inventorySetQuantities");
    ue = json_object_get(data, "userErrors");
    if (!json_is_object(data) || json_array_size(ue) > 0) {
        return NULL;
    }
    *body = embedded(j, "body");
    return json_object_get(json_object_get(json_object_get(*body, "variables"), "input"),
                           "quantities");
}

static long item_number(const json_t *q)
{
    const char *id = json_string_value(json_object_get(q, "inventoryItemId"));
    const char *slash = id ? strrchr(id, '/') : NULL;

    return slash ? strtol(slash + 1, NULL, 10) : -1;
}

static int log_add(sku_log_t *l, double t, long qty)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 4;
        applied_t *v = realloc(l->v, cap * sizeof *v);

        if (!v) {
            return -1;
        }
        l->v = v, l->cap = cap;
    }
    l->v[l->n++] = (applied_t){t, qty};
    return 0;
}

/* Reads every applied quantity of the journal into logs[sku]. */
static int read_journal(const char *path, long base, long step, long nsku, sku_log_t *logs)
{
    char *line = NULL;
    size_t cap = 0;
    FILE *f = fopen(path, "r");
    int rc = 0;

    if (!f) {
        fprintf(stderr, "dh-bench-inv: %s: %s\n", path, strerror(errno));
        return -1;
    }
    while (rc == 0 && getline(&line, &cap, f) != -1) {
        json_t *j = json_loads(line, 0, NULL), *body, *resp, *qs, *q;
        double t = json_number_value(json_object_get(j, "time_ms"));
        size_t i;

        qs = applied_quantities(j, &body, &resp);
        json_array_foreach(qs, i, q)
        {
            long n = (item_number(q) - base) / step;

            if (n >= 1 && n <= nsku) {
                rc = log_add(&logs[n], t, (long)json_integer_value(json_object_get(q, "quantity")));
            }
        }
        json_decref(body);
        json_decref(resp);
        json_decref(j);
    }
    free(line);
    fclose(f);
    return rc;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

static double pct(const double *v, size_t n, double p)
{
    size_t i = (size_t)ceil(p * (double)n);

    return n ? v[i ? i - 1 : 0] : NAN;
}

/* The latency of event (n, seq, t) against its SKU's applied values; < 0: never applied. */
static double latency(const sku_log_t *l, long seq, double t)
{
    double best = -1;
    size_t i;

    for (i = 0; i < l->n; i++) {
        if (l->v[i].qty >= seq && (best < 0 || l->v[i].t_ms < best)) {
            best = l->v[i].t_ms;
        }
    }
    return best < 0 ? -1 : best - t;
}

static void print_freshness(double *lat, size_t n, long missing, long skipped, double goal)
{
    double p50, p99;

    qsort(lat, n, sizeof *lat, cmp_double);
    p50 = pct(lat, n, 0.50), p99 = pct(lat, n, 0.99);
    printf("| metric | measured | goal | ratio | met? |\n|---|---|---|---|---|\n");
    printf("| events measured (warm-up left out) | %zu (%ld) | | | |\n", n, skipped);
    printf("| events never visible | %ld | 0 | | %s |\n", missing, missing ? "no" : "yes");
    printf("| freshness p50 | %.0f ms | | | |\n", p50);
    printf("| freshness p90 | %.0f ms | | | |\n", pct(lat, n, 0.90));
    printf("| freshness p99 | %.0f ms | ≤ %.0f ms | %.2f | %s |\n", p99, goal, p99 / goal,
           p99 <= goal ? "yes" : "no");
    printf("| freshness max | %.0f ms | | | |\n", n ? lat[n - 1] : NAN);
}

static int freshness(int argc, char **argv)
{
    double base, step, goal, skip, t, t0 = -1;
    long n, seq, nsku = 0, missing = 0, skipped = 0;
    sku_log_t *logs = NULL;
    double *lat = NULL;
    size_t nlat = 0, cap = 0;
    FILE *f = NULL;
    int rc = 1;

    if (argc != 6 || num(argv[2], &base) || num(argv[3], &step) || num(argv[4], &goal) ||
        num(argv[5], &skip) || step <= 0) {
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
        double l = latency(&logs[n], seq, t);

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
    json_t *resp = embedded(j, "response"), *body = NULL, *qs;
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
    qs = applied_quantities(j, &body, &resp);
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

    if (argc != 6 || num(argv[1], &t0) || num(argv[2], &t1) || num(argv[3], &rows) ||
        num(argv[4], &bucket) || num(argv[5], &restore) || restore <= 0) {
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
