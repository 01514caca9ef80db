#!/usr/bin/env bash
# bench/runtime/trace-cost.sh: what the trace records cost Redis per event, counted on a
# Redis of its own (nothing else's commands in the counts).
#
#   bench/runtime/trace-cost.sh
#   DH_BENCH_WORKER_BEFORE=/path/to/old/dh-testworker bench/runtime/trace-cost.sh
#
# N (20,000) events on a 6-partition topic, consumed by dh-testworker (DH_TEST_MODE=noop,
# 8 lanes: the runtime's own work, claims, records, trace) against a private redis-server:
#   bench keys   key "k<i mod 1000>", payload {"id","seq"}: no ids to index;
#   WMS-like     key "<store>|FAC-1|SKU-<n>" (50 stores, 2,000 SKUs), an event id each and
#                a correlation id per 10 events: what the WMS topics carry;
#   no trace     the WMS-like events with DH_TRACE_RETENTION_S=0.
# Per event: Redis commands (INFO commandstats, a script's inner calls included), those of
# the trace index (SADD, ZADD, EXPIRE, ZREMRANGEBYSCORE), and Redis CPU (used_cpu_user +
# used_cpu_sys). With DH_BENCH_WORKER_BEFORE the same rows for that build, first.
#
# Environment (all optional): DH_KAFKA_BROKERS (the stack's), DH_BENCH_WORKER
# (build/dh-testworker), N, DH_STACK_KAFKA_LIBS (Kafka's jars, to create the topics).
# The topics (bench-tc-*) are left behind; the worker and the private Redis are stopped.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source=../../deploy/lib.sh
. "$ROOT/deploy/lib.sh"
# shellcheck source=../lib.sh
. "$ROOT/bench/lib.sh"

[[ $# -eq 0 ]] || {
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2
    exit 2
}
bench_stack_env
WORKER="${DH_BENCH_WORKER:-$ROOT/build/dh-testworker}"
BEFORE="${DH_BENCH_WORKER_BEFORE:-}"
N="${N:-20000}"
need_cmd kcat "install kcat (deploy/setup.sh)"
need_cmd java "install a JDK 17+ (deploy/setup.sh)"
need_cmd redis-server "install redis-server (deploy/setup.sh)"
need_cmd redis-cli "install redis-tools (deploy/setup.sh)"
bench_need "$WORKER" ${BEFORE:+"$BEFORE"}
[[ -d "${DH_STACK_KAFKA_LIBS:-}" ]] || die "Kafka jars not in DH_STACK_KAFKA_LIBS (deploy/setup.sh)"

RUN_ID="$$-$(date +%s)"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/bench-tc.XXXXXX")"
PIDS=()
cleanup() {
    bench_stop_pids
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

bench_free_port RPORT
redis-server --port "$RPORT" --bind 127.0.0.1 --save '' --appendonly no \
    --logfile "$WORK/redis.log" &
PIDS+=($!)
rcli() { redis-cli -p "$RPORT" "$@"; }
for _ in $(seq 1 50); do rcli PING >/dev/null 2>&1 && break; sleep 0.1; done
rcli PING >/dev/null || die "private redis-server did not start (see $WORK/redis.log)"

topic() {
    java -Xms32m -Xmx512m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xlog:disable \
        -cp "$DH_STACK_KAFKA_LIBS/*" org.apache.kafka.tools.TopicCommand --bootstrap-server \
        "$KAFKA" --create --if-not-exists --topic "$1" --partitions 6 \
        --replication-factor 1 >/dev/null
}

# The events of each kind, produced once (every run reads them under a group of its own).
T_BENCH="bench-tc-keys-$RUN_ID"
T_WMS="bench-tc-wms-$RUN_ID"
topic "$T_BENCH"
topic "$T_WMS"
awk -v n="$N" 'BEGIN { for (i = 0; i < n; i++)
    printf "k%04d\t{\"id\":\"b%d\",\"seq\":%d}\n", i % 1000, i, i }' >"$WORK/bench.txt"
awk -v n="$N" -v r="$RUN_ID" 'BEGIN { for (i = 0; i < n; i++)
    printf "s%d.myshopify.com|FAC-1|SKU-%d\t{\"id\":\"w%d\",\"seq\":%d,\"event_id\":\"%s-%08d\",\"correlation_id\":\"c%s-%d\"}\n",
        i % 50, i % 2000, i, i, r, i, r, int(i / 10) }' >"$WORK/wms.txt"
