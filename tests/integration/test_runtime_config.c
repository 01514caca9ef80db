/*
 * Bad configuration: the worker names every bad variable in one message and exits 2;
 * --check-config accepts a good configuration; --help prints the table. Every worker
 * binary (and the gateway) finds the same problems under --check-config as at a real
 * start, exits 2 for each, and --dump-config hides credentials inside URLs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

static char *slurp(const char *path)
{
    FILE *fp = fopen(path, "r");
    static char buf[65536];
    size_t n;

    assert_non_null(fp);
    n = fread(buf, 1, sizeof(buf) - 1, fp);
    buf[n] = '\0';
    fclose(fp);
    return buf;
}

static void test_bad_config_names_every_variable(void **state)
{
    char log[256];
    const char *env[] = {"DH_LANES=abc", "DH_REDIS_TIMEOUT_MS=-5", "DH_LOG_LEVEL=loud",
                         "DH_LANE=4",    "DH_TEST_MODE=sometimes", NULL};
    pid_t w;
    const char *text;

    (void)state;
    snprintf(log, sizeof(log), "/tmp/dh-badconfig-%d.log", (int)getpid());
    unlink(log);
    w = th_spawn("dh-testworker", env, log);
    assert_int_equal(th_wait_exit(w, 10000), 2);
    text = slurp(log);
    fprintf(stderr, "%s", text);
    assert_non_null(strstr(text, "DH_LANES"));
    assert_non_null(strstr(text, "DH_REDIS_TIMEOUT_MS"));
    assert_non_null(strstr(text, "DH_LOG_LEVEL"));
    assert_non_null(strstr(text, "DH_LANE:")); /* an unknown (misspelt) variable */
    assert_non_null(strstr(text, "DH_TEST_MODE"));
    unlink(log);
}

static void test_check_config_ok(void **state)
{
    char cmd[1024];
    const char *dir = getenv("DH_TEST_BUILD_DIR");

    (void)state;
    snprintf(cmd, sizeof(cmd),
             "env -i PATH=/usr/bin:/bin DH_LANES=4 %s/dh-testworker --check-config >/dev/null",
             dir ? dir : ".");
    assert_int_equal(system(cmd), 0);
    snprintf(cmd, sizeof(cmd),
             "env -i PATH=/usr/bin:/bin %s/dh-testworker --help | grep -q DH_RETRY_MAX_ATTEMPTS",
             dir ? dir : ".");
    assert_int_equal(system(cmd), 0);
    /* Secrets are never printed: the dump succeeds, lists the variable, and lacks its value
     * (a crash printing nothing must not pass). */
    snprintf(cmd, sizeof(cmd),
             "out=$(env -i PATH=/usr/bin:/bin DH_REDIS_PASSWORD=hunter2 %s/dh-testworker "
             "--dump-config) && echo \"$out\" | grep -q '^DH_REDIS_PASSWORD=.' && "
             "! echo \"$out\" | grep -q hunter2",
             dir ? dir : ".");
    assert_int_equal(system(cmd), 0);
}

/* ---- every worker binary: bad configuration exits 2 under --check-config and at start ---- */

#define GOOD_STORE                                                                                 \
    "\"domain\": \"acme.myshopify.com\", \"tenants\": [\"acme\"],"                                 \
    " \"admin_url\": \"http://127.0.0.1:1/shops/acme.myshopify.com\","                             \
    " \"access_token\": \"shpat_test\", \"webhook_secrets\": [\"whsec\"],"                         \
    " \"returnprime_secret\": \"rpsec\", \"locations\": {\"FAC-1\": \"gid://shopify/Location/1\"}"

static char dir[64]; /* temporary stores files */
static char good_env[300], typo_env[300], json_env[300], tz_env[300];

static void write_file(const char *name, const char *text, char *env, size_t size)
{
    char path[200];
    FILE *fp;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
    snprintf(env, size, "DH_STORES_FILE=%s", path);
}

