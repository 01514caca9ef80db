/*
 * Synchronous Redis connection on hiredis 0.14 (blocking context with timeouts).
 *
 * What it does: lazy connect + AUTH + SELECT, reconnect on the call after any I/O error
 * (a hiredis context is dead after an error), a cap on the size of one reply, pipelines,
 * and EVALSHA with NOSCRIPT fallback. What it does not: retry a failed command (the
 * command may or may not have run; the caller decides), or any thread safety.
 *
 * Reply cap: hiredis 0.14 has no reply limit (reader->maxbuf only bounds the *idle*
 * buffer it keeps between replies). We enforce one in two places: while reading, the
 * unparsed buffer may not exceed the cap (one huge bulk string), and reply objects are
 * built through wrapped object functions that count bytes (many small elements). Past
 * the cap the reply fails with DH_ERR_LIMIT and the connection is dropped, since the
 * rest of the reply is still in flight.
 */
#include "dockhand/redis.h"

#include <stdarg.h>

#include <errno.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "redis_internal.h"

#define SCRIPT_CACHE_MAX 16
#define SHA_HEX_LEN      40
#define SMALL_ARGV       16

typedef struct script_ent {
    char *text;                /**< Copy of the script (cache key). */
    char sha[SHA_HEX_LEN + 1]; /**< Lower-case hex SHA1 of text. */
} script_ent_t;

struct dh_redis_s {
    redisContext *c; /**< NULL while disconnected. */
    char host[256];
    int port;
    int db;
    char user[128];     /**< ACL user; empty for the default user. */
    char password[256]; /**< Empty when no AUTH is needed. Never copied into errstr. */
    int timeout_ms;
    size_t max_reply;              /**< Cap on one reply's size. */
    size_t reply_bytes;            /**< Bytes counted so far in the reply being read. */
    int over_limit;                /**< Set by the object functions when the cap is passed. */
    redisReplyObjectFunctions fns; /**< Counting wrappers (reader->fn). */
    const redisReplyObjectFunctions *orig; /**< hiredis defaults, called by the wrappers. */
    script_ent_t scripts[SCRIPT_CACHE_MAX];
    size_t nscripts;
    size_t script_next; /**< Round-robin slot to evict when the cache is full. */
    char errstr[256];
};

/* ---- URL parsing -------------------------------------------------------------------- */

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9') {
        return ch - '0';
    }
    if (ch >= 'a' && ch <= 'f') {
        return ch - 'a' + 10;
    }
    if (ch >= 'A' && ch <= 'F') {
        return ch - 'A' + 10;
    }
    return -1;
}

/* Copy [src, src+len) into dst, percent-decoding (passwords may contain '@' or ':'). */
static int copy_decoded(char *dst, size_t dst_size, const char *src, size_t len)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        char ch = src[i];
        if (ch == '%' && i + 2 < len && hexval(src[i + 1]) >= 0 && hexval(src[i + 2]) >= 0) {
            ch = (char)(hexval(src[i + 1]) * 16 + hexval(src[i + 2]));
            i += 2;
        }
        if (o + 1 >= dst_size) {
            return -1;
        }
        dst[o++] = ch;
    }
    dst[o] = '\0';
    return 0;
}

static int parse_number(const char *s, size_t len, long max, long *out)
{
    long v = 0;
    if (len == 0 || len > 9) {
        return -1;
    }
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return -1;
        }
        v = v * 10 + (s[i] - '0');
    }
    if (v > max) {
        return -1;
    }
    *out = v;
    return 0;
}

static const char *parse_userinfo(dh_redis_t *r, const char *p, const char *auth_end)
{
    const char *at = memchr(p, '@', (size_t)(auth_end - p));
    const char *colon;
    if (at == NULL) {
        return p;
    }
    colon = memchr(p, ':', (size_t)(at - p));
    if (colon == NULL) {
        /* "redis://secret@host": a bare userinfo is the password (common in the wild). */
        colon = p - 1;
    } else if (copy_decoded(r->user, sizeof(r->user), p, (size_t)(colon - p)) != 0) {
        return NULL;
    }
    if (copy_decoded(r->password, sizeof(r->password), colon + 1, (size_t)(at - colon - 1)) != 0) {
        return NULL;
    }
    return at + 1;
}

