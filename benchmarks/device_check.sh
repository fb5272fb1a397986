#!/usr/bin/env bash
# The prepared device check of issue 16 item 6 (see benchmarks/device_check.py): on a CUDA machine, CPU vs
# CUDA agreement of every FNN module, the full extraction time and the views of one module, in <= 8 min,
# printed as one table; without CUDA (or with --small) the same steps at small sizes on the CPU.
#   bash benchmarks/device_check.sh [--small] [--model fnn-random] [--module Rec] [--views decoding ...]
# TWINSCOPE_TF32=1 allows TF32 on CUDA (off by default). Exit status 1 if a step failed.
set -euo pipefail
cd "$(dirname "$0")/.."
python=.venv/bin/python
[ -x "$python" ] || python=python3
exec "$python" benchmarks/device_check.py "$@"
