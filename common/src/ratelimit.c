/*
 * Shared rate limits in Redis (see dockhand/ratelimit.h). Each decision is one Lua script,
 * so concurrent replicas never both spend the same points. The bucket is stored as
 * {level, ts} (points available at ts, in ms of Redis time) and refilled lazily on every
 * call: level = min(capacity, level + elapsed * rate). An absent bucket is full.
 *
 * Time comes from redis.call('TIME') inside the scripts. Scripts calling TIME before a
 * write used to be refused under verbatim script replication; Redis >= 5 replicates the
 * scripts' effects (and Redis 7 only does that), so replicas and the AOF see plain
 * HSET/PEXPIRE commands and stay consistent.
 *
 * Keys get a TTL of twice the time to refill from empty plus a minute: after that an
 * absent bucket (full) is exactly what the arithmetic would give, so idle stores vanish.
 */
#include "dockhand/ratelimit.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "redis_internal.h"

#define KEY_MAX      320
#define NAME_MAX_LEN 256
/* How long a reservation outlives the wait it was given, for its request to come back
 * (a lane's retry, a gate reopening) before smaller requests may spend its points again. */
#define RESERVE_GRACE_MS "5000"

/* Shared by acquire, settle and take: refilled level of KEYS[1] at Redis time `now`. */
#define LUA_REFILL                                                                                 \
    "local t = redis.call('TIME')\n"                                                               \
    "local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000\n"                                  \
    "local cap = tonumber(ARGV[1])\n"                                                              \
    "local rate = tonumber(ARGV[2])\n"                                                             \
    "local ttl = math.ceil(cap / rate * 2000) + 60000\n"                                           \
    "local b = redis.call('HMGET', KEYS[1], 'level', 'ts', 'want', 'want_until')\n"                \
    "local level = tonumber(b[1])\n"                                                               \
    "local ts = tonumber(b[2])\n"                                                                  \
    "if level == nil or ts == nil then\n"                                                          \
    "  level = cap\n"                                                                              \
    "else\n"                                                                                       \
    "  local dt = now - ts\n"                                                                      \
    "  if dt < 0 then dt = 0 end\n"                                                                \
    "  level = math.min(cap, level + dt * rate / 1000)\n"                                          \
    "end\n"                                                                                        \
    "local want = tonumber(b[3]) or 0\n"                                                           \
    "if want > 0 and (tonumber(b[4]) or 0) <= now then want = 0 end\n"

#define LUA_STORE                                                                                  \
    "redis.call('HSET', KEYS[1], 'level', level, 'ts', now)\n"                                     \
    "redis.call('PEXPIRE', KEYS[1], ttl)\n"

/* Points a request of ARGV[3] must leave in the bucket: a larger request's reservation. */
#define LUA_KEEP                                                                                   \
    "local cost = tonumber(ARGV[3])\n"                                                             \
    "local keep = 0\n"                                                                             \
    "if cost < want then keep = want end\n"                                                        \
    "local wait = math.ceil((cost + keep - level) * 1000 / rate)\n"                                \
    "if wait < 1 then wait = 1 end\n"

/* Take ARGV[3] points or say how long until they are there (charging nothing then). A
 * request turned away reserves its cost unless a larger one holds the reservation: from
 * then on smaller requests leave that many points in the bucket, so a steady stream of
 * small ones cannot keep a large one waiting forever. The reservation ends when a request
 * of at least its size is granted, or RESERVE_GRACE_MS after the wait it was given. A
 * refusal writes only the reservation: the level refills lazily from what is stored, and a
 * refused bucket exists (an absent one is full), so its TTL needs no refresh. */
#define LUA_TAKE                                                                                   \
    LUA_KEEP                                                                                       \
    "if level - keep >= cost then\n"                                                               \
    "  level = level - cost\n" LUA_STORE                                                           \
    "  if want > 0 and cost >= want then redis.call('HDEL', KEYS[1], 'want', 'want_until') end\n"  \
    "  return 0\n"                                                                                 \
    "end\n"                                                                                        \
    "if cost >= want then\n"                                                                       \
    "  redis.call('HSET', KEYS[1], 'want', cost, 'want_until', now + wait + " RESERVE_GRACE_MS     \
    ")\n"                                                                                          \
    "end\n"                                                                                        \
    "return wait\n"

