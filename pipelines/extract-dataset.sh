#!/usr/bin/env bash
# Lite training data from talking-face videos:
#
#   pipelines/extract-dataset.sh IN_DIR OUT_DIR [--jobs N] [--shard i/N] [--force]
#
# Every video under IN_DIR (any container GStreamer decodes; the folder it
# lies in names its set) becomes OUT_DIR/<set>/<clip>.safetensors: 68 face
# landmarks per 25 fps frame and the 80-bin mel of its 16 kHz audio
# (docs/dataset.md gives the format and how to load it from Python).
# Resumable (finished clips are skipped), atomic (a clip file appears only
# when complete). Clips without audio, without a face in most frames, or too
# short are skipped and listed with the reason in OUT_DIR/summary-*.json.
# --jobs N runs N processes, each on its own shard of the clips; --shard i/N
# does one shard only (for spreading the work over machines).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
usage() { sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-2}"; }
(($# >= 2)) || usage
in=$1 out=$2
shift 2
jobs=1 shard="" extra=()
while (($#)); do
  case "$1" in
    --jobs) jobs=$2; shift ;;
    --shard) shard=$2; shift ;;
    --force) extra+=(--force) ;;
    -h|--help) usage 0 ;;
    *) echo "extract-dataset: unknown option $1" >&2; usage ;;
  esac
  shift
done
tool="$root/build/tools/tavce-extract-lite"
[[ -x "$tool" ]] || ninja -C "$root/build" tools/tavce-extract-lite >/dev/null
mkdir -p "$out"
if [[ -n "$shard" ]]; then
  "$tool" "$in" "$out" --shard "$shard" "${extra[@]}" | tee "$out/summary-${shard//\//of}.json"
  exit "${PIPESTATUS[0]}"
fi
pids=()
for ((i = 0; i < jobs; i++)); do
  "$tool" "$in" "$out" --shard "$i/$jobs" "${extra[@]}" >"$out/summary-${i}of${jobs}.json" &
  pids+=($!)
done
status=0
for p in "${pids[@]}"; do wait "$p" || status=1; done
cat "$out"/summary-*of"$jobs".json
exit $status
