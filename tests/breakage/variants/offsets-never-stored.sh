# shellcheck shell=bash
DESC="the poll loop never stores the done watermark (progress is lost at every restart)"
TESTS="^(test_runtime_exactly_once|test_runtime_coalesce)$"
FAST=0
mutate() {
    replace common/src/consumer.c '    store_offsets(rt, 0, NULL, tpl);
    if (tpl->cnt > 0) {' '    store_offsets(rt, 0, NULL, tpl);
    if (0 && tpl->cnt > 0) {'
}
