#!/usr/bin/env bash
# One-time set-up on a fresh machine: a virtual environment with the CPU build
# of PyTorch, latentcraft in editable mode with its dev extras, the browser and
# datasets the tests use (Debian packages, when run as root), and the
# onnxruntime-web files for the in-browser explorer (npm).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
# A bare `torch` requirement would pull a multi-GB CUDA build: install the CPU build first.
.venv/bin/python -c "import torch" 2>/dev/null || .venv/bin/pip install -q torch==2.13.0
.venv/bin/pip install -q -e ".[dev]"

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    missing=""
    [ -x /usr/bin/chromium ] || missing="$missing chromium"
    [ -d /usr/share/datasets/fashion-mnist ] || missing="$missing dataset-fashion-mnist"
    if [ -n "$missing" ]; then
        apt-get update -q >/dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q $missing >/dev/null
    fi
fi

if [ -f package-lock.json ]; then
    npm ci --silent --no-audit --no-fund
    # Copy the onnxruntime-web runtime into the package (src/latentcraft/explorer/web/vendor, gitignored),
    # so a wheel built from this checkout carries it and pip users need no Node.js.
    .venv/bin/python -c "from latentcraft.explorer.site_bundle import vendor_runtime; print('onnxruntime-web runtime in', vendor_runtime())"
fi
echo "set-up done: run the tests with  .venv/bin/python -m pytest"
