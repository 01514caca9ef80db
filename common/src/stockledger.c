/*
 * The shipment ledger, the SKU fences and the re-push queue (stockledger.h). Every
 * operation is one Lua script, so each is atomic against the others: a fence take reads
 * the ledger it protects in the same step, and a dispatch `begin` cannot slip between a
 * fence take and the set it guards.
 */
#include "dockhand/stockledger.h"

#include <stdarg.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redis_internal.h"

/* ---- argument lists ------------------------------------------------------------------ */

/* The keys, then the arguments, of one script call; every string is owned. */
typedef struct sl_args {
    char **keys, **args;
    size_t nkeys, nargs, capk, capa;
    int oom;
} sl_args_t;

static void push(char ***v, size_t *n, size_t *cap, char *s, int *oom)
{
    if (s == NULL) {
        *oom = 1;
        return;
    }
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 16;
        char **nv = realloc(*v, nc * sizeof(*nv));

        if (nv == NULL) {
            free(s);
            *oom = 1;
            return;
        }
        *v = nv;
        *cap = nc;
    }
    (*v)[(*n)++] = s;
}

static char *fmt(const char *f, ...) DH_PRINTF(1, 2);
static char *fmt(const char *f, ...)
{
    va_list ap;
    char *s = NULL;
    int len;

    va_start(ap, f);
    len = vsnprintf(NULL, 0, f, ap);
    va_end(ap);
    if (len < 0 || (s = malloc((size_t)len + 1)) == NULL) {
        return NULL;
    }
    va_start(ap, f);
    vsnprintf(s, (size_t)len + 1, f, ap);
    va_end(ap);
    return s;
}

#define KEY(a, ...) push(&(a)->keys, &(a)->nkeys, &(a)->capk, fmt(__VA_ARGS__), &(a)->oom)
#define ARG(a, ...) push(&(a)->args, &(a)->nargs, &(a)->capa, fmt(__VA_ARGS__), &(a)->oom)

static void args_free(sl_args_t *a)
{
    for (size_t i = 0; i < a->nkeys; i++) {
        free(a->keys[i]);
    }
    for (size_t i = 0; i < a->nargs; i++) {
        free(a->args[i]);
    }
    free(a->keys);
    free(a->args);
}

/* Runs \p script with the keys and arguments of \p a; frees \p a. */
static dh_err_t run(dh_redis_t *r, const char *script, sl_args_t *a, redisReply **out)
{
    const char **argv = NULL;
    dh_err_t err = DH_ERR_NOMEM;

    *out = NULL;
    if (a->oom || (argv = calloc(a->nkeys + a->nargs + 1, sizeof(*argv))) == NULL) {
        goto out;
    }
    for (size_t i = 0; i < a->nkeys; i++) {
        argv[i] = a->keys[i];
    }
    for (size_t i = 0; i < a->nargs; i++) {
        argv[a->nkeys + i] = a->args[i];
    }
    err = dh_redis_eval(r, script, (int)a->nkeys, (int)(a->nkeys + a->nargs), argv, NULL, out);
out:
    free(argv);
    args_free(a);
    return err;
}

/* Shared Lua: the server's clock in ms, and one ledger entry's fields. */
#define LUA_NOW                                                                                    \
    "local t = redis.call('TIME')\n"                                                               \
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
#define LUA_ENTRY                                                                                  \
    "local function entry(v)\n"                                                                    \
    "  if not v then return nil end\n"                                                             \
    "  local s, q, st = string.match(v, '^(%-?%d+) (%d+) (%a+)$')\n"                               \
    "  if not s then return nil end\n"                                                             \
    "  return tonumber(s), tonumber(q), st\n"                                                      \
    "end\n"

/* ---- dispatch side --------------------------------------------------------------------- */

/* KEYS[1] repush zset, then per line: ledger, shipped. ARGV[1] mode (open|begin|done|undo),
 * then per line: line id, stock_seq, qty, member, has_seq. For `begin` the fences are
 * KEYS[2 + 2n ...]. */
