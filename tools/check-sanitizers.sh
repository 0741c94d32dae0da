#!/bin/sh
# The test suite under AddressSanitizer + UndefinedBehaviorSanitizer (gcc):
#   tools/check-sanitizers.sh [--all] [--jobs N] [--build-dir DIR] [-- meson test args]
#   tools/check-sanitizers.sh --parsers
# Configures DIR (default build-asan) with -Db_sanitize=address,undefined
# -Db_lundef=false, builds the plugin and the programs the chosen tests run
# (niced, through TAVCE_BUILD_LOCK when set), then runs the suites `lib` and
# `gst` (--all adds `reliability`, `parity` and `serve`: the state storms,
# the golden cases and the server, slow under ASan). A UBSan report aborts
# its test; a leak fails it unless tools/sanitizers/lsan.supp explains it as
# a third-party library's (docs/reliability.md, "Sanitizers").
# --parsers instead builds only the parser suites (test_mel, test_safetensors,
# test_torch_checkpoint) with clang-14 from the sources they need
# (tests/fuzz/Makefile: minutes instead of the hour a sanitized libtavce
# takes on two cores) and runs them the same way.
# Exit status: 0 = every test passed under the sanitizers.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
dir=$root/build-asan
jobs=1
parsers=no
suites="--suite lib --suite gst"
while [ $# -gt 0 ]; do
  case $1 in
    --all) suites="--suite lib --suite gst --suite reliability --suite parity --suite serve" ;;
    --parsers) parsers=yes ;;
    --jobs) jobs=$2; shift ;;
    --build-dir) dir=$2; shift ;;
    --) shift; break ;;
    *) echo "usage: $0 [--all] [--jobs N] [--build-dir DIR] [-- meson test args]" >&2; exit 2 ;;
  esac
  shift
done
# TAVCE_BUILD_LOCK=FILE: serialise meson setup and ninja with other builds
# through flock(1) (a shared machine); unset, they run directly.
lock=${TAVCE_BUILD_LOCK:-}
locked() { if [ -n "$lock" ]; then flock "$lock" "$@"; else "$@"; fi; }
start=$(date +%s)
supp=$root/tools/sanitizers
sanitizer_options() {
  # intercept_tls_get_addr=0: gcc 12's runtime (up to gcc 13 / LLVM 16)
  # takes some dynamic TLS blocks for pre-2.25 glibc ones and reads a bogus
  # range from them, and LeakSanitizer's stop-the-world tracer then dies
  # ("Tracer caught signal 11") at exit with no report: it did in
  # test_state_storm and in gst-launch-1.0 under test_render_pipeline.
  export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:fast_unwind_on_malloc=0:intercept_tls_get_addr=0:detect_stack_use_after_return=1:strict_string_checks=1:check_initialization_order=1:suppressions=$supp/asan.supp"
  export LSAN_OPTIONS="suppressions=$supp/lsan.supp:print_suppressions=0"
  export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:suppressions=$supp/ubsan.supp"
}

if [ $parsers = yes ]; then
  out=$root/build-fuzz
  if [ -n "$lock" ]; then cxx="flock $lock clang++-14"; else cxx=clang++-14; fi
  nice -n 19 make -s -C "$root/tests/fuzz" O="$out" CXX="$cxx" -j "$jobs" parser-tests
  built=$(date +%s)
  sanitizer_options
  export TAVCE_GOLDEN_DIR=${TAVCE_GOLDEN_DIR:-$root/../shared/golden}
  export TAVCE_DATA_DIR=${TAVCE_DATA_DIR:-$root/../shared/data}
  export TAVCE_TEST_DATA_DIR=$root/tests/data
  export CK_DEFAULT_TIMEOUT=${CK_DEFAULT_TIMEOUT:-600}
  status=0
  for t in test_mel test_safetensors test_torch_checkpoint; do
    t0=$(date +%s)
    if nice -n 10 "$out/$t" >"$out/$t.log" 2>&1; then r=OK; else r=FAIL; status=1; fi
    echo "$t: $r in $(($(date +%s) - t0)) s ($(grep -o '[0-9]*%: Checks: [0-9]*, Failures: [0-9]*, Errors: [0-9]*' "$out/$t.log"))"
    [ $r = OK ] || tail -n 30 "$out/$t.log"
  done
  echo "check-sanitizers --parsers: build $((built - start)) s, tests $(($(date +%s) - built)) s, status $status"
  exit $status
fi

if [ ! -f "$dir/build.ninja" ]; then
  # -O1: ASan's own recommendation (-O0 makes the render loops crawl); -g for
  # reports with lines. b_lundef=false: the sanitizer runtimes resolve some
  # symbols at load time.
  locked meson setup "$dir" "$root" -Db_sanitize=address,undefined -Db_lundef=false \
    -Dbuildtype=debug -Doptimization=1
fi
# What the chosen tests run and depend on (test programs, the plugin,
# tavce-parity, servers), not every tool: meson's own list.
names=$(printf '%s\n' "$suites" | sed 's/--suite //g')
targets=$(cd "$dir" && meson introspect --tests --targets | python3 -c '
import json, os, sys
info, wanted = json.load(sys.stdin), sys.argv[1].split()
build = os.getcwd()
files = {t["id"]: t["filename"] for t in info["targets"]}
out = set()
for t in info["tests"]:
    if not any(s.split(":")[-1] in wanted for s in t["suite"]):
        continue
    paths = [t["cmd"][0]] + [f for d in t.get("depends", []) for f in files.get(d, [])]
    out.update(os.path.relpath(p, build) for p in paths if p.startswith(build + "/"))
print(" ".join(sorted(out)))' "$names")
# The plugin the gst tests load.
targets="$targets $(grep -o '^build gst/[^ :/]*\.so:' "$dir/build.ninja" | cut -d' ' -f2 | tr -d : | sort -u | tr '\n' ' ')"
locked nice -n 19 ninja -C "$dir" -j "$jobs" $targets
built=$(date +%s)

# Programs the tests start that are not ours but load the instrumented
# plugin (gst-launch-1.0 and gst-inspect-1.0 in the pipeline scripts) get the
# runtimes preloaded through tools/sanitizers/bin (preload.sh puts it first
# on PATH); GStreamer's plugin scanner is not used: the registry is scanned
# in-process.
asan_rt=$(gcc -print-file-name=libasan.so)
ubsan_rt=$(gcc -print-file-name=libubsan.so)
export GST_REGISTRY_FORK=no
sanitizer_options
set +e
# Never LD_PRELOAD for everything: meson itself (Python) would run under
# LeakSanitizer and abort at exit on Python's own allocations (losing the
# status line below), and so would bash, coreutils and espeak-ng under the
# pipeline scripts (espeak-ng hung).
export TAVCE_SANITIZER_PRELOAD="$asan_rt $ubsan_rt"
# libcheck's own per-case timeouts stretch as meson's do (--timeout-multiplier
# below): ASan makes test_torch_checkpoint's pickle-limit case pass its 120 s
# on a busy machine.
export CK_TIMEOUT_MULTIPLIER=${CK_TIMEOUT_MULTIPLIER:-4}
# shellcheck disable=SC2086  # $suites is several words
nice -n 10 meson test -C "$dir" --no-rebuild --print-errorlogs --timeout-multiplier 4 \
  --wrapper "$supp/preload.sh" $suites "$@"
status=$?
set -e
end=$(date +%s)
echo "check-sanitizers: build $((built - start)) s, tests $((end - built)) s, status $status (log: $dir/meson-logs/testlog.txt)"
exit $status
