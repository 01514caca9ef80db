/*
 * Idempotency records in Redis (see dockhand/idem.h for the states). Per effect a string
 * key "<ns>:idem:<effect>" holding "b:<batch>" (retention TTL); per batch a string key
 * "<ns>:idem-batch:<batch>" holding "lease:<owner>" (lease TTL), then "done" (retention).
 *
 * Why a record per batch: an effect's record is written once (at its claim) and never
 * again; finishing a batch of 256 effects is one SET instead of 256. Redis then does one
 * plain command per effect instead of two, which is what bounds a no-op worker.
 *
 *   claim:   SET <batch key> lease:<owner> PX <lease_ms>, then per effect
 *            SET <key> b:<batch> NX EX <retention_s> GET, all in one pipelined buffer (no
 *            Lua). nil: fresh, ours; "done": a duplicate from before batches. Any other
 *            value (a record pointing at another batch, a lease from before batches) goes,
 *            for those keys only, to CLAIM_LUA (a second round trip), which reads the batch
 *            that record points at and decides atomically: done, another owner's live lease
 *            (its remaining ms), or lapsed (the record is taken over).
 *   finish:  SET <batch key> done EX <retention_s> GET when every claimed effect happened;
 *            FINISH_LUA when some did not: their records are deleted (only where they still
 *            point at this batch) in the same atomic step that marks the batch done, so an
 *            effect that did not happen can never read as done.
 *
 * Records from before batches ("lease:<owner>" and "done" on the effect key) are still
 * understood, so the upgrade needs no migration. A replica still running the older code
 * reads "b:<batch>" as another owner's lease and waits: safe, and the effect goes ahead
 * once that replica is upgraded.
 *
 * CLAIM_LUA reads batch keys it is not given as KEYS (it learns them from the values): fine
 * on one Redis server, not on Redis Cluster (there the namespace would have to be a hash
 * tag "{ns}" and the keys declared). This module decides nothing about retries: it reports
 * states and the caller's runtime acts on them.
 */
/* SHA1_Init & co. are deprecated in OpenSSL 3 but, unlike the EVP API, never allocate,
 * so dh_idem_far_key() cannot fail (it returns void by contract). */
#define OPENSSL_SUPPRESS_DEPRECATED 1

#include "dockhand/idem.h"

#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "idem_internal.h"
#include "redis_internal.h"

#define OWNER_MAX  128
#define CHUNK_KEYS 512 /* keys per claim script call: bounds the time Redis is blocked */
#define CLAIM_ARGS 5   /* after the keys: batch, owner, lease_ms, retention_s, batch prefix */

/* Reply codes of the claim script, one per key. */
#define CLAIM_CLAIMED (-1)
#define CLAIM_DONE    (-2) /* >= 1: leased by another owner, the lease's remaining ms */

/* claim, per key whose SET NX found a value other than "done". The record is taken over
 * (pointed at our batch) when it is gone, points at a batch with no record (its owner
 * crashed and the lease expired) or at a batch of our own (a retry on this lane: that batch
 * is over), or is our own lease from before batches. A value with no TTL cannot be a live
 * lease (every lease is set with one), so it is given one instead of blocking forever. */
static const char CLAIM_LUA[] = "local mine = 'b:' .. ARGV[1]\n"
                                "local lease = 'lease:' .. ARGV[2]\n"
                                "local out = {}\n"
                                "for i, k in ipairs(KEYS) do\n"
                                "  local v = redis.call('GET', k)\n"
                                "  local code = -1\n"
                                "  local held = k\n"
                                "  if v and string.sub(v, 1, 2) == 'b:' and v ~= mine then\n"
                                "    held = ARGV[5] .. string.sub(v, 3)\n"
                                "    v = redis.call('GET', held)\n"
                                "  end\n"
                                "  if v == 'done' then\n"
                                "    code = -2\n"
                                "  elseif v and v ~= mine and v ~= lease then\n"
                                "    code = redis.call('PTTL', held)\n"
                                "    if code < 0 then\n"
                                "      redis.call('PEXPIRE', held, ARGV[3])\n"
                                "      code = tonumber(ARGV[3])\n"
                                "    end\n"
                                "    if code < 1 then code = 1 end\n"
                                "  end\n"
                                "  if code == -1 then\n"
                                "    redis.call('SET', k, mine, 'EX', ARGV[4])\n"
                                "  end\n"
                                "  out[i] = code\n"
                                "end\n"
                                "return out\n";

