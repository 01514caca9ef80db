/*
 * dh_idem against a real redis-server (DH_TEST_REDIS_URL, default redis://127.0.0.1:36379):
 * claim/finish/lookup semantics of the batch records, every value a claim can meet (also
 * those written before batches), lease expiry (a crash mid-effect is retried, never taken
 * for done), effects that failed never read as done, the cost of a batch (round trips and
 * SET commands), unreachable Redis and reconnect after the server drops our connection.
 *
 * Round trips are counted by wrapping hiredis' redisBufferWrite/redisBufferRead with
 * -Wl,--wrap (see CMakeLists.txt): a round trip starts when a non-empty write follows
 * a read; the SET commands of a round trip are counted in its output buffer then.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "dockhand/idem.h"
#include "dockhand/redis.h"
#include "harness.h"
#include "redis_internal.h"

/* cmocka.h needs these three first; keep clang-format from sorting it above them. */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
/* clang-format on */

/* ---- round-trip and SET counters (linker-wrapped hiredis calls) ---------------------- */

int __real_redisBufferWrite(redisContext *c, int *done);
int __real_redisBufferRead(redisContext *c);
int __wrap_redisBufferWrite(redisContext *c, int *done);
int __wrap_redisBufferRead(redisContext *c);

static int g_round_trips;
static int g_sets; /* SET commands sent (counted in each round trip's whole buffer) */
static int g_last_was_write;

int __wrap_redisBufferWrite(redisContext *c, int *done)
{
    if (c->obuf != NULL && c->obuf[0] != '\0' && !g_last_was_write) {
        static const char set[] = "\r\n$3\r\nSET\r\n";

        g_round_trips++;
        g_last_was_write = 1;
        for (const char *p = c->obuf; (p = strstr(p, set)) != NULL; p += sizeof(set) - 1) {
            g_sets++;
        }
    }
    return __real_redisBufferWrite(c, done);
}

int __wrap_redisBufferRead(redisContext *c)
{
    g_last_was_write = 0;
    return __real_redisBufferRead(c);
}

/* ---- fixtures ------------------------------------------------------------------------ */

static char g_url[256];
static char g_ns[64];

static dh_redis_t *conn(const char *url, int timeout_ms)
{
    dh_redis_opts_t o = {.url = url, .password = NULL, .timeout_ms = timeout_ms};
    char err[256];
    dh_redis_t *r = dh_redis_new(&o, err, sizeof(err));
    if (r == NULL) {
        fail_msg("dh_redis_new(%s): %s", url, err);
    }
    return r;
}

