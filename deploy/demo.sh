#!/usr/bin/env bash
# deploy/demo.sh: dockhand's main job on a local stack, narrated. Installs what is needed,
# builds, starts Kafka and Redis, the sandbox (standing in for Shopify, the WMS and Return
# Prime), the webhook gateway and the orders, inventory, dispatch, returns and catalogue
# workers, then:
#   1. the WMS puts stock away          -> Shopify's on_hand is set (inventory worker)
#   2. a shopper orders on Shopify      -> webhook -> gateway -> Kafka -> WMS sales order
#   3. the WMS puts more away before it -> Shopify never sells the ordered units twice
#      has allocated that order
#   4. the shopper cancels              -> the WMS order is cancelled
#   5. a second order ships and arrives -> WMS dispatch and delivery status -> Shopify
#                                          fulfillment and fulfillment event
#   6. a move between two online zones  -> acknowledged without a Shopify call
#   7. a return, both ways              -> Return Prime approval -> WMS return expectation;
#                                          WMS receipt + QC (one pass, one fail) -> Return
#                                          Prime shows it received and inspected per item
#   8. the merchant adds a product with -> one WMS SKU per variant, with its Style Code and
#      3 sizes, a "Style Code" option      one image (catalogue worker), and its stock
#      and two images                      reaches Shopify at the next putaway
# and shows the journal of what reached each service. The stack stays up afterwards
# (deploy/stack.sh down stops it); the demo's own processes stop when it ends.
# Options: --keep  leave the sandbox, gateway and workers running (Ctrl-C to stop).
#          --containers  the same walk against docker-compose.yml's containers under
#                   podman (deploy/containers.sh prepares podman and the base image): the
#                   images are built, the compose project "dockhand-demo" is started from
#                   fresh volumes and left running (podman-compose -p dockhand-demo down -v
#                   stops it). DH_HOST_PORT_KAFKA (29092) is the only host port it needs.
# shellcheck source-path=SCRIPTDIR
set -euo pipefail

# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

keep=0 containers=0
for arg in "$@"; do
    case "$arg" in
    --keep) keep=1 ;;
    --containers) containers=1 ;;
    *) die "unknown option '$arg' (--keep, --containers)" ;;
    esac
done
cd "$DH_ROOT"
BUILD="${DH_DEMO_BUILD_DIR:-build}"
SHOP=demo.myshopify.com
SB=http://127.0.0.1:38080
GW_PORT=38081
LOGS="$DH_STACK_DIR/logs"
DEMO_DIR="$DH_STACK_DIR/demo"
WMS_TOKEN=demo-wms-token
CONSOLE_PORT=39480
pids=()

