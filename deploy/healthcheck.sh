#!/bin/bash
# dh-healthcheck [port] [path]: exit 0 when http://127.0.0.1:<port><path> answers 200.
# The image's health check (installed as /usr/local/bin/dh-healthcheck): the image has no
# curl, so bash's /dev/tcp speaks HTTP/1.0. Defaults: $DH_ADMIN_PORT (9464), /healthz.
#   dh-healthcheck                   # a worker's or the gateway's liveness
#   dh-healthcheck 38080 /_control/health   # the sandbox
set -eu
port="${1:-${DH_ADMIN_PORT:-9464}}"
path="${2:-/healthz}"
exec 3<>"/dev/tcp/127.0.0.1/$port"
printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' "$path" >&3
read -r -t 5 _ code _ <&3
[[ "$code" == 200 ]]
