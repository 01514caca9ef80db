# shellcheck shell=bash
DESC="a batch never renews its lease, so another replica takes over effects the lane is still to perform"
TESTS="^test_lane$"
FAST=1
CASES="test_l*lease*"
mutate() {
    replace common/src/lane.c '    if (now - lane->leased_ms < rt->opts.lease_ms / 3) {' '    if (1) {'
}