static const char dispatch_lua[] = LUA_NOW LUA_ENTRY
    "local mode = ARGV[1]\n"
    "local n = (#ARGV - 1) / 5\n"
    "if mode == 'begin' then\n"
    "  for i = 1, n do\n"
    "    if ARGV[2 + 5 * (i - 1) + 4] == '1' and redis.call('EXISTS', KEYS[1 + 2 * n + i]) == 1 "
    "then\n"
    "      return 1\n"
    "    end\n"
    "  end\n"
    "end\n"
    "for i = 1, n do\n"
    "  local a = 2 + 5 * (i - 1)\n"
    "  local led, shipped = KEYS[2 * i], KEYS[2 * i + 1]\n"
    "  local id = ARGV[a]\n"
    "  local val = ARGV[a + 1] .. ' ' .. ARGV[a + 2] .. ' '\n"
    "  if ARGV[a + 4] == '1' and not redis.call('ZSCORE', shipped, id) then\n"
    "    local _, _, st = entry(redis.call('HGET', led, id))\n"
    "    if mode == 'open' and not st then\n"
    "      redis.call('HSET', led, id, val .. 'open')\n"
    "    elseif mode == 'begin' and st ~= 'done' then\n"
    "      redis.call('HSET', led, id, val .. 'inflight')\n"
    "    elseif mode == 'done' then\n"
    "      redis.call('HSET', led, id, val .. 'done')\n"
    "    elseif mode == 'undo' and st ~= 'done' then\n"
    "      redis.call('HSET', led, id, val .. 'open')\n"
    "    end\n"
    "  end\n"
    "  if mode ~= 'begin' then\n"
    "    redis.call('ZADD', KEYS[1], 'LT', now, ARGV[a + 3])\n"
    "  end\n"
    "end\n"
    "return 0\n";

static dh_err_t dispatch_run(dh_redis_t *r, const char *store, const dh_sl_line_t *l, size_t n,
                             const char *mode, int *busy)
{
    sl_args_t a = {0};
    redisReply *rep = NULL;
    dh_err_t err;

    if (busy) {
        *busy = 0;
    }
    if (n == 0) {
        return DH_OK;
    }
    KEY(&a, "dh:inv:repush:%s", store);
    ARG(&a, "%s", mode);
    for (size_t i = 0; i < n; i++) {
        KEY(&a, "dh:inv:ledger:%s:%s|%s", store, l[i].facility, l[i].sku);
        KEY(&a, "dh:inv:shipped:%s:%s|%s", store, l[i].facility, l[i].sku);
        ARG(&a, "%s", l[i].line_id);
        ARG(&a, "%lld", (long long)l[i].stock_seq);
        ARG(&a, "%lld", (long long)l[i].qty);
        ARG(&a, "%s|%s", l[i].facility, l[i].sku);
        ARG(&a, "%d", l[i].stock_seq >= 0);
    }
    for (size_t i = 0; i < n; i++) {
        KEY(&a, "dh:inv:fence:%s:%s|%s", store, l[i].facility, l[i].sku);
    }
    err = run(r, dispatch_lua, &a, &rep);
    if (err == DH_OK && rep->type != REDIS_REPLY_INTEGER) {
        err = DH_ERR_PROTO;
    }
    if (err == DH_OK && busy) {
        *busy = rep->integer == 1;
    }
    freeReplyObject(rep);
    return err;
}

dh_err_t dh_sl_dispatch_open(dh_redis_t *r, const char *store, const dh_sl_line_t *l, size_t n)
{
    return dispatch_run(r, store, l, n, "open", NULL);
}

dh_err_t dh_sl_dispatch_begin(dh_redis_t *r, const char *store, const dh_sl_line_t *l, size_t n,
                              int *busy)
{
    return dispatch_run(r, store, l, n, "begin", busy);
}

