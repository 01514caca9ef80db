/* Integration-test harness (see harness.h). Fails the running cmocka test on errors. */
#include "harness.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

const char *th_env_or(const char *name, const char *def)
{
    const char *v = getenv(name);

    return v && *v ? v : def;
}

const char *th_log_dir(void)
{
    return th_env_or("DH_TEST_LOG_DIR", th_env_or("DH_TEST_BUILD_DIR", "/tmp"));
}

const char *th_kafka(void)
{
    return th_env_or("DH_TEST_KAFKA", "127.0.0.1:39092");
}

const char *th_redis_url(void)
{
    return th_env_or("DH_TEST_REDIS_URL", "redis://127.0.0.1:36379");
}

int64_t th_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t th_wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void th_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

void th_unique(const char *prefix, char *buf, size_t size)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(buf, size, "%s-%d-%lld%03ld", prefix, (int)getpid(), (long long)ts.tv_sec,
             ts.tv_nsec / 1000000);
}

static rd_kafka_t *client(rd_kafka_type_t type, const char *group)
{
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_t *rk;

    assert_int_equal(
        rd_kafka_conf_set(conf, "bootstrap.servers", th_kafka(), errstr, sizeof(errstr)),
        RD_KAFKA_CONF_OK);
    if (group) {
        assert_int_equal(rd_kafka_conf_set(conf, "group.id", group, errstr, sizeof(errstr)), 0);
        assert_int_equal(
            rd_kafka_conf_set(conf, "auto.offset.reset", "earliest", errstr, sizeof(errstr)), 0);
        assert_int_equal(
            rd_kafka_conf_set(conf, "enable.auto.commit", "false", errstr, sizeof(errstr)), 0);
    } else if (type == RD_KAFKA_PRODUCER) {
        assert_int_equal(
            rd_kafka_conf_set(conf, "enable.idempotence", "true", errstr, sizeof(errstr)), 0);
        assert_int_equal(rd_kafka_conf_set(conf, "linger.ms", "20", errstr, sizeof(errstr)), 0);
    }
    rk = rd_kafka_new(type, conf, errstr, sizeof(errstr));
    if (!rk) {
        fail_msg("rd_kafka_new: %s", errstr);
    }
    return rk;
}

void th_create_topic(const char *topic, int partitions)
{
    rd_kafka_t *rk = client(RD_KAFKA_PRODUCER, NULL);
    char dlq[300], errstr[256];
    rd_kafka_NewTopic_t *nt[2];
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_event_t *ev;

    snprintf(dlq, sizeof(dlq), "%s.dlq", topic);
    nt[0] = rd_kafka_NewTopic_new(topic, partitions, 1, errstr, sizeof(errstr));
    nt[1] = rd_kafka_NewTopic_new(dlq, partitions, 1, errstr, sizeof(errstr));
    rd_kafka_CreateTopics(rk, nt, 2, NULL, q);
    ev = rd_kafka_queue_poll(q, 30000);
    assert_non_null(ev);
    const rd_kafka_CreateTopics_result_t *res = rd_kafka_event_CreateTopics_result(ev);
    size_t cnt = 0;
    const rd_kafka_topic_result_t **tr = rd_kafka_CreateTopics_result_topics(res, &cnt);
    for (size_t i = 0; i < cnt; i++) {
        rd_kafka_resp_err_t e = rd_kafka_topic_result_error(tr[i]);

        if (e && e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
            fail_msg("create topic %s: %s", rd_kafka_topic_result_name(tr[i]), rd_kafka_err2str(e));
        }
    }
    rd_kafka_event_destroy(ev);
    rd_kafka_NewTopic_destroy_array(nt, 2);
    rd_kafka_queue_destroy(q);
    rd_kafka_destroy(rk);
}

struct th_producer {
    rd_kafka_t *rk;
};

th_producer_t *th_producer_new(void)
{
    th_producer_t *p = calloc(1, sizeof(*p));

    assert_non_null(p);
    p->rk = client(RD_KAFKA_PRODUCER, NULL);
    return p;
}

void th_produce(th_producer_t *p, const char *topic, int32_t partition, const char *key,
                const char *value, size_t len)
{
    th_produce_hdr(p, topic, partition, key, value, len, NULL, NULL);
}

void th_produce_hdr(th_producer_t *p, const char *topic, int32_t partition, const char *key,
                    const char *value, size_t len, const char *hname, const char *hval)
{
    /* The array form, so the header is simply left out when there is none. */
    rd_kafka_vu_t vu[6] = {
        {.vtype = RD_KAFKA_VTYPE_TOPIC, .u.cstr = topic},
        {.vtype = RD_KAFKA_VTYPE_PARTITION,
         .u.i32 = partition < 0 ? RD_KAFKA_PARTITION_UA : partition},
        {.vtype = RD_KAFKA_VTYPE_KEY, .u.mem = {(void *)key, key ? strlen(key) : 0}},
        {.vtype = RD_KAFKA_VTYPE_VALUE, .u.mem = {(void *)value, len}},
        {.vtype = RD_KAFKA_VTYPE_MSGFLAGS, .u.i = RD_KAFKA_MSG_F_COPY},
        {.vtype = RD_KAFKA_VTYPE_HEADER,
         .u.header = {hname, hval, hval ? (ssize_t)strlen(hval) : 0}},
    };
    rd_kafka_resp_err_t err;

    for (;;) {
        rd_kafka_error_t *e = rd_kafka_produceva(p->rk, vu, hname ? 6 : 5);

        err = e ? rd_kafka_error_code(e) : RD_KAFKA_RESP_ERR_NO_ERROR;
        if (e) {
            rd_kafka_error_destroy(e);
        }
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            break;
        }
        rd_kafka_poll(p->rk, 50);
    }
    assert_int_equal(err, RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_poll(p->rk, 0);
}

