#!/usr/bin/env bash
# Set up (first time only), fetch the biological reference data (checksum-verified; skipped when present
# or offline) and start the twinscope dev server; prints the URL.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/python -m compute bio fetch || echo "warning: could not fetch the retina/V1 data (offline?); retry with: .venv/bin/python -m compute bio fetch" >&2
exec .venv/bin/python wsgi.py "$@"
