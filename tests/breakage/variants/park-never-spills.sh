# shellcheck shell=bash
DESC="a troubled store's events stay parked in memory past the bound: its keys' partitions cannot move on"
TESTS="^test_inventory_park$"
FAST=0
mutate() {
    replace common/src/gate.c '    if (g->spill || !g->closed) {
        return;
    }' '    if (g->spill || !g->closed || 1) {
        return;
    }'
}
