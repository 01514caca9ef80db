#!/usr/bin/env bash
# Shrinks a failing trace of the inventory model test (tests/e2e/test_inventory_model.c):
# takes the actions file a failed run wrote (its path and this command are printed with the
# failure) and removes actions ddmin-style (halves, then quarters, ... then single actions)
# while the replay (DH_MODEL_REPLAY) still fails the SAME check (oversold, not-equal or
# error: the "failed check:" line). The comment and "initial" lines and the last action (the
# one that failed) stay. The stack is a concurrent system: a candidate counts as failing if
# it fails in 1 of up to --tries runs; a failing replay's own actions file (skipped actions
# and everything after the failure dropped) becomes the new trace. The minimal trace is then
# replayed --repeat times to report how often it reproduces. Needs the stack and a build.
# Usage:
#   tests/e2e/model-shrink.sh [--tries N] [--repeat R] [--out FILE] <actions-file>
# Env: BUILD (default build), BIN (default $BUILD/tests/e2e/test_inventory_model), LOG_DIR
#      (default /tmp/dh-model-shrink), and the DH_MODEL_* knobs of the failed run (the
#      printed command sets them: DH_MODEL_WMS, DH_MODEL_REFUNDS, DH_MODEL_FENCE_MS).
# Output: the minimal actions file (default <file>.min) and its replay command. Exit 0 when
# the minimal trace reproduced at least once in the --repeat runs, 1 when it did not, 2 on
# a usage error or an original trace that does not fail.
set -uo pipefail
tries=2
repeat=3
out=
while [[ $# -gt 1 ]]; do
    case $1 in
    --tries) tries=$2 ;;
    --repeat) repeat=$2 ;;
    --out) out=$2 ;;
    *) break ;;
    esac
    shift 2
done
[[ $# -eq 1 && -r $1 ]] || {
    sed -n '2,/^[^#]/{/^#/p}' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}
src=$1
out=${out:-$src.min}
build=${BUILD:-build}
bin=${BIN:-$build/tests/e2e/test_inventory_model}
logs=${LOG_DIR:-/tmp/dh-model-shrink}
[[ -x $bin ]] || { echo "no $bin: build first" >&2; exit 2; }
export DH_TEST_BUILD_DIR=${DH_TEST_BUILD_DIR:-$(cd "$build" 2>/dev/null && pwd || echo "$build")}
mkdir -p "$logs"
runs=0
start=$(date +%s)

# header: comments and initial lines (kept); body: the actions; the last one stays.
mapfile -t header < <(grep -E '^[[:space:]]*(#|initial |$)' "$src" | grep -v '^# failed check:')
load_body() { mapfile -t body < <(grep -vE '^[[:space:]]*(#|initial |$)' "$1"); }
load_body "$src"
[[ ${#body[@]} -ge 1 ]] || { echo "$src has no action" >&2; exit 2; }
want=$(sed -n 's/^# failed check: \([a-z-]*\).*/\1/p' "$src" | head -1)

# write_trace <file> <lines...>: the header, then the given actions.
write_trace() {
    local f=$1
    shift
    { printf '%s\n' "${header[@]}"; [[ $# -gt 0 ]] && printf '%s\n' "$@"; } >"$f"
}

# fails <file>: 0 if a replay fails the wanted check in one of $tries runs; then $adopted
# is that run's actions file (its performed actions, the failing one last).
fails() {
    local f=$1 i dir got
    for ((i = 0; i < tries; i++)); do
        runs=$((runs + 1))
        dir=$logs/run-$runs
        mkdir -p "$dir"
        DH_TEST_LOG_DIR=$dir DH_MODEL_REPLAY=$f timeout 600 "$bin" >"$dir/test.out" 2>&1
        got=$(sed -n 's/^failed check: //p' "$dir/test.out" | head -1)
        if [[ -n $got && ( -z $want || $got == "$want" ) ]]; then
            want=$got
            adopted=$(sed -n 's/^actions: \(.*\) ([0-9]*)$/\1/p' "$dir/test.out" | head -1)
            return 0
        fi
        rm -rf "$dir"
    done
    return 1
}

cand=$logs/candidate.actions
write_trace "$cand" "${body[@]}"
if ! fails "$cand"; then
    echo "$src: the replay did not fail${want:+ ($want)} in $tries runs: nothing to shrink" >&2
    exit 2
fi
load_body "$adopted"
echo "original: ${#body[@]} actions, fails: $want ($(($(date +%s) - start)) s)"

# ddmin-style on body[0..n-2]: passes removing chunks of half, a quarter, ... then single
# actions (a pass of singles repeats while it removes any). A removal that still fails is
# kept (the failing replay's trace) and the pass goes on at the same place.
len=$((${#body[@]} - 1))
chunk=$(((len + 1) / 2))
while ((len > 0)); do
    reduced=0
    for ((at = 0; at < len; )); do
        write_trace "$cand" "${body[@]:0:at}" "${body[@]:at+chunk}"
        if fails "$cand"; then
            load_body "$adopted"
            len=$((${#body[@]} - 1))
            echo "  removed $chunk at $at: ${#body[@]} actions (run $runs, $(($(date +%s) - start)) s)"
            reduced=1
        else
            at=$((at + chunk))
        fi
    done
    ((chunk == 1 && !reduced)) && break
    chunk=$(((chunk + 1) / 2))
    ((chunk > len)) && chunk=$((len > 0 ? len : 1))
done

write_trace "$out" "${body[@]}"
sed -i "1i # shrunk from $src by tests/e2e/model-shrink.sh: ${#body[@]} actions, failed check: $want" "$out"
ok=0
saved=$tries
tries=1
for ((r = 0; r < repeat; r++)); do
    fails "$out" && ok=$((ok + 1))
done
tries=$saved
env=$(grep -o 'DH_MODEL_[A-Z_]*=[^ ]*' <<<"$(sed -n 's/^# from [^,]*, //p' "$src" | head -1)" |
    tr '\n' ' ')
echo "minimal: $out: ${#body[@]} actions (from $(grep -cvE '^[[:space:]]*(#|initial |$)' "$src")), fails $want in $ok of $repeat replays; $runs runs in $(($(date +%s) - start)) s"
echo "replay: ${env}DH_MODEL_REPLAY=$out $bin"
cat "$out"
((ok > 0))
