# shellcheck shell=bash
DESC="a WMS 401 (rotated token) dead-letters the business event instead of retrying it"
TESTS="^(test_outcome|test_returns_auth)$"
FAST=1
mutate() {
    replace common/src/outcome.c 'ROW(WMS, 401, RETRY, "auth",' 'ROW(WMS, 401, DEAD_LETTER, "auth",'
}
