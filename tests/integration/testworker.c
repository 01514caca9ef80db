/*
 * dh-testworker: a worker whose handler performs a test effect at a "far side" that is
 * kept apart from the runtime's own records, so integration tests can count every
 * performance. Events are JSON:
 *   {"id": "...", "seq": N, "fail": K, "fail_until": P, "poison": true, "sleep_ms": M}
 * id is the effect id; seq orders a key's events; the first K attempts fail transiently;
 * fail_until: attempts fail transiently until the far side holds P performances of other
 * events (a key that must wait while others flow); poison is rejected permanently;
 * sleep_ms imitates a remote call.
 * The far side is an append-only journal file (DH_TEST_JOURNAL), one write() with
 * O_APPEND per line, shared by every process of a test run and never touched by Redis:
 *   D <pid> <id>                      a delivery decoded ("-" when not a test event)
 *   P <pid> <key> <seq> <id> <farkey> a performance of the effect
 * Every performance is recorded, a repeat included: a real far side absorbs a repeat by
 * its idempotency key (dh_idem_far_key), so tests count repeats separately and bound
 * them, and a runtime that stopped de-duplicating shows up as a second P line.
 * <ns>:tries (Redis hash id -> failed attempts) drives "fail".
 * DH_TEST_MODE=noop skips the journal (benchmarks: only the runtime's own work).
 */
#include <stdarg.h>

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dockhand/idem.h"
#include "dockhand/log.h"
#include "dockhand/worker.h"

static const dh_config_var_t test_vars[] = {
    {"DH_TEST_NS", DH_CFG_STRING, "dhtest", 0, 0, NULL, "Redis key prefix of the failure counts."},
    {"DH_TEST_JOURNAL", DH_CFG_STRING, "", 0, 0, NULL,
     "Append-only far-side journal file (empty: none)."},
    {"DH_TEST_MODE", DH_CFG_ENUM, "record", 0, 0, "record|noop", "journal effects or not."},
    {"DH_TEST_SLEEP_MS", DH_CFG_INT, "0", 0, 60000, NULL, "Extra handler time per event."},
    DH_CONFIG_END,
};

static const char *const test_topics[] = {"dh.test", NULL};

static const dh_config_var_t *const test_tables[] = {test_vars, NULL};

struct tev {
    char id[200];
    long long seq;
    long long fail;
    long long fail_until;
    int poison;
    long long sleep_ms;
};

struct shared {
    char ns[128];
    char journal[512];
    int fd; /* the journal, O_APPEND; -1 when none */
    int noop;
    long long sleep_ms;
};

/* One line, one write(): O_APPEND keeps lines of concurrent writers whole. */
static int journal_add(struct shared *s, const char *fmt, ...) DH_PRINTF(2, 3);
static int journal_add(struct shared *s, const char *fmt, ...)
{
    char line[768];
    va_list ap;
    int n;

    if (s->fd < 0) {
        return 0;
    }
    va_start(ap, fmt);
    n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(line)) {
        return -1;
    }
    return write(s->fd, line, (size_t)n) == n ? 0 : -1;
}

/* Performances of other events the far side holds (fail_until). */
static long long journal_performed(const struct shared *s, const char *except_id)
{
    char line[768], id[256];
    long long n = 0;
    FILE *f = fopen(s->journal, "r");

    while (f && fgets(line, sizeof(line), f)) {
        if (line[0] == 'P' && sscanf(line, "P %*d %*s %*d %255s", id) == 1 &&
            strcmp(id, except_id)) {
            n++;
        }
    }
    if (f) {
        fclose(f);
    }
    return n;
}

