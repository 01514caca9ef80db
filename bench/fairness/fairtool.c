/*
 * dh-bench-fair: the parts of bench/fairness/run.sh bash cannot do.
 *
 *   dh-bench-fair steady BROKERS TOPIC OUT PHASE SECS SEQ_BASE STORES RATE [DOMAIN:SKUS:RATE...]
 *       Putaways at RATE/s in all for SECS s, each for a store drawn uniformly from the
 *       STORES file ("domain skus" per line) and one of its SKUs (SKU-1..SKU-skus), plus
 *       each DOMAIN:SKUS:RATE store at its own rate. A SKU's sequence rises from SEQ_BASE + 1
 *       with good_online = sequence (safety stock 0), so Shopify's on_hand for the SKU reaches
 *       v exactly when an event with sequence >= v was applied. Appends
 *       "PHASE domain sku seq t_ms" per event to OUT (t_ms: wall clock when handed to the
 *       producer). A fixed random seed per PHASE.
 *   dh-bench-fair backlog BROKERS TOPIC OUT PHASE DOMAIN SKUS COUNT SEQ_BASE
 *       COUNT putaways of DOMAIN as fast as the producer takes them, SKU-1..SKU-SKUS in turn.
 *   dh-bench-fair report JOURNAL PRODUCED ITEM_BASE ITEM_STEP SKIP_S T_B0 T_LIFT T1 T2 T3
 *       JOURNAL: the sandbox's inventorySetQuantities journal (JSON lines, every store);
 *       item id of SKU-n = ITEM_BASE + ITEM_STEP × n in every store. An event's latency is the
 *       journal `time_ms` of the first applied call of its store that set its SKU to >= its
 *       sequence, minus its t_ms. Phase "a" events of the first SKIP_S s are left out.
 *       T_B0: when the troubles began (ms), T_LIFT: when the faults were lifted (ms).
 *       Prints a markdown table.
 *   dh-bench-fair dlq BROKERS TOPIC
 *       Reads TOPIC from its start to its end: "total N", then "store count" per store (the
 *       key's text before the first '|').
 *
 * Exit 1 on an I/O or Kafka error, 2 on bad usage.
 */
#include <errno.h>
#include <librdkafka/rdkafka.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../common/benchlib.h"

#define PROG       "dh-bench-fair"
#define MAX_STORES 65536 /* a power of two: the domain table's size */
#define DOMAIN_MAX 256
#define WINDOWS    30 /* report: phase b in windows of WINDOW_MS */
#define WINDOW_MS  10000

typedef struct store {
    char domain[DOMAIN_MAX];
    long skus;                /* the largest SKU number produced */
    long *seq;                /* steady/backlog: the SKU's last sequence */
    dh_bench_sku_log_t *logs; /* report: applied values per SKU */
    double rate;              /* steady: this store's own rate (0: drawn from the pool) */
} store_t;

typedef struct stores {
    store_t *v;
    size_t n;
    int32_t *slot; /* MAX_STORES entries: index + 1, 0 free */
} stores_t;

typedef struct event {
    int32_t store;
    int32_t sku;
    long seq;
    double t_ms;
    char phase;
} event_t;

static uint32_t fnv(const char *s)
{
    uint32_t h = 2166136261u;

    for (; *s; s++) {
        h = (h ^ (unsigned char)*s) * 16777619u;
    }
    return h;
}

static int stores_init(stores_t *st)
{
    st->v = calloc(MAX_STORES / 2, sizeof *st->v);
    st->slot = calloc(MAX_STORES, sizeof *st->slot);
    st->n = 0;
    return st->v && st->slot ? 0 : -1;
}

static void stores_free(stores_t *st)
{
    for (size_t i = 0; st->v && i < st->n; i++) {
        for (long k = 0; st->v[i].logs && k <= st->v[i].skus; k++) {
            free(st->v[i].logs[k].v);
        }
        free(st->v[i].logs);
        free(st->v[i].seq);
    }
    free(st->v);
    free(st->slot);
}

