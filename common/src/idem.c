/*
 * Idempotency records in Redis (see dockhand/idem.h for the state machine). Each
 * transition is one small Lua script, so check-and-set is atomic; a batch of n records
 * is n EVALSHA calls pipelined into one round trip. This module decides nothing about
 * retries: it reports states and the caller's runtime acts on them.
 *
 * Values: "lease:<owner>" (with a PX TTL, the lease) or "done" (with the retention TTL).
 */
/* SHA1_Init & co. are deprecated in OpenSSL 3 but, unlike the EVP API, never allocate,
 * so dh_idem_far_key() cannot fail (it returns void by contract). */
#define OPENSSL_SUPPRESS_DEPRECATED 1

#include "dockhand/idem.h"

#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "idem_internal.h"
#include "redis_internal.h"

#define OWNER_MAX 128
#define ARGS_PER  3 /* key, owner, ttl */

/* claim: absent -> our lease; done -> 1; our own lease (a retry) -> refreshed; else the
 * other lease's remaining time. A value without a TTL cannot be a live lease (every
 * lease is set with PX), so it is given one instead of blocking the effect forever. */
static const char CLAIM_LUA[] = "local v = redis.call('GET', KEYS[1])\n"
                                "local mine = 'lease:' .. ARGV[1]\n"
                                "if not v then\n"
                                "  redis.call('SET', KEYS[1], mine, 'PX', ARGV[2])\n"
                                "  return {0}\n"
                                "end\n"
                                "if v == 'done' then return {1} end\n"
                                "if v == mine then\n"
                                "  redis.call('PEXPIRE', KEYS[1], ARGV[2])\n"
                                "  return {0}\n"
                                "end\n"
                                "local t = redis.call('PTTL', KEYS[1])\n"
                                "if t < 0 then\n"
                                "  redis.call('PEXPIRE', KEYS[1], ARGV[2])\n"
                                "  t = tonumber(ARGV[2])\n"
                                "end\n"
                                "return {2, t}\n";

/* done: always recorded (the effect happened); 1 if the lease was still ours. */
static const char DONE_LUA[] = "local v = redis.call('GET', KEYS[1])\n"
                               "redis.call('SET', KEYS[1], 'done', 'EX', ARGV[2])\n"
                               "if v == 'lease:' .. ARGV[1] then return 1 end\n"
                               "return 0\n";

/* release: only our own lease; never a "done" record or another owner's lease. */
static const char RELEASE_LUA[] = "if redis.call('GET', KEYS[1]) == 'lease:' .. ARGV[1] then\n"
                                  "  return redis.call('DEL', KEYS[1])\n"
                                  "end\n"
                                  "return 0\n";

/* The dockhand namespace for far-side keys (a random v4 UUID generated once). Never change
 * it: every far key would change, and a retry after the deploy would not be recognised. */
static const unsigned char DH_IDEM_NS_UUID[16] = {0xf8, 0x66, 0xbe, 0x89, 0x43, 0x8a, 0x4f, 0xc0,
                                                  0x86, 0xc6, 0x4b, 0xfd, 0x60, 0x78, 0x4c, 0x0d};

/* The flat EVALSHA argument arrays of a batch (see dh_redis_eval_pipeline()). */
typedef struct batch {
    char *keys;        /**< All keys, NUL-separated. */
    const char **argv; /**< n * ARGS_PER */
    size_t *argvlen;
    char ttl[24];
} batch_t;

static void batch_free(batch_t *b)
{
    free(b->keys);
    free(b->argv);
    free(b->argvlen);
}

static dh_err_t batch_build(dh_redis_t *r, batch_t *b, const char *ns, const char *owner,
                            long long ttl, size_t n, const char *const *effect_ids)
{
    size_t ns_len = ns != NULL ? strlen(ns) : 0;
    size_t owner_len = owner != NULL ? strlen(owner) : 0;
    size_t off = 0;

    memset(b, 0, sizeof(*b));
    if (ns_len == 0 || owner_len == 0 || owner_len > OWNER_MAX || ttl <= 0) {
        dh_redis_set_error(r, "idem: empty namespace, bad owner or non-positive TTL");
        return DH_ERR_INVALID;
    }
    for (size_t i = 0; i < n; i++) {
        size_t len = effect_ids[i] != NULL ? strlen(effect_ids[i]) : 0;
        if (len == 0 || ns_len + sizeof(":idem:") + len > DH_IDEM_KEY_MAX) {
            dh_redis_set_error(r, "idem: effect id %zu is empty or too long (%zu bytes)", i, len);
            return DH_ERR_INVALID;
        }
    }
    b->keys = malloc(n * DH_IDEM_KEY_MAX);
    b->argv = malloc(n * ARGS_PER * sizeof(*b->argv));
    b->argvlen = malloc(n * ARGS_PER * sizeof(*b->argvlen));
    if (b->keys == NULL || b->argv == NULL || b->argvlen == NULL) {
        dh_redis_set_error(r, "idem: out of memory for a batch of %zu", n);
        batch_free(b);
        return DH_ERR_NOMEM;
    }
    snprintf(b->ttl, sizeof(b->ttl), "%lld", ttl);
    for (size_t i = 0; i < n; i++) {
        int len = snprintf(b->keys + off, DH_IDEM_KEY_MAX, "%s:idem:%s", ns, effect_ids[i]);
        b->argv[i * ARGS_PER] = b->keys + off;
        b->argvlen[i * ARGS_PER] = (size_t)len;
        b->argv[i * ARGS_PER + 1] = owner;
        b->argvlen[i * ARGS_PER + 1] = owner_len;
        b->argv[i * ARGS_PER + 2] = b->ttl;
        b->argvlen[i * ARGS_PER + 2] = strlen(b->ttl);
        off += (size_t)len + 1;
    }
    return DH_OK;
}

