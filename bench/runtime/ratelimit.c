/*
 * dh-bench-ratelimit: how close callers of the shared Shopify bucket get to what it
 * allows, the speed figures that tests/redis/test_redis_ratelimit.c does not assert (it
 * only checks that the bucket is never overspent and that waits are right).
 *
 *   dh-bench-ratelimit REDIS_URL [SECONDS]
 *
 * 1. Concurrent use: 1, 4 and 16 threads call dh_ratelimit_shopify_acquire() (cost 10)
 *    on one fresh bucket (capacity 200, 1000 points/s) for SECONDS (default 2) and
 *    sleep for the wait they are told. Ratio: points granted / (capacity + rate x time),
 *    1.0 being a bucket drained exactly as fast as it refills.
 * 2. Refill: an emptied bucket (100 points/s) asked for 50 points, then polled every
 *    millisecond. Ratio: time until granted / the wait it was told.
 * Prints one table; exit 1 on a Redis error. Ratios come from one run on one machine.
 */
#include "dockhand/ratelimit.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "dockhand/redis.h"

static const dh_bucket_spec_t SPEC = {.capacity = 200, .restore_rate = 1000};

typedef struct caller {
    const char *url;
    const char *store;
    double deadline_ms;
    double granted;
    int failed;
} caller_t;

static double now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static void sleep_ms(int64_t ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

static dh_redis_t *conn(const char *url)
{
    char errstr[256];
    dh_redis_opts_t o = {.url = url, .timeout_ms = 5000};
    dh_redis_t *r = dh_redis_new(&o, errstr, sizeof(errstr));

    if (!r) {
        fprintf(stderr, "dh-bench-ratelimit: %s\n", errstr);
    }
    return r;
}

static void *caller_main(void *arg)
{
    caller_t *c = arg;
    dh_redis_t *r = conn(c->url);

    c->failed = !r;
    while (r && !c->failed && now_ms() < c->deadline_ms) {
        int64_t wait = 0;

        if (dh_ratelimit_shopify_acquire(r, c->store, &SPEC, 10, &wait) != DH_OK) {
            c->failed = 1;
        } else if (wait == 0) {
            c->granted += 10;
        } else {
            sleep_ms(wait);
        }
    }
    dh_redis_destroy(r);
    return NULL;
}

/* Returns granted / bound for \p threads callers, or -1 on an error. */
static double concurrent(const char *url, int threads, double seconds)
{
    pthread_t th[16];
    caller_t cs[16];
    char store[128];
    double t0 = now_ms(), total = 0, elapsed_s;
    int failed = 0;

    snprintf(store, sizeof(store), "bench-%ld-%d-%.0f.myshopify.com", (long)getpid(), threads, t0);
    for (int i = 0; i < threads; i++) {
        cs[i] = (caller_t){url, store, t0 + seconds * 1000.0, 0, 0};
        pthread_create(&th[i], NULL, caller_main, &cs[i]);
    }
    for (int i = 0; i < threads; i++) {
        pthread_join(th[i], NULL);
        failed |= cs[i].failed;
        total += cs[i].granted;
    }
    elapsed_s = (now_ms() - t0) / 1000.0;
    if (failed) {
        return -1;
    }
    double bound = SPEC.capacity + SPEC.restore_rate * elapsed_s;
    printf("| %d caller(s), %.1f s | %.0f points | %.0f allowed | %.3f |\n", threads, elapsed_s,
           total, bound, total / bound);
    return total / bound;
}

/* Returns time until granted / the wait told, or -1 on an error. */
static double refill(const char *url)
{
    dh_bucket_spec_t spec = {.capacity = 100, .restore_rate = 100};
    dh_redis_t *r = conn(url);
    char store[128];
    int64_t told = 0, wait = 0;
    double t0;

    snprintf(store, sizeof(store), "bench-refill-%ld-%.0f.myshopify.com", (long)getpid(), now_ms());
    if (!r || dh_ratelimit_shopify_acquire(r, store, &spec, 100, &wait) ||
        dh_ratelimit_shopify_acquire(r, store, &spec, 50, &told)) {
        dh_redis_destroy(r);
        return -1;
    }
    t0 = now_ms();
    do {
        sleep_ms(1);
        if (dh_ratelimit_shopify_acquire(r, store, &spec, 50, &wait)) {
            dh_redis_destroy(r);
            return -1;
        }
    } while (wait > 0);
    double took = now_ms() - t0;
    printf("| refill of 50 points at 100/s | granted after %.0f ms | told %lld ms | %.3f |\n", took,
           (long long)told, told > 0 ? took / (double)told : 0);
    dh_redis_destroy(r);
    return told > 0 ? took / (double)told : 0;
}

int main(int argc, char **argv)
{
    double seconds = argc > 2 ? atof(argv[2]) : 2.0;
    static const int counts[] = {1, 4, 16};

    if (argc < 2 || seconds <= 0) {
        fprintf(stderr, "usage: dh-bench-ratelimit REDIS_URL [SECONDS]\n");
        return 2;
    }
    printf("| run | measured | bound or baseline | ratio |\n|---|---|---|---|\n");
    for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
        if (concurrent(argv[1], counts[i], seconds) < 0) {
            fprintf(stderr, "dh-bench-ratelimit: Redis error\n");
            return 1;
        }
    }
    if (refill(argv[1]) < 0) {
        fprintf(stderr, "dh-bench-ratelimit: Redis error\n");
        return 1;
    }
    return 0;
}
