#!/usr/bin/env bash
# Fairness: N stores with steady putaway traffic through one pool of dh-inventory replicas,
# in two phases of one run: (a) baseline, steady traffic only; (b) the same traffic while
# three more stores are in trouble: T1 has a backlog of BACKLOG putaways produced just
# before the phase and its sandbox bucket drained (0 points, its normal restore rate), T2's
# token is revoked (the sandbox answers 401 for that shop), T3 answers 5xx. At the end of
# (b) the faults are lifted and the run waits until every event of every store is visible
# in the sandbox (or WAIT_S). An event's latency: the sandbox journal's time_ms of the first
# applied inventorySetQuantities of its store setting its SKU to >= its value, minus the
# time it was handed to the producer (bench/inventory/freshness.sh's measure, per store).
# Prints the untroubled stores' p50/p99 in (a) and (b) and their ratio (goal: p99 b/a <= 2),
# the troubled stores' events and recovery, dead letters (<topic>.dlq, must be 0), each
# replica's peak and final resident memory (goal <= 50 MB), and what the replicas reported.
# Exit 1 when an event was never visible or a dead letter exists (the report still prints).
#
# Usage: bench/fairness/run.sh
#   env: N (1000) SKUS (5 per store) RATE (300 events/s over the N stores) A_SECS (75)
#        B_SECS (120) BACKLOG (100000) T1_SKUS (1000) T_RATE (5 events/s each for T2 and T3
#        during (b)) T_SKUS (5) REPLICAS (3) SKIP (15 s of (a) left out: the first calls) WAIT_S (240)
#        BUCKET (2000) RESTORE (100) SANDBOX_PORT (29610, below the ephemeral range; it and the next REPLICAS ports)
#        JOURNAL_CAP (600000) BUILD (build) WORKER_ENV ("VAR=value ..." for the replicas)
#        TROUBLES ("backlog drain 401 5xx": which troubles phase b has; T2 and T3 get their
#        traffic either way, so leaving one out measures the others alone at the same load)
#        KEEP_JOURNAL (set: keep the journal copy in the log directory)
#        DH_KAFKA_BROKERS / DH_REDIS_URL (else deploy/stack.sh env)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-$ROOT/build}
N=${N:-1000}
SKUS=${SKUS:-5}
RATE=${RATE:-300}
A_SECS=${A_SECS:-75}
B_SECS=${B_SECS:-120}
BACKLOG=${BACKLOG:-100000}
T1_SKUS=${T1_SKUS:-1000}
T_RATE=${T_RATE:-5}
T_SKUS=${T_SKUS:-5}
REPLICAS=${REPLICAS:-3}
SKIP=${SKIP:-15}
WAIT_S=${WAIT_S:-240}
BUCKET=${BUCKET:-2000}
RESTORE=${RESTORE:-100}
SANDBOX_PORT=${SANDBOX_PORT:-29610}
JOURNAL_CAP=${JOURNAL_CAP:-600000}
TROUBLES=${TROUBLES:-backlog drain 401 5xx}
TMP=$(mktemp -d /tmp/dh-fair.XXXXXX)

# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
bench_stack_env
ID="fair-$$-$(date +%s)"
TOPIC="t.$ID"
BASE="http://127.0.0.1:$SANDBOX_PORT"
T1="$ID-t1.myshopify.com"
T2="$ID-t2.myshopify.com"
T3="$ID-t3.myshopify.com"
PIDS=()
trap bench_stop_pids EXIT
bench_need "$BUILD/dh-inventory" "$BUILD/sandbox/dh-sandbox" "$BUILD/dh-bench-fair" \
    "$BUILD/dh-inv-mktopic" curl jq redis-cli awk
now_ms() { date +%s%3N; }
log() { echo "$(date -u +%T) $*" >&2; }

# Stores: "domain skus" (the steady pool, then T1..T3). Every store is generated alike, so
# its ids are too: location 1000001, then product, variant, item per SKU (checked below).
for i in $(seq "$N"); do echo "$ID-s$i.myshopify.com $SKUS"; done >"$TMP/pool.txt"
{ cat "$TMP/pool.txt"; echo "$T1 $T1_SKUS"; echo "$T2 $T_SKUS"; echo "$T3 $T_SKUS"; } >"$TMP/all.txt"
# shellcheck source=bench/fairness/stores.sh
. "$ROOT/bench/fairness/stores.sh"
fair_sandbox --journal-capacity "$JOURNAL_CAP"

fair_ids "shpat_$((N + 1))"
[ "$(item_of "$ID-s$N.myshopify.com" "shpat_$N" "SKU-$SKUS")" = $((ITEM_BASE + ITEM_STEP * SKUS)) ] &&
    [ "$(gql "$T3" "shpat_$((N + 3))" '"{ locations(first: 5) { nodes { id } } }"' | jq -r '.data.locations.nodes[0].id')" = "$LOCATION" ] ||
    { echo "the stores' ids are not alike" >&2; exit 1; }

