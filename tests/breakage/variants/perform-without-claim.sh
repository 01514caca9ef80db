# shellcheck shell=bash
DESC="a batch whose idempotency claim failed (Redis down) is performed anyway"
TESTS="^(test_runtime_redis_outage)$"
FAST=0
mutate() {
    replace common/src/lane.c 'if (claim_batch(lane, it, n) != DH_OK) {' \
        'if (claim_batch(lane, it, n) != DH_OK && 0) {'
}