void th_producer_destroy(th_producer_t *p)
{
    if (!p) {
        return;
    }
    assert_int_equal(rd_kafka_flush(p->rk, 30000), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_destroy(p->rk);
    free(p);
}

rd_kafka_message_t **th_consume(const char *topic, size_t expect, int timeout_ms, size_t *n)
{
    char group[200];
    rd_kafka_t *rk;
    rd_kafka_topic_partition_list_t *subs = rd_kafka_topic_partition_list_new(1);
    size_t cap = expect + 16;
    rd_kafka_message_t **out = calloc(cap, sizeof(*out));
    int64_t deadline = th_now_ms() + timeout_ms;

    th_unique("th-reader", group, sizeof(group));
    rk = client(RD_KAFKA_CONSUMER, group);
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_topic_partition_list_add(subs, topic, RD_KAFKA_PARTITION_UA);
    assert_int_equal(rd_kafka_subscribe(rk, subs), 0);
    rd_kafka_topic_partition_list_destroy(subs);
    *n = 0;
    while (*n < expect && th_now_ms() < deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);

        if (!m) {
            continue;
        }
        if (m->err || *n == cap) {
            rd_kafka_message_destroy(m);
            continue;
        }
        out[(*n)++] = m;
    }
    /* Messages outlive the handle only as copies: detach by closing after the caller
     * is done is not possible here, so keep the handle alive on purpose (test process). */
    rd_kafka_unsubscribe(rk);
    return out;
}

int64_t th_committed(const char *group, const char *topic, int32_t partition)
{
    rd_kafka_t *rk = client(RD_KAFKA_CONSUMER, group); /* never subscribes: never joins */
    rd_kafka_topic_partition_list_t *tpl = rd_kafka_topic_partition_list_new(1);
    int64_t off = -1;

    rd_kafka_topic_partition_list_add(tpl, topic, partition);
    if (!rd_kafka_committed(rk, tpl, 10000) && !tpl->elems[0].err && tpl->elems[0].offset >= 0) {
        off = tpl->elems[0].offset;
    }
    rd_kafka_topic_partition_list_destroy(tpl);
    rd_kafka_destroy(rk);
    return off;
}

int64_t th_end_offset(const char *topic, int32_t partition)
{
    rd_kafka_t *rk = client(RD_KAFKA_PRODUCER, NULL);
    int64_t lo = -1, hi = -1;

    assert_int_equal(rd_kafka_query_watermark_offsets(rk, topic, partition, &lo, &hi, 10000),
                     RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_destroy(rk);
    return hi;
}

redisContext *th_redis(void)
{
    const char *url = th_redis_url();
    char host[128] = "127.0.0.1";
    int port = 36379;
    struct timeval tv = {5, 0};
    redisContext *c;

    if (sscanf(url, "redis://%127[^:]:%d", host, &port) < 2) {
        fail_msg("bad DH_TEST_REDIS_URL %s", url);
    }
    c = redisConnectWithTimeout(host, port, tv);
    if (!c || c->err) {
        fail_msg("redis %s unreachable: %s (is deploy/stack.sh up running?)", url,
                 c ? c->errstr : "alloc");
    }
    redisSetTimeout(c, tv);
    return c;
}

long long th_redis_int(redisContext *c, const char *fmt, ...)
{
    va_list ap;
    redisReply *r;
    long long v = 0;

    va_start(ap, fmt);
    r = redisvCommand(c, fmt, ap);
    va_end(ap);
    if (!r) {
        fail_msg("redis: %s", c->errstr);
    }
    if (r->type == REDIS_REPLY_INTEGER) {
        v = r->integer;
    } else if (r->type == REDIS_REPLY_STRING) {
        v = strtoll(r->str, NULL, 10);
    }
    freeReplyObject(r);
    return v;
}

/* fork(), with the child set to die with the test program, even one killed outright (a
 * ctest timeout, a crash), which atexit() never sees. Only for the main thread's forks:
 * the signal follows the thread that forked, which may end before the process. */
static pthread_t g_main_thread;

__attribute__((constructor)) static void note_main_thread(void)
{
    g_main_thread = pthread_self();
}

static pid_t fork_tied(void)
{
    pid_t parent = getpid(), pid;
    int main_thread = pthread_equal(pthread_self(), g_main_thread);

    pid = fork();
    if (pid == 0 && main_thread) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) {
            _exit(127); /* it died before the line above */
        }
    }
    return pid;
}

/* Every process th_spawn() started: a test that fails half-way leaves none running. */
static pid_t g_spawned[256];
static int g_nspawned;

static void kill_spawned(void)
{
    for (int i = 0; i < g_nspawned; i++) {
        if (g_spawned[i] > 0 && waitpid(g_spawned[i], NULL, WNOHANG) == 0) {
            kill(g_spawned[i], SIGKILL);
            waitpid(g_spawned[i], NULL, 0);
        }
    }
}

pid_t th_spawn(const char *binary, const char *const *env, const char *log_path)
{
    char path[1024];
    const char *dir = th_env_or("DH_TEST_BUILD_DIR", ".");
    pid_t pid;

    if (g_nspawned == 0) {
        atexit(kill_spawned);
    }

    snprintf(path, sizeof(path), "%s/%s", dir, binary);
    pid = fork_tied();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);

        if (fd >= 0) {
            dup2(fd, 2);
            dup2(fd, 1);
            close(fd);
        }
        /* Only the scenario's DH_* and KAFKA_* settings: the worker rejects unknown ones. */
        char *cleanenv[512];
        size_t k = 0;
        for (size_t i = 0; environ[i] && k < 400; i++) {
            if (strncmp(environ[i], "DH_", 3) && strncmp(environ[i], "KAFKA_", 6)) {
                cleanenv[k++] = environ[i];
            }
        }
        for (size_t i = 0; env && env[i] && k < 510; i++) {
            cleanenv[k++] = (char *)env[i];
        }
        cleanenv[k] = NULL;
        execve(path, (char *const[]){path, NULL}, cleanenv);
        _exit(127);
    }
    if (g_nspawned < (int)(sizeof(g_spawned) / sizeof(g_spawned[0]))) {
        g_spawned[g_nspawned++] = pid;
    }
    return pid;
}