dh_err_t dh_sl_dispatch_finish(dh_redis_t *r, const char *store, const dh_sl_line_t *l, size_t n,
                               int fulfilled)
{
    return dispatch_run(r, store, l, n, fulfilled ? "done" : "undo", NULL);
}

dh_err_t dh_sl_repush_add(dh_redis_t *r, const char *store, const char *facility, const char *sku)
{
    static const char lua[] = LUA_NOW "redis.call('ZADD', KEYS[1], 'LT', now, ARGV[1])\n"
                                      "return 0\n";
    sl_args_t a = {0};
    redisReply *rep = NULL;
    dh_err_t err;

    KEY(&a, "dh:inv:repush:%s", store);
    ARG(&a, "%s|%s", facility, sku);
    err = run(r, lua, &a, &rep);
    freeReplyObject(rep);
    return err;
}

/* ---- fences ------------------------------------------------------------------------------ */

/* KEYS[1] the records; per facility (in item order): fence, ledger. ARGV[1] owner, [2]
 * lease, [3] items; per item: nfac, then per facility: field, cand_seq, cand_base.
 * Returns per item {busy, then per facility: rec_seq, rec_base, rec_pushed, seq, base, adj}. */
static const char fence_lua[] =
    LUA_ENTRY "local function rec(field)\n"
              "  local v = redis.call('HGET', KEYS[1], field)\n"
              "  if not v then return -1, -1, -1 end\n"
              "  local s, b, p = string.match(v, '^(%-?%d+) (%-?%d+) (%-?%d+)$')\n"
              "  if s then return tonumber(s), tonumber(b), tonumber(p) end\n"
              "  s, b = string.match(v, '^(%-?%d+) (%-?%d+)$')\n"
              "  if s then return tonumber(s), tonumber(b), tonumber(b) end\n"
              "  return -1, -1, -1\n"
              "end\n"
              "local function adj(led, s)\n"
              "  local e = redis.call('HGETALL', led)\n"
              "  local d = 0\n"
              "  for i = 2, #e, 2 do\n"
              "    local ss, q, st = entry(e[i])\n"
              "    if ss then\n"
              "      if st == 'open' and ss <= s then d = d + q\n"
              "      elseif st ~= 'open' and ss > s then d = d - q end\n"
              "    end\n"
              "  end\n"
              "  return d\n"
              "end\n"
              "local owner, lease = ARGV[1], ARGV[2]\n"
              "local a, k, out = 4, 2, {}\n"
              "for it = 1, tonumber(ARGV[3]) do\n"
              "  local nf = tonumber(ARGV[a]); a = a + 1\n"
              "  local r = {0}\n"
              "  for j = 0, nf - 1 do\n"
              "    local o = redis.call('GET', KEYS[k + 2 * j])\n"
              "    if o and o ~= owner then r[1] = 1 end\n"
              "  end\n"
              "  for j = 0, nf - 1 do\n"
              "    if r[1] == 1 then break end\n"
              "    redis.call('SET', KEYS[k + 2 * j], owner, 'PX', lease)\n"
              "    local cs, cb = tonumber(ARGV[a + 3 * j + 1]), tonumber(ARGV[a + 3 * j + 2])\n"
              "    local rs, rb, rp = rec(ARGV[a + 3 * j])\n"
              "    local s, b = rs, rb\n"
              "    if cs >= 0 and cs >= rs then s, b = cs, cb end\n"
              "    local d = 0\n"
              "    if s >= 0 then d = adj(KEYS[k + 2 * j + 1], s) end\n"
              "    for _, x in ipairs({rs, rb, rp, s, b, d}) do r[#r + 1] = x end\n"
              "  end\n"
              "  out[#out + 1] = r\n"
              "  a = a + 3 * nf; k = k + 2 * nf\n"
              "end\n"
              "return out\n";