stop_demo() {
    local rc=$?
    if ((${#pids[@]})); then
        kill -TERM "${pids[@]}" 2>/dev/null || true
        wait "${pids[@]}" 2>/dev/null || true
    fi
    exit "$rc"
}
trap stop_demo EXIT

say() { printf '\n\033[1m%s\033[0m\n' "$*"; }
show() { printf '    %s\n' "$*"; }

start_local() {
header "setup"
deploy/setup.sh
header "build ($BUILD/)"
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$BUILD" -j "$(nproc 2>/dev/null || echo 2)"
header "local stack"
deploy/stack.sh up
eval "$(deploy/stack.sh env)"

# A fresh Redis database for the demo: its sandbox starts empty each time, so records of
# an earlier demo (order ids, applied sequences) must not be mistaken for this one's.
redis-cli -p "${DH_STACK_REDIS_PORT:-36379}" -n 1 FLUSHDB >/dev/null
mkdir -p "$DEMO_DIR" "$LOGS"
sed "s#http://gateway:8080#http://127.0.0.1:$GW_PORT#g" deploy/compose/sandbox-seed.json \
    >"$DEMO_DIR/seed.json"
sed "s#http://sandbox:38080#$SB#g" deploy/compose/stores.json >"$DEMO_DIR/stores.json"

common_env=(DH_KAFKA_BROKERS=127.0.0.1:39092 DH_REDIS_URL=redis://127.0.0.1:36379/1
    DH_STORES_FILE="$DEMO_DIR/stores.json" DH_WMS_URL="$SB" DH_WMS_TOKEN="$WMS_TOKEN")
start() { # start <name> <binary> [VAR=value...]: only the given DH_*/KAFKA_* settings
    local name="$1" bin="$2" unset=()
    shift 2
    # Workers reject DH_* names they do not know, so none leak in from this shell.
    while IFS= read -r var; do unset+=(-u "$var"); done < <(compgen -e | grep -E '^(DH|KAFKA)_')
    env "${unset[@]}" "$@" "$BUILD/$bin" >>"$LOGS/demo-$name.log" 2>&1 &
    pids+=("$!")
}
header "demo processes (logs: $LOGS/demo-*.log)"
"$BUILD/sandbox/dh-sandbox" --host 127.0.0.1 --port 38080 --seed "$DEMO_DIR/seed.json" \
    >>"$LOGS/demo-sandbox.log" 2>&1 &
pids+=("$!")
start gateway dh-gateway DH_KAFKA_BROKERS=127.0.0.1:39092 \
    DH_REDIS_URL=redis://127.0.0.1:36379/1 DH_STORES_FILE="$DEMO_DIR/stores.json" \
    DH_GATEWAY_ADDR=127.0.0.1 DH_GATEWAY_PORT=$GW_PORT DH_ADMIN_PORT=39471
start orders dh-orders "${common_env[@]}" DH_ADMIN_PORT=39472 \
    DH_GROUP_ID=dockhand-demo-orders DH_ORDERS_RECONCILE_INTERVAL_S=0
start inventory dh-inventory "${common_env[@]}" DH_ADMIN_PORT=39473 \
    DH_GROUP_ID=dockhand-demo-inventory
start returns dh-returns "${common_env[@]}" DH_ADMIN_PORT=39475 \
    DH_GROUP_ID=dockhand-demo-returns DH_RETURNPRIME_URL="$SB/returnprime/return-exchange/v2"
# Shopify only: no WMS settings (it would reject them).
start dispatch dh-dispatch DH_KAFKA_BROKERS=127.0.0.1:39092 DH_REDIS_URL=redis://127.0.0.1:36379/1 \
    DH_STORES_FILE="$DEMO_DIR/stores.json" DH_ADMIN_PORT=39474 DH_GROUP_ID=dockhand-demo-dispatch
start catalog dh-catalog "${common_env[@]}" DH_ADMIN_PORT=39476 \
    DH_GROUP_ID=dockhand-demo-catalog DH_CATALOG_IMPORT_EVERY_H=0
for port in 39472 39473 39474 39475 39476; do
    wait_until 60 curl -fs "http://127.0.0.1:$port/readyz" ||
        die "worker on admin port $port not ready; see $LOGS/demo-*.log"
done
wait_until 30 curl -fs "http://127.0.0.1:39471/readyz" || die "gateway not ready"
# The on-call's console over the demo's workers, groups and Redis database.
start console dh-console DH_KAFKA_BROKERS=127.0.0.1:39092 \
    DH_REDIS_URL=redis://127.0.0.1:36379/1 DH_STORES_FILE="$DEMO_DIR/stores.json" \
    DH_CONSOLE_PORT=$CONSOLE_PORT DH_CONSOLE_REFRESH_S=0 \
    DH_CONSOLE_WORKERS=gateway=http://127.0.0.1:39471,orders=http://127.0.0.1:39472,inventory=http://127.0.0.1:39473,dispatch=http://127.0.0.1:39474,returns=http://127.0.0.1:39475,catalog=http://127.0.0.1:39476 \
    DH_CONSOLE_GROUPS=dockhand-demo-orders,dockhand-demo-inventory,dockhand-demo-dispatch,dockhand-demo-returns,dockhand-demo-catalog
log "sandbox, gateway, orders, inventory, dispatch, returns and catalogue workers are up"
log "console: http://127.0.0.1:$CONSOLE_PORT/"
}

# The compose stack under podman: fresh volumes, every service healthy by its own check.
PROJECT=dockhand-demo
start_containers() {
    local base s c ip
    header "podman and the base image"
    deploy/containers.sh
    base="$(deploy/containers.sh --print-base)"
    export DH_BASE_IMAGE="$base" DH_HOST_PORT_KAFKA="${DH_HOST_PORT_KAFKA:-29092}" \
        DH_HOST_PORT_SANDBOX="" DH_HOST_PORT_GATEWAY="" DH_HOST_PORT_GATEWAY_ADMIN="" \
        DH_HOST_PORT_ORDERS="" DH_HOST_PORT_INVENTORY="" DH_HOST_PORT_DISPATCH="" \
        DH_HOST_PORT_RETURNS="" DH_HOST_PORT_CATALOG=""
    header "images"
    podman build --format docker --build-arg DEBIAN_IMAGE="$base" -t "${DH_IMAGE:-dockhand:local}" .
    podman build --format docker --build-arg DEBIAN_IMAGE="$base" \
        -t "${DH_KAFKA_IMAGE:-dockhand-kafka:local}" -f deploy/kafka/Dockerfile deploy
    podman build --format docker --build-arg DEBIAN_IMAGE="$base" \
        -t "${DH_REDIS_IMAGE:-dockhand-redis:local}" -f deploy/redis/Dockerfile deploy
    header "podman-compose -p $PROJECT up"
    podman-compose -p "$PROJECT" down -v >/dev/null 2>&1 || true
    podman-compose -p "$PROJECT" up -d >"$LOGS/demo-compose-up.log" 2>&1 ||
        die "podman-compose up failed; see $LOGS/demo-compose-up.log"
    wait_until 240 podman healthcheck run "${PROJECT}_kafka_1" >/dev/null 2>&1 || die "kafka not healthy"
    [[ "$(timeout 240 podman wait "${PROJECT}_topic-init_1")" == 0 ]] || die "topic-init failed"
    log "topics created"
    for s in redis sandbox gateway orders inventory dispatch returns catalog; do
        c="${PROJECT}_${s}_1"
        wait_until 240 podman healthcheck run "$c" >/dev/null 2>&1 || die "$s not healthy (podman logs $c)"
        log "$s healthy"
    done
    ip() { podman inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "${PROJECT}_$1_1"; }
    SB="http://$(ip sandbox):38080"
    KAFKA="127.0.0.1:$DH_HOST_PORT_KAFKA"
    INV_ADMIN="http://$(ip inventory):9464"
    ADMINS=()
    for s in orders inventory dispatch returns catalog; do ADMINS+=("http://$(ip "$s"):9464"); done
    CATALOG_REPORT="podman exec ${PROJECT}_catalog_1 dh-catalog report"
}

KAFKA=127.0.0.1:39092
INV_ADMIN=http://127.0.0.1:39473
ADMINS=(http://127.0.0.1:39472 http://127.0.0.1:39473 http://127.0.0.1:39474 http://127.0.0.1:39475
    http://127.0.0.1:39476)
CATALOG_REPORT="$BUILD/dh-catalog report"
mkdir -p "$LOGS"
if ((containers)); then
    start_containers
    log "sandbox, gateway, orders, inventory, dispatch, returns and catalogue workers are up (containers)"
else
    start_local
fi

level() { # level <sku> <field>: the Shopify sandbox's quantity at the main warehouse
    curl -fs "$SB/_control/shops/$SHOP/levels?sku=$1" |
        jq -r --arg f "$2" '.locations["Main warehouse"][$f]'
}
level_is() { # level_is <sku> <field> <value>: for wait_until (evaluated on every try)
    [[ "$(level "$1" "$2")" == "$3" ]]
}
levels() {
    curl -fs "$SB/_control/shops/$SHOP/levels?sku=$1" |
        jq -r '.locations["Main warehouse"] | "on_hand \(.on_hand), committed \(.committed), available \(.available)"'
}
wms_order() {
    curl -s -H "Authorization: Bearer $WMS_TOKEN" "$SB/wms/v1/sales-orders/$SHOP/$1"
}
seq_no=$(date +%s)
putaway() { # putaway <sku> <good_online> <allocated> <qty>
    seq_no=$((seq_no + 1))
    jq -cn --arg sku "$1" --argjson g "$2" --argjson a "$3" --argjson q "$4" \
        --arg id "$(uuidgen)" --argjson seq "$seq_no" --arg at "$(date -u +%FT%TZ)" \
        '{schema_version:1, event_id:$id, event_type:"putaway", occurred_at:$at,
          tenant:"demo", facility:"FAC-1", sku:$sku, sequence:$seq,
          putaway:{putaway_id:("PA-"+$id[0:8]), zone:"A-01", zone_class:"online",
                   quantity:$q, qc_status:"GOOD"},
          stock:{good_online:$g, allocated:$a, safety_stock:0, damaged:0, quarantined:0,
                 good_offline:0}}' |
        kcat -P -b "$KAFKA" -t wms.putaway -k "demo|FAC-1|$1"
}

say "1. The WMS puts away 25 x TEE-S in an online zone (event on wms.putaway)"
putaway TEE-S 25 0 25
wait_until 30 level_is TEE-S on_hand 25 || die "Shopify stock was not set"
show "Shopify TEE-S: $(levels TEE-S)"

say "2. A shopper orders 2 x TEE-S on Shopify (webhook -> gateway -> Kafka -> orders worker -> WMS)"
order=$(curl -fs -XPOST "$SB/_control/shops/$SHOP/orders" \
    -d '{"line_items":[{"sku":"TEE-S","quantity":2,"price":"19.00"}]}' | jq -r .id)
show "Shopify order $order placed; Shopify TEE-S: $(levels TEE-S)"
wait_until 30 sh -c "curl -fs -H 'Authorization: Bearer $WMS_TOKEN' $SB/wms/v1/sales-orders/$SHOP/$order >/dev/null" ||
    die "the order did not reach the WMS"
show "WMS sales order: $(wms_order "$order" | jq -c '{channel_order_id, order_name, status, lines: [.lines[] | {sku, quantity}]}')"

say "3. The WMS puts away 5 more TEE-S before it has allocated that order (good_online 30, allocated 0)"
putaway TEE-S 30 0 5
wait_until 30 level_is TEE-S on_hand 30 || die "Shopify stock was not updated"
show "Shopify TEE-S: $(levels TEE-S)"
show "dockhand sets on_hand from physical stock and Shopify subtracts what it has committed:"
show "available is 28, not 30 - the 2 ordered units are not put back on sale."

say "4. The shopper cancels the order"
curl -fs -XPOST "$SB/_control/shops/$SHOP/orders/$order/cancel" -d '{}' >/dev/null
wait_until 30 sh -c "curl -fs -H 'Authorization: Bearer $WMS_TOKEN' $SB/wms/v1/sales-orders/$SHOP/$order | jq -e '.status == \"CANCELLED\"' >/dev/null" ||
    die "the cancellation did not reach the WMS"
show "WMS sales order: $(wms_order "$order" | jq -c '{channel_order_id, status}')"
show "Shopify TEE-S: $(levels TEE-S)"


say "5. The shopper orders 1 x TEE-S again; the WMS ships it and the courier delivers it"
order2=$(curl -fs -XPOST "$SB/_control/shops/$SHOP/orders" \
    -d '{"line_items":[{"sku":"TEE-S","quantity":1,"price":"19.00"}]}' | jq -r .id)
wait_until 30 sh -c "curl -fs -H 'Authorization: Bearer $WMS_TOKEN' $SB/wms/v1/sales-orders/$SHOP/$order2 >/dev/null" ||
    die "the second order did not reach the WMS"
so2=$(wms_order "$order2")
show "WMS sales order: $(jq -c '{channel_order_id, order_name, lines: [.lines[] | {sku, quantity, channel_line_item_id}]}' <<<"$so2")"
wms_dispatch() { # wms_dispatch <jq program building the event's own fields>: on wms.dispatch
    jq -c --arg id "$(uuidgen)" --arg at "$(date -u +%FT%TZ)" \
        "{schema_version:1, event_id:\$id, occurred_at:\$at, tenant:\"demo\", shipment_id:\"SHP-DEMO-1\",
          order:{channel_order_id, order_name}} + ($1)" <<<"$so2" |
        kcat -P -b "$KAFKA" -t wms.dispatch -k "demo|$order2"
}
wms_dispatch '{event_type:"dispatch", facility:"FAC-1", sequence:0,
    carrier:{company:"Delhivery", tracking_number:"1490800000001",
             tracking_url:"https://www.delhivery.com/track/package/1490800000001"},
    lines:[.lines[] | {sku, quantity, channel_line_item_id}]}'
fulfillments() {
    curl -fs "$SB/_control/shops/$SHOP/orders/$order2" | jq -c '[.fulfillments[] | {status,
        carrier: .tracking[0].company, tracking: .tracking[0].number, units: ([.lines[].quantity] | add),
        events: [.events[] | .status + " (" + .message + ")"]}]'
}
wait_until 30 sh -c "curl -fs $SB/_control/shops/$SHOP/orders/$order2 | jq -e '.fulfillments | length == 1' >/dev/null" ||
    die "no Shopify fulfillment for the dispatch"
