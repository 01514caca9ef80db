/*
 * Unit tests for config: one table of environments, each with the expected outcome,
 * values and problem lines; plus help/markdown/dump output.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* open_memstream, mkstemp (CMake sets it too) */
#endif

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dockhand/config.h"

/* cmocka.h needs these three first; keep clang-format from sorting it above them. */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
/* clang-format on */

#define MAXN 8

static const dh_config_var_t common_vars[] = {
    {"DH_LANES", DH_CFG_INT, "4", 1, 256, NULL, "Concurrent lanes per worker."},
    {"DH_DRY_RUN", DH_CFG_BOOL, "false", 0, 0, NULL, "Log effects instead of doing them."},
    {"DH_LOG_LEVEL", DH_CFG_ENUM, "info", 0, 0, "debug|info|warn|error", "Minimum log level."},
    {"DH_REDIS_URL", DH_CFG_STRING, NULL, 0, 0, NULL, "Redis URL."},
    {"DH_SHOPIFY_TOKEN", DH_CFG_SECRET, NULL, 0, 0, NULL, "Shopify Admin API token."},
    {"DH_WORKER_NAME", DH_CFG_STRING, "", 0, 0, NULL, "Worker name override."},
    DH_CONFIG_END,
};

static const dh_config_var_t worker_vars[] = {
    {"DH_LANES", DH_CFG_INT, "99", 1, 256, NULL, "Duplicate: the first table wins."},
    {"DH_BATCH", DH_CFG_INT, "-5", -10, 10, NULL, "Signed range."},
    DH_CONFIG_END,
};

static const dh_config_var_t *const tables[] = {common_vars, worker_vars, NULL};

static char secret_path[64];

#define OKENV "DH_REDIS_URL=redis://r:6379", "DH_SHOPIFY_TOKEN=tok"

typedef struct kv {
    const char *name;
    const char *value;
} kv_t;

typedef struct config_case {
    const char *what;
    const char *env[MAXN]; /* "@SECRET@" is replaced by the secret file's path */
    dh_err_t err;
    kv_t values[MAXN];          /* on DH_OK */
    const char *problems[MAXN]; /* substrings of the problems text, on DH_ERR_CONFIG */
    int nproblems;              /* expected number of lines; 0 = don't check */
} config_case_t;