int th_wait_exit(pid_t pid, int timeout_ms)
{
    int64_t deadline = th_now_ms() + timeout_ms;
    int status;

    while (th_now_ms() < deadline) {
        pid_t r = waitpid(pid, &status, WNOHANG);

        if (r == pid) {
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        }
        th_sleep_ms(20);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    return -1;
}

int th_alive(pid_t pid)
{
    return waitpid(pid, NULL, WNOHANG) == 0;
}

int th_wait_for(int (*cond)(void *), void *ud, int timeout_ms)
{
    int64_t deadline = th_now_ms() + timeout_ms;

    while (th_now_ms() < deadline) {
        if (cond(ud)) {
            return 1;
        }
        th_sleep_ms(50);
    }
    return cond(ud);
}

void th_run_setenv(th_run_t *run, const char *name, const char *value)
{
    char tmp[sizeof(run->envbuf[0])];

    assert_true(run->nenv < 24);
    /* Through a local copy: value may point into *run (e.g. run->topic). */
    snprintf(tmp, sizeof(tmp), "%s=%s", name, value);
    memcpy(run->envbuf[run->nenv], tmp, sizeof(tmp));
    run->env[run->nenv] = run->envbuf[run->nenv];
    run->nenv++;
    run->env[run->nenv] = NULL;
}

static const char *const worker_security[] = {"KAFKA_SECURITY_PROTOCOL", "KAFKA_SASL_MECHANISMS",
                                              "KAFKA_SASL_USERNAME", "KAFKA_SASL_PASSWORD"};

void th_run_init(th_run_t *run, const char *prefix, int partitions)
{
    char buf[100];

    memset(run, 0, sizeof(*run));
    th_unique(prefix, buf, sizeof(buf));
    snprintf(run->topic, sizeof(run->topic), "t.%s", buf);
    snprintf(run->group, sizeof(run->group), "g.%s", buf);
    snprintf(run->ns, sizeof(run->ns), "ns.%s", buf);
    snprintf(run->log, sizeof(run->log), "%s/%s.log", th_log_dir(), buf);
    snprintf(run->journal, sizeof(run->journal), "%s/%s.journal", th_log_dir(), buf);
    th_create_topic(run->topic, partitions);
    /* The workers may reach the broker another way than the test (a SASL listener):
     * DH_TEST_WORKER_KAFKA and the test process's KAFKA_ security settings. */
    th_run_setenv(run, "DH_KAFKA_BROKERS", th_env_or("DH_TEST_WORKER_KAFKA", th_kafka()));
    for (size_t i = 0; i < sizeof(worker_security) / sizeof(worker_security[0]); i++) {
        const char *v = getenv(worker_security[i]);

        if (v && *v) {
            th_run_setenv(run, worker_security[i], v);
        }
    }
    th_run_setenv(run, "DH_REDIS_URL", th_redis_url());
    th_run_setenv(run, "DH_TOPICS", run->topic);
    th_run_setenv(run, "DH_GROUP_ID", run->group);
    th_run_setenv(run, "DH_TEST_NS", run->ns);
    th_run_setenv(run, "DH_ADMIN_PORT", "0");
    th_run_setenv(run, "DH_RETRY_BASE_MS", "50");
    th_run_setenv(run, "DH_RETRY_MAX_MS", "1000");
    th_run_setenv(run, "DH_IDEM_LEASE_MS", "5000");
    /* A killed member is noticed after this long (the broker allows 6 s at least). */
    th_run_setenv(run, "KAFKA_SESSION_TIMEOUT_MS", "6000");
    th_run_setenv(run, "KAFKA_HEARTBEAT_INTERVAL_MS", "1000");
    fprintf(stderr, "scenario %s: worker log %s, far-side journal %s\n", run->topic, run->log,
            run->journal);
}

pid_t th_run_spawn(th_run_t *run, const char *binary, const char *log_path)
{
    if (!run->journal_env) { /* dh-testworker's far side; other workers reject DH_TEST_* */
        th_run_setenv(run, "DH_TEST_JOURNAL", run->journal);
        run->journal_env = 1;
    }
    return th_spawn(binary, run->env, log_path ? log_path : run->log);
}

pid_t th_run_worker(th_run_t *run)
{
    return th_run_spawn(run, "dh-testworker", NULL);
}

void th_run_produce_events(th_run_t *run, int n, int nkeys, int dup_every)
{
    th_run_produce_padded(run, n, nkeys, dup_every, 0);
}

void th_run_produce_padded(th_run_t *run, int n, int nkeys, int dup_every, size_t pad)
{
    th_producer_t *p = th_producer_new();
    size_t size = 256 + pad;
    char key[64], *val = malloc(size), *fill = malloc(pad + 1);

    assert_non_null(val);
    assert_non_null(fill);
    memset(fill, 'x', pad);
    fill[pad] = '\0';
    for (int i = 0; i < n; i++) {
        int len;

        snprintf(key, sizeof(key), "k%d", i % nkeys);
        if (pad > 0) {
            len = snprintf(val, size, "{\"id\":\"e%d\",\"seq\":%d,\"pad\":\"%s\"}", i, i / nkeys,
                           fill);
        } else {
            len = snprintf(val, size, "{\"id\":\"e%d\",\"seq\":%d}", i, i / nkeys);
        }
        th_produce(p, run->topic, -1, key, val, (size_t)len);
        if (dup_every > 0 && i % dup_every == 0) {
            th_produce(p, run->topic, -1, key, val, (size_t)len); /* a duplicate delivery */
        }
    }
    th_producer_destroy(p);
    free(fill);
    free(val);
}

/* ---- the test far side: the run's journal (see testworker.c) ---- */

static int perf_parse(const char *line, th_perf_t *p)
{
    memset(p, 0, sizeof(*p));
    return sscanf(line, "P %d %63s %lld %127s %39s", &p->pid, p->key, &p->seq, p->id, p->far) == 5;
}

th_perf_t *th_run_perfs(th_run_t *run, size_t *n, long long *decoded)
{
    char line[1024];
    size_t cap = 1024;
    th_perf_t *out = malloc(cap * sizeof(*out));
    FILE *f = fopen(run->journal, "r");

    assert_non_null(out);
    *n = 0;
    if (decoded) {
        *decoded = 0;
    }
    while (f && fgets(line, sizeof(line), f)) {
        size_t len = strlen(line);

        /* A line without its newline is one a worker is still appending (a reader can see
         * part of a concurrent write()): the next read sees it whole. */
        if (len == 0 || line[len - 1] != '\n') {
            break;
        }
        if (line[0] == 'D' && decoded) {
            (*decoded)++;
        }
        if (line[0] != 'P') {
            continue;
        }
        if (*n == cap) {
            cap *= 2;
            out = realloc(out, cap * sizeof(*out));
            assert_non_null(out);
        }
        if (!perf_parse(line, &out[*n])) {
            fail_msg("%s: malformed journal line: %s", run->journal, line);
        }
        (*n)++;
    }
    if (f) {
        fclose(f);
    }
    return out;
}

static int perf_cmp_id(const void *a, const void *b)
{
    const th_perf_t *x = *(const th_perf_t *const *)a, *y = *(const th_perf_t *const *)b;

    return strcmp(x->id, y->id);
}

void th_run_far(th_run_t *run, th_far_t *far)
{
    size_t n = 0;
    long long decoded = 0;
    th_perf_t *p = th_run_perfs(run, &n, &decoded);
    const th_perf_t **byid = calloc(n + 1, sizeof(*byid));

    assert_non_null(byid);
    memset(far, 0, sizeof(*far));
    far->decoded = decoded;
    far->performances = (long long)n;
    for (size_t i = 0; i < n; i++) {
        byid[i] = &p[i];
    }
    qsort(byid, n, sizeof(*byid), perf_cmp_id);
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && !strcmp(byid[i]->id, byid[i - 1]->id)) {
            far->repeats++;
            far->repeated += i < 2 || strcmp(byid[i - 1]->id, byid[i - 2]->id) ? 1 : 0;
            far->far_key_changes += strcmp(byid[i]->far, byid[i - 1]->far) ? 1 : 0;
            continue;
        }
        far->effects++;
    }
    free(byid);
    free(p);
}

