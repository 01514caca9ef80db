#!/usr/bin/env bash
# deploy/setup.sh: idempotent installer for a Debian/Ubuntu machine.
#  1. installs the Debian packages dockhand needs to build, test and run its local stack
#     (apt is skipped entirely when everything is already installed), including clang
#     and its libFuzzer runtime for tests/fuzz (checked by linking a probe);
#  2. fetches the Kafka broker jars with Maven, once, into deploy/.stack/kafka-libs/
#     (git-ignored; a marker file records the POM it came from);
#  3. deploy/containers.sh: podman's configuration and the local base image (made once);
#  4. kubeconform and the Kubernetes/KEDA schemas (tests/deploy/kubeconform.sh --fetch, once).
# Run as root, or as a user with sudo. Safe to run again at any time.
# Environment: DH_SETUP_SKIP_APT=1 skips step 1; DH_STACK_KAFKA_LIBS overrides the cache dir.
# shellcheck source-path=SCRIPTDIR
set -euo pipefail

# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PACKAGES=(
    build-essential cmake ninja-build pkg-config
    librdkafka-dev libhiredis-dev libjansson-dev libcmocka-dev
    libcurl4-openssl-dev libmicrohttpd-dev libssl-dev
    redis-server openjdk-17-jre-headless maven kcat
    clang-format uuid-runtime curl procps jq clang
    prometheus chromium
    podman runc podman-compose debootstrap golang-github-containernetworking-plugin-dnsname
)
# prometheus: only for promtool, which checks deploy/monitoring/ (tests/deploy/promtool.sh).
# chromium: the console test and the demo load dh-console in headless Chromium.
# podman & co: the container test (tests/containers/); runc because crun refuses cgroup v1
# hybrid hosts, the CNI dnsname plugin so compose services find each other by name.
# Node may come from elsewhere (e.g. a vendor nodejs package that bundles npm):
# only ask apt for it when node or npm is missing.
NODE_PACKAGES=(nodejs npm)

