#!/usr/bin/env bash
# Burst memory: the resident memory of ONE dh-inventory replica while one store (T1) has a
# backlog of BACKLOG putaways on a drained bucket, plus a trickle for a few other stores.
# The small, repeatable form of the peak bench/fairness/run.sh sees in its phase b: same
# sandbox, stores file, catalogue and tools, but one replica on PARTITIONS partitions (2: a
# replica's share of run.sh's 6 over 3 replicas) and no measure of latency. T1's bucket is
# drained (0 points, its normal restore rate) just before its backlog is produced, while the
# replica already runs, as in run.sh. Whether T1 is throttled at all is a race (the drained
# bucket refills while the backlog is fetched): the "set aside" column tells which run was
# which; DRAIN=0 gives the unthrottled run every time. VmRSS and VmHWM are sampled every
# 200 ms for SECS s (from just before the backlog); the script prints the peak, the time it was reached, and
# what the replica reported (parked, set aside, taken back). Samples in $TMP/rss.txt
# ("t_ms rss_kb hwm_kb inflight_events parked_events").
#
# Usage: bench/fairness/burst-memory.sh
#   env: N (20 trickle stores) SKUS (5 per store) RATE (20 events/s over them) BACKLOG (50000)
#        T1_SKUS (1000) SECS (60) PARTITIONS (2) BUCKET (2000) RESTORE (100)
#        DRAIN (1; 0 leaves T1's bucket full: the backlog is applied as it comes, no gate)
#        SANDBOX_PORT (29650; the replica's admin port is the next) BUILD (build)
#        WORKER_ENV ("VAR=value ..." for the replica) WRAP (a command the replica runs
#        under, e.g. "heaptrack -o FILE": its peak heap and who held it; sampled all the same)
#        DH_KAFKA_BROKERS / DH_REDIS_URL (else deploy/stack.sh env)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-$ROOT/build}
N=${N:-20}
SKUS=${SKUS:-5}
RATE=${RATE:-20}
BACKLOG=${BACKLOG:-50000}
T1_SKUS=${T1_SKUS:-1000}
SECS=${SECS:-60}
PARTITIONS=${PARTITIONS:-2}
DRAIN=${DRAIN:-1}
BUCKET=${BUCKET:-2000}
RESTORE=${RESTORE:-100}
SANDBOX_PORT=${SANDBOX_PORT:-29650}
REPLICAS=1 # bench_metric
TMP=$(mktemp -d /tmp/dh-burst.XXXXXX)

# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
bench_stack_env
ID="burst-$$-$(date +%s)"
TOPIC="t.$ID"
BASE="http://127.0.0.1:$SANDBOX_PORT"
T1="$ID-t1.myshopify.com"
PIDS=()
trap bench_stop_pids EXIT
bench_need "$BUILD/dh-inventory" "$BUILD/sandbox/dh-sandbox" "$BUILD/dh-bench-fair" \
    "$BUILD/dh-inv-mktopic" curl jq redis-cli awk
log() { echo "$(date -u +%T) $*" >&2; }

# Stores, sandbox seed, stores file and catalogue as run.sh makes them (its comments).
for i in $(seq "$N"); do echo "$ID-s$i.myshopify.com $SKUS"; done >"$TMP/pool.txt"
{ cat "$TMP/pool.txt"; echo "$T1 $T1_SKUS"; } >"$TMP/all.txt"
# shellcheck source=bench/fairness/stores.sh
. "$ROOT/bench/fairness/stores.sh"
fair_sandbox
fair_ids "shpat_$((N + 1))"
fair_stores "$PARTITIONS"

# shellcheck disable=SC2046,SC2086 # one -u word per variable; WORKER_ENV and WRAP are words
env $(env | grep -o '^DH_[A-Z0-9_]*' | sed 's/^/-u /') DH_KAFKA_BROKERS="$KAFKA" DH_REDIS_URL="$REDIS" \
    DH_TOPICS="$TOPIC" DH_GROUP_ID="g.$ID" DH_ADMIN_PORT=$((SANDBOX_PORT + 1)) \
    DH_STORES_FILE="$TMP/stores.json" DH_WMS_URL="$BASE" DH_WMS_TOKEN=wms-token \
    DH_INVENTORY_SYNC_GRACE_S=60 DH_LOG_LEVEL=${LOG_LEVEL:-warn} ${WORKER_ENV:-} \
    ${WRAP:-} "$BUILD/dh-inventory" 2>>"$TMP/worker.log" &
