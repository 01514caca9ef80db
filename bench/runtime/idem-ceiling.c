/*
 * dh-bench-idem: the runtime's idempotency records with nothing else around them. Threads
 * claim and finish records in batches through dh_idem_claim()/dh_idem_finish(), exactly as
 * lanes do for a no-op handler, but with no Kafka and no executor: the rate it prints is the
 * ceiling that Redis puts on the no-op runtime on this machine.
 *
 *   dh-bench-idem REDIS_URL EVENTS THREADS BATCH PREFIX
 *
 *   dh-bench-idem --legacy REDIS_URL EVENTS THREADS BATCH PREFIX
 *
 * Effect ids are "<PREFIX>:e<1000000000 + i>" under the namespace "testworker", the shape
 * dh-testworker uses. Prints "events=<n> ms=<t> rate=<events/s>"; exit 1 on a Redis error.
 *
 * --legacy writes the records the way dockhand did before (kept here only, so one bench run
 * shows before and after): a record per effect, "lease:<owner>" then "done", each phase one
 * EVALSHA of a multi-key Lua script per batch (chunks of 512 keys), the scripts below,
 * verbatim. Their fallback branches (retries, other owners) never run here: every record is
 * fresh. The records now are one per effect pointing at one per batch (idem.c); the
 * guarantees a lane gets from them are the same.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dockhand/idem.h"
#include "dockhand/redis.h"

#define ID_MAX       96
#define LEGACY_CHUNK 512

/* The scripts the claim and done of common/src/idem.c ran before: a frozen
 * copy on purpose, the "before" of --legacy's before/after measurement. Keep it as it is
 * even where it matches what idem.c still holds: sharing it would let a change to the runtime
 * move the baseline. */
static const char LEGACY_CLAIM_LUA[] = "local mine = 'lease:' .. ARGV[1]\n"
                                       "local ttl = ARGV[2]\n"
                                       "local out = {}\n"
                                       "for i, k in ipairs(KEYS) do\n"
                                       "  if redis.call('SET', k, mine, 'PX', ttl, 'NX') then\n"
                                       "    out[i] = -1\n"
                                       "  else\n"
                                       "    local v = redis.call('GET', k)\n"
                                       "    if v == 'done' then\n"
                                       "      out[i] = -2\n"
                                       "    elseif v == mine then\n"
                                       "      redis.call('PEXPIRE', k, ttl)\n"
                                       "      out[i] = -1\n"
                                       "    else\n"
                                       "      local t = redis.call('PTTL', k)\n"
                                       "      if t < 0 then\n"
                                       "        redis.call('PEXPIRE', k, ttl)\n"
                                       "        t = tonumber(ttl)\n"
                                       "      end\n"
                                       "      if t < 1 then t = 1 end\n"
                                       "      out[i] = t\n"
                                       "    end\n"
                                       "  end\n"
                                       "end\n"
                                       "return out\n";

static const char LEGACY_DONE_LUA[] =
    "local mine = 'lease:' .. ARGV[1]\n"
    "local out = {}\n"
    "for i, k in ipairs(KEYS) do\n"
    "  local v = redis.call('SET', k, 'done', 'EX', ARGV[2], 'GET')\n"
    "  out[i] = v == mine and 1 or 0\n"
    "end\n"
    "return out\n";

/* SCRIPT LOAD \p script into \p sha (41 bytes). */
static int legacy_load(dh_redis_t *r, const char *script, char *sha)
{
    const char *argv[3] = {"SCRIPT", "LOAD", script};
    redisReply *rep = NULL;
    int ok = dh_redis_command(r, 3, argv, NULL, &rep) == DH_OK && rep != NULL &&
             rep->type == REDIS_REPLY_STRING && rep->len == 40;

    if (ok) {
        memcpy(sha, rep->str, 41);
    }
    freeReplyObject(rep);
    return ok ? 0 : -1;
}

/* One script over n keys, as before: EVALSHA sha nkeys keys... owner ttl, per chunk of 512,
 * the chunks pipelined. Every key must come back -1 (claimed) or 1 (still ours). */
