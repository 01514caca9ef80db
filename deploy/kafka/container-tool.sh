#!/bin/bash
# container-tool.sh <main-class> <args...>: a short-lived JVM on the broker's jars, tuned
# to start fast (the compose stack's health check and topic-init).
#   container-tool.sh org.apache.kafka.tools.TopicCommand --bootstrap-server kafka:9092 --list
set -eu
exec java -Xms16m -Xmx128m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xshare:auto -Xlog:disable \
    -Dlog4j2.level=WARN -cp '/opt/kafka/libs/*' "$@"
