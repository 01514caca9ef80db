/*
 * Bad configuration: the worker names every bad variable in one message and exits 2;
 * --check-config accepts a good configuration; --help prints the table.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_config_names_every_variable),
        cmocka_unit_test(test_check_config_ok),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
