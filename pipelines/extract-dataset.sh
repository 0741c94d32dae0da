#!/usr/bin/env bash
# Lite training data from talking-face videos, one GStreamer pipeline per clip:
#
#   pipelines/extract-dataset.sh IN_DIR OUT_DIR [--jobs N] [--shard i/N] [--force]
#
# Every video under IN_DIR (any container GStreamer decodes; the folder it
# lies in names its set) becomes OUT_DIR/<set>/<clip>.safetensors: 68 face
# landmarks per 25 fps frame (tavcefacetrack), the 80-bin mel of its 16 kHz
# audio (tavcemelspec) and its audio-visual offset (tavcesyncscore), written
# by tavcedatasetsink; docs/dataset.md gives the format and how to load it
# from Python. Resumable (finished clips are skipped), atomic (a clip file
# appears only when complete). Clips without audio, without a face in most
# frames, or too short are skipped and listed with the reason in
# OUT_DIR/summary-*.json; OUT_DIR/manifest-*.jsonl has one line per clip.
# --jobs N runs N processes, each on its own shard of the clips; --shard i/N
# does one shard only (for spreading the work over machines).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
usage() { sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-2}"; }
(($# >= 2)) || usage
in=$1 out=$2
shift 2
jobs=1 shard="" force=0
while (($#)); do
  case "$1" in
    --jobs) jobs=$2; shift ;;
    --shard) shard=$2; shift ;;
    --force) force=1 ;;
    -h|--help) usage 0 ;;
    *) echo "extract-dataset: unknown option $1" >&2; usage ;;
  esac
  shift
done
[[ -d "$in" ]] || { echo "extract-dataset: '$in' is not a directory" >&2; exit 2; }
[[ "$jobs" =~ ^[1-9][0-9]*$ ]] || { echo "extract-dataset: --jobs needs a positive number" >&2; exit 2; }
export GST_PLUGIN_PATH="$root/build/gst${GST_PLUGIN_PATH:+:$GST_PLUGIN_PATH}"
[[ -f "$root/build/gst/libgsttavce.so" ]] || ninja -C "$root/build" gst/libgsttavce.so >/dev/null
gst-inspect-1.0 tavcedatasetsink >/dev/null 2>&1 ||
  { echo "extract-dataset: the tavce plugin in $root/build/gst has no tavcedatasetsink (rebuild it)" >&2; exit 1; }
commit="$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
mkdir -p "$out"
out="$(cd "$out" && pwd)"

mapfile -t videos < <(find -L "$in" -type f \( -iname '*.mpg' -o -iname '*.mpeg' -o -iname '*.mp4' -o -iname '*.m4v' \
  -o -iname '*.mov' -o -iname '*.avi' -o -iname '*.mkv' -o -iname '*.webm' \) | LC_ALL=C sort)