void th_run_far_print(th_run_t *run, const char *when)
{
    th_far_t f;

    th_run_far(run, &f);
    fprintf(stderr,
            "far side %s: %lld effects, %lld performances (%lld repeats of %lld effects), "
            "%lld decoded\n",
            when, f.effects, f.performances, f.repeats, f.repeated, f.decoded);
}

void th_run_assert_applied(th_run_t *run, long long effects, long long max_repeated)
{
    th_far_t f;

    th_run_far(run, &f);
    th_run_far_print(run, "at the check");
    assert_int_equal(f.effects, effects);
    assert_int_equal(f.far_key_changes, 0); /* a repeat always carries the same far key */
    if (f.repeated > max_repeated) {
        fail_msg("%lld effects performed more than once (bound %lld)", f.repeated, max_repeated);
    }
    /* Each repeated effect repeats a bounded number of times too, not without end. */
    assert_true(f.repeats <= 4 * max_repeated);
}

void th_run_assert_once(th_run_t *run, long long effects)
{
    th_run_assert_applied(run, effects, 0);
}

long long th_run_far_by(th_run_t *run, pid_t pid)
{
    size_t n = 0;
    long long by = 0;
    th_perf_t *p = th_run_perfs(run, &n, NULL);

    for (size_t i = 0; i < n; i++) {
        by += p[i].pid == (int)pid;
    }
    free(p);
    return by;
}

long long th_run_far_count(th_run_t *run, const char *id)
{
    size_t n = 0;
    long long c = 0;
    th_perf_t *p = th_run_perfs(run, &n, NULL);

    for (size_t i = 0; i < n; i++) {
        c += !strcmp(p[i].id, id);
    }
    free(p);
    return c;
}

long long th_run_decoded(th_run_t *run)
{
    size_t n = 0;
    long long decoded = 0;

    free(th_run_perfs(run, &n, &decoded));
    return decoded;
}

struct performed_goal {
    th_run_t *run;
    long long want;
};

static int performed_reached(void *ud)
{
    struct performed_goal *g = ud;
    long long dups;

    return th_run_performed(g->run, &dups) >= g->want;
}

int th_run_wait_performed(th_run_t *run, long long want, int timeout_ms)
{
    struct performed_goal g = {run, want};

    return th_wait_for(performed_reached, &g, timeout_ms);
}

long long th_run_performed(th_run_t *run, long long *dups)
{
    th_far_t f;

    th_run_far(run, &f);
    *dups = f.repeated;
    return f.effects;
}

long long th_run_attempt_dups(th_run_t *run)
{
    th_far_t f;

    th_run_far(run, &f);
    return f.repeated;
}

int th_run_order_ok(th_run_t *run, int nkeys, int strict)
{
    size_t n = 0;
    th_perf_t *p = th_run_perfs(run, &n, NULL);
    long long *prev = malloc((size_t)nkeys * sizeof(*prev));
    int ok = 1;

    assert_non_null(prev);
    for (int k = 0; k < nkeys; k++) {
        prev[k] = -1;
    }
    for (size_t i = 0; i < n && ok; i++) {
        int k = -1;

        if (sscanf(p[i].key, "k%d", &k) != 1 || k < 0 || k >= nkeys) {
            fail_msg("performance of %s under unexpected key %s", p[i].id, p[i].key);
        }
        if (p[i].seq < prev[k] || (strict && p[i].seq == prev[k])) {
            fprintf(stderr, "key k%d out of order: %lld after %lld (%s)\n", k, p[i].seq, prev[k],
                    p[i].id);
            ok = 0;
        }
        prev[k] = p[i].seq > prev[k] ? p[i].seq : prev[k];
    }
    free(prev);
    free(p);
    return ok;
}

void th_run_produce_markers(th_run_t *run, const char *tag, int nkeys)
{
    th_producer_t *p = th_producer_new();
    char key[64], val[200];
    int seq = TH_MARKER_SEQ + run->markers++; /* a later round orders after an earlier one */

    for (int k = 0; k < nkeys; k++) {
        int len;

        snprintf(key, sizeof(key), "k%d", k);
        len = snprintf(val, sizeof(val), "{\"id\":\"%s-k%d\",\"seq\":%d}", tag, k, seq);
        th_produce(p, run->topic, -1, key, val, (size_t)len);
    }
    th_producer_destroy(p);
}

struct marker_goal {
    th_run_t *run;
    const char *tag;
    int nkeys;
};

static int markers_done(void *ud)
{
    struct marker_goal *g = ud;
    size_t n = 0, prefix = strlen(g->tag);
    long long seen = 0;
    th_perf_t *p = th_run_perfs(g->run, &n, NULL);

    for (size_t i = 0; i < n; i++) {
        seen += !strncmp(p[i].id, g->tag, prefix) && !strncmp(p[i].id + prefix, "-k", 2);
    }
    free(p);
    return seen >= g->nkeys;
}

int th_run_wait_markers(th_run_t *run, const char *tag, int nkeys, int timeout_ms)
{
    struct marker_goal g = {run, tag, nkeys};

    return th_wait_for(markers_done, &g, timeout_ms);
}

/* ---- sandbox and HTTP helpers ---- */

#include <curl/curl.h>
#include <jansson.h>

struct buf {
    char *p;
    size_t n;
};

