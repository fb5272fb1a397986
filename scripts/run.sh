#!/usr/bin/env bash
# Set up (first time only) and start the twinscope dev server; prints the URL.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python app.py "$@"