/* Parses redis://[[user]:password@]host[:port][/db] or host:port into r. */
static const char *parse_url(dh_redis_t *r, const char *url)
{
    const char *p = url;
    const char *auth_end;
    const char *host_end;
    const char *port_s = NULL;
    long v = 0;

    if (strncmp(p, "rediss://", 9) == 0) {
        return "TLS (rediss://) is not supported";
    }
    if (strncmp(p, "redis://", 8) == 0) {
        p += 8;
    }
    auth_end = p + strcspn(p, "/");
    p = parse_userinfo(r, p, auth_end);
    if (p == NULL) {
        return "user or password too long";
    }
    if (*p == '[') { /* [IPv6]:port */
        host_end = memchr(p, ']', (size_t)(auth_end - p));
        if (host_end == NULL) {
            return "unterminated '[' in host";
        }
        p++;
        port_s = (host_end + 1 < auth_end && host_end[1] == ':') ? host_end + 2 : NULL;
    } else {
        const char *colon = memchr(p, ':', (size_t)(auth_end - p));
        host_end = colon != NULL ? colon : auth_end;
        port_s = colon != NULL ? colon + 1 : NULL;
    }
    if (host_end == p || (size_t)(host_end - p) >= sizeof(r->host)) {
        return "missing or too long host";
    }
    memcpy(r->host, p, (size_t)(host_end - p));
    r->host[host_end - p] = '\0';
    r->port = 6379;
    if (port_s != NULL) {
        if (parse_number(port_s, (size_t)(auth_end - port_s), 65535, &v) != 0 || v == 0) {
            return "bad port";
        }
        r->port = (int)v;
    }
    r->db = 0;
    if (*auth_end == '/' && auth_end[1] != '\0') {
        if (parse_number(auth_end + 1, strlen(auth_end + 1), 1000000, &v) != 0) {
            return "bad database number";
        }
        r->db = (int)v;
    }
    return NULL;
}

/* ---- reply size accounting ----------------------------------------------------------- */

static int account(const redisReadTask *task, size_t bytes)
{
    dh_redis_t *r = task->privdata;
    if (r == NULL) {
        return 0;
    }
    r->reply_bytes += bytes + sizeof(redisReply);
    if (r->reply_bytes > r->max_reply) {
        r->over_limit = 1;
        return -1;
    }
    return 0;
}

static void *wrap_string(const redisReadTask *task, char *str, size_t len)
{
    dh_redis_t *r = task->privdata;
    /* Returning NULL makes hiredis fail the reply (as out of memory); we map it. */
    return account(task, len) == 0 ? r->orig->createString(task, str, len) : NULL;
}

static void *wrap_array(const redisReadTask *task, int elements)
{
    dh_redis_t *r = task->privdata;
    size_t bytes = elements > 0 ? (size_t)elements * sizeof(redisReply *) : 0;
    return account(task, bytes) == 0 ? r->orig->createArray(task, elements) : NULL;
}

static void *wrap_integer(const redisReadTask *task, long long value)
{
    dh_redis_t *r = task->privdata;
    return account(task, 0) == 0 ? r->orig->createInteger(task, value) : NULL;
}

static void *wrap_nil(const redisReadTask *task)
{
    dh_redis_t *r = task->privdata;
    return account(task, 0) == 0 ? r->orig->createNil(task) : NULL;
}

/* ---- connection ------------------------------------------------------------------------ */

void dh_redis_set_error(dh_redis_t *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->errstr, sizeof(r->errstr), fmt, ap);
    va_end(ap);
}

static void disconnect(dh_redis_t *r)
{
    if (r->c != NULL) {
        redisFree(r->c);
        r->c = NULL;
    }
}