/* The index of \p domain, added when \p add (-1: unknown, or the table is full). */
static int stores_find(stores_t *st, const char *domain, int add)
{
    uint32_t h = fnv(domain) & (MAX_STORES - 1);

    for (;; h = (h + 1) & (MAX_STORES - 1)) {
        int32_t i = st->slot[h];

        if (i == 0) {
            if (!add || st->n >= MAX_STORES / 2 || strlen(domain) >= DOMAIN_MAX) {
                return -1;
            }
            snprintf(st->v[st->n].domain, DOMAIN_MAX, "%s", domain);
            st->slot[h] = (int32_t)++st->n;
            return (int)st->n - 1;
        }
        if (strcmp(st->v[i - 1].domain, domain) == 0) {
            return i - 1;
        }
    }
}

static int produce_one(rd_kafka_t *rk, const char *topic, const char *store, long n, long seq)
{
    static unsigned long counter;

    return dh_bench_produce_putaway(PROG, rk, topic, store, n, seq,
                                    (unsigned long)(getpid() & 0xffff), ++counter);
}

static int out_event(FILE *out, char phase, const store_t *s, long n, long seq, double t)
{
    return fprintf(out, "%c %s %ld %ld %.3f\n", phase, s->domain, n, seq, t) < 0 ? -1 : 0;
}

/* Reads "domain skus" lines (the pool) into \p st; each SKU's sequence starts at \p base. */
static int read_pool(stores_t *st, const char *path, long base)
{
    char domain[DOMAIN_MAX];
    long skus;
    FILE *f = fopen(path, "r");
    int rc = 0;

    if (!f) {
        fprintf(stderr, "dh-bench-fair: %s: %s\n", path, strerror(errno));
        return -1;
    }
    while (rc == 0 && fscanf(f, "%255s %ld", domain, &skus) == 2) {
        int i = stores_find(st, domain, 1);

        if (i < 0 || skus < 1 || !(st->v[i].seq = calloc((size_t)skus + 1, sizeof(long)))) {
            rc = -1;
            break;
        }
        st->v[i].skus = skus;
        for (long k = 0; k <= skus; k++) {
            st->v[i].seq[k] = base;
        }
    }
    fclose(f);
    return rc;
}

