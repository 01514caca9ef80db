#!/usr/bin/env bash
# deploy/containers.sh: makes this machine able to build and run dockhand's containers with
# podman, idempotently (deploy/setup.sh calls it; safe to run again at any time):
#  1. podman's configuration: the runc runtime (crun refuses cgroup v1 "hybrid" hosts)
#     and no default ulimits (podman's defaults raise RLIMIT_NOFILE/NPROC, which an
#     unprivileged or nested host refuses), as a drop-in of our own:
#     /etc/containers/containers.conf.d/ for root (root's podman reads no per-user
#     file), ~/.config/containers/containers.conf.d/ for anyone else;
#  2. the base image, made once without a registry: `debootstrap --variant=minbase`
#     of Debian bookworm from the host's own Debian mirror, imported as
#     $DH_BASE_IMAGE (localhost/dockhand-base:bookworm). Skipped when the image exists.
# The Debian packages (podman, runc, podman-compose, debootstrap, the CNI DNS plugin)
# come from deploy/setup.sh's package list.
#   deploy/containers.sh [--print-base]   (--print-base: print the base image's name)
# Environment: DH_BASE_IMAGE, DH_DEBIAN_MIRROR (default: the first non-security
# URI of /etc/apt/sources.list{,.d}), DH_CONTAINERS_SKIP=1 skips everything.
# shellcheck source-path=SCRIPTDIR
set -euo pipefail

# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DH_BASE_IMAGE="${DH_BASE_IMAGE:-localhost/dockhand-base:bookworm}"
SUITE=bookworm

if [[ "${1:-}" == "--print-base" ]]; then
    printf '%s\n' "$DH_BASE_IMAGE"
    exit 0
fi

# The drop-in podman reads after its own containers.conf.
conf_dir() {
    if ((EUID == 0)); then
        printf '/etc/containers/containers.conf.d\n'
    else
        printf '%s/containers/containers.conf.d\n' "${XDG_CONFIG_HOME:-$HOME/.config}"
    fi
}

configure_podman() {
    local dir file want
    dir="$(conf_dir)"
    file="$dir/50-dockhand.conf"
    want='# Written by dockhand deploy/containers.sh (podman 4.x; containers.conf(5)).
# runc: crun fails on cgroup v1 hybrid hosts ("cgroups in hybrid mode not supported").
# No default ulimits: raising RLIMIT_NOFILE/NPROC at start is refused on such hosts.
[containers]
default_ulimits = []

[engine]
runtime = "runc"'
    if [[ -r "$file" && "$(cat "$file")" == "$want" ]]; then
        log "podman already configured ($file)"
        return 0
    fi
    mkdir -p "$dir"
    printf '%s\n' "$want" >"$file"
    log "podman configured: runc, no default ulimits ($file)"
}

# The host's Debian mirror: the image's apt then uses the same one.
debian_mirror() {
    local uri
    if [[ -n "${DH_DEBIAN_MIRROR:-}" ]]; then
        printf '%s\n' "$DH_DEBIAN_MIRROR"
        return 0
    fi
    uri="$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
        /etc/apt/sources.list.d/*.sources 2>/dev/null |
        sed -n -e 's/^deb  *\(\[[^]]*\] *\)\{0,1\}\(https\{0,1\}:[^ ]*\) .*/\2/p' \
            -e 's/^URIs: *\(https\{0,1\}:[^ ]*\).*/\1/p' |
        grep -v -- '-security' | head -n 1)"
    [[ -n "$uri" ]] || die "no Debian mirror in /etc/apt/sources.list*; set DH_DEBIAN_MIRROR"
    printf '%s\n' "$uri"
}

make_base_image() {
    local mirror root rc=0 t0
    if podman image exists "$DH_BASE_IMAGE"; then
        log "base image $DH_BASE_IMAGE already present"
        return 0
    fi
    need_cmd debootstrap "install debootstrap (deploy/setup.sh does)"
    ((EUID == 0)) || die "debootstrap needs root: run deploy/containers.sh as root once"
    mirror="$(debian_mirror)"
    root="$(mktemp -d "${TMPDIR:-/tmp}/dh-base.XXXXXX")"
    t0="$(now_ms)"
    log "debootstrap --variant=minbase $SUITE from $mirror (about 30-60 s)"
    debootstrap --variant=minbase "$SUITE" "$root" "$mirror" >"$root.log" 2>&1 || rc=$?
    if ((rc != 0)); then
        tail -n 20 "$root.log" >&2 || true
        rm -rf "$root" "$root.log"
        die "debootstrap failed (exit $rc)"
    fi
    # Like the slim images: no package lists or caches in the base.
    rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb
    tar -C "$root" -c . | podman import --change 'CMD ["bash"]' - "$DH_BASE_IMAGE" >/dev/null ||
        rc=$?
    rm -rf "$root" "$root.log"
    ((rc == 0)) || die "podman import of the base image failed (exit $rc)"
    log "base image $DH_BASE_IMAGE ready after $((($(now_ms) - t0) / 1000)) s"
}

main() {
    if [[ "${DH_CONTAINERS_SKIP:-0}" == 1 ]]; then
        log "DH_CONTAINERS_SKIP=1: not preparing podman"
        return 0
    fi
    need_cmd podman "install podman (deploy/setup.sh does)"
    configure_podman
    make_base_image
}

main "$@"