/* finish when some claimed effects did not happen: KEYS[1] is the batch's record, the rest
 * those effects' records. Returns 1 when the batch's lease was still ours. */
static const char FINISH_LUA[] = "local mine = 'b:' .. ARGV[1]\n"
                                 "for i = 2, #KEYS do\n"
                                 "  if redis.call('GET', KEYS[i]) == mine then\n"
                                 "    redis.call('DEL', KEYS[i])\n"
                                 "  end\n"
                                 "end\n"
                                 "local held = redis.call('GET', KEYS[1]) == 'lease:' .. ARGV[2]\n"
                                 "if ARGV[4] == '1' then\n"
                                 "  redis.call('SET', KEYS[1], 'done', 'EX', ARGV[3])\n"
                                 "elseif held then\n"
                                 "  redis.call('DEL', KEYS[1])\n"
                                 "end\n"
                                 "return held and 1 or 0\n";

/* renew: the batch's lease is extended only while it is still ours; a lapsed lease is never
 * revived (another owner may have taken the batch's effects since). */
static const char RENEW_LUA[] = "if redis.call('GET', KEYS[1]) == ARGV[1] then\n"
                                "  redis.call('PEXPIRE', KEYS[1], ARGV[2])\n"
                                "  return 1\n"
                                "end\n"
                                "return 0\n";

/* The dockhand namespace for far-side keys (a random v4 UUID generated once). Never change
 * it: every far key would change, and a retry after the deploy would not be recognised. */
static const unsigned char DH_IDEM_NS_UUID[16] = {0xf8, 0x66, 0xbe, 0x89, 0x43, 0x8a, 0x4f, 0xc0,
                                                  0x86, 0xc6, 0x4b, 0xfd, 0x60, 0x78, 0x4c, 0x0d};

void dh_idem_batch_id(char out[DH_IDEM_BATCH_LEN + 1])
{
    static const char hex[] = "0123456789abcdef";
    static _Thread_local unsigned long long state;
    unsigned long long x;

    /* 64 random bits per batch: getrandom() seeds a per-thread xorshift once (a syscall
     * per batch would be noticeable at 1,000 batches/s); the seed mixes in the pid and
     * the clock should getrandom() be unavailable. */
    if (state == 0) {
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        if (getrandom(&state, sizeof(state), 0) != (ssize_t)sizeof(state)) {
            state = 0;
        }
        state ^= ((unsigned long long)ts.tv_nsec << 20) ^ (unsigned long long)ts.tv_sec ^
                 ((unsigned long long)getpid() << 40) ^ (unsigned long long)(uintptr_t)&state;
        state |= 1;
    }
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    x = state * 0x2545F4914F6CDD1DULL;
    for (int i = DH_IDEM_BATCH_LEN - 1; i >= 0; i--, x >>= 4) {
        out[i] = hex[x & 0xf];
    }
    out[DH_IDEM_BATCH_LEN] = '\0';
}

static dh_err_t bad_reply(dh_redis_t *r, const char *what, const redisReply *reply)
{
    if (reply->type == REDIS_REPLY_ERROR) {
        dh_redis_set_error(r, "idem %s: %.*s", what, (int)reply->len, reply->str);
    } else {
        dh_redis_set_error(r, "idem %s: unexpected reply type %d", what, reply->type);
    }
    return DH_ERR_PROTO;
}

static int batch_ok(const char *batch)
{
    size_t len = batch != NULL ? strlen(batch) : 0;

    return len == DH_IDEM_BATCH_LEN && strspn(batch, "0123456789abcdef") == len;
}

