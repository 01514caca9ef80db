# shellcheck shell=bash
DESC="dh-orders creates an order under a new Idempotency-Key at every attempt (no stable key)"
TESTS="^(test_orders_handler)$"
FAST=1
CASES="5xx_then_created"
mutate() {
    replace workers/orders/handler.c \
        'snprintf(eid, sizeof(eid), "create:%s:%s", e->store->domain, e->id);' \
        'snprintf(eid, sizeof(eid), "create:%s:%s:%ld", e->store->domain, e->id, (long)clock());'
}