static int steady(int argc, char **argv)
{
    double secs, base, rate, own = 0, t0;
    stores_t st = {0};
    size_t pool;
    uint64_t rng;
    rd_kafka_t *rk = NULL;
    FILE *out = NULL;
    long i, total;
    int rc = 1;

    if (argc < 8 || strlen(argv[3]) != 1 || dh_bench_num(argv[4], &secs) ||
        dh_bench_num(argv[5], &base) || dh_bench_num(argv[7], &rate) || rate < 0) {
        fprintf(stderr, "usage: dh-bench-fair steady BROKERS TOPIC OUT PHASE SECS SEQ_BASE STORES "
                        "RATE [DOMAIN:SKUS:RATE...]\n");
        return 2;
    }
    if (stores_init(&st) != 0 || read_pool(&st, argv[6], (long)base) != 0) {
        goto out;
    }
    pool = st.n;
    for (int a = 8; a < argc; a++) {
        char domain[DOMAIN_MAX];
        long skus;
        double r;
        int k;

        if (sscanf(argv[a], "%255[^:]:%ld:%lf", domain, &skus, &r) != 3 || skus < 1 || r < 0 ||
            (k = stores_find(&st, domain, 1)) < 0 || (size_t)k < pool ||
            !(st.v[k].seq = calloc((size_t)skus + 1, sizeof(long)))) {
            fprintf(stderr, "dh-bench-fair: bad store %s\n", argv[a]);
            goto out;
        }
        for (long s = 0; s <= skus; s++) {
            st.v[k].seq[s] = (long)base;
        }
        st.v[k].skus = skus;
        st.v[k].rate = r;
        own += r;
    }
    if (pool == 0 && own == 0) {
        rc = 0;
        goto out;
    }
    total = (long)((rate + own) * secs);
    rng = 0x9e3779b97f4a7c15ULL ^ (uint64_t)(unsigned char)argv[3][0];
    out = fopen(argv[2], "a");
    rk = dh_bench_producer_new(PROG, argv[0], "200000");
    if (!out || !rk) {
        goto out;
    }
    t0 = dh_bench_wall_ms();
    /* Event i is due at t0 + i / (RATE + own rates): a late one is caught up on. */
    for (i = 0; i < total; i++) {
        double x = (double)(dh_bench_rng_next(&rng) % 1000000) / 1e6 * (rate + own), t;
        size_t k = 0;
        long n;

        if (x < rate && pool > 0) {
            k = (size_t)(dh_bench_rng_next(&rng) % pool);
        } else {
            x -= rate;
            for (k = pool; k + 1 < st.n && x >= st.v[k].rate; k++) {
                x -= st.v[k].rate;
            }
        }
        n = (long)(dh_bench_rng_next(&rng) % (uint64_t)st.v[k].skus) + 1;
        dh_bench_sleep_until_ms(t0 + (double)i * 1e3 / (rate + own));
        t = dh_bench_wall_ms();
        if (produce_one(rk, argv[1], st.v[k].domain, n, ++st.v[k].seq[n]) != 0 ||
            out_event(out, argv[3][0], &st.v[k], n, st.v[k].seq[n], t) != 0) {
            goto out;
        }
        rd_kafka_poll(rk, 0);
    }
    fprintf(stderr, "phase %s: produced %ld events in %.1f s\n", argv[3], total,
            (dh_bench_wall_ms() - t0) / 1e3);
    rc = rd_kafka_flush(rk, 30000) == RD_KAFKA_RESP_ERR_NO_ERROR ? 0 : 1;
out:
    if (rk) {
        rd_kafka_destroy(rk);
    }
    if (out && fclose(out) != 0) {
        rc = 1;
    }
    stores_free(&st);
    return rc;
}

static int backlog(int argc, char **argv)
{
    double skus, count, base, t0;
    store_t s = {0};
    rd_kafka_t *rk = NULL;
    FILE *out = NULL;
    int rc = 1;

    if (argc != 8 || strlen(argv[3]) != 1 || dh_bench_num(argv[5], &skus) ||
        dh_bench_num(argv[6], &count) || dh_bench_num(argv[7], &base) || skus < 1 ||
        strlen(argv[4]) >= DOMAIN_MAX) {
        fprintf(stderr, "usage: dh-bench-fair backlog BROKERS TOPIC OUT PHASE DOMAIN SKUS COUNT "
                        "SEQ_BASE\n");
        return 2;
    }
    snprintf(s.domain, sizeof s.domain, "%s", argv[4]);
    out = fopen(argv[2], "a");
    rk = dh_bench_producer_new(PROG, argv[0], "200000");
    if (!out || !rk) {
        goto out;
    }
    t0 = dh_bench_wall_ms();
    for (long i = 0; i < (long)count; i++) {
        long n = i % (long)skus + 1, seq = (long)base + i / (long)skus + 1;

        if (produce_one(rk, argv[1], s.domain, n, seq) != 0 ||
            out_event(out, argv[3][0], &s, n, seq, dh_bench_wall_ms()) != 0) {
            goto out;
        }
        rd_kafka_poll(rk, 0);
    }
    rc = rd_kafka_flush(rk, 60000) == RD_KAFKA_RESP_ERR_NO_ERROR ? 0 : 1;
    fprintf(stderr, "backlog of %s: %.0f events in %.1f s\n", s.domain, count,
            (dh_bench_wall_ms() - t0) / 1e3);
out:
    if (rk) {
        rd_kafka_destroy(rk);
    }
    if (out && fclose(out) != 0) {
        rc = 1;
    }
    return rc;
}

typedef struct fair_logs {
    stores_t *st;
    long base, step;
} fair_logs_t;

