#!/usr/bin/env bash
# bench/runtime/run.sh: issue 3's runtime benchmark. A command that prints a table, not a
# timed test: it never fails on a missed goal. One run on the local stack
# (deploy/stack.sh up) with dh-testworker; see bench/README.md for how to read it.
#
#   bench/runtime/run.sh [--quick]
#
# Measures, each against a baseline taken in the same run:
#   1. consume rate of the runtime with a no-op handler that still claims and completes
#      an idempotency record per event, against kcat reading the same topic (and, for
#      reference, Kafka's ConsumerPerformance): goal >= 100,000 events/s per replica and
#      >= 0.3 of raw;
#      the same idempotency records written by dh-bench-idem with no Kafka and no executor:
#      the ceiling Redis puts on the no-op runtime on this machine, as the records are
#      written now and as they were before (dh-bench-idem --legacy: one Lua script per
#      batch), with Redis's CPU, commands, bytes and memory per event for both: goal
#      ceiling >= 1.5x before's, no-op runtime >= 0.85 of the ceiling;
#   2. a handler that waits 20 ms like a remote call, 6 partitions, many keys: key-ordered
#      lanes against partition-at-a-time (the same events produced without keys, which
#      the runtime orders per partition): goal >= 5x the throughput;
#   3. resident memory (VmRSS) of the worker while it works: goal <= 50 MB per replica.
# For reference it also runs the best no-op configuration without trace records, and reads
# the CPU each process used per event (worker, Redis, the broker if it runs here; the
# ceiling's client and Redis), which bounds both rates on a machine where they share cores.
#
# Environment (all optional):
#   DH_KAFKA_BROKERS (127.0.0.1:39092)   DH_REDIS_URL (redis://127.0.0.1:36379)
#   DH_BENCH_WORKER  (build/dh-testworker; e.g. build-b/dh-testworker)
#   DH_BENCH_IDEM    (dh-bench-idem beside the worker): the Redis-alone ceiling
#   DH_BENCH_EVENTS (500000) DH_BENCH_KEYS (10000): the no-op run's topic
#   DH_BENCH_NOOP_CONFIGS ("2:64 2:256 4:64 4:256"): lanes:batch-max pairs tried, best reported
#   DH_BENCH_NOOP_ENV (""): extra VAR=value words for the no-op runs
#   DH_BENCH_SLOW_EVENTS (3000) DH_BENCH_SLOW_KEYS (1000) DH_BENCH_SLOW_MS (20)
#   DH_BENCH_SLOW_LANES (64) DH_BENCH_SLOW_BATCH (64, the runtime default)
#   DH_BENCH_RUN_TIMEOUT (90): seconds a single worker run may take
#   DH_BENCH_CEIL_ROUNDS (2): rounds of the Redis-alone runs (before and after alternate;
#                        each round runs both at 2 and 4 threads; best rate reported)
# --quick: 100,000 events and one no-op configuration (4:256), for a smoke test.
#
# Topics (bench-rt-*) are left behind; workers it started are stopped; the idempotency
# and trace records it wrote are deleted (they also expire after 60 s).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source=../../deploy/lib.sh
. "$ROOT/deploy/lib.sh"

BROKERS="${DH_KAFKA_BROKERS:-127.0.0.1:39092}"
REDIS_URL="${DH_REDIS_URL:-redis://127.0.0.1:36379}"
WORKER="${DH_BENCH_WORKER:-$ROOT/build/dh-testworker}"
IDEM_BENCH="${DH_BENCH_IDEM:-$(dirname "$WORKER")/dh-bench-idem}"
N_FAST="${DH_BENCH_EVENTS:-500000}"
FAST_KEYS="${DH_BENCH_KEYS:-10000}"
NOOP_CONFIGS="${DH_BENCH_NOOP_CONFIGS:-2:64 2:256 4:64 4:256}"
NOOP_ENV="${DH_BENCH_NOOP_ENV:-}"
N_SLOW="${DH_BENCH_SLOW_EVENTS:-3000}"
SLOW_KEYS="${DH_BENCH_SLOW_KEYS:-1000}"
SLOW_MS="${DH_BENCH_SLOW_MS:-20}"
SLOW_LANES="${DH_BENCH_SLOW_LANES:-64}"
SLOW_BATCH="${DH_BENCH_SLOW_BATCH:-64}"
RUN_TIMEOUT="${DH_BENCH_RUN_TIMEOUT:-90}"
CEIL_ROUNDS="${DH_BENCH_CEIL_ROUNDS:-2}"
PARTS=6
GOAL_RATE=100000     # events/s per replica
GOAL_RAW_PCT=30      # percent of raw
GOAL_LANES_X10=50    # 5.0x, in tenths
GOAL_RSS_KB=$((50 * 1024))

if [[ "${1:-}" == "--quick" ]]; then
    N_FAST=100000
    NOOP_CONFIGS="4:256"
    CEIL_ROUNDS=1
elif [[ -n "${1:-}" ]]; then
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2
    exit 2
fi

