#!/usr/bin/env bash
# deploy/stack.sh: the local stack of dockhand: one Kafka 4.x broker (KRaft, combined
# broker+controller, loopback only) and one Redis. State lives in deploy/.stack/.
#
#   deploy/stack.sh up|down|status|env|topics|logs|reset
#   deploy/stack.sh kafka-start|kafka-stop|redis-start|redis-stop
#
# Environment (all optional):
#   DH_STACK_KAFKA_PORT (39092)  DH_STACK_KAFKA_CONTROLLER_PORT (39093)  DH_STACK_REDIS_PORT (36379)
#   DH_STACK_KAFKA_LIBS (deploy/.stack/kafka-libs, fetched by deploy/setup.sh)
#   DH_STACK_KAFKA_TIMEOUT (90 s)  DH_STACK_REDIS_TIMEOUT (15 s)  DH_STACK_DIR (deploy/.stack)
#   DH_STACK_KAFKA_HEAP ("-Xms256m -Xmx768m")  DH_STACK_TOPIC_JOBS (nproc: parallel topic JVMs)
#   DH_STACK_KAFKA_SASL_PORT: a SASL_PLAINTEXT listener (SCRAM-SHA-512 and PLAIN) beside PLAINTEXT;
#     39094 for the default stack, none for a stack on other ports unless set; "off": none
#   DH_STACK_KAFKA_SASL_USERNAME (dh-ops)  DH_STACK_KAFKA_SASL_PASSWORD (dh-ops-local)
# shellcheck source-path=SCRIPTDIR
set -euo pipefail

# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

HOST=127.0.0.1
KAFKA_PORT="${DH_STACK_KAFKA_PORT:-39092}"
CTRL_PORT="${DH_STACK_KAFKA_CONTROLLER_PORT:-39093}"
REDIS_PORT="${DH_STACK_REDIS_PORT:-36379}"
KAFKA_TIMEOUT="${DH_STACK_KAFKA_TIMEOUT:-90}"
REDIS_TIMEOUT="${DH_STACK_REDIS_TIMEOUT:-15}"
KAFKA_HEAP="${DH_STACK_KAFKA_HEAP:--Xms256m -Xmx768m}"
# The SASL listener: by default only on the default stack, so a private stack (other
# ports) never binds the shared stack's SASL port.
if [[ -z "${DH_STACK_KAFKA_PORT:-}" ]]; then
    SASL_PORT="${DH_STACK_KAFKA_SASL_PORT:-39094}"
else
    SASL_PORT="${DH_STACK_KAFKA_SASL_PORT:-off}"
fi
[[ "$SASL_PORT" == off || "$SASL_PORT" =~ ^[0-9]+$ ]] ||
    die "DH_STACK_KAFKA_SASL_PORT must be a port number or 'off' (got '$SASL_PORT')"
SASL_USER="${DH_STACK_KAFKA_SASL_USERNAME:-dh-ops}"
SASL_PASSWORD="${DH_STACK_KAFKA_SASL_PASSWORD:-dh-ops-local}"
SASL_MECHANISM=SCRAM-SHA-512
TOPIC_JOBS="${DH_STACK_TOPIC_JOBS:-$(nproc 2>/dev/null || echo 2)}"
# Fixed so the data dir formatted once stays valid (base64url of 16 bytes).
CLUSTER_ID="${DH_STACK_KAFKA_CLUSTER_ID:-ZEyIaMZxTr6Pq9bh1-Wq1g}"

KAFKA_DIR="$DH_STACK_DIR/kafka"
KAFKA_DATA="$KAFKA_DIR/data"
KAFKA_CONF="$KAFKA_DIR/server.properties"
KAFKA_LOG4J="$KAFKA_DIR/log4j2.properties"
TOOLS_LOG4J="$KAFKA_DIR/log4j2-tools.properties"
TOOLS_JSA="$KAFKA_DIR/tools.jsa"
REDIS_DIR="$DH_STACK_DIR/redis"
LOG_DIR="$DH_STACK_DIR/logs"
RUN_DIR="$DH_STACK_DIR/run"
KAFKA_PIDFILE="$RUN_DIR/kafka.pid"
# Written once the SCRAM credential is in the cluster's metadata (format or ConfigCommand):
# in the data dir, so a reset forgets it with the metadata.
SCRAM_MARK="$KAFKA_DATA/.dh-scram"
REDIS_PIDFILE="$RUN_DIR/redis.pid"
TOPICS_FILE="$DH_ROOT/deploy/topics.txt"
BOOTSTRAP="$HOST:$KAFKA_PORT"

