/*
 * Unit tests for dh_event_set_effect(): ids that fit are kept as they are; longer ids are
 * never truncated but take the digest form, the same for the same id and different for
 * ids that differ only after the prefix.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dockhand/worker.h"

/* cmocka.h needs these three first; keep clang-format from sorting it above them. */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
/* clang-format on */

#define ID_MAX (sizeof(((dh_event_t *)0)->effect_id) - 1) /* 255 */

/* A string of \p n bytes: "x" repeated, then \p tail. */
static char *id_of(size_t n, const char *tail)
{
    size_t t = strlen(tail);
    char *s = malloc(n + 1);

    assert_non_null(s);
    assert_true(t <= n);
    memset(s, 'x', n - t);
    memcpy(s + n - t, tail, t);
    s[n] = '\0';
    return s;
}

static void test_short_id_verbatim(void **state)
{
    dh_event_t ev;

    (void)state;
    memset(&ev, 0, sizeof(ev));
    assert_int_equal(dh_event_set_effect(&ev, "orders/create:%s:%d", "acme.myshopify.com", 42),
                     DH_OK);
    assert_string_equal(ev.effect_id, "orders/create:acme.myshopify.com:42");
}

static void test_exactly_full_id_verbatim(void **state)
{
    char *id = id_of(ID_MAX, "end");
    dh_event_t ev;

    (void)state;
    assert_int_equal(dh_event_set_effect(&ev, "%s", id), DH_OK);
    assert_string_equal(ev.effect_id, id);
    free(id);
}

static void test_long_id_digest_form(void **state)
{
    /* Two ids one byte too long that differ only in their last byte: a truncation would
     * make them one record, so the second effect would be skipped as a duplicate. */
    char *a = id_of(ID_MAX + 1, "A");
    char *b = id_of(ID_MAX + 1, "B");
    char *c = id_of(5000, "A");
    dh_event_t ea, eb, ea2, ec;

    (void)state;
    assert_int_equal(dh_event_set_effect(&ea, "%s", a), DH_OK);
    assert_int_equal(dh_event_set_effect(&eb, "%s", b), DH_OK);
    assert_int_equal(dh_event_set_effect(&ea2, "%.*s%s", 10, a, a + 10), DH_OK);
    assert_int_equal(dh_event_set_effect(&ec, "%s", c), DH_OK);
    assert_string_not_equal(ea.effect_id, eb.effect_id);
    assert_string_equal(ea.effect_id, ea2.effect_id); /* the same effect, the same id */
    assert_string_not_equal(ea.effect_id, ec.effect_id);
    /* prefix, '~', 64 hex digits: 255 bytes, so it still fits. */
    assert_int_equal(strlen(ea.effect_id), DH_EFFECT_DIGEST_PREFIX + 1 + 64);
    assert_int_equal(strlen(ec.effect_id), DH_EFFECT_DIGEST_PREFIX + 1 + 64);
    assert_memory_equal(ea.effect_id, a, DH_EFFECT_DIGEST_PREFIX);
    assert_int_equal(ea.effect_id[DH_EFFECT_DIGEST_PREFIX], '~');
    assert_int_equal(strspn(ea.effect_id + DH_EFFECT_DIGEST_PREFIX + 1, "0123456789abcdef"), 64);
    free(a);
    free(b);
    free(c);
}

static void test_known_digest(void **state)
{
    /* sha256 of 256 'a' bytes (printf 'a%.0s' {1..256} | sha256sum). */
    static const char want_hex[] =
        "02d7160d77e18c6447be80c2e355c7ed4388545271702c50253b0914c65ce5fe";
    char *id = malloc(257);
    dh_event_t ev;

    (void)state;
    assert_non_null(id);
    memset(id, 'a', 256);
    id[256] = '\0';
    assert_int_equal(dh_event_set_effect(&ev, "%s", id), DH_OK);
    assert_string_equal(ev.effect_id + DH_EFFECT_DIGEST_PREFIX + 1, want_hex);
    free(id);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_short_id_verbatim),
        cmocka_unit_test(test_exactly_full_id_verbatim),
        cmocka_unit_test(test_long_id_digest_form),
        cmocka_unit_test(test_known_digest),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
