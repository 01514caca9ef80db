#!/usr/bin/env bash
# tests/deploy/kubeconform.sh: deploy/k8s against the API schemas of the versions it targets,
# with kubeconform (-strict: an unknown field fails). The schemas are generated from the
# APIs' own sources, fetched as Go modules: Kubernetes' OpenAPI document
# (k8s.io/kubernetes, api/openapi-spec/swagger.json) and KEDA's CRDs (config/crd/bases);
# tests/deploy/k8s-schemas.mjs turns them into kubeconform's file layout.
#   tests/deploy/kubeconform.sh --fetch   go install kubeconform, download both modules,
#                                         generate the schemas (deploy/setup.sh runs it)
#   tests/deploy/kubeconform.sh           validate (fails if --fetch has not run)
# Also proves the validator is live: a copy of a manifest with a misspelt field must fail.
# Cache: $DH_K8S_TOOLS (deploy/.stack/k8s-tools, git-ignored).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
# shellcheck source=../../deploy/lib.sh
. "$ROOT/deploy/lib.sh"
dh_prog=kubeconform

K8S_VERSION=1.30.14  # the Kubernetes API the manifests target (apps/v1, policy/v1, autoscaling/v2)
KEDA_VERSION=2.14.0  # KEDA 2.x: keda.sh/v1alpha1 ScaledObject
KUBECONFORM_VERSION=0.6.7
TOOLS="${DH_K8S_TOOLS:-$ROOT/deploy/.stack/k8s-tools}"
BIN="$TOOLS/bin/kubeconform"
SCHEMAS="$TOOLS/schemas-k8s$K8S_VERSION-keda$KEDA_VERSION"
YAML_MOD="$ROOT/tests/contracts/node_modules/yaml"
export GOPATH="$TOOLS/go" GOMODCACHE="$TOOLS/go/pkg/mod" GOFLAGS=-modcacherw

mod_dir() { # mod_dir <module@version>: its directory in the module cache (downloads it)
    go mod download -json "$1" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p'
}

fetch() {
    if ! command -v go >/dev/null 2>&1; then
        log "go not found: installing Debian's golang-go"
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends golang-go
    fi
    if [[ ! -x "$BIN" ]]; then
        log "go install kubeconform v$KUBECONFORM_VERSION"
        GOBIN="$TOOLS/bin" go install "github.com/yannh/kubeconform/cmd/kubeconform@v$KUBECONFORM_VERSION"
    fi
    if [[ ! -f "$SCHEMAS/.done" ]]; then
        local k8s keda
        log "downloading k8s.io/kubernetes v$K8S_VERSION and KEDA v$KEDA_VERSION (Go modules)"
        k8s="$(cd "$TOOLS" && mod_dir "k8s.io/kubernetes@v$K8S_VERSION")"
        keda="$(cd "$TOOLS" && mod_dir "github.com/kedacore/keda/v2@v$KEDA_VERSION")"
        [[ -f "$k8s/api/openapi-spec/swagger.json" && -d "$keda/config/crd/bases" ]] ||
            die "module download did not bring swagger.json / KEDA CRDs"
        [[ -d "$YAML_MOD" ]] || (cd "$ROOT/tests/contracts" && npm ci --no-audit --no-fund >&2)
        rm -rf "$SCHEMAS"
        node "$HERE/k8s-schemas.mjs" "$k8s/api/openapi-spec/swagger.json" "$keda/config/crd/bases" \
            "$SCHEMAS" "$YAML_MOD"
        touch "$SCHEMAS/.done"
    fi
    log "kubeconform and schemas ready in $TOOLS"
}

validate() {
    local loc work rc=0
    [[ -x "$BIN" && -f "$SCHEMAS/.done" ]] ||
        die "kubeconform or its schemas missing in $TOOLS: run deploy/setup.sh (or $0 --fetch)"
    loc="$SCHEMAS/{{ .ResourceKind }}{{ .KindSuffix }}.json"
    "$BIN" -strict -summary -schema-location "$loc" -ignore-filename-pattern 'kustomization\.yaml$' \
        "$ROOT/deploy/k8s" || rc=1
    # The validator is live: a misspelt StatefulSet field must be rejected.
    work="$(mktemp -d)"
    sed '0,/^  replicas:/s//  replicaz:/' "$ROOT/deploy/k8s/orders.yaml" >"$work/bad.yaml"
    if "$BIN" -strict -schema-location "$loc" "$work/bad.yaml" >"$work/out" 2>&1; then
        log "a StatefulSet with a misspelt field (replicaz) passed: the schemas do not bite"
        rc=1
    else
        log "negative control: the misspelt field is rejected ($(grep -o "additionalProperties 'replicaz' not allowed" "$work/out" | head -n 1))"
    fi
    rm -rf "$work"
    return "$rc"
}

if [[ "${1:-}" == "--fetch" ]]; then
    mkdir -p "$TOOLS"
    fetch
else
    validate
fi
