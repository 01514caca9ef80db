#!/usr/bin/env bash
# deploy/replay.sh: move a consumer group back (or forward) in time so its worker replays a
# topic. Safe by default: without --execute it only prints the plan (Kafka's own
# ConsumerGroupCommand in --dry-run mode). The group must have no running members: stop
# the worker's replicas first, run this, start them again. Replays are idempotent: effects
# already recorded as done are skipped by the workers.
#   deploy/replay.sh --group dockhand-inventory --topic wms.putaway \
#       --to-datetime 2026-11-27T10:00:00.000 [--execute]
#   other positions: --to-earliest | --to-latest | --shift-by N | --to-offset N
# Environment: DH_KAFKA_BROKERS (default 127.0.0.1:39092), DH_STACK_KAFKA_LIBS (jar dir).
set -euo pipefail

# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

group="" topic="" execute=0 position=()
while (($#)); do
    case "$1" in
    --group) group="${2:?}"; shift 2 ;;
    --topic) topic="${2:?}"; shift 2 ;;
    --execute) execute=1; shift ;;
    --to-datetime | --shift-by | --to-offset) position=("$1" "${2:?}"); shift 2 ;;
    --to-earliest | --to-latest) position=("$1"); shift ;;
    -h | --help) sed -n '2,12p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument '$1' (try --help)" ;;
    esac
done
[[ -n "$group" && -n "$topic" && ${#position[@]} -gt 0 ]] ||
    die "need --group, --topic and a position (try --help)"
need_cmd java "install Java 17 (deploy/setup.sh)"
kafka_libs_ok || die "Kafka jars missing in $DH_STACK_KAFKA_LIBS (run deploy/setup.sh)"

mode=(--dry-run)
((execute)) && mode=(--execute)
java -cp "$DH_STACK_KAFKA_LIBS/*" org.apache.kafka.tools.consumer.group.ConsumerGroupCommand \
    --bootstrap-server "${DH_KAFKA_BROKERS:-127.0.0.1:39092}" --group "$group" \
    --topic "$topic" --reset-offsets "${position[@]}" "${mode[@]}"
((execute)) || log "dry run: nothing changed (add --execute; stop the group's workers first)"
