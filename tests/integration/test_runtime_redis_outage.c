/*
 * Redis stopped for 10 s in the middle of a run: no effect is performed without its
 * record, nothing is lost, and the worker resumes by itself when Redis is back (the same
 * process, no restart). Uses a private redis-server with an append-only file, so the
 * records survive the outage the way a production Redis's would. The far side is the
 * run's journal (see testworker.c), apart from the Redis that goes away, so what happened
 * during the outage is observable: only the batches claimed before it may be performed,
 * and every performed effect ends with its done record.
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

#include "dockhand/idem.h"
#include "dockhand/redis.h"
#include "harness.h"

#define N     20000
#define KEYS  2000
#define LANES 8
#define BATCH 16

static char g_dir[256];
static int g_port;
static pid_t g_redis, g_worker; /* for the teardown, should an assertion end the test early */

/* Lines of \p log that contain \p text. */
static int log_count(const char *log, const char *text)
{
    char line[2048];
    int n = 0;
    FILE *f = fopen(log, "r");

    while (f && fgets(line, sizeof(line), f)) {
        n += strstr(line, text) != NULL;
    }
    if (f) {
        fclose(f);
    }
    return n;
}

/* Performed effects without a done record in the runtime's store (the private Redis), as
 * the runtime reads its records (dh_idem_lookup: the effect's record and its batch's). */
static long long effects_without_record(th_run_t *run)
{
    size_t n = 0;
    long long missing = 0;
    th_perf_t *p = th_run_perfs(run, &n, NULL);
    dh_redis_opts_t o = {.url = th_redis_url(), .password = NULL, .timeout_ms = 5000};
    char err[256], (*ids)[300] = calloc(n + 1, sizeof(*ids));
    const char **idp = calloc(n + 1, sizeof(*idp));
    char(*batch)[DH_IDEM_BATCH_LEN + 1] = calloc(n + 1, sizeof(*batch));
    dh_idem_state_t *st = calloc(n + 1, sizeof(*st));
    dh_redis_t *r = dh_redis_new(&o, err, sizeof(err));

    assert_non_null(r);
    assert_true(ids && idp && batch && st);
    for (size_t i = 0; i < n; i++) {
        snprintf(ids[i], sizeof(ids[i]), "%s:%s", run->ns, p[i].id);
        idp[i] = ids[i];
    }
    assert_int_equal(dh_idem_lookup(r, "testworker", n, idp, st, batch), DH_OK);
    for (size_t i = 0; i < n; i++) {
        if (st[i] != DH_IDEM_DONE && missing++ < 5) {
            fprintf(stderr, "effect %s performed, record %s (batch %s)\n", p[i].id,
                    st[i] == DH_IDEM_LEASED ? "leased" : "absent", batch[i]);
        }
    }
    dh_redis_destroy(r);
    free(ids);
    free(idp);
    free(batch);
    free(st);
    free(p);
    return missing;
}

static void test_redis_outage(void **state)
{
    th_run_t run;
    char url[400], lanes[8], batch[8];
    pid_t rs, w;
    th_far_t at_kill, at_back;

    (void)state;
    snprintf(g_dir, sizeof(g_dir), "/tmp/dh-redis-outage-%d", (int)getpid());
    snprintf(url, sizeof(url), "mkdir -p %s", g_dir);
    assert_int_equal(system(url), 0);
    g_port = th_free_port();
    rs = g_redis = th_redis_private(g_port, g_dir); /* append-only, fsynced */
    snprintf(url, sizeof(url), "redis://127.0.0.1:%d", g_port);
    setenv("DH_TEST_REDIS_URL", url, 1); /* the harness reads records from here too */

    th_run_init(&run, "redisdown", 6);
    snprintf(lanes, sizeof(lanes), "%d", LANES);
    snprintf(batch, sizeof(batch), "%d", BATCH);
    th_run_setenv(&run, "DH_REDIS_TIMEOUT_MS", "300");
    th_run_setenv(&run, "DH_LANES", lanes);
    th_run_setenv(&run, "DH_BATCH_MAX", batch);
    /* No handler time: a lane spends most of its time in Redis calls, so at the outage
     * some lanes are claiming (and must then perform nothing) while others wait to record
     * what they performed. */
    th_run_setenv(&run, "DH_TEST_SLEEP_MS", "0");
    th_run_produce_events(&run, N, KEYS, 0);
    w = g_worker = th_run_worker(&run);
    assert_true(th_run_wait_performed(&run, 200, 60000));

    kill(rs, SIGTERM); /* AOF is fsynced on every write: nothing recorded is lost */
    waitpid(rs, NULL, 0);
    th_run_far(&run, &at_kill);
    th_sleep_ms(10000);       /* the outage's length: a scenario parameter, not a wait for work */
    assert_true(th_alive(w)); /* it waited, it did not die */
    /* Precondition: the worker saw the outage. */
    assert_true(log_count(run.log, "redis unavailable") >= 1);
    th_run_far(&run, &at_back);
    rs = g_redis = th_redis_private(g_port, g_dir); /* append-only, fsynced */
    fprintf(stderr, "effects performed when Redis went away: %lld, when it came back: %lld\n",
            at_kill.effects, at_back.effects);
    assert_true(at_back.effects < N); /* the outage really was mid-run */
    /* Without Redis nothing new is claimed: only batches claimed before it may run. */
    assert_true(at_back.performances - at_kill.performances <= LANES * BATCH);

    assert_true(th_run_wait_performed(&run, N, 120000));
    assert_true(th_alive(w)); /* recovered without a restart */
    kill(w, SIGTERM);
    assert_int_equal(th_wait_exit(w, 30000), 0);
    assert_true(log_count(run.log, "redis reachable again") >= 1);
    /* Applied once each; a reply lost with the server is an unknown outcome, so an effect
     * may be performed again (same far-side key): only the lanes' in-flight batches. */
    th_run_assert_applied(&run, N, LANES * BATCH);
    assert_int_equal(effects_without_record(&run), 0); /* no effect without its record */
    assert_true(th_run_order_ok(&run, KEYS, 0));
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
