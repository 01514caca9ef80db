# Shared by bench/inventory/freshness.sh and full-sync.sh (sourced, not run): a sandbox
# store of SKUS one-variant products at one location, the catalogue records dh-inventory
# reads, a stores file, and dh-inventory replicas. Uses only public behaviour: the sandbox's
# control and GraphQL API, the catalogue worker's records (docs/catalogue.md), the worker's
# environment and /metrics.
# Needs: ROOT BUILD TMP SKUS BUCKET RESTORE SANDBOX_PORT; sets KAFKA REDIS DOMAIN BASE
# ITEM_BASE ITEM_STEP LOCATION; PIDS holds what to stop.

# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
bench_stack_env
ID="invbench-$$-$(date +%s)"
DOMAIN="$ID.myshopify.com"
BASE="http://127.0.0.1:$SANDBOX_PORT"
PIDS=()
trap bench_stop_pids EXIT

bench_need "$BUILD/dh-inventory" "$BUILD/sandbox/dh-sandbox" "$BUILD/dh-bench-inv" \
    "$BUILD/dh-inv-mktopic" curl jq redis-cli

# One GraphQL call to the sandbox store (query as a JSON string) -> its response.
inv_gql() {
    curl -sf "$BASE/shops/$DOMAIN/admin/api/2026-04/graphql.json" -H 'X-Shopify-Access-Token: shpat_x' \
        -H 'Content-Type: application/json' -d "{\"query\":$1}"
}

# The sandbox with the store (and the WMS rows in $TMP/wms.json when present: the control
# endpoint takes at most 10 MiB, 100,000 rows are 20), the ids Shopify
# gave SKU-1, SKU-2 and the location, and the catalogue records of every SKU.
inv_sandbox_up() {
    local one two
    cat >"$TMP/seed.json" <<EOF
{"stores":[{"domain":"$DOMAIN","access_token":"shpat_x","bucket_size":$BUCKET,"restore_rate":$RESTORE,
 "api_version":"2026-04","generate":{"products":$SKUS,"variants_per_product":1,"sku_prefix":"SKU-","locations":1,"available":0}}],
 "wms":{"token":"wms-token","inventory":
EOF
    if [ -f "$TMP/wms.json" ]; then cat "$TMP/wms.json" >>"$TMP/seed.json"; else echo "[]" >>"$TMP/seed.json"; fi
    echo "}}" >>"$TMP/seed.json"
    "$BUILD/sandbox/dh-sandbox" --host 127.0.0.1 --port "$SANDBOX_PORT" --seed "$TMP/seed.json" \
        --journal-capacity 200000 >"$TMP/sandbox.log" 2>&1 &
    PIDS+=($!)
    for _ in $(seq 300); do curl -sf "$BASE/_control/health" >/dev/null && break; sleep 0.1; done
    curl -sf "$BASE/_control/health" >/dev/null || { echo "sandbox did not start" >&2; exit 1; }
    one=$(inv_gql '"{ productVariants(first: 5, query: \"sku:SKU-1\") { nodes { sku inventoryItem { id } } } }"' |
        jq -r '.data.productVariants.nodes[] | select(.sku=="SKU-1") | .inventoryItem.id' | sed 's|.*/||')
    two=$(inv_gql '"{ productVariants(first: 5, query: \"sku:SKU-2\") { nodes { sku inventoryItem { id } } } }"' |
        jq -r '.data.productVariants.nodes[] | select(.sku=="SKU-2") | .inventoryItem.id' | sed 's|.*/||')
    LOCATION=$(inv_gql '"{ locations(first: 5) { nodes { id } } }"' | jq -r '.data.locations.nodes[0].id')
    ITEM_STEP=$((two - one))
    ITEM_BASE=$((one - ITEM_STEP))
    [ "$ITEM_STEP" -gt 0 ] && [ -n "$LOCATION" ] || { echo "cannot read the sandbox's ids" >&2; exit 1; }
    cat >"$TMP/stores.json" <<EOF
{"stores":[{"domain":"$DOMAIN","admin_url":"$BASE/shops/$DOMAIN","api_version":"2026-04","access_token":"shpat_x",
 "bucket_size":$BUCKET,"restore_rate":$RESTORE,"webhook_secrets":["s"],"locations":{"F1":"$LOCATION"}}]}
EOF
    # What dh-catalog writes for each variant (docs/catalogue.md); generated items are
    # numbered in SKU order, checked on SKU-1/SKU-2 above and on the last SKU here.
    awk -v n="$SKUS" -v d="$DOMAIN" -v b="$ITEM_BASE" -v s="$ITEM_STEP" 'BEGIN{for(i=1;i<=n;i++)
        printf "SET dh:catalog:%s:sku:SKU-%d \047{\"inventory_item_id\":%d}\047 EX 7200\n", d, i, b+s*i}' |
        redis-cli -u "$REDIS" --pipe >/dev/null
    local last
    last=$(inv_gql "\"{ productVariants(first: 5, query: \\\"sku:SKU-$SKUS\\\") { nodes { sku inventoryItem { id } } } }\"" |
        jq -r ".data.productVariants.nodes[] | select(.sku==\"SKU-$SKUS\") | .inventoryItem.id" | sed 's|.*/||')
    [ "$last" = "$((ITEM_BASE + ITEM_STEP * SKUS))" ] || { echo "item ids are not in SKU order" >&2; exit 1; }
}

# inv_workers N TOPIC [VAR=value...]: N dh-inventory replicas in one group; admin ports
# SANDBOX_PORT+1.. (their /metrics). A grace of 60 s keeps the 00:00/12:00 slot sync out
# of the run (it would start as soon as the replicas do); the full-sync bench asks for its own.
inv_workers() {
    local n=$1 topic=$2 r
    shift 2
    for r in $(seq "$n"); do
        # Only the worker's own variables: it refuses unknown DH_* ones (DH_STACK_*, DH_TEST_*).
        # shellcheck disable=SC2046 # one -u word per variable
        env $(env | grep -o '^DH_[A-Z0-9_]*' | sed 's/^/-u /') DH_KAFKA_BROKERS="$KAFKA" DH_REDIS_URL="$REDIS" DH_TOPICS="$topic" DH_GROUP_ID="g.$ID" \
            DH_ADMIN_PORT=$((SANDBOX_PORT + r)) DH_STORES_FILE="$TMP/stores.json" DH_WMS_URL="$BASE" \
            DH_WMS_TOKEN=wms-token DH_INVENTORY_SYNC_GRACE_S=60 DH_LOG_LEVEL=${LOG_LEVEL:-warn} "$@" \
            "$BUILD/dh-inventory" 2>>"$TMP/worker-$r.log" &
        PIDS+=($!)
    done
}

inv_journal() { # op -> JSON lines of that op in the store
    curl -sf "$BASE/_journal?group=shopify&shop=$DOMAIN&op=$1"
}
