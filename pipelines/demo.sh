#!/usr/bin/env bash
# The main job: a talking-head video of the default portrait saying a
# synthesised sentence, rendered with the default model bundle.
#
#   pipelines/demo.sh [SPEECH_FILE] [OUT_DIR] [render.sh options...]
#
# Portrait: $PORTRAIT, else the NASA astronaut portrait shipped by Debian's
# python3-imageio (public domain). Speech: SPEECH_FILE (any format and rate),
# else an espeak-ng sentence. Model: $TAVCE_MODEL (a bundle directory or
# name), else "default": the project's own lite model, models/tavce-lite
# (docs/lite.md; official SadTalker bundles are one tavce-convert away,
# docs/models.md). Writes OUT_DIR/demo.mp4 (default out/), H.264 + AAC.
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
echo "demo: rendering $portrait saying $speech with model '$model'"
"$root/pipelines/render.sh" "$portrait" "$speech" "$out/demo.mp4" --model "$model" ${extra[@]+"${extra[@]}"}