need_cmd kcat "install kcat (deploy/setup.sh)"
need_cmd redis-cli "install redis-tools (deploy/setup.sh)"
need_cmd curl "install curl"
need_cmd java "install a JDK 17+ (deploy/setup.sh)"
[[ -x "$WORKER" ]] || die "$WORKER not found; build it (cmake -S . -B build -G Ninja \
-DCMAKE_BUILD_TYPE=RelWithDebInfo && ninja -C build dh-testworker) or set DH_BENCH_WORKER"
[[ -x "$IDEM_BENCH" ]] || die "$IDEM_BENCH not found; build it (ninja -C build dh-bench-idem) or set DH_BENCH_IDEM"
[[ -d "$DH_STACK_KAFKA_LIBS" ]] || die "Kafka jars not in $DH_STACK_KAFKA_LIBS (deploy/setup.sh)"

# redis://host:port[/db]
rhostport="${REDIS_URL#redis://}"
rhostport="${rhostport%%/*}"
REDIS_HOST="${rhostport%%:*}"
REDIS_PORT="${rhostport##*:}"
[[ "$REDIS_PORT" != "$rhostport" ]] || REDIS_PORT=6379
REDIS_DB=0
[[ "${REDIS_URL#redis://*/}" == "$REDIS_URL" ]] || REDIS_DB="${REDIS_URL##*/}"
rcli() { redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" -n "$REDIS_DB" "$@"; }

timeout 10 kcat -b "$BROKERS" -L -t __dockhand_probe >/dev/null 2>&1 ||
    die "Kafka not reachable at $BROKERS (deploy/stack.sh up)"
[[ "$(rcli ping 2>/dev/null)" == PONG ]] || die "Redis not reachable at $REDIS_URL"

RUN_ID="$$-$(date +%s)"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/bench-runtime.XXXXXX")"
PIDS=()
NAMESPACES=()

cleanup() {
    local pid ns
    for pid in "${PIDS[@]}"; do
        if kill -0 "$pid" 2>/dev/null; then
            kill -TERM "$pid" 2>/dev/null || true
        fi
    done
    for pid in "${PIDS[@]}"; do
        for _ in $(seq 1 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || true
    done
    for ns in "${NAMESPACES[@]}"; do
        drop_records "$ns"
    done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# drop_records <ns>: delete what one worker run wrote under its name: its effects'
# idempotency records (testworker:idem:<ns>:*; one scan, each has ":<ns>:" in it). The
# records per batch have no <ns> in their names (testworker:idem-batch:<batch>,
# testworker:trace:<batch>), nor have the trace index sets of message keys
# (dh:trace:k0042, shared by every run): they are left to expire, the workers run with
# DH_IDEM_RETENTION_S=60 and DH_TRACE_RETENTION_S=60 (the default, 3 days, filled Redis).
drop_records() {
    rcli --scan --pattern "*:$1:*" 2>/dev/null |
        sed 's/^/UNLINK /' | rcli --pipe >/dev/null 2>&1 || true
}

# drop_ceiling_records <ns> <count>: the records dh-bench-idem wrote, by name ("<ns>:e<10^9 + i>"):
# no scan of a keyspace that may hold millions of other keys.
drop_ceiling_records() {
    seq 1000000000 $((1000000000 + $2 - 1)) | sed "s/^/UNLINK testworker:idem:$1:e/" |
        rcli --pipe >/dev/null 2>&1 || true
}

# ---- figures -----------------------------------------------------------------------------
# ratio_fmt <num> <den> <decimals>: num/den as a decimal string, integer arithmetic only.
ratio_fmt() {
    local num="$1" den="$2" d="${3:-2}" scale=1 r
    ((den > 0)) || { printf -- '-'; return; }
    for ((i = 0; i < d; i++)); do scale=$((scale * 10)); done
    r=$(((num * scale + den / 2) / den))
    if ((d == 0)); then printf '%d' "$r"; else printf '%d.%0*d' $((r / scale)) "$d" $((r % scale)); fi
}
# thousands <int>: 123456 -> 123,456
thousands() {
    local n="$1" out=""
    while ((${#n} > 3)); do out=",${n: -3}$out"; n="${n:0:${#n}-3}"; done
    printf '%s%s' "$n" "$out"
}
mb() { ratio_fmt "$1" 1024 1; } # kB -> MB with one decimal

# ---- topics and events ---------------------------------------------------------------------
kafka_tool() {
    local log4j="$DH_STACK_DIR/kafka/log4j2-tools.properties" opts=()
    [[ -f "$log4j" ]] && opts=(-Dlog4j2.configurationFile="$log4j")
    java -Xms32m -Xmx512m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xshare:auto -Xlog:disable \
        "${opts[@]}" -cp "$DH_STACK_KAFKA_LIBS/*" "$@"
}

create_topic() { # <name>
    kafka_tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$BROKERS" --create \
        --if-not-exists --topic "$1" --partitions "$PARTS" --replication-factor 1 >/dev/null
}

# end_offsets_sum <topic>: total of the partitions' high watermarks.
end_offsets_sum() {
    local args=() p sum=0 off
    for ((p = 0; p < PARTS; p++)); do args+=(-t "$1:$p:-1"); done
    while read -r off; do sum=$((sum + off)); done < <(kcat -b "$BROKERS" -Q "${args[@]}" 2>/dev/null |
        sed -n 's/.*offset \([0-9]*\)$/\1/p')
    printf '%d\n' "$sum"
}

produce() { # <topic> <file> [kcat args...]
    local topic="$1" file="$2"
    shift 2
    kcat -P -b "$BROKERS" -t "$topic" -X linger.ms=50 -X batch.num.messages=10000 \
        -X queue.buffering.max.messages=1000000 "$@" -l "$file"
}

T_FAST="bench-rt-noop-$RUN_ID"
T_KEYED="bench-rt-keyed-$RUN_ID"
T_KEYLESS="bench-rt-keyless-$RUN_ID"

header "runtime bench: preparing topics (6 partitions) and events"
create_topic "$T_FAST" &
c1=$!
create_topic "$T_KEYED" &
c2=$!
create_topic "$T_KEYLESS" &
c3=$!
if ! wait "$c1" || ! wait "$c2" || ! wait "$c3"; then
    die "creating topics failed"
fi

# Keyed events "k<i mod keys>:{"id":"e<i>","seq":<i>}"; seq grows within each key.
# Numbers start at 10^9 so every one has the same width; the key is the number mod keys.
gen_keyed() { # <count> <keys> <id-prefix> <file>
    local count="$1" keys="$2" prefix="$3" file="$4" base=1000000000 w
    w=${#keys}
    ((10 ** (w - 1) == keys)) || die "key counts must be powers of ten (got $keys)"
    w=$((w - 1))
    seq "$base" $((base + count - 1)) |
        sed -E "s/^(.*)(.{$w})\$/k\\2:{\"id\":\"$prefix\\1\\2\",\"seq\":\\1\\2}/" >"$file"
}
gen_keyed "$N_FAST" "$FAST_KEYS" e "$WORK/fast.txt"
produce "$T_FAST" "$WORK/fast.txt" -K:
gen_keyed "$N_SLOW" "$SLOW_KEYS" s "$WORK/keyed.txt"
produce "$T_KEYED" "$WORK/keyed.txt" -K:
# Keyless: the same number of events, spread evenly over the partitions explicitly
# (librdkafka's sticky partitioner would put a burst of keyless messages on few partitions).
per=$((N_SLOW / PARTS))
seq 1000000000 $((1000000000 + per * PARTS - 1)) |
    sed -E 's/^(.*)$/{"id":"u\1","seq":\1}/' >"$WORK/keyless.txt"
for ((p = 0; p < PARTS; p++)); do
    sed -n "$((p * per + 1)),$(((p + 1) * per))p" "$WORK/keyless.txt" >"$WORK/keyless.$p"
    produce "$T_KEYLESS" "$WORK/keyless.$p" -p "$p"
done
N_KEYLESS=$((per * PARTS))
for t in "$T_FAST:$N_FAST" "$T_KEYED:$N_SLOW" "$T_KEYLESS:$N_KEYLESS"; do
    got="$(end_offsets_sum "${t%%:*}")"
    [[ "$got" == "${t##*:}" ]] || die "topic ${t%%:*} holds $got events, expected ${t##*:}"
done
log "topics $T_FAST ($N_FAST events, $FAST_KEYS keys), $T_KEYED ($N_SLOW, $SLOW_KEYS keys), $T_KEYLESS ($N_KEYLESS, no key)"

# ---- 1a. raw consume ------------------------------------------------------------------------
# kcat with fetch.wait.max.ms=10: with the default 500 ms its end-of-partition detection
# waits out an empty fetch, adding 0.5-1 s to a run of well under a second.
header "raw consume of $T_FAST"
RAW_BEST=0
RAW_RUNS=""
# raw_reads <count>: time <count> reads after one warm-up read (not counted). Reads of about
# 0.2 s sometimes take 1 s instead (seen in series right after the produce), so the reads are
# repeated after the worker runs and the best of all is the baseline.
raw_reads() {
    local i s e ms got rate
    for ((i = 0; i <= $1; i++)); do
        s="$(date +%s%N)"
        got="$(kcat -C -b "$BROKERS" -t "$T_FAST" -o beginning -e -q -f '\n' \
            -X fetch.wait.max.ms=10 </dev/null | wc -l)"
        e="$(date +%s%N)"
        ms=$(((e - s) / 1000000))
        ((got == N_FAST)) || die "kcat read $got events, expected $N_FAST"
        rate=$((N_FAST * 1000 / (ms > 0 ? ms : 1)))
        ((i > 0)) || continue
        RAW_RUNS+="${RAW_RUNS:+, }$(thousands "$rate")"
        ((rate > RAW_BEST)) && RAW_BEST=$rate
    done
    return 0
}
raw_reads 3
log "kcat: $RAW_RUNS events/s (best $(thousands "$RAW_BEST"))"
# Kafka's own tool, for reference: fetch.nMsg.sec excludes JVM start-up and the group join.
CP_RATE=0
if out="$(kafka_tool org.apache.kafka.tools.ConsumerPerformance --bootstrap-server "$BROKERS" \
    --topic "$T_FAST" --num-records "$N_FAST" --group "bench-rt-cp-$RUN_ID" --hide-header 2>/dev/null)"; then
    # start, end, MB, MB/s, nMsg, nMsg/s, rebalance ms, fetch ms, fetch MB/s, fetch nMsg/s
    CP_RATE="$(printf '%s\n' "$out" | tail -n 1 | sed 's/ //g' | cut -d, -f10 | cut -d. -f1)"
    [[ "$CP_RATE" =~ ^[0-9]+$ ]] || CP_RATE=0
fi
log "ConsumerPerformance: fetch rate $(thousands "$CP_RATE") events/s"

# ---- worker runs ------------------------------------------------------------------------------
metric() { # <metrics text> <outcome>
    printf '%s\n' "$1" | sed -n "s/^dh_events_total{[^}]*outcome=\"$2\"} \\([0-9]*\\).*/\\1/p"
}

# redis_snap: "<cpu seconds> <set> <get> <other record commands> <evalsha+eval> <bytes in+out>
#   <used_memory> <all commands>" (commandstats counts the INFO calls themselves too: a few)
redis_snap() {
    rcli info all 2>/dev/null | tr -d '\r' | awk -F'[:,=]' '
        /^used_cpu_(user|sys):/ { cpu += $2 }
        /^cmdstat_set:/ { set = $3 }
        /^cmdstat_get:/ { get = $3 }
        /^cmdstat_(pexpire|pttl|del):/ { other += $3 }
        /^cmdstat_(evalsha|eval):/ { scripts += $3 }
        /^total_net_(input|output)_bytes:/ { net += $2 }
        /^used_memory:/ { mem = $2 }
        /^cmdstat_/ { all += $3 }
        END { printf "%.6f %.0f %.0f %.0f %.0f %.0f %.0f %.0f\n", cpu, set, get, other, scripts, net, mem, all }'
}

# proc_cpu_us <pid>: user + system CPU the process has used, in µs (0 if it is gone).
CLK_TCK="$(getconf CLK_TCK)"
proc_cpu_us() {
    local s f
    s="$(cat "/proc/$1/stat" 2>/dev/null)" || { printf '0\n'; return; }
    s="${s##*) }" # fields after the command name, which may hold spaces
    read -r -a f <<<"$s"
    printf '%d\n' $(((f[11] + f[12]) * 1000000 / CLK_TCK))
}

# The broker's process, if it runs here: the one listening on the bootstrap port.
BROKER_PID="$(ss -Hltnp "sport = :${BROKERS##*:}" 2>/dev/null | sed -n 's/.*pid=\([0-9]*\).*/\1/p' | head -n 1)"

# run_worker <label> <topic> <expected events> [VAR=value ...]
# Starts dh-testworker with a fresh group and record namespace, polls /metrics every 50 ms
# until every event finished, samples VmRSS, stops the worker. Sets R_MS (worker start to
# last event finished), R_RATE (events/s over R_MS), R_STEADY (events/s between 10% and
# 90% finished), R_RSS (largest VmRSS in kB once 10% finished), R_FINISHED, and the CPU
# used over the run in µs by the worker (R_WORKER_US), Redis (R_REDIS_US, INFO cpu: the
# whole server) and the broker if it runs here (R_BROKER_US), and Redis's commands (R_REDIS_CMDS).
run_worker() {
    local label="$1" topic="$2" expect="$3"
    shift 3
    local ns="bench${RUN_ID//-/}$label" logf="$WORK/worker-$label.log" pid port="" m
    local start now done_n dup dead fin t10=0 t90=0 n10 n90 rss=0 r deadline
    local redis0 redis1 broker0
    ns="${ns//[^A-Za-z0-9]/}"
    NAMESPACES+=("$ns")
    n10=$((expect / 10))
    n90=$((expect * 9 / 10))
    : >"$logf"
    read -r -a redis0 < <(redis_snap)
    broker0="$(proc_cpu_us "${BROKER_PID:-0}")"
    start="$(date +%s%N)"
    # A clean environment: the worker rejects unknown DH_* variables (DH_BENCH_* among them).
    env -i PATH="$PATH" HOME="${HOME:-/tmp}" DH_KAFKA_BROKERS="$BROKERS" DH_REDIS_URL="$REDIS_URL" DH_TOPICS="$topic" \
        DH_GROUP_ID="bench-rt-$label-$RUN_ID" DH_TEST_NS="$ns" DH_TEST_MODE=noop \
        DH_ADMIN_ADDR=127.0.0.1 DH_ADMIN_PORT=0 DH_IDEM_RETENTION_S=60 DH_TRACE_RETENTION_S=60 \
        DH_DRAIN_TIMEOUT_MS=2000 DH_LOG_LEVEL=info "$@" "$WORKER" >"$logf" 2>&1 &
    pid=$!
    PIDS+=("$pid")
    deadline=$((start / 1000000 + RUN_TIMEOUT * 1000))
    while [[ -z "$port" ]]; do
        kill -0 "$pid" 2>/dev/null || { tail -n 20 "$logf" >&2; die "worker $label exited"; }
        port="$(sed -n 's/.*admin endpoints on [0-9.]*:\([0-9]*\).*/\1/p' "$logf" | head -n 1)"
        [[ -n "$port" ]] || sleep 0.02
    done
    fin=0
    while :; do
        m="$(curl -s --max-time 2 "http://127.0.0.1:$port/metrics" || true)"
        now="$(date +%s%N)"
        done_n="$(metric "$m" "done")"
        dup="$(metric "$m" duplicate)"
        dead="$(metric "$m" dead_letter)"
        fin=$((${done_n:-0} + ${dup:-0} + ${dead:-0}))
        if ((fin >= n10)); then
            r="$(sed -n 's/^VmRSS:[^0-9]*\([0-9]*\).*/\1/p' "/proc/$pid/status" 2>/dev/null || true)"
            ((${r:-0} > rss)) && rss=$r
            ((t10 == 0)) && t10=$now
        fi
        ((fin >= n90 && t90 == 0)) && t90=$now
        ((fin >= expect)) && break
        if ((now / 1000000 > deadline)) || ! kill -0 "$pid" 2>/dev/null; then
            warn "run $label: only $fin of $expect events finished (log: tail below)"
            tail -n 5 "$logf" >&2
            break
        fi
        sleep 0.05
    done
    R_MS=$(((now - start) / 1000000))
    R_RATE=$((fin * 1000 / (R_MS > 0 ? R_MS : 1)))
    R_STEADY=0
    ((t90 > t10)) && R_STEADY=$(((n90 - n10) * 1000000000 / (t90 - t10)))
    R_RSS=$rss
    R_FINISHED=$fin
    # CPU over the run (the worker's from its start), read before it is stopped.
    R_WORKER_US="$(proc_cpu_us "$pid")"
    read -r -a redis1 < <(redis_snap)
    R_REDIS_US="$(awk -v x="${redis0[0]}" -v y="${redis1[0]}" 'BEGIN { printf "%d", (y - x) * 1e6 }')"
    R_REDIS_CMDS=$((redis1[7] - redis0[7]))
    R_BROKER_US=0
    [[ -n "${BROKER_PID:-}" ]] && R_BROKER_US=$(($(proc_cpu_us "$BROKER_PID") - broker0))
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    drop_records "$ns"
    if ((R_FINISHED < expect)); then
        R_RATE=0 # incomplete: not a throughput
    fi
}

# ---- 1b. runtime, no-op handler ------------------------------------------------------------------
header "runtime, no-op handler (claims and completes a record per event), $N_FAST events"
NOOP_BEST=0
NOOP_BEST_CFG=""
RSS_MAX=0
RSS_WHERE=""
DETAILS=()
read -r -a noop_env <<<"$NOOP_ENV"
for cfg in $NOOP_CONFIGS; do
    lanes="${cfg%%:*}"
    batch="${cfg##*:}"
    run_worker "noop-l${lanes}-b${batch}" "$T_FAST" "$N_FAST" DH_LANES="$lanes" \
        DH_BATCH_MAX="$batch" "${noop_env[@]}"
    DETAILS+=("no-op DH_LANES=$lanes DH_BATCH_MAX=$batch|$(ratio_fmt "$R_MS" 1000 2) s|$(thousands "$R_RATE")|$(thousands "$R_STEADY")|$(mb "$R_RSS")")
    log "lanes=$lanes batch=$batch: $(thousands "$R_RATE") events/s (steady $(thousands "$R_STEADY")), RSS $(mb "$R_RSS") MB"
    if ((R_RATE > NOOP_BEST)); then
        NOOP_BEST=$R_RATE
        NOOP_BEST_CFG="lanes=$lanes batch=$batch"
        NOOP_BEST_STEADY=$R_STEADY
        NOOP_BEST_ENV=(DH_LANES="$lanes" DH_BATCH_MAX="$batch")
        NOOP_CPU=("$R_WORKER_US" "$R_REDIS_US" "$R_BROKER_US" "$R_REDIS_CMDS" "$R_FINISHED")
    fi
    if ((R_RSS > RSS_MAX)); then RSS_MAX=$R_RSS; RSS_WHERE="no-op lanes=$lanes batch=$batch"; fi
done
# Reference: the best configuration again without trace records (DH_TRACE_RETENTION_S=0;
# the INFO line is still written), so the table can tell what they cost.
run_worker noop-notrace "$T_FAST" "$N_FAST" "${NOOP_BEST_ENV[@]}" "${noop_env[@]}" DH_TRACE_RETENTION_S=0
DETAILS+=("no-op $NOOP_BEST_CFG, no trace records|$(ratio_fmt "$R_MS" 1000 2) s|$(thousands "$R_RATE")|$(thousands "$R_STEADY")|$(mb "$R_RSS")")
log "$NOOP_BEST_CFG without trace records: $(thousands "$R_RATE") events/s"
NOTRACE_RATE=$R_RATE
NOTRACE_STEADY=$R_STEADY
NOTRACE_CPU=("$R_WORKER_US" "$R_REDIS_US" "$R_BROKER_US" "$R_REDIS_CMDS" "$R_FINISHED")

# ---- 1c. the Redis ceiling, before and after -----------------------------------------------------
# The same claim + done records through the same client code, with no Kafka and no executor
# (dh-bench-idem, 2 and 4 threads x 256): the most the no-op runtime could reach here. Once
# with the records written as today (plain pipelined SETs: "after") and once as before
# (one multi-key Lua script per batch for the claims, one for the completions: --legacy,
# "before"), alternating. Around each run: Redis's own CPU (INFO cpu), its commands
# (INFO commandstats: calls, the scripts' inner calls included), its network bytes
# (INFO stats) and, before the records are dropped, its memory (INFO memory).

# ceil_run <before|after> <threads>: one dh-bench-idem run; adds to the C_* totals of the mode.
declare -A C_EVENTS C_CPU_US C_CMDS C_SCRIPTS C_NET C_MEM C_BEST C_RUNS C_CLIENT_US
ceil_run() {
    local mode="$1" threads="$2" ns out rate a b flag=()
    ns="benchceil${RUN_ID//-/}$mode$threads"
    [[ "$mode" == before ]] && flag=(--legacy)
    read -r -a a < <(redis_snap)
    # bash's time: the client's own CPU (user and system seconds), beside Redis's.
    out="$( { TIMEFORMAT='%3U %3S'; time "$IDEM_BENCH" "${flag[@]}" "$REDIS_URL" "$N_FAST" "$threads" 256 "$ns"; } 2>"$WORK/ceil-time")" ||
        die "dh-bench-idem ${flag[*]} failed: $out"
    C_CLIENT_US[$mode]=$((${C_CLIENT_US[$mode]:-0} + $(awk 'END { printf "%d", ($1 + $2) * 1e6 }' "$WORK/ceil-time")))
    read -r -a b < <(redis_snap)
    drop_ceiling_records "$ns" "$N_FAST"
    rate="${out##*rate=}"
    C_RUNS[$mode]+="${C_RUNS[$mode]:+, }$threads threads $(thousands "$rate")"
    ((rate > ${C_BEST[$mode]:-0})) && C_BEST[$mode]=$rate
    C_EVENTS[$mode]=$((${C_EVENTS[$mode]:-0} + N_FAST))
    C_CPU_US[$mode]=$((${C_CPU_US[$mode]:-0} + $(awk -v x="${a[0]}" -v y="${b[0]}" 'BEGIN { printf "%d", (y - x) * 1e6 }')))
    C_CMDS[$mode]=$((${C_CMDS[$mode]:-0} + b[1] + b[2] + b[3] + b[4] - a[1] - a[2] - a[3] - a[4]))
    C_SCRIPTS[$mode]=$((${C_SCRIPTS[$mode]:-0} + b[4] - a[4]))
    C_NET[$mode]=$((${C_NET[$mode]:-0} + b[5] - a[5]))
    C_MEM[$mode]=$((${C_MEM[$mode]:-0} + b[6] - a[6]))
}

header "Redis alone: claim and complete $N_FAST records (dh-bench-idem), before and after"
for ((round = 0; round < CEIL_ROUNDS; round++)); do
    for threads in 2 4; do
        ceil_run before "$threads"
        ceil_run after "$threads"
    done
done
for mode in before after; do
    log "Redis alone, $mode: ${C_RUNS[$mode]} records/s (best $(thousands "${C_BEST[$mode]}"))"
done
CEIL_BEST=${C_BEST[after]}
CEIL_OLD=${C_BEST[before]}
# per_event <total> <events> <decimals>
per_event() { ratio_fmt "$1" "$2" "${3:-2}"; }

# ---- 2. 20 ms handler: key-ordered lanes vs partition-at-a-time -----------------------------
header "handler waiting ${SLOW_MS} ms: keyed ($SLOW_KEYS keys) vs keyless (partition-at-a-time)"
run_worker keyed "$T_KEYED" "$N_SLOW" DH_LANES="$SLOW_LANES" DH_BATCH_MAX="$SLOW_BATCH" \
    DH_TEST_SLEEP_MS="$SLOW_MS"
KEYED_RATE=$R_RATE
DETAILS+=("${SLOW_MS} ms, keyed DH_LANES=$SLOW_LANES DH_BATCH_MAX=$SLOW_BATCH|$(ratio_fmt "$R_MS" 1000 2) s|$(thousands "$R_RATE")|$(thousands "$R_STEADY")|$(mb "$R_RSS")")
if ((R_RSS > RSS_MAX)); then RSS_MAX=$R_RSS; RSS_WHERE="${SLOW_MS} ms keyed"; fi
run_worker keyless "$T_KEYLESS" "$N_KEYLESS" DH_LANES="$SLOW_LANES" DH_BATCH_MAX="$SLOW_BATCH" \
    DH_TEST_SLEEP_MS="$SLOW_MS"
KEYLESS_RATE=$R_RATE
DETAILS+=("${SLOW_MS} ms, keyless DH_LANES=$SLOW_LANES DH_BATCH_MAX=$SLOW_BATCH|$(ratio_fmt "$R_MS" 1000 2) s|$(thousands "$R_RATE")|$(thousands "$R_STEADY")|$(mb "$R_RSS")")
if ((R_RSS > RSS_MAX)); then RSS_MAX=$R_RSS; RSS_WHERE="${SLOW_MS} ms keyless"; fi
# Reference: the keyed run again at the runtime's default DH_BATCH_MAX (64). A lane runs its
# batch's handle() calls one after another, so a slow handler gets fewer calls in flight.
run_worker keyed-b64 "$T_KEYED" "$N_SLOW" DH_LANES="$SLOW_LANES" DH_TEST_SLEEP_MS="$SLOW_MS"
KEYED64_RATE=$R_RATE
DETAILS+=("${SLOW_MS} ms, keyed DH_LANES=$SLOW_LANES DH_BATCH_MAX=64 (default)|$(ratio_fmt "$R_MS" 1000 2) s|$(thousands "$R_RATE")|$(thousands "$R_STEADY")|$(mb "$R_RSS")")
if ((R_RSS > RSS_MAX)); then RSS_MAX=$R_RSS; RSS_WHERE="${SLOW_MS} ms keyed, batch 64"; fi

log "kcat again after the worker runs"
raw_reads 3
log "kcat: $RAW_RUNS events/s (best $(thousands "$RAW_BEST"))"

# ---- table ---------------------------------------------------------------------------------------
verdict() { if (($1)); then printf yes; else printf no; fi; }
row() { local s="|" f; for f in "$@"; do s+=" $f |"; done; printf '%s\n' "$s"; }

printf '\nRuns (one worker = one replica; time from process start to the last event finished;\n'
printf 'steady = rate between 10%% and 90%% finished; RSS = largest VmRSS after 10%%):\n\n'
printf '| run | time | events/s | steady events/s | RSS MB |\n|---|---|---|---|---|\n'
for d in "${DETAILS[@]}"; do
    IFS='|' read -r a b c e f <<<"$d"
    row "$a" "$b" "$c" "$e" "$f"
done

printf '\nResults (%s, %s cores, broker %s):\n\n' "$(date -u +%Y-%m-%dT%H:%MZ)" "$(nproc)" "$BROKERS"
printf '| metric | measured | baseline | ratio | goal | met? |\n|---|---|---|---|---|---|\n'
row "no-op consume, events/s per replica (best: $NOOP_BEST_CFG)" "$(thousands "$NOOP_BEST")" \
    "-" "-" ">= 100,000" "$(verdict $((NOOP_BEST >= GOAL_RATE)))"
row "no-op runtime vs raw kcat consume (best of 6)" "$(thousands "$NOOP_BEST")" \
    "$(thousands "$RAW_BEST")" "$(ratio_fmt "$NOOP_BEST" "$RAW_BEST" 3)" ">= 0.30" \
    "$(verdict $((NOOP_BEST * 100 >= RAW_BEST * GOAL_RAW_PCT)))"
row "(reference) vs Kafka ConsumerPerformance fetch rate" "$(thousands "$NOOP_BEST")" \
    "$(thousands "$CP_RATE")" "$(ratio_fmt "$NOOP_BEST" "$CP_RATE" 3)" "-" "-"
row "(ceiling) the same records in Redis alone, no Kafka: after vs before, records/s" \
    "$(thousands "$CEIL_BEST")" "$(thousands "$CEIL_OLD")" "$(ratio_fmt "$CEIL_BEST" "$CEIL_OLD" 2)x" \
    ">= 1.5x" "$(verdict $((CEIL_OLD > 0 && CEIL_BEST * 10 >= CEIL_OLD * 15)))"
row "Redis CPU per event, µs: after vs before" \
    "$(per_event "${C_CPU_US[after]}" "${C_EVENTS[after]}")" \
    "$(per_event "${C_CPU_US[before]}" "${C_EVENTS[before]}")" \
    "$(ratio_fmt "${C_CPU_US[after]}" "${C_CPU_US[before]}" 2)" "-" "-"
row "Redis commands per event (scripts' inner calls included): after vs before" \
    "$(per_event "${C_CMDS[after]}" "${C_EVENTS[after]}")" \
    "$(per_event "${C_CMDS[before]}" "${C_EVENTS[before]}")" \
    "$(ratio_fmt "${C_CMDS[after]}" "${C_CMDS[before]}" 2)" "-" "-"
row "(reference) Lua script calls per event: after vs before" \
    "$(per_event "${C_SCRIPTS[after]}" "${C_EVENTS[after]}" 4)" \
    "$(per_event "${C_SCRIPTS[before]}" "${C_EVENTS[before]}" 4)" "-" "-" "-"
row "(reference) Redis network bytes per event, in + out: after vs before" \
    "$(per_event "${C_NET[after]}" "${C_EVENTS[after]}" 0)" \
    "$(per_event "${C_NET[before]}" "${C_EVENTS[before]}" 0)" \
    "$(ratio_fmt "${C_NET[after]}" "${C_NET[before]}" 2)" "-" "-"
row "(reference) Redis memory per done record, bytes: after vs before" \
    "$(per_event "${C_MEM[after]}" "${C_EVENTS[after]}" 0)" \
    "$(per_event "${C_MEM[before]}" "${C_EVENTS[before]}" 0)" "-" "-" "-"
row "no-op runtime vs the Redis-alone ceiling (after)" "$(thousands "$NOOP_BEST")" \
    "$(thousands "$CEIL_BEST")" "$(ratio_fmt "$NOOP_BEST" "$CEIL_BEST" 2)" ">= 0.85" \
    "$(verdict $((CEIL_BEST > 0 && NOOP_BEST * 100 >= CEIL_BEST * 85)))"
# CPU per event of a run: "<worker> + <Redis> + <broker> = <total>" in µs; cpu_total sums them.
cpu_text() { # <worker us> <redis us> <broker us> <cmds> <events>
    printf '%s + %s + %s = %s' "$(per_event "$1" "$5")" "$(per_event "$2" "$5")" \
        "$(per_event "$3" "$5")" "$(per_event $(($1 + $2 + $3)) "$5")"
}
# cpu_bound <worker us> <redis us> <broker us> <cmds> <events>: the most events/s those CPU
# costs allow here even with no waiting at all: every process shares the machine's cores,
# and Redis runs its commands on one thread.
cpu_bound() {
    local total=$(($1 + $2 + $3)) all one
    ((total > 0 && $2 > 0)) || { printf '0\n'; return; }
    all=$(($(nproc) * 1000000 * $5 / total))
    one=$((1000000 * $5 / $2))
    printf '%d\n' $((all < one ? all : one))
}
NOOP_BOUND="$(cpu_bound "${NOOP_CPU[@]}")"
NOTRACE_BOUND="$(cpu_bound "${NOTRACE_CPU[@]}")"
CEIL_TOTAL=$((C_CLIENT_US[after] + C_CPU_US[after]))
row "(reference) no-op runtime without trace records vs the ceiling" "$(thousands "$NOTRACE_RATE")" \
    "$(thousands "$CEIL_BEST")" "$(ratio_fmt "$NOTRACE_RATE" "$CEIL_BEST" 2)" "-" "-"
# The rate above counts the worker's start (joining the group, the first fetch: about half
# a second of a 3-4 s run); dh-bench-idem's rate has no such start. The steady rate leaves it out.
row "(reference) the same two, steady rate (10%-90% finished), vs the ceiling" \
    "$(thousands "$NOOP_BEST_STEADY") / $(thousands "$NOTRACE_STEADY")" "$(thousands "$CEIL_BEST")" \
    "$(ratio_fmt "$NOOP_BEST_STEADY" "$CEIL_BEST" 2) / $(ratio_fmt "$NOTRACE_STEADY" "$CEIL_BEST" 2)" "-" "-"
row "(reference) CPU per event, µs: no-op runtime (best run) worker + Redis + broker" \
    "$(cpu_text "${NOOP_CPU[@]}")" "-" "-" "-" "-"
row "(reference) the same without trace records" "$(cpu_text "${NOTRACE_CPU[@]}")" "-" "-" "-" "-"
row "(reference) CPU per event, µs: Redis alone (after) client + Redis" \
    "$(per_event "${C_CLIENT_US[after]}" "${C_EVENTS[after]}") + $(per_event "${C_CPU_US[after]}" "${C_EVENTS[after]}") = $(per_event "$CEIL_TOTAL" "${C_EVENTS[after]}")" \
    "-" "-" "-" "-"
row "(reference) Redis commands per event: no-op runtime with vs without trace records" \
    "$(per_event "${NOOP_CPU[3]}" "${NOOP_CPU[4]}")" "$(per_event "${NOTRACE_CPU[3]}" "${NOTRACE_CPU[4]}")" \
    "-" "-" "-"
row "(reference) most events/s the no-op runtime's CPU costs allow here ($(nproc) cores shared, Redis on one thread), with / without trace records, vs the ceiling" \
    "$(thousands "$NOOP_BOUND") / $(thousands "$NOTRACE_BOUND")" "$(thousands "$CEIL_BEST")" \
    "$(ratio_fmt "$NOOP_BOUND" "$CEIL_BEST" 2) / $(ratio_fmt "$NOTRACE_BOUND" "$CEIL_BEST" 2)" "-" "-"
row "${SLOW_MS} ms handler: key-ordered lanes vs partition-at-a-time, events/s" \
    "$(thousands "$KEYED_RATE")" "$(thousands "$KEYLESS_RATE")" \
    "$(ratio_fmt "$KEYED_RATE" "$KEYLESS_RATE" 1)x" ">= 5x" \
    "$(verdict $((KEYLESS_RATE > 0 && KEYED_RATE * 10 >= KEYLESS_RATE * GOAL_LANES_X10)))"
row "(reference) the same, keyed at the default DH_BATCH_MAX=64" "$(thousands "$KEYED64_RATE")" \
    "$(thousands "$KEYLESS_RATE")" "$(ratio_fmt "$KEYED64_RATE" "$KEYLESS_RATE" 1)x" "-" "-"
row "resident memory at steady state, MB per replica (max: $RSS_WHERE)" "$(mb "$RSS_MAX")" \
    "50 (goal)" "$(ratio_fmt "$RSS_MAX" "$GOAL_RSS_KB" 2)" "<= 50 MB" \
    "$(verdict $((RSS_MAX > 0 && RSS_MAX <= GOAL_RSS_KB)))"
printf '\nOne run on one machine: compare the ratios; absolute figures move with the load.\n'