pkg_installed() {
    [[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" == "install ok installed" ]]
}

install_packages() {
    local missing=() p
    if [[ "${DH_SETUP_SKIP_APT:-0}" == 1 ]]; then
        log "DH_SETUP_SKIP_APT=1: not checking Debian packages"
        return 0
    fi
    if ! command -v dpkg-query >/dev/null 2>&1; then
        die "dpkg-query not found: deploy/setup.sh supports Debian/Ubuntu (apt) only; install the equivalents of: ${PACKAGES[*]} ${NODE_PACKAGES[*]} by hand, then rerun with DH_SETUP_SKIP_APT=1"
    fi
    for p in "${PACKAGES[@]}"; do
        pkg_installed "$p" || missing+=("$p")
    done
    if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
        for p in "${NODE_PACKAGES[@]}"; do
            pkg_installed "$p" || missing+=("$p")
        done
    fi
    if ((${#missing[@]} == 0)); then
        log "all Debian packages already installed"
        return 0
    fi
    if ! command -v apt-get >/dev/null 2>&1; then
        die "apt-get not found, cannot install: ${missing[*]}; install them by hand, then rerun with DH_SETUP_SKIP_APT=1"
    fi
    log "installing: ${missing[*]}"
    # Keep package scripts from starting services (redis-server would otherwise start
    # a system instance on 6379 where an init system runs); our stack starts its own.
    local policy=/usr/sbin/policy-rc.d added_policy=0
    if [[ ! -e "$policy" ]]; then
        as_root sh -c "printf '#!/bin/sh\nexit 101\n' > $policy && chmod 755 $policy"
        added_policy=1
    fi
    local rc=0
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q || rc=$?
    if ((rc == 0)); then
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
            --no-install-recommends "${missing[@]}" || rc=$?
    fi
    if ((added_policy)); then
        as_root rm -f "$policy"
    fi
    ((rc == 0)) || die "apt-get failed (exit $rc) installing: ${missing[*]}"
    # Where systemd runs, make sure the packaged instance is not left enabled/running.
    if [[ " ${missing[*]} " == *" redis-server "* ]] && [[ -d /run/systemd/system ]]; then
        as_root systemctl disable --now redis-server >/dev/null 2>&1 || true
    fi
    log "packages installed"
}

# clang links libFuzzer and the sanitizer runtimes from a separate package on some releases
# (Debian bookworm: libclang-rt-14-dev for clang 14). Link a probe; install that package
# for the installed clang's major version when the probe fails.
fuzz_probe() {
    local dir rc=0
    dir="$(mktemp -d)"
    printf '%s\n' '#include <stddef.h>' '#include <stdint.h>' \
        'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);' \
        'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }' \
        >"$dir/probe.c"
    clang -fsanitize=fuzzer,address,undefined -o "$dir/probe" "$dir/probe.c" >"$dir/log" 2>&1 ||
        rc=$?
    ((rc == 0)) || sed -n '1,5p' "$dir/log" >&2
    rm -rf "$dir"
    return "$rc"
}

install_fuzz_runtime() {
    local major pkg
    if [[ "${DH_SETUP_SKIP_APT:-0}" == 1 ]]; then
        return 0
    fi
    need_cmd clang "install clang (Debian package clang)"
    if fuzz_probe 2>/dev/null; then
        log "clang links libFuzzer + ASan + UBSan"
        return 0
    fi
    major="$(clang -dumpversion)"
    major="${major%%.*}"
    pkg="libclang-rt-${major}-dev"
    log "clang cannot link libFuzzer yet: installing $pkg"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q ||
        die "apt-get update failed (installing $pkg)"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        "$pkg" || die "apt-get could not install $pkg (clang's libFuzzer runtime)"
    fuzz_probe || die "clang still cannot link -fsanitize=fuzzer,address,undefined (see above)"
    log "clang links libFuzzer + ASan + UBSan"
}

fetch_kafka_jars() {
    local pom="$DH_ROOT/deploy/kafka/pom.xml" libs="$DH_STACK_KAFKA_LIBS"
    local marker="$libs/$DH_KAFKA_LIBS_MARKER_NAME" want have="" tmp
    [[ -r "$pom" ]] || die "$pom not found"
    want="$(sha256_of "$pom")"
    if [[ -r "$marker" ]]; then
        read -r have <"$marker" || true
    fi
    if [[ "$have" == "$want" ]] && compgen -G "$libs/kafka_2.13-*.jar" >/dev/null; then
        log "Kafka jars already in $libs"
        return 0
    fi
    need_cmd mvn "install maven (deploy/setup.sh does, unless DH_SETUP_SKIP_APT=1)"
    log "fetching Kafka jars with Maven into $libs"
    mkdir -p "$(dirname "$libs")"
    tmp="$(mktemp -d "$(dirname "$libs")/.kafka-libs.XXXXXX")"
    if ! (cd "$DH_ROOT/deploy/kafka" && mvn -q -B -Dstyle.color=never dependency:copy-dependencies \
        -DoutputDirectory="$tmp" -DincludeScope=runtime); then
        rm -rf "$tmp"
        die "Maven could not fetch the Kafka jars (see the output above)"
    fi
    compgen -G "$tmp/kafka_2.13-*.jar" >/dev/null || {
        rm -rf "$tmp"
        die "Maven ran but brought no kafka_2.13 jar"
    }
    printf '%s\n' "$want" >"$tmp/$DH_KAFKA_LIBS_MARKER_NAME"
    rm -rf "$libs"
    mv "$tmp" "$libs"
    log "Kafka jars ready: $(find "$libs" -name '*.jar' | wc -l) jars in $libs"
}

main() {
    header "setup: Debian packages"
    install_packages
    install_fuzz_runtime
    header "setup: Kafka jars"
    fetch_kafka_jars
    header "setup: containers (podman, base image)"
    "$DH_ROOT/deploy/containers.sh"
    header "setup: kubeconform and API schemas"
    "$DH_ROOT/tests/deploy/kubeconform.sh" --fetch
}

main "$@"
