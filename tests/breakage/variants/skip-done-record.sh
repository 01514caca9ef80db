# shellcheck shell=bash
DESC="an applied effect's done record is never written (only its batch's lease expires)"
TESTS="^(test_runtime_exactly_once|test_runtime_kill9|test_runtime_redis_outage)$"
FAST=1
mutate() {
    replace common/src/lane.c 'lane->rt->opts.retention_s, nd, nf, failed, &held);' \
        'lane->rt->opts.retention_s, 0, nf, failed, &held);'
}