static int legacy_run(dh_redis_t *r, const char *sha, long n, const char *const *keys,
                      const char *ttl, long long want)
{
    long nchunks = (n + LEGACY_CHUNK - 1) / LEGACY_CHUNK;
    int *argc = calloc((size_t)nchunks, sizeof(*argc));
    const char ***argv = calloc((size_t)nchunks, sizeof(*argv));
    redisReply **rep = calloc((size_t)nchunks, sizeof(*rep));
    char nk[24];
    int bad = argc == NULL || argv == NULL || rep == NULL;

    for (long c = 0; c < nchunks && !bad; c++) {
        long k = n - c * LEGACY_CHUNK < LEGACY_CHUNK ? n - c * LEGACY_CHUNK : LEGACY_CHUNK;

        argv[c] = malloc((size_t)(k + 5) * sizeof(**argv));
        bad = argv[c] == NULL;
        if (!bad) {
            snprintf(nk, sizeof(nk), "%ld", k);
            argv[c][0] = "EVALSHA";
            argv[c][1] = sha;
            argv[c][2] = strdup(nk);
            memcpy(&argv[c][3], keys + c * LEGACY_CHUNK, (size_t)k * sizeof(*keys));
            argv[c][k + 3] = "bench";
            argv[c][k + 4] = ttl;
            argc[c] = (int)(k + 5);
        }
    }
    bad = bad || dh_redis_pipeline(r, (size_t)nchunks, argc, argv, NULL, rep) != DH_OK;
    for (long c = 0; c < nchunks && !bad; c++) {
        bad = rep[c]->type != REDIS_REPLY_ARRAY;
        for (size_t i = 0; !bad && i < rep[c]->elements; i++) {
            bad = rep[c]->element[i]->integer != want;
        }
    }
    for (long c = 0; c < nchunks; c++) {
        freeReplyObject(rep != NULL ? rep[c] : NULL);
        if (argv != NULL && argv[c] != NULL) {
            free((void *)argv[c][2]);
            free(argv[c]);
        }
    }
    free(rep);
    free(argv);
    free(argc);
    return bad ? -1 : 0;
}

typedef struct job {
    const char *url;
    const char *prefix;
    long events, threads, batch, index;
    int legacy;
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
    char(*keys)[ID_MAX + 32] = calloc((size_t)j->batch, ID_MAX + 32);
    const char **keyp = calloc((size_t)j->batch, sizeof(*keyp));
    char claim_sha[41], done_sha[41], batch[DH_IDEM_BATCH_LEN + 1];

    if (!r || !ids || !idp || !states || !keys || !keyp) {
        fprintf(stderr, "dh-bench-idem: %s\n", r ? "out of memory" : errstr);
        j->failed = 1;
        goto out;
    }
    if (j->legacy && (legacy_load(r, LEGACY_CLAIM_LUA, claim_sha) ||
                      legacy_load(r, LEGACY_DONE_LUA, done_sha))) {
        fprintf(stderr, "dh-bench-idem: SCRIPT LOAD: %s\n", dh_redis_errstr(r));
        j->failed = 1;
        goto out;
    }
    /* Thread t takes batches t, t + threads, t + 2 * threads, ... */
    for (long first = j->index * j->batch; first < j->events; first += j->threads * j->batch) {
        long n = j->events - first < j->batch ? j->events - first : j->batch;

        for (long i = 0; i < n; i++) {
            snprintf(ids[i], ID_MAX, "%s:e%ld", j->prefix, 1000000000L + first + i);
            idp[i] = ids[i];
            snprintf(keys[i], ID_MAX + 32, "testworker:idem:%s", ids[i]);
            keyp[i] = keys[i];
        }
        if (j->legacy) {
            if (legacy_run(r, claim_sha, n, keyp, "60000", -1) ||
                legacy_run(r, done_sha, n, keyp, "60", 1)) {
                fprintf(stderr, "dh-bench-idem --legacy: %s\n", dh_redis_errstr(r));
                j->failed = 1;
                break;
            }
            continue;
        }
        dh_idem_batch_id(batch);
        if (dh_idem_claim(r, "testworker", "bench", batch, 60000, 60, (size_t)n, idp, states,
                          NULL) ||
            dh_idem_finish(r, "testworker", "bench", batch, 60, (size_t)n, 0, NULL, NULL)) {
            fprintf(stderr, "dh-bench-idem: %s\n", dh_redis_errstr(r));
            j->failed = 1;
            break;
        }
    }
out:
    free(keyp);
    free(keys);
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
    int failed = 0, legacy = 0;

    if (argc > 1 && strcmp(argv[1], "--legacy") == 0) {
        legacy = 1;
        argc--;
        argv++;
    }
    if (argc != 6 || (events = atol(argv[2])) <= 0 || (threads = atol(argv[3])) <= 0 ||
        threads > 256 || (batch = atol(argv[4])) <= 0 || batch > 4096) {
        fprintf(stderr,
                "usage: dh-bench-idem [--legacy] REDIS_URL EVENTS THREADS(1-256) BATCH(1-4096) "
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
        jobs[t] = (job_t){argv[1], argv[5], events, threads, batch, t, legacy, 0};
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
