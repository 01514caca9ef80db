# shellcheck shell=bash
DESC="dh-catalog's import never saves how far it got: a restart reads the result from the start"
TESTS="^test_e2e_catalog$"
FAST=0
mutate() {
    replace workers/catalog/import.c '        checkpoint(d, at);' '        d->offset = at;'
}
