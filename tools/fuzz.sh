#!/bin/sh
# Builds (incrementally) and runs one libFuzzer target on its seed corpus:
#   tools/fuzz.sh TARGET SECONDS [extra libFuzzer flags]
# TARGET: safetensors, zip, pickle, torch_checkpoint, bundle, mel or wav
# (tests/fuzz/fuzz_TARGET.cpp). Needs Debian's clang-14 and libclang-rt-14-dev.
#
# Seeds are read from tests/fuzz/corpus/TARGET and never written; inputs the
# fuzzer finds interesting go to build-fuzz/corpus/TARGET, crashes to
# build-fuzz/crashes/TARGET/. Prints executions, coverage (cov: edges, ft:
# features) and the path of any crash. Exit status: 0 = no finding.
# Runs under nice -n 10 (the machine is shared); FUZZ_JOBS=N runs N workers.
set -eu
if [ $# -lt 2 ]; then
  echo "usage: $0 TARGET SECONDS [libFuzzer flags]" >&2
  exit 2
fi
target=$1
seconds=$2
shift 2
root=$(cd "$(dirname "$0")/.." && pwd)
out=$root/build-fuzz
seeds=$root/tests/fuzz/corpus/$target
[ -f "$root/tests/fuzz/fuzz_$target.cpp" ] || { echo "$0: no target '$target' (tests/fuzz/fuzz_$target.cpp)" >&2; exit 2; }

# The build lock is shared with every other compile on this machine.
lock=${TAVCE_BUILD_LOCK:-/tmp/tavce-build.lock}
flock "$lock" nice -n 10 make -s -C "$root/tests/fuzz" O="$out" "fuzz_$target"

work=$out/corpus/$target
crashes=$out/crashes/$target
mkdir -p "$work" "$crashes"
log=$out/fuzz_$target.log
case $target in
  mel) maxlen=32770 ;;           # up to half a second of float samples
  *) maxlen=65536 ;;
esac
jobs=${FUZZ_JOBS:-1}
if [ "$jobs" -gt 1 ]; then parallel="-jobs=$jobs -workers=$jobs"; else parallel=""; fi
# Own working folder: with -jobs libFuzzer writes fuzz-N.log into the cwd.
run=$out/run/$target
rm -rf "$run" && mkdir -p "$run"
set +e
# shellcheck disable=SC2086  # $parallel is two words or none
(cd "$run" && nice -n 10 "$out/fuzz_$target" -max_total_time="$seconds" -max_len="$maxlen" -timeout=20 \
  -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$crashes/" $parallel "$@" "$work" "$seeds") >"$log" 2>&1
status=$?
set -e
for f in "$run"/fuzz-*.log; do [ -f "$f" ] && cat "$f" >>"$log"; done

execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | awk '{s += $2} END {print s + 0}')
last=$(grep -E '^#[0-9]+' "$log" | tail -n 1)
cov=$(printf '%s\n' "$last" | grep -o 'cov: [0-9]*' || true)
ft=$(printf '%s\n' "$last" | grep -o 'ft: [0-9]*' || true)
corpus=$(printf '%s\n' "$last" | grep -o 'corp: [0-9]*/[0-9]*[a-zA-Z]*' || true)
echo "target=$target seconds=$seconds executions=$execs $cov $ft $corpus (log: $log)"
if grep -q -E 'ERROR: (AddressSanitizer|UndefinedBehaviorSanitizer|libFuzzer)|runtime error:|SUMMARY:' "$log"; then
  grep -E 'ERROR:|runtime error:|SUMMARY:' "$log" | head -n 5
  grep -o "Test unit written to [^ ]*" "$log" | sed 's/^/crash: /'
  exit 1
fi
exit "$status"