static int stores_setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/dh-rtconfig-XXXXXX");
    if (!mkdtemp(dir)) {
        return -1;
    }
    write_file("good.json", "{\"stores\": [{" GOOD_STORE "}]}", good_env, sizeof(good_env));
    write_file("typo.json", "{\"stores\": [{" GOOD_STORE ", \"timezon\": \"UTC\"}]}", typo_env,
               sizeof(typo_env));
    write_file("json.json", "{\"stores\": [{" GOOD_STORE "}", json_env, sizeof(json_env));
    write_file("tz.json", "{\"stores\": [{" GOOD_STORE ", \"timezone\": \"Mars/Olympus\"}]}",
               tz_env, sizeof(tz_env));
    return 0;
}

static int stores_teardown(void **state)
{
    static const char *const names[] = {"good.json", "typo.json", "json.json", "tz.json"};
    char path[200];

    (void)state;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        unlink(path);
    }
    rmdir(dir);
    return 0;
}

/* Run build-tree \p bin with exactly PATH plus \p env (NULL-ended) and \p arg (NULL: a
 * real start); stdout and stderr into \p out. A run that does not exit in 10 s fails. */
static int run_bin(const char *bin, const char *arg, const char *const *env, char *out, size_t size)
{
    const char *bdir = getenv("DH_TEST_BUILD_DIR");
    char path[512], log[128];
    char *envp[16];
    char *argv[3];
    size_t n = 0;
    pid_t pid;
    int code;
    FILE *fp;

    snprintf(path, sizeof(path), "%s/%s", bdir ? bdir : ".", bin);
    if (access(path, X_OK) != 0) {
        fail_msg("%s is not built", path); /* a missing binary fails, never skips */
    }
    snprintf(log, sizeof(log), "%s/out-%d.log", dir, (int)getpid());
    envp[n++] = "PATH=/usr/bin:/bin";
    for (size_t i = 0; env && env[i] && n < 15; i++) {
        envp[n++] = (char *)env[i];
    }
    envp[n] = NULL;
    argv[0] = path;
    argv[1] = (char *)arg;
    argv[2] = NULL;
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);

        if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0) {
            _exit(126);
        }
        execve(path, argv, envp);
        _exit(127);
    }
    code = th_wait_exit(pid, 10000);
    fp = fopen(log, "r");
    assert_non_null(fp);
    out[fread(out, 1, size - 1, fp)] = '\0';
    fclose(fp);
    unlink(log);
    return code;
}

typedef struct bad_case {
    const char *bin;
    const char *env[4]; /* "@GOOD@" etc. stand for the stores files' DH_STORES_FILE */
    const char *line;   /* the start of the problem line naming the variable */
} bad_case_t;

static const char *resolve(const char *e)
{
    if (!strcmp(e, "@GOOD@")) {
        return good_env;
    }
    if (!strcmp(e, "@TYPO@")) {
        return typo_env;
    }
    if (!strcmp(e, "@JSON@")) {
        return json_env;
    }
    return !strcmp(e, "@TZ@") ? tz_env : e;
}

