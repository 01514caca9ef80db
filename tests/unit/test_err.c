/* Unit tests for dh_err_str(): every code has a distinct, stable name. */
#include <string.h>

#include "dockhand/err.h"

/* cmocka.h needs these three first; keep clang-format from sorting it above them. */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
/* clang-format on */

static void test_names(void **state)
{
    (void)state;
    static const struct {
        dh_err_t err;
        const char *name;
    } cases[] = {
        {DH_OK, "ok"},
        {DH_ERR_IO, "io"},
        {DH_ERR_TIMEOUT, "timeout"},
        {DH_ERR_PROTO, "proto"},
        {DH_ERR_NOMEM, "nomem"},
        {DH_ERR_CONFIG, "config"},
        {DH_ERR_INVALID, "invalid"},
        {DH_ERR_STATE, "state"},
        {DH_ERR_LIMIT, "limit"},
        {DH_ERR_AUTH, "auth"},
        {DH_ERR_RATE, "rate"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_string_equal(dh_err_str(cases[i].err), cases[i].name);
    }
}

static void test_unknown_not_null(void **state)
{
    (void)state;
    const char *s = dh_err_str((dh_err_t)999);
    assert_non_null(s);
    assert_string_equal(s, "unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_unknown_not_null),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
