# shellcheck shell=bash
DESC="a store in trouble is never gated: each of its events is claimed, tried and retried on its own, holding its partition"
TESTS="^test_inventory_park$|^test_executor$"
FAST=1
mutate() {
    replace common/src/gate.c '    if (!store || (reason == DH_GATE_OPEN && atomic_load(&rt->ngates) == 0)) {' '    if (!store || reason != DH_GATE_OPEN || atomic_load(&rt->ngates) == 0) {'
}
