#!/usr/bin/env bash
# tests/stack/test_stack.sh: checks deploy/stack.sh against the real local stack.
# Prints "ok - ..." / "not ok - ..." per check and "N passed, M failed"; exit 0 iff all pass.
# It stops the stack on purpose (down, kafka-stop, redis-stop): run it serially with
# other tests that use the stack. If the stack was up when it began, it is up at the end.
# shellcheck source-path=SCRIPTDIR
set -euo pipefail

# shellcheck source=../../deploy/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../../deploy/lib.sh"

STACK="$DH_ROOT/deploy/stack.sh"
KAFKA_PORT="${DH_STACK_KAFKA_PORT:-39092}"
CTRL_PORT="${DH_STACK_KAFKA_CONTROLLER_PORT:-39093}"
REDIS_PORT="${DH_STACK_REDIS_PORT:-36379}"
BOOTSTRAP="127.0.0.1:$KAFKA_PORT"
# The SASL listener: on for the default stack, or where DH_STACK_KAFKA_SASL_PORT says.
if [[ -z "${DH_STACK_KAFKA_PORT:-}" ]]; then
    SASL_PORT="${DH_STACK_KAFKA_SASL_PORT:-39094}"
else
    SASL_PORT="${DH_STACK_KAFKA_SASL_PORT:-off}"
fi
SASL_USER="${DH_STACK_KAFKA_SASL_USERNAME:-dh-ops}"
SASL_PASSWORD="${DH_STACK_KAFKA_SASL_PASSWORD:-dh-ops-local}"
RUN_DIR="$DH_STACK_DIR/run"
KAFKA_CONF="$DH_STACK_DIR/kafka/server.properties"
OUT="$(mktemp -d)"
TOKEN="stacktest-$$-$(date +%s%N)"

passed=0
failed=0
ok() {
    printf 'ok - %s\n' "$1"
    passed=$((passed + 1))
}
not_ok() {
    printf 'not ok - %s\n' "$1"
    failed=$((failed + 1))
    if [[ -n "${2:-}" && -s "$2" ]]; then
        sed 's/^/#   /' "$2" | tail -n 30
    fi
}
# check <description> <cmd...>
check() {
    local desc="$1"
    shift
    if "$@"; then ok "$desc"; else not_ok "$desc"; fi
}

# ---- helpers ---------------------------------------------------------------------
was_up=0
foreign_pid=""
cleanup() {
    local rc=$?
    if [[ -n "$foreign_pid" ]]; then
        kill "$foreign_pid" 2>/dev/null || true
    fi
    if ((was_up)); then
        "$STACK" up >"$OUT/restore.log" 2>&1 || {
            echo "# could not bring the stack back up:"
            sed 's/^/#   /' "$OUT/restore.log"
        }
    fi
    rm -rf "$OUT"
    exit "$rc"
}
trap cleanup EXIT

# run_stack <name> <args...>: runs deploy/stack.sh; output in $OUT/<name>.log; sets
# $elapsed_ms and returns its exit status.
elapsed_ms=0
run_stack() {
    local name="$1" start rc=0
    shift
    start="$(now_ms)"
    "$STACK" "$@" >"$OUT/$name.log" 2>&1 || rc=$?
    elapsed_ms=$(($(now_ms) - start))
    return "$rc"
}

# our_processes: pids of any Kafka or Redis of this stack (by argv / working dir).
our_processes() {
    local p pid cmd cwd redis_dir
    redis_dir=""
    if [[ -d "$DH_STACK_DIR/redis" ]]; then
        redis_dir="$(cd "$DH_STACK_DIR/redis" && pwd -P)"
    fi
    for p in /proc/[0-9]*; do
        pid="${p#/proc/}"
        cmd="$(pid_cmdline "$pid")"
        if [[ "$cmd" == *"kafka.Kafka $KAFKA_CONF"* ]]; then
            printf '%s kafka\n' "$pid"
        elif [[ "$cmd" == *redis-server* && -n "$redis_dir" ]]; then
            cwd="$(readlink "$p/cwd" 2>/dev/null || true)"
            if [[ "$cwd" == "$redis_dir" ]]; then
                printf '%s redis\n' "$pid"
            fi
        fi
    done
}

