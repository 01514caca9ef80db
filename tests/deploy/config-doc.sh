#!/usr/bin/env bash
# tests/deploy/config-doc.sh: docs/configuration.md must match the binaries' own tables.
# Regenerates a temporary copy with tools/gen-config-doc.sh and compares; binaries not
# built yet are skipped (said so). Also: every built worker binary that answers
# --config-markdown has a block in the file.
# Binaries from $DH_TEST_BUILD_DIR, else build/. Ends with "N passed, M failed".
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BUILD_DIR="${DH_TEST_BUILD_DIR:-$ROOT/build}"
[[ "$BUILD_DIR" = /* ]] || BUILD_DIR="$ROOT/$BUILD_DIR"
DOC="$ROOT/docs/configuration.md"
# Binaries with a --config-markdown table that the doc must cover.
KNOWN=(dh-orders dh-inventory dh-dispatch dh-returns dh-catalog dh-gateway dh-ops dh-testworker)
passed=0 failed=0 skipped=0
TMPD="$(mktemp -d)"
trap 'rm -rf "$TMPD"' EXIT

if [[ ! -r "$DOC" ]]; then
    echo "not ok - docs/configuration.md exists"
    echo "0 passed, 1 failed"
    exit 1
fi
cp "$DOC" "$TMPD/configuration.md"
if [[ ! -d "$BUILD_DIR" ]]; then
    echo "skip - docs/configuration.md matches the binaries: no build dir $BUILD_DIR"
    skipped=$((skipped + 1))
elif ! "$ROOT/tools/gen-config-doc.sh" --build-dir "$BUILD_DIR" "$TMPD/configuration.md" 2>"$TMPD/gen.err"; then
    cat "$TMPD/gen.err"
    echo "not ok - tools/gen-config-doc.sh runs"
    failed=$((failed + 1))
else
    sed 's/^gen-config-doc.sh: /  /' "$TMPD/gen.err"
    if diff -u "$DOC" "$TMPD/configuration.md" >"$TMPD/diff"; then
        echo "ok - docs/configuration.md matches the built binaries' --config-markdown"
        passed=$((passed + 1))
    else
        head -n 40 "$TMPD/diff"
        echo "not ok - docs/configuration.md is out of date: run tools/gen-config-doc.sh"
        failed=$((failed + 1))
    fi
fi
for n in "${KNOWN[@]}"; do
    bin="$(find "$BUILD_DIR" -maxdepth 3 -name CMakeFiles -prune -o -type f -name "$n" -perm -u+x -print 2>/dev/null | head -n 1)"
    if [[ -z "$bin" ]]; then
        echo "skip - $n has a block in docs/configuration.md: not built in $BUILD_DIR"
        skipped=$((skipped + 1))
    elif grep -qx "<!-- BEGIN $n -->" "$DOC" && grep -qx "<!-- END $n -->" "$DOC"; then
        echo "ok - $n has a block in docs/configuration.md"
        passed=$((passed + 1))
    else
        echo "not ok - $n has no <!-- BEGIN $n --> / <!-- END $n --> block in docs/configuration.md"
        failed=$((failed + 1))
    fi
done
echo "$passed passed, $failed failed, $skipped skipped"
((failed == 0))
