#!/usr/bin/env bash
# Installs what tavce-gst needs on Debian 12 (only what is missing), then
# configures and builds into build/. Safe to run again: it only does what is
# not done yet. Extra arguments go to `meson setup` (e.g. -Dlibtorch=/path).
# --tests (before those arguments) also installs what only the test suite
# uses: headless Chromium and its WebDriver for tavce-serve's WebRTC test.
set -euo pipefail
cd "$(dirname "$0")/.."

with_tests=0
if [[ ${1:-} == --tests ]]; then
  with_tests=1
  shift
fi

packages=(
  g++ pkg-config meson ninja-build
  libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev gstreamer1.0-tools
  gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad
  gstreamer1.0-plugins-ugly gstreamer1.0-libav
  libtorch-dev
  # Without a threaded OpenBLAS, LibTorch's matrix products fall back to the
  # reference BLAS and run about 10x slower.
  libopenblas0-pthread
  # oneDNN headers: the renderer's Winograd convolutions call the libdnnl.so.2
  # that Debian's LibTorch already links (lib/tavce/nn/fast_conv.cpp).
  libdnnl-dev
  libopencv-dev nlohmann-json3-dev check
  # Face detection and 68 landmarks for source preparation. The landmark
  # model in libdlib-data is for non-commercial use upstream (docs/models.md).
  libdlib-dev libdlib-data
  # Portrait and speech of the main job (public domain / package-provided).
  python3-imageio
  espeak-ng
  # tools/soak-serve.sh posts speech to tavce-serve with curl.
  curl
  # tavce-serve: RTSP output, the HTTP API, text-to-speech (docs/serving.md).
  libgstrtspserver-1.0-dev gstreamer1.0-rtsp libsoup-3.0-dev libespeak-ng-dev
  # tavce-serve's WebRTC output: webrtcbin's library headers and its ICE agent.
  libgstreamer-plugins-bad1.0-dev gstreamer1.0-nice
)
# The browser that test_serve_webrtc drives; skipped (exit 77) without it.
if ((with_tests)); then packages+=(chromium chromium-driver); fi
# tools/fuzz.sh and tools/check-sanitizers.sh --parsers: clang's libFuzzer and
# sanitizer runtimes (docs/reliability.md).
if ((with_tests)); then packages+=(clang-14 libclang-rt-14-dev); fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  sudo=""
  [[ $(id -u) -eq 0 ]] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if [[ -f build/build.ninja ]]; then
  [[ $# -eq 0 ]] || meson configure build "$@"
else
  meson setup build "$@"
fi
# Only what the main job runs (the library and the plugin): the tools, the
# tests and the parity runners are built by `meson test` (which builds
# everything first) or by `ninja -C build`.
ninja -C build gst/libgsttavce.so
echo "setup: built the plugin into build/gst (ninja -C build builds the tools and tests too)"
