#!/usr/bin/env bash
# Leave-speaker-out evaluation of the lite family (docs/evaluation.md):
#   tools/eval-lite.sh [WORK] [--config TRAINCONFIG.json] [--steps N] [--every N] [--data DATASET]
#                      [--stage train|eval|table|all] [--folds "0 1 2"]
# 1. train: one lite model per fold of tools/eval/lite_speakers.tsv (the speaker map), each with
#    `tavce-train lite --exclude` of its own fold's speakers and of the tests-only clips, so the
#    model that renders a clip never trained on that speaker (grid_s1 is a fold of its own).
#    --config is passed through to every fold (an ablation runs the script once per config,
#    each into its own WORK).
# 2. eval: `tavce-eval render` of each fold's clips with its model and with the two baselines
#    ($TAVCE_EVAL_METHODS, default "lite static energy"; "real" adds the real frames)
#    (static first frame, mouth opened by audio energy), through the same code; --every N
#    keeps every Nth grid_s1 clip (fold 0 only: 999 clips of one speaker).
# 3. table: `tavce-eval render-table` aggregates everything into WORK/table.md.
# Every stage resumes: a trained fold and a scored (fold, method) pair are not redone.
# Needs build/tools/tavce-train and tavce-eval built, and the extracted dataset
# (pipelines/extract-dataset.sh; default ../lite-data beside the checkout).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$root/out/eval-lite/default"
if [[ $# -gt 0 && "$1" != --* ]]; then work="$1"; shift; fi
config="" steps="" every=25 stage=all folds=(0 1 2)
max_frames=100  # the first 4 s of each clip: 720p clips cost seconds a frame on this shared 2-core machine
# The methods scored per fold; add "real" (the real frames through the same measures: the ceiling).
methods="${TAVCE_EVAL_METHODS:-lite static energy}"
data="${TAVCE_LITE_DATA:-$root/../lite-data}"
shared="${TAVCE_SHARED_DIR:-$root/../shared}"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --config) config="$(realpath "$2")"; shift 2 ;;
    --steps) steps="$2"; shift 2 ;;
    --every) every="$2"; shift 2 ;;
    --data) data="$2"; shift 2 ;;
    --stage) stage="$2"; shift 2 ;;
    --folds) read -r -a folds <<< "$2"; shift 2 ;;
    *) echo "eval-lite.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
[[ -d "$data" ]] || { echo "eval-lite.sh: no dataset at $data (pipelines/extract-dataset.sh, or --data)" >&2; exit 2; }
speakers="$root/tools/eval/lite_speakers.tsv"
train="$root/build/tools/tavce-train" evaluate="$root/build/tools/tavce-eval"
mkdir -p "$work"

# The comma-separated clip patterns of one fold in the speaker map.
patterns_of() { awk -F'\t' -v f="$1" '!/^#/ && NF >= 3 && $3 == f { print $1 }' "$speakers" | paste -sd, -; }
tests_only="$(patterns_of test)"

if [[ "$stage" == all || "$stage" == train ]]; then
  [[ -n "$config" ]] && cp "$config" "$work/train-config.json"
  for fold in "${folds[@]}"; do
    echo "== fold $fold: training without $(patterns_of "$fold" | cut -c1-80)..." >&2
    nice -n 5 "$train" lite --data "$data" --out "$work/fold$fold/tavce-lite" --name "tavce-lite-fold$fold" \
      --exclude "$tests_only,$(patterns_of "$fold")" --threads 2 --resume \
      ${config:+--config "$config"} ${steps:+--steps "$steps"} \
      --commit "$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)" 2>&1 |
      grep -v '^step .*[1-9]50/' >&2 || true
    [[ -f "$work/fold$fold/tavce-lite/model.json" ]] || { echo "eval-lite.sh: fold $fold did not train" >&2; exit 1; }
  done
fi

if [[ "$stage" == all || "$stage" == eval ]]; then
  for fold in "${folds[@]}"; do
    clips="$(patterns_of "$fold")" fold_every=1
    [[ "$fold" == 0 ]] && fold_every="$every"  # grid_s1: every Nth clip
    [[ "$fold" == 1 ]] && clips="$clips,$tests_only"  # no model trained on them; fold 1's scores them
    for method in $methods; do
      out="$work/eval/fold$fold/$method"
      [[ -f "$out/summary.json" ]] && continue
      echo "== fold $fold: $method" >&2
      baseline=()
      [[ "$method" != lite ]] && baseline=(--baseline "$method")
      nice -n 5 "$evaluate" render --model "$work/fold$fold/tavce-lite" --video-dir "$shared/data/video" \
        --clips "$clips" --every "$fold_every" --max-frames "$max_frames" "${baseline[@]}" --threads 2 --out "$out.partial"
      rm -rf "$out" && mv "$out.partial" "$out"
    done
  done
fi

if [[ "$stage" == all || "$stage" == table ]]; then
  "$evaluate" render-table "$work"/eval/fold*/* \
    --title "tools/eval-lite.sh $work${config:+ --config $config}${steps:+ --steps $steps} --every $every, first $max_frames frames of each clip" > "$work/table.md"
  echo "wrote $work/table.md" >&2
fi
