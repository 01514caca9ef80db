/*
 * dh-bench-idem: the runtime's idempotency records with nothing else around them. Threads
 * claim and complete records in batches through dh_idem_claim()/dh_idem_done(), exactly as
 * lanes do for a no-op handler, but with no Kafka and no executor: the rate it prints is the
 * ceiling that Redis puts on the no-op runtime on this machine.
 *
 *   dh-bench-idem REDIS_URL EVENTS THREADS BATCH PREFIX
 *
 * Effect ids are "<PREFIX>:e<1000000000 + i>" under the namespace "testworker", the shape
 * dh-testworker uses. Prints "events=<n> ms=<t> rate=<events/s>"; exit 1 on a Redis error.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dockhand/idem.h"
#include "dockhand/redis.h"

#define ID_MAX 96

typedef struct job {
    const char *url;
    const char *prefix;
    long events, threads, batch, index;
    int failed;
} job_t;

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void *run(void *arg)
{
    job_t *j = arg;
    char errstr[256];
    dh_redis_opts_t o = {.url = j->url, .timeout_ms = 5000};
    dh_redis_t *r = dh_redis_new(&o, errstr, sizeof(errstr));
    char(*ids)[ID_MAX] = calloc((size_t)j->batch, ID_MAX);
    const char **idp = calloc((size_t)j->batch, sizeof(*idp));
    dh_idem_state_t *states = calloc((size_t)j->batch, sizeof(*states));

    if (!r || !ids || !idp || !states) {
        fprintf(stderr, "dh-bench-idem: %s\n", r ? "out of memory" : errstr);
        j->failed = 1;
        goto out;
    }
    /* Thread t takes batches t, t + threads, t + 2 * threads, ... */
    for (long first = j->index * j->batch; first < j->events; first += j->threads * j->batch) {
        long n = j->events - first < j->batch ? j->events - first : j->batch;

        for (long i = 0; i < n; i++) {
            snprintf(ids[i], ID_MAX, "%s:e%ld", j->prefix, 1000000000L + first + i);
            idp[i] = ids[i];
        }
        if (dh_idem_claim(r, "testworker", "bench", 60000, (size_t)n, idp, states, NULL) ||
            dh_idem_done(r, "testworker", "bench", 60, (size_t)n, idp, NULL)) {
            fprintf(stderr, "dh-bench-idem: %s\n", dh_redis_errstr(r));
            j->failed = 1;
            break;
        }
    }
out:
    free(states);
    free(idp);
    free(ids);
    dh_redis_destroy(r);
    return NULL;
}

int main(int argc, char **argv)
{
    long events, threads, batch;
    job_t *jobs;
    pthread_t *tids;
    int64_t start, ms;
    int failed = 0;

    if (argc != 6 || (events = atol(argv[2])) <= 0 || (threads = atol(argv[3])) <= 0 ||
        threads > 256 || (batch = atol(argv[4])) <= 0 || batch > 4096) {
        fprintf(stderr, "usage: dh-bench-idem REDIS_URL EVENTS THREADS(1-256) BATCH(1-4096) "
                        "PREFIX\n");
        return 2;
    }
    jobs = calloc((size_t)threads, sizeof(*jobs));
    tids = calloc((size_t)threads, sizeof(*tids));
    if (!jobs || !tids) {
        return 1;
    }
    start = now_ms();
    for (long t = 0; t < threads; t++) {
        jobs[t] = (job_t){argv[1], argv[5], events, threads, batch, t, 0};
        if (pthread_create(&tids[t], NULL, run, &jobs[t])) {
            fprintf(stderr, "dh-bench-idem: cannot start a thread\n");
            return 1;
        }
    }
    for (long t = 0; t < threads; t++) {
        pthread_join(tids[t], NULL);
        failed |= jobs[t].failed;
    }
    ms = now_ms() - start;
    printf("events=%ld ms=%lld rate=%lld\n", events, (long long)ms,
           (long long)(events * 1000 / (ms > 0 ? ms : 1)));
    free(tids);
    free(jobs);
    return failed;
}
