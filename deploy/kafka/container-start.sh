#!/bin/bash
# container-start.sh: one KRaft node (broker and controller) from KAFKA_* settings, the
# way deploy/stack.sh runs the local broker. Every KAFKA_<NAME> variable becomes the
# property <name> (lower-cased, '_' -> '.'); CLUSTER_ID formats empty storage once.
# KAFKA_HEAP_OPTS sets the JVM heap. The JVM replaces this shell (PID 1 gets SIGTERM).
set -eu
conf=/tmp/server.properties
: >"$conf"
while IFS='=' read -r name value; do
    case "$name" in
    KAFKA_HEAP_OPTS) ;;
    KAFKA_*)
        prop="$(printf '%s' "${name#KAFKA_}" | tr 'A-Z_' 'a-z.')"
        printf '%s=%s\n' "$prop" "$value" >>"$conf"
        ;;
    esac
done < <(env)
cat >/tmp/log4j2.properties <<'L4J'
status = warn
appender.out.type = Console
appender.out.name = STDOUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = STDOUT
logger.statechange.name = state.change.logger
logger.statechange.level = WARN
logger.request.name = kafka.request.logger
logger.request.level = WARN
L4J
data="$(sed -n 's/^log\.dirs=//p' "$conf")"
if [[ ! -f "${data:-/var/lib/kafka/data}/meta.properties" ]]; then
    /opt/kafka/bin/container-tool.sh kafka.tools.StorageTool format \
        -t "${CLUSTER_ID:?CLUSTER_ID is required}" -c "$conf" --ignore-formatted
fi
# shellcheck disable=SC2086 # KAFKA_HEAP_OPTS holds several options
exec java ${KAFKA_HEAP_OPTS:--Xms256m -Xmx512m} -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
    -Djava.awt.headless=true -Dlog4j2.configurationFile=/tmp/log4j2.properties \
    -cp '/opt/kafka/libs/*' kafka.Kafka "$conf"
