# shellcheck shell=bash
DESC="a claim whose SET NX meets another owner's live lease takes it as its own (the claim script is skipped)"
TESTS="^test_redis_idem$"
FAST=1
mutate() {
    replace common/src/idem.c '            rest[nrest++] = i;' '            states[i] = DH_IDEM_CLAIMED;'
}