/* KEYS: bucket, cooldown. ARGV: capacity, rate, cost. A cooldown blocks everybody. */
static const char ACQUIRE_LUA[] = "local cd = redis.call('PTTL', KEYS[2])\n"
                                  "if cd > 0 then return cd end\n" LUA_REFILL LUA_TAKE;

/* KEYS: bucket, cooldown. ARGV: capacity, rate, cost. Like ACQUIRE without the charge. */
static const char PEEK_LUA[] = "local cd = redis.call('PTTL', KEYS[2])\n"
                               "if cd > 0 then return cd end\n" LUA_REFILL LUA_KEEP
                               "if level - keep >= cost then return 0 end\n"
                               "return wait\n";

/* KEYS: bucket. ARGV: burst (the capacity), rate, n. */
static const char TAKE_LUA[] = LUA_REFILL LUA_TAKE;

/* KEYS: bucket. ARGV: capacity, rate, requested, actual (<0: unknown), available (<0:
 * unknown). Shopify's currentlyAvailable is its bucket at the moment it answered; ours
 * has since been charged by other in-flight calls, so taking the lower of the two can
 * only err on the careful side, and it is how another app sharing the store's bucket
 * (or a lost settle) gets noticed. */
static const char SETTLE_LUA[] = LUA_REFILL "local req = tonumber(ARGV[3])\n"
                                            "local act = tonumber(ARGV[4])\n"
                                            "local avail = tonumber(ARGV[5])\n"
                                            "if act < 0 then act = 0 end\n"
                                            "level = math.min(cap, level + req - act)\n"
                                            "if avail >= 0 and avail < level then\n"
                                            "  level = avail\n"
                                            "end\n" LUA_STORE "return 0\n";

/* KEYS: cooldown. ARGV: ms. Extends, never shortens, a running cooldown. */
static const char COOLDOWN_LUA[] = "local ms = tonumber(ARGV[1])\n"
                                   "local p = redis.call('PTTL', KEYS[1])\n"
                                   "if p < ms then\n"
                                   "  redis.call('SET', KEYS[1], '1', 'PX', ms)\n"
                                   "  return ms\n"
                                   "end\n"
                                   "return p\n";

static dh_err_t make_key(dh_redis_t *r, char *key, const char *prefix, const char *name,
                         const char *suffix)
{
    size_t len = name != NULL ? strlen(name) : 0;
    if (len == 0 || len > NAME_MAX_LEN) {
        dh_redis_set_error(r, "ratelimit: empty or too long bucket name");
        return DH_ERR_INVALID;
    }
    snprintf(key, KEY_MAX, "%s%s%s", prefix, name, suffix);
    return DH_OK;
}

/* Runs a script whose reply is an integer. */
static dh_err_t run(dh_redis_t *r, const char *script, int nkeys, int argc, const char **argv,
                    long long *result)
{
    redisReply *reply = NULL;
    dh_err_t err = dh_redis_eval(r, script, nkeys, argc, argv, NULL, &reply);
    if (err != DH_OK) {
        return err;
    }
    if (reply->type != REDIS_REPLY_INTEGER) {
        dh_redis_set_error(r, "ratelimit: unexpected reply type %d", reply->type);
        err = DH_ERR_PROTO;
    } else if (result != NULL) {
        *result = reply->integer;
    }
    freeReplyObject(reply);
    return err;
}

static int bad_spec(double capacity, double rate, double cost)
{
    /* isfinite() rejects NaN and inf; a cost above capacity could never be granted. */
    return !isfinite(capacity) || !isfinite(rate) || !isfinite(cost) || capacity <= 0 ||
           rate <= 0 || cost < 0 || cost > capacity;
}

static void fmt_num(char *buf, size_t size, double v)
{
    snprintf(buf, size, "%.17g", v);
}

static dh_err_t take_common(dh_redis_t *r, const char *script, int nkeys, const char **argv,
                            double capacity, double rate, double cost, int64_t *wait_ms)
{
    char cap_s[32];
    char rate_s[32];
    char cost_s[32];
    long long wait = 0;
    dh_err_t err;

    *wait_ms = 0;
    if (bad_spec(capacity, rate, cost)) {
        dh_redis_set_error(r, "ratelimit: bad capacity %g, rate %g or cost %g", capacity, rate,
                           cost);
        return DH_ERR_INVALID;
    }
    fmt_num(cap_s, sizeof(cap_s), capacity);
    fmt_num(rate_s, sizeof(rate_s), rate);
    fmt_num(cost_s, sizeof(cost_s), cost);
    argv[nkeys] = cap_s;
    argv[nkeys + 1] = rate_s;
    argv[nkeys + 2] = cost_s;
    err = run(r, script, nkeys, nkeys + 3, argv, &wait);
    if (err == DH_OK) {
        *wait_ms = wait;
    }
    return err;
}

