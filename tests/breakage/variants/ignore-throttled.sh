# shellcheck shell=bash
DESC="the Shopify client treats a THROTTLED answer as a success"
TESTS="^(test_shopify_client)$"
FAST=1
mutate() {
    replace common/src/shopify.c 'if (json_array_size(errors) > 0 && is_throttled(errors)) {' \
        'if (0 && json_array_size(errors) > 0 && is_throttled(errors)) {'
}
