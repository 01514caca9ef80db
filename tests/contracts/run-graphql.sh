#!/usr/bin/env bash
# GraphQL contract test of common/graphql/*.graphql. Usage: run-graphql.sh [path/to/dh-sandbox]
# With a dh-sandbox binary, starts it on a test port with a small seed, places one order
# (ids 1000001 / FO 1000002 / fulfillment 1000005 are deterministic) and also checks
# the sandbox's responses against the schema.
set -euo pipefail
cd "$(dirname "$0")"
[ -d node_modules/graphql ] || npm install --no-save graphql@16 >/dev/null
BIN=${1:-}
if [ -z "$BIN" ]; then exec node graphql-contract.mjs; fi
PORT=${DH_SB_CONTRACT_PORT:-38188}
TMP=$(mktemp -d)
cat >"$TMP/seed.json" <<'JSON'
{"stores":[{"domain":"a.myshopify.com","access_token":"tok-a",
 "locations":[{"id":11,"name":"WH1"},{"id":12,"name":"WH2"}],
 "products":[{"id":100,"title":"Tee","style_code":"ST-1","image_url":"https://img.example/1.jpg",
   "variants":[{"id":200,"sku":"200","inventory_item_id":300},{"id":201,"sku":"2001","inventory_item_id":301}]}],
 "levels":[{"inventory_item_id":300,"location_id":11,"available":10},{"inventory_item_id":301,"location_id":11,"available":5}]}]}
JSON
"$BIN" --port "$PORT" --seed "$TMP/seed.json" 2>"$TMP/log" &
PID=$!
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$TMP"' EXIT
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$PORT/_control/health" >/dev/null && break; sleep 0.1; done
curl -sf "http://127.0.0.1:$PORT/_control/shops/a.myshopify.com/orders" -d '{"line_items":[{"sku":"200","quantity":1}]}' >/dev/null
# fulfillmentCreate must run before fulfillmentEventCreate: pre-create one (id 1000005) via the same document.
DH_SANDBOX_URL="http://127.0.0.1:$PORT/shops/a.myshopify.com/admin/api/2026-04/graphql.json" node graphql-contract.mjs