static const config_case_t cases[] = {
    {"defaults",
     {OKENV},
     DH_OK,
     {{"DH_LANES", "4"},
      {"DH_DRY_RUN", "false"},
      {"DH_LOG_LEVEL", "info"},
      {"DH_WORKER_NAME", ""},
      {"DH_BATCH", "-5"},
      {"DH_SHOPIFY_TOKEN", "tok"}},
     {NULL},
     0},
    {"overrides",
     {OKENV, "DH_LANES=256", "DH_DRY_RUN=Yes", "DH_LOG_LEVEL=debug", "DH_BATCH=+3"},
     DH_OK,
     {{"DH_LANES", "256"}, {"DH_DRY_RUN", "Yes"}, {"DH_LOG_LEVEL", "debug"}},
     {NULL},
     0},
    {"empty counts as unset",
     {OKENV, "DH_LANES=", "DH_WORKER_NAME="},
     DH_OK,
     {{"DH_LANES", "4"}, {"DH_WORKER_NAME", ""}},
     {NULL},
     0},
    {"required missing",
     {"DH_REDIS_URL="},
     DH_ERR_CONFIG,
     {{NULL, NULL}},
     {"DH_REDIS_URL: required, not set", "DH_SHOPIFY_TOKEN: required, not set"},
     2},
    {"int not a number",
     {OKENV, "DH_LANES=abc"},
     DH_ERR_CONFIG,
     {{NULL, NULL}},
     {"DH_LANES: must be an integer in [1, 256], got 'abc'"},
     1},
    {"int below range",
     {OKENV, "DH_LANES=0"},
     DH_ERR_CONFIG,
     {{NULL, NULL}},
     {"DH_LANES: must be an integer in [1, 256], got '0'"},
     1},
    {"int above range",
     {OKENV, "DH_BATCH=11"},
     DH_ERR_CONFIG,
     {{NULL, NULL}},
     {"DH_BATCH: must be an integer in [-10, 10], got '11'"},
     1},
    {"int trailing junk", {OKENV, "DH_LANES=4x"}, DH_ERR_CONFIG, {{NULL, NULL}}, {"DH_LANES"}, 1},
    {"int leading space", {OKENV, "DH_LANES= 4"}, DH_ERR_CONFIG, {{NULL, NULL}}, {"DH_LANES"}, 1},
    {"int overflow",
     {OKENV, "DH_LANES=99999999999999999999"},
     DH_ERR_CONFIG,
     {{NULL, NULL}},
     {"DH_LANES"},
     1},
    {"bad bool",
     {OKENV, "DH_DRY_RUN=maybe"},
     DH_ERR_CONFIG,
     {{NULL, NULL}},
     {"DH_DRY_RUN: must be one of true|false|1|0|yes|no|on|off, got 'maybe'"},
     1},
    {"bad enum",
     {OKENV, "DH_LOG_LEVEL=verbose"},
     DH_ERR_CONFIG,
     {{NULL, NULL}},
     {"DH_LOG_LEVEL: must be one of debug|info|warn|error, got 'verbose'"},
     1},
    {"enum prefix is not a choice",
     {OKENV, "DH_LOG_LEVEL=inf"},
     DH_ERR_CONFIG,
     {{NULL, NULL}},
     {"DH_LOG_LEVEL"},
     1},
    {"secret from file",
     {"DH_REDIS_URL=r", "DH_SHOPIFY_TOKEN_FILE=@SECRET@"},
     DH_OK,
     {{"DH_SHOPIFY_TOKEN", "s3cr3t"}},
     {NULL},
     0},
    {"secret file unreadable",
     {"DH_REDIS_URL=r", "DH_SHOPIFY_TOKEN_FILE=/nonexistent/tok"},
     DH_ERR_CONFIG,
     {{NULL, NULL}},
     {"DH_SHOPIFY_TOKEN_FILE: cannot read /nonexistent/tok: No such file or directory"},
     1},
    {"secret and file both set",
     {OKENV, "DH_SHOPIFY_TOKEN_FILE=@SECRET@"},
     DH_ERR_CONFIG,
     {{NULL, NULL}},
     {"DH_SHOPIFY_TOKEN: both DH_SHOPIFY_TOKEN and DH_SHOPIFY_TOKEN_FILE"},
     1},
    {"unknown DH_ variable",
     {OKENV, "DH_LANE=4"},
     DH_ERR_CONFIG,
     {{NULL, NULL}},
     {"DH_LANE: unknown variable"},
     1},
    {"_FILE of a non-secret",
     {OKENV, "DH_REDIS_URL_FILE=/x"},
     DH_ERR_CONFIG,
     {{NULL, NULL}},
     {"DH_REDIS_URL_FILE: unknown variable (only secrets"},
     1},
    {"empty unknown and test harness vars ignored",
     {OKENV, "DH_LANE=", "DH_TEST_BUILD_DIR=/b", "PATH=/bin", "DHX=1"},
     DH_OK,
     {{NULL, NULL}},
     {NULL},
     0},
    {"kafka both set",
     {OKENV, "KAFKA_SASL_PASSWORD=pw", "KAFKA_SASL_PASSWORD_FILE=@SECRET@"},
     DH_ERR_CONFIG,
     {{NULL, NULL}},
     {"KAFKA_SASL_PASSWORD: both"},
     1},
    {"kafka unreadable file",
     {OKENV, "KAFKA_SSL_KEY_PASSWORD_FILE=/nonexistent/k"},
     DH_ERR_CONFIG,
     {{NULL, NULL}},
     {"KAFKA_SSL_KEY_PASSWORD_FILE: cannot read /nonexistent/k"},
     1},
    {"kafka without property", {OKENV, "KAFKA_=x"}, DH_ERR_CONFIG, {{NULL, NULL}}, {"KAFKA_:"}, 1},
    {"all problems together",
     {"DH_LANES=abc", "DH_DRY_RUN=maybe", "DH_LOG_LEVEL=x", "DH_LANE=1", "DH_BATCH=-11"},
     DH_ERR_CONFIG,
     {{NULL, NULL}},
     {"DH_LANES:", "DH_DRY_RUN:", "DH_LOG_LEVEL:", "DH_LANE:", "DH_BATCH:", "DH_REDIS_URL:",
      "DH_SHOPIFY_TOKEN:"},
     7},
};