static size_t collect(char *data, size_t size, size_t nmemb, void *ud)
{
    struct buf *b = ud;
    size_t add = size * nmemb;
    char *np = realloc(b->p, b->n + add + 1);

    if (!np) {
        return 0;
    }
    memcpy(np + b->n, data, add);
    b->p = np;
    b->n += add;
    b->p[b->n] = '\0';
    return add;
}

long th_http(const char *method, const char *url, const char *const *headers, const char *body,
             char **out)
{
    CURL *c = curl_easy_init();
    struct curl_slist *h = NULL;
    struct buf b = {NULL, 0};
    long status = 0;

    assert_non_null(c);
    h = curl_slist_append(h, "Content-Type: application/json");
    h = curl_slist_append(h, "Expect:");
    for (size_t i = 0; headers && headers[i]; i++) {
        h = curl_slist_append(h, headers[i]);
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 30000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    }
    if (curl_easy_perform(c) == CURLE_OK) {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    }
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    if (out) {
        *out = b.p;
    } else {
        free(b.p);
    }
    return status;
}

void *th_http_json(const char *method, const char *url, const char *body, long *status)
{
    char *text = NULL;
    json_t *j;
    long st = th_http(method, url, NULL, body, &text);

    if (status) {
        *status = st;
    }
    j = text ? json_loads(text, 0, NULL) : NULL;
    free(text);
    return j;
}

int th_free_port(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;

    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0) {
        port = ntohs(a.sin_port);
    }
    if (fd >= 0) {
        close(fd);
    }
    assert_true(port > 0);
    return port;
}

int th_port_open(int port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    int fd = socket(AF_INET, SOCK_STREAM, 0), ok;

    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
    if (fd >= 0) {
        close(fd);
    }
    return ok;
}

static int redis_pings(void *ud)
{
    const int *port = ud;
    struct timeval tv = {1, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", *port, tv);
    redisReply *r = c && !c->err ? redisCommand(c, "PING") : NULL;
    int ok = r && r->type == REDIS_REPLY_STATUS && !strcmp(r->str, "PONG");

    if (r) {
        freeReplyObject(r);
    }
    if (c) {
        redisFree(c);
    }
    return ok;
}

pid_t th_redis_private(int port, const char *aof_dir)
{
    char p[16];
    pid_t pid;

    snprintf(p, sizeof(p), "%d", port);
    pid = fork_tied();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* Not the test's stdout: ctest waits for every holder of its pipe to exit. */
        int fd = open("/dev/null", O_WRONLY);

        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        if (aof_dir) {
            execlp("redis-server", "redis-server", "--port", p, "--bind", "127.0.0.1", "--dir",
                   aof_dir, "--save", "", "--appendonly", "yes", "--appendfsync", "always",
                   "--loglevel", "warning", (char *)NULL);
        } else {
            execlp("redis-server", "redis-server", "--port", p, "--bind", "127.0.0.1", "--save", "",
                   "--appendonly", "no", "--loglevel", "warning", (char *)NULL);
        }
        _exit(127);
    }
    if (!th_wait_for(redis_pings, &port, 15000)) {
        fail_msg("private redis-server did not start on port %d", port);
    }
    return pid;
}

const char *th_write_temp(const char *prefix, const char *text)
{
    static char path[8][256];
    static int slot;
    int fd;

    slot = (slot + 1) % 8;
    snprintf(path[slot], sizeof(path[slot]), "/tmp/%s-XXXXXX", prefix);
    fd = mkstemp(path[slot]);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return path[slot];
}

static int sandbox_up(void *ud)
{
    th_sandbox_t *sb = ud;
    char url[128];

    snprintf(url, sizeof(url), "%s/_journal?since_seq=999999999", sb->base);
    return th_alive(sb->pid) && th_http("GET", url, NULL, NULL, NULL) == 200;
}

void th_sandbox_start(th_sandbox_t *sb, const char *seed_json)
{
    char seed_path[256], port[16], bin[1024];
    const char *dir = th_env_or("DH_TEST_BUILD_DIR", ".");

    snprintf(seed_path, sizeof(seed_path), "%s", th_write_temp("dh-seed", seed_json));
    snprintf(bin, sizeof(bin), "%s/sandbox/dh-sandbox", dir);
    for (int attempt = 0; attempt < 5; attempt++) {
        /* A port the kernel just found free (parallel runs must not collide; a fixed range
         * collided with busy client ports under load); another attempt if taken meanwhile. */
        sb->port = th_free_port();
        snprintf(port, sizeof(port), "%d", sb->port);
        snprintf(sb->base, sizeof(sb->base), "http://127.0.0.1:%d", sb->port);
        snprintf(sb->log, sizeof(sb->log), "%s/sandbox-%d.log", th_env_or("DH_TEST_LOG_DIR", dir),
                 sb->port);
        sb->pid = fork_tied();
        assert_true(sb->pid >= 0);
        if (sb->pid == 0) {
            int fd = open(sb->log, O_WRONLY | O_CREAT | O_APPEND, 0644);

            if (fd >= 0) {
                dup2(fd, 1);
                dup2(fd, 2);
                close(fd);
            }
            execl(bin, bin, "--host", "127.0.0.1", "--port", port, "--seed", seed_path,
                  (char *)NULL);
            _exit(127);
        }
        /* Still alive a moment later: the answer came from ours, not from another
         * process that already held the port (ours would have exited on bind). */
        if (th_wait_for(sandbox_up, sb, 10000) && (th_sleep_ms(200), th_alive(sb->pid))) {
            fprintf(stderr, "sandbox on %s (log %s)\n", sb->base, sb->log);
            return;
        }
        th_wait_exit(sb->pid, 100);
    }
    fail_msg("dh-sandbox did not start (see %s)", sb->log);
}

void th_sandbox_stop(th_sandbox_t *sb)
{
    if (sb->pid > 0) {
        kill(sb->pid, SIGTERM);
        th_wait_exit(sb->pid, 10000);
        sb->pid = 0;
    }
}

void th_stop(pid_t pid)
{
    if (pid > 0) {
        kill(pid, SIGTERM);
        assert_int_equal(th_wait_exit(pid, 30000), 0);
    }
}

rd_kafka_t *th_kafka_producer(void)
{
    return client(RD_KAFKA_PRODUCER, NULL);
}