static int fill_item(dh_sl_item_t *it, const redisReply *e)
{
    if (e->type != REDIS_REPLY_ARRAY || e->elements < 1) {
        return -1;
    }
    for (size_t i = 0; i < e->elements; i++) {
        if (e->element[i]->type != REDIS_REPLY_INTEGER) {
            return -1;
        }
    }
    it->busy = e->element[0]->integer == 1;
    if (it->busy) {
        return 0;
    }
    if (e->elements != 1 + 6 * it->nfac) {
        return -1;
    }
    for (size_t j = 0; j < it->nfac; j++) {
        redisReply *const *x = e->element + 1 + 6 * j;
        dh_sl_fac_t *f = &it->fac[j];

        f->rec_seq = x[0]->integer;
        f->rec_base = x[1]->integer;
        f->rec_pushed = x[2]->integer;
        f->seq = x[3]->integer;
        f->base = x[4]->integer;
        f->adj = x[5]->integer;
    }
    return 0;
}

dh_err_t dh_sl_fence_take(dh_redis_t *r, const char *store, const char *owner, long long lease_ms,
                          dh_sl_item_t *items, size_t n)
{
    sl_args_t a = {0};
    redisReply *rep = NULL;
    dh_err_t err;

    if (n == 0) {
        return DH_OK;
    }
    KEY(&a, "dh:inv:seq:%s", store);
    ARG(&a, "%s", owner);
    ARG(&a, "%lld", lease_ms);
    ARG(&a, "%zu", n);
    for (size_t i = 0; i < n; i++) {
        const dh_sl_item_t *it = &items[i];

        ARG(&a, "%zu", it->nfac);
        for (size_t j = 0; j < it->nfac; j++) {
            const dh_sl_fac_t *f = &it->fac[j];

            KEY(&a, "dh:inv:fence:%s:%s|%s", store, f->facility, it->sku);
            KEY(&a, "dh:inv:ledger:%s:%s|%s", store, f->facility, it->sku);
            ARG(&a, "%s|%s", f->facility, it->sku);
            ARG(&a, "%lld", (long long)f->cand_seq);
            ARG(&a, "%lld", (long long)f->cand_base);
        }
    }
    err = run(r, fence_lua, &a, &rep);
    if (err == DH_OK && (rep->type != REDIS_REPLY_ARRAY || rep->elements != n)) {
        err = DH_ERR_PROTO;
    }
    for (size_t i = 0; err == DH_OK && i < n; i++) {
        if (fill_item(&items[i], rep->element[i]) != 0) {
            err = DH_ERR_PROTO;
        }
    }
    if (err == DH_ERR_PROTO) {
        dh_redis_set_error(r, "stockledger: unexpected fence reply");
    }
    freeReplyObject(rep);
    return err;
}

int64_t dh_sl_item_on_hand(const dh_sl_item_t *it)
{
    int64_t sum = 0;
    int any = 0;

    for (size_t j = 0; j < it->nfac; j++) {
        if (it->fac[j].seq >= 0) {
            sum += it->fac[j].base + it->fac[j].adj;
            any = 1;
        }
    }
    if (!any) {
        return -1;
    }
    return sum > 0 ? sum : 0;
}

/* KEYS[1] the records; per facility (item order, busy items skipped): fence, ledger,
 * shipped. ARGV[1] owner, [2] prune keep ms, [3] items; per item: applied, pushed, nfac,
 * then per facility: field, seq, base. */
