/*
 * Redis stopped for 10 s in the middle of a run: no effect is performed without its
 * record, nothing is lost, and the worker resumes by itself when Redis is back (the same
 * process, no restart). Uses a private redis-server with an append-only file, so the
 * records survive the outage the way a production Redis's would.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define N    6000
#define KEYS 600
#define PORT 36391

static char g_dir[256];
static pid_t g_redis, g_worker; /* for the teardown, should an assertion end the test early */

static pid_t redis_start(void)
{
    char port[16];
    pid_t pid;

    snprintf(port, sizeof(port), "%d", PORT);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* Not the test's stdout: ctest waits for every holder of its pipe to exit. */
        int fd = open("/dev/null", O_WRONLY);

        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        execlp("redis-server", "redis-server", "--port", port, "--bind", "127.0.0.1", "--dir",
               g_dir, "--save", "", "--appendonly", "yes", "--appendfsync", "always", "--loglevel",
               "warning", (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 100; i++) { /* readiness, bounded */
        char cmd[128];

        snprintf(cmd, sizeof(cmd), "redis-cli -p %d ping >/dev/null 2>&1", PORT);
        if (system(cmd) == 0) {
            return pid;
        }
        th_sleep_ms(50);
    }
    fail_msg("private redis-server did not start");
    return -1;
}

static long long hlen(const char *url_port_ns)
{
    char cmd[300];
    FILE *fp;
    long long v = -1;

    snprintf(cmd, sizeof(cmd), "redis-cli -p %d HLEN %s:performed", PORT, url_port_ns);
    fp = popen(cmd, "r");
    if (fp) {
        if (fscanf(fp, "%lld", &v) != 1) {
            v = -1;
        }
        pclose(fp);
    }
    return v;
}

static void test_redis_outage(void **state)
{
    th_run_t run;
    char url[400];
    pid_t rs, w;
    long long before, during;

    (void)state;
    snprintf(g_dir, sizeof(g_dir), "/tmp/dh-redis-outage-%d", (int)getpid());
    snprintf(url, sizeof(url), "mkdir -p %s", g_dir);
    assert_int_equal(system(url), 0);
    rs = g_redis = redis_start();
    snprintf(url, sizeof(url), "redis://127.0.0.1:%d", PORT);
    setenv("DH_TEST_REDIS_URL", url, 1); /* the harness reads records from here too */

    th_run_init(&run, "redisdown", 6);
    th_run_setenv(&run, "DH_REDIS_TIMEOUT_MS", "300");
    th_run_setenv(&run, "DH_LANES", "4");
    th_run_setenv(&run, "DH_TEST_SLEEP_MS", "5"); /* ~8 s of work: the outage lands mid-run */
    th_run_produce_events(&run, N, KEYS, 0);
    w = g_worker = th_run_worker(&run);
    assert_true(th_run_wait_performed(&run, 500, 60000));

    kill(rs, SIGTERM); /* AOF is fsynced on every write: nothing recorded is lost */
    waitpid(rs, NULL, 0);
    th_sleep_ms(10000);
    assert_true(th_alive(w)); /* it waited, it did not die */
    rs = g_redis = redis_start();
    before = hlen(run.ns);
    fprintf(stderr, "effects recorded when Redis came back: %lld\n", before);
    assert_true(before < N); /* the outage really was mid-run */

    assert_true(th_run_wait_performed(&run, N, 120000));
    assert_true(th_alive(w)); /* recovered without a restart */
    kill(w, SIGTERM);
    assert_int_equal(th_wait_exit(w, 30000), 0);
    long long dups;
    during = th_run_performed(&run, &dups);
    assert_int_equal(during, N);
    assert_int_equal(dups, 0); /* applied once each */
    /* A reply lost with the server is an unknown outcome: the effect is attempted again
     * (same far-side key, so not applied again). Only the lanes' in-flight batch can be. */
    fprintf(stderr, "effects attempted again across the outage: %lld\n", th_run_attempt_dups(&run));
    assert_true(th_run_attempt_dups(&run) <= 8 * 64);
    assert_true(th_run_order_ok(&run, KEYS, 1));
    kill(rs, SIGTERM);
    waitpid(rs, NULL, 0);
    g_redis = 0;
    snprintf(url, sizeof(url), "rm -rf %s", g_dir);
    assert_int_equal(system(url), 0);
}

static int teardown(void **state)
{
    (void)state;
    if (g_worker > 0 && th_alive(g_worker)) {
        kill(g_worker, SIGKILL);
        waitpid(g_worker, NULL, 0);
    }
    if (g_redis > 0 && kill(g_redis, 0) == 0) {
        kill(g_redis, SIGKILL);
        waitpid(g_redis, NULL, 0);
    }
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_redis_outage, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