/* Validates the call and returns in \p keys_bytes the room "<ns>:idem:<id>" keys need. */
static dh_err_t check_ids(dh_redis_t *r, const char *what, const char *ns, size_t n,
                          const char *const *effect_ids, size_t *keys_bytes)
{
    size_t ns_len = ns != NULL ? strlen(ns) : 0;

    *keys_bytes = 0;
    if (ns_len == 0 || ns_len > DH_IDEM_KEY_MAX / 2) {
        dh_redis_set_error(r, "idem %s: empty or overlong namespace", what);
        return DH_ERR_INVALID;
    }
    for (size_t i = 0; i < n; i++) {
        size_t len = effect_ids[i] != NULL ? strlen(effect_ids[i]) : 0;
        if (len == 0 || ns_len + sizeof(":idem:") + len > DH_IDEM_KEY_MAX) {
            dh_redis_set_error(r, "idem %s: effect id %zu is empty or too long (%zu bytes)", what,
                               i, len);
            return DH_ERR_INVALID;
        }
        *keys_bytes += ns_len + sizeof(":idem:") + len;
    }
    return DH_OK;
}

static dh_err_t check_owner(dh_redis_t *r, const char *what, const char *owner, const char *batch)
{
    size_t owner_len = owner != NULL ? strlen(owner) : 0;

    if (owner_len == 0 || owner_len > OWNER_MAX || !batch_ok(batch)) {
        dh_redis_set_error(r, "idem %s: bad owner or batch id", what);
        return DH_ERR_INVALID;
    }
    return DH_OK;
}

/* ---- a buffer of RESP commands ---------------------------------------------------------- */

typedef struct resp {
    dh_buf_t b;
    size_t ncmds;
} resp_t;

#define RESP_INIT                                                                                  \
    {                                                                                              \
        DH_BUF_INIT, 0                                                                             \
    }

/* One bulk argument made of two parts (c may be NULL). */
static void resp_arg2(resp_t *r, const char *a, size_t alen, const char *c, size_t clen)
{
    dh_buf_add_resp_len(&r->b, alen + clen);
    dh_buf_add(&r->b, a, alen);
    dh_buf_add(&r->b, c, clen);
    dh_buf_add(&r->b, "\r\n", 2);
}

static void resp_arg(resp_t *r, const char *a)
{
    dh_buf_add_resp_arg(&r->b, a, strlen(a));
}

/* The argument "<ns>:idem:<effect id>". */
static void key_arg(resp_t *r, const char *ns, const char *effect_id)
{
    size_t ns_len = strlen(ns), id_len = strlen(effect_id);

    dh_buf_add_resp_len(&r->b, ns_len + 6 + id_len);
    dh_buf_add(&r->b, ns, ns_len);
    dh_buf_add(&r->b, ":idem:", 6);
    dh_buf_add(&r->b, effect_id, id_len);
    dh_buf_add(&r->b, "\r\n", 2);
}

static void resp_cmd(resp_t *r, size_t argc)
{
    dh_buf_add_resp_cmd(&r->b, argc);
    r->ncmds++;
}

/* Sends the buffer; \p replies (b->ncmds of them) are the caller's to free. */
static dh_err_t resp_send(dh_redis_t *r, resp_t *b, const char *what, redisReply **replies)
{
    if (b->b.oom) {
        dh_redis_set_error(r, "idem %s: out of memory", what);
        return DH_ERR_NOMEM;
    }
    return dh_redis_pipeline_raw(r, b->b.p, b->b.len, b->ncmds, replies);
}

static void replies_free(redisReply **replies, size_t n)
{
    for (size_t i = 0; replies != NULL && i < n; i++) {
        freeReplyObject(replies[i]);
    }
    free(replies);
}

/* 1 when reply \p rep is the string "<prefix><rest>". */
static int reply_is(const redisReply *rep, const char *prefix, const char *rest)
{
    size_t pl = strlen(prefix), rl = rest != NULL ? strlen(rest) : 0;

    return rep->type == REDIS_REPLY_STRING && rep->len == pl + rl &&
           memcmp(rep->str, prefix, pl) == 0 && (rl == 0 || memcmp(rep->str + pl, rest, rl) == 0);
}

static void batch_key(char *out, size_t size, const char *ns, const char *batch)
{
    snprintf(out, size, DH_IDEM_BATCH_KEY_FMT, ns, batch);
}

/* ---- claim ------------------------------------------------------------------------------- */

/* CLAIM_LUA over the keys whose SET NX found a value other than "done" (the rare case), in
 * chunks of CHUNK_KEYS keys, pipelined. */
