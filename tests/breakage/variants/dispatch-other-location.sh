# shellcheck shell=bash
DESC="dh-dispatch fulfils fulfillment orders at any location, not only the dispatching facility's"
TESTS="^(test_dispatch_mapping|test_e2e_dispatch_lifecycle)$"
FAST=1
mutate() {
    replace workers/dispatch/mapping.c 'return loc && c->loc && strcmp(loc, c->loc) == 0;' \
        'return 1 || (loc && c->loc && strcmp(loc, c->loc) == 0);'
}