wms_dispatch '{event_type:"delivery_status", status:"DELIVERED", sequence:1,
    carrier_status:"Delivered to consignee", happened_at:(now | todate)}'
wait_until 30 sh -c "curl -fs $SB/_control/shops/$SHOP/orders/$order2 | jq -e '[.fulfillments[].events[]?] | length >= 1' >/dev/null" ||
    die "no Shopify fulfillment event for the delivery"
show "Shopify fulfillment (wms.dispatch -> dispatch worker -> Shopify): $(fulfillments)"
say "6. A move between two online zones: acknowledged without calling Shopify"
seq_no=$((seq_no + 1))
jq -cn --arg id "$(uuidgen)" --argjson seq "$seq_no" --arg at "$(date -u +%FT%TZ)" \
    '{schema_version:1, event_id:$id, event_type:"zone_move", occurred_at:$at, tenant:"demo",
      facility:"FAC-1", sku:"TEE-S", sequence:$seq,
      move:{move_id:("MV-"+$id[0:8]), quantity:3, from_zone:"A-01", from_class:"online",
            to_zone:"A-02", to_class:"online"},
      stock:{good_online:30, allocated:0, safety_stock:0, damaged:0, quarantined:0,
             good_offline:0}}' |
    kcat -P -b "$KAFKA" -t wms.zone_move -k "demo|FAC-1|TEE-S"
