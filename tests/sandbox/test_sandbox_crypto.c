/* Unit tests: HMAC-SHA256, base64/hex and the Return Prime signature (sandbox/util.c,
 * returnprime.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <stdint.h>
#include <string.h>

#include "returnprime.h"
#include "util.h"

static void test_hmac_rfc4231_case2(void **state)
{
    unsigned char mac[32];
    char hex[65], b64[45];

    (void)state;
    assert_int_equal(dh_sb_hmac_sha256("Jefe", 4, "what do ya want for nothing?", 28, mac),
                     DH_SB_OK);
    dh_sb_hex(mac, 32, hex);
    assert_string_equal(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    dh_sb_base64(mac, 32, b64);
    assert_string_equal(b64, "W9zBRr9gdU5qBCQmCJV1x1oAPwidJzmDnexYuWTsOEM=");
}

static void test_base64_padding(void **state)
{
    char out[16];

    (void)state;
    dh_sb_base64((const unsigned char *)"ab", 2, out);
    assert_string_equal(out, "YWI=");
}

static void test_rp_sign_is_hmac_of_timestamp_dot_body(void **state)
{
    unsigned char mac[32];
    char want[65], got[65];

    (void)state;
    dh_sb_hmac_sha256("s3cret", 6, "1700000000.{\"a\":1}", 18, mac);
    dh_sb_hex(mac, 32, want);
    dh_sb_rp_sign("s3cret", "1700000000", "{\"a\":1}", got);
    assert_string_equal(got, want);
}

static void test_uuid_shape(void **state)
{
    char u[37];

    (void)state;
    dh_sb_uuid(u);
    assert_int_equal(strlen(u), 36);
    assert_int_equal(u[14], '4');
    assert_int_equal(u[8], '-');
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hmac_rfc4231_case2),
        cmocka_unit_test(test_base64_padding),
        cmocka_unit_test(test_rp_sign_is_hmac_of_timestamp_dot_body),
        cmocka_unit_test(test_uuid_shape),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
