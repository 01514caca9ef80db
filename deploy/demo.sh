#!/usr/bin/env bash
# deploy/demo.sh: placeholder for the end-to-end demo. Today it prepares everything the
# demo needs (packages, build, local stack) and prints what it will show.
# shellcheck source-path=SCRIPTDIR
set -euo pipefail

# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

cd "$DH_ROOT"
header "setup"
deploy/setup.sh
header "build"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build build -j "$(nproc 2>/dev/null || echo 2)"
header "local stack"
deploy/stack.sh up
deploy/stack.sh status

header "demo (placeholder)"
cat <<'TXT'
The demo will, against the local stack and the sandbox (127.0.0.1:38080):
  1. publish a WMS putaway and a zone move -> stock set in the Shopify sandbox
  2. post a Shopify orders/create webhook  -> sales order created in the WMS sandbox
  3. publish a WMS dispatch                -> fulfillment with tracking in Shopify
  4. post a Return Prime CIR webhook       -> return created in the WMS
  5. import the catalogue                  -> one WMS SKU per Shopify variant
The stack stays up; stop it with: deploy/stack.sh down
TXT
