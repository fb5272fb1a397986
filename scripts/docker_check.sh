#!/usr/bin/env bash
# Build the image on a machine that cannot reach Docker Hub and check that it serves /health.
# The base image is made from Debian packages (debootstrap bookworm + docker import, Python 3.11 from Debian,
# with the host's CA bundle so a TLS-intercepting proxy is trusted); the host's pip configuration is passed
# in (PIP_CERT; its find-links folder served on 127.0.0.1 for a build on the host network).
# Needs root, debootstrap, docker.io and a running daemon (DOCKER_HOST). Usage: bash scripts/docker_check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
base=twinscope-base:bookworm
rootfs=${ROOTFS:-/tmp/twinscope-rootfs}
if ! docker image inspect "$base" >/dev/null 2>&1; then
  [ -x "$rootfs/usr/bin/python3" ] || debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
    bookworm "$rootfs" http://deb.debian.org/debian
  cp /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/ca-certificates.crt"
  tar -C "$rootfs" -c . | docker import - "$base"
fi
links=$(pip config get global.find-links 2>/dev/null || true)
args=(--build-arg BASE_IMAGE="$base" --build-arg PIP_CERT=/etc/ssl/certs/ca-certificates.crt)
if [ -n "$links" ] && [ -d "$links" ]; then
  python3 -m http.server 8765 --bind 127.0.0.1 --directory "$links" >/dev/null 2>&1 &
  server=$!
  trap 'kill $server' EXIT
  args+=(--build-arg PIP_FIND_LINKS=http://127.0.0.1:8765/ --build-arg TORCH_INDEX_URL=)
fi
DOCKER_BUILDKIT=0 docker build --network host "${args[@]}" -t twinscope:check .
cid=$(docker run -d -p 127.0.0.1:18050:8050 twinscope:check)
for _ in $(seq 60); do curl -sf http://127.0.0.1:18050/health && break; sleep 2; done
echo
status=$(curl -sf http://127.0.0.1:18050/health >/dev/null && echo ok || echo failed)
docker rm -f "$cid" >/dev/null
echo "image twinscope:check: /health $status"
[ "$status" = ok ]
