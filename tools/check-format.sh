#!/usr/bin/env bash
# tools/check-format.sh: fail if a C source of ours differs from what clang-format
# (.clang-format at the top) would write. --fix rewrites the files instead.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
command -v clang-format >/dev/null || { echo "clang-format not found (deploy/setup.sh)" >&2; exit 1; }
mapfile -t files < <(git ls-files -co --exclude-standard -- '*.c' '*.h' | grep -v '^build')
if [[ "${1:-}" == "--fix" ]]; then
    clang-format -i "${files[@]}"
    exit 0
fi
# One clang-format process for the whole tree first (one per file spends most of its time
# starting up); only when that finds something, the per-file pass names each file.
if clang-format --dry-run -Werror "${files[@]}" >/dev/null 2>&1; then
    echo "${#files[@]} files checked, 0 not formatted"
    exit 0
fi
bad=0
for f in "${files[@]}"; do
    if ! clang-format --dry-run -Werror "$f" >/dev/null 2>&1; then
        echo "not formatted: $f (tools/check-format.sh --fix)"
        bad=$((bad + 1))
    fi
done
echo "${#files[@]} files checked, $bad not formatted"
((bad == 0))
