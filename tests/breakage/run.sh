#!/usr/bin/env bash
# tests/breakage/run.sh: proof by breakage. Builds deliberately broken variants of dockhand
# in a scratch copy of the tree and runs the tests that claim to guard against each break;
# every variant must make at least one of them fail. A variant nobody catches means a
# claim of the suite is not backed by a check that can fail.
#
#   tests/breakage/run.sh [--fast] [--list] [--keep] [VARIANT...]
#
#   --fast   only the variants marked FAST=1 (what CI runs; a few minutes)
#   --list   print the variants and the tests each one runs, then exit
#   --keep   keep the scratch copy (its path is printed)
#   VARIANT  names (file names without .sh) to run instead of all of them
#
# Each variant is tests/breakage/variants/<name>.sh and defines DESC (one line), TESTS (a
# ctest -R regex of the tests expected to catch it), FAST (1 or 0) and a function mutate()
# that edits the scratch copy through replace(), which fails when its anchor text is not
# found exactly once, so a variant that no longer applies fails the run instead of
# silently testing the unbroken product. Optional CASES: a cmocka test-name pattern ('*'
# and '?') passed to the tests as DH_TEST_CASES, for test programs that honour it (their
# main() says so), so a variant aimed at two cases of a long program runs only those.
#
# Needs the local stack for integration and e2e tests (deploy/stack.sh up; the test
# command exports DH_TEST_KAFKA and DH_TEST_REDIS_URL). Prints a table: variant -> the
# tests that failed. Exit 0 iff every variant was caught.
# shellcheck source-path=SCRIPTDIR
set -euo pipefail

# shellcheck source=../../deploy/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../../deploy/lib.sh"

VARIANTS_DIR="$DH_ROOT/tests/breakage/variants"
fast=0
list=0
keep=0
names=()
for arg in "$@"; do
    case "$arg" in
    --fast) fast=1 ;;
    --list) list=1 ;;
    --keep) keep=1 ;;
    -h | --help)
        sed -n '2,22p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
        exit 0
        ;;
    -*) die "unknown option '$arg' (try --help)" ;;
    *) names+=("$arg") ;;
    esac
done

# load_variant <file>: reset and source one variant's definitions.
load_variant() {
    DESC="" TESTS="" FAST=0 CASES=""
    unset -f mutate
    # shellcheck disable=SC1090
    . "$1"
    [[ -n "$DESC" && -n "$TESTS" ]] || die "$1: DESC and TESTS must be set"
    declare -F mutate >/dev/null || die "$1: no mutate() function"
}

# replace <file> <old> <new>: in the scratch copy, replace the one occurrence of <old>.
replace() {
    local file="$SCRATCH/$1" old="$2" new="$3" count
    [[ -f "$file" ]] || die "variant $VNAME: no file $1"
    count="$(OLD="$old" perl -0ne 'my $n = () = /\Q$ENV{OLD}\E/g; print $n' "$file")"
    if [[ "$count" != 1 ]]; then
        die "variant $VNAME: anchor found $count times in $1 (expected once): $old"
    fi
    OLD="$old" NEW="$new" perl -0pi -e 's/\Q$ENV{OLD}\E/$ENV{NEW}/' "$file"
}

