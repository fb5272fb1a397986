#!/usr/bin/env bash
# Fault checks (benchmarks/fault_check.py): kill -9 mid-write, disk full during a cache write, two identical
# jobs from two sessions; one PASS/FAIL line per fault, each ending with the cache verified. Bounded (15 min).
#   bash benchmarks/fault_check.sh      (Linux, root: mounts a 1 MiB tmpfs)
set -euo pipefail
cd "$(dirname "$0")/.."
export TWINSCOPE_DATA_DIR=${TWINSCOPE_DATA_DIR:-../shared/data}
exec timeout 900 .venv/bin/python benchmarks/fault_check.py