ports_free() {
    ! port_open "$KAFKA_PORT" && ! port_open "$CTRL_PORT" && ! port_open "$REDIS_PORT" &&
        { [[ "$SASL_PORT" == off ]] || ! port_open "$SASL_PORT"; }
}

# sasl_kcat <mechanism> <password> <log>: a metadata request through the SASL listener.
sasl_kcat() {
    timeout 20 kcat -b "127.0.0.1:$SASL_PORT" -L -m 5 -X security.protocol=SASL_PLAINTEXT \
        -X sasl.mechanisms="$1" -X sasl.username="$SASL_USER" -X sasl.password="$2" \
        >"$3" 2>&1 && grep -q "sasl_plaintext://127.0.0.1:$SASL_PORT" "$3"
}
# sasl_scram_java <password>: Kafka's own client lists the topics with SCRAM-SHA-512
# (librdkafka before 2.6.1 cannot SCRAM against Kafka 4; see docs/runbook.md).
sasl_scram_java() {
    printf '%s\n' "security.protocol=SASL_PLAINTEXT" "sasl.mechanism=SCRAM-SHA-512" \
        "sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username=\"$SASL_USER\" password=\"$1\";" \
        "request.timeout.ms=10000" "default.api.timeout.ms=20000" >"$OUT/scram.properties"
    timeout 60 java -Xshare:auto -XX:TieredStopAtLevel=1 -cp "$DH_STACK_KAFKA_LIBS/*" \
        org.apache.kafka.tools.TopicCommand --bootstrap-server "127.0.0.1:$SASL_PORT" \
        --command-config "$OUT/scram.properties" --list >"$OUT/scram.log" 2>&1 &&
        grep -qx wms.putaway "$OUT/scram.log"
}

# A PATH holding everything of the current PATH except java.
path_without_java() {
    local dir f n bin="$OUT/nojava-bin"
    mkdir -p "$bin"
    IFS=: read -r -a dirs <<<"$PATH"
    for dir in "${dirs[@]}"; do
        [[ -d "$dir" ]] || continue
        for f in "$dir"/*; do
            n="${f##*/}"
            [[ "$n" == java || -e "$bin/$n" || ! -x "$f" ]] && continue
            ln -s "$f" "$bin/$n"
        done
    done
    printf '%s\n' "$bin"
}

need_cmd kcat
need_cmd redis-cli

if "$STACK" status >/dev/null 2>&1; then
    was_up=1
    echo "# the stack was up before the test; it will be brought back up at the end"
fi

# ---- up, twice ---------------------------------------------------------------------
if run_stack up1 up; then
    ok "up starts the stack ($((elapsed_ms / 1000)).$((elapsed_ms % 1000 / 100)) s)"
else
    not_ok "up starts the stack" "$OUT/up1.log"
fi
kafka_pid1="$(read_pid "$RUN_DIR/kafka.pid")"
redis_pid1="$(read_pid "$RUN_DIR/redis.pid")"
check "kafka pid file names a live process" pid_alive "${kafka_pid1:-0}"
check "redis pid file names a live process" pid_alive "${redis_pid1:-0}"

if run_stack up2 up && ((elapsed_ms < 5000)); then
    ok "second up succeeds quickly ($elapsed_ms ms)"
else
    not_ok "second up succeeds quickly ($elapsed_ms ms)" "$OUT/up2.log"
fi
check "second up keeps the same kafka process" \
    test "$(read_pid "$RUN_DIR/kafka.pid")" = "$kafka_pid1"
check "second up keeps the same redis process" \
    test "$(read_pid "$RUN_DIR/redis.pid")" = "$redis_pid1"

if run_stack status status && grep -q '^kafka  up' "$OUT/status.log" &&
    grep -q '^redis  up' "$OUT/status.log"; then
    ok "status reports both services up (exit 0)"
