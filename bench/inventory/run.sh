#!/usr/bin/env bash
# Inventory bench: REPLICAS dh-inventory replicas share one store's bucket (BUCKET points,
# RESTORE/s) on a backlog of EVENTS events over SKUS SKUs. Prints a table: points spent,
# share of the restore rate used, THROTTLED count, SKU updates per point vs one call per
# event. Needs the local stack (deploy/stack.sh up), kcat, redis-cli and a build with
# dh-inventory, dh-inv-mktopic, dh-sandbox, dh-bench-tool (BUILD, default build-i).
# Usage: bench/inventory/run.sh   (env: EVENTS SKUS REPLICAS BUCKET RESTORE BUILD)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-$ROOT/build-i}
EVENTS=${EVENTS:-100000}
SKUS=${SKUS:-50000}
REPLICAS=${REPLICAS:-3}
BUCKET=${BUCKET:-2000}
RESTORE=${RESTORE:-100}
eval "$("$ROOT/deploy/stack.sh" env)"
KAFKA=${DH_KAFKA_BROKERS:-127.0.0.1:39092}
REDIS=${DH_REDIS_URL:-redis://127.0.0.1:36379}
ID="invbench-$$-$(date +%s)"
DOMAIN="$ID.myshopify.com"
TOPIC="t.$ID"
TMP=$(mktemp -d /tmp/dh-inv-bench.XXXXXX)
PORT=$((38000 + RANDOM % 150))
BASE="http://127.0.0.1:$PORT"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

cat >"$TMP/seed.json" <<EOF
{"stores":[{"domain":"$DOMAIN","access_token":"shpat_x","bucket_size":$BUCKET,"restore_rate":$RESTORE,
 "api_version":"2026-04","generate":{"products":$SKUS,"variants_per_product":1,"sku_prefix":"SKU-","locations":1,"available":0}}],
 "wms":{"token":"wms-token","inventory":[]}}
EOF
cat >"$TMP/stores.json" <<EOF
{"stores":[{"domain":"$DOMAIN","admin_url":"$BASE/shops/$DOMAIN","api_version":"2026-04","access_token":"shpat_x",
 "bucket_size":$BUCKET,"restore_rate":$RESTORE,"webhook_secrets":["s"],"locations":{"F1":"gid://shopify/Location/1000001"}}]}
EOF
"$BUILD/sandbox/dh-sandbox" --host 127.0.0.1 --port "$PORT" --seed "$TMP/seed.json" \
    --journal-capacity 200000 >"$TMP/sandbox.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do curl -sf "$BASE/_control/health" >/dev/null && break; sleep 0.1; done

# Catalogue records (the catalogue worker's job): item id of SKU-n is 1000001 + 3n here.
awk -v n="$SKUS" -v d="$DOMAIN" 'BEGIN{for(i=1;i<=n;i++) printf "SET dh:catalog:%s:sku:SKU-%d \047{\"inventory_item_id\":%d}\047\n", d, i, 1000001+3*i}' |
    redis-cli -u "$REDIS" --pipe >/dev/null

# The backlog: EVENTS putaways round-robin over SKUS SKUs, sequence rising per SKU.
awk -v n="$EVENTS" -v s="$SKUS" -v d="$DOMAIN" -v r="$(printf %08x $((RANDOM * 32768 + RANDOM)))" 'BEGIN{srand(7); for(i=0;i<n;i++){k=i%s+1; q=int(i/s)+1;
  g=int(rand()*100); printf "%s|F1|SKU-%d\t{\"schema_version\":1,\"event_id\":\"%s-0000-4000-8000-%012x\",\"event_type\":\"putaway\",\"occurred_at\":\"2026-05-01T10:00:00Z\",\"store\":\"%s\",\"facility\":\"F1\",\"sku\":\"SKU-%d\",\"sequence\":%d,\"putaway\":{\"putaway_id\":\"P\",\"zone\":\"G\",\"zone_class\":\"online\",\"quantity\":1,\"qc_status\":\"GOOD\"},\"stock\":{\"good_online\":%d,\"allocated\":0,\"safety_stock\":0,\"damaged\":0,\"quarantined\":0,\"good_offline\":0}}\n", d, k, r, i, d, k, q, g}}' >"$TMP/events.txt"
DH_TEST_KAFKA="$KAFKA" "$BUILD/dh-inv-mktopic" "$TOPIC" 6
kcat -b "$KAFKA" -P -t "$TOPIC" -K $'\t' -z lz4 <"$TMP/events.txt"
LAST_SEQ=$(( (EVENTS - 1) / SKUS + 1 ))

T0=$(date +%s.%N)
for r in $(seq "$REPLICAS"); do
    env DH_KAFKA_BROKERS="$KAFKA" DH_REDIS_URL="$REDIS" DH_TOPICS="$TOPIC" DH_GROUP_ID="g.$ID" \
        DH_ADMIN_PORT=0 DH_STORES_FILE="$TMP/stores.json" DH_WMS_URL="$BASE" DH_WMS_TOKEN=wms-token \
        DH_LOG_LEVEL=${LOG_LEVEL:-warn} "$BUILD/dh-inventory" 2>>"$TMP/worker-$r.log" &
    PIDS+=($!)
done
# Done when every SKU has its last sequence applied.
count_done() {
    redis-cli -u "$REDIS" EVAL "local n=0 for _,v in ipairs(redis.call('HVALS',KEYS[1])) do if tonumber(string.match(v,'^(%d+)'))>=tonumber(ARGV[1]) then n=n+1 end end return n" 1 "dh:inv:seq:$DOMAIN" "$LAST_SEQ"
}
for _ in $(seq 3000); do
    [ "$(count_done)" -ge "$SKUS" ] && break
    sleep 0.2
done
T1=$(date +%s.%N)
curl -s "$BASE/_journal?group=shopify&shop=$DOMAIN&op=inventorySetQuantities" >"$TMP/journal.jsonl"
"$BUILD/dh-bench-tool" journal-summary "$TMP/journal.jsonl" "$T0" "$T1" "$RESTORE" "$BUCKET" "$EVENTS" \
    "$SKUS" "$(count_done)"
echo "(logs in $TMP)"
