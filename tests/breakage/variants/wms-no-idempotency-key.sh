# shellcheck shell=bash
DESC="the WMS client sends writes (order creates) without their Idempotency-Key"
TESTS="^(test_wms_client|test_e2e_orders)$"
FAST=0
mutate() {
    replace common/src/wms.c 'if (idempotency_key != NULL && idempotency_key[0] != '"'"'\0'"'"') {
        snprintf(idem' 'if (0 && idempotency_key != NULL) {
        snprintf(idem'
}