static dh_err_t claim_rest(dh_redis_t *r, const char *ns, const char *owner, const char *batch,
                           int64_t lease_ms, int64_t retention_s, size_t nrest, const size_t *rest,
                           const char *const *effect_ids, dh_idem_state_t *states, int64_t *wait_ms)
{
    size_t nchunks = (nrest + CHUNK_KEYS - 1) / CHUNK_KEYS, ns_len = strlen(ns);
    char lease[24], ret[24], prefix[DH_IDEM_KEY_MAX];
    char(*keys)[DH_IDEM_KEY_MAX] = malloc(nrest * sizeof(*keys));
    const char **argv = malloc((nrest + nchunks * CLAIM_ARGS) * sizeof(*argv));
    redisReply **replies = calloc(nchunks, sizeof(*replies));
    int *nkeys = malloc(nchunks * sizeof(*nkeys)), *argc = malloc(nchunks * sizeof(*argc));
    const char *const **starts = malloc(nchunks * sizeof(*starts));
    dh_err_t err = DH_OK;
    size_t a = 0;

    if (!keys || !argv || !replies || !nkeys || !argc || !starts) {
        dh_redis_set_error(r, "idem claim: out of memory");
        err = DH_ERR_NOMEM;
        goto out;
    }
    snprintf(lease, sizeof(lease), "%lld", (long long)lease_ms);
    snprintf(ret, sizeof(ret), "%lld", (long long)retention_s);
    snprintf(prefix, sizeof(prefix), "%.*s:idem-batch:", (int)ns_len, ns);
    for (size_t c = 0; c < nchunks; c++) {
        size_t first = c * CHUNK_KEYS, k = nrest - first < CHUNK_KEYS ? nrest - first : CHUNK_KEYS;

        starts[c] = argv + a;
        nkeys[c] = (int)k;
        argc[c] = (int)(k + CLAIM_ARGS);
        for (size_t j = first; j < first + k; j++) {
            snprintf(keys[j], DH_IDEM_KEY_MAX, "%s:idem:%s", ns, effect_ids[rest[j]]);
            argv[a++] = keys[j];
        }
        argv[a++] = batch;
        argv[a++] = owner;
        argv[a++] = lease;
        argv[a++] = ret;
        argv[a++] = prefix;
    }
    err = dh_redis_eval_pipeline_v(r, CLAIM_LUA, nchunks, nkeys, argc, starts, NULL, replies);
    for (size_t c = 0; c < nchunks && err == DH_OK; c++) {
        const redisReply *rep = replies[c];

        if (rep->type != REDIS_REPLY_ARRAY || rep->elements != (size_t)nkeys[c]) {
            err = bad_reply(r, "claim", rep);
            break;
        }
        for (size_t e = 0; e < rep->elements && err == DH_OK; e++) {
            size_t i = rest[c * CHUNK_KEYS + e];
            long long code = rep->element[e]->integer;

            if (rep->element[e]->type != REDIS_REPLY_INTEGER) {
                err = bad_reply(r, "claim", rep->element[e]);
            } else if (code == CLAIM_CLAIMED) {
                states[i] = DH_IDEM_CLAIMED;
            } else if (code == CLAIM_DONE) {
                states[i] = DH_IDEM_DONE;
            } else if (code >= 1) {
                states[i] = DH_IDEM_LEASED;
                if (wait_ms != NULL) {
                    wait_ms[i] = code;
                }
            } else {
                dh_redis_set_error(r, "idem claim: unexpected code %lld", code);
                err = DH_ERR_PROTO;
            }
        }
    }
    if (err == DH_OK || err == DH_ERR_PROTO) {
        for (size_t c = 0; c < nchunks; c++) {
            freeReplyObject(replies[c]);
        }
    }
out:
    free(keys);
    free(argv);
    free(replies);
    free(nkeys);
    free(argc);
    free(starts);
    return err;
}

