#!/usr/bin/env bash
# Reproduces models/tavce-lite from ../shared/data:
#   tools/train-lite.sh [WORK_DIR] [--steps N]
# 1. pipelines/extract-dataset.sh ../shared/data/video WORK/data --jobs 2
# 2. tavce-train lite-tavc: TAVC on the lite motion space (TAVCE stage 1), WORK/tavc.safetensors
# 3. tavce-train lite --tavc: the audio network with CAR (TAVCE stage 2), WORK/tavce-lite
#    (copy it to models/tavce-lite to ship it); WORK/*.work hold the checkpoints, log.jsonl and
#    loss.png. Held out in both: grid/*, the 8 GRID speakers other than speaker 1.
# Rerunning resumes every step. docs/training.md gives the times on a 2-core machine.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="${1:-$root/out/train-lite}"
steps=6000
[[ "${2:-}" == "--steps" ]] && steps=$3
shared="${TAVCE_SHARED_DIR:-$root/../shared}"
commit="$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
ninja -C "$root/build" tools/tavce-train gst/libgsttavce.so >/dev/null
"$root/pipelines/extract-dataset.sh" "$shared/data/video" "$work/data" --jobs 2
if [[ ! -f "$work/tavc.safetensors" ]]; then
  "$root/build/tools/tavce-train" lite-tavc --data "$work/data" --out "$work/tavc.safetensors" \
    --steps 2000 --threads 2 --holdout "grid/*" --resume --commit "$commit"
fi
"$root/build/tools/tavce-train" lite --data "$work/data" --out "$work/tavce-lite" --name tavce-lite \
  --tavc "$work/tavc.safetensors" --car-weight "${CAR_WEIGHT:-0.1}" \
  --steps "$steps" --threads 2 --holdout "grid/*" --resume --commit "$commit"
