/*
 * Idempotency records in Redis (see dockhand/idem.h for the state machine). One string key
 * per effect, "<ns>:idem:<effect id>", holding "lease:<owner>" (with a PX TTL, the lease) or
 * "done" (with the retention TTL).
 *
 * The common case costs Redis one plain command per record and transition, all of a batch
 * formatted into one buffer and sent in one round trip (no Lua):
 *
 *   claim:  SET <key> lease:<owner> NX PX <lease_ms> GET  -> nil: a fresh record, ours now;
 *           "done": a duplicate, untouched (NX never overwrites). Any other value (our own
 *           lease on a retry, another owner's lease, a value without a TTL) goes, for those
 *           keys only, to the claim script (CLAIM_LUA, a second round trip), which decides
 *           atomically as before: refresh our lease, report the other's remaining ms, give a
 *           TTL-less value one. NX with GET needs Redis 7.0.
 *   done:   SET <key> done EX <retention_s> GET  -> always written (the effect happened); the
 *           old value says whether the lease was still ours.
 *   release: a script (GET and DEL must be one step: only our own lease is deleted); rare.
 *
 * This replaced one multi-key Lua script per batch for claim and done: the same SETs, but a
 * Lua redis.call() costs Redis more than the same command sent by a client (the arguments
 * converted to and from Lua, the reply parsed back). Values and TTLs are unchanged, so
 * replicas running either version share records safely. bench/runtime/idem-ceiling.c keeps
 * the old scripts for the before/after bench.
 *
 * This module decides nothing about retries: it reports states and the caller's runtime
 * acts on them. Multi-key scripts assume one Redis server (not Cluster): on a Cluster every
 * key of a call must hash to one slot, i.e. the namespace would have to be a hash tag "{ns}".
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

#define OWNER_MAX  128
#define CHUNK_KEYS 512 /* keys per script call: bounds the time Redis is blocked */
#define EXTRA_ARGS 2   /* after the keys: owner, ttl */

/* Reply codes of the claim script, one per key. */
#define CLAIM_CLAIMED (-1)
#define CLAIM_DONE    (-2) /* >= 1: leased by another owner, the lease's remaining ms */

/* claim, per key (only the keys whose pipelined SET NX found a value other than "done"):
 * absent (expired meanwhile) -> our lease; done -> done; our own lease (a retry) -> ours,
 * refreshed; else the other lease's remaining time. A value without a TTL cannot be a
 * live lease (every lease is set with PX), so it is given one instead of blocking the
 * effect forever. */
static const char CLAIM_LUA[] = "local mine = 'lease:' .. ARGV[1]\n"
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

/* release, per key: only our own lease; never a "done" record or another owner's lease. */
static const char RELEASE_LUA[] = "local mine = 'lease:' .. ARGV[1]\n"
                                  "local out = {}\n"
                                  "for i, k in ipairs(KEYS) do\n"
                                  "  out[i] = 0\n"
                                  "  if redis.call('GET', k) == mine then\n"
                                  "    out[i] = redis.call('DEL', k)\n"
                                  "  end\n"
                                  "end\n"
                                  "return out\n";

/* The dockhand namespace for far-side keys (a random v4 UUID generated once). Never change
 * it: every far key would change, and a retry after the deploy would not be recognised. */
static const unsigned char DH_IDEM_NS_UUID[16] = {0xf8, 0x66, 0xbe, 0x89, 0x43, 0x8a, 0x4f, 0xc0,
                                                  0x86, 0xc6, 0x4b, 0xfd, 0x60, 0x78, 0x4c, 0x0d};

/* The EVALSHA arguments of a batch: per chunk, its keys then owner and ttl, in one flat
 * array; chunk c starts at argv[c * (CHUNK_KEYS + EXTRA_ARGS)]. */
typedef struct batch {
    char *keys; /**< All keys, back to back. */
    const char **argv;
    size_t *argvlen;
    size_t nchunks;
    int *nkeys;                /**< per chunk */
    int *argc;                 /**< per chunk */
    const char *const **cargv; /**< per chunk: its first argument */
    const size_t **clen;
    redisReply **replies; /**< per chunk */
    char ttl[24];
} batch_t;

static void batch_free(batch_t *b)
{
    for (size_t c = 0; b->replies != NULL && c < b->nchunks; c++) {
        freeReplyObject(b->replies[c]);
    }
    free(b->keys);
    free(b->argv);
    free(b->argvlen);
    free(b->nkeys);
    free(b->argc);
    free(b->cargv);
    free(b->clen);
    free(b->replies);
}

