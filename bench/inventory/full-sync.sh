#!/usr/bin/env bash
# Full sync of SKUS SKUs (100,000): the sandbox's WMS serves SKUS sellable rows (one
# facility), REPLICAS dh-inventory replicas run, `dh-ops sync --store ... --execute` asks
# for the on-demand sync (docs/inventory.md §8), and the run ends when the replicas report
# it finished (dh_inventory_sync_running back to 0 after a page was done). From the
# sandbox journal: points spent by inventorySetQuantities (actualQueryCost) against the
# minimum possible, ceil(SKUS / 250) calls (Shopify's input array limit) at the cost of one
# full call; THROTTLED answers; the duration against points ÷ restore rate.
#
# Usage: bench/inventory/full-sync.sh
#   env: SKUS (100000) REPLICAS (3) BUCKET (2000) RESTORE (100) SANDBOX_PORT (41530; it and
#        the next REPLICAS ports) BUILD (build) TIMEOUT_S (1800) WORKER_ENV ("VAR=value ...",
#        e.g. DH_INVENTORY_SYNC_PAGE_SIZE=500)  DH_KAFKA_BROKERS / DH_REDIS_URL
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-$ROOT/build}
SKUS=${SKUS:-100000}
REPLICAS=${REPLICAS:-3}
BUCKET=${BUCKET:-2000}
RESTORE=${RESTORE:-100}
SANDBOX_PORT=${SANDBOX_PORT:-41530}
TIMEOUT_S=${TIMEOUT_S:-1800}
TMP=$(mktemp -d /tmp/dh-inv-sync.XXXXXX)
# shellcheck source=bench/inventory/lib.sh
. "$ROOT/bench/inventory/lib.sh"
bench_need "$BUILD/dh-ops"
TOPIC="t.$ID"

# The WMS's sellable rows: one per SKU at F1, every one a change from Shopify's 0.
awk -v n="$SKUS" -v d="$DOMAIN" 'BEGIN{printf "["; for(i=1;i<=n;i++) printf "%s{\"store\":\"%s\",\"sku\":\"SKU-%d\",\"facility\":\"F1\",\"sequence\":1,\"stock\":{\"good_online\":%d,\"allocated\":0,\"safety_stock\":1,\"damaged\":0,\"quarantined\":0,\"good_offline\":0}}", (i > 1 ? "," : ""), d, i, i % 97 + 2; printf "]"}' >"$TMP/wms.json"
inv_sandbox_up
served=$(curl -sf -H 'Authorization: Bearer wms-token' \
    "$BASE/wms/v1/inventory/sellable?store=$DOMAIN&cursor=$((SKUS - 1))&limit=5" | jq '.items | length')
[ "$served" = 1 ] || { echo "the WMS does not serve $SKUS rows (last page: $served)" >&2; exit 1; }

DH_TEST_KAFKA="$KAFKA" "$BUILD/dh-inv-mktopic" "$TOPIC" 6
# shellcheck disable=SC2086 # WORKER_ENV is a list of VAR=value words
inv_workers "$REPLICAS" "$TOPIC" ${WORKER_ENV:-}
for _ in $(seq 300); do
    [ "$(bench_metric dh_assigned_partitions)" = 6 ] && break
    sleep 0.2
done
[ "$(bench_metric dh_assigned_partitions)" = 6 ] || { echo "the replicas did not start:" >&2; cat "$TMP"/worker-*.log >&2; exit 1; }

T0=$(date +%s%3N)
# shellcheck disable=SC2046 # one -u word per variable
env $(env | grep -o '^DH_[A-Z0-9_]*' | sed 's/^/-u /') DH_REDIS_URL="$REDIS" DH_KAFKA_BROKERS="$KAFKA" \
    DH_STORES_FILE="$TMP/stores.json" DH_ADMIN_PORT=-1 "$BUILD/dh-ops" sync --store "$DOMAIN" --execute >&2
echo "full sync of $SKUS rows requested, $REPLICAS replicas" >&2
started=0
T1=
for _ in $(seq $((TIMEOUT_S * 2))); do
    running=$(bench_metric dh_inventory_sync_running)
    pages=$(bench_metric dh_inventory_sync_pages_total)
    if [ "$running" != 0 ] || [ "$pages" != 0 ]; then started=1; fi
    if [ "$started" = 1 ] && [ "$running" = 0 ]; then T1=$(date +%s%3N); break; fi
    sleep 0.5
done
[ -n "$T1" ] || { echo "the sync did not finish within $TIMEOUT_S s (pages $pages)" >&2; T1=$(date +%s%3N); }
inv_journal inventorySetQuantities >"$TMP/journal.jsonl"
"$BUILD/dh-bench-inv" sync "$TMP/journal.jsonl" "$T0" "$T1" "$SKUS" "$BUCKET" "$RESTORE"
echo "| WMS pages read (dh_inventory_sync_pages_total) | $(bench_metric dh_inventory_sync_pages_total) | | | | |"
echo "| quantities the sync set (dh_inventory_sync_items_total) | $(bench_metric dh_inventory_sync_items_total) | | | | |"
curl -sf "$BASE/_journal?group=wms" | jq -rs --argjson t0 "$T0" '[.[] | select((.path | test("sellable")) and .time_ms >= $t0) | .time_ms] as $t
  | "| WMS page reads, mean interval | \($t | length), \(if ($t | length) > 1 then (($t[-1] - $t[0]) / (($t | length) - 1) | round) else 0 end) ms | | | | |"'
echo "(run $(date -u +%FT%TZ), logs in $TMP)"
