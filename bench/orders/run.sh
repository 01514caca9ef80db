#!/usr/bin/env bash
# bench/orders/run.sh — flow 2 (Shopify orders -> WMS), one run on the local stack.
#
#  A. latency: orders placed in the sandbox store at RATE/s (default 200) for SECS s; the
#     sandbox delivers signed webhooks to dh-gateway -> Kafka -> dh-orders -> WMS sandbox.
#     p50/p99 of "gateway receipt (dh-received-at) -> WMS 2xx", from the worker's histogram
#     dh_orders_receipt_to_wms_seconds (bucket upper bounds). Goal p99 <= 50 ms.
#  B. throughput: N orders/create records already in Kafka, the WMS answering after 20 ms
#     (sandbox latency fault), one dh-orders replica with LANES lanes: orders/s from the
#     first to the last WMS 201. Goal >= 1,000/s. A baseline at 0 ms WMS latency is run too.
#
# Not a test: prints a table, never fails on a goal. Needs: deploy/stack.sh up, kcat,
# and a build with dh-orders, dh-gateway, dh-sandbox, dh-bench-tool (BUILD, default build).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/deploy/lib.sh" # port_open, DH_STACK_KAFKA_LIBS
. "$ROOT/bench/lib.sh"  # bench_free_port
BUILD=${BUILD:-$ROOT/build}
RATE=${RATE:-200}
SECS=${SECS:-20}
N=${N:-20000}
LANES=${LANES:-64}
KAFKA=${DH_TEST_KAFKA:-127.0.0.1:39092}
REDIS=${DH_TEST_REDIS_URL:-redis://127.0.0.1:36379}
TAG=ob$$-$(date +%s)
WORK=$(mktemp -d /tmp/dh-bench-orders.XXXXXX)
bench_free_port SB_PORT; bench_free_port GW_PORT; bench_free_port ADM
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

store=$TAG.myshopify.com
cat >"$WORK/seed.json" <<EOF
{"stores": [{"domain": "$store", "access_token": "shpat_b", "api_version": "2026-10",
  "webhook_url": "http://127.0.0.1:$GW_PORT/webhooks/shopify", "webhook_secret": "whb",
  "locations": [{"id": 11, "name": "WH1"}],
  "products": [{"id": 100, "title": "Tee", "variants": [{"id": 200, "sku": "TEE-1", "inventory_item_id": 300, "price": "10.00"}]}],
  "levels": [{"inventory_item_id": 300, "location_id": 11, "available": 100000000}]}],
 "wms": {"token": "wtok"}}
EOF
cat >"$WORK/stores.json" <<EOF
{"stores": [{"domain": "$store", "admin_url": "http://127.0.0.1:$SB_PORT/shops/$store",
  "api_version": "2026-10", "access_token": "shpat_b", "webhook_secrets": ["whb"]}]}
EOF
"$BUILD/sandbox/dh-sandbox" --host 127.0.0.1 --port "$SB_PORT" --seed "$WORK/seed.json" \
    --journal-capacity 1000 >"$WORK/sandbox.log" 2>&1 & PIDS+=($!)
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$SB_PORT/_control/health" >/dev/null && break; sleep 0.1; done

orders_env() { # topic group admin-port
    echo DH_KAFKA_BROKERS=$KAFKA DH_REDIS_URL=$REDIS DH_TOPICS=$1 DH_GROUP_ID=$2 \
        DH_STORES_FILE=$WORK/stores.json DH_WMS_URL=http://127.0.0.1:$SB_PORT DH_WMS_TOKEN=wtok \
        DH_WMS_RATE=default=1000000 DH_ADMIN_PORT=$3 DH_LANES=$LANES DH_LOG_LEVEL=warn \
        DH_ORDERS_RECONCILE_INTERVAL_S=0
}
metric() { # port name-with-labels
    { curl -s "http://127.0.0.1:$1/metrics" || true; } | awk -v m="$2" '$1 == m { print $2 }'
}
quantile() { # port q: smallest bucket bound with cumulative count >= q * total (ms)
    curl -s "http://127.0.0.1:$1/metrics" | awk -v q="$2" '
        BEGIN { INF = 1e300 } # stands for le="+Inf"
        $1 ~ /^dh_orders_receipt_to_wms_seconds_bucket\{le="[^"]+"\}$/ && $2 ~ /^[0-9]+$/ {
            le = $1; gsub(/^[^"]*"|"}$/, "", le)
            n++; b[n] = le == "+Inf" ? INF : le + 0; c[n] = $2 + 0
            if (!top || b[n] > b[top]) top = n # the widest bucket counts them all
        }
        END {
            if (!n || !c[top]) { print "n/a"; exit }
            for (i = 1; i <= n; i++) if (c[i] >= q * c[top] && (!best || b[i] < b[best])) best = i
            if (b[best] == INF) print "inf"; else printf "%g\n", b[best] * 1000
        }'
}

# ---------------- A. latency through the gateway ----------------
env DH_KAFKA_BROKERS=$KAFKA DH_REDIS_URL=$REDIS DH_STORES_FILE=$WORK/stores.json \
    DH_GATEWAY_ADDR=127.0.0.1 DH_GATEWAY_PORT=$GW_PORT DH_ADMIN_PORT=0 DH_LOG_LEVEL=warn \
    "$BUILD/dh-gateway" 2>"$WORK/gateway.log" & PIDS+=($!)
env $(orders_env shopify.orders "g.$TAG.a" $ADM) KAFKA_AUTO_OFFSET_RESET=latest \
    "$BUILD/dh-orders" 2>"$WORK/orders-a.log" & PIDS+=($!)
sleep 8 # group join
"$BUILD/dh-bench-tool" place-orders "$SB_PORT" "$store" "$RATE" "$SECS"
placed=$((RATE * SECS))
for _ in $(seq 120); do
    done_a=$(metric $ADM 'dh_orders_wms_total{op="create"}'); [ "${done_a:-0}" -ge "$placed" ] && break; sleep 0.5
done
A_N=$(metric $ADM 'dh_orders_wms_total{op="create"}'); A_P50=$(quantile $ADM 0.5); A_P99=$(quantile $ADM 0.99)
kill "${PIDS[-1]}" "${PIDS[-2]}"; wait "${PIDS[-1]}" "${PIDS[-2]}" 2>/dev/null || true
PIDS=("${PIDS[@]:0:${#PIDS[@]}-2}") # not unset [-1] [-2]: the second would hit the sandbox

# ---------------- B. throughput per replica ----------------
# N orders/create records, "store|id<TAB>order JSON" (%.0f: ids pass 2^31).
awk -v n="$N" -v s="$store" 'BEGIN { for (i = 0; i < n; i++) { o = 7000000000 + i
    printf "%s|%.0f\t{\"id\":%.0f,\"admin_graphql_api_id\":\"gid://shopify/Order/%.0f\",\"name\":\"#B%d\",", s, o, o, o, i
    printf "\"created_at\":\"2026-05-01T10:00:00Z\",\"updated_at\":\"2026-05-01T10:00:00Z\",\"cancelled_at\":null,"
    printf "\"currency\":\"INR\",\"email\":\"b@example.com\",\"tags\":\"\",\"line_items\":[{\"id\":%.0f,", 9000000000 + i
    printf "\"variant_id\":200,\"sku\":\"TEE-1\",\"quantity\":1,\"price\":\"10.00\"}],\"shipping_address\":null}\n" } }' \
    >"$WORK/orders.txt"
