# shellcheck shell=bash
DESC="events of one key are no longer queued behind each other (per-key order dropped)"
TESTS="^(test_runtime_order_retry|test_runtime_exactly_once)$"
FAST=0
mutate() {
    # Every keyed event becomes a key of its own: same-key events run in parallel.
    replace common/src/executor.c 'if (ev->key && ev->key_len > 0) {
        *key = ev->key;
        return ev->key_len;
    }' 'if (ev->key && ev->key_len > 0) {
        int n = snprintf(buf, size, "%.*s#%lld", (int)ev->key_len, ev->key, (long long)ev->offset);
        *key = buf;
        return (size_t)n < size ? (size_t)n : size - 1;
    }'
}
