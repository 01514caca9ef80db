# shellcheck shell=bash
# deploy/lib.sh: helpers shared by the deploy/ scripts and tests/stack/. Source it:
#   . "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# It defines functions and a few DH_* path variables; it runs nothing by itself.

if [[ -n "${DH_LIB_SOURCED:-}" ]]; then
    return 0
fi
DH_LIB_SOURCED=1

# Repository root and the git-ignored state directory of the local stack.
DH_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DH_STACK_DIR="${DH_STACK_DIR:-$DH_ROOT/deploy/.stack}"
# Kafka jars fetched by deploy/setup.sh (Maven); overridable for tests.
DH_STACK_KAFKA_LIBS="${DH_STACK_KAFKA_LIBS:-$DH_STACK_DIR/kafka-libs}"
# Written into the jar cache once the fetch succeeded; holds the sha256 of the POM.
# shellcheck disable=SC2034 # used by setup.sh
DH_KAFKA_LIBS_MARKER_NAME=".fetched"

# ---- logging ---------------------------------------------------------------
# All diagnostics go to stderr so stdout stays usable (e.g. `eval "$(stack.sh env)"`).
dh_prog="$(basename "${0:-dockhand}")"

log() { printf '%s: %s\n' "$dh_prog" "$*" >&2; }
warn() { printf '%s: warning: %s\n' "$dh_prog" "$*" >&2; }
die() {
    printf '%s: error: %s\n' "$dh_prog" "$*" >&2
    exit 1
}
# header <text>: a visible phase banner.
header() { printf '\n==== %s ====\n' "$*" >&2; }

# ---- checks ----------------------------------------------------------------
# need_cmd <cmd> [hint]: die with a fix-it message if <cmd> is not on PATH.
need_cmd() {
    local cmd="$1" hint="${2:-run deploy/setup.sh to install it}"
    if ! command -v "$cmd" >/dev/null 2>&1; then
        die "'$cmd' not found on PATH; $hint"
    fi
}

# now_ms: monotonic-enough wall clock in milliseconds.
now_ms() {
    local t
    t="$(date +%s%N)"
    printf '%s\n' "$((t / 1000000))"
}

# wait_until <timeout-seconds> <cmd...>
# Runs <cmd...> every 0.2 s until it succeeds (returns 0) or the timeout passes
# (returns 1). If <cmd> returns 3 it means "will never succeed": stop at once, return 3.
wait_until() {
    local timeout="$1" rc deadline
    shift
    deadline=$(($(now_ms) + timeout * 1000))
    while :; do
        rc=0
        "$@" || rc=$?
        if ((rc == 0)); then
            return 0
        fi
        if ((rc == 3)); then
            return 3
        fi
        if (($(now_ms) >= deadline)); then
            return 1
        fi
        sleep 0.2
    done
}

# port_open <port> [host]: true if something accepts TCP connections there.
port_open() {
    local port="$1" host="${2:-127.0.0.1}"
    (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null
}

# port_owner <port>: best-effort description of who listens on <port> (may be empty).
port_owner() {
    local port="$1"
    if command -v ss >/dev/null 2>&1; then
        ss -Hltnp "sport = :$port" 2>/dev/null | sed -n 's/.*users:((\(.*\)))/\1/p' | head -n 1
    fi
}

# pid_alive <pid>: true if the process exists (and is not a zombie).
pid_alive() {
    local pid="$1" state
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    [[ -r "/proc/$pid/stat" ]] || return 1
    state="$(sed -E 's/^[0-9]+ \(.*\) ([A-Za-z]).*/\1/' "/proc/$pid/stat" 2>/dev/null)" || return 1
    [[ "$state" != "Z" && "$state" != "X" ]]
}

# pid_cmdline <pid>: the process's argv joined by spaces.
pid_cmdline() {
    tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null || true
}

# read_pid <file>: prints the pid stored in <file>, or nothing.
read_pid() {
    local f="$1" pid=""
    if [[ -r "$f" ]]; then
        read -r pid <"$f" || true
    fi
    if [[ "$pid" =~ ^[0-9]+$ ]]; then
        printf '%s\n' "$pid"
    fi
}

# stop_pid <pid> <grace-seconds> <name>: SIGTERM, wait, then SIGKILL; waits until gone.
stop_pid() {
    local pid="$1" grace="$2" name="$3"
    pid_alive "$pid" || return 0
    kill -TERM "$pid" 2>/dev/null || true
    if ! wait_until "$grace" _not_alive "$pid"; then
        warn "$name (pid $pid) still running after ${grace}s; sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        if ! wait_until 10 _not_alive "$pid"; then
            die "$name (pid $pid) survived SIGKILL"
        fi
    fi
}
_not_alive() { ! pid_alive "$1"; }

# as_root <cmd...>: run as root (directly, or through sudo).
as_root() {
    if ((EUID == 0)); then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        die "need root for: $*; run as root or install sudo"
    fi
}

# sha256_of <file>
sha256_of() {
    sha256sum "$1" | cut -d' ' -f1
}

# kafka_libs_ok: the Kafka broker and tools jars are in the cache.
kafka_libs_ok() {
    compgen -G "$DH_STACK_KAFKA_LIBS/kafka_2.13-*.jar" >/dev/null &&
        compgen -G "$DH_STACK_KAFKA_LIBS/kafka-tools-[0-9]*.jar" >/dev/null
}