void th_dead_letter(const rd_kafka_message_t *m, char *cls, size_t csize, char *why, size_t wsize)
{
    rd_kafka_headers_t *h = NULL;
    const void *c = NULL, *w = NULL;
    size_t clen = 0, wlen = 0;

    assert_int_equal(rd_kafka_message_headers(m, &h), RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(rd_kafka_header_get_last(h, "dh-error-class", &c, &clen),
                     RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(rd_kafka_header_get_last(h, "dh-error", &w, &wlen),
                     RD_KAFKA_RESP_ERR_NO_ERROR);
    snprintf(cls, csize, "%.*s", (int)clen, (const char *)c);
    snprintf(why, wsize, "%.*s", (int)wlen, (const char *)w);
    fprintf(stderr, "dead letter: %s: %s\n", cls, why);
}

/* ---- a private stack for fault tests ---- */

#include <errno.h>

/* Free = bindable with SO_REUSEADDR, as the broker binds: on Linux a client socket's
 * TIME_WAIT on the port blocks a listener too, and a busy machine has thousands. */
static int port_bindable(int port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1, ok;

    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ok = fd >= 0 && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == 0 &&
         bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
    if (fd >= 0) {
        close(fd);
    }
    return ok;
}

static int ports_free(int base, int n)
{
    for (int i = 0; i < n; i++) {
        if (!port_bindable(base + i)) {
            return 0;
        }
    }
    return 1;
}

/* Ports for services the test kills and restarts on the same port: outside the kernel's
 * ephemeral range when there is room (above it, else below it), so no client connection
 * takes the port as its source port while the service is down. */
static void stack_port_range(int *lo, int *span)
{
    int elo = 32768, ehi = 60999;
    FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");

    if (f) {
        if (fscanf(f, "%d %d", &elo, &ehi) != 2) {
            elo = 32768, ehi = 60999;
        }
        fclose(f);
    }
    if (ehi <= 64000) {
        *lo = ehi + 1, *span = 65000 - ehi;
    } else if (elo >= 12000) {
        *lo = 10000, *span = elo - 10000;
    } else {
        *lo = 41000, *span = 7000; /* no room outside it: take the chance */
    }
}

/* The script reads its ports and directory from the environment; only the test process and
 * the scripts it starts see these (th_spawn drops DH_* for workers). */
static void stack_setenv(th_stack_t *s)
{
    char v[32], libs[700];
    const char *shared = getenv("DH_STACK_DIR");

    /* The jars deploy/setup.sh fetched: the caller's DH_STACK_KAFKA_LIBS, else those of the
     * caller's stack directory, else the tree's deploy/.stack. */
    if (shared && *shared) {
        snprintf(libs, sizeof(libs), "%s/kafka-libs", shared);
    } else {
        snprintf(libs, sizeof(libs), "%.*s/.stack/kafka-libs",
                 (int)(strlen(s->script) - strlen("/stack.sh")), s->script);
    }
    setenv("DH_STACK_KAFKA_LIBS", libs, 0);
    setenv("DH_STACK_DIR", s->dir, 1);
    snprintf(v, sizeof(v), "%d", s->kafka_port);
    setenv("DH_STACK_KAFKA_PORT", v, 1);
    snprintf(v, sizeof(v), "%d", s->ctrl_port);
    setenv("DH_STACK_KAFKA_CONTROLLER_PORT", v, 1);
    snprintf(v, sizeof(v), "%d", s->redis_port);
    setenv("DH_STACK_REDIS_PORT", v, 1);
    setenv("DH_STACK_KAFKA_SASL_PORT", "off", 1); /* never the shared stack's SASL port */
    setenv("DH_STACK_KAFKA_HEAP", "-Xms128m -Xmx512m", 0);
    setenv("DH_STACK_KAFKA_TIMEOUT", "170", 0); /* a JVM start on a loaded 2-core machine */
    setenv("DH_STACK_KAFKA_STOP_GRACE", "20", 0);
}

int th_stable_ports(int n)
{
    int lo, span;

    stack_port_range(&lo, &span);
    for (int attempt = 0; attempt < 100; attempt++) {
        int base = lo + (int)((getpid() * 31 + attempt * 97 + th_now_ms()) % (span / 10 - 1)) * 10;

        if (ports_free(base, n)) {
            return base;
        }
    }
    fail_msg("no %d free consecutive ports from %d", n, lo);
    return -1;
}

int th_file_count(const char *path, const char *needle)
{
    char line[4096];
    int n = 0;
    FILE *f = fopen(path, "r");

    while (f && fgets(line, sizeof(line), f)) {
        n += strstr(line, needle) != NULL;
    }
    if (f) {
        fclose(f);
    }
    return n;
}

pid_t th_stack_cmd_async(th_stack_t *s, const char *cmd)
{
    char out[300];
    pid_t pid;

    snprintf(out, sizeof(out), "%s/stack.out", s->dir);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = open(out, O_WRONLY | O_CREAT | O_APPEND, 0644);

        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        /* The broker outlives this script: it must not inherit the test's sockets. */
        for (int i = 3; i < 1024; i++) {
            close(i);
        }
        execl("/bin/bash", "bash", s->script, cmd, (char *)NULL);
        _exit(127);
    }
    return pid;
}

int th_stack_cmd(th_stack_t *s, const char *cmd, int timeout_ms)
{
    int rc = th_wait_exit(th_stack_cmd_async(s, cmd), timeout_ms);

    if (rc != 0) {
        char path[300], tail[3001];
        FILE *f;
        size_t n = 0;

        fprintf(stderr, "deploy/stack.sh %s: exit %d; the end of %s/stack.out:\n", cmd, rc, s->dir);
        snprintf(path, sizeof(path), "%s/stack.out", s->dir);
        f = fopen(path, "r");
        if (f) {
            fseek(f, -3000, SEEK_END); /* fails on a shorter file: then from the start */
            n = fread(tail, 1, sizeof(tail) - 1, f);
            fclose(f);
        }
        tail[n] = '\0';
        fprintf(stderr, "%s\n", tail);
    }
    return rc;
}

void th_stack_start(th_stack_t *s)
{
    const char *src = getenv("DH_TEST_SOURCE_DIR");
    char tmpl[] = "/tmp/dh-stack-XXXXXX";

    memset(s, 0, sizeof(*s));
    if (!src || !*src) {
        fail_msg("DH_TEST_SOURCE_DIR is not set (tests/CMakeLists.txt sets it)");
    }
    snprintf(s->script, sizeof(s->script), "%s/deploy/stack.sh", src);
    assert_int_equal(access(s->script, R_OK), 0);
    assert_non_null(mkdtemp(tmpl));
    snprintf(s->dir, sizeof(s->dir), "%s", tmpl);
    s->kafka_port = th_stable_ports(3);
    s->ctrl_port = s->kafka_port + 1;
    s->redis_port = s->kafka_port + 2;
    snprintf(s->kafka, sizeof(s->kafka), "127.0.0.1:%d", s->kafka_port);
    snprintf(s->redis_url, sizeof(s->redis_url), "redis://127.0.0.1:%d", s->redis_port);
    stack_setenv(s);
    s->started = 1; /* from here on th_stack_destroy() cleans up, even after a failed start */
    fprintf(stderr, "private stack in %s: kafka %s, redis %s\n", s->dir, s->kafka, s->redis_url);
    if (th_stack_cmd(s, "kafka-start", 180000) != 0 || th_stack_cmd(s, "redis-start", 60000) != 0) {
        fail_msg("private stack did not start (deploy/stack.sh output in %s/stack.out)", s->dir);
    }
    setenv("DH_TEST_KAFKA", s->kafka, 1);
    setenv("DH_TEST_REDIS_URL", s->redis_url, 1);
}

/* Gone: no such process, or a zombie its new parent has not reaped yet. */
static int pid_gone(void *ud)
{
    char path[64], buf[512], *paren;
    FILE *f;
    size_t n;

    snprintf(path, sizeof(path), "/proc/%d/stat", (int)*(pid_t *)ud);
    f = fopen(path, "r");
    if (!f) {
        return 1;
    }
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    paren = strrchr(buf, ')');
    return paren && paren[1] == ' ' && paren[2] == 'Z';
}

pid_t th_stack_kill9(th_stack_t *s, const char *service)
{
    char path[320];
    long pid = 0;
    FILE *f;

    snprintf(path, sizeof(path), "%s/run/%s.pid", s->dir, service);
    f = fopen(path, "r");
    if (!f || fscanf(f, "%ld", &pid) != 1 || pid <= 1) {
        fail_msg("no pid in %s", path);
    }
    fclose(f);
    if (kill((pid_t)pid, SIGKILL) != 0) {
        fail_msg("kill -9 %s (pid %ld): %s", service, pid, strerror(errno));
    }
    pid_t p = (pid_t)pid;

    assert_true(th_wait_for(pid_gone, &p, 30000));
    return p;
}

void th_stack_destroy(th_stack_t *s)
{
    if (!s->started) {
        return;
    }
    s->started = 0;
    th_stack_cmd(s, "down", 120000);
    pid_t pid = fork();

    if (pid == 0) {
        execl("/bin/rm", "rm", "-rf", s->dir, (char *)NULL);
        _exit(127);
    }
    if (pid > 0) {
        th_wait_exit(pid, 60000);
    }
}

/* The partitions of \p topic as a list, from one metadata request (NULL if none). */
static rd_kafka_topic_partition_list_t *topic_parts(rd_kafka_t *rk, const char *topic)
{
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_partition_list_t *tpl = NULL;

    if (rd_kafka_metadata(rk, 0, rkt, &md, 15000) == RD_KAFKA_RESP_ERR_NO_ERROR &&
        md->topic_cnt == 1 && !md->topics[0].err) {
        tpl = rd_kafka_topic_partition_list_new(md->topics[0].partition_cnt);
        for (int i = 0; i < md->topics[0].partition_cnt; i++) {
            rd_kafka_topic_partition_list_add(tpl, topic, md->topics[0].partitions[i].id);
        }
    }
    if (md) {
        rd_kafka_metadata_destroy(md);
    }
    rd_kafka_topic_destroy(rkt);
    return tpl;
}

long long th_group_committed(const char *group, const char *topic)
{
    rd_kafka_t *rk = client(RD_KAFKA_CONSUMER, group);
    rd_kafka_topic_partition_list_t *tpl = topic_parts(rk, topic);
    long long sum = -1;

    /* An OffsetFetch for the group: reads its commits without joining it. */
    if (tpl && rd_kafka_committed(rk, tpl, 15000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        sum = 0;
        for (int i = 0; i < tpl->cnt; i++) {
            sum += tpl->elems[i].offset > 0 ? tpl->elems[i].offset : 0;
        }
    }
    if (tpl) {
        rd_kafka_topic_partition_list_destroy(tpl);
    }
    rd_kafka_destroy(rk);
    return sum;
}

long long th_topic_size(const char *topic)
{
    rd_kafka_t *rk = client(RD_KAFKA_PRODUCER, NULL);
    rd_kafka_topic_partition_list_t *tpl = topic_parts(rk, topic);
    long long sum = tpl ? 0 : -1;

    for (int i = 0; tpl && i < tpl->cnt; i++) {
        int64_t lo = 0, hi = 0;

        if (rd_kafka_query_watermark_offsets(rk, topic, tpl->elems[i].partition, &lo, &hi, 15000) !=
            RD_KAFKA_RESP_ERR_NO_ERROR) {
            sum = -1;
            break;
        }
        sum += hi;
    }
    if (tpl) {
        rd_kafka_topic_partition_list_destroy(tpl);
    }
    rd_kafka_destroy(rk);
    return sum;
}

/* ---- dh-ops trace ---- */

int th_ops_vrun(const char *log, char **out, const char *fmt, va_list ap)
{
    char args[1500], cmd[2000], buf[4096];
    size_t n = 0, len = 0;
    char *text = calloc(1, 1);
    FILE *fp;
    int st;

    vsnprintf(args, sizeof(args), fmt, ap);
    snprintf(cmd, sizeof(cmd), "%s/dh-ops %s 2>>%s", th_env_or("DH_TEST_BUILD_DIR", "."), args,
             log);
    fprintf(stderr, "$ dh-ops %s\n", args);
    fp = popen(cmd, "r");
    assert_non_null(fp);
    while ((n = fread(buf, 1, sizeof(buf), fp)) > 0) {
        text = realloc(text, len + n + 1);
        memcpy(text + len, buf, n);
        len += n;
        text[len] = '\0';
    }
    st = pclose(fp);
    assert_true(WIFEXITED(st));
    if (out) {
        *out = text;
    } else {
        free(text);
    }
    return WEXITSTATUS(st);
}

json_t *th_ops_trace(const char *id)
{
    char cmd[1024], buf[16384];
    json_t *out = json_array();
    FILE *fp;

    snprintf(cmd, sizeof(cmd),
             "DH_KAFKA_BROKERS=%s DH_REDIS_URL=%s %s/dh-ops --json trace '%s' "
             "--no-dlq --max 100000", /* an order id recurs in every test's store */
             th_kafka(), th_redis_url(), th_env_or("DH_TEST_BUILD_DIR", "."), id);
    fp = popen(cmd, "r");
    assert_non_null(fp);
    while (fgets(buf, sizeof(buf), fp)) {
        json_t *j = json_loads(buf, 0, NULL);

        assert_non_null(j);
        json_array_append_new(out, j);
    }
    assert_int_equal(pclose(fp), 0);
    return out;
}

json_t *th_trace_effect(json_t *trace, const char *prefix)
{
    size_t i;
    json_t *x;

    json_array_foreach(trace, i, x)
    {
        const char *eff = json_string_value(json_object_get(x, "effect"));

        if (eff && !strncmp(eff, prefix, strlen(prefix))) {
            return x;
        }
    }
    return NULL;
}

/* ---- a process's admin port ---- */

struct admin_wait {
    const char *log;
    int port;
};

static int admin_logged(void *ud)
{
    struct admin_wait *a = ud;
    const char *mark = "admin endpoints on ";
    char line[1024];
    FILE *f = fopen(a->log, "r");

    while (f && fgets(line, sizeof(line), f)) {
        const char *at = strstr(line, mark), *colon = at ? strchr(at + strlen(mark), ':') : NULL;

        if (colon) { /* "<bind address>:<port>": loopback reaches 0.0.0.0 too */
            a->port = atoi(colon + 1);
        }
    }
    if (f) {
        fclose(f);
    }
    return a->port > 0;
}

int th_admin_port(const char *log, int timeout_ms)
{
    struct admin_wait a = {log, 0};

    return th_wait_for(admin_logged, &a, timeout_ms) ? a.port : 0;
}

double th_metric(int port, const char *name, const char *labels)
{
    char url[128], *page = NULL;
    double v = -1;
    size_t len = strlen(name);

    snprintf(url, sizeof(url), "http://127.0.0.1:%d/metrics", port);
    if (th_http("GET", url, NULL, NULL, &page) != 200 || !page) {
        free(page);
        return -1;
    }
    for (char *l = page; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        char *nl = strchr(l, '\n'), *sp;

        if (nl) {
            *nl = '\0';
        }
        sp = strrchr(l, ' ');
        if (!strncmp(l, name, len) && (l[len] == '{' || l[len] == ' ') && sp &&
            (!labels || strstr(l, labels))) {
            v = strtod(sp + 1, NULL);
            break;
        }
        if (nl) {
            *nl = '\n';
        }
    }
    free(page);
    return v;
}

void th_produce_letter(rd_kafka_t *p, const char *dlq, int part, const char *key, const char *cls,
                       const char *topic, const char *shop, const char *payload)
{
    rd_kafka_headers_t *h = rd_kafka_headers_new(8);

    rd_kafka_header_add(h, "dh-error-class", -1, cls, -1);
    rd_kafka_header_add(h, "dh-error", -1, "simulated", -1);
    rd_kafka_header_add(h, "dh-original-topic", -1, topic, -1);
    rd_kafka_header_add(h, "dh-original-partition", -1, "0", -1);
    rd_kafka_header_add(h, "dh-attempts", -1, "1", -1);
    if (shop) {
        rd_kafka_header_add(h, "dh-shop-domain", -1, shop, -1);
    }
    rd_kafka_header_add(h, "x-trace", -1, key, -1);
    assert_int_equal(rd_kafka_producev(p, RD_KAFKA_V_TOPIC(dlq), RD_KAFKA_V_PARTITION(part),
                                       RD_KAFKA_V_KEY(key, strlen(key)),
                                       RD_KAFKA_V_VALUE((void *)payload, strlen(payload)),
                                       RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                       RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_END),
                     RD_KAFKA_RESP_ERR_NO_ERROR);
}

int th_redriven_copies(const char *topic, size_t expect)
{
    size_t n = 0;
    int c = 0;
    rd_kafka_message_t **ms = th_consume(topic, expect, 30000, &n);
    json_t *seen = json_object();

    for (size_t i = 0; i < n; i++) {
        rd_kafka_headers_t *h = NULL;
        const void *v;
        size_t len;

        if (!rd_kafka_message_headers(ms[i], &h) &&
            !rd_kafka_header_get_last(h, "dh-redriven-from", &v, &len) &&
            rd_kafka_header_get_last(h, "dh-error-class", &v, &len)) {
            char from[400];

            assert_false(rd_kafka_header_get_last(h, "dh-redriven-from", &v, &len));
            snprintf(from, sizeof(from), "%.*s", (int)len, (const char *)v);
            assert_null(json_object_get(seen, from)); /* never written back twice */
            json_object_set_new(seen, from, json_true());
            c++; /* a copy: redriven-from, none of the diagnostics */
        }
        rd_kafka_message_destroy(ms[i]);
    }
    free(ms);
    json_decref(seen);
    return c;
}

void th_log_tail(const char *path, int n, const char *skip)
{
    char line[8192];
    char **ring = calloc((size_t)n, sizeof(*ring));
    long seen = 0;
    FILE *f = fopen(path, "r");

    if (!ring || !f || n <= 0) {
        fprintf(stderr, "(cannot read %s)\n", path);
    }
    while (ring && f && n > 0 && fgets(line, sizeof(line), f)) {
        if (skip && strstr(line, skip)) {
            continue;
        }
        free(ring[seen % n]);
        ring[seen % n] = strdup(line);
        seen++;
    }
    fprintf(stderr, "---- last %ld line(s) of %s%s%s ----\n", seen < n ? seen : (long)n, path,
            skip ? " without " : "", skip ? skip : "");
    for (long i = seen > n ? seen - n : 0; ring && i < seen; i++) {
        fprintf(stderr, "%.400s%s", ring[i % n] ? ring[i % n] : "",
                ring[i % n] && strlen(ring[i % n]) > 400 ? "...\n" : "");
    }
    for (int i = 0; ring && i < n; i++) {
        free(ring[i]);
    }
    free(ring);
    if (f) {
        fclose(f);
    }
}