fair_stores 6

for r in $(seq "$REPLICAS"); do
    # Only the worker's own variables: it refuses unknown DH_* ones (DH_STACK_*, DH_TEST_*).
    # shellcheck disable=SC2046,SC2086 # one -u word per variable; WORKER_ENV is VAR=value words
    env $(env | grep -o '^DH_[A-Z0-9_]*' | sed 's/^/-u /') DH_KAFKA_BROKERS="$KAFKA" DH_REDIS_URL="$REDIS" \
        DH_TOPICS="$TOPIC" DH_GROUP_ID="g.$ID" DH_ADMIN_PORT=$((SANDBOX_PORT + r)) \
        DH_STORES_FILE="$TMP/stores.json" DH_WMS_URL="$BASE" DH_WMS_TOKEN=wms-token \
        DH_INVENTORY_SYNC_GRACE_S=60 DH_LOG_LEVEL=${LOG_LEVEL:-warn} ${WORKER_ENV:-} \
        "$BUILD/dh-inventory" 2>>"$TMP/worker-$r.log" &
    PIDS+=($!)
    echo $! >>"$TMP/worker-pids"
done
for _ in $(seq 600); do
    [ "$(bench_metric dh_assigned_partitions)" = 6 ] && break
    sleep 0.2
done
[ "$(bench_metric dh_assigned_partitions)" = 6 ] || { echo "the replicas did not start:" >&2; cat "$TMP"/worker-*.log >&2; exit 1; }
for r in $(seq "$REPLICAS"); do
    curl -sf "http://127.0.0.1:$((SANDBOX_PORT + r))/metrics" >/dev/null ||
        { echo "replica $r is not serving /metrics" >&2; cat "$TMP/worker-$r.log" >&2; exit 1; }
done
log "$N stores, $REPLICAS replicas, topic $TOPIC, logs in $TMP"

# What the replicas say, every 2 s: phase, seconds, then per metric the sum over replicas.
SAMPLED="dh_paused_partitions dh_inflight_events dh_consumer_lag dh_retries_total dh_far_auth_failures_total dh_dead_letters_total dh_resource_waits_total dh_handler_seconds_count"
echo "a" >"$TMP/phase"
(
    while :; do
        line="$(date +%s)"
        for m in $SAMPLED; do line="$line $(bench_metric "$m")"; done
        line="$(cat "$TMP/phase") $line" # the phase once sampled: a sample spanning a change is the later phase's
        rss=0
        while read -r pid; do
            v=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
            [ "${v:-0}" -gt "$rss" ] && rss=$v
        done <"$TMP/worker-pids"
        echo "$line $rss" >>"$TMP/samples.txt"
        sleep 2
    done
) &
PIDS+=($!)
# The journal, fetched every 5 s through the whole run (the ring would drop the oldest entries
# of a long run, and one large dump holds the journal's lock long enough to slow the sandbox).
JSEQ=0
fetch_journal() {
    curl -sf "$BASE/_journal?group=shopify&op=inventorySetQuantities&since_seq=$JSEQ" >"$TMP/jpart.jsonl" || return 0
    if [ -s "$TMP/jpart.jsonl" ]; then
        cat "$TMP/jpart.jsonl" >>"$TMP/journal.jsonl"
        JSEQ=$(tail -n 1 "$TMP/jpart.jsonl" | jq .seq)
    fi
}
: >"$TMP/journal.jsonl"
(
    while :; do
        fetch_journal
        echo "$JSEQ" >"$TMP/jseq"
        sleep 5
    done
) &
FETCHER=$!
PIDS+=($FETCHER)

log "phase a: $RATE events/s for $A_SECS s over $N stores"
"$BUILD/dh-bench-fair" steady "$KAFKA" "$TOPIC" "$TMP/produced.txt" a "$A_SECS" 0 "$TMP/pool.txt" "$RATE"

