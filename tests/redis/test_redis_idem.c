/*
 * dh_idem against a real redis-server (DH_TEST_REDIS_URL, default redis://127.0.0.1:36379):
 * claim/done/release semantics, lease expiry (a crash mid-effect is retried, never taken
 * for done), one round trip per batch, unreachable Redis and reconnect after the server
 * drops our connection.
 *
 * Round trips are counted by wrapping hiredis' redisBufferWrite/redisBufferRead with
 * -Wl,--wrap (see CMakeLists.txt): a round trip starts when a non-empty write follows
 * a read.
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

/* ---- round-trip counter (linker-wrapped hiredis calls) ------------------------------ */

int __real_redisBufferWrite(redisContext *c, int *done);
int __real_redisBufferRead(redisContext *c);
int __wrap_redisBufferWrite(redisContext *c, int *done);
int __wrap_redisBufferRead(redisContext *c);

static int g_round_trips;
static int g_last_was_write;

int __wrap_redisBufferWrite(redisContext *c, int *done)
{
    if (c->obuf != NULL && c->obuf[0] != '\0' && !g_last_was_write) {
        g_round_trips++;
        g_last_was_write = 1;
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

static dh_idem_state_t claim1(dh_redis_t *r, const char *owner, int64_t lease_ms, const char *id,
                              int64_t *wait)
{
    dh_idem_state_t st = DH_IDEM_DONE;
    int64_t w = -1;
    assert_int_equal(dh_idem_claim(r, g_ns, owner, lease_ms, 1, &id, &st, &w), DH_OK);
    if (wait != NULL) {
        *wait = w;
    }
    return st;
}

/* ---- tests ------------------------------------------------------------------------------ */

static void test_claim_done_cycle(void **state)
{
    dh_redis_t *r = conn(g_url, 2000);
    const char *id = "order-1001:create";
    int64_t wait = 0;
    int owned = -1;
    (void)state;

    assert_int_equal(claim1(r, "A", 10000, id, &wait), DH_IDEM_CLAIMED);
    assert_int_equal(wait, 0);
    assert_int_equal(claim1(r, "B", 10000, id, &wait), DH_IDEM_LEASED);
    assert_in_range(wait, 1, 10000);
    /* Our own lease again (a retry by the same owner) is ours, refreshed. */
    assert_int_equal(claim1(r, "A", 10000, id, &wait), DH_IDEM_CLAIMED);

    assert_int_equal(dh_idem_done(r, g_ns, "A", 3600, 1, &id, &owned), DH_OK);
    assert_int_equal(owned, 1);
    assert_int_equal(claim1(r, "B", 10000, id, NULL), DH_IDEM_DONE);
    assert_int_equal(claim1(r, "A", 10000, id, NULL), DH_IDEM_DONE);
    /* Releasing does not undo "done". */
    assert_int_equal(dh_idem_release(r, g_ns, "A", 1, &id), DH_OK);
    assert_int_equal(claim1(r, "C", 10000, id, NULL), DH_IDEM_DONE);
    dh_redis_destroy(r);
}

static void test_release(void **state)
{
    dh_redis_t *r = conn(g_url, 2000);
    const char *id = "dispatch-77:fulfil";
    (void)state;

    assert_int_equal(claim1(r, "A", 10000, id, NULL), DH_IDEM_CLAIMED);
    /* Someone else's release leaves our lease alone. */
    assert_int_equal(dh_idem_release(r, g_ns, "B", 1, &id), DH_OK);
    assert_int_equal(claim1(r, "B", 10000, id, NULL), DH_IDEM_LEASED);
    /* After our failed attempt, release lets another owner claim at once. */
    assert_int_equal(dh_idem_release(r, g_ns, "A", 1, &id), DH_OK);
    assert_int_equal(claim1(r, "B", 10000, id, NULL), DH_IDEM_CLAIMED);
    dh_redis_destroy(r);
}

static void test_lease_expiry_is_retried(void **state)
{
    dh_redis_t *r = conn(g_url, 2000);
    const char *id = "putaway-5:set-qty";
    int64_t wait = 0;
    int owned = -1;
    (void)state;

    /* A claims and "crashes" mid-effect: its lease runs out, it is never done. */
    assert_int_equal(claim1(r, "A", 200, id, NULL), DH_IDEM_CLAIMED);
    assert_int_equal(claim1(r, "B", 200, id, &wait), DH_IDEM_LEASED);
    assert_in_range(wait, 1, 200);
    sleep_ms(300);
    assert_int_equal(claim1(r, "B", 10000, id, NULL), DH_IDEM_CLAIMED);

    /* A comes back late and finishes: recorded as done, but it learns it lost the lease. */
    assert_int_equal(dh_idem_done(r, g_ns, "A", 3600, 1, &id, &owned), DH_OK);
    assert_int_equal(owned, 0);
    assert_int_equal(claim1(r, "B", 10000, id, NULL), DH_IDEM_DONE);
    dh_redis_destroy(r);
}

static void test_batch_one_round_trip(void **state)
{
    enum { N = 500 };
    dh_redis_t *r = conn(g_url, 5000);
    char(*ids)[48] = malloc(N * sizeof(*ids));
    const char **ptrs = malloc(N * sizeof(*ptrs));
    dh_idem_state_t *states = malloc(N * sizeof(*states));
    int64_t *waits = malloc(N * sizeof(*waits));
    int *owned = malloc(N * sizeof(*owned));
    (void)state;

    for (int i = 0; i < N; i++) {
        snprintf(ids[i], sizeof(ids[i]), "batch:%d", i);
        ptrs[i] = ids[i];
    }
    /* Warm up: connect and load the scripts, so what follows is steady state. */
    assert_int_equal(claim1(r, "A", 10000, "batch:warm", NULL), DH_IDEM_CLAIMED);
    assert_int_equal(dh_idem_done(r, g_ns, "A", 60, 1, ptrs, NULL), DH_OK);

    g_round_trips = 0;
    assert_int_equal(dh_idem_claim(r, g_ns, "A", 10000, N, ptrs, states, waits), DH_OK);
    assert_int_equal(g_round_trips, 1);
    /* batch:0 was marked done in the warm-up; the rest are fresh. */
    assert_int_equal(states[0], DH_IDEM_DONE);
    for (int i = 1; i < N; i++) {
        assert_int_equal(states[i], DH_IDEM_CLAIMED);
        assert_int_equal(waits[i], 0);
    }
    g_round_trips = 0;
    assert_int_equal(dh_idem_done(r, g_ns, "A", 60, N, ptrs, owned), DH_OK);
    assert_int_equal(g_round_trips, 1);
    assert_int_equal(owned[0], 0);
    assert_int_equal(owned[1], 1);
    assert_int_equal(owned[N - 1], 1);
    g_round_trips = 0;
    assert_int_equal(dh_idem_claim(r, g_ns, "B", 10000, N, ptrs, states, NULL), DH_OK);
    assert_int_equal(g_round_trips, 1);
    for (int i = 0; i < N; i++) {
        assert_int_equal(states[i], DH_IDEM_DONE);
    }
    free(ids);
    free(ptrs);
    free(states);
    free(waits);
    free(owned);
    dh_redis_destroy(r);
}

/* A raw command on effect \p id's record, with one more argument \p rest (or none);
 * returns the reply (caller frees). */
static redisReply *on_record(dh_redis_t *r, const char *cmd, const char *id, const char *rest)
{
    redisReply *reply = NULL;

    dh_err_t err = rest != NULL
                       ? dh_redis_commandf(r, &reply, "%s %s:idem:%s %s", cmd, g_ns, id, rest)
                       : dh_redis_commandf(r, &reply, "%s %s:idem:%s", cmd, g_ns, id);

    if (err != DH_OK) {
        fail_msg("%s %s: %s", cmd, id, dh_redis_errstr(r));
    }
    assert_non_null(reply);
    return reply;
}

static void assert_record(dh_redis_t *r, const char *id, const char *value)
{
    redisReply *reply = on_record(r, "GET", id, NULL);

    if (value == NULL) {
        assert_int_equal(reply->type, REDIS_REPLY_NIL);
    } else {
        assert_int_equal(reply->type, REDIS_REPLY_STRING);
        assert_string_equal(reply->str, value);
    }
    freeReplyObject(reply);
}

static long long record_pttl(dh_redis_t *r, const char *id)
{
    redisReply *reply = on_record(r, "PTTL", id, NULL);
    long long t = reply->integer;

    freeReplyObject(reply);
    return t;
}

/* Makes effect \p id's record vanish as an expired lease would, and waits until it has. */
static void expire_record(dh_redis_t *r, const char *id)
{
    redisReply *reply = on_record(r, "PEXPIRE", id, "1");
    double t0 = now_ms();

    assert_int_equal(reply->integer, 1);
    freeReplyObject(reply);
    for (;;) {
        reply = on_record(r, "EXISTS", id, NULL);
        if (reply->integer == 0) {
            freeReplyObject(reply);
            break;
        }
        freeReplyObject(reply);
        assert_true(now_ms() - t0 < 2000);
        sleep_ms(2);
    }
}

/* One batch holding every case a claim can meet: fresh records, done ones, another owner's
 * live lease, our own lease (a retry), a lease without a TTL and an expired lease. The
 * fresh and done ones are settled by the pipelined SET NX; the others take the script, in
 * a second round trip. */
static void test_claim_mixed_batch(void **state)
{
    enum { N = 8 };
    const char *ids[N] = {"mix:fresh1", "mix:done1",  "mix:other",   "mix:mine",
                          "mix:nottl",  "mix:fresh2", "mix:expired", "mix:done2"};
    dh_redis_t *r = conn(g_url, 2000);
    dh_idem_state_t st[N];
    int64_t wait[N];
    redisReply *reply;
    (void)state;

    /* Set the stage: two done records, B's lease, our old lease (short: refreshed below),
     * a lease value with no TTL (written by hand), one of our leases that expired. */
    assert_int_equal(claim1(r, "A", 10000, "mix:done1", NULL), DH_IDEM_CLAIMED);
    assert_int_equal(claim1(r, "A", 10000, "mix:done2", NULL), DH_IDEM_CLAIMED);
    assert_int_equal(dh_idem_done(r, g_ns, "A", 3600, 1, &ids[1], NULL), DH_OK);
    assert_int_equal(dh_idem_done(r, g_ns, "A", 3600, 1, &ids[7], NULL), DH_OK);
    assert_int_equal(claim1(r, "B", 30000, "mix:other", NULL), DH_IDEM_CLAIMED);
    assert_int_equal(claim1(r, "A", 5000, "mix:mine", NULL), DH_IDEM_CLAIMED);
    reply = on_record(r, "SET", "mix:nottl", "lease:C");
    freeReplyObject(reply);
    assert_int_equal(claim1(r, "A", 10000, "mix:expired", NULL), DH_IDEM_CLAIMED);
    expire_record(r, "mix:expired");

    g_round_trips = 0;
    assert_int_equal(dh_idem_claim(r, g_ns, "A", 60000, N, ids, st, wait), DH_OK);
    assert_int_equal(g_round_trips, 2);

    assert_int_equal(st[0], DH_IDEM_CLAIMED);
    assert_int_equal(wait[0], 0);
    assert_record(r, "mix:fresh1", "lease:A");
    assert_in_range(record_pttl(r, "mix:fresh1"), 50000, 60000);
    assert_int_equal(st[1], DH_IDEM_DONE);
    assert_int_equal(wait[1], 0);
    assert_record(r, "mix:done1", "done");
    assert_in_range(record_pttl(r, "mix:done1"), 3500 * 1000, 3600 * 1000);
    /* B's lease: reported with its remaining time, left alone. */
    assert_int_equal(st[2], DH_IDEM_LEASED);
    assert_in_range(wait[2], 20000, 30000);
    assert_record(r, "mix:other", "lease:B");
    assert_in_range(record_pttl(r, "mix:other"), 20000, 30000);
    /* Our own lease: ours again, its TTL refreshed to the new lease. */
    assert_int_equal(st[3], DH_IDEM_CLAIMED);
    assert_int_equal(wait[3], 0);
    assert_record(r, "mix:mine", "lease:A");
    assert_in_range(record_pttl(r, "mix:mine"), 50000, 60000);
    /* A lease without a TTL is given one (ours to wait for), not kept forever. */
    assert_int_equal(st[4], DH_IDEM_LEASED);
    assert_int_equal(wait[4], 60000);
    assert_record(r, "mix:nottl", "lease:C");
    assert_in_range(record_pttl(r, "mix:nottl"), 50000, 60000);
    assert_int_equal(st[5], DH_IDEM_CLAIMED);
    assert_record(r, "mix:fresh2", "lease:A");
    /* An expired lease is a fresh record: claimed again (the effect is retried). */
    assert_int_equal(st[6], DH_IDEM_CLAIMED);
    assert_record(r, "mix:expired", "lease:A");
    assert_int_equal(st[7], DH_IDEM_DONE);
    assert_record(r, "mix:done2", "done");

    /* Only fresh and done records: one round trip (no script). */
    ids[0] = "mix:fresh3";
    g_round_trips = 0;
    assert_int_equal(dh_idem_claim(r, g_ns, "B", 60000, 2, ids, st, wait), DH_OK);
    assert_int_equal(g_round_trips, 1);
    assert_int_equal(st[0], DH_IDEM_CLAIMED);
    assert_int_equal(st[1], DH_IDEM_DONE);
    dh_redis_destroy(r);
}

/* done over a batch: our live lease, one that expired, one another owner took after ours
 * expired, one never claimed. All are recorded done with the retention TTL; only the
 * first reports the lease as still ours. */
static void test_done_lost_leases(void **state)
{
    enum { N = 4 };
    const char *ids[N] = {"lost:ours", "lost:expired", "lost:taken", "lost:never"};
    dh_redis_t *r = conn(g_url, 2000);
    int owned[N] = {-1, -1, -1, -1};
    (void)state;

    assert_int_equal(claim1(r, "A", 10000, "lost:ours", NULL), DH_IDEM_CLAIMED);
    assert_int_equal(claim1(r, "A", 10000, "lost:expired", NULL), DH_IDEM_CLAIMED);
    expire_record(r, "lost:expired");
    assert_int_equal(claim1(r, "A", 10000, "lost:taken", NULL), DH_IDEM_CLAIMED);
    expire_record(r, "lost:taken");
    assert_int_equal(claim1(r, "B", 10000, "lost:taken", NULL), DH_IDEM_CLAIMED);

    g_round_trips = 0;
    assert_int_equal(dh_idem_done(r, g_ns, "A", 3600, N, ids, owned), DH_OK);
    assert_int_equal(g_round_trips, 1);
    assert_int_equal(owned[0], 1);
    assert_int_equal(owned[1], 0);
    assert_int_equal(owned[2], 0);
    assert_int_equal(owned[3], 0);
    for (int i = 0; i < N; i++) {
        assert_record(r, ids[i], "done");
        assert_in_range(record_pttl(r, ids[i]), 3500 * 1000, 3600 * 1000);
    }
    /* B, whose lease was overwritten, finds the effect done: it is not performed again. */
    assert_int_equal(claim1(r, "B", 10000, "lost:taken", NULL), DH_IDEM_DONE);
    /* A prefix of our owner name is not our lease. */
    assert_int_equal(claim1(r, "AB", 10000, "lost:prefix", NULL), DH_IDEM_CLAIMED);
    assert_int_equal(dh_idem_done(r, g_ns, "A", 3600, 1, &(const char *){"lost:prefix"}, owned),
                     DH_OK);
    assert_int_equal(owned[0], 0);
    dh_redis_destroy(r);
}

/* A record Redis cannot SET (another type under the key) is an error, not a state. */
static void test_wrong_type(void **state)
{
    const char *id = "wrongtype:1";
    dh_redis_t *r = conn(g_url, 2000);
    redisReply *reply = on_record(r, "RPUSH", id, "x");
    dh_idem_state_t st = DH_IDEM_CLAIMED;
    (void)state;

    freeReplyObject(reply);
    assert_int_equal(dh_idem_claim(r, g_ns, "A", 1000, 1, &id, &st, NULL), DH_ERR_PROTO);
    assert_non_null(strstr(dh_redis_errstr(r), "WRONGTYPE"));
    assert_int_equal(dh_idem_done(r, g_ns, "A", 60, 1, &id, NULL), DH_ERR_PROTO);
    dh_redis_destroy(r);
}

static void test_invalid_ids(void **state)
{
    dh_redis_t *r = conn(g_url, 2000);
    char long_id[600];
    const char *id = long_id;
    const char *empty = "";
    dh_idem_state_t st;
    (void)state;

    memset(long_id, 'x', sizeof(long_id) - 1);
    long_id[sizeof(long_id) - 1] = '\0';
    assert_int_equal(dh_idem_claim(r, g_ns, "A", 1000, 1, &id, &st, NULL), DH_ERR_INVALID);
    assert_int_equal(dh_idem_claim(r, g_ns, "A", 1000, 1, &empty, &st, NULL), DH_ERR_INVALID);
    assert_int_equal(dh_idem_claim(r, g_ns, "", 1000, 1, &empty, &st, NULL), DH_ERR_INVALID);
    assert_int_equal(dh_idem_claim(r, g_ns, "A", 0, 1, &empty, &st, NULL), DH_ERR_INVALID);
    /* ~400-byte ids are fine. */
    long_id[400] = '\0';
    assert_int_equal(claim1(r, "A", 1000, long_id, NULL), DH_IDEM_CLAIMED);
    assert_int_equal(dh_idem_claim(r, g_ns, "A", 1000, 0, NULL, NULL, NULL), DH_OK);
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
    assert_int_equal(dh_idem_claim(r, g_ns, "A", 1000, 2, ids, st, NULL), DH_ERR_IO);
    assert_int_equal(dh_idem_done(r, g_ns, "A", 60, 2, ids, NULL), DH_ERR_IO);
    assert_int_equal(dh_idem_release(r, g_ns, "A", 2, ids), DH_ERR_IO);
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

    assert_int_equal(claim1(r, "A", 10000, id, NULL), DH_IDEM_CLAIMED);
    assert_int_equal(dh_redis_commandf(r, &reply, "CLIENT ID"), DH_OK);
    assert_int_equal(dh_redis_commandf(admin, NULL, "CLIENT KILL ID %lld", reply->integer), DH_OK);
    freeReplyObject(reply);

    /* The first call finds the connection dead (and drops it); the next reconnects. */
    err = dh_idem_claim(r, g_ns, "A", 10000, 1, &id, &st, NULL);
    assert_int_equal(err, DH_ERR_IO);
    assert_false(dh_redis_is_connected(r));
    assert_int_equal(claim1(r, "A", 10000, id, NULL), DH_IDEM_CLAIMED);
    assert_true(dh_redis_is_connected(r));
    dh_redis_destroy(admin);
    dh_redis_destroy(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_claim_done_cycle),
        cmocka_unit_test(test_release),
        cmocka_unit_test(test_lease_expiry_is_retried),
        cmocka_unit_test(test_batch_one_round_trip),
        cmocka_unit_test(test_claim_mixed_batch),
        cmocka_unit_test(test_done_lost_leases),
        cmocka_unit_test(test_wrong_type),
        cmocka_unit_test(test_invalid_ids),
        cmocka_unit_test(test_unreachable),
        cmocka_unit_test(test_reconnect_after_kill),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
