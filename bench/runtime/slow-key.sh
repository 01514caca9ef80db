#!/usr/bin/env bash
# bench/runtime/slow-key.sh: how much other work flows while one key waits to retry. A
# command that prints a table, not a timed test (tests/integration/test_runtime_order_retry.c
# checks the behaviour on conditions; this measures the speed figure it used to assert).
#
#   bench/runtime/slow-key.sh
#
# One partition, 40 keys x 25 events interleaved; the first event of key k0 fails 3 times
# before it succeeds (backoff DH_RETRY_BASE_MS=400: about 0.2 + 0.4 + 0.8 s). dh-testworker
# (8 lanes) writes every performance to its far-side journal (DH_TEST_JOURNAL), in order.
# Ratio: events of the other keys performed before k0's first event, over all of them
# (1.0: every other key finished while k0 waited; the old test demanded exactly that).
#
# Environment (all optional): DH_KAFKA_BROKERS (127.0.0.1:39092),
#   DH_REDIS_URL (redis://127.0.0.1:36379), DH_BENCH_WORKER (build/dh-testworker),
#   DH_STACK_KAFKA_LIBS (Kafka's jars, to create the topic).
# The topic (bench-slowkey-*) is left behind; the worker is stopped on exit.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source=../../deploy/lib.sh
. "$ROOT/deploy/lib.sh"

BROKERS="${DH_KAFKA_BROKERS:-127.0.0.1:39092}"
REDIS_URL="${DH_REDIS_URL:-redis://127.0.0.1:36379}"
WORKER="${DH_BENCH_WORKER:-$ROOT/build/dh-testworker}"
KEYS=40
PER_KEY=25
OTHERS=$(((KEYS - 1) * PER_KEY))
[[ $# -eq 0 ]] || {
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2
    exit 2
}

need_cmd kcat "install kcat (deploy/setup.sh)"
need_cmd java "install a JDK 17+ (deploy/setup.sh)"
[[ -x "$WORKER" ]] || die "$WORKER not found; build it (ninja -C build dh-testworker)"
[[ -d "${DH_STACK_KAFKA_LIBS:-}" ]] || die "Kafka jars not in DH_STACK_KAFKA_LIBS (deploy/setup.sh)"

RUN_ID="$$-$(date +%s)"
TOPIC="bench-slowkey-$RUN_ID"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/bench-slowkey.XXXXXX")"
WPID=""
cleanup() {
    if [[ -n "$WPID" ]] && kill -0 "$WPID" 2>/dev/null; then
        kill -TERM "$WPID" 2>/dev/null || true
        wait "$WPID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

java -Xms32m -Xmx512m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xlog:disable \
    -cp "$DH_STACK_KAFKA_LIBS/*" org.apache.kafka.tools.TopicCommand --bootstrap-server \
    "$BROKERS" --create --if-not-exists --topic "$TOPIC" --partitions 1 \
    --replication-factor 1 >/dev/null

for ((s = 0; s < PER_KEY; s++)); do
    for ((k = 0; k < KEYS; k++)); do
        extra=""
        ((k == 0 && s == 0)) && extra=',"fail":3'
        printf 'k%d|{"id":"k%d-%d","seq":%d%s}\n' "$k" "$k" "$s" "$s" "$extra"
    done
done >"$WORK/events.txt"
kcat -P -b "$BROKERS" -t "$TOPIC" -p 0 -K'|' -l "$WORK/events.txt"

start=$(date +%s%N)
env -i PATH="$PATH" DH_KAFKA_BROKERS="$BROKERS" DH_REDIS_URL="$REDIS_URL" DH_TOPICS="$TOPIC" \
    DH_GROUP_ID="g-$TOPIC" DH_TEST_NS="ns-$TOPIC" DH_TEST_JOURNAL="$WORK/journal" \
    DH_ADMIN_PORT=0 DH_LANES=8 DH_RETRY_BASE_MS=400 DH_RETRY_MAX_MS=1000 \
    "$WORKER" 2>"$WORK/worker.log" &
WPID=$!
total=$((KEYS * PER_KEY))
for _ in $(seq 1 600); do # 60 s at most
    [[ -f "$WORK/journal" ]] && (($(grep -c '^P ' "$WORK/journal") >= total)) && break
    sleep 0.1
done
took_ms=$((($(date +%s%N) - start) / 1000000))
done_n=$(grep -c '^P ' "$WORK/journal" || true)
((done_n >= total)) || die "only $done_n of $total events performed in 60 s (see $WORK/worker.log)"
before=$(awk '$1 == "P" { if ($5 == "k0-0") exit; if ($3 != "k0") n++ } END { print n + 0 }' \
    "$WORK/journal")
printf '| metric | measured | baseline | ratio |\n|---|---|---|---|\n'
printf '| other keys'"'"' events performed while k0 waited | %d | %d | %s |\n' "$before" \
    "$OTHERS" "$(awk -v a="$before" -v b="$OTHERS" 'BEGIN { printf "%.3f", a / b }')"
printf '| all %d events, from the worker'"'"'s start | %d ms | | |\n' "$total" "$took_ms"
