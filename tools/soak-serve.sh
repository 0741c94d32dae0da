#!/usr/bin/env bash
# Soak run of tavce-serve (docs/serving.md, "Soak"):
#
#   tools/soak-serve.sh [MINUTES=10] [OUT_DIR=out/soak-serve]
#
# Starts tavce-serve with two avatars (anna: ../shared/data/image/happy.png,
# ben: people_0.png; PORTRAIT_A / PORTRAIT_B override) on free ports, then
# for MINUTES:
#  - measures speech-to-mouth latency on anna (tavce-serve-latency serve: an
#    utterance every 1.5-4 s of idle, JSON lines in OUT_DIR/latency.jsonl);
#  - keeps ben talking (a speech clip POSTed as soon as the last one is said);
#  - lets RTSP viewers (gst-launch rtspsrc ! fakesink) join and leave both
#    avatars at random, at most VIEWERS (default 3) at a time;
#  - samples the server's resident memory, threads and open descriptors every
#    SAMPLE_EVERY seconds (default 5) into OUT_DIR/samples.jsonl.
# CLIENT_BUFFER_MODE (default auto) is the measuring client's rtspsrc
# buffer-mode: auto times arrivals with GStreamer's skew correction, none
# times from RTP timestamps and sender reports only.
# Then stops everything and writes OUT_DIR/report.json and OUT_DIR/soak.png
# (RSS and latency over time). Everything runs under nice -n 10. Exit status
# 1 if the server died or the measurement failed.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
minutes=${1:-10}
out=${2:-$root/out/soak-serve}
shared="${TAVCE_SHARED_DIR:-$root/../shared}"
portrait_a=${PORTRAIT_A:-$shared/data/image/happy.png}
portrait_b=${PORTRAIT_B:-$shared/data/image/people_0.png}
sample_every=${SAMPLE_EVERY:-5}
max_viewers=${VIEWERS:-3}
buffer_mode=${CLIENT_BUFFER_MODE:-auto}
serve="$root/build/pipelines/serve/tavce-serve"
latency_tool="$root/build/tools/serve_latency/tavce-serve-latency"

die() { echo "soak-serve: $*" >&2; exit 1; }
[[ "$minutes" =~ ^[0-9]+([.][0-9]+)?$ ]] && [[ "$minutes" != 0 ]] || die "MINUTES '$minutes' is not a positive number"
[[ "$sample_every" =~ ^[1-9][0-9]*$ ]] || die "SAMPLE_EVERY '$sample_every' is not a whole number of seconds"
[[ "$max_viewers" =~ ^[0-9]+$ ]] || die "VIEWERS '$max_viewers' is not a number"
for f in "$serve" "$latency_tool"; do
  [[ -x "$f" ]] || die "$f is not built (flock /tmp/tavce-build.lock ninja -C build pipelines/serve/tavce-serve tools/serve_latency/tavce-serve-latency)"
done
for f in "$portrait_a" "$portrait_b"; do [[ -r "$f" ]] || die "cannot read the portrait $f"; done
command -v curl >/dev/null || die "curl is missing (apt install curl)"
command -v espeak-ng >/dev/null || die "espeak-ng is missing (apt install espeak-ng)"
mkdir -p "$out"
rm -f "$out/samples.jsonl" "$out/latency.jsonl" "$out/report.json" "$out/soak.png"
export GST_PLUGIN_PATH="$root/build/gst${GST_PLUGIN_PATH:+:$GST_PLUGIN_PATH}"

# Every process this script starts, stopped by id on the way out.
pids=()
server_pid=""
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  [[ -n "$server_pid" ]] && kill "$server_pid" 2>/dev/null || true
  wait 2>/dev/null || true
}
trap cleanup EXIT

# ben's speech: a few sentences, said one after the other for the whole run.
for i in 0 1 2; do
  text=("The markets opened higher this morning." "Rain is expected later in the west, with sunshine in the east."
        "That was the news; more at the top of the hour.")
  espeak-ng -v en-us -s 150 -w "$out/ben$i.wav" "${text[$i]}"
done

nice -n 10 "$serve" --avatar "anna:$portrait_a" --avatar "ben:$portrait_b" --http-port 0 --rtsp-port 0 \
  >"$out/serve.log" 2>&1 &
server_pid=$!
http="" rtsp=""
for _ in $(seq 1 240); do  # the avatars load their models and render a first frame
  if line=$(grep -m1 '^tavce-serve: HTTP ' "$out/serve.log"); then
    http=$(sed -E 's|.*HTTP (http://[^/ ]+).*|\1|' <<<"$line")
    rtsp=$(sed -E 's|.*RTSP (rtsp://[^/ ]+).*|\1|' <<<"$line")
    break
  fi
  kill -0 "$server_pid" 2>/dev/null || die "tavce-serve exited at start: $(tail -5 "$out/serve.log")"
  sleep 0.5