static dh_err_t batch_check(dh_redis_t *r, size_t ns_len, size_t owner_len, long long ttl, size_t n,
                            const char *const *effect_ids, size_t *keys_bytes)
{
    *keys_bytes = 0;
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
        *keys_bytes += ns_len + sizeof(":idem:") + len;
    }
    return DH_OK;
}

static dh_err_t batch_alloc(dh_redis_t *r, batch_t *b, size_t n, size_t keys_bytes)
{
    size_t nargs;

    b->nchunks = (n + CHUNK_KEYS - 1) / CHUNK_KEYS;
    nargs = n + b->nchunks * EXTRA_ARGS;
    b->keys = malloc(keys_bytes);
    b->argv = malloc(nargs * sizeof(*b->argv));
    b->argvlen = malloc(nargs * sizeof(*b->argvlen));
    b->nkeys = malloc(b->nchunks * sizeof(*b->nkeys));
    b->argc = malloc(b->nchunks * sizeof(*b->argc));
    b->cargv = malloc(b->nchunks * sizeof(*b->cargv));
    b->clen = malloc(b->nchunks * sizeof(*b->clen));
    b->replies = calloc(b->nchunks, sizeof(*b->replies));
    if (b->keys == NULL || b->argv == NULL || b->argvlen == NULL || b->nkeys == NULL ||
        b->argc == NULL || b->cargv == NULL || b->clen == NULL || b->replies == NULL) {
        dh_redis_set_error(r, "idem: out of memory for a batch of %zu", n);
        return DH_ERR_NOMEM;
    }
    return DH_OK;
}

