#!/usr/bin/env bash
# tools/gen-config-doc.sh: regenerates the variable tables of docs/configuration.md from
# the binaries themselves. Every block
#     <!-- BEGIN dh-orders -->
#     ...
#     <!-- END dh-orders -->
# is replaced by the output of `env -i <build-dir>/.../dh-orders --config-markdown` (env -i:
# nothing inherited can leak into the table). A block whose binary is not built is left
# as it is and named on stderr. To document a new binary, add an empty BEGIN/END pair
# and run this script.
#
#   tools/gen-config-doc.sh [--build-dir DIR] [FILE]
#
# DIR: $DH_TEST_BUILD_DIR, else build/. FILE: docs/configuration.md (edited in place).
# Exit: 0 done (even if some binaries were skipped), 1 error. tests/deploy/config-doc.sh
# fails when the committed file differs from what this script writes.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${DH_TEST_BUILD_DIR:-$ROOT/build}"
FILE="$ROOT/docs/configuration.md"
while (($#)); do
    case "$1" in
    --build-dir) BUILD_DIR="$2"; shift 2 ;;
    -h | --help) sed -n '2,17p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "gen-config-doc.sh: unknown option $1" >&2; exit 1 ;;
    *) FILE="$1"; shift ;;
    esac
done
[[ -r "$FILE" ]] || { echo "gen-config-doc.sh: $FILE not found" >&2; exit 1; }
[[ -d "$BUILD_DIR" ]] || { echo "gen-config-doc.sh: build dir $BUILD_DIR not found" >&2; exit 1; }

# find_bin NAME: the executable NAME in the build dir (top, or up to 3 levels down).
find_bin() {
    find "$BUILD_DIR" -maxdepth 3 -name CMakeFiles -prune -o -type f -name "$1" -perm -u+x -print |
        head -n 1
}

TMPD="$(mktemp -d)"
trap 'rm -rf "$TMPD"' EXIT
mapfile -t names < <(sed -n 's/^<!-- BEGIN \([A-Za-z0-9_.-]*\) -->$/\1/p' "$FILE")
((${#names[@]})) || { echo "gen-config-doc.sh: no <!-- BEGIN name --> blocks in $FILE" >&2; exit 1; }
for n in "${names[@]}"; do
    grep -qx "<!-- END $n -->" "$FILE" || { echo "gen-config-doc.sh: $n: BEGIN without END" >&2; exit 1; }
    bin="$(find_bin "$n")"
    if [[ -z "$bin" ]]; then
        echo "gen-config-doc.sh: $n not built in $BUILD_DIR: its table is left as it is" >&2
        continue
    fi
    if ! env -i "$bin" --config-markdown >"$TMPD/$n.md" 2>"$TMPD/$n.err" || ! grep -q '^| `' "$TMPD/$n.md"; then
        echo "gen-config-doc.sh: $bin --config-markdown failed: $(cat "$TMPD/$n.err")" >&2
        exit 1
    fi
done

# Splice: lines between BEGIN n and END n come from $TMPD/n.md when it exists.
awk -v dir="$TMPD" '
    match($0, /^<!-- BEGIN [A-Za-z0-9_.-]+ -->$/) {
        print
        name = substr($0, 12, length($0) - 15)
        f = dir "/" name ".md"
        if ((getline line < f) > 0) {
            print line
            while ((getline line < f) > 0) print line
            close(f)
            skipping = 1
        }
        next
    }
    /^<!-- END [A-Za-z0-9_.-]+ -->$/ { skipping = 0; print; next }
    !skipping { print }
' "$FILE" >"$TMPD/out"
if ! cmp -s "$TMPD/out" "$FILE"; then
    cat "$TMPD/out" >"$FILE"
    echo "gen-config-doc.sh: updated $FILE" >&2
else
    echo "gen-config-doc.sh: $FILE is up to date" >&2
fi
