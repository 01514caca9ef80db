# shellcheck shell=bash
DESC="the gateway accepts a Shopify webhook whatever its HMAC signature"
TESTS="^(test_gateway_unit|test_gateway_integration)$"
FAST=1
mutate() {
    replace workers/gateway/hmac.c 'ok |= CRYPTO_memcmp(mac, given, DH_GW_MAC_LEN) == 0;' \
        'ok |= 1 || CRYPTO_memcmp(mac, given, DH_GW_MAC_LEN) == 0;'
}
