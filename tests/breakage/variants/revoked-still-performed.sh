# shellcheck shell=bash
DESC="a lane keeps performing a batch's events of a partition being revoked, holding the revoke and the next owner"
TESTS="^test_lane$"
FAST=1
CASES="test_revoked*"
mutate() {
    replace common/src/lane.c \
        '    if (x->out == OUT_DONE && atomic_load_explicit(&x->ev->part->revoking, memory_order_relaxed)) {' \
        '    if (0) {'
}
