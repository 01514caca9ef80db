# syntax=docker/dockerfile:1
# dockhand: one image with every worker binary; the command picks the binary.
#
#   docker build -t dockhand .
#   docker run --rm dockhand dh-orders --help          # the binary's env table
#   docker run --rm --env-file my.env dockhand dh-orders --check-config
#   docker run -d --env-file my.env dockhand dh-inventory
#
# Binaries in /usr/local/bin: dh-gateway, dh-orders, dh-inventory, dh-dispatch, dh-returns,
# dh-catalog, dh-ops (the on-call tool: lag, dead letters, replay; docs/runbook.md), dh-dlq (the same
# tool under its old name), dh-console (the on-call's status page in a browser) and
# dh-sandbox (the test double of Shopify, the WMS and Return Prime; not for production).
# Default command: dh-orders.
# See docs/deployment.md and docs/configuration.md. tests/deploy/check.sh checks this
# file (package lists against deploy/setup.sh and the binaries' shared libraries) and,
# with --build, runs the build stage's RUN command below on the host.

# The base of both stages. Where no registry is reachable, deploy/containers.sh makes a
# local one with debootstrap: --build-arg DEBIAN_IMAGE=localhost/dockhand-base:bookworm.
ARG DEBIAN_IMAGE=debian:bookworm-slim

# ---- build ------------------------------------------------------------------
FROM ${DEBIAN_IMAGE} AS build
# The build dependencies of deploy/setup.sh (not the stack's: redis, java, maven, kcat).
# libcmocka-dev only because CMakeLists.txt requires it at configure time.
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        build-essential cmake ninja-build pkg-config \
        librdkafka-dev libhiredis-dev libjansson-dev libcmocka-dev \
        libcurl4-openssl-dev libmicrohttpd-dev libssl-dev \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /src
COPY . .
# Only the shipped binaries are built (not the tests). They are copied from the build
# dir to out/ (the CMake files have no install rules).
ARG DH_BINARIES="dh-gateway dh-orders dh-inventory dh-dispatch dh-returns dh-catalog dh-ops dh-dlq dh-console dh-sandbox"
ARG DH_BUILD_TYPE=RelWithDebInfo
RUN cmake -S . -B build-image -G Ninja -DCMAKE_BUILD_TYPE="$DH_BUILD_TYPE" -DBUILD_TESTING=OFF \
    && cmake --build build-image --target $DH_BINARIES \
    && mkdir -p out \
    && for b in $DH_BINARIES; do \
           f="$(find build-image -type f -name "$b" -perm -u+x | head -n 1)"; \
           [ -n "$f" ] || { echo "built binary $b not found" >&2; exit 1; }; \
           cp "$f" out/; \
       done \
    && ls -l out

# ---- runtime ----------------------------------------------------------------
FROM ${DEBIAN_IMAGE}
# Runtime libraries only: no compiler, no curl (probes hit /healthz over HTTP, see below).
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        librdkafka1 libhiredis0.14 libjansson4 libcurl4 libmicrohttpd12 libssl3 \
        ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 dockhand \
    && useradd --system --uid 10001 --gid dockhand --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin dockhand \
    && mkdir -p /etc/dockhand

COPY --from=build /src/out/ /usr/local/bin/
COPY deploy/healthcheck.sh /usr/local/bin/dh-healthcheck

LABEL org.opencontainers.image.title="dockhand" \
      org.opencontainers.image.description="Kafka workers that keep a WMS and Shopify stores in sync"

# Numeric user so Kubernetes' runAsNonRoot can verify it.
# glibc keeps a malloc arena per thread (up to 8 x cores) holding freed memory; two are
# plenty for a worker's lanes and cut its resident memory by about 10 MB under load
# (bench/runtime: 71 -> 61 MB at a 500,000-event backlog).
ENV MALLOC_ARENA_MAX=2
USER 10001:10001
# The admin port of every worker: /metrics, /healthz, /readyz (DH_ADMIN_PORT).
EXPOSE 9464
# The gateway's webhook port (DH_GATEWAY_PORT) and the sandbox's port.
EXPOSE 8080 38080

# Liveness without curl: dh-healthcheck (deploy/healthcheck.sh) speaks HTTP/1.0 over bash's
# /dev/tcp to 127.0.0.1:$DH_ADMIN_PORT/healthz. Kubernetes ignores HEALTHCHECK and uses
# its own httpGet probes (deploy/k8s/); compose gives the sandbox its own port and path.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 CMD ["dh-healthcheck"]

# The binary handles SIGTERM itself (drains in-flight events, commits, leaves the group)
# and runs as PID 1; it starts no children, so no init is needed.
STOPSIGNAL SIGTERM
CMD ["dh-orders"]