static int add_qty(void *ctx, const char *shop, long item, double t, long qty)
{
    fair_logs_t *fl = ctx;
    int s = shop ? stores_find(fl->st, shop, 0) : -1;
    long n = (item - fl->base) / fl->step;

    if (s < 0 || n < 1 || n > fl->st->v[s].skus) {
        return 0;
    }
    return dh_bench_log_add(&fl->st->v[s].logs[n], t, qty);
}

/* Every applied quantity of the journal into its store's logs (stores not produced to and
 * SKUs out of range are left out). */
static int read_journal(const char *path, long base, long step, stores_t *st)
{
    fair_logs_t fl = {st, base, step};

    return dh_bench_read_journal(PROG, path, add_qty, &fl);
}

/* The p-quantile of v[0..n) (sorts it); NAN when empty. */
static double pct(double *v, size_t n, double p)
{
    if (n == 0) {
        return NAN;
    }
    qsort(v, n, sizeof *v, dh_bench_cmp_double);
    return dh_bench_pct(v, n, p);
}

/* A growable list of latencies. */
typedef struct lats {
    double *v;
    size_t n, cap;
    long missing, produced;
    double last_visible; /* wall ms when its last event became visible */
} lats_t;

static int lats_add(lats_t *l, double x)
{
    if (l->n == l->cap) {
        double *v = realloc(l->v, (l->cap = l->cap ? 2 * l->cap : 64) * sizeof *v);

        if (!v) {
            return -1;
        }
        l->v = v;
    }
    l->v[l->n++] = x;
    return 0;
}

/* Reads the produced events (interning their stores) into *ev. */
static int read_produced(const char *path, stores_t *st, event_t **ev, size_t *nev)
{
    char phase, domain[DOMAIN_MAX];
    long n, seq;
    double t;
    size_t cap = 0;
    FILE *f = fopen(path, "r");

    if (!f) {
        fprintf(stderr, "dh-bench-fair: %s: %s\n", path, strerror(errno));
        return -1;
    }
    *ev = NULL, *nev = 0;
    while (fscanf(f, " %c %255s %ld %ld %lf", &phase, domain, &n, &seq, &t) == 5) {
        int s = stores_find(st, domain, 1);

        if (s < 0 || n < 1 || n > INT32_MAX) {
            fclose(f);
            return -1;
        }
        if (*nev == cap) {
            event_t *v = realloc(*ev, (cap = cap ? 2 * cap : 65536) * sizeof *v);

            if (!v) {
                fclose(f);
                return -1;
            }
            *ev = v;
        }
        (*ev)[(*nev)++] = (event_t){s, (int32_t)n, seq, t, phase};
        st->v[s].skus = n > st->v[s].skus ? n : st->v[s].skus;
    }
    fclose(f);
    for (size_t i = 0; i < st->n; i++) {
        if (!(st->v[i].logs = calloc((size_t)st->v[i].skus + 1, sizeof(dh_bench_sku_log_t)))) {
            return -1;
        }
    }
    return 0;
}

static void ms_cell(char *buf, size_t n, double ms)
{
    if (isnan(ms)) {
        snprintf(buf, n, "–");
    } else if (ms >= 10000) {
        snprintf(buf, n, "%.1f s", ms / 1e3);
    } else {
        snprintf(buf, n, "%.0f ms", ms);
    }
}

typedef struct report_in {
    double t_b0, t_lift;
    int troubled[3]; /* store index of T1..T3, -1 when not produced to */
    const char *tname[3];
} report_in_t;

