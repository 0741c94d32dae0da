#!/usr/bin/env bash
# Side-by-side video of frame folders written by `tavce-eval render --save-frames DIR`
# (DIR/set/clip/NNNNN.png, one folder per method), left to right in the order given,
# at 25 fps, with the clip's own audio:
#   tools/eval-side-by-side.sh OUT.mp4 VIDEO FRAMES_DIR [FRAMES_DIR...]
# e.g. real | lite | energy for one clip:
#   tools/eval-side-by-side.sh out/eval/swwp2s.mp4 ../shared/data/video/grid/swwp2s.mpg \
#     out/eval/frames/real/grid/swwp2s out/eval/frames/lite/grid/swwp2s out/eval/frames/energy/grid/swwp2s
set -euo pipefail
[[ $# -ge 3 ]] || { sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
out="$1" video="$2"
shift 2
[[ -f "$video" ]] || { echo "eval-side-by-side.sh: no video '$video'" >&2; exit 2; }
first="$1/00000.png"
[[ -f "$first" ]] || { echo "eval-side-by-side.sh: no frames in '$1' (expected $first)" >&2; exit 2; }
width="$(python3 -c 'import struct,sys; d=open(sys.argv[1],"rb").read(24); print(struct.unpack(">I", d[16:20])[0])' "$first")"
mix="compositor name=mix background=black"
branches=()
i=0
for dir in "$@"; do
  [[ -f "$dir/00000.png" ]] || { echo "eval-side-by-side.sh: no frames in '$dir'" >&2; exit 2; }
  mix+=" sink_$i::xpos=$((i * width))"
  branches+=(multifilesrc location="$dir/%05d.png" index=0 caps="image/png,framerate=25/1" ! pngdec ! videoconvert
             ! queue ! mix.sink_$i)
  i=$((i + 1))
done
# The audio of VIDEO: decodebin's video pad goes to a fakesink (the caps filters pick the pads).
gst-launch-1.0 -q $mix ! videoconvert ! x264enc speed-preset=fast tune=zerolatency ! h264parse ! queue \
  ! mp4mux name=mux ! filesink location="$out" "${branches[@]}" \
  filesrc location="$video" ! decodebin name=d \
  d. ! audio/x-raw ! queue ! audioconvert ! audioresample ! avenc_aac ! aacparse ! queue ! mux. \
  d. ! video/x-raw ! queue ! fakesink sync=false
echo "wrote $out" >&2
