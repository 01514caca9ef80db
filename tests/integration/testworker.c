/*
 * dh-testworker: a worker whose handler records its effects in Redis, so integration
 * tests can check what happened and how often. Events are JSON:
 *   {"id": "...", "seq": N, "fail": K, "poison": true, "sleep_ms": M}
 * id is the effect id; seq orders a key's events; the first K attempts fail
 * transiently; poison is rejected permanently; sleep_ms imitates a remote call.
 * The effect models a far side that honours idempotency keys, as Shopify and the WMS do:
 * one atomic script records every attempt that reaches it (<ns>:attempts, hash id ->
 * count) and applies the effect only for a key it has not seen (<ns>:performed, hash id ->
 * times applied; <ns>:order:<key>, list of seq in applied order; <ns>:done, ids in
 * completion order). The key is the runtime's far-side key of the effect
 * (dh_idem_far_key), so attempts > 1 show where the runtime repeated an effect (a crash,
 * an unknown outcome) and performed > 1 would show one applied twice.
 * Also <ns>:decoded (deliveries decoded) and <ns>:tries (hash id -> handler calls).
 * DH_TEST_MODE=noop skips the records (benchmarks: only the runtime's own work).
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dockhand/idem.h"
#include "dockhand/log.h"
#include "dockhand/worker.h"

static const dh_config_var_t test_vars[] = {
    {"DH_TEST_NS", DH_CFG_STRING, "dhtest", 0, 0, NULL, "Redis key prefix of the records."},
    {"DH_TEST_MODE", DH_CFG_ENUM, "record", 0, 0, "record|noop", "record effects or not."},
    {"DH_TEST_SLEEP_MS", DH_CFG_INT, "0", 0, 60000, NULL, "Extra handler time per event."},
    DH_CONFIG_END,
};

static const char *const test_topics[] = {"dh.test", NULL};

/* KEYS: far-side key record, attempts, performed, order list, done list; ARGV: id, seq. */
static const char FAR_SIDE_LUA[] =
    "redis.call('HINCRBY', KEYS[2], ARGV[1], 1) "
    "if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', 86400) then return 0 end "
    "redis.call('HINCRBY', KEYS[3], ARGV[1], 1) "
    "redis.call('RPUSH', KEYS[4], ARGV[2]) "
    "redis.call('RPUSH', KEYS[5], ARGV[1]) "
    "return 1";
static const dh_config_var_t *const test_tables[] = {test_vars, NULL};

struct tev {
    char id[200];
    long long seq;
    long long fail;
    int poison;
    long long sleep_ms;
};

struct shared {
    char ns[128];
    int noop;
    long long sleep_ms;
};

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
    *out = s;
    return DH_OK;
}

static void t_fini(void *shared)
{
    free(shared);
}

static dh_result_t t_decode(void *shared, const dh_msg_t *msg, dh_event_t *ev, dh_lane_t *lane)
{
    struct shared *s = shared;
    json_error_t jerr;
    json_t *root = json_loadb(msg->payload ? msg->payload : "", msg->len, 0, &jerr);
    const char *id = json_string_value(json_object_get(root, "id"));
    struct tev *t;

    if (!s->noop) {
        redisReply *r = NULL;

        if (dh_redis_commandf(dh_lane_redis(lane), &r, "INCR %s:decoded", s->ns) == DH_OK) {
            freeReplyObject(r);
        }
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
    t->poison = json_is_true(json_object_get(root, "poison"));
    t->sleep_ms = json_integer_value(json_object_get(root, "sleep_ms"));
    /* Scoped by the run's namespace so runs that reuse ids do not share records. */
    snprintf(ev->effect_id, sizeof(ev->effect_id), "%s:%s", s->ns, id);
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
    if (t->fail > 0) {
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
    }
    /* The effect at the "far side": one atomic script, so its outcome is all or nothing
     * even when the reply is lost (then the runtime retries with the same key). */
    char far[37], kfar[256], kattempts[160], kperformed[160], korder[400], kdone[160], seq[32];
    dh_idem_far_key(s->ns, t->id, far);
    snprintf(kfar, sizeof(kfar), "%s:far:%s", s->ns, far);
    snprintf(kattempts, sizeof(kattempts), "%s:attempts", s->ns);
    snprintf(kperformed, sizeof(kperformed), "%s:performed", s->ns);
    snprintf(korder, sizeof(korder), "%s:order:%.*s", s->ns, (int)msg->key_len,
             msg->key ? msg->key : "");
    snprintf(kdone, sizeof(kdone), "%s:done", s->ns);
    snprintf(seq, sizeof(seq), "%lld", t->seq);
    const char *argv[] = {kfar, kattempts, kperformed, korder, kdone, t->id, seq};
    if (dh_redis_eval(rd, FAR_SIDE_LUA, 5, 7, argv, NULL, &r)) {
        dh_lane_fail(lane, "redis", "%s", dh_redis_errstr(rd));
        return DH_RESULT_RETRY;
    }
    freeReplyObject(r);
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
