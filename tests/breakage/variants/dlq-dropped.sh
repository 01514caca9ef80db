# shellcheck shell=bash
DESC="a dead letter is never produced: the event finishes without reaching <topic>.dlq"
TESTS="^(test_runtime_dlq)$"
FAST=1
mutate() {
    replace common/src/dlq.c '    snprintf(topic, sizeof(topic), "%s.dlq", ev->part->topic);
    for (;;) {' '    rd_kafka_headers_destroy(h);
    pthread_mutex_lock(&rt->mu);
    dh_rt_dlq_acked(rt, ev);
    pthread_mutex_unlock(&rt->mu);
    return;
    snprintf(topic, sizeof(topic), "%s.dlq", ev->part->topic);
    for (;;) {'
}
