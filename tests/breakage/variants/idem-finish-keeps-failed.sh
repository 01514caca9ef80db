# shellcheck shell=bash
DESC="a batch is finished done without releasing its failed effects, so their retries read as done"
TESTS="^test_lane$"
FAST=1
CASES="test_failed_effect_in_done_batch"
mutate() {
    replace common/src/lane.c '            failed[nf++] = ev_effect_id(it[i].ev);' '            (void)0;'
}