/* Copy the case's environment, substituting the secret file path. */
static void build_env(const config_case_t *c, char *env[MAXN + 1], char store[MAXN][128])
{
    size_t n = 0;

    for (size_t i = 0; i < MAXN && c->env[i]; i++) {
        const char *at = strstr(c->env[i], "@SECRET@");

        if (at) {
            snprintf(store[i], 128, "%.*s%s", (int)(at - c->env[i]), c->env[i], secret_path);
        } else {
            snprintf(store[i], 128, "%s", c->env[i]);
        }
        env[n++] = store[i];
    }
    env[n] = NULL;
}

static int count_lines(const char *s)
{
    int n = 0;

    for (; *s; s++) {
        n += *s == '\n';
    }
    return n;
}

static void test_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const config_case_t *c = &cases[i];
        char *env[MAXN + 1];
        char store[MAXN][128];
        dh_config_t *cfg = (dh_config_t *)1; /* must be reset to NULL */
        char *problems = (char *)1;
        dh_err_t err;

        build_env(c, env, store);
        err = dh_config_load(tables, env, &cfg, &problems);
        if (err != c->err) {
            fail_msg("%s: got %d, problems: %s", c->what, err, problems ? problems : "-");
        }
        if (err == DH_OK) {
            assert_null(problems);
            for (size_t k = 0; k < MAXN && c->values[k].name; k++) {
                const char *v = dh_config_get(cfg, c->values[k].name);

                assert_non_null(v);
                if (strcmp(v, c->values[k].value) != 0) {
                    fail_msg("%s: %s='%s'", c->what, c->values[k].name, v);
                }
            }
            dh_config_destroy(cfg);
            continue;
        }
        assert_null(cfg);
        assert_non_null(problems);
        for (size_t k = 0; k < MAXN && c->problems[k]; k++) {
            if (!strstr(problems, c->problems[k])) {
                fail_msg("%s: '%s' not in:\n%s", c->what, c->problems[k], problems);
            }
        }
        if (c->nproblems && count_lines(problems) != c->nproblems) {
            fail_msg("%s: expected %d lines:\n%s", c->what, c->nproblems, problems);
        }
        free(problems);
    }
}

static dh_config_t *load_ok(char **env)
{
    dh_config_t *cfg = NULL;
    char *problems = NULL;

    if (dh_config_load(tables, env, &cfg, &problems) != DH_OK) {
        fail_msg("load failed: %s", problems ? problems : "-");
    }
    return cfg;
}

static void test_typed_getters(void **state)
{
    (void)state;
    char *env[] = {OKENV, "DH_LANES=12", "DH_DRY_RUN=on", NULL};
    dh_config_t *cfg = load_ok(env);

    assert_int_equal(dh_config_int(cfg, "DH_LANES"), 12);
    assert_int_equal(dh_config_int(cfg, "DH_BATCH"), -5);
    assert_int_equal(dh_config_bool(cfg, "DH_DRY_RUN"), 1);
    assert_int_equal(dh_config_int(cfg, "DH_WORKER_NAME"), 0);
    assert_null(dh_config_get(cfg, "DH_NOT_IN_TABLE"));
    assert_null(dh_config_get(cfg, "KAFKA_BOOTSTRAP_SERVERS"));
    dh_config_destroy(cfg);
    dh_config_destroy(NULL);
}

