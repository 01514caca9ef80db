/*
 * worker.c: dh_worker_main() as a process (this binary, re-executed as "worker" with a
 * prepared environment) around the scripted handler (th_script.h), on a mock cluster:
 * --check-config and --dump-config, exit 2 for bad configuration before anything
 * connects, exit 1 when the handler returns FATAL, exit 0 after SIGTERM with the offsets
 * of every finished event committed.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "th_rt.h"
#include "th_script.h"

/* cmocka.h needs these three first; keep clang-format from sorting it above them. */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
/* clang-format on */

#define WAIT_MS 30000

static char g_self[4096];

typedef struct child {
    pid_t pid;
    int out; /* its stdout */
} child_t;

/* The worker's environment: the mock cluster, the shared Redis, this run's group. */
static void worker_env(th_rt_t *t, const char *extra, char buf[][300], char **envp)
{
    const char *redis = getenv("DH_TEST_REDIS_URL");
    size_t n = 0;

    snprintf(buf[n++], 300, "DH_KAFKA_BROKERS=%s", th_rt_bootstraps(t));
    snprintf(buf[n++], 300, "DH_REDIS_URL=%s", redis && *redis ? redis : "redis://127.0.0.1:36379");
    snprintf(buf[n++], 300, "DH_GROUP_ID=%s", th_rt_group(t));
    snprintf(buf[n++], 300, "DH_TOPICS=%s", TH_SCRIPT_TOPIC);
    snprintf(buf[n++], 300, "DH_ADMIN_PORT=-1");
    snprintf(buf[n++], 300, "DH_LOG_LEVEL=warn");
    if (extra) {
        snprintf(buf[n++], 300, "%s", extra);
    }
    for (size_t i = 0; i < n; i++) {
        envp[i] = buf[i];
    }
    envp[n] = NULL;
}

static child_t spawn(th_rt_t *t, const char *arg, const char *extra)
{
    char buf[10][300];
    char *envp[11];
    char *argv[] = {g_self, "worker", (char *)arg, NULL};
    int fds[2];
    child_t c;

    worker_env(t, extra, buf, envp);
    assert_int_equal(pipe(fds), 0);
    c.pid = fork();
    assert_true(c.pid >= 0);
    if (c.pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        execve(g_self, arg ? argv : (char *[]){g_self, "worker", NULL}, envp);
        _exit(127);
    }
    close(fds[1]);
    c.out = fds[0];
    return c;
}

/* The child's exit code (its stdout into \p out when given); fails after \p timeout_ms. */
static int wait_exit(child_t c, char *out, size_t size, int timeout_ms)
{
    int64_t deadline = dh_rt_now_ms() + timeout_ms;
    size_t len = 0;
    int status = 0;
    ssize_t r;

    fcntl(c.out, F_SETFL, O_NONBLOCK);
    for (;;) {
        while (out && len + 1 < size && (r = read(c.out, out + len, size - len - 1)) > 0) {
            len += (size_t)r;
        }
        if (waitpid(c.pid, &status, WNOHANG) == c.pid) {
            break;
        }
        if (dh_rt_now_ms() > deadline) {
            kill(c.pid, SIGKILL);
            waitpid(c.pid, &status, 0);
            fail_msg("worker did not exit within %d ms", timeout_ms);
        }
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    while (out && len + 1 < size && (r = read(c.out, out + len, size - len - 1)) > 0) {
        len += (size_t)r;
    }
    if (out) {
        out[len] = '\0';
    }
    close(c.out);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static void test_check_and_dump_config(void **state)
{
    th_rt_t *t = th_rt_new(&th_script_handler, TH_SCRIPT_TOPIC, 1, NULL);
    char out[16384];

    (void)state;
    assert_int_equal(wait_exit(spawn(t, "--check-config", NULL), NULL, 0, WAIT_MS), 0);
    assert_int_equal(wait_exit(spawn(t, "--check-config", "DH_LANES=0"), NULL, 0, WAIT_MS), 2);
    assert_int_equal(
        wait_exit(spawn(t, "--check-config", "KAFKA_NO_SUCH_PROPERTY=1"), NULL, 0, WAIT_MS), 2);
    assert_int_equal(wait_exit(spawn(t, "--dump-config", "DH_REDIS_PASSWORD=hunter2-secret"), out,
                               sizeof(out), WAIT_MS),
                     0);
    assert_non_null(strstr(out, "DH_LANES=8"));
    assert_non_null(strstr(out, "DH_REDIS_PASSWORD="));
    assert_non_null(strstr(out, "DH_GROUP_ID="));
    assert_null(strstr(out, "hunter2")); /* secrets are redacted */
    th_rt_destroy(t);
}

/* Bad configuration exits 2 before anything connects (the event is never consumed). */
static void test_bad_config_exits_2(void **state)
{
    th_rt_t *t = th_rt_new(&th_script_handler, TH_SCRIPT_TOPIC, 1, NULL);

    (void)state;
    assert_int_equal(wait_exit(spawn(t, NULL, "DH_RETRY_MAX_ATTEMPTS=0"), NULL, 0, WAIT_MS), 2);
    assert_int_equal(th_rt_committed(t, th_rt_group(t), 0), -1);
    th_rt_destroy(t);
}

/* A worker run over "done", then \p script (same key); returns its exit code and sets
 * \p committed to the offset its group committed. */
static int run_two(const char *script, int64_t *committed)
{
    th_rt_t *t = th_rt_new(&th_script_handler, TH_SCRIPT_TOPIC, 1, NULL);
    char id[128], p[200];
    int code;

    th_rt_produce(t, 0, "k",
                  th_script_event(th_rt_run_id(t), "done", "ok", id, sizeof(id), p, sizeof(p)),
                  NULL);
    th_rt_produce(t, 0, "k",
                  th_script_event(th_rt_run_id(t), script, script, id, sizeof(id), p, sizeof(p)),
                  NULL);
    code = wait_exit(spawn(t, NULL, NULL), NULL, 0, WAIT_MS);
    *committed = th_rt_committed(t, th_rt_group(t), 0);
    th_rt_destroy(t);
    return code;
}

/* FATAL stops the worker with exit 1; the fatal event is not committed. */
static void test_fatal_handler_exits_1(void **state)
{
    int64_t committed;

    (void)state;
    assert_int_equal(run_two("fatal", &committed), 1);
    assert_int_equal(committed, 1); /* the first event only */
}

/* SIGTERM (raised by the handler of the second event) drains and exits 0 with both
 * events' offsets committed. */
static void test_sigterm_exits_0(void **state)
{
    int64_t committed;

    (void)state;
    assert_int_equal(run_two("term", &committed), 0);
    assert_int_equal(committed, 2);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_check_and_dump_config),
        cmocka_unit_test(test_bad_config_exits_2),
        cmocka_unit_test(test_fatal_handler_exits_1),
        cmocka_unit_test(test_sigterm_exits_0),
    };

    if (argc >= 2 && strcmp(argv[1], "worker") == 0) {
        argv[1] = argv[0];
        return dh_worker_main(argc - 1, argv + 1, &th_script_handler);
    }
    ssize_t n = readlink("/proc/self/exe", g_self, sizeof(g_self) - 1);

    if (n <= 0) {
        return 1;
    }
    g_self[n] = '\0';
    return cmocka_run_group_tests(tests, NULL, NULL);
}
