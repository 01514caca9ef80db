# Shared by the bench scripts (sourced, not run).

# Stops and reaps every process PIDS holds (the scripts' EXIT trap).
bench_stop_pids() {
    local p
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
}

# bench_need PATH_OR_COMMAND...: exits 1 naming the first that is neither executable nor a
# command.
bench_need() {
    local b
    for b in "$@"; do
        [ -x "$b" ] || command -v "$b" >/dev/null || { echo "missing: $b" >&2; exit 1; }
    done
}

# Sets KAFKA and REDIS from DH_KAFKA_BROKERS / DH_REDIS_URL, else from the stack's
# deploy/stack.sh env (needs ROOT).
bench_stack_env() {
    if [ -z "${DH_KAFKA_BROKERS:-}" ] || [ -z "${DH_REDIS_URL:-}" ]; then
        eval "$("$ROOT/deploy/stack.sh" env)"
    fi
    KAFKA=$DH_KAFKA_BROKERS
    REDIS=$DH_REDIS_URL
}

# bench_metric NAME: the sum of a metric (all label sets) over the REPLICAS replicas' /metrics
# (replica r at SANDBOX_PORT + r).
bench_metric() {
    local r sum=0 v
    for r in $(seq "$REPLICAS"); do
        v=$(curl -sf "http://127.0.0.1:$((SANDBOX_PORT + r))/metrics" |
            awk -v m="$1" '$1 == m || index($1, m "{") == 1 {s += $2} END {print s + 0}')
        sum=$(awk -v a="$sum" -v b="${v:-0}" 'BEGIN{print a + b}')
    done
    echo "$sum"
}

# bench_free_port VAR: sets VAR to a loopback port nothing listens on and never one this run
# picked before, below the kernel's ephemeral range (32768+), so no outgoing connection
# takes it meanwhile (needs deploy/lib.sh's port_open).
BENCH_PORTS=" "
bench_free_port() {
    local p
    while p=$((20000 + RANDOM % 12000)); port_open "$p" || [[ $BENCH_PORTS == *" $p "* ]]; do :; done
    BENCH_PORTS+="$p "
    printf -v "$1" %s "$p"
}
