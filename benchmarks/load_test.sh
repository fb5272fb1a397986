#!/usr/bin/env bash
# Load test of cached views: gunicorn with 4 workers on 127.0.0.1 (no TWINSCOPE_SECRET_KEY: the workers share
# the generated key), then wrk with 20 connections for DURATION seconds per endpoint (benchmarks/load_test.lua).
# Prints one line per endpoint: requests/s, errors, p50 / p95 / p99. Bounded: every step has a timeout and
# the server is stopped on exit.
#
#   bash benchmarks/load_test.sh [DURATION=60] [CONNECTIONS=20]     (needs wrk: apt-get install -y wrk)
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-60}
CONNECTIONS=${2:-20}
PORT=${TWINSCOPE_LOAD_PORT:-18050}
export TWINSCOPE_DATA_DIR=${TWINSCOPE_DATA_DIR:-../shared/data}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/twinscope-load-XXXXXX")
export TWINSCOPE_CACHE_DIR="$WORK/cache"
unset TWINSCOPE_SECRET_KEY
command -v wrk >/dev/null || { echo "error: wrk not found; apt-get install -y wrk" >&2; exit 2; }

GUNICORN_PID=""
cleanup() {
  if [[ -n "$GUNICORN_PID" ]]; then kill "$GUNICORN_PID" 2>/dev/null || true; wait "$GUNICORN_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

timeout 600 .venv/bin/python benchmarks/load_test.py "$WORK/bodies" >/dev/null
timeout $((DURATION * 8 + 300)) .venv/bin/gunicorn -w 4 -b "127.0.0.1:$PORT" --timeout 120 \
  --log-level warning wsgi:server &
GUNICORN_PID=$!
for _ in $(seq 1 240); do
  curl -fsS "http://127.0.0.1:$PORT/health" >/dev/null 2>&1 && break
  sleep 0.5
done
curl -fsS "http://127.0.0.1:$PORT/health" >/dev/null

echo "gunicorn -w 4 on 127.0.0.1, wrk -t2 -c$CONNECTIONS -d${DURATION}s per endpoint, $(nproc) cores," \
     "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
for body in "$WORK"/bodies/*.json; do
  name=$(basename "$body" .json)
  for _ in 1 2 3 4 5 6 7 8; do  # warm every worker's figure memo (cached views, not first draws)
    curl -fsS -o /dev/null -H 'Content-Type: application/json' --data @"$body" \
      "http://127.0.0.1:$PORT/_dash-update-component"
  done
  BODY_FILE="$body" ENDPOINT="$name" timeout $((DURATION + 60)) \
    wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" --timeout 10s -s benchmarks/load_test.lua \
    "http://127.0.0.1:$PORT/_dash-update-component" | tail -n 1
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