static int collect(const char *prop, const char *value, void *ud)
{
    char *buf = ud;
    size_t len = strlen(buf);

    snprintf(buf + len, 512 - len, "%s=%s;", prop, value);
    return strcmp(prop, "stop.here") == 0 ? 7 : 0;
}

static void test_kafka_passthrough(void **state)
{
    (void)state;
    char file_env[128];
    char *env[] = {OKENV,
                   "KAFKA_GROUP_INSTANCE_ID=w-1",
                   "KAFKA_BOOTSTRAP_SERVERS=k:9092",
                   "KAFKA_SASL_PASSWORD=pw",
                   file_env,
                   "KAFKA_STATISTICS_INTERVAL_MS=",
                   NULL};
    char buf[512] = "";
    dh_config_t *cfg;

    snprintf(file_env, sizeof(file_env), "KAFKA_SSL_KEY_PASSWORD_FILE=%s", secret_path);
    cfg = load_ok(env);
    assert_int_equal(dh_config_kafka_each(cfg, collect, buf), 0);
    assert_string_equal(buf, "bootstrap.servers=k:9092;group.instance.id=w-1;"
                             "sasl.password=pw;ssl.key.password=s3cr3t;");
    dh_config_destroy(cfg);

    char *stop_env[] = {OKENV, "KAFKA_A=1", "KAFKA_STOP_HERE=x", "KAFKA_Z=2", NULL};
    buf[0] = '\0';
    cfg = load_ok(stop_env);
    assert_int_equal(dh_config_kafka_each(cfg, collect, buf), 7);
    assert_string_equal(buf, "a=1;stop.here=x;");
    dh_config_destroy(cfg);
}

/* Run fn into a memory stream; caller free()s. */
static char *capture(void (*fn)(FILE *fp, const void *arg), const void *arg)
{
    char *text = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&text, &len);

    assert_non_null(fp);
    fn(fp, arg);
    fclose(fp);
    return text;
}

static void dump_fn(FILE *fp, const void *arg)
{
    dh_config_dump(fp, arg);
}

static void test_dump_sorted_and_redacted(void **state)
{
    (void)state;
    char file_env[128];
    char *env[] = {"DH_REDIS_URL=redis://r",
                   file_env,
                   "KAFKA_SASL_PASSWORD=pw",
                   "KAFKA_BOOTSTRAP_SERVERS=k:9092",
                   "KAFKA_SASL_OAUTHBEARER_CLIENT_SECRET=cs",
                   NULL};
    dh_config_t *cfg;
    char *text;

    snprintf(file_env, sizeof(file_env), "DH_SHOPIFY_TOKEN_FILE=%s", secret_path);
    cfg = load_ok(env);
    text = capture(dump_fn, cfg);
    assert_string_equal(text, "DH_BATCH=-5\n"
                              "DH_DRY_RUN=false\n"
                              "DH_LANES=4\n"
                              "DH_LOG_LEVEL=info\n"
                              "DH_REDIS_URL=redis://r\n"
                              "DH_SHOPIFY_TOKEN=<redacted>\n"
                              "DH_WORKER_NAME=\n"
                              "KAFKA_BOOTSTRAP_SERVERS=k:9092\n"
                              "KAFKA_SASL_OAUTHBEARER_CLIENT_SECRET=<redacted>\n"
                              "KAFKA_SASL_PASSWORD=<redacted>\n");
    assert_null(strstr(text, "s3cr3t"));
    free(text);
    dh_config_destroy(cfg);
}

/* URL-typed variables and the checks run by dh_config_load_checked(). */
static const dh_config_var_t url_vars[] = {
    {"DH_WMS_URL", DH_CFG_URL, "http://w:8080", 0, 0, "http|https", "WMS base URL."},
    {"DH_CACHE_URL", DH_CFG_URL, "", 0, 0, "redis", "Optional cache."},
    {"DH_COUNT", DH_CFG_INT, "1", 1, 9, NULL, "A count."},
    {"DH_ZONE", DH_CFG_STRING, "UTC", 0, 0, NULL, "A time zone."},
    DH_CONFIG_END,
};

static const dh_config_var_t *const url_tables[] = {url_vars, NULL};

