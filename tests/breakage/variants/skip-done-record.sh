# shellcheck shell=bash
DESC="an applied effect's done record is never written (only its lease expires)"
TESTS="^(test_runtime_exactly_once|test_runtime_kill9|test_runtime_redis_outage)$"
FAST=1
mutate() {
    replace common/src/lane.c '    if (nd > 0) {' '    if (0 && nd > 0) {'
}