static const char commit_lua[] = LUA_NOW LUA_ENTRY
    "local owner, keep = ARGV[1], tonumber(ARGV[2])\n"
    "local a, k = 4, 2\n"
    "for it = 1, tonumber(ARGV[3]) do\n"
    "  local applied, pushed, nf = ARGV[a], ARGV[a + 1], tonumber(ARGV[a + 2])\n"
    "  a = a + 3\n"
    "  for j = 0, nf - 1 do\n"
    "    local fence, led, shipped = KEYS[k + 3 * j], KEYS[k + 3 * j + 1], KEYS[k + 3 * j + 2]\n"
    "    local field, sa = ARGV[a + 3 * j], ARGV[a + 3 * j + 1]\n"
    "    local s = tonumber(sa)\n"
    "    if applied == '1' and s >= 0 then\n"
    "      local cur = redis.call('HGET', KEYS[1], field)\n"
    "      local rs = cur and tonumber(string.match(cur, '^(%-?%d+)')) or -1\n"
    "      if s >= rs then\n"
    "        redis.call('HSET', KEYS[1], field, sa .. ' ' .. ARGV[a + 3 * j + 2] .. ' ' .. "
    "pushed)\n"
    "        rs = s\n"
    "      end\n"
    "      local e = redis.call('HGETALL', led)\n"
    "      local pruned = 0\n"
    "      for i = 1, #e, 2 do\n"
    "        local ss, _, st = entry(e[i + 1])\n"
    "        if ss and st == 'done' and ss <= rs then\n"
    "          redis.call('HDEL', led, e[i])\n"
    "          redis.call('ZADD', shipped, now, e[i])\n"
    "          pruned = 1\n"
    "        end\n"
    "      end\n"
    "      if pruned == 1 then\n"
    "        redis.call('ZREMRANGEBYSCORE', shipped, '-inf', now - keep)\n"
    "        redis.call('PEXPIRE', shipped, keep)\n"
    "      end\n"
    "    end\n"
    "    if redis.call('GET', fence) == owner then redis.call('DEL', fence) end\n"
    "  end\n"
    "  a = a + 3 * nf; k = k + 3 * nf\n"
    "end\n"
    "return 0\n";

dh_err_t dh_sl_commit(dh_redis_t *r, const char *store, const char *owner,
                      const dh_sl_item_t *items, size_t n)
{
    sl_args_t a = {0};
    redisReply *rep = NULL;
    size_t live = 0;
    dh_err_t err;

    KEY(&a, "dh:inv:seq:%s", store);
    ARG(&a, "%s", owner);
    ARG(&a, "%lld", (long long)DH_SL_PRUNED_KEEP_MS);
    for (size_t i = 0; i < n; i++) {
        live += !items[i].busy;
    }
    ARG(&a, "%zu", live);
    for (size_t i = 0; i < n; i++) {
        const dh_sl_item_t *it = &items[i];

        if (it->busy) {
            continue;
        }
        ARG(&a, "%d", it->applied ? 1 : 0);
        ARG(&a, "%lld", (long long)it->pushed);
        ARG(&a, "%zu", it->nfac);
        for (size_t j = 0; j < it->nfac; j++) {
            const dh_sl_fac_t *f = &it->fac[j];

            KEY(&a, "dh:inv:fence:%s:%s|%s", store, f->facility, it->sku);
            KEY(&a, "dh:inv:ledger:%s:%s|%s", store, f->facility, it->sku);
            KEY(&a, "dh:inv:shipped:%s:%s|%s", store, f->facility, it->sku);
            ARG(&a, "%s|%s", f->facility, it->sku);
            ARG(&a, "%lld", (long long)f->seq);
            ARG(&a, "%lld", (long long)f->base);
        }
    }
    if (live == 0) {
        args_free(&a);
        return DH_OK;
    }
    err = run(r, commit_lua, &a, &rep);
    freeReplyObject(rep);
    return err;
}

/* ---- the re-push queue ------------------------------------------------------------------- */

static const char claim_lua[] = LUA_NOW
    "local m = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[2]))\n"
    "local claim = now + tonumber(ARGV[1])\n"
    "for _, x in ipairs(m) do redis.call('ZADD', KEYS[1], claim, x) end\n"
    "table.insert(m, 1, claim)\n"
    "return m\n";