else
    not_ok "status reports both services up (exit 0)" "$OUT/status.log"
fi

env_out="$("$STACK" env)"
check "env prints eval-able exports" bash -c "eval \"\$1\" && \
    [[ \$DH_KAFKA_BROKERS == $BOOTSTRAP && \$KAFKA_BOOTSTRAP_SERVERS == $BOOTSTRAP && \
       \$DH_REDIS_URL == redis://127.0.0.1:$REDIS_PORT ]]" _ "$env_out"

# ---- the SASL listener -------------------------------------------------------------------
if [[ "$SASL_PORT" != off ]]; then
    check "env names the SASL listener (not exported)" bash -c "eval \"\$1\" && \
        [[ \$DH_STACK_KAFKA_SASL_BROKERS == 127.0.0.1:$SASL_PORT ]] && \
        ! grep -q '^export DH_STACK' <<<\"\$1\"" _ "$env_out"
    check "SASL listener: PLAIN with the stack's user reads metadata" \
        sasl_kcat PLAIN "$SASL_PASSWORD" "$OUT/sasl-plain.log"
    if sasl_kcat PLAIN wrong-password "$OUT/sasl-wrong.log"; then
        not_ok "SASL listener refuses a wrong password" "$OUT/sasl-wrong.log"
    else
        check "SASL listener refuses a wrong password" \
            grep -q "Invalid username or password" "$OUT/sasl-wrong.log"
    fi
    check "SASL listener: SCRAM-SHA-512 user of the format (Kafka's client)" \
        sasl_scram_java "$SASL_PASSWORD"
fi