/* Maps a failed hiredis call (context error) to dh_err_t, records it, drops the context. */
static dh_err_t fail_ctx(dh_redis_t *r, int saved_errno, const char *what)
{
    dh_err_t err = DH_ERR_IO;
    if (r->over_limit) {
        err = DH_ERR_LIMIT;
        dh_redis_set_error(r, "redis %s:%d: %s: reply larger than %zu bytes", r->host, r->port,
                           what, r->max_reply);
    } else {
        if (r->c != NULL && r->c->err == REDIS_ERR_IO &&
            (saved_errno == EAGAIN || saved_errno == EWOULDBLOCK || saved_errno == ETIMEDOUT)) {
            err = DH_ERR_TIMEOUT;
        } else if (r->c != NULL && r->c->err == REDIS_ERR_OOM) {
            err = DH_ERR_NOMEM;
        }
        dh_redis_set_error(r, "redis %s:%d: %s: %s", r->host, r->port, what,
                           r->c != NULL ? r->c->errstr : "no connection");
    }
    disconnect(r);
    return err;
}

/* Reads one reply like redisGetReply(), but refuses to buffer more than the cap. */
static dh_err_t get_reply(dh_redis_t *r, redisReply **out)
{
    redisContext *c = r->c;
    void *reply = NULL;
    int done = 0;

    *out = NULL;
    r->reply_bytes = 0;
    r->over_limit = 0;
    do {
        if (redisBufferWrite(c, &done) != REDIS_OK) {
            return fail_ctx(r, errno, "write");
        }
    } while (!done);
    if (redisGetReplyFromReader(c, &reply) != REDIS_OK) {
        return fail_ctx(r, errno, "read");
    }
    while (reply == NULL) {
        if (c->reader->len - c->reader->pos > r->max_reply) {
            r->over_limit = 1;
            return fail_ctx(r, 0, "read");
        }
        if (redisBufferRead(c) != REDIS_OK) {
            return fail_ctx(r, errno, "read");
        }
        if (redisGetReplyFromReader(c, &reply) != REDIS_OK) {
            return fail_ctx(r, errno, "read");
        }
    }
    *out = reply;
    return DH_OK;
}

/* One command on an open connection; an error reply becomes DH_ERR_PROTO. */
static dh_err_t exec_argv(dh_redis_t *r, int argc, const char **argv, const size_t *argvlen,
                          redisReply **out)
{
    redisReply *reply = NULL;
    dh_err_t err;

    if (redisAppendCommandArgv(r->c, argc, argv, argvlen) != REDIS_OK) {
        return fail_ctx(r, errno, "append");
    }
    err = get_reply(r, &reply);
    if (err != DH_OK) {
        return err;
    }
    if (reply->type == REDIS_REPLY_ERROR) {
        dh_redis_set_error(r, "redis %s:%d: %.*s", r->host, r->port, (int)reply->len, reply->str);
        freeReplyObject(reply);
        return DH_ERR_PROTO;
    }
    *out = reply;
    return DH_OK;
}

static dh_err_t auth_and_select(dh_redis_t *r)
{
    redisReply *reply = NULL;
    char dbs[16];
    const char *argv[3];
    dh_err_t err = DH_OK;

    if (r->password[0] != '\0') {
        int argc = 0;
        argv[argc++] = "AUTH";
        if (r->user[0] != '\0') {
            argv[argc++] = r->user;
        }
        argv[argc++] = r->password;
        err = exec_argv(r, argc, argv, NULL, &reply);
        if (err != DH_OK) {
            goto out;
        }
        freeReplyObject(reply);
        reply = NULL;
    }
    if (r->db != 0) {
        snprintf(dbs, sizeof(dbs), "%d", r->db);
        argv[0] = "SELECT";
        argv[1] = dbs;
        err = exec_argv(r, 2, argv, NULL, &reply);
    }
out:
    freeReplyObject(reply);
    return err;
}

dh_err_t dh_redis_connect(dh_redis_t *r)
{
    struct timeval tv;
    dh_err_t err;

    if (r->c != NULL) {
        return DH_OK;
    }
    tv.tv_sec = r->timeout_ms / 1000;
    tv.tv_usec = (long)(r->timeout_ms % 1000) * 1000;
    r->c = redisConnectWithTimeout(r->host, r->port, tv);
    if (r->c == NULL) {
        dh_redis_set_error(r, "redis %s:%d: out of memory", r->host, r->port);
        return DH_ERR_NOMEM;
    }
    if (r->c->err != 0) {
        return fail_ctx(r, errno, "connect");
    }
    if (redisSetTimeout(r->c, tv) != REDIS_OK) {
        return fail_ctx(r, errno, "set timeout");
    }
    /* Dead peers behind NAT/load balancers are found without waiting for a command. */
    (void)redisEnableKeepAlive(r->c);
    r->orig = r->c->reader->fn;
    r->fns = *r->orig;
    r->fns.createString = wrap_string;
    r->fns.createArray = wrap_array;
    r->fns.createInteger = wrap_integer;
    r->fns.createNil = wrap_nil;
    r->c->reader->fn = &r->fns;
    r->c->reader->privdata = r;
    err = auth_and_select(r);
    if (err != DH_OK) {
        disconnect(r); /* A half-set-up connection (wrong db, no auth) must not be reused. */
    }
    return err;
}