PIDS+=($!)
WPID=$!
if [ -n "${WRAP:-}" ]; then # the worker is the wrapper's child, or the wrapper itself
    sleep 1
    WPID=$(pgrep -P "$WPID" -n || echo "$WPID")
    PIDS+=("$WPID") # stopped too: the wrapper may not pass the signal on
fi
for _ in $(seq 900); do
    [ "$(bench_metric dh_assigned_partitions)" = "$PARTITIONS" ] && break
    sleep 0.2
done
[ "$(bench_metric dh_assigned_partitions)" = "$PARTITIONS" ] || { echo "the replica did not start:" >&2; cat "$TMP/worker.log" >&2; exit 1; }
log "replica $WPID on $TOPIC ($PARTITIONS partitions), $N trickle stores; logs in $TMP"

# Resident memory every 200 ms, with the replica's in-flight and parked events every second.
T0=$(date +%s%3N)
(
    k=0 ev=0 pk=0
    while :; do
        if [ $((k % 5)) = 0 ]; then
            ev=$(bench_metric dh_inflight_events)
            pk=$(bench_metric dh_parked_events)
        fi
        k=$((k + 1))
        awk -v t=$(($(date +%s%3N) - T0)) -v ev="$ev" -v pk="$pk" \
            '/^VmRSS/ {r = $2} /^VmHWM/ {h = $2} END {print t, r, h, ev, pk}' "/proc/$WPID/status" \
            >>"$TMP/rss.txt" 2>/dev/null || break
        sleep 0.2
    done
) &
PIDS+=($!)
# The trickle for the whole run, then T1's bucket drained and its backlog at once.
"$BUILD/dh-bench-fair" steady "$KAFKA" "$TOPIC" "$TMP/produced.txt" a "$SECS" 0 "$TMP/pool.txt" "$RATE" \
    2>>"$TMP/tool.log" &
PIDS+=($!)
TRICKLE=$!
sleep 3
RSS0=$(awk '/^VmRSS/ {print $2}' "/proc/$WPID/status")
if [ "$DRAIN" = 1 ]; then curl -sf -X PUT "$BASE/_control/shops/$T1/bucket" -d '{"available":0}' >/dev/null; fi
log "T1's bucket drained ($DRAIN); producing its backlog of $BACKLOG"
"$BUILD/dh-bench-fair" backlog "$KAFKA" "$TOPIC" "$TMP/produced.txt" b "$T1" "$T1_SKUS" "$BACKLOG" 1000000 \
    2>>"$TMP/tool.log"
wait "$TRICKLE" || true
HWM=$(awk '/^VmHWM/ {print $2}' "/proc/$WPID/status")
RSS=$(awk '/^VmRSS/ {print $2}' "/proc/$WPID/status")
m() { bench_metric "$1"; }
echo "| before backlog RSS | peak (VmHWM) | peak reached at | RSS at end | max in-flight | max parked | set aside | taken back |"
echo "|---|---|---|---|---|---|---|---|"
awk -v r0="$RSS0" -v h="$HWM" -v r="$RSS" -v sp="$(m dh_set_aside_events_total)" -v tb="$(m dh_taken_back_events_total)" \
    '$2 > pr {pr = $2; pt = $1} $4 > me {me = $4} $5 > mp {mp = $5}
     END {printf "| %.1f MB | %.1f MB | %.1f s | %.1f MB | %d | %d | %s | %s |\n", r0 / 1024, h / 1024, pt / 1e3, r / 1024, me, mp, sp, tb}' \
    "$TMP/rss.txt"
echo "(DRAIN=$DRAIN BACKLOG=$BACKLOG T1_SKUS=$T1_SKUS N=$N RATE=$RATE SECS=$SECS PARTITIONS=$PARTITIONS WORKER_ENV='${WORKER_ENV:-}'; samples in $TMP/rss.txt)"
