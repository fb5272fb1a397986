#!/usr/bin/env bash
# The Dockerfile's install and start steps, runnable outside Docker too (tests/compute/test_clone_docker.py
# runs both and asks /health).
#   install  create the virtualenv $TWINSCOPE_VENV (default /opt/venv) unless it exists; install torch from
#            $TORCH_INDEX_URL when set (the Dockerfile defaults to the CPU wheels; a CUDA index for GPUs), then
#            the runtime part of requirements.txt (the lines above "# Tests"), all pinned.
#   start    fetch the biological data when it can (else the app shows a notice with the fetch command) and
#            serve the app with gunicorn on $TWINSCOPE_HOST:$TWINSCOPE_PORT (default 0.0.0.0:8050).
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${TWINSCOPE_VENV:-/opt/venv}
case "${1:-}" in
  install)
    [ -x "$venv/bin/python" ] || "${PYTHON:-python3}" -m venv "$venv"
    if [ -n "${TORCH_INDEX_URL:-}" ]; then
      "$venv/bin/python" -m pip install --no-cache-dir "$(grep -E '^torch==' requirements.txt)" \
        --index-url "$TORCH_INDEX_URL"
    fi
    sed '/^# Tests/,$d' requirements.txt > "$venv/runtime-requirements.txt"
    "$venv/bin/python" -m pip install --no-cache-dir -r "$venv/runtime-requirements.txt"
    ;;
  start)
    "$venv/bin/python" -m compute bio fetch \
      || echo "biological data not fetched: the app runs without it and shows how to fetch it" >&2
    exec "$venv/bin/python" -m gunicorn --workers 1 --threads "${TWINSCOPE_THREADS:-4}" --timeout 120 \
      --bind "${TWINSCOPE_HOST:-0.0.0.0}:${TWINSCOPE_PORT:-8050}" wsgi:server
    ;;
  *)
    echo "usage: bash scripts/docker_steps.sh install|start" >&2
    exit 2
    ;;
esac
