#!/usr/bin/env bash
# bench/gateway/run.sh — dh-gateway's answer latency to Shopify webhooks, one run on the
# local stack (moved here from the gateway's integration test, which asserts behaviour).
#
#   A. N (default 200) signed orders/create webhooks sent one after another: client-side
#      latency of each 200, which includes the acks=all write to Kafka (shopify.orders).
#   B. baseline, same run: the same requests with a wrong signature (401, nothing written):
#      HTTP + HMAC check without Kafka.
# Prints p50 / p99 / max of both and the p50 ratio A/B. Not a test: never fails on a goal.
# Needs: deploy/stack.sh up, curl, openssl, a build with dh-gateway (BUILD, default build/).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/deploy/lib.sh" # port_open
. "$ROOT/bench/lib.sh"  # bench_free_port
BUILD=${BUILD:-$ROOT/build}
N=${N:-200}
KAFKA=${DH_TEST_KAFKA:-127.0.0.1:39092}
REDIS=${DH_TEST_REDIS_URL:-redis://127.0.0.1:36379}
SHOP=bench-gw.myshopify.com
SECRET=bench-secret
WORK=$(mktemp -d /tmp/dh-bench-gateway.XXXXXX)
need_cmd curl
need_cmd openssl
[[ -x "$BUILD/dh-gateway" ]] || die "$BUILD/dh-gateway not built"
bench_free_port GW_PORT
bench_free_port ADM_PORT
GW=""
cleanup() {
    [[ -z "$GW" ]] || { kill "$GW" 2>/dev/null; wait "$GW" 2>/dev/null || true; }
    rm -rf "$WORK"
}
trap cleanup EXIT

cat >"$WORK/stores.json" <<JSON
{"stores": [{"domain": "$SHOP", "admin_url": "http://127.0.0.1:1/shops/$SHOP",
  "api_version": "2026-10", "access_token": "shpat_b", "webhook_secrets": ["$SECRET"]}]}
JSON
# Only the gateway's own settings (it rejects DH_* names it does not know).
env -i PATH="$PATH" DH_STORES_FILE="$WORK/stores.json" DH_GATEWAY_PORT="$GW_PORT" DH_ADMIN_PORT="$ADM_PORT" \
    DH_GATEWAY_ADDR=127.0.0.1 DH_KAFKA_BROKERS="$KAFKA" DH_REDIS_URL="$REDIS" \
    DH_LOG_LEVEL=warn "$BUILD/dh-gateway" >"$WORK/gateway.log" 2>&1 &
GW=$!
wait_until 30 port_open "$GW_PORT" || { cat "$WORK/gateway.log" >&2; die "dh-gateway did not start"; }
wait_until 30 curl -sf "http://127.0.0.1:$ADM_PORT/readyz" -o /dev/null ||
    die "dh-gateway not ready (Kafka at $KAFKA?)"

# send <n> <good|bad> <out-file>: one latency in ms per line; any unexpected status aborts.
send() {
    local n="$1" kind="$2" out="$3" want=200 run i id body sig res
    run=$(date +%s%N)
    [[ $kind == good ]] || want=401
    for ((i = 0; i < n; i++)); do
        id=$((run / 1000 % 1000000000000 + i))
        body="{\"id\":$id,\"name\":\"#$i\",\"created_at\":\"2026-05-01T10:15:30Z\",\"line_items\":[{\"id\":1,\"sku\":\"TEE-1\",\"quantity\":1}]}"
        sig=$(printf '%s' "$body" | openssl dgst -sha256 -hmac "$SECRET" -binary | base64)
        [[ $kind == good ]] || sig=AAAA$sig
        res=$(curl -s -o /dev/null -w '%{http_code} %{time_total}' \
            -H 'Content-Type: application/json' -H 'X-Shopify-Topic: orders/create' \
            -H "X-Shopify-Shop-Domain: $SHOP" -H 'X-Shopify-API-Version: 2026-10' \
            -H "X-Shopify-Webhook-Id: bench-$kind-$run-$i" -H "X-Shopify-Hmac-Sha256: $sig" \
            --data-binary "$body" "http://127.0.0.1:$GW_PORT/webhooks/shopify")
        [[ ${res%% *} == "$want" ]] || die "webhook $i ($kind): status ${res%% *}, want $want"
        awk -v s="${res#* }" 'BEGIN { printf "%.3f\n", s * 1000 }' >>"$out"
    done
}
# stats <file>: "p50 p99 max" in ms
stats() {
    sort -n "$1" | awk '{ v[NR] = $1 } END {
        p50 = v[int((NR + 1) / 2)]; i = int(NR * 0.99); if (i < 1) i = 1
        printf "%.2f %.2f %.2f\n", p50, v[i], v[NR] }'
}

send 20 good "$WORK/warmup" # connections, metadata, first Kafka batch
send "$N" bad "$WORK/base"
send "$N" good "$WORK/acked"
read -r b50 b99 bmax < <(stats "$WORK/base")
read -r a50 a99 amax < <(stats "$WORK/acked")
printf '\ndh-gateway, %d sequential webhooks each (client-side ms, one run on this machine)\n' "$N"
printf '%-40s %8s %8s %8s\n' "" p50 p99 max
printf '%-40s %8s %8s %8s\n' "baseline: bad signature (401, no Kafka)" "$b50" "$b99" "$bmax"
printf '%-40s %8s %8s %8s\n' "orders/create 200 (acks=all in Kafka)" "$a50" "$a99" "$amax"
awk -v a="$a50" -v b="$b50" 'BEGIN { printf "p50 ratio 200/401: %.2f\n", (b > 0 ? a / b : 0) }'
