#!/usr/bin/env bash
# Integration test for dh-sandbox: starts it on a test port with a seed file and drives it
# with curl + jq. Usage: test_sandbox_integration.sh /path/to/dh-sandbox
set -euo pipefail
BIN=${1:?usage: $0 /path/to/dh-sandbox}
PORT=${DH_SB_TEST_PORT:-38183}
B=http://127.0.0.1:$PORT
SHOP=a.myshopify.com
G=$B/shops/$SHOP/admin/api/2026-04/graphql.json
TMP=$(mktemp -d)
fails=0
cat >"$TMP/seed.json" <<'JSON'
{"token_ttl_s": 60,
 "stores":[{"domain":"a.myshopify.com","access_token":"tok-a","client_id":"cid","client_secret":"csec",
  "bucket_size":1000,"restore_rate":50,
  "locations":[{"id":11,"name":"WH1"},{"id":12,"name":"WH2"}],
  "products":[{"id":100,"title":"Tee","variants":[{"id":200,"sku":"200","inventory_item_id":300},
                                                 {"id":201,"sku":"2001","inventory_item_id":301}]}],
  "generate":{"products":300,"variants_per_product":1,"sku_prefix":"GEN-","locations":0,"available":0},
  "levels":[{"inventory_item_id":300,"location_id":11,"available":10},
            {"inventory_item_id":301,"location_id":11,"available":5}]}],
 "wms":{"token":"wtok","inventory":[]}}
JSON
"$BIN" --port "$PORT" --seed "$TMP/seed.json" 2>"$TMP/log" &
PID=$!
cleanup() { kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; rm -rf "$TMP"; }
trap cleanup EXIT
for _ in $(seq 50); do curl -sf "$B/_control/health" >/dev/null && break; sleep 0.1; done

check() { # name, jq expression that must be true, json
    if echo "$3" | jq -e "$2" >/dev/null; then echo "ok - $1"; else echo "not ok - $1: $3"; fails=$((fails+1)); fi
}
gql() { # query, variables
    curl -s "$G" -H 'X-Shopify-Access-Token: tok-a' -H 'Content-Type: application/json' \
        -d "$(jq -nc --arg q "$1" --argjson v "${2:-{\}}" '{query:$q, variables:$v}')"
}
SETQ='mutation S($input: InventorySetQuantitiesInput!, $k: String!) { inventorySetQuantities(input: $input) @idempotent(key: $k) { inventoryAdjustmentGroup { id changes(quantityNames: ["available","on_hand"]) { name delta quantityAfterChange } } userErrors { code field message } } }'
inp() { jq -nc --arg k "$1" --argjson qs "$2" '{k:$k, input:{name:"available", reason:"correction", referenceDocumentUri:"gid://dh/T/1", quantities:$qs}}'; }
Q1='[{"inventoryItemId":"gid://shopify/InventoryItem/300","locationId":"gid://shopify/Location/11","quantity":7,"changeFromQuantity":null}]'

