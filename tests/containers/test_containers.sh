#!/usr/bin/env bash
# tests/containers/test_containers.sh: dockhand's containers for real, under podman
# (docs/deployment.md, "The container test"). Label `containers`, run by deploy/test.sh.
#  1. builds the three images (dockhand, Kafka from the local stack's jars, Redis) on the
#     local base image, with podman's layer cache;
#  2. brings docker-compose.yml up with podman-compose under a project of its own and waits
#     for every service's own health check (`podman healthcheck run`: podman-compose does
#     not wait for health), and for topic-init to exit 0;
#  3. an order (sandbox -> webhook -> gateway -> Kafka -> orders -> WMS) and a putaway
#     (Kafka -> inventory -> Shopify) go through the containers: counted in the sandbox's
#     journal, exactly once each;
#  4. replaces the compose orders and inventory containers with 3 dh-inventory and 2
#     dh-orders replicas (static membership: KAFKA_GROUP_INSTANCE_ID) and, while orders and
#     putaways flow, `podman kill`s one inventory replica, stops one orders replica with
#     SIGTERM and starts it again (a rolling restart), then starts the killed one again.
#     Each time it reports how long the group took to settle (every partition assigned to
#     a live replica) and fails beyond DH_CT_SETTLE_BOUND_S (60);
#  5. counts at the far side: every order created in the WMS exactly once, no Shopify
#     stock write performed twice, the last stock of every SKU reached Shopify; "nothing
#     more" is checked after a later marker order has gone through.
# A missing podman, podman-compose, kcat, jq or curl fails the test (never skipped).
# Images and the base are cached between runs; the compose project, its volumes and the
# replicas are removed at exit. Environment: DH_CT_KEEP=1 keeps them (debugging).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
# shellcheck source=../../deploy/lib.sh
. "$ROOT/deploy/lib.sh"
dh_prog=containers
cd "$ROOT"

T0="$(now_ms)"
PROJECT="dhct$$"
NET="${PROJECT}_default"
SHOP=demo.myshopify.com
WMS_TOKEN="$(cat deploy/compose/wms-token)"
BOUND_S="${DH_CT_SETTLE_BOUND_S:-60}"
SESSION_MS=10000
WORK="$(mktemp -d "${TMPDIR:-/tmp}/dh-containers.XXXXXX")"
REPLICAS=()
LOAD_PID=""
failures=0

elapsed() { printf '%d.%d s' $((($(now_ms) - $1) / 1000)) $((($(now_ms) - $1) % 1000 / 100)); }
pass() { printf 'ok: %s\n' "$*"; }
failed() {
    printf 'FAIL: %s\n' "$*"
    failures=$((failures + 1))
}

for c in podman podman-compose kcat jq curl; do
    command -v "$c" >/dev/null 2>&1 || die "$c not found: deploy/setup.sh installs it (this test never skips)"
done

compose() { podman-compose -p "$PROJECT" "$@"; }