dh_redis_t *dh_redis_new(const dh_redis_opts_t *opts, char *errstr, size_t errstr_size)
{
    dh_redis_t *r = NULL;
    const char *why;

    if (opts == NULL || opts->url == NULL || opts->url[0] == '\0') {
        snprintf(errstr, errstr_size, "redis: no URL");
        return NULL;
    }
    r = calloc(1, sizeof(*r));
    if (r == NULL) {
        snprintf(errstr, errstr_size, "redis: out of memory");
        return NULL;
    }
    why = parse_url(r, opts->url);
    if (why == NULL && opts->password != NULL && opts->password[0] != '\0') {
        size_t len = strlen(opts->password);
        if (len >= sizeof(r->password)) {
            why = "password too long";
        } else {
            memcpy(r->password, opts->password, len + 1);
        }
    }
    if (why != NULL) {
        /* The URL itself is not echoed: it may carry the password. */
        snprintf(errstr, errstr_size,
                 "redis: invalid URL (%s); expected redis://[:password@]host:port[/db]", why);
        free(r);
        return NULL;
    }
    r->timeout_ms = opts->timeout_ms > 0 ? opts->timeout_ms : 2000;
    r->max_reply = DH_REDIS_MAX_REPLY;
    return r;
}

void dh_redis_destroy(dh_redis_t *r)
{
    if (r == NULL) {
        return;
    }
    disconnect(r);
    for (size_t i = 0; i < r->nscripts; i++) {
        free(r->scripts[i].text);
    }
    /* Do not leave the password in freed heap memory. */
    memset(r->password, 0, sizeof(r->password));
    free(r);
}

const char *dh_redis_errstr(const dh_redis_t *r)
{
    return r != NULL ? r->errstr : "redis: no handle";
}

void dh_redis_set_max_reply(dh_redis_t *r, size_t max_bytes)
{
    r->max_reply = max_bytes > 0 ? max_bytes : DH_REDIS_MAX_REPLY;
}

int dh_redis_is_connected(const dh_redis_t *r)
{
    return r->c != NULL;
}

/* ---- commands --------------------------------------------------------------------------- */

/* A command's single reply: an error reply becomes DH_ERR_PROTO with its text in errstr;
 * otherwise it goes to *out (or is freed when out is NULL). Takes \p reply. */
static dh_err_t take_reply(dh_redis_t *r, redisReply *reply, redisReply **out)
{
    dh_err_t err = DH_OK;

    if (reply->type == REDIS_REPLY_ERROR) {
        dh_redis_set_error(r, "redis %s:%d: %.*s", r->host, r->port, (int)reply->len, reply->str);
        err = DH_ERR_PROTO;
    } else if (out != NULL) {
        *out = reply;
        reply = NULL;
    }
    freeReplyObject(reply);
    return err;
}

dh_err_t dh_redis_command(dh_redis_t *r, int argc, const char **argv, const size_t *argvlen,
                          redisReply **out)
{
    redisReply *reply = NULL;
    dh_err_t err;

    if (out != NULL) {
        *out = NULL;
    }
    r->errstr[0] = '\0';
    err = dh_redis_connect(r);
    if (err != DH_OK) {
        return err;
    }
    err = exec_argv(r, argc, argv, argvlen, &reply);
    if (err == DH_OK && out != NULL) {
        *out = reply;
        reply = NULL;
    }
    freeReplyObject(reply);
    return err;
}