# ---- topics ----------------------------------------------------------------------------
metadata() { kcat -b "$BOOTSTRAP" -L -m 10 >"$OUT/metadata.txt" 2>&1; }
check "kcat reads the broker's metadata" metadata
while read -r name parts _; do
    [[ -z "$name" || "$name" == \#* ]] && continue
    check "topic $name exists with $parts partitions" \
        grep -q "^ *topic \"$name\" with $parts partitions:" "$OUT/metadata.txt"
done <"$DH_ROOT/deploy/topics.txt"
# Every source topic has its dead-letter twin, every topic 6 partitions.
ntopics="$(grep -cE '^[a-z_.]+ [0-9]+$' "$DH_ROOT/deploy/topics.txt")"
twins_ok() {
    local name parts
    while read -r name parts _; do
        [[ -z "$name" || "$name" == \#* ]] && continue
        [[ "$parts" == 6 ]] || return 1
        if [[ "$name" != *.dlq ]]; then
            grep -q "^$name.dlq 6$" "$DH_ROOT/deploy/topics.txt" || return 1
        fi
    done <"$DH_ROOT/deploy/topics.txt"
    ((ntopics >= 2 && ntopics % 2 == 0))
}
check "topics.txt: $ntopics topics, 6 partitions each, every source with its .dlq" twins_ok
if run_stack topics topics && grep -q "all $ntopics topics present" "$OUT/topics.log"; then
    ok "topics is idempotent"
else
    not_ok "topics is idempotent" "$OUT/topics.log"
fi
# The broker must answer, and answer "unknown topic": asking for a topic's metadata and
# producing to it are what auto-create it where that is enabled. A broker that is down or
# a kcat that crashes fails here (it used to pass as "no partitions").
no_autocreate() {
    local t="dh.autocreate.$TOKEN"
    timeout 15 kcat -b "$BOOTSTRAP" -L -t "$t" -m 5 >"$OUT/autocreate.log" 2>&1 &&
        grep -q "topic \"$t\" with 0 partitions: Broker: Unknown topic or partition" \
            "$OUT/autocreate.log" || return 1
    if printf 'x\n' | timeout 20 kcat -b "$BOOTSTRAP" -P -t "$t" -X message.timeout.ms=5000 \
        >>"$OUT/autocreate.log" 2>&1; then
        echo "producing to $t succeeded" >>"$OUT/autocreate.log"
        return 1
    fi
    grep -q "Unknown topic or partition" "$OUT/autocreate.log" || return 1
    # Afterwards the broker lists its topics, and this one is not among them.
    timeout 15 kcat -b "$BOOTSTRAP" -L -m 5 >"$OUT/autocreate-after.log" 2>&1 &&
        grep -q 'topic "wms.putaway" with 6 partitions' "$OUT/autocreate-after.log" &&
        ! grep -q "topic \"$t\"" "$OUT/autocreate-after.log"
}
if no_autocreate; then
    ok "brokers do not auto-create topics (metadata and produce: unknown topic)"
else
    not_ok "brokers do not auto-create topics" "$OUT/autocreate.log"
fi

# ---- data round trips ------------------------------------------------------------
roundtrip_kafka() {
    printf '%s\n' "$TOKEN" | timeout 20 kcat -b "$BOOTSTRAP" -P -t wms.putaway -p 3 \
        -k "$TOKEN" -X acks=all 2>"$OUT/produce.log" || return 1
    timeout 20 kcat -b "$BOOTSTRAP" -C -t wms.putaway -p 3 -o -20 -e -q \
        -f '%k=%s\n' 2>"$OUT/consume.log" | grep -qx "$TOKEN=$TOKEN"
}
check "kafka produce/consume round trip (wms.putaway, acks=all)" roundtrip_kafka

roundtrip_redis() {
    [[ "$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" SET "dh:test:$TOKEN" v1 EX 60)" == OK ]] &&
        [[ "$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" GET "dh:test:$TOKEN")" == v1 ]]
}
check "redis SET/GET round trip" roundtrip_redis

# ---- restarting one service (fault tests do this) --------------------------------
if run_stack rstop redis-stop && ! port_open "$REDIS_PORT" && run_stack rstart redis-start &&
    [[ "$(redis-cli -p "$REDIS_PORT" ping)" == PONG ]]; then
    ok "redis-stop / redis-start restart Redis"
else
    not_ok "redis-stop / redis-start restart Redis" "$OUT/rstart.log"
fi
if run_stack kstop kafka-stop && ! port_open "$KAFKA_PORT" && run_stack kstart kafka-start &&
    timeout 20 kcat -b "$BOOTSTRAP" -C -t wms.putaway -p 3 -o -20 -e -q -f '%k\n' 2>/dev/null |
    grep -qx "$TOKEN"; then
    ok "kafka-stop / kafka-start restart Kafka and keep its data"
else
    not_ok "kafka-stop / kafka-start restart Kafka and keep its data" "$OUT/kstart.log"
fi

# A new password (or a data dir formatted before the listener) gets its credential once,
# through ConfigCommand; the start after that runs no tool.
if [[ "$SASL_PORT" != off ]]; then
    if run_stack kstop2 kafka-stop &&
        DH_STACK_KAFKA_SASL_PASSWORD="$SASL_PASSWORD-2" run_stack kscram kafka-start &&
        grep -q "adding SCRAM credential" "$OUT/kscram.log" && sasl_scram_java "$SASL_PASSWORD-2" &&
        ! sasl_scram_java "$SASL_PASSWORD" && run_stack kstop3 kafka-stop &&
        DH_STACK_KAFKA_SASL_PASSWORD="$SASL_PASSWORD-2" run_stack kscram2 kafka-start &&
        ! grep -q "adding SCRAM credential" "$OUT/kscram2.log"; then
        ok "a changed SASL password is written to the metadata once (ConfigCommand)"
    else
        not_ok "a changed SASL password is written to the metadata once (ConfigCommand)" \
            "$OUT/kscram.log"
    fi
fi

# ---- down ------------------------------------------------------------------------------
kafka_pid2="$(read_pid "$RUN_DIR/kafka.pid")"
redis_pid2="$(read_pid "$RUN_DIR/redis.pid")"
if run_stack down down; then
    ok "down succeeds ($((elapsed_ms / 1000)).$((elapsed_ms % 1000 / 100)) s)"
else
    not_ok "down succeeds" "$OUT/down.log"
fi
check "down leaves no kafka/redis process of ours" test -z "$(our_processes)"
both_gone() { ! pid_alive "$1" && ! pid_alive "$2"; }
check "down stopped the processes named in the pid files" \
    both_gone "${kafka_pid2:-0}" "${redis_pid2:-0}"
check "down frees ports $KAFKA_PORT, $CTRL_PORT, $REDIS_PORT (SASL: $SASL_PORT)" ports_free
check "down removes the pid files" \
    test ! -e "$RUN_DIR/kafka.pid" -a ! -e "$RUN_DIR/redis.pid"
check "down when nothing runs succeeds" run_stack down2 down
if run_stack status2 status; then
    not_ok "status exits non-zero when the stack is down"
else
    ok "status exits non-zero when the stack is down"
fi

# ---- broken dependencies fail fast and say what is missing ------------------------
empty="$OUT/empty-libs"
mkdir -p "$empty"
if DH_STACK_KAFKA_LIBS="$empty" run_stack nolibs up; then
    not_ok "up without Kafka jars fails"
elif ((elapsed_ms < 5000)) && grep -q 'Kafka jars' "$OUT/nolibs.log" &&
    grep -q 'deploy/setup.sh' "$OUT/nolibs.log"; then
    ok "up without Kafka jars fails in $elapsed_ms ms naming the jars and deploy/setup.sh"
else
    not_ok "up without Kafka jars fails fast with a clear message ($elapsed_ms ms)" "$OUT/nolibs.log"
fi

nojava="$(path_without_java)"
if PATH="$nojava" run_stack nojava up; then
    not_ok "up without java fails"
elif ((elapsed_ms < 5000)) && grep -q "missing dependency: java" "$OUT/nojava.log"; then
    ok "up without java fails in $elapsed_ms ms naming java"
else
    not_ok "up without java fails fast with a clear message ($elapsed_ms ms)" "$OUT/nojava.log"
fi
check "failed ups started nothing" test -z "$(our_processes)"

# A port held by a process that is not ours must be reported, not reused or killed. The
# check always runs: if no free port is found for the foreign server, it fails.
alt_port=""
for cand in $((REDIS_PORT + 11)) $((REDIS_PORT + 23)) $((REDIS_PORT + 37)) $((REDIS_PORT + 53)); do
    port_open "$cand" && continue
    mkdir -p "$OUT/foreign"
    redis-server --port "$cand" --bind 127.0.0.1 --dir "$OUT/foreign" --save '' \
        --appendonly no >"$OUT/foreign-server.log" 2>&1 &
    foreign_pid=$!
    if wait_until 10 port_open "$cand" && kill -0 "$foreign_pid" 2>/dev/null; then
        alt_port="$cand"
        break
    fi
    kill "$foreign_pid" 2>/dev/null || true # lost a race for the port: try the next one
    wait "$foreign_pid" 2>/dev/null || true
    foreign_pid=""
done
if [[ -z "$alt_port" ]]; then
    not_ok "up refuses a Redis port held by another process (no foreign Redis could start)" \
        "$OUT/foreign-server.log"
elif DH_STACK_REDIS_PORT="$alt_port" run_stack foreign up; then
    not_ok "up refuses a Redis port held by another process"
elif grep -q "already in use by another process" "$OUT/foreign.log" &&
    kill -0 "$foreign_pid" 2>/dev/null; then
    ok "up refuses a Redis port held by another process (and leaves it alone)"
else
    not_ok "up refuses a Redis port held by another process" "$OUT/foreign.log"
fi
if [[ -n "$foreign_pid" ]]; then
    kill "$foreign_pid" 2>/dev/null || true
    wait "$foreign_pid" 2>/dev/null || true
    foreign_pid=""
fi

printf '%d passed, %d failed\n' "$passed" "$failed"
((failed == 0))
