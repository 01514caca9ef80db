#!/usr/bin/env bash
# deploy/test.sh: the project's test command (README; .ci/run calls it on a clean checkout).
#   setup -> configure -> build -> contract tooling (npm) -> local stack -> ctest by label
#   (unit, then integration, then e2e, then containers: podman) -> proof by breakage (fast subset) -> the same
#   labels under ASan + UBSan. Exits non-zero if any phase fails.
# Options:
#   (default) also builds build-asan/ with AddressSanitizer + UndefinedBehaviorSanitizer
#                and runs the unit, integration and e2e tests there too
#   --no-sanitize   skip the sanitizer build (a quicker local run)
# Environment:
#   DH_KEEP_STACK=1            leave the local stack running at exit (default: stop it)
#   DH_TEST_TIMEOUT_UNIT/INTEGRATION/E2E   per-test CTest timeout in seconds for the tests
#                              of that label that set no TIMEOUT of their own (120/600/900;
#                              doubled for the sanitizer build). dh_test() sets none, so
#                              these govern every C test; scripts registered with their own
#                              TIMEOUT (format, contracts, stack, deploy) keep it.
# Each label's run must run exactly the tests CMake registered under it (`ctest -N -L`):
# a label with no tests, or fewer run than registered, fails (--no-tests=error).
# shellcheck source-path=SCRIPTDIR
set -euo pipefail

# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

sanitize=1
for arg in "$@"; do
    case "$arg" in
    --sanitize) sanitize=1 ;;
    --no-sanitize) sanitize=0 ;;
    -h | --help)
        sed -n '2,18p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
        exit 0
        ;;
    *) die "unknown option '$arg' (try --help)" ;;
    esac
done

cd "$DH_ROOT"
JOBS="$(nproc 2>/dev/null || echo 2)"
failed=()

stack_started=0
finish() {
    local rc=$?
    if ((stack_started)) && [[ "${DH_KEEP_STACK:-0}" != 1 ]]; then
        header "stop local stack (DH_KEEP_STACK=1 keeps it)"
        deploy/stack.sh down || rc=1
    fi
    exit "$rc"
}
trap finish EXIT

# run_label <build-dir> <label> <parallel> <timeout> [exclude-regex]: ctest one label; it
# fails unless every test registered under the label (minus the excluded) ran and passed.
run_label() {
    local dir="$1" label="$2" jobs="$3" timeout="$4" exclude="${5:-}" registered ran rc=0
    local sel=(--test-dir "$dir" -L "^${label}\$")
    [[ -z "$exclude" ]] || sel+=(-E "$exclude")
    header "ctest -L $label ($dir, -j$jobs, default timeout ${timeout}s)"
    registered="$(ctest "${sel[@]}" -N | sed -n 's/^Total Tests: \([0-9]*\)$/\1/p')"
    # pipefail: the pipeline fails when ctest does.
    ctest "${sel[@]}" --output-on-failure --no-tests=error -j"$jobs" --timeout "$timeout" |
        tee "$dir/ctest-$label.log" || rc=$?
    ran="$(sed -n 's/^.* tests failed out of \([0-9]*\)$/\1/p' "$dir/ctest-$label.log" | tail -n 1)"
    if [[ -z "$registered" || "$registered" == 0 || "$ran" != "$registered" ]]; then
        log "label $label ($dir): $registered test(s) registered, ${ran:-none} run"
        rc=1
    fi
    ((rc == 0)) || failed+=("$label ($dir)")
}

header "setup"
deploy/setup.sh

header "configure (build/)"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_COMPILE_WARNING_AS_ERROR=ON

header "build (build/)"
cmake --build build -j "$JOBS"

if [[ -f tests/contracts/package.json ]]; then
    header "contract tooling (npm)"
    if [[ -f tests/contracts/package-lock.json ]]; then
        (cd tests/contracts && npm ci --no-audit --no-fund)
    else
        (cd tests/contracts && npm install --no-audit --no-fund)
    fi
fi

header "local stack"
stack_started=1
deploy/stack.sh up
eval "$(deploy/stack.sh env)"
# The tests find the stack through these (ports may be overridden, see deploy/stack.sh).
export DH_TEST_KAFKA="$DH_KAFKA_BROKERS" DH_TEST_REDIS_URL="$DH_REDIS_URL"

run_label build unit 2 "${DH_TEST_TIMEOUT_UNIT:-120}"
run_label build integration 1 "${DH_TEST_TIMEOUT_INTEGRATION:-600}"
run_label build e2e 1 "${DH_TEST_TIMEOUT_E2E:-900}"

# The container test (tests/containers/): the image built with podman, the compose stack
# healthy, replicas killed and rolled. Its own Kafka and Redis run in containers; podman
# comes from deploy/setup.sh, and a missing podman fails it (never skipped).
run_label build containers 1 1800

# Proof by breakage, the fast subset: each deliberately broken variant must make one of
# its guarding tests fail (tests/breakage/run.sh runs all of them; see docs/testing.md).
header "breakage (tests/breakage/run.sh --fast)"
tests/breakage/run.sh --fast || failed+=("breakage")

if ((sanitize)); then
    header "configure + build with sanitizers (build-asan/)"
    cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DDH_SANITIZE=ON \
        -DCMAKE_COMPILE_WARNING_AS_ERROR=ON
    cmake --build build-asan -j "$JOBS"
    # The same C tests under ASan + UBSan (any report fails the test). Checks of files and
    # of the release binaries' packaging (format, deploy_files, config_doc, contracts) ran
    # above and mean nothing for this build; the stack test ran above too.
    export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
    run_label build-asan unit 2 $((2 * ${DH_TEST_TIMEOUT_UNIT:-120})) \
        '^(format|deploy_files|config_doc|outcomes_doc|k8s_schemas|contracts_.*)$'
    run_label build-asan integration 1 $((2 * ${DH_TEST_TIMEOUT_INTEGRATION:-600})) '^stack$'
    run_label build-asan e2e 1 $((2 * ${DH_TEST_TIMEOUT_E2E:-900}))
fi

# Fuzz phase (tests/fuzz/README.md): the libFuzzer harnesses under ASan + UBSan, each
# replaying its regression inputs and then fuzzing DH_FUZZ_SECONDS (default 20), two at a
# time. clang comes from deploy/setup.sh; without it the configure fails, and so does
# this phase (never skipped).
header "fuzz: configure + build (build-fuzz/, clang)"
if CC=clang cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDH_FUZZ=ON \
    -DDH_FUZZ_SECONDS="${DH_FUZZ_SECONDS:-20}" -DCMAKE_COMPILE_WARNING_AS_ERROR=ON &&
    cmake --build build-fuzz -j "$JOBS" --target dh-fuzz; then
    header "ctest -L fuzz (build-fuzz)"
    # -V: each harness prints its executions and coverage.
    ctest --test-dir build-fuzz -V --no-tests=error -j2 -L '^fuzz$' ||
        failed+=("fuzz (build-fuzz)")
else
    failed+=("fuzz (build-fuzz: configure or build failed; clang from deploy/setup.sh?)")
fi

header "summary"
if ((${#failed[@]} > 0)); then
    log "FAILED: ${failed[*]}"
    exit 1
fi
log "all test phases passed"
