#!/usr/bin/env bash
# tests/deploy/promtool.sh: the alert rules in deploy/monitoring/ parse (`promtool check
# rules`) and each alert does what alerts.test.yml says on synthetic series (`promtool
# test rules`). promtool comes from Debian's prometheus package (deploy/setup.sh); a
# missing promtool fails, it never skips.
set -euo pipefail
DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../deploy/monitoring" && pwd)"
command -v promtool >/dev/null 2>&1 || {
    echo "promtool.sh: promtool not found: install Debian's prometheus package (deploy/setup.sh)" >&2
    exit 1
}
cd "$DIR"
promtool check rules alerts.yml
promtool test rules alerts.test.yml
promtool check config prometheus.yml # the compose profile's (its rule_files too)

# The dashboard: every query parses (as a recording rule), and every dh_* / process_*
# metric it names is one the code registers (a renamed metric would leave a blank panel).
command -v jq >/dev/null 2>&1 || { echo "promtool.sh: jq not found (deploy/setup.sh)" >&2; exit 1; }
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
jq -r '.panels[].targets[].expr' dashboard.json >"$TMP/exprs"
[[ -s "$TMP/exprs" ]] || { echo "promtool.sh: no queries in dashboard.json" >&2; exit 1; }
{
    echo "groups:"
    echo "  - name: dashboard"
    echo "    rules:"
    n=0
    while IFS= read -r e; do
        n=$((n + 1))
        e="${e//\$job/.*}"
        printf '      - record: dashboard:query_%d\n        expr: %s\n' "$n" "$(jq -Rn --arg e "$e" '$e')"
    done <"$TMP/exprs"
} >"$TMP/dashboard-rules.yml"
promtool check rules "$TMP/dashboard-rules.yml"
ROOT="$(cd "$DIR/../.." && pwd)"
missing=0
for m in $(grep -oE '\b(dh|process)_[a-z_]+' "$TMP/exprs" | sort -u); do
    if ! grep -rqF "\"$m\"" "$ROOT/common" "$ROOT/workers"; then
        echo "promtool.sh: dashboard.json uses $m, which no code registers" >&2
        missing=1
    fi
done
exit "$missing"
