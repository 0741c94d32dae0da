#!/usr/bin/env bash
# Renders a talking-head video from a portrait and a speech track:
#
#   pipelines/render.sh PORTRAIT AUDIO OUT.mp4 [options]
#
# Options (each maps onto an element property; docs/render.md explains them):
#   --model BUNDLE          model bundle directory or name (default: the default bundle)
#   --preprocess MODE       crop | extcrop | resize | full | extfull (default crop)
#   --still                 keep the portrait's head pose
#   --expression-scale X    scale the driving expression (default 1.0)
#   --pose-style N          head-motion style 0..45 (default 0)
#   --seed N                random seed for blinks and head motion (default 0)
#   --no-blink              no random eye blinks
#   --ref-pose FILE         add the head motion of a reference video (or .coeffs file)
#   --ref-eyeblink FILE     take the blinks / expression of a reference video (or .coeffs file)
#   --source-coeffs FILE    the portrait's 3DMM coefficients (when the bundle has no recon net)
#   --yaw "A[,B...]"        head yaw in degrees: one value for the whole clip, or a list
#   --pitch "A[,B...]"      interpolated over the clip like SadTalker's --input_yaw/pitch/roll
#   --roll "A[,B...]"       (camera-frames is computed from the audio's length)
#   --batch-size N          frames rendered together (default 1)
#   --device D              auto | cpu | cuda | cuda:N (default auto)
#   --threads N             CPU threads (default: all cores)
#   --dry-run               print the gst-launch command instead of running it
#
# AUDIO may be any format and rate GStreamer decodes. The output is H.264 video
# at the model size (the portrait's size with full/extfull) and 25 fps, plus the
# original audio in AAC, in MP4. The audio is decoded twice (once for the
# networks, once for the muxer) so that the slow video branch never stalls the
# audio one.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"

usage() { sed -n '2,29p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-2}"; }
(($# >= 3)) || usage
portrait=$1 audio=$2 out=$3
shift 3

model="" preprocess=crop still=false scale=1.0 pose_style=0 seed=0 blink=true
ref_pose="" ref_eyeblink="" source_coeffs="" batch=1 device=auto threads=0 dry=false yaw="" pitch="" roll=""
while (($#)); do
  case "$1" in
    --model) model=$2; shift ;;
    --preprocess) preprocess=$2; shift ;;
    --still) still=true ;;
    --expression-scale) scale=$2; shift ;;
    --pose-style) pose_style=$2; shift ;;
    --seed) seed=$2; shift ;;
    --no-blink) blink=false ;;
    --ref-pose) ref_pose=$2; shift ;;
    --ref-eyeblink) ref_eyeblink=$2; shift ;;
    --source-coeffs) source_coeffs=$2; shift ;;
    --yaw) yaw=${2//[[:space:]]/}; shift ;;
    --pitch) pitch=${2//[[:space:]]/}; shift ;;
    --roll) roll=${2//[[:space:]]/}; shift ;;
    --batch-size) batch=$2; shift ;;
    --device) device=$2; shift ;;
    --threads) threads=$2; shift ;;
    --dry-run) dry=true ;;
    -h|--help) usage 0 ;;
    *) echo "render: unknown option $1" >&2; usage ;;
  esac
  shift
done

for f in "$portrait" "$audio"; do
  [[ -r "$f" ]] || { echo "render: cannot read $f" >&2; exit 1; }
done
[[ -z "$source_coeffs" || -r "$source_coeffs" ]] || { echo "render: cannot read $source_coeffs" >&2; exit 1; }
angle_re='^-?([0-9]+([.][0-9]*)?|[.][0-9]+)([eE][-+]?[0-9]+)?$'
for name in yaw pitch roll; do
  list=${!name}
  [[ -z "$list" ]] && continue
  IFS=, read -r -a parts <<<"$list"
  ((${#parts[@]})) || { echo "render: --$name '$list' holds no angle" >&2; exit 1; }
  for a in "${parts[@]}"; do
    [[ "$a" =~ $angle_re ]] || { echo "render: --$name '$list': '$a' is not a number of degrees" >&2; exit 1; }
  done
done

# A list of angles is interpolated over the clip (SadTalker's gen_camera_pose
# over frame_num = floor(samples at 16 kHz / 640)): count the samples the
# networks will see by decoding the audio the same way (exact, and needs no
# duration metadata in the container).
camera_frames=0
if [[ "$yaw$pitch$roll" == *,* ]]; then
  samples=$(GST_PLUGIN_PATH="$root/build/gst${GST_PLUGIN_PATH:+:$GST_PLUGIN_PATH}" \
    gst-launch-1.0 -q filesrc location="$audio" ! decodebin ! audioconvert ! audioresample \
      ! "audio/x-raw,rate=16000,channels=1,format=S16LE" ! fdsink fd=1 2>/dev/null | wc -c) || samples=0
  samples=$((samples / 2))
  camera_frames=$((samples / 640))
  if ((camera_frames < 1)); then
    echo "render: could not measure the length of $audio (needed to interpolate the --yaw/--pitch/--roll lists)" >&2
    exit 1
  fi
fi
mkdir -p "$(dirname "$out")"

# Properties shared by both networks' elements.
common=(device="$device" threads="$threads" preprocess="$preprocess")
[[ -n "$model" ]] && common+=(model="$model")
[[ -n "$source_coeffs" ]] && common+=(source-coeffs="$source_coeffs")
audio_extra=()
[[ -n "$ref_pose" ]] && audio_extra+=(ref-pose="$ref_pose")
[[ -n "$ref_eyeblink" ]] && audio_extra+=(ref-eyeblink="$ref_eyeblink")
camera=()
[[ -n "$yaw" ]] && camera+=(yaw="$yaw")
[[ -n "$pitch" ]] && camera+=(pitch="$pitch")
[[ -n "$roll" ]] && camera+=(roll="$roll")
((camera_frames > 0)) && camera+=(camera-frames="$camera_frames")

cmd=(gst-launch-1.0 -e
  filesrc location="$audio" ! decodebin ! audioconvert ! audioresample
  ! "audio/x-raw,rate=16000,channels=1" ! tavcemelspec
  ! tavceaudio2coeff "${common[@]}" source-image="$portrait" pose-style="$pose_style" seed="$seed" blink="$blink" "${audio_extra[@]}"
  ! tavcerenderer "${common[@]}" source-image="$portrait" still="$still" expression-scale="$scale" batch-size="$batch" ${camera[@]+"${camera[@]}"}
  ! progressreport update-freq=2 ! videoconvert ! x264enc ! h264parse ! queue ! mux.
  filesrc location="$audio" ! decodebin ! audioconvert ! audioresample ! avenc_aac ! aacparse ! queue ! mux.
  mp4mux name=mux ! filesink location="$out")

if $dry; then
  printf '%q ' "${cmd[@]}"; echo
  exit 0
fi
export GST_PLUGIN_PATH="$root/build/gst${GST_PLUGIN_PATH:+:$GST_PLUGIN_PATH}"
"${cmd[@]}"
echo "render: wrote $out"
