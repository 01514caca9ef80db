# shellcheck shell=bash
DESC="a partition paused by backpressure, revoked and assigned again is never resumed (librdkafka keeps its pause)"
TESTS="^test_runtime_rebalance$"
FAST=0
mutate() {
    replace common/src/consumer.c '        if (!error && !ret) {
            rd_kafka_resume_partitions(rk, parts);' '        if (0 && !error && !ret) {
            rd_kafka_resume_partitions(rk, parts);'
}
