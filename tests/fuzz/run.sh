#!/usr/bin/env bash
# tests/fuzz/run.sh <harness> [seconds|replay] [libFuzzer options...]: fuzz one harness.
#   1. replays every input under tests/fuzz/regressions/<harness>/ (fails on any crash);
#   2. fuzzes for <seconds> (default 60) under ASan + UBSan + LeakSanitizer from the seeds
#      (schemas/examples, tests/fuzz/seeds/<harness>) into a corpus kept in the build dir;
#   3. prints the executions reached (stat::number_of_executed_units) and the coverage.
#   "replay" instead of seconds: step 1, then every seed once (no fuzzing; any build).
# Exits non-zero on a crash, leak, timeout or missing binary. A crash input is left in
# <build>/tests/fuzz/work/<harness>/ (see tests/fuzz/README.md to turn it into a regression).
# Harnesses: gateway orders returns dispatch inventory validate stores (or "all").
# Environment: DH_FUZZ_BUILD_DIR (default build-fuzz/, configured with CC=clang -DDH_FUZZ=ON).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
HARNESSES=(gateway orders returns dispatch inventory validate stores)

usage() {
    sed -n '2,11p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
    exit 2
}

# The read-only seed directories of a harness (libFuzzer reads them recursively).
seeds_of() {
    local ex="$ROOT/schemas/examples" own="$ROOT/tests/fuzz/seeds/$1"
    case "$1" in
    gateway) echo "$ex/shopify.orders $ex/shopify.products $ex/returnprime.cir $own" ;;
    orders) echo "$ex/shopify.orders $ROOT/workers/orders/fixtures $own" ;;
    returns) echo "$ex/returnprime.cir" ;;
    dispatch) echo "$ex/wms.dispatch $own" ;;
    inventory) echo "$ex/wms.putaway $ex/wms.zone_move" ;;
    validate) echo "$ex/wms.putaway $ex/wms.zone_move $ex/wms.dispatch" ;;
    stores) echo "$own" ;;
    *) return 1 ;;
    esac
}

fuzz_one() {
    local name="$1" secs="$2"
    shift 2
    local build="${DH_FUZZ_BUILD_DIR:-$ROOT/build-fuzz}"
    local bin="$build/tests/fuzz/fuzz_$name" work="$build/tests/fuzz/work/$name"
    local regs="$ROOT/tests/fuzz/regressions/$name" log seeds rc=0 execs cov
    local -a inputs=()

    seeds="$(seeds_of "$name")" || {
        echo "unknown harness '$name' (one of: ${HARNESSES[*]})" >&2
        return 2
    }
    if [[ ! -x "$bin" ]]; then
        echo "FAIL fuzz_$name: $bin not built; build the harnesses with:" >&2
        echo "  CC=clang cmake -S . -B build-fuzz -G Ninja -DDH_FUZZ=ON && cmake --build build-fuzz --target dh-fuzz" >&2
        return 1
    fi
    mkdir -p "$work/corpus"
    log="$work/fuzz.log"
    export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:${ASAN_OPTIONS:-}"
    export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:${UBSAN_OPTIONS:-}"

    if [[ -d "$regs" ]]; then
        mapfile -t inputs < <(find "$regs" -type f | sort)
    fi
    if ((${#inputs[@]} > 0)); then
        if ! "$bin" "${inputs[@]}" >"$work/replay.log" 2>&1; then
            tail -n 40 "$work/replay.log" >&2
            echo "FAIL fuzz_$name: a regression input crashes again (log: $work/replay.log)" >&2
            return 1
        fi
        echo "fuzz_$name: ${#inputs[@]} regression inputs replayed, no crash"
    fi
    if [[ "$secs" == replay ]]; then
        # shellcheck disable=SC2086 # seeds is a list of directories without spaces
        if ! "$bin" -runs=0 $seeds >"$work/replay.log" 2>&1; then
            tail -n 40 "$work/replay.log" >&2
            echo "FAIL fuzz_$name: a seed crashes (log: $work/replay.log)" >&2
            return 1
        fi
        echo "fuzz_$name: seeds replayed, no crash ($(tail -n 1 "$work/replay.log"))"
        return 0
    fi

    # shellcheck disable=SC2086 # seeds is a list of directories without spaces
    "$bin" -max_total_time="$secs" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 \
        -max_len=16384 -dict="$ROOT/tests/fuzz/json.dict" -artifact_prefix="$work/" "$@" \
        "$work/corpus" $seeds >"$log" 2>&1 || rc=$?
    execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)"
    if [[ -z "$execs" ]]; then # -fork=N prints no final stats, only "#<execs>: cov: ..." lines
        execs="$(sed -n 's/^#\([0-9]*\): cov: .*/\1/p' "$log" | tail -n 1)"
    fi
    cov="$(grep -Eo 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+' "$log" | tail -n 1 || true)"
    if ((rc != 0)); then
        tail -n 60 "$log" >&2
        echo "FAIL fuzz_$name: exit $rc after ${execs:-?} executions; input saved as:" >&2
        grep -Eo "$work/(crash|leak|timeout|oom|slow-unit)-[0-9a-f]+" "$log" | sort -u >&2 || true
        return 1
    fi
    if [[ -z "$execs" || "$execs" == 0 ]]; then
        tail -n 20 "$log" >&2
        echo "FAIL fuzz_$name: no executions reported (log: $log)" >&2
        return 1
    fi
    echo "fuzz_$name: $execs executions in ${secs} s, $cov, no crash"
}

(($# >= 1)) || usage
name="$1"
secs="${2:-60}"
shift $(($# >= 2 ? 2 : 1))
[[ "$secs" =~ ^[1-9][0-9]*$ || "$secs" == replay ]] || usage
if [[ "$name" == all ]]; then
    failed=0
    for h in "${HARNESSES[@]}"; do
        fuzz_one "$h" "$secs" "$@" || failed=1
    done
    exit "$failed"
fi
fuzz_one "$name" "$secs" "$@"
