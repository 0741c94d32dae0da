#!/usr/bin/env bash
# Broadcast injection: a talking head laid over another video, picture in
# picture, with only the face showing (docs/serving.md, "Broadcast injection").
#
#   pipelines/inject.sh OUT [options]
#
# The head comes from a running tavce-serve (--head rtsp://...) or is rendered
# here from a portrait and speech (--portrait/--speech, default: the shipped
# sample portrait saying an espeak-ng sentence). It goes through
# tavcefacetrack (landmarks) and tavcefacealpha (RGBA: a feathered ellipse
# around the face opaque, the rest transparent), is scaled into a corner and
# composited over the background with `compositor` (RGBA).
#
# OUT:  NAME.mp4 | NAME.mkv   H.264 video (+ the head's audio in AAC)
#       NAME.rgba             raw RGBA frames of the composite, no audio (for checks and piping)
#       display               a window (autovideosink / autoaudiosink)
# Options:
#   --head URL              rtsp:// URL of a talking head (e.g. tavce-serve's rtsp://127.0.0.1:8554/NAME)
#   --portrait FILE         portrait to render here (default ../shared/data/image/happy.png)
#   --speech FILE           speech to render here (any format; default: an espeak-ng sentence)
#   --model BUNDLE          model bundle for the local render (default: the default bundle)
#   --background SOURCE     a video file, or test:PATTERN for videotestsrc (default test:smpte)
#   --size WxH              output size (default 1280x720)
#   --head-size N           side of the (square) head tile in output pixels (default: output height / 2)
#   --corner tl|tr|bl|br    where the head goes (default br)
#   --margin PX             distance from the corner's edges (default 24)
#   --matte-scale X         tavcefacealpha scale (default 1.15)
#   --feather PX            tavcefacealpha feather (default 12)
#   --forehead X            tavcefacealpha forehead (default 0.3)
#   --frames N              output frames of a local render (default: as long as the speech)
#   --seconds S             with --head: stop after S seconds (an EOS, so files are finalised;
#                           default: until Ctrl-C)
#   --no-audio              video only
#   --dry-run               print the gst-launch command instead of running it
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
shared="${TAVCE_SHARED_DIR:-$root/../shared}"

usage() { sed -n '2,34p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-2}"; }
(($# >= 1)) || usage
[[ "$1" == -h || "$1" == --help ]] && usage 0
out=$1
shift

head_url="" portrait="$shared/data/image/happy.png" speech="" model="" background="test:smpte"
size=1280x720 head_size="" corner=br margin=24 matte_scale=1.15 feather=12 forehead=0.3 frames="" seconds=""
audio=true dry=false
while (($#)); do
  case "$1" in --no-audio|--dry-run|-h|--help) ;; *) (($# >= 2)) || { echo "inject: $1 needs a value" >&2; exit 2; } ;; esac
  case "$1" in
    --head) head_url=$2; shift ;;
    --portrait) portrait=$2; shift ;;
    --speech) speech=$2; shift ;;
    --model) model=$2; shift ;;
    --background) background=$2; shift ;;
    --size) size=$2; shift ;;
    --head-size) head_size=$2; shift ;;
    --corner) corner=$2; shift ;;
    --margin) margin=$2; shift ;;
    --matte-scale) matte_scale=$2; shift ;;
    --feather) feather=$2; shift ;;
    --forehead) forehead=$2; shift ;;
    --frames) frames=$2; shift ;;
    --seconds) seconds=$2; shift ;;
    --no-audio) audio=false ;;
    --dry-run) dry=true ;;
    -h|--help) usage 0 ;;
    *) echo "inject: unknown option $1" >&2; usage ;;
  esac
  shift
done

die() { echo "inject: $*" >&2; exit 1; }
# Every option is checked before anything slow (speech synthesis, measuring) runs.
case "$out" in
  display|*.rgba|*.mp4|*.mkv) ;;
  *) die "OUT '$out' must end in .mp4, .mkv or .rgba, or be 'display'" ;;
esac
[[ "$size" =~ ^([0-9]+)x([0-9]+)$ ]] || die "--size '$size' is not WxH"
width=${BASH_REMATCH[1]} height=${BASH_REMATCH[2]}
((width >= 16 && height >= 16)) || die "--size $size is too small"
head_size=${head_size:-$((height / 2))}
[[ "$head_size" =~ ^[0-9]+$ ]] && ((head_size >= 8 && head_size <= width && head_size <= height)) \
  || die "--head-size '$head_size' must be a number of pixels that fits in $size"
[[ "$margin" =~ ^[0-9]+$ ]] && ((margin + head_size <= width && margin + head_size <= height)) \
  || die "--margin '$margin' must be pixels that leave room for the head"
[[ -z "$frames" || "$frames" =~ ^[1-9][0-9]*$ ]] || die "--frames '$frames' is not a positive number"
[[ -z "$seconds" || "$seconds" =~ ^[1-9][0-9]*$ ]] || die "--seconds '$seconds' is not a positive whole number"
if [[ -n "$head_url" ]]; then
  [[ -z "$frames" ]] || die "--frames counts a local render's frames; with --head use --seconds"
else
  [[ -z "$seconds" ]] || die "--seconds is for a live --head; a local render takes --frames"
fi
num_re='^([0-9]+([.][0-9]*)?|[.][0-9]+)$'
for v in "$matte_scale" "$feather" "$forehead"; do [[ "$v" =~ $num_re ]] || die "'$v' is not a non-negative number"; done
case "$corner" in
  tl) xpos=$margin ypos=$margin ;;
  tr) xpos=$((width - margin - head_size)) ypos=$margin ;;
  bl) xpos=$margin ypos=$((height - margin - head_size)) ;;
  br) xpos=$((width - margin - head_size)) ypos=$((height - margin - head_size)) ;;
  *) die "--corner '$corner' is not tl, tr, bl or br" ;;