/* Splits "<facility>|<sku>" into \p c; -1 when it does not fit. */
static int split_member(const redisReply *e, dh_sl_repush_t *c)
{
    const char *bar;
    size_t flen;

    if (e->type != REDIS_REPLY_STRING || (bar = memchr(e->str, '|', e->len)) == NULL) {
        return -1;
    }
    flen = (size_t)(bar - e->str);
    if (flen == 0 || flen >= sizeof(c->facility) || e->len - flen - 1 >= sizeof(c->sku) ||
        e->len - flen - 1 == 0) {
        return -1;
    }
    memcpy(c->facility, e->str, flen);
    c->facility[flen] = '\0';
    memcpy(c->sku, bar + 1, e->len - flen - 1);
    c->sku[e->len - flen - 1] = '\0';
    return 0;
}

static void drop_member(dh_redis_t *r, const char *store, const redisReply *e)
{
    char key[512];
    const char *argv[3] = {"ZREM", key, e->str};
    size_t lens[3];

    snprintf(key, sizeof(key), "dh:inv:repush:%s", store);
    lens[0] = 4;
    lens[1] = strlen(key);
    lens[2] = e->len;
    if (dh_redis_command(r, 3, argv, lens, NULL) != DH_OK) {
        return; /* best effort: it is claimed, and dropped, again */
    }
}

dh_err_t dh_sl_repush_claim(dh_redis_t *r, const char *store, long long lease_ms,
                            dh_sl_repush_t *out, size_t max, size_t *n)
{
    sl_args_t a = {0};
    redisReply *rep = NULL;
    dh_err_t err;

    *n = 0;
    if (max == 0) {
        return DH_OK;
    }
    KEY(&a, "dh:inv:repush:%s", store);
    ARG(&a, "%lld", lease_ms);
    ARG(&a, "%zu", max);
    err = run(r, claim_lua, &a, &rep);
    if (err == DH_OK && (rep->type != REDIS_REPLY_ARRAY || rep->elements < 1 ||
                         rep->element[0]->type != REDIS_REPLY_INTEGER)) {
        err = DH_ERR_PROTO;
    }
    for (size_t i = 1; err == DH_OK && i < rep->elements && *n < max; i++) {
        if (split_member(rep->element[i], &out[*n]) != 0) {
            if (rep->element[i]->type == REDIS_REPLY_STRING) {
                drop_member(r, store, rep->element[i]);
            }
            continue;
        }
        out[(*n)++].claim = rep->element[0]->integer;
    }
    freeReplyObject(rep);
    return err;
}

/* ARGV[1] member, [2] claim, [3] delay (absent: remove). */
static const char settle_lua[] =
    LUA_NOW "local sc = redis.call('ZSCORE', KEYS[1], ARGV[1])\n"
            "if not sc or tonumber(sc) ~= tonumber(ARGV[2]) then return 0 end\n"
            "if ARGV[3] then redis.call('ZADD', KEYS[1], 'XX', now + tonumber(ARGV[3]), ARGV[1])\n"
            "else redis.call('ZREM', KEYS[1], ARGV[1]) end\n"
            "return 1\n";

static dh_err_t settle(dh_redis_t *r, const char *store, const dh_sl_repush_t *c,
                       long long delay_ms)
{
    sl_args_t a = {0};
    redisReply *rep = NULL;
    dh_err_t err;

    KEY(&a, "dh:inv:repush:%s", store);
    ARG(&a, "%s|%s", c->facility, c->sku);
    ARG(&a, "%lld", (long long)c->claim);
    if (delay_ms >= 0) {
        ARG(&a, "%lld", delay_ms);
    }
    err = run(r, settle_lua, &a, &rep);
    freeReplyObject(rep);
    return err;
}

dh_err_t dh_sl_repush_done(dh_redis_t *r, const char *store, const dh_sl_repush_t *c)
{
    return settle(r, store, c, -1);
}

dh_err_t dh_sl_repush_later(dh_redis_t *r, const char *store, const dh_sl_repush_t *c,
                            long long delay_ms)
{
    return settle(r, store, c, delay_ms < 0 ? 0 : delay_ms);
}
