#!/usr/bin/env bash
# The inventory model's replay mode in CI (DH_MODEL_REPLAY, tests/e2e/test_inventory_model.c),
# on the real stack: a committed trace with every kind of action must pass (its two
# inapplicable actions reported as skipped), and the committed minimal trace that
# tests/e2e/model-shrink.sh made from failing legacy-WMS runs must FAIL under
# DH_MODEL_WMS=legacy with the same check (replay-legacy-undersell: not-equal, the pick left
# good_online so Shopify's on_hand misses the picked units; replay-legacy-oversell: oversold,
# a re-push from a record older than the pick after the fulfilment) and pass under
# DH_MODEL_WMS=picked: the replay detects the bug, and the traces are not wrong by themselves. Usage: model-replay-check.sh <test binary>
set -uo pipefail
bin=${1:-}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
[[ -x $bin ]] || { echo "FAIL: no test binary '$bin'" >&2; exit 1; }
logs=$(mktemp -d "${TMPDIR:-/tmp}/dh-model-replay.XXXXXX")
rc=0

# replay <name> <wms> <file>: the run's output in $logs/<name>.out, its exit status returned.
replay() {
    mkdir -p "$logs/$1"
    DH_TEST_LOG_DIR=$logs/$1 DH_MODEL_WMS=$2 DH_MODEL_REPLAY=$here/inventory/$3 "$bin" \
        >"$logs/$1.out" 2>&1
}
fail() {
    echo "FAIL: $1 (output: $logs/$2.out)" >&2
    tail -40 "$logs/$2.out" >&2
    rc=1
}

if ! replay every picked replay-every-action.actions; then
    fail "the every-action trace failed" every
elif ! grep -q '^skipped line 17: pick #5 ' "$logs/every.out" ||
    ! grep -q '^skipped line 23: allocate #1 ' "$logs/every.out" ||
    ! grep -q 'replay-every-action.actions: 20 actions, 2 skipped$' "$logs/every.out"; then
    fail "the every-action trace did not skip exactly pick #5 and allocate #1" every
fi
if replay legacy legacy replay-legacy-undersell.actions; then
    fail "the legacy minimal trace passed under DH_MODEL_WMS=legacy: the replay missed the bug" legacy
elif ! grep -q '^failed check: not-equal$' "$logs/legacy.out" ||
    ! grep -q '^actions: .*\.actions ([0-9]*)$' "$logs/legacy.out"; then
    fail "the legacy minimal trace failed, but not the not-equal check (or wrote no actions file)" legacy
fi
if ! replay picked picked replay-legacy-undersell.actions; then
    fail "the legacy minimal trace failed under DH_MODEL_WMS=picked" picked
fi
# The oversell is a race (the re-push against the flush's check): on a loaded machine one
# replay can miss it (CI saw that once in many runs), so up to three replays, one must fail.
missed=0
while replay oversell legacy replay-legacy-oversell.actions && ((++missed < 3)); do
    echo "the legacy oversell trace passed (replay $missed of up to 3): replaying again" >&2
done
if ((missed == 3)); then
    fail "the legacy oversell trace passed 3 times under DH_MODEL_WMS=legacy: the replay missed it" oversell
elif ! grep -q '^failed check: oversold$' "$logs/oversell.out"; then
    fail "the legacy oversell trace failed, but not the oversold check" oversell
fi
if ! replay oversell-picked picked replay-legacy-oversell.actions; then
    fail "the legacy oversell trace failed under DH_MODEL_WMS=picked" oversell-picked
fi
((rc == 0)) && echo "replays: every-action passed (2 skipped); the legacy minimal traces failed" \
    "not-equal and oversold, and passed with the picked WMS" && rm -rf "$logs"
exit "$rc"