dh_err_t dh_redis_commandf(dh_redis_t *r, redisReply **out, const char *fmt, ...)
{
    redisReply *reply = NULL;
    dh_err_t err;
    va_list ap;
    int rc;

    if (out != NULL) {
        *out = NULL;
    }
    r->errstr[0] = '\0';
    err = dh_redis_connect(r);
    if (err != DH_OK) {
        return err;
    }
    va_start(ap, fmt);
    rc = redisvAppendCommand(r->c, fmt, ap);
    va_end(ap);
    if (rc != REDIS_OK) {
        return fail_ctx(r, errno, "append");
    }
    err = get_reply(r, &reply);
    if (err != DH_OK) {
        return err;
    }
    return take_reply(r, reply, out);
}

/* Reads n replies of an already appended pipeline; on failure frees what it read. */
static dh_err_t read_replies(dh_redis_t *r, size_t n, redisReply **replies)
{
    dh_err_t err = DH_OK;
    size_t i;

    for (i = 0; i < n; i++) {
        err = get_reply(r, &replies[i]);
        if (err != DH_OK) {
            break;
        }
    }
    if (err != DH_OK) {
        for (size_t j = 0; j < i; j++) {
            freeReplyObject(replies[j]);
            replies[j] = NULL;
        }
    }
    return err;
}

/* A pipeline's start: no replies yet, no stale error, a connection. DH_OK with n == 0 means
 * there is nothing to send. */
static dh_err_t pipeline_begin(dh_redis_t *r, size_t n, redisReply **replies)
{
    for (size_t i = 0; i < n; i++) {
        replies[i] = NULL;
    }
    r->errstr[0] = '\0';
    return dh_redis_connect(r);
}

dh_err_t dh_redis_pipeline(dh_redis_t *r, size_t n, const int *argc, const char **const *argv,
                           const size_t *const *argvlen, redisReply **replies)
{
    dh_err_t err = pipeline_begin(r, n, replies);

    if (err != DH_OK || n == 0) {
        return err;
    }
    for (size_t i = 0; i < n; i++) {
        const size_t *lens = argvlen != NULL ? argvlen[i] : NULL;
        if (redisAppendCommandArgv(r->c, argc[i], argv[i], lens) != REDIS_OK) {
            return fail_ctx(r, errno, "append");
        }
    }
    return read_replies(r, n, replies);
}

dh_err_t dh_redis_pipeline_raw(dh_redis_t *r, const char *cmds, size_t len, size_t n,
                               redisReply **replies)
{
    dh_err_t err = pipeline_begin(r, n, replies);

    if (err != DH_OK || n == 0) {
        return err;
    }
    if (redisAppendFormattedCommand(r->c, cmds, len) != REDIS_OK) {
        return fail_ctx(r, errno, "append");
    }
    return read_replies(r, n, replies);
}

/* ---- scripts ------------------------------------------------------------------------------ */

/* SHA1 hex of the script, cached per handle (scripts are few and reused constantly). */
static dh_err_t script_sha(dh_redis_t *r, const char *script, const char **sha)
{
    unsigned char md[SHA_DIGEST_LENGTH];
    script_ent_t *e;
    char *copy;

    for (size_t i = 0; i < r->nscripts; i++) {
        if (r->scripts[i].text == script || strcmp(r->scripts[i].text, script) == 0) {
            *sha = r->scripts[i].sha;
            return DH_OK;
        }
    }
    copy = strdup(script);
    if (copy == NULL || SHA1((const unsigned char *)script, strlen(script), md) == NULL) {
        free(copy);
        dh_redis_set_error(r, "redis: out of memory hashing a script");
        return DH_ERR_NOMEM;
    }
    if (r->nscripts < SCRIPT_CACHE_MAX) {
        e = &r->scripts[r->nscripts++];
    } else {
        e = &r->scripts[r->script_next];
        r->script_next = (r->script_next + 1) % SCRIPT_CACHE_MAX;
        free(e->text);
    }
    e->text = copy;
    for (size_t i = 0; i < SHA_DIGEST_LENGTH; i++) {
        snprintf(e->sha + 2 * i, 3, "%02x", md[i]);
    }
    *sha = e->sha;
    return DH_OK;
}