selected=()
for f in "$VARIANTS_DIR"/*.sh; do
    n="$(basename "$f" .sh)"
    if ((${#names[@]} > 0)); then
        [[ " ${names[*]} " == *" $n "* ]] || continue
    fi
    load_variant "$f"
    if ((fast)) && [[ "$FAST" != 1 ]]; then
        continue
    fi
    selected+=("$n")
    if ((list)); then
        printf '%-28s fast=%s  tests: %s\n    %s\n' "$n" "$FAST" "$TESTS" "$DESC"
    fi
done
((list)) && exit 0
((${#selected[@]} > 0)) || die "no variant selected"

need_cmd cmake
need_cmd ctest
need_cmd perl
need_cmd jq
SCRATCH="$(mktemp -d "${TMPDIR:-/tmp}/dh-breakage.XXXXXX")"
PRISTINE="$SCRATCH.pristine"
cleanup() {
    if ((keep)); then
        log "scratch copy kept: $SCRATCH"
    else
        rm -rf "$SCRATCH" "$PRISTINE"
    fi
}
trap cleanup EXIT

# targets_of <build-dir> <ctest-regex>: the build targets of the tests <regex> selects (a C
# test is the executable of its name; its add_dependencies() bring the binaries it starts),
# or "all" when one of them is a script, whose inputs the build graph does not know.
targets_of() {
    local dir="$1" regex="$2" known t out=()
    known="$(cmake --build "$dir" --target help | sed -n 's/^\([^ :]*\): .*/\1/p')"
    while read -r t; do
        if ! grep -qxF "$t" <<<"$known"; then
            echo all
            return 0
        fi
        out+=("$t")
    done < <(ctest --test-dir "$dir" --show-only=json-v1 -R "$regex" | sed -n '/^{/,$p' | jq -r '.tests[].name')
    ((${#out[@]} > 0)) || die "no test matches $regex"
    printf '%s\n' "${out[@]}"
}

# build_for <regex>...: build what the tests each <regex> selects need, nothing else: a
# variant's rebuild then relinks a handful of executables instead of all of them. (One
# regex per variant: CMake's regular expressions allow only a few groups.)
build_for() {
    local -a targets=()
    local r
    for r in "$@"; do
        mapfile -t -O "${#targets[@]}" targets < <(targets_of "$SCRATCH/build" "$r")
    done
    ((${#targets[@]} > 0)) || die "no build target for the tests $*"
    mapfile -t targets < <(printf '%s\n' "${targets[@]}" | sort -u)
    cmake --build "$SCRATCH/build" -j "$(nproc 2>/dev/null || echo 2)" --target "${targets[@]}"
}

header "scratch copy and build ($SCRATCH)"
# The tracked files as they are in the work tree (uncommitted edits included).
(cd "$DH_ROOT" && git ls-files -z | tar --null -T - -cf -) | tar -xf - -C "$SCRATCH"
if [[ -d "$DH_ROOT/tests/contracts/node_modules" ]]; then
    ln -s "$DH_ROOT/tests/contracts/node_modules" "$SCRATCH/tests/contracts/node_modules"
fi
cp -a "$SCRATCH" "$PRISTINE"
cmake -S "$SCRATCH" -B "$SCRATCH/build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
all_tests=()
for VNAME in "${selected[@]}"; do
    load_variant "$VARIANTS_DIR/$VNAME.sh"
    all_tests+=("$TESTS")
done
build_for "${all_tests[@]}" >/dev/null

declare -A caught
missed=()
for VNAME in "${selected[@]}"; do
    load_variant "$VARIANTS_DIR/$VNAME.sh"
    header "variant $VNAME: $DESC"
    mutate
    changed="$({ diff -rq --exclude=build --exclude=node_modules "$PRISTINE" "$SCRATCH" || true; } |
        sed -n 's|^Files .* and '"$SCRATCH"'/\(.*\) differ$|\1|p' | tr '\n' ' ')"
    [[ -n "$changed" ]] || die "variant $VNAME changed no file"
    log "changed: $changed"
    if ! build_for "$TESTS" >"$SCRATCH/build.log" 2>&1; then
        tail -n 20 "$SCRATCH/build.log" >&2
        die "variant $VNAME does not build: a breakage must compile to prove anything"
    fi
    out="$SCRATCH/ctest-$VNAME.log"
    DH_TEST_CASES="$CASES" ctest --test-dir "$SCRATCH/build" --no-tests=error -j1 --timeout 600 -R "$TESTS" \
        --output-on-failure >"$out" 2>&1 || true
    failed="$(sed -n 's/^[[:space:]]*[0-9]* - \([^ ]*\) (.*/\1/p' "$out" | tr '\n' ' ')"
    if [[ -n "$failed" ]]; then
        caught[$VNAME]="$failed"
        log "caught by: $failed"
    else
        missed+=("$VNAME")
        tail -n 5 "$out" >&2
        log "NOT CAUGHT"
    fi
    # Restore the files the variant touched and rebuild them.
    for f in $changed; do
        # A plain cp: the restored file must be newer than the objects built from the
        # mutation. With cp -a it kept its old mtime, ninja saw nothing to rebuild, and the
        # next variants ran on the previous variant's break.
        cp "$PRISTINE/$f" "$SCRATCH/$f"
    done
done
if ((keep)); then
    cmake --build "$SCRATCH/build" -j "$(nproc 2>/dev/null || echo 2)" >/dev/null || true
fi

header "breakage summary"
printf '| variant | what is broken | caught by |\n|---|---|---|\n'
for VNAME in "${selected[@]}"; do
    load_variant "$VARIANTS_DIR/$VNAME.sh"
    printf '| %s | %s | %s |\n' "$VNAME" "$DESC" "${caught[$VNAME]:-**NOT CAUGHT**}"
done
n_ok=$((${#selected[@]} - ${#missed[@]}))
printf 'breakage: %d passed, %d failed\n' "$n_ok" "${#missed[@]}"
((${#missed[@]} == 0))
