#!/usr/bin/env bash
# Runs the inventory model test (tests/e2e/test_inventory_model.c) over many seeds, one
# process per seed, and prints every failing seed with its replay command, its actions file
# and the command that shrinks it (tests/e2e/model-shrink.sh). Needs the stack
# (Kafka, Redis) and a build. Usage:
#   tests/e2e/model-loop.sh [first-seed] [count]      (defaults 1 1000)
# Env: BUILD (default build), DH_MODEL_STEPS (default 60), DH_MODEL_WMS (picked|legacy),
#      LOG_DIR (default /tmp/dh-model-loop: a directory per failing seed).
set -uo pipefail
first=${1:-1}
count=${2:-1000}
build=${BUILD:-build}
bin=$build/tests/e2e/test_inventory_model
logs=${LOG_DIR:-/tmp/dh-model-loop}
[[ -x $bin ]] || { echo "no $bin: build first" >&2; exit 2; }
mkdir -p "$logs"
export DH_TEST_BUILD_DIR=${DH_TEST_BUILD_DIR:-$(cd "$build" && pwd)}
failed=0
start=$(date +%s)
for ((s = first; s < first + count; s++)); do
    dir=$logs/seed-$s
    out=$dir/test.out
    mkdir -p "$dir"
    if DH_TEST_LOG_DIR=$dir DH_MODEL_SEED=$s "$bin" >"$out" 2>&1; then
        rm -rf "$dir"
        echo "seed $s ok"
    else
        failed=$((failed + 1))
        echo "seed $s FAILED: $(grep -m1 -A1 'FAILED: seed' "$out" | tail -1)"
        grep -m1 '^replay:' "$out"
        grep -m1 '^shrink:' "$out"
    fi
done
echo "$count seeds from $first: $failed failed in $(($(date +%s) - start)) s (traces in $logs)"
[[ $failed -eq 0 ]]
