/*
 * Far-side idempotency keys: RFC 4122 UUIDv5, proved against the well-known vector
 * (DNS namespace, "www.example.com"), then determinism and distinctness of
 * dh_idem_far_key().
 */
#include <stdint.h>
#include <string.h>

#include "dockhand/idem.h"
#include "idem_internal.h"

/* cmocka.h needs these three first; keep clang-format from sorting it above them. */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
/* clang-format on */

static void test_uuid5_known_vector(void **state)
{
    /* 6ba7b810-9dad-11d1-80b4-00c04fd430c8: RFC 4122 Appendix C, NameSpace_DNS. */
    static const unsigned char dns[16] = {0x6b, 0xa7, 0xb8, 0x10, 0x9d, 0xad, 0x11, 0xd1,
                                          0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8};
    const char *name = "www.example.com";
    char out[37];
    (void)state;

    dh_idem_uuid5(dns, name, strlen(name), out);
    assert_string_equal(out, "2ed6657d-e927-568b-95e1-2665a8aea6a2");
}

static void assert_uuid_shape(const char *u)
{
    assert_int_equal(strlen(u), 36);
    for (size_t i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            assert_int_equal(u[i], '-');
        } else {
            assert_non_null(strchr("0123456789abcdef", u[i]));
        }
    }
    assert_int_equal(u[14], '5');           /* version */
    assert_non_null(strchr("89ab", u[19])); /* variant 10xx */
}

static void test_far_key_deterministic(void **state)
{
    char a[37];
    char b[37];
    (void)state;

    dh_idem_far_key("inventory", "store1:sku-42:loc-7:v9", a);
    dh_idem_far_key("inventory", "store1:sku-42:loc-7:v9", b);
    assert_string_equal(a, b);
    assert_uuid_shape(a);
}

static void test_far_key_distinct(void **state)
{
    static const struct {
        const char *ns;
        const char *id;
    } cases[] = {
        {"inventory", "e1"},
        {"inventory", "e2"},
        {"orders", "e1"},
        /* The ':' separator keeps ("a:b", "c") and ("a", "b:c") equal by design (same
         * name); these differ because their names differ. */
        {"inv", "entory:e1"},
        {"inventory:", "e1"},
        {"inventory", ""},
    };
    size_t n = sizeof(cases) / sizeof(cases[0]);
    char keys[sizeof(cases) / sizeof(cases[0])][37];
    (void)state;

    for (size_t i = 0; i < n; i++) {
        dh_idem_far_key(cases[i].ns, cases[i].id, keys[i]);
        assert_uuid_shape(keys[i]);
    }
    for (size_t i = 0; i < n; i++) {
        for (size_t j = i + 1; j < n; j++) {
            assert_string_not_equal(keys[i], keys[j]);
        }
    }
}

static void test_far_key_long_id(void **state)
{
    char id[1000];
    char a[37];
    char b[37];
    (void)state;

    memset(id, 'x', sizeof(id) - 1);
    id[sizeof(id) - 1] = '\0';
    dh_idem_far_key("ns", id, a);
    id[500] = 'y';
    dh_idem_far_key("ns", id, b);
    assert_uuid_shape(a);
    assert_string_not_equal(a, b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_uuid5_known_vector),
        cmocka_unit_test(test_far_key_deterministic),
        cmocka_unit_test(test_far_key_distinct),
        cmocka_unit_test(test_far_key_long_id),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
