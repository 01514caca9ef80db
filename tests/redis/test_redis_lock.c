/*
 * dh_lock (owned locks for one-replica-at-a-time work) against a real redis-server
 * (DH_TEST_REDIS_URL, default the local stack's): only one owner takes a lock, only the
 * owner releases it, a lock expires by itself, and an unreachable Redis takes nothing.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dockhand/lock.h"
#include "harness.h"

/* cmocka.h needs these three first; keep clang-format from sorting it above them. */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
/* clang-format on */

static dh_redis_t *conn(const char *url)
{
    dh_redis_opts_t o = {.url = url, .password = NULL, .timeout_ms = 2000};
    char err[256];
    dh_redis_t *r = dh_redis_new(&o, err, sizeof(err));

    if (!r) {
        fail_msg("dh_redis_new(%s): %s", url, err);
    }
    return r;
}

static long long pttl(dh_redis_t *r, const char *key)
{
    redisReply *rep = NULL;
    long long v;

    assert_int_equal(dh_redis_commandf(r, &rep, "PTTL %s", key), DH_OK);
    v = rep->integer;
    freeReplyObject(rep);
    return v;
}

static void test_one_owner_and_owner_release(void **state)
{
    dh_redis_t *r = conn(th_redis_url());
    char key[128];
    (void)state;

    snprintf(key, sizeof(key), "dhtest:%ld:lock:a", (long)getpid());
    assert_int_equal(dh_lock_take(r, key, "replica-1", 10000), 1);
    assert_true(pttl(r, key) > 0 && pttl(r, key) <= 10000);
    assert_int_equal(dh_lock_take(r, key, "replica-2", 10000), 0);
    assert_int_equal(dh_lock_take(r, key, "replica-1", 10000), 0); /* not re-entrant */
    dh_lock_drop(r, key, "replica-2");                             /* not its lock */
    assert_int_equal(dh_lock_take(r, key, "replica-2", 10000), 0);
    dh_lock_drop(r, key, "replica-1");
    assert_int_equal(dh_lock_take(r, key, "replica-2", 10000), 1);
    dh_lock_drop(r, key, "replica-2");
    assert_int_equal(pttl(r, key), -2); /* gone */
    dh_redis_destroy(r);
}

static void test_expires_by_itself(void **state)
{
    dh_redis_t *r = conn(th_redis_url());
    char key[128];
    int taken = 0;
    (void)state;

    snprintf(key, sizeof(key), "dhtest:%ld:lock:b", (long)getpid());
    assert_int_equal(dh_lock_take(r, key, "crashed", 50), 1);
    /* A bounded wait for the expiry (no fixed sleep decides the result). */
    for (int i = 0; i < 200 && !taken; i++) {
        taken = dh_lock_take(r, key, "successor", 10000);
        if (!taken) {
            struct timespec ts = {0, 20 * 1000 * 1000};

            nanosleep(&ts, NULL);
        }
    }
    assert_int_equal(taken, 1);
    dh_lock_drop(r, key, "crashed"); /* the old owner's late release must not free it */
    assert_int_equal(dh_lock_take(r, key, "third", 10000), 0);
    dh_lock_drop(r, key, "successor");
    dh_redis_destroy(r);
}

static void test_unreachable_takes_nothing(void **state)
{
    char url[64];
    dh_redis_t *r;
    (void)state;

    snprintf(url, sizeof(url), "redis://127.0.0.1:%d", th_free_port());
    r = conn(url);
    assert_int_equal(dh_lock_take(r, "dhtest:lock:c", "x", 1000), 0);
    dh_lock_drop(r, "dhtest:lock:c", "x"); /* harmless */
    dh_redis_destroy(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_owner_and_owner_release),
        cmocka_unit_test(test_expires_by_itself),
        cmocka_unit_test(test_unreachable_takes_nothing),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
