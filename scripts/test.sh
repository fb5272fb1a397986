#!/usr/bin/env bash
# Set up (first time only) and run the whole test suite, browser tests included.
# Needs the reference data: TWINSCOPE_DATA_DIR (folder with bio/) and TWINSCOPE_REFERENCE_DIR (folder with
# stimuli/ and fnn/); both default to the shared/ folder beside the checkout.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null || ! command -v redis-server >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver redis-server >/dev/null
  else
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver redis-server >/dev/null
  fi
fi
bash scripts/setup.sh
shared="$(cd .. && pwd)/shared"
export TWINSCOPE_DATA_DIR=${TWINSCOPE_DATA_DIR:-$shared/data}
export TWINSCOPE_REFERENCE_DIR=${TWINSCOPE_REFERENCE_DIR:-$shared/reference}
exec .venv/bin/python -m pytest "$@"
