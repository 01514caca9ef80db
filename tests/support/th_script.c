/*
 * The scripted handler (th_script.h).
 */
#include "th_script.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "th_far.h"

/* cmocka.h needs these three first; keep clang-format from sorting it above them. */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
/* clang-format on */

typedef struct calls {
    char id[128];
    int n;
} calls_t;

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cv = PTHREAD_COND_INITIALIZER;
static int g_unblocked;
static calls_t g_calls[64];
static size_t g_ncalls;

/* Count one performance of \p id; returns how many there were, this one included. */
static int performed(const char *id)
{
    int n = 0;

    pthread_mutex_lock(&g_mu);
    size_t i = 0;
    while (i < g_ncalls && strcmp(g_calls[i].id, id) != 0) {
        i++;
    }
    if (i == g_ncalls && g_ncalls < 64) {
        snprintf(g_calls[g_ncalls++].id, sizeof(g_calls[0].id), "%s", id);
    }
    if (i < 64) {
        n = ++g_calls[i].n;
    }
    pthread_cond_broadcast(&g_cv);
    pthread_mutex_unlock(&g_mu);
    return n;
}

int th_script_performances(const char *id)
{
    int n = 0;

    pthread_mutex_lock(&g_mu);
    for (size_t i = 0; i < g_ncalls; i++) {
        if (strcmp(g_calls[i].id, id) == 0) {
            n = g_calls[i].n;
        }
    }
    pthread_mutex_unlock(&g_mu);
    return n;
}

typedef struct sev {
    char script[32];
    char id[128];
} sev_t;

static dh_result_t s_decode(void *shared, const dh_msg_t *msg, dh_event_t *ev, dh_lane_t *lane)
{
    sev_t *e = calloc(1, sizeof(*e));

    (void)shared;
    if (!e) {
        return DH_RESULT_FATAL;
    }
    if (sscanf(msg->payload ? msg->payload : "", "%31s %127s", e->script, e->id) != 2 ||
        dh_event_set_effect(ev, "%s", e->id)) {
        free(e);
        dh_lane_fail(lane, "decode", "not \"<script> <id>\"");
        return DH_RESULT_DEAD_LETTER;
    }
    ev->data = e;
    return DH_RESULT_DONE;
}

/* The connection the done record will use is closed under the lane: the record fails once. */
static void kill_own_connection(dh_lane_t *lane)
{
    redisReply *r = NULL;
    long long id;

    assert_int_equal(dh_redis_commandf(dh_lane_redis(lane), &r, "CLIENT ID"), DH_OK);
    id = r->integer;
    freeReplyObject(r);
    r = NULL;
    /* Its own reply may be lost with the connection: what counts is that it is gone. */
    if (dh_redis_commandf(dh_lane_redis(lane), &r, "CLIENT KILL ID %lld SKIPME no", id) == DH_OK) {
        freeReplyObject(r);
    }
}

static void block(void)
{
    pthread_mutex_lock(&g_mu);
    while (!g_unblocked) {
        pthread_cond_wait(&g_cv, &g_mu);
    }
    pthread_mutex_unlock(&g_mu);
}

void th_script_unblock(void)
{
    pthread_mutex_lock(&g_mu);
    g_unblocked = 1;
    pthread_cond_broadcast(&g_cv);
    pthread_mutex_unlock(&g_mu);
}

int th_script_await(const char *id, int n, int timeout_ms)
{
    struct timespec ts;
    int ok;

    th_abstime(timeout_ms, &ts);
    pthread_mutex_lock(&g_mu);
    for (;;) {
        int have = 0;

        for (size_t i = 0; i < g_ncalls; i++) {
            have = strcmp(g_calls[i].id, id) == 0 ? g_calls[i].n : have;
        }
        ok = have >= n;
        if (ok || pthread_cond_timedwait(&g_cv, &g_mu, &ts)) {
            break;
        }
    }
    pthread_mutex_unlock(&g_mu);
    return ok;
}

static dh_result_t s_handle(void *shared, const dh_msg_t *msg, void *data, dh_lane_t *lane)
{
    sev_t *e = data;
    int n = performed(e->id);
    int limit = 0;

    (void)shared, (void)msg;
    if (strcmp(e->script, "fatal") == 0) {
        dh_lane_fail(lane, "internal", "scripted fatal");
        return DH_RESULT_FATAL;
    }
    if (strcmp(e->script, "term") == 0) {
        raise(SIGTERM);
        return DH_RESULT_DONE;
    }
    if (strcmp(e->script, "block") == 0) {
        block();
        return DH_RESULT_DONE;
    }
    if (sscanf(e->script, "sleep%d", &limit) == 1) {
        struct timespec ts = {limit / 1000, (long)(limit % 1000) * 1000000L};

        nanosleep(&ts, NULL); /* a slow far side: the batch outlasts a short lease */
        return DH_RESULT_DONE;
    }
    if (strcmp(e->script, "produce") == 0) {
        const char *hdrs[] = {"x-from", "scripted", NULL};

        if (dh_lane_produce(lane, TH_SCRIPT_OUT, e->id, strlen(e->id), e->id, strlen(e->id), hdrs,
                            10000)) {
            dh_lane_fail(lane, "produce", "dh_lane_produce failed");
            return DH_RESULT_RETRY;
        }
        return DH_RESULT_DONE;
    }
    if (strcmp(e->script, "killrec") == 0) {
        kill_own_connection(lane);
        return DH_RESULT_DONE;
    }
    if (strcmp(e->script, "dead") == 0) {
        dh_lane_fail(lane, "schema", "scripted dead letter");
        return DH_RESULT_DEAD_LETTER;
    }
    if (strcmp(e->script, "retry") == 0 || sscanf(e->script, "retry%d", &limit) == 1) {
        if (limit == 0 || n <= limit) {
            dh_lane_fail(lane, "http", "scripted failure %d", n);
            return DH_RESULT_RETRY;
        }
    } else if (sscanf(e->script, "auth%d", &limit) == 1 && n <= limit) {
        dh_lane_fail(lane, "auth", "scripted refusal %d", n);
        return DH_RESULT_RETRY;
    } else if (sscanf(e->script, "waitretry%d", &limit) == 1 && n <= limit + 1) {
        if (n == limit + 1) {
            dh_lane_fail(lane, "http", "scripted failure after %d waits", limit);
            return DH_RESULT_RETRY;
        }
        dh_lane_retry_after(lane, 5);
        return DH_RESULT_WAIT;
    } else if (sscanf(e->script, "wait%d", &limit) == 1 && n <= limit) {
        dh_lane_retry_after(lane, 5);
        return DH_RESULT_WAIT;
    }
    return DH_RESULT_DONE;
}

static void s_release(void *data)
{
    free(data);
}

static const char *const topics[] = {TH_SCRIPT_TOPIC, NULL};
const dh_handler_t th_script_handler = {
    .name = "scripted",
    .topics = topics,
    .decode = s_decode,
    .handle = s_handle,
    .release = s_release,
};

const char *th_script_event(const char *run_id, const char *script, const char *name, char *id,
                            size_t idsz, char *payload, size_t psz)
{
    snprintf(id, idsz, "%s-%s", name, run_id);
    snprintf(payload, psz, "%s %s", script, id);
    return payload;
}