static int is_noscript(const redisReply *reply)
{
    return reply != NULL && reply->type == REDIS_REPLY_ERROR && reply->len >= 8 &&
           strncmp(reply->str, "NOSCRIPT", 8) == 0;
}

static dh_err_t script_load(dh_redis_t *r, const char *script)
{
    const char *argv[3] = {"SCRIPT", "LOAD", script};
    redisReply *reply = NULL;
    dh_err_t err = exec_argv(r, 3, argv, NULL, &reply);
    freeReplyObject(reply);
    return err;
}

/* The calls of one pipelined EVALSHA batch: either n calls of one shape (flat argv,
 * dh_redis_eval_pipeline) or n calls of their own shape (dh_redis_eval_pipeline_v). */
typedef struct eval_calls {
    size_t n;
    int nkeys; /**< Flat layout: every call's key count and argument count. */
    int argc;
    const char *const *argv;
    const size_t *argvlen;
    const int *nkeys_v; /**< Per-call layout when non-NULL. */
    const int *argc_v;
    const char *const *const *argv_v;
    const size_t *const *argvlen_v;
} eval_calls_t;

/* Call i of \p c: its key count, argument count and arguments. */
static void eval_call(const eval_calls_t *c, size_t i, int *nkeys, int *argc,
                      const char *const **argv, const size_t **argvlen)
{
    if (c->nkeys_v != NULL) {
        *nkeys = c->nkeys_v[i];
        *argc = c->argc_v[i];
        *argv = c->argv_v[i];
        *argvlen = c->argvlen_v != NULL ? c->argvlen_v[i] : NULL;
        return;
    }
    *nkeys = c->nkeys;
    *argc = c->argc;
    /* No pointer arithmetic on NULL (argc == 0 calls may pass argv == NULL). */
    *argv = c->argv != NULL ? c->argv + i * (size_t)c->argc : NULL;
    *argvlen = c->argvlen != NULL ? c->argvlen + i * (size_t)c->argc : NULL;
}

/* Appends EVALSHA sha nkeys args... (args: argc strings). */
static dh_err_t append_evalsha(dh_redis_t *r, const char *sha, int nkeys, int argc,
                               const char *const *argv, const size_t *argvlen)
{
    const char *small_v[SMALL_ARGV + 3];
    size_t small_l[SMALL_ARGV + 3];
    const char **v = small_v;
    size_t *l = small_l;
    char nkeys_s[16];
    dh_err_t err = DH_OK;

    if (argc > SMALL_ARGV) {
        v = malloc(sizeof(*v) * (size_t)(argc + 3));
        l = malloc(sizeof(*l) * (size_t)(argc + 3));
        if (v == NULL || l == NULL) {
            dh_redis_set_error(r, "redis: out of memory");
            err = DH_ERR_NOMEM;
            goto out;
        }
    }
    snprintf(nkeys_s, sizeof(nkeys_s), "%d", nkeys);
    v[0] = "EVALSHA";
    v[1] = sha;
    v[2] = nkeys_s;
    for (int i = 0; i < 3; i++) {
        l[i] = strlen(v[i]);
    }
    for (int i = 0; i < argc; i++) {
        v[i + 3] = argv[i];
        l[i + 3] = argvlen != NULL ? argvlen[i] : strlen(argv[i]);
    }
    if (redisAppendCommandArgv(r->c, argc + 3, v, l) != REDIS_OK) {
        err = fail_ctx(r, errno, "append");
    }
out:
    if (v != small_v) {
        free(v);
        free(l);
    }
    return err;
}

dh_err_t dh_redis_eval(dh_redis_t *r, const char *script, int nkeys, int argc, const char **argv,
                       const size_t *argvlen, redisReply **out)
{
    redisReply *reply = NULL;
    dh_err_t err;

    if (out != NULL) {
        *out = NULL;
    }
    err = dh_redis_eval_pipeline(r, script, nkeys, 1, argc, argv, argvlen, &reply);
    if (err != DH_OK) {
        return err;
    }
    return take_reply(r, reply, out);
}