r=$(curl -s "$G" -H 'X-Shopify-Access-Token: nope' -d '{"query":"{ locations(first:1){ nodes { id } } }"}')
check "bad token -> 401 message" '.errors | startswith("[API] Invalid API key")' "$r"
tok=$(curl -s "$B/shops/$SHOP/admin/oauth/access_token" -d 'grant_type=client_credentials&client_id=cid&client_secret=csec' | jq -r .access_token)
r=$(curl -s "$G" -H "X-Shopify-Access-Token: $tok" -d '{"query":"{ locations(first: 5) { nodes { id name } } }"}')
check "client-credentials token accepted" '.data.locations.nodes | length == 2' "$r"
r=$(gql 'query($q: String!) { productVariants(first: 10, query: $q) { nodes { id sku } } }' '{"q":"sku:200"}')
check "fuzzy sku search returns 2001 too" '[.data.productVariants.nodes[].sku] | (index("200") != null and index("2001") != null)' "$r"
r=$(gql 'mutation($input: InventorySetQuantitiesInput!) { inventorySetQuantities(input: $input) { userErrors { code } } }' "$(inp x "$Q1")")
check "missing @idempotent -> BAD_REQUEST" '.errors[0].extensions.code == "BAD_REQUEST"' "$r"
r=$(gql "$SETQ" "$(inp k0 '[{"inventoryItemId":"gid://shopify/InventoryItem/300","locationId":"gid://shopify/Location/11","quantity":7}]')")
check "no changeFromQuantity -> COMPARE_QUANTITY_REQUIRED" '.data.inventorySetQuantities.userErrors[0].code == "COMPARE_QUANTITY_REQUIRED"' "$r"
r=$(gql "$SETQ" "$(inp k1 "$Q1")")
check "set available 10->7" '.data.inventorySetQuantities.inventoryAdjustmentGroup.changes[0].quantityAfterChange == 7' "$r"
r2=$(gql "$SETQ" "$(inp k1 "$Q1")")
check "same key same vars -> first response verbatim" "(.data == $(echo "$r" | jq -c .data))" "$r2"
r=$(gql "$SETQ" "$(inp k1 '[{"inventoryItemId":"gid://shopify/InventoryItem/300","locationId":"gid://shopify/Location/11","quantity":8,"changeFromQuantity":null}]')")
check "same key other vars -> IDEMPOTENCY_KEY_PARAMETER_MISMATCH" '.data.inventorySetQuantities.userErrors[0].code == "IDEMPOTENCY_KEY_PARAMETER_MISMATCH"' "$r"
r=$(gql "$SETQ" "$(inp k2 '[{"inventoryItemId":"gid://shopify/InventoryItem/300","locationId":"gid://shopify/Location/11","quantity":9,"changeFromQuantity":3}]')")
check "stale CAS -> CHANGE_FROM_QUANTITY_STALE + path" '.data.inventorySetQuantities.userErrors[0] | .code == "CHANGE_FROM_QUANTITY_STALE" and .field == ["input","quantities","0","changeFromQuantity"]' "$r"
r=$(gql "$SETQ" "$(inp k3 '[{"inventoryItemId":"gid://shopify/InventoryItem/300","locationId":"gid://shopify/Location/11","quantity":1,"changeFromQuantity":null},{"inventoryItemId":"gid://shopify/InventoryItem/300","locationId":"gid://shopify/Location/11","quantity":2,"changeFromQuantity":null}]')")
check "duplicate pair -> NO_DUPLICATE_INVENTORY_ITEM_ID_GROUP_ID_PAIR" '.data.inventorySetQuantities.userErrors[0].code == "NO_DUPLICATE_INVENTORY_ITEM_ID_GROUP_ID_PAIR"' "$r"
r=$(gql "$SETQ" "$(inp k4 '[{"inventoryItemId":"gid://shopify/InventoryItem/999","locationId":"gid://shopify/Location/11","quantity":1,"changeFromQuantity":null},{"inventoryItemId":"gid://shopify/InventoryItem/300","locationId":"gid://shopify/Location/99","quantity":1,"changeFromQuantity":null},{"inventoryItemId":"gid://shopify/InventoryItem/301","locationId":"gid://shopify/Location/12","quantity":1,"changeFromQuantity":null},{"inventoryItemId":"gid://shopify/InventoryItem/301","locationId":"gid://shopify/Location/11","quantity":-1,"changeFromQuantity":null}]')")
check "item/location/not-stocked/negative refusals" '[.data.inventorySetQuantities.userErrors[].code] == ["INVALID_INVENTORY_ITEM","INVALID_LOCATION","ITEM_NOT_STOCKED_AT_LOCATION","INVALID_QUANTITY_NEGATIVE"]' "$r"
lv=$(curl -s "$B/_control/shops/$SHOP/levels?sku=200")
check "all-or-nothing: level still 7" '.locations.WH1.available == 7' "$lv"
big=$(jq -nc '[range(251) | {inventoryItemId:"gid://shopify/InventoryItem/300",locationId:"gid://shopify/Location/11",quantity:1,changeFromQuantity:null}]')
r=$(gql "$SETQ" "$(inp k5 "$big")")
check "251 quantities -> MAX_INPUT_SIZE_EXCEEDED" '.errors[0].extensions.code == "MAX_INPUT_SIZE_EXCEEDED"' "$r"
r=$(gql 'mutation { inventorySetQuantities(input: {name: "available", reason: "correction", quantities: [{inventoryItemId: "gid://shopify/InventoryItem/300", locationId: "gid://shopify/Location/11", quantity: 1, compareQuantity: 7}]}) @idempotent(key: "z") { userErrors { code } } }')
check "compareQuantity -> validation error" '.errors[0].message | test("compareQuantity")' "$r"

# Orders: available -= q, committed += q; webhooks off (no webhook_url); fulfillment lowers committed.
o=$(curl -s "$B/_control/shops/$SHOP/orders" -d '{"line_items":[{"sku":"200","quantity":2,"price":"10.00"}]}')
lv=$(curl -s "$B/_control/shops/$SHOP/levels?sku=200")
check "order placement: available 5, committed 2, on_hand 7" '.locations.WH1 | .available == 5 and .committed == 2 and .on_hand == 7' "$lv"
oid=$(echo "$o" | jq -r .admin_graphql_api_id)
r=$(gql 'query($id: ID!) { order(id: $id) { fulfillmentOrders(first: 5) { nodes { id status lineItems(first: 10) { nodes { id remainingQuantity } } } } } }' "$(jq -nc --arg id "$oid" '{id:$id}')")
fo=$(echo "$r" | jq -r '.data.order.fulfillmentOrders.nodes[0].id')
li=$(echo "$r" | jq -r '.data.order.fulfillmentOrders.nodes[0].lineItems.nodes[0].id')
FC='mutation($f: FulfillmentInput!) { fulfillmentCreate(fulfillment: $f) { fulfillment { id status } userErrors { field message } } }'
fv() { jq -nc --arg fo "$fo" --arg li "$li" --argjson q "$1" '{f:{notifyCustomer:false, trackingInfo:{company:"DHL Express", number:"TRK-XYZ-1", url:"https://t.example/TRK-XYZ-1"}, lineItemsByFulfillmentOrder:[{fulfillmentOrderId:$fo, fulfillmentOrderLineItems:[{id:$li, quantity:$q}]}]}}'; }
r=$(gql "$FC" "$(fv 3)")
check "fulfil more than remaining -> userError" '.data.fulfillmentCreate.userErrors | length == 1' "$r"
r=$(gql "$FC" "$(fv 2)")
check "fulfillmentCreate ok" '.data.fulfillmentCreate.fulfillment.status == "SUCCESS"' "$r"
fid=$(echo "$r" | jq -r .data.fulfillmentCreate.fulfillment.id)
lv=$(curl -s "$B/_control/shops/$SHOP/levels?sku=200")
check "shipped: committed 0, on_hand 5" '.locations.WH1 | .available == 5 and .committed == 0 and .on_hand == 5' "$lv"
n=$(curl -s "$B/_journal?op=fulfillmentCreate&contains=TRK-XYZ-1" | jq -s '[.[] | select(.response | test("\"SUCCESS\""))] | length')
check "journal: exactly one fulfillment created for TRK-XYZ-1" '. == 1' "$n"
# Refunds, cancellation and setting on_hand (docs/sandbox.md "Inventory quantities").
lid=$(echo "$o" | jq -r '.line_items[0].id')
lvl() { curl -s "$B/_control/shops/$SHOP/levels?sku=200" | jq -c .locations.WH1; }
r=$(curl -s "$B/_control/shops/$SHOP/orders/$(echo "$o" | jq -r .id)/refund" -d "{\"refund_line_items\":[{\"line_item_id\":$lid,\"quantity\":1,\"restock_type\":\"return\"}],\"deliver\":false}")
check "refunds/create body: the line item (sku) nested, the restock location" '.refund_line_items[0] | .line_item.sku == "200" and .restock_type == "return" and (.location_id | tostring | test("11"))' "$r"
check "RETURN refund of a shipped unit: on_hand 6, committed 0" '.available == 6 and .committed == 0 and .on_hand == 6' "$(lvl)"
o2=$(curl -s "$B/_control/shops/$SHOP/orders" -d '{"line_items":[{"sku":"200","quantity":3,"price":"10.00"}],"deliver":false}')
check "second order: available 3, committed 3, on_hand 6" '.available == 3 and .committed == 3 and .on_hand == 6' "$(lvl)"
r=$(gql "$SETQ" "$(jq -nc '{k:"onh-1", input:{name:"on_hand", reason:"correction", referenceDocumentUri:"gid://dh/T/2", quantities:[{inventoryItemId:"gid://shopify/InventoryItem/300", locationId:"gid://shopify/Location/11", quantity:10, changeFromQuantity:null}]}}')")
check "set on_hand 10: committed kept 3, available 7" '.available == 7 and .committed == 3 and .on_hand == 10' "$(lvl)"
lid2=$(echo "$o2" | jq -r '.line_items[0].id')
curl -s "$B/_control/shops/$SHOP/orders/$(echo "$o2" | jq -r .id)/refund" -d "{\"refund_line_items\":[{\"line_item_id\":$lid2,\"quantity\":1,\"restock_type\":\"cancel\"}],\"deliver\":false}" >/dev/null
check "CANCEL refund of an unshipped unit: committed 2, available 8, on_hand 10" '.available == 8 and .committed == 2 and .on_hand == 10' "$(lvl)"
curl -s "$B/_control/shops/$SHOP/orders/$(echo "$o2" | jq -r .id)/cancel" -d '{"deliver":false}' >/dev/null
check "cancelling the unfulfilled rest: committed 0, available 10, on_hand 10" '.available == 10 and .committed == 0 and .on_hand == 10' "$(lvl)"
curl -s "$B/_control/shops/$SHOP/orders/$(echo "$o" | jq -r .id)/refund" -d "{\"refund_line_items\":[{\"line_item_id\":$lid,\"quantity\":1,\"restock_type\":\"no_restock\"}],\"deliver\":false}" >/dev/null
check "NO_RESTOCK refund: levels unchanged" '.available == 10 and .committed == 0 and .on_hand == 10' "$(lvl)"
r=$(gql 'mutation($e: FulfillmentEventInput!) { fulfillmentEventCreate(fulfillmentEvent: $e) { fulfillmentEvent { id status } userErrors { field message } } }' "$(jq -nc --arg f "$fid" '{e:{fulfillmentId:$f, status:"RTO"}}')")
check "bad event status -> error" '.errors[0].extensions.code == "INVALID_VARIABLE"' "$r"

# WMS idempotency
W=$B/wms/v1/sales-orders
SO='{"store":"a","channel_order_id":"1","order_name":"#1","status":"OPEN","currency":"INR","created_at":"2026-05-01T00:00:00Z","lines":[{"channel_line_item_id":"1","sku":"200","quantity":1,"unit_price":"1.00"}]}'
s1=$(curl -s -o /dev/null -w '%{http_code}' "$W" -H 'Authorization: Bearer wtok' -d "$SO")
s2=$(curl -s -o /dev/null -w '%{http_code}' "$W" -H 'Authorization: Bearer wtok' -H 'Idempotency-Key: i1' -d "$SO")
h3=$(curl -s -D - -o /dev/null "$W" -H 'Authorization: Bearer wtok' -H 'Idempotency-Key: i1' -d "$SO" | tr -d '\r')
s4=$(curl -s -o /dev/null -w '%{http_code}' "$W" -H 'Authorization: Bearer wtok' -H 'Idempotency-Key: i1' -d '{"store":"b"}')
check "WMS: 400 without key, 201, replay header, 409 mismatch" '. == true' "$( [[ $s1 == 400 && $s2 == 201 && $h3 == *"Idempotent-Replayed: true"* && $s4 == 409 ]] && echo true || echo false)"

# Order lifecycle (issue #11): fulfillment orders per location, holds, edits, payment.
o=$(curl -s "$B/_control/shops/$SHOP/orders" -d '{"line_items":[{"sku":"200","quantity":2,"price":"10.00"},{"sku":"2001","quantity":1,"price":"12.50","location_id":12},{"title":"Gift card","price":"5.00","quantity":1,"gift_card":true}],"gateway":"Cash on Delivery (COD)"}')
check "split order: one fulfillment order per location" '.fulfillment_order_ids | length == 2' "$o"
check "gift card: no shipping, no variant; current_quantity; COD pending with outstanding" '(.line_items[2] | .requires_shipping == false and .variant_id == null and .fulfillable_quantity == 0) and .line_items[0].current_quantity == 2 and .financial_status == "pending" and .total_outstanding == "37.50"' "$o"
oid=$(echo "$o" | jq .id); li0=$(echo "$o" | jq '.line_items[0].id')
r=$(curl -s "$B/_control/shops/$SHOP/orders/$oid/holds" -d '{"reason":"INCORRECT_ADDRESS","reason_notes":"no such street"}')
check "hold: both fulfillment orders held with the reason" '[.fulfillment_holds[].reason] == ["incorrect_address","incorrect_address"]' "$r"
r=$(gql "{ order(id: \"gid://shopify/Order/$oid\") { fulfillmentOrders(first: 5) { nodes { status supportedActions { action } fulfillmentHolds { reason } } } } }")
check "GraphQL: ON_HOLD, RELEASE_HOLD only, hold reason enum" '[.data.order.fulfillmentOrders.nodes[] | .status == "ON_HOLD" and .supportedActions == [{"action":"RELEASE_HOLD"}] and .fulfillmentHolds[0].reason == "INCORRECT_ADDRESS"] == [true,true]' "$r"
curl -s "$B/_control/shops/$SHOP/orders/$oid/release-hold" -d '{}' >/dev/null
r=$(curl -s "$B/_control/shops/$SHOP/orders/$oid")
check "release: fulfillment orders OPEN, holds gone" '[.fulfillment_orders[] | .status == "OPEN" and (.holds | length) == 0] == [true,true]' "$r"
r=$(curl -s "$B/_control/shops/$SHOP/orders/$oid/edit" -d "{\"set_quantity\":[{\"line_item_id\":$li0,\"quantity\":1}],\"add\":[{\"sku\":\"200\",\"quantity\":1,\"price\":\"2.50\"}]}")
check "edit: quantity kept, current_quantity lowered, line added, outstanding follows" '.line_items[0].quantity == 2 and .line_items[0].current_quantity == 1 and (.line_items | length) == 4 and .total_outstanding == "30.00"' "$r"
r=$(curl -s "$B/_control/shops/$SHOP/orders/$oid/mark-paid" -d '{}')
check "mark-paid: paid, nothing outstanding" '.financial_status == "paid" and .total_outstanding == "0.00"' "$r"
r=$(curl -s "$B/_control/shops/$SHOP/orders/$oid/holds" -d '{"reason":"BECAUSE"}')
check "hold with an unknown reason -> 422" '.error | test("FulfillmentHoldReason")' "$r"

# Throttle follows the leaky bucket: drain with expensive queries, wait, compare restore.
DRAIN='{ productVariants(first: 240) { nodes { id inventoryItem { id } product { id } } } }'
for _ in 1 2 3; do gql "$DRAIN" >/dev/null; done
s0=$(date +%s.%N)
r=$(gql "$DRAIN")
e0=$(date +%s.%N)
check "drained bucket -> THROTTLED with HTTP 200" '.errors[0].extensions.code == "THROTTLED" and .extensions.cost.actualQueryCost == null' "$r"
a0=$(echo "$r" | jq .extensions.cost.throttleStatus.currentlyAvailable)
sleep 2 # how long the bucket refills; the check below does not depend on it
s1=$(date +%s.%N)
r=$(gql '{ locations(first: 1) { nodes { id } } }')
e1=$(date +%s.%N)
a1=$(echo "$r" | jq '.extensions.cost.throttleStatus.currentlyAvailable + .extensions.cost.actualQueryCost')
# The sandbox read its clock for a0 between s0 and e0 and for a1 between s1 and e1, so at
# 50 points/s the refill lies between 50*(s1-e0) and 50*(e1-s0) (one point of rounding;
# the bucket holds 1000), however slow the machine: a bound, not a speed.
check "restore at 50/s (between 50*(s1-e0) and 50*(e1-s0))" '. == true' "$(jq -n --argjson a0 "$a0" --argjson a1 "$a1" --argjson s0 "$s0" --argjson e0 "$e0" --argjson s1 "$s1" --argjson e1 "$e1" '($a1-$a0) as $d | ([50*($s1-$e0), 1000-$a0] | min) as $lo | ($d >= $lo - 1 and $d <= 50*($e1-$s0) + 1)')"
r=$(gql '{ productVariants(first: 250) { nodes { id inventoryItem { id inventoryLevels(first: 10) { nodes { id } } } } } }')
check "query over 1000 -> MAX_COST_EXCEEDED" '.errors[0].extensions.code == "MAX_COST_EXCEEDED"' "$r"

# Faults
curl -s "$B/_control/faults" -d '{"group":"wms","error_rate":1,"error_status":503,"count":1}' >/dev/null
s=$(curl -s -o /dev/null -w '%{http_code}' "$B/wms/v1/inventory/sellable" -H 'Authorization: Bearer wtok')
s2=$(curl -s -o /dev/null -w '%{http_code}' "$B/wms/v1/inventory/sellable" -H 'Authorization: Bearer wtok')
check "fault count=1: one 503 then 200" '. == true' "$( [[ $s == 503 && $s2 == 200 ]] && echo true || echo false)"
curl -s -X DELETE "$B/_control/faults" >/dev/null
# A shop's own rule: its requests fail, another shop's pass (many-store runs).
curl -s "$B/_control/faults" -d '{"group":"shopify","shop":"other.myshopify.com","error_rate":1,"error_status":503}' >/dev/null
s=$(curl -s -o /dev/null -w '%{http_code}' "$B/shops/other.myshopify.com/admin/api/2026-04/graphql.json" -H 'X-Shopify-Access-Token: tok-a' -H 'Content-Type: application/json' -d '{"query":"{ shop { name } }"}')
s2=$(curl -s -o /dev/null -w '%{http_code}' "$G" -H 'X-Shopify-Access-Token: tok-a' -H 'Content-Type: application/json' -d '{"query":"{ shop { name } }"}')
check "shop rule: that shop 503, $SHOP not" '. == true' "$( [[ $s == 503 && $s2 == 200 ]] && echo true || echo false)"
check "shop rule listed with its shop" '.faults[0].shop == "other.myshopify.com"' "$(curl -s "$B/_control/faults")"
curl -s -X DELETE "$B/_control/faults" >/dev/null

# A drained bucket (control endpoint): the next call is THROTTLED with no effect, and the
# bucket restores from 0 at its rate (a bound on the refill, not a speed).
d0=$(date +%s.%N)
b=$(curl -s -X PUT "$B/_control/shops/$SHOP/bucket" -d '{"available":0}')
check "bucket drained to 0" '.currentlyAvailable == 0 and .maximumAvailable == 1000 and .restoreRate == 50' "$b"
r=$(gql '{ locations(first: 5) { nodes { id } } }')
d1=$(date +%s.%N)
check "drained bucket -> THROTTLED, no data" '.errors[0].extensions.code == "THROTTLED" and .data == null' "$r"
check "throttleStatus after drain is what restored since" ". == true" "$(jq -n --argjson r "$r" --argjson d0 "$d0" --argjson d1 "$d1" '$r.extensions.cost.throttleStatus.currentlyAvailable <= 50 * ($d1 - $d0) + 1')"
check "PUT bucket without available -> 400" '. == "400"' "\"$(curl -s -o /dev/null -w '%{http_code}' -X PUT "$B/_control/shops/$SHOP/bucket" -d '{}')\""
check "GET bucket" '.maximumAvailable == 1000' "$(curl -s "$B/_control/shops/$SHOP/bucket")"
curl -s -X PUT "$B/_control/shops/$SHOP/bucket" -d '{"available":1000}' >/dev/null

# 2026-10 removed ITEM_NOT_STOCKED_AT_LOCATION: a set at a location the item is not stocked
# at stocks it there (shopify.dev/changelog/removal-of-itemnotstockedatlocation-error); a
# call that fails as a whole stocks nothing.
G10=$B/shops/$SHOP/admin/api/2026-10/graphql.json
gql10() { curl -s "$G10" -H 'X-Shopify-Access-Token: tok-a' -H 'Content-Type: application/json' \
    -d "$(jq -nc --arg q "$1" --argjson v "$2" '{query:$q, variables:$v}')"; }
r=$(gql10 "$SETQ" "$(inp k10a '[{"inventoryItemId":"gid://shopify/InventoryItem/300","locationId":"gid://shopify/Location/12","quantity":4,"changeFromQuantity":null},{"inventoryItemId":"gid://shopify/InventoryItem/999","locationId":"gid://shopify/Location/12","quantity":1,"changeFromQuantity":null}]')")
check "2026-10: only INVALID_INVENTORY_ITEM refused" '[.data.inventorySetQuantities.userErrors[].code] == ["INVALID_INVENTORY_ITEM"]' "$r"
lv=$(curl -s "$B/_control/shops/$SHOP/levels?sku=200")
check "2026-10: a refused call stocks nothing" '.locations.WH2 == null' "$lv"
r=$(gql10 "$SETQ" "$(inp k10b '[{"inventoryItemId":"gid://shopify/InventoryItem/300","locationId":"gid://shopify/Location/12","quantity":4,"changeFromQuantity":null}]')")
check "2026-10: set at an unstocked location applied" '.data.inventorySetQuantities.userErrors == [] and .data.inventorySetQuantities.inventoryAdjustmentGroup.changes[0].quantityAfterChange == 4' "$r"
lv=$(curl -s "$B/_control/shops/$SHOP/levels?sku=200")
check "2026-10: the item is now stocked there" '.locations.WH2.available == 4' "$lv"

kill -TERM "$PID"; wait "$PID"; rc=$?
check "clean SIGTERM exit" '. == 0' "$rc"
trap 'rm -rf "$TMP"' EXIT
echo "$fails failed"
exit $(( fails > 0 ))