moved() { curl -fs "$INV_ADMIN/metrics" | grep -q '^dh_inventory_moves_without_call_total[^ ]* [1-9]'; }
wait_until 30 moved || die "the zone move was not acknowledged"
show "$(curl -fs "$INV_ADMIN/metrics" | grep '^dh_inventory_moves_without_call_total')"

say "7. A return, both ways: Return Prime approves it, the WMS receives and QCs it"
order3=$(curl -fs -XPOST "$SB/_control/shops/$SHOP/orders" \
    -d '{"line_items":[{"sku":"TEE-M","quantity":1,"price":"19.00"},{"sku":"MUG-1","quantity":1,"price":"9.00"}]}')
o3=$(jq -r .id <<<"$order3")
wait_until 30 sh -c "curl -fs -H 'Authorization: Bearer $WMS_TOKEN' $SB/wms/v1/sales-orders/$SHOP/$o3 >/dev/null" ||
    die "the third order did not reach the WMS"
# Return Prime sends request/approved (signed) to the gateway -> returnprime.cir -> dh-returns.
jq -c --arg shop "$SHOP" '{store:$shop, type:"return", order_id:.id, order_name:.name,
    request_id:"RP-DEMO-1", request_number:"RET-DEMO-1", topic:"request/approved",
    lines:[.line_items[] | {line_item_id:.id, sku, quantity, reason:"Did not like it",
                           variant_id, product_id, price}]}' <<<"$order3" |
    curl -fs -XPOST "$SB/_control/returnprime/requests" -d @- >/dev/null
