/*
 * Fault matrix, a rebalance during a Redis outage (found by test_fault_matrix under ASan).
 * A replica that could not claim puts its batch back and pauses intake; when a new member
 * joins meanwhile, the put-back events may move to it, and the replica is left with
 * partitions but nothing to claim. It must still resume when Redis is back: before the fix
 * only a successful claim resumed intake, so those partitions stayed paused for good.
 * dh-testworker on the shared broker, and a private redis-server killed with SIGKILL.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define K         20 /* events per batch */
#define P_DELAYED 0  /* the partition whose events are put back, then move to the new member */

static char g_dir[64];
static int g_port;
static pid_t g_redis, g_w[2]; /* for the teardown, should an assertion end the test early */

static void produce_to(th_run_t *run, int partition, int from, int n)
{
    th_producer_t *p = th_producer_new();
    char key[32], val[96];

    for (int i = from; i < from + n; i++) {
        int len = snprintf(val, sizeof(val), "{\"id\":\"e%d\",\"seq\":0}", i);

        snprintf(key, sizeof(key), "k%d", i);
        th_produce(p, run->topic, partition, key, val, (size_t)len);
    }
    th_producer_destroy(p);
}

typedef struct logline {
    const char *path, *needle;
} logline_t;

static int logged(void *ud)
{
    logline_t *l = ud;

    return th_file_count(l->path, l->needle) > 0;
}

static void await_log(const char *path, const char *needle)
{
    logline_t l = {path, needle};

    if (!th_wait_for(logged, &l, 60000)) {
        fail_msg("%s never logged \"%s\"", path, needle);
    }
}

static int committed_both(void *ud)
{
    th_run_t *run = ud;

    return th_group_committed(run->group, run->topic) == 2;
}

static void test_rebalance_during_redis_outage(void **state)
{
    th_run_t run;
    char url[64], log2[300];
    long long dups;

    (void)state;
    g_port = th_stable_ports(1);
    snprintf(g_dir, sizeof(g_dir), "/tmp/dh-fm-rebalance-XXXXXX");
    assert_non_null(mkdtemp(g_dir));
    g_redis = th_redis_private(g_port, g_dir); /* append-only: records survive SIGKILL */
    snprintf(url, sizeof(url), "redis://127.0.0.1:%d", g_port);
    setenv("DH_TEST_REDIS_URL", url, 1); /* the harness reads the records from here too */
    th_run_init(&run, "fmrebalance", 2);
    th_run_setenv(&run, "DH_REDIS_TIMEOUT_MS", "300");
    th_run_setenv(&run, "DH_LANES", "2");
    g_w[0] = th_run_worker(&run);
    produce_to(&run, 0, 0, 1);
    produce_to(&run, 1, 1, 1);
    assert_true(th_run_wait_performed(&run, 2, 60000)); /* the first replica owns both */
    /* Idle before the fault: both recorded and committed, nothing in flight. */
    assert_true(th_wait_for(committed_both, &run, 30000));

    kill(g_redis, SIGKILL);
    waitpid(g_redis, NULL, 0);
    produce_to(&run, P_DELAYED, 2, K);
    await_log(run.log, "redis unavailable, pausing intake");
    snprintf(log2, sizeof(log2), "%s.2", run.log);
    g_w[1] = th_spawn("dh-testworker", run.env, log2);
    /* The put-back events' partition goes to the new member: nothing left to claim. */
    await_log(run.log, "queued event(s) left for the next owner");
    await_log(log2, "assigned 1 partition(s)");
    assert_int_equal(th_file_count(run.log, ", 0 queued event(s)"), 0);
    g_redis = th_redis_private(g_port, g_dir); /* append-only: records survive SIGKILL */

    produce_to(&run, 0, 2 + K, K);
    produce_to(&run, 1, 2 + 2 * K, K);
    assert_true(th_run_wait_performed(&run, 2 + 3 * K, 60000)); /* both partitions flow */
    assert_int_equal(th_run_performed(&run, &dups), 2 + 3 * K);
    assert_int_equal(dups, 0);
    th_stop(g_w[0]);
    th_stop(g_w[1]);
    g_w[0] = g_w[1] = 0;
}

static int teardown(void **state)
{
    char cmd[128];

    (void)state;
    for (int i = 0; i < 2; i++) {
        if (g_w[i] > 0 && th_alive(g_w[i])) {
            kill(g_w[i], SIGKILL);
            waitpid(g_w[i], NULL, 0);
        }
    }
    if (g_redis > 0 && kill(g_redis, 0) == 0) {
        kill(g_redis, SIGKILL);
        waitpid(g_redis, NULL, 0);
    }
    if (g_dir[0]) {
        snprintf(cmd, sizeof(cmd), "rm -rf %s", g_dir);
        if (system(cmd) != 0) {
            fprintf(stderr, "could not delete %s\n", g_dir);
        }
    }
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_rebalance_during_redis_outage, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