static const bad_case_t bad_cases[] = {
    {"dh-inventory", {"DH_STORES_FILE=/nonexistent/stores.json"}, "DH_STORES_FILE: stores file"},
    {"dh-orders", {"DH_LOG_LEVEL=info"}, "DH_STORES_FILE: DH_STORES_FILE is not set"},
    {"dh-inventory", {"@TYPO@"}, "DH_STORES_FILE: store acme.myshopify.com: unknown field"},
    {"dh-dispatch", {"@JSON@"}, "DH_STORES_FILE: stores: line"},
    {"dh-orders", {"@GOOD@", "DH_REDIS_URL=http://x"}, "DH_REDIS_URL: must be a URL"},
    {"dh-dispatch", {"@GOOD@", "DH_REDIS_URL=redis://h:99999"}, "DH_REDIS_URL: redis: invalid"},
    {"dh-orders", {"@GOOD@", "DH_WMS_RATE=garbage"}, "DH_WMS_RATE: bad item \"garbage\""},
    {"dh-returns", {"@GOOD@", "DH_WMS_RATE=orders=fast"}, "DH_WMS_RATE: bad item"},
    {"dh-dispatch", {"@GOOD@", "KAFKA_FOO_BAR=1"}, "KAFKA_FOO_BAR: librdkafka refuses foo.bar"},
    {"dh-orders", {"@GOOD@", "KAFKA_SESSION_TIMEOUT_MS=soon"}, "KAFKA_SESSION_TIMEOUT_MS:"},
    {"dh-returns", {"@GOOD@", "DH_WMS_URL=wms.example:8080"}, "DH_WMS_URL: must be a URL"},
    {"dh-inventory", {"@GOOD@", "DH_WMS_URL=ftp://wms"}, "DH_WMS_URL: must be a URL"},
    {"dh-inventory",
     {"@GOOD@", "DH_INVENTORY_SYNC_TZ=Mars/Olympus"},
     "DH_INVENTORY_SYNC_TZ: unknown time zone"},
    {"dh-inventory", {"@TZ@"}, "DH_STORES_FILE: store acme.myshopify.com: unknown time zone"},
    {"dh-inventory", {"@GOOD@", "DH_BATCH_LINGER_MS=5000"}, "DH_BATCH_LINGER_MS: at most 1000"},
    {"dh-returns",
     {"@GOOD@", "DH_RETURNS_CREATE_STATUSES=approved,bogus"},
     "DH_RETURNS_CREATE_STATUSES: unknown Return Prime status"},
    {"dh-gateway", {"@GOOD@", "KAFKA_FOO_BAR=1"}, "KAFKA_FOO_BAR: librdkafka refuses"},
    {"dh-gateway", {"@GOOD@", "DH_REDIS_URL=http://x"}, "DH_REDIS_URL: must be a URL"},
    {"dh-gateway", {"@TYPO@"}, "DH_STORES_FILE: store acme.myshopify.com: unknown field"},
    {"dh-gateway", {"@GOOD@", "DH_GATEWAY_ADDR=localhost"}, "DH_GATEWAY_ADDR: must be a numeric"},
    {"dh-returns", {"@GOOD@", "DH_ADMIN_ADDR=example.com"}, "DH_ADMIN_ADDR: must be a numeric"},
    {"dh-dispatch", {"@GOOD@", "DH_TOPICS= , "}, "DH_TOPICS: names no topic"},
    {"dh-orders", {"@GOOD@", "DH_TOPICS=a,b,c,d,e,f,g,h,i"}, "DH_TOPICS: names 9 topics"},
};

static void expect_line(const char *what, const char *text, const char *line)
{
    const char *at = strstr(text, line);

    /* The problem is a line of its own: at the start of the text or after a newline. */
    if (!at || (at != text && at[-1] != '\n')) {
        fail_msg("%s: no line starting '%s' in:\n%s", what, line, text);
    }
}

static void test_bad_config_exits_2_at_check_and_start(void **state)
{
    static char out[8192];

    (void)state;
    for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
        const bad_case_t *c = &bad_cases[i];
        const char *env[5] = {NULL};
        char what[256];

        for (size_t k = 0; k < 4 && c->env[k]; k++) {
            env[k] = resolve(c->env[k]);
        }
        for (int start = 0; start < 2; start++) {
            int code = run_bin(c->bin, start ? NULL : "--check-config", env, out, sizeof(out));

            snprintf(what, sizeof(what), "%s %s with %s%s%s", c->bin,
                     start ? "(start)" : "--check-config", c->env[0], c->env[1] ? " " : "",
                     c->env[1] ? c->env[1] : "");
            if (code != 2) {
                fail_msg("%s: exit %d, want 2:\n%s", what, code, out);
            }
            expect_line(what, out, c->line);
            if (!strstr(out, "invalid configuration")) {
                fail_msg("%s: no 'invalid configuration' in:\n%s", what, out);
            }
        }
    }
}