static void print_report(stores_t *st, lats_t un[2], lats_t *per_store, lats_t tr[3],
                         const report_in_t *in)
{
    char a[32], b[32], c[64];
    double p99[2], worst[2] = {-1, -1};
    const char *worst_dom[2] = {"–", "–"};
    size_t stores_seen[2] = {0, 0};

    for (int ph = 0; ph < 2; ph++) {
        for (size_t i = 0; i < st->n; i++) {
            lats_t *l = &per_store[i * 2 + (size_t)ph];
            double x;

            if (l->n == 0) {
                continue;
            }
            stores_seen[ph]++;
            x = pct(l->v, l->n, 0.99);
            if (x > worst[ph]) {
                worst[ph] = x, worst_dom[ph] = st->v[i].domain;
            }
        }
    }
    printf("| untroubled stores | baseline (a) | troubled (b) | ratio b/a | goal |\n");
    printf("|---|---|---|---|---|\n");
    printf("| stores with events | %zu | %zu | | |\n", stores_seen[0], stores_seen[1]);
    printf("| events measured | %zu | %zu | | |\n", un[0].n, un[1].n);
    printf("| events never visible | %ld | %ld | | 0 |\n", un[0].missing, un[1].missing);
    ms_cell(a, sizeof a, pct(un[0].v, un[0].n, 0.50));
    ms_cell(b, sizeof b, pct(un[1].v, un[1].n, 0.50));
    printf("| latency p50 | %s | %s | %.2f | |\n", a, b,
           pct(un[1].v, un[1].n, 0.50) / pct(un[0].v, un[0].n, 0.50));
    p99[0] = pct(un[0].v, un[0].n, 0.99), p99[1] = pct(un[1].v, un[1].n, 0.99);
    ms_cell(a, sizeof a, p99[0]);
    ms_cell(b, sizeof b, p99[1]);
    printf("| **latency p99** | %s | %s | **%.2f** | ≤ 2 (%s) |\n", a, b, p99[1] / p99[0],
           p99[1] / p99[0] <= 2 ? "met" : "not met");
    ms_cell(a, sizeof a, un[0].n ? un[0].v[un[0].n - 1] : NAN);
    ms_cell(b, sizeof b, un[1].n ? un[1].v[un[1].n - 1] : NAN);
    printf("| latency max | %s | %s | %.2f | |\n", a, b,
           (un[1].n ? un[1].v[un[1].n - 1] : NAN) / (un[0].n ? un[0].v[un[0].n - 1] : NAN));
    ms_cell(a, sizeof a, worst[0]);
    ms_cell(b, sizeof b, worst[1]);
    printf("| worst store's p99 | %s (%s) | %s (%s) | %.2f | |\n", a, worst_dom[0], b, worst_dom[1],
           worst[1] / worst[0]);
    printf("\n| troubled store | role (TROUBLES says which were on) | events produced | visible at "
           "end | p50 | p99 | "
           "all visible |\n|---|---|---|---|---|---|---|\n");
    for (int k = 0; k < 3; k++) {
        lats_t *l = &tr[k];
        double since = k == 0 ? in->t_b0 : in->t_lift;

        if (in->troubled[k] < 0) {
            printf("| %s | (no events) | 0 | | | | |\n", in->tname[k]);
            continue;
        }
        ms_cell(a, sizeof a, pct(l->v, l->n, 0.50));
        ms_cell(b, sizeof b, pct(l->v, l->n, 0.99));
        if (l->missing) {
            snprintf(c, sizeof c, "never (%ld missing)", l->missing);
        } else if (l->last_visible < since) {
            snprintf(c, sizeof c, "before the %s", k == 0 ? "drain" : "lift");
        } else {
            ms_cell(c, sizeof c, l->last_visible - since);
            strcat(c, k == 0 ? " after the drain" : " after the lift");
        }
        printf("| %s | %s | %ld | %zu | %s | %s | %s |\n", st->v[in->troubled[k]].domain,
               k == 0   ? "backlog, bucket drained"
               : k == 1 ? "token revoked (401)"
                        : "5xx",
               l->produced, l->n, a, b, c);
    }
}

