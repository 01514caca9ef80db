#!/usr/bin/env bash
# tools/gen-outcomes-doc.sh: rewrites the outcome tables of docs/ARCHITECTURE.md, the block
#     <!-- BEGIN dh-outcomes --> ... <!-- END dh-outcomes -->
# with the output of <build-dir>/dh-outcomes (the tables every worker's code uses).
#
#   tools/gen-outcomes-doc.sh [--check] [--build-dir DIR] [FILE]
#
# --check: change nothing; exit 1 (with a diff) when FILE differs from what would be written.
# DIR: $DH_TEST_BUILD_DIR, else build/. FILE: docs/ARCHITECTURE.md.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${DH_TEST_BUILD_DIR:-$ROOT/build}"
FILE="$ROOT/docs/ARCHITECTURE.md"
check=0
while (($#)); do
    case "$1" in
    --check) check=1; shift ;;
    --build-dir) BUILD_DIR="$2"; shift 2 ;;
    -h | --help) sed -n '2,9p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "gen-outcomes-doc.sh: unknown option $1" >&2; exit 2 ;;
    *) FILE="$1"; shift ;;
    esac
done
BIN="$BUILD_DIR/dh-outcomes"
[[ -x "$BIN" ]] || { echo "gen-outcomes-doc.sh: $BIN not built" >&2; exit 1; }
[[ -r "$FILE" ]] || { echo "gen-outcomes-doc.sh: $FILE not found" >&2; exit 1; }
grep -q '^<!-- BEGIN dh-outcomes -->$' "$FILE" && grep -q '^<!-- END dh-outcomes -->$' "$FILE" ||
    { echo "gen-outcomes-doc.sh: no BEGIN/END dh-outcomes block in $FILE" >&2; exit 1; }
tmp="$(mktemp)" table="$(mktemp)"
trap 'rm -f "$tmp" "$table"' EXIT
env -i "$BIN" >"$table"
awk -v table="$table" '
    /^<!-- BEGIN dh-outcomes -->$/ { print; while ((getline l < table) > 0) print l; skip = 1; next }
    /^<!-- END dh-outcomes -->$/ { skip = 0 }
    !skip { print }' "$FILE" >"$tmp"
if ((check)); then
    if ! diff -u "$FILE" "$tmp"; then
        echo "gen-outcomes-doc.sh: $FILE is out of date: run tools/gen-outcomes-doc.sh" >&2
        exit 1
    fi
    exit 0
fi
cp "$tmp" "$FILE"