static dh_err_t batch_build(dh_redis_t *r, batch_t *b, const char *ns, const char *owner,
                            long long ttl, size_t n, const char *const *effect_ids)
{
    size_t ns_len = ns != NULL ? strlen(ns) : 0;
    size_t owner_len = owner != NULL ? strlen(owner) : 0;
    size_t keys_bytes = 0, off = 0, a = 0;
    dh_err_t err;

    memset(b, 0, sizeof(*b));
    err = batch_check(r, ns_len, owner_len, ttl, n, effect_ids, &keys_bytes);
    if (err == DH_OK) {
        err = batch_alloc(r, b, n, keys_bytes);
    }
    if (err != DH_OK) {
        return err;
    }
    snprintf(b->ttl, sizeof(b->ttl), "%lld", ttl);
    for (size_t c = 0; c < b->nchunks; c++) {
        size_t first = c * CHUNK_KEYS;
        size_t k = n - first < CHUNK_KEYS ? n - first : CHUNK_KEYS;

        b->nkeys[c] = (int)k;
        b->argc[c] = (int)(k + EXTRA_ARGS);
        b->cargv[c] = b->argv + a;
        b->clen[c] = b->argvlen + a;
        for (size_t i = first; i < first + k; i++) {
            int len = snprintf(b->keys + off, keys_bytes - off, "%s:idem:%s", ns, effect_ids[i]);
            b->argv[a] = b->keys + off;
            b->argvlen[a++] = (size_t)len;
            off += (size_t)len + 1;
        }
        b->argv[a] = owner;
        b->argvlen[a++] = owner_len;
        b->argv[a] = b->ttl;
        b->argvlen[a++] = strlen(b->ttl);
    }
    return DH_OK;
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

/* Runs one script over the batch and checks that each chunk's reply is an array of one
 * integer per key; the batch (with its replies) is the caller's to free. */
static dh_err_t run_batch(dh_redis_t *r, batch_t *b, const char *what, const char *script,
                          const char *ns, const char *owner, long long ttl, size_t n,
                          const char *const *effect_ids)
{
    dh_err_t err = batch_build(r, b, ns, owner, ttl, n, effect_ids);

    if (err == DH_OK) {
        err = dh_redis_eval_pipeline_v(r, script, b->nchunks, b->nkeys, b->argc, b->cargv, b->clen,
                                       b->replies);
    }
    for (size_t c = 0; c < b->nchunks && err == DH_OK; c++) {
        const redisReply *rep = b->replies[c];

        if (rep->type != REDIS_REPLY_ARRAY || rep->elements != (size_t)b->nkeys[c]) {
            return bad_reply(r, what, rep);
        }
        for (size_t i = 0; i < rep->elements; i++) {
            if (rep->element[i]->type != REDIS_REPLY_INTEGER) {
                return bad_reply(r, what, rep->element[i]);
            }
        }
    }
    return err;
}

/* The integer the script returned for effect i (run_batch() checked the shape). */
static long long batch_code(const batch_t *b, size_t i)
{
    return b->replies[i / CHUNK_KEYS]->element[i % CHUNK_KEYS]->integer;
}

/* ---- the common case: plain SETs, pipelined ------------------------------------------- */

/* One "*<argc>\r\n$3\r\nSET\r\n$<len>\r\n<ns>:idem:<id>\r\n" + tail per key, where the tail
 * (the value and options, the same for every key of a call) was formatted once. */
#define SET_HEAD     "\r\n$3\r\nSET\r\n$"
#define SET_HEAD_MAX (sizeof("*9" SET_HEAD) + 24 + 2)

/* The replies of one SET per key (each a bulk string or nil: they all carry GET). */
typedef struct sets {
    char *cmds;
    size_t len;
    redisReply **replies;
    size_t n;
} sets_t;

static void sets_free(sets_t *s)
{
    for (size_t i = 0; s->replies != NULL && i < s->n; i++) {
        freeReplyObject(s->replies[i]);
    }
    free(s->replies);
    free(s->cmds);
}

/* Formats "SET <ns>:idem:<id> <tail>" (argc arguments in all) for each id, sends them in one
 * round trip and checks each reply is a string or nil; \p s is the caller's to free. */
static dh_err_t sets_run(dh_redis_t *r, sets_t *s, const char *what, const char *ns,
                         const char *owner, long long ttl, size_t n, const char *const *ids,
                         int argc, const char *tail, size_t tail_len)
{
    size_t ns_len = ns != NULL ? strlen(ns) : 0;
    size_t owner_len = owner != NULL ? strlen(owner) : 0;
    size_t keys_bytes = 0, cap;
    dh_err_t err;

    memset(s, 0, sizeof(*s));
    s->n = n;
    err = batch_check(r, ns_len, owner_len, ttl, n, ids, &keys_bytes);
    if (err != DH_OK) {
        return err;
    }
    cap = keys_bytes + n * (SET_HEAD_MAX + 2 + tail_len);
    s->cmds = malloc(cap);
    s->replies = calloc(n, sizeof(*s->replies));
    if (s->cmds == NULL || s->replies == NULL) {
        dh_redis_set_error(r, "idem %s: out of memory for a batch of %zu", what, n);
        return DH_ERR_NOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        size_t id_len = strlen(ids[i]);
        size_t key_len = ns_len + strlen(":idem:") + id_len;

        s->len += (size_t)snprintf(s->cmds + s->len, cap - s->len,
                                   "*%d" SET_HEAD "%zu\r\n%s:idem:", argc, key_len, ns);
        memcpy(s->cmds + s->len, ids[i], id_len);
        s->len += id_len;
        memcpy(s->cmds + s->len, "\r\n", 2);
        memcpy(s->cmds + s->len + 2, tail, tail_len);
        s->len += 2 + tail_len;
    }
    err = dh_redis_pipeline_raw(r, s->cmds, s->len, n, s->replies);
    for (size_t i = 0; i < n && err == DH_OK; i++) {
        int type = s->replies[i]->type;

        if (type != REDIS_REPLY_STRING && type != REDIS_REPLY_NIL) {
            err = bad_reply(r, what, s->replies[i]);
        }
    }
    return err;
}

/* 1 when reply \p rep is the string "<prefix><rest>". */
static int reply_is(const redisReply *rep, const char *prefix, const char *rest)
{
    size_t pl = strlen(prefix), rl = rest != NULL ? strlen(rest) : 0;

    return rep->type == REDIS_REPLY_STRING && rep->len == pl + rl &&
           memcmp(rep->str, prefix, pl) == 0 && (rl == 0 || memcmp(rep->str + pl, rest, rl) == 0);
}

/* The claim script over the keys whose SET NX found a value other than "done" (a retry's
 * own lease, another owner's, one without a TTL): the rare case. */
static dh_err_t claim_rest(dh_redis_t *r, const char *ns, const char *owner, int64_t lease_ms,
                           size_t nrest, const size_t *rest, const char *const *effect_ids,
                           dh_idem_state_t *states, int64_t *wait_ms)
{
    const char **ids = malloc(nrest * sizeof(*ids));
    batch_t b;
    dh_err_t err;

    if (ids == NULL) {
        dh_redis_set_error(r, "idem claim: out of memory");
        return DH_ERR_NOMEM;
    }
    for (size_t j = 0; j < nrest; j++) {
        ids[j] = effect_ids[rest[j]];
    }
    err = run_batch(r, &b, "claim", CLAIM_LUA, ns, owner, (long long)lease_ms, nrest, ids);
    for (size_t j = 0; j < nrest && err == DH_OK; j++) {
        long long code = batch_code(&b, j);
        size_t i = rest[j];

        if (code == CLAIM_CLAIMED) {
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
    batch_free(&b);
    free(ids);
    return err;
}

dh_err_t dh_idem_claim(dh_redis_t *r, const char *ns, const char *owner, int64_t lease_ms, size_t n,
                       const char *const *effect_ids, dh_idem_state_t *states, int64_t *wait_ms)
{
    char tail[OWNER_MAX + 96];
    size_t owner_len = owner != NULL ? strlen(owner) : 0, nrest = 0, *rest = NULL;
    sets_t s;
    dh_err_t err;
    int tail_len;

    if (n == 0) {
        return DH_OK;
    }
    /* SET <key> lease:<owner> NX PX <lease_ms> GET: sets a fresh record, or returns the
     * value it found without touching it (NX with GET: Redis 7.0+). */
    tail_len = snprintf(tail, sizeof(tail),
                        "$%zu\r\nlease:%s\r\n$2\r\nNX\r\n$2\r\nPX\r\n$%d\r\n%lld\r\n$3\r\nGET\r\n",
                        owner_len + 6, owner != NULL && owner_len <= OWNER_MAX ? owner : "",
                        snprintf(NULL, 0, "%lld", (long long)lease_ms), (long long)lease_ms);
    err = sets_run(r, &s, "claim", ns, owner, (long long)lease_ms, n, effect_ids, 7, tail,
                   (size_t)tail_len);
    if (err == DH_OK) {
        rest = malloc(n * sizeof(*rest));
        if (rest == NULL) {
            dh_redis_set_error(r, "idem claim: out of memory");
            err = DH_ERR_NOMEM;
        }
    }
    for (size_t i = 0; i < n && err == DH_OK; i++) {
        const redisReply *rep = s.replies[i];

        if (wait_ms != NULL) {
            wait_ms[i] = 0;
        }
        if (rep->type == REDIS_REPLY_NIL) {
            states[i] = DH_IDEM_CLAIMED;
        } else if (reply_is(rep, "done", NULL)) {
            states[i] = DH_IDEM_DONE;
        } else {
            rest[nrest++] = i;
        }
    }
    sets_free(&s);
    if (err == DH_OK && nrest > 0) {
        err = claim_rest(r, ns, owner, lease_ms, nrest, rest, effect_ids, states, wait_ms);
    }
    free(rest);
    return err;
}

dh_err_t dh_idem_done(dh_redis_t *r, const char *ns, const char *owner, int64_t retention_s,
                      size_t n, const char *const *effect_ids, int *still_owned)
{
    char tail[96];
    sets_t s;
    dh_err_t err;
    int tail_len;

    if (n == 0) {
        return DH_OK;
    }
    /* SET <key> done EX <retention_s> GET: always recorded (the effect happened); the old
     * value tells whether the lease was still ours. */
    tail_len =
        snprintf(tail, sizeof(tail), "$4\r\ndone\r\n$2\r\nEX\r\n$%d\r\n%lld\r\n$3\r\nGET\r\n",
                 snprintf(NULL, 0, "%lld", (long long)retention_s), (long long)retention_s);
    err = sets_run(r, &s, "done", ns, owner, (long long)retention_s, n, effect_ids, 6, tail,
                   (size_t)tail_len);
    for (size_t i = 0; i < n && err == DH_OK && still_owned != NULL; i++) {
        still_owned[i] = reply_is(s.replies[i], "lease:", owner);
    }
    sets_free(&s);
    return err;
}

dh_err_t dh_idem_release(dh_redis_t *r, const char *ns, const char *owner, size_t n,
                         const char *const *effect_ids)
{
    batch_t b;
    dh_err_t err;

    if (n == 0) {
        return DH_OK;
    }
    /* The TTL argument is unused by the release script; 1 passes validation. */
    err = run_batch(r, &b, "release", RELEASE_LUA, ns, owner, 1, n, effect_ids);
    batch_free(&b);
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