/* The untroubled stores' latency over a phase, per WINDOW_MS of produce time from its start. */
static void print_windows(lats_t *win, const char *phase)
{
    char a[32], b[32];

    printf("\n| untroubled, phase %s, produced at | events | p50 | p99 |\n|---|---|---|---|\n",
           phase);
    for (int k = 0; k < WINDOWS; k++) {
        if (win[k].n == 0) {
            continue;
        }
        ms_cell(a, sizeof a, pct(win[k].v, win[k].n, 0.50));
        ms_cell(b, sizeof b, pct(win[k].v, win[k].n, 0.99));
        printf("| +%d–%d s%s | %zu | %s | %s |\n", k * WINDOW_MS / 1000, (k + 1) * WINDOW_MS / 1000,
               k == WINDOWS - 1 ? " and later" : "", win[k].n, a, b);
    }
}

static int report(int argc, char **argv)
{
    double base, step, skip, t_b0, t_lift, t0 = -1;
    report_in_t in = {0};
    stores_t st = {0};
    event_t *ev = NULL;
    size_t nev = 0;
    lats_t un[2] = {{0}}, tr[3] = {{0}}, *per_store = NULL;
    lats_t win[2][WINDOWS] = {{{0}}};
    int rc = 1;

    if (argc != 10 || dh_bench_num(argv[2], &base) || dh_bench_num(argv[3], &step) ||
        dh_bench_num(argv[4], &skip) || dh_bench_num(argv[5], &t_b0) ||
        dh_bench_num(argv[6], &t_lift) || step <= 0) {
        fprintf(stderr, "usage: dh-bench-fair report JOURNAL PRODUCED ITEM_BASE ITEM_STEP SKIP_S "
                        "T_B0 T_LIFT T1 T2 T3\n");
        return 2;
    }
    in.t_b0 = t_b0, in.t_lift = t_lift;
    if (stores_init(&st) != 0 || read_produced(argv[1], &st, &ev, &nev) != 0 ||
        read_journal(argv[0], (long)base, (long)step, &st) != 0 ||
        !(per_store = calloc(st.n * 2, sizeof *per_store))) {
        goto out;
    }
    for (int k = 0; k < 3; k++) {
        in.tname[k] = argv[7 + k];
        in.troubled[k] = stores_find(&st, argv[7 + k], 0);
    }
    for (size_t i = 0; i < nev; i++) {
        const event_t *e = &ev[i];
        double l = dh_bench_latency(&st.v[e->store].logs[e->sku], e->seq, e->t_ms);
        lats_t *into = NULL, *store_l = NULL;

        t0 = t0 < 0 && e->phase == 'a' ? e->t_ms : t0;
        for (int k = 0; k < 3; k++) {
            if (e->store == in.troubled[k]) {
                into = &tr[k];
            }
        }
        if (!into) {
            if ((e->phase != 'a' && e->phase != 'b') ||
                (e->phase == 'a' && e->t_ms - t0 < skip * 1e3)) {
                continue;
            }
            into = &un[e->phase == 'b'];
            store_l = &per_store[(size_t)e->store * 2 + (e->phase == 'b')];
            if (l >= 0 &&
                lats_add(&win[e->phase == 'b'][(size_t)fmin(
                             WINDOWS - 1,
                             fmax(0, (e->t_ms - (e->phase == 'b' ? t_b0 : t0)) / WINDOW_MS))],
                         l) != 0) {
                goto out;
            }
        }
        into->produced++;
        if (l < 0) {
            into->missing++;
            continue;
        }
        if (lats_add(into, l) != 0 || (store_l && lats_add(store_l, l) != 0)) {
            goto out;
        }
        into->last_visible = fmax(into->last_visible, e->t_ms + l);
    }
    print_report(&st, un, per_store, tr, &in);
    print_windows(win[0], "a");
    print_windows(win[1], "b");
    printf("\nevents never visible: %ld\n",
           un[0].missing + un[1].missing + tr[0].missing + tr[1].missing + tr[2].missing);
    rc = 0;
out:
    for (size_t i = 0; per_store && i < st.n * 2; i++) {
        free(per_store[i].v);
    }
    free(per_store);
    for (int k = 0; k < 3; k++) {
        free(tr[k].v);
    }
    for (int k = 0; k < WINDOWS; k++) {
        free(win[0][k].v);
        free(win[1][k].v);
    }
    free(un[0].v);
    free(un[1].v);
    free(ev);
    stores_free(&st);
    return rc;
}

