#!/usr/bin/env bash
# bench/catalog/run.sh — the catalogue import (issue 14), one run on the local stack.
#
#  A. bulk: a generated store of N variants (default 100,000; 5 per product) imported by
#     dh-catalog through a Shopify bulk operation (the JSONL result streamed) into the WMS
#     sandbox: variants/s from the worker's start to dh_catalog_imports_total{outcome="done"},
#     Shopify query cost points spent per 1,000 variants, and the worker's peak resident
#     memory (VmHWM; goal <= 50 MB).
#  B. paginated: the same with DH_CATALOG_IMPORT_MODE=paginated (products(first: 5) x
#     variants(first: 25) pages) on NP variants (default 5,000: at Shopify's cost rates a
#     paginated import of the full store takes hours), in the same run.
# Both stores have the same bucket (SHOPIFY_BUCKET, SHOPIFY_RESTORE: default 20000 and
# 1000/s, Shopify Plus's restore rate), so what differs is the cost, not the plan.
#
# Not a test: prints a table, never fails on a goal. Needs: deploy/stack.sh up (and its env:
# DH_STACK_KAFKA_LIBS), bc, and a build with dh-catalog and dh-sandbox (BUILD, default
# build). Leaves the topic bench.catalog.<tag> and the stores' dh:catalog:* keys behind.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
KLIBS=${DH_STACK_KAFKA_LIBS:-} # the running stack's, before lib.sh sets this tree's default
. "$ROOT/deploy/lib.sh"        # port_open
. "$ROOT/bench/lib.sh"         # bench_free_port
KLIBS=${KLIBS:-$DH_STACK_KAFKA_LIBS}
BUILD=${BUILD:-$ROOT/build}
N=${N:-100000}
NP=${NP:-5000}
BUCKET=${SHOPIFY_BUCKET:-20000}
RESTORE=${SHOPIFY_RESTORE:-1000}
KAFKA=${DH_TEST_KAFKA:-127.0.0.1:39092}
REDIS=${DH_TEST_REDIS_URL:-redis://127.0.0.1:36379}
TAG=cb$$-$(date +%s)
WORK=$(mktemp -d /tmp/dh-bench-catalog.XXXXXX)
bench_free_port SB_PORT
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

store_seed() { # domain variants
    printf '{"domain": "%s", "access_token": "shpat_b", "api_version": "2026-10", "bulk_ms": 1000,
      "bucket_size": %s, "restore_rate": %s, "locations": [{"id": 11, "name": "WH1"}],
      "generate": {"products": %d, "variants_per_product": 5, "sku_prefix": "V-", "locations": 0}}' \
        "$1" "$BUCKET" "$RESTORE" $(($2 / 5))
}
store_file() { # domain
    printf '{"stores": [{"domain": "%s", "admin_url": "http://127.0.0.1:%s/shops/%s",
      "api_version": "2026-10", "access_token": "shpat_b", "webhook_secrets": ["x"],
      "bucket_size": %s, "restore_rate": %s}]}' "$1" "$SB_PORT" "$1" "$BUCKET" "$RESTORE"
}
printf '{"stores": [%s, %s], "wms": {"token": "wtok"}}\n' \
    "$(store_seed "bulk-$TAG.myshopify.com" "$N")" "$(store_seed "page-$TAG.myshopify.com" "$NP")" \
    >"$WORK/seed.json"
"$BUILD/sandbox/dh-sandbox" --host 127.0.0.1 --port "$SB_PORT" --seed "$WORK/seed.json" \
    --journal-capacity 1000 >"$WORK/sandbox.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 600); do curl -sf "http://127.0.0.1:$SB_PORT/_control/health" >/dev/null && break; sleep 0.1; done

# The worker's own topic (it consumes no webhook here: the import is what is measured).
java -Xmx256m -XX:TieredStopAtLevel=1 -cp "$KLIBS/*" org.apache.kafka.tools.TopicCommand \
    --bootstrap-server "$KAFKA" --create --if-not-exists --topic "bench.catalog.$TAG" \
    --partitions 6 --replication-factor 1 >"$WORK/topic.log" 2>&1 ||
    { echo "cannot create the topic (Kafka libs: $KLIBS): $WORK/topic.log" >&2; exit 1; }