dh_err_t dh_idem_claim(dh_redis_t *r, const char *ns, const char *owner, const char *batch,
                       int64_t lease_ms, int64_t retention_s, size_t n,
                       const char *const *effect_ids, dh_idem_state_t *states, int64_t *wait_ms)
{
    char bkey[DH_IDEM_KEY_MAX], mine[2 + DH_IDEM_BATCH_LEN + 1], num[24];
    size_t keys_bytes, nrest = 0, *rest = NULL;
    redisReply **replies = NULL;
    resp_t b = RESP_INIT;
    dh_err_t err;

    if (n == 0) {
        return DH_OK;
    }
    err = check_ids(r, "claim", ns, n, effect_ids, &keys_bytes);
    if (err == DH_OK) {
        err = check_owner(r, "claim", owner, batch);
    }
    if (err == DH_OK && (lease_ms <= 0 || retention_s <= 0)) {
        dh_redis_set_error(r, "idem claim: non-positive lease or retention");
        err = DH_ERR_INVALID;
    }
    if (err != DH_OK) {
        return err;
    }
    /* The batch's lease first: the claim script (second round trip) may read it. */
    batch_key(bkey, sizeof(bkey), ns, batch);
    (void)dh_buf_reserve(&b.b, keys_bytes + n * 96 + 256); /* one allocation: a failure latches */
    resp_cmd(&b, 5);
    resp_arg(&b, "SET");
    resp_arg(&b, bkey);
    resp_arg2(&b, "lease:", 6, owner, strlen(owner));
    resp_arg(&b, "PX");
    snprintf(num, sizeof(num), "%lld", (long long)lease_ms);
    resp_arg(&b, num);
    snprintf(mine, sizeof(mine), "b:%s", batch);
    snprintf(num, sizeof(num), "%lld", (long long)retention_s);
    for (size_t i = 0; i < n; i++) {
        /* SET <key> b:<batch> NX EX <retention_s> GET: set if absent, else the value found
         * (untouched: NX never overwrites). NX with GET: Redis 7.0+. */
        resp_cmd(&b, 7);
        resp_arg(&b, "SET");
        key_arg(&b, ns, effect_ids[i]);
        resp_arg(&b, mine);
        resp_arg(&b, "NX");
        resp_arg(&b, "EX");
        resp_arg(&b, num);
        resp_arg(&b, "GET");
    }
    replies = calloc(n + 1, sizeof(*replies));
    rest = malloc(n * sizeof(*rest));
    if (replies == NULL || rest == NULL) {
        b.b.oom = 1;
    }
    err = resp_send(r, &b, "claim", replies);
    dh_buf_free(&b.b);
    if (err == DH_OK && replies[0]->type != REDIS_REPLY_STATUS) {
        err = bad_reply(r, "claim", replies[0]);
    }
    for (size_t i = 0; i < n && err == DH_OK; i++) {
        const redisReply *rep = replies[i + 1];

        if (wait_ms != NULL) {
            wait_ms[i] = 0;
        }
        if (rep->type == REDIS_REPLY_NIL) {
            states[i] = DH_IDEM_CLAIMED;
        } else if (reply_is(rep, "done", NULL)) {
            states[i] = DH_IDEM_DONE;
        } else if (rep->type == REDIS_REPLY_STRING) {
            rest[nrest++] = i;
        } else {
            err = bad_reply(r, "claim", rep);
        }
    }
    replies_free(replies, err == DH_OK || err == DH_ERR_PROTO ? n + 1 : 0);
    if (err == DH_OK && nrest > 0) {
        err = claim_rest(r, ns, owner, batch, lease_ms, retention_s, nrest, rest, effect_ids,
                         states, wait_ms);
    }
    free(rest);
    return err;
}

/* ---- finish ------------------------------------------------------------------------------ */