static int check_calls;

/* Reports DH_COUNT (maybe already bad by its type) twice and checks DH_ZONE. */
static void check_fn(const dh_config_t *cfg, dh_config_report_t *report)
{
    check_calls++;
    if (dh_config_int(cfg, "DH_COUNT") != 7) {
        dh_config_report(report, "DH_COUNT", "must be 7 for this worker");
        dh_config_report(report, "DH_COUNT", "a second problem of the same variable");
    }
    if (!dh_config_tz_valid(dh_config_get(cfg, "DH_ZONE"))) {
        dh_config_report(report, "DH_ZONE", "unknown time zone");
    }
}

static char *load_checked(char **env, dh_err_t want)
{
    static const dh_config_check_fn checks[] = {check_fn, NULL};
    dh_config_t *cfg = NULL;
    char *problems = NULL;
    dh_err_t err = dh_config_load_checked(url_tables, checks, env, &cfg, &problems);

    if (err != want) {
        fail_msg("got %d, problems: %s", err, problems ? problems : "-");
    }
    dh_config_destroy(cfg);
    return problems;
}

static void test_url_type(void **state)
{
    char *good[] = {"DH_WMS_URL=https://u:pw@wms.example/api", "DH_CACHE_URL=redis://c:6379",
                    "DH_COUNT=7", NULL};
    char *bad[] = {"DH_WMS_URL=ftp://u:hunter2@wms", "DH_CACHE_URL=c:6379", "DH_COUNT=7", NULL};
    char *nohost[] = {"DH_WMS_URL=http://", "DH_COUNT=7", NULL};
    char *p;

    (void)state;
    assert_null(load_checked(good, DH_OK));
    p = load_checked(bad, DH_ERR_CONFIG);
    assert_non_null(strstr(p, "DH_WMS_URL: must be a URL starting with http:// or https://, got "
                              "a ftp:// URL\n"));
    assert_non_null(strstr(p, "DH_CACHE_URL: must be a URL starting with redis://\n"));
    assert_null(strstr(p, "hunter2")); /* a bad URL is never echoed: it may hold a password */
    assert_int_equal(count_lines(p), 2);
    free(p);
    p = load_checked(nohost, DH_ERR_CONFIG);
    assert_string_equal(p, "DH_WMS_URL: http:// URL without a host\n");
    free(p);
}

static void test_checks_report_each_variable_once(void **state)
{
    char *typed_bad[] = {"DH_COUNT=0", "DH_ZONE=Mars/Olympus", NULL};
    char *check_bad[] = {"DH_COUNT=3", NULL};
    char *p;

    (void)state;
    check_calls = 0;
    /* The check runs although DH_COUNT failed its type, and adds nothing for it. */
    p = load_checked(typed_bad, DH_ERR_CONFIG);
    assert_int_equal(check_calls, 1);
    assert_string_equal(p, "DH_COUNT: must be an integer in [1, 9], got '0'\n"
                           "DH_ZONE: unknown time zone\n");
    free(p);
    p = load_checked(check_bad, DH_ERR_CONFIG);
    assert_string_equal(p, "DH_COUNT: must be 7 for this worker\n");
    free(p);
}

static void test_tz_valid(void **state)
{
    static const char *const good[] = {"UTC",           "GMT",  "Asia/Kolkata",
                                       "Europe/Berlin", ":UTC", "IST-5:30"};
    static const char *const bad[] = {
        "", "Mars/Olympus", "../../etc/passwd", "/etc/passwd", "Asia/../../../etc/passwd", ":"};

    (void)state;
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        if (!dh_config_tz_valid(good[i])) {
            fail_msg("'%s' should resolve (zoneinfo installed?)", good[i]);
        }
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (dh_config_tz_valid(bad[i])) {
            fail_msg("'%s' should not resolve", bad[i]);
        }
    }
    assert_int_equal(dh_config_tz_valid(NULL), 0);
}