metric() { # port name-with-labels
    { curl -s "http://127.0.0.1:$1/metrics" || true; } | awk -v m="$2" '$1 == m { print $2 }'
}
run() { # mode store-domain -> "seconds cost hwm_kb upserted"
    local mode=$1 store=$2 adm pid t0 t1 done_n cost hwm up
    bench_free_port adm
    store_file "$store" >"$WORK/stores-$mode.json"
    local unset=() # workers reject DH_* names they do not know: none leak in from this shell
    while IFS= read -r var; do unset+=(-u "$var"); done < <(compgen -e | grep -E '^(DH|KAFKA)_')
    t0=$(date +%s.%N)
    env "${unset[@]}" DH_KAFKA_BROKERS="$KAFKA" DH_REDIS_URL="$REDIS" DH_TOPICS="bench.catalog.$TAG" \
        DH_GROUP_ID="g.$TAG.$mode" DH_STORES_FILE="$WORK/stores-$mode.json" \
        DH_WMS_URL="http://127.0.0.1:$SB_PORT" DH_WMS_TOKEN=wtok DH_WMS_RATE=default=1000000 \
        DH_ADMIN_PORT="$adm" DH_LOG_LEVEL=warn DH_CATALOG_IMPORT_EVERY_H=24 \
        DH_CATALOG_IMPORT_MODE="$mode" DH_CATALOG_IMPORT_CHUNK_MS=60000 \
        DH_CATALOG_IMPORT_POLL_MS=200 \
        "$BUILD/dh-catalog" 2>"$WORK/catalog-$mode.log" &
    pid=$!
    PIDS+=("$pid")
    for _ in $(seq 72000); do # two hours at most
        done_n=$(metric "$adm" 'dh_catalog_imports_total{outcome="done"}')
        [ "${done_n:-0}" -ge 1 ] && break
        kill -0 "$pid" 2>/dev/null || { echo "dh-catalog ($mode) died: $WORK/catalog-$mode.log" >&2; exit 1; }
        sleep 0.1
    done
    t1=$(date +%s.%N)
    cost=$(metric "$adm" dh_catalog_import_cost_points_total)
    up=$(metric "$adm" 'dh_catalog_variants_total{outcome="upserted"}')
    hwm=$(awk '/^VmHWM/ { print $2 }' "/proc/$pid/status")
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    echo "$(echo "$t1 - $t0" | bc) ${cost:-0} ${hwm:-0} ${up:-0}"
}

read -r A_S A_COST A_HWM A_UP < <(run bulk "bulk-$TAG.myshopify.com")
read -r B_S B_COST B_HWM B_UP < <(run paginated "page-$TAG.myshopify.com")

printf '\ncatalogue import, %s (sandbox bucket %s, restore %s/s)\n' "$(date -u +%FT%TZ)" "$BUCKET" "$RESTORE"
printf '%-10s %9s %9s %10s %14s %12s\n' mode variants upserted variants/s "cost/1k var" "peak RSS MB"
awk -v s="$A_S" -v n="$N" -v u="$A_UP" -v c="$A_COST" -v h="$A_HWM" \
    'BEGIN { printf "%-10s %9d %9d %10.0f %14.1f %12.1f\n", "bulk", n, u, n / s, c * 1000 / n, h / 1024 }'
awk -v s="$B_S" -v n="$NP" -v u="$B_UP" -v c="$B_COST" -v h="$B_HWM" \
    'BEGIN { printf "%-10s %9d %9d %10.0f %14.1f %12.1f\n", "paginated", n, u, n / s, c * 1000 / n, h / 1024 }'
awk -v a="$A_COST" -v an="$N" -v b="$B_COST" -v bn="$NP" -v as="$A_S" -v bs="$B_S" 'BEGIN {
    if (a > 0) printf "paginated / bulk: %.0fx the cost points per variant, %.2fx the variants/s\n",
        (b / bn) / (a / an), (bn / bs) / (an / as) }'
echo "logs: $WORK"
