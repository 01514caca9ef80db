# shellcheck shell=bash
DESC="each lane keeps its own Shopify tokens: a store's grant is fetched once per lane, not once per worker"
TESTS="^test_shopify_client$"
FAST=1
mutate() {
    replace common/src/shopify.c '    s->tokens = tokens != NULL ? tokens : s->own_tokens;' '    (void)tokens;
    s->tokens = s->own_tokens;'
}
