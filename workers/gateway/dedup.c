/*
 * Redis-backed "seen" set for webhook delivery ids. See dedup.h for why it is only an
 * optimisation: a Redis outage, an expired key or two concurrent deliveries of one id
 * all merely let a duplicate through to the idempotent consumers.
 */
#include "dedup.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "dockhand/log.h"
#include "dockhand/redis.h"

/* After a Redis failure, skip suppression this long instead of paying a timeout per request. */
#define BACKOFF_MS 5000

struct dh_gw_dedup_s {
    pthread_mutex_t mu;
    dh_redis_t *redis;
    long long ttl_s;
    long long skip_until_ms; /* under mu */
};

static long long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

dh_err_t dh_gw_dedup_new(const dh_gw_dedup_opts_t *opts, dh_gw_dedup_t **out, char *errstr,
                         size_t errstr_size)
{
    dh_redis_opts_t ro = {
        .url = opts->redis_url, .password = opts->password, .timeout_ms = opts->timeout_ms};
    dh_gw_dedup_t *d = NULL;

    *out = NULL;
    if (!opts->redis_url || !*opts->redis_url || opts->ttl_s <= 0) {
        return DH_OK;
    }
    d = calloc(1, sizeof(*d));
    if (!d) {
        snprintf(errstr, errstr_size, "out of memory");
        return DH_ERR_NOMEM;
    }
    d->redis = dh_redis_new(&ro, errstr, errstr_size);
    if (!d->redis) {
        free(d);
        return DH_ERR_CONFIG;
    }
    pthread_mutex_init(&d->mu, NULL);
    d->ttl_s = opts->ttl_s;
    *out = d;
    return DH_OK;
}

void dh_gw_dedup_destroy(dh_gw_dedup_t *d)
{
    if (!d) {
        return;
    }
    dh_redis_destroy(d->redis);
    pthread_mutex_destroy(&d->mu);
    free(d);
}

/* Run one command under the lock, honouring the back-off. Returns the reply or NULL. */
static redisReply *run(dh_gw_dedup_t *d, const char *what, int argc, const char **argv)
{
    redisReply *reply = NULL;
    long long now = now_ms();

    pthread_mutex_lock(&d->mu);
    if (now < d->skip_until_ms) {
        goto out;
    }
    if (dh_redis_command(d->redis, argc, argv, NULL, &reply)) {
        DH_LOG(DH_LOG_WARN, "dedup", "%s: %s (suppression paused for %d ms)", what,
               dh_redis_errstr(d->redis), BACKOFF_MS);
        d->skip_until_ms = now + BACKOFF_MS;
        reply = NULL;
    }
out:
    pthread_mutex_unlock(&d->mu);
    return reply;
}

int dh_gw_dedup_seen(dh_gw_dedup_t *d, const char *source, const char *id)
{
    char key[512];
    redisReply *r;
    int seen;

    if (!d || !id || !*id) {
        return 0;
    }
    snprintf(key, sizeof(key), "dh:gw:seen:%s:%s", source, id);
    r = run(d, "EXISTS", 2, (const char *[]){"EXISTS", key});
    seen = r && r->type == REDIS_REPLY_INTEGER && r->integer > 0;
    if (r) {
        freeReplyObject(r);
    }
    return seen;
}

void dh_gw_dedup_record(dh_gw_dedup_t *d, const char *source, const char *id)
{
    char key[512], ttl[32];
    redisReply *r;

    if (!d || !id || !*id) {
        return;
    }
    snprintf(key, sizeof(key), "dh:gw:seen:%s:%s", source, id);
    snprintf(ttl, sizeof(ttl), "%lld", d->ttl_s);
    r = run(d, "SET", 5, (const char *[]){"SET", key, "1", "EX", ttl});
    if (r) {
        freeReplyObject(r);
    }
}
