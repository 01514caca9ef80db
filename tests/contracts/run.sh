#!/usr/bin/env bash
# Contract test: validates every schema example (and the WMS OpenAPI document) with Ajv.
# Usage: tests/contracts/run.sh   (exit status 0 = all checks passed)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
if [ ! -d node_modules/ajv ] || [ ! -d node_modules/ajv-formats ] || [ ! -d node_modules/yaml ]; then
  npm ci --no-audit --no-fund >&2
fi
exec node validate-examples.mjs "$@"
