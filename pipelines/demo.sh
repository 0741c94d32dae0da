#!/usr/bin/env bash
# The main job: a talking-head video of the default portrait saying a
# synthesised sentence, rendered with the default model bundle.
#
#   pipelines/demo.sh [SPEECH_FILE] [OUT_DIR] [render.sh options...]
#
# Portrait: $PORTRAIT, else the NASA astronaut portrait shipped by Debian's
# python3-imageio (public domain). Speech: SPEECH_FILE (any format and rate),
# else espeak-ng. Model: $TAVCE_MODEL (a bundle directory or name), else the
# bundle named "default" (docs/models.md says where bundles are looked up).
#
# The project's own small default bundle is not trained yet (see the README
# status). Until a bundle is found, the demo says how to get one and renders
# the mel spectrogram of the speech instead (out/demo-mel.png), which shows
# the audio front end working.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out="${2:-$root/out}"
extra=("${@:3}")
mkdir -p "$out"

speech="${1:-}"
if [[ -z "$speech" ]]; then
  speech="$out/demo-speech.wav"
  espeak-ng -v en-us -s 150 -w "$speech" \
    "Hello. This is tavce, a talking head generator for GStreamer. Give me a portrait and I will say anything."
fi
[[ -r "$speech" ]] || { echo "demo: cannot read $speech" >&2; exit 1; }
portrait="${PORTRAIT:-/usr/lib/python3/dist-packages/imageio/resources/images/astronaut.png}"
[[ -r "$portrait" ]] || { echo "demo: cannot read the portrait $portrait (apt install python3-imageio, or set PORTRAIT)" >&2; exit 1; }

model="${TAVCE_MODEL:-default}"
find_bundle() {
  [[ -f "$model/model.json" ]] && return 0
  local dirs="${TAVCE_MODEL_PATH:-}:$root/models"
  local d
  IFS=: read -ra path <<<"$dirs"
  for d in "${path[@]}"; do [[ -n "$d" && -f "$d/$model/model.json" ]] && return 0; done
  return 1
}

if find_bundle; then
  echo "demo: rendering $portrait saying $speech with model '$model' (this takes a while on a CPU)"
  "$root/pipelines/render.sh" "$portrait" "$speech" "$out/demo.mp4" --model "$model" "${extra[@]}"
  exit 0
fi

cat >&2 <<EOF
demo: no model bundle '$model' found (looked in \$TAVCE_MODEL_PATH and $root/models).
demo: the project's default bundle is not trained yet. To render with the official SadTalker weights:
demo:   build/tools/tavce-convert DIR_WITH_OFFICIAL_FILES models/sadtalker   (docs/models.md)
demo:   TAVCE_MODEL=models/sadtalker pipelines/demo.sh
demo: meanwhile, rendering the mel spectrogram of the speech through tavcemelspec.
EOF
export GST_PLUGIN_PATH="$root/build/gst${GST_PLUGIN_PATH:+:$GST_PLUGIN_PATH}"
gst-launch-1.0 -q filesrc location="$speech" ! decodebin ! audioconvert ! audioresample \
  ! "audio/x-raw,rate=16000,channels=1" ! tavcemelspec frames-per-buffer=80 \
  ! filesink location="$out/demo-mel.f32"
"$root/build/tools/tavce-mel2png" "$out/demo-mel.f32" "$out/demo-mel.png"
echo "demo: wrote $out/demo-mel.png"