static int setup(void **state)
{
    dh_redis_t *r;
    dh_err_t err;
    (void)state;

    snprintf(g_url, sizeof(g_url), "%s", th_redis_url());
    snprintf(g_ns, sizeof(g_ns), "dhtest%ld-%ld", (long)getpid(), (long)time(NULL));
    r = conn(g_url, 2000);
    err = dh_redis_connect(r);
    if (err != DH_OK) {
        fprintf(stderr, "no Redis at %s: %s\n", g_url, dh_redis_errstr(r));
    }
    dh_redis_destroy(r);
    return err == DH_OK ? 0 : -1;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

/* Claims \p id alone in a new batch of \p owner (its id in \p batch when not NULL). */
static dh_idem_state_t claim1(dh_redis_t *r, const char *owner, int64_t lease_ms, const char *id,
                              int64_t *wait, char *batch)
{
    char b[DH_IDEM_BATCH_LEN + 1];
    dh_idem_state_t st = DH_IDEM_ABSENT;
    int64_t w = -1;

    dh_idem_batch_id(b);
    assert_int_equal(dh_idem_claim(r, g_ns, owner, b, lease_ms, 3600, 1, &id, &st, &w), DH_OK);
    assert_int_not_equal(st, DH_IDEM_ABSENT);
    if (wait != NULL) {
        *wait = w;
    }
    if (batch != NULL) {
        memcpy(batch, b, sizeof(b));
    }
    return st;
}

/* Finishes \p batch with \p ndone effects done and \p failed (NULL: none) released;
 * returns whether the lease was still held. */
static int finish(dh_redis_t *r, const char *owner, const char *batch, size_t ndone,
                  const char *failed)
{
    int held = -1;

    assert_int_equal(dh_idem_finish(r, g_ns, owner, batch, 3600, ndone, failed ? 1 : 0,
                                    failed ? &failed : NULL, &held),
                     DH_OK);
    assert_true(held == 0 || held == 1);
    return held;
}

static dh_idem_state_t lookup1(dh_redis_t *r, const char *id, char *batch)
{
    char b[1][DH_IDEM_BATCH_LEN + 1];
    dh_idem_state_t st = DH_IDEM_CLAIMED;

    assert_int_equal(dh_idem_lookup(r, g_ns, 1, &id, &st, b), DH_OK);
    if (batch != NULL) {
        memcpy(batch, b[0], sizeof(b[0]));
    }
    return st;
}

/* A raw command on key "<ns>:<what>", with one more argument \p rest (or none); returns
 * the reply (caller frees). */
static redisReply *on_key(dh_redis_t *r, const char *cmd, const char *what, const char *rest)
{
    redisReply *reply = NULL;

    dh_err_t err = rest != NULL ? dh_redis_commandf(r, &reply, "%s %s:%s %s", cmd, g_ns, what, rest)
                                : dh_redis_commandf(r, &reply, "%s %s:%s", cmd, g_ns, what);

    if (err != DH_OK) {
        fail_msg("%s %s: %s", cmd, what, dh_redis_errstr(r));
    }
    assert_non_null(reply);
    return reply;
}

static void assert_value(dh_redis_t *r, const char *what, const char *value)
{
    redisReply *reply = on_key(r, "GET", what, NULL);

    if (value == NULL) {
        assert_int_equal(reply->type, REDIS_REPLY_NIL);
    } else {
        assert_int_equal(reply->type, REDIS_REPLY_STRING);
        assert_string_equal(reply->str, value);
    }
    freeReplyObject(reply);
}

static long long key_pttl(dh_redis_t *r, const char *what)
{
    redisReply *reply = on_key(r, "PTTL", what, NULL);
    long long t = reply->integer;

    freeReplyObject(reply);
    return t;
}

static void put(dh_redis_t *r, const char *what, const char *value, long long px)
{
    redisReply *reply = NULL;

    if (px > 0) {
        assert_int_equal(
            dh_redis_commandf(r, &reply, "SET %s:%s %s PX %lld", g_ns, what, value, px), DH_OK);
    } else {
        assert_int_equal(dh_redis_commandf(r, &reply, "SET %s:%s %s", g_ns, what, value), DH_OK);
    }
    freeReplyObject(reply);
}

/* \p prefix followed by \p x, in one of four rotating buffers (a call may use several):
 * "idem:<id>" and "idem-batch:<batch>" (an effect's and a batch's keys after "<ns>:"),
 * "b:<batch>" (an effect's record pointing at a batch). */
static const char *cat(const char *prefix, const char *x)
{
    static char buf[4][320];
    static int k;

    k = (k + 1) % 4;
    snprintf(buf[k], sizeof(buf[k]), "%s%s", prefix, x);
    return buf[k];
}

static const char *rec(const char *id)
{
    return cat("idem:", id);
}

static const char *brec(const char *batch)
{
    return cat("idem-batch:", batch);
}

static const char *points_at(const char *batch)
{
    return cat("b:", batch);
}

/* Makes key "<ns>:<what>" vanish as an expired lease would, and waits until it has. */
static void expire_key(dh_redis_t *r, const char *what)
{
    redisReply *reply = on_key(r, "PEXPIRE", what, "1");
    double t0 = now_ms();

    assert_int_equal(reply->integer, 1);
    freeReplyObject(reply);
    for (;;) {
        reply = on_key(r, "EXISTS", what, NULL);
        if (reply->integer == 0) {
            freeReplyObject(reply);
            break;
        }
        freeReplyObject(reply);
        assert_true(now_ms() - t0 < 2000);
        sleep_ms(2);
    }
}

/* ---- tests ------------------------------------------------------------------------------ */

static void test_batch_ids(void **state)
{
    char a[DH_IDEM_BATCH_LEN + 1], b[DH_IDEM_BATCH_LEN + 1];
    (void)state;

    dh_idem_batch_id(a);
    dh_idem_batch_id(b);
    assert_int_equal(strlen(a), DH_IDEM_BATCH_LEN);
    assert_int_equal(strspn(a, "0123456789abcdef"), DH_IDEM_BATCH_LEN);
    assert_string_not_equal(a, b);
}

static void test_claim_finish_cycle(void **state)
{
    dh_redis_t *r = conn(g_url, 2000);
    const char *id = "order-1001:create";
    char a1[DH_IDEM_BATCH_LEN + 1], a2[DH_IDEM_BATCH_LEN + 1], seen[DH_IDEM_BATCH_LEN + 1];
    int64_t wait = 0;
    (void)state;

    assert_int_equal(lookup1(r, id, seen), DH_IDEM_ABSENT);
    assert_string_equal(seen, "");
    assert_int_equal(claim1(r, "A", 10000, id, &wait, a1), DH_IDEM_CLAIMED);
    assert_int_equal(wait, 0);
    assert_value(r, rec(id), points_at(a1));
    assert_in_range(key_pttl(r, rec(id)), 3500 * 1000, 3600 * 1000);
    assert_value(r, brec(a1), "lease:A");
    assert_in_range(key_pttl(r, brec(a1)), 9000, 10000);
    assert_int_equal(lookup1(r, id, seen), DH_IDEM_LEASED);
    assert_string_equal(seen, a1);
    assert_int_equal(claim1(r, "B", 10000, id, &wait, NULL), DH_IDEM_LEASED);
    assert_in_range(wait, 1, 10000);
    /* Our own earlier batch (a retry on the same lane): ours again, in the new batch. */
    assert_int_equal(claim1(r, "A", 10000, id, &wait, a2), DH_IDEM_CLAIMED);
    assert_value(r, rec(id), points_at(a2));

    assert_int_equal(finish(r, "A", a2, 1, NULL), 1);
    assert_value(r, brec(a2), "done");
    assert_in_range(key_pttl(r, brec(a2)), 3500 * 1000, 3600 * 1000);
    assert_int_equal(lookup1(r, id, seen), DH_IDEM_DONE);
    assert_string_equal(seen, a2);
    assert_int_equal(claim1(r, "B", 10000, id, NULL, NULL), DH_IDEM_DONE);
    assert_int_equal(claim1(r, "A", 10000, id, NULL, NULL), DH_IDEM_DONE);
    assert_value(r, rec(id), points_at(a2)); /* a duplicate never rewrites the record */
    dh_redis_destroy(r);
}

/* A batch where some effects did not happen: those are released in the step that marks
 * the batch done, so they never read as done and another owner can claim them at once. */
static void test_finish_releases_failed(void **state)
{
    const char *ids[3] = {"part:ok", "part:failed", "part:alone"};
    dh_redis_t *r = conn(g_url, 2000);
    char a[DH_IDEM_BATCH_LEN + 1], b[DH_IDEM_BATCH_LEN + 1];
    dh_idem_state_t st[2];
    int held = -1;
    (void)state;

    dh_idem_batch_id(a);
    assert_int_equal(dh_idem_claim(r, g_ns, "A", a, 10000, 3600, 2, ids, st, NULL), DH_OK);
    assert_int_equal(st[0], DH_IDEM_CLAIMED);
    assert_int_equal(st[1], DH_IDEM_CLAIMED);
    assert_int_equal(dh_idem_finish(r, g_ns, "A", a, 3600, 1, 1, &ids[1], &held), DH_OK);
    assert_int_equal(held, 1);
    assert_int_equal(lookup1(r, ids[0], NULL), DH_IDEM_DONE);
    assert_int_equal(lookup1(r, ids[1], NULL), DH_IDEM_ABSENT);
    assert_value(r, rec(ids[1]), NULL);
    assert_int_equal(claim1(r, "B", 10000, ids[1], NULL, NULL), DH_IDEM_CLAIMED);

    /* Nothing of the batch happened: its records and its own record go. */
    assert_int_equal(claim1(r, "A", 10000, ids[2], NULL, b), DH_IDEM_CLAIMED);
    g_round_trips = 0; /* the script is loaded now: one round trip */
    assert_int_equal(finish(r, "A", b, 0, ids[2]), 1);
    assert_int_equal(g_round_trips, 1);
    assert_value(r, rec(ids[2]), NULL);
    assert_value(r, brec(b), NULL);
    assert_int_equal(claim1(r, "B", 10000, ids[2], NULL, NULL), DH_IDEM_CLAIMED);
    dh_redis_destroy(r);
}

static void test_lease_expiry_is_retried(void **state)
{
    dh_redis_t *r = conn(g_url, 2000);
    const char *id = "putaway-5:set-qty";
    char a[DH_IDEM_BATCH_LEN + 1], b[DH_IDEM_BATCH_LEN + 1];
    int64_t wait = 0;
    (void)state;

    /* A claims and "crashes" mid-effect: its batch's lease runs out, it is never done. */
    assert_int_equal(claim1(r, "A", 200, id, NULL, a), DH_IDEM_CLAIMED);
    assert_int_equal(claim1(r, "B", 200, id, &wait, NULL), DH_IDEM_LEASED);
    assert_in_range(wait, 1, 200);
    sleep_ms(300);
    assert_int_equal(lookup1(r, id, NULL), DH_IDEM_ABSENT); /* a lapsed claim is no record */
    assert_int_equal(claim1(r, "B", 10000, id, NULL, b), DH_IDEM_CLAIMED);
    assert_value(r, rec(id), points_at(b));

    /* A comes back late and finishes: it learns it lost the lease; the record is B's. */
    assert_int_equal(finish(r, "A", a, 1, NULL), 0);
    assert_int_equal(lookup1(r, id, NULL), DH_IDEM_LEASED);
    /* A's late release of the effect does not touch the record B holds now. */
    assert_int_equal(finish(r, "A", a, 0, id), 0);
    assert_value(r, rec(id), points_at(b));
    assert_int_equal(finish(r, "B", b, 1, NULL), 1);
    assert_int_equal(claim1(r, "A", 10000, id, NULL, NULL), DH_IDEM_DONE);
    dh_redis_destroy(r);
}

/* Renewal extends only a live lease of our own: never another owner's, never a lapsed one
 * (revived, it would hide that another owner may have taken the effects), never a done
 * batch. One round trip each. */
static void test_renew(void **state)
{
    dh_redis_t *r = conn(g_url, 2000);
    const char *id = "dispatch-7:fulfil";
    char a[DH_IDEM_BATCH_LEN + 1], b[DH_IDEM_BATCH_LEN + 1];
    int held = -1;
    (void)state;

    assert_int_equal(claim1(r, "A", 1000, id, NULL, a), DH_IDEM_CLAIMED);
    assert_int_equal(dh_idem_renew(r, g_ns, "A", a, 30000, &held), DH_OK);
    assert_int_equal(held, 1);
    g_round_trips = 0; /* the script is loaded now: one round trip */
    assert_int_equal(dh_idem_renew(r, g_ns, "A", a, 60000, &held), DH_OK);
    assert_int_equal(held, 1);
    assert_int_equal(g_round_trips, 1);
    assert_in_range(key_pttl(r, brec(a)), 59000, 60000);
    assert_value(r, brec(a), "lease:A");

    /* Another owner cannot renew A's lease, nor make it its own. */
    assert_int_equal(dh_idem_renew(r, g_ns, "B", a, 120000, &held), DH_OK);
    assert_int_equal(held, 0);
    assert_in_range(key_pttl(r, brec(a)), 1, 60000);
    assert_value(r, brec(a), "lease:A");

    /* Lapsed, and B took the effect: A's renewal fails and writes nothing. */
    expire_key(r, brec(a));
    assert_int_equal(claim1(r, "B", 10000, id, NULL, b), DH_IDEM_CLAIMED);
    assert_int_equal(dh_idem_renew(r, g_ns, "A", a, 60000, &held), DH_OK);
    assert_int_equal(held, 0);
    assert_value(r, brec(a), NULL);

    /* Done: nothing left to renew, and the record stays done with its retention. */
    assert_int_equal(finish(r, "B", b, 1, NULL), 1);
    assert_int_equal(dh_idem_renew(r, g_ns, "B", b, 1000, &held), DH_OK);
    assert_int_equal(held, 0);
    assert_value(r, brec(b), "done");
    assert_in_range(key_pttl(r, brec(b)), 3500 * 1000, 3600 * 1000);

    /* Bad arguments are refused before Redis sees them. */
    assert_int_equal(dh_idem_renew(r, g_ns, "A", "not-a-batch", 1000, &held), DH_ERR_INVALID);
    assert_int_equal(dh_idem_renew(r, g_ns, "A", a, 0, &held), DH_ERR_INVALID);
    dh_redis_destroy(r);
}

/* The cost of a batch: claim is one round trip of N + 1 SETs (one per effect, one for the
 * batch), finish one round trip of one SET. */
static void test_batch_cost(void **state)
{
    enum { N = 500 };
    dh_redis_t *r = conn(g_url, 5000);
    char(*ids)[48] = malloc(N * sizeof(*ids));
    const char **ptrs = malloc(N * sizeof(*ptrs));
    dh_idem_state_t *states = malloc(N * sizeof(*states));
    int64_t *waits = malloc(N * sizeof(*waits));
    char a[DH_IDEM_BATCH_LEN + 1], w[DH_IDEM_BATCH_LEN + 1];
    int held = -1;
    (void)state;

    for (int i = 0; i < N; i++) {
        snprintf(ids[i], sizeof(ids[i]), "batch:%d", i);
        ptrs[i] = ids[i];
    }
    /* Warm up: connect and load the scripts, so what follows is steady state. */
    assert_int_equal(claim1(r, "A", 10000, "batch:0", NULL, w), DH_IDEM_CLAIMED);
    assert_int_equal(finish(r, "A", w, 1, NULL), 1);
    assert_int_equal(claim1(r, "A", 10000, "batch:1", NULL, w), DH_IDEM_CLAIMED);
    assert_int_equal(finish(r, "A", w, 0, "batch:1"), 1);

    dh_idem_batch_id(a);
    g_round_trips = g_sets = 0;
    assert_int_equal(dh_idem_claim(r, g_ns, "A", a, 10000, 60, N, ptrs, states, waits), DH_OK);
    /* batch:0 is done (warm-up), so it took the script: a second round trip, no SET. */
    assert_int_equal(g_round_trips, 2);
    assert_int_equal(g_sets, N + 1);
    assert_int_equal(states[0], DH_IDEM_DONE);
    for (int i = 1; i < N; i++) {
        assert_int_equal(states[i], DH_IDEM_CLAIMED);
        assert_int_equal(waits[i], 0);
    }
    g_round_trips = g_sets = 0;
    assert_int_equal(dh_idem_finish(r, g_ns, "A", a, 60, N - 1, 0, NULL, &held), DH_OK);
    assert_int_equal(g_round_trips, 1);
    assert_int_equal(g_sets, 1);
    assert_int_equal(held, 1);
    /* A replay of the batch: every record points at a done batch; one script pass. */
    dh_idem_batch_id(a);
    g_round_trips = 0;
    assert_int_equal(dh_idem_claim(r, g_ns, "B", a, 10000, 60, N, ptrs, states, NULL), DH_OK);
    assert_int_equal(g_round_trips, 2);
    for (int i = 0; i < N; i++) {
        assert_int_equal(states[i], DH_IDEM_DONE);
    }
    /* Fresh records only: one round trip. */
    snprintf(ids[0], sizeof(ids[0]), "batch:fresh");
    dh_idem_batch_id(a);
    g_round_trips = 0;
    assert_int_equal(dh_idem_claim(r, g_ns, "B", a, 10000, 60, 1, ptrs, states, NULL), DH_OK);
    assert_int_equal(g_round_trips, 1);
    assert_int_equal(states[0], DH_IDEM_CLAIMED);
    free(ids);
    free(ptrs);
    free(states);
    free(waits);
    dh_redis_destroy(r);
}

/* One batch holding every value a claim can meet: fresh; pointing at a done batch, at
 * another owner's live batch, at our own earlier batch, at a batch whose record expired (a
 * crash), at a batch record with no TTL; and the values written before batches: "done",
 * another owner's lease, our own lease, a lease with no TTL. */
static void test_claim_mixed_batch(void **state)
{
    enum { N = 10 };
    const char *ids[N] = {"mix:fresh",   "mix:bdone",   "mix:bother",  "mix:bmine",
                          "mix:bcrash",  "mix:bnottl",  "mix:olddone", "mix:oldother",
                          "mix:oldmine", "mix:oldnottl"};
    dh_redis_t *r = conn(g_url, 2000);
    char bd[DH_IDEM_BATCH_LEN + 1], bo[DH_IDEM_BATCH_LEN + 1], bm[DH_IDEM_BATCH_LEN + 1];
    char bc[DH_IDEM_BATCH_LEN + 1], bn[DH_IDEM_BATCH_LEN + 1], now[DH_IDEM_BATCH_LEN + 1];
    dh_idem_state_t st[N];
    int64_t wait[N];
    (void)state;

    assert_int_equal(claim1(r, "A", 10000, "mix:bdone", NULL, bd), DH_IDEM_CLAIMED);
    assert_int_equal(finish(r, "A", bd, 1, NULL), 1);
    assert_int_equal(claim1(r, "B", 30000, "mix:bother", NULL, bo), DH_IDEM_CLAIMED);
    assert_int_equal(claim1(r, "A", 5000, "mix:bmine", NULL, bm), DH_IDEM_CLAIMED);
    assert_int_equal(claim1(r, "C", 10000, "mix:bcrash", NULL, bc), DH_IDEM_CLAIMED);
    expire_key(r, brec(bc));
    assert_int_equal(claim1(r, "C", 10000, "mix:bnottl", NULL, bn), DH_IDEM_CLAIMED);
    put(r, brec(bn), "lease:C", 0); /* a plain SET drops the TTL */
    put(r, rec("mix:olddone"), "done", 0);
    put(r, rec("mix:oldother"), "lease:B", 30000);
    put(r, rec("mix:oldmine"), "lease:A", 5000);
    put(r, rec("mix:oldnottl"), "lease:C", 0);

    dh_idem_batch_id(now);
    g_round_trips = 0;
    assert_int_equal(dh_idem_claim(r, g_ns, "A", now, 60000, 3600, N, ids, st, wait), DH_OK);
    assert_int_equal(g_round_trips, 2);

    assert_int_equal(st[0], DH_IDEM_CLAIMED);
    assert_int_equal(wait[0], 0);
    assert_value(r, rec("mix:fresh"), points_at(now));
    assert_int_equal(st[1], DH_IDEM_DONE);
    assert_value(r, rec("mix:bdone"), points_at(bd));
    /* B's live batch: reported with its remaining time, left alone. */
    assert_int_equal(st[2], DH_IDEM_LEASED);
    assert_in_range(wait[2], 20000, 30000);
    assert_value(r, rec("mix:bother"), points_at(bo));
    assert_value(r, brec(bo), "lease:B");
    /* Our own earlier batch: ours again, in this batch. */
    assert_int_equal(st[3], DH_IDEM_CLAIMED);
    assert_value(r, rec("mix:bmine"), points_at(now));
    assert_in_range(key_pttl(r, rec("mix:bmine")), 3500 * 1000, 3600 * 1000);
    /* A batch whose lease expired (its owner crashed): the effect is retried. */
    assert_int_equal(st[4], DH_IDEM_CLAIMED);
    assert_value(r, rec("mix:bcrash"), points_at(now));
    /* A batch record with no TTL is given one (waited for), not kept forever. */
    assert_int_equal(st[5], DH_IDEM_LEASED);
    assert_int_equal(wait[5], 60000);
    assert_in_range(key_pttl(r, brec(bn)), 50000, 60000);
    assert_value(r, rec("mix:bnottl"), points_at(bn));
    /* Records from before batches. */
    assert_int_equal(st[6], DH_IDEM_DONE);
    assert_value(r, rec("mix:olddone"), "done");
    assert_int_equal(st[7], DH_IDEM_LEASED);
    assert_in_range(wait[7], 20000, 30000);
    assert_value(r, rec("mix:oldother"), "lease:B");
    assert_int_equal(st[8], DH_IDEM_CLAIMED);
    assert_value(r, rec("mix:oldmine"), points_at(now));
    assert_in_range(key_pttl(r, rec("mix:oldmine")), 3500 * 1000, 3600 * 1000);
    assert_int_equal(st[9], DH_IDEM_LEASED);
    assert_int_equal(wait[9], 60000);
    assert_in_range(key_pttl(r, rec("mix:oldnottl")), 50000, 60000);

    /* Finishing makes exactly this batch's records done. */
    assert_int_equal(finish(r, "A", now, 4, NULL), 1);
    assert_int_equal(lookup1(r, "mix:fresh", NULL), DH_IDEM_DONE);
    assert_int_equal(lookup1(r, "mix:bcrash", NULL), DH_IDEM_DONE);
    assert_int_equal(lookup1(r, "mix:bother", NULL), DH_IDEM_LEASED);
    assert_int_equal(lookup1(r, "mix:oldother", NULL), DH_IDEM_LEASED);
    assert_int_equal(lookup1(r, "mix:olddone", NULL), DH_IDEM_DONE);
    dh_redis_destroy(r);
}

/* A record Redis cannot SET (another type under the key) is an error, not a state. */
static void test_wrong_type(void **state)
{
    const char *id = "wrongtype:1";
    dh_redis_t *r = conn(g_url, 2000);
    char b[DH_IDEM_BATCH_LEN + 1];
    dh_idem_state_t st = DH_IDEM_CLAIMED;
    (void)state;

    freeReplyObject(on_key(r, "RPUSH", rec(id), "x"));
    dh_idem_batch_id(b);
    assert_int_equal(dh_idem_claim(r, g_ns, "A", b, 1000, 60, 1, &id, &st, NULL), DH_ERR_PROTO);
    assert_non_null(strstr(dh_redis_errstr(r), "WRONGTYPE"));
    assert_int_equal(dh_idem_finish(r, g_ns, "A", b, 60, 1, 1, &id, NULL), DH_ERR_PROTO);
    assert_int_equal(dh_idem_lookup(r, g_ns, 1, &id, &st, NULL), DH_ERR_PROTO);
    dh_redis_destroy(r);
}

static void test_invalid_ids(void **state)
{
    dh_redis_t *r = conn(g_url, 2000);
    char long_id[600], b[DH_IDEM_BATCH_LEN + 1];
    const char *id = long_id;
    const char *empty = "";
    dh_idem_state_t st;
    (void)state;

    memset(long_id, 'x', sizeof(long_id) - 1);
    long_id[sizeof(long_id) - 1] = '\0';
    dh_idem_batch_id(b);
    assert_int_equal(dh_idem_claim(r, g_ns, "A", b, 1000, 60, 1, &id, &st, NULL), DH_ERR_INVALID);
    assert_int_equal(dh_idem_claim(r, g_ns, "A", b, 1000, 60, 1, &empty, &st, NULL),
                     DH_ERR_INVALID);
    assert_int_equal(dh_idem_claim(r, "", "A", b, 1000, 60, 1, &empty, &st, NULL), DH_ERR_INVALID);
    assert_int_equal(dh_idem_claim(r, g_ns, "A", b, 0, 60, 1, &empty, &st, NULL), DH_ERR_INVALID);
    /* A batch id is 16 lowercase hex digits. */
    long_id[400] = '\0';
    assert_int_equal(dh_idem_claim(r, g_ns, "A", "0123456789ABCDEF", 1000, 60, 1, &id, &st, NULL),
                     DH_ERR_INVALID);
    assert_int_equal(dh_idem_claim(r, g_ns, "A", "123", 1000, 60, 1, &id, &st, NULL),
                     DH_ERR_INVALID);
    assert_int_equal(dh_idem_finish(r, g_ns, "A", "", 60, 1, 0, NULL, NULL), DH_ERR_INVALID);
    /* ~400-byte ids are fine. */
    assert_int_equal(claim1(r, "A", 1000, long_id, NULL, NULL), DH_IDEM_CLAIMED);
    assert_int_equal(dh_idem_claim(r, g_ns, "A", b, 1000, 60, 0, NULL, NULL, NULL), DH_OK);
    assert_int_equal(dh_idem_finish(r, g_ns, "A", b, 60, 0, 0, NULL, NULL), DH_OK);
    dh_redis_destroy(r);
}

static void test_unreachable(void **state)
{
    char url[128];
    const char *ids[2] = {"u1", "u2"};
    dh_idem_state_t st[2] = {DH_IDEM_DONE, DH_IDEM_DONE};
    dh_redis_t *r;
    double t0 = now_ms();
    (void)state;

    snprintf(url, sizeof(url), "redis://127.0.0.1:%d", th_free_port());
    r = conn(url, 2000);
    assert_int_equal(dh_idem_claim(r, g_ns, "A", "00000000000000aa", 1000, 60, 2, ids, st, NULL),
                     DH_ERR_IO);
    assert_int_equal(dh_idem_finish(r, g_ns, "A", "00000000000000aa", 60, 1, 2, ids, NULL),
                     DH_ERR_IO);
    assert_int_equal(dh_idem_lookup(r, g_ns, 2, ids, st, NULL), DH_ERR_IO);
    assert_true(now_ms() - t0 < 1000);
    dh_redis_destroy(r);
}

static void test_reconnect_after_kill(void **state)
{
    dh_redis_t *r = conn(g_url, 2000);
    dh_redis_t *admin = conn(g_url, 2000);
    redisReply *reply = NULL;
    const char *id = "reconnect:1";
    dh_idem_state_t st;
    dh_err_t err;
    (void)state;

    assert_int_equal(claim1(r, "A", 10000, id, NULL, NULL), DH_IDEM_CLAIMED);
    assert_int_equal(dh_redis_commandf(r, &reply, "CLIENT ID"), DH_OK);
    assert_int_equal(dh_redis_commandf(admin, NULL, "CLIENT KILL ID %lld", reply->integer), DH_OK);
    freeReplyObject(reply);

    /* The first call finds the connection dead (and drops it); the next reconnects. */
    err = dh_idem_claim(r, g_ns, "A", "00000000000000aa", 10000, 60, 1, &id, &st, NULL);
    assert_int_equal(err, DH_ERR_IO);
    assert_false(dh_redis_is_connected(r));
    assert_int_equal(claim1(r, "A", 10000, id, NULL, NULL), DH_IDEM_CLAIMED);
    assert_true(dh_redis_is_connected(r));
    dh_redis_destroy(admin);
    dh_redis_destroy(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_batch_ids),
        cmocka_unit_test(test_claim_finish_cycle),
        cmocka_unit_test(test_finish_releases_failed),
        cmocka_unit_test(test_lease_expiry_is_retried),
        cmocka_unit_test(test_renew),
        cmocka_unit_test(test_batch_cost),
        cmocka_unit_test(test_claim_mixed_batch),
        cmocka_unit_test(test_wrong_type),
        cmocka_unit_test(test_invalid_ids),
        cmocka_unit_test(test_unreachable),
        cmocka_unit_test(test_reconnect_after_kill),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
