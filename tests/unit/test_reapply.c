/*
 * Re-applies (reapply.c): the dh-reapply nonce read from an event's headers (absent,
 * valid, malformed), the effect id a re-apply gets (the nonce appended, a too long id in
 * its digest form, never truncated), and the far keys (the plain key without a nonce, a
 * different key per nonce, the same key for the same nonce, long ids included).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dockhand/idem.h"
#include "runtime.h"

/* cmocka.h needs these three first; keep clang-format from sorting it above them. */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
/* clang-format on */

/* An event with one dh-reapply header of \p value (none when NULL). */
static int nonce_of(const char *value, char *buf, size_t size)
{
    dh_rt_ev_t ev;
    int rc;

    memset(&ev, 0, sizeof(ev));
    if (value) {
        ev.hdrs = rd_kafka_headers_new(2);
        rd_kafka_header_add(ev.hdrs, "dh-webhook-id", -1, "w1", -1);
        rd_kafka_header_add(ev.hdrs, DH_REAPPLY_HEADER, -1, value, -1);
    }
    rc = dh_rt_reapply_nonce(&ev, buf, size);
    if (ev.hdrs) {
        rd_kafka_headers_destroy(ev.hdrs);
    }
    return rc;
}

static void test_nonce(void **state)
{
    char buf[DH_REAPPLY_NONCE_MAX + 1], long_nonce[DH_REAPPLY_NONCE_MAX + 2];
    static const char *const bad[] = {"", "a b", "a:b", "a#b", "a/b", "é", "a\nb"};
    (void)state;

    assert_int_equal(nonce_of(NULL, buf, sizeof(buf)), 0);
    assert_int_equal(nonce_of("6b0fce7a-3b2e", buf, sizeof(buf)), 1);
    assert_string_equal(buf, "6b0fce7a-3b2e");
    assert_int_equal(nonce_of("A.z_9-", buf, sizeof(buf)), 1);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(nonce_of(bad[i], buf, sizeof(buf)), -1);
    }
    memset(long_nonce, 'n', sizeof(long_nonce) - 1);
    long_nonce[sizeof(long_nonce) - 1] = '\0'; /* one too long */
    assert_int_equal(nonce_of(long_nonce, buf, sizeof(buf)), -1);
    long_nonce[DH_REAPPLY_NONCE_MAX] = '\0'; /* just fits */
    assert_int_equal(nonce_of(long_nonce, buf, sizeof(buf)), 1);
}

static void test_effect(void **state)
{
    dh_event_t a, b;
    char id[300];
    (void)state;

    memset(&a, 0, sizeof(a));
    assert_int_equal(dh_event_set_effect(&a, "ns:e1"), DH_OK);
    assert_int_equal(dh_rt_reapply_effect(&a, "n1"), DH_OK);
    assert_string_equal(a.effect_id, "ns:e1#reapply:n1");

    /* An id near the limit: the digest form, distinct per nonce, stable per nonce. */
    memset(id, 'x', 250);
    id[250] = '\0';
    memset(&a, 0, sizeof(a));
    memset(&b, 0, sizeof(b));
    assert_int_equal(dh_event_set_effect(&a, "%s", id), DH_OK);
    assert_int_equal(dh_event_set_effect(&b, "%s", id), DH_OK);
    assert_int_equal(dh_rt_reapply_effect(&a, "n1"), DH_OK);
    assert_int_equal(dh_rt_reapply_effect(&b, "n2"), DH_OK);
    assert_true(strlen(a.effect_id) < sizeof(a.effect_id));
    assert_string_not_equal(a.effect_id, b.effect_id);
    assert_string_not_equal(a.effect_id, id);
    memset(&b, 0, sizeof(b));
    assert_int_equal(dh_event_set_effect(&b, "%s", id), DH_OK);
    assert_int_equal(dh_rt_reapply_effect(&b, "n1"), DH_OK);
    assert_string_equal(a.effect_id, b.effect_id);
}

static void test_far_key(void **state)
{
    char plain[37], k[37], k1[37], k2[37], again[37], id[1200];
    (void)state;

    dh_idem_far_key("orders", "create:s:1", plain);
    dh_reapply_far_key(NULL, "orders", "create:s:1", k);
    assert_string_equal(k, plain); /* not a re-apply: the key the far side knows */
    dh_reapply_far_key("n1", "orders", "create:s:1", k1);
    dh_reapply_far_key("n2", "orders", "create:s:1", k2);
    dh_reapply_far_key("n1", "orders", "create:s:1", again);
    assert_string_not_equal(k1, plain);
    assert_string_not_equal(k1, k2);
    assert_string_equal(k1, again);

    /* Ids longer than the mixing buffer: still one key per (id, nonce). */
    memset(id, 'y', sizeof(id) - 1);
    id[sizeof(id) - 1] = '\0';
    dh_reapply_far_key("n1", "orders", id, k1);
    id[sizeof(id) - 2] = 'z';
    dh_reapply_far_key("n1", "orders", id, k2);
    assert_string_not_equal(k1, k2);
    dh_reapply_far_key("n2", "orders", id, again);
    assert_string_not_equal(k2, again);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nonce),
        cmocka_unit_test(test_effect),
        cmocka_unit_test(test_far_key),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
