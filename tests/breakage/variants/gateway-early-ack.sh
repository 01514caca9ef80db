# shellcheck shell=bash
DESC="the gateway answers a webhook before the broker acknowledged it"
TESTS="^(test_gateway_integration)$"
FAST=1
mutate() {
    replace workers/gateway/produce.c 'if (!completion_wait(c, &deadline, &kerr)) {' \
        'if (0 && !completion_wait(c, &deadline, &kerr)) {'
}
