#!/bin/sh
# meson test --wrapper for tools/check-sanitizers.sh: runs one test with the
# sanitizer runtimes (TAVCE_SANITIZER_PRELOAD) preloaded, so that programs that
# are not ours (gst-launch-1.0 in the pipeline scripts) can load the
# instrumented plugin. Python-driven tests run without them: CPython's own
# allocations would make LeakSanitizer abort the interpreter at exit, and the
# programs they start (tavce-serve) are instrumented executables that need no
# preload, while the browser they drive must not get one.
case $(basename "$1") in
  python3*) exec "$@" ;;
  *) LD_PRELOAD=$TAVCE_SANITIZER_PRELOAD exec "$@" ;;
esac
