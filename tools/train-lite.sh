#!/usr/bin/env bash
# Reproduces models/tavce-lite from ../shared/data:
#   tools/train-lite.sh [WORK_DIR] [--steps N]
# 1. pipelines/extract-dataset.sh ../shared/data/video WORK/data --jobs 2   (GStreamer elements, docs/dataset.md)
# 2. tavce-train lite on it (held out: grid/*, the 8 GRID speakers other than speaker 1)
# 3. the bundle in WORK/tavce-lite (copy it to models/tavce-lite to ship it); WORK/tavce-lite.work
#    holds the checkpoint, log.jsonl and loss.png. Rerunning resumes both steps.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="${1:-$root/out/train-lite}"
steps=6000
[[ "${2:-}" == "--steps" ]] && steps=$3
shared="${TAVCE_SHARED_DIR:-$root/../shared}"
ninja -C "$root/build" tools/tavce-train gst/libgsttavce.so >/dev/null
"$root/pipelines/extract-dataset.sh" "$shared/data/video" "$work/data" --jobs 2
"$root/build/tools/tavce-train" lite --data "$work/data" --out "$work/tavce-lite" --name tavce-lite \
  --steps "$steps" --threads 2 --holdout "grid/*" --resume \
  --commit "$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