wms_return() { curl -fs -H "Authorization: Bearer $WMS_TOKEN" "$SB/wms/v1/returns/$SHOP/RP-DEMO-1"; }
wait_until 30 wms_return >/dev/null || die "the return did not reach the WMS"
show "WMS return expectation: $(wms_return | jq -c '{id, type, status, lines: [.lines[] | {sku, quantity}]}')"
# The returns dock receives the parcel; the WMS publishes the receipt with each line's QC.
curl -fs -XPOST "$SB/_control/wms/returns/receive" \
    -d "{\"store\":\"$SHOP\",\"return_request_id\":\"RP-DEMO-1\"}" >/dev/null
wms_return | jq -c --arg id "$(uuidgen)" --arg at "$(date -u +%FT%TZ)" '{schema_version:1,
    event_id:$id, event_type:"return_received", occurred_at:$at, store, return_id:.id,
    return_type:"CUSTOMER_RETURN", return_request_id, received_at:$at,
    lines:[.lines[] | {channel_line_item_id, sku, quantity,
                       qc_status:(if .sku == "MUG-1" then "FAIL" else "PASS" end)}
           | if .qc_status == "FAIL" then . + {qc_notes:"Chipped rim"} else . end]}' |
    kcat -P -b "$KAFKA" -t wms.return_received -k "$SHOP|$(wms_return | jq -r .id)"
rp_request() {
    curl -fs -H "x-rp-token: demo-returnprime-api-token" \
        "$SB/returnprime/return-exchange/v2/request/RP-DEMO-1"
}
wait_until 30 sh -c "curl -fs -H 'x-rp-token: demo-returnprime-api-token' $SB/returnprime/return-exchange/v2/request/RP-DEMO-1 | jq -e '.data.request.status == \"inspected\"' >/dev/null" ||
    die "Return Prime was not told of the receipt"
