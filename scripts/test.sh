#!/usr/bin/env bash
# Set up (first time only), provide the external test data, and run the whole test suite, browser tests included.
# Data: the files of compute/data_manifest.json (biology 0.6 MB, reference stimuli 5.9 MB) go to
# $TWINSCOPE_DATA_DIR (default ./cache/data), copied from TWINSCOPE_MIRROR (folders laid out like the data
# folder, ':'-separated; default: the shared/ folder beside the checkout, when there is one) or downloaded
# from their pinned public URLs, SHA-256 checked. With neither, it stops at once with one message.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export TWINSCOPE_DATA_DIR=${TWINSCOPE_DATA_DIR:-$PWD/cache/data}
shared="$(cd .. && pwd)/shared"
if [ -z "${TWINSCOPE_MIRROR:-}" ] && [ -d "$shared/data" ]; then
  export TWINSCOPE_MIRROR="$shared/data:$shared"     # shared/ holds data/bio and reference/stimuli
fi
.venv/bin/python -m compute data fetch || exit 2     # on failure it printed what is missing and how to provide it
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null || ! command -v redis-server >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver redis-server >/dev/null
  else
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver redis-server >/dev/null
  fi
fi
exec .venv/bin/python -m pytest "$@"
