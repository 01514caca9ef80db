#!/usr/bin/env bash
# deploy/replay.sh: kept for old runbooks and scripts; the replay is now `dh-ops replay`
# (C, in the image, the workers' own KAFKA_* settings; no Java). This wrapper translates
# the old arguments and runs it:
#   deploy/replay.sh --group dockhand-inventory --topic wms.putaway \
#       --to-datetime 2026-11-27T10:00:00.000 [--execute]
#   is  dh-ops replay --group dockhand-inventory --topic wms.putaway \
#       --from 2026-11-27T10:00:00Z [--execute]
# Positions: --to-datetime (UTC) and --to-earliest. --to-latest, --shift-by and --to-offset
# are not offered any more (they were never needed by a runbook procedure).
# dh-ops comes from DH_OPS_BIN, else build/dh-ops, else PATH.
set -euo pipefail

# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

args=()
while (($#)); do
    case "$1" in
    --group | --topic) args+=("$1" "${2:?}"); shift 2 ;;
    --execute) args+=(--execute); shift ;;
    --to-datetime)
        t="${2:?}"; t="${t%%.*}"; [[ "$t" == *Z ]] || t="${t}Z"
        args+=(--from "$t"); shift 2 ;;
    --to-earliest) args+=(--earliest); shift ;;
    --to-latest | --shift-by | --to-offset) die "$1 is not supported: use dh-ops replay (--help)" ;;
    -h | --help) sed -n '2,12p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument '$1' (try --help)" ;;
    esac
done
bin="${DH_OPS_BIN:-$DH_ROOT/build/dh-ops}"
[[ -x "$bin" ]] || bin="$(command -v dh-ops || true)"
[[ -n "$bin" ]] || die "dh-ops not found (build it: cmake --build build --target dh-ops)"
exec env -u DH_OPS_BIN "$bin" replay "${args[@]}" # dh-ops would call it a typo