show "Return Prime request: $(rp_request | jq -c '.data.request | {status, received: .received.status,
    items: [.line_items[] | {sku: .original_product.sku, qc_status, inspection_notes}]}')"

say "8. The merchant adds a product: 3 sizes, a \"Style Code\" option, two images (the small size has its own)"
curl -fs -XPOST "$SB/_control/shops/$SHOP/products" -d '{"title": "Linen Shirt",
    "options": ["Size", "Style Code"],
    "images": ["https://cdn.example.com/linen-front.jpg", "https://cdn.example.com/linen-s.jpg"],
    "variants": [
      {"sku": "LINEN-S", "price": "1299.00", "option1": "S", "option2": "LS-100",
       "image": "https://cdn.example.com/linen-s.jpg"},
      {"sku": "LINEN-M", "price": "1299.00", "option1": "M", "option2": "LS-100"},
      {"sku": "LINEN-L", "price": "1349.00", "option1": "L", "option2": "LS-100"}]}' >/dev/null
wms_skus() {
    curl -fs "$SB/_journal?group=wms" | jq -cs '[.[] | select(.path | startswith("/wms/v1/skus/"))
        | select(.status == 200 or .status == 201) | .body | fromjson? // .
        | select(.sku | startswith("LINEN")) | {sku, style_code, image_url, price, status}]'
}
skus_in_wms() {
    [[ "$(curl -fs "$SB/_journal?group=wms" |
        jq -s '[.[] | select(.path | startswith("/wms/v1/skus/"))] | length')" -ge 3 ]]
}
wait_until 30 skus_in_wms || die "the product's SKUs did not reach the WMS"
show "WMS SKUs (products/create -> gateway -> Kafka -> catalogue worker -> WMS):"
wms_skus | jq -c '.[]' | sed 's/^/      /'
# Shopify stocks a new variant at the location (here: the sandbox's control endpoint).
curl -fs -XPUT "$SB/_control/shops/$SHOP/levels" \
    -d '{"sku": "LINEN-M", "location_id": 11, "available": 0}' >/dev/null
putaway LINEN-M 12 0 12
wait_until 30 level_is LINEN-M on_hand 12 || die "the new product's stock did not reach Shopify"
show "Shopify LINEN-M after its first putaway (no restart): $(levels LINEN-M)"
show "Duplicate-SKU report: $CATALOG_REPORT $SHOP (exit 0: none)"

say "What reached each service (the sandbox's journal; the GETs of the sales order are this demo checking)"
curl -fs "$SB/_journal" | jq -rs '
    [.[] | select(.path | startswith("/_") | not)
         | (if .group == "shopify" then "Shopify " + (.op // .path) else .group + " " + .method + " " + .path end)
           + " -> " + (.status | tostring)]
    | group_by(.) | map("    \(length) x \(.[0])") | .[]'
say "Events handled, by worker and outcome"
for url in "${ADMINS[@]}"; do
    curl -fs "$url/metrics" | grep '^dh_events_total' | grep -v ' 0$' |
        sed 's/^/    /'
done

# The console's pages as headless Chromium renders them. A failed screenshot is reported,
# never the demo's failure: everything above already happened.
screenshot() { # screenshot <path> <file>
    local dir
    dir="$(mktemp -d)"
    if timeout 60 chromium --headless --disable-gpu --hide-scrollbars --window-size=1280,900 \
        $( ((EUID == 0)) && echo --no-sandbox) --user-data-dir="$dir" \
        --screenshot="$DEMO_DIR/$2" "http://127.0.0.1:$CONSOLE_PORT$1" >/dev/null 2>&1 &&
        [[ -s "$DEMO_DIR/$2" ]]; then
        show "$DEMO_DIR/$2"
    else
        warn "no screenshot of the console's $1 (is chromium installed? deploy/setup.sh installs it)"
    fi
    rm -rf "$dir"
}
if ((containers)); then
    show "(the console is not part of the compose project: no screenshot)"
else
    say "The on-call's console (dh-console, http://127.0.0.1:$CONSOLE_PORT/), as a browser shows it"
    screenshot / console-pool.png
    screenshot /lag console-lag.png
    screenshot /stores console-stores.png
fi

if ((keep)); then
    say "Running; Ctrl-C stops the demo processes. Sandbox: $SB, journal: $SB/_journal"
    wait
fi
if ((containers)); then
    say "Done. The containers keep running; stop them with: podman-compose -p $PROJECT down -v"
else
    say "Done. The local stack keeps running; stop it with: deploy/stack.sh down"
fi
