#!/usr/bin/env bash
# Reproduces models/syncnet and the table of docs/evaluation.md:
#   1. face crops + 16 kHz audio of every clip in ../shared/data/video (cached in out/sync-clips);
#   2. two-fold cross-validation: a model trained without fold k, scored on fold k
#      (every clip is scored by a model that never saw it);
#   3. the shipped model, trained on every clip but grid/swwp2s (kept for the
#      offset-detection test of tests/test_syncscore_element.cpp), into models/syncnet.
# Usage: tools/train-syncnet.sh [DATA_DIR] (default ../shared/data/video). Takes about
# an hour on 2 cores. Extra environment: STEPS_FOLD (1200), STEPS_FINAL (1200), THREADS (all cores).
set -euo pipefail
cd "$(dirname "$0")/.."
data=${1:-../shared/data/video}
threads=${THREADS:-0}
out=out/syncnet-training
mkdir -p "$out"

build/tools/tavce-train sync-data --data "$data" --out out/sync-clips --threads "$threads"
for fold in 0 1; do
  build/tools/tavce-train syncnet --clips out/sync-clips --out "$out/fold$fold" --fold "$fold" \
    --steps "${STEPS_FOLD:-1200}" --threads "$threads"
  build/tools/tavce-eval sync --model "$out/fold$fold" --clips out/sync-clips --fold "$fold" \
    --threads "$threads" --markdown | tee "$out/eval-fold$fold.md"
done
build/tools/tavce-train syncnet --clips out/sync-clips --out models/syncnet --name syncnet \
  --exclude grid/swwp2s --steps "${STEPS_FINAL:-1200}" --threads "$threads"
build/tools/tavce-eval sync --model models/syncnet --clips out/sync-clips --threads "$threads" --markdown \
  | tee "$out/eval-shipped.md"
