/* The growable buffer of common/src/buf.h: appends, numbers without printf, JSON strings,
 * ownership moving out, and the failure latch. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

static void test_appends(void **state)
{
    dh_buf_t b = DH_BUF_INIT;
    char big[1000];

    (void)state;
    dh_buf_adds(&b, "ab");
    dh_buf_add(&b, "c\0d", 3); /* binary: NULs of its own */
    dh_buf_addf(&b, "[%d:%s]", 42, "x");
    assert_int_equal(b.len, 11);
    assert_memory_equal(b.p, "abc\0d[42:x]", 12); /* and the NUL after */
    memset(big, 'z', sizeof(big));
    dh_buf_add(&b, big, sizeof(big)); /* grows past the first allocation */
    assert_int_equal(b.len, 1011);
    assert_true(b.cap > b.len);
    assert_int_equal(b.p[b.len], '\0');
    dh_buf_free(&b);
    assert_null(b.p);
    assert_int_equal(b.len, 0);
    dh_buf_free(&b);          /* twice is fine */
    dh_buf_adds(&b, "again"); /* and it may be reused */
    assert_string_equal(b.p, "again");
    dh_buf_free(&b);
}

static void test_numbers(void **state)
{
    dh_buf_t b = DH_BUF_INIT;

    (void)state;
    dh_buf_add_u64(&b, 0);
    dh_buf_adds(&b, " ");
    dh_buf_add_u64(&b, UINT64_MAX);
    dh_buf_adds(&b, " ");
    dh_buf_add_i64(&b, -1);
    dh_buf_adds(&b, " ");
    dh_buf_add_i64(&b, INT64_MIN);
    dh_buf_adds(&b, " ");
    dh_buf_add_i64(&b, 1234567890);
    assert_string_equal(b.p, "0 18446744073709551615 -1 -9223372036854775808 1234567890");
    dh_buf_free(&b);
}

static void test_json(void **state)
{
    dh_buf_t b = DH_BUF_INIT;

    (void)state;
    dh_buf_add_json(&b, "a\"b\\c\nd\x01", 8);
    dh_buf_add_json(&b, "", 0);
    dh_buf_add_json(&b, "\xff", 1); /* invalid UTF-8 */
    assert_string_equal(b.p, "\"a\\\"b\\\\c\\nd\\u0001\"\"\"\"\\ufffd\"");
    dh_buf_free(&b);
}

static void test_resp(void **state)
{
    dh_buf_t b = DH_BUF_INIT;

    (void)state;
    dh_buf_add_resp_cmd(&b, 3);
    dh_buf_add_resp_arg(&b, "SADD", 4);
    dh_buf_add_resp_len(&b, 5); /* an argument written in parts */
    dh_buf_adds(&b, "k:");
    dh_buf_add(&b, "a\0b", 3); /* binary-safe */
    dh_buf_adds(&b, "\r\n");
    dh_buf_add_resp_arg(&b, "", 0);
    assert_int_equal(b.len, 31);
    assert_memory_equal(b.p, "*3\r\n$4\r\nSADD\r\n$5\r\nk:a\0b\r\n$0\r\n\r\n", 31);
    dh_buf_free(&b);
}

static void test_take(void **state)
{
    dh_buf_t b = DH_BUF_INIT;
    char *s;

    (void)state;
    assert_null(dh_buf_take(&b)); /* nothing appended */
    dh_buf_adds(&b, "");
    s = dh_buf_take(&b);
    assert_non_null(s); /* an empty text is still a text */
    assert_string_equal(s, "");
    free(s);
    dh_buf_adds(&b, "mine");
    s = dh_buf_take(&b);
    assert_string_equal(s, "mine");
    assert_null(b.p);
    assert_int_equal(b.len, 0);
    free(s);
}

/* A failed allocation (here: sizes refused before any allocation is tried, which ASan
 * would report) latches: later appends do nothing
 * and take gives nothing, having freed what there was. */
static void test_failure_latches(void **state)
{
    dh_buf_t b = DH_BUF_INIT;

    (void)state;
    dh_buf_adds(&b, "kept so far");
    assert_int_equal(dh_buf_reserve(&b, SIZE_MAX - 4), 0); /* len + more wraps */
    assert_true(b.oom);
    dh_buf_adds(&b, "more");
    dh_buf_add_u64(&b, 7);
    assert_int_equal(b.len, 11);
    assert_int_equal(dh_buf_reserve(&b, 1), 0);
    assert_null(dh_buf_take(&b));
    assert_false(b.oom);                    /* empty and usable again */
    dh_buf_add_json(&b, "x", SIZE_MAX / 2); /* a length escaping could never hold */
    assert_true(b.oom);
    dh_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_appends), cmocka_unit_test(test_numbers),
        cmocka_unit_test(test_json),    cmocka_unit_test(test_resp),
        cmocka_unit_test(test_take),    cmocka_unit_test(test_failure_latches),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
