#!/bin/sh
# GStreamer's command-line tools (gst-launch-1.0, gst-inspect-1.0: the links
# in bin/) under tools/check-sanitizers.sh. They are not instrumented but
# load the instrumented plugin, so they run with the sanitizer runtimes
# preloaded (TAVCE_SANITIZER_PRELOAD); no other program a test starts gets
# them (bash, espeak-ng and coreutils would otherwise die of LeakSanitizer
# at exit or, espeak-ng, hang).
here=$(cd "$(dirname "$0")" && pwd)
name=$(basename "$0")
# The real tool: the first on PATH outside this directory.
real=$(PATH=$(printf '%s\n' "$PATH" | tr ':' '\n' | grep -vxF "$here" | paste -sd: -) command -v "$name") || {
  echo "$name: not found on PATH" >&2
  exit 127
}
LD_PRELOAD=$TAVCE_SANITIZER_PRELOAD exec "$real" "$@"