/* Appends and reads the calls whose index has todo[i] set (all when todo is NULL). */
static dh_err_t eval_round(dh_redis_t *r, const char *sha, const eval_calls_t *c,
                           const unsigned char *todo, redisReply **replies)
{
    dh_err_t err = DH_OK;

    for (size_t i = 0; i < c->n && err == DH_OK; i++) {
        if (todo == NULL || todo[i]) {
            const char *const *argv;
            const size_t *argvlen;
            int nkeys, argc;

            eval_call(c, i, &nkeys, &argc, &argv, &argvlen);
            err = append_evalsha(r, sha, nkeys, argc, argv, argvlen);
        }
    }
    for (size_t i = 0; i < c->n && err == DH_OK; i++) {
        if (todo == NULL || todo[i]) {
            freeReplyObject(replies[i]);
            replies[i] = NULL;
            err = get_reply(r, &replies[i]);
        }
    }
    return err;
}

static void free_replies(size_t n, redisReply **replies)
{
    for (size_t i = 0; i < n; i++) {
        freeReplyObject(replies[i]);
        replies[i] = NULL;
    }
}

/* After a NOSCRIPT: load the script and re-run only the calls that failed. */
static dh_err_t eval_retry_noscript(dh_redis_t *r, const char *script, const char *sha,
                                    const eval_calls_t *c, redisReply **replies)
{
    unsigned char *todo = NULL;
    dh_err_t err = DH_OK;
    size_t missing = 0;

    for (size_t i = 0; i < c->n; i++) {
        missing += (size_t)is_noscript(replies[i]);
    }
    if (missing == 0) {
        return DH_OK; /* the common case: no allocation */
    }
    todo = calloc(c->n, 1);
    if (todo == NULL) {
        dh_redis_set_error(r, "redis: out of memory");
        err = DH_ERR_NOMEM;
        goto out;
    }
    for (size_t i = 0; i < c->n; i++) {
        todo[i] = (unsigned char)is_noscript(replies[i]);
    }
    err = script_load(r, script);
    if (err != DH_OK) {
        goto out;
    }
    err = eval_round(r, sha, c, todo, replies);
out:
    free(todo);
    return err;
}

static dh_err_t eval_calls_run(dh_redis_t *r, const char *script, const eval_calls_t *c,
                               redisReply **replies)
{
    const char *sha = NULL;
    dh_err_t err;

    for (size_t i = 0; i < c->n; i++) {
        replies[i] = NULL;
    }
    r->errstr[0] = '\0';
    /* The flat layout has one shape, checked even for n == 0 (a caller's bug). */
    for (size_t i = 0; i < (c->nkeys_v != NULL ? c->n : 1); i++) {
        int nkeys = c->nkeys_v != NULL ? c->nkeys_v[i] : c->nkeys;
        int argc = c->nkeys_v != NULL ? c->argc_v[i] : c->argc;

        if (nkeys < 0 || argc < nkeys) {
            dh_redis_set_error(r, "redis: eval: bad key count %d of %d arguments", nkeys, argc);
            return DH_ERR_INVALID;
        }
    }
    err = script_sha(r, script, &sha);
    if (err == DH_OK) {
        err = dh_redis_connect(r);
    }
    if (err != DH_OK || c->n == 0) {
        return err;
    }
    err = eval_round(r, sha, c, NULL, replies);
    if (err == DH_OK) {
        err = eval_retry_noscript(r, script, sha, c, replies);
    }
    if (err != DH_OK) {
        free_replies(c->n, replies);
    }
    return err;
}

dh_err_t dh_redis_eval_pipeline(dh_redis_t *r, const char *script, int nkeys, size_t n, int argc,
                                const char *const *argv, const size_t *argvlen,
                                redisReply **replies)
{
    eval_calls_t c = {.n = n, .nkeys = nkeys, .argc = argc, .argv = argv, .argvlen = argvlen};

    return eval_calls_run(r, script, &c, replies);
}

dh_err_t dh_redis_eval_pipeline_v(dh_redis_t *r, const char *script, size_t n, const int *nkeys,
                                  const int *argc, const char *const *const *argv,
                                  const size_t *const *argvlen, redisReply **replies)
{
    eval_calls_t c = {
        .n = n, .nkeys_v = nkeys, .argc_v = argc, .argv_v = argv, .argvlen_v = argvlen};

    return eval_calls_run(r, script, &c, replies);
}