/* The store's bucket and cooldown keys, then \p script (acquire or peek) against them. */
static dh_err_t shopify_bucket(dh_redis_t *r, const char *script, const char *store,
                               const dh_bucket_spec_t *spec, double cost, int64_t *wait_ms)
{
    char key[KEY_MAX];
    char cd_key[KEY_MAX];
    const char *argv[5] = {key, cd_key};
    dh_err_t err;

    *wait_ms = 0;
    err = make_key(r, key, "dh:rl:shopify:", store, "");
    if (err == DH_OK) {
        err = make_key(r, cd_key, "dh:rl:shopify:", store, ":cooldown");
    }
    if (err != DH_OK) {
        return err;
    }
    return take_common(r, script, 2, argv, spec->capacity, spec->restore_rate, cost, wait_ms);
}

dh_err_t dh_ratelimit_shopify_acquire(dh_redis_t *r, const char *store,
                                      const dh_bucket_spec_t *spec, double cost, int64_t *wait_ms)
{
    return shopify_bucket(r, ACQUIRE_LUA, store, spec, cost, wait_ms);
}

dh_err_t dh_ratelimit_shopify_peek(dh_redis_t *r, const char *store, const dh_bucket_spec_t *spec,
                                   double cost, int64_t *wait_ms)
{
    return shopify_bucket(r, PEEK_LUA, store, spec, cost, wait_ms);
}

dh_err_t dh_ratelimit_shopify_settle(dh_redis_t *r, const char *store, const dh_bucket_spec_t *spec,
                                     double requested, double actual, double currently_available)
{
    char key[KEY_MAX];
    char nums[5][32];
    const char *argv[6] = {key, nums[0], nums[1], nums[2], nums[3], nums[4]};
    dh_err_t err;

    err = make_key(r, key, "dh:rl:shopify:", store, "");
    if (err != DH_OK) {
        return err;
    }
    if (bad_spec(spec->capacity, spec->restore_rate, 0) || !isfinite(requested) || requested < 0 ||
        !isfinite(actual) || !isfinite(currently_available)) {
        dh_redis_set_error(r, "ratelimit: bad settle arguments");
        return DH_ERR_INVALID;
    }
    /* Unknown actual cost (THROTTLED, transport error): nothing was spent, refund all. */
    fmt_num(nums[0], sizeof(nums[0]), spec->capacity);
    fmt_num(nums[1], sizeof(nums[1]), spec->restore_rate);
    fmt_num(nums[2], sizeof(nums[2]), requested);
    fmt_num(nums[3], sizeof(nums[3]), actual < 0 ? 0 : actual);
    fmt_num(nums[4], sizeof(nums[4]), currently_available);
    return run(r, SETTLE_LUA, 1, 6, argv, NULL);
}

dh_err_t dh_ratelimit_shopify_cooldown(dh_redis_t *r, const char *store, int64_t ms)
{
    char key[KEY_MAX];
    char ms_s[24];
    const char *argv[2] = {key, ms_s};
    dh_err_t err;

    if (ms <= 0) {
        return DH_OK;
    }
    err = make_key(r, key, "dh:rl:shopify:", store, ":cooldown");
    if (err != DH_OK) {
        return err;
    }
    snprintf(ms_s, sizeof(ms_s), "%lld", (long long)ms);
    return run(r, COOLDOWN_LUA, 1, 2, argv, NULL);
}

dh_err_t dh_ratelimit_take(dh_redis_t *r, const char *name, double rate_per_s, double burst,
                           double n, int64_t *wait_ms)
{
    char key[KEY_MAX];
    const char *argv[4] = {key};
    dh_err_t err;

    *wait_ms = 0;
    err = make_key(r, key, "dh:rl:tb:", name, "");
    if (err != DH_OK) {
        return err;
    }
    /* The bucket holds at most `burst` tokens and refills at `rate_per_s`. */
    return take_common(r, TAKE_LUA, 1, argv, burst, rate_per_s, n, wait_ms);
}