/* Counts of one topic's messages per store (its key up to the first '|'). */
static int dlq(int argc, char **argv)
{
    char err[512];
    rd_kafka_conf_t *c;
    rd_kafka_t *rk = NULL;
    const rd_kafka_metadata_t *md = NULL;
    rd_kafka_topic_partition_list_t *parts = NULL;
    stores_t st = {0};
    long *count = NULL, total = 0, left = 0;
    int rc = 1;

    if (argc != 2) {
        fprintf(stderr, "usage: dh-bench-fair dlq BROKERS TOPIC\n");
        return 2;
    }
    c = rd_kafka_conf_new();
    if (rd_kafka_conf_set(c, "bootstrap.servers", argv[0], err, sizeof err) ||
        rd_kafka_conf_set(c, "group.id", "dh-bench-fair-dlq", err, sizeof err) ||
        rd_kafka_conf_set(c, "enable.auto.commit", "false", err, sizeof err) ||
        !(rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, err, sizeof err))) {
        fprintf(stderr, "dh-bench-fair: %s\n", err);
        rd_kafka_conf_destroy(c);
        return 1;
    }
    rd_kafka_topic_t *t = rd_kafka_topic_new(rk, argv[1], NULL);

    if (rd_kafka_metadata(rk, 0, t, &md, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR ||
        md->topic_cnt != 1 || md->topics[0].err) {
        fprintf(stderr, "dh-bench-fair: no topic %s\n", argv[1]);
        rd_kafka_topic_destroy(t);
        goto out;
    }
    rd_kafka_topic_destroy(t);
    parts = rd_kafka_topic_partition_list_new(md->topics[0].partition_cnt);
    for (int p = 0; p < md->topics[0].partition_cnt; p++) {
        int64_t lo, hi;

        if (rd_kafka_query_watermark_offsets(rk, argv[1], p, &lo, &hi, 10000)) {
            goto out;
        }
        left += hi - lo;
        if (hi > lo) {
            rd_kafka_topic_partition_list_add(parts, argv[1], p)->offset = lo;
        }
    }
    if (stores_init(&st) != 0 || !(count = calloc(MAX_STORES / 2, sizeof *count)) ||
        rd_kafka_assign(rk, parts) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        goto out;
    }
    for (int idle = 0; left > 0 && idle < 100;) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        char key[DOMAIN_MAX] = "(no key)";
        int s;

        if (!m) {
            idle++;
            continue;
        }
        if (!m->err) {
            idle = 0, left--, total++;
            if (m->key) {
                size_t kl = m->key_len < sizeof key ? m->key_len : sizeof key - 1;

                memcpy(key, m->key, kl);
                key[kl] = '\0';
                key[strcspn(key, "|")] = '\0';
            }
            if ((s = stores_find(&st, key, 1)) >= 0) {
                count[s]++;
            }
        }
        rd_kafka_message_destroy(m);
    }
    printf("total %ld\n", total);
    for (size_t i = 0; i < st.n; i++) {
        printf("%s %ld\n", st.v[i].domain, count[i]);
    }
    rc = left > 0 ? 1 : 0;
out:
    if (parts) {
        rd_kafka_topic_partition_list_destroy(parts);
    }
    if (md) {
        rd_kafka_metadata_destroy(md);
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    free(count);
    stores_free(&st);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "steady") == 0) {
        return steady(argc - 2, argv + 2);
    }
    if (argc >= 2 && strcmp(argv[1], "backlog") == 0) {
        return backlog(argc - 2, argv + 2);
    }
    if (argc >= 2 && strcmp(argv[1], "report") == 0) {
        return report(argc - 2, argv + 2);
    }
    if (argc >= 2 && strcmp(argv[1], "dlq") == 0) {
        return dlq(argc - 2, argv + 2);
    }
    fprintf(stderr,
            "usage: dh-bench-fair steady|backlog|report|dlq ... (see the source's header)\n");
    return 2;
}