# Phase b: the troubles start together; T1's backlog goes in first, on its drained bucket.
T_B0=$(now_ms)
echo "b" >"$TMP/phase"
has() { [[ " $TROUBLES " == *" $1 "* ]]; }
if has drain; then curl -sf -X PUT "$BASE/_control/shops/$T1/bucket" -d '{"available":0}' >/dev/null; fi
rules=()
if has 401; then rules+=("{\"group\":\"shopify\",\"shop\":\"$T2\",\"error_rate\":1,\"error_status\":401}"); fi
if has 5xx; then rules+=("{\"group\":\"shopify\",\"shop\":\"$T3\",\"error_rate\":1,\"error_status\":503}"); fi
if [ ${#rules[@]} -gt 0 ]; then
    curl -sf "$BASE/_control/faults" -d "[$(IFS=,; echo "${rules[*]}")]" >/dev/null
fi
log "phase b: troubles '$TROUBLES' (a backlog is $BACKLOG events), then $RATE events/s for $B_SECS s (+ $T_RATE/s each to T2, T3)"
if has backlog; then
    "$BUILD/dh-bench-fair" backlog "$KAFKA" "$TOPIC" "$TMP/produced.txt" b "$T1" "$T1_SKUS" "$BACKLOG" 0
fi
"$BUILD/dh-bench-fair" steady "$KAFKA" "$TOPIC" "$TMP/produced.txt" b "$B_SECS" 1000000 "$TMP/pool.txt" "$RATE" \
    "$T2:$T_SKUS:$T_RATE" "$T3:$T_SKUS:$T_RATE"
curl -sf -X DELETE "$BASE/_control/faults" >/dev/null
T_LIFT=$(now_ms)
echo "c" >"$TMP/phase"
log "faults lifted; waiting up to $WAIT_S s for every event to be visible"

report() {
    "$BUILD/dh-bench-fair" report "$TMP/journal.jsonl" "$TMP/produced.txt" "$ITEM_BASE" "$ITEM_STEP" \
        "$SKIP" "$T_B0" "$T_LIFT" "$T1" "$T2" "$T3" >"$TMP/table.md"
}
deadline=$(($(date +%s) + WAIT_S))
while :; do
    sleep 5
    report
    grep -q '^events never visible: 0$' "$TMP/table.md" && break
    [ "$(date +%s)" -ge "$deadline" ] && break
done
# The last chunk, with the fetcher stopped (the report above may have read a chunk half written).
kill "$FETCHER" 2>/dev/null || true
wait "$FETCHER" 2>/dev/null || true
JSEQ=$(cat "$TMP/jseq" 2>/dev/null || echo 0)
fetch_journal
report
log "$(tail -n 1 "$TMP/table.md")"

# Dead letters, resident memory, and the replicas' own view.
"$BUILD/dh-bench-fair" dlq "$KAFKA" "$TOPIC.dlq" >"$TMP/dlq.txt" || echo "total ?" >"$TMP/dlq.txt"
DLQ=$(awk '$1 == "total" {print $2}' "$TMP/dlq.txt")
sed -e '$d' -e "s/$ID-//g" "$TMP/table.md"
echo
echo "| dead letters in $TOPIC.dlq | $DLQ (goal 0) |"
echo "|---|---|"
awk -v t1="$T1" -v t2="$T2" -v t3="$T3" '$1 != "total" && $2 > 0 {
    printf "| … of %s | %d |\n", ($1 == t1 ? "T1" : $1 == t2 ? "T2" : $1 == t3 ? "T3" : $1), $2}' "$TMP/dlq.txt"
echo
echo "| replica | peak RSS (VmHWM) | RSS at the end (VmRSS) | goal |"
echo "|---|---|---|---|"
r=0
while read -r pid; do
    r=$((r + 1))
    hwm=$(awk '/^VmHWM/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
    rss=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
    awk -v r="$r" -v h="${hwm:-0}" -v s="${rss:-0}" 'BEGIN{printf "| %d | %.1f MB | %.1f MB | ≤ 50 MB (%s) |\n", r, h / 1024, s / 1024, h / 1024 <= 50 ? "met" : "not met"}'
done <"$TMP/worker-pids"
echo
echo "What the replicas reported (sums over replicas, sampled every 2 s; c = after the lift):"
echo
echo "| phase | paused partitions, max | in-flight events, max | consumer lag, max | retries | auth failures | dead letters | resource waits | handler calls | largest replica RSS, max |"
echo "|---|---|---|---|---|---|---|---|---|---|"
awk '{ph = $1; if (!(ph in first)) {first[ph] = NR; order[++n] = ph; for (i = 3; i <= NF; i++) f[ph, i] = (n > 1 ? l[order[n - 1], i] : $i)}
      for (i = 3; i <= NF; i++) l[ph, i] = $i
      for (i = 3; i <= NF; i++) if ($i > mx[ph, i]) mx[ph, i] = $i}
     END {for (k = 1; k <= n; k++) {ph = order[k]
          printf "| %s | %d | %d | %d |", ph, mx[ph, 3], mx[ph, 4], mx[ph, 5]
          for (i = 6; i <= 10; i++) printf " %d |", l[ph, i] - f[ph, i]
          printf " %.1f MB |\n", mx[ph, 11] / 1024}}' "$TMP/samples.txt"
echo
echo "(run $(date -u +%FT%TZ): TROUBLES='$TROUBLES' N=$N SKUS=$SKUS RATE=$RATE A_SECS=$A_SECS B_SECS=$B_SECS BACKLOG=$BACKLOG T1_SKUS=$T1_SKUS T_RATE=$T_RATE REPLICAS=$REPLICAS; logs in $TMP)"
# The journal copy is the run's largest file (~130 MB at the defaults).
[ -n "${KEEP_JOURNAL:-}" ] || rm -f "$TMP/journal.jsonl" "$TMP/jpart.jsonl"
missing=$(awk '/^events never visible:/ {print $4}' "$TMP/table.md")
[ "${missing:-1}" = 0 ] && [ "$DLQ" = 0 ] || exit 1
