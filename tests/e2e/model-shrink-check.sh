#!/usr/bin/env bash
# The shrinker's own test (tests/e2e/model-shrink.sh), without the stack: a stand-in for the
# model test binary fails "oversold" iff the replayed file has order #1, allocate #1 and
# pick #1 (the failing action, last), and only in every other run (a flaky concurrent
# system: a candidate must be tried twice). It fails "not-equal" when "sync" is there
# without "kill dh-dispatch": a different check the shrinker must not take for the wanted one. From a 20-action trace
# the shrinker must end at exactly those 3 actions, the header and initial lines kept.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

cat >"$tmp/fake" <<'EOF'
#!/usr/bin/env bash
# stand-in for test_inventory_model in replay mode
f=$DH_MODEL_REPLAY
n=$(($(cat "$FAKE_COUNT" 2>/dev/null || echo 0) + 1))
echo "$n" >"$FAKE_COUNT"
has() { grep -qx "$1" "$f"; }
out=$DH_TEST_LOG_DIR/run.actions
if has 'sync' && ! has 'kill dh-dispatch'; then
    cp "$f" "$out"
    printf 'failed check: not-equal\nactions: %s (0)\n' "$out" >&2
    exit 1
fi
if has 'order #1 F1 MK-0 x1' && has 'allocate #1' && [[ $(grep -v '^#' "$f" | tail -1) == 'pick #1' ]] &&
    ((n % 2 == 0)); then
    grep -v '^# ' "$f" >"$out" # the replay's own file: no comments, as performed
    printf 'failed check: oversold\nactions: %s (0)\n' "$out" >&2
    exit 1
fi
echo "replay $f: never oversold" >&2
EOF
chmod +x "$tmp/fake"

{
    echo '# from seed 7, step 20, DH_MODEL_WMS=legacy'
    echo '# failed check: oversold: OVERSOLD WH1 MK-0: ...'
    echo 'initial F1 MK-0 G 4 S 0'
    echo 'initial F2 MK-0 G 3 S 1'
    for i in 0 2 3 4 5; do echo "putaway F1 MK-$((i % 3)) +$((i + 1))"; done
    echo 'order #0 F2 MK-1 x2'
    echo 'order #1 F1 MK-0 x1'
    echo 'flush stock 2'
    echo 'allocate #0'
    echo 'move F1 MK-0 online->offline 1'
    echo 'allocate #1'
    echo 'kill dh-dispatch'
    echo 'sync'
    echo 'pick #0'
    echo 'flush dispatch 1'
    echo 'pause dh-inventory'
    echo 'resume dh-inventory'
    echo 'quiesce'
    echo 'cancel #0'
    echo 'pick #1'
} >"$tmp/trace.actions"

export FAKE_COUNT=$tmp/count
BIN=$tmp/fake LOG_DIR=$tmp/logs "$here/model-shrink.sh" --repeat 4 "$tmp/trace.actions" |
    tee "$tmp/out"
want='initial F1 MK-0 G 4 S 0
initial F2 MK-0 G 3 S 1
order #1 F1 MK-0 x1
allocate #1
pick #1'
got=$(grep -v '^#' "$tmp/trace.actions.min")
[[ $got == "$want" ]] || { printf 'minimal trace is\n%s\nwant\n%s\n' "$got" "$want"; exit 1; }
grep -q '^# from seed 7, step 20, DH_MODEL_WMS=legacy$' "$tmp/trace.actions.min"
grep -q '^minimal: .*: 3 actions (from 20), fails oversold in 2 of 4 replays' "$tmp/out"
grep -q "^replay: DH_MODEL_WMS=legacy DH_MODEL_REPLAY=$tmp/trace.actions.min $tmp/fake\$" "$tmp/out"
echo "model-shrink: 20 -> 3 actions, as expected"