done
[[ -n "$http" && -n "$rtsp" ]] || die "tavce-serve did not print its ports within 120 s ($out/serve.log)"
echo "soak-serve: server $server_pid at $http and $rtsp, $minutes min, output in $out"

start=$(date +%s.%N)
elapsed() { awk -v s="$start" -v n="$(date +%s.%N)" 'BEGIN { printf "%.1f", n - s }'; }
end_at=$(awk -v s="$start" -v m="$minutes" 'BEGIN { printf "%d", s + m * 60 }')

# Resident memory (kB), threads and descriptors of the server, as one JSON line.
sample() {
  local rss threads fds
  rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$server_pid/status" 2>/dev/null || echo 0)
  threads=$(awk '/^Threads:/ { print $2 }' "/proc/$server_pid/status" 2>/dev/null || echo 0)
  fds=$(ls "/proc/$server_pid/fd" 2>/dev/null | wc -l)
  echo "{\"t_s\": $(elapsed), \"rss_kib\": ${rss:-0}, \"threads\": ${threads:-0}, \"fds\": $fds$1}"
}
sampler() {
  while (($(date +%s) < end_at)) && kill -0 "$server_pid" 2>/dev/null; do
    sample "" >>"$out/samples.jsonl"
    sleep "$sample_every"
  done
}

# ben never stops talking: the next clip goes in when the last one is said.
talker() {
  local i=0
  while (($(date +%s) < end_at)); do
    local clip="$out/ben$((i % 3)).wav"
    curl -s -m 10 -o /dev/null -X POST -H 'Content-Type: audio/wav' --data-binary "@$clip" "$http/avatars/ben/speech" || true
    # A 16-bit mono WAV's length from its size (espeak-ng: 22050 Hz).
    sleep "$(awk -v b="$(stat -c %s "$clip")" 'BEGIN { printf "%.2f", (b - 44) / 2 / 22050 }')"
    i=$((i + 1))
  done
}

# RTSP viewers joining and leaving at random.
viewers() {
  local live=()
  while (($(date +%s) < end_at)); do
    local keep=()
    for p in ${live[@]+"${live[@]}"}; do kill -0 "$p" 2>/dev/null && keep+=("$p"); done
    live=(${keep[@]+"${keep[@]}"})
    if ((${#live[@]} < max_viewers)); then
      local name=anna
      ((RANDOM % 2)) && name=ben
      timeout "$((5 + RANDOM % 25))" gst-launch-1.0 -q rtspsrc location="$rtsp/$name" protocols=tcp latency=100 \
        ! fakesink >/dev/null 2>&1 &
      live+=($!)
    fi
    sleep "$((2 + RANDOM % 6))"
  done
  for p in ${live[@]+"${live[@]}"}; do kill "$p" 2>/dev/null || true; done
}

sampler &
pids+=($!)
talker &
pids+=($!)
viewers &
pids+=($!)
nice -n 10 "$latency_tool" serve --avatar anna --http "$http" --rtsp "$rtsp/anna" --minutes "$minutes" \
  --client-buffer-mode "$buffer_mode" --trace "$out/latency.jsonl" >"$out/latency.json" 2>"$out/latency.err" &
latency_pid=$!
pids+=("$latency_pid")

status=0
wait "$latency_pid" || { status=1; echo "soak-serve: the latency measurement failed: $(tail -3 "$out/latency.err")" >&2; }
for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
pids=()
server_alive=true
kill -0 "$server_pid" 2>/dev/null || { server_alive=false; status=1; echo "soak-serve: tavce-serve died ($out/serve.log)" >&2; }
# Every viewer has left and ben's last clip is said: what remains is what the
# server keeps for good (compared with the first sample, taken before any viewer).
if $server_alive; then
  sleep 10
  sample ", \"after_viewers_left\": true" >>"$out/samples.jsonl"
fi
kill "$server_pid" 2>/dev/null || true
wait "$server_pid" 2>/dev/null || true
server_pid=""

touch "$out/latency.jsonl"
extra="{\"minutes\": $minutes, \"server_alive_at_end\": $server_alive, \"avatars\": [\"anna\", \"ben\"],"
extra+=" \"max_viewers\": $max_viewers, \"sample_every_s\": $sample_every, \"client_buffer_mode\": \"$buffer_mode\","
extra+=" \"latency_run\": $(cat "$out/latency.json" 2>/dev/null | tr -d '\n' | grep . || echo null)}"
nice -n 10 "$latency_tool" soak-report --samples "$out/samples.jsonl" --latency "$out/latency.jsonl" --out-dir "$out" \
  --extra "$extra" >/dev/null || status=1
echo "soak-serve: wrote $out/report.json and $out/soak.png"
exit "$status"
