#!/usr/bin/env bash
# GraphQL contract test of common/graphql/*.graphql. Usage: run-graphql.sh path/to/dh-sandbox
# Both halves always run: every document validates against Shopify's Admin schema, and
# dh-sandbox (started here on a free loopback port with a small seed, one order placed:
# ids 1000001 / FO 1000002 / fulfillment 1000005 are deterministic) answers each document
# with fields that exist in the schema. A missing or non-starting sandbox fails the test.
set -euo pipefail
cd "$(dirname "$0")"
fail() {
    echo "not ok - $*"
    exit 1
}
BIN=${1:-}
[[ -n "$BIN" ]] || fail "usage: run-graphql.sh path/to/dh-sandbox (the sandbox half is not optional)"
[[ -x "$BIN" ]] || fail "dh-sandbox not found or not executable: $BIN (build it)"
command -v node >/dev/null || fail "node not found (deploy/setup.sh installs it)"
[ -d node_modules/graphql ] || npm install --no-save graphql@16 >/dev/null
TMP=$(mktemp -d)
PID=""
trap '[[ -z "$PID" ]] || { kill "$PID" 2>/dev/null; wait "$PID" 2>/dev/null; }; rm -rf "$TMP"' EXIT
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
cat >"$TMP/seed.json" <<'JSON'
{"stores":[{"domain":"a.myshopify.com","access_token":"tok-a",
 "locations":[{"id":11,"name":"WH1"},{"id":12,"name":"WH2"}],
 "products":[{"id":100,"title":"Tee","style_code":"ST-1","image_url":"https://img.example/1.jpg",
   "variants":[{"id":200,"sku":"200","inventory_item_id":300},{"id":201,"sku":"2001","inventory_item_id":301}]}],
 "levels":[{"inventory_item_id":300,"location_id":11,"available":10},{"inventory_item_id":301,"location_id":11,"available":5}]}]}
JSON
# A port below the ephemeral range that nothing listens on; a lost race is retried.
for _ in 1 2 3 4 5; do
    PORT=$((20000 + RANDOM % 12000))
    port_open "$PORT" && continue
    "$BIN" --port "$PORT" --seed "$TMP/seed.json" 2>"$TMP/log" &
    PID=$!
    for _ in $(seq 50); do
        curl -sf "http://127.0.0.1:$PORT/_control/health" >/dev/null && break
        kill -0 "$PID" 2>/dev/null || break
        sleep 0.1
    done
    kill -0 "$PID" 2>/dev/null && curl -sf "http://127.0.0.1:$PORT/_control/health" >/dev/null && break
    wait "$PID" 2>/dev/null || true
    PID=""
done
[[ -n "$PID" ]] || { cat "$TMP/log" >&2; fail "dh-sandbox did not start"; }
curl -sf "http://127.0.0.1:$PORT/_control/shops/a.myshopify.com/orders" \
    -d '{"line_items":[{"sku":"200","quantity":1}]}' >/dev/null ||
    fail "placing the seed order in the sandbox failed"
# fulfillmentCreate must run before fulfillmentEventCreate: pre-create one (id 1000005) via the same document.
DH_SANDBOX_URL="http://127.0.0.1:$PORT/shops/a.myshopify.com/admin/api/2026-04/graphql.json" node graphql-contract.mjs
