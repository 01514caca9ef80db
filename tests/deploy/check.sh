#!/usr/bin/env bash
# tests/deploy/check.sh: checks the image, the compose stack and the Kubernetes manifests
# without a Docker engine or a cluster (docs/deployment.md, "What is checked").
#
#   tests/deploy/check.sh [--build]
#
# Dockerfile: two bookworm-slim stages; the build stage installs deploy/setup.sh's build
#   packages; the runtime stage installs no build tools, yet every library each built
#   binary links (readelf NEEDED -> dpkg -S); non-root numeric USER; EXPOSE 9464; CMD is
#   a shipped binary; the curl-free HEALTHCHECK command run against a stub admin port.
#   --build also runs the build stage's RUN command on this (bookworm) host, in a copy of
#   the tree filtered by .dockerignore: the same commands the image build runs.
# docker-compose.yml: `docker compose config -q` when the compose plugin exists, else
#   parsed with the yaml package (merge keys, compose's $-interpolation); every service,
#   mounted file and depends_on condition; Kafka KRaft settings and version (= the local
#   stack's); topic-init's own command run with a stub kafka-topics.sh must create every
#   topic of deploy/topics.txt; each dockhand service's DH_* names are in its binary's
#   --help and `<binary> --check-config` accepts its environment; grace periods cover
#   the drain; health checks; stores.json agrees with the sandbox seed.
# deploy/k8s: every file parses; `kubectl kustomize` builds (when kubectl exists); per
#   workload: env names in --help and --check-config with the pod's env (secrets from
#   secret.yaml), static membership, session timeout, grace period, probes, resources,
#   PDB, KEDA triggers (group, topics, excludePersistentLag, replicas <= partitions),
#   the gateway's Deployment/Service/HPA.
# Binaries come from $DH_TEST_BUILD_DIR, else build/. Under ctest (DH_TEST_BUILD_DIR set) a
# binary that is not built fails its checks; run by hand, they are skipped (said so).
# Ends with "N passed, M failed, K skipped"; exits non-zero on any failure.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
BUILD_DIR="${DH_TEST_BUILD_DIR:-$ROOT/build}"
[[ "$BUILD_DIR" = /* ]] || BUILD_DIR="$ROOT/$BUILD_DIR"

die() {
    printf 'check.sh: %s\n' "$*" >&2
    echo "0 passed, 1 failed"
    exit 1
}

command -v node >/dev/null 2>&1 || die "node not found (deploy/setup.sh installs it)"
# The yaml package of the contract tests (tests/contracts/package.json).
YAML_MOD="$ROOT/tests/contracts/node_modules/yaml"
if [[ ! -d "$YAML_MOD" ]]; then
    (cd "$ROOT/tests/contracts" && npm ci --no-audit --no-fund >&2) ||
        die "tests/contracts/node_modules/yaml missing and npm ci failed"
fi

# docker compose config needs only the CLI and its compose plugin, no engine.
DH_DEPLOY_DOCKER_COMPOSE=0
if command -v docker >/dev/null 2>&1 && docker compose version >/dev/null 2>&1; then
    DH_DEPLOY_DOCKER_COMPOSE=1
fi
export DH_DEPLOY_DOCKER_COMPOSE

# --build: the Dockerfile's build stage, run on this host (reported by check.mjs).
DH_DEPLOY_IMAGE_BUILD=""
if [[ "${1:-}" == "--build" ]]; then
    if "$HERE/image-build.sh"; then
        DH_DEPLOY_IMAGE_BUILD=ok
    else
        DH_DEPLOY_IMAGE_BUILD=failed
    fi
fi
export DH_DEPLOY_IMAGE_BUILD

exec node "$HERE/check.mjs" "$ROOT" "$BUILD_DIR" "$YAML_MOD"
