/*
 * Every librdkafka handle logs through dh_log_rdkafka(): with the broker down, a worker
 * (its consumer and its dead-letter producer) and dh-dlq write only JSON lines on stderr,
 * never librdkafka's raw "%3|...|FAIL|..." lines. The broker is a closed loopback port;
 * the marker that the handle has spoken is a JSON line naming its client.
 */
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

/* cmocka.h needs these three first; keep clang-format from sorting it above them. */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
/* clang-format on */

extern char **environ;

typedef struct scan {
    const char *path;
    const char *client;   /* a JSON librdkafka line whose msg starts with this */
    const char *own;      /* lines starting with this are the tool's own text, or NULL */
    int json_from_client; /* result: such a line was seen */
    int raw;              /* result: lines that are neither JSON objects nor own text */
    char first_raw[512];
} scan_t;

static void scan_file(scan_t *s)
{
    FILE *fp = fopen(s->path, "r");
    char line[16384];

    s->json_from_client = 0;
    s->raw = 0;
    if (!fp) {
        return;
    }
    while (fgets(line, sizeof(line), fp)) {
        json_error_t jerr;
        json_t *j;
        const char *comp, *msg;

        line[strcspn(line, "\n")] = '\0';
        if (!line[0] || (s->own && !strncmp(line, s->own, strlen(s->own)))) {
            continue;
        }
        j = json_loads(line, 0, &jerr);
        if (!json_is_object(j) || !json_is_string(json_object_get(j, "level"))) {
            if (!s->raw++) {
                snprintf(s->first_raw, sizeof(s->first_raw), "%.500s", line);
            }
            json_decref(j);
            continue;
        }
        comp = json_string_value(json_object_get(j, "component"));
        msg = json_string_value(json_object_get(j, "msg"));
        if (comp && !strcmp(comp, "librdkafka") && msg &&
            !strncmp(msg, s->client, strlen(s->client))) {
            s->json_from_client = 1;
        }
        json_decref(j);
    }
    fclose(fp);
}

static int client_spoke(void *ud)
{
    scan_t *s = ud;

    scan_file(s);
    return s->json_from_client;
}

static void assert_only_json(scan_t *s)
{
    scan_file(s);
    if (s->raw) {
        fail_msg("%s: %d line(s) on stderr are not JSON, first: %s", s->path, s->raw, s->first_raw);
    }
    assert_true(s->json_from_client);
}

/* A loopback port nothing listens on: bound, never listened, so connects are refused. */
static void dead_broker(char *buf, size_t size)
{
    snprintf(buf, size, "127.0.0.1:%d", th_free_port());
}

static void test_worker_consumer_and_dlq_producer(void **state)
{
    char broker[64], uniq[100], log[300], env[8][300];
    const char *envp[9];
    scan_t dlq = {0}, consumer = {0};
    pid_t pid;

    (void)state;
    dead_broker(broker, sizeof(broker));
    th_unique("kafkalogs", uniq, sizeof(uniq));
    snprintf(log, sizeof(log), "%s/%s.log", th_log_dir(), uniq);
    unlink(log);
    snprintf(env[0], 300, "DH_KAFKA_BROKERS=%s", broker);
    snprintf(env[1], 300, "DH_REDIS_URL=%s", th_redis_url());
    snprintf(env[2], 300, "DH_TOPICS=t.%s", uniq);
    snprintf(env[3], 300, "DH_GROUP_ID=g.%s", uniq);
    snprintf(env[4], 300, "DH_TEST_NS=ns.%s", uniq);
    snprintf(env[5], 300, "DH_ADMIN_PORT=0");
    for (int i = 0; i < 6; i++) {
        envp[i] = env[i];
    }
    envp[6] = NULL;
    pid = th_spawn("dh-testworker", envp, log);
    dlq = (scan_t){.path = log, .client = "dockhand-dlq#producer"};
    consumer = (scan_t){.path = log, .client = "g."};
    if (!th_wait_for(client_spoke, &dlq, 30000) || !th_wait_for(client_spoke, &consumer, 30000)) {
        kill(pid, SIGKILL);
        th_wait_exit(pid, 10000);
        assert_only_json(&dlq); /* names the raw lines, if that is why */
        assert_only_json(&consumer);
    }
    kill(pid, SIGTERM);
    th_wait_exit(pid, 30000);
    assert_only_json(&dlq);
}

/* dh-dlq list against a dead broker: its own "dh-dlq: ..." text, else only JSON. */
static void test_dlq_tool(void **state)
{
    char broker[64], uniq[100], log[300], path[1024];
    scan_t s = {0};
    pid_t pid;
    int status = 0;

    (void)state;
    dead_broker(broker, sizeof(broker));
    th_unique("kafkalogs-tool", uniq, sizeof(uniq));
    snprintf(log, sizeof(log), "%s/%s.log", th_log_dir(), uniq);
    unlink(log);
    snprintf(path, sizeof(path), "%s/dh-dlq", th_env_or("DH_TEST_BUILD_DIR", "."));
    assert_int_equal(access(path, X_OK), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);

        dup2(fd, 2);
        dup2(fd, 1);
        /* The dead broker only: a KAFKA_BOOTSTRAP_SERVERS inherited from the test command
         * (deploy/test.sh exports the stack's) would win over DH_KAFKA_BROKERS. */
        unsetenv("KAFKA_BOOTSTRAP_SERVERS");
        setenv("DH_KAFKA_BROKERS", broker, 1);
        execl(path, path, "list", "t.kafkalogs.dlq", (char *)NULL);
        _exit(127);
    }
    /* It gives up on the metadata after its timeout and exits non-zero: that is the
     * marker that everything it had to say is in the file. */
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_not_equal(WEXITSTATUS(status), 0);
    assert_int_not_equal(WEXITSTATUS(status), 127);
    s = (scan_t){.path = log, .client = "rdkafka#consumer", .own = "dh-dlq: "};
    assert_only_json(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_worker_consumer_and_dlq_producer),
        cmocka_unit_test(test_dlq_tool),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
