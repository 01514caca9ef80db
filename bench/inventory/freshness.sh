#!/usr/bin/env bash
# Freshness: a putaway produced to Kafka -> Shopify's on_hand (hence available) for that SKU
# updated in the sandbox. RATE putaways/s for SECS s over SKUS SKUs (drawn at random, so some
# SKUs get several events close together and coalescing is exercised), REPLICAS dh-inventory
# replicas in one group on a 6-partition topic, the worker's default linger (200 ms) and
# batch (250). An event's latency = the sandbox journal's time_ms of the first applied
# inventorySetQuantities setting its SKU to a value >= its own (values rise with the
# sequence) - the time it was handed to the producer. The first SKIP s are left out.
# Prints p50/p90/p99/max and p99 against GOAL_MS, and what the calls cost.
#
# Usage: bench/inventory/freshness.sh
#   env: RATE (1000) SECS (30) SKUS (10000) REPLICAS (3) SKIP (5) GOAL_MS (2000)
#        BUCKET (2000) RESTORE (100) SANDBOX_PORT (41510; it and the next REPLICAS ports)
#        BUILD (build) WORKER_ENV ("VAR=value ..." for the replicas, e.g. DH_BATCH_LINGER_MS=50)
#        DH_KAFKA_BROKERS / DH_REDIS_URL (else deploy/stack.sh env)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-$ROOT/build}
RATE=${RATE:-1000}
SECS=${SECS:-30}
SKUS=${SKUS:-10000}
REPLICAS=${REPLICAS:-3}
SKIP=${SKIP:-5}
GOAL_MS=${GOAL_MS:-2000}
BUCKET=${BUCKET:-2000}
RESTORE=${RESTORE:-100}
SANDBOX_PORT=${SANDBOX_PORT:-41510}
TMP=$(mktemp -d /tmp/dh-inv-fresh.XXXXXX)
# shellcheck source=bench/inventory/lib.sh
. "$ROOT/bench/inventory/lib.sh"
TOPIC="t.$ID"

inv_sandbox_up
DH_TEST_KAFKA="$KAFKA" "$BUILD/dh-inv-mktopic" "$TOPIC" 6
# shellcheck disable=SC2086 # WORKER_ENV is a list of VAR=value words
inv_workers "$REPLICAS" "$TOPIC" ${WORKER_ENV:-}
# The replicas own all 6 partitions before the first event (a group join takes seconds).
for _ in $(seq 300); do
    [ "$(bench_metric dh_assigned_partitions)" = 6 ] && break
    sleep 0.2
done
[ "$(bench_metric dh_assigned_partitions)" = 6 ] || { echo "the replicas did not start:" >&2; cat "$TMP"/worker-*.log >&2; exit 1; }

echo "producing $((RATE * SECS)) putaways at $RATE/s over $SKUS SKUs, $REPLICAS replicas" >&2
"$BUILD/dh-bench-inv" produce "$KAFKA" "$TOPIC" "$DOMAIN" "$SKUS" "$RATE" "$SECS" "$TMP/produced.txt"

# Done when every event's value is visible (or 120 s after the last one was produced).
for _ in $(seq 60); do
    inv_journal inventorySetQuantities >"$TMP/journal.jsonl"
    "$BUILD/dh-bench-inv" freshness "$TMP/journal.jsonl" "$TMP/produced.txt" "$ITEM_BASE" \
        "$ITEM_STEP" "$GOAL_MS" "$SKIP" >"$TMP/table.md"
    grep -q '^| events never visible | 0 ' "$TMP/table.md" && break
    sleep 2
done
cat "$TMP/table.md"
jq -rs --argjson restore "$RESTORE" '
  [.[] | select(.throttled != true)] as $ok
  | ($ok | map(.response | fromjson | .extensions.cost.actualQueryCost // 0) | add // 0) as $pts
  | ($ok | map(.body | fromjson | .variables.input.quantities | length) | add // 0) as $q
  | (($ok | map(.time_ms) | max) - ($ok | map(.time_ms) | min)) as $span_ms | ($span_ms / 1000) as $span
  | "| calls (THROTTLED) | \($ok | length) (\(length - ($ok | length))) | | | |",
    "| quantities per call, mean | \(if ($ok | length) > 0 then ($q / ($ok | length) * 10 | round / 10) else 0 end) | | | |",
    "| points/s spent vs restore rate | \(if $span > 0 then ($pts / $span * 10 | round / 10) else 0 end) | \($restore) | | |"' \
    "$TMP/journal.jsonl"
for r in $(seq "$REPLICAS"); do curl -sf "http://127.0.0.1:$((SANDBOX_PORT + r))/metrics" >"$TMP/metrics-$r.txt" || true; done
echo "| handle_batch size, mean | $(awk '/^dh_inventory_batch_size_sum/{s+=$2} /^dh_inventory_batch_size_count/{c+=$2} END{printf "%.1f", c ? s / c : 0}' "$TMP"/metrics-*.txt) | | | |"
echo "| handle_batch time per event, mean (dh_handler_seconds: mostly the wait for the shared bucket) | $(awk '/^dh_handler_seconds_sum/{s+=$2} /^dh_handler_seconds_count/{c+=$2} END{printf "%.0f ms", c ? 1000 * s / c : 0}' "$TMP"/metrics-*.txt) | | | |"
echo "| events coalesced (dh_events_total superseded) | $(awk '/^dh_events_total\{.*superseded/{s+=$2} END{print s + 0}' "$TMP"/metrics-*.txt) | | | |"
echo "| Shopify points spent (dh_shopify_cost_points_total) | $(awk '/^dh_shopify_cost_points_total/{s+=$2} END{print s + 0}' "$TMP"/metrics-*.txt) | | | |"
echo "(run $(date -u +%FT%TZ), logs in $TMP)"
