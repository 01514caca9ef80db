# shellcheck shell=bash
DESC="dh-catalog sends a variant whose SKU another variant owns"
TESTS="^test_e2e_catalog$"
FAST=0
mutate() {
    replace workers/catalog/apply.c '    if (!owner || owner[0]) {' '    if (!owner) {'
}