esac

tmp=""
cleanup() { if [[ -n "$tmp" ]]; then rm -rf "$tmp"; fi; }
trap cleanup EXIT

# The head: decoded RGB video (and its audio) from RTSP, or rendered here.
head_audio=()
if [[ -n "$head_url" ]]; then
  [[ "$head_url" == rtsp://* ]] || die "--head '$head_url' is not an rtsp:// URL"
  head_video=(rtspsrc location="$head_url" latency=200 protocols=tcp name=head
    head. ! "application/x-rtp,media=video" ! decodebin ! videoconvert ! "video/x-raw,format=RGB")
  $audio && head_audio=(head. ! "application/x-rtp,media=audio" ! decodebin)
  live=true
else
  [[ -r "$portrait" ]] || die "cannot read the portrait $portrait"
  if [[ -z "$speech" ]]; then
    tmp=$(mktemp -d)
    speech="$tmp/speech.wav"
    espeak-ng -v en-us -s 150 -w "$speech" "Good evening. Here is the news, read by a talking head." \
      || die "espeak-ng failed (apt install espeak-ng, or pass --speech)"
  fi
  [[ -r "$speech" ]] || die "cannot read the speech $speech"
  model_prop=()
  [[ -n "$model" ]] && model_prop=(model="$model")
  decode_speech=(filesrc location="$speech" ! decodebin ! audioconvert ! audioresample)
  head_video=("${decode_speech[@]}" ! "audio/x-raw,rate=16000,channels=1" ! tavcemelspec
    ! tavceaudio2coeff source-image="$portrait" ${model_prop[@]+"${model_prop[@]}"}
    ! tavcerenderer source-image="$portrait" ${model_prop[@]+"${model_prop[@]}"})
  $audio && head_audio=("${decode_speech[@]}")
  live=false
  if [[ -z "$frames" ]]; then  # as long as the speech: one frame per 640 samples at 16 kHz
    samples=$(gst-launch-1.0 -q "${decode_speech[@]}" ! "audio/x-raw,rate=16000,channels=1,format=S16LE" \
      ! fdsink fd=1 2>/dev/null | wc -c) || samples=0
    frames=$((samples / 2 / 640))
    ((frames >= 1)) || die "could not measure the length of $speech"
  fi
fi

# The background, scaled to the output size, RGBA.
num_buffers=()
[[ -n "$frames" ]] && num_buffers=(num-buffers="$frames")
if [[ "$background" == test:* ]]; then
  bg=(videotestsrc pattern="${background#test:}" is-live="$live" ${num_buffers[@]+"${num_buffers[@]}"})
else
  [[ -r "$background" ]] || die "cannot read the background $background"
  bg=(filesrc location="$background" ! decodebin ! videoconvert ! videoscale ! videorate)
fi
bg+=(! videoconvert ! videoscale ! "video/x-raw,format=RGBA,width=$width,height=$height,framerate=25/1,pixel-aspect-ratio=1/1")

matte=(tavcefacetrack ! tavcefacealpha scale="$matte_scale" feather="$feather" forehead="$forehead"
  ! videoscale ! "video/x-raw,format=RGBA,width=$head_size,height=$head_size")

# Background first (zorder 0), head over it; the output stops with the background.
mix=(compositor name=mix background=black ignore-inactive-pads=true
  sink_0::zorder=0 sink_1::zorder=1 sink_1::xpos="$xpos" sink_1::ypos="$ypos")
case "$out" in
  display)
    sink=(! videoconvert ! autovideosink)
    audio_sink=(! audioconvert ! autoaudiosink) ;;
  *.rgba)
    mkdir -p "$(dirname "$out")"
    sink=(! "video/x-raw,format=RGBA" ! filesink location="$out")
    audio=false ;;
  *.mp4|*.mkv)
    mkdir -p "$(dirname "$out")"
    muxer=mp4mux
    [[ "$out" == *.mkv ]] && muxer=matroskamux
    sink=(! videoconvert ! x264enc tune=zerolatency ! h264parse ! queue ! "$muxer" name=mux ! filesink location="$out")
    audio_sink=(! audioconvert ! audioresample ! avenc_aac ! aacparse ! queue ! mux.) ;;
esac

cmd=(gst-launch-1.0 -e "${mix[@]}" "${sink[@]}"
  "${bg[@]}" ! queue ! mix.sink_0
  "${head_video[@]}" ! "${matte[@]}" ! queue ! mix.sink_1)
if $audio && ((${#head_audio[@]})); then
  cmd+=("${head_audio[@]}" ! queue "${audio_sink[@]}")
fi

if $dry; then
  printf '%q ' "${cmd[@]}"; echo
  exit 0
fi
export GST_PLUGIN_PATH="$root/build/gst${GST_PLUGIN_PATH:+:$GST_PLUGIN_PATH}"
if [[ -n "$seconds" ]]; then
  # S seconds of playing (connecting and loading the face model come first),
  # then SIGINT, which gst-launch -e turns into an end of stream: the muxer
  # finishes the file.
  log=$(mktemp)
  "${cmd[@]}" >"$log" 2>&1 &
  pid=$!
  for _ in $(seq 1 600); do
    grep -q "Setting pipeline to PLAYING" "$log" 2>/dev/null && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  sleep "$seconds"
  kill -INT "$pid" 2>/dev/null || true
  rc=0
  wait "$pid" || rc=$?
  cat "$log"
  rm -f "$log"
  ((rc == 0)) || die "gst-launch failed (status $rc)"
else
  "${cmd[@]}"
fi
[[ "$out" == display ]] || echo "inject: wrote $out"
