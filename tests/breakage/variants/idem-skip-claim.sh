# shellcheck shell=bash
DESC="the runtime performs an event again although its idempotency record is done"
TESTS="^(test_runtime_exactly_once|test_runtime_kill9)$"
FAST=1
mutate() {
    replace common/src/lane.c 'if (st[j] == DH_IDEM_CLAIMED) {' \
        'if (st[j] == DH_IDEM_CLAIMED || st[j] == DH_IDEM_DONE) {'
}
