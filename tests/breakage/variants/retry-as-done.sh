# shellcheck shell=bash
DESC="a handler's RETRY is treated as DONE: a failed effect is recorded as applied"
TESTS="^(test_runtime_order_retry|test_runtime_redis_outage)$"
FAST=0
mutate() {
    replace common/src/lane.c '    case DH_RESULT_RETRY:
        x->out = OUT_DELAY;' '    case DH_RESULT_RETRY:
        x->out = OUT_DONE;
        return;'
}