/* Runs one script over the batch; replies[] is filled on DH_OK. */
static dh_err_t run_batch(dh_redis_t *r, const char *script, const char *ns, const char *owner,
                          long long ttl, size_t n, const char *const *effect_ids,
                          redisReply **replies)
{
    batch_t b;
    dh_err_t err = batch_build(r, &b, ns, owner, ttl, n, effect_ids);
    if (err != DH_OK) {
        return err;
    }
    err = dh_redis_eval_pipeline(r, script, 1, n, ARGS_PER, b.argv, b.argvlen, replies);
    batch_free(&b);
    return err;
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

static dh_err_t parse_claim(dh_redis_t *r, const redisReply *reply, dh_idem_state_t *state,
                            int64_t *wait)
{
    long long code;
    *wait = 0;
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 1 ||
        reply->element[0]->type != REDIS_REPLY_INTEGER) {
        return bad_reply(r, "claim", reply);
    }
    code = reply->element[0]->integer;
    if (code == 0 || code == 1) {
        *state = code == 0 ? DH_IDEM_CLAIMED : DH_IDEM_DONE;
        return DH_OK;
    }
    if (code != 2 || reply->elements < 2 || reply->element[1]->type != REDIS_REPLY_INTEGER) {
        return bad_reply(r, "claim", reply);
    }
    *state = DH_IDEM_LEASED;
    *wait = reply->element[1]->integer > 0 ? reply->element[1]->integer : 1;
    return DH_OK;
}

static void free_all(size_t n, redisReply **replies)
{
    for (size_t i = 0; i < n; i++) {
        freeReplyObject(replies[i]);
    }
    free(replies);
}

dh_err_t dh_idem_claim(dh_redis_t *r, const char *ns, const char *owner, int64_t lease_ms, size_t n,
                       const char *const *effect_ids, dh_idem_state_t *states, int64_t *wait_ms)
{
    redisReply **replies = NULL;
    dh_err_t err = DH_OK;

    if (n == 0) {
        return DH_OK;
    }
    replies = calloc(n, sizeof(*replies));
    if (replies == NULL) {
        dh_redis_set_error(r, "idem: out of memory");
        return DH_ERR_NOMEM;
    }
    err = run_batch(r, CLAIM_LUA, ns, owner, (long long)lease_ms, n, effect_ids, replies);
    for (size_t i = 0; i < n && err == DH_OK; i++) {
        int64_t wait = 0;
        err = parse_claim(r, replies[i], &states[i], &wait);
        if (wait_ms != NULL) {
            wait_ms[i] = wait;
        }
    }
    free_all(n, replies);
    return err;
}

dh_err_t dh_idem_done(dh_redis_t *r, const char *ns, const char *owner, int64_t retention_s,
                      size_t n, const char *const *effect_ids, int *still_owned)
{
    redisReply **replies = NULL;
    dh_err_t err = DH_OK;

    if (n == 0) {
        return DH_OK;
    }
    replies = calloc(n, sizeof(*replies));
    if (replies == NULL) {
        dh_redis_set_error(r, "idem: out of memory");
        return DH_ERR_NOMEM;
    }
    err = run_batch(r, DONE_LUA, ns, owner, (long long)retention_s, n, effect_ids, replies);
    for (size_t i = 0; i < n && err == DH_OK; i++) {
        if (replies[i]->type != REDIS_REPLY_INTEGER) {
            err = bad_reply(r, "done", replies[i]);
        } else if (still_owned != NULL) {
            still_owned[i] = replies[i]->integer == 1;
        }
    }
    free_all(n, replies);
    return err;
}

dh_err_t dh_idem_release(dh_redis_t *r, const char *ns, const char *owner, size_t n,
                         const char *const *effect_ids)
{
    redisReply **replies = NULL;
    dh_err_t err = DH_OK;

    if (n == 0) {
        return DH_OK;
    }
    replies = calloc(n, sizeof(*replies));
    if (replies == NULL) {
        dh_redis_set_error(r, "idem: out of memory");
        return DH_ERR_NOMEM;
    }
    /* The TTL argument is unused by the release script; 1 passes validation. */
    err = run_batch(r, RELEASE_LUA, ns, owner, 1, n, effect_ids, replies);
    for (size_t i = 0; i < n && err == DH_OK; i++) {
        if (replies[i]->type != REDIS_REPLY_INTEGER) {
            err = bad_reply(r, "release", replies[i]);
        }
    }
    free_all(n, replies);
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