kcat -P -b "$KAFKA" -t "$T_BENCH" -K$'\t' -l "$WORK/bench.txt"
kcat -P -b "$KAFKA" -t "$T_WMS" -K$'\t' -l "$WORK/wms.txt"

stat_calls() { # total calls, trace index calls
    rcli INFO commandstats | tr -d '\r' | awk -F'[:=,]' '
        /^cmdstat_/ { c = substr($1, 9); all += $3
                      if (c == "sadd" || c == "zadd" || c == "expire" || c == "zremrangebyscore") ix += $3 }
        END { print all + 0, ix + 0 }'
}
stat_cpu() { # Redis CPU so far, µs
    rcli INFO cpu | tr -d '\r' | awk -F: '/^used_cpu_(user|sys):/ { s += $2 } END { printf "%.0f", s * 1e6 }'
}

# run <worker> <topic> <trace retention s>: "<commands/event> <index commands/event> <CPU µs/event>"
run() {
    local worker=$1 t=$2 ret=$3 port n=0 c0 c1 u0 u1 wpid
    bench_free_port port
    rcli FLUSHALL >/dev/null
    rcli CONFIG RESETSTAT >/dev/null
    u0=$(stat_cpu)
    env -i PATH="$PATH" DH_KAFKA_BROKERS="$KAFKA" DH_REDIS_URL="redis://127.0.0.1:$RPORT" \
        DH_TOPICS="$t" DH_GROUP_ID="g-$t-$RANDOM$RANDOM" DH_TEST_NS="ns$RANDOM" \
        DH_TEST_MODE=noop DH_LANES=8 DH_ADMIN_PORT="$port" DH_IDEM_RETENTION_S=600 \
        DH_TRACE_RETENTION_S="$ret" DH_LOG_LEVEL=warn "$worker" 2>>"$WORK/worker.log" &
    wpid=$!
    for _ in $(seq 1 1200); do # 120 s at most
        n=$(curl -sf "http://127.0.0.1:$port/metrics" 2>/dev/null |
            awk '$1 ~ /^dh_events_total/ { s += $2 } END { print s + 0 }') || n=0
        ((n >= N)) && break
        sleep 0.1
    done
    kill -TERM "$wpid" 2>/dev/null || true
    wait "$wpid" 2>/dev/null || true
    ((n >= N)) || die "only $n of $N events done in 120 s (see $WORK/worker.log)"
    u1=$(stat_cpu)
    read -r c0 c1 < <(stat_calls)
    awk -v c="$c0" -v x="$c1" -v u=$((u1 - u0)) -v n="$N" \
        'BEGIN { printf "%.2f %.2f %.2f\n", c / n, x / n, u / n }'
}

printf '| build | events | Redis commands / event | of them the trace index | Redis CPU / event |\n'
printf '|---|---|---|---|---|\n'
for w in ${BEFORE:+"$BEFORE"} "$WORKER"; do
    label=$([[ "$w" == "$WORKER" ]] && echo "this build" || echo "before")
    for row in "bench keys|$T_BENCH|60" "WMS-like|$T_WMS|60" "WMS-like, no trace|$T_WMS|0"; do
        IFS='|' read -r name t ret <<<"$row"
        read -r cmds ix cpu < <(run "$w" "$t" "$ret")
        printf '| %s | %s | %s | %s | %s µs |\n' "$label" "$name" "$cmds" "$ix" "$cpu"
    done
done
printf '\n(%s events per run, 6 partitions, 8 lanes, %s)\n' "$N" "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