create_topic() { # name: 6 partitions, with Kafka's own TopicCommand (as deploy/stack.sh does)
    java -Xmx256m -XX:TieredStopAtLevel=1 -cp "$DH_STACK_KAFKA_LIBS/*" org.apache.kafka.tools.TopicCommand \
        --bootstrap-server "$KAFKA" --create --if-not-exists --topic "$1" --partitions 6 \
        --replication-factor 1 >/dev/null 2>&1
}
run_b() { # latency_ms label
    local topic="t.$TAG.b$1" adm
    bench_free_port adm
    create_topic "$topic"
    # Another store namespace per run: the bench's order ids repeat between runs.
    sed "s/$store/b$1.$store/" "$WORK/stores.json" >"$WORK/stores-b$1.json"
    sed "s/^$store/b$1.$store/" "$WORK/orders.txt" >"$WORK/orders-b$1.txt"
    kcat -P -b "$KAFKA" -t "$topic" -K $'\t' -H dh-topic=orders/create -H "dh-shop-domain=b$1.$store" \
        -H dh-webhook-id=bench -H dh-api-version=2026-10 -z lz4 <"$WORK/orders-b$1.txt"
    curl -s -X DELETE "http://127.0.0.1:$SB_PORT/_control/faults" >/dev/null
    curl -s -X POST "http://127.0.0.1:$SB_PORT/_control/faults" \
        -d "{\"group\":\"wms\",\"latency_ms\":$1}" >/dev/null
    local t0 t1 n=0
    t0=$(date +%s.%N)
    env $(orders_env "$topic" "g.$TAG.b$1" $adm) DH_STORES_FILE="$WORK/stores-b$1.json" \
        KAFKA_AUTO_OFFSET_RESET=earliest "$BUILD/dh-orders" 2>"$WORK/orders-b$1.log" & local pid=$!
    PIDS+=($pid)
    for _ in $(seq 600); do
        n=$(metric $adm 'dh_orders_wms_total{op="create"}'); [ "${n:-0}" -ge "$N" ] && break; sleep 0.2
    done
    t1=$(date +%s.%N)
    kill $pid; wait $pid 2>/dev/null || true
    echo "$1 ${n:-0} $(awk -v n="${n:-0}" -v t0="$t0" -v t1="$t1" 'BEGIN { printf "%.0f", n / (t1 - t0) }')"
}
echo "(B runs include worker start-up and group join: a conservative rate)" >&2
B0=$(run_b 0); B20=$(run_b 20)

printf '\n%-58s %12s %10s\n' "measure" "value" "goal"
printf '%-58s %12s %10s\n' "A. orders placed at ${RATE}/s via gateway, created" "$A_N" "$placed"
printf '%-58s %9s ms %10s\n' "A. receipt -> WMS 2xx, p50 (histogram bucket bound)" "$A_P50" ""
printf '%-58s %9s ms %10s\n' "A. receipt -> WMS 2xx, p99 (histogram bucket bound)" "$A_P99" "<= 50 ms"
read -r _ n0 r0 <<<"$B0"; read -r _ n20 r20 <<<"$B20"
printf '%-58s %10s/s %10s\n' "B. orders/s, 1 replica, $LANES lanes, WMS 0 ms ($n0 orders)" "$r0" ""
printf '%-58s %10s/s %10s\n' "B. orders/s, 1 replica, $LANES lanes, WMS 20 ms ($n20 orders)" "$r20" ">= 1000/s"
printf '%-58s %12s\n' "B. ratio 20 ms / 0 ms" \
    "$(awk -v a="$r20" -v b="$r0" 'BEGIN { printf "%.2f", a / (b < 1 ? 1 : b) }')"
echo "logs: $WORK"
