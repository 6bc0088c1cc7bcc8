#!/usr/bin/env bash
# Rebuild the pretrained model shipped in the package (src/latentcraft/explorer/pretrained/NAME),
# which `latentcraft demo` serves with no training and no dataset: train the preset, evaluate it,
# then pack it (float16 weights, config, summary, the site sample -- the 1,000 test digits the
# site shows and the manifest entries measured from the training images -- and eval.json re-run
# on the shipped weights). About 4 minutes on one core for routed-style; prints run vs shipped
# metrics. Needs MNIST (--data-dir rules: $LATENTCRAFT_DATA_DIR, ~/.cache/latentcraft/mnist, ...).
#
#   scripts/build_pretrained.sh [PRESET] [SEED] [OUT_DIR]   # default: routed-style, seed 0, src/latentcraft/explorer/pretrained/PRESET
#   scripts/build_pretrained.sh --sample-only [OUT_DIR]     # rewrite only OUT_DIR's site sample (same weights)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
if [[ ${1:-} == --sample-only ]]; then
    OUT=${2:-src/latentcraft/explorer/pretrained/routed-style}
    "$PYTHON" -c "import sys; from latentcraft.explorer.export import write_site_sample; print('wrote', write_site_sample(sys.argv[1]))" "$OUT"
    exit
fi
PRESET=${1:-routed-style}
SEED=${2:-0}
OUT=${3:-src/latentcraft/explorer/pretrained/$PRESET}
RUN=$(mktemp -d)/"$PRESET"
trap 'rm -rf "$(dirname "$RUN")"' EXIT

"$PYTHON" -m latentcraft.cli train --preset "$PRESET" --seed "$SEED" --set train.threads=1 --run-dir "$RUN" --no-progress
"$PYTHON" -m latentcraft.cli evaluate "$RUN" --no-progress > /dev/null
"$PYTHON" - "$RUN" "$OUT" <<'PY'
import sys
from latentcraft.explorer.pretrained import pack
for metric, (run, shipped) in pack(sys.argv[1], sys.argv[2]).items():
    print(f"{metric:32s} run {run:.6g}   shipped (float16) {shipped:.6g}")
print(f"packed into {sys.argv[2]}")
PY
