/* ops_run_bounded() (tools/ops): teardown that may hang (librdkafka 2.0's destroy) runs on
 * a thread of its own, and the command goes on once the bound has passed. A bound that
 * were ignored would hang this test until ctest's timeout fails it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <semaphore.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "ops.h"

struct job {
    sem_t release;  /* posted by the test: the "hang" ends */
    sem_t finished; /* posted by the job as its last step */
    atomic_int ran;
    int block;
};

static void job_main(void *arg)
{
    struct job *j = arg;

    atomic_fetch_add(&j->ran, 1);
    if (j->block) {
        sem_wait(&j->release);
    }
    sem_post(&j->finished);
}

static void test_finishes(void **state)
{
    struct job j = {.block = 0};

    (void)state;
    sem_init(&j.release, 0, 0);
    sem_init(&j.finished, 0, 0);
    assert_int_equal(ops_run_bounded(job_main, &j, 10000), 0);
    assert_int_equal(atomic_load(&j.ran), 1);
    assert_int_equal(sem_trywait(&j.finished), 0); /* done before the call returned */
    sem_destroy(&j.release);
    sem_destroy(&j.finished);
}

static void test_hang_is_left_behind(void **state)
{
    struct job *j = calloc(1, sizeof(*j));

    (void)state;
    assert_non_null(j);
    j->block = 1;
    sem_init(&j->release, 0, 0);
    sem_init(&j->finished, 0, 0);
    assert_int_equal(ops_run_bounded(job_main, j, 200), -1); /* returned while it hangs */
    assert_int_equal(atomic_load(&j->ran), 1);
    assert_int_equal(sem_trywait(&j->finished), -1); /* still running */
    /* Once the hang ends the thread finishes on its own and frees its bookkeeping (ASan
     * would see a double free or a leak); the job itself is the caller's again. */
    sem_post(&j->release);
    sem_wait(&j->finished);
    sem_destroy(&j->release);
    sem_destroy(&j->finished);
    free(j);
}

static void test_several_in_a_row(void **state)
{
    struct job j = {.block = 0};

    (void)state;
    sem_init(&j.release, 0, 0);
    sem_init(&j.finished, 0, 0);
    for (int i = 0; i < 20; i++) {
        assert_int_equal(ops_run_bounded(job_main, &j, 10000), 0);
        assert_int_equal(sem_trywait(&j.finished), 0);
    }
    assert_int_equal(atomic_load(&j.ran), 20);
    sem_destroy(&j.release);
    sem_destroy(&j.finished);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_finishes),
        cmocka_unit_test(test_hang_is_left_behind),
        cmocka_unit_test(test_several_in_a_row),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