cleanup() {
    local rc=$?
    [[ -z "$LOAD_PID" ]] || kill "$LOAD_PID" 2>/dev/null || true
    if [[ "${DH_CT_KEEP:-0}" == 1 ]]; then
        log "DH_CT_KEEP=1: leaving project $PROJECT and replicas ${REPLICAS[*]} running"
    else
        if ((${#REPLICAS[@]})); then
            podman rm -f -t 0 "${REPLICAS[@]}" >/dev/null 2>&1 || true
        fi
        compose down -v -t 5 >"$WORK/down.log" 2>&1 || true
        podman network rm -f "$NET" >/dev/null 2>&1 || true
        rm -rf "$WORK"
    fi
    exit "$rc"
}
trap cleanup EXIT

# ---- 1. images ---------------------------------------------------------------------------
header "images"
"$ROOT/deploy/containers.sh" # podman's configuration and the base image (cached)
BASE="$("$ROOT/deploy/containers.sh" --print-base)"
# The Kafka image copies the broker jars from its build context, deploy/.stack/kafka-libs.
if ! compgen -G "deploy/.stack/kafka-libs/kafka_2.13-*.jar" >/dev/null; then
    compgen -G "$DH_STACK_KAFKA_LIBS/kafka_2.13-*.jar" >/dev/null ||
        die "no Kafka jars in $DH_STACK_KAFKA_LIBS: run deploy/setup.sh"
    mkdir -p deploy/.stack/kafka-libs
    cp "$DH_STACK_KAFKA_LIBS"/*.jar deploy/.stack/kafka-libs/
fi
export DH_BASE_IMAGE="$BASE" DH_IMAGE=localhost/dockhand:ct DH_KAFKA_IMAGE=localhost/dockhand-kafka:ct \
    DH_REDIS_IMAGE=localhost/dockhand-redis:ct
build() { # build <tag> <dockerfile> <context>
    local t
    t="$(now_ms)"
    podman build -q --format docker --layers --build-arg DEBIAN_IMAGE="$BASE" -t "$1" -f "$2" "$3" \
        >"$WORK/build.log" 2>&1 || {
        tail -n 40 "$WORK/build.log"
        die "podman build of $1 failed"
    }
    log "built $1 in $(elapsed "$t")"
}
build "$DH_IMAGE" Dockerfile .
build "$DH_KAFKA_IMAGE" deploy/kafka/Dockerfile deploy
build "$DH_REDIS_IMAGE" deploy/redis/Dockerfile deploy
size="$(podman image inspect -f '{{.Size}}' "$DH_IMAGE")"
log "image $DH_IMAGE: $((size / 1000000)) MB"
[[ "$(podman image inspect -f '{{.Config.User}}' "$DH_IMAGE")" == 10001:10001 ]] &&
    pass "the image runs as 10001:10001 (non-root)" || failed "the image's USER is not 10001:10001"

# ---- 2. the compose stack ----------------------------------------------------------------
header "compose up ($PROJECT)"
# Only Kafka's host port must be known in advance (its advertised HOST listener); every
# other service publishes on a port podman picks. The test reaches containers by their
# addresses on the project's network instead.
free_port() {
    local p
    for p in $(shuf -i 41700-41799); do
        if ! ss -Htan "( sport = :$p )" | grep -q .; then
            printf '%s\n' "$p"
            return 0
        fi
    done
    return 1
}
KPORT="$(free_port)" || die "no free port in 41700-41799"
export DH_HOST_PORT_KAFKA="$KPORT" DH_HOST_PORT_SANDBOX="" DH_HOST_PORT_GATEWAY="" \
    DH_HOST_PORT_GATEWAY_ADMIN="" DH_HOST_PORT_ORDERS="" DH_HOST_PORT_INVENTORY="" \
    DH_HOST_PORT_DISPATCH="" DH_HOST_PORT_RETURNS="" DH_HOST_PORT_CATALOG=""
t_up="$(now_ms)"
compose up -d >"$WORK/up.log" 2>&1 || {
    grep -E 'Error|error:' "$WORK/up.log" | grep -v systemd | tail -n 20
    die "podman-compose up failed"
}
SERVICES=(kafka redis sandbox gateway orders inventory dispatch returns catalog)
ctr() { printf '%s_%s_1\n' "$PROJECT" "$1"; }
ip_of() { podman inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$1"; }
# Polled helpers pause on failure: a health check or a journal read is not free.
healthy() { podman healthcheck run "$1" >/dev/null 2>&1 || { sleep 1 && return 1; }; }
wait_healthy() {
    local s
    for s in "$@"; do
        if wait_until 180 healthy "$(ctr "$s")"; then
            log "$s healthy after $(elapsed "$t_up")"
        else
            podman logs --tail 20 "$(ctr "$s")" 2>&1 || true
            die "$s not healthy after 180 s"
        fi
    done
}
wait_healthy kafka redis sandbox
ti_rc="$(timeout 180 podman wait "$(ctr topic-init)")" || die "topic-init still running after 180 s"
[[ "$ti_rc" == 0 ]] || {
    podman logs --tail 20 "$(ctr topic-init)" 2>&1 || true
    die "topic-init exited $ti_rc"
}
log "topic-init exited 0 after $(elapsed "$t_up")"
wait_healthy gateway orders inventory dispatch returns catalog
pass "compose stack healthy by its own health checks in $(elapsed "$t_up") (topic-init exited 0)"
for s in "${SERVICES[@]}"; do
    ro="$(podman inspect -f '{{.HostConfig.ReadonlyRootfs}} {{.Config.User}}' "$(ctr "$s")")"
    [[ "$ro" == "true "* && "$ro" != "true " && "$ro" != *" root" && "$ro" != *" 0" ]] ||
        failed "$s: read-only root and non-root user expected, got '$ro'"
done
pass "every service runs with a read-only root filesystem as a non-root user"

SB="http://$(ip_of "$(ctr sandbox)"):38080"
KAFKA="127.0.0.1:$KPORT"

# ---- helpers: the far side ---------------------------------------------------------------
# Performed (2xx, not an idempotent replay) WMS sales-order creates, one channel_order_id a line.
wms_creates() {
    curl -fs "$SB/_journal?group=wms" | jq -r 'select(.method == "POST" and .path == "/wms/v1/sales-orders"
        and (.status / 100 | floor) == 2 and (.idempotent_replay | not))
        | (.body | if type == "string" then fromjson else . end).channel_order_id | tostring'
}
# Performed Shopify stock writes: "<sku-ish inventory item> <quantity>" a line.
stock_writes() {
    curl -fs "$SB/_journal?group=shopify&op=inventorySetQuantities" |
        jq -r 'select((.status / 100 | floor) == 2 and (.idempotent_replay | not)
            and (.response | test("userErrors\":\\[\\]")))
            | (.body | if type == "string" then fromjson else . end) | .variables.input.quantities[]?
            | "\(.inventoryItemId) \(.quantity)"'
}
order() { # order <sku>: places a Shopify order in the sandbox; prints its id
    curl -fs -XPOST "$SB/_control/shops/$SHOP/orders" \
        -d "{\"line_items\":[{\"sku\":\"$1\",\"quantity\":1,\"price\":\"19.00\"}]}" | jq -r .id
}
in_wms() {
    curl -fs -o /dev/null -H "Authorization: Bearer $WMS_TOKEN" "$SB/wms/v1/sales-orders/$SHOP/$1" ||
        { sleep 0.5 && return 1; }
}
seq_no="$(date +%s)000"
putaway() { # putaway <sku> <good_online>
    seq_no=$((seq_no + 1))
    jq -cn --arg sku "$1" --argjson g "$2" --arg id "$(cat /proc/sys/kernel/random/uuid)" \
        --argjson seq "$seq_no" --arg at "$(date -u +%FT%TZ)" \
        '{schema_version:1, event_id:$id, event_type:"putaway", occurred_at:$at,
          tenant:"demo", facility:"FAC-1", sku:$sku, sequence:$seq,
          putaway:{putaway_id:("PA-"+$id[0:8]), zone:"A-01", zone_class:"online",
                   quantity:1, qc_status:"GOOD"},
          stock:{good_online:$g, allocated:0, safety_stock:0, damaged:0, quarantined:0,
                 good_offline:0}}' | kcat -P -b "$KAFKA" -t wms.putaway -k "demo|FAC-1|$1"
}
on_hand() {
    curl -fs "$SB/_control/shops/$SHOP/levels?sku=$1" | jq -r '.locations["Main warehouse"].on_hand'
}
on_hand_is() { [[ "$(on_hand "$1")" == "$2" ]] || { sleep 0.5 && return 1; }; }

# ---- 3. one order and one putaway through the containers --------------------------------
header "an order and a putaway"
putaway TEE-M 100000 # stock for every order of this test
putaway TEE-S 500
wait_until 60 on_hand_is TEE-S 500 || die "the putaway did not reach Shopify (on_hand $(on_hand TEE-S))"
wait_until 60 on_hand_is TEE-M 100000 || die "the putaway did not reach Shopify (on_hand $(on_hand TEE-M))"
o1="$(order TEE-M)"
wait_until 60 in_wms "$o1" || die "order $o1 did not reach the WMS"
n_o="$(wms_creates | grep -cx "$o1" || true)"
n_p="$(stock_writes | grep -c ' 500$' || true)"
[[ "$n_o" == 1 ]] && pass "order $o1: created once in the WMS" || failed "order $o1 created $n_o times"
[[ "$n_p" == 1 ]] && pass "putaway: Shopify stock set once (on_hand 500)" || failed "putaway applied $n_p times"

# ---- 4. replicas with static membership, a kill and a rolling restart -------------------
header "replicas: 3 x dh-inventory, 2 x dh-orders (static membership)"
# The compose instances leave their groups (SIGTERM: drained and committed).
podman stop -t 30 "$(ctr orders)" "$(ctr inventory)" >/dev/null
replica() { # replica <worker> <n>: one replica on the project's network, like compose's
    local name="dhct-$1-$2-$$"
    podman run -d --name "$name" --network "$NET" --read-only --tmpfs /tmp \
        --stop-signal SIGTERM --stop-timeout 30 \
        -v "$ROOT/deploy/compose/stores.json:/etc/dockhand/stores.json:ro" \
        -v "$ROOT/deploy/compose/wms-token:/etc/dockhand/wms-token:ro" \
        -e DH_KAFKA_BROKERS=kafka:9092 -e DH_REDIS_URL=redis://redis:6379 \
        -e DH_STORES_FILE=/etc/dockhand/stores.json -e DH_WMS_URL=http://sandbox:38080 \
        -e DH_WMS_TOKEN_FILE=/etc/dockhand/wms-token -e DH_DRAIN_TIMEOUT_MS=20000 \
        -e DH_REVOKE_TIMEOUT_MS=10000 -e DH_LOG_LEVEL=info -e DH_INSTANCE_NAME="$1-$2" \
        -e KAFKA_GROUP_INSTANCE_ID="$1-$2" -e KAFKA_SESSION_TIMEOUT_MS="$SESSION_MS" \
        "$DH_IMAGE" "dh-$1" >/dev/null
    REPLICAS+=("$name")
    printf '%s\n' "$name"
}
INV=() ORD=()
for n in 1 2 3; do INV+=("$(replica inventory "$n")"); done
for n in 1 2; do ORD+=("$(replica orders "$n")"); done

assigned() { # assigned <container>: its dh_assigned_partitions (empty when unreachable)
    curl -fs -m 2 "http://$(ip_of "$1"):9464/metrics" 2>/dev/null |
        awk '/^dh_assigned_partitions[{ ]/ {s += $NF} END {if (NR) print s + 0}'
}
# settled <total> <containers...>: every partition is held, each replica holds some.
settled() {
    local total="$1" sum=0 a c
    shift
    for c in "$@"; do
        a="$(assigned "$c")"
        [[ -n "$a" && "$a" -gt 0 ]] || return 1
        sum=$((sum + a))
    done
    ((sum == total)) || { sleep 0.3 && return 1; }
}
# Partitions of the topics each worker reads (deploy/topics.txt).
parts() { awk -v re="$1" '$1 ~ re {s += $2} END {print s}' deploy/topics.txt; }
INV_TOTAL="$(parts '^wms\.(putaway|zone_move)$')"
ORD_TOTAL="$(parts '^shopify\.orders$')"
settle() { # settle <what> <total> <containers...>: waits, reports, checks the bound
    local what="$1" t
    t="$(now_ms)"
    shift
    if wait_until "$BOUND_S" settled "$@"; then
        t=$(($(now_ms) - t))
        pass "$what: group settled in $((t / 1000)).$((t % 1000 / 100)) s (bound ${BOUND_S} s)"
        printf 'settle\t%s\t%s\n' "$what" "$t" >>"$WORK/settle.tsv"
    else
        local c
        for c in "${@:2}"; do log "$c: $(assigned "$c") partition(s)"; done
        failed "$what: group not settled within ${BOUND_S} s"
    fi
}
settle "3 inventory replicas join" "$INV_TOTAL" "${INV[@]}"
settle "2 orders replicas join" "$ORD_TOTAL" "${ORD[@]}"
podman stats --no-stream --format '    memory at idle: {{.Name}} {{.MemUsage}}' "${INV[@]}" "${ORD[@]}"

# Events flow for the rest of the test: an order and a putaway about every 0.4 s.
load() {
    local i=0 skus=(TEE-S TEE-L MUG-1) sku
    while :; do
        i=$((i + 1))
        sku="${skus[i % 3]}"
        order TEE-M >>"$WORK/orders" || true
        putaway "$sku" $((1000 + i)) && printf '%s %s\n' "$sku" $((1000 + i)) >>"$WORK/putaways"
        sleep 0.4
    done
}
: >"$WORK/orders"
: >"$WORK/putaways"
load &
LOAD_PID=$!
wait_until 30 sh -c "[ \$(wc -l <'$WORK/orders') -ge 10 ]" || die "the load did not start"
stats() { # stats <label> <containers...>: each one's memory (podman stats: cgroup usage)
    local label="$1"
    shift
    podman stats --no-stream --format '{{.Name}} {{.MemUsage}}' "$@" | sed "s/^/    $label: /"
}
stats "memory under the flow" "${INV[@]}" "${ORD[@]}" "$(ctr gateway)"

header "podman kill one inventory replica"
podman kill "${INV[1]}" >/dev/null
settle "inventory after kill -9 of a replica (session ${SESSION_MS} ms)" "$INV_TOTAL" "${INV[0]}" "${INV[2]}"

header "rolling restart of an orders replica (SIGTERM, start)"
t_rr="$(now_ms)"
podman stop -t 30 "${ORD[0]}" >/dev/null
log "orders replica stopped (SIGTERM, drained) after $(elapsed "$t_rr")"
podman start "${ORD[0]}" >/dev/null
settle "orders after a rolling restart" "$ORD_TOTAL" "${ORD[@]}"

header "the killed inventory replica comes back"
podman start "${INV[1]}" >/dev/null
settle "inventory with the killed replica back" "$INV_TOTAL" "${INV[@]}"

kill "$LOAD_PID" 2>/dev/null || true
wait "$LOAD_PID" 2>/dev/null || true
LOAD_PID=""

# ---- 5. counted at the far side ----------------------------------------------------------
header "far side"
mapfile -t orders < <(grep -E '^[0-9]+$' "$WORK/orders")
all_in_wms() {
    local have
    have="$(wms_creates | sort -u)"
    [[ -z "$(comm -23 <(printf '%s\n' "${orders[@]}" | sort -u) <(printf '%s\n' "$have"))" ]] ||
        { sleep 1 && return 1; }
}
wait_until 120 all_in_wms || failed "not every order reached the WMS within 120 s"
# The last stock of each SKU reached Shopify (putaways of a SKU are ordered by key).
for sku in TEE-S TEE-L MUG-1; do
    last="$(awk -v s="$sku" '$1 == s {q = $2} END {print q}' "$WORK/putaways")"
    [[ -z "$last" ]] && continue
    wait_until 120 on_hand_is "$sku" "$last" || failed "$sku: Shopify on_hand $(on_hand "$sku"), last putaway $last"
done
# A later marker: once it is through, anything still in flight before it has landed too.
marker="$(order TEE-L)"
wait_until 60 in_wms "$marker" || failed "marker order $marker did not reach the WMS"
creates="$(wms_creates)"
dups="$(printf '%s\n' "$creates" | sort | uniq -d | tr '\n' ' ')"
lost=0
for o in "${orders[@]}"; do
    grep -qx "$o" <<<"$creates" || lost=$((lost + 1))
done
[[ -z "$dups" ]] && pass "no order created twice in the WMS" || failed "orders created twice: $dups"
((lost == 0)) && pass "all ${#orders[@]} orders placed during the kills reached the WMS" ||
    failed "$lost of ${#orders[@]} orders lost"
wdups="$(stock_writes | sort | uniq -d | tr '\n' ' ')"
[[ -z "$wdups" ]] && pass "no Shopify stock write performed twice ($(wc -l <"$WORK/putaways") putaways)" ||
    failed "stock writes performed twice: $wdups"

header "memory (podman stats)"
stats "memory after the flow" "${INV[@]}" "${ORD[@]}" "$(ctr gateway)" "$(ctr kafka)" \
    "$(ctr redis)" "$(ctr sandbox)"

log "duration $(elapsed "$T0"); settle times (ms): $(cut -f3 "$WORK/settle.tsv" 2>/dev/null | tr '\n' ' ')"
if ((failures)); then
    log "$failures check(s) failed"
    exit 1
fi
log "all container checks passed"
