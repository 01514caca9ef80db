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
