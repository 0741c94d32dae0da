#!/usr/bin/env bash
# The main job, as far as the project has come: the talking-head renderer and
# the default model bundle are not built yet, so this renders the mel
# spectrogram of a speech track as a PNG image through the tavcemelspec element.
#
#   pipelines/demo.sh [SPEECH_FILE] [OUT_DIR]
#
# Without SPEECH_FILE, speech is synthesised with espeak-ng. Any format and rate
# GStreamer can decode works (decodebin ! audioconvert ! audioresample).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out="${2:-$root/out}"
mkdir -p "$out"

speech="${1:-}"
if [[ -z "$speech" ]]; then
  speech="$out/demo-speech.wav"
  espeak-ng -v en-us -s 150 -w "$speech" \
    "Hello. This is tavce, a talking head generator for GStreamer. For now it draws the mel spectrogram of what I say."
fi
[[ -r "$speech" ]] || { echo "demo: cannot read $speech" >&2; exit 1; }

echo "demo: renderer and default bundle not built yet; rendering the mel spectrogram of $speech"
export GST_PLUGIN_PATH="$root/build/gst${GST_PLUGIN_PATH:+:$GST_PLUGIN_PATH}"
gst-launch-1.0 -q filesrc location="$speech" ! decodebin ! audioconvert ! audioresample \
  ! "audio/x-raw,rate=16000,channels=1" ! tavcemelspec frames-per-buffer=80 \
  ! filesink location="$out/demo-mel.f32"
"$root/build/tools/tavce-mel2png" "$out/demo-mel.f32" "$out/demo-mel.png"
echo "demo: wrote $out/demo-mel.png"