static dh_err_t t_init(const dh_worker_ctx_t *ctx, void **out, char *errstr, size_t errstr_size)
{
    const dh_config_t *cfg = ctx->cfg;
    struct shared *s = calloc(1, sizeof(*s));

    if (!s) {
        snprintf(errstr, errstr_size, "out of memory");
        return DH_ERR_NOMEM;
    }
    snprintf(s->ns, sizeof(s->ns), "%s", dh_config_get(cfg, "DH_TEST_NS"));
    s->noop = !strcmp(dh_config_get(cfg, "DH_TEST_MODE"), "noop");
    s->sleep_ms = dh_config_int(cfg, "DH_TEST_SLEEP_MS");
    snprintf(s->journal, sizeof(s->journal), "%s", dh_config_get(cfg, "DH_TEST_JOURNAL"));
    s->fd = -1;
    if (s->journal[0] && !s->noop) {
        s->fd = open(s->journal, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (s->fd < 0) {
            snprintf(errstr, errstr_size, "%s: %s", s->journal, strerror(errno));
            free(s);
            return DH_ERR_CONFIG;
        }
    }
    *out = s;
    return DH_OK;
}

static void t_fini(void *shared)
{
    struct shared *s = shared;

    if (s && s->fd >= 0) {
        close(s->fd);
    }
    free(s);
}

static dh_result_t t_decode(void *shared, const dh_msg_t *msg, dh_event_t *ev, dh_lane_t *lane)
{
    struct shared *s = shared;
    json_error_t jerr;
    json_t *root = json_loadb(msg->payload ? msg->payload : "", msg->len, 0, &jerr);
    const char *id = json_string_value(json_object_get(root, "id"));
    struct tev *t;

    if (journal_add(s, "D %d %s\n", (int)getpid(), id && !strpbrk(id, " \n") ? id : "-")) {
        json_decref(root);
        return DH_RESULT_FATAL; /* the test could no longer count */
    }
    if (!root || !id) {
        dh_lane_fail(lane, "decode", "not a test event: %s", root ? "no id" : jerr.text);
        json_decref(root);
        return DH_RESULT_DEAD_LETTER;
    }
    t = calloc(1, sizeof(*t));
    if (!t) {
        json_decref(root);
        return DH_RESULT_FATAL;
    }
    snprintf(t->id, sizeof(t->id), "%s", id);
    t->seq = json_integer_value(json_object_get(root, "seq"));
    t->fail = json_integer_value(json_object_get(root, "fail"));
    t->fail_until = json_integer_value(json_object_get(root, "fail_until"));
    t->poison = json_is_true(json_object_get(root, "poison"));
    t->sleep_ms = json_integer_value(json_object_get(root, "sleep_ms"));
    /* Scoped by the run's namespace so runs that reuse ids do not share records. */
    if (dh_event_set_effect(ev, "%s:%s", s->ns, id) != DH_OK) {
        free(t);
        json_decref(root);
        dh_lane_fail(lane, "internal", "cannot build the effect id");
        return DH_RESULT_FATAL;
    }
    ev->data = t;
    json_decref(root);
    return DH_RESULT_DONE;
}

static dh_result_t t_handle(void *shared, const dh_msg_t *msg, void *data, dh_lane_t *lane)
{
    struct shared *s = shared;
    struct tev *t = data;
    redisReply *r = NULL;
    dh_redis_t *rd = dh_lane_redis(lane);

    long long sleep_ms = t->sleep_ms + s->sleep_ms;

    if (sleep_ms > 0) {
        struct timespec ts = {sleep_ms / 1000, (sleep_ms % 1000) * 1000000};

        nanosleep(&ts, NULL);
    }
    if (s->noop) {
        return DH_RESULT_DONE;
    }
    if (t->poison) {
        dh_lane_fail(lane, "rejected", "poison event %s", t->id);
        return DH_RESULT_DEAD_LETTER;
    }
    if (t->fail > 0 || t->fail_until > 0) {
        if (dh_redis_commandf(rd, &r, "HINCRBY %s:tries %s 1", s->ns, t->id)) {
            dh_lane_fail(lane, "redis", "%s", dh_redis_errstr(rd));
            return DH_RESULT_RETRY;
        }
        long long tries = r->integer;

        freeReplyObject(r);
        if (tries <= t->fail) {
            dh_lane_fail(lane, "transient", "simulated failure %lld of %lld", tries, t->fail);
            return DH_RESULT_RETRY;
        }
        if (t->fail_until > 0 && journal_performed(s, t->id) < t->fail_until) {
            dh_lane_fail(lane, "transient", "waiting for %lld other effects", t->fail_until);
            return DH_RESULT_RETRY;
        }
    }
    /* The effect at the far side: every performance is one journal line. */
    char far[37];
    dh_lane_far_key(lane, s->ns, t->id, far); /* a re-apply (dh-reapply) gets a new one */
    if (journal_add(s, "P %d %.*s %lld %s %s\n", (int)getpid(), (int)msg->key_len,
                    msg->key_len ? msg->key : "-", t->seq, t->id, far)) {
        dh_lane_fail(lane, "journal", "cannot append to %s", s->journal);
        return DH_RESULT_FATAL;
    }
    return DH_RESULT_DONE;
}

static void t_release(void *data)
{
    free(data);
}

/* dh-testworker-coalesce is built from this file with DH_TEST_COALESCE: events are
 * treated as snapshots (only the newest queued one per key is handled). */
#ifndef DH_TEST_COALESCE
#define DH_TEST_COALESCE 0
#endif

static const dh_handler_t test_handler = {
    .name = "testworker",
    .coalesce = DH_TEST_COALESCE,
    .topics = test_topics,
    .config = test_tables,
    .init = t_init,
    .fini = t_fini,
    .decode = t_decode,
    .handle = t_handle,
    .release = t_release,
};

int main(int argc, char **argv)
{
    return dh_worker_main(argc, argv, &test_handler);
}
