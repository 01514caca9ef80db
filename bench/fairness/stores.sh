# shellcheck shell=bash
# bench/fairness/stores.sh: the sandbox and stores both fairness scripts run against (run.sh,
# burst-memory.sh), sourced after they set BUILD, TMP, BASE, SANDBOX_PORT, BUCKET, RESTORE,
# REDIS, KAFKA, T1, T1_SKUS and wrote "$TMP/all.txt" ("domain skus" per store). Every store is
# generated alike, so its ids are too: location 1000001, then product, variant, item per SKU
# (fair_ids checks it).

# fair_sandbox [dh-sandbox args...]: the seed of every store in all.txt, and the sandbox.
fair_sandbox() {
    awk -v b="$BUCKET" -v r="$RESTORE" 'BEGIN{printf "{\"stores\":["}
        {printf "%s{\"domain\":\"%s\",\"access_token\":\"shpat_%d\",\"bucket_size\":%d,\"restore_rate\":%d,\"api_version\":\"2026-04\",\"generate\":{\"products\":%d,\"variants_per_product\":1,\"sku_prefix\":\"SKU-\",\"locations\":1,\"available\":0}}", (NR > 1 ? ",\n" : ""), $1, NR, b, r, $2}
        END{print "],\"wms\":{\"token\":\"wms-token\",\"inventory\":[]}}"}' "$TMP/all.txt" >"$TMP/seed.json"
    "$BUILD/sandbox/dh-sandbox" --host 127.0.0.1 --port "$SANDBOX_PORT" --seed "$TMP/seed.json" \
        "$@" >"$TMP/sandbox.log" 2>&1 &
    PIDS+=($!)
    for _ in $(seq 600); do curl -sf "$BASE/_control/health" >/dev/null && break; sleep 0.1; done
    curl -sf "$BASE/_control/health" >/dev/null || { echo "sandbox did not start" >&2; cat "$TMP/sandbox.log" >&2; exit 1; }
}

gql() { # domain token query(JSON string) -> response
    curl -sf "$BASE/shops/$1/admin/api/2026-04/graphql.json" -H "X-Shopify-Access-Token: $2" \
        -H 'Content-Type: application/json' -d "{\"query\":$3}"
}
item_of() { # domain token sku -> inventory item number
    gql "$1" "$2" "\"{ productVariants(first: 5, query: \\\"sku:$3\\\") { nodes { sku inventoryItem { id } } } }\"" |
        jq -r ".data.productVariants.nodes[] | select(.sku==\"$3\") | .inventoryItem.id" | sed 's|.*/||'
}

# fair_ids <T1's token>: ITEM_BASE, ITEM_STEP and LOCATION read from the first store, and
# checked against T1's last SKU.
fair_ids() {
    local one two
    one=$(item_of "$ID-s1.myshopify.com" shpat_1 SKU-1)
    two=$(item_of "$ID-s1.myshopify.com" shpat_1 SKU-2)
    ITEM_STEP=$((two - one))
    ITEM_BASE=$((one - ITEM_STEP))
    LOCATION=$(gql "$ID-s1.myshopify.com" shpat_1 '"{ locations(first: 5) { nodes { id } } }"' | jq -r '.data.locations.nodes[0].id')
    [ "$ITEM_STEP" -gt 0 ] && [ -n "$LOCATION" ] || { echo "cannot read the sandbox's ids" >&2; exit 1; }
    [ "$(item_of "$T1" "$1" "SKU-$T1_SKUS")" = $((ITEM_BASE + ITEM_STEP * T1_SKUS)) ] ||
        { echo "the stores' ids are not alike" >&2; exit 1; }
}

# fair_stores <partitions>: the stores file, what dh-catalog would have written for every SKU
# (docs/catalogue.md), and the topic. Each store's full syncs (00:00/12:00) are put 6 hours
# away so none starts during a run.
fair_stores() {
    local tz
    tz=Etc/GMT-$(( ((6 - 10#$(date -u +%H)) % 12 + 12) % 12 ))
    awk -v url="$BASE" -v b="$BUCKET" -v r="$RESTORE" -v loc="$LOCATION" -v tz="$tz" 'BEGIN{printf "{\"stores\":["}
        {printf "%s{\"domain\":\"%s\",\"admin_url\":\"%s/shops/%s\",\"api_version\":\"2026-04\",\"access_token\":\"shpat_%d\",\"bucket_size\":%d,\"restore_rate\":%d,\"webhook_secrets\":[\"s\"],\"locations\":{\"F1\":\"%s\"},\"timezone\":\"%s\"}", (NR > 1 ? ",\n" : ""), $1, url, $1, NR, b, r, loc, tz}
        END{print "]}"}' "$TMP/all.txt" >"$TMP/stores.json"
    awk -v base="$ITEM_BASE" -v step="$ITEM_STEP" '{for (i = 1; i <= $2; i++)
        printf "SET dh:catalog:%s:sku:SKU-%d \047{\"inventory_item_id\":%d}\047 EX 7200\n", $1, i, base + step * i}' \
        "$TMP/all.txt" | redis-cli -u "$REDIS" --pipe >/dev/null
    DH_TEST_KAFKA="$KAFKA" "$BUILD/dh-inv-mktopic" "$TOPIC" "$1"
}