usage() {
    cat <<EOF
usage: deploy/stack.sh <command>
  up           start Kafka and Redis (if not running) and create the topics
  down         stop both; waits until the processes are gone
  status       print each service up/down; exit 0 only if all are up
  env          print export lines for eval: eval "\$(deploy/stack.sh env)"
  topics       create missing topics from deploy/topics.txt
  logs         print the log directory
  reset        down, then delete Kafka's and Redis's data (topics are recreated by up)
  kafka-start | kafka-stop | redis-start | redis-stop
EOF
}

# Serialise commands that change the stack (several engineers/tests share it).
# The lock fd is closed for the services we launch so they never inherit the lock.
take_lock() {
    mkdir -p "$RUN_DIR"
    exec 9>"$RUN_DIR/.lock"
    if ! flock -w 300 9; then
        die "another deploy/stack.sh holds $RUN_DIR/.lock for over 300 s"
    fi
}

# ---- dependencies ------------------------------------------------------------

# check_deps <kafka|redis>...: report every missing piece at once, then exit 1.
check_deps() {
    local missing=() what v
    for what in "$@"; do
        case "$what" in
        kafka)
            if ! command -v java >/dev/null 2>&1; then
                missing+=("java (OpenJDK 17+; Debian package openjdk-17-jre-headless)")
            else
                v="$(java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n 1)"
                if [[ -n "$v" && "$v" -lt 17 ]]; then
                    missing+=("java 17+ (found java $v; Debian package openjdk-17-jre-headless)")
                fi
            fi
            command -v kcat >/dev/null 2>&1 || missing+=("kcat (Debian package kcat)")
            kafka_libs_ok || missing+=("Kafka jars in $DH_STACK_KAFKA_LIBS (kafka_2.13-*.jar, kafka-tools-*.jar; fetched with Maven)")
            ;;
        redis)
            command -v redis-server >/dev/null 2>&1 || missing+=("redis-server (Debian package redis-server)")
            command -v redis-cli >/dev/null 2>&1 || missing+=("redis-cli (Debian package redis-tools)")
            ;;
        esac
    done
    if ((${#missing[@]} > 0)); then
        for what in "${missing[@]}"; do
            printf '%s: missing dependency: %s\n' "$dh_prog" "$what" >&2
        done
        die "missing dependencies; fix: run deploy/setup.sh (as root or with sudo)"
    fi
}

# ---- process identification ---------------------------------------------------
# Our Kafka is the java process whose argv names kafka.Kafka and our server.properties.
is_our_kafka() {
    local cmd
    pid_alive "$1" || return 1
    cmd="$(pid_cmdline "$1")"
    [[ "$cmd" == *" kafka.Kafka $KAFKA_CONF"* ]]
}

# Our Redis is a redis-server whose working directory is our redis dir.
is_our_redis() {
    local cmd cwd
    pid_alive "$1" || return 1
    cmd="$(pid_cmdline "$1")"
    [[ "$cmd" == redis-server* || "$cmd" == */redis-server* ]] || return 1
    # argv is rewritten to "redis-server 127.0.0.1:<port>": only one on our port counts.
    [[ "$cmd" == *":$REDIS_PORT"* ]] || return 1
    cwd="$(readlink "/proc/$1/cwd" 2>/dev/null || true)"
    [[ "$cwd" == "$(cd "$REDIS_DIR" 2>/dev/null && pwd -P)" ]]
}

# find_pids <predicate>: every pid for which <predicate pid> holds.
find_pids() {
    local pred="$1" p pid
    for p in /proc/[0-9]*; do
        pid="${p#/proc/}"
        if "$pred" "$pid" 2>/dev/null; then
            printf '%s\n' "$pid"
        fi
    done
}

kafka_pid() {
    local pid
    pid="$(read_pid "$KAFKA_PIDFILE")"
    if [[ -n "$pid" ]] && is_our_kafka "$pid"; then
        printf '%s\n' "$pid"
        return 0
    fi
    find_pids is_our_kafka | head -n 1
}

redis_pid() {
    local pid
    pid="$(read_pid "$REDIS_PIDFILE")"
    if [[ -n "$pid" ]] && is_our_redis "$pid"; then
        printf '%s\n' "$pid"
        return 0
    fi
    [[ -d "$REDIS_DIR" ]] || return 0
    find_pids is_our_redis | head -n 1
}

# ---- Kafka -------------------------------------------------------------------
# The listeners line: PLAINTEXT and CONTROLLER, then SASL_PLAINTEXT when it is on.
kafka_listeners() {
    printf 'PLAINTEXT://%s,CONTROLLER://%s:%s' "$BOOTSTRAP" "$HOST" "$CTRL_PORT"
    if sasl_on; then
        printf ',SASL_PLAINTEXT://%s:%s' "$HOST" "$SASL_PORT"
    fi
}
sasl_on() { [[ "$SASL_PORT" != off ]]; }

write_kafka_config() {
    local adv="PLAINTEXT://$BOOTSTRAP" map="CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT" sasl=""
    mkdir -p "$KAFKA_DATA" "$LOG_DIR" "$RUN_DIR"
    # SCRAM on its own listener; the broker reads credentials from the cluster metadata
    # (written at format time or by ConfigCommand, see kafka_ensure_scram).
    if sasl_on; then
        adv+=",SASL_PLAINTEXT://$HOST:$SASL_PORT"
        map+=",SASL_PLAINTEXT:SASL_PLAINTEXT"
        # PLAIN too: librdkafka before 2.6.1 (Debian 12 ships 2.0.2) sends a SCRAM nonce
        # that Kafka 4 rejects, so its clients can only use PLAIN here (docs/runbook.md).
        sasl="listener.name.sasl_plaintext.sasl.enabled.mechanisms=$SASL_MECHANISM,PLAIN
listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_plaintext.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_$SASL_USER=\"$SASL_PASSWORD\";"
    fi
    cat >"$KAFKA_CONF" <<EOF
# Generated by deploy/stack.sh; edits are overwritten on every start.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@$HOST:$CTRL_PORT
listeners=$(kafka_listeners)
advertised.listeners=$adv
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=$map
${sasl:+$sasl
}log.dirs=$KAFKA_DATA
num.partitions=6
default.replication.factor=1
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
min.insync.replicas=1
group.initial.rebalance.delay.ms=0
log.retention.hours=168
num.network.threads=2
num.io.threads=4
num.recovery.threads.per.data.dir=1
EOF
    cat >"$KAFKA_LOG4J" <<EOF
# Generated by deploy/stack.sh: the broker logs to $LOG_DIR/kafka.log only.
status = warn
name = dockhand-kafka
appender.file.type = RollingFile
appender.file.name = FILE
appender.file.fileName = $LOG_DIR/kafka.log
appender.file.filePattern = $LOG_DIR/kafka.log.%i
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
appender.file.policies.type = Policies
appender.file.policies.size.type = SizeBasedTriggeringPolicy
appender.file.policies.size.size = 50MB
appender.file.strategy.type = DefaultRolloverStrategy
appender.file.strategy.max = 3
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = FILE
logger.statechange.name = state.change.logger
logger.statechange.level = WARN
logger.request.name = kafka.request.logger
logger.request.level = WARN
EOF
    cat >"$TOOLS_LOG4J" <<EOF
# Generated by deploy/stack.sh: Kafka command-line tools log warnings to stderr.
status = warn
name = dockhand-kafka-tools
appender.err.type = Console
appender.err.name = STDERR
appender.err.target = SYSTEM_ERR
appender.err.layout.type = PatternLayout
appender.err.layout.pattern = %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.err.ref = STDERR
EOF
}

# kafka_tool <main-class> <args...>: a short-lived JVM on the Kafka jars, tuned to start
# fast. With DH_TOOL_CDS_DUMP=1 it records a class-data-sharing archive at exit, which
# later tool runs map in (TopicCommand: ~0.8 s -> ~0.4 s per JVM).
kafka_tool() {
    local main="$1" cds=()
    shift
    if [[ "${DH_TOOL_CDS_DUMP:-0}" == 1 ]]; then
        cds=(-XX:ArchiveClassesAtExit="$TOOLS_JSA.tmp")
    elif [[ -f "$TOOLS_JSA" && "$TOOLS_JSA" -nt "$DH_STACK_KAFKA_LIBS" ]]; then
        cds=(-XX:SharedArchiveFile="$TOOLS_JSA")
    fi
    java -Xms32m -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xshare:auto \
        -Xlog:disable "${cds[@]}" -Dlog4j2.configurationFile="$TOOLS_LOG4J" \
        -cp "$DH_STACK_KAFKA_LIBS/*" "$main" "$@"
}

format_kafka_storage() {
    if [[ -f "$KAFKA_DATA/meta.properties" ]]; then
        return 0
    fi
    local scram=()
    log "formatting Kafka storage in $KAFKA_DATA (cluster id $CLUSTER_ID)"
    # The SCRAM user goes into the first metadata: no JVM after start for a new data dir.
    if sasl_on; then
        scram=(--add-scram "$SASL_MECHANISM=[name=$SASL_USER,password=$SASL_PASSWORD]")
    fi
    if ! kafka_tool kafka.tools.StorageTool format -t "$CLUSTER_ID" -c "$KAFKA_CONF" \
        --ignore-formatted "${scram[@]}" >"$LOG_DIR/kafka-format.log" 2>&1; then
        tail -n 30 "$LOG_DIR/kafka-format.log" >&2 || true
        die "formatting Kafka storage failed (log: $LOG_DIR/kafka-format.log)"
    fi
    if sasl_on; then
        scram_mark_write
    fi
}

# The marker names what is in the metadata; a changed user or password is written again.
scram_mark_want() { printf '%s %s %s\n' "$SASL_MECHANISM" "$SASL_USER" "$SASL_PASSWORD"; }
scram_mark_write() { scram_mark_want >"$SCRAM_MARK"; }

# scram_login: Kafka's own client lists the topics through the SASL listener with the
# user's SCRAM credential (librdkafka before 2.6.1, Debian's, cannot log in by SCRAM to
# Kafka 4, so kcat cannot tell).
scram_login() {
    local props="$KAFKA_DIR/scram-client.properties"
    printf '%s\n' "security.protocol=SASL_PLAINTEXT" "sasl.mechanism=$SASL_MECHANISM" \
        "sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username=\"$SASL_USER\" password=\"$SASL_PASSWORD\";" \
        "request.timeout.ms=5000" "default.api.timeout.ms=10000" >"$props"
    kafka_tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$HOST:$SASL_PORT" \
        --command-config "$props" --list >"$LOG_DIR/kafka-scram-login.log" 2>&1 9>&-
}

# kafka_ensure_scram: a data dir formatted before the SASL listener existed (or with
# another password) lacks the credential: upsert it once through the PLAINTEXT listener.
# One tool JVM, only then; a current marker costs nothing.
kafka_ensure_scram() {
    sasl_on || return 0
    if [[ -f "$SCRAM_MARK" && "$(cat "$SCRAM_MARK")" == "$(scram_mark_want)" ]]; then
        return 0
    fi
    log "adding SCRAM credential $SASL_MECHANISM for user $SASL_USER"
    if ! kafka_tool org.apache.kafka.tools.ConfigCommand --bootstrap-server "$BOOTSTRAP" \
        --alter --entity-type users --entity-name "$SASL_USER" \
        --add-config "$SASL_MECHANISM=[password=$SASL_PASSWORD]" \
        >"$LOG_DIR/kafka-scram.log" 2>&1 9>&-; then
        tail -n 20 "$LOG_DIR/kafka-scram.log" >&2 || true
        die "adding the SCRAM credential failed (log: $LOG_DIR/kafka-scram.log)"
    fi
    # ConfigCommand returns once the controller has the credential; the broker applies it
    # from the metadata log a little later (seen: a login a second after still refused).
    wait_until 60 scram_login ||
        die "the broker does not accept the new SCRAM credential (log: $LOG_DIR/kafka-scram-login.log)"
    scram_mark_write
}

# kafka_metadata: one metadata call; prints kcat's listing.
kafka_metadata() {
    timeout 10 kcat -b "$BOOTSTRAP" -L -m 3 "$@" 2>/dev/null
}

# Ready = the broker answers a metadata request and lists itself as broker 1 on our
# port. The PLAINTEXT listener only accepts requests once the broker has registered
# with the controller and is unfenced, so this means usable. Returns 3 if the
# process died.
_kafka_probe_pid=""
_kafka_log_lines=0
kafka_probe() {
    local out
    if [[ -n "$_kafka_probe_pid" ]] && ! pid_alive "$_kafka_probe_pid"; then
        return 3
    fi
    # Cheap check first: kcat backs off between reconnects, which would add latency.
    port_open "$KAFKA_PORT" || return 1
    out="$(kafka_metadata -t __dockhand_probe)" || return 1
    [[ "$out" == *"broker 1 at $BOOTSTRAP"* ]]
}

kafka_ready_now() {
    _kafka_probe_pid=""
    command -v kcat >/dev/null 2>&1 && kafka_probe
}

kafka_wait_ready() {
    local pid="$1" start rc=0
    start="$(now_ms)"
    _kafka_probe_pid="$pid"
    wait_until "$KAFKA_TIMEOUT" kafka_probe || rc=$?
    _kafka_probe_pid=""
    if ((rc == 0)); then
        local ms=$(($(now_ms) - start))
        log "kafka ready on $BOOTSTRAP (pid $pid) after $((ms / 1000)).$((ms % 1000 / 100)) s"
        return 0
    fi
    # The cause comes before the shutdown's many lines: a signal (Kafka logs which one),
    # or the first error of this start.
    printf '%s: ---- why kafka stopped: signal and first errors in %s since this start ----\n' \
        "$dh_prog" "$LOG_DIR/kafka.log" >&2
    tail -n +"$((_kafka_log_lines + 1))" "$LOG_DIR/kafka.log" 2>/dev/null |
        grep -m 12 -E 'Terminating process due to signal|ERROR|FATAL|Exiting|Exception:' >&2 || true
    printf '%s: ---- last 15 lines of %s ----\n' "$dh_prog" "$LOG_DIR/kafka.log" >&2
    tail -n 15 "$LOG_DIR/kafka.log" >&2 2>/dev/null || true
    if [[ -s "$LOG_DIR/kafka.out" ]]; then
        printf '%s: ---- last 10 lines of %s ----\n' "$dh_prog" "$LOG_DIR/kafka.out" >&2
        tail -n 10 "$LOG_DIR/kafka.out" >&2 || true
    fi
    if ((rc == 3)); then
        rm -f "$KAFKA_PIDFILE"
        log "kafka (pid $pid) exited during start-up; see $LOG_DIR/kafka.log"
        return 3
    fi
    die "kafka not ready on $BOOTSTRAP after ${KAFKA_TIMEOUT}s (pid $pid still running; 'deploy/stack.sh down' stops it)"
}

kafka_start() {
    local pid owner
    check_deps kafka
    pid="$(kafka_pid)"
    if [[ -n "$pid" ]]; then
        if ! grep -q "^listeners=PLAINTEXT://$BOOTSTRAP,CONTROLLER://$HOST:$CTRL_PORT\(,\|$\)" "$KAFKA_CONF"; then
            die "this stack's kafka (pid $pid) runs with other ports ($(grep '^listeners=' "$KAFKA_CONF")); run deploy/stack.sh kafka-stop first"
        fi
        printf '%s\n' "$pid" >"$KAFKA_PIDFILE"
        if kafka_ready_now; then
            log "kafka already running on $BOOTSTRAP (pid $pid)"
        else
            log "kafka process $pid exists but is not ready yet; waiting"
            kafka_wait_ready "$pid" || die "kafka (pid $pid) exited during start-up; see $LOG_DIR/kafka.log"
        fi
        kafka_running_sasl "$pid"
        return 0
    fi
    rm -f "$KAFKA_PIDFILE"
    local port
    local ports=("$KAFKA_PORT" "$CTRL_PORT")
    if sasl_on; then
        ports+=("$SASL_PORT")
    fi
    for port in "${ports[@]}"; do
        if port_open "$port"; then
            owner="$(port_owner "$port")"
            die "port $HOST:$port is already in use by another process${owner:+ ($owner)}, not by this stack's Kafka; stop it or set DH_STACK_KAFKA_PORT / DH_STACK_KAFKA_CONTROLLER_PORT / DH_STACK_KAFKA_SASL_PORT"
        fi
    done
    write_kafka_config
    format_kafka_storage
    # One more try when the JVM dies while starting: seen once on a CI machine (a
    # graceful shutdown 10 s in, cause not in the log's tail); the second failure is final.
    local attempt
    for attempt in 1 2; do
        if kafka_launch; then
            kafka_sasl_ready
            return 0
        fi
        ((attempt == 1)) || break
        log "starting kafka again (attempt 2 of 2)"
    done
    die "kafka exited during start-up twice; see $LOG_DIR/kafka.log"
}

# kafka_sasl_ready: the SASL listener accepts connections and its user exists.
kafka_sasl_ready() {
    sasl_on || return 0
    wait_until 20 port_open "$SASL_PORT" ||
        die "kafka is ready on $BOOTSTRAP but its SASL listener $HOST:$SASL_PORT is not; see $LOG_DIR/kafka.log"
    kafka_ensure_scram
    log "kafka SASL_PLAINTEXT ($SASL_MECHANISM and PLAIN, user $SASL_USER) on $HOST:$SASL_PORT"
}

# kafka_running_sasl <pid>: a broker started before its SASL listener was configured keeps
# running without it (it is shared: never restarted behind its users' backs).
kafka_running_sasl() {
    sasl_on || return 0
    if grep -qx "listeners=$(kafka_listeners)" "$KAFKA_CONF"; then
        kafka_sasl_ready
        return 0
    fi
    warn "kafka (pid $1) runs without the SASL listener $HOST:$SASL_PORT ($(grep '^listeners=' "$KAFKA_CONF")); it is added at its next start (deploy/stack.sh kafka-stop, then kafka-start)"
}

# kafka_launch: start the broker's JVM and wait until it is ready; 3 if it died.
kafka_launch() {
    local pid
    _kafka_log_lines="$(wc -l <"$LOG_DIR/kafka.log" 2>/dev/null || echo 0)"
    log "starting kafka on $BOOTSTRAP (controller $HOST:$CTRL_PORT)"
    printf '\n[%s] ---- deploy/stack.sh kafka-start ----\n' "$(date -Is)" >>"$LOG_DIR/kafka.out"
    # shellcheck disable=SC2086 # KAFKA_HEAP is a list of JVM flags
    (
        cd "$KAFKA_DIR"
        exec setsid java $KAFKA_HEAP -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
            -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true \
            -Dlog4j2.configurationFile="$KAFKA_LOG4J" -Dkafka.logs.dir="$LOG_DIR" \
            -cp "$DH_STACK_KAFKA_LIBS/*" kafka.Kafka "$KAFKA_CONF" \
            </dev/null >>"$LOG_DIR/kafka.out" 2>&1 9>&-
    ) &
    pid=$!
    # setsid execs in place when it can; if it had to fork, find the real JVM.
    if ! is_our_kafka "$pid"; then
        wait_until 5 _kafka_found || true
        pid="$(find_pids is_our_kafka | head -n 1)"
        [[ -n "$pid" ]] || die "kafka JVM did not start; see $LOG_DIR/kafka.out"
    fi
    printf '%s\n' "$pid" >"$KAFKA_PIDFILE"
    kafka_wait_ready "$pid"
}
_kafka_found() { [[ -n "$(find_pids is_our_kafka | head -n 1)" ]]; }

kafka_stop() {
    local pid pids
    pids="$(
        read_pid "$KAFKA_PIDFILE"
        find_pids is_our_kafka
    )"
    for pid in $(printf '%s\n' "$pids" | sort -u); do
        if is_our_kafka "$pid"; then
            log "stopping kafka (pid $pid)"
            stop_pid "$pid" "${DH_STACK_KAFKA_STOP_GRACE:-30}" kafka
        fi
    done
    rm -f "$KAFKA_PIDFILE"
}

# ---- topics ------------------------------------------------------------------
# read_topics: prints "name partitions" for every topic in deploy/topics.txt.
read_topics() {
    local name parts rest
    [[ -r "$TOPICS_FILE" ]] || die "topic list $TOPICS_FILE not found"
    while read -r name parts rest; do
        [[ -z "$name" || "$name" == \#* ]] && continue
        [[ "$parts" =~ ^[0-9]+$ ]] || die "$TOPICS_FILE: bad partition count for $name"
        printf '%s %s\n' "$name" "$parts"
    done <"$TOPICS_FILE"
}

# existing_topics: "name partitions" for every topic the broker knows (one metadata call).
existing_topics() {
    kafka_metadata | sed -n 's/^ *topic "\([^"]*\)" with \([0-9]*\) partitions:.*/\1 \2/p'
}

create_topics() {
    local existing want name parts have missing=() tmp rc=0
    existing="$(existing_topics)" || die "kafka metadata request to $BOOTSTRAP failed"
    want="$(read_topics)"
    while read -r name parts; do
        have="$(awk -v n="$name" '$1 == n { print $2 }' <<<"$existing")"
        if [[ -z "$have" ]]; then
            missing+=("$name:$parts")
        elif [[ "$have" != "$parts" ]]; then
            warn "topic $name has $have partitions, $TOPICS_FILE says $parts (left as is)"
        fi
    done <<<"$want"
    if ((${#missing[@]} == 0)); then
        log "all $(wc -l <<<"$want") topics present"
        return 0
    fi
    log "creating ${#missing[@]} topic(s): ${missing[*]%%:*}"
    tmp="$(mktemp -d)"
    # TopicCommand takes one topic per JVM: the first run alone records the CDS archive
    # if there is none yet, the others run TOPIC_JOBS at a time.
    local -a batch=() rest=("${missing[@]}")
    local t
    if [[ ! -f "$TOOLS_JSA" || ! "$TOOLS_JSA" -nt "$DH_STACK_KAFKA_LIBS" ]]; then
        DH_TOOL_CDS_DUMP=1 create_topic_batch "$tmp" "${rest[0]}" || rc=1
        if [[ -s "$TOOLS_JSA.tmp" ]]; then
            mv -f "$TOOLS_JSA.tmp" "$TOOLS_JSA"
        fi
        rest=("${rest[@]:1}")
    fi
    for t in "${rest[@]}"; do
        batch+=("$t")
        if ((${#batch[@]} >= TOPIC_JOBS)); then
            create_topic_batch "$tmp" "${batch[@]}" || rc=1
            batch=()
        fi
    done
    if ((${#batch[@]} > 0)); then
        create_topic_batch "$tmp" "${batch[@]}" || rc=1
    fi
    rm -rf "$tmp"
    ((rc == 0)) || die "creating topics failed"
    # Metadata reaches the broker's cache shortly after the controller commits it.
    if ! wait_until 20 topics_all_present; then
        die "topics created but not all visible in metadata after 20 s"
    fi
    log "topics ready"
}

# create_topic_batch <tmpdir> <name:partitions>...: parallel TopicCommand runs.
create_topic_batch() {
    local tmp="$1" t name parts rc=0 i
    shift
    local -a pids=() names=()
    for t in "$@"; do
        name="${t%%:*}"
        parts="${t##*:}"
        kafka_tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$BOOTSTRAP" \
            --create --if-not-exists --topic "$name" --partitions "$parts" \
            --replication-factor 1 >"$tmp/$name.log" 2>&1 9>&- &
        pids+=($!)
        names+=("$name")
    done
    for i in "${!pids[@]}"; do
        if ! wait "${pids[$i]}"; then
            printf '%s: creating topic %s failed:\n' "$dh_prog" "${names[$i]}" >&2
            tail -n 20 "$tmp/${names[$i]}.log" >&2 || true
            rc=1
        fi
    done
    return "$rc"
}

topics_all_present() {
    local existing name parts
    existing="$(existing_topics)" || return 1
    while read -r name parts; do
        grep -qx "$name $parts" <<<"$existing" || return 1
    done < <(read_topics)
}

# ---- Redis -------------------------------------------------------------------
redis_ping() {
    [[ "$(timeout 5 redis-cli -h "$HOST" -p "$REDIS_PORT" ping 2>/dev/null)" == "PONG" ]]
}

redis_start() {
    local pid owner
    check_deps redis
    mkdir -p "$REDIS_DIR" "$LOG_DIR" "$RUN_DIR"
    pid="$(redis_pid)"
    if [[ -n "$pid" ]]; then
        printf '%s\n' "$pid" >"$REDIS_PIDFILE"
        if wait_until "$REDIS_TIMEOUT" redis_ping; then
            log "redis already running on $HOST:$REDIS_PORT (pid $pid)"
            return 0
        fi
        die "redis (pid $pid) runs but does not answer PING on $HOST:$REDIS_PORT; see $LOG_DIR/redis.log"
    fi
    rm -f "$REDIS_PIDFILE"
    if port_open "$REDIS_PORT"; then
        owner="$(port_owner "$REDIS_PORT")"
        die "port $HOST:$REDIS_PORT is already in use by another process${owner:+ ($owner)}, not by this stack's Redis; stop it or set DH_STACK_REDIS_PORT"
    fi
    log "starting redis on $HOST:$REDIS_PORT"
    if ! (cd "$REDIS_DIR" && redis-server --port "$REDIS_PORT" --bind "$HOST" \
        --daemonize yes --pidfile "$REDIS_PIDFILE" --logfile "$LOG_DIR/redis.log" \
        --dir "$REDIS_DIR" --save '' --appendonly no \
        </dev/null >>"$LOG_DIR/redis.out" 2>&1 9>&-); then
        tail -n 20 "$LOG_DIR/redis.out" "$LOG_DIR/redis.log" >&2 2>/dev/null || true
        die "redis-server failed to start"
    fi
    if ! wait_until "$REDIS_TIMEOUT" redis_ping; then
        tail -n 30 "$LOG_DIR/redis.log" >&2 2>/dev/null || true
        die "redis not answering PING on $HOST:$REDIS_PORT after ${REDIS_TIMEOUT}s"
    fi
    log "redis ready on $HOST:$REDIS_PORT (pid $(read_pid "$REDIS_PIDFILE"))"
}

redis_stop() {
    local pid pids
    pids="$(
        read_pid "$REDIS_PIDFILE"
        redis_pid
    )"
    for pid in $(printf '%s\n' "$pids" | sort -u); do
        if is_our_redis "$pid"; then
            log "stopping redis (pid $pid)"
            stop_pid "$pid" "${DH_STACK_REDIS_STOP_GRACE:-10}" redis
        fi
    done
    rm -f "$REDIS_PIDFILE"
}

# ---- commands ------------------------------------------------------------------
cmd_up() {
    check_deps kafka redis
    take_lock
    redis_start
    kafka_start
    create_topics
}

cmd_down() {
    take_lock
    kafka_stop
    redis_stop
    log "stack stopped"
}

cmd_reset() {
    cmd_down
    rm -rf "$KAFKA_DATA" "$REDIS_DIR"
    log "kafka and redis data deleted"
}

cmd_status() {
    local ok=0 pid
    pid="$(kafka_pid)"
    if [[ -n "$pid" ]] && kafka_ready_now; then
        printf 'kafka  up    %s (pid %s)\n' "$BOOTSTRAP" "$pid"
    elif [[ -n "$pid" ]]; then
        printf 'kafka  down  %s (pid %s runs but is not ready)\n' "$BOOTSTRAP" "$pid"
        ok=1
    else
        printf 'kafka  down  %s\n' "$BOOTSTRAP"
        ok=1
    fi
    pid="$(redis_pid)"
    if [[ -n "$pid" ]] && command -v redis-cli >/dev/null 2>&1 && redis_ping; then
        printf 'redis  up    %s:%s (pid %s)\n' "$HOST" "$REDIS_PORT" "$pid"
    else
        printf 'redis  down  %s:%s\n' "$HOST" "$REDIS_PORT"
        ok=1
    fi
    return "$ok"
}

cmd_env() {
    printf 'export DH_KAFKA_BROKERS=%s\n' "$BOOTSTRAP"
    printf 'export KAFKA_BOOTSTRAP_SERVERS=%s\n' "$BOOTSTRAP"
    printf 'export DH_REDIS_URL=redis://%s:%s\n' "$HOST" "$REDIS_PORT"
    # Not exported: a worker refuses DH_* variables it does not know. A client reaches the
    # SASL listener with KAFKA_SECURITY_PROTOCOL=SASL_PLAINTEXT KAFKA_SASL_MECHANISMS=...
    if sasl_on; then
        printf 'DH_STACK_KAFKA_SASL_BROKERS=%s:%s\n' "$HOST" "$SASL_PORT"
        printf 'DH_STACK_KAFKA_SASL_MECHANISM=%s\n' "$SASL_MECHANISM"
        printf 'DH_STACK_KAFKA_SASL_USERNAME=%q\n' "$SASL_USER"
        printf 'DH_STACK_KAFKA_SASL_PASSWORD=%q\n' "$SASL_PASSWORD"
    fi
}

main() {
    local cmd="${1:-}"
    case "$cmd" in
    up) cmd_up ;;
    down) cmd_down ;;
    reset) cmd_reset ;;
    status) cmd_status ;;
    env) cmd_env ;;
    topics)
        check_deps kafka
        take_lock
        kafka_ready_now || die "kafka is not running on $BOOTSTRAP; run deploy/stack.sh up"
        create_topics
        ;;
    logs) printf '%s\n' "$LOG_DIR" ;;
    kafka-start)
        take_lock
        kafka_start
        ;;
    kafka-stop)
        take_lock
        kafka_stop
        ;;
    redis-start)
        take_lock
        redis_start
        ;;
    redis-stop)
        take_lock
        redis_stop
        ;;
    -h | --help | help) usage ;;
    *)
        usage >&2
        exit 2
        ;;
    esac
}

main "$@"