dh_err_t dh_idem_finish(dh_redis_t *r, const char *ns, const char *owner, const char *batch,
                        int64_t retention_s, size_t ndone, size_t nfailed,
                        const char *const *failed_ids, int *lease_held)
{
    char bkey[DH_IDEM_KEY_MAX], ret[24];
    size_t keys_bytes;
    redisReply *rep = NULL;
    dh_err_t err;

    if (lease_held != NULL) {
        *lease_held = 1;
    }
    if (ndone == 0 && nfailed == 0) {
        return DH_OK;
    }
    err = check_ids(r, "finish", ns, nfailed, failed_ids, &keys_bytes);
    if (err == DH_OK) {
        err = check_owner(r, "finish", owner, batch);
    }
    if (err == DH_OK && retention_s <= 0) {
        dh_redis_set_error(r, "idem finish: non-positive retention");
        err = DH_ERR_INVALID;
    }
    if (err != DH_OK) {
        return err;
    }
    batch_key(bkey, sizeof(bkey), ns, batch);
    snprintf(ret, sizeof(ret), "%lld", (long long)retention_s);
    if (nfailed == 0) {
        /* Always written (the effects happened); the old value says whether the lease was
         * still ours. */
        const char *argv[] = {"SET", bkey, "done", "EX", ret, "GET"};

        err = dh_redis_command(r, 6, argv, NULL, &rep);
        if (err == DH_OK && rep->type != REDIS_REPLY_STRING && rep->type != REDIS_REPLY_NIL) {
            err = bad_reply(r, "finish", rep);
        } else if (err == DH_OK && lease_held != NULL) {
            *lease_held = reply_is(rep, "lease:", owner);
        }
    } else {
        char(*keys)[DH_IDEM_KEY_MAX] = malloc(nfailed * sizeof(*keys));
        const char **argv = malloc((nfailed + 5) * sizeof(*argv));

        if (keys == NULL || argv == NULL) {
            dh_redis_set_error(r, "idem finish: out of memory");
            err = DH_ERR_NOMEM;
        } else {
            argv[0] = bkey;
            for (size_t i = 0; i < nfailed; i++) {
                snprintf(keys[i], DH_IDEM_KEY_MAX, "%s:idem:%s", ns, failed_ids[i]);
                argv[i + 1] = keys[i];
            }
            argv[nfailed + 1] = batch;
            argv[nfailed + 2] = owner;
            argv[nfailed + 3] = ret;
            argv[nfailed + 4] = ndone > 0 ? "1" : "0";
            err =
                dh_redis_eval(r, FINISH_LUA, (int)nfailed + 1, (int)nfailed + 5, argv, NULL, &rep);
        }
        if (err == DH_OK && rep->type != REDIS_REPLY_INTEGER) {
            err = bad_reply(r, "finish", rep);
        } else if (err == DH_OK && lease_held != NULL) {
            *lease_held = rep->integer == 1;
        }
        free(keys);
        free(argv);
    }
    if (rep != NULL) {
        freeReplyObject(rep);
    }
    return err;
}

/* ---- renew ------------------------------------------------------------------------------- */

dh_err_t dh_idem_renew(dh_redis_t *r, const char *ns, const char *owner, const char *batch,
                       int64_t lease_ms, int *lease_held)
{
    char bkey[DH_IDEM_KEY_MAX], lease[OWNER_MAX + 8], ms[24];
    redisReply *rep = NULL;
    dh_err_t err;

    *lease_held = 0;
    err = check_owner(r, "renew", owner, batch);
    if (err == DH_OK && lease_ms <= 0) {
        dh_redis_set_error(r, "idem renew: non-positive lease");
        err = DH_ERR_INVALID;
    }
    if (err != DH_OK) {
        return err;
    }
    batch_key(bkey, sizeof(bkey), ns, batch);
    snprintf(lease, sizeof(lease), "lease:%s", owner);
    snprintf(ms, sizeof(ms), "%lld", (long long)lease_ms);
    const char *argv[] = {bkey, lease, ms};

    err = dh_redis_eval(r, RENEW_LUA, 1, 3, argv, NULL, &rep);
    if (err == DH_OK && rep->type != REDIS_REPLY_INTEGER) {
        err = bad_reply(r, "renew", rep);
    } else if (err == DH_OK) {
        *lease_held = rep->integer == 1;
    }
    if (rep != NULL) {
        freeReplyObject(rep);
    }
    return err;
}

/* ---- lookup ------------------------------------------------------------------------------ */

/* What a record's value says by itself: done, a lease from before batches, or "b:<batch>"
 * (1 returned, \p batch filled) to be read in the batch's record. */
static int value_state(const redisReply *v, dh_idem_state_t *st, char *batch)
{
    batch[0] = '\0';
    if (v->type != REDIS_REPLY_STRING) {
        *st = DH_IDEM_ABSENT;
    } else if (reply_is(v, "done", NULL)) {
        *st = DH_IDEM_DONE;
    } else if (v->len == 2 + DH_IDEM_BATCH_LEN && memcmp(v->str, "b:", 2) == 0) {
        memcpy(batch, v->str + 2, DH_IDEM_BATCH_LEN);
        batch[DH_IDEM_BATCH_LEN] = '\0';
        return 1;
    } else {
        *st = DH_IDEM_LEASED;
    }
    return 0;
}

