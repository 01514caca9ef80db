# shellcheck shell=bash
DESC="offsets are stored past events whose effect is not done yet (watermark ignores done)"
TESTS="^(test_runtime_kill9|test_wm)$"
FAST=1
mutate() {
    replace common/src/wm.c 'if (!s->done) {
            break;
        }' 'if (0 && !s->done) {
            break;
        }'
}
