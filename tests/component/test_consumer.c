/*
 * consumer.c through the real runtime (th_rt.h, mock cluster) with the scripted handler
 * (th_script.h): offsets are stored only up to a partition's contiguous done watermark
 * (a running event holds back the events after it, however many finished), and the
 * final commit at a clean stop is exactly that watermark.
 */
#include <string.h>

#include "th_rt.h"
#include "th_script.h"

/* cmocka.h needs these three first; keep clang-format from sorting it above them. */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
/* clang-format on */

#define WAIT_MS 20000

/* Partition 0: A (running until unblocked), then B twice; partition 1: a marker whose
 * stored offset proves a store pass ran after both B events had finished. */
static void test_offsets_stop_at_the_running_event(void **state)
{
    th_rt_t *t = th_rt_new(&th_script_handler, TH_SCRIPT_TOPIC, 2, NULL);
    dh_rt_t *rt = th_rt_runtime(t);
    const char *run = th_rt_run_id(t);
    char ida[128], pa[200], idb[128], pb[200], idb2[128], pb2[200], idm[128], pm[200];

    (void)state;
    th_rt_start(t);
    th_rt_produce(t, 0, "A", th_script_event(run, "block", "a", ida, sizeof(ida), pa, sizeof(pa)),
                  NULL);
    th_rt_produce(t, 0, "B", th_script_event(run, "done", "b1", idb, sizeof(idb), pb, sizeof(pb)),
                  NULL);
    th_rt_produce(t, 0, "B",
                  th_script_event(run, "done", "b2", idb2, sizeof(idb2), pb2, sizeof(pb2)), NULL);
    assert_true(th_script_await(ida, 1, WAIT_MS)); /* A is running */
    assert_true(th_rt_await_count(t, &rt->m.done, 2, WAIT_MS));
    th_rt_produce(t, 1, "M", th_script_event(run, "done", "m", idm, sizeof(idm), pm, sizeof(pm)),
                  NULL);
    assert_true(th_rt_await_stored(t, 1, 1, WAIT_MS));
    assert_int_equal(th_rt_stored(t, 0), -1); /* offsets 1 and 2 are done, 0 is not */
    th_script_unblock();
    assert_true(th_rt_await_stored(t, 0, 3, WAIT_MS));
    assert_int_equal(th_rt_stop(t), 0);
    assert_int_equal(th_rt_committed(t, th_rt_group(t), 0), 3);
    assert_int_equal(th_rt_committed(t, th_rt_group(t), 1), 1);
    assert_int_equal(th_script_performances(ida), 1);
    assert_int_equal(th_script_performances(idb2), 1);
    th_rt_destroy(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_offsets_stop_at_the_running_event),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