dh_err_t dh_idem_lookup(dh_redis_t *r, const char *ns, size_t n, const char *const *effect_ids,
                        dh_idem_state_t *states, char (*batches)[DH_IDEM_BATCH_LEN + 1])
{
    char(*bat)[DH_IDEM_BATCH_LEN + 1] = NULL;
    size_t keys_bytes, nb = 0, *map = NULL;
    redisReply **replies = NULL;
    resp_t b = RESP_INIT;
    dh_err_t err;

    if (n == 0) {
        return DH_OK;
    }
    err = check_ids(r, "lookup", ns, n, effect_ids, &keys_bytes);
    if (err != DH_OK) {
        return err;
    }
    for (size_t i = 0; i < n; i++) {
        resp_cmd(&b, 2);
        resp_arg(&b, "GET");
        key_arg(&b, ns, effect_ids[i]);
    }
    bat = calloc(n, sizeof(*bat));
    map = malloc(n * sizeof(*map));
    replies = calloc(n, sizeof(*replies));
    if (bat == NULL || map == NULL || replies == NULL) {
        b.b.oom = 1;
    }
    err = resp_send(r, &b, "lookup", replies);
    dh_buf_free(&b.b);
    b.ncmds = 0;
    for (size_t i = 0; i < n && err == DH_OK; i++) {
        if (replies[i]->type != REDIS_REPLY_STRING && replies[i]->type != REDIS_REPLY_NIL) {
            err = bad_reply(r, "lookup", replies[i]);
        } else if (value_state(replies[i], &states[i], bat[i])) {
            map[nb++] = i;
            char key[DH_IDEM_KEY_MAX];

            batch_key(key, sizeof(key), ns, bat[i]);
            resp_cmd(&b, 2);
            resp_arg(&b, "GET");
            resp_arg(&b, key);
        }
    }
    replies_free(replies, err == DH_OK || err == DH_ERR_PROTO ? n : 0);
    replies = NULL;
    if (err == DH_OK && nb > 0) {
        replies = calloc(nb, sizeof(*replies));
        if (replies == NULL) {
            b.b.oom = 1;
        }
        err = resp_send(r, &b, "lookup", replies);
        for (size_t j = 0; j < nb && err == DH_OK; j++) {
            const redisReply *v = replies[j];

            states[map[j]] = v->type != REDIS_REPLY_STRING ? DH_IDEM_ABSENT
                             : reply_is(v, "done", NULL)   ? DH_IDEM_DONE
                                                           : DH_IDEM_LEASED;
        }
        replies_free(replies, err == DH_OK ? nb : 0);
    }
    dh_buf_free(&b.b);
    for (size_t i = 0; i < n && err == DH_OK && batches != NULL; i++) {
        memcpy(batches[i], bat[i], sizeof(bat[i]));
    }
    free(bat);
    free(map);
    return err;
}

/* UUIDv5 of the concatenation of \p n parts (hashed in place, without a copy). */
static void uuid5_parts(const unsigned char ns_uuid[16], size_t n, const char *const *parts,
                        const size_t *lens, char out[37])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char md[SHA_DIGEST_LENGTH];
    SHA_CTX ctx;
    size_t o = 0;

    SHA1_Init(&ctx);
    SHA1_Update(&ctx, ns_uuid, 16);
    for (size_t i = 0; i < n; i++) {
        SHA1_Update(&ctx, parts[i], lens[i]);
    }
    SHA1_Final(md, &ctx);
    md[6] = (unsigned char)((md[6] & 0x0f) | 0x50); /* version 5 */
    md[8] = (unsigned char)((md[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    for (size_t i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10) {
            out[o++] = '-';
        }
        out[o++] = hex[md[i] >> 4];
        out[o++] = hex[md[i] & 0x0f];
    }
    out[o] = '\0';
}

void dh_idem_uuid5(const unsigned char ns_uuid[16], const char *name, size_t name_len, char out[37])
{
    uuid5_parts(ns_uuid, 1, &name, &name_len, out);
}

void dh_idem_far_key(const char *ns, const char *effect_id, char out[37])
{
    const char *parts[3] = {ns, ":", effect_id};
    size_t lens[3] = {strlen(ns), 1, strlen(effect_id)};
    uuid5_parts(DH_IDEM_NS_UUID, 3, parts, lens, out);
}