static void test_every_bad_variable_in_one_report(void **state)
{
    static char out[8192];
    const char *env[] = {"DH_STORES_FILE=/nonexistent/stores.json",
                         "DH_REDIS_URL=http://x",
                         "DH_WMS_RATE=garbage",
                         "KAFKA_FOO_BAR=1",
                         "DH_WMS_URL=wms",
                         "DH_INVENTORY_SYNC_TZ=Nowhere/Land",
                         "DH_LANES=0",
                         NULL};
    static const char *const lines[] = {
        "DH_STORES_FILE:",       "DH_REDIS_URL:", "DH_WMS_RATE:", "KAFKA_FOO_BAR:",
        "DH_INVENTORY_SYNC_TZ:", "DH_WMS_URL:",   "DH_LANES:"};
    int newlines = 0;

    (void)state;
    for (int start = 0; start < 2; start++) {
        assert_int_equal(
            run_bin("dh-inventory", start ? NULL : "--check-config", env, out, sizeof(out)), 2);
        for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
            expect_line("dh-inventory", out, lines[i]);
        }
        newlines = 0;
        for (const char *p = out; *p; p++) {
            newlines += *p == '\n';
        }
        /* The header line plus one line per bad variable, nothing else. */
        if (newlines != 1 + (int)(sizeof(lines) / sizeof(lines[0]))) {
            fail_msg("%d lines in:\n%s", newlines, out);
        }
    }
}

static void test_good_config_passes_every_binary(void **state)
{
    static const char *const bins[] = {"dh-orders", "dh-inventory", "dh-returns", "dh-dispatch",
                                       "dh-gateway"};
    static char out[4096];
    /* dh-dispatch and dh-gateway have no DH_WMS_*: the last entries are only for the others. */
    const char *env[] = {good_env,
                         "DH_REDIS_URL=redis://user:pw@127.0.0.1:6379/2",
                         "KAFKA_SESSION_TIMEOUT_MS=30000",
                         "DH_WMS_URL=https://127.0.0.1:1",
                         "DH_WMS_RATE=orders=5,default=50",
                         NULL};

    (void)state;
    for (size_t i = 0; i < sizeof(bins) / sizeof(bins[0]); i++) {
        int code;

        if (i == 3) {
            env[3] = NULL;
        }
        code = run_bin(bins[i], "--check-config", env, out, sizeof(out));
        if (code != 0 || !strstr(out, "configuration OK")) {
            fail_msg("%s --check-config: exit %d:\n%s", bins[i], code, out);
        }
    }
}

static void test_dump_config_redacts_url_credentials(void **state)
{
    static char out[16384];
    const char *env[] = {good_env, "DH_REDIS_URL=redis://:secret@host:6379",
                         "DH_WMS_URL=https://wmsuser:wmspass@wms.example/api", "DH_WMS_TOKEN=tok3n",
                         NULL};

    (void)state;
    assert_int_equal(run_bin("dh-orders", "--dump-config", env, out, sizeof(out)), 0);
    expect_line("dump", out, "DH_REDIS_URL=redis://:***@host:6379\n");
    expect_line("dump", out, "DH_WMS_URL=https://wmsuser:***@wms.example/api\n");
    expect_line("dump", out, "DH_WMS_TOKEN=<redacted>\n");
    assert_null(strstr(out, "secret@"));
    assert_null(strstr(out, "wmspass"));
    assert_null(strstr(out, "tok3n"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_config_names_every_variable),
        cmocka_unit_test(test_check_config_ok),
        cmocka_unit_test(test_bad_config_exits_2_at_check_and_start),
        cmocka_unit_test(test_every_bad_variable_in_one_report),
        cmocka_unit_test(test_good_config_passes_every_binary),
        cmocka_unit_test(test_dump_config_redacts_url_credentials),
    };
    return cmocka_run_group_tests(tests, stores_setup, stores_teardown);
}
