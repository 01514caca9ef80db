/* Contiguous-offset watermark: the commit point never passes an unfinished event. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <stdint.h>

#include "wm.h"

static void test_in_order(void **state)
{
    dh_wm_t *wm = dh_wm_new();
    uint64_t s[3];

    (void)state;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(dh_wm_push(wm, 10 + i, &s[i]), DH_OK);
    }
    assert_int_equal(dh_wm_advance(wm), -1);
    dh_wm_done(wm, s[0]);
    assert_int_equal(dh_wm_advance(wm), 11);
    assert_int_equal(dh_wm_advance(wm), -1); /* unchanged */
    dh_wm_done(wm, s[1]);
    dh_wm_done(wm, s[2]);
    assert_int_equal(dh_wm_advance(wm), 13);
    assert_int_equal(dh_wm_pending(wm), 0);
    dh_wm_destroy(wm);
}

static void test_gap_holds_commit(void **state)
{
    dh_wm_t *wm = dh_wm_new();
    uint64_t s[5];

    (void)state;
    for (int i = 0; i < 5; i++) {
        assert_int_equal(dh_wm_push(wm, i * 2, &s[i]), DH_OK); /* offsets may have gaps */
    }
    dh_wm_done(wm, s[1]);
    dh_wm_done(wm, s[2]);
    dh_wm_done(wm, s[4]);
    assert_int_equal(dh_wm_advance(wm), -1); /* s[0] unfinished */
    dh_wm_done(wm, s[0]);
    assert_int_equal(dh_wm_advance(wm), 5); /* through offset 4; s[3] still open */
    assert_int_equal(dh_wm_pending(wm), 2);
    dh_wm_done(wm, s[3]);
    assert_int_equal(dh_wm_advance(wm), 9);
    dh_wm_done(wm, s[3]); /* a late duplicate completion is harmless */
    assert_int_equal(dh_wm_advance(wm), -1);
    dh_wm_destroy(wm);
}

static void test_grows_and_wraps(void **state)
{
    dh_wm_t *wm = dh_wm_new();
    uint64_t s[1000];
    int64_t last = -1;

    (void)state;
    /* Interleave pushes and out-of-order completions past the initial capacity. */
    for (int i = 0; i < 1000; i++) {
        assert_int_equal(dh_wm_push(wm, i, &s[i]), DH_OK);
        if (i % 3 == 2) {
            dh_wm_done(wm, s[i]);
            dh_wm_done(wm, s[i - 1]);
            dh_wm_done(wm, s[i - 2]);
            last = dh_wm_advance(wm);
            assert_int_equal(last, i + 1);
        }
    }
    assert_int_equal(dh_wm_pending(wm), 1);
    dh_wm_destroy(wm);
    dh_wm_destroy(NULL);
}

/* The ring grows while it has wrapped (head well past 0, at an odd slot): every slot keeps
 * its offset and its done mark, and the commit moves exactly over the done prefix. */
static void test_grow_keeps_wrapped_slots(void **state)
{
    enum { FIRST = 37, MORE = 500 };
    dh_wm_t *wm = dh_wm_new();
    uint64_t s[FIRST + MORE];

    (void)state;
    for (int i = 0; i < FIRST; i++) {
        assert_int_equal(dh_wm_push(wm, 1000 + i, &s[i]), DH_OK);
        dh_wm_done(wm, s[i]);
    }
    assert_int_equal(dh_wm_advance(wm), 1000 + FIRST);
    for (int i = FIRST; i < FIRST + MORE; i++) {
        assert_int_equal(dh_wm_push(wm, 1000 + i, &s[i]), DH_OK);
        if ((i - FIRST) % 2 == 1) {
            dh_wm_done(wm, s[i]); /* every other one done while the ring grows under it */
        }
    }
    assert_int_equal(dh_wm_pending(wm), MORE);
    assert_int_equal(dh_wm_advance(wm), -1); /* s[FIRST] open */
    /* Finishing the open ones oldest first moves the commit over each done pair. */
    for (int i = FIRST; i < FIRST + MORE; i += 2) {
        int64_t want = i + 1 < FIRST + MORE ? 1000 + i + 2 : 1000 + i + 1;

        dh_wm_done(wm, s[i]);
        assert_int_equal(dh_wm_advance(wm), want);
    }
    assert_int_equal(dh_wm_pending(wm), 0);
    dh_wm_done(wm, s[0]); /* long popped: ignored */
    assert_int_equal(dh_wm_advance(wm), -1);
    dh_wm_destroy(wm);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_in_order),
        cmocka_unit_test(test_gap_holds_commit),
        cmocka_unit_test(test_grows_and_wraps),
        cmocka_unit_test(test_grow_keeps_wrapped_slots),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