static void test_dump_redacts_url_credentials(void **state)
{
    char *env[] = {"DH_WMS_URL=https://user:pw1@wms.example:8443/api?x=a@b",
                   "DH_CACHE_URL=redis://:secret2@cache:6379/0",
                   "DH_ZONE=see http://a:pw3@h1/x@y,https://tok4@h2 and ftp://h3/p@q",
                   "DH_COUNT=7",
                   "KAFKA_SASL_OAUTHBEARER_TOKEN_ENDPOINT_URL=https://id:pw5@idp/token",
                   NULL};
    dh_config_t *cfg;
    char *text;

    (void)state;
    if (dh_config_load(url_tables, env, &cfg, NULL) != DH_OK) {
        fail_msg("load failed");
    }
    text = capture(dump_fn, cfg);
    assert_string_equal(text,
                        "DH_CACHE_URL=redis://:***@cache:6379/0\n"
                        "DH_COUNT=7\n"
                        "DH_WMS_URL=https://user:***@wms.example:8443/api?x=a@b\n"
                        "DH_ZONE=see http://a:***@h1/x@y,https://***@h2 and ftp://h3/p@q\n"
                        "KAFKA_SASL_OAUTHBEARER_TOKEN_ENDPOINT_URL=https://id:***@idp/token\n");
    free(text);
    dh_config_destroy(cfg);
}

static void help_fn(FILE *fp, const void *arg)
{
    (void)arg;
    dh_config_print_help(fp, "dh-inventory", tables);
}

static void md_fn(FILE *fp, const void *arg)
{
    (void)arg;
    dh_config_print_markdown(fp, tables);
}

static void test_help_and_markdown(void **state)
{
    (void)state;
    char *help = capture(help_fn, NULL);
    char *md = capture(md_fn, NULL);
    static const char *const in_help[] = {"dh-inventory",
                                          "DH_LANES",
                                          "DH_REDIS_URL",
                                          "(required)",
                                          "Concurrent lanes per worker. [1..256]",
                                          "KAFKA_BOOTSTRAP_SERVERS",
                                          "bootstrap.servers",
                                          "_FILE"};

    for (size_t i = 0; i < sizeof(in_help) / sizeof(in_help[0]); i++) {
        if (!strstr(help, in_help[i])) {
            fail_msg("'%s' not in help:\n%s", in_help[i], help);
        }
    }
    assert_null(strstr(help, "Duplicate: the first table wins."));
    assert_string_equal(
        md, "| Variable | Default | Meaning |\n"
            "|---|---|---|\n"
            "| `DH_LANES` | `4` | Concurrent lanes per worker. [1..256] |\n"
            "| `DH_DRY_RUN` | `false` | Log effects instead of doing them. (true/false) |\n"
            "| `DH_LOG_LEVEL` | `info` | Minimum log level. (debug\\|info\\|warn\\|error) |\n"
            "| `DH_REDIS_URL` | (required) | Redis URL. |\n"
            "| `DH_SHOPIFY_TOKEN` | (required) | Shopify Admin API token. (secret; or "
            "DH_SHOPIFY_TOKEN_FILE) |\n"
            "| `DH_WORKER_NAME` | (unset) | Worker name override. |\n"
            "| `DH_BATCH` | `-5` | Signed range. [-10..10] |\n");
    free(help);
    free(md);
}

static int group_setup(void **state)
{
    int fd;

    (void)state;
    snprintf(secret_path, sizeof(secret_path), "/tmp/dh_test_config_XXXXXX");
    fd = mkstemp(secret_path);
    if (fd < 0 || write(fd, "s3cr3t\n", 7) != 7) {
        return -1;
    }
    close(fd);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    unlink(secret_path);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_typed_getters),
        cmocka_unit_test(test_kafka_passthrough),
        cmocka_unit_test(test_dump_sorted_and_redacted),
        cmocka_unit_test(test_help_and_markdown),
        cmocka_unit_test(test_url_type),
        cmocka_unit_test(test_checks_report_each_variable_once),
        cmocka_unit_test(test_tz_valid),
        cmocka_unit_test(test_dump_redacts_url_credentials),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