((${#videos[@]})) || { echo "extract-dataset: no video files under '$in'" >&2; exit 1; }

json_string() { local s=${1//\\/\\\\}; s=${s//\"/\\\"}; printf '"%s"' "${s//$'\t'/ }"; }

# The documented pipeline (docs/dataset.md): video to 25 fps RGB through the
# landmark tracker and the sync scorer, audio to 16 kHz mono for both the
# scorer and the mel front end; the sink writes the clip at EOS. videorate
# does not fill timestamp gaps over 120 ms with frozen frames: the GRID
# MPEG-1 files jump by 0.2-0.7 s over continuous content (the audio, whose
# samples tavcemelspec simply concatenates, jumps too). A clip that hangs
# (a stream that never ends) is given up after 30 minutes.
extract_clip() {  # VIDEO DEST NAME MANIFEST_ENTRY LOG
  timeout 1800 gst-launch-1.0 filesrc location="$1" ! decodebin name=d \
    d. ! video/x-raw ! queue ! videoconvert ! videorate max-duplication-time=120000000 ! \
      video/x-raw,format=RGB,framerate=25/1 ! \
      tavcefacetrack ! s.video \
    d. ! audio/x-raw ! queue ! audioconvert ! audioresample ! audio/x-raw,format=S16LE,rate=16000,channels=1 ! \
      tee name=a \
    a. ! queue ! s.audio \
    a. ! queue ! tavcemelspec frames-per-buffer=16 ! w.mel \
    tavcesyncscore name=s interval=2.0 ! w.sink \
    tavcedatasetsink name=w location="$2" clip-name="$3" source="$1" manifest-location="$4" commit="$commit" \
    >"$5" 2>&1
}

# Whether the file has an audio stream GStreamer decodes. Without one the
# pipeline above would wait for audio forever, so this is checked first: a
# decodebin whose only pads are unlinked stops with not-linked at once, one
# with audio ends after its first buffer. Some demuxers (matroska) keep
# running after that buffer; the timeout then counts as "has audio".
has_audio() {
  local rc=0
  timeout 10 gst-launch-1.0 -q filesrc location="$1" ! decodebin ! audio/x-raw ! fakesink num-buffers=1 \
    >/dev/null 2>&1 || rc=$?
  ((rc == 0 || rc == 124))
}

run_shard() {  # INDEX COUNT: extracts videos i, i+COUNT, ... and writes the shard's summary and manifest
  local index=$1 count=$2 tag="${1}of${2}" mine=() reasons=() extracted=0 cached=0 seen=0
  local log="$out/.log-$tag" start=$SECONDS
  for ((k = index; k < ${#videos[@]}; k += count)); do mine+=("${videos[k]}"); done
  for v in "${mine[@]}"; do
    seen=$((seen + 1))
    local set stem name dest entry why=""
    set="$(basename "$(dirname "$v")")" stem="$(basename "${v%.*}")"
    name="$set/$stem" dest="$out/$set/$stem.safetensors" entry="$out/$set/$stem.json"
    if [[ -e "$dest" && $force == 0 ]]; then
      cached=$((cached + 1))
      continue
    fi
    mkdir -p "$out/$set"
    if ! has_audio "$v"; then
      why="no audio"
    elif { extract_clip "$v" "$dest" "$name" "$entry" "$log" ||
           # Once more after a failure without a skip: a plugin or libtavce
           # being rebuilt at that moment makes gst-launch fail to load it.
           { ! grep -q "Skipped clip" "$log" && sleep 5 && extract_clip "$v" "$dest" "$name" "$entry" "$log"; }; } &&
         [[ -e "$dest" ]] && ! grep -q "Skipped clip" "$log"; then
      extracted=$((extracted + 1))
      local el=$((SECONDS - start)) done_now=$((extracted))
      printf '[%s %d/%d] %s: %s (%ds elapsed, ETA %ds)\n' "$tag" "$seen" "${#mine[@]}" "$name" \
        "$(sed -E 's/.*"av_lse_c":([^,]*).*"av_offset_frames":(-?[0-9]+),"av_offset_windows":([0-9]+).*"frames":([0-9]+).*/\4 frames, offset \2 (\3 windows, LSE-C \1)/' "$entry")" \
        "$el" $((el * (${#mine[@]} - seen) / done_now)) >&2
      continue
    else
      why="$(sed -n "s/.*Skipped clip '[^']*': \(.*\)\. No file was written\..*/\1/p" "$log" | head -1)"
      [[ -n "$why" ]] || why="pipeline failed: $(grep -m1 -E '^(ERROR|WARNING: erroneous pipeline)' "$log" | cut -c1-300 || true)"
      [[ "$why" != "pipeline failed: " ]] || why="pipeline failed or timed out (30 min) without an error message"
    fi
    reasons+=("$(json_string "$name"):$(json_string "$why")")
    printf '[%s %d/%d] %s: skipped (%s)\n' "$tag" "$seen" "${#mine[@]}" "$name" "$why" >&2
  done
  rm -f "$log"
  # The shard's manifest: the entries of its clips that exist, in order.
  local manifest="$out/manifest-$tag.jsonl"
  : >"$manifest.tmp"
  for v in "${mine[@]}"; do
    local e="$out/$(basename "$(dirname "$v")")/$(basename "${v%.*}")"
    [[ -e "$e.safetensors" && -e "$e.json" ]] && cat "$e.json" >>"$manifest.tmp"
  done
  mv "$manifest.tmp" "$manifest"
  local IFS=,
  printf '{"clips":%d,"extracted":%d,"already_done":%d,"skipped":%d,"seconds":%d,"skipped_reasons":{%s}}\n' \
    "${#mine[@]}" "$extracted" "$cached" "${#reasons[@]}" $((SECONDS - start)) "${reasons[*]}" \
    >"$out/summary-$tag.json"
}

if [[ -n "$shard" ]]; then
  [[ "$shard" =~ ^([0-9]+)/([1-9][0-9]*)$ ]] && ((BASH_REMATCH[1] < BASH_REMATCH[2])) ||
    { echo "extract-dataset: --shard '$shard': expected i/N with 0 <= i < N" >&2; exit 2; }
  run_shard "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}"
  cat "$out/summary-${BASH_REMATCH[1]}of${BASH_REMATCH[2]}.json"
  exit 0
fi
pids=()
for ((i = 0; i < jobs; i++)); do
  run_shard "$i" "$jobs" &
  pids+=($!)
done
status=0
for p in "${pids[@]}"; do wait "$p" || status=1; done
cat "$out"/summary-*of"$jobs".json
exit $status
