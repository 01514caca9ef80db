#!/usr/bin/env bash
# tests/deploy/image-build.sh: runs the Dockerfile's build-stage RUN command (the one that
# calls cmake) with /bin/sh, as `docker build` would, in a copy of the build context
# (the tree minus .dockerignore), on this host. Meaningful on Debian bookworm, the
# image's base, with deploy/setup.sh's packages installed. Used by check.sh --build.
#   tests/deploy/image-build.sh [--keep]   (--keep: leave the copy and print its path)
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/dh-image-build.XXXXXX")"
if [[ "${1:-}" != "--keep" ]]; then
    trap 'rm -rf "$WORK"' EXIT
fi

# The build stage's ARG defaults and its RUN instruction that invokes cmake.
node - "$ROOT/Dockerfile" >"$WORK/run.sh" <<'JS'
const fs = require("fs");
const text = fs.readFileSync(process.argv[2], "utf8");
const ins = [];
let cur = "";
for (const l of text.split("\n")) {
  if (/^\s*#/.test(l)) continue;
  if (l.endsWith("\\")) { cur += l.slice(0, -1); continue; }
  cur += l;
  if (cur.trim()) { const m = cur.trim().match(/^(\S+)\s*([\s\S]*)$/); ins.push([m[1].toUpperCase(), m[2]]); }
  cur = "";
}
let stage = -1, out = [];
for (const [op, args] of ins) {
  if (op === "FROM") { stage++; continue; }
  if (stage !== 0) continue;
  const a = args.match(/^([A-Za-z_][A-Za-z0-9_]*)=(?:"([^"]*)"|(\S*))/);
  if (op === "ARG" && a) out.push(`${a[1]}=${JSON.stringify(a[2] ?? a[3])}; export ${a[1]}`);
  if (op === "RUN" && /cmake\s+-S/.test(args)) out.push(args);
}
if (!out.some((l) => /cmake\s+-S/.test(l))) { console.error("no cmake RUN in the build stage"); process.exit(1); }
console.log(out.join("\n"));
JS

# The build context: the tree minus .dockerignore's patterns.
mkdir -p "$WORK/src"
excludes=()
while IFS= read -r pat; do
    pat="${pat%%#*}"
    pat="${pat//\*\*\//}"
    pat="$(printf '%s' "$pat" | sed 's/[[:space:]]*$//')"
    [[ -n "$pat" ]] && excludes+=("--exclude=$pat")
done <"$ROOT/.dockerignore"
tar -C "$ROOT" "${excludes[@]}" -cf - . | tar -C "$WORK/src" -xf -

echo "image-build: running the build stage in $WORK/src" >&2
(cd "$WORK/src" && sh -e "$WORK/run.sh") >"$WORK/build.log" 2>&1 || {
    tail -n 40 "$WORK/build.log" >&2
    echo "image-build: FAILED (log above)" >&2
    exit 1
}
tail -n 8 "$WORK/build.log" >&2
[[ "${1:-}" == "--keep" ]] && echo "$WORK"
exit 0
